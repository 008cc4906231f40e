//! One execution's PostgreSQL connections: the host side of the
//! `activity-host:plugin/postgres` interface.

use std::sync::Arc;
use std::time::Instant;

use deadpool_postgres::{Object, Pool, PoolError, Timeouts};
use tokio_postgres::types::ToSql;
use tokio_postgres_rustls::MakeRustlsConnect;
use wasmtime::component::{HasData, Resource, ResourceTable};

use super::grants::PgGrant;
use super::pools::PgPools;
use super::values::{Param, Raw, decode};
use crate::bindings::postgres::{self, Column, DbValue, Error, RowSet, ServerError};
use crate::output::Origin;

/// What one store knows about PostgreSQL: its grants, the process's pools,
/// and when its execution must end.
pub struct PgSession {
    grants: Arc<[PgGrant]>,
    pools: PgPools,
    origin: Origin,
    deadline: Instant,
    /// The connections this execution opened, to release when it ends if
    /// the instance lives on (a fresh instance's table drops them anyway).
    opened: Vec<u32>,
}

impl PgSession {
    pub fn new(grants: Arc<[PgGrant]>, pools: PgPools, origin: Origin, deadline: Instant) -> PgSession {
        PgSession { grants, pools, origin, deadline, opened: Vec::new() }
    }

    /// The next execution of a reused instance: its own origin and deadline.
    pub fn begin(&mut self, origin: Origin, deadline: Instant) {
        self.origin = origin;
        self.deadline = deadline;
    }
}

impl PgView<'_> {
    /// Ends an execution whose instance is kept: every connection it opened
    /// goes back to the pool (rolled back if need be), so that no execution
    /// holds a server connection, let alone a transaction, past its end. A
    /// handle the guest kept in a global then answers "closed".
    pub fn end(&mut self) {
        for rep in self.session.opened.drain(..) {
            if let Ok(conn) = self.table.get_mut(&Resource::<Connection>::new_borrow(rep)) {
                conn.release(CLOSED_AT_END);
            }
        }
    }
}

const CLOSED_AT_END: &str = "at the end of the execution that opened it";
const CLOSED_AT_TIMEOUT: &str = "after a statement timed out";

/// The session and the store's resource table, borrowed together for one call.
pub struct PgView<'a> {
    pub session: &'a mut PgSession,
    pub table: &'a mut ResourceTable,
}

/// Links the interface against [`PgView`].
pub struct PgHost;

impl HasData for PgHost {
    type Data<'a> = PgView<'a>;
}

/// A `connection` resource: one pooled server connection, borrowed until the
/// guest drops it or the execution ends.
pub struct Connection {
    client: Option<Object>,
    name: String,
    read_only: bool,
    in_transaction: bool,
    /// A statement was sent and its answer not yet read: if the resource is
    /// dropped now (the execution was stopped), the server must be told.
    busy: bool,
    tls: MakeRustlsConnect,
    /// Why `client` is gone, once it is.
    closed: &'static str,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.release("");
    }
}

impl Connection {
    /// Gives the connection back clean, or not at all: an open transaction
    /// is rolled back first; a statement still running is cancelled on the
    /// server and the connection closed, since its state is then unknown.
    fn release(&mut self, why: &'static str) {
        let Some(client) = self.client.take() else { return };
        self.closed = why;
        let (busy, in_transaction) = (std::mem::take(&mut self.busy), std::mem::take(&mut self.in_transaction));
        if !busy && !in_transaction {
            return; // back to the pool as it is
        }
        let (tls, name) = (self.tls.clone(), self.name.clone());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            drop(Object::take(client));
            return;
        };
        runtime.spawn(async move {
            if busy {
                if let Err(e) = client.cancel_token().cancel_query(tls).await {
                    tracing::debug!(database = %name, "cannot cancel a statement of a stopped execution: {e}");
                }
                drop(Object::take(client));
            } else if let Err(e) = client.batch_execute("ROLLBACK").await {
                tracing::debug!(database = %name, "cannot roll back a stopped execution's transaction: {e}");
                drop(Object::take(client));
            }
        });
    }
}

fn other(message: impl Into<String>) -> Error {
    Error::Other(message.into())
}

