//! Command-line interface: argument parsing, exit codes and output.
//!
//! Exit codes: 0 success; 1 the activity failed or was cancelled (`call`), or
//! something offered was not served (`list`, `check`: a refused plugin file
//! or a dropped dynamic activity), so that scripts and CI notice, though
//! everything that loaded is printed first; 2 bad usage, or a plugin
//! directory that cannot be read (clap uses 2 for usage errors too).
//! `run` exits 0 after a shutdown by signal, whatever became of its log.

use std::collections::HashSet;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use activity_host::cache::Source;
use activity_host::catalog::Catalog;
use activity_host::engine::EngineOptions;
use activity_host::manifest;
use activity_host::outbound_http::HttpClientOptions;
use activity_host::outbound_pg::PgPoolOptions;
use activity_host::payload::PayloadLimits;
use activity_host::registry::{Registry, dynamic_name};
use activity_host::runtime::scan;
use activity_host::watch;
use activity_host::worker::connection::default_identity;
use activity_host::worker::{self, ConnectionSettings, TlsSettings, WorkerOptions};
use activity_host::{Limits, Outcome, Payload, Plugin, Request, Runtime, ServiceOptions, Services};
use bytesize::ByteSize;
use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use clap::{Args, Parser, Subcommand};
use temporalio_client::GrpcCompression;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing_subscriber::EnvFilter;

use crate::logging::{self, eprintln_safe, println_safe};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// Run Temporal activities compiled to WebAssembly components.
///
/// Drop plugin files (`*.wasm` components of the activity-host:plugin world)
/// into a directory; every execution runs in a fresh, sandboxed instance.
#[derive(Debug, Parser)]
#[command(name = "host", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a Temporal task queue with the plugins of a directory.
    ///
    /// An activity-only worker: it polls the task queue, runs each task's
    /// activity type in a fresh instance of the plugin that registers it,
    /// and watches the directory, so that plugins added, replaced or removed
    /// take effect without a restart. Run several on one task queue to scale
    /// out. SIGINT or SIGTERM stops polling and lets running executions
    /// finish within --graceful-shutdown-timeout; a second signal exits at once.
    Run(Box<RunArgs>),
    /// Run one activity locally and print its result as JSON.
    ///
    /// Each JSON_ARG becomes one positional argument (a json/plain payload).
    /// Exits 0 with the result on stdout, 1 with the failure on stderr.
    Call {
        /// The activity type, as a workflow would schedule it.
        name: String,
        /// Arguments, one JSON document each: '"World"', '{"greeting":"Hello"}', '3'.
        #[arg(value_name = "JSON_ARG")]
        args: Vec<String>,
        #[command(flatten)]
        plugins: PluginDir,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        cache: CacheArgs,
        #[command(flatten)]
        services: ServiceArgs,
        /// After Ctrl-C asks the activity to stop, how long it may take before
        /// it is interrupted.
        #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
        cancel_grace: Duration,
    },
    /// List every registered activity type, its plugin, and what was refused.
    ///
    /// Exits 1 if any plugin or dynamic activity of the directory was refused.
    List {
        #[command(flatten)]
        plugins: PluginDir,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Validate plugin files and show what each offers or why it is refused.
    ///
    /// Files are checked together, in the order given (a directory's in file
    /// name order), with the same rules as a plugin directory (no name twice,
    /// at most one dynamic activity). Exits 1 if anything was refused.
    Check {
        /// Plugin files, or directories whose plugins (`DIR/*.wasm`) to check.
        #[arg(value_name = "FILE.wasm|DIR", required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub plugins: PluginDir,
    /// The Temporal frontend, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", env = "TEMPORAL_ADDRESS", default_value = "127.0.0.1:7233")]
    pub address: String,
    #[arg(long, value_name = "NS", env = "TEMPORAL_NAMESPACE", default_value = "default")]
    pub namespace: String,
    /// The task queue to poll.
    #[arg(long, value_name = "TQ", env = "TEMPORAL_TASK_QUEUE")]
    pub task_queue: String,
    /// Executions running at once on this host.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_concurrent_activities: u32,
    /// Activities this host starts per second, at most.
    #[arg(long, value_name = "R")]
    pub max_activities_per_second: Option<f64>,
    /// On SIGINT/SIGTERM, how long running executions may take to finish before they are cancelled.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub graceful_shutdown_timeout: Duration,
    /// After a cancellation reaches an execution, how long it may take to stop before it is interrupted.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub cancel_grace: Duration,
    /// How this worker names itself to the server [default: PID@HOSTNAME].
    #[arg(long, value_name = "S", env = "TEMPORAL_IDENTITY")]
    pub identity: Option<String>,
    /// Connect with TLS (implied by the other --tls-* flags and by --api-key).
    #[arg(long, env = "TEMPORAL_TLS")]
    pub tls: bool,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", env = "TEMPORAL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", env = "TEMPORAL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA certificate (PEM) to verify the server with, instead of the system's roots.
    #[arg(long, value_name = "FILE", env = "TEMPORAL_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Server name to verify, when it differs from the address's host.
    #[arg(long, value_name = "NAME", env = "TEMPORAL_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
    /// API key (Temporal Cloud).
    #[arg(long, value_name = "KEY", env = "TEMPORAL_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Compress gRPC messages to and from the server (`none` trades bandwidth for CPU).
    #[arg(long, value_name = "ALGORITHM", env = "TEMPORAL_GRPC_COMPRESSION", default_value = "gzip", value_parser = grpc_compression())]
    pub grpc_compression: GrpcCompression,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub services: ServiceArgs,
}

/// `--grpc-compression`'s values, as the client library's own type.
fn grpc_compression() -> impl clap::builder::TypedValueParser<Value = GrpcCompression> {
    PossibleValuesParser::new(["gzip", "none"])
        .map(|value| if value == "none" { GrpcCompression::None } else { GrpcCompression::Gzip })
}

#[derive(Debug, Args)]
pub struct PluginDir {
    /// The plugin directory (`DIR/*.wasm`).
    #[arg(long = "plugins", value_name = "DIR", env = "ACTIVITY_HOST_PLUGINS", default_value = "plugins")]
    pub dir: PathBuf,
}

/// The compilation cache.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Where compiled plugins are kept, so that a restart does not compile
    /// them again [default: the user's cache directory, e.g. ~/.cache/activity-host].
    #[arg(long, value_name = "DIR", env = "ACTIVITY_HOST_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile every plugin at load; read and write no cache (overrides --cache-dir).
    #[arg(long)]
    pub no_cache: bool,
}

