//! `NAME.toml` beside `NAME.wasm`: what the operator grants one plugin.
//!
//! Without a manifest a plugin gets nothing beyond clocks, random numbers
//! and its own captured output, and the host-wide limits. A manifest is
//! parsed strictly: an unknown key, a wrong type, a directory that does not
//! exist or a name that does not resolve refuses the plugin, with the file,
//! the key and the reason in one line.
//!
//! ```toml
//! [[dirs]]                      # preopened directories; read-only unless write = true
//! host = "/srv/templates"
//! guest = "/templates"
//!
//! [env]
//! vars = { API_URL = "https://api.example.com" }   # explicit values
//! inherit = ["TZ"]                                 # passed through from the host
//!
//! [http]                        # outbound wasi:http, to these hosts only
//!                               # (a bare host: port 443 for https, 80 for http)
//! allow = ["api.example.com", "127.0.0.1:8080",
//!          { host = "pay.example.com", ports = [443], methods = ["POST"] }]
//!
//! [tcp]                         # outbound wasi:sockets TCP, to these address:port pairs only
//! connect = ["127.0.0.1:5432", "db.internal:5432"]
//!
//! [postgres.orders]             # a database the plugin opens as "orders", through the host's pool
//! url_env = "ORDERS_DATABASE_URL"   # the URL (and password) from the host's environment; or url_file = "..."
//! pool = 8                      # pooled connections (default 4)
//! read_only = true              # every transaction read-only
//!
//! [limits]                      # lower or raise the host-wide limits
//! memory = "512MiB"
//! timeout = "30s"
//! max_timeout = "5m"
//! fuel = 10_000_000_000
//! max_stack = "1MiB"
//! output = "4MiB"
//!
//! [instances]                   # opt-in: one instance serves up to 1000 executions, one at a time
//! reuse = 1000                  # (default 1: a fresh instance every execution; see `instances`)
//! discard_after_failure = true  # also start afresh after an execution that raised
//! high_water = "64MiB"          # start afresh once the instance's memory grew past this
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::instances::Reuse;
use crate::outbound_http::parse_rule;
use crate::sandbox::{DirGrant, Grants, Limits};

/// Largest WebAssembly stack a manifest may ask for.
pub const MAX_STACK_CEILING: usize = 64 << 20;

/// Why a manifest was refused: the file, the key, the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub file: PathBuf,
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            write!(f, "{}: key `{}`: {}", self.file.display(), self.key, self.reason)
        }
    }
}

impl std::error::Error for ManifestError {}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    dirs: Vec<DirEntry>,
    #[serde(default)]
    env: EnvSection,
    #[serde(default)]
    http: HttpSection,
    #[serde(default)]
    tcp: TcpSection,
    #[serde(default)]
    postgres: BTreeMap<String, crate::outbound_pg::grants::PgEntry>,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    instances: InstancesSection,
}

/// The top-level keys of a manifest, as [`Manifest`] reads them.
const SECTIONS: &[&str] = &["dirs", "env", "http", "tcp", "postgres", "limits", "instances"];

