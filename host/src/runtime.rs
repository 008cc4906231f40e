//! The host's WebAssembly runtime: one engine and linker for the process,
//! and loading plugin files and directories against them.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::engine::{self, Allocation, EngineOptions};
use crate::plugin::{LoadError, Plugin};
use crate::registry::{Registry, log_changes};
use crate::sandbox::{Limits, Sandbox};

/// Shared by every plugin the process loads.
pub struct Runtime {
    engine: Engine,
    linker: Linker<Sandbox>,
    limits: Limits,
    allocation: Allocation,
}

impl Runtime {
    /// Builds the engine and linker and starts the epoch clock. `limits` are
    /// the host-wide defaults every plugin gets.
    pub fn new(options: &EngineOptions, limits: Limits) -> anyhow::Result<Arc<Runtime>> {
        let (engine, allocation) = engine::build(options)?;
        engine::start_epoch_ticker(&engine);
        let linker = engine::linker(&engine)?;
        Ok(Arc::new(Runtime { engine, linker, limits, allocation }))
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn allocation(&self) -> Allocation {
        self.allocation
    }

    /// Loads one plugin file.
    pub async fn load(&self, path: &Path) -> Result<Plugin, LoadError> {
        Plugin::load(&self.engine, &self.linker, path, self.limits.clone()).await
    }

    /// Loads several files at once (compilation runs on blocking threads) and
    /// returns the results in the order given.
    pub async fn load_all(self: &Arc<Self>, paths: Vec<PathBuf>) -> Vec<(PathBuf, Result<Arc<Plugin>, LoadError>)> {
        let mut tasks = tokio::task::JoinSet::new();
        for (index, path) in paths.iter().cloned().enumerate() {
            let runtime = self.clone();
            tasks.spawn(async move { (index, runtime.load(&path).await.map(Arc::new)) });
        }
        let mut results: Vec<Option<Result<Arc<Plugin>, LoadError>>> = (0..paths.len()).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, result)) => results[index] = Some(result),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        paths.into_iter().zip(results).map(|(p, r)| (p, r.expect("every task reports"))).collect()
    }

    /// Loads every plugin of a directory into a registry.
    pub async fn load_dir(self: &Arc<Self>, dir: &Path) -> io::Result<Registry> {
        let paths = scan(dir)?;
        let loaded = self.load_all(paths).await;
        let changed: Vec<PathBuf> = loaded.iter().map(|(p, _)| p.clone()).collect();
        let registry = Registry::from_loaded(loaded);
        log_changes(&Registry::default(), &registry, &changed);
        Ok(registry)
    }
}

/// The plugin files of a directory: `DIR/*.wasm`, not recursive, sorted by
/// file name so that conflicts always resolve the same way.
pub fn scan(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(paths)
}