impl CacheArgs {
    fn dir(&self) -> Option<PathBuf> {
        (!self.no_cache).then(|| self.cache_dir.clone().unwrap_or_else(activity_host::cache::Cache::default_dir))
    }
}

/// What the host provides plugins within their grants.
#[derive(Debug, Args)]
#[command(next_help_heading = "Outbound connections (host-wide; a plugin's manifest grants what it may reach)")]
pub struct ServiceArgs {
    /// Extra CA certificates (PEM) that plugins' HTTPS requests trust, beside the system's roots.
    #[arg(long, value_name = "FILE", env = "ACTIVITY_HOST_HTTP_CA_FILE")]
    pub http_ca_file: Option<PathBuf>,
    /// Extra CA certificates (PEM) for PostgreSQL servers reached with TLS, beside the system's roots.
    #[arg(long, value_name = "FILE", env = "ACTIVITY_HOST_POSTGRES_CA_FILE")]
    pub postgres_ca_file: Option<PathBuf>,
}

impl ServiceArgs {
    fn options(&self) -> ServiceOptions {
        ServiceOptions {
            http: HttpClientOptions { ca_file: self.http_ca_file.clone() },
            postgres: PgPoolOptions { ca_file: self.postgres_ca_file.clone() },
        }
    }
}

/// Host-wide limits; a plugin's manifest may lower or raise each of them.
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits (host-wide defaults; a plugin's manifest may change them)")]
pub struct LimitArgs {
    /// How long an execution may run before it is stopped (for `run`: when
    /// the task sets neither a start-to-close nor a schedule-to-close timeout).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// How long an execution may run at most, whatever the task asks.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub max_timeout: Option<Duration>,
    /// Linear memory one instance may use.
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    pub memory_limit: ByteSize,
    /// Fuel (roughly, WebAssembly instructions) per execution; unmetered when unset.
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,
    /// WebAssembly stack per execution.
    #[arg(long, value_name = "SIZE", default_value = "512KiB")]
    pub max_stack: ByteSize,
    /// Bytes of stdout, stderr and log records per execution that reach the log.
    #[arg(long, value_name = "SIZE", default_value = "1MiB")]
    pub max_output: ByteSize,
    /// Largest single payload (argument, result, detail), as Temporal's default.
    #[arg(long, value_name = "SIZE", default_value = "2MiB")]
    pub max_payload_size: ByteSize,
    /// Largest total of the payloads of one message (all arguments, a result, all details).
    #[arg(long, value_name = "SIZE", default_value = "4MiB")]
    pub max_payloads_size: ByteSize,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            memory: self.memory_limit.as_u64(),
            timeout: self.timeout,
            max_timeout: self.max_timeout,
            fuel: self.fuel,
            max_stack: self.max_stack.as_u64() as usize,
            output: self.max_output.as_u64() as usize,
            payloads: PayloadLimits {
                single: self.max_payload_size.as_u64() as usize,
                total: self.max_payloads_size.as_u64() as usize,
            },
        }
    }
}