/// Whether a `.toml` file is another tool's (`Cargo.toml`, `pyproject.toml`):
/// it has a top-level key no manifest has. One that does not parse may be a
/// manifest with a mistake, so it is not.
fn is_another_tools(toml: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(toml) else { return false };
    text.parse::<toml::Table>().is_ok_and(|table| table.keys().any(|k| !SECTIONS.contains(&k.as_str())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirEntry {
    host: PathBuf,
    guest: String,
    #[serde(default)]
    write: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvSection {
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    inherit: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpSection {
    #[serde(default)]
    allow: Vec<HttpEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum HttpEntry {
    Host(String),
    Rule(HttpRuleEntry),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpRuleEntry {
    host: String,
    #[serde(default)]
    ports: Vec<u16>,
    #[serde(default)]
    methods: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TcpSection {
    #[serde(default)]
    connect: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    memory: Option<bytesize::ByteSize>,
    #[serde(default, with = "humantime_serde_opt")]
    timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    max_timeout: Option<Duration>,
    fuel: Option<u64>,
    max_stack: Option<bytesize::ByteSize>,
    output: Option<bytesize::ByteSize>,
}

/// `[instances]`: whether executions share an instance (see `instances`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstancesSection {
    reuse: Option<u32>,
    #[serde(default)]
    discard_after_failure: bool,
    high_water: Option<bytesize::ByteSize>,
}

/// Durations written as humans do ("30s", "5m"), in an `Option`.
mod humantime_serde_opt {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a duration ({e}); write e.g. \"30s\"")))
    }
}

/// The manifest file of a plugin file: `NAME.toml` beside `NAME.wasm`.
pub fn path_for(plugin: &Path) -> PathBuf {
    plugin.with_extension("toml")
}

/// A `.toml` file in a plugin directory that is no plugin's manifest.
///
/// A manifest is found by its name only, so a misnamed one
/// (`greetings.wasm.toml`, `Greetings.toml`) would leave its plugin
/// running without the grants and limits the operator wrote, silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub path: PathBuf,
    /// The plugin file it seems meant for, if one fits its name.
    pub plugin: Option<PathBuf>,
}

impl fmt::Display for Orphan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |p: &Path| p.file_name().unwrap_or_default().to_string_lossy().into_owned();
        match &self.plugin {
            Some(plugin) => write!(
                f,
                "not a manifest of any plugin; the manifest of {} is {}",
                name(plugin),
                name(&path_for(plugin))
            ),
            None => {
                let stem = name(&self.path.with_extension(""));
                let plugin = if stem.ends_with(".wasm") { stem } else { format!("{stem}.wasm") };
                write!(
                    f,
                    "not a manifest of any plugin: there is no {plugin} here (the manifest of NAME.wasm is NAME.toml)"
                )
            }
        }
    }
}

/// Every `.toml` in `dir` that is not `NAME.toml` beside a `NAME.wasm`, in
/// file name order. Hidden files and other tools' files are left alone (a
/// plugin project keeps its `Cargo.toml` beside the plugin it builds).
pub fn orphans(dir: &Path) -> std::io::Result<Vec<Orphan>> {
    let (mut plugins, mut tomls) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
        if name.starts_with('.') || !path.is_file() {
            continue;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("wasm") => plugins.push(path),
            Some("toml") => tomls.push(path),
            _ => {}
        }
    }
    tomls.sort();
    let orphans = tomls
        .into_iter()
        .filter(|toml| !plugins.iter().any(|p| path_for(p) == *toml) && !is_another_tools(toml))
        .map(|toml| {
            let plugin = meant_for(&toml, &plugins);
            Orphan { path: toml, plugin }
        })
        .collect();
    Ok(orphans)
}

/// The plugin a misnamed manifest was most likely written for: `NAME.wasm`
/// for `NAME.wasm.toml`, else the one plugin whose name differs only in
/// case or in `-` for `_`.
fn meant_for(toml: &Path, plugins: &[PathBuf]) -> Option<PathBuf> {
    let stem = toml.file_stem()?.to_string_lossy();
    let exact = toml.with_extension("");
    if plugins.contains(&exact) {
        return Some(exact);
    }
    let loose = |s: &str| s.trim_end_matches(".wasm").to_lowercase().replace('-', "_");
    let mut near =
        plugins.iter().filter(|p| p.file_stem().is_some_and(|s| loose(&s.to_string_lossy()) == loose(&stem)));
    match (near.next(), near.next()) {
        (Some(plugin), None) => Some(plugin.clone()),
        _ => None,
    }
}

/// Reads the manifest beside `plugin`, if any, and applies it to the host's
/// defaults. No manifest: no grants, the defaults.
pub fn load(plugin: &Path, defaults: &Limits) -> Result<(Grants, Limits), ManifestError> {
    let file = path_for(plugin);
    match std::fs::read_to_string(&file) {
        Ok(text) => parse(&file, &text, defaults),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Grants::default(), defaults.clone())),
        Err(e) => Err(ManifestError { file, key: String::new(), reason: format!("cannot read: {e}") }),
    }
}

