//! Applies changes to the plugin directory while the host runs.
//!
//! File system events say which files changed; the catalog's rescan decides
//! what that means. A file that was created or written to is left alone
//! until its writer closes it (inotify's close-write), so a plugin being
//! copied is never loaded half-written, however slow the copy; a file moved
//! into the directory is complete at once. Events are debounced (a copy
//! produces many). Where the platform offers no watcher (inotify limits,
//! some network file systems), the directory is polled instead, and a
//! changed file must keep its size and time for a moment before it loads.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::catalog::{Catalog, Writers};

/// Quiet time after the last event before rescanning.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// Rescan period when no watcher is available.
const POLL: Duration = Duration::from_secs(1);

/// Keeps the directory watched until dropped.
pub struct Watch {
    _watcher: Option<notify::RecommendedWatcher>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts watching the catalog's directory.
pub fn watch(catalog: Arc<Catalog>) -> Watch {
    let (tx, rx) = mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let _ = tx.send(event);
    })
    .and_then(|mut w| w.watch(catalog.dir(), RecursiveMode::NonRecursive).map(|()| w));
    match watcher {
        Ok(watcher) => {
            tracing::info!(dir = %catalog.dir().display(), "watching the plugin directory");
            Watch { _watcher: Some(watcher), task: tokio::spawn(on_events(catalog, rx)) }
        }
        Err(e) => {
            tracing::warn!(
                dir = %catalog.dir().display(),
                "cannot watch the plugin directory ({e}); polling it every {}s instead",
                POLL.as_secs()
            );
            Watch { _watcher: None, task: tokio::spawn(poll(catalog)) }
        }
    }
}

/// A plugin file or a plugin's manifest.
fn is_plugin(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|x| x == "wasm" || x == "toml")
}

/// Updates the set of files open for writing; says whether the event may
/// have changed what the directory holds.
fn track(event: &notify::Event, writing: &mut HashSet<PathBuf>) -> bool {
    let paths: Vec<&PathBuf> = event.paths.iter().filter(|p| is_plugin(p)).collect();
    match event.kind {
        EventKind::Create(_) | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) => {
            writing.extend(paths.iter().map(|p| (*p).clone()));
            !paths.is_empty()
        }
        EventKind::Access(AccessKind::Close(AccessMode::Write)) | EventKind::Remove(_) | EventKind::Modify(_) => {
            for path in &paths {
                writing.remove(*path);
            }
            !paths.is_empty()
        }
        // Opening and reading (the host's own loads among them) change nothing.
        EventKind::Access(_) => false,
        EventKind::Any | EventKind::Other => true,
    }
}

async fn on_events(catalog: Arc<Catalog>, mut events: mpsc::UnboundedReceiver<notify::Result<notify::Event>>) {
    let mut writing = HashSet::new();
    let apply = |event: notify::Result<notify::Event>, writing: &mut HashSet<PathBuf>| match event {
        Ok(event) => track(&event, writing),
        Err(e) => {
            tracing::warn!("watching the plugin directory: {e}");
            true
        }
    };
    while let Some(event) = events.recv().await {
        if !apply(event, &mut writing) {
            continue;
        }
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => { apply(event, &mut writing); }
                    None => return,
                },
                () = tokio::time::sleep(DEBOUNCE) => break,
            }
        }
        match catalog.rescan(Writers::Known(&writing)).await {
            Ok(report) if !report.unsettled.is_empty() => {
                tracing::debug!(files = ?report.unsettled, "still being written: loading when closed");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(dir = %catalog.dir().display(), "cannot read the plugin directory: {e}"),
        }
    }
}

async fn poll(catalog: Arc<Catalog>) {
    loop {
        tokio::time::sleep(POLL).await;
        if let Err(e) = catalog.rescan(Writers::Settle).await {
            tracing::warn!(dir = %catalog.dir().display(), "cannot read the plugin directory: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, RenameMode};

    fn event(kind: EventKind, paths: &[&str]) -> notify::Event {
        let mut e = notify::Event::new(kind);
        for p in paths {
            e = e.add_path(PathBuf::from(p));
        }
        e
    }

    #[test]
    fn a_file_is_being_written_from_creation_until_closed() {
        let mut writing = HashSet::new();
        assert!(track(&event(EventKind::Create(CreateKind::File), &["/p/a.wasm"]), &mut writing));
        assert!(track(&event(EventKind::Modify(ModifyKind::Data(DataChange::Any)), &["/p/a.wasm"]), &mut writing));
        assert!(writing.contains(&PathBuf::from("/p/a.wasm")));
        assert!(track(&event(EventKind::Access(AccessKind::Close(AccessMode::Write)), &["/p/a.wasm"]), &mut writing));
        assert!(writing.is_empty());
    }

    #[test]
    fn renames_are_complete_and_reads_change_nothing() {
        let mut writing = HashSet::new();
        let rename = event(EventKind::Modify(ModifyKind::Name(RenameMode::Both)), &["/p/.tmp123", "/p/b.wasm"]);
        assert!(track(&rename, &mut writing));
        assert!(writing.is_empty());
        assert!(!track(&event(EventKind::Access(AccessKind::Close(AccessMode::Read)), &["/p/b.wasm"]), &mut writing));
        assert!(!track(&event(EventKind::Create(CreateKind::File), &["/p/notes.txt"]), &mut writing));
        assert!(writing.is_empty());
    }
}