impl Command {
    /// A single-threaded runtime: these commands run one thing at a time,
    /// and compilation happens on tokio's blocking threads anyway.
    pub fn tokio_runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        match self {
            Command::Run(_) => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
            _ => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        }
    }

    /// Log filter when `RUST_LOG` is unset: what a worker does for `run`;
    /// the plugin's own output and warnings for `call`; only errors for the
    /// listing commands (whose output already says what was refused).
    fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Run(_) => "info,temporalio_sdk_core=warn,temporalio_client=warn",
            Command::Call { .. } => "warn,plugin=info",
            Command::List { .. } | Command::Check { .. } => "error",
        }
    }
}

/// Logs go to stderr, so that stdout carries only results. A worker's log
/// goes through a queue, so that a stalled or vanished reader of stderr
/// never holds up serving or shutdown (see [`logging`]).
pub fn init_logging(command: &Command) {
    logging::init(match command {
        Command::Run(_) => logging::Mode::Queued,
        _ => logging::Mode::Direct,
    });
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(command.default_log_filter()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(logging::Stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .log_internal_errors(false)
        .init();
}

pub async fn run(command: Command) -> u8 {
    match command {
        Command::Run(args) => serve(*args).await,
        Command::Call { name, args, plugins, limits, cache, services, cancel_grace } => {
            let local = Local { limits: limits.limits(), cache_dir: cache.dir(), services: services.options() };
            call(name, args, plugins.dir, local, cancel_grace).await
        }
        Command::List { plugins, limits, cache } => list(plugins.dir, Local::new(limits, cache)).await,
        Command::Check { paths, limits, cache } => check(paths, Local::new(limits, cache)).await,
    }
}

async fn serve(args: RunArgs) -> u8 {
    let mut signals = match Signals::listen() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln_safe!("error: cannot listen for SIGINT and SIGTERM: {e}");
            return EXIT_USAGE;
        }
    };
    let options = WorkerOptions {
        connection: ConnectionSettings {
            address: args.address,
            identity: args.identity.unwrap_or_else(default_identity),
            tls: TlsSettings {
                enabled: args.tls,
                cert: args.tls_cert,
                key: args.tls_key,
                ca: args.tls_ca,
                server_name: args.tls_server_name,
            },
            api_key: args.api_key,
            compression: args.grpc_compression,
        },
        namespace: args.namespace,
        task_queue: args.task_queue,
        max_concurrent_activities: args.max_concurrent_activities as usize,
        max_activities_per_second: args.max_activities_per_second,
        graceful_shutdown_timeout: args.graceful_shutdown_timeout,
        cancel_grace: args.cancel_grace,
    };
    // Every execution in flight holds an instance, and loads need a few more.
    let engine = EngineOptions {
        max_instances: args.max_concurrent_activities + 32,
        cache_dir: args.cache.dir(),
        ..EngineOptions::default()
    };
    let runtime = match runtime(engine, args.limits.limits(), &args.services.options()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    tracing::info!(allocation = ?runtime.allocation(), "WebAssembly engine ready");
    let dir = args.plugins.dir;
    let opened = tokio::select! {
        opened = Catalog::open(runtime, &dir) => opened,
        () = signals.next() => {
            tracing::info!("stopped while loading the plugins");
            return EXIT_OK;
        }
    };
    let catalog = match opened {
        Ok(c) => c,
        Err(e) => {
            eprintln_safe!("error: cannot read plugin directory {}: {e}", dir.display());
            return EXIT_USAGE;
        }
    };
    if catalog.registry().plugins().is_empty() {
        tracing::warn!(dir = %dir.display(), "no plugin loaded yet: tasks fail with NotFoundError until one is added");
    }
    let _watch = watch::watch(catalog.clone());
    match worker::run(options, catalog, shutdown_signal(signals)).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln_safe!("error: {e:#}");
            EXIT_FAILED
        }
    }
}

