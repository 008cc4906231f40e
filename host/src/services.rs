//! What the host provides plugins beyond WASI itself, shared by every
//! execution of the process: the outbound HTTP client and the PostgreSQL
//! pools.
//!
//! A grant (per plugin, in its manifest) says what a plugin may use; a
//! service (per process) is what does the work, so that connections and
//! other costly state outlive the fresh instance of one execution.

use crate::outbound_http::{HttpClient, HttpClientOptions};
use crate::outbound_pg::{PgPoolOptions, PgPools};

/// Host-wide settings of the services (from `host run`'s flags).
#[derive(Debug, Clone, Default)]
pub struct ServiceOptions {
    pub http: HttpClientOptions,
    pub postgres: PgPoolOptions,
}

/// Cheap to clone: clones share the same pools.
#[derive(Clone, Debug)]
pub struct Services {
    pub http: HttpClient,
    pub postgres: PgPools,
}

impl Services {
    pub fn new(options: &ServiceOptions) -> anyhow::Result<Services> {
        Ok(Services { http: HttpClient::new(&options.http)?, postgres: PgPools::new(&options.postgres)? })
    }
}
