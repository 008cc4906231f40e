//! Temporal's environment configuration, read as its CLI and SDKs read it:
//! a profile of `temporal.toml` (`--profile` / `TEMPORAL_PROFILE`, the file
//! from `--config-file` / `TEMPORAL_CONFIG_FILE` or the default path), with
//! the `TEMPORAL_*` variables applied over it by the core crates' loader.
//! `host run`'s flags override both; the built-in defaults come last.

use std::path::Path;

use temporalio_common::envconfig::{
    ClientConfigProfile, DataSource, LoadClientConfigProfileOptions, load_client_config_profile,
};

use super::connection::{ConnectionSettings, Pem};

/// The active profile, or an empty one when there is no file and no
/// variable; a profile asked for by name that the file lacks is an error.
pub fn load(profile: Option<&str>, config_file: Option<&Path>) -> anyhow::Result<ClientConfigProfile> {
    // The loader reads a missing file as an empty one; one named on purpose is a mistake.
    if let Some(file) = config_file
        && let Err(e) = std::fs::metadata(file)
    {
        anyhow::bail!("Temporal configuration file {}: {e}", file.display());
    }
    let options = LoadClientConfigProfileOptions::builder()
        .maybe_config_source(config_file.map(|p| DataSource::Path(p.display().to_string())))
        .maybe_config_file_profile(profile.map(str::to_string))
        .build();
    load_client_config_profile(options, None).map_err(|e| anyhow::anyhow!("Temporal configuration: {e}"))
}

/// Fills what the flags left unset from the profile. `address` and
/// `namespace` are the flags' values, `None` when not given.
pub fn apply(
    profile: ClientConfigProfile,
    settings: &mut ConnectionSettings,
    address: Option<String>,
    namespace: Option<String>,
) -> anyhow::Result<String> {
    settings.address = address.or(profile.address).unwrap_or_else(|| "127.0.0.1:7233".to_string());
    settings.api_key = settings.api_key.take().or(profile.api_key);
    for (key, value) in profile.grpc_meta {
        settings.headers.entry(key).or_insert(value);
    }
    if let Some(tls) = profile.tls.filter(|t| t.disabled != Some(true)) {
        if tls.disable_host_verification {
            anyhow::bail!(
                "Temporal configuration: disable_host_verification is not supported; give server_ca_cert instead"
            );
        }
        let pem = |source: Option<DataSource>| -> anyhow::Result<Option<Pem>> {
            match source {
                None => Ok(None),
                Some(DataSource::Path(path)) => Ok(Some(Pem::File(path.into()))),
                Some(DataSource::Data(data)) => Ok(Some(Pem::Inline(data))),
                // A source kind newer than this host.
                Some(_) => anyhow::bail!("Temporal configuration: a TLS source this host cannot read"),
            }
        };
        let flags = &mut settings.tls;
        flags.enabled = true;
        if flags.cert.is_none() && flags.key.is_none() {
            flags.cert = pem(tls.client_cert)?;
            flags.key = pem(tls.client_key)?;
        }
        flags.ca = match flags.ca.take() {
            Some(ca) => Some(ca),
            None => pem(tls.server_ca_cert)?,
        };
        flags.server_name = flags.server_name.take().or(tls.server_name);
    }
    Ok(namespace.or(profile.namespace).unwrap_or_else(|| "default".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(toml: &str, name: &str) -> ClientConfigProfile {
        let dir = std::env::temp_dir().join(format!("activity-host-profile-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("temporal.toml");
        std::fs::write(&file, toml).unwrap();
        let loaded = load(Some(name), Some(&file));
        std::fs::remove_dir_all(&dir).unwrap();
        loaded.unwrap()
    }

    #[test]
    fn flags_override_the_profile_and_the_profile_the_defaults() {
        let toml = r#"
            [profile.prod]
            address = "prod.example:7233"
            namespace = "orders"
            api_key = "from-profile"
            [profile.prod.tls]
            server_name = "prod.internal"
            server_ca_cert_data = "-----BEGIN CERTIFICATE-----"
            [profile.prod.grpc_meta]
            x-team = "payments"
        "#;
        let mut settings = ConnectionSettings::default();
        let namespace = apply(profile(toml, "prod"), &mut settings, None, None).unwrap();
        assert_eq!((settings.address.as_str(), namespace.as_str()), ("prod.example:7233", "orders"));
        assert_eq!(settings.api_key.as_deref(), Some("from-profile"));
        assert!(settings.tls.enabled);
        assert_eq!(settings.tls.server_name.as_deref(), Some("prod.internal"));
        assert_eq!(settings.tls.ca, Some(Pem::Inline(b"-----BEGIN CERTIFICATE-----".to_vec())));
        assert_eq!(settings.headers.get("x-team").map(String::as_str), Some("payments"));

        let mut settings = ConnectionSettings { api_key: Some("flag".into()), ..Default::default() };
        let namespace =
            apply(profile(toml, "prod"), &mut settings, Some("127.0.0.1:7233".into()), Some("dev".into())).unwrap();
        assert_eq!((settings.address.as_str(), namespace.as_str()), ("127.0.0.1:7233", "dev"));
        assert_eq!(settings.api_key.as_deref(), Some("flag"));

        let mut settings = ConnectionSettings::default();
        let namespace = apply(ClientConfigProfile::default(), &mut settings, None, None).unwrap();
        assert_eq!((settings.address.as_str(), namespace.as_str()), ("127.0.0.1:7233", "default"));
        assert!(!settings.tls.enabled);
    }

    #[test]
    fn a_profile_the_file_lacks_is_an_error() {
        let dir = std::env::temp_dir().join(format!("activity-host-profile-missing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("temporal.toml");
        std::fs::write(&file, "[profile.default]\naddress = \"a:1\"\n").unwrap();
        let error = load(Some("nope"), Some(&file)).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(error.contains("nope"), "{error}");
        let error = load(None, Some(&dir.join("gone.toml"))).unwrap_err().to_string();
        assert!(error.contains("gone.toml") && error.contains("No such file"), "{error}");
    }
}
