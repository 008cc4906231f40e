//! `host run`: an activity-only Temporal worker on the official core SDK.
//!
//! The high-level `temporalio-sdk` registers activities by Rust type, but
//! here names are only known when plugins load (and change when the
//! directory does), so this drives `temporalio-sdk-core` directly: poll an
//! activity task, run it through the current registry, complete it. Core
//! owns what a worker owes the server (slots, rate limits, heartbeat
//! throttling, local timeouts, graceful shutdown); this module owns the
//! executions.
//!
//! Many `host run` processes on one task queue is how to scale out: Temporal
//! spreads the tasks; nothing here coordinates with other hosts.

pub mod connection;
pub mod convert;
pub mod profile;
pub mod slots;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use temporalio_common::protos::coresdk::activity_result::activity_execution_result::Status;
use temporalio_common::protos::coresdk::activity_task::{
    ActivityCancelReason, ActivityTask, Cancel, Start, activity_task::Variant,
};
use temporalio_common::protos::coresdk::{ActivityHeartbeat, ActivityTaskCompletion};
use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_common::telemetry::TelemetryOptions;
use temporalio_common::telemetry::metrics::CoreMeter;
use temporalio_common::worker::{WorkerDeploymentOptions, WorkerDeploymentVersion, WorkerTaskTypes};
use temporalio_sdk_core::{
    CoreRuntime, PollError, PollerBehavior, RuntimeOptions, Worker, WorkerConfig, WorkerValidationError,
    WorkerVersioningStrategy,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalog::Catalog;
use crate::codec::{CODEC_ERROR, Codec};
use crate::execute::Request;
use crate::failure::{Failure, Outcome, kind};
use crate::payload::{Payload, PayloadLimits};
use crate::sandbox::HeartbeatSink;
use crate::telemetry::Telemetry;
use crate::telemetry::otel::{TRACER_HEADER, TaskIds, Tracing};
use crate::telemetry::server::Health;
pub use connection::{ConnectionSettings, Pem, TlsSettings};
pub use slots::Slots;

/// Least time an execution gets when the schedule-to-close deadline seems
/// already past (the server's clock and ours disagree).
const MIN_TIME_LEFT: Duration = Duration::from_secs(1);
/// An execution stopped at its deadline is reported this much later, by
/// when the server has timed the activity out itself: the workflow then sees
/// the server's `TimeoutError`, as it would from a native worker, rather
/// than a failure that raced it. The instance is freed at the deadline.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// How `host run` serves its task queue.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub connection: ConnectionSettings,
    pub namespace: String,
    pub task_queue: String,
    /// How many executions at once: core hands out no more tasks than its
    /// slot supplier allows, and none while executions wait for memory.
    pub slots: Slots,
    /// Activity task polls in flight at once (core's default when unset).
    pub max_activity_polls: Option<usize>,
    /// Activities this worker starts per second, at most.
    pub max_activities_per_second: Option<f64>,
    /// On shutdown, how long running executions may take before they are cancelled.
    pub graceful_shutdown_timeout: Duration,
    /// After a cancellation reaches an execution, how long it may take to
    /// stop by itself before it is interrupted.
    pub cancel_grace: Duration,
    /// Decodes what tasks bring and encodes what executions send back.
    pub codec: Option<Arc<Codec>>,
    /// What the server accepts, checked again after encoding.
    pub payload_limits: PayloadLimits,
    /// Where core's metrics and the host's own series go (`--metrics-bind`).
    pub metrics: Option<Metrics>,
    /// A Worker Deployment to join (worker versioning), with `build_id` as its version.
    pub deployment_name: Option<String>,
    /// The build this worker reports; without one, [`plugins_build_id`] of
    /// the plugins loaded at start.
    pub build_id: Option<String>,
    /// Spans for tasks that carry a trace context (`--otel-endpoint`).
    pub tracing: Tracing,
}