/// Parses and checks a manifest's text; `file` names it in errors.
pub fn parse(file: &Path, text: &str, defaults: &Limits) -> Result<(Grants, Limits), ManifestError> {
    let error = |key: &str, reason: String| ManifestError { file: file.to_path_buf(), key: key.to_string(), reason };
    let deserializer = toml::Deserializer::parse(text).map_err(|e| error("", one_line(e.message())))?;
    let manifest: Manifest = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        error(if key == "." { "" } else { &key }, one_line(e.inner().message()))
    })?;

    let mut grants = Grants::default();
    for (i, dir) in manifest.dirs.into_iter().enumerate() {
        let key = |field: &str| format!("dirs[{i}].{field}");
        if !dir.host.is_dir() {
            let what = if dir.host.exists() { "is not a directory" } else { "does not exist" };
            return Err(error(&key("host"), format!("{} {what}", dir.host.display())));
        }
        if !dir.guest.starts_with('/') {
            return Err(error(&key("guest"), format!("{:?} must be an absolute path, like \"/data\"", dir.guest)));
        }
        grants.dirs.push(DirGrant { host: dir.host, guest: dir.guest, write: dir.write });
    }

    for (name, value) in manifest.env.vars {
        check_env_name(&name).map_err(|r| error(&format!("env.vars.{name}"), r))?;
        grants.env.push((name, value));
    }
    for (i, name) in manifest.env.inherit.into_iter().enumerate() {
        check_env_name(&name).map_err(|r| error(&format!("env.inherit[{i}]"), r))?;
        // A name the host does not have is passed as absent, not refused:
        // the same manifest works on hosts that set it and hosts that don't.
        if let Ok(value) = std::env::var(&name) {
            grants.env.push((name, value));
        }
    }

    let mut http = Vec::new();
    for (i, entry) in manifest.http.allow.into_iter().enumerate() {
        let key = format!("http.allow[{i}]");
        let rule = match entry {
            HttpEntry::Host(host) => parse_rule(host, Vec::new(), Vec::new()),
            HttpEntry::Rule(r) => parse_rule(r.host, r.ports, r.methods),
        };
        http.push(rule.map_err(|r| error(&key, r))?);
    }
    grants.http = http.into();

    let mut databases = Vec::new();
    for (name, entry) in manifest.postgres {
        let grant = crate::outbound_pg::grants::grant(name, entry).map_err(|(key, reason)| error(&key, reason))?;
        databases.push(grant);
    }
    grants.postgres = databases.into();

    for (i, target) in manifest.tcp.connect.into_iter().enumerate() {
        let key = format!("tcp.connect[{i}]");
        let addresses: Vec<SocketAddr> = target
            .to_socket_addrs()
            .map_err(|e| error(&key, format!("{target:?} is not a reachable HOST:PORT ({e})")))?
            .collect();
        if target.parse::<SocketAddr>().is_err() {
            grants.name_lookup = true;
        }
        grants.tcp.extend(addresses);
        grants.tcp_targets.push(target);
    }

    let l = manifest.limits;
    let mut limits = defaults.clone();
    limits.reuse = reuse(manifest.instances, l.memory.map_or(defaults.memory, |m| m.as_u64()))
        .map_err(|(key, r)| error(key, r))?;
    if let Some(memory) = l.memory {
        limits.memory = memory.as_u64();
    }
    if let Some(timeout) = l.timeout {
        limits.timeout = timeout;
    }
    if let Some(max) = l.max_timeout {
        limits.max_timeout = Some(max);
    }
    if let Some(fuel) = l.fuel {
        limits.fuel = Some(fuel);
    }
    if let Some(stack) = l.max_stack {
        let stack = stack.as_u64() as usize;
        if !(64 << 10..=MAX_STACK_CEILING).contains(&stack) {
            return Err(error(
                "limits.max_stack",
                format!("must be between 64 KiB and {} MiB", MAX_STACK_CEILING >> 20),
            ));
        }
        limits.max_stack = stack;
    }
    if let Some(output) = l.output {
        limits.output = output.as_u64() as usize;
    }
    if let Some(max) = limits.max_timeout
        && limits.timeout > max
    {
        if l.timeout.is_none() {
            // Only the ceiling was given: the default comes down to it.
            limits.timeout = max;
            return Ok((grants, limits));
        }
        return Err(error(
            "limits.timeout",
            format!(
                "{} is longer than max_timeout {}",
                humantime::format_duration(limits.timeout),
                humantime::format_duration(max)
            ),
        ));
    }
    Ok((grants, limits))
}

