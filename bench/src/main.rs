//! In-process benchmarks of one execution of the same trivial activity
//! (`say_hello_activity("World")` -> `"Hello, World!"`, JSON in and out):
//! as a native Rust function, through the host with a fresh instance, through
//! a naive wasmtime set-up, and through Extism.
//!
//! Each contender runs in this one process, one after the other: first
//! sequentially, timing every execution (latency percentiles), then on all
//! cores for a fixed time (executions per second). The results are printed
//! as JSON, for `bench/run.py` to gather with the cross-process figures.
//!
//! (criterion reports the mean time of batched iterations; the targets here
//! are per-execution percentiles and throughput across processes, hence a
//! small harness with hdrhistogram.)

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use activity_host::bindings::Plugin as PluginBindings;
use activity_host::engine::{self, EngineOptions};
use activity_host::output::Origin;
use activity_host::sandbox::{ExecutionContext, Grants, Sandbox};
use activity_host::{Limits, Outcome, Payload, Plugin, Request, Runtime};
use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The allocator the `host` binary ships with, so that the host's figures are
/// the shipped host's (every contender in this process shares it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn argument() -> Payload {
    Payload::from_json_arg("\"World\"").unwrap()
}

const EXPECTED: &[u8] = b"\"Hello, World!\"";

/// The activity as a native function: the same decoding and encoding.
fn native(payload: &Payload) -> Payload {
    let name: String = serde_json::from_slice(&payload.data).unwrap();
    Payload::json(&serde_json::Value::String(format!("Hello, {name}!")))
}

/// Minor page faults taken so far by the calling thread: the sequential
/// runs execute on it, so the difference is what executions cost in faults
/// (the first thing a profile of a fresh instance shows).
fn thread_page_faults() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage only writes the struct we hand it.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr());
        usage.assume_init()
    };
    usage.ru_minflt as u64
}

struct Stats {
    histogram: Histogram<u64>,
    page_faults: u64,
}

impl Stats {
    fn new() -> Stats {
        Stats { histogram: Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap(), page_faults: 0 }
    }

    fn record(&mut self, elapsed: Duration) {
        self.histogram.saturating_record(elapsed.as_nanos() as u64);
    }

    fn json(&self, per_second: f64) -> serde_json::Value {
        let us = |q: f64| self.histogram.value_at_quantile(q) as f64 / 1000.0;
        json!({
            "samples": self.histogram.len(),
            "p50_us": us(0.5),
            "p90_us": us(0.9),
            "p99_us": us(0.99),
            "min_us": self.histogram.min() as f64 / 1000.0,
            "mean_us": self.histogram.mean() / 1000.0,
            "stdev_us": self.histogram.stdev() / 1000.0,
            "page_faults_per_execution": self.page_faults as f64 / self.histogram.len().max(1) as f64,
            "per_second_all_cores": per_second,
        })
    }
}

/// Times `iterations` sequential runs of `once`, after a warm-up.
fn latency_sync(iterations: usize, mut once: impl FnMut()) -> Stats {
    for _ in 0..iterations / 10 + 10 {
        once();
    }
    let mut stats = Stats::new();
    let faults = thread_page_faults();
    for _ in 0..iterations {
        let started = Instant::now();
        once();
        stats.record(started.elapsed());
    }
    stats.page_faults = thread_page_faults() - faults;
    stats
}

