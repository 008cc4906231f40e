//! Temporal's protos ↔ the host's types: a task's `Start` becomes the
//! execution's `info()` and arguments; an `Outcome` becomes the completion a
//! native worker would send.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use temporalio_common::protos::coresdk::activity_result::ActivityExecutionResult;
use temporalio_common::protos::coresdk::activity_task::{ActivityCancelReason, Start};
use temporalio_common::protos::temporal::api::common::v1::{Payload as ProtoPayload, Payloads};
use temporalio_common::protos::temporal::api::enums::v1::ApplicationErrorCategory;
use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_common::protos::temporal::api::failure::v1::{
    ApplicationFailureInfo, CanceledFailureInfo, Failure as ProtoFailure,
};

use crate::bindings::types::ActivityInfo;
use crate::failure::{Failure, Outcome};
use crate::payload::Payload;

/// The failure type with which a guest says "I stopped because I was
/// cancelled" (Python's `temporalio.exceptions.CancelledError`): after a
/// cancellation request it completes the task as cancelled.
pub const CANCELLED_ERROR: &str = "CancelledError";

pub fn payload_from_proto(p: ProtoPayload) -> Payload {
    let mut metadata: Vec<(String, Vec<u8>)> = p.metadata.into_iter().collect();
    metadata.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Payload { metadata, data: p.data }
}

pub fn payload_to_proto(p: Payload) -> ProtoPayload {
    ProtoPayload { metadata: p.metadata.into_iter().collect::<HashMap<_, _>>(), data: p.data, ..Default::default() }
}

