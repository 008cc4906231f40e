//! `host call`, `list` and `check`: one process, the directory's plugins, no server.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use activity_host::cache::Source;
use activity_host::codec::{Codec, CodecOptions};
use activity_host::engine::EngineOptions;
use activity_host::manifest;
use activity_host::registry::{Registry, dynamic_name};
use activity_host::runtime::scan;
use activity_host::{Limits, Outcome, Payload, Plugin, Request, Runtime, ServiceOptions};
use tokio::signal::unix::{SignalKind, signal};

use super::args::{CacheArgs, LimitArgs};
use super::json_hint::json_arg_hint;
use super::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, runtime};
use crate::logging::{eprintln_safe, println_safe};

/// What `call`, `list` and `check` run with.
pub(super) struct Local {
    pub(super) limits: Limits,
    pub(super) cache_dir: Option<PathBuf>,
    pub(super) services: ServiceOptions,
}

impl Local {
    pub(super) fn new(limits: LimitArgs, cache: CacheArgs) -> Local {
        Local { limits: limits.limits(), cache_dir: cache.dir(), services: ServiceOptions::default() }
    }
}

fn local_runtime(local: Local) -> Result<Arc<Runtime>, u8> {
    let options = EngineOptions { max_instances: 16, cache_dir: local.cache_dir, ..EngineOptions::default() };
    runtime(options, local.limits, &local.services)
}

async fn load_dir(runtime: &Arc<Runtime>, dir: &Path) -> Result<Registry, u8> {
    runtime.load_dir(dir).await.map_err(|e| {
        eprintln_safe!("error: cannot read plugin directory {}: {e}", dir.display());
        EXIT_USAGE
    })
}

/// A local runtime and the directory's plugins, for `call` and `list`; an
/// exit code (the reason already printed) when either cannot be had.
async fn local_registry(dir: &Path, local: Local) -> Result<(Arc<Runtime>, Registry), u8> {
    let runtime = local_runtime(local)?;
    let registry = load_dir(&runtime, dir).await?;
    Ok((runtime, registry))
}

/// What `host call` was asked to run.
pub(super) struct CallArgs {
    pub name: String,
    pub args: Vec<String>,
    /// Arguments and result as proto3-JSON payloads rather than JSON values.
    pub payloads: bool,
    pub codec: CodecOptions,
    pub cancel_grace: Duration,
}

pub(super) async fn call(call: CallArgs, dir: PathBuf, local: Local) -> u8 {
    let CallArgs { name, args, payloads: as_payloads, codec, cancel_grace } = call;
    let mut payloads = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        let parsed = if as_payloads {
            serde_json::from_str(arg).map_err(|e| e.to_string()).and_then(|v| Payload::from_proto_json(&v))
        } else {
            Payload::from_json_arg(arg).map_err(|e| format!("{e}"))
        };
        match parsed {
            Ok(p) => payloads.push(p),
            Err(e) if as_payloads => {
                eprintln_safe!("error: argument {} is not a payload in proto3 JSON ({e}): {arg}", i + 1);
                return EXIT_USAGE;
            }
            Err(e) => {
                eprintln_safe!("error: argument {} is not JSON ({e}): {arg}; {}", i + 1, json_arg_hint(arg));
                return EXIT_USAGE;
            }
        }
    }
    let timeout = local.limits.timeout;
    // The runtime outlives the executions: it drives their deadlines.
    let (runtime, registry) = match local_registry(&dir, local).await {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let codec = match Codec::from_options(&codec, &runtime, "default").await {
        Ok(codec) => codec,
        Err(e) => {
            eprintln_safe!("error: {e:#}");
            return EXIT_USAGE;
        }
    };

    let mut request = Request::local(&name, payloads).with_timeout(timeout);
    let (cancel, interrupt) = (request.cancel.clone(), request.interrupt.clone());
    let ctrl_c = cancel.clone();
    // One listener for both Ctrl-Cs, so that a second one pressed quickly
    // is not lost between them.
    let mut interrupts = signal(SignalKind::interrupt()).ok();
    tokio::spawn(async move {
        let Some(interrupts) = interrupts.as_mut() else { return };
        if interrupts.recv().await.is_some() {
            eprintln_safe!("cancelling {name}; interrupting it in {}", humantime::format_duration(cancel_grace));
            cancel.cancel();
            tokio::select! {
                _ = tokio::time::sleep(cancel_grace) => {}
                _ = interrupts.recv() => {}
            }
            interrupt.cancel();
        }
    });

    let outcome = match &codec {
        Some(codec) => match codec.decode_input(std::mem::take(&mut request.args), Vec::new()).await {
            Ok((args, _)) => {
                request.args = args;
                let outcome = registry.execute(request).await;
                codec.encode_outcome(outcome, &runtime.limits().payloads).await
            }
            Err(failure) => Outcome::Failed(failure),
        },
        None => registry.execute(request).await,
    };
    match outcome {
        Outcome::Completed(payload) if as_payloads => {
            println_safe!("{}", payload.to_proto_json());
            EXIT_OK
        }
        Outcome::Completed(payload) => {
            println_safe!("{}", payload.to_json_text());
            EXIT_OK
        }
        Outcome::Failed(failure) => {
            eprintln_safe!("{failure}");
            stopped(&ctrl_c)
        }
        Outcome::Cancelled(reason) => {
            eprintln_safe!("activity cancelled: {reason}");
            stopped(&ctrl_c)
        }
    }
}

