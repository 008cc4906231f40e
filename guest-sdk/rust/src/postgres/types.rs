//! Rust values to and from the host's `db-value`.
//!
//! [`ToSql`] and [`FromSql`] are the `postgres` crate's traits in spirit, but
//! they convert to and from one WIT variant ([`Value`]) instead of the wire
//! protocol: the host holds the connection and does the binary encoding, so
//! all a guest decides is which variant a Rust value is.

use std::error::Error as StdError;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::pg;

/// A value as the host's `db-value` carries it, for what the typed helpers
/// do not cover: bind one directly (`&Value::Int32(7)`), or read a column as
/// it came (`row.get::<_, Value>(0)`).
pub use pg::DbValue as Value;

/// What a failed conversion returns (the `postgres` crate's alias too).
pub type BoxError = Box<dyn StdError + Sync + Send>;

/// A Rust value that can be bound to a `$n` parameter.
///
/// Implement it for a type of your own by returning one of the supported
/// types' values:
///
/// ```
/// use activity::postgres::types::{BoxError, ToSql, Value};
///
/// struct OrderId(i64);
///
/// impl ToSql for OrderId {
///     fn to_sql(&self) -> Result<Value, BoxError> {
///         self.0.to_sql()
///     }
/// }
/// assert_eq!(OrderId(7).to_sql().unwrap(), Value::Int64(7));
/// ```
pub trait ToSql {
    fn to_sql(&self) -> Result<Value, BoxError>;

    /// Which array variant a slice or `Vec` of this type binds as; `None`
    /// for types that cannot be array elements. It must be known without an
    /// element, because an empty array still has an element type.
    #[doc(hidden)]
    fn array_kind() -> Option<ArrayKind>
    where
        Self: Sized,
    {
        None
    }
}

/// A Rust value that a column can be read into (`row.get::<_, T>(i)`).
/// The lifetime lets `&str` and `&[u8]` borrow from the row.
pub trait FromSql<'a>: Sized {
    /// Converts a column's value; [`Value::Null`] included, which only
    /// `Option` (and [`Value`]) accept.
    fn from_sql(value: &'a Value) -> Result<Self, BoxError>;
}

/// A `FromSql` that borrows nothing from the row (the `postgres` crate's name).
pub trait FromSqlOwned: for<'a> FromSql<'a> {}
impl<T: for<'a> FromSql<'a>> FromSqlOwned for T {}

/// The name of a value's variant as the WIT spells it, for error messages.
pub(crate) fn variant_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int16(_) => "int16",
        Value::Int32(_) => "int32",
        Value::Int64(_) => "int64",
        Value::Float32(_) => "float32",
        Value::Float64(_) => "float64",
        Value::Numeric(_) => "numeric",
        Value::Text(_) => "text",
        Value::Bytea(_) => "bytea",
        Value::Uuid(_) => "uuid",
        Value::Json(_) => "json",
        Value::Jsonb(_) => "jsonb",
        Value::Date(_) => "date",
        Value::Time(_) => "time",
        Value::Timestamp(_) => "timestamp",
        Value::Timestamptz(_) => "timestamptz",
        Value::ArrayBoolean(_) => "array-boolean",
        Value::ArrayInt16(_) => "array-int16",
        Value::ArrayInt32(_) => "array-int32",
        Value::ArrayInt64(_) => "array-int64",
        Value::ArrayFloat32(_) => "array-float32",
        Value::ArrayFloat64(_) => "array-float64",
        Value::ArrayNumeric(_) => "array-numeric",
        Value::ArrayText(_) => "array-text",
        Value::ArrayBytea(_) => "array-bytea",
        Value::ArrayUuid(_) => "array-uuid",
        Value::ArrayJson(_) => "array-json",
        Value::ArrayJsonb(_) => "array-jsonb",
        Value::ArrayDate(_) => "array-date",
        Value::ArrayTime(_) => "array-time",
        Value::ArrayTimestamp(_) => "array-timestamp",
        Value::ArrayTimestamptz(_) => "array-timestamptz",
        Value::Unsupported(_) => "unsupported",
    }
}

fn mismatch<T>(value: &Value) -> BoxError {
    if matches!(value, Value::Null) {
        return "unexpected NULL (read the column as an Option)".into();
    }
    format!("cannot read a {} value as {}", variant_name(value), std::any::type_name::<T>()).into()
}

// ---------------------------------------------------------------------------
// Arrays

