//! The TLS client configuration the host's outbound connections share
//! (HTTP, PostgreSQL): rustls with ring, the system's roots (Mozilla's
//! where the system has none, as in a minimal container) plus an operator's
//! CA file.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A client configuration trusting the system's roots and `ca_file`;
/// `flag` names the option in errors (`--http-ca-file`, ...).
pub fn client_config(ca_file: Option<&Path>, flag: &str) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(file) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .with_context(|| format!("{flag} {}: not a readable PEM file", file.display()))?;
        anyhow::ensure!(!certs.is_empty(), "{flag} {}: holds no CERTIFICATE", file.display());
        for cert in certs {
            roots.add(cert).with_context(|| format!("{flag} {}: a certificate is invalid", file.display()))?;
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("cannot configure TLS")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
