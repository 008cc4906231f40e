//! The flags, grouped as `--help` shows them.

use std::path::PathBuf;
use std::time::Duration;

use activity_host::codec::CodecOptions;
use activity_host::outbound_http::HttpClientOptions;
use activity_host::outbound_pg::PgPoolOptions;
use activity_host::payload::PayloadLimits;
use activity_host::worker::Slots;
use activity_host::{Limits, ServiceOptions};
use bytesize::ByteSize;
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use temporalio_client::GrpcCompression;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub plugins: PluginDir,
    /// The Temporal frontend, HOST:PORT [default: the profile's, else 127.0.0.1:7233].
    #[arg(long, value_name = "HOST:PORT", env = "TEMPORAL_ADDRESS")]
    pub address: Option<String>,
    /// [default: the profile's, else default]
    #[arg(long, value_name = "NS", env = "TEMPORAL_NAMESPACE")]
    pub namespace: Option<String>,
    /// The profile of Temporal's configuration file to connect with, as the
    /// Temporal CLI reads it [default: "default", when the file has one].
    #[arg(long, value_name = "NAME", env = "TEMPORAL_PROFILE")]
    pub profile: Option<String>,
    /// Temporal's configuration file [default: ~/.config/temporalio/temporal.toml].
    #[arg(long, value_name = "FILE", env = "TEMPORAL_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,
    /// The task queue to poll.
    #[arg(long, value_name = "TQ", env = "TEMPORAL_TASK_QUEUE")]
    pub task_queue: String,
    /// Activities this host starts per second, at most.
    #[arg(long, value_name = "R")]
    pub max_activities_per_second: Option<f64>,
    /// On SIGINT/SIGTERM, how long running executions may take to finish before they are cancelled.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub graceful_shutdown_timeout: Duration,
    /// After a cancellation reaches an execution, how long it may take to stop before it is interrupted.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub cancel_grace: Duration,
    /// Join this Worker Deployment (Temporal's worker versioning), as the
    /// version --build-id names.
    #[arg(long, value_name = "NAME", env = "TEMPORAL_DEPLOYMENT_NAME")]
    pub deployment_name: Option<String>,
    /// The build this worker is [default: a digest of the plugins loaded at start].
    #[arg(long, value_name = "ID", env = "TEMPORAL_WORKER_BUILD_ID")]
    pub build_id: Option<String>,
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
    /// Serve Prometheus metrics (`/metrics`) and health probes (`/healthz`,
    /// `/readyz`) on this address.
    #[arg(long, value_name = "HOST:PORT", env = "ACTIVITY_HOST_METRICS_BIND")]
    pub metrics_bind: Option<std::net::SocketAddr>,
    /// Export traces (for tasks a workflow traced) and, without
    /// --metrics-bind, the metrics to this OpenTelemetry collector, over
    /// OTLP/HTTP (`URL/v1/traces`, `URL/v1/metrics`).
    #[arg(long, value_name = "URL", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otel_endpoint: Option<String>,
    #[command(flatten)]
    pub capacity: CapacityArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub services: ServiceArgs,
    #[command(flatten)]
    pub codec: CodecArgs,
}

/// How much work one host takes on: slots, as the Temporal SDKs' worker
/// tuners, and the memory all guests share.
#[derive(Debug, Args)]
#[command(next_help_heading = "Capacity (how much work this host takes on)")]
pub struct CapacityArgs {
    /// Executions running at once on this host.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_concurrent_activities: u32,
    /// Take tasks while the host's memory use stays below this fraction
    /// (0-1), with --target-cpu-usage: Temporal's resource-based slots,
    /// instead of --max-concurrent-activities.
    #[arg(
        long,
        value_name = "F",
        env = "ACTIVITY_HOST_TARGET_MEMORY_USAGE",
        value_parser = fraction,
        requires = "target_cpu_usage",
        conflicts_with = "max_concurrent_activities"
    )]
    pub target_memory_usage: Option<f64>,
    /// Take tasks while the host's CPU use stays below this fraction (0-1),
    /// with --target-memory-usage.
    #[arg(
        long,
        value_name = "F",
        env = "ACTIVITY_HOST_TARGET_CPU_USAGE",
        value_parser = fraction,
        requires = "target_memory_usage",
        conflicts_with = "max_concurrent_activities"
    )]
    pub target_cpu_usage: Option<f64>,
    /// All guest memory together: every instance's memories and tables, and
    /// what the instance pool keeps resident [default: the host's cgroup
    /// limit, else the machine's memory, less an eighth (128 MiB-1 GiB) for
    /// the host itself].
    #[arg(long, value_name = "SIZE", env = "ACTIVITY_HOST_MAX_MEMORY")]
    pub max_memory: Option<ByteSize>,
    /// Activity task polls in flight at once [default: core's, 5].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub max_concurrent_activity_polls: Option<u32>,
}

