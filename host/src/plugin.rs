//! A plugin file → a compiled, pre-instantiated component and the activities
//! it offers.
//!
//! Everything that can be checked once is checked here, at load time: the
//! file is a component, it fits the `plugin` world, `definitions()` runs and
//! follows the rules. A plugin that passes is never compiled or linked again;
//! each execution only instantiates it (see `execute`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Precompiled};

use crate::bindings::PluginPre;
use crate::bindings::types::ActivityDefinition;
use crate::cache::{Cache, Source};
use crate::execute::{Call, Request, Returned};
use crate::failure::Outcome;
use crate::instances::Instances;
use crate::sandbox::{Grants, Limits, Sandbox};
use crate::services::Services;
use crate::toolchain::Toolchain;

/// The interface every plugin exports, as the linker names it.
pub const ACTIVITIES_EXPORT: &str = "activity-host:plugin/activities@0.1.0";
/// Most activities one plugin may declare.
pub const MAX_DEFINITIONS: usize = 10_000;
/// Longest activity type, in bytes (Temporal's default ID length limit).
pub const MAX_NAME_LEN: usize = 1000;
/// `definitions()` runs with this timeout at most.
const DEFINITIONS_TIMEOUT: Duration = Duration::from_secs(30);

/// A loaded plugin.
pub struct Plugin {
    path: PathBuf,
    name: Arc<str>,
    pre: PluginPre<Sandbox>,
    definitions: Vec<ActivityDefinition>,
    grants: Arc<Grants>,
    services: Services,
    limits: Limits,
    load_time: Duration,
    source: Source,
    /// Guest memory its next execution is admitted with: what the last one
    /// used at its peak (`definitions()` at first).
    expected_memory: AtomicU64,
    /// Its idle instances, when its manifest reuses them.
    instances: Instances,
}

/// Why a file was refused. Each renders as one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read the file: {0}")]
    Read(String),
    #[error("{0}")]
    Manifest(String),
    #[error("not a WebAssembly file (it does not start with the \\0asm header)")]
    NotWasm,
    #[error(
        "is a core WebAssembly module, not a component: build it with `--target wasm32-wasip2`, \
         or turn it into a component with `wasm-tools component new`"
    )]
    CoreModule,
    #[error("is a precompiled wasmtime artefact; give the host the .wasm component instead")]
    Precompiled,
    #[error("is not a valid component: {0}")]
    Invalid(String),
    #[error("does not fit the activity-host:plugin world: {0}")]
    WrongWorld(String),
    #[error("definitions() failed: {0}")]
    Definitions(String),
    #[error("{0}")]
    Rules(String),
}

/// Reads and compiles a component file (or loads it from the cache): the
/// file's bytes, the component, and where it came from.
pub(crate) async fn compile(
    engine: &Engine,
    cache: Option<Arc<Cache>>,
    path: &Path,
) -> Result<(Arc<Vec<u8>>, Component, Source), LoadError> {
    let bytes = Arc::new(tokio::fs::read(path).await.map_err(|e| LoadError::Read(one_line(e)))?);
    check_header(&bytes)?;
    let engine = engine.clone();
    let read = bytes.clone();
    let (component, source) = tokio::task::spawn_blocking(move || match cache {
        Some(cache) => cache.component(&engine, &read),
        None => Component::new(&engine, read.as_slice()).map(|c| (c, Source::Compiled)),
    })
    .await
    .map_err(|e| LoadError::Invalid(one_line(e)))?
    .map_err(|e| LoadError::Invalid(one_line(format!("{e:#}"))))?;
    Ok((bytes, component, source))
}

