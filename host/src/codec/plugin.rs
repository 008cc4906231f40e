//! A codec plugin: a component of the `codec-plugin` world
//! (`wit/codec.wit`), for speed and for operators without a codec server.
//!
//! It is sandboxed as an activity plugin is: the manifest beside it grants
//! what it may reach (its key arrives through `[env]`, never in the file),
//! its limits bound memory and time, and every call runs in a fresh
//! instance, so no call sees another's payloads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use wasmtime::Trap;
use wasmtime::component::Linker;

use super::{CodecError, Direction};
use crate::bindings::codec_plugin::CodecPluginPre;
use crate::execute::Request;
use crate::manifest;
use crate::output::Origin;
use crate::payload::Payload;
use crate::plugin::compile;
use crate::runtime::Runtime;
use crate::sandbox::{ExecutionContext, Grants, Limits, Sandbox};
use crate::services::Services;

/// The interface a codec plugin exports, as the linker names it.
pub const CODEC_EXPORT: &str = "activity-host:plugin/codec@0.1.0";

pub struct CodecPlugin {
    path: PathBuf,
    name: Arc<str>,
    pre: CodecPluginPre<Sandbox>,
    grants: Arc<Grants>,
    limits: Limits,
    services: Services,
}

impl CodecPlugin {
    /// Reads, compiles and links the codec with its manifest; an error names
    /// the file and what is wrong with it.
    pub async fn load(runtime: &Arc<Runtime>, path: &Path) -> anyhow::Result<CodecPlugin> {
        let refuse = |reason: String| anyhow::anyhow!("codec plugin {}: {reason}", path.display());
        let (grants, limits) = manifest::load(path, runtime.limits()).map_err(|e| refuse(e.to_string()))?;
        let set = runtime.engine_for(&limits).map_err(|e| refuse(e.to_string()))?;
        let (_, component, _) = compile(&set.engine, runtime.cache(), path).await.map_err(|e| refuse(e.to_string()))?;
        let linker: &Linker<Sandbox> = &set.linker;
        let pre = linker.instantiate_pre(&component).map_err(|e| refuse(format!("{e:#}")))?;
        let pre = CodecPluginPre::new(pre).map_err(|_| refuse(format!("it does not export {CODEC_EXPORT}")))?;
        let name: Arc<str> = path.file_name().map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy()).into();
        Ok(CodecPlugin {
            path: path.to_path_buf(),
            name,
            pre,
            grants: Arc::new(grants),
            limits,
            services: runtime.services().clone(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) async fn call(&self, direction: Direction, payloads: Vec<Payload>) -> Result<Vec<Payload>, CodecError> {
        let fail = |what: String| CodecError(format!("codec plugin {}: {what}", self.name));
        let timeout = self.limits.timeout;
        // The store wants an execution's context; a codec imports none of it.
        let local = Request::local(&direction.to_string(), Vec::new());
        let context = ExecutionContext { info: local.info, heartbeat: local.heartbeat, cancel: local.cancel };
        let origin = Origin {
            plugin: self.name.clone(),
            activity_type: Arc::from(direction.to_string()),
            activity_id: Arc::from(""),
            telemetry: self.services.telemetry.clone(),
            trace_id: None,
        };
        let mut store = Sandbox::store(
            self.pre.engine(),
            &self.grants,
            &self.services,
            &self.limits,
            origin,
            context,
            Instant::now() + timeout,
            CancellationToken::new(),
            self.services.memory.unqueued(),
        )
        .map_err(|failure| fail(failure.message))?;
        let called = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            let codec = instance.activity_host_plugin_codec();
            match direction {
                Direction::Encode => codec.call_encode(&mut store, &payloads).await,
                Direction::Decode => codec.call_decode(&mut store, &payloads).await,
            }
        }
        .await;
        let stderr = store.data().capture.finish();
        match called {
            Ok(Ok(payloads)) => Ok(payloads),
            Ok(Err(message)) => Err(fail(message)),
            Err(error) => {
                let what = match error.downcast_ref::<Trap>() {
                    Some(Trap::Interrupt) => {
                        format!("exceeded its timeout of {}", humantime::format_duration(timeout))
                    }
                    Some(trap) => format!("trapped: {trap}"),
                    None => format!("failed: {}", crate::error_chain::one_line(error.as_ref())),
                };
                let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).map(|l| format!(" ({})", l.trim()));
                Err(fail(format!("{direction} {what}{}", last.unwrap_or_default())))
            }
        }
    }
}
