//! The process's one HTTP client: pooled keep-alive connections per origin,
//! TLS by rustls (system roots plus an operator's CA file), HTTP/1.1 and
//! HTTP/2 by ALPN.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use wasmtime_wasi_http::WasiBody;

/// How long a connection may take to open, whatever the guest asks.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle pooled connection is kept: long enough to span the gap
/// between two activities, short enough not to hold servers' sockets.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per origin: enough for a burst of concurrent
/// activities to find one each next time.
const POOL_MAX_IDLE_PER_HOST: usize = 64;

/// Host-wide settings of the client.
#[derive(Debug, Clone, Default)]
pub struct HttpClientOptions {
    /// A PEM file of extra CA certificates to trust, beside the system's
    /// (`--http-ca-file`): a company CA, or a test CA.
    pub ca_file: Option<PathBuf>,
}

/// Cheap to clone: every clone shares the same pools.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, WasiBody>,
    /// How many CA certificates are trusted, for the start-up log.
    roots: usize,
}

impl HttpClient {
    /// Builds the client; fails (one line) if the CA file cannot be used.
    pub fn new(options: &HttpClientOptions) -> anyhow::Result<HttpClient> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            // A minimal container has no CA bundle: Mozilla's roots, as
            // browsers ship them, rather than no HTTPS at all.
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if let Some(file) = &options.ca_file {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
                .and_then(|certs| certs.collect::<Result<_, _>>())
                .with_context(|| format!("--http-ca-file {}: not a readable PEM file", file.display()))?;
            if certs.is_empty() {
                anyhow::bail!("--http-ca-file {}: holds no CERTIFICATE", file.display());
            }
            for cert in certs {
                roots
                    .add(cert)
                    .with_context(|| format!("--http-ca-file {}: a certificate is invalid", file.display()))?;
            }
        }
        let count = roots.len();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("cannot configure TLS")?
            .with_root_certificates(roots)
            .with_no_client_auth();

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            // The guest's own Host header, if any, is checked against its
            // grant with the URI; the client sets it for HTTP/1 otherwise.
            .set_host(true)
            .build(connector);
        Ok(HttpClient { client, roots: count })
    }

    /// The number of trusted CA certificates.
    pub fn roots(&self) -> usize {
        self.roots
    }

    pub(crate) fn inner(&self) -> &Client<HttpsConnector<HttpConnector>, WasiBody> {
        &self.client
    }
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").field("roots", &self.roots).finish_non_exhaustive()
    }
}
