//! PostgreSQL through the host's connection pools, with the `postgres`
//! crate's API.
//!
//! ```no_run
//! use activity::postgres;
//!
//! #[activity::defn]
//! fn rename(id: i32, name: String) -> Result<u64, activity::ApplicationError> {
//!     let mut client = postgres::connect("orders")?;
//!     let row = client.query_one("SELECT name FROM customers WHERE id = $1", &[&id])?;
//!     let old: String = row.get("name");
//!     let mut tx = client.transaction()?;
//!     let n = tx.execute("UPDATE customers SET name = $2 WHERE id = $1", &[&id, &name])?;
//!     tx.execute("INSERT INTO audit (customer, old, new) VALUES ($1, $2, $3)", &[&id, &old, &name])?;
//!     tx.commit()?;
//!     Ok(n)
//! }
//! # activity::export!(rename);
//! ```
//!
//! A plugin names a database, never a URL: the manifest beside it grants
//! `[postgres.orders]` (`url_env = "ORDERS_DATABASE_URL"`) and the host,
//! which holds the URL, the password and the pool, connects. The `postgres`
//! crate cannot run in a component (it needs sockets and TLS the sandbox
//! does not give), so this is a small synchronous client over the host's
//! `activity-host:plugin/postgres` interface, shaped like that crate so that
//! code and habits carry over: [`Client::query`], [`Client::execute`],
//! [`Client::transaction`], [`Row::get`], [`ToSql`] and
//! [`FromSql`].
//!
//! What differs: statements are single statements (no `batch_execute`), and
//! transaction control goes through [`Client::transaction`] and
//! [`Transaction::transaction`] (savepoints): the host refuses `BEGIN`,
//! `COMMIT` and `SET TRANSACTION` sent as SQL, so that it always knows what
//! is open and can roll it back. Parameters are typed on the Rust side (see
//! [`types`]); the host encodes each for its placeholder's type, so an `i64`
//! binds to an `int4` column (range-checked) and a `&str` to a `uuid` one.
//! A column of a type the interface does not carry (interval, inet, ...)
//! reads as [`Value::Unsupported`]; cast it in SQL (`::text`).
//!
//! Errors are [`Error`] (a [`PostgresError`]), with the SQLSTATE in
//! [`Error::code`]; `?` in an activity fails it with type `PostgresError`
//! and a message such as
//! `ERROR: duplicate key value violates unique constraint "t_pkey" (SQLSTATE 23505)`.

use std::fmt;
use std::sync::Arc;

pub mod types;

use types::{FromSql, ToSql, Value};

// The `plugin` world imports `postgres`; a component keeps the import only
// if the plugin calls it (the linker drops the rest), so a plugin that never
// opens a database imports nothing more.
use crate::bindings::activity_host::plugin::postgres as pg;

/// The SQLSTATE codes activities most often branch on (PostgreSQL's
/// appendix A; the `postgres` crate's `SqlState` constants by the same names).
pub mod sqlstate {
    pub const UNIQUE_VIOLATION: &str = "23505";
    pub const FOREIGN_KEY_VIOLATION: &str = "23503";
    pub const NOT_NULL_VIOLATION: &str = "23502";
    pub const CHECK_VIOLATION: &str = "23514";
    pub const EXCLUSION_VIOLATION: &str = "23P01";
    pub const SERIALIZATION_FAILURE: &str = "40001";
    pub const T_R_DEADLOCK_DETECTED: &str = "40P01";
    pub const SYNTAX_ERROR: &str = "42601";
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const QUERY_CANCELED: &str = "57014";
    pub const LOCK_NOT_AVAILABLE: &str = "55P03";
}

/// Opens the database the plugin's manifest grants as `name`
/// (`[postgres.NAME]`), taking a connection from the host's pool.
pub fn connect(name: &str) -> Result<Client, Error> {
    Client::connect(name)
}

/// One pooled connection, held until it is dropped (or the execution ends).
pub struct Client {
    conn: pg::Connection,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

fn bind(params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Value>, Error> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| p.to_sql().map_err(|e| Error::new(ErrorKind::ToSql, format!("parameter ${}: {e}", i + 1))))
        .collect()
}

