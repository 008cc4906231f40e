//! Write Temporal activities in plain Rust and compile them to a WebAssembly
//! component that `activity-host` loads, registers and runs in a sandbox.
//!
//! The programming model is the Temporal SDKs' own:
//!
//! ```ignore
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct YourParams { greeting: String, name: String }
//!
//! #[activity::defn(name = "your_activity")]
//! fn your_activity(input: YourParams) -> String {
//!     format!("{}, {}!", input.greeting, input.name)
//! }
//!
//! activity::export!(your_activity);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2` (the crate is a
//! `cdylib`) and drop `target/wasm32-wasip2/release/<crate>.wasm` into the
//! host's plugin directory.
//!
//! - Each parameter is one positional argument, decoded from its payload with
//!   [`payload_converter`]; the return value (any `Serialize` type, or
//!   `Result<T, E>` where `E` converts into [`ApplicationError`]) is encoded
//!   the same way.
//! - `#[activity::defn(dynamic)]` marks the one function that receives every
//!   activity type no other activity registers; it takes `Vec<RawValue>` and
//!   reads the requested type from [`info()`].
//! - A panic fails the execution; the host reports the panic message.
//! - [`http`] sends HTTP requests to the hosts the plugin's manifest grants
//!   (cargo feature `http`, on by default).
//! - [`postgres`] queries the databases the plugin's manifest grants, with
//!   the `postgres` crate's API (cargo feature `postgres`, on by default).

// The generated bindings and the macros name this crate `::activity`, also from inside it.
extern crate self as activity;

mod converter;
mod error;
#[cfg(feature = "http")]
pub mod http;
mod info;
#[cfg(feature = "postgres")]
pub mod postgres;

pub use activity_macros::defn;
pub use converter::{ConversionError, PayloadConverter};
pub use error::ApplicationError;
pub use info::Info;

/// The payload encodings of Temporal's default converter.
pub mod encoding {
    pub use crate::converter::{BINARY_NULL, BINARY_PLAIN, ENCODING, JSON_PLAIN, JSON_PROTOBUF};
}

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "::activity::__private::bindings",
        runtime_path: "::activity::__private::wit_bindgen::rt",
        additional_derives: [PartialEq],
    });
}

use bindings::activity_host::plugin::{context, types};

/// A Temporal payload: `metadata` (notably `encoding`) and the encoded bytes.
pub use types::Payload;

/// The level of a [`logger`] record.
pub use types::LogLevel;

/// An argument not yet decoded, as a dynamic activity receives them
/// (`temporalio.common.RawValue`). Decode it with
/// `activity::payload_converter().from_payload::<T>(&raw.payload)`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawValue {
    pub payload: Payload,
}

impl From<Payload> for RawValue {
    fn from(payload: Payload) -> Self {
        RawValue { payload }
    }
}

/// Raw bytes, encoded as `binary/plain` (Python's `bytes`, TypeScript's
/// `Uint8Array`). A plain `Vec<u8>` is a JSON array of numbers instead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Bytes(pub Vec<u8>);

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes(bytes)
    }
}

impl std::ops::Deref for Bytes {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl serde::Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element()? {
                    bytes.push(b);
                }
                Ok(Bytes(bytes))
            }
        }
        deserializer.deserialize_byte_buf(Visitor)
    }
}

/// The default payload converter (`activity.payload_converter()`).
pub fn payload_converter() -> PayloadConverter {
    PayloadConverter::default()
}

/// What the running execution knows about itself (`activity.info()`).
pub fn info() -> Info {
    context::info().into()
}

/// Records a heartbeat with one detail (`activity.heartbeat(detail)`): it tells
/// the server the activity is alive, and the detail reaches the next attempt
/// as `info().heartbeat_details` if this one fails. The host throttles what it
/// sends to the server, so calling this often is cheap.
pub fn heartbeat<T: serde::Serialize + ?Sized>(detail: &T) {
    match payload_converter().to_payload(detail) {
        Ok(payload) => context::heartbeat(&[payload]),
        Err(e) => {
            context::log(LogLevel::Warn, &format!("heartbeat detail could not be encoded, sent without it: {e}"));
            context::heartbeat(&[]);
        }
    }
}