macro_rules! array_kinds {
    ($($kind:ident => $array:ident($scalar:ident)),+ $(,)?) => {
        /// The element type of an array parameter.
        #[doc(hidden)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ArrayKind { $($kind),+ }

        impl ArrayKind {
            /// Puts scalar values (each `Null` or this kind's variant) into this kind's array variant.
            fn collect(self, items: Vec<Value>) -> Result<Value, BoxError> {
                match self {
                    $(ArrayKind::$kind => Ok(Value::$array(
                        items
                            .into_iter()
                            .map(|item| match item {
                                Value::Null => Ok(None),
                                Value::$scalar(v) => Ok(Some(v)),
                                other => Err(format!(
                                    "an array of {} cannot hold a {} element",
                                    stringify!($scalar).to_lowercase(),
                                    variant_name(&other)
                                )),
                            })
                            .collect::<Result<_, _>>()?,
                    ))),+
                }
            }
        }

        /// An array column's elements as scalar values (`Null` for a NULL element).
        fn elements(value: &Value) -> Option<Vec<Value>> {
            match value {
                $(Value::$array(items) => Some(
                    items.iter().map(|i| i.clone().map_or(Value::Null, Value::$scalar)).collect(),
                ),)+
                _ => None,
            }
        }
    };
}

array_kinds! {
    Boolean => ArrayBoolean(Boolean),
    Int16 => ArrayInt16(Int16),
    Int32 => ArrayInt32(Int32),
    Int64 => ArrayInt64(Int64),
    Float32 => ArrayFloat32(Float32),
    Float64 => ArrayFloat64(Float64),
    Numeric => ArrayNumeric(Numeric),
    Text => ArrayText(Text),
    Bytea => ArrayBytea(Bytea),
    Uuid => ArrayUuid(Uuid),
    Json => ArrayJson(Json),
    Jsonb => ArrayJsonb(Jsonb),
    Date => ArrayDate(Date),
    Time => ArrayTime(Time),
    Timestamp => ArrayTimestamp(Timestamp),
    Timestamptz => ArrayTimestamptz(Timestamptz),
}

fn array<T: ToSql>(items: &[T]) -> Result<Value, BoxError> {
    let kind = T::array_kind().ok_or_else(|| format!("{} cannot be an array element", std::any::type_name::<T>()))?;
    kind.collect(items.iter().map(ToSql::to_sql).collect::<Result<_, _>>()?)
}

impl<T: ToSql> ToSql for &[T] {
    fn to_sql(&self) -> Result<Value, BoxError> {
        array(self)
    }
}

impl<T: ToSql> ToSql for Vec<T> {
    fn to_sql(&self) -> Result<Value, BoxError> {
        array(self)
    }
}

impl<T: ToSql, const N: usize> ToSql for [T; N] {
    fn to_sql(&self) -> Result<Value, BoxError> {
        array(self)
    }
}

/// Arrays read element by element, so `Vec<Option<T>>` takes NULL elements
/// and `Vec<T>` refuses them.
impl<'a, T: FromSqlOwned> FromSql<'a> for Vec<T> {
    fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
        let items = elements(value).ok_or_else(|| mismatch::<Self>(value))?;
        items.iter().enumerate().map(|(i, v)| T::from_sql(v).map_err(|e| format!("element {i}: {e}").into())).collect()
    }
}

// ---------------------------------------------------------------------------
// Wrappers

// `&T` for sized `T` only (as in the `postgres` crate), so that it can pass
// on `T`'s array kind; `&str`, `&[u8]` and `&[T]` have their own impls.
impl<T: ToSql> ToSql for &T {
    fn to_sql(&self) -> Result<Value, BoxError> {
        (**self).to_sql()
    }
    fn array_kind() -> Option<ArrayKind> {
        T::array_kind()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> Result<Value, BoxError> {
        match self {
            Some(v) => v.to_sql(),
            None => Ok(Value::Null),
        }
    }
    fn array_kind() -> Option<ArrayKind> {
        T::array_kind()
    }
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Option<T> {
    fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
        match value {
            Value::Null => Ok(None),
            v => T::from_sql(v).map(Some),
        }
    }
}

impl<T: ToSql + ?Sized> ToSql for Box<T> {
    fn to_sql(&self) -> Result<Value, BoxError> {
        (**self).to_sql()
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> Result<Value, BoxError> {
        Ok(self.clone())
    }
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
        Ok(value.clone())
    }
}

// ---------------------------------------------------------------------------
// Scalars

/// `impl ToSql` for a type that is one variant; `FromSql` from that variant
/// and the narrower ones listed after it (reading an int2 as `i64` loses nothing).
macro_rules! scalar {
    ($ty:ty, $variant:ident $(, $wider:ident)*) => {
        impl ToSql for $ty {
            fn to_sql(&self) -> Result<Value, BoxError> {
                Ok(Value::$variant(self.clone()))
            }
            fn array_kind() -> Option<ArrayKind> {
                Some(ArrayKind::$variant)
            }
        }
        impl<'a> FromSql<'a> for $ty {
            fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
                match value {
                    Value::$variant(v) => Ok(v.clone()),
                    $(Value::$wider(v) => Ok(<$ty>::from(*v)),)*
                    other => Err(mismatch::<Self>(other)),
                }
            }
        }
    };
}

