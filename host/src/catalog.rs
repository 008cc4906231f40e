//! A plugin directory that changes while the host runs.
//!
//! The catalog keeps what each file last loaded as, and the registry built
//! from them. A rescan reloads only the files whose size or modification
//! time changed, and only once they have stopped changing; it then builds
//! a new registry and swaps it in atomically. Executions already running
//! hold the plugins they started with, so a replaced file serves new
//! executions while in-flight ones finish on the old version.
//!
//! While the host runs, a plugin already serving keeps what it has: if its
//! file is replaced by one that does not load (or no longer fits beside the
//! others) the previous version goes on serving, and a newcomer that claims
//! a name someone serves is refused, whatever the file names. At start-up,
//! with nobody serving yet, file name order decides.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::manifest;
use crate::plugin::{LoadError, Plugin};
use crate::registry::{Candidate, Registry, log_changes};
use crate::runtime::{Runtime, scan};

/// Without a watcher's events, how long a changed file must keep its size
/// and modification time before it is loaded.
pub const SETTLE: Duration = Duration::from_millis(200);

/// How a rescan tells a file still being written from a finished one.
#[derive(Debug, Clone, Copy)]
pub enum Writers<'a> {
    /// Take every file as it is (start-up: nothing to compare with).
    Ignore,
    /// These files are open for writing (the watcher saw them change and
    /// not yet closed); the others are complete.
    Known(&'a HashSet<PathBuf>),
    /// Unknown (polling): a changed file must keep its size and
    /// modification time for [`SETTLE`].
    Settle,
}

/// What identifies a version of a plugin without reading it: its file's
/// size and modification time, and its manifest's, if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    plugin: (u64, Option<SystemTime>),
    manifest: Option<(u64, Option<SystemTime>)>,
}

fn stamp(path: &Path) -> io::Result<Stamp> {
    let of = |meta: std::fs::Metadata| (meta.len(), meta.modified().ok());
    let plugin = of(std::fs::metadata(path)?);
    let manifest = std::fs::metadata(manifest::path_for(path)).ok().map(of);
    Ok(Stamp { plugin, manifest })
}

struct FileState {
    stamp: Stamp,
    loaded: Result<Arc<Plugin>, LoadError>,
}

/// What a rescan did.
#[derive(Debug, Default, PartialEq)]
pub struct Rescan {
    /// Files (re)loaded or refused in this rescan.
    pub changed: Vec<PathBuf>,
    /// Files gone from the directory.
    pub removed: Vec<PathBuf>,
    /// Files still being written; a later rescan must look again.
    pub unsettled: Vec<PathBuf>,
}

/// The live plugin directory.
pub struct Catalog {
    runtime: Arc<Runtime>,
    dir: PathBuf,
    files: tokio::sync::Mutex<BTreeMap<PathBuf, FileState>>,
    current: ArcSwap<Registry>,
    /// Misnamed manifests already warned about, so that each is logged once
    /// (and again if it changes or comes back), not at every rescan.
    orphans: std::sync::Mutex<Vec<manifest::Orphan>>,
}

impl Catalog {
    /// Loads the directory for the first time. Fails only if it cannot be read.
    pub async fn open(runtime: Arc<Runtime>, dir: &Path) -> io::Result<Arc<Catalog>> {
        let catalog = Arc::new(Catalog {
            runtime,
            dir: dir.to_path_buf(),
            files: tokio::sync::Mutex::new(BTreeMap::new()),
            current: ArcSwap::from_pointee(Registry::default()),
            orphans: std::sync::Mutex::default(),
        });
        catalog.rescan(Writers::Ignore).await?;
        Ok(catalog)
    }

    /// The runtime every plugin of the directory is loaded into.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The registry now; an execution keeps the one it started with.
    pub fn registry(&self) -> Arc<Registry> {
        self.current.load_full()
    }

    /// Looks at the directory again and applies what changed.
    pub async fn rescan(&self, writers: Writers<'_>) -> io::Result<Rescan> {
        let mut files = self.files.lock().await;
        let paths = scan(&self.dir)?;
        let mut report = Rescan::default();
        self.warn_orphans();

        let mut to_load = Vec::new();
        for path in &paths {
            let Ok(now) = stamp(path) else { continue };
            if files.get(path).is_some_and(|f| f.stamp == now) {
                continue;
            }
            to_load.push((path.clone(), now));
        }
        match writers {
            Writers::Ignore => {}
            Writers::Known(open) => to_load.retain(|(path, _)| {
                let settled = !open.contains(path) && !open.contains(&manifest::path_for(path));
                if !settled {
                    report.unsettled.push(path.clone());
                }
                settled
            }),
            Writers::Settle if !to_load.is_empty() => {
                tokio::time::sleep(SETTLE).await;
                to_load.retain(|(path, before)| {
                    let settled = stamp(path).is_ok_and(|after| after == *before);
                    if !settled {
                        report.unsettled.push(path.clone());
                    }
                    settled
                });
            }
            Writers::Settle => {}
        }
        let removed: Vec<PathBuf> = files.keys().filter(|p| !paths.contains(p)).cloned().collect();
        if to_load.is_empty() && removed.is_empty() {
            return Ok(report);
        }

        let loaded = self.runtime.load_all(to_load.iter().map(|(p, _)| p.clone()).collect()).await;
        for ((path, stamp), (_, result)) in to_load.into_iter().zip(loaded) {
            report.changed.push(path.clone());
            files.insert(path, FileState { stamp, loaded: result });
        }
        for path in &removed {
            files.remove(path);
        }
        report.removed = removed;

        let old = self.current.load_full();
        let registry = Registry::build(candidates(&files, &old));
        log_changes(&old, &registry, &report.changed);
        count_loads(&self.runtime.services().telemetry, &old, &registry);
        self.current.store(Arc::new(registry));
        Ok(report)
    }

    /// Warns about manifests that belong to no plugin. A misnamed manifest
    /// changes no plugin, so nothing else would mention it; each is warned
    /// about once (again if it changes or comes back), not at every rescan.
    fn warn_orphans(&self) {
        let Ok(now) = manifest::orphans(&self.dir) else { return };
        let mut warned = self.orphans.lock().unwrap_or_else(|p| p.into_inner());
        for orphan in now.iter().filter(|o| !warned.contains(o)) {
            tracing::warn!(manifest = %orphan.path.display(), "{orphan}");
        }
        *warned = now;
    }
}

/// Serving plugins first, in file order, each with its previous version as
/// a fallback; then every other file, in file order.
fn candidates(files: &BTreeMap<PathBuf, FileState>, old: &Registry) -> Vec<Candidate> {
    let serving = |path: &Path| old.plugins().iter().find(|p| p.path() == path).cloned();
    let (mut first, mut rest) = (Vec::new(), Vec::new());
    for (path, state) in files {
        let candidate = Candidate { path: path.clone(), loaded: state.loaded.clone(), previous: serving(path) };
        if candidate.previous.is_some() { first.push(candidate) } else { rest.push(candidate) }
    }
    first.append(&mut rest);
    first
}

/// The loads a rescan made, for `activity_host_plugin_loads` and `_reloads`.
fn count_loads(telemetry: &crate::telemetry::Telemetry, old: &Registry, new: &Registry) {
    if !telemetry.is_on() {
        return;
    }
    for plugin in new.plugins() {
        if old.plugins().iter().any(|p| Arc::ptr_eq(p, plugin)) {
            continue;
        }
        let reload = old.plugins().iter().any(|p| p.path() == plugin.path());
        telemetry.plugin_loaded(plugin.name(), plugin.source() == crate::cache::Source::Cached, reload);
    }
}
