//! How an execution ends, in the terms a Temporal workflow sees.

use std::fmt;
use std::time::Duration;

use crate::bindings::types::ApplicationError;
use crate::payload::{self, Payload};

/// The end of one execution.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The activity returned this payload.
    Completed(Payload),
    /// The activity failed: its own `application-error`, or a failure the host
    /// reports on its behalf (a trap, a timeout, an unknown activity type).
    Failed(Failure),
    /// The execution was cancelled by the server and stopped (on its own, or
    /// interrupted after the grace period).
    Cancelled(String),
}

/// An activity failure, shaped like Temporal's `ApplicationFailureInfo` so
/// that a workflow in any SDK sees an `ApplicationError` with this type,
/// message, details and retry behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub message: String,
    /// What a workflow (or a retry policy's `non_retryable_error_types`) matches on.
    pub error_type: String,
    pub non_retryable: bool,
    pub details: Vec<Payload>,
    pub next_retry_delay: Option<Duration>,
    /// Where the failure came from, when the host knows more than the message
    /// says: the guest's stderr before a trap, the WebAssembly backtrace.
    pub stack_trace: String,
    /// The message and stack trace, encoded by the payload codec when it
    /// moves them out of clear text (`--codec-failure-attributes`).
    pub encoded_attributes: Option<Box<Payload>>,
}

/// Failure types the host gives to failures it reports on a plugin's behalf.
pub mod kind {
    /// No plugin registers the activity type and there is no dynamic entry.
    pub const NOT_FOUND: &str = "NotFoundError";
    /// The guest panicked (Rust) or otherwise aborted with a message on stderr.
    pub const PANIC: &str = "Panic";
    /// The execution outlived its deadline and was interrupted.
    pub const TIMEOUT: &str = "Timeout";
    /// The guest needed more linear memory than its limit allows.
    pub const OUT_OF_MEMORY: &str = "OutOfMemory";
    /// The guest exhausted its WebAssembly stack.
    pub const STACK_OVERFLOW: &str = "StackOverflow";
    /// The guest used up the fuel it was granted.
    pub const OUT_OF_FUEL: &str = "OutOfFuel";
    /// Any other trap (an `unreachable`, an out-of-bounds access, a host error).
    pub const TRAP: &str = "Trap";
    /// Arguments, a result, failure details or heartbeat details over Temporal's size limits.
    pub const PAYLOADS_TOO_LARGE: &str = "PayloadsTooLarge";
    /// The plugin returned something a Temporal payload cannot carry.
    pub const INVALID_PAYLOAD: &str = "InvalidPayload";
    /// The sandbox could not be set up as granted (a granted directory vanished).
    pub const SANDBOX: &str = "SandboxError";
}

/// `32 MiB` for whole mebibytes (limits usually are), `32.1 MiB` otherwise.
pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        bytesize::ByteSize(bytes).display().iec().to_string()
    }
}

impl Failure {
    /// A retryable failure of this type.
    pub fn new(error_type: &str, message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            error_type: error_type.to_string(),
            non_retryable: false,
            details: Vec::new(),
            next_retry_delay: None,
            stack_trace: String::new(),
            encoded_attributes: None,
        }
    }

    /// The failure for an activity type nothing registers, in the Python SDK's words.
    pub fn not_found(activity_type: &str, workflow_id: Option<&str>, available: &[&str]) -> Self {
        let workflow = workflow_id.map(|id| format!(" for workflow {id}")).unwrap_or_default();
        Failure::new(
            kind::NOT_FOUND,
            format!(
                "Activity function {activity_type}{workflow} is not registered on this worker, \
                 available activities: {}",
                available.join(", ")
            ),
        )
    }
}

impl From<ApplicationError> for Failure {
    fn from(e: ApplicationError) -> Self {
        Failure {
            message: e.message,
            error_type: e.error_type,
            non_retryable: e.non_retryable,
            details: e.details,
            next_retry_delay: e.next_retry_delay_ms.map(Duration::from_millis),
            stack_trace: e.stack_trace,
            encoded_attributes: None,
        }
    }
}

impl fmt::Display for Failure {
    /// One block a person reads: the message, then the fields that matter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "activity failed: {}", self.message)?;
        writeln!(f, "  type: {}", self.error_type)?;
        write!(f, "  non-retryable: {}", self.non_retryable)?;
        if !self.details.is_empty() {
            write!(f, "\n  details: [{}]", payload::describe(&self.details))?;
        }
        if let Some(attributes) = &self.encoded_attributes {
            write!(f, "\n  encoded attributes: {}", payload::describe(std::slice::from_ref(&**attributes)))?;
        }
        if let Some(delay) = self.next_retry_delay {
            write!(f, "\n  next retry delay: {}", humantime::format_duration(delay))?;
        }
        if !self.stack_trace.is_empty() {
            write!(f, "\n  stack trace:")?;
            for line in self.stack_trace.lines() {
                write!(f, "\n    {line}")?;
            }
        }
        Ok(())
    }
}