scalar!(bool, Boolean);
scalar!(i16, Int16);
scalar!(i32, Int32, Int16);
scalar!(i64, Int64, Int32, Int16);
scalar!(f32, Float32);
scalar!(f64, Float64, Float32);
scalar!(Vec<u8>, Bytea);

impl ToSql for &str {
    fn to_sql(&self) -> Result<Value, BoxError> {
        Ok(Value::Text(self.to_string()))
    }
    fn array_kind() -> Option<ArrayKind> {
        Some(ArrayKind::Text)
    }
}

impl ToSql for String {
    fn to_sql(&self) -> Result<Value, BoxError> {
        Ok(Value::Text(self.clone()))
    }
    fn array_kind() -> Option<ArrayKind> {
        Some(ArrayKind::Text)
    }
}

/// The text of the value: text columns, and the types this interface
/// carries as text (numeric, uuid, json).
fn as_text<T>(value: &Value) -> Result<&str, BoxError> {
    match value {
        Value::Text(s) | Value::Numeric(s) | Value::Uuid(s) | Value::Json(s) | Value::Jsonb(s) => Ok(s),
        // The host names the type (it reads every column in the binary
        // format, which it cannot turn into text for a type it does not
        // know), so this is no value to hand out as one.
        Value::Unsupported(ty) => {
            Err(format!("the host does not carry values of type {ty}: cast the column in SQL (`::text`)").into())
        }
        other => Err(mismatch::<T>(other)),
    }
}

impl<'a> FromSql<'a> for String {
    fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
        as_text::<Self>(value).map(str::to_string)
    }
}

impl<'a> FromSql<'a> for &'a str {
    fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
        as_text::<Self>(value)
    }
}

impl ToSql for &[u8] {
    fn to_sql(&self) -> Result<Value, BoxError> {
        Ok(Value::Bytea(self.to_vec()))
    }
    fn array_kind() -> Option<ArrayKind> {
        Some(ArrayKind::Bytea)
    }
}

impl<const N: usize> ToSql for [u8; N] {
    fn to_sql(&self) -> Result<Value, BoxError> {
        Ok(Value::Bytea(self.to_vec()))
    }
}

impl<'a> FromSql<'a> for &'a [u8] {
    fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
        match value {
            Value::Bytea(b) => Ok(b),
            other => Err(mismatch::<Self>(other)),
        }
    }
}

// ---------------------------------------------------------------------------
// numeric, uuid, json

/// A `numeric` value, as its exact decimal text ("12.50", "-0.001", "NaN"):
/// no floating point in between, and no decimal crate imposed. Equality
/// compares the text, so "1.5" and "1.50" differ (PostgreSQL keeps the scale
/// too). Parse it into the decimal type you use: `n.0.parse::<rust_decimal::Decimal>()`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Numeric(pub String);

impl Numeric {
    pub fn new(decimal: impl Into<String>) -> Self {
        Numeric(decimal.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Numeric {
    fn from(s: &str) -> Self {
        Numeric(s.to_string())
    }
}

impl From<String> for Numeric {
    fn from(s: String) -> Self {
        Numeric(s)
    }
}

macro_rules! numeric_from_int {
    ($($t:ty),+) => {$(
        impl From<$t> for Numeric {
            fn from(n: $t) -> Self {
                Numeric(n.to_string())
            }
        }
    )+};
}
numeric_from_int!(i8, i16, i32, i64, i128, u8, u16, u32, u64, u128);

impl ToSql for Numeric {
    fn to_sql(&self) -> Result<Value, BoxError> {
        Ok(Value::Numeric(self.0.clone()))
    }
    fn array_kind() -> Option<ArrayKind> {
        Some(ArrayKind::Numeric)
    }
}

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
        match value {
            Value::Numeric(s) => Ok(Numeric(s.clone())),
            other => Err(mismatch::<Self>(other)),
        }
    }
}

/// A `uuid`. It keeps the 16 bytes, so any case or form that parses
/// compares equal; it prints in the canonical lowercase form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid([u8; 16]);

impl Uuid {
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Uuid(bytes)
    }
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
    /// The canonical form (`4f9c3c1e-8a3b-4c1d-9e2f-0123456789ab`), or the
    /// same 32 hex digits without hyphens or inside braces, in either case.
    pub fn parse_str(s: &str) -> Result<Self, InvalidUuid> {
        let bad = || InvalidUuid(s.to_string());
        let inner = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')).unwrap_or(s);
        let hex: Vec<u8> = match inner.len() {
            32 => inner.bytes().collect(),
            36 if [8, 13, 18, 23].iter().all(|&i| inner.as_bytes()[i] == b'-') => {
                inner.bytes().filter(|&b| b != b'-').collect()
            }
            _ => return Err(bad()),
        };
        if hex.len() != 32 {
            return Err(bad());
        }
        let mut bytes = [0u8; 16];
        for (i, pair) in hex.chunks(2).enumerate() {
            let digits = std::str::from_utf8(pair).map_err(|_| bad())?;
            bytes[i] = u8::from_str_radix(digits, 16).map_err(|_| bad())?;
        }
        Ok(Uuid(bytes))
    }
}

