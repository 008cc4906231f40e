//! Reused instances (`[instances] reuse = N`), through the library: one
//! instance serves up to N executions one at a time, and any execution that
//! did not end cleanly leaves the next one a fresh instance.

mod common;

use std::sync::Arc;
use std::time::Duration;

use activity_host::engine::EngineOptions;
use activity_host::failure::kind;
use activity_host::{Limits, Outcome, Payload, Plugin, Registry, Request, Runtime};
use common::*;

/// misbehave with `manifest` beside it.
async fn load(manifest: &str) -> (Registry, TempDir) {
    let options = EngineOptions { max_instances: 32, ..EngineOptions::default() };
    let runtime = Runtime::new(&options, Limits::default()).unwrap();
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    dir.write("misbehave.toml", manifest.as_bytes());
    (runtime.load_dir(dir.path()).await.unwrap(), dir)
}

async fn call(registry: &Registry, name: &str, args: &[&str]) -> Outcome {
    let args = args.iter().map(|a| Payload::from_json_arg(a).unwrap()).collect();
    registry.execute(Request::local(name, args)).await
}

/// The module global `count` increments: how many executions its instance served.
async fn count(registry: &Registry) -> u64 {
    completed(call(registry, "count", &[]).await).parse().unwrap()
}

fn plugin(registry: &Registry) -> Arc<Plugin> {
    registry.plugins().first().expect("misbehave is loaded").clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_instance_serves_up_to_reuse_executions_then_a_fresh_one_takes_over() {
    let (registry, _dir) = load("[instances]\nreuse = 3\n").await;
    let mut seen = Vec::new();
    for _ in 0..7 {
        seen.push(count(&registry).await);
    }
    assert_eq!(seen, [1, 2, 3, 1, 2, 3, 1]);
    assert_eq!(plugin(&registry).idle_instances(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_section_every_execution_is_fresh_and_nothing_idles() {
    let (registry, _dir) = load("[limits]\nmemory = \"64MiB\"\n").await;
    for _ in 0..3 {
        assert_eq!(count(&registry).await, 1);
    }
    assert_eq!(plugin(&registry).idle_instances(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trap_a_timeout_and_an_interruption_each_leave_a_fresh_instance() {
    let (registry, _dir) = load("[instances]\nreuse = 100\n").await;
    assert_eq!((count(&registry).await, count(&registry).await), (1, 2));
    assert_eq!(failed(call(&registry, "panic", &[r#""boom""#]).await).error_type, kind::PANIC);
    assert_eq!(count(&registry).await, 1, "the instance that panicked was not reused");

    count(&registry).await;
    let spin = Request::local("spin", vec![]).with_timeout(Duration::from_millis(100));
    assert_eq!(failed(registry.execute(spin).await).error_type, kind::TIMEOUT);
    assert_eq!(count(&registry).await, 1, "the instance that timed out was not reused");

    count(&registry).await;
    let sleep = Request::local("sleep", vec![Payload::json(&serde_json::json!(60_000))]);
    let interrupt = sleep.interrupt.clone();
    let running = tokio::spawn({
        let registry = Arc::new(registry);
        let r = registry.clone();
        async move { (r.execute(sleep).await, registry) }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    interrupt.cancel();
    let (outcome, registry) = running.await.unwrap();
    assert!(matches!(outcome, Outcome::Cancelled(_)), "{outcome:?}");
    assert_eq!(count(&registry).await, 1, "the interrupted instance was not reused");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_raised_failure_keeps_the_instance_unless_the_manifest_discards_it() {
    let (registry, _dir) = load("[instances]\nreuse = 100\n").await;
    count(&registry).await;
    assert_eq!(failed(call(&registry, "fail", &[r#""declined""#]).await).message, "declined");
    assert_eq!(count(&registry).await, 2, "a failure is an ordinary return: the instance serves on");

    let (registry, _dir) = load("[instances]\nreuse = 100\ndiscard_after_failure = true\n").await;
    count(&registry).await;
    failed(call(&registry, "fail", &[r#""declined""#]).await);
    assert_eq!(count(&registry).await, 1, "discard_after_failure: the next execution is fresh");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_whose_memory_grew_past_the_high_water_mark_is_discarded() {
    let (registry, _dir) = load("[instances]\nreuse = 100\nhigh_water = \"8MiB\"\n").await;
    assert_eq!((count(&registry).await, count(&registry).await), (1, 2));
    completed(call(&registry, "hold", &["16", "0"]).await);
    assert_eq!(count(&registry).await, 1, "16 MiB is past the mark: the instance was dropped");
    assert_eq!(count(&registry).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_executions_never_share_an_instance() {
    let (registry, _dir) = load("[instances]\nreuse = 1000\n").await;
    let registry = Arc::new(registry);
    for _round in 0..3 {
        let runs: Vec<_> = (0..8)
            .map(|_| {
                let registry = registry.clone();
                tokio::spawn(async move { completed(call(&registry, "overlap", &["30"]).await) })
            })
            .collect();
        for run in runs {
            assert_eq!(run.await.unwrap(), "1", "two executions were inside one instance at once");
        }
    }
    // Eight ran at once, so eight instances serve the next rounds.
    assert_eq!(plugin(&registry).idle_instances(), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_execution_of_a_reused_instance_sees_its_own_info() {
    let (registry, _dir) = load("[instances]\nreuse = 100\n").await;
    assert_eq!(count(&registry).await, 1);
    for attempt in 1..=3 {
        let mut request = Request::local("info", vec![]);
        request.info.attempt = attempt;
        request.info.activity_id = format!("activity-{attempt}");
        let info: serde_json::Value = serde_json::from_str(&completed(registry.execute(request).await)).unwrap();
        assert_eq!(
            (info["attempt"].as_u64(), info["activity_id"].as_str()),
            (Some(attempt as u64), Some(&*format!("activity-{attempt}"))),
            "{info}"
        );
    }
    assert_eq!(count(&registry).await, 2, "the same instance served every execution");
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_instances_are_bounded_host_wide() {
    let options = EngineOptions { max_instances: 64, ..EngineOptions::default() };
    let runtime = Runtime::new(&options, Limits::default()).unwrap();
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    dir.write("misbehave.toml", b"[instances]\nreuse = 1000\n");
    let registry = Arc::new(runtime.load_dir(dir.path()).await.unwrap());
    let runs: Vec<_> = (0..48)
        .map(|_| {
            let registry = registry.clone();
            tokio::spawn(async move { completed(call(&registry, "overlap", &["100"]).await) })
        })
        .collect();
    for run in runs {
        run.await.unwrap();
    }
    assert_eq!(plugin(&registry).idle_instances(), activity_host::instances::IDLE_INSTANCES);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_instance_gives_its_memory_to_an_execution_waiting_for_it() {
    let services = activity_host::Services::new(&activity_host::ServiceOptions {
        max_memory: Some(100 << 20),
        ..Default::default()
    })
    .unwrap();
    let options = EngineOptions { max_instances: 8, ..EngineOptions::default() };
    let runtime = Runtime::with_services(&options, Limits::default(), services).unwrap();
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    dir.write("misbehave.toml", b"[instances]\nreuse = 1000\n");
    let registry = Arc::new(runtime.load_dir(dir.path()).await.unwrap());
    // One instance now idles holding 64 MiB of the 100 MiB.
    completed(call(&registry, "hold", &["64", "0"]).await);
    assert_eq!(plugin(&registry).idle_instances(), 1);
    // Two at once: one takes the idle instance, the other needs 64 MiB more
    // and waits for it; the instance must not go back to idling on it.
    let hold = |registry: Arc<Registry>| async move {
        let args = vec![Payload::json(&serde_json::json!(64)), Payload::json(&serde_json::json!(300))];
        registry.execute(Request::local("hold", args).with_timeout(Duration::from_secs(5))).await
    };
    let (a, b) = tokio::join!(hold(registry.clone()), hold(registry.clone()));
    assert_eq!((completed(a), completed(b)), ("1".to_string(), "1".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn python_and_js_instances_keep_their_globals_and_see_each_executions_info() {
    for (plugin, prefix) in [("py_activities", "py"), ("js_activities", "js")] {
        let options = EngineOptions { max_instances: 8, ..EngineOptions::default() };
        let runtime = Runtime::new(&options, Limits::default()).unwrap();
        let dir = TempDir::new();
        dir.add(&format!("{plugin}.wasm"), &test_plugin(plugin));
        dir.write(&format!("{plugin}.toml"), b"[instances]\nreuse = 5\n");
        let registry = runtime.load_dir(dir.path()).await.unwrap();
        let count = format!("{prefix}_count");
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(completed(call(&registry, &count, &[]).await));
        }
        // An exception is an ordinary return: the instance serves on, and
        // its fifth execution is its last.
        let fail = failed(call(&registry, &format!("{prefix}_fail"), &[r#""declined""#]).await);
        assert_eq!(fail.message, "declined", "{plugin}");
        seen.push(completed(call(&registry, &count, &[]).await));
        // A fresh instance serves two executions with their own info; its
        // count starts again.
        for attempt in 1..=2 {
            let mut request = Request::local(&format!("{prefix}_info"), vec![]);
            request.info.attempt = attempt;
            let info: serde_json::Value = serde_json::from_str(&completed(registry.execute(request).await)).unwrap();
            assert_eq!(info["attempt"], attempt, "{plugin}: {info}");
        }
        seen.push(completed(call(&registry, &count, &[]).await));
        assert_eq!(seen, ["1", "2", "3", "4", "1"], "{plugin}");
    }
}
