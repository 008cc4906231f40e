//! Command-line interface: argument parsing, exit codes and output.
//!
//! Exit codes: 0 success; 1 the activity failed or was cancelled (`call`), or
//! something offered was not served (`list`, `check`: a refused plugin file
//! or a dropped dynamic activity), so that scripts and CI notice, though
//! everything that loaded is printed first; 2 bad usage, or a plugin
//! directory that cannot be read (clap uses 2 for usage errors too).
//! `run` exits 0 after a shutdown by signal, whatever became of its log.

mod args;
mod json_hint;
mod local;
mod new;
mod serve;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use activity_host::engine::EngineOptions;
use activity_host::{Limits, Runtime, ServiceOptions, Services};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::logging::{self, eprintln_safe};
use args::{CacheArgs, CodecArgs, LimitArgs, PluginDir, RunArgs, ServiceArgs};
use local::Local;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
/// 128 + SIGINT, as a shell reports a command Ctrl-C stopped: `host call`
/// after Ctrl-C cancelled its activity, `host run` after a second signal.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Run Temporal activities compiled to WebAssembly components.
///
/// Drop plugin files (`*.wasm` components of the activity-host:plugin world)
/// into a directory; every execution runs in a fresh, sandboxed instance.
#[derive(Debug, Parser)]
#[command(name = "host", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How log lines on stderr are written: for people, or one JSON object
    /// per line for a log pipeline.
    #[arg(long, global = true, value_enum, value_name = "FORMAT", env = "ACTIVITY_HOST_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once per process: a large variant costs nothing.
#[allow(clippy::large_enum_variant)]
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
        /// Each JSON_ARG is a Temporal payload in proto3 JSON
        /// (`{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}`, as
        /// `temporal workflow show --output json` prints them), and so is the
        /// result: with a codec, what a workflow sends and receives.
        #[arg(long)]
        payloads: bool,
        /// After Ctrl-C asks the activity to stop, how long it may take before
        /// it is interrupted.
        #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
        cancel_grace: Duration,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        cache: CacheArgs,
        #[command(flatten)]
        services: ServiceArgs,
        #[command(flatten)]
        codec: CodecArgs,
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
    /// Create a plugin project: an example activity with its test, a manifest and a README.
    ///
    /// LANGUAGE is rust, python, js or ts. The project builds with the guest
    /// SDK and tools of an activity-host checkout (--sdk), and its README says
    /// how to build, test and drop in the plugin.
    New(new::NewArgs),
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
            Command::List { .. } | Command::Check { .. } | Command::New(_) => "error",
        }
    }
}

/// Logs go to stderr, so that stdout carries only results. A worker's log
/// goes through a queue, so that a stalled or vanished reader of stderr
/// never holds up serving or shutdown (see [`logging`]).
pub fn init_logging(command: &Command, format: LogFormat) {
    logging::init(match command {
        Command::Run(_) => logging::Mode::Queued,
        _ => logging::Mode::Direct,
    });
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(command.default_log_filter()));
    let subscriber =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(logging::Stderr).log_internal_errors(false);
    match format {
        LogFormat::Text => subscriber.with_ansi(std::io::stderr().is_terminal()).init(),
        // The text form's fields, as keys; the span's fields flattened in.
        LogFormat::Json => subscriber.json().flatten_event(true).with_current_span(false).init(),
    }
}

pub async fn run(command: Command) -> u8 {
    match command {
        Command::Run(args) => serve::serve(*args).await,
        Command::Call { name, args, plugins, limits, cache, services, codec, payloads, cancel_grace } => {
            let local = Local { limits: limits.limits(), cache_dir: cache.dir(), services: services.options() };
            let call = local::CallArgs { name, args, payloads, codec: codec.options(), cancel_grace };
            local::call(call, plugins.dir, local).await
        }
        Command::List { plugins, limits, cache } => local::list(plugins.dir, Local::new(limits, cache)).await,
        Command::Check { paths, limits, cache } => local::check(paths, Local::new(limits, cache)).await,
        Command::New(args) => new::new(args),
    }
}

/// The WebAssembly runtime, or exit 2 with the reason.
pub(super) fn runtime(options: EngineOptions, limits: Limits, services: &ServiceOptions) -> Result<Arc<Runtime>, u8> {
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
