//! Connecting to a Temporal service: a local dev server, a self-hosted
//! cluster with mutual TLS, or Temporal Cloud with an API key.

use std::collections::HashMap;
use std::error::Error as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use temporalio_client::errors::ClientConnectError;
use temporalio_client::{ClientTlsOptions, Connection, ConnectionOptions, GrpcCompression, TlsOptions};
use temporalio_common::telemetry::metrics::TemporalMeter;
use temporalio_sdk_core::Url;

/// Where and how to connect, as `host run`'s flags give it.
#[derive(Debug, Clone, Default)]
pub struct ConnectionSettings {
    /// `HOST:PORT`, or a URL (`https://...`).
    pub address: String,
    pub identity: String,
    pub tls: TlsSettings,
    /// Sent as `authorization: Bearer <key>`; implies TLS (Temporal Cloud).
    pub api_key: Option<String>,
    /// gRPC metadata sent with every call (a profile's `grpc_meta`).
    pub headers: HashMap<String, String>,
    /// Gzip on every gRPC message by default, as in the Temporal SDKs. Off
    /// saves about 15% of the host's CPU per activity at the cost of bytes
    /// on the wire: worth it when the server is near and bandwidth is cheap.
    pub compression: GrpcCompression,
}

#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    pub enabled: bool,
    /// Client certificate and key (PEM), for mutual TLS.
    pub cert: Option<Pem>,
    pub key: Option<Pem>,
    /// CA certificate (PEM) to verify the server with, instead of the system roots.
    pub ca: Option<Pem>,
    /// Server name to verify, when it differs from the address's host.
    pub server_name: Option<String>,
}

/// PEM from a file (a flag) or inline (a `temporal.toml` profile's `*_data`).
#[derive(Debug, Clone, PartialEq)]
pub enum Pem {
    File(PathBuf),
    Inline(Vec<u8>),
}

impl From<PathBuf> for Pem {
    fn from(path: PathBuf) -> Pem {
        Pem::File(path)
    }
}

impl From<&str> for Pem {
    fn from(path: &str) -> Pem {
        Pem::File(path.into())
    }
}

impl ConnectionSettings {
    fn uses_tls(&self) -> bool {
        self.tls.enabled
            || self.tls.cert.is_some()
            || self.tls.ca.is_some()
            || self.api_key.is_some()
            || self.address.starts_with("https://")
    }

    /// The gRPC endpoint: tonic applies TLS only to `https` URLs.
    fn url(&self) -> anyhow::Result<Url> {
        let text = if self.address.contains("://") {
            self.address.clone()
        } else {
            format!("{}://{}", if self.uses_tls() { "https" } else { "http" }, self.address)
        };
        Url::parse(&text).with_context(|| format!("--address {}: not HOST:PORT or a URL", self.address))
    }

    fn tls_options(&self) -> anyhow::Result<Option<TlsOptions>> {
        if !self.uses_tls() {
            return Ok(None);
        }
        let read = |flag: &str, pem: &Option<Pem>| -> anyhow::Result<Option<Vec<u8>>> {
            match pem {
                Some(Pem::File(p)) => {
                    std::fs::read(p).map(Some).with_context(|| format!("cannot read {flag} {}", p.display()))
                }
                Some(Pem::Inline(data)) => Ok(Some(data.clone())),
                None => Ok(None),
            }
        };
        let client = match (read("--tls-cert", &self.tls.cert)?, read("--tls-key", &self.tls.key)?) {
            (Some(cert), Some(key)) => {
                Some(ClientTlsOptions::builder().client_cert(cert).client_private_key(key).build())
            }
            (None, None) => None,
            (Some(_), None) => anyhow::bail!("--tls-cert needs --tls-key"),
            (None, Some(_)) => anyhow::bail!("--tls-key needs --tls-cert"),
        };
        Ok(Some(
            TlsOptions::builder()
                .maybe_server_root_ca_cert(read("--tls-ca", &self.tls.ca)?)
                .maybe_client_tls_options(client)
                .maybe_domain(self.tls.server_name.clone())
                .build(),
        ))
    }

    /// Connects, checking the settings first so that a typo is one clear
    /// line; with `metrics`, the client's own series (`temporal_request`,
    /// `temporal_long_request`, ...) go to that meter.
    pub async fn connect(&self, metrics: Option<TemporalMeter>) -> anyhow::Result<Connection> {
        let options = ConnectionOptions::new(self.url()?)
            .maybe_metrics_meter(metrics)
            .identity(self.identity.clone())
            .client_name("activity-host")
            .client_version(env!("CARGO_PKG_VERSION"))
            .maybe_api_key(self.api_key.clone())
            .maybe_headers((!self.headers.is_empty()).then(|| self.headers.clone()))
            .maybe_tls_options(self.tls_options()?)
            .connect_timeout(Duration::from_secs(10))
            .grpc_compression(self.compression)
            .build();
        Connection::connect(options)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to the Temporal service at {}: {}", self.address, why(&e)))
    }
}

/// Why a connection failed, on one line: the client prints a transport
/// error or a failed first call with `Debug`, which buries the cause (a
/// refused connection, an unknown CA) in struct syntax.
fn why(error: &ClientConnectError) -> String {
    match error {
        ClientConnectError::TonicTransportError(e) => crate::error_chain::one_line(e),
        ClientConnectError::SystemInfoCallError(status) => {
            let cause = status.source().map(crate::error_chain::one_line);
            let message = cause.filter(|c| !c.is_empty()).unwrap_or_else(|| status.message().to_string());
            format!("its first call (GetSystemInfo) failed: {:?}: {message}", status.code())
        }
        other => other.to_string(),
    }
}

/// `PID@HOSTNAME`, as the Temporal SDKs name their workers.
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{}@{host}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_follows_the_flags() {
        let plain = ConnectionSettings { address: "127.0.0.1:7233".into(), ..Default::default() };
        assert_eq!(plain.url().unwrap().as_str(), "http://127.0.0.1:7233/");
        let cloud = ConnectionSettings {
            address: "ns.acct.tmprl.cloud:7233".into(),
            api_key: Some("key".into()),
            ..Default::default()
        };
        assert_eq!(cloud.url().unwrap().scheme(), "https");
        assert!(cloud.tls_options().unwrap().is_some());
        let half = ConnectionSettings {
            address: "a:1".into(),
            tls: TlsSettings { cert: Some("/dev/null".into()), ..Default::default() },
            ..Default::default()
        };
        assert_eq!(half.tls_options().unwrap_err().to_string(), "--tls-cert needs --tls-key");
        let missing = ConnectionSettings {
            address: "a:1".into(),
            tls: TlsSettings { ca: Some("/nonexistent/ca.pem".into()), ..Default::default() },
            ..Default::default()
        };
        assert!(missing.tls_options().unwrap_err().to_string().starts_with("cannot read --tls-ca /nonexistent/ca.pem"));
    }
}
