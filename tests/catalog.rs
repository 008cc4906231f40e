//! The live plugin directory: what a rescan loads, replaces, removes, keeps
//! and refuses while the host runs.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use activity_host::catalog::{Catalog, Writers};
use activity_host::engine::EngineOptions;
use activity_host::{Limits, Outcome, Payload, Request, Runtime};
use common::*;

async fn open(dir: &TempDir) -> Arc<Catalog> {
    let runtime =
        Runtime::new(&EngineOptions { max_instances: 32, ..EngineOptions::default() }, Limits::default()).unwrap();
    Catalog::open(runtime, dir.path()).await.unwrap()
}

async fn call(catalog: &Catalog, name: &str, args: &[&str]) -> Outcome {
    let args = args.iter().map(|a| Payload::from_json_arg(a).unwrap()).collect();
    catalog.registry().execute(Request::local(name, args)).await
}

fn served(catalog: &Catalog) -> Vec<String> {
    catalog.registry().activities().into_iter().map(|(n, _)| n.to_string()).collect()
}

fn none() -> HashSet<std::path::PathBuf> {
    HashSet::new()
}

/// What the library logs while `scope` runs on this thread (a
/// current-thread runtime keeps the catalog's own logging on it).
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn take(&self) -> String {
        let text = self.text();
        self.0.lock().unwrap().clear();
        text
    }

    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let log = self.clone();
        tracing_subscriber::fmt().with_ansi(false).with_writer(move || log.clone()).finish()
    }
}

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn added_replaced_and_removed_files_take_effect() {
    let dir = TempDir::new();
    dir.add("say_hello.wasm", &example("say_hello"));
    let catalog = open(&dir).await;
    assert_eq!(served(&catalog), ["say_hello_activity"]);

    let added = dir.add("your_activity.wasm", &example("your_activity"));
    let report = catalog.rescan(Writers::Known(&none())).await.unwrap();
    assert_eq!(report.changed, std::slice::from_ref(&added));
    assert_eq!(served(&catalog), ["say_hello_activity", "your_activity"]);

    // Unchanged files are not loaded again.
    assert!(catalog.rescan(Writers::Known(&none())).await.unwrap().changed.is_empty());

    dir.add("your_activity.wasm", &example("my_activity"));
    catalog.rescan(Writers::Known(&none())).await.unwrap();
    assert_eq!(served(&catalog), ["my-activity", "say_hello_activity"]);

    std::fs::remove_file(&added).unwrap();
    let report = catalog.rescan(Writers::Known(&none())).await.unwrap();
    assert_eq!(report.removed, [added]);
    assert_eq!(served(&catalog), ["say_hello_activity"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn in_flight_executions_finish_on_the_version_they_started_with() {
    let dir = TempDir::new();
    let file = dir.add("work.wasm", &test_plugin("misbehave"));
    let catalog = open(&dir).await;
    let old = catalog.registry();
    let running = tokio::spawn(async move {
        old.execute(Request::local("sleep", vec![Payload::from_json_arg("400").unwrap()])).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    std::fs::copy(example("say_hello"), &file).unwrap();
    catalog.rescan(Writers::Known(&none())).await.unwrap();
    assert_eq!(served(&catalog), ["say_hello_activity"]);
    assert!(matches!(call(&catalog, "sleep", &["1"]).await, Outcome::Failed(f) if f.error_type == "NotFoundError"));

    let Outcome::Completed(result) = running.await.unwrap() else { panic!("the old version was torn down") };
    assert_eq!(result.to_json_text(), r#""slept 400 ms""#);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replacement_that_does_not_load_keeps_the_previous_version() {
    let dir = TempDir::new();
    let file = dir.add("say_hello.wasm", &example("say_hello"));
    let catalog = open(&dir).await;
    std::fs::write(&file, CORE_MODULE).unwrap();
    catalog.rescan(Writers::Known(&none())).await.unwrap();
    assert_eq!(served(&catalog), ["say_hello_activity"]);
    let registry = catalog.registry();
    let refusal = &registry.refused()[0];
    assert!(refusal.reason.starts_with("is a core WebAssembly module"), "{}", refusal.reason);
    assert!(refusal.reason.ends_with("; still serving the previous version"), "{}", refusal.reason);
    assert!(matches!(call(&catalog, "say_hello_activity", &[r#""World""#]).await, Outcome::Completed(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newcomer_cannot_take_a_name_that_is_served() {
    let dir = TempDir::new();
    dir.add("m_say_hello.wasm", &example("say_hello"));
    let catalog = open(&dir).await;
    // Sorts first, but the plugin already serving the name keeps it.
    dir.add("a_say_hello.wasm", &example("say_hello"));
    catalog.rescan(Writers::Known(&none())).await.unwrap();
    let registry = catalog.registry();
    assert_eq!(registry.resolve("say_hello_activity").unwrap().name(), "m_say_hello.wasm");
    assert!(registry.refused()[0].path.ends_with("a_say_hello.wasm"));
    assert!(registry.refused()[0].reason.contains("already registered by"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_still_being_written_waits() {
    let dir = TempDir::new();
    dir.add("say_hello.wasm", &example("say_hello"));
    let catalog = open(&dir).await;
    let bytes = std::fs::read(example("your_activity")).unwrap();
    let file = dir.write("your_activity.wasm", &bytes[..bytes.len() / 2]);

    let writing: HashSet<_> = [file.clone()].into();
    let report = catalog.rescan(Writers::Known(&writing)).await.unwrap();
    assert_eq!(report.unsettled, std::slice::from_ref(&file));
    assert!(catalog.registry().refused().is_empty(), "a half-written file was loaded");

    std::fs::write(&file, &bytes).unwrap();
    catalog.rescan(Writers::Known(&none())).await.unwrap();
    assert_eq!(served(&catalog), ["say_hello_activity", "your_activity"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watcher_applies_changes_by_itself() {
    let dir = TempDir::new();
    dir.add("say_hello.wasm", &example("say_hello"));
    let catalog = open(&dir).await;
    let _watch = activity_host::watch::watch(catalog.clone());
    // Written through a temporary name and renamed in, as deploy tools do.
    let temp = dir.add(".your_activity.wasm.partial", &example("your_activity"));
    std::fs::rename(&temp, dir.path().join("your_activity.wasm")).unwrap();
    for _ in 0..100 {
        if served(&catalog).contains(&"your_activity".to_string()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the watcher never loaded your_activity.wasm: {:?}", served(&catalog));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_dynamic_activity_is_dropped_while_its_plugins_names_serve() {
    let dir = TempDir::new();
    let holder = dir.add("m_dynamic_greeting.wasm", &example("dynamic_greeting"));
    let catalog = open(&dir).await;
    // Sorts first, but the plugin already serving the dynamic entry keeps it.
    dir.add("a_raw.wasm", &test_plugin("raw"));
    catalog.rescan(Writers::Known(&none())).await.unwrap();
    assert_eq!(served(&catalog), ["raw_named"]);
    let registry = catalog.registry();
    assert_eq!(registry.dynamic().unwrap().name(), "m_dynamic_greeting.wasm");
    assert!(registry.refused().is_empty(), "{:?}", registry.refused());
    assert_eq!(registry.dropped().len(), 1);
    assert_eq!(registry.dropped()[0].name, "raw_echo");
    assert!(matches!(call(&catalog, "raw_named", &["1"]).await, Outcome::Completed(_)));

    // Its holder gone, the dynamic entry passes to the plugin that has one.
    std::fs::remove_file(&holder).unwrap();
    catalog.rescan(Writers::Known(&none())).await.unwrap();
    let registry = catalog.registry();
    assert_eq!(registry.dynamic().unwrap().name(), "a_raw.wasm");
    assert!(registry.dropped().is_empty());
    let Outcome::Completed(result) = call(&catalog, "anything", &[]).await else { panic!("no dynamic entry") };
    assert!(result.to_json_text().contains(r#""activity_type":"anything""#), "{}", result.to_json_text());
}

#[tokio::test(flavor = "current_thread")]
async fn misnamed_manifests_are_warned_about_at_load_and_on_reload() {
    let log = Log::default();
    let _guard = tracing::subscriber::set_default(log.subscriber());
    let dir = TempDir::new();
    dir.add("say_hello.wasm", &example("say_hello"));
    dir.write("say_hello.wasm.toml", b"");
    let catalog = open(&dir).await;
    let text = log.take();
    assert!(text.contains("not a manifest of any plugin; the manifest of say_hello.wasm is say_hello.toml"), "{text}");

    // Once each, not at every rescan.
    dir.add("your_activity.wasm", &example("your_activity"));
    catalog.rescan(Writers::Known(&none())).await.unwrap();
    assert!(!log.take().contains("not a manifest"));

    // A new one is warned about on the rescan that finds it, though no plugin changed.
    let stray = dir.write("Your-Activity.toml", b"");
    let report = catalog.rescan(Writers::Known(&none())).await.unwrap();
    assert!(report.changed.is_empty());
    let text = log.take();
    assert!(
        text.contains("not a manifest of any plugin; the manifest of your_activity.wasm is your_activity.toml"),
        "{text}"
    );
    assert!(text.contains(&stray.display().to_string()), "{text}");
}