/// SIGINT and SIGTERM, listened for from the start of `run`: a signal that
/// arrives before the worker polls must stop the host as a later one does,
/// not kill it by the default action (no drain, no exit 0).
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn listen() -> std::io::Result<Signals> {
        Ok(Signals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM; a second one exits at once.
async fn shutdown_signal(mut signals: Signals) {
    signals.next().await;
    tokio::spawn(async move {
        signals.next().await;
        eprintln_safe!("second signal: exiting without waiting for running executions");
        logging::finish();
        std::process::exit(130);
    });
}

/// What `call`, `list` and `check` run with.
struct Local {
    limits: Limits,
    cache_dir: Option<PathBuf>,
    services: ServiceOptions,
}

impl Local {
    fn new(limits: LimitArgs, cache: CacheArgs) -> Local {
        Local { limits: limits.limits(), cache_dir: cache.dir(), services: ServiceOptions::default() }
    }
}

fn local_runtime(local: Local) -> Result<Arc<Runtime>, u8> {
    let options = EngineOptions { max_instances: 16, cache_dir: local.cache_dir, ..EngineOptions::default() };
    runtime(options, local.limits, &local.services)
}

/// The WebAssembly runtime, or exit 2 with the reason.
fn runtime(options: EngineOptions, limits: Limits, services: &ServiceOptions) -> Result<Arc<Runtime>, u8> {
    if !(64 << 10..=activity_host::manifest::MAX_STACK_CEILING).contains(&limits.max_stack) {
        eprintln_safe!(
            "error: --max-stack must be between 64 KiB and {} MiB",
            activity_host::manifest::MAX_STACK_CEILING >> 20
        );
        return Err(EXIT_USAGE);
    }
    let services = Services::new(services).map_err(|e| {
        eprintln_safe!("error: {e:#}");
        EXIT_USAGE
    })?;
    Runtime::with_services(&options, limits, services).map_err(|e| {
        eprintln_safe!("error: {e:#}");
        EXIT_USAGE
    })
}

async fn load_dir(runtime: &Arc<Runtime>, dir: &Path) -> Result<Registry, u8> {
    runtime.load_dir(dir).await.map_err(|e| {
        eprintln_safe!("error: cannot read plugin directory {}: {e}", dir.display());
        EXIT_USAGE
    })
}

/// A local runtime and the directory's plugins, for `call` and `list`; an
/// exit code (the reason already printed) when either cannot be had.
async fn local_registry(dir: &Path, local: Local) -> Result<(Arc<Runtime>, Registry), u8> {
    let runtime = local_runtime(local)?;
    let registry = load_dir(&runtime, dir).await?;
    Ok((runtime, registry))
}

async fn call(name: String, args: Vec<String>, dir: PathBuf, local: Local, cancel_grace: Duration) -> u8 {
    let mut payloads = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        match Payload::from_json_arg(arg) {
            Ok(p) => payloads.push(p),
            Err(e) => {
                eprintln_safe!("error: argument {} is not JSON ({e}): {arg}; {}", i + 1, json_arg_hint(arg));
                return EXIT_USAGE;
            }
        }
    }
    let timeout = local.limits.timeout;
    // The runtime outlives the executions: it drives their deadlines.
    let (_runtime, registry) = match local_registry(&dir, local).await {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };

    let request = Request::local(&name, payloads).with_timeout(timeout);
    let (cancel, interrupt) = (request.cancel.clone(), request.interrupt.clone());
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln_safe!("cancelling {name}; interrupting it in {}", humantime::format_duration(cancel_grace));
            cancel.cancel();
            tokio::select! {
                _ = tokio::time::sleep(cancel_grace) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            interrupt.cancel();
        }
    });

    match registry.execute(request).await {
        Outcome::Completed(payload) => {
            println_safe!("{}", payload.to_json_text());
            EXIT_OK
        }
        Outcome::Failed(failure) => {
            eprintln_safe!("{failure}");
            EXIT_FAILED
        }
        Outcome::Cancelled(reason) => {
            eprintln_safe!("activity cancelled: {reason}");
            EXIT_FAILED
        }
    }
}

