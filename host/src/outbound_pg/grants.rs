//! The `[postgres.NAME]` sections of a manifest: the databases a plugin may
//! open, by name. The URL (with its password) comes from the host's
//! environment or a file, never from the plugin.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// Pooled connections per database when the manifest does not say.
pub const DEFAULT_POOL: usize = 4;
/// Most connections one grant may pool.
pub const MAX_POOL: usize = 100;

/// One `[postgres.NAME]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgEntry {
    url_env: Option<String>,
    url_file: Option<PathBuf>,
    pool: Option<usize>,
    #[serde(default)]
    read_only: bool,
}

/// A database a plugin may open as `name`.
#[derive(Clone, PartialEq, Eq)]
pub struct PgGrant {
    pub name: String,
    /// The connection URL: a secret, never shown.
    pub url: String,
    pub pool: usize,
    pub read_only: bool,
}

impl fmt::Debug for PgGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgGrant")
            .field("name", &self.name)
            .field("url", &"<redacted>")
            .field("pool", &self.pool)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl fmt::Display for PgGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "postgres {} (pool {}{})", self.name, self.pool, if self.read_only { ", read-only" } else { "" })
    }
}

/// Checks one entry and reads its URL. The error is `(key, reason)` for the
/// manifest's one line; it never contains the URL.
pub fn grant(name: String, entry: PgEntry) -> Result<PgGrant, (String, String)> {
    let key = |field: &str| format!("postgres.{name}.{field}");
    if name.is_empty() {
        return Err((String::new(), "a database name is empty".into()));
    }
    let (url, source) = match (entry.url_env, entry.url_file) {
        (Some(var), None) => (
            std::env::var(&var).map_err(|_| (key("url_env"), format!("the host's environment has no {var}")))?,
            key("url_env"),
        ),
        (None, Some(file)) => (
            std::fs::read_to_string(&file)
                .map(|text| text.trim().to_string())
                .map_err(|e| (key("url_file"), format!("cannot read {}: {e}", file.display())))?,
            key("url_file"),
        ),
        (Some(_), Some(_)) => return Err((key("url_env"), "give url_env or url_file, not both".into())),
        (None, None) => {
            return Err((
                format!("postgres.{name}"),
                "says neither url_env nor url_file: where the host finds the database's URL".into(),
            ));
        }
    };
    url.parse::<tokio_postgres::Config>().map_err(|e| {
        // tokio-postgres' messages name the option, not the value.
        (source, format!("not a PostgreSQL connection URL: {e}"))
    })?;
    let pool = entry.pool.unwrap_or(DEFAULT_POOL);
    if !(1..=MAX_POOL).contains(&pool) {
        return Err((key("pool"), format!("must be between 1 and {MAX_POOL}")));
    }
    Ok(PgGrant { name, url, pool, read_only: entry.read_only })
}