/// The methods of [`Client`] and [`Transaction`], for code that runs in or
/// out of a transaction (the `postgres` crate's `GenericClient`).
pub trait GenericClient {
    fn query(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error>;
    fn execute(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error>;

    /// The one row the statement returns; an error for none or several.
    fn query_one(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
        let rows = self.query(statement, params)?;
        match rows.len() {
            1 => Ok(rows.into_iter().next().expect("one row")),
            n => Err(Error::new(ErrorKind::RowCount, format!("query returned {n} rows, expected exactly one"))),
        }
    }

    /// The row the statement returns, if any; an error for several.
    fn query_opt(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, Error> {
        let rows = self.query(statement, params)?;
        match rows.len() {
            0 | 1 => Ok(rows.into_iter().next()),
            n => Err(Error::new(ErrorKind::RowCount, format!("query returned {n} rows, expected at most one"))),
        }
    }
}

impl Client {
    /// See [`connect`].
    pub fn connect(name: &str) -> Result<Client, Error> {
        pg::Connection::open(name).map(|conn| Client { conn }).map_err(Error::from_wit)
    }

    /// Runs a statement and returns its rows (none for a statement that
    /// returns none).
    pub fn query(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        let set = self.conn.query(statement, &bind(params)?).map_err(Error::from_wit)?;
        let columns: Arc<[Column]> =
            set.columns.into_iter().map(|c| Column { name: c.name, type_name: c.type_name }).collect();
        Ok(set.rows.into_iter().map(|values| Row { columns: columns.clone(), values }).collect())
    }

    /// Runs a statement and returns how many rows it inserted, updated or deleted.
    pub fn execute(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.conn.execute(statement, &bind(params)?).map_err(Error::from_wit)
    }

    /// See [`GenericClient::query_one`].
    pub fn query_one(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
        GenericClient::query_one(self, statement, params)
    }

    /// See [`GenericClient::query_opt`].
    pub fn query_opt(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, Error> {
        GenericClient::query_opt(self, statement, params)
    }

    /// Begins a transaction, which rolls back when dropped unless
    /// [`committed`](Transaction::commit), so `?` anywhere inside it undoes
    /// the whole. It borrows the client, as in the `postgres` crate, so the
    /// client cannot run statements outside it meanwhile.
    pub fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        self.conn.begin().map_err(Error::from_wit)?;
        Ok(Transaction { client: self, depth: 0, done: false })
    }

    /// Whether a transaction is open on this connection.
    pub fn is_in_transaction(&self) -> bool {
        self.conn.in_transaction()
    }
}

impl GenericClient for Client {
    fn query(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        Client::query(self, statement, params)
    }
    fn execute(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        Client::execute(self, statement, params)
    }
}

/// An open transaction (see [`Client::transaction`]), or a savepoint
/// within one (see [`Transaction::transaction`]).
pub struct Transaction<'a> {
    client: &'a mut Client,
    /// 0 for the transaction, n for the savepoint `sp_n` inside it.
    depth: u32,
    done: bool,
}

impl fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction").field("done", &self.done).finish_non_exhaustive()
    }
}

impl Transaction<'_> {
    pub fn query(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        self.client.query(statement, params)
    }
    pub fn execute(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.client.execute(statement, params)
    }
    pub fn query_one(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
        self.client.query_one(statement, params)
    }
    pub fn query_opt(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, Error> {
        self.client.query_opt(statement, params)
    }

    /// A nested transaction: a savepoint that [`commit`](Self::commit)
    /// releases and [`rollback`](Self::rollback) or dropping rolls back to,
    /// leaving the outer transaction open (the `postgres` crate's way).
    pub fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        let depth = self.depth + 1;
        self.client.execute(&format!("SAVEPOINT sp_{depth}"), &[])?;
        Ok(Transaction { client: &mut *self.client, depth, done: false })
    }

    /// Commits (for a savepoint: releases it). If the server refuses the
    /// commit (a deferred constraint, a serialization failure), the
    /// transaction is over all the same: rolled back.
    pub fn commit(mut self) -> Result<(), Error> {
        self.done = true;
        match self.depth {
            0 => self.client.conn.commit().map_err(Error::from_wit),
            n => self.client.execute(&format!("RELEASE sp_{n}"), &[]).map(drop),
        }
    }

    /// Rolls back now, reporting a failure (dropping the transaction rolls
    /// back too, silently).
    pub fn rollback(mut self) -> Result<(), Error> {
        self.done = true;
        self.undo()
    }

    fn undo(&mut self) -> Result<(), Error> {
        match self.depth {
            0 => self.client.conn.rollback().map_err(Error::from_wit),
            n => self.client.execute(&format!("ROLLBACK TO sp_{n}"), &[]).map(drop),
        }
    }
}

