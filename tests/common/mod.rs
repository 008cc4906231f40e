//! Helpers shared by the integration tests: where the built plugins are, and
//! throw-away plugin directories.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use activity_host::{Failure, Outcome};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where the built plugins are: this checkout, or the one
/// `ACTIVITY_HOST_BUILT` names (`make mutants` tests scratch copies of the
/// sources, without their build output, against the checkout's plugins).
pub fn repo() -> PathBuf {
    match std::env::var_os("ACTIVITY_HOST_BUILT") {
        Some(built) => PathBuf::from(built),
        None => repo_sources(),
    }
}

/// The checkout's sources (the WIT, say), wherever the built plugins are.
pub fn repo_sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn existing(path: PathBuf, how: &str) -> PathBuf {
    assert!(path.is_file(), "{} is missing: run `{how}` first (`make test` does)", path.display());
    path
}

/// An example plugin, as `make plugins` builds it: `plugins/NAME.wasm`.
pub fn example(name: &str) -> PathBuf {
    existing(repo().join("plugins").join(format!("{name}.wasm")), "make plugins")
}

/// A test plugin, as `make test-plugins` builds it.
pub fn test_plugin(name: &str) -> PathBuf {
    existing(repo().join("target/test-plugins").join(format!("{name}.wasm")), "make test-plugins")
}

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "activity-host-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Copies `source` into the directory as `name`.
    pub fn add(&self, name: &str, source: &Path) -> PathBuf {
        let target = self.0.join(name);
        std::fs::copy(source, &target).unwrap();
        target
    }

    /// Writes `bytes` into the directory as `name`.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let target = self.0.join(name);
        std::fs::write(&target, bytes).unwrap();
        target
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A plugin directory holding the four example plugins.
pub fn examples_dir() -> TempDir {
    let dir = TempDir::new();
    for name in ["say_hello", "my_activity", "your_activity", "dynamic_greeting"] {
        dir.add(&format!("{name}.wasm"), &example(name));
    }
    dir
}

/// The smallest valid core WebAssembly module: a header and nothing else.
pub const CORE_MODULE: &[u8] = b"\0asm\x01\0\0\0";

/// The result's JSON text, or a panic naming what came instead.
#[track_caller]
pub fn completed(outcome: Outcome) -> String {
    match outcome {
        Outcome::Completed(payload) => payload.to_json_text(),
        other => panic!("expected a result, got {other:?}"),
    }
}

/// The failure, or a panic naming what came instead.
#[track_caller]
pub fn failed(outcome: Outcome) -> Failure {
    match outcome {
        Outcome::Failed(failure) => failure,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Starts misbehave's `spin_reporting` and returns once it is spinning (its
/// heartbeat arrived): a hog known to hold a thread before a test measures
/// what runs beside it, stopped at `timeout`.
pub async fn spinning_hog(
    registry: &std::sync::Arc<activity_host::Registry>,
    timeout: std::time::Duration,
) -> tokio::task::JoinHandle<Outcome> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let mut request = activity_host::Request::local("spin_reporting", vec![]).with_timeout(timeout);
    request.heartbeat = std::sync::Arc::new(move |_| {
        if let Some(tx) = tx.lock().unwrap().take() {
            let _ = tx.send(());
        }
    });
    let registry = registry.clone();
    let hog = tokio::spawn(async move { registry.execute(request).await });
    rx.await.expect("the hog heartbeats before it spins");
    hog
}
