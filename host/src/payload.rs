//! Payloads as the host sees them: built from JSON on the command line,
//! shown as JSON again, and measured against Temporal's size limits.

use std::fmt::Write as _;

use base64::prelude::{BASE64_STANDARD, Engine as _};

pub use crate::bindings::types::Payload;
use crate::failure::{Failure, kind};

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

    /// The payload in proto3 JSON, as the codec-server protocol and
    /// `temporal ... --output json` write a `temporal.api.common.v1.Payload`:
    /// `{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}`.
    pub fn to_proto_json(&self) -> serde_json::Value {
        let metadata: serde_json::Map<String, serde_json::Value> =
            self.metadata.iter().map(|(k, v)| (k.clone(), BASE64_STANDARD.encode(v).into())).collect();
        serde_json::json!({ "metadata": metadata, "data": BASE64_STANDARD.encode(&self.data) })
    }

    /// A payload from its proto3 JSON form; both base64 alphabets, padded
    /// or not, as proto3 JSON parsers accept.
    pub fn from_proto_json(value: &serde_json::Value) -> Result<Payload, String> {
        let object = value.as_object().ok_or("a payload is a JSON object with metadata and data")?;
        if let Some(unknown) = object.keys().find(|k| !matches!(k.as_str(), "metadata" | "data" | "externalPayloads")) {
            return Err(format!("a payload has no field {unknown:?} (only metadata and data)"));
        }
        let bytes = |value: &serde_json::Value, what: &str| -> Result<Vec<u8>, String> {
            let text = value.as_str().ok_or_else(|| format!("{what} is not a base64 string"))?;
            let standard = text.trim_end_matches('=').replace('-', "+").replace('_', "/");
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(standard)
                .map_err(|e| format!("{what} is not base64 ({e})"))
        };
        let mut metadata = Vec::new();
        if let Some(entries) = object.get("metadata") {
            let entries = entries.as_object().ok_or("metadata is not an object")?;
            for (key, value) in entries {
                metadata.push((key.clone(), bytes(value, &format!("metadata {key:?}"))?));
            }
        }
        let data = match object.get("data") {
            Some(data) => bytes(data, "data")?,
            None => Vec::new(),
        };
        Ok(Payload { metadata, data })
    }

    /// The bytes this payload occupies on the wire, as Temporal counts them
    /// for its payload size limits (data plus metadata).
    pub fn wire_size(&self) -> usize {
        self.data.len() + self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
    }
}

/// Temporal's limits on payload sizes: the server refuses a single payload
/// over 2 MiB and a message over 4 MiB, so the host fails the execution
/// first, with the sizes, rather than the task later with a less clear error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadLimits {
    /// One payload.
    pub single: usize,
    /// All the payloads of one message (the arguments, a result, a
    /// failure's details, a heartbeat's details).
    pub total: usize,
}

impl Default for PayloadLimits {
    fn default() -> Self {
        PayloadLimits { single: 2 << 20, total: 4 << 20 }
    }
}

impl PayloadLimits {
    /// Checks `payloads`, described as `what` ("the result", ...), against
    /// the limits.
    pub fn check(&self, payloads: &[Payload], what: &str) -> Result<(), Failure> {
        let sizes: Vec<usize> = payloads.iter().map(Payload::wire_size).collect();
        if let Some((i, size)) = sizes.iter().enumerate().find(|(_, s)| **s > self.single) {
            let which = if payloads.len() == 1 { what.to_string() } else { format!("{what} (payload {})", i + 1) };
            return Err(Failure::new(
                kind::PAYLOADS_TOO_LARGE,
                format!("{which} is {}, over the {} limit for one payload", size_text(*size), size_text(self.single)),
            ));
        }
        let total: usize = sizes.iter().sum();
        if total > self.total {
            return Err(Failure::new(
                kind::PAYLOADS_TOO_LARGE,
                format!("{what} total {}, over the {} limit", size_text(total), size_text(self.total)),
            ));
        }
        Ok(())
    }
}

fn size_text(bytes: usize) -> String {
    format!("{} ({bytes} bytes)", crate::failure::size(bytes as u64))
}