impl GenericClient for Transaction<'_> {
    fn query(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        self.client.query(statement, params)
    }
    fn execute(&mut self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.client.execute(statement, params)
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Nothing to report it to; should it fail, the host still rolls
            // back when the connection returns to the pool.
            let _ = self.undo();
        }
    }
}

/// A result column: its name and PostgreSQL's type name (`int4`, `_text`,
/// `timestamptz`, ... as `pg_type.typname` says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    name: String,
    type_name: String,
}

impl Column {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn type_name(&self) -> &str {
        &self.type_name
    }
}

/// One row of a result.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[Column]>,
    values: Vec<Value>,
}

/// A column position (`usize`) or name (`&str`), as [`Row::get`] takes.
pub trait RowIndex: fmt::Display {
    #[doc(hidden)]
    fn index(&self, columns: &[Column]) -> Option<usize>;
}

impl RowIndex for usize {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

/// The first column of that name; failing that, the first whose name
/// matches ignoring ASCII case (the `postgres` crate's rule).
impl RowIndex for str {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        columns
            .iter()
            .position(|c| c.name == self)
            .or_else(|| columns.iter().position(|c| c.name.eq_ignore_ascii_case(self)))
    }
}

impl<T: RowIndex + ?Sized> RowIndex for &T {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        (**self).index(columns)
    }
}

impl RowIndex for String {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        self.as_str().index(columns)
    }
}

impl Row {
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }
    pub fn len(&self) -> usize {
        self.values.len()
    }
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The column at `idx` (a position or a name) as a `T`.
    ///
    /// # Panics
    ///
    /// If there is no such column or its value is not a `T` (a NULL into a
    /// type that is not an `Option`, say), as the `postgres` crate does:
    /// the activity then fails with type `Panic`. [`try_get`](Self::try_get)
    /// returns the error instead.
    #[track_caller]
    pub fn get<'a, I: RowIndex, T: FromSql<'a>>(&'a self, idx: I) -> T {
        match self.try_get(&idx) {
            Ok(value) => value,
            Err(e) => panic!("error retrieving column {idx}: {e}"),
        }
    }

    /// The column at `idx` as a `T`, or why not.
    pub fn try_get<'a, I: RowIndex, T: FromSql<'a>>(&'a self, idx: I) -> Result<T, Error> {
        let Some(i) = idx.index(&self.columns) else {
            return Err(Error::new(ErrorKind::Column, idx.to_string()));
        };
        T::from_sql(&self.values[i]).map_err(|e| {
            let column = &self.columns[i];
            Error::new(ErrorKind::FromSql, format!("column {i} ({:?}, {}): {e}", column.name, column.type_name))
        })
    }
}

// ---------------------------------------------------------------------------
// Errors

/// What went wrong. The name `Error` is an alias so that a failed activity
/// says which: `?` turns this into an `ApplicationError` of type
/// `PostgresError` (every `std::error::Error` converts with its type's name).
pub type Error = PostgresError;

/// A database error: the server's (with its SQLSTATE, [`code`](Self::code)),
/// or the host's (not granted, no connection, a parameter that does not
/// fit), or a conversion in this SDK. See [`kind`](Self::kind).
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresError {
    kind: ErrorKind,
    message: String,
    db: Option<Box<DbError>>,
}