impl FromStr for Uuid {
    type Err = InvalidUuid;
    fn from_str(s: &str) -> Result<Self, InvalidUuid> {
        Uuid::parse_str(s)
    }
}

/// Text that [`Uuid::parse_str`] does not read as a UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidUuid(String);

impl fmt::Display for InvalidUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid uuid {:?}", self.0)
    }
}

impl StdError for InvalidUuid {}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl ToSql for Uuid {
    fn to_sql(&self) -> Result<Value, BoxError> {
        Ok(Value::Uuid(self.to_string()))
    }
    fn array_kind() -> Option<ArrayKind> {
        Some(ArrayKind::Uuid)
    }
}

impl<'a> FromSql<'a> for Uuid {
    fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
        match value {
            Value::Uuid(s) => Ok(Uuid::parse_str(s)?),
            other => Err(mismatch::<Self>(other)),
        }
    }
}

/// A `json` or `jsonb` value of any serde type (the `postgres` crate's
/// `Json<T>`): `Json(&order)` binds it, `row.get::<_, Json<Order>>(0).0`
/// reads it. It binds as `jsonb`, the type columns almost always have;
/// the host hands it to a `json` parameter as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize> ToSql for Json<T> {
    fn to_sql(&self) -> Result<Value, BoxError> {
        Ok(Value::Jsonb(serde_json::to_string(&self.0)?))
    }
    fn array_kind() -> Option<ArrayKind> {
        Some(ArrayKind::Jsonb)
    }
}

impl<'a, T: DeserializeOwned> FromSql<'a> for Json<T> {
    fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
        match value {
            Value::Json(s) | Value::Jsonb(s) => Ok(Json(serde_json::from_str(s)?)),
            other => Err(mismatch::<Self>(other)),
        }
    }
}

impl ToSql for serde_json::Value {
    fn to_sql(&self) -> Result<Value, BoxError> {
        Json(self).to_sql()
    }
    fn array_kind() -> Option<ArrayKind> {
        Some(ArrayKind::Jsonb)
    }
}

impl<'a> FromSql<'a> for serde_json::Value {
    fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
        Json::<serde_json::Value>::from_sql(value).map(|j| j.0)
    }
}

// ---------------------------------------------------------------------------
// Dates and times: PostgreSQL's own resolution (days, microseconds), so a
// value read back and bound again is the same value. `chrono` users enable
// the `chrono` feature instead.

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + if month <= 2 { 1 } else { 0 }, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        _ => 28,
    }
}

/// ISO 8601 years: four digits, a sign beyond 0000..=9999 (year 0 is 1 BC).
fn write_year(f: &mut fmt::Formatter<'_>, year: i64) -> fmt::Result {
    if (0..=9999).contains(&year) { write!(f, "{year:04}") } else { write!(f, "{year:+05}") }
}

fn write_time_of_day(f: &mut fmt::Formatter<'_>, micros: i64) -> fmt::Result {
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    write!(f, "{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)?;
    if frac != 0 {
        write!(f, ".{frac:06}")?;
    }
    Ok(())
}

/// A `date`: days since 1970-01-01 (negative before). PostgreSQL's
/// `infinity` and `-infinity` are [`Date::INFINITY`] and [`Date::NEG_INFINITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date(i32);

impl Date {
    pub const INFINITY: Date = Date(i32::MAX);
    pub const NEG_INFINITY: Date = Date(i32::MIN);
    pub const UNIX_EPOCH: Date = Date(0);

    pub const fn from_unix_days(days: i32) -> Self {
        Date(days)
    }
    pub const fn unix_days(self) -> i32 {
        self.0
    }
    /// `None` for a day that does not exist (February 30th) or is out of range.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year.into(), month) {
            return None;
        }
        i32::try_from(days_from_civil(year.into(), month, day)).ok().map(Date)
    }
    /// Year (0 is 1 BC), month 1..=12, day 1..=31.
    pub fn ymd(self) -> (i32, u32, u32) {
        let (y, m, d) = civil_from_days(self.0.into());
        (y as i32, m, d)
    }
    pub fn is_finite(self) -> bool {
        self != Date::INFINITY && self != Date::NEG_INFINITY
    }
}

