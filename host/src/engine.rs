//! The one wasmtime `Engine` of a host process, and the linker every plugin
//! is instantiated against.
//!
//! Choices, and why:
//! - Epoch interruption, not fuel, bounds run time: it costs a load and a
//!   compare per loop back-edge, and with `UpdateDeadline::Yield` it also
//!   makes a CPU-bound plugin hand its thread back to tokio every tick.
//! - The pooling allocator keeps instance slots, memories and fiber stacks
//!   mapped between executions, so a fresh instance per execution costs
//!   microseconds; where the platform cannot reserve the pool (a low
//!   `ulimit -v`, say) the host falls back to on-demand allocation and says so.
//! - What the pool keeps resident between executions is guest memory too:
//!   it is sized to at most an eighth of the host's memory budget and
//!   charged to it once (`memory`).
//! - `call_async` everywhere: each execution runs on its own fiber stack.

use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::memory::MemoryBudget;
use crate::sandbox::Sandbox;

/// How often the epoch advances: the granularity of deadlines and of the
/// time slice a busy plugin runs before yielding.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine settings a host chooses at start-up.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Instances alive at once: executions in flight plus plugins being loaded.
    /// Sizes the pooling allocator.
    pub max_instances: u32,
    /// Use the pooling allocator when the platform allows it.
    pub pooling: bool,
    /// Where compiled plugins are kept between runs; `None` compiles every time.
    pub cache_dir: Option<std::path::PathBuf>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { max_instances: 200, pooling: true, cache_dir: None }
    }
}

/// How instances are allocated, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    Pooling,
    OnDemand,
}

/// What plugins sharing an engine must agree on: wasmtime fixes the stack
/// size and fuel metering per engine, so a plugin whose manifest changes
/// either gets an engine (and an instance pool) of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EngineKey {
    pub max_stack: usize,
    pub fuel: bool,
}

fn base_config(key: EngineKey) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(key.max_stack);
    // The fiber stack holds the wasm stack plus the host calls made from it.
    config.async_stack_size((key.max_stack + (1 << 20)).max(2 << 20));
    config.consume_fuel(key.fuel);
    config
}

/// Bytes of each linear memory, table and fiber stack slot kept resident
/// between executions (reset in place rather than decommitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepResident {
    pub memory: usize,
    pub table: usize,
    pub stack: usize,
}

impl KeepResident {
    /// What a Rust plugin's working set needs; CPython's does not fit (it
    /// dirties pages all over its heap) and is decommitted beyond it.
    pub const FULL: KeepResident = KeepResident { memory: 2 << 20, table: 64 << 10, stack: 128 << 10 };

    /// The most a pool of `max_instances` keeps resident, all slots used.
    pub fn pool_total(&self, max_instances: u32) -> u64 {
        let n = max_instances as u64;
        n * (MEMORIES_PER_INSTANCE * self.memory as u64 + TABLES_PER_INSTANCE * self.table as u64 + self.stack as u64)
    }

    /// As much as a host-wide guest memory budget of `budget` bytes allows:
    /// the pool keeps at most an eighth of it, so that a small container's
    /// budget goes to executions rather than to idle slots.
    pub fn for_budget(max_instances: u32, budget: u64) -> KeepResident {
        let full = Self::FULL.pool_total(max_instances).max(1);
        let share = budget / 8;
        if full <= share {
            return Self::FULL;
        }
        let scale = |bytes: usize| ((bytes as u128 * share as u128 / full as u128) as usize) & !(PAGE - 1);
        KeepResident {
            memory: scale(Self::FULL.memory),
            table: scale(Self::FULL.table),
            stack: scale(Self::FULL.stack),
        }
    }
}

/// The host page size wasmtime resets in.
const PAGE: usize = 4096;
const MEMORIES_PER_INSTANCE: u64 = 2;
const TABLES_PER_INSTANCE: u64 = 4;

fn pooling(max_instances: u32, keep: KeepResident) -> PoolingAllocationConfig {
    // Components built by componentize-py and componentize-js hold a dozen
    // core instances and a few memories and tables each; Rust plugins one.
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(max_instances)
        .total_core_instances(max_instances.saturating_mul(8))
        .total_memories(max_instances.saturating_mul(MEMORIES_PER_INSTANCE as u32))
        .total_tables(max_instances.saturating_mul(TABLES_PER_INSTANCE as u32))
        .total_stacks(max_instances)
        .max_core_instances_per_component(64)
        .max_memories_per_component(8)
        .max_tables_per_component(16)
        .max_tables_per_module(4)
        .max_memories_per_module(2)
        .table_elements(200_000)
        .max_component_instance_size(8 << 20)
        .max_core_instance_size(4 << 20);
    // Reset what an execution dirtied with memcpy/memset instead of
    // handing pages back to the kernel: madvise(DONTNEED) on every
    // deallocation costs TLB-shootdown IPIs, and the next execution page
    // faults the memory back in. With PAGEMAP_SCAN (Linux 6.7+) only the
    // dirty pages are reset. Measured with a Rust plugin: 28 µs -> 9 µs per
    // execution, 22k -> 190k executions/s on two cores (docs/benchmarks.md).
    pool.linear_memory_keep_resident(keep.memory)
        .table_keep_resident(keep.table)
        .async_stack_keep_resident(keep.stack)
        .pagemap_scan(wasmtime::Enabled::Auto);
    pool
}

/// Builds an engine, with the pooling allocator when asked for and possible.
/// What the pool keeps resident is sized from, and charged to, `memory`.
pub fn build(options: &EngineOptions, key: EngineKey, memory: &MemoryBudget) -> anyhow::Result<(Engine, Allocation)> {
    if options.pooling {
        let keep = KeepResident::for_budget(options.max_instances, memory.capacity());
        let mut config = base_config(key);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(options.max_instances, keep)));
        match Engine::new(&config) {
            Ok(engine) => {
                memory.charge_fixed(keep.pool_total(options.max_instances));
                return Ok((engine, Allocation::Pooling));
            }
            Err(e) => tracing::warn!(
                "pooling instance allocator unavailable ({e:#}); allocating instances on demand, \
                 which makes every execution slower"
            ),
        }
    }
    let engine = Engine::new(&base_config(key))
        .map_err(anyhow::Error::from)
        .context("cannot configure the WebAssembly engine")?;
    Ok((engine, Allocation::OnDemand))
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
pub fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("cannot start the epoch thread");
}

/// The linker every plugin is checked and instantiated against: WASI 0.2,
/// `wasi:http` (so components that import it link; the sandbox decides what
/// a request may reach), the host's `context` interface, and `postgres`
/// (what a plugin may open is its grant's business, not the linker's).
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<Sandbox>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    crate::bindings::context::add_to_linker::<Sandbox, HasSelf<Sandbox>>(&mut linker, |s| s)?;
    crate::bindings::postgres::add_to_linker::<Sandbox, crate::outbound_pg::PgHost>(&mut linker, |s| s.postgres())?;
    Ok(linker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_keeps_at_most_an_eighth_of_a_small_budget_resident() {
        // 132 instances (100 executions and loads): 575 MiB resident in full.
        assert_eq!(KeepResident::for_budget(132, 24 << 30), KeepResident::FULL);
        let keep = KeepResident::for_budget(132, 1792 << 20);
        assert!(keep.pool_total(132) <= 224 << 20, "{keep:?}");
        assert!(keep.memory >= 512 << 10 && keep.memory.is_multiple_of(PAGE), "{keep:?}");
        assert_eq!(KeepResident::for_budget(132, 0).pool_total(132), 0);
    }
}