async fn list(dir: PathBuf, local: Local) -> u8 {
    // The runtime outlives the executions: it drives their deadlines.
    let (_runtime, registry) = match local_registry(&dir, local).await {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let mut rows: Vec<(String, &str, String)> = registry
        .activities()
        .into_iter()
        .map(|(name, plugin)| (name.to_string(), "activity", plugin.path().display().to_string()))
        .collect();
    if let Some(plugin) = registry.dynamic() {
        rows.push((dynamic_name(plugin).to_string(), "dynamic", plugin.path().display().to_string()));
    }
    if rows.is_empty() {
        println_safe!("no activities registered from {}", dir.display());
    } else {
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max("ACTIVITY".len());
        println_safe!("{:width$}  {:8}  PLUGIN", "ACTIVITY", "KIND");
        for (name, kind, path) in &rows {
            println_safe!("{name:width$}  {kind:8}  {path}");
        }
    }
    if !registry.plugins().is_empty() {
        println_safe!("\nplugins:");
        for plugin in registry.plugins() {
            println_safe!("{}", plugin.path().display());
            print_sandbox(plugin);
        }
    }
    if registry.refused_anything() {
        println_safe!("\nrefused:");
        for refusal in registry.refused() {
            println_safe!("{}: {}", refusal.path.display(), refusal.reason);
        }
        for dropped in registry.dropped() {
            println_safe!("{dropped}");
        }
    }
    let orphans = manifest::orphans(&dir).unwrap_or_default();
    if !orphans.is_empty() {
        println_safe!("\nwarnings:");
        for orphan in &orphans {
            println_safe!("{}: {orphan}", orphan.path.display());
        }
    }
    if registry.refused_anything() { EXIT_FAILED } else { EXIT_OK }
}

/// A plugin's effective grants and limits, indented under its name.
fn print_sandbox(plugin: &Plugin) {
    println_safe!("  grants: {}", plugin.grants());
    println_safe!("  limits: {}", plugin.limits());
}

async fn check(paths: Vec<PathBuf>, local: Local) -> u8 {
    // A directory stands for its plugins, as `run` would load them.
    let mut files: Vec<PathBuf> = Vec::new();
    let mut orphans = Vec::new();
    for path in &paths {
        if path.is_dir() {
            match scan(path) {
                Ok(found) => files.extend(found),
                Err(e) => {
                    eprintln_safe!("error: cannot read plugin directory {}: {e}", path.display());
                    return EXIT_USAGE;
                }
            }
            orphans.extend(manifest::orphans(path).unwrap_or_default());
        } else {
            files.push(path.clone());
        }
    }
    let mut seen = HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    // A file named alone: the misnamed manifests meant for it.
    let mut dirs: Vec<&Path> = Vec::new();
    for dir in files.iter().filter_map(|f| f.parent()) {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        if !dirs.contains(&dir) && !paths.iter().any(|p| p.is_dir() && same_file(p, dir)) {
            dirs.push(dir);
        }
    }
    for dir in dirs {
        let meant = |o: &manifest::Orphan| o.plugin.as_ref().is_some_and(|p| files.iter().any(|f| same_file(f, p)));
        orphans.extend(manifest::orphans(dir).unwrap_or_default().into_iter().filter(meant));
    }

    let runtime = match local_runtime(local) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let loaded = runtime.load_all(files.clone()).await;
    let registry = Registry::from_loaded(loaded);
    for file in &files {
        if let Some(refusal) = registry.refused().iter().find(|r| &r.path == file) {
            println_safe!("{}: refused: {}", file.display(), refusal.reason);
        } else if let Some(plugin) = registry.plugins().iter().find(|p| p.path() == file) {
            let from = match plugin.source() {
                Source::Cached => ", from the cache",
                Source::Compiled => "",
            };
            println_safe!(
                "{}: ok: {} (loaded in {} ms{from})",
                file.display(),
                registry.describe(plugin),
                plugin.load_time().as_millis()
            );
            for dropped in registry.dropped().iter().filter(|d| &d.path == file) {
                println_safe!("  refused: its dynamic activity {}: {}", dropped.name, dropped.reason);
            }
            print_sandbox(plugin);
        }
    }
    for orphan in &orphans {
        println_safe!("{}: warning: {orphan}", orphan.path.display());
    }
    if registry.refused_anything() { EXIT_FAILED } else { EXIT_OK }
}

/// Whether two paths name one file, however each was spelled.
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// What to say about a `JSON_ARG` that is not JSON. Usually the shell ate
/// its quotes: `"World"` typed without single quotes around it arrives as
/// `World`, and `{"id":7}` as `{id:7}`; the fix is the same quotes again,
/// inside single quotes, not the whole argument made into a string.
fn json_arg_hint(arg: &str) -> String {
    let trimmed = arg.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return format!("quote strings, for example '\"{arg}\"'");
    }
    match quote_bare_words(arg) {
        Some((fixed, keys, strings)) if serde_json::from_str::<serde_json::Value>(&fixed).is_ok() => {
            let what = match (keys, strings) {
                (true, true) => "the keys and strings",
                (true, false) => "the keys",
                _ => "the strings",
            };
            format!("quote {what}, inside single quotes so that the shell keeps them: '{fixed}'")
        }
        _ => {
            "object keys and strings take double quotes, inside single quotes so that the shell keeps them".to_string()
        }
    }
}