/// The interface's error for a client-side or server-side failure.
fn pg_error(error: tokio_postgres::Error) -> Error {
    if let Some(db) = error.as_db_error() {
        return Error::Server(ServerError {
            sqlstate: db.code().code().to_string(),
            severity: db.severity().to_string(),
            message: db.message().to_string(),
            detail: db.detail().map(str::to_string),
            hint: db.hint().map(str::to_string),
            table: db.table().map(str::to_string),
            column: db.column().map(str::to_string),
            constraint: db.constraint().map(str::to_string),
        });
    }
    let text = crate::error_chain::one_line(&error);
    if let Some(rest) = text.strip_prefix("error serializing parameter ") {
        // tokio-postgres counts from 0; SQL's placeholders from $1.
        let (index, reason) = rest.split_once(':').unwrap_or((rest, ""));
        match index.trim().parse::<usize>() {
            Ok(i) => Error::BadParameter(format!("parameter ${}:{reason}", i + 1)),
            Err(_) => Error::BadParameter(text),
        }
    } else if text.contains("parameters but") {
        Error::BadParameter(text)
    } else if error.is_closed() {
        Error::ConnectionFailed(text)
    } else {
        Error::Other(text)
    }
}

fn pool_error(name: &str, error: PoolError) -> Error {
    match error {
        PoolError::Timeout(_) => Error::Timeout(format!(
            "no connection to {name} became free before the activity's deadline (all its pool's connections are in use)"
        )),
        PoolError::Backend(e) => Error::ConnectionFailed(format!("cannot connect to {name}: {}", pg_text(&e))),
        other => Error::ConnectionFailed(format!("cannot connect to {name}: {other}")),
    }
}

fn pg_text(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => crate::error_chain::one_line(error),
    }
}

/// Transaction control goes through `begin`/`commit`/`rollback`, so that
/// the host always knows whether a transaction is open (to roll it back at
/// the end) and can make every transaction of a read-only grant read-only.
fn check_statement(statement: &str, in_transaction: bool) -> Result<(), Box<Error>> {
    let words = leading_words(statement, 2);
    let first = words.first().map(String::as_str).unwrap_or("");
    let second = words.get(1).map(String::as_str).unwrap_or("");
    let refused = match first {
        "begin" | "start" | "commit" | "end" | "abort" => true,
        "rollback" => !(in_transaction && second == "to"),
        "savepoint" | "release" => !in_transaction,
        "prepare" => second == "transaction",
        "set" => second == "transaction" || second == "session",
        _ => false,
    };
    if refused {
        return Err(Box::new(Error::NotAllowed(format!(
            "{} is transaction control: use the connection's begin(), commit() and rollback() \
             (the SDKs map BEGIN, COMMIT and ROLLBACK to them)",
            words.join(" ").to_uppercase()
        ))));
    }
    Ok(())
}

/// The first `n` words of SQL text, lower-cased, past whitespace and comments.
fn leading_words(sql: &str, n: usize) -> Vec<String> {
    let mut rest = sql;
    let mut words = Vec::new();
    while words.len() < n {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else {
            let end = rest.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            words.push(rest[..end].to_ascii_lowercase());
            rest = &rest[end..];
        }
    }
    words
}

enum Ran {
    Rows(Vec<tokio_postgres::Row>, Vec<Column>),
    Count(u64),
}

