//! `db-value` ↔ PostgreSQL's binary wire format.
//!
//! Parameters are encoded for the type the server inferred for their
//! placeholder, so a guest's integer binds to an `int2`, `int4`, `numeric`
//! or `float8` column alike (range-checked), and a string to any text-like,
//! `uuid`, `json` or `numeric` placeholder: what a Python or JavaScript
//! driver's users expect. Results are decoded by column type; a type this
//! interface does not cover comes back as `unsupported` with its name, so the
//! author knows to cast it in SQL.
//!
//! The codecs of postgres-protocol do the work; `numeric` has none there
//! (tokio-postgres leaves it to crates with a fixed precision, which would
//! lose digits), so its base-10000 format is encoded here.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::types as wire;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

use crate::bindings::postgres::DbValue;

type BoxError = Box<dyn StdError + Sync + Send>;

/// Days and microseconds between PostgreSQL's epoch (2000-01-01) and Unix's.
const EPOCH_DAYS: i32 = 10_957;
const EPOCH_MICROS: i64 = 946_684_800_000_000;
const DAY_MICROS: i64 = 86_400_000_000;

/// A parameter, encoded for whatever type its placeholder has.
#[derive(Debug)]
pub struct Param<'a>(pub &'a DbValue);

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        encode(self.0, ty, out)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn mismatch(value: &DbValue, ty: &Type) -> BoxError {
    format!("a {} cannot be bound to a parameter of type {}", kind_name(value), ty.name()).into()
}

fn kind_name(value: &DbValue) -> &'static str {
    match value {
        DbValue::Null => "null",
        DbValue::Boolean(_) => "boolean",
        DbValue::Int16(_) | DbValue::Int32(_) | DbValue::Int64(_) => "integer",
        DbValue::Float32(_) | DbValue::Float64(_) => "float",
        DbValue::Numeric(_) => "numeric",
        DbValue::Text(_) => "string",
        DbValue::Bytea(_) => "byte string",
        DbValue::Uuid(_) => "uuid",
        DbValue::Json(_) | DbValue::Jsonb(_) => "json value",
        DbValue::Date(_) => "date",
        DbValue::Time(_) => "time",
        DbValue::Timestamp(_) => "timestamp",
        DbValue::Timestamptz(_) => "timestamptz",
        DbValue::Unsupported(_) => "unsupported value",
        _ => "array",
    }
}

fn encode(value: &DbValue, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
    if let Kind::Array(element) = ty.kind() {
        return encode_array(value, ty, element, out);
    }
    match value {
        DbValue::Null => return Ok(IsNull::Yes),
        DbValue::Boolean(b) if *ty == Type::BOOL => wire::bool_to_sql(*b, out),
        DbValue::Boolean(b) if is_text(ty) => wire::text_to_sql(if *b { "true" } else { "false" }, out),
        DbValue::Int16(n) => encode_int(i64::from(*n), value, ty, out)?,
        DbValue::Int32(n) => encode_int(i64::from(*n), value, ty, out)?,
        DbValue::Int64(n) => encode_int(*n, value, ty, out)?,
        DbValue::Float32(f) => encode_float(f64::from(*f), value, ty, out)?,
        DbValue::Float64(f) => encode_float(*f, value, ty, out)?,
        DbValue::Numeric(text) => match *ty {
            Type::NUMERIC => numeric_to_sql(text, out)?,
            Type::FLOAT4 | Type::FLOAT8 => encode_float(text.trim().parse()?, value, ty, out)?,
            Type::INT2 | Type::INT4 | Type::INT8 => encode_int(text.trim().parse()?, value, ty, out)?,
            _ if is_text(ty) => wire::text_to_sql(text, out),
            _ => return Err(mismatch(value, ty)),
        },
        DbValue::Text(text) | DbValue::Uuid(text) | DbValue::Json(text) | DbValue::Jsonb(text) => {
            encode_text(text, value, ty, out)?
        }
        DbValue::Bytea(bytes) if *ty == Type::BYTEA => wire::bytea_to_sql(bytes, out),
        DbValue::Date(days) => match *ty {
            Type::DATE => wire::date_to_sql(days - EPOCH_DAYS, out),
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                wire::timestamp_to_sql(i64::from(*days) * DAY_MICROS - EPOCH_MICROS, out)
            }
            _ => return Err(mismatch(value, ty)),
        },
        DbValue::Time(micros) if *ty == Type::TIME => wire::time_to_sql(*micros, out),
        DbValue::Timestamp(micros) | DbValue::Timestamptz(micros) => match *ty {
            Type::TIMESTAMP | Type::TIMESTAMPTZ => wire::timestamp_to_sql(shift(*micros, -EPOCH_MICROS), out),
            Type::DATE => wire::date_to_sql((micros.div_euclid(DAY_MICROS)) as i32 - EPOCH_DAYS, out),
            _ => return Err(mismatch(value, ty)),
        },
        _ => return Err(mismatch(value, ty)),
    }
    Ok(IsNull::No)
}

