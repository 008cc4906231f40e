//! One execution: an instance of a loaded plugin, one call, an outcome.
//!
//! By default nothing survives from one execution to the next: each gets its
//! own store, WASI context and instance, dropped when the call returns, traps,
//! times out or is interrupted. A plugin whose manifest reuses instances gets
//! one that served earlier executions and returned cleanly (see `instances`);
//! one that did not return is dropped all the same.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use wasmtime::Trap;

use wasmtime::Store;

use crate::bindings;
use crate::bindings::types::{ActivityDefinition, ActivityInfo, ApplicationError};
use crate::failure::{Failure, Outcome, kind};
use crate::instances::Warm;
use crate::memory::Grant;
use crate::output::Origin;
use crate::payload::{Payload, PayloadLimits};
use crate::plugin::Plugin;
use crate::sandbox::{ExecutionContext, HeartbeatSink, Refused, Sandbox, Stop};
use crate::telemetry::otel::{ActivitySpan, end_child};

/// What to run, with everything the execution may learn or be told.
pub struct Request {
    /// `info()` for the guest; its `activity_type` picks the entry.
    pub info: ActivityInfo,
    /// One payload per positional argument, passed through untouched.
    pub args: Vec<Payload>,
    /// How long the execution may run; `None` for the plugin's default.
    pub timeout: Option<Duration>,
    pub heartbeat: HeartbeatSink,
    /// Cancellation requested: `is-cancelled()` turns true, the guest may stop.
    pub cancel: CancellationToken,
    /// Stop now: the instance is dropped and the outcome is `Cancelled`.
    pub interrupt: CancellationToken,
    /// The task's `RunActivity` span, when it is traced: the execution's
    /// own spans hang from it and its log lines carry its trace id.
    pub trace: Option<ActivitySpan>,
}

impl Request {
    /// A request outside any workflow (`host call`, tests, benchmarks): the
    /// first attempt of a standalone activity, heartbeats only logged.
    pub fn local(activity_type: &str, args: Vec<Payload>) -> Request {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        Request {
            info: ActivityInfo {
                activity_id: format!("local-{}-{now}", std::process::id()),
                activity_type: activity_type.to_string(),
                attempt: 1,
                namespace: "default".into(),
                task_queue: "local".into(),
                workflow_id: None,
                workflow_run_id: None,
                workflow_type: None,
                heartbeat_details: Vec::new(),
                scheduled_time_ms: now,
                current_attempt_scheduled_time_ms: now,
                started_time_ms: now,
                schedule_to_close_timeout_ms: None,
                start_to_close_timeout_ms: None,
                heartbeat_timeout_ms: None,
                is_local: false,
            },
            args,
            timeout: None,
            heartbeat: Arc::new(|details: Vec<Payload>| {
                tracing::debug!(details = %crate::payload::describe(&details), "heartbeat");
            }),
            cancel: CancellationToken::new(),
            interrupt: CancellationToken::new(),
            trace: None,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self.info.start_to_close_timeout_ms = Some(timeout.as_millis() as u64);
        self
    }
}

/// Which export to call.
pub(crate) enum Call {
    Definitions,
    Execute,
}

/// What the export returned.
pub(crate) enum Returned {
    Definitions(Vec<ActivityDefinition>),
    Executed(Result<Payload, ApplicationError>),
}

/// How the race between the call, the deadline and an interrupt ended.
enum Ended {
    Returned(wasmtime::Result<Returned>),
    Deadline,
    Interrupted,
}

impl Plugin {
    /// Runs the entry for `request.info.activity_type` in a fresh instance.
    pub async fn execute(&self, request: Request) -> Outcome {
        let payloads = self.limits().payloads;
        if let Err(failure) = payloads.check(&request.args, "the arguments") {
            return Outcome::Failed(failure);
        }
        match self.run(request, Call::Execute).await {
            Ok(Returned::Executed(Ok(payload))) => {
                match checked(&payloads, std::slice::from_ref(&payload), "the result") {
                    Ok(()) => Outcome::Completed(payload),
                    Err(failure) => Outcome::Failed(failure),
                }
            }
            Ok(Returned::Executed(Err(error))) => match checked(&payloads, &error.details, "the failure's details") {
                Ok(()) => Outcome::Failed(error.into()),
                Err(failure) => Outcome::Failed(failure),
            },
            Ok(Returned::Definitions(_)) => unreachable!("execute() returns a result"),
            Err(outcome) => outcome,
        }
    }

