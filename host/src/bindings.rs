//! Host bindings for the `activity-host:plugin/plugin` world (`wit/activity.wit`).
//!
//! Exports are called with `call_async` so that a plugin runs on a wasmtime
//! fiber: epoch interruption can then yield it back to tokio (one busy plugin
//! never starves the others) and a deadline can stop it. The `context`
//! imports are quick and stay synchronous; `heartbeat` may end the execution
//! (oversized details), so it is trappable. `postgres` does I/O: async, and
//! trappable for resource-table errors.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    exports: { default: async },
    imports: {
        "activity-host:plugin/context.heartbeat": trappable,
        "activity-host:plugin/postgres": async | trappable,
    },
    with: { "activity-host:plugin/postgres.connection": crate::outbound_pg::Connection },
    additional_derives: [PartialEq],
});

pub use activity_host::plugin::{context, postgres, types};
pub use exports::activity_host::plugin::activities;

/// The `codec-plugin` world (`wit/codec.wit`): a payload codec as a
/// component. Its `payload` is the activity world's own type.
pub mod codec_plugin {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "codec-plugin",
        exports: { default: async },
        with: { "activity-host:plugin/types": crate::bindings::types },
    });

    pub use exports::activity_host::plugin::codec;
}