/// One line, whatever wasmtime's error chain looks like.
fn one_line(error: impl std::fmt::Display) -> String {
    error.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Plugin {
    /// Reads, compiles, links and asks a plugin file what it offers.
    pub async fn load(
        engine: &Engine,
        linker: &Linker<Sandbox>,
        cache: Option<Arc<Cache>>,
        path: &Path,
        grants: Arc<Grants>,
        services: Services,
        limits: Limits,
    ) -> Result<Plugin, LoadError> {
        let started = Instant::now();
        let (bytes, component, source) = compile(engine, cache, path).await?;
        let pre = linker.instantiate_pre(&component).map_err(|e| LoadError::WrongWorld(one_line(format!("{e:#}"))))?;
        let pre = PluginPre::new(pre).map_err(|_| {
            let exports: Vec<String> =
                component.component_type().exports(engine).map(|(name, _)| name.to_string()).collect();
            let hint = match Toolchain::detect(&bytes) {
                Some(toolchain) if exports.is_empty() => format!("; {}", toolchain.nothing_offered_hint(false)),
                _ => String::new(),
            };
            LoadError::WrongWorld(format!(
                "it does not export {ACTIVITIES_EXPORT} (it exports: {}){hint}",
                if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") }
            ))
        })?;

        let instances = Instances::new(limits.reuse, &services.idle, &services.memory);
        let name: Arc<str> = path.file_name().map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy()).into();
        let mut plugin = Plugin {
            path: path.to_path_buf(),
            name,
            pre,
            definitions: Vec::new(),
            grants,
            services,
            limits,
            load_time: Duration::ZERO,
            source,
            expected_memory: AtomicU64::new(0),
            instances,
        };
        let request =
            Request::local("definitions()", Vec::new()).with_timeout(plugin.limits.timeout.min(DEFINITIONS_TIMEOUT));
        let definitions = match plugin.run(request, Call::Definitions).await {
            Ok(Returned::Definitions(definitions)) => definitions,
            Ok(Returned::Executed(_)) => unreachable!("definitions() returns definitions"),
            Err(Outcome::Failed(failure)) => {
                return Err(LoadError::Definitions(one_line(format!("{}: {}", failure.error_type, failure.message))));
            }
            Err(other) => return Err(LoadError::Definitions(one_line(format!("{other:?}")))),
        };
        check_definitions(&definitions).map_err(|e| match Toolchain::detect(&bytes) {
            Some(toolchain) if definitions.is_empty() => {
                LoadError::Rules(format!("{e}: {}", toolchain.nothing_offered_hint(true)))
            }
            _ => e,
        })?;
        plugin.definitions = definitions;
        plugin.load_time = started.elapsed();
        Ok(plugin)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file name, as logs and messages show it.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn name_arc(&self) -> Arc<str> {
        self.name.clone()
    }

    pub fn definitions(&self) -> &[ActivityDefinition] {
        &self.definitions
    }

    /// What the plugin offers, for logs and listings: `a, b, fallback (dynamic)`.
    pub fn describe(&self) -> String {
        let names: Vec<String> = self
            .definitions
            .iter()
            .map(|d| if d.dynamic { format!("{} (dynamic)", d.name) } else { d.name.clone() })
            .collect();
        names.join(", ")
    }

    /// What the plugin's manifest grants it.
    pub fn grants(&self) -> &Arc<Grants> {
        &self.grants
    }

    /// The host's services its executions use (within its grants).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Its effective limits: the host's, as its manifest changed them.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Read, compile (or load from the cache), link and `definitions()` together.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Whether it was compiled now or came from the cache.
    pub fn source(&self) -> Source {
        self.source
    }

    /// What an execution is admitted with by the host's memory budget: the
    /// peak of the last one. An estimate, not a bound: an execution that
    /// needs more draws it while it runs, if it fits.
    pub fn expected_memory(&self) -> u64 {
        self.expected_memory.load(Ordering::Relaxed)
    }

    pub(crate) fn learn_memory(&self, peak: u64) {
        self.expected_memory.store(peak, Ordering::Relaxed);
    }

    pub(crate) fn instances(&self) -> &Instances {
        &self.instances
    }

    /// Instances kept between executions now (0 unless the manifest reuses them).
    pub fn idle_instances(&self) -> usize {
        self.instances.idle()
    }

    pub(crate) fn pre(&self) -> &PluginPre<Sandbox> {
        &self.pre
    }
}

fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    if Engine::detect_precompiled(bytes) == Some(Precompiled::Component)
        || Engine::detect_precompiled(bytes) == Some(Precompiled::Module)
    {
        return Err(LoadError::Precompiled);
    }
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Err(LoadError::CoreModule),
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => Ok(()),
        Some([0, b'a', b's', b'm', ..]) => Err(LoadError::Invalid("unknown WebAssembly version or layer".into())),
        _ => Err(LoadError::NotWasm),
    }
}

/// The rules a plugin's own list must follow, whatever the other plugins hold.
fn check_definitions(definitions: &[ActivityDefinition]) -> Result<(), LoadError> {
    let refuse = |m: String| Err(LoadError::Rules(m));
    if definitions.is_empty() {
        return refuse("definitions() returned no activities".into());
    }
    if definitions.len() > MAX_DEFINITIONS {
        return refuse(format!(
            "definitions() returned {} activities; a plugin may declare at most {MAX_DEFINITIONS}",
            definitions.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut dynamic: Option<&str> = None;
    for d in definitions {
        if d.name.len() > MAX_NAME_LEN {
            return refuse(format!("an activity name is {} bytes long; the limit is {MAX_NAME_LEN}", d.name.len()));
        }
        if d.dynamic {
            if let Some(first) = dynamic {
                return refuse(format!("More than one dynamic activity (\"{first}\" and \"{}\")", d.name));
            }
            dynamic = Some(&d.name);
        } else if d.name.is_empty() {
            return refuse("an activity has an empty name".into());
        } else if !seen.insert(d.name.as_str()) {
            return refuse(format!("More than one activity named {}", d.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str, dynamic: bool) -> ActivityDefinition {
        ActivityDefinition { name: name.into(), dynamic }
    }

    #[test]
    fn headers_tell_components_from_the_rest() {
        assert_eq!(check_header(b"\0asm\x0d\0\x01\0rest"), Ok(()));
        assert_eq!(check_header(b"\0asm\x01\0\0\0"), Err(LoadError::CoreModule));
        assert_eq!(check_header(b"hello world"), Err(LoadError::NotWasm));
        assert_eq!(check_header(b""), Err(LoadError::NotWasm));
    }

    #[test]
    fn definitions_follow_the_python_sdk_rules() {
        assert!(check_definitions(&[def("a", false), def("fallback", true)]).is_ok());
        let err = |defs: &[ActivityDefinition]| check_definitions(defs).unwrap_err().to_string();
        assert_eq!(err(&[def("a", false), def("a", false)]), "More than one activity named a");
        assert!(err(&[def("x", true), def("y", true)]).starts_with("More than one dynamic activity"));
        assert_eq!(err(&[def("", false)]), "an activity has an empty name");
        assert_eq!(err(&[]), "definitions() returned no activities");
    }
}
