//! PostgreSQL for plugins: the `activity-host:plugin/postgres` interface,
//! served from one connection pool per granted database per process.
//!
//! A fresh instance per execution cannot keep a database connection, and a
//! plugin should not hold the password. So the host owns both: a plugin
//! names a database its manifest grants (`[postgres.orders]`), borrows a
//! pooled connection for as long as it holds the `connection` resource, and
//! gives it back when the execution ends — a transaction still open then is
//! rolled back, a statement still running is cancelled on the server, and
//! nothing of it reaches the next execution.
//!
//! Pieces: [`grants`] (the manifest section), [`pools`] (the process's
//! pools, in `Services`), [`session`] (one execution's connections: the
//! interface's host side) and [`values`] (the wire format of `db-value`).

pub mod grants;
pub mod pools;
pub mod session;
pub mod values;

pub use grants::PgGrant;
pub use pools::{PgPoolOptions, PgPools};
pub use session::{Connection, PgHost, PgSession, PgView};