impl CapacityArgs {
    pub(super) fn slots(&self) -> Slots {
        match (self.target_memory_usage, self.target_cpu_usage) {
            (Some(target_memory_usage), Some(target_cpu_usage)) => {
                Slots::ResourceBased { target_memory_usage, target_cpu_usage }
            }
            _ => Slots::Fixed(self.max_concurrent_activities as usize),
        }
    }
}

/// A fraction in (0, 1], as the SDKs' resource-based tuner takes.
fn fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        Ok(_) => Err("must be a fraction greater than 0 and at most 1, such as 0.8".into()),
        Err(_) => Err(format!("expected a fraction such as 0.8, got {text:?}")),
    }
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
#[command(next_help_heading = "Compilation cache")]
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
    pub(super) fn dir(&self) -> Option<PathBuf> {
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
    pub(super) fn options(&self) -> ServiceOptions {
        ServiceOptions {
            http: HttpClientOptions { ca_file: self.http_ca_file.clone() },
            postgres: PgPoolOptions { ca_file: self.postgres_ca_file.clone() },
            max_memory: None,
            telemetry: Default::default(),
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
    pub(super) fn limits(&self) -> Limits {
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
            // Reuse is each plugin author's choice, made in its manifest.
            reuse: activity_host::instances::Reuse::FRESH,
        }
    }
}

/// A payload codec, as the Temporal SDKs' `PayloadCodec`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Payload codec (decodes inputs, encodes results and failures, as a native worker's)")]
pub struct CodecArgs {
    /// A codec server, with the protocol the Temporal UI and CLI use
    /// (`POST URL/encode` and `URL/decode`).
    #[arg(long, value_name = "URL", env = "TEMPORAL_CODEC_ENDPOINT", conflicts_with = "codec_plugin")]
    pub codec_endpoint: Option<String>,
    /// The `Authorization` header sent to the codec server, verbatim.
    #[arg(
        long,
        value_name = "VALUE",
        env = "TEMPORAL_CODEC_AUTH",
        hide_env_values = true,
        requires = "codec_endpoint"
    )]
    pub codec_auth: Option<String>,
    /// Another header sent to the codec server (repeatable).
    #[arg(long, value_name = "NAME=VALUE", value_parser = header_pair, requires = "codec_endpoint")]
    pub codec_header: Vec<(String, String)>,
    /// A codec plugin: a component of the `codec-plugin` world, granted
    /// (its key, in `[env]`) by the manifest beside it.
    #[arg(long, value_name = "FILE.wasm", env = "ACTIVITY_HOST_CODEC_PLUGIN")]
    pub codec_plugin: Option<PathBuf>,
    /// Encode failures' messages and stack traces too (into their encoded
    /// attributes, as the SDKs' `encode_common_attributes`).
    #[arg(long)]
    pub codec_failure_attributes: bool,
}

fn header_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {text:?}")),
    }
}

impl CodecArgs {
    pub(super) fn options(&self) -> CodecOptions {
        CodecOptions {
            endpoint: self.codec_endpoint.clone(),
            auth: self.codec_auth.clone(),
            headers: self.codec_header.clone(),
            plugin: self.codec_plugin.clone(),
            failure_attributes: self.codec_failure_attributes,
        }
    }
}
