//! A CPU-bound plugin beside short activities: epoch interruption makes it
//! yield its thread every tick, so the short ones keep their usual latency.
//! (Its own test binary: nothing else may compete for the two threads.)

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use activity_host::engine::{EPOCH_TICK, EngineOptions};
use activity_host::{Limits, Outcome, Payload, Registry, Request, Runtime};
use common::*;

/// The misbehave plugin loaded on its own runtime (the directory lives as
/// long as the test holds it).
async fn misbehave() -> (TempDir, Arc<Registry>) {
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    let runtime =
        Runtime::new(&EngineOptions { max_instances: 16, ..EngineOptions::default() }, Limits::default()).unwrap();
    let registry = Arc::new(runtime.load_dir(dir.path()).await.unwrap());
    (dir, registry)
}

async fn latencies(registry: &Registry, n: usize) -> Vec<Duration> {
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        let args = vec![Payload::from_json_arg(&i.to_string()).unwrap(), Payload::from_json_arg("1").unwrap()];
        let started = Instant::now();
        let outcome = registry.execute(Request::local("add", args)).await;
        all.push(started.elapsed());
        assert!(matches!(outcome, Outcome::Completed(_)), "{outcome:?}");
    }
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_activities_keep_their_latency_beside_a_cpu_hog() {
    let (_dir, registry) = misbehave().await;

    latencies(&registry, 20).await;
    let alone = latencies(&registry, 100).await;

    let hog = spinning_hog(&registry, Duration::from_secs(60)).await;
    let beside = latencies(&registry, 100).await;
    assert!(!hog.is_finished(), "the hog must still be running");
    hog.abort();

    let (median_alone, median_beside) = (alone[50], beside[50]);
    eprintln!(
        "latency alone: p50 {median_alone:?} max {:?}; beside a hog: p50 {median_beside:?} max {:?}",
        alone[99], beside[99]
    );
    assert!(
        median_beside <= median_alone + EPOCH_TICK,
        "median latency {median_beside:?} beside the hog, {median_alone:?} alone"
    );
    assert!(beside[99] <= alone[99] + 4 * EPOCH_TICK, "slowest {:?} beside the hog, {:?} alone", beside[99], alone[99]);
}

/// As many spinning plugins as the runtime has worker threads, each seen
/// spinning first: the short executions, spawned onto the same workers, are
/// served between the hogs' time slices rather than after their deadlines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_plugins_on_every_worker_thread_yield_to_short_executions() {
    let (_dir, registry) = misbehave().await;
    let deadline = Duration::from_secs(10);
    let hogs = [spinning_hog(&registry, deadline).await, spinning_hog(&registry, deadline).await];
    let started = Instant::now();
    for i in 0..20u64 {
        let registry = registry.clone();
        let short = tokio::spawn(async move {
            let args = vec![Payload::from_json_arg(&i.to_string()).unwrap(), Payload::from_json_arg("1").unwrap()];
            registry.execute(Request::local("add", args)).await
        });
        assert_eq!(completed(short.await.unwrap()), (i + 1).to_string());
    }
    // Twenty executions take a few time slices each at worst, not a deadline.
    let took = started.elapsed();
    assert!(took < deadline / 4, "20 short executions took {took:?} beside two hogs");
    assert!(hogs.iter().all(|h| !h.is_finished()), "a hog ended before the short executions were served");
    for hog in hogs {
        hog.abort();
    }
}
