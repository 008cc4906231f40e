//! Guest memory, host-wide: one budget that every instance's linear memories
//! and tables draw from, so that a host under load refuses or queues work
//! instead of meeting its container's limit and the kernel's OOM killer.
//!
//! Three layers, each with one job:
//! - [`limit`] finds how much memory the host may use at all (its cgroup,
//!   else the machine) and keeps headroom for the host itself;
//! - [`budget`] is the shared account: admission before an instance exists
//!   (waiting its turn when the plugin's expected memory does not fit),
//!   growth while it runs (refused when it does not fit), and return of
//!   everything when the instance is dropped;
//! - the sandbox's `ResourceLimiter` draws from a [`Grant`] on every
//!   `memory.grow` and `table.grow`, and the worker's slot supplier stops
//!   polling while executions wait (`worker::slots`).
//!
//! The per-plugin `memory` limit still bounds each instance on its own.

pub mod budget;
pub mod limit;

pub use budget::{Grant, MemoryBudget, Stats};
pub use limit::BudgetSource;
