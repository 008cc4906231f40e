//! Payloads as the host sees them: built from JSON on the command line,
//! shown as JSON again, and measured against Temporal's size limits.

use std::fmt::Write as _;

use base64::prelude::{BASE64_STANDARD, Engine as _};

pub use crate::bindings::types::Payload;

/// The metadata key that names a payload's encoding.
pub const ENCODING: &str = "encoding";
pub const BINARY_NULL: &str = "binary/null";
pub const BINARY_PLAIN: &str = "binary/plain";
pub const JSON_PLAIN: &str = "json/plain";
pub const JSON_PROTOBUF: &str = "json/protobuf";

impl Payload {
    /// A `json/plain` payload holding `value` as compact JSON, as every SDK's
    /// default converter writes it.
    pub fn json(value: &serde_json::Value) -> Payload {
        Payload {
            metadata: vec![(ENCODING.to_string(), JSON_PLAIN.as_bytes().to_vec())],
            data: serde_json::to_vec(value).expect("a JSON value always serializes"),
        }
    }

    /// Parses one command-line argument as JSON into a `json/plain` payload.
    pub fn from_json_arg(text: &str) -> Result<Payload, serde_json::Error> {
        serde_json::from_str::<serde_json::Value>(text).map(|v| Payload::json(&v))
    }

    /// The `encoding` metadata, if present and UTF-8.
    pub fn encoding(&self) -> Option<&str> {
        self.metadata.iter().find(|(key, _)| key == ENCODING).and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// The payload as a JSON document: JSON encodings as they are, `binary/null`
    /// as `null`, anything else (raw bytes, unknown encodings) as an object
    /// naming the encoding with the data in base64, so nothing is lost.
    pub fn to_json_text(&self) -> String {
        match self.encoding() {
            Some(BINARY_NULL) => "null".to_string(),
            Some(JSON_PLAIN | JSON_PROTOBUF) if serde_json::from_slice::<serde_json::Value>(&self.data).is_ok() => {
                String::from_utf8_lossy(&self.data).into_owned()
            }
            encoding => serde_json::json!({
                "encoding": encoding.unwrap_or(""),
                "data_base64": BASE64_STANDARD.encode(&self.data),
            })
            .to_string(),
        }
    }

    /// The bytes this payload occupies on the wire, as Temporal counts them
    /// for its payload size limits (data plus metadata).
    pub fn wire_size(&self) -> usize {
        self.data.len() + self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
    }
}

/// Lists payloads as JSON documents separated by ", ", for messages.
pub fn describe(payloads: &[Payload]) -> String {
    let mut out = String::new();
    for (i, p) in payloads.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}", p.to_json_text());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_args_become_compact_json_plain() {
        let p = Payload::from_json_arg(r#"{ "greeting": "Hello", "name": "World" }"#).unwrap();
        assert_eq!(p.encoding(), Some(JSON_PLAIN));
        assert_eq!(p.data, br#"{"greeting":"Hello","name":"World"}"#);
        assert!(Payload::from_json_arg("World").is_err());
    }

    #[test]
    fn payloads_show_as_json() {
        let null = Payload { metadata: vec![(ENCODING.into(), BINARY_NULL.into())], data: vec![] };
        assert_eq!(null.to_json_text(), "null");
        assert_eq!(Payload::json(&"Hello, World!\n".into()).to_json_text(), r#""Hello, World!\n""#);
        let bytes = Payload { metadata: vec![(ENCODING.into(), BINARY_PLAIN.into())], data: b"hi!!".to_vec() };
        assert_eq!(bytes.to_json_text(), r#"{"data_base64":"aGkhIQ==","encoding":"binary/plain"}"#);
    }
}