/// Most executions one instance may serve: enough that the instance's cost
/// disappears, few enough that a slow leak is bounded.
const MAX_REUSE: u32 = 1_000_000;

fn reuse(section: InstancesSection, memory: u64) -> Result<Reuse, (&'static str, String)> {
    let executions = section.reuse.unwrap_or(1);
    if !(1..=MAX_REUSE).contains(&executions) {
        return Err(("instances.reuse", format!("must be between 1 (a fresh instance every time) and {MAX_REUSE}")));
    }
    let high_water = section.high_water.map(|h| h.as_u64());
    if executions == 1 && (high_water.is_some() || section.discard_after_failure) {
        let key = if high_water.is_some() { "instances.high_water" } else { "instances.discard_after_failure" };
        return Err((key, "applies to reused instances only: set instances.reuse above 1".into()));
    }
    if let Some(h) = high_water
        && h >= memory
    {
        return Err((
            "instances.high_water",
            format!(
                "{} is not below the memory limit of {}: an instance would never reach it",
                crate::failure::size(h),
                crate::failure::size(memory)
            ),
        ));
    }
    Ok(Reuse { executions, discard_after_failure: section.discard_after_failure, high_water })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn check_env_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        return Err(format!("{name:?} is not an environment variable name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<(Grants, Limits), String> {
        parse(Path::new("plugins/p.toml"), text, &Limits::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn another_tools_toml_is_no_orphan_and_a_misnamed_manifest_is() {
        let dir = std::env::temp_dir().join(format!("activity-host-orphans-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"p\"\n[lib]\n").unwrap();
        std::fs::write(dir.join("p.wasm.toml"), "[http]\nallow = [\"example.com\"]\n").unwrap();
        std::fs::write(dir.join("q.toml"), "# every grant commented out\n").unwrap();
        std::fs::write(dir.join("r.toml"), "[http\n").unwrap();
        let found: Vec<String> =
            orphans(&dir).unwrap().iter().map(|o| o.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found, ["p.wasm.toml", "q.toml", "r.toml"]);
        // Every section a manifest has is one `SECTIONS` knows.
        let every = "dirs = []\n[env]\n[http]\n[tcp]\n[postgres]\n[limits]\n[instances]\n";
        assert!(parse_str(every).is_ok());
        let keys = every.parse::<toml::Table>().unwrap();
        assert!(keys.keys().all(|k| SECTIONS.contains(&k.as_str())));
        assert_eq!(keys.len(), SECTIONS.len());
    }

    #[test]
    fn no_manifest_means_no_grants() {
        let (grants, limits) = load(Path::new("/nonexistent/p.wasm"), &Limits::default()).unwrap();
        assert_eq!(grants, Grants::default());
        assert_eq!(limits, Limits::default());
    }

    #[test]
    fn every_section_parses() {
        let dir = std::env::temp_dir();
        let text = format!(
            r#"
            [[dirs]]
            host = "{}"
            guest = "/data"
            write = true

            [env]
            vars = {{ API_URL = "https://api.example.com" }}

            [http]
            allow = ["API.example.com", "127.0.0.1:8080", {{ host = "pay.example.com", ports = [443], methods = ["post"] }}]

            [tcp]
            connect = ["127.0.0.1:5432"]

            [limits]
            memory = "64MiB"
            timeout = "5s"
            max_timeout = "1m"
            fuel = 1000
            max_stack = "1MiB"
            output = "2KiB"
            "#,
            dir.display()
        );
        let (grants, limits) = parse_str(&text).unwrap();
        assert_eq!(grants.dirs, [DirGrant { host: dir, guest: "/data".into(), write: true }]);
        assert_eq!(grants.env, [("API_URL".to_string(), "https://api.example.com".to_string())]);
        assert_eq!(grants.http[0].to_string(), "http api.example.com");
        assert_eq!(grants.http[1].to_string(), "http 127.0.0.1:8080");
        assert_eq!(grants.http[2].methods, [http::Method::POST]);
        assert_eq!(grants.tcp, ["127.0.0.1:5432".parse::<SocketAddr>().unwrap()]);
        assert!(!grants.name_lookup);
        assert_eq!(limits.memory, 64 << 20);
        assert_eq!(limits.timeout, Duration::from_secs(5));
        assert_eq!(limits.max_timeout, Some(Duration::from_secs(60)));
        assert_eq!(limits.fuel, Some(1000));
        assert_eq!(limits.max_stack, 1 << 20);
        assert_eq!(limits.output, 2048);
    }

    #[test]
    fn mistakes_name_the_file_the_key_and_the_reason() {
        let err = parse_str("[limits]\nmemroy = \"1GiB\"").unwrap_err();
        assert!(err.starts_with("plugins/p.toml: key `limits.memroy`: unknown field `memroy`"), "{err}");
        let err = parse_str("[limits]\nfuel = \"lots\"").unwrap_err();
        assert!(err.starts_with("plugins/p.toml: key `limits.fuel`: invalid type"), "{err}");
        let err = parse_str("[[dirs]]\nhost = \"/nonexistent/dir\"\nguest = \"/d\"").unwrap_err();
        assert_eq!(err, "plugins/p.toml: key `dirs[0].host`: /nonexistent/dir does not exist");
        let err = parse_str("[limits]\ntimeout = \"soon\"").unwrap_err();
        assert!(err.starts_with("plugins/p.toml: key `limits.timeout`: \"soon\" is not a duration"), "{err}");
        let err = parse_str("[http]\nallow = [\"https://api.example.com\"]").unwrap_err();
        assert!(err.starts_with("plugins/p.toml: key `http.allow[0]`:"), "{err}");
        let err = parse_str("[limits]\ntimeout = \"2m\"\nmax_timeout = \"1m\"").unwrap_err();
        assert_eq!(err, "plugins/p.toml: key `limits.timeout`: 2m is longer than max_timeout 1m");
        let err = parse_str("not toml at all [").unwrap_err();
        assert!(err.starts_with("plugins/p.toml: ") && !err.contains('\n'), "{err}");
        let err = parse_str("[tcp]\nconnect = [\"no-port\"]").unwrap_err();
        assert!(err.starts_with("plugins/p.toml: key `tcp.connect[0]`:"), "{err}");
    }

    #[test]
    fn instances_are_fresh_unless_the_manifest_reuses_them() {
        let (_, limits) = parse_str("").unwrap();
        assert_eq!(limits.reuse, Reuse::FRESH);
        let (_, limits) =
            parse_str("[instances]\nreuse = 1000\ndiscard_after_failure = true\nhigh_water = \"64MiB\"\n").unwrap();
        assert_eq!(limits.reuse, Reuse { executions: 1000, discard_after_failure: true, high_water: Some(64 << 20) });
        let err = |t: &str| parse_str(t).unwrap_err();
        assert!(err("[instances]\nreuse = 0\n").contains("key `instances.reuse`: must be between 1"));
        assert!(err("[instances]\nhigh_water = \"1MiB\"\n").contains("applies to reused instances only"));
        assert!(
            err("[instances]\nreuse = 2\nhigh_water = \"1GiB\"\n").contains("is not below the memory limit of 256 MiB")
        );
        assert!(err("[instances]\nreuse = 2\npool = 3\n").contains("unknown field `pool`"));
    }
}
