//! {{name}}: Temporal activities, built into a WebAssembly plugin for activity-host.

use activity::ApplicationError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, Serialize)]
pub struct ComposeGreetingInput {
    pub greeting: String,
    pub name: String,
}

/// Registered as "compose_greeting", the function's name; a workflow calls it
/// with one argument, `{"greeting": "Hello", "name": "World"}`.
#[activity::defn]
fn compose_greeting(input: ComposeGreetingInput) -> Result<String, ApplicationError> {
    if input.name.is_empty() {
        return Err(ApplicationError::new("no name to greet").with_type("InvalidInput").non_retryable());
    }
    Ok(format!("{}, {}!", input.greeting, input.name))
}

// Every activity of the crate, once: without it the plugin offers nothing.
activity::export!(compose_greeting);

// The activity's own logic runs natively under `cargo test`. What needs the
// host (`activity::info()`, heartbeats, logging, HTTP) is tried with
// `host call` on the built plugin.
#[cfg(test)]
mod tests {
    use super::*;

    fn input(greeting: &str, name: &str) -> ComposeGreetingInput {
        ComposeGreetingInput { greeting: greeting.into(), name: name.into() }
    }

    #[test]
    fn composes_the_greeting() {
        assert_eq!(compose_greeting(input("Hello", "World")).unwrap(), "Hello, World!");
    }

    #[test]
    fn an_empty_name_fails_for_good() {
        let error = compose_greeting(input("Hello", "")).unwrap_err();
        assert_eq!(error.error_type(), "InvalidInput");
        assert!(error.is_non_retryable());
    }
}