impl PgView<'_> {
    fn connection(&mut self, resource: &Resource<Connection>) -> wasmtime::Result<&mut Connection> {
        Ok(self.table.get_mut(resource)?)
    }

    /// Runs one guest statement, bounded by the execution's deadline.
    async fn run(
        &mut self,
        resource: &Resource<Connection>,
        statement: String,
        params: Vec<DbValue>,
        want_rows: bool,
    ) -> wasmtime::Result<Result<Ran, Error>> {
        let deadline = self.session.deadline;
        let conn = self.connection(resource)?;
        if let Err(e) = check_statement(&statement, conn.in_transaction) {
            return Ok(Err(*e));
        }
        let Some(client) = conn.client.as_ref() else {
            return Ok(Err(Error::ConnectionFailed(format!(
                "the connection to {} was closed {}",
                conn.name, conn.closed
            ))));
        };
        // A read-only grant runs every statement in a read-only
        // transaction: the host's own, when the guest has none open.
        let wrap = conn.read_only && !conn.in_transaction;
        conn.busy = true;
        let work = async {
            if wrap {
                client.batch_execute("START TRANSACTION READ ONLY").await?;
            }
            let prepared = client.prepare_cached(&statement).await;
            let result = match prepared {
                Ok(prepared) => {
                    let bound: Vec<Param> = params.iter().map(Param).collect();
                    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                    if want_rows {
                        let columns = prepared
                            .columns()
                            .iter()
                            .map(|c| Column { name: c.name().to_string(), type_name: c.type_().name().to_string() })
                            .collect();
                        client.query(&prepared, &refs).await.map(|rows| Ran::Rows(rows, columns))
                    } else {
                        client.execute(&prepared, &refs).await.map(Ran::Count)
                    }
                }
                Err(e) => Err(e),
            };
            if wrap {
                match &result {
                    Ok(_) => client.batch_execute("COMMIT").await?,
                    Err(_) => client.batch_execute("ROLLBACK").await?,
                }
            }
            result
        };
        match tokio::time::timeout_at(deadline.into(), work).await {
            Ok(result) => {
                conn.busy = false;
                Ok(result.map_err(pg_error))
            }
            Err(_) => {
                // Ask the server to stop, and never reuse this connection:
                // the statement's answer may still be on its way.
                if let Some(client) = conn.client.take() {
                    conn.closed = CLOSED_AT_TIMEOUT;
                    let tls = conn.tls.clone();
                    tokio::spawn(async move {
                        let _ = client.cancel_token().cancel_query(tls).await;
                        drop(Object::take(client));
                    });
                }
                conn.busy = false;
                conn.in_transaction = false;
                Ok(Err(Error::Timeout("the statement was cancelled: the activity's time ran out".into())))
            }
        }
    }

    /// BEGIN/COMMIT/ROLLBACK, checked against what is open.
    async fn control(
        &mut self,
        resource: &Resource<Connection>,
        sql: &str,
        open: bool,
    ) -> wasmtime::Result<Result<(), Error>> {
        let deadline = self.session.deadline;
        let conn = self.connection(resource)?;
        let Some(client) = conn.client.as_ref() else {
            return Ok(Err(Error::ConnectionFailed(format!(
                "the connection to {} was closed {}",
                conn.name, conn.closed
            ))));
        };
        match (open, conn.in_transaction) {
            (true, true) => {
                return Ok(Err(Error::NotAllowed("a transaction is already open on this connection".into())));
            }
            (false, false) => return Ok(Err(Error::NotAllowed("no transaction is open on this connection".into()))),
            _ => {}
        }
        let sql = if open && conn.read_only { "START TRANSACTION READ ONLY" } else { sql };
        conn.busy = true;
        let result = tokio::time::timeout_at(deadline.into(), client.batch_execute(sql)).await;
        conn.busy = false;
        match result {
            Ok(Ok(())) => {
                conn.in_transaction = open;
                Ok(Ok(()))
            }
            Ok(Err(e)) => {
                // A failed COMMIT or ROLLBACK still ends the transaction.
                if !open {
                    conn.in_transaction = false;
                }
                Ok(Err(pg_error(e)))
            }
            Err(_) => {
                conn.busy = true; // the drop cancels and closes it
                Ok(Err(Error::Timeout(format!("{sql} did not finish before the activity's deadline"))))
            }
        }
    }
}

impl postgres::Host for PgView<'_> {}

