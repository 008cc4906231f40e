//! How an activity fails: Temporal's `ApplicationError`.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::{Payload, bindings::activity_host::plugin::types as wit, payload_converter};

/// An activity failure as a workflow sees it: a message, a type the workflow
/// can match on, whether the server may retry, details, and an optional delay
/// before the next retry. Mirrors `temporalio.exceptions.ApplicationError`.
///
/// Any `std::error::Error` converts into one (so `?` works in an activity that
/// returns `Result<T, ApplicationError>`); its type is the error's type name.
///
/// ```ignore
/// return Err(ApplicationError::new("card declined")
///     .with_type("CardDeclined")
///     .non_retryable()
///     .with_detail(&receipt));
/// ```
#[derive(Clone, PartialEq)]
pub struct ApplicationError {
    message: String,
    error_type: String,
    non_retryable: bool,
    details: Vec<Payload>,
    next_retry_delay: Option<Duration>,
}

impl ApplicationError {
    /// A retryable failure with this message and no type.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            error_type: String::new(),
            non_retryable: false,
            details: Vec::new(),
            next_retry_delay: None,
        }
    }

    /// The error with which an activity says it stopped because it was asked
    /// to (`activity::is_cancelled()` turned true): the host then completes
    /// the task as cancelled, as a Python activity raising
    /// `temporalio.exceptions.CancelledError` would.
    pub fn cancelled() -> Self {
        ApplicationError::new("Cancelled").with_type("CancelledError")
    }

    /// Sets the type a workflow (and a retry policy's `non_retryable_error_types`) matches on.
    pub fn with_type(mut self, error_type: impl Into<String>) -> Self {
        self.error_type = error_type.into();
        self
    }

    /// Tells the server not to retry this activity, whatever its retry policy says.
    pub fn non_retryable(mut self) -> Self {
        self.non_retryable = true;
        self
    }

    /// Appends one detail, encoded with the default payload converter. A value
    /// that cannot be encoded is replaced by the reason, as a string.
    pub fn with_detail<T: Serialize + ?Sized>(mut self, detail: &T) -> Self {
        let payload = payload_converter().to_payload(detail).unwrap_or_else(|e| {
            payload_converter()
                .to_payload(&format!("detail could not be encoded: {e}"))
                .expect("a string always encodes")
        });
        self.details.push(payload);
        self
    }

    /// Appends details that are already payloads.
    pub fn with_payloads(mut self, details: impl IntoIterator<Item = Payload>) -> Self {
        self.details.extend(details);
        self
    }

    /// Overrides the retry policy's back-off for the next attempt.
    pub fn with_next_retry_delay(mut self, delay: Duration) -> Self {
        self.next_retry_delay = Some(delay);
        self
    }

    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn error_type(&self) -> &str {
        &self.error_type
    }
    pub fn is_non_retryable(&self) -> bool {
        self.non_retryable
    }
    pub fn details(&self) -> &[Payload] {
        &self.details
    }
    pub fn next_retry_delay(&self) -> Option<Duration> {
        self.next_retry_delay
    }
}

impl fmt::Debug for ApplicationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApplicationError")
            .field("message", &self.message)
            .field("type", &self.error_type)
            .field("non_retryable", &self.non_retryable)
            .field("details", &self.details.len())
            .field("next_retry_delay", &self.next_retry_delay)
            .finish()
    }
}

impl fmt::Display for ApplicationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.error_type.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.error_type, self.message)
        }
    }
}

/// Like `anyhow::Error`, `ApplicationError` is not itself a `std::error::Error`,
/// which is what lets every error type convert into it with `?`.
impl<E: std::error::Error> From<E> for ApplicationError {
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        ApplicationError::new(message).with_type(short_type_name::<E>())
    }
}

/// `std::io::Error` for `std::io::error::Error`, `Box` for `Box<dyn Error>`:
/// the name a Python author would see as the exception's class name.
fn short_type_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    let path = full.split('<').next().unwrap_or(full);
    path.rsplit("::").next().unwrap_or(path)
}

impl From<ApplicationError> for wit::ApplicationError {
    fn from(e: ApplicationError) -> Self {
        wit::ApplicationError {
            message: e.message,
            error_type: e.error_type,
            non_retryable: e.non_retryable,
            details: e.details,
            next_retry_delay_ms: e.next_retry_delay.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            stack_trace: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_errors_convert_with_their_type_name_and_causes() {
        let err: ApplicationError = "x".parse::<u32>().unwrap_err().into();
        assert_eq!(err.error_type(), "ParseIntError");
        assert_eq!(err.message(), "invalid digit found in string");
        assert!(!err.is_non_retryable());
    }

    #[test]
    fn builder_fills_every_field() {
        let e: wit::ApplicationError = ApplicationError::new("declined")
            .with_type("CardDeclined")
            .non_retryable()
            .with_detail(&42)
            .with_next_retry_delay(Duration::from_millis(1500))
            .into();
        assert_eq!(e.error_type, "CardDeclined");
        assert!(e.non_retryable);
        assert_eq!(e.details[0].data, b"42");
        assert_eq!(e.next_retry_delay_ms, Some(1500));
    }
}
