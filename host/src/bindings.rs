//! Host bindings for the `activity-host:plugin/plugin` world (`wit/activity.wit`).
//!
//! Exports are called with `call_async` so that a plugin runs on a wasmtime
//! fiber: epoch interruption can then yield it back to tokio (one busy plugin
//! never starves the others) and a deadline can stop it. The `context`
//! imports are quick and stay synchronous; `heartbeat` may end the execution
//! (oversized details), so it is trappable.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    exports: { default: async },
    imports: { "activity-host:plugin/context.heartbeat": trappable },
    additional_derives: [PartialEq],
});

pub use activity_host::plugin::{context, types};
pub use exports::activity_host::plugin::activities;