/// The operator's view of the worker: core's meter, the host's series and
/// the health state `/readyz` answers from (with `--metrics-bind`).
#[derive(Clone)]
pub struct Metrics {
    pub meter: Arc<dyn CoreMeter>,
    pub telemetry: Telemetry,
    pub health: Option<Arc<Health>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// An execution in flight, by task token.
struct Running {
    cancel: CancellationToken,
    interrupt: CancellationToken,
    reason: Option<ActivityCancelReason>,
}

type RunningMap = Arc<Mutex<HashMap<Vec<u8>, Running>>>;

/// Serves the task queue until `shutdown` resolves (then drains gracefully)
/// or the service refuses the worker.
pub async fn run(
    options: WorkerOptions,
    catalog: Arc<Catalog>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let telemetry = match &options.metrics {
        Some(metrics) => TelemetryOptions::builder().metrics(metrics.meter.clone()).build(),
        None => TelemetryOptions::builder().build(),
    };
    let runtime = CoreRuntime::new_assume_tokio(
        RuntimeOptions::builder()
            // No log exporter: core's tracing events go to our subscriber.
            .telemetry_options(telemetry)
            .heartbeat_interval(Some(Duration::from_secs(60)))
            .build()
            .map_err(anyhow::Error::msg)?,
    )?;
    // A stop asked for before the worker polls ends the run at once: there
    // is nothing to drain, and connecting may take a while.
    let mut shutdown = Box::pin(shutdown);
    let stopped = || tracing::info!("stopped before polling for activity tasks");
    let connection = tokio::select! {
        connection = options.connection.connect(runtime.telemetry().get_temporal_metric_meter()) => connection?,
        () = &mut shutdown => {
            stopped();
            return Ok(());
        }
    };
    let versioning = versioning(&options, &catalog);
    let config = WorkerConfig::builder()
        .namespace(options.namespace.clone())
        .task_queue(options.task_queue.clone())
        .task_types(WorkerTaskTypes::activity_only())
        .versioning_strategy(versioning.clone())
        .client_identity_override(options.connection.identity.clone())
        .tuner(options.slots.tuner(catalog.runtime().services().memory.clone()))
        .maybe_activity_task_poller_behavior(options.max_activity_polls.map(PollerBehavior::SimpleMaximum))
        .maybe_max_worker_activities_per_second(options.max_activities_per_second)
        .graceful_shutdown_period(options.graceful_shutdown_timeout)
        .build()
        .map_err(anyhow::Error::msg)?;
    let probe =
        options.metrics.as_ref().and_then(|m| m.health.clone()).map(|health| probe_service(connection.clone(), health));
    let worker = Arc::new(temporalio_sdk_core::init_worker(&runtime, config, connection)?);
    tokio::select! {
        validated = worker.validate() => {
            // Core's message prints the server's status with `Debug`; its
            // own message says it ("Namespace x is not found.").
            validated.map_err(|WorkerValidationError::NamespaceDescribeError { source, namespace }| {
                anyhow::anyhow!(
                    "the Temporal service refused the worker for namespace {namespace}: {:?}: {}",
                    source.code(),
                    source.message()
                )
            })?;
        }
        () = &mut shutdown => {
            stopped();
            return Ok(());
        }
    }
    tracing::info!(
        address = %options.connection.address,
        namespace = %options.namespace,
        task_queue = %options.task_queue,
        identity = %options.connection.identity,
        max_concurrent_activities = options.slots.max(),
        slots = %options.slots,
        build_id = versioning.build_id(),
        deployment = options.deployment_name.as_deref().unwrap_or(""),
        "worker polling for activity tasks"
    );
    let health = options.metrics.as_ref().and_then(|m| m.health.clone());
    let memory_metrics =
        options.metrics.as_ref().and_then(|m| m.telemetry.watch_memory(catalog.runtime().services().memory.clone()));
    if let Some(health) = &health {
        health.set_polling(true);
    }

    {
        let worker = worker.clone();
        let graceful = options.graceful_shutdown_timeout;
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!(
                "shutting down: no new tasks; running executions have {} to finish",
                humantime::format_duration(graceful)
            );
            worker.initiate_shutdown();
        });
    }

    let running: RunningMap = Arc::default();
    let executions = TaskTracker::new();
    let mut fatal = None;
    loop {
        match worker.poll_activity_task().await {
            Ok(ActivityTask { task_token, variant: Some(Variant::Start(start)) }) => {
                let execution = start_execution(&options, &catalog, &worker, &running, task_token, start);
                executions.spawn(execution);
            }
            Ok(ActivityTask { task_token, variant: Some(Variant::Cancel(cancel)) }) => {
                cancel_execution(&running, &task_token, &cancel, options.cancel_grace);
            }
            Ok(ActivityTask { variant: None, .. }) => {}
            Err(PollError::ShutDown) => break,
            Err(PollError::TonicError(status)) => {
                tracing::error!(code = ?status.code(), "polling failed: {}; shutting down", status.message());
                if fatal.is_some() {
                    break;
                }
                fatal = Some(anyhow::anyhow!("polling for activity tasks failed: {}", status.message()));
                worker.initiate_shutdown();
            }
        }
    }
    if let Some(health) = &health {
        health.set_polling(false);
    }
    for task in [probe, memory_metrics].into_iter().flatten() {
        task.abort();
    }
    executions.close();
    executions.wait().await;
    worker.shutdown().await;
    if let Ok(worker) = Arc::try_unwrap(worker) {
        worker.finalize_shutdown().await;
    }
    tracing::info!("worker stopped");
    fatal.map_or(Ok(()), Err)
}