/// PostgreSQL's infinities are the i64 extremes: they stay where they are.
fn shift(micros: i64, by: i64) -> i64 {
    if micros == i64::MIN || micros == i64::MAX { micros } else { micros + by }
}

fn is_text(ty: &Type) -> bool {
    matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN)
        || ty.name() == "citext"
        || matches!(ty.kind(), Kind::Enum(_))
}

fn encode_int(n: i64, value: &DbValue, ty: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
    let range = |what: &str| -> BoxError { format!("{n} is out of range for type {what}").into() };
    match *ty {
        Type::INT2 => wire::int2_to_sql(i16::try_from(n).map_err(|_| range("smallint"))?, out),
        Type::INT4 => wire::int4_to_sql(i32::try_from(n).map_err(|_| range("integer"))?, out),
        Type::INT8 => wire::int8_to_sql(n, out),
        Type::OID => wire::oid_to_sql(u32::try_from(n).map_err(|_| range("oid"))?, out),
        Type::FLOAT4 => wire::float4_to_sql(n as f32, out),
        Type::FLOAT8 => wire::float8_to_sql(n as f64, out),
        Type::NUMERIC => numeric_to_sql(&n.to_string(), out)?,
        _ if is_text(ty) => wire::text_to_sql(&n.to_string(), out),
        _ => return Err(mismatch(value, ty)),
    }
    Ok(())
}

fn encode_float(f: f64, value: &DbValue, ty: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
    match *ty {
        Type::FLOAT4 => wire::float4_to_sql(f as f32, out),
        Type::FLOAT8 => wire::float8_to_sql(f, out),
        Type::NUMERIC if f.is_finite() => numeric_to_sql(&format!("{f}"), out)?,
        Type::NUMERIC => numeric_to_sql(
            if f.is_nan() {
                "NaN"
            } else if f > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            },
            out,
        )?,
        Type::INT2 | Type::INT4 | Type::INT8 if f.fract() == 0.0 && f.abs() < 9.2e18 => {
            encode_int(f as i64, value, ty, out)?
        }
        _ if is_text(ty) => wire::text_to_sql(&format!("{f}"), out),
        _ => return Err(mismatch(value, ty)),
    }
    Ok(())
}