impl postgres::HostConnection for PgView<'_> {
    async fn open(&mut self, name: String) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        let session = &*self.session;
        let Some(grant) = session.grants.iter().find(|g| g.name == name) else {
            let o = &session.origin;
            tracing::info!(
                target: "plugin", plugin = &*o.plugin, activity = &*o.activity_type, activity_id = &*o.activity_id,
                database = %name, "PostgreSQL database refused: not granted"
            );
            o.telemetry.grant_refused(&o.plugin, &o.activity_type, "postgres");
            let granted: Vec<&str> = session.grants.iter().map(|g| g.name.as_str()).collect();
            return Ok(Err(Error::NotGranted(format!(
                "the plugin's manifest grants no database named {name:?} ({})",
                if granted.is_empty() {
                    "it grants none".to_string()
                } else {
                    format!("granted: {}", granted.join(", "))
                }
            ))));
        };
        let pool: Pool = match session.pools.pool(grant) {
            Ok(pool) => pool,
            Err(e) => return Ok(Err(Error::ConnectionFailed(e))),
        };
        let wait = session.deadline.saturating_duration_since(Instant::now());
        let timeouts = Timeouts { wait: Some(wait), create: Some(wait), recycle: Some(wait) };
        let client = match pool.timeout_get(&timeouts).await {
            Ok(client) => client,
            Err(e) => return Ok(Err(pool_error(&grant.name, e))),
        };
        let connection = Connection {
            client: Some(client),
            name: grant.name.clone(),
            read_only: grant.read_only,
            in_transaction: false,
            busy: false,
            tls: session.pools.tls.clone(),
            closed: "",
        };
        let resource = self.table.push(connection)?;
        self.session.opened.push(resource.rep());
        Ok(Ok(resource))
    }

    async fn query(
        &mut self,
        resource: Resource<Connection>,
        statement: String,
        params: Vec<DbValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let (rows, columns) = match self.run(&resource, statement, params, true).await? {
            Ok(Ran::Rows(rows, columns)) => (rows, columns),
            Ok(Ran::Count(_)) => unreachable!("a query returns rows"),
            Err(e) => return Ok(Err(e)),
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut values = Vec::with_capacity(row.len());
            for (i, column) in row.columns().iter().enumerate() {
                let raw: Raw = match row.try_get(i) {
                    Ok(raw) => raw,
                    Err(e) => return Ok(Err(other(format!("column {}: {e}", column.name())))),
                };
                match decode(column.type_(), raw.0) {
                    Ok(value) => values.push(value),
                    Err(e) => return Ok(Err(other(format!("column {}: {e}", column.name())))),
                }
            }
            out.push(values);
        }
        Ok(Ok(RowSet { columns, rows: out }))
    }

    async fn execute(
        &mut self,
        resource: Resource<Connection>,
        statement: String,
        params: Vec<DbValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        Ok(match self.run(&resource, statement, params, false).await? {
            Ok(Ran::Count(n)) => Ok(n),
            Ok(Ran::Rows(..)) => unreachable!("an execute returns a count"),
            Err(e) => Err(e),
        })
    }

    async fn begin(&mut self, resource: Resource<Connection>) -> wasmtime::Result<Result<(), Error>> {
        self.control(&resource, "BEGIN", true).await
    }

    async fn commit(&mut self, resource: Resource<Connection>) -> wasmtime::Result<Result<(), Error>> {
        self.control(&resource, "COMMIT", false).await
    }

    async fn rollback(&mut self, resource: Resource<Connection>) -> wasmtime::Result<Result<(), Error>> {
        self.control(&resource, "ROLLBACK", false).await
    }

    async fn in_transaction(&mut self, resource: Resource<Connection>) -> wasmtime::Result<bool> {
        Ok(self.connection(&resource)?.in_transaction)
    }

    async fn drop(&mut self, resource: Resource<Connection>) -> wasmtime::Result<()> {
        // Dropping runs the cleanup (see `Drop for Connection`).
        let rep = resource.rep();
        self.table.delete(resource)?;
        self.session.opened.retain(|&r| r != rep);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_control_must_use_the_interface() {
        for sql in ["BEGIN", "  begin work", "-- c\nCOMMIT", "/* x */ ROLLBACK", "START TRANSACTION", "END", "ABORT"] {
            assert!(check_statement(sql, false).is_err(), "{sql}");
        }
        assert!(check_statement("SET TRANSACTION READ WRITE", true).is_err());
        assert!(check_statement("set session characteristics as transaction read write", false).is_err());
        assert!(check_statement("PREPARE TRANSACTION 'x'", true).is_err());
        assert!(check_statement("ROLLBACK TO SAVEPOINT a", true).is_ok());
        assert!(check_statement("ROLLBACK TO SAVEPOINT a", false).is_err());
        assert!(check_statement("SAVEPOINT a", true).is_ok());
        assert!(check_statement("SAVEPOINT a", false).is_err());
        for sql in [
            "SELECT 1",
            "insert into t values ($1)",
            "SET LOCAL statement_timeout = 100",
            "PREPARE p AS SELECT 1",
            "WITH x AS (SELECT 1) SELECT * FROM x",
        ] {
            assert!(check_statement(sql, true).is_ok(), "{sql}");
        }
    }
}
