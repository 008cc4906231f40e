//! The dynamic activity: called for every activity type no plugin registers.
//!
//! ```python
//! @activity.defn(dynamic=True)
//! async def dynamic_greeting(args: Sequence[RawValue]) -> str:
//!     arg1 = activity.payload_converter().from_payload(args[0].payload, YourDataClass)
//!     return (
//!         f"{arg1.greeting}, {arg1.name}!\nActivity Type: {activity.info().activity_type}"
//!     )
//! ```

use activity::{ApplicationError, RawValue};
use serde::Deserialize;

#[derive(Deserialize)]
struct YourParams {
    greeting: String,
    name: String,
}

#[activity::defn(dynamic)]
fn dynamic_greeting(args: Vec<RawValue>) -> Result<String, ApplicationError> {
    let first = args.first().ok_or_else(|| {
        ApplicationError::new("dynamic_greeting takes one YourParams argument, none was given").with_type("IndexError")
    })?;
    let arg1: YourParams = activity::payload_converter().from_payload(&first.payload)?;
    Ok(format!("{}, {}!\nActivity Type: {}", arg1.greeting, arg1.name, activity::info().activity_type))
}

activity::export!(dynamic_greeting);
