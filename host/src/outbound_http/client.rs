//! The process's one HTTP client: pooled keep-alive connections per origin,
//! TLS by rustls (system roots plus an operator's CA file), HTTP/1.1 and
//! HTTP/2 by ALPN.

use std::path::PathBuf;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
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
}

impl HttpClient {
    /// Builds the client; fails (one line) if the CA file cannot be used.
    pub fn new(options: &HttpClientOptions) -> anyhow::Result<HttpClient> {
        let tls = crate::tls::client_config(options.ca_file.as_deref(), "--http-ca-file")?;
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
        Ok(HttpClient { client })
    }

    pub(crate) fn inner(&self) -> &Client<HttpsConnector<HttpConnector>, WasiBody> {
        &self.client
    }
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}
