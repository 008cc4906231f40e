//! The same function registered under a custom activity type.
//!
//! ```python
//! @activity.defn(name="my-activity")
//! async def say_hello_activity(name: str) -> str:
//!     return f"Hello, {name}!"
//! ```

#[activity::defn(name = "my-activity")]
fn say_hello_activity(name: String) -> String {
    format!("Hello, {name}!")
}

activity::export!(say_hello_activity);
