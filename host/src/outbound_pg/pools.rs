//! The process's PostgreSQL pools: one per granted database (URL and pool
//! size), created the first time an execution opens it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::grants::PgGrant;

/// Host-wide settings of the PostgreSQL client.
#[derive(Debug, Clone, Default)]
pub struct PgPoolOptions {
    /// Extra CA certificates (PEM) for servers reached with TLS
    /// (`sslmode=require` in the URL), beside the system's roots.
    pub ca_file: Option<PathBuf>,
}

/// Cheap to clone: clones share the pools.
#[derive(Clone)]
pub struct PgPools {
    pools: Arc<Mutex<HashMap<(String, usize), Pool>>>,
    pub(crate) tls: MakeRustlsConnect,
}

impl std::fmt::Debug for PgPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.pools.lock().map(|p| p.len()).unwrap_or(0);
        f.debug_struct("PgPools").field("pools", &count).finish_non_exhaustive()
    }
}

impl PgPools {
    pub fn new(options: &PgPoolOptions) -> anyhow::Result<PgPools> {
        let tls = crate::tls::client_config(options.ca_file.as_deref(), "--postgres-ca-file")?;
        Ok(PgPools { pools: Arc::default(), tls: MakeRustlsConnect::new(tls) })
    }

    /// The pool for a grant, made on first use.
    pub(crate) fn pool(&self, grant: &PgGrant) -> Result<Pool, String> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        let key = (grant.url.clone(), grant.pool);
        if let Some(pool) = pools.get(&key) {
            return Ok(pool.clone());
        }
        let config: tokio_postgres::Config =
            grant.url.parse().map_err(|e| format!("the URL of {} is not valid: {e}", grant.name))?;
        // `Fast`: a connection is handed out as it was returned. What an
        // execution may leave behind (an open transaction, a running
        // statement) is cleaned up when it returns the connection.
        let manager =
            Manager::from_config(config, self.tls.clone(), ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(grant.pool)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| format!("cannot make a pool for {}: {e}", grant.name))?;
        pools.insert(key, pool.clone());
        Ok(pool)
    }
}