/// Records a heartbeat whose details are already payloads (none at all is fine).
pub fn heartbeat_payloads(details: &[Payload]) {
    context::heartbeat(details)
}

/// Whether the server asked this execution to stop: the workflow cancelled it,
/// its heartbeat timed out, or the worker is shutting down. Return soon after
/// it turns true; the host interrupts an execution that keeps running.
pub fn is_cancelled() -> bool {
    context::is_cancelled()
}

/// Log records that the host writes to its own log, tagged with the plugin,
/// the activity type and the activity id (`activity.logger`).
///
/// ```ignore
/// activity::logger::info!("charging {} cents", amount);
/// ```
pub mod logger {
    pub use crate::{
        __activity_log_debug as debug, __activity_log_error as error, __activity_log_info as info,
        __activity_log_trace as trace, __activity_log_warn as warn,
    };

    /// Writes one record at `level`.
    pub fn log(level: crate::LogLevel, message: &str) {
        crate::context::log(level, message)
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __activity_log {
    ($level:ident, $($arg:tt)+) => {
        $crate::logger::log($crate::LogLevel::$level, &::std::format!($($arg)+))
    };
}
#[doc(hidden)]
#[macro_export]
macro_rules! __activity_log_trace { ($($arg:tt)+) => { $crate::__activity_log!(Trace, $($arg)+) }; }
#[doc(hidden)]
#[macro_export]
macro_rules! __activity_log_debug { ($($arg:tt)+) => { $crate::__activity_log!(Debug, $($arg)+) }; }
#[doc(hidden)]
#[macro_export]
macro_rules! __activity_log_info { ($($arg:tt)+) => { $crate::__activity_log!(Info, $($arg)+) }; }
#[doc(hidden)]
#[macro_export]
macro_rules! __activity_log_warn { ($($arg:tt)+) => { $crate::__activity_log!(Warn, $($arg)+) }; }
#[doc(hidden)]
#[macro_export]
macro_rules! __activity_log_error { ($($arg:tt)+) => { $crate::__activity_log!(Error, $($arg)+) }; }

/// Exports the plugin's activities: list every `#[activity::defn]` function
/// once, by path. Call it once per plugin crate.
///
/// ```ignore
/// activity::export!(say_hello_activity, billing::charge, dynamic_fallback);
/// ```
///
/// Two activities under one name, two dynamic activities, or an empty name
/// fail the build, as they fail worker creation in the Python SDK.
#[macro_export]
macro_rules! export {
    ($($activity:path),+ $(,)?) => {
        const _: () = {
            const ENTRIES: &[$crate::__private::Entry] = &[
                $($crate::__private::Entry {
                    name: <$activity as $crate::__private::Activity>::NAME,
                    dynamic: <$activity as $crate::__private::Activity>::DYNAMIC,
                    run: <$activity as $crate::__private::Activity>::run,
                }),+
            ];
            const _: () = $crate::__private::check_entries(ENTRIES);

            struct Plugin;
            impl $crate::__private::Guest for Plugin {
                fn definitions() -> ::std::vec::Vec<$crate::__private::ActivityDefinition> {
                    $crate::__private::definitions(ENTRIES)
                }
                fn execute(
                    name: ::std::string::String,
                    args: ::std::vec::Vec<$crate::Payload>,
                ) -> ::std::result::Result<$crate::Payload, $crate::__private::WitApplicationError> {
                    $crate::__private::execute(ENTRIES, &name, args)
                }
            }
            $crate::__private::bindings::__export_plugin!(Plugin with_types_in $crate::__private::bindings);
        };
    };
}

/// What the macros expand to; not a stable API.
#[doc(hidden)]
pub mod __private;
