//! The runtime behind `#[activity::defn]` and `activity::export!`.

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::bindings;
pub use crate::bindings::activity_host::plugin::types::{ActivityDefinition, ApplicationError as WitApplicationError};
pub use crate::bindings::exports::activity_host::plugin::activities::Guest;
pub use wit_bindgen;

use crate::{ApplicationError, Payload, RawValue, payload_converter};

/// Implemented by the hidden struct that `#[activity::defn]` puts beside each
/// activity function, under the function's name.
pub trait Activity {
    const NAME: &'static str;
    const DYNAMIC: bool;
    fn run(args: Vec<Payload>) -> Result<Payload, ApplicationError>;
}

/// One exported activity.
pub struct Entry {
    pub name: &'static str,
    pub dynamic: bool,
    pub run: fn(Vec<Payload>) -> Result<Payload, ApplicationError>,
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The registration rules of the Python SDK's worker, checked while the plugin
/// compiles so that a broken plugin never reaches a host.
pub const fn check_entries(entries: &[Entry]) {
    let mut dynamic = 0;
    let mut i = 0;
    while i < entries.len() {
        if entries[i].dynamic {
            dynamic += 1;
            if dynamic > 1 {
                panic!("More than one dynamic activity");
            }
        } else {
            if entries[i].name.is_empty() {
                panic!("An activity name cannot be empty");
            }
            let mut j = i + 1;
            while j < entries.len() {
                if !entries[j].dynamic && same(entries[i].name, entries[j].name) {
                    panic!("More than one activity with the same name");
                }
                j += 1;
            }
        }
        i += 1;
    }
}

pub fn definitions(entries: &[Entry]) -> Vec<ActivityDefinition> {
    entries.iter().map(|e| ActivityDefinition { name: e.name.to_string(), dynamic: e.dynamic }).collect()
}

pub fn execute(entries: &[Entry], name: &str, args: Vec<Payload>) -> Result<Payload, WitApplicationError> {
    let entry = entries.iter().find(|e| !e.dynamic && e.name == name).or_else(|| entries.iter().find(|e| e.dynamic));
    match entry {
        Some(entry) => (entry.run)(args).map_err(Into::into),
        // The host only sends names that `definitions()` registered, or any
        // name when there is a dynamic entry; this answers a host that didn't.
        None => {
            let mut names: Vec<&str> = entries.iter().map(|e| e.name).collect();
            names.sort_unstable();
            Err(ApplicationError::new(format!(
                "Activity function {name} is not registered on this worker, available activities: {}",
                names.join(", ")
            ))
            .with_type("NotFoundError")
            .into())
        }
    }
}

/// The positional arguments of one execution, decoded one parameter at a time.
pub struct Args {
    activity: &'static str,
    arity: usize,
    given: usize,
    args: std::vec::IntoIter<Payload>,
}

fn decode_error(reason: impl std::fmt::Display) -> ApplicationError {
    // Retryable, as in the Python SDK: a newer worker may decode what this one can't.
    ApplicationError::new(format!("Failed decoding arguments: {reason}")).with_type("DecodeError")
}

impl Args {
    pub fn new(activity: &'static str, arity: usize, args: Vec<Payload>) -> Result<Self, ApplicationError> {
        let given = args.len();
        if given > arity {
            return Err(decode_error(format!(
                "{activity} takes {arity} argument{} but {given} were given",
                if arity == 1 { "" } else { "s" }
            )));
        }
        Ok(Args { activity, arity, given, args: args.into_iter() })
    }

    /// Decodes the next parameter. A missing trailing argument decodes as
    /// `binary/null`, so an `Option` parameter may be left out.
    pub fn next<T: DeserializeOwned>(&mut self, position: usize, type_name: &str) -> Result<T, ApplicationError> {
        match self.args.next() {
            Some(payload) => payload_converter().from_payload(&payload).map_err(|e| {
                decode_error(format_args!("argument {} of {} ({type_name}): {e}", position + 1, self.activity))
            }),
            None => payload_converter()
                .from_payload(&payload_converter().to_payload(&()).expect("null encodes"))
                .map_err(|_| {
                    decode_error(format_args!(
                        "{} takes {} argument{} but {} {} given",
                        self.activity,
                        self.arity,
                        if self.arity == 1 { "" } else { "s" },
                        self.given,
                        if self.given == 1 { "was" } else { "were" }
                    ))
                }),
        }
    }
}

/// A dynamic activity's arguments, undecoded.
pub fn raw_args<C: FromIterator<RawValue>>(args: Vec<Payload>) -> C {
    args.into_iter().map(RawValue::from).collect()
}

/// Encodes what an activity returned.
pub fn output<T: Serialize + ?Sized>(value: &T) -> Result<Payload, ApplicationError> {
    payload_converter()
        .to_payload(value)
        .map_err(|e| ApplicationError::new(format!("Failed encoding result: {e}")).with_type("EncodeError"))
}

/// Encodes what a fallible activity returned.
pub fn fallible_output<T: Serialize, E: Into<ApplicationError>>(
    result: Result<T, E>,
) -> Result<Payload, ApplicationError> {
    match result {
        Ok(value) => output(&value),
        Err(e) => Err(e.into()),
    }
}
