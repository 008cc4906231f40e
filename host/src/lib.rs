//! activity-host: runs Temporal activities compiled to WebAssembly components.
//!
//! The data flow reads top to bottom through the modules:
//! a plugin file ([`runtime::scan`]) → a compiled, pre-instantiated component
//! ([`plugin::Plugin::load`]) → an entry in the [`registry::Registry`] → an
//! execution in a fresh sandboxed instance ([`execute`], [`sandbox`]) → an
//! [`failure::Outcome`] carrying a payload back.
//!
//! The `host` binary, the integration tests and the benchmarks all use this
//! library.

pub mod bindings;
pub mod cache;
pub mod catalog;
pub mod codec;
pub mod engine;
pub mod error_chain;
pub mod execute;
pub mod failure;
pub mod instances;
pub mod manifest;
pub mod memory;
pub mod outbound_http;
pub mod outbound_pg;
pub mod output;
pub mod payload;
pub mod plugin;
pub mod registry;
pub mod runtime;
pub mod sandbox;
pub mod scaffold;
pub mod services;
pub mod telemetry;
pub mod tls;
pub mod toolchain;
pub mod watch;
pub mod worker;

pub use execute::Request;
pub use failure::{Failure, Outcome};
pub use payload::Payload;
pub use plugin::{LoadError, Plugin};
pub use registry::Registry;
pub use runtime::Runtime;
pub use sandbox::Limits;
pub use services::{ServiceOptions, Services};