/// A call that did not complete exits 1, or 130 once Ctrl-C asked it to
/// stop (however the activity then ended: as cancelled, or failing), as
/// the shell reports a command Ctrl-C stopped.
fn stopped(ctrl_c: &tokio_util::sync::CancellationToken) -> u8 {
    if ctrl_c.is_cancelled() { EXIT_INTERRUPTED } else { EXIT_FAILED }
}

pub(super) async fn list(dir: PathBuf, local: Local) -> u8 {
    // The runtime outlives the executions: it drives their deadlines.
    let (_runtime, registry) = match local_registry(&dir, local).await {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let mut rows: Vec<(String, &str, String)> = registry
        .activities()
        .into_iter()
        .map(|(name, plugin)| (name.to_string(), "activity", plugin.path().display().to_string()))
        .collect();
    if let Some(plugin) = registry.dynamic() {
        rows.push((dynamic_name(plugin).to_string(), "dynamic", plugin.path().display().to_string()));
    }
    if rows.is_empty() {
        println_safe!("no activities registered from {}", dir.display());
    } else {
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max("ACTIVITY".len());
        println_safe!("{:width$}  {:8}  PLUGIN", "ACTIVITY", "KIND");
        for (name, kind, path) in &rows {
            println_safe!("{name:width$}  {kind:8}  {path}");
        }
    }
    if !registry.plugins().is_empty() {
        println_safe!("\nplugins:");
        for plugin in registry.plugins() {
            println_safe!("{}", plugin.path().display());
            print_sandbox(plugin);
        }
    }
    if registry.refused_anything() {
        println_safe!("\nrefused:");
        for refusal in registry.refused() {
            println_safe!("{}: {}", refusal.path.display(), refusal.reason);
        }
        for dropped in registry.dropped() {
            println_safe!("{dropped}");
        }
    }
    let orphans = manifest::orphans(&dir).unwrap_or_default();
    if !orphans.is_empty() {
        println_safe!("\nwarnings:");
        for orphan in &orphans {
            println_safe!("{}: {orphan}", orphan.path.display());
        }
    }
    if registry.refused_anything() { EXIT_FAILED } else { EXIT_OK }
}

/// A plugin's effective grants and limits, indented under its name.
fn print_sandbox(plugin: &Plugin) {
    println_safe!("  grants: {}", plugin.grants());
    println_safe!("  limits: {}", plugin.limits());
}

pub(super) async fn check(paths: Vec<PathBuf>, local: Local) -> u8 {
    // A directory stands for its plugins, as `run` would load them.
    let mut files: Vec<PathBuf> = Vec::new();
    let mut orphans = Vec::new();
    for path in &paths {
        if path.is_dir() {
            match scan(path) {
                Ok(found) => files.extend(found),
                Err(e) => {
                    eprintln_safe!("error: cannot read plugin directory {}: {e}", path.display());
                    return EXIT_USAGE;
                }
            }
            orphans.extend(manifest::orphans(path).unwrap_or_default());
        } else {
            files.push(path.clone());
        }
    }
    let mut seen = HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    // A file named alone: the misnamed manifests meant for it.
    let mut dirs: Vec<&Path> = Vec::new();
    for dir in files.iter().filter_map(|f| f.parent()) {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        if !dirs.contains(&dir) && !paths.iter().any(|p| p.is_dir() && same_file(p, dir)) {
            dirs.push(dir);
        }
    }
    for dir in dirs {
        let meant = |o: &manifest::Orphan| o.plugin.as_ref().is_some_and(|p| files.iter().any(|f| same_file(f, p)));
        orphans.extend(manifest::orphans(dir).unwrap_or_default().into_iter().filter(meant));
    }

    let runtime = match local_runtime(local) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let loaded = runtime.load_all(files.clone()).await;
    let registry = Registry::from_loaded(loaded);
    for file in &files {
        if let Some(refusal) = registry.refused().iter().find(|r| &r.path == file) {
            println_safe!("{}: refused: {}", file.display(), refusal.reason);
        } else if let Some(plugin) = registry.plugins().iter().find(|p| p.path() == file) {
            let from = match plugin.source() {
                Source::Cached => ", from the cache",
                Source::Compiled => "",
            };
            println_safe!(
                "{}: ok: {} (loaded in {} ms{from})",
                file.display(),
                registry.describe(plugin),
                plugin.load_time().as_millis()
            );
            for dropped in registry.dropped().iter().filter(|d| &d.path == file) {
                println_safe!("  refused: its dynamic activity {}: {}", dropped.name, dropped.reason);
            }
            print_sandbox(plugin);
        }
    }
    for orphan in &orphans {
        println_safe!("{}: warning: {orphan}", orphan.path.display());
    }
    if registry.refused_anything() { EXIT_FAILED } else { EXIT_OK }
}

/// Whether two paths name one file, however each was spelled.
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}
