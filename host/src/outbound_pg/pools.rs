//! The process's PostgreSQL pools: one per granted database (URL and pool
//! size), created the first time an execution opens it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
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
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if added == 0 {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if let Some(file) = &options.ca_file {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
                .and_then(|certs| certs.collect::<Result<_, _>>())
                .with_context(|| format!("--postgres-ca-file {}: not a readable PEM file", file.display()))?;
            anyhow::ensure!(!certs.is_empty(), "--postgres-ca-file {}: holds no CERTIFICATE", file.display());
            for cert in certs {
                roots
                    .add(cert)
                    .with_context(|| format!("--postgres-ca-file {}: a certificate is invalid", file.display()))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("cannot configure TLS")?
            .with_root_certificates(roots)
            .with_no_client_auth();
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