/// (Generic so as not to name `prost_wkt_types`, which core does not re-export.)
fn millis<T>(t: Option<T>) -> u64
where
    SystemTime: TryFrom<T>,
{
    t.and_then(|t| SystemTime::try_from(t).ok())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

/// A timeout, or `None` when unset or zero (as the Python SDK reads them).
pub fn duration<T>(d: Option<T>) -> Option<Duration>
where
    Duration: TryFrom<T>,
{
    d.and_then(|d| Duration::try_from(d).ok()).filter(|d| !d.is_zero())
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// `info()` for a task, taking the payloads out of `start`.
pub fn info(start: &mut Start, namespace: &str, task_queue: &str) -> ActivityInfo {
    let execution = start.workflow_execution.clone().unwrap_or_default();
    ActivityInfo {
        activity_id: start.activity_id.clone(),
        activity_type: start.activity_type.clone(),
        attempt: start.attempt,
        namespace: non_empty(&start.workflow_namespace).unwrap_or_else(|| namespace.to_string()),
        task_queue: task_queue.to_string(),
        workflow_id: non_empty(&execution.workflow_id),
        workflow_run_id: non_empty(&execution.run_id),
        workflow_type: non_empty(&start.workflow_type),
        heartbeat_details: std::mem::take(&mut start.heartbeat_details).into_iter().map(payload_from_proto).collect(),
        scheduled_time_ms: millis(start.scheduled_time),
        current_attempt_scheduled_time_ms: millis(start.current_attempt_scheduled_time),
        started_time_ms: millis(start.started_time),
        schedule_to_close_timeout_ms: duration(start.schedule_to_close_timeout).map(|d| d.as_millis() as u64),
        start_to_close_timeout_ms: duration(start.start_to_close_timeout).map(|d| d.as_millis() as u64),
        heartbeat_timeout_ms: duration(start.heartbeat_timeout).map(|d| d.as_millis() as u64),
        is_local: start.is_local,
    }
}

/// How long an execution may run: until the start-to-close timeout, or the
/// schedule-to-close deadline if that comes first. The server's clock set
/// the scheduled time, so the remaining time is floored at `floor` rather
/// than letting clock skew stop an execution before it starts.
pub fn time_left(info: &ActivityInfo, now: SystemTime, floor: Duration) -> Option<Duration> {
    let start_to_close = info.start_to_close_timeout_ms.map(Duration::from_millis);
    let schedule_to_close = info.schedule_to_close_timeout_ms.map(|t| {
        let deadline = UNIX_EPOCH + Duration::from_millis(info.scheduled_time_ms + t);
        deadline.duration_since(now).unwrap_or_default().max(floor)
    });
    match (start_to_close, schedule_to_close) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn application_failure(f: Failure) -> ProtoFailure {
    ProtoFailure {
        message: f.message,
        stack_trace: f.stack_trace,
        encoded_attributes: f.encoded_attributes.map(|p| payload_to_proto(*p)),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(ApplicationFailureInfo {
            r#type: f.error_type,
            non_retryable: f.non_retryable,
            details: (!f.details.is_empty())
                .then(|| Payloads { payloads: f.details.into_iter().map(payload_to_proto).collect() }),
            next_retry_delay: f.next_retry_delay.and_then(|d| d.try_into().ok()),
            category: ApplicationErrorCategory::Unspecified as i32,
        })),
        ..Default::default()
    }
}

fn cancelled(
    message: &str,
    details: Vec<Payload>,
    encoded_attributes: Option<Box<Payload>>,
) -> ActivityExecutionResult {
    ActivityExecutionResult::cancel(ProtoFailure {
        message: message.to_string(),
        encoded_attributes: encoded_attributes.map(|p| payload_to_proto(*p)),
        failure_info: Some(FailureInfo::CanceledFailureInfo(CanceledFailureInfo {
            details: (!details.is_empty())
                .then(|| Payloads { payloads: details.into_iter().map(payload_to_proto).collect() }),
            ..Default::default()
        })),
        ..Default::default()
    })
}

/// The completion for an outcome, as the Python SDK's worker would send it:
/// a stop after a cancellation request completes as cancelled, except when
/// the activity was paused or reset, which fail with `ActivityPause` /
/// `ActivityReset`; a result or another failure is reported as it is.
pub fn completion(outcome: Outcome, cancel_reason: Option<ActivityCancelReason>) -> ActivityExecutionResult {
    let stopped = match &outcome {
        Outcome::Cancelled(_) => true,
        Outcome::Failed(f) => cancel_reason.is_some() && f.error_type == CANCELLED_ERROR,
        Outcome::Completed(_) => false,
    };
    if stopped {
        match cancel_reason {
            Some(ActivityCancelReason::Paused) => {
                return ActivityExecutionResult::fail(application_failure(Failure::new(
                    "ActivityPause",
                    "Unhandled activity cancel error produced by activity pause",
                )));
            }
            Some(ActivityCancelReason::Reset) => {
                return ActivityExecutionResult::fail(application_failure(Failure::new(
                    "ActivityReset",
                    "Unhandled activity cancel error produced by activity reset",
                )));
            }
            _ => {}
        }
    }
    match outcome {
        Outcome::Completed(payload) => ActivityExecutionResult::ok(payload_to_proto(payload)),
        Outcome::Failed(failure) if stopped => cancelled(&failure.message, failure.details, failure.encoded_attributes),
        Outcome::Failed(failure) => ActivityExecutionResult::fail(application_failure(failure)),
        Outcome::Cancelled(reason) => cancelled(&reason, Vec::new(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_common::protos::coresdk::activity_result::activity_execution_result::Status;

    fn info_with(start_to_close: Option<u64>, schedule_to_close: Option<u64>, scheduled: u64) -> ActivityInfo {
        let mut start = Start::default();
        let mut i = info(&mut start, "default", "tq");
        i.start_to_close_timeout_ms = start_to_close;
        i.schedule_to_close_timeout_ms = schedule_to_close;
        i.scheduled_time_ms = scheduled;
        i
    }

    #[test]
    fn the_earlier_deadline_wins() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let floor = Duration::from_secs(1);
        assert_eq!(time_left(&info_with(Some(10_000), None, 0), now, floor), Some(Duration::from_secs(10)));
        // Scheduled 995 s after the epoch with 30 s to close: 25 s left.
        assert_eq!(
            time_left(&info_with(Some(60_000), Some(30_000), 995_000), now, floor),
            Some(Duration::from_secs(25))
        );
        // Already past (skew): the floor.
        assert_eq!(time_left(&info_with(None, Some(1_000), 0), now, floor), Some(floor));
        assert_eq!(time_left(&info_with(None, None, 0), now, floor), None);
    }

    #[test]
    fn failures_keep_every_application_field() {
        let mut f = Failure::new("CardDeclined", "declined");
        f.non_retryable = true;
        f.details = vec![Payload::json(&serde_json::json!(51))];
        f.next_retry_delay = Some(Duration::from_secs(3));
        let Some(Status::Failed(failed)) = completion(Outcome::Failed(f), None).status else { panic!() };
        let failure = failed.failure.unwrap();
        assert_eq!(failure.message, "declined");
        let Some(FailureInfo::ApplicationFailureInfo(info)) = failure.failure_info else { panic!() };
        assert_eq!(info.r#type, "CardDeclined");
        assert!(info.non_retryable);
        assert_eq!(info.details.unwrap().payloads[0].data, b"51");
        assert_eq!(Duration::try_from(info.next_retry_delay.unwrap()).unwrap(), Duration::from_secs(3));
    }

    #[test]
    fn cancellation_outcomes_follow_the_reason() {
        let stop = || Outcome::Failed(Failure::new(CANCELLED_ERROR, "Cancelled"));
        let status = |o, r| completion(o, r).status.unwrap();
        assert!(matches!(status(stop(), Some(ActivityCancelReason::Cancelled)), Status::Cancelled(_)));
        assert!(matches!(status(Outcome::Cancelled("x".into()), None), Status::Cancelled(_)));
        // Without a request, a CancelledError is just a failure.
        assert!(matches!(status(stop(), None), Status::Failed(_)));
        let Status::Failed(paused) = status(stop(), Some(ActivityCancelReason::Paused)) else { panic!() };
        let Some(FailureInfo::ApplicationFailureInfo(info)) = paused.failure.unwrap().failure_info else { panic!() };
        assert_eq!(info.r#type, "ActivityPause");
        // An activity that finished its work despite the request completes.
        let done = Outcome::Completed(Payload::json(&serde_json::json!("done")));
        assert!(matches!(status(done, Some(ActivityCancelReason::Cancelled)), Status::Completed(_)));
    }
}
