//! The host's WebAssembly runtime: one engine and linker for the process,
//! and loading plugin files and directories against them.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::cache::Cache;
use crate::engine::{self, Allocation, EngineKey, EngineOptions};
use crate::manifest;
use crate::plugin::{LoadError, Plugin};
use crate::registry::{Registry, log_changes};
use crate::sandbox::{Limits, Sandbox};
use crate::services::{ServiceOptions, Services};

/// An engine and the linker for it.
pub struct EngineSet {
    pub engine: Engine,
    pub linker: Linker<Sandbox>,
    pub allocation: Allocation,
}

/// Shared by every plugin the process loads.
pub struct Runtime {
    options: EngineOptions,
    limits: Limits,
    services: Services,
    cache: Option<Arc<Cache>>,
    default: Arc<EngineSet>,
    /// Engines for plugins whose manifest asks for another stack size or for fuel.
    others: Mutex<HashMap<EngineKey, Arc<EngineSet>>>,
}

fn engine_set(options: &EngineOptions, key: EngineKey, services: &Services) -> anyhow::Result<Arc<EngineSet>> {
    let (engine, allocation) = engine::build(options, key, &services.memory)?;
    engine::start_epoch_ticker(&engine);
    let linker = engine::linker(&engine)?;
    Ok(Arc::new(EngineSet { engine, linker, allocation }))
}

fn key(limits: &Limits) -> EngineKey {
    EngineKey { max_stack: limits.max_stack, fuel: limits.fuel.is_some() }
}

impl Runtime {
    /// Builds the engine and linker and starts the epoch clock. `limits` are
    /// the host-wide defaults every plugin gets unless its manifest says otherwise.
    pub fn new(options: &EngineOptions, limits: Limits) -> anyhow::Result<Arc<Runtime>> {
        Runtime::with_services(options, limits, Services::new(&ServiceOptions::default())?)
    }

    /// As [`Runtime::new`], with the host's services (an HTTP client with
    /// the operator's CA file, say) configured by the caller.
    pub fn with_services(options: &EngineOptions, limits: Limits, services: Services) -> anyhow::Result<Arc<Runtime>> {
        let default = engine_set(options, key(&limits), &services)?;
        let cache = match &options.cache_dir {
            Some(dir) => match Cache::open(dir) {
                Ok(cache) => Some(Arc::new(cache)),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), "cannot use the compilation cache ({e}); compiling every plugin");
                    None
                }
            },
            None => None,
        };
        Ok(Arc::new(Runtime { options: options.clone(), limits, services, cache, default, others: Mutex::default() }))
    }

    /// The engine of plugins with the host-wide limits.
    pub fn engine(&self) -> &Engine {
        &self.default.engine
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    pub fn allocation(&self) -> Allocation {
        self.default.allocation
    }

    /// The compilation cache, if the runtime keeps one.
    pub(crate) fn cache(&self) -> Option<Arc<Cache>> {
        self.cache.clone()
    }

    /// The engine and linker for a component with these limits.
    pub(crate) fn engine_for(&self, limits: &Limits) -> Result<Arc<EngineSet>, LoadError> {
        let key = key(limits);
        if key == self::key(&self.limits) {
            return Ok(self.default.clone());
        }
        let mut others = self.others.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = others.get(&key) {
            return Ok(set.clone());
        }
        let set = engine_set(&self.options, key, &self.services)
            .map_err(|e| LoadError::Invalid(format!("cannot configure an engine for its limits: {e:#}")))?;
        tracing::info!(max_stack = key.max_stack, fuel = key.fuel, "started an engine for plugins with these limits");
        others.insert(key, set.clone());
        Ok(set)
    }

    /// Loads one plugin file, with its manifest if it has one.
    pub async fn load(&self, path: &Path) -> Result<Plugin, LoadError> {
        let (grants, limits) = manifest::load(path, &self.limits).map_err(|e| LoadError::Manifest(e.to_string()))?;
        let set = self.engine_for(&limits)?;
        let services = self.services.clone();
        Plugin::load(&set.engine, &set.linker, self.cache.clone(), path, Arc::new(grants), services, limits).await
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

    /// Loads every plugin of a directory into a registry, logging what
    /// loaded, what was refused and the manifests that belong to no plugin.
    pub async fn load_dir(self: &Arc<Self>, dir: &Path) -> io::Result<Registry> {
        let paths = scan(dir)?;
        for orphan in manifest::orphans(dir).unwrap_or_default() {
            tracing::warn!(manifest = %orphan.path.display(), "{orphan}");
        }
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
