//! `activity::info()`: what an execution knows about itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;

use crate::bindings::activity_host::plugin::types::ActivityInfo;
use crate::{ConversionError, Payload, payload_converter};

/// The running execution's activity info, with the Python SDK's field names.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    pub activity_id: String,
    pub activity_type: String,
    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub attempt: u32,
    pub namespace: String,
    pub task_queue: String,
    pub workflow_id: Option<String>,
    pub workflow_run_id: Option<String>,
    pub workflow_type: Option<String>,
    /// What the previous attempt last passed to [`crate::heartbeat`].
    pub heartbeat_details: Vec<Payload>,
    pub scheduled_time: SystemTime,
    pub current_attempt_scheduled_time: SystemTime,
    pub started_time: SystemTime,
    pub schedule_to_close_timeout: Option<Duration>,
    pub start_to_close_timeout: Option<Duration>,
    pub heartbeat_timeout: Option<Duration>,
    pub is_local: bool,
}

impl Info {
    /// Decodes the first heartbeat detail of the previous attempt, if it left one:
    /// the usual way to resume long work where the last attempt stopped.
    pub fn heartbeat_detail<T: DeserializeOwned>(&self) -> Result<Option<T>, ConversionError> {
        self.heartbeat_details.first().map(|p| payload_converter().from_payload(p)).transpose()
    }
}

fn time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl From<ActivityInfo> for Info {
    fn from(i: ActivityInfo) -> Self {
        Info {
            activity_id: i.activity_id,
            activity_type: i.activity_type,
            attempt: i.attempt,
            namespace: i.namespace,
            task_queue: i.task_queue,
            workflow_id: i.workflow_id,
            workflow_run_id: i.workflow_run_id,
            workflow_type: i.workflow_type,
            heartbeat_details: i.heartbeat_details,
            scheduled_time: time(i.scheduled_time_ms),
            current_attempt_scheduled_time: time(i.current_attempt_scheduled_time_ms),
            started_time: time(i.started_time_ms),
            schedule_to_close_timeout: i.schedule_to_close_timeout_ms.map(Duration::from_millis),
            start_to_close_timeout: i.start_to_close_timeout_ms.map(Duration::from_millis),
            heartbeat_timeout: i.heartbeat_timeout_ms.map(Duration::from_millis),
            is_local: i.is_local,
        }
    }
}