/// Turns a task into an execution future that completes the task when the
/// execution has ended, never before.
fn start_execution(
    options: &WorkerOptions,
    catalog: &Catalog,
    worker: &Arc<Worker>,
    running: &RunningMap,
    task_token: Vec<u8>,
    mut start: Start,
) -> impl Future<Output = ()> + Send + 'static {
    let registry = catalog.registry();
    let info = convert::info(&mut start, &options.namespace, &options.task_queue);
    let args: Vec<Payload> = std::mem::take(&mut start.input).into_iter().map(convert::payload_from_proto).collect();
    let timeout = convert::time_left(&info, SystemTime::now(), MIN_TIME_LEFT);
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let (cancel, interrupt) = (CancellationToken::new(), CancellationToken::new());
    running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(task_token.clone(), Running { cancel: cancel.clone(), interrupt: interrupt.clone(), reason: None });
    let stop = Stop { cancel: cancel.clone(), interrupt: interrupt.clone(), grace: options.cancel_grace };
    let heartbeats = Heartbeats::new(worker, &task_token, options.codec.clone(), options.payload_limits, stop);
    let header = start.header_fields.get(TRACER_HEADER).cloned().map(convert::payload_from_proto);
    let trace = options.tracing.run_activity(
        header.as_ref(),
        TaskIds {
            activity_type: &info.activity_type,
            activity_id: &info.activity_id,
            workflow_id: info.workflow_id.as_deref(),
            run_id: info.workflow_run_id.as_deref(),
        },
    );
    let request = Request {
        info,
        args,
        timeout,
        heartbeat: heartbeats.sink(),
        cancel: cancel.clone(),
        interrupt: interrupt.clone(),
        trace: trace.clone(),
    };
    let (worker, running, codec, limits) =
        (worker.clone(), running.clone(), options.codec.clone(), options.payload_limits);
    let telemetry = options.metrics.as_ref().map(|m| m.telemetry.clone()).unwrap_or_default();

    async move {
        let (activity_type, activity_id, attempt) =
            (request.info.activity_type.clone(), request.info.activity_id.clone(), request.info.attempt);
        tracing::debug!(activity = %activity_type, activity_id, attempt, "activity started");
        let started = Instant::now();
        let mut outcome = match codec.as_deref() {
            Some(codec) => match decoded(codec, request).await {
                Ok(request) => registry.execute(request).await,
                Err(failure) => Outcome::Failed(failure),
            },
            None => registry.execute(request).await,
        };
        if let (Some(deadline), Outcome::Failed(f)) = (deadline, &outcome)
            && f.error_type == kind::TIMEOUT
        {
            tokio::time::sleep_until(deadline + DEADLINE_MARGIN).await;
        }
        // A heartbeat the codec could not encode fails the attempt, as in
        // the Python SDK; the others are recorded before the completion.
        if let Some(failure) = heartbeats.finish().await {
            outcome = Outcome::Failed(failure);
        }
        if let Some(codec) = &codec {
            outcome = codec.encode_outcome(outcome, &limits).await;
        }
        if let Some(span) = trace {
            span.end(&outcome);
        }
        let reason = running.lock().unwrap_or_else(|p| p.into_inner()).remove(&task_token).and_then(|r| r.reason);
        let took = started.elapsed();
        if telemetry.is_on() {
            let plugin = registry.resolve(&activity_type).map(|p| p.name().to_string()).unwrap_or_default();
            telemetry.execution(&plugin, &activity_type, &outcome, took);
        }
        let took_ms = took.as_millis() as u64;
        let interrupted = matches!(outcome, Outcome::Cancelled(_));
        let result = convert::completion(outcome, reason);
        match &result.status {
            Some(Status::Completed(_)) => {
                tracing::debug!(activity = %activity_type, activity_id, attempt, took_ms, "activity completed")
            }
            Some(Status::Failed(failed)) => {
                let failure = failed.failure.clone().unwrap_or_default();
                let error_type = match failure.failure_info {
                    Some(FailureInfo::ApplicationFailureInfo(info)) => info.r#type,
                    _ => String::new(),
                };
                tracing::warn!(
                    activity = %activity_type, activity_id, attempt, took_ms, error_type,
                    "activity failed: {}", failure.message
                )
            }
            _ => tracing::info!(
                activity = %activity_type, activity_id, attempt, took_ms, ?reason,
                "activity cancelled ({})",
                if interrupted { "interrupted after the grace period" } else { "it stopped by itself" }
            ),
        }
        let completion = ActivityTaskCompletion { task_token, result: Some(result) };
        if let Err(e) = worker.complete_activity_task(completion).await {
            tracing::error!(activity = %activity_type, activity_id, "cannot complete the activity task: {e}");
        }
    }
}