/// Executions per second with one thread per core, for `duration`.
fn throughput_sync<F: FnMut() + Send>(duration: Duration, make: impl Fn() -> F) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let count = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..cores {
            let mut once = make();
            let (count, stop) = (&count, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    once();
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
    });
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// The same for async contenders: sequential latency on a current-thread
/// runtime, throughput with several executions in flight per core on a
/// multi-threaded one.
fn measure_async<F, Fut>(iterations: usize, duration: Duration, once: F) -> serde_json::Value
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let current = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stats = current.block_on(async {
        for _ in 0..iterations / 10 + 10 {
            once().await;
        }
        let mut stats = Stats::new();
        let faults = thread_page_faults();
        for _ in 0..iterations {
            let started = Instant::now();
            once().await;
            stats.record(started.elapsed());
        }
        stats.page_faults = thread_page_faults() - faults;
        stats
    });
    drop(current);
    let multi = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let per_second = multi.block_on(async {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..cores * 4 {
            let (once, count, stop) = (once.clone(), count.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    once().await;
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
    });
    stats.json(per_second)
}

async fn load(runtime: &Arc<Runtime>, path: &Path) -> anyhow::Result<Arc<Plugin>> {
    runtime.load(path).await.map(Arc::new).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The plugin at `path` with a manifest that reuses its instances
/// (`[instances] reuse`), from a copy under `target/bench/reused/`.
async fn load_reused(runtime: &Arc<Runtime>, path: &Path, dir: &Path) -> anyhow::Result<Arc<Plugin>> {
    std::fs::create_dir_all(dir)?;
    let copy = dir.join(path.file_name().unwrap_or_default());
    std::fs::copy(path, &copy)?;
    std::fs::write(copy.with_extension("toml"), "[instances]\nreuse = 1000000\n")?;
    load(runtime, &copy).await
}

/// The host, as `host run` runs an execution: a fresh instance of a
/// pre-instantiated component, from the pooling allocator.
fn host_contender(plugin: Arc<Plugin>, iterations: usize, duration: Duration) -> serde_json::Value {
    measure_async(iterations, duration, move || {
        let plugin = plugin.clone();
        async move {
            let outcome = plugin.execute(Request::local("say_hello_activity", vec![argument()])).await;
            match outcome {
                Outcome::Completed(p) => assert_eq!(p.data, EXPECTED),
                other => panic!("{other:?}"),
            }
        }
    })
}

/// What the host-wide memory budget adds to one execution: admission, the
/// growths a small plugin makes (a memory, a table, a larger heap) and the
/// return, on one thread and on two threads sharing the budget.
fn memory_accounting(iterations: usize) -> serde_json::Value {
    use activity_host::memory::{BudgetSource, MemoryBudget};
    let budget = MemoryBudget::new(16 << 30, BudgetSource::Configured);
    let one = |budget: &Arc<MemoryBudget>| {
        let mut grant = budget.try_admit(1_179_648).expect("fits");
        assert!(grant.grow(1_114_112) && grant.grow(8_192) && grant.grow(131_072));
        drop(std::hint::black_box(grant));
    };
    let time = |threads: usize| {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let budget = budget.clone();
                scope.spawn(move || (0..iterations).for_each(|_| one(&budget)));
            }
        });
        started.elapsed().as_nanos() as f64 / iterations as f64
    };
    serde_json::json!({ "ns_per_execution": time(1), "ns_per_execution_two_threads": time(2) })
}

/// What an embedder writes from wasmtime's book: an on-demand engine, and
/// per execution a new store, `Linker::instantiate_async` from the
/// `Component` (import resolution and type checks every time), one call.
fn naive_contender(path: &Path, iterations: usize, duration: Duration) -> anyhow::Result<serde_json::Value> {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    let engine = wasmtime::Engine::new(&config).map_err(anyhow::Error::from)?;
    engine::start_epoch_ticker(&engine);
    let linker = Arc::new(engine::linker(&engine)?);
    let component =
        wasmtime::component::Component::from_file(&engine, path).map_err(anyhow::Error::from).context("compile")?;
    let grants = Arc::new(Grants::default());
    let services = activity_host::Services::new(&Default::default())?;
    let limits = Limits::default();
    Ok(measure_async(iterations, duration, move || {
        let (engine, linker, component, grants, services, limits) =
            (engine.clone(), linker.clone(), component.clone(), grants.clone(), services.clone(), limits.clone());
        async move {
            let request = Request::local("say_hello_activity", vec![argument()]);
            let origin = Origin {
                plugin: "naive".into(),
                activity_type: "say_hello_activity".into(),
                activity_id: "1".into(),
                telemetry: Default::default(),
                trace_id: None,
            };
            let context = ExecutionContext { info: request.info, heartbeat: request.heartbeat, cancel: request.cancel };
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut store = Sandbox::store(
                &engine,
                &grants,
                &services,
                &limits,
                origin,
                context,
                deadline,
                CancellationToken::new(),
                services.memory.unqueued(),
            )
            .unwrap();
            let plugin = PluginBindings::instantiate_async(&mut store, &component, &linker).await.unwrap();
            let result = plugin
                .activity_host_plugin_activities()
                .call_execute(&mut store, "say_hello_activity", &request.args)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(result.data, EXPECTED);
        }
    }))
}