    /// Instantiates, calls, and turns every way of not returning into an `Outcome`.
    pub(crate) async fn run(&self, request: Request, call: Call) -> Result<Returned, Outcome> {
        let Request { info, args, timeout, heartbeat, cancel, interrupt, trace } = request;
        let timeout = self.limits().timeout_for(timeout);
        let deadline = Instant::now() + timeout;
        let activity_type = info.activity_type.clone();
        let origin = Origin {
            plugin: self.name_arc(),
            activity_type: activity_type.as_str().into(),
            activity_id: info.activity_id.as_str().into(),
            telemetry: self.services().telemetry.clone(),
            trace_id: trace.as_ref().map(|t| t.trace_id().into()),
        };
        let context = ExecutionContext { info, heartbeat, cancel };
        let warm = match call {
            Call::Execute => self.instances().take(),
            Call::Definitions => None,
        };
        let (mut store, guest, served) = match warm {
            Some(Warm { mut store, guest, served }) => {
                store.data_mut().begin(self.limits(), origin, context, deadline, interrupt.clone());
                if let Some(fuel) = self.limits().fuel {
                    store.set_fuel(fuel).expect("fuel is enabled on engines of plugins with a fuel limit");
                }
                store.set_epoch_deadline(1);
                (store, Some(guest), served)
            }
            None => {
                let memory = self.admit(timeout, deadline, &interrupt).await?;
                let store = Sandbox::store(
                    self.pre().engine(),
                    self.grants(),
                    self.services(),
                    self.limits(),
                    origin,
                    context,
                    deadline,
                    interrupt.clone(),
                    memory,
                )
                .map_err(Outcome::Failed)?;
                (store, None, 0)
            }
        };

        let mut instantiation = None;
        let mut kept = None;
        let work = async {
            let guest = match guest {
                Some(guest) => guest,
                None => {
                    let started = Instant::now();
                    let span = trace.as_ref().map(|t| t.child("instantiate"));
                    let instance = self.pre().instantiate_async(&mut store).await;
                    if let Some(span) = span {
                        end_child(span, &instance);
                    }
                    let instance = instance?;
                    instantiation = Some(started.elapsed());
                    instance
                }
            };
            let activities = guest.activity_host_plugin_activities();
            let span = trace.as_ref().map(|t| t.child("execute"));
            let returned = match call {
                Call::Definitions => activities.call_definitions(&mut store).await.map(Returned::Definitions),
                Call::Execute => {
                    activities.call_execute(&mut store, &activity_type, &args).await.map(Returned::Executed)
                }
            };
            if let Some(span) = span {
                end_child(span, &returned);
            }
            kept = Some(guest);
            returned
        };
        // A busy guest is stopped inside wasm by the epoch callback; these
        // arms stop one that waits in the host (a sleep, a socket).
        let ended = tokio::select! {
            biased;
            returned = work => Ended::Returned(returned),
            () = tokio::time::sleep_until(deadline.into()) => Ended::Deadline,
            () = interrupt.cancelled() => Ended::Interrupted,
        };
        self.learn_memory(store.data().limiter.high_water());
        let telemetry = &self.services().telemetry;
        if let (true, Call::Execute) = (telemetry.is_on(), &call) {
            let fuel = self.limits().fuel.map(|given| given - store.get_fuel().unwrap_or(given));
            let peak = store.data().limiter.grant().peak();
            telemetry.instance(self.name(), &activity_type, instantiation, peak, fuel);
        }
        let stderr = store.data().capture.finish();
        let error = match ended {
            Ended::Returned(Ok(returned)) => {
                if let (Call::Execute, Some(guest)) = (call, kept) {
                    self.keep(store, guest, served + 1, &returned);
                }
                return Ok(returned);
            }
            Ended::Returned(Err(error)) => Some(error),
            Ended::Deadline | Ended::Interrupted => None,
        };
        Err(classify(error, store.data(), &interrupt, timeout, &stderr))
    }
}

impl Plugin {
    /// Waits until the memory a fresh instance of this plugin is expected to
    /// need fits the host's budget, within the execution's own deadline.
    async fn admit(
        &self,
        timeout: Duration,
        deadline: Instant,
        interrupt: &CancellationToken,
    ) -> Result<Grant, Outcome> {
        let budget = &self.services().memory;
        tokio::select! {
            biased;
            grant = budget.admit(self.expected_memory()) => Ok(grant),
            () = tokio::time::sleep_until(deadline.into()) => {
                let waited = humantime::format_duration(Duration::from_millis(timeout.as_millis() as u64));
                Err(Outcome::Failed(Failure::new(
                    kind::TIMEOUT,
                    format!(
                        "the execution waited {waited} for guest memory and was not started: the host's budget \
                         of {} was in use by other executions",
                        crate::failure::size(budget.total())
                    ),
                )))
            }
            () = interrupt.cancelled() => {
                Err(Outcome::Cancelled("the execution was cancelled while it waited for guest memory".into()))
            }
        }
    }

