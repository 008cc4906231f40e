//! Command-line interface: argument parsing, exit codes and output.
//!
//! Exit codes: 0 success; 1 the activity failed or was cancelled (`call`), or
//! a file was refused (`check`); 2 bad usage, or a plugin directory that
//! cannot be read (clap uses 2 for usage errors too).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use activity_host::engine::EngineOptions;
use activity_host::registry::{Registry, dynamic_name};
use activity_host::{Limits, Outcome, Payload, Request, Runtime};
use bytesize::ByteSize;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

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
        /// After Ctrl-C asks the activity to stop, how long it may take before
        /// it is interrupted.
        #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
        cancel_grace: Duration,
    },
    /// List every registered activity type, its plugin, and refused plugins.
    List {
        #[command(flatten)]
        plugins: PluginDir,
    },
    /// Validate plugin files and show what each offers or why it is refused.
    ///
    /// Files are checked together, in the order given, with the same rules as
    /// a plugin directory (no name twice, at most one dynamic activity).
    Check {
        /// Plugin files.
        #[arg(value_name = "FILE.wasm", required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct PluginDir {
    /// The plugin directory (`DIR/*.wasm`).
    #[arg(long = "plugins", value_name = "DIR", env = "ACTIVITY_HOST_PLUGINS", default_value = "plugins")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct LimitArgs {
    /// How long an execution may run before it is stopped.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Linear memory one instance may use.
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    pub memory_limit: ByteSize,
    /// Bytes of stdout, stderr and log records per execution that reach the log.
    #[arg(long, value_name = "SIZE", default_value = "1MiB")]
    pub max_output: ByteSize,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits { memory: self.memory_limit.as_u64(), timeout: self.timeout, output: self.max_output.as_u64() as usize }
    }
}

impl Command {
    /// A single-threaded runtime: these commands run one thing at a time,
    /// and compilation happens on tokio's blocking threads anyway.
    pub fn tokio_runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    }

    /// Log filter when `RUST_LOG` is unset: the plugin's own output and
    /// warnings for `call`, only errors for the listing commands (whose
    /// output already says what was refused).
    fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Call { .. } => "warn,plugin=info",
            Command::List { .. } | Command::Check { .. } => "error",
        }
    }
}

/// Logs go to stderr, so that stdout carries only results.
pub fn init_logging(command: &Command) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(command.default_log_filter()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

pub async fn run(command: Command) -> u8 {
    match command {
        Command::Call { name, args, plugins, limits, cancel_grace } => {
            call(name, args, plugins.dir, limits.limits(), cancel_grace).await
        }
        Command::List { plugins } => list(plugins.dir).await,
        Command::Check { files } => check(files).await,
    }
}

fn local_runtime(limits: Limits) -> Result<Arc<Runtime>, u8> {
    let options = EngineOptions { max_instances: 16, ..EngineOptions::default() };
    Runtime::new(&options, limits).map_err(|e| {
        eprintln!("error: {e:#}");
        EXIT_USAGE
    })
}

async fn load_dir(runtime: &Arc<Runtime>, dir: &std::path::Path) -> Result<Registry, u8> {
    runtime.load_dir(dir).await.map_err(|e| {
        eprintln!("error: cannot read plugin directory {}: {e}", dir.display());
        EXIT_USAGE
    })
}

async fn call(name: String, args: Vec<String>, dir: PathBuf, limits: Limits, cancel_grace: Duration) -> u8 {
    let mut payloads = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        match Payload::from_json_arg(arg) {
            Ok(p) => payloads.push(p),
            Err(e) => {
                eprintln!(
                    "error: argument {} is not JSON ({e}): {arg}; quote strings, for example '\"{arg}\"'",
                    i + 1
                );
                return EXIT_USAGE;
            }
        }
    }
    let timeout = limits.timeout;
    let runtime = match local_runtime(limits) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let registry = match load_dir(&runtime, &dir).await {
        Ok(r) => r,
        Err(code) => return code,
    };

    let request = Request::local(&name, payloads).with_timeout(timeout);
    let (cancel, interrupt) = (request.cancel.clone(), request.interrupt.clone());
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling {name}; interrupting it in {}", humantime::format_duration(cancel_grace));
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
            println!("{}", payload.to_json_text());
            EXIT_OK
        }
        Outcome::Failed(failure) => {
            eprintln!("{failure}");
            EXIT_FAILED
        }
        Outcome::Cancelled(reason) => {
            eprintln!("activity cancelled: {reason}");
            EXIT_FAILED
        }
    }
}

async fn list(dir: PathBuf) -> u8 {
    let runtime = match local_runtime(Limits::default()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let registry = match load_dir(&runtime, &dir).await {
        Ok(r) => r,
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
        println!("no activities registered from {}", dir.display());
    } else {
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max("ACTIVITY".len());
        println!("{:width$}  {:8}  PLUGIN", "ACTIVITY", "KIND");
        for (name, kind, path) in &rows {
            println!("{name:width$}  {kind:8}  {path}");
        }
    }
    if !registry.refused().is_empty() {
        println!("\nrefused:");
        for refusal in registry.refused() {
            println!("{}: {}", refusal.path.display(), refusal.reason);
        }
    }
    EXIT_OK
}

async fn check(files: Vec<PathBuf>) -> u8 {
    let runtime = match local_runtime(Limits::default()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let loaded = runtime.load_all(files.clone()).await;
    let registry = Registry::build(loaded);
    let mut refused = false;
    for file in &files {
        if let Some(refusal) = registry.refused().iter().find(|r| &r.path == file) {
            println!("{}: refused: {}", file.display(), refusal.reason);
            refused = true;
        } else if let Some(plugin) = registry.plugins().iter().find(|p| p.path() == file) {
            let offers: Vec<String> = plugin
                .definitions()
                .iter()
                .map(|d| if d.dynamic { format!("{} (dynamic)", d.name) } else { d.name.clone() })
                .collect();
            println!(
                "{}: ok: {} (loaded in {} ms)",
                file.display(),
                offers.join(", "),
                plugin.load_time().as_millis()
            );
        }
    }
    if refused { EXIT_FAILED } else { EXIT_OK }
}
