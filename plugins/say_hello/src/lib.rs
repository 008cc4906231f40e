//! The Temporal docs' first activity: registered under its function's name.
//!
//! ```python
//! @activity.defn
//! async def say_hello_activity(name: str) -> str:
//!     return f"Hello, {name}!"
//! ```

#[activity::defn]
fn say_hello_activity(name: String) -> String {
    format!("Hello, {name}!")
}

activity::export!(say_hello_activity);
