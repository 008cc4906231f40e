//! Test plugin: the PostgreSQL contract (/work/shared-notes/pg_contract.md)
//! through the Rust SDK's `activity::postgres`: `pg_roundtrip`, `pg_run`,
//! `pg_error` and `pg_open`. Errors a test wants to look at come back as
//! data; `pg_run`'s `end` chooses how an execution with an open transaction
//! ends (commit, rollback, return, fail, panic, hang).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, UNIX_EPOCH};

use activity::ApplicationError;
use activity::postgres::types::{Date, FromSqlOwned, Json, Numeric, Time, Timestamp, TimestampTz, ToSql, Uuid, Value};
use activity::postgres::{self, Client, Error, GenericClient};
use serde::Deserialize;
use serde_json::{Value as JsonValue, json};

/// `SELECT $1::TYPE` with `value` bound, read back as `T`: "ok" or what differed.
fn roundtrip<T: ToSql + Sync + FromSqlOwned + PartialEq + Debug>(client: &mut Client, ty: &str, value: T) -> String {
    let sql = format!("SELECT $1::{ty}");
    match client.query_one(&sql, &[&value]) {
        Err(e) => format!("{sql}: {e}"),
        Ok(row) => match row.try_get::<_, T>(0) {
            Err(e) => format!("{sql}: {e}"),
            Ok(back) if back == value => "ok".into(),
            Ok(back) => format!("{sql}: sent {value:?}, got {back:?}"),
        },
    }
}

#[activity::defn]
fn pg_roundtrip(db: String) -> Result<BTreeMap<String, String>, Error> {
    let mut c = postgres::connect(&db)?;
    let c = &mut c;
    let date = Date::from_ymd(2024, 2, 29).unwrap();
    let time = Time::from_hms_micro(13, 45, 7, 250_001).unwrap();
    let ts = Timestamp::new(date, time).unwrap();
    let tstz = TimestampTz::from(UNIX_EPOCH + Duration::from_micros(1_709_214_307_250_001));
    let uuid: Uuid = "4f9c3c1e-8a3b-4c1d-9e2f-0123456789ab".parse().unwrap();
    let doc = json!({"a": [1, 2.5, "x", null, true], "b": {"c": "é"}});
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        out.insert(k.to_string(), v);
    };
    put("bool", roundtrip(c, "bool", true));
    put("int2", roundtrip(c, "int2", -12345i16));
    put("int4", roundtrip(c, "int4", 2_000_000_000i32));
    put("int8", roundtrip(c, "int8", 9_007_199_254_740_993i64));
    put("float4", roundtrip(c, "float4", 1.5f32));
    put("float8", roundtrip(c, "float8", 0.1f64));
    put("numeric", roundtrip(c, "numeric", Numeric::from("12345678901234567890.000000000001")));
    put("text", roundtrip(c, "text", String::from("héllo, 'world' \u{1F600}")));
    put("bytea", roundtrip(c, "bytea", vec![0u8, 1, 2, 255]));
    put("uuid", roundtrip(c, "uuid", uuid));
    put("json", roundtrip(c, "json", Json(doc.clone())));
    put("jsonb", roundtrip(c, "jsonb", doc.clone()));
    put("date", roundtrip(c, "date", date));
    put("time", roundtrip(c, "time", time));
    put("timestamp", roundtrip(c, "timestamp", ts));
    put("timestamptz", roundtrip(c, "timestamptz", tstz));
    put("bool[]", roundtrip(c, "bool[]", vec![Some(true), None, Some(false)]));
    put("int2[]", roundtrip(c, "int2[]", vec![Some(1i16), None, Some(-3)]));
    put("int4[]", roundtrip(c, "int4[]", vec![Some(1i32), None, Some(i32::MIN)]));
    put("int8[]", roundtrip(c, "int8[]", vec![Some(1i64), None, Some(i64::MAX)]));
    put("float4[]", roundtrip(c, "float4[]", vec![Some(0.5f32), None]));
    put("float8[]", roundtrip(c, "float8[]", vec![Some(-2.25f64), None, Some(1e300)]));
    put("numeric[]", roundtrip(c, "numeric[]", vec![Some(Numeric::from("1.50")), None, Some(Numeric::from("-0.001"))]));
    put("text[]", roundtrip(c, "text[]", vec![Some("a".to_string()), None, Some("b,\"c\"".to_string())]));
    put("bytea[]", roundtrip(c, "bytea[]", vec![Some(vec![1u8, 2]), None, Some(vec![])]));
    put("uuid[]", roundtrip(c, "uuid[]", vec![Some(uuid), None]));
    put("date[]", roundtrip(c, "date[]", vec![Some(date), None, Some(Date::from_ymd(1969, 7, 20).unwrap())]));
    put("time[]", roundtrip(c, "time[]", vec![Some(time), None]));
    put("timestamp[]", roundtrip(c, "timestamp[]", vec![Some(ts), None]));
    put("timestamptz[]", roundtrip(c, "timestamptz[]", vec![Some(tstz), None]));
    put("jsonb[]", roundtrip(c, "jsonb[]", vec![Some(Json(doc)), None]));
    put("null", roundtrip(c, "int4", None::<i32>));
    Ok(out)
}

