//! Reused instances, opt-in per plugin (`[instances] reuse = N`).
//!
//! By default every execution gets a fresh instance: nothing one execution
//! leaves in memory can reach the next. Python and JavaScript pay for that
//! with a language runtime restored from its snapshot every time, so a
//! plugin's author may choose throughput instead and let one instance serve
//! up to N executions, strictly one at a time.
//!
//! What carries over from one execution to the next is the guest's own
//! state: its linear memory, so module globals, caches and whatever the
//! language runtime keeps. What does not: `info()` and the rest of the
//! activity context, the deadline, fuel, the output budget, PostgreSQL
//! connections (released when the execution that opened them ends); grants
//! and limits are the plugin's, and other plugins never share an instance.
//!
//! An instance is discarded, never reused, after a trap, a timeout, an
//! interruption, a failed execution when `discard_after_failure` says so, once
//! its memory passed `high_water`, and after N executions. Idle instances hold
//! guest memory and pool slots, so the host keeps at most [`IDLE_INSTANCES`]
//! of them, drops one idle for [`IDLE_TIMEOUT`], and drops them all while
//! another execution waits for guest memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use wasmtime::Store;

use crate::bindings;
use crate::memory::MemoryBudget;
use crate::sandbox::Sandbox;

/// A plugin's choice between per-execution isolation and reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reuse {
    /// Executions one instance may serve; 1 is a fresh instance every time.
    pub executions: u32,
    /// Discard the instance after an execution that failed (raised), not only
    /// after one that trapped or was stopped.
    pub discard_after_failure: bool,
    /// Discard the instance once its linear memory has grown past this many
    /// bytes; `None` for the plugin's memory limit alone.
    pub high_water: Option<u64>,
}

impl Reuse {
    /// The default: a fresh instance per execution.
    pub const FRESH: Reuse = Reuse { executions: 1, discard_after_failure: false, high_water: None };

    pub fn is_on(&self) -> bool {
        self.executions > 1
    }
}

impl Default for Reuse {
    fn default() -> Self {
        Reuse::FRESH
    }
}

/// Idle instances the whole host keeps at once, all plugins together. The
/// instance pool is sized with this many slots more than executions need.
pub const IDLE_INSTANCES: usize = 32;
/// An instance idle for this long is dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often idle instances are looked at.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The host-wide count of idle instances still allowed.
#[derive(Debug)]
pub struct IdleSlots {
    free: AtomicUsize,
}

impl IdleSlots {
    pub fn new(slots: usize) -> Arc<IdleSlots> {
        Arc::new(IdleSlots { free: AtomicUsize::new(slots) })
    }

    fn try_take(&self) -> bool {
        self.free.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
    }

    fn give_back(&self, n: usize) {
        self.free.fetch_add(n, Ordering::AcqRel);
    }
}

/// An instance between executions: its store, its exports, and how many
/// executions it has served.
pub(crate) struct Warm {
    pub store: Store<Sandbox>,
    pub guest: bindings::Plugin,
    pub served: u32,
}

struct Idle {
    warm: Warm,
    since: Instant,
}

struct Shared {
    idle: Mutex<Vec<Idle>>,
    slots: Arc<IdleSlots>,
    budget: Arc<MemoryBudget>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops what has been idle too long, or everything while an execution
    /// waits for the memory idle instances hold.
    fn sweep(&self, now: Instant) {
        let pressed = self.budget.waiting() > 0;
        let stale: Vec<Idle> = {
            let mut idle = self.lock();
            let (stale, kept) =
                std::mem::take(&mut *idle).into_iter().partition(|i| pressed || now - i.since >= IDLE_TIMEOUT);
            *idle = kept;
            stale
        };
        self.slots.give_back(stale.len());
        // Stores are dropped outside the lock: dropping one resets its memory.
        drop(stale);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let n = self.idle.get_mut().map_or(0, |idle| idle.len());
        self.slots.give_back(n);
    }
}

/// The idle instances of one plugin; empty and inert for a fresh plugin.
pub(crate) struct Instances {
    reuse: Reuse,
    shared: Option<Arc<Shared>>,
}

impl Instances {
    /// Starts the sweeper of a reusing plugin; it ends with the plugin.
    pub fn new(reuse: Reuse, slots: &Arc<IdleSlots>, budget: &Arc<MemoryBudget>) -> Instances {
        if !reuse.is_on() {
            return Instances { reuse, shared: None };
        }
        let shared = Arc::new(Shared { idle: Mutex::default(), slots: slots.clone(), budget: budget.clone() });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak: Weak<Shared> = Arc::downgrade(&shared);
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(SWEEP_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(shared) = weak.upgrade() else { break };
                    shared.sweep(Instant::now());
                }
            });
        }
        Instances { reuse, shared: Some(shared) }
    }

    pub fn reuse(&self) -> &Reuse {
        &self.reuse
    }

    /// The most recently used idle instance: its memory is the likeliest to
    /// be warm in the CPU's caches.
    pub fn take(&self) -> Option<Warm> {
        let shared = self.shared.as_ref()?;
        let idle = shared.lock().pop()?;
        shared.slots.give_back(1);
        Some(idle.warm)
    }

    /// Keeps an instance that ended an execution cleanly for the next one,
    /// if the host has room for it and nobody waits for its memory.
    pub fn put(&self, warm: Warm) {
        let Some(shared) = &self.shared else { return };
        if warm.served >= self.reuse.executions || shared.budget.waiting() > 0 || !shared.slots.try_take() {
            return;
        }
        shared.lock().push(Idle { warm, since: Instant::now() });
    }

    /// Idle instances now, for tests and metrics.
    pub fn idle(&self) -> usize {
        self.shared.as_ref().map_or(0, |s| s.lock().len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_slots_are_shared_and_never_go_below_zero() {
        let slots = IdleSlots::new(2);
        assert!(slots.try_take() && slots.try_take());
        assert!(!slots.try_take(), "a third idle instance is over the host's bound");
        slots.give_back(1);
        assert!(slots.try_take());
    }
}