/// Tells a running execution that the server wants it stopped, and
/// interrupts it if it is still running after the grace period.
fn cancel_execution(running: &RunningMap, task_token: &[u8], cancel: &Cancel, grace: Duration) {
    let reason = cancel.reason();
    let mut running = running.lock().unwrap_or_else(|p| p.into_inner());
    let Some(execution) = running.get_mut(task_token) else {
        tracing::debug!(?reason, "cancellation for an execution that already ended");
        return;
    };
    tracing::info!(?reason, "cancellation requested; interrupting in {}", humantime::format_duration(grace));
    execution.reason = Some(reason);
    execution.cancel.cancel();
    let interrupt = execution.interrupt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        interrupt.cancel();
    });
}

/// Temporal's worker versioning for `host run`'s flags: a deployment
/// version when a deployment is named, else just a build id that names the
/// worker to the server.
fn versioning(options: &WorkerOptions, catalog: &Catalog) -> WorkerVersioningStrategy {
    let build_id = options.build_id.clone().unwrap_or_else(|| plugins_build_id(&catalog.registry()));
    match &options.deployment_name {
        Some(deployment_name) => WorkerVersioningStrategy::WorkerDeploymentBased(
            WorkerDeploymentOptions::new(
                WorkerDeploymentVersion::builder().deployment_name(deployment_name.clone()).build_id(build_id).build(),
            )
            .use_worker_versioning(true)
            .build(),
        ),
        None => WorkerVersioningStrategy::None { build_id },
    }
}

/// The build id of a host that was given none: `plugins-` and the first 16
/// hex digits of a BLAKE3 digest over the plugin files loaded at start
/// (their names and contents, in file name order), so that two hosts with
/// the same plugins report the same build. A plugin added or replaced
/// later does not change it until the host restarts.
pub fn plugins_build_id(registry: &crate::registry::Registry) -> String {
    let mut hasher = blake3::Hasher::new();
    let mut plugins: Vec<_> = registry.plugins().iter().collect();
    plugins.sort_by(|a, b| a.name().cmp(b.name()));
    for plugin in plugins {
        hasher.update(plugin.name().as_bytes());
        hasher.update(&[0]);
        match std::fs::read(plugin.path()) {
            Ok(bytes) => hasher.update(blake3::hash(&bytes).as_bytes()),
            Err(_) => hasher.update(b"unreadable"),
        };
    }
    format!("plugins-{}", &hasher.finalize().to_hex()[..16])
}