/// `2024-02-29`, or `infinity` / `-infinity`.
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Date::INFINITY => f.write_str("infinity"),
            Date::NEG_INFINITY => f.write_str("-infinity"),
            _ => {
                let (y, m, d) = civil_from_days(self.0.into());
                write_year(f, y)?;
                write!(f, "-{m:02}-{d:02}")
            }
        }
    }
}

/// A `time` (without time zone): microseconds since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Time(i64);

impl Time {
    pub const MIDNIGHT: Time = Time(0);

    /// `None` out of 00:00:00..=24:00:00 (PostgreSQL allows 24:00:00).
    pub const fn from_micros(micros: i64) -> Option<Self> {
        if micros >= 0 && micros <= MICROS_PER_DAY { Some(Time(micros)) } else { None }
    }
    pub fn from_hms_micro(hour: u32, minute: u32, second: u32, micro: u32) -> Option<Self> {
        if minute > 59 || second > 59 || micro > 999_999 {
            return None;
        }
        Time::from_micros(((hour as i64 * 60 + minute as i64) * 60 + second as i64) * 1_000_000 + micro as i64)
    }
    pub const fn micros(self) -> i64 {
        self.0
    }
    /// Hour, minute, second, microsecond.
    pub fn hms_micro(self) -> (u32, u32, u32, u32) {
        let secs = self.0 / 1_000_000;
        ((secs / 3600) as u32, (secs / 60 % 60) as u32, (secs % 60) as u32, (self.0 % 1_000_000) as u32)
    }
}

/// `13:45:00`, or `13:45:00.250000` with a fraction.
impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_time_of_day(f, self.0)
    }
}

fn write_timestamp(f: &mut fmt::Formatter<'_>, micros: i64) -> fmt::Result {
    match micros {
        i64::MAX => f.write_str("infinity"),
        i64::MIN => f.write_str("-infinity"),
        _ => {
            let (days, time) = (micros.div_euclid(MICROS_PER_DAY), micros.rem_euclid(MICROS_PER_DAY));
            let (y, m, d) = civil_from_days(days);
            write_year(f, y)?;
            write!(f, "-{m:02}-{d:02}T")?;
            write_time_of_day(f, time)
        }
    }
}

fn system_time_micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |m| -m),
    }
}

fn micros_system_time(micros: i64) -> Result<SystemTime, BoxError> {
    let infinite = || -> BoxError { "an infinite timestamp has no SystemTime".into() };
    match micros {
        i64::MAX | i64::MIN => Err(infinite()),
        m if m >= 0 => UNIX_EPOCH.checked_add(Duration::from_micros(m as u64)).ok_or_else(infinite),
        m => UNIX_EPOCH.checked_sub(Duration::from_micros(m.unsigned_abs())).ok_or_else(infinite),
    }
}

macro_rules! timestamp_type {
    ($(#[$doc:meta])* $name:ident, $suffix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(i64);

        impl $name {
            pub const INFINITY: $name = $name(i64::MAX);
            pub const NEG_INFINITY: $name = $name(i64::MIN);
            pub const UNIX_EPOCH: $name = $name(0);

            pub const fn from_unix_micros(micros: i64) -> Self {
                $name(micros)
            }
            pub const fn unix_micros(self) -> i64 {
                self.0
            }
            /// `None` for an infinite date.
            pub fn new(date: Date, time: Time) -> Option<Self> {
                date.is_finite().then(|| $name(date.0 as i64 * MICROS_PER_DAY + time.0))
            }
            /// `None` when infinite.
            pub fn date(self) -> Option<Date> {
                self.is_finite().then(|| Date(self.0.div_euclid(MICROS_PER_DAY) as i32))
            }
            /// `None` when infinite.
            pub fn time(self) -> Option<Time> {
                self.is_finite().then(|| Time(self.0.rem_euclid(MICROS_PER_DAY)))
            }
            pub fn is_finite(self) -> bool {
                self.0 != i64::MAX && self.0 != i64::MIN
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_timestamp(f, self.0)?;
                if self.is_finite() { f.write_str($suffix) } else { Ok(()) }
            }
        }

        impl From<SystemTime> for $name {
            fn from(t: SystemTime) -> Self {
                $name(system_time_micros(t))
            }
        }

        impl TryFrom<$name> for SystemTime {
            type Error = BoxError;
            fn try_from(t: $name) -> Result<SystemTime, BoxError> {
                micros_system_time(t.0)
            }
        }
    };
}

timestamp_type!(
    /// A `timestamp` (without time zone): microseconds since 1970-01-01
    /// 00:00:00, on no particular clock. Prints as `2024-02-29T13:45:00`.
    Timestamp,
    ""
);
timestamp_type!(
    /// A `timestamptz`: microseconds since 1970-01-01 00:00:00 UTC, an
    /// instant. Prints in UTC as `2024-02-29T13:45:00+00:00`.
    TimestampTz,
    "+00:00"
);

macro_rules! newtype_sql {
    ($ty:ident, $variant:ident) => {
        impl ToSql for $ty {
            fn to_sql(&self) -> Result<Value, BoxError> {
                Ok(Value::$variant(self.0))
            }
            fn array_kind() -> Option<ArrayKind> {
                Some(ArrayKind::$variant)
            }
        }
        impl<'a> FromSql<'a> for $ty {
            fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
                match value {
                    Value::$variant(v) => Ok($ty(*v)),
                    other => Err(mismatch::<Self>(other)),
                }
            }
        }
    };
}

