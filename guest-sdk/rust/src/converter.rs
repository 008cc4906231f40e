//! Temporal's default payload converter, in Rust.
//!
//! A workflow written against any Temporal SDK encodes arguments with that
//! SDK's default data converter and expects results in the same form, so the
//! encodings here follow it exactly: `binary/null` for "no value",
//! `binary/plain` for raw bytes, and compact UTF-8 JSON (`json/plain`) for
//! everything else. Decoding also accepts `json/protobuf` (proto3 JSON), which
//! other SDKs emit for protobuf messages.

use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer};
use serde::{Serialize, ser};

use crate::Payload;

/// The metadata key that names a payload's encoding.
pub const ENCODING: &str = "encoding";
pub const BINARY_NULL: &str = "binary/null";
pub const BINARY_PLAIN: &str = "binary/plain";
pub const JSON_PLAIN: &str = "json/plain";
pub const JSON_PROTOBUF: &str = "json/protobuf";

/// Why a value could not become a payload, or a payload a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionError(String);

impl ConversionError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for ConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConversionError {}

/// Converts between Rust values and Temporal payloads, as the SDKs' default
/// `payload_converter()` does.
///
/// Use [`crate::payload_converter`] to get one; it has no state.
#[derive(Debug, Default, Clone, Copy)]
pub struct PayloadConverter {
    _private: (),
}

impl PayloadConverter {
    /// Encodes a value: `()`, `None` and anything else that serializes to
    /// nothing becomes `binary/null`; a value serialized as bytes (for example
    /// [`crate::Bytes`]) becomes `binary/plain`; everything else `json/plain`.
    ///
    /// `Vec<u8>` serializes as a sequence in serde, so it is encoded as a JSON
    /// array, as a list of integers is in the other SDKs; use [`crate::Bytes`]
    /// for raw bytes.
    pub fn to_payload<T: Serialize + ?Sized>(&self, value: &T) -> Result<Payload, ConversionError> {
        match value.serialize(Probe) {
            Ok(Special::Null) => Ok(payload(BINARY_NULL, Vec::new())),
            Ok(Special::Bytes(bytes)) => Ok(payload(BINARY_PLAIN, bytes)),
            Err(NotSpecial) => serde_json::to_vec(value)
                .map(|json| payload(JSON_PLAIN, json))
                .map_err(|e| ConversionError::new(format!("cannot encode value as JSON: {e}"))),
        }
    }

    /// Decodes a payload into `T` according to its `encoding` metadata.
    pub fn from_payload<T: DeserializeOwned>(&self, payload: &Payload) -> Result<T, ConversionError> {
        let encoding = payload
            .metadata
            .iter()
            .find(|(key, _)| key == ENCODING)
            .map(|(_, value)| value.as_slice())
            .ok_or_else(|| ConversionError::new("payload has no \"encoding\" metadata"))?;
        match encoding {
            b"binary/null" => T::deserialize(().into_deserializer())
                .map_err(|e: de::value::Error| ConversionError::new(format!("binary/null payload: {e}"))),
            b"binary/plain" => T::deserialize(BytesDeserializer(&payload.data))
                .map_err(|e| ConversionError::new(format!("binary/plain payload: {e}"))),
            b"json/plain" | b"json/protobuf" => serde_json::from_slice(&payload.data)
                .map_err(|e| ConversionError::new(format!("{} payload: {e}", String::from_utf8_lossy(encoding)))),
            other => {
                Err(ConversionError::new(format!("unknown payload encoding \"{}\"", String::from_utf8_lossy(other))))
            }
        }
    }
}

fn payload(encoding: &str, data: Vec<u8>) -> Payload {
    Payload { metadata: vec![(ENCODING.to_string(), encoding.as_bytes().to_vec())], data }
}

/// What [`Probe`] found at the top of a value.
enum Special {
    Null,
    Bytes(Vec<u8>),
}

/// The value is neither null nor bytes: encode it as JSON.
#[derive(Debug)]
struct NotSpecial;

impl fmt::Display for NotSpecial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not null or bytes")
    }
}

impl std::error::Error for NotSpecial {}

impl ser::Error for NotSpecial {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NotSpecial
    }
}

/// A serializer that only looks at the outermost shape of a value, to pick
/// between `binary/null`, `binary/plain` and JSON without serializing twice.
/// Every compound type bails out at once.
struct Probe;

macro_rules! not_special {
    ($($method:ident($($arg:ty),*) -> $ret:ty;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$ret, NotSpecial> { Err(NotSpecial) })*
    };
}

impl ser::Serializer for Probe {
    type Ok = Special;
    type Error = NotSpecial;
    type SerializeSeq = ser::Impossible<Special, NotSpecial>;
    type SerializeTuple = ser::Impossible<Special, NotSpecial>;
    type SerializeTupleStruct = ser::Impossible<Special, NotSpecial>;
    type SerializeTupleVariant = ser::Impossible<Special, NotSpecial>;
    type SerializeMap = ser::Impossible<Special, NotSpecial>;
    type SerializeStruct = ser::Impossible<Special, NotSpecial>;
    type SerializeStructVariant = ser::Impossible<Special, NotSpecial>;