fn extism_contenders(path: &Path, iterations: usize, duration: Duration) -> anyhow::Result<serde_json::Value> {
    let manifest = extism::Manifest::new([extism::Wasm::file(path)]);
    let compiled = Arc::new(extism::CompiledPlugin::new(extism::PluginBuilder::new(manifest).with_wasi(true))?);
    let input = b"\"World\"".to_vec();

    let fresh = {
        let call = |compiled: &extism::CompiledPlugin, input: &[u8]| {
            let mut plugin = extism::Plugin::new_from_compiled(compiled).unwrap();
            let out: Vec<u8> = plugin.call::<&[u8], Vec<u8>>("say_hello", input).unwrap();
            assert_eq!(out, EXPECTED);
        };
        let stats = latency_sync(iterations, || call(&compiled, &input));
        let per_second = throughput_sync(duration, || {
            let (compiled, input) = (compiled.clone(), input.clone());
            move || call(&compiled, &input)
        });
        stats.json(per_second)
    };
    let reused = {
        let mut plugin = extism::Plugin::new_from_compiled(&compiled)?;
        let stats = latency_sync(iterations, || {
            let out: Vec<u8> = plugin.call::<&[u8], Vec<u8>>("say_hello", &input).unwrap();
            assert_eq!(out, EXPECTED);
        });
        let per_second = throughput_sync(duration, || {
            let mut plugin = extism::Plugin::new_from_compiled(&compiled).unwrap();
            let input = input.clone();
            move || {
                let out: Vec<u8> = plugin.call::<&[u8], Vec<u8>>("say_hello", &input).unwrap();
                assert_eq!(out, EXPECTED);
            }
        });
        stats.json(per_second)
    };
    Ok(json!({ "fresh": fresh, "reused": reused }))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let arg = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let iterations: usize = arg("--iterations").map_or(20_000, |n| n.parse().unwrap());
    let seconds: f64 = arg("--seconds").map_or(3.0, |n| n.parse().unwrap());
    let duration = Duration::from_secs_f64(seconds);
    let only = arg("--only");
    let wants = |name: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == name));

    let rust_plugin = repo.join("plugins/say_hello.wasm");
    let python_plugin = repo.join("plugins/python/say_hello.wasm");
    let js_plugin = repo.join("plugins/js/say_hello.wasm");
    let extism_plugin = repo.join("target/wasm32-unknown-unknown/plugin/extism_say_hello.wasm");

    let setup = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let options =
        EngineOptions { max_instances: 64, cache_dir: Some(repo.join("target/cache")), ..EngineOptions::default() };
    let runtime = Runtime::new(&options, Limits::default())?;
    let mut results = serde_json::Map::new();
    let mut run = |name: &str, f: &mut dyn FnMut() -> anyhow::Result<serde_json::Value>| -> anyhow::Result<()> {
        if wants(name) {
            eprintln!("measuring {name} ...");
            let value = f()?;
            eprintln!("  {value}");
            results.insert(name.to_string(), value);
        }
        Ok(())
    };

    let payload = argument();
    run("native", &mut || {
        let stats = latency_sync(iterations, || assert_eq!(native(&payload).data, EXPECTED));
        let per_second = throughput_sync(duration, || {
            let payload = payload.clone();
            move || assert_eq!(native(&payload).data, EXPECTED)
        });
        Ok(stats.json(per_second))
    })?;
    run("host_rust", &mut || {
        let plugin = setup.block_on(load(&runtime, &rust_plugin))?;
        Ok(host_contender(plugin, iterations, duration))
    })?;
    run("memory_accounting", &mut || Ok(memory_accounting(iterations * 50)))?;
    run("naive_wasmtime_rust", &mut || naive_contender(&rust_plugin, iterations / 4, duration))?;
    run("extism", &mut || extism_contenders(&extism_plugin, iterations, duration))?;
    run("host_python", &mut || {
        let plugin = setup.block_on(load(&runtime, &python_plugin))?;
        Ok(host_contender(plugin, iterations / 10, duration))
    })?;
    run("host_js", &mut || {
        let plugin = setup.block_on(load(&runtime, &js_plugin))?;
        Ok(host_contender(plugin, iterations / 10, duration))
    })?;
    // The same executions with `[instances] reuse` in the plugin's manifest.
    for (name, path, n) in [
        ("host_rust_reused", &rust_plugin, iterations),
        ("host_python_reused", &python_plugin, iterations),
        ("host_js_reused", &js_plugin, iterations),
    ] {
        run(name, &mut || {
            let plugin = setup.block_on(load_reused(&runtime, path, &repo.join("target/bench/reused")))?;
            Ok(host_contender(plugin, n, duration))
        })?;
    }
    println!("{}", serde_json::Value::Object(results));
    Ok(())
}