/// A statement's result as the contract's JSON.
fn value_json(value: &Value) -> JsonValue {
    fn hex(b: &[u8]) -> JsonValue {
        JsonValue::String(format!("\\x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()))
    }
    fn parse(s: &str) -> JsonValue {
        serde_json::from_str(s).unwrap_or_else(|_| JsonValue::String(s.to_string()))
    }
    fn list<T>(items: &[Option<T>], f: impl Fn(&T) -> JsonValue) -> JsonValue {
        JsonValue::Array(items.iter().map(|i| i.as_ref().map_or(JsonValue::Null, &f)).collect())
    }
    match value {
        Value::Null => JsonValue::Null,
        Value::Boolean(b) => json!(b),
        Value::Int16(n) => json!(n),
        Value::Int32(n) => json!(n),
        Value::Int64(n) => json!(n),
        Value::Float32(n) => json!(n),
        Value::Float64(n) => json!(n),
        Value::Numeric(s) | Value::Text(s) | Value::Uuid(s) | Value::Unsupported(s) => json!(s),
        Value::Bytea(b) => hex(b),
        Value::Json(s) | Value::Jsonb(s) => parse(s),
        Value::Date(d) => json!(Date::from_unix_days(*d).to_string()),
        Value::Time(t) => json!(Time::from_micros(*t).map_or(t.to_string(), |t| t.to_string())),
        Value::Timestamp(t) => json!(Timestamp::from_unix_micros(*t).to_string()),
        Value::Timestamptz(t) => json!(TimestampTz::from_unix_micros(*t).to_string()),
        Value::ArrayBoolean(a) => list(a, |v| json!(v)),
        Value::ArrayInt16(a) => list(a, |v| json!(v)),
        Value::ArrayInt32(a) => list(a, |v| json!(v)),
        Value::ArrayInt64(a) => list(a, |v| json!(v)),
        Value::ArrayFloat32(a) => list(a, |v| json!(v)),
        Value::ArrayFloat64(a) => list(a, |v| json!(v)),
        Value::ArrayNumeric(a) | Value::ArrayText(a) | Value::ArrayUuid(a) => list(a, |v| json!(v)),
        Value::ArrayBytea(a) => list(a, |v| hex(v)),
        Value::ArrayJson(a) | Value::ArrayJsonb(a) => list(a, |v| parse(v)),
        Value::ArrayDate(a) => list(a, |v| json!(Date::from_unix_days(*v).to_string())),
        Value::ArrayTime(a) => list(a, |v| json!(Time::from_micros(*v).map_or(v.to_string(), |t| t.to_string()))),
        Value::ArrayTimestamp(a) => list(a, |v| json!(Timestamp::from_unix_micros(*v).to_string())),
        Value::ArrayTimestamptz(a) => list(a, |v| json!(TimestampTz::from_unix_micros(*v).to_string())),
    }
}

/// A JSON parameter as the native value it stands for.
fn param(value: &JsonValue) -> Box<dyn ToSql + Sync> {
    match value {
        JsonValue::Null => Box::new(Value::Null),
        JsonValue::Bool(b) => Box::new(*b),
        JsonValue::Number(n) => match n.as_i64() {
            Some(i) => Box::new(i),
            None => Box::new(n.as_f64().unwrap_or(f64::NAN)),
        },
        JsonValue::String(s) => Box::new(s.clone()),
        other => Box::new(other.clone()),
    }
}

/// Whether a statement returns rows (else the affected count is what it
/// returns): the test plugin's rule of thumb, as a DB-API cursor must decide.
fn returns_rows(sql: &str) -> bool {
    let upper = sql.trim_start().to_ascii_uppercase();
    ["SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN"].iter().any(|k| upper.starts_with(k))
        || upper.contains("RETURNING")
}

/// `{rowcount, rows}` for one statement.
fn run_one(client: &mut impl GenericClient, sql: &str, params: &[JsonValue]) -> Result<JsonValue, Error> {
    let boxed: Vec<Box<dyn ToSql + Sync>> = params.iter().map(param).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect();
    if returns_rows(sql) {
        let rows = client.query(sql, &refs)?;
        let rows: Vec<JsonValue> =
            rows.iter().map(|r| (0..r.len()).map(|i| value_json(&r.get::<_, Value>(i))).collect()).collect();
        Ok(json!({"rowcount": rows.len(), "rows": rows}))
    } else {
        Ok(json!({"rowcount": client.execute(sql, &refs)?, "rows": []}))
    }
}

#[derive(Deserialize)]
struct Step {
    sql: String,
    #[serde(default)]
    params: Vec<JsonValue>,
}

#[activity::defn]
fn pg_run(db: String, steps: Vec<Step>, end: String) -> Result<Vec<JsonValue>, ApplicationError> {
    let mut client = postgres::connect(&db)?;
    let mut tx = client.transaction()?;
    let mut results = Vec::new();
    for step in &steps {
        results.push(run_one(&mut tx, &step.sql, &step.params)?);
    }
    match end.as_str() {
        "commit" => tx.commit()?,
        "rollback" => tx.rollback()?,
        "return" => {
            // Neither the transaction's rollback-on-drop nor the client's
            // drop runs: the instance ends holding the open transaction.
            std::mem::forget(tx);
            std::mem::forget(client);
        }
        "raise" => return Err(ApplicationError::new("raised with the transaction open").with_type("RaisedError")),
        "trap" => panic!("trapped with the transaction open"),
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        other => return Err(ApplicationError::new(format!("unknown end {other:?}")).with_type("ValueError")),
    }
    Ok(results)
}

fn error_json(e: &Error) -> JsonValue {
    json!({"error": "PostgresError", "sqlstate": e.code(), "message": e.to_string()})
}

#[activity::defn]
fn pg_error(db: String, sql: String, params: Vec<JsonValue>) -> JsonValue {
    let result = postgres::connect(&db).and_then(|mut client| run_one(&mut client, &sql, &params));
    match result {
        Ok(r) => json!({"error": null, "rowcount": r["rowcount"]}),
        Err(e) => error_json(&e),
    }
}

#[activity::defn]
fn pg_open(db: String) -> JsonValue {
    match postgres::connect(&db) {
        Ok(_) => json!({"ok": true}),
        Err(e) => json!({"error": "PostgresError", "message": e.to_string()}),
    }
}

activity::export!(pg_roundtrip, pg_run, pg_error, pg_open);