/// `arg` with every bare word in double quotes (`true`, `false` and `null`
/// left alone where they are values), and whether keys and values were
/// quoted; `None` if nothing was bare.
fn quote_bare_words(arg: &str) -> Option<(String, bool, bool)> {
    let chars: Vec<char> = arg.chars().collect();
    let (mut fixed, mut quoted_key, mut quoted_value) = (String::with_capacity(arg.len() + 8), false, false);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            // A string: copied as it is, escapes included.
            fixed.push(c);
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    fixed.push(chars[i]);
                    i += 1;
                }
                fixed.push(chars[i]);
                i += 1;
            }
            if i < chars.len() {
                fixed.push('"');
            }
        } else if c.is_ascii_digit() || c == '-' {
            // A number, exponent included.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '+' | '-')) {
                fixed.push(chars[i]);
                i += 1;
            }
            continue;
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '$' | '-' | '.')) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let is_key = chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&':');
            if !is_key && matches!(word.as_str(), "true" | "false" | "null") {
                fixed.push_str(&word);
            } else {
                fixed.push_str(&format!("\"{word}\""));
                if is_key { quoted_key = true } else { quoted_value = true }
            }
            continue;
        } else {
            fixed.push(c);
        }
        i += 1;
    }
    (quoted_key || quoted_value).then_some((fixed, quoted_key, quoted_value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_words_are_quoted_and_nothing_else_changes() {
        let fixed = |arg: &str| quote_bare_words(arg).map(|(fixed, ..)| fixed);
        assert_eq!(fixed("{id:7}").as_deref(), Some(r#"{"id":7}"#));
        assert_eq!(
            fixed(r#"{msg: "say \"hi\" there", n: -1.5e3, ok: true, none: null, tag: x-1}"#).as_deref(),
            Some(r#"{"msg": "say \"hi\" there", "n": -1.5e3, "ok": true, "none": null, "tag": "x-1"}"#)
        );
        assert_eq!(fixed(r#"{"true": false}"#), None);
        assert_eq!(fixed("[1, 2e5]"), None);
    }

    #[test]
    fn the_hint_fits_what_the_shell_left() {
        assert_eq!(json_arg_hint("World"), r#"quote strings, for example '"World"'"#);
        assert!(json_arg_hint("{id:7}").starts_with("quote the keys,"));
        assert!(json_arg_hint("[a, b]").starts_with("quote the strings,"));
        assert!(json_arg_hint("{id:}").starts_with("object keys and strings take double quotes"));
    }
}