/// The broad reason of an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server refused the statement: see [`Error::as_db_error`].
    Db,
    /// The plugin's manifest grants no database of that name.
    NotGranted,
    /// The host could not connect (server down, authentication failed).
    Connection,
    /// The host refused a parameter: it does not fit its placeholder's
    /// type, or there are too many or too few.
    Parameter,
    /// The host refused the statement: transaction control sent as SQL
    /// (`BEGIN`, `COMMIT`, `SET TRANSACTION`) instead of through
    /// [`Client::transaction`]. (A write on a read-only grant is the
    /// server's refusal, [`Db`](Self::Db) with SQLSTATE 25006.)
    NotAllowed,
    /// The activity's time ran out while waiting for a pooled connection or
    /// for a statement (which the host then cancels on the server).
    Timeout,
    /// A Rust value could not be bound (a `Json` that does not serialize, ...).
    ToSql,
    /// A column could not be read as the type asked for.
    FromSql,
    /// [`Row::try_get`] named a column the row does not have.
    Column,
    /// `query_one` or `query_opt` got another number of rows.
    RowCount,
    /// Anything else the host reported.
    Other,
}

/// What the server said about a failed statement (the `postgres` crate's
/// `DbError`, with the fields the host passes on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    severity: String,
    code: String,
    message: String,
    detail: Option<String>,
    hint: Option<String>,
    table: Option<String>,
    column: Option<String>,
    constraint: Option<String>,
}

impl DbError {
    /// `ERROR`, `FATAL`, ...
    pub fn severity(&self) -> &str {
        &self.severity
    }
    /// The SQLSTATE, such as `23505` (see [`sqlstate`]).
    pub fn code(&self) -> &str {
        &self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
    pub fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }
    pub fn column(&self) -> Option<&str> {
        self.column.as_deref()
    }
    pub fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }
}

impl PostgresError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PostgresError { kind, message: message.into(), db: None }
    }

    fn from_wit(e: pg::Error) -> Self {
        let (kind, message) = match e {
            pg::Error::Server(s) => {
                let db = DbError {
                    severity: s.severity,
                    code: s.sqlstate,
                    message: s.message,
                    detail: s.detail,
                    hint: s.hint,
                    table: s.table,
                    column: s.column,
                    constraint: s.constraint,
                };
                return PostgresError { kind: ErrorKind::Db, message: String::new(), db: Some(Box::new(db)) };
            }
            pg::Error::NotGranted(m) => (ErrorKind::NotGranted, m),
            pg::Error::ConnectionFailed(m) => (ErrorKind::Connection, m),
            pg::Error::BadParameter(m) => (ErrorKind::Parameter, m),
            pg::Error::NotAllowed(m) => (ErrorKind::NotAllowed, m),
            pg::Error::Timeout(m) => (ErrorKind::Timeout, m),
            pg::Error::Other(m) => (ErrorKind::Other, m),
        };
        PostgresError::new(kind, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The SQLSTATE of a server error (`Some("23505")` for a unique
    /// violation; see [`sqlstate`]); `None` for the other kinds.
    pub fn code(&self) -> Option<&str> {
        self.db.as_deref().map(DbError::code)
    }

    /// The server's error, with its detail, hint, table, column and constraint.
    pub fn as_db_error(&self) -> Option<&DbError> {
        self.db.as_deref()
    }
}

/// A server error reads `ERROR: <message> (SQLSTATE <code>)` (the detail,
/// which often quotes row values, stays out of the message that reaches
/// workflow history; it is in [`Error::as_db_error`]). Others read
/// `<what>: <the host's or the SDK's reason>`.
impl fmt::Display for PostgresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(db) = &self.db {
            return write!(f, "{}: {} (SQLSTATE {})", db.severity, db.message, db.code);
        }
        let what = match self.kind {
            ErrorKind::NotGranted => "database not granted",
            ErrorKind::Connection => "connection failed",
            ErrorKind::Parameter => "bad parameter",
            ErrorKind::NotAllowed => "statement not allowed",
            ErrorKind::Timeout => "timed out",
            ErrorKind::ToSql => "cannot bind",
            ErrorKind::FromSql => "cannot read",
            ErrorKind::Column => "no such column",
            ErrorKind::RowCount => "unexpected number of rows",
            ErrorKind::Db | ErrorKind::Other => "postgres",
        };
        write!(f, "{what}: {}", self.message)
    }
}