    /// Keeps an instance that returned for the plugin's next execution, if
    /// its manifest reuses instances and this one is still fit to serve.
    fn keep(&self, mut store: Store<Sandbox>, guest: bindings::Plugin, served: u32, returned: &Returned) {
        let reuse = self.instances().reuse();
        if !reuse.is_on() {
            return;
        }
        let failed = matches!(returned, Returned::Executed(Err(_)));
        let grown = reuse.high_water.is_some_and(|mark| store.data().memory_used() > mark);
        if (failed && reuse.discard_after_failure) || grown {
            return;
        }
        store.data_mut().end();
        self.instances().put(Warm { store, guest, served });
    }
}

/// What a guest returned, checked before anything goes to the server:
/// well-formed payloads within Temporal's size limits.
fn checked(limits: &PayloadLimits, payloads: &[Payload], what: &str) -> Result<(), Failure> {
    for payload in payloads {
        payload.validate().map_err(|reason| {
            Failure::new(kind::INVALID_PAYLOAD, format!("the plugin returned a bad payload in {what}: {reason}"))
        })?;
    }
    limits.check(payloads, what)
}

/// Names what stopped an execution that did not return.
fn classify(
    error: Option<wasmtime::Error>,
    sandbox: &Sandbox,
    interrupt: &CancellationToken,
    timeout: Duration,
    stderr: &str,
) -> Outcome {
    if let Some(Stop(failure)) = error.as_ref().and_then(|e| e.downcast_ref::<Stop>()) {
        return Outcome::Failed(failure.clone());
    }
    let trap = error.as_ref().and_then(|e| e.downcast_ref::<Trap>().copied());
    let interrupted = error.is_none() || trap == Some(Trap::Interrupt);
    if interrupted && interrupt.is_cancelled() {
        return Outcome::Cancelled("the execution was cancelled and did not stop within the grace period".into());
    }

    let mut failure = if interrupted {
        let ran = humantime::format_duration(Duration::from_millis(timeout.as_millis() as u64));
        Failure::new(kind::TIMEOUT, format!("the execution exceeded its timeout of {ran} and was stopped"))
    } else if let Some(Refused::Plugin { asked }) = sandbox.limiter.refused {
        Failure::new(
            kind::OUT_OF_MEMORY,
            format!(
                "the plugin exceeded its memory limit of {} (it asked for {})",
                crate::failure::size(sandbox.limiter.limit()),
                crate::failure::size(asked)
            ),
        )
    } else if let Some(Refused::Host { asked }) = sandbox.limiter.refused {
        let budget = sandbox.limiter.grant().budget();
        Failure::new(
            kind::OUT_OF_MEMORY,
            format!(
                "the host's guest memory budget of {} is in use by other executions: the plugin asked for {} \
                 (within its own limit of {}); a later attempt may fit",
                crate::failure::size(budget.total()),
                crate::failure::size(asked),
                crate::failure::size(sandbox.limiter.limit()),
            ),
        )
    } else if trap == Some(Trap::StackOverflow) {
        Failure::new(kind::STACK_OVERFLOW, "the plugin overflowed its WebAssembly stack")
    } else if trap == Some(Trap::OutOfFuel) {
        Failure::new(kind::OUT_OF_FUEL, "the plugin used up its fuel")
    } else if let Some(panic) = rust_panic(stderr) {
        Failure::new(kind::PANIC, panic)
    } else {
        let mut message = match (trap, &error) {
            (Some(trap), _) => format!("the plugin trapped: {trap}"),
            (None, Some(error)) => format!("the plugin failed: {}", one_line(error)),
            (None, None) => unreachable!("no error means a deadline or an interrupt"),
        };
        if let Some(last) = stderr.lines().rev().find(|l| !l.trim().is_empty()) {
            message.push_str(&format!(" (last line on stderr: {})", last.trim()));
        }
        Failure::new(kind::TRAP, message)
    };

    failure.stack_trace = stderr.trim().to_string();
    if let Some(backtrace) = error.as_ref().and_then(|e| e.downcast_ref::<wasmtime::WasmBacktrace>()) {
        if !failure.stack_trace.is_empty() {
            failure.stack_trace.push('\n');
        }
        failure.stack_trace.push_str(&short_backtrace(backtrace));
    }
    Outcome::Failed(failure)
}

/// Frames kept in a failure's stack trace: the innermost ones say where it
/// happened; a stack overflow would otherwise repeat one frame thousands of times.
const MAX_FRAMES: usize = 16;

fn short_backtrace(backtrace: &wasmtime::WasmBacktrace) -> String {
    let text = backtrace.to_string();
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let mut out = lines.iter().take(MAX_FRAMES + 1).copied().collect::<Vec<_>>().join("\n");
    if lines.len() > MAX_FRAMES + 1 {
        out.push_str(&format!("\n    ... {} more lines", lines.len() - MAX_FRAMES - 1));
    }
    out
}

fn one_line(error: &wasmtime::Error) -> String {
    format!("{error:#}").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Finds the last Rust panic on stderr and renders it as Rust does in one
/// line: `panicked at src/lib.rs:10:5: the message`.
fn rust_panic(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at ")?;
    let rest = &stderr[start + "panicked at ".len()..];
    let (location, message) = rest.split_once(":\n").unwrap_or((rest.trim_end(), ""));
    let message = message.split("\nnote: run with `RUST_BACKTRACE").next().unwrap_or("").trim();
    Some(if message.is_empty() {
        format!("panicked at {}", location.trim())
    } else {
        format!("panicked at {}: {}", location.trim(), message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_panic_message_on_stderr() {
        let stderr = "some output\n\nthread '<unnamed>' panicked at src/lib.rs:10:5:\nthe card was declined\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(rust_panic(stderr).unwrap(), "panicked at src/lib.rs:10:5: the card was declined");
        assert_eq!(rust_panic("just a log line\n"), None);
        let multi = "thread 'main' panicked at a.rs:1:1:\nline one\nline two\n";
        assert_eq!(rust_panic(multi).unwrap(), "panicked at a.rs:1:1: line one\nline two");
    }
}