impl Payload {
    /// Checks what a guest produced: metadata a Temporal payload can carry
    /// (unique, non-empty keys), an `encoding`, and for JSON encodings, JSON.
    pub fn validate(&self) -> Result<(), String> {
        let mut keys = std::collections::HashSet::new();
        for (key, _) in &self.metadata {
            if key.is_empty() {
                return Err("a metadata key is empty".into());
            }
            if !keys.insert(key.as_str()) {
                return Err(format!("metadata key {key:?} appears twice"));
            }
        }
        match self.metadata.iter().find(|(k, _)| k == ENCODING) {
            None => Err("it has no \"encoding\" metadata".into()),
            Some((_, e)) if std::str::from_utf8(e).is_err() => Err("its encoding is not UTF-8".into()),
            Some((_, e))
                if (e == JSON_PLAIN.as_bytes() || e == JSON_PROTOBUF.as_bytes())
                    && serde_json::from_slice::<serde::de::IgnoredAny>(&self.data).is_err() =>
            {
                Err(format!("its data is not the JSON its encoding {} says", String::from_utf8_lossy(e)))
            }
            Some(_) => Ok(()),
        }
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
    fn sizes_over_the_limits_are_refused_with_the_numbers() {
        let limits = PayloadLimits { single: 100, total: 150 };
        let p = |n: usize| Payload { metadata: vec![], data: vec![0; n] };
        assert!(limits.check(&[p(100), p(50)], "the arguments").is_ok());
        let one = limits.check(&[p(101)], "the result").unwrap_err();
        assert_eq!(one.error_type, "PayloadsTooLarge");
        assert!(
            one.message.starts_with("the result is 101 B (101 bytes), over the 100 B (100 bytes) limit"),
            "{}",
            one.message
        );
        let total = limits.check(&[p(100), p(51)], "the arguments").unwrap_err();
        assert!(total.message.starts_with("the arguments total 151 B"), "{}", total.message);
    }

    #[test]
    fn malformed_guest_payloads_are_named() {
        let with = |meta: &[(&str, &str)], data: &str| Payload {
            metadata: meta.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect(),
            data: data.as_bytes().to_vec(),
        };
        assert!(with(&[("encoding", "json/plain")], "{}").validate().is_ok());
        assert!(with(&[("encoding", "binary/plain")], "\u{1}").validate().is_ok());
        assert_eq!(with(&[], "1").validate().unwrap_err(), "it has no \"encoding\" metadata");
        assert!(
            with(&[("encoding", "json/plain"), ("encoding", "json/plain")], "1")
                .validate()
                .unwrap_err()
                .contains("twice")
        );
        assert!(with(&[("encoding", "json/plain")], "{oops").validate().unwrap_err().contains("not the JSON"));
        assert!(with(&[("", "x"), ("encoding", "json/plain")], "1").validate().unwrap_err().contains("empty"));
    }

    #[test]
    fn json_args_become_compact_json_plain() {
        let p = Payload::from_json_arg(r#"{ "greeting": "Hello", "name": "World" }"#).unwrap();
        assert_eq!(p.encoding(), Some(JSON_PLAIN));
        assert_eq!(p.data, br#"{"greeting":"Hello","name":"World"}"#);
        assert!(Payload::from_json_arg("World").is_err());
    }

    #[test]
    fn proto_json_round_trips_and_reads_both_alphabets() {
        let payload = Payload {
            metadata: vec![("encoding".into(), b"binary/encrypted".to_vec()), ("k".into(), vec![0xfb, 0xff])],
            data: vec![0xfa, 0xfb, 0xfc, 1],
        };
        let json = payload.to_proto_json();
        assert_eq!(json["metadata"]["encoding"], "YmluYXJ5L2VuY3J5cHRlZA==");
        assert_eq!(Payload::from_proto_json(&json).unwrap(), payload);
        // URL-safe and unpadded, as some proto3 JSON writers send it.
        let loose =
            serde_json::json!({ "metadata": { "encoding": "YmluYXJ5L2VuY3J5cHRlZA", "k": "-_8" }, "data": "-vv8AQ" });
        assert_eq!(Payload::from_proto_json(&loose).unwrap(), payload);
        assert_eq!(
            Payload::from_proto_json(&serde_json::json!({})).unwrap(),
            Payload { metadata: vec![], data: vec![] }
        );
        assert!(Payload::from_proto_json(&serde_json::json!({ "data": 7 })).unwrap_err().contains("data"));
        assert!(Payload::from_proto_json(&serde_json::json!({ "id": 7 })).unwrap_err().contains("\"id\""));
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
