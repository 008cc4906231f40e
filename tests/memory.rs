//! The host-wide guest memory budget, through the library: what a plugin
//! sees when other executions hold the memory it needs.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use activity_host::engine::EngineOptions;
use activity_host::failure::kind;
use activity_host::{Limits, Outcome, Payload, Registry, Request, Runtime, ServiceOptions, Services};
use common::*;

const MIB: u64 = 1 << 20;

/// A runtime whose guests share `budget` bytes, with misbehave loaded.
async fn registry(budget: u64) -> (Arc<Runtime>, Registry, TempDir) {
    let services = Services::new(&ServiceOptions { max_memory: Some(budget), ..Default::default() }).unwrap();
    let options = EngineOptions { max_instances: 16, ..EngineOptions::default() };
    let runtime = Runtime::with_services(&options, Limits::default(), services).unwrap();
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    let registry = runtime.load_dir(dir.path()).await.unwrap();
    (runtime, registry, dir)
}

fn hold(mib: u64, millis: u64) -> Request {
    Request::local("hold", vec![Payload::json(&serde_json::json!(mib)), Payload::json(&serde_json::json!(millis))])
}

/// What the budget holds with no execution running: the pool's share.
fn idle_use(runtime: &Runtime) -> u64 {
    runtime.services().memory.total() - runtime.services().memory.capacity()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_growth_past_the_host_budget_fails_as_a_retryable_out_of_memory_beside_the_one_holding_it() {
    let (runtime, registry, _dir) = registry(100 * MIB).await;
    let registry = Arc::new(registry);
    let holder = {
        let registry = registry.clone();
        tokio::spawn(async move { registry.execute(hold(64, 1500)).await })
    };
    // Both are admitted with what definitions() needed: the second finds
    // the memory taken only as it grows.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = failed(registry.execute(hold(64, 0)).await);
    assert_eq!(refused.error_type, kind::OUT_OF_MEMORY);
    assert!(!refused.non_retryable, "another attempt may find the memory free");
    assert!(refused.message.contains("host's guest memory budget of 100 MiB"), "{}", refused.message);
    assert!(refused.message.contains("within its own limit of 256 MiB"), "{}", refused.message);
    assert_eq!(completed(holder.await.unwrap()), "1", "the execution holding the memory is undisturbed");
    assert_eq!(runtime.services().memory.stats().used, idle_use(&runtime), "all of it came back");
    assert!(runtime.services().memory.stats().refusals >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_execution_waits_for_the_memory_its_plugin_last_needed_instead_of_failing() {
    let (runtime, registry, _dir) = registry(100 * MIB).await;
    // One execution teaches the host what the next will need.
    completed(registry.execute(hold(64, 0)).await);
    let registry = Arc::new(registry);
    let started = Instant::now();
    let first = {
        let registry = registry.clone();
        tokio::spawn(async move { (registry.execute(hold(64, 1000)).await, started.elapsed()) })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(runtime.services().memory.waiting(), 0);
    let second = {
        let registry = registry.clone();
        tokio::spawn(async move { (registry.execute(hold(64, 0)).await, started.elapsed()) })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(runtime.services().memory.waiting(), 1, "the second waits for the first's memory");
    let (first, first_took) = first.await.unwrap();
    let (second, second_took) = second.await.unwrap();
    completed(first);
    completed(second);
    assert!(second_took >= first_took, "{second_took:?} < {first_took:?}: it ran before the memory was free");
    assert_eq!(runtime.services().memory.stats().refusals, 0);
    assert_eq!(runtime.services().memory.stats().used, idle_use(&runtime));
}

#[tokio::test(flavor = "multi_thread")]
async fn waiting_for_memory_ends_at_the_execution_deadline() {
    let (runtime, registry, _dir) = registry(100 * MIB).await;
    completed(registry.execute(hold(64, 0)).await);
    let registry = Arc::new(registry);
    let holder = {
        let registry = registry.clone();
        tokio::spawn(async move { registry.execute(hold(64, 2000)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let timed_out = failed(registry.execute(hold(64, 0).with_timeout(Duration::from_millis(300))).await);
    assert_eq!(timed_out.error_type, kind::TIMEOUT);
    assert!(timed_out.message.contains("waited 300ms for guest memory"), "{}", timed_out.message);
    assert!(started.elapsed() < Duration::from_millis(1500), "it gave up at its deadline, not the holder's end");
    assert_eq!(runtime.services().memory.waiting(), 0);
    completed(holder.await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_returns_to_the_budget_however_an_execution_ends() {
    let (runtime, registry, _dir) = registry(512 * MIB).await;
    let idle = idle_use(&runtime);
    let budget = &runtime.services().memory;
    for (request, ends) in [
        (Request::local("alloc", vec![Payload::json(&serde_json::json!(32))]), "completed"),
        (Request::local("panic", vec![Payload::json(&serde_json::json!("no"))]), "Panic"),
        (Request::local("alloc_forever", vec![]), "OutOfMemory"),
        (Request::local("spin", vec![]).with_timeout(Duration::from_millis(100)), "Timeout"),
        (hold(16, 10), "completed"),
    ] {
        let outcome = registry.execute(request).await;
        let seen = match &outcome {
            Outcome::Completed(_) => "completed".to_string(),
            Outcome::Failed(f) => f.error_type.clone(),
            Outcome::Cancelled(_) => "cancelled".to_string(),
        };
        assert_eq!(seen, ends, "{outcome:?}");
        assert_eq!(budget.stats().used, idle, "after {ends}");
    }
    assert!(budget.total() - idle <= 512 * MIB, "the pool's share comes out of the budget");
}