    fn serialize_none(self) -> Result<Special, NotSpecial> {
        Ok(Special::Null)
    }
    fn serialize_unit(self) -> Result<Special, NotSpecial> {
        Ok(Special::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Special, NotSpecial> {
        Ok(Special::Null)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Special, NotSpecial> {
        Ok(Special::Bytes(v.to_vec()))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Special, NotSpecial> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Special, NotSpecial> {
        value.serialize(self)
    }

    not_special! {
        serialize_bool(bool) -> Special;
        serialize_i8(i8) -> Special;
        serialize_i16(i16) -> Special;
        serialize_i32(i32) -> Special;
        serialize_i64(i64) -> Special;
        serialize_i128(i128) -> Special;
        serialize_u8(u8) -> Special;
        serialize_u16(u16) -> Special;
        serialize_u32(u32) -> Special;
        serialize_u64(u64) -> Special;
        serialize_u128(u128) -> Special;
        serialize_f32(f32) -> Special;
        serialize_f64(f64) -> Special;
        serialize_char(char) -> Special;
        serialize_str(&str) -> Special;
        serialize_unit_variant(&'static str, u32, &'static str) -> Special;
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Special, NotSpecial> {
        Err(NotSpecial)
    }
}

/// Hands `binary/plain` data to whatever asks for it: as bytes to
/// [`crate::Bytes`] and friends, as a sequence of `u8` to `Vec<u8>`.
struct BytesDeserializer<'a>(&'a [u8]);

impl<'de> de::Deserializer<'de> for BytesDeserializer<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_bytes(self.0)
    }
    fn deserialize_byte_buf<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_byte_buf(self.0.to_vec())
    }
    fn deserialize_seq<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_seq(de::value::SeqDeserializer::new(self.0.iter().copied()))
    }
    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }
    fn deserialize_newtype_struct<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes unit unit_struct tuple tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Bytes;
    use serde::Deserialize;

    fn encoding(p: &Payload) -> &str {
        std::str::from_utf8(&p.metadata[0].1).unwrap()
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct YourParams {
        greeting: String,
        name: String,
    }

    #[test]
    fn null_values_are_binary_null() {
        let c = PayloadConverter::default();
        for p in [c.to_payload(&()).unwrap(), c.to_payload(&None::<u32>).unwrap()] {
            assert_eq!(encoding(&p), BINARY_NULL);
            assert!(p.data.is_empty());
        }
        let back: Option<u32> = c.from_payload(&c.to_payload(&()).unwrap()).unwrap();
        assert_eq!(back, None);
    }

    #[test]
    fn bytes_are_binary_plain_and_decode_into_vec() {
        let c = PayloadConverter::default();
        let p = c.to_payload(&Bytes::from(vec![0, 159, 146, 150])).unwrap();
        assert_eq!(encoding(&p), BINARY_PLAIN);
        assert_eq!(p.data, vec![0, 159, 146, 150]);
        let as_vec: Vec<u8> = c.from_payload(&p).unwrap();
        assert_eq!(as_vec, vec![0, 159, 146, 150]);
        let as_bytes: Bytes = c.from_payload(&p).unwrap();
        assert_eq!(&*as_bytes, &[0, 159, 146, 150]);
        let some: Option<Bytes> = c.from_payload(&p).unwrap();
        assert!(some.is_some());
    }

    #[test]
    fn everything_else_is_compact_json() {
        let c = PayloadConverter::default();
        let p = c.to_payload(&YourParams { greeting: "Hello".into(), name: "World".into() }).unwrap();
        assert_eq!(encoding(&p), JSON_PLAIN);
        assert_eq!(p.data, br#"{"greeting":"Hello","name":"World"}"#);
        assert_eq!(c.to_payload("Hello, World!").unwrap().data, br#""Hello, World!""#);
        assert_eq!(c.to_payload(&Some(3)).unwrap().data, b"3");
        assert_eq!(c.to_payload(&vec![1u8, 2]).unwrap().data, b"[1,2]");
        let back: YourParams = c.from_payload(&p).unwrap();
        assert_eq!(back.name, "World");
    }

    #[test]
    fn decoding_errors_say_what_went_wrong() {
        let c = PayloadConverter::default();
        let p = c.to_payload(&serde_json::json!({"greeting": "Hello"})).unwrap();
        let err = c.from_payload::<YourParams>(&p).unwrap_err();
        assert!(err.to_string().contains("missing field `name`"), "{err}");

        let unknown = Payload { metadata: vec![(ENCODING.into(), b"binary/protobuf".to_vec())], data: vec![] };
        assert_eq!(
            c.from_payload::<String>(&unknown).unwrap_err().to_string(),
            "unknown payload encoding \"binary/protobuf\""
        );
        let bare = Payload { metadata: vec![], data: b"1".to_vec() };
        assert!(c.from_payload::<u32>(&bare).unwrap_err().to_string().contains("no \"encoding\""));
        let null = c.to_payload(&()).unwrap();
        assert!(c.from_payload::<String>(&null).is_err());
    }
}