/// How often `/readyz` learns whether the Temporal service answers.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// Asks the service's gRPC health check every [`PROBE_INTERVAL`]: core
/// retries polls quietly while the server is away, so the worker's own
/// progress says nothing about it.
fn probe_service(connection: temporalio_client::Connection, health: Arc<Health>) -> tokio::task::JoinHandle<()> {
    use temporalio_common::protos::grpc::health::v1::{HealthCheckRequest, health_check_response::ServingStatus};
    tokio::spawn(async move {
        let mut service = connection.health_service();
        loop {
            let request = temporalio_client::tonic::Request::new(HealthCheckRequest {
                service: "temporal.api.workflowservice.v1.WorkflowService".into(),
            });
            let probe = match tokio::time::timeout(PROBE_INTERVAL, service.check(request)).await {
                Ok(Ok(answer)) if answer.get_ref().status() == ServingStatus::Serving => Ok(()),
                Ok(Ok(answer)) => Err(format!("it reports {:?}", answer.get_ref().status())),
                Ok(Err(status)) => Err(status.message().to_string()),
                Err(_) => Err(format!("no answer within {}s", PROBE_INTERVAL.as_secs())),
            };
            health.set_service(probe);
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    })
}

/// The request with its arguments and heartbeat details decoded.
async fn decoded(codec: &Codec, mut request: Request) -> Result<Request, Failure> {
    let args = std::mem::take(&mut request.args);
    let details = std::mem::take(&mut request.info.heartbeat_details);
    let (args, details) = codec.decode_input(args, details).await?;
    request.args = args;
    request.info.heartbeat_details = details;
    Ok(request)
}

/// How to stop an execution: ask, then interrupt after the grace period.
struct Stop {
    cancel: CancellationToken,
    interrupt: CancellationToken,
    grace: Duration,
}

impl Stop {
    fn now(&self) {
        self.cancel.cancel();
        let (interrupt, grace) = (self.interrupt.clone(), self.grace);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            interrupt.cancel();
        });
    }
}

/// Where an execution's heartbeats go: straight to core without a codec;
/// with one, through a queue that encodes them in order off the guest's
/// thread (a codec server is a network round trip away). The first that
/// cannot be encoded stops the execution and fails the attempt, as a
/// heartbeat error does in the Python SDK.
struct Heartbeats {
    sink: HeartbeatSink,
    encoder: Option<Encoder>,
}

/// The task that encodes and records an execution's heartbeats, and the
/// failure that stopped it, if one did.
struct Encoder {
    task: tokio::task::JoinHandle<()>,
    failed: Arc<Mutex<Option<Failure>>>,
}

impl Heartbeats {
    fn new(
        worker: &Arc<Worker>,
        task_token: &[u8],
        codec: Option<Arc<Codec>>,
        limits: PayloadLimits,
        stop: Stop,
    ) -> Heartbeats {
        let worker: Weak<Worker> = Arc::downgrade(worker);
        let task_token = task_token.to_vec();
        let record = move |details: Vec<Payload>| {
            if let Some(worker) = worker.upgrade() {
                worker.record_activity_heartbeat(ActivityHeartbeat {
                    task_token: task_token.clone(),
                    details: details.into_iter().map(convert::payload_to_proto).collect(),
                });
            }
        };
        let Some(codec) = codec else {
            return Heartbeats { sink: Arc::new(record), encoder: None };
        };
        let (sender, mut queue) = tokio::sync::mpsc::unbounded_channel::<Vec<Payload>>();
        let failed: Arc<Mutex<Option<Failure>>> = Arc::default();
        let task = {
            let failed = failed.clone();
            tokio::spawn(async move {
                while let Some(details) = queue.recv().await {
                    let encoded = match codec.encode(details).await {
                        Ok(encoded) => limits.check(&encoded, "the encoded heartbeat details").map(|()| encoded),
                        Err(e) => Err(Failure::new(CODEC_ERROR, format!("cannot encode the heartbeat details: {e}"))),
                    };
                    match encoded {
                        Ok(encoded) => record(encoded),
                        Err(failure) => {
                            tracing::warn!("heartbeat not sent, stopping the execution: {}", failure.message);
                            *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(failure);
                            stop.now();
                            break;
                        }
                    }
                }
            })
        };
        // After a failure the queue is closed and later details are moot.
        let sink: HeartbeatSink = Arc::new(move |details| drop(sender.send(details)));
        Heartbeats { sink, encoder: Some(Encoder { task, failed }) }
    }

    fn sink(&self) -> HeartbeatSink {
        self.sink.clone()
    }

    /// Once the execution has ended (and dropped its sink): waits for the
    /// queue to drain, and returns the failure if a heartbeat was not sent.
    async fn finish(self) -> Option<Failure> {
        let Encoder { task, failed } = self.encoder?;
        drop(self.sink);
        let _ = task.await;
        failed.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}
