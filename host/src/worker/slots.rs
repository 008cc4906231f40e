//! How many activity tasks the worker takes: core's own slot suppliers (a
//! fixed number, or Temporal's resource-based tuner), behind a gate that
//! stops polling while executions wait for guest memory.
//!
//! Core reserves a slot before each poll, so a supplier that does not hand
//! one out is how a worker declines work: the task stays on the server,
//! where another host on the task queue takes it, instead of queueing here.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use temporalio_sdk_core::{
    ActivitySlotKind, LocalActivitySlotKind, NexusSlotKind, ResourceBasedTuner, ResourceSlotOptions,
    SlotMarkUsedContext, SlotReleaseContext, SlotReservationContext, SlotSupplier, SlotSupplierPermit, TunerHolder,
    WorkerTuner, WorkflowSlotKind,
};

use crate::memory::MemoryBudget;

/// Most activity slots the resource-based supplier hands out; the instance
/// pool is sized for as many executions.
pub const RESOURCE_BASED_MAX_SLOTS: usize = 500;
/// The resource-based supplier's pause between slots past the first, as
/// core's default for activities: long enough for a new execution's memory
/// and CPU to show before the next is taken.
const RAMP_THROTTLE: Duration = Duration::from_millis(50);

/// How activity slots are handed out (`--max-concurrent-activities` or the
/// `--target-*-usage` pair).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slots {
    /// At most this many executions at once.
    Fixed(usize),
    /// As many as keep the host's memory and CPU below these fractions
    /// (core's `ResourceBasedTuner`, as the SDKs' `create_resource_based`).
    ResourceBased { target_memory_usage: f64, target_cpu_usage: f64 },
}

impl Slots {
    /// Executions that may be in flight at once, at most.
    pub fn max(&self) -> usize {
        match self {
            Slots::Fixed(n) => *n,
            Slots::ResourceBased { .. } => RESOURCE_BASED_MAX_SLOTS,
        }
    }

    /// The tuner for an activity-only worker whose polls wait while `memory` has waiters.
    pub fn tuner(&self, memory: Arc<MemoryBudget>) -> Arc<dyn WorkerTuner + Send + Sync> {
        let inner: Arc<dyn WorkerTuner + Send + Sync> = match *self {
            // Workflow, local activity and Nexus slots are never used by an
            // activity-only worker; core still wants a supplier for each.
            Slots::Fixed(n) => Arc::new(TunerHolder::fixed_size(1, n, 1, 1)),
            Slots::ResourceBased { target_memory_usage, target_cpu_usage } => {
                let mut tuner = ResourceBasedTuner::new(target_memory_usage, target_cpu_usage);
                tuner.with_activity_slots_options(ResourceSlotOptions::new(1, RESOURCE_BASED_MAX_SLOTS, RAMP_THROTTLE));
                Arc::new(tuner)
            }
        };
        let activities = Arc::new(MemoryGate { inner: inner.activity_task_slot_supplier(), memory });
        Arc::new(GatedTuner { inner, activities })
    }
}

impl fmt::Display for Slots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slots::Fixed(n) => write!(f, "at most {n} at once"),
            Slots::ResourceBased { target_memory_usage, target_cpu_usage } => write!(
                f,
                "resource-based, targeting {:.0}% memory and {:.0}% CPU (at most {RESOURCE_BASED_MAX_SLOTS} at once)",
                target_memory_usage * 100.0,
                target_cpu_usage * 100.0
            ),
        }
    }
}

/// A tuner whose activity slots pass through a [`MemoryGate`].
struct GatedTuner {
    inner: Arc<dyn WorkerTuner + Send + Sync>,
    activities: Arc<MemoryGate>,
}

impl WorkerTuner for GatedTuner {
    fn workflow_task_slot_supplier(&self) -> Arc<dyn SlotSupplier<SlotKind = WorkflowSlotKind> + Send + Sync> {
        self.inner.workflow_task_slot_supplier()
    }

    fn activity_task_slot_supplier(&self) -> Arc<dyn SlotSupplier<SlotKind = ActivitySlotKind> + Send + Sync> {
        self.activities.clone()
    }

    fn local_activity_slot_supplier(&self) -> Arc<dyn SlotSupplier<SlotKind = LocalActivitySlotKind> + Send + Sync> {
        self.inner.local_activity_slot_supplier()
    }

    fn nexus_task_slot_supplier(&self) -> Arc<dyn SlotSupplier<SlotKind = NexusSlotKind> + Send + Sync> {
        self.inner.nexus_task_slot_supplier()
    }
}

/// Hands out the inner supplier's slots only while no execution waits for
/// guest memory: back-pressure to the server rather than a local queue.
struct MemoryGate {
    inner: Arc<dyn SlotSupplier<SlotKind = ActivitySlotKind> + Send + Sync>,
    memory: Arc<MemoryBudget>,
}

#[async_trait::async_trait]
impl SlotSupplier for MemoryGate {
    type SlotKind = ActivitySlotKind;

    async fn reserve_slot(&self, ctx: &dyn SlotReservationContext) -> SlotSupplierPermit {
        self.memory.no_waiters().await;
        self.inner.reserve_slot(ctx).await
    }

    fn try_reserve_slot(&self, ctx: &dyn SlotReservationContext) -> Option<SlotSupplierPermit> {
        if self.memory.waiting() > 0 {
            return None;
        }
        self.inner.try_reserve_slot(ctx)
    }

    fn mark_slot_used(&self, ctx: &dyn SlotMarkUsedContext<SlotKind = Self::SlotKind>) {
        self.inner.mark_slot_used(ctx)
    }

    fn release_slot(&self, ctx: &dyn SlotReleaseContext<SlotKind = Self::SlotKind>) {
        self.inner.release_slot(ctx)
    }

    fn available_slots(&self) -> Option<usize> {
        self.inner.available_slots()
    }

    fn slot_supplier_kind(&self) -> String {
        self.inner.slot_supplier_kind()
    }
}
