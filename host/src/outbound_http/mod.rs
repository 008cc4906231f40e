//! Outbound HTTP for plugins: `wasi:http` requests, checked against the
//! plugin's `[http]` grant, sent through one connection pool per process.
//!
//! A fresh instance per execution cannot keep a connection, so without the
//! host every activity that calls an API would pay a TCP and TLS handshake.
//! The host keeps them instead ([`HttpClient`]: keep-alive pools per origin,
//! rustls with ALPN for HTTP/2), and each store gets an [`HttpPolicy`] that
//! decides what its guest may reach and bounds every request by the
//! execution's own deadline, so that no request outlives its execution.
//!
//! The seam into the sandbox is narrow: [`HttpPolicy`] is the store's
//! `WasiHttpHooks`; everything else stays in this module.

mod client;
mod grants;
mod policy;

pub use client::{HttpClient, HttpClientOptions};
pub use grants::{HttpRule, parse_rule};
pub use policy::HttpPolicy;
