//! `host run`: the worker, its signals and its exit code.

use activity_host::catalog::Catalog;
use activity_host::codec::Codec;
use activity_host::engine::EngineOptions;
use activity_host::payload::PayloadLimits;
use activity_host::telemetry::Telemetry;
use activity_host::telemetry::otel::Otel;
use activity_host::watch;
use activity_host::worker::connection::default_identity;
use activity_host::worker::{self, ConnectionSettings, Metrics, Pem, TlsSettings, WorkerOptions, profile};
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::args::RunArgs;
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, runtime};
use crate::logging::{self, eprintln_safe};

pub(super) async fn serve(args: RunArgs) -> u8 {
    let mut signals = match Signals::listen() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln_safe!("error: cannot listen for SIGINT and SIGTERM: {e}");
            return EXIT_USAGE;
        }
    };
    let profile = match profile::load(args.profile.as_deref(), args.config_file.as_deref()) {
        Ok(profile) => profile,
        Err(e) => {
            eprintln_safe!("error: {e:#}");
            return EXIT_USAGE;
        }
    };
    let mut codec_options = args.codec.options();
    if let Some(codec) = &profile.codec
        && codec_options.plugin.is_none()
        && codec_options.endpoint.is_none()
    {
        codec_options.endpoint = codec.endpoint.clone();
        codec_options.auth = codec_options.auth.or(codec.auth.clone());
    }
    let mut connection = ConnectionSettings {
        address: String::new(),
        identity: args.identity.unwrap_or_else(default_identity),
        tls: TlsSettings {
            enabled: args.tls,
            cert: args.tls_cert.map(Pem::from),
            key: args.tls_key.map(Pem::from),
            ca: args.tls_ca.map(Pem::from),
            server_name: args.tls_server_name,
        },
        api_key: args.api_key,
        headers: Default::default(),
        compression: args.grpc_compression,
    };
    let namespace = match profile::apply(profile, &mut connection, args.address, args.namespace) {
        Ok(namespace) => namespace,
        Err(e) => {
            eprintln_safe!("error: {e:#}");
            return EXIT_USAGE;
        }
    };
    let mut options = WorkerOptions {
        connection,
        namespace,
        task_queue: args.task_queue,
        slots: args.capacity.slots(),
        max_activity_polls: args.capacity.max_concurrent_activity_polls.map(|n| n as usize),
        max_activities_per_second: args.max_activities_per_second,
        graceful_shutdown_timeout: args.graceful_shutdown_timeout,
        cancel_grace: args.cancel_grace,
        codec: None,
        payload_limits: PayloadLimits::default(),
        metrics: None,
        deployment_name: args.deployment_name,
        build_id: args.build_id,
        tracing: Default::default(),
    };
    if let Some(bind) = args.metrics_bind {
        match activity_host::telemetry::server::start(bind).await {
            Ok(server) => {
                tracing::info!(address = %server.address, "serving /metrics, /healthz and /readyz");
                options.metrics =
                    Some(Metrics { meter: server.meter, telemetry: server.telemetry, health: Some(server.health) });
            }
            Err(e) => {
                eprintln_safe!("error: {e:#}");
                return EXIT_USAGE;
            }
        }
    }
    let otel = match args.otel_endpoint.as_deref().map(Otel::start).transpose() {
        Ok(otel) => otel,
        Err(e) => {
            eprintln_safe!("error: {e:#}");
            return EXIT_USAGE;
        }
    };
    if let Some((otel, meter)) = &otel {
        options.tracing = otel.tracing();
        // Prometheus, when asked for too, keeps the metrics: core takes one meter.
        if options.metrics.is_none() {
            options.metrics =
                Some(Metrics { meter: meter.clone(), telemetry: Telemetry::new(meter.clone()), health: None });
        }
        tracing::info!(
            endpoint = args.otel_endpoint.as_deref().unwrap_or_default(),
            metrics = args.metrics_bind.is_none(),
            "exporting traces{} over OTLP/HTTP",
            if args.metrics_bind.is_none() { " and metrics" } else { "" }
        );
    }
    // Every execution in flight holds an instance, loads need a few more, and
    // reusing plugins keep a bounded number idle.
    let engine = EngineOptions {
        max_instances: options.slots.max() as u32 + 32 + activity_host::instances::IDLE_INSTANCES as u32,
        cache_dir: args.cache.dir(),
        ..EngineOptions::default()
    };
    let mut services = args.services.options();
    services.max_memory = args.capacity.max_memory.map(|m| m.as_u64());
    if let Some(metrics) = &options.metrics {
        services.telemetry = metrics.telemetry.clone();
    }
    let runtime = match runtime(engine, args.limits.limits(), &services) {
        Ok(r) => r,
        Err(code) => return code,
    };
    tracing::info!(allocation = ?runtime.allocation(), "WebAssembly engine ready");
    let memory = &runtime.services().memory;
    tracing::info!(
        budget = memory.total(),
        pools = memory.total() - memory.capacity(),
        "guest memory budget {} from {}",
        activity_host::memory::limit::size(memory.total()),
        memory.source()
    );
    options.payload_limits = runtime.limits().payloads;
    options.codec = match Codec::from_options(&codec_options, &runtime, &options.namespace).await {
        Ok(codec) => codec,
        Err(e) => {
            eprintln_safe!("error: {e:#}");
            return EXIT_USAGE;
        }
    };
    if let Some(codec) = &options.codec {
        tracing::info!(failure_attributes = args.codec.codec_failure_attributes, "payload codec: {}", codec.describe());
    }
    let dir = args.plugins.dir;
    let opened = tokio::select! {
        opened = Catalog::open(runtime, &dir) => opened,
        () = signals.next() => {
            tracing::info!("stopped while loading the plugins");
            return EXIT_OK;
        }
    };
    let catalog = match opened {
        Ok(c) => {
            if let Some(health) = options.metrics.as_ref().and_then(|m| m.health.as_ref()) {
                health.set_catalog(c.clone());
            }
            c
        }
        Err(e) => {
            eprintln_safe!("error: cannot read plugin directory {}: {e}", dir.display());
            return EXIT_USAGE;
        }
    };
    if catalog.registry().plugins().is_empty() {
        tracing::warn!(dir = %dir.display(), "no plugin loaded yet: tasks fail with NotFoundError until one is added");
    }
    let _watch = watch::watch(catalog.clone());
    let ran = worker::run(options, catalog, shutdown_signal(signals)).await;
    if let Some((otel, _)) = otel {
        // The batch exporter flushes with a blocking HTTP client.
        let _ = tokio::task::spawn_blocking(move || otel.shutdown()).await;
    }
    match ran {
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
        std::process::exit(super::EXIT_INTERRUPTED.into());
    });
}
