//! The differential test's activities in Rust (tests/e2e/test_differential.py):
//! the same names and behaviour as tests/plugins/python/diff_activities.py,
//! written as a Rust author writes them with the guest SDK.

use std::time::Duration;

use activity::{ApplicationError, RawValue};
use serde_json::{Value, json};

#[activity::defn]
fn diff_add(a: i64, b: i64) -> i64 {
    a + b
}

#[activity::defn]
fn diff_greet(name: String, punctuation: Option<String>) -> String {
    format!("Hello, {name}{}", punctuation.filter(|p| !p.is_empty()).as_deref().unwrap_or("!"))
}

#[activity::defn]
fn diff_nothing() {}

#[activity::defn]
fn diff_bytes(text: String) -> activity::Bytes {
    activity::Bytes(text.into_bytes())
}

#[activity::defn]
fn diff_object() -> Value {
    json!({"b": 1, "a": {"d": [1, 2, -3], "c": null}, "text": "héllo ✓ \"quoted\"\n", "yes": true})
}

#[activity::defn]
fn diff_fail(message: String) -> Result<String, ApplicationError> {
    Err(ApplicationError::new(message)
        .with_type("CardDeclined")
        .non_retryable()
        .with_detail(&json!({"code": 51}))
        .with_detail("second detail")
        .with_next_retry_delay(Duration::from_secs(3)))
}

/// Fails the way code in the language fails by itself.
#[activity::defn]
fn diff_crash(message: String) -> String {
    panic!("{message}")
}

/// Fails every attempt before the third, retryably.
#[activity::defn]
fn diff_flaky() -> Result<String, ApplicationError> {
    let attempt = activity::info().attempt;
    if attempt < 3 {
        return Err(ApplicationError::new(format!("attempt {attempt} fails")).with_type("Flaky").with_detail(&attempt));
    }
    Ok(format!("succeeded on attempt {attempt}"))
}

/// Heartbeats on its first attempt and fails; the next one reports what
/// that heartbeat left.
#[activity::defn]
fn diff_resume(progress: String) -> Result<String, ApplicationError> {
    let info = activity::info();
    if info.attempt == 1 {
        activity::heartbeat(&progress);
        return Err(ApplicationError::new("first attempt stops after its heartbeat").with_type("Flaky"));
    }
    let previous: Option<String> = info.heartbeat_detail()?;
    Ok(format!("attempt {} resumed from {}", info.attempt, previous.unwrap_or_default()))
}

#[activity::defn]
fn diff_info() -> Value {
    let i = activity::info();
    let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
    let details: Vec<Value> = i
        .heartbeat_details
        .iter()
        .map(|p| activity::payload_converter().from_payload(p).unwrap_or(Value::Null))
        .collect();
    json!({
        "activity_type": i.activity_type,
        "attempt": i.attempt,
        "task_queue": i.task_queue,
        "namespace": i.workflow_id.as_ref().map(|_| i.namespace.clone()),
        "workflow_type": i.workflow_type,
        "is_local": i.is_local,
        "heartbeat_details": details,
        "heartbeat_timeout_ms": ms(i.heartbeat_timeout),
        "schedule_to_close_timeout_ms": ms(i.schedule_to_close_timeout),
        "start_to_close_timeout_ms": ms(i.start_to_close_timeout),
    })
}

/// Heartbeats until cancelled; the cancellation ends it.
#[activity::defn]
fn diff_wait_cancel() -> Result<String, ApplicationError> {
    while !activity::is_cancelled() {
        activity::heartbeat("waiting");
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(ApplicationError::cancelled())
}

#[activity::defn]
fn diff_sleep(millis: u64) -> String {
    std::thread::sleep(Duration::from_millis(millis));
    format!("slept {millis} ms")
}

#[activity::defn(dynamic)]
fn diff_dynamic(args: Vec<RawValue>) -> Result<Value, ApplicationError> {
    let converter = activity::payload_converter();
    let values = args.iter().map(|a| converter.from_payload::<Value>(&a.payload)).collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"activity_type": activity::info().activity_type, "args": values}))
}

activity::export!(
    diff_add,
    diff_greet,
    diff_nothing,
    diff_bytes,
    diff_object,
    diff_fail,
    diff_crash,
    diff_flaky,
    diff_resume,
    diff_info,
    diff_wait_cancel,
    diff_sleep,
    diff_dynamic
);