impl std::error::Error for PostgresError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApplicationError;

    fn unique_violation() -> Error {
        Error::from_wit(pg::Error::Server(pg::ServerError {
            sqlstate: "23505".into(),
            severity: "ERROR".into(),
            message: "duplicate key value violates unique constraint \"t_pkey\"".into(),
            detail: Some("Key (id)=(1) already exists.".into()),
            hint: None,
            table: Some("t".into()),
            column: None,
            constraint: Some("t_pkey".into()),
        }))
    }

    #[test]
    fn server_errors_carry_their_sqlstate() {
        let e = unique_violation();
        assert_eq!(e.kind(), ErrorKind::Db);
        assert_eq!(e.code(), Some(sqlstate::UNIQUE_VIOLATION));
        assert_eq!(e.to_string(), "ERROR: duplicate key value violates unique constraint \"t_pkey\" (SQLSTATE 23505)");
        let db = e.as_db_error().unwrap();
        assert_eq!(
            (db.constraint(), db.table(), db.detail()),
            (Some("t_pkey"), Some("t"), Some("Key (id)=(1) already exists."))
        );
    }

    #[test]
    fn errors_fail_activities_with_type_postgres_error() {
        let app: ApplicationError = unique_violation().into();
        assert_eq!(app.error_type(), "PostgresError");
        assert!(app.message().ends_with("(SQLSTATE 23505)"));
        let app: ApplicationError =
            Error::from_wit(pg::Error::NotGranted("no [postgres.x] in the manifest".into())).into();
        assert_eq!(app.error_type(), "PostgresError");
        assert_eq!(app.message(), "database not granted: no [postgres.x] in the manifest");
    }

    fn row() -> Row {
        let columns: Arc<[Column]> = vec![
            Column { name: "id".into(), type_name: "int4".into() },
            Column { name: "Name".into(), type_name: "text".into() },
            Column { name: "note".into(), type_name: "text".into() },
        ]
        .into();
        Row { columns, values: vec![Value::Int32(7), Value::Text("Ada".into()), Value::Null] }
    }

    #[test]
    fn rows_read_by_position_or_name() {
        let row = row();
        assert_eq!(row.get::<_, i32>(0), 7);
        assert_eq!(row.get::<_, i64>("id"), 7);
        let name: &str = row.get("name");
        assert_eq!(name, "Ada");
        assert_eq!(row.get::<_, String>(String::from("Name")), "Ada");
        assert_eq!(row.get::<_, Option<String>>(2), None);
        assert_eq!(row.get::<_, Value>(0), Value::Int32(7));
        assert_eq!(row.len(), 3);
        assert_eq!(row.columns()[1].type_name(), "text");
    }

    #[test]
    fn try_get_says_which_column_and_why() {
        let row = row();
        let e = row.try_get::<_, String>(2).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FromSql);
        assert_eq!(
            e.to_string(),
            "cannot read: column 2 (\"note\", text): unexpected NULL (read the column as an Option)"
        );
        let e = row.try_get::<_, i32>("missing").unwrap_err();
        assert_eq!((e.kind(), e.to_string()), (ErrorKind::Column, "no such column: missing".into()));
        assert_eq!(row.try_get::<_, i32>(3).unwrap_err().kind(), ErrorKind::Column);
    }

    #[test]
    #[should_panic(
        expected = "error retrieving column 1: cannot read: column 1 (\"Name\", text): cannot read a text value as i32"
    )]
    fn get_panics_like_the_postgres_crate() {
        row().get::<_, i32>(1);
    }

    #[test]
    fn parameters_that_do_not_bind_name_their_position() {
        struct Bad;
        impl serde::Serialize for Bad {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let e = bind(&[&1i32, &types::Json(Bad)]).unwrap_err();
        assert_eq!((e.kind(), e.to_string()), (ErrorKind::ToSql, "cannot bind: parameter $2: no".into()));
    }
}
