//! What the host provides plugins beyond WASI itself, shared by every
//! execution of the process: the outbound HTTP client, the PostgreSQL
//! pools, and the budget all guest memory draws from.
//!
//! A grant (per plugin, in its manifest) says what a plugin may use; a
//! service (per process) is what does the work, so that connections and
//! other costly state outlive the fresh instance of one execution.

use std::sync::Arc;

use crate::instances::{IDLE_INSTANCES, IdleSlots};
use crate::memory::MemoryBudget;
use crate::outbound_http::{HttpClient, HttpClientOptions};
use crate::outbound_pg::{PgPoolOptions, PgPools};
use crate::telemetry::Telemetry;

/// Host-wide settings of the services (from `host run`'s flags).
#[derive(Debug, Clone, Default)]
pub struct ServiceOptions {
    pub http: HttpClientOptions,
    pub postgres: PgPoolOptions,
    /// All guest memory together (`--max-memory`); `None` for what the
    /// host's cgroup or the machine allows, less headroom.
    pub max_memory: Option<u64>,
    /// Where executions' per-plugin series go (`--metrics-bind`); off by default.
    pub telemetry: Telemetry,
}

/// Cheap to clone: clones share the same pools.
#[derive(Clone, Debug)]
pub struct Services {
    pub http: HttpClient,
    pub postgres: PgPools,
    pub memory: Arc<MemoryBudget>,
    pub telemetry: Telemetry,
    /// Idle instances of reusing plugins still allowed, all plugins together.
    pub idle: Arc<IdleSlots>,
}

impl Services {
    pub fn new(options: &ServiceOptions) -> anyhow::Result<Services> {
        Ok(Services {
            http: HttpClient::new(&options.http)?,
            postgres: PgPools::new(&options.postgres)?,
            memory: MemoryBudget::for_host(options.max_memory),
            telemetry: options.telemetry.clone(),
            idle: IdleSlots::new(IDLE_INSTANCES),
        })
    }
}