newtype_sql!(Date, Date);
newtype_sql!(Time, Time);
newtype_sql!(Timestamp, Timestamp);
newtype_sql!(TimestampTz, Timestamptz);

/// An instant binds as `timestamptz` (the `postgres` crate's mapping).
impl ToSql for SystemTime {
    fn to_sql(&self) -> Result<Value, BoxError> {
        Ok(Value::Timestamptz(system_time_micros(*self)))
    }
    fn array_kind() -> Option<ArrayKind> {
        Some(ArrayKind::Timestamptz)
    }
}

/// From `timestamptz`, or a `timestamp` taken as UTC.
impl<'a> FromSql<'a> for SystemTime {
    fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
        match value {
            Value::Timestamptz(m) | Value::Timestamp(m) => micros_system_time(*m),
            other => Err(mismatch::<Self>(other)),
        }
    }
}

// ---------------------------------------------------------------------------
// Optional interop: `chrono` and `uuid`, the types most Rust code already holds.

#[cfg(feature = "chrono")]
mod with_chrono {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};

    use super::*;

    const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();

    fn out_of_range<T>() -> BoxError {
        format!("out of {}'s range", std::any::type_name::<T>()).into()
    }

    impl ToSql for NaiveDate {
        fn to_sql(&self) -> Result<Value, BoxError> {
            let days = self.signed_duration_since(EPOCH).num_days();
            Ok(Value::Date(i32::try_from(days)?))
        }
        fn array_kind() -> Option<ArrayKind> {
            Some(ArrayKind::Date)
        }
    }
    impl<'a> FromSql<'a> for NaiveDate {
        fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
            let date = Date::from_sql(value)?;
            EPOCH.checked_add_signed(chrono::Duration::days(date.0.into())).ok_or_else(out_of_range::<Self>)
        }
    }

    impl ToSql for NaiveTime {
        fn to_sql(&self) -> Result<Value, BoxError> {
            // A leap second (nanosecond >= 1e9) folds into the second before.
            let micros = (self.nanosecond() % 1_000_000_000 / 1000) as i64;
            Ok(Value::Time(self.num_seconds_from_midnight() as i64 * 1_000_000 + micros))
        }
        fn array_kind() -> Option<ArrayKind> {
            Some(ArrayKind::Time)
        }
    }
    impl<'a> FromSql<'a> for NaiveTime {
        fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
            let micros = Time::from_sql(value)?.0 % MICROS_PER_DAY; // 24:00:00 is midnight
            NaiveTime::from_num_seconds_from_midnight_opt(
                (micros / 1_000_000) as u32,
                (micros % 1_000_000) as u32 * 1000,
            )
            .ok_or_else(out_of_range::<Self>)
        }
    }

    fn micros_of(t: &NaiveDateTime) -> Result<i64, BoxError> {
        Ok(t.and_utc().timestamp_micros())
    }
    fn naive_of(micros: i64) -> Result<NaiveDateTime, BoxError> {
        if micros == i64::MAX || micros == i64::MIN {
            return Err("an infinite timestamp has no chrono value".into());
        }
        DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc()).ok_or_else(out_of_range::<NaiveDateTime>)
    }

    impl ToSql for NaiveDateTime {
        fn to_sql(&self) -> Result<Value, BoxError> {
            Ok(Value::Timestamp(micros_of(self)?))
        }
        fn array_kind() -> Option<ArrayKind> {
            Some(ArrayKind::Timestamp)
        }
    }
    impl<'a> FromSql<'a> for NaiveDateTime {
        fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
            naive_of(Timestamp::from_sql(value)?.0)
        }
    }

    impl ToSql for DateTime<Utc> {
        fn to_sql(&self) -> Result<Value, BoxError> {
            Ok(Value::Timestamptz(self.timestamp_micros()))
        }
        fn array_kind() -> Option<ArrayKind> {
            Some(ArrayKind::Timestamptz)
        }
    }
    impl<'a> FromSql<'a> for DateTime<Utc> {
        fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
            naive_of(TimestampTz::from_sql(value)?.0).map(|t| t.and_utc())
        }
    }
}

#[cfg(feature = "uuid")]
mod with_uuid {
    use super::*;

