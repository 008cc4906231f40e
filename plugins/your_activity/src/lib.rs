//! One structured parameter, as the Temporal docs recommend.
//!
//! ```python
//! @activity.defn(name="your_activity")
//! async def your_activity(input: YourParams) -> str:
//!     return f"{input.greeting}, {input.name}!"
//! ```

use serde::Deserialize;

/// The docs' `YourParams` dataclass.
#[derive(Deserialize)]
struct YourParams {
    greeting: String,
    name: String,
}

#[activity::defn(name = "your_activity")]
fn your_activity(input: YourParams) -> String {
    format!("{}, {}!", input.greeting, input.name)
}

activity::export!(your_activity);