fn encode_text(text: &str, value: &DbValue, ty: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
    match *ty {
        _ if is_text(ty) => wire::text_to_sql(text, out),
        Type::JSON => wire::text_to_sql(text, out),
        Type::JSONB => {
            out.put_u8(1);
            wire::text_to_sql(text, out)
        }
        Type::UUID => wire::uuid_to_sql(parse_uuid(text)?, out),
        Type::NUMERIC => numeric_to_sql(text, out)?,
        Type::INT2 | Type::INT4 | Type::INT8 => encode_int(text.trim().parse()?, value, ty, out)?,
        Type::FLOAT4 | Type::FLOAT8 => encode_float(text.trim().parse()?, value, ty, out)?,
        // What a JavaScript or Python caller writes as text, as the server
        // would read it in a literal.
        Type::DATE => wire::date_to_sql(parse_date(text.trim())? - EPOCH_DAYS, out),
        Type::TIME => wire::time_to_sql(parse_time(text.trim())?, out),
        Type::TIMESTAMP => wire::timestamp_to_sql(shift(parse_timestamp(text, false)?, -EPOCH_MICROS), out),
        Type::TIMESTAMPTZ => wire::timestamp_to_sql(shift(parse_timestamp(text, true)?, -EPOCH_MICROS), out),
        Type::BYTEA => match text.strip_prefix("\\x") {
            Some(hex) if hex.len() % 2 == 0 => {
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .map_err(|_| format!("{text:?} is not \\x-prefixed hex"))?;
                wire::bytea_to_sql(&bytes, out)
            }
            _ => wire::bytea_to_sql(text.as_bytes(), out),
        },
        Type::BOOL => wire::bool_to_sql(
            match text.trim().to_ascii_lowercase().as_str() {
                "t" | "true" | "y" | "yes" | "on" | "1" => true,
                "f" | "false" | "n" | "no" | "off" | "0" => false,
                _ => return Err(format!("{text:?} is not a boolean").into()),
            },
            out,
        ),
        _ => return Err(mismatch(value, ty)),
    }
    Ok(())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD`, as days since 1970-01-01.
fn parse_date(text: &str) -> Result<i32, BoxError> {
    let invalid = || -> BoxError { format!("{text:?} is not a date (YYYY-MM-DD)").into() };
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text),
    };
    let mut parts = rest.splitn(3, '-');
    let year: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(invalid)?;
    let month: u32 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(invalid)?;
    let day: u32 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(invalid)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(invalid());
    }
    i32::try_from(days_from_civil(sign * year, month, day)).map_err(|_| invalid())
}

/// `HH:MM[:SS[.ffffff]]`, as microseconds since midnight.
fn parse_time(text: &str) -> Result<i64, BoxError> {
    let invalid = || -> BoxError { format!("{text:?} is not a time (HH:MM[:SS[.ffffff]])").into() };
    let (clock, fraction) = text.split_once('.').unwrap_or((text, ""));
    let mut parts = clock.split(':');
    let hour: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(invalid)?;
    let minute: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(invalid)?;
    let second: i64 = match parts.next() {
        Some(p) => p.parse().map_err(|_| invalid())?,
        None => 0,
    };
    if parts.next().is_some()
        || hour > 24
        || minute > 59
        || second > 60
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let micros: i64 = format!("{:0<6}", &fraction[..fraction.len().min(6)]).parse().map_err(|_| invalid())?;
    Ok(((hour * 60 + minute) * 60 + second) * 1_000_000 + micros)
}

/// `YYYY-MM-DD[T| ]HH:MM[:SS[.f]][Z|±HH[:MM]]` (a date alone is midnight),
/// as microseconds since 1970-01-01 UTC; without an offset the time is
/// taken as UTC for `timestamptz` and as written for `timestamp`; with one,
/// a `timestamp` keeps the wall time as written (PostgreSQL ignores it too).
fn parse_timestamp(text: &str, with_zone: bool) -> Result<i64, BoxError> {
    let text = text.trim();
    match text.to_ascii_lowercase().as_str() {
        "infinity" => return Ok(i64::MAX),
        "-infinity" => return Ok(i64::MIN),
        _ => {}
    }
    let split = text.char_indices().skip(1).find(|&(_, c)| c == 'T' || c == 't' || c == ' ').map(|(i, _)| i);
    let (date, rest) = match split {
        Some(i) => (&text[..i], text[i + 1..].trim()),
        None => (text, ""),
    };
    let days = i64::from(parse_date(date)?);
    let (clock, offset_seconds) = match rest.rfind(['Z', 'z', '+', '-']) {
        Some(i) if !rest.is_empty() => {
            let zone = &rest[i..];
            let seconds = if zone.eq_ignore_ascii_case("z") {
                0
            } else {
                let sign = if zone.starts_with('-') { -1 } else { 1 };
                let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
                let (h, m) = digits.split_at(digits.len().min(2));
                let h: i64 = h.parse().map_err(|_| format!("{text:?} has an invalid UTC offset"))?;
                let m: i64 = if m.is_empty() {
                    0
                } else {
                    m.parse().map_err(|_| format!("{text:?} has an invalid UTC offset"))?
                };
                sign * (h * 3600 + m * 60)
            };
            (rest[..i].trim(), seconds)
        }
        _ => (rest, 0),
    };
    let micros = if clock.is_empty() { 0 } else { parse_time(clock)? };
    let local = days * DAY_MICROS + micros;
    Ok(if with_zone { local - offset_seconds * 1_000_000 } else { local })
}

fn parse_uuid(text: &str) -> Result<[u8; 16], BoxError> {
    let hex: String = text.trim().trim_start_matches('{').trim_end_matches('}').chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{text:?} is not a UUID").into());
    }
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
    }
    Ok(bytes)
}

fn format_uuid(b: [u8; 16]) -> String {
    let h = |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!("{}-{}-{}-{}-{}", h(0..4), h(4..6), h(6..8), h(8..10), h(10..16))
}

/// A one-dimensional array parameter: each element encoded for the
/// element type, so an `array-int64` binds to `int4[]` as to `int8[]`.
fn encode_array(value: &DbValue, ty: &Type, element: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
    fn items<T: Clone>(list: &[Option<T>], wrap: fn(T) -> DbValue) -> Vec<DbValue> {
        list.iter().map(|v| v.clone().map_or(DbValue::Null, wrap)).collect()
    }
    let elements: Vec<DbValue> = match value {
        DbValue::Null => return Ok(IsNull::Yes),
        DbValue::ArrayBoolean(l) => items(l, DbValue::Boolean),
        DbValue::ArrayInt16(l) => items(l, DbValue::Int16),
        DbValue::ArrayInt32(l) => items(l, DbValue::Int32),
        DbValue::ArrayInt64(l) => items(l, DbValue::Int64),
        DbValue::ArrayFloat32(l) => items(l, DbValue::Float32),
        DbValue::ArrayFloat64(l) => items(l, DbValue::Float64),
        DbValue::ArrayNumeric(l) => items(l, DbValue::Numeric),
        DbValue::ArrayText(l) => items(l, DbValue::Text),
        DbValue::ArrayBytea(l) => items(l, DbValue::Bytea),
        DbValue::ArrayUuid(l) => items(l, DbValue::Uuid),
        DbValue::ArrayJson(l) => items(l, DbValue::Json),
        DbValue::ArrayJsonb(l) => items(l, DbValue::Jsonb),
        DbValue::ArrayDate(l) => items(l, DbValue::Date),
        DbValue::ArrayTime(l) => items(l, DbValue::Time),
        DbValue::ArrayTimestamp(l) => items(l, DbValue::Timestamp),
        DbValue::ArrayTimestamptz(l) => items(l, DbValue::Timestamptz),
        // A JSON array's text for a json[] placeholder is not an array.
        _ => return Err(mismatch(value, ty)),
    };
    let len = i32::try_from(elements.len()).map_err(|_| "too many array elements")?;
    let dimension = postgres_protocol::types::ArrayDimension { len, lower_bound: 1 };
    wire::array_to_sql(
        Some(dimension),
        element.oid(),
        elements.iter(),
        |e, out| {
            Ok(match encode(e, element, out)? {
                IsNull::Yes => postgres_protocol::IsNull::Yes,
                IsNull::No => postgres_protocol::IsNull::No,
            })
        },
        out,
    )?;
    Ok(IsNull::No)
}

/// A column's raw bytes, whatever its type.
pub struct Raw<'a>(pub Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Decodes one column value of type `ty`.
pub fn decode(ty: &Type, raw: Option<&[u8]>) -> Result<DbValue, BoxError> {
    let Some(raw) = raw else { return Ok(DbValue::Null) };
    if let Kind::Array(element) = ty.kind() {
        return decode_array(ty, element, raw);
    }
    if matches!(ty.kind(), Kind::Enum(_)) {
        return Ok(DbValue::Text(wire::text_from_sql(raw)?.to_string()));
    }
    Ok(match *ty {
        Type::BOOL => DbValue::Boolean(wire::bool_from_sql(raw)?),
        Type::INT2 => DbValue::Int16(wire::int2_from_sql(raw)?),
        Type::INT4 => DbValue::Int32(wire::int4_from_sql(raw)?),
        Type::INT8 => DbValue::Int64(wire::int8_from_sql(raw)?),
        Type::OID => DbValue::Int64(i64::from(wire::oid_from_sql(raw)?)),
        Type::FLOAT4 => DbValue::Float32(wire::float4_from_sql(raw)?),
        Type::FLOAT8 => DbValue::Float64(wire::float8_from_sql(raw)?),
        Type::NUMERIC => DbValue::Numeric(numeric_from_sql(raw)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            DbValue::Text(wire::text_from_sql(raw)?.to_string())
        }
        Type::CHAR => DbValue::Text(char::from(raw.first().copied().unwrap_or(0)).to_string()),
        Type::BYTEA => DbValue::Bytea(wire::bytea_from_sql(raw).to_vec()),
        Type::UUID => DbValue::Uuid(format_uuid(wire::uuid_from_sql(raw)?)),
        Type::JSON => DbValue::Json(wire::text_from_sql(raw)?.to_string()),
        Type::JSONB => match raw.split_first() {
            Some((1, text)) => DbValue::Jsonb(wire::text_from_sql(text)?.to_string()),
            _ => return Err("unknown jsonb format version".into()),
        },
        Type::DATE => DbValue::Date(shift_days(wire::date_from_sql(raw)?)),
        Type::TIME => DbValue::Time(wire::time_from_sql(raw)?),
        Type::TIMESTAMP => DbValue::Timestamp(shift(wire::timestamp_from_sql(raw)?, EPOCH_MICROS)),
        Type::TIMESTAMPTZ => DbValue::Timestamptz(shift(wire::timestamp_from_sql(raw)?, EPOCH_MICROS)),
        _ if ty.name() == "citext" => DbValue::Text(wire::text_from_sql(raw)?.to_string()),
        _ => DbValue::Unsupported(ty.name().to_string()),
    })
}

fn shift_days(days: i32) -> i32 {
    if days == i32::MIN || days == i32::MAX { days } else { days + EPOCH_DAYS }
}

fn decode_array(ty: &Type, element: &Type, raw: &[u8]) -> Result<DbValue, BoxError> {
    let array = wire::array_from_sql(raw)?;
    if array.dimensions().count()? > 1 {
        return Ok(DbValue::Unsupported(format!("{} (a multi-dimensional array)", ty.name())));
    }
    let values: Vec<DbValue> = array.values().map(|v| decode(element, v)).collect()?;
    fn each<T>(values: Vec<DbValue>, pick: fn(DbValue) -> Option<T>) -> Result<Vec<Option<T>>, BoxError> {
        values
            .into_iter()
            .map(|v| match v {
                DbValue::Null => Ok(None),
                other => pick(other).map(Some).ok_or_else(|| "mixed array element types".into()),
            })
            .collect()
    }
    macro_rules! array {
        ($wrap:ident, $variant:ident) => {
            DbValue::$wrap(each(values, |v| if let DbValue::$variant(x) = v { Some(x) } else { None })?)
        };
    }
    Ok(match *element {
        Type::BOOL => array!(ArrayBoolean, Boolean),
        Type::INT2 => array!(ArrayInt16, Int16),
        Type::INT4 => array!(ArrayInt32, Int32),
        Type::INT8 | Type::OID => array!(ArrayInt64, Int64),
        Type::FLOAT4 => array!(ArrayFloat32, Float32),
        Type::FLOAT8 => array!(ArrayFloat64, Float64),
        Type::NUMERIC => array!(ArrayNumeric, Numeric),
        Type::BYTEA => array!(ArrayBytea, Bytea),
        Type::UUID => array!(ArrayUuid, Uuid),
        Type::JSON => array!(ArrayJson, Json),
        Type::JSONB => array!(ArrayJsonb, Jsonb),
        Type::DATE => array!(ArrayDate, Date),
        Type::TIME => array!(ArrayTime, Time),
        Type::TIMESTAMP => array!(ArrayTimestamp, Timestamp),
        Type::TIMESTAMPTZ => array!(ArrayTimestamptz, Timestamptz),
        _ if values.iter().all(|v| matches!(v, DbValue::Null | DbValue::Text(_))) => array!(ArrayText, Text),
        _ => DbValue::Unsupported(ty.name().to_string()),
    })
}

/// Sign words of the numeric format.
const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

/// Encodes decimal text ("-12.50", "1e3", "NaN", "Infinity") exactly.
pub fn numeric_to_sql(text: &str, out: &mut BytesMut) -> Result<(), BoxError> {
    let text = text.trim();
    let special = match text.to_ascii_lowercase().as_str() {
        "nan" => Some(NUMERIC_NAN),
        "infinity" | "+infinity" | "inf" | "+inf" => Some(NUMERIC_PINF),
        "-infinity" | "-inf" => Some(NUMERIC_NINF),
        _ => None,
    };
    if let Some(sign) = special {
        out.put_i16(0);
        out.put_i16(0);
        out.put_u16(sign);
        out.put_u16(0);
        return Ok(());
    }
    let invalid = || -> BoxError { format!("{text:?} is not a decimal number").into() };
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], unsigned[i + 1..].parse::<i32>().map_err(|_| invalid())?),
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.bytes().chain(frac_part.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    // All digits, and where the decimal point falls among them.
    let digits: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).map(|b| b - b'0').collect();
    let point = int_part.len() as i64 + i64::from(exponent);
    let scale = (frac_part.len() as i64 - i64::from(exponent)).max(0);
    if scale > 16383 || point.abs() > 131072 {
        return Err(format!("{text:?} is outside numeric's range").into());
    }
    // Base-10000 groups aligned on the point: pad the integer side to a
    // multiple of 4 on the left, the fraction side on the right.
    let lead = (4 - point.rem_euclid(4)) % 4;
    let mut padded: Vec<u8> = std::iter::repeat_n(0, lead as usize).collect();
    let first = point - (digits.len() as i64); // how far the point sits past the digits (if > 0)
    padded.extend(&digits);
    if first > 0 {
        padded.extend(std::iter::repeat_n(0, first as usize));
    }
    while !padded.len().is_multiple_of(4) {
        padded.push(0);
    }
    let mut groups: Vec<i16> =
        padded.chunks(4).map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + i16::from(*d))).collect();
    let mut weight = ((point + lead) / 4 - 1) as i16;
    // A point before the first digit (0.00012): the leading groups are zero.
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    out.put_i16(groups.len() as i16);
    out.put_i16(weight);
    out.put_u16(if negative && !groups.is_empty() { NUMERIC_NEG } else { NUMERIC_POS });
    out.put_u16(scale as u16);
    for g in groups {
        out.put_i16(g);
    }
    Ok(())
}

/// Decodes the numeric format into exact decimal text, with the column's scale.
pub fn numeric_from_sql(mut raw: &[u8]) -> Result<String, BoxError> {
    let mut next = || -> Result<i16, BoxError> {
        let (head, rest) = raw.split_first_chunk::<2>().ok_or("numeric value is truncated")?;
        raw = rest;
        Ok(i16::from_be_bytes(*head))
    };
    let count = next()?;
    let weight = i32::from(next()?);
    let sign = next()? as u16;
    let scale = next()? as u16 as usize;
    let digits: Vec<i16> = (0..count).map(|_| next()).collect::<Result<_, _>>()?;
    match sign {
        NUMERIC_NAN => return Ok("NaN".into()),
        NUMERIC_PINF => return Ok("Infinity".into()),
        NUMERIC_NINF => return Ok("-Infinity".into()),
        NUMERIC_POS | NUMERIC_NEG => {}
        _ => return Err("unknown numeric sign".into()),
    }
    let group = |k: i32| if k >= 0 && (k as usize) < digits.len() { digits[k as usize] } else { 0 };
    let mut text = String::new();
    if sign == NUMERIC_NEG {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for k in 0..=weight {
            if k == 0 {
                text.push_str(&group(k).to_string());
            } else {
                text.push_str(&format!("{:04}", group(k)));
            }
        }
    }
    if scale > 0 {
        let mut fraction = String::new();
        let mut k = weight + 1;
        while fraction.len() < scale {
            fraction.push_str(&format!("{:04}", group(k)));
            k += 1;
        }
        fraction.truncate(scale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let mut buf = BytesMut::new();
        numeric_to_sql(text, &mut buf).unwrap();
        numeric_from_sql(&buf).unwrap()
    }

    #[test]
    fn numerics_keep_every_digit() {
        for (input, output) in [
            ("0", "0"),
            ("12.50", "12.50"),
            ("-0.001", "-0.001"),
            ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),
            ("10000", "10000"),
            ("0.00012", "0.00012"),
            ("1e3", "1000"),
            ("1.5E-3", "0.0015"),
            ("-7", "-7"),
            ("NaN", "NaN"),
            ("Infinity", "Infinity"),
            ("-Infinity", "-Infinity"),
            ("00012.3400", "12.3400"),
        ] {
            assert_eq!(round_trip(input), output, "{input}");
        }
        assert!(numeric_to_sql("12a", &mut BytesMut::new()).is_err());
        assert!(numeric_to_sql("", &mut BytesMut::new()).is_err());
        assert!(numeric_to_sql("1.2.3", &mut BytesMut::new()).is_err());
    }

    #[test]
    fn dates_and_times_written_as_text_read_as_the_server_would() {
        assert_eq!(parse_date("1970-01-01").unwrap(), 0);
        assert_eq!(parse_date("2000-01-01").unwrap(), EPOCH_DAYS);
        assert_eq!(parse_date("2024-02-29").unwrap(), 19_782);
        assert!(parse_date("2024-13-01").is_err());
        assert_eq!(parse_time("12:34").unwrap(), (12 * 3600 + 34 * 60) * 1_000_000);
        assert_eq!(parse_time("00:00:01.5").unwrap(), 1_500_000);
        assert_eq!(parse_time("23:59:59.123456").unwrap(), 86_399_123_456);
        assert!(parse_time("noon").is_err());
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z", true).unwrap(), 1_000_000);
        assert_eq!(parse_timestamp("1970-01-01 01:00:00+01:00", true).unwrap(), 0);
        assert_eq!(parse_timestamp("1970-01-01 01:00:00+01:00", false).unwrap(), 3_600_000_000);
        assert_eq!(parse_timestamp("1970-01-02", false).unwrap(), DAY_MICROS);
        assert_eq!(parse_timestamp("2000-01-01T00:00:00.000-05:00", true).unwrap(), EPOCH_MICROS + 5 * 3_600_000_000);
        assert_eq!(parse_timestamp("infinity", true).unwrap(), i64::MAX);
    }

    #[test]
    fn uuids_read_as_written() {
        let text = "4f9c3c1e-9c1a-4b8e-8a8b-0123456789ab";
        assert_eq!(format_uuid(parse_uuid(text).unwrap()), text);
        assert_eq!(format_uuid(parse_uuid("{4F9C3C1E9C1A4B8E8A8B0123456789AB}").unwrap()), text);
        assert!(parse_uuid("not-a-uuid").is_err());
    }
}