    impl ToSql for uuid::Uuid {
        fn to_sql(&self) -> Result<Value, BoxError> {
            Uuid(*self.as_bytes()).to_sql()
        }
        fn array_kind() -> Option<ArrayKind> {
            Some(ArrayKind::Uuid)
        }
    }
    impl<'a> FromSql<'a> for uuid::Uuid {
        fn from_sql(value: &'a Value) -> Result<Self, BoxError> {
            Uuid::from_sql(value).map(|u| uuid::Uuid::from_bytes(u.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(value: &(dyn ToSql + Sync)) -> Value {
        value.to_sql().unwrap()
    }

    #[test]
    fn scalars_bind_as_their_variant() {
        assert_eq!(bind(&true), Value::Boolean(true));
        assert_eq!(bind(&7i16), Value::Int16(7));
        assert_eq!(bind(&7i32), Value::Int32(7));
        assert_eq!(bind(&7i64), Value::Int64(7));
        assert_eq!(bind(&1.5f32), Value::Float32(1.5));
        assert_eq!(bind(&1.5f64), Value::Float64(1.5));
        assert_eq!(bind(&"hi"), Value::Text("hi".into()));
        assert_eq!(bind(&String::from("hi")), Value::Text("hi".into()));
        assert_eq!(bind(&&b"\x01\x02"[..]), Value::Bytea(vec![1, 2]));
        assert_eq!(bind(&vec![1u8, 2]), Value::Bytea(vec![1, 2]));
        assert_eq!(bind(&None::<i32>), Value::Null);
        assert_eq!(bind(&Some(3i32)), Value::Int32(3));
        assert_eq!(bind(&Numeric::from("12.50")), Value::Numeric("12.50".into()));
        assert_eq!(bind(&Json(serde_json::json!({"a": 1}))), Value::Jsonb(r#"{"a":1}"#.into()));
        assert_eq!(bind(&serde_json::json!([1])), Value::Jsonb("[1]".into()));
    }

    #[test]
    fn arrays_bind_with_their_element_type_even_when_empty_or_null() {
        assert_eq!(bind(&vec![1i32, 2]), Value::ArrayInt32(vec![Some(1), Some(2)]));
        assert_eq!(bind(&vec![Some(1i64), None]), Value::ArrayInt64(vec![Some(1), None]));
        assert_eq!(bind(&Vec::<String>::new()), Value::ArrayText(vec![]));
        assert_eq!(bind(&vec![None::<f64>]), Value::ArrayFloat64(vec![None]));
        assert_eq!(bind(&&[true][..]), Value::ArrayBoolean(vec![Some(true)]));
        assert_eq!(bind(&vec!["a", "b"]), Value::ArrayText(vec![Some("a".into()), Some("b".into())]));
        assert_eq!(bind(&vec![&b"\x01"[..]]), Value::ArrayBytea(vec![Some(vec![1])]));
        assert_eq!(bind(&[Date::from_unix_days(1)]), Value::ArrayDate(vec![Some(1)]));
        assert_eq!(bind(&vec![vec![1u8]]), Value::ArrayBytea(vec![Some(vec![1])]));
        assert_eq!(bind(&vec![Json(1)]), Value::ArrayJsonb(vec![Some("1".into())]));
        let nested = vec![vec![1i32]];
        assert!(nested.to_sql().unwrap_err().to_string().contains("cannot be an array element"));
    }

    #[test]
    fn reading_widens_integers_and_refuses_other_types() {
        assert_eq!(i64::from_sql(&Value::Int16(3)).unwrap(), 3);
        assert_eq!(i32::from_sql(&Value::Int16(3)).unwrap(), 3);
        assert_eq!(f64::from_sql(&Value::Float32(0.5)).unwrap(), 0.5);
        let err = i32::from_sql(&Value::Int64(3)).unwrap_err().to_string();
        assert_eq!(err, "cannot read a int64 value as i32");
        assert!(i32::from_sql(&Value::Null).unwrap_err().to_string().contains("NULL"));
        assert_eq!(Option::<i32>::from_sql(&Value::Null).unwrap(), None);
        let err = <&str>::from_sql(&Value::Unsupported("interval".into())).unwrap_err().to_string();
        assert_eq!(err, "the host does not carry values of type interval: cast the column in SQL (`::text`)");
        assert_eq!(String::from_sql(&Value::Numeric("1.50".into())).unwrap(), "1.50");
    }

    #[test]
    fn arrays_read_element_by_element() {
        let v = Value::ArrayInt32(vec![Some(1), None]);
        assert_eq!(Vec::<Option<i32>>::from_sql(&v).unwrap(), vec![Some(1), None]);
        assert_eq!(Vec::<Option<i64>>::from_sql(&v).unwrap(), vec![Some(1), None]);
        assert!(Vec::<i32>::from_sql(&v).unwrap_err().to_string().starts_with("element 1: unexpected NULL"));
        let t = Value::ArrayText(vec![Some("a".into())]);
        assert_eq!(Vec::<String>::from_sql(&t).unwrap(), vec!["a".to_string()]);
        let j = Value::ArrayJsonb(vec![Some(r#"{"x":1}"#.into())]);
        assert_eq!(Vec::<serde_json::Value>::from_sql(&j).unwrap(), vec![serde_json::json!({"x": 1})]);
    }

    #[test]
    fn uuids_parse_in_any_form_and_print_canonically() {
        let canonical = "4f9c3c1e-8a3b-4c1d-9e2f-0123456789ab";
        let u: Uuid = canonical.parse().unwrap();
        assert_eq!(u.to_string(), canonical);
        assert_eq!(Uuid::parse_str("{4F9C3C1E8A3B4C1D9E2F0123456789AB}").unwrap(), u);
        assert!(Uuid::parse_str("4f9c3c1e-8a3b-4c1d-9e2f-0123456789a").is_err());
        assert!(Uuid::parse_str("4f9c3c1e+8a3b-4c1d-9e2f-0123456789ab").is_err());
        assert_eq!(bind(&u), Value::Uuid(canonical.into()));
    }

    #[test]
    fn dates_and_times_print_as_iso_8601() {
        let d = Date::from_ymd(2024, 2, 29).unwrap();
        assert_eq!(d.to_string(), "2024-02-29");
        assert_eq!(d.ymd(), (2024, 2, 29));
        assert_eq!(Date::from_ymd(1970, 1, 1), Some(Date::UNIX_EPOCH));
        assert_eq!(Date::from_ymd(1969, 12, 31).unwrap().unix_days(), -1);
        assert_eq!(Date::from_ymd(2023, 2, 29), None);
        assert_eq!(Date::from_ymd(-43, 3, 15).unwrap().to_string(), "-0043-03-15");
        assert_eq!(Date::INFINITY.to_string(), "infinity");
        for days in [-800_000, -1, 0, 1, 59, 60, 11_016, 2_900_000] {
            let (y, m, d) = Date::from_unix_days(days).ymd();
            assert_eq!(Date::from_ymd(y, m, d).unwrap().unix_days(), days);
        }
        let t = Time::from_hms_micro(13, 45, 0, 250_000).unwrap();
        assert_eq!(t.to_string(), "13:45:00.250000");
        assert_eq!(Time::from_hms_micro(9, 5, 3, 0).unwrap().to_string(), "09:05:03");
        assert_eq!(Time::from_hms_micro(24, 0, 0, 0).unwrap().to_string(), "24:00:00");
        assert_eq!(Time::from_hms_micro(24, 0, 0, 1), None);
        let ts = Timestamp::new(d, t).unwrap();
        assert_eq!(ts.to_string(), "2024-02-29T13:45:00.250000");
        assert_eq!((ts.date(), ts.time()), (Some(d), Some(t)));
        assert_eq!(TimestampTz::from_unix_micros(-1).to_string(), "1969-12-31T23:59:59.999999+00:00");
        assert_eq!(TimestampTz::NEG_INFINITY.to_string(), "-infinity");
    }

    #[test]
    fn system_time_is_a_timestamptz() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(bind(&t), Value::Timestamptz(1_700_000_000_123_456));
        assert_eq!(SystemTime::from_sql(&Value::Timestamptz(1_700_000_000_123_456)).unwrap(), t);
        let before = UNIX_EPOCH - Duration::from_micros(5);
        assert_eq!(TimestampTz::from(before).unix_micros(), -5);
        assert!(SystemTime::from_sql(&Value::Timestamptz(i64::MAX)).is_err());
    }

    #[cfg(feature = "chrono")]
    #[test]
    fn chrono_values_match_the_sdk_types() {
        use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(bind(&d), bind(&Date::from_ymd(2024, 2, 29).unwrap()));
        assert_eq!(NaiveDate::from_sql(&bind(&d)).unwrap(), d);
        let t = NaiveTime::from_hms_micro_opt(13, 45, 0, 250_000).unwrap();
        assert_eq!(bind(&t), bind(&Time::from_hms_micro(13, 45, 0, 250_000).unwrap()));
        assert_eq!(NaiveTime::from_sql(&bind(&t)).unwrap(), t);
        let dt = NaiveDateTime::new(d, t);
        assert_eq!(NaiveDateTime::from_sql(&bind(&dt)).unwrap(), dt);
        let utc = dt.and_utc();
        assert_eq!(bind(&utc), Value::Timestamptz(utc.timestamp_micros()));
        assert_eq!(chrono::DateTime::<chrono::Utc>::from_sql(&bind(&utc)).unwrap(), utc);
    }
}
