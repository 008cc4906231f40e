//! A codec plugin (`wit/codec.wit`, world `codec-plugin`): the Temporal
//! samples' AES-256-GCM `EncryptionCodec`, for `host run --codec-plugin
//! encryption_codec.wasm`.
//!
//! It speaks the format of temporalio/samples-python `encryption/codec.py`
//! byte for byte (that sample keeps to plain AES-GCM to match the Go and
//! TypeScript encryption samples), so a client, a workflow worker or a codec
//! server using that codec with the same key reads what the host writes, and
//! the other way round:
//!
//! - **encode**: each payload, whatever its encoding, is serialized whole as a
//!   `temporal.api.common.v1.Payload` protobuf message and encrypted with
//!   AES-256-GCM under a fresh random 12-byte nonce, no associated data. The
//!   result is the payload `{encoding: "binary/encrypted",
//!   encryption-key-id: <key id>}` with data `nonce || ciphertext || tag`.
//! - **decode**: payloads of any other encoding pass through unchanged; an
//!   encrypted payload with another key id is an error (`Unrecognized key ID
//!   ...`, as the sample raises); the rest are decrypted and parsed back.
//!
//! Configuration, from the environment the plugin's manifest grants
//! (`encryption_codec.toml` beside the `.wasm`):
//!
//! - `ENCRYPTION_KEY` (required): the 32-byte AES-256 key. The value's UTF-8
//!   bytes are the key, as the sample's `test-key-test-key-test-key-test!`;
//!   a value `base64:...` is a binary key in standard base64. Any other length
//!   than 32 bytes is an error. Without it every call fails.
//! - `ENCRYPTION_KEY_ID` (optional; unset or empty: `test-key-id`, the sample's): the
//!   id written beside each encrypted payload and required of those decoded.
//!
//! ```toml
//! [env]
//! inherit = ["ENCRYPTION_KEY", "ENCRYPTION_KEY_ID"]
//! ```
//!
//! A misconfiguration or a payload it cannot decrypt fails the call with a
//! one-line message (the activity attempt fails with type `CodecError`).

use std::collections::BTreeMap;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use base64::Engine as _;
use prost::Message as _;

/// The metadata key naming a payload's encoding.
const ENCODING: &str = "encoding";
/// The encoding of the payloads this codec writes.
const ENCRYPTED: &[u8] = b"binary/encrypted";
/// The metadata key naming the key that encrypted a payload.
const KEY_ID: &str = "encryption-key-id";
/// The key id when `ENCRYPTION_KEY_ID` is unset: the sample's.
pub const DEFAULT_KEY_ID: &str = "test-key-id";

const KEY_VAR: &str = "ENCRYPTION_KEY";
const KEY_ID_VAR: &str = "ENCRYPTION_KEY_ID";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A payload as the WIT's `payload` record carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payload {
    pub metadata: Vec<(String, Vec<u8>)>,
    pub data: Vec<u8>,
}

impl Payload {
    /// A metadata value; the last one if a key repeats, as a protobuf map reads.
    fn meta(&self, key: &str) -> Option<&[u8]> {
        self.metadata.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }
}

/// `temporal.api.common.v1.Payload` on the wire. The map is ordered so that
/// the same payload always serializes to the same bytes.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoPayload {
    #[prost(btree_map = "string, bytes", tag = "1")]
    metadata: BTreeMap<String, Vec<u8>>,
    #[prost(bytes = "vec", tag = "2")]
    data: Vec<u8>,
}

/// The codec: a key and the id written beside what it encrypts.
pub struct Codec {
    key_id: String,
    cipher: Aes256Gcm,
}

impl Codec {
    /// A codec for a 32-byte key.
    pub fn new(key_id: impl Into<String>, key: &[u8]) -> Result<Self, String> {
        let cipher = Aes256Gcm::new_from_slice(key)
            .map_err(|_| format!("{KEY_VAR} must be 32 bytes (AES-256), got {}", key.len()))?;
        Ok(Codec { key_id: key_id.into(), cipher })
    }

    /// A codec from the values of `ENCRYPTION_KEY` and `ENCRYPTION_KEY_ID`
    /// (`None`: unset).
    pub fn from_config(key: Option<&str>, key_id: Option<&str>) -> Result<Self, String> {
        let key = key.ok_or_else(|| {
            format!("{KEY_VAR} is not set: grant the codec plugin its 32-byte key in its manifest's [env]")
        })?;
        let key = match key.strip_prefix("base64:") {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| format!("{KEY_VAR} is not valid base64 after `base64:`: {e}"))?,
            None => key.as_bytes().to_vec(),
        };
        let key_id = match key_id {
            Some(id) if !id.is_empty() => id,
            _ => DEFAULT_KEY_ID,
        };
        Codec::new(key_id, &key)
    }

    /// A codec from the process environment.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| match std::env::var(name) {
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(format!("{name} is not valid UTF-8 (for a binary key use `base64:...`)"))
            }
        };
        Codec::from_config(var(KEY_VAR)?.as_deref(), var(KEY_ID_VAR)?.as_deref())
    }

    /// Encrypts every payload (one out per one in, in order).
    pub fn encode(&self, payloads: Vec<Payload>) -> Result<Vec<Payload>, String> {
        payloads.into_iter().map(|p| self.encode_one(p)).collect()
    }

    /// Decrypts the payloads this codec's key encrypted; passes the others through.
    pub fn decode(&self, payloads: Vec<Payload>) -> Result<Vec<Payload>, String> {
        payloads
            .into_iter()
            .enumerate()
            .map(|(i, p)| self.decode_one(p).map_err(|e| format!("payload {i}: {e}")))
            .collect()
    }

    fn encode_one(&self, payload: Payload) -> Result<Payload, String> {
        let proto = ProtoPayload { metadata: payload.metadata.into_iter().collect(), data: payload.data };
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| format!("no random nonce: {e}"))?;
        // nonce || plaintext, encrypted in place after the nonce, then the tag.
        let mut data = Vec::with_capacity(NONCE_LEN + proto.encoded_len() + TAG_LEN);
        data.extend_from_slice(&nonce);
        proto.encode(&mut data).map_err(|e| e.to_string())?;
        let tag = self
            .cipher
            .encrypt_inout_detached(&Nonce::<Aes256Gcm>::from(nonce), b"", InOutBuf::from(&mut data[NONCE_LEN..]))
            .map_err(|_| "payload too large to encrypt".to_string())?;
        data.extend_from_slice(&tag);
        Ok(Payload {
            metadata: vec![
                (ENCODING.to_string(), ENCRYPTED.to_vec()),
                (KEY_ID.to_string(), self.key_id.as_bytes().to_vec()),
            ],
            data,
        })
    }

    fn decode_one(&self, payload: Payload) -> Result<Payload, String> {
        if payload.meta(ENCODING) != Some(ENCRYPTED) {
            return Ok(payload);
        }
        let key_id = String::from_utf8_lossy(payload.meta(KEY_ID).unwrap_or_default()).into_owned();
        if key_id != self.key_id {
            return Err(format!("Unrecognized key ID {key_id}. Current key ID is {}.", self.key_id));
        }
        let mut data = payload.data;
        if data.len() < NONCE_LEN + TAG_LEN {
            return Err(format!("encrypted payload too short ({} bytes)", data.len()));
        }
        let (nonce, rest) = data.split_at_mut(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
        let nonce = Nonce::<Aes256Gcm>::try_from(&*nonce).expect("12 bytes");
        let tag = Tag::<Aes256Gcm>::try_from(&*tag).expect("16 bytes");
        self.cipher
            .decrypt_inout_detached(&nonce, b"", InOutBuf::from(&mut *ciphertext), &tag)
            .map_err(|_| format!("decryption failed with key ID {key_id} (wrong key, or the data was altered)"))?;
        let proto =
            ProtoPayload::decode(&*ciphertext).map_err(|e| format!("decrypted data is not a Payload protobuf: {e}"))?;
        Ok(Payload { metadata: proto.metadata.into_iter().collect(), data: proto.data })
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    use std::sync::OnceLock;

    use super::Codec;

    wit_bindgen::generate!({
        path: "../../wit",
        world: "codec-plugin",
    });

    use activity_host::plugin::types::Payload;
    use exports::activity_host::plugin::codec::Guest;

    /// Configured once per instance, from the environment it was given.
    fn codec() -> Result<&'static Codec, String> {
        static CODEC: OnceLock<Result<Codec, String>> = OnceLock::new();
        CODEC.get_or_init(Codec::from_env).as_ref().map_err(Clone::clone)
    }

    fn to_plain(payloads: Vec<Payload>) -> Vec<super::Payload> {
        payloads.into_iter().map(|p| super::Payload { metadata: p.metadata, data: p.data }).collect()
    }

    fn to_wit(payloads: Vec<super::Payload>) -> Vec<Payload> {
        payloads.into_iter().map(|p| Payload { metadata: p.metadata, data: p.data }).collect()
    }

    struct EncryptionCodec;

    impl Guest for EncryptionCodec {
        fn encode(payloads: Vec<Payload>) -> Result<Vec<Payload>, String> {
            codec()?.encode(to_plain(payloads)).map(to_wit)
        }

        fn decode(payloads: Vec<Payload>) -> Result<Vec<Payload>, String> {
            codec()?.decode(to_plain(payloads)).map(to_wit)
        }
    }

    export!(EncryptionCodec);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE_KEY: &str = "test-key-test-key-test-key-test!";

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    fn payload(metadata: &[(&str, &[u8])], data: &[u8]) -> Payload {
        Payload { metadata: metadata.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect(), data: data.to_vec() }
    }

    fn encrypted(data: Vec<u8>) -> Payload {
        Payload {
            metadata: vec![
                ("encoding".into(), b"binary/encrypted".to_vec()),
                ("encryption-key-id".into(), b"test-key-id".to_vec()),
            ],
            data,
        }
    }

    fn sample() -> Codec {
        Codec::from_config(Some(SAMPLE_KEY), None).unwrap()
    }

    fn sorted(mut p: Payload) -> Payload {
        p.metadata.sort();
        p
    }

    // Made by tests/e2e/codec.py (the Python sample's EncryptionCodec, its
    // default key): encode([Payload(metadata={"encoding": b"json/plain"},
    // data=b'"Hello, World!"')]).
    const PY_HELLO: &str =
        "Ffe4cySW0Cmv7XKyW8yXSHpIK2EU8F18QEHxHuZTxY70cLAkkuYWiUrlp2DRPdO5HnhDZDHlheyqaKwaitWhcuTXsjfD";
    // ... and of Payload(metadata={"encoding": b"binary/plain", "messageType": b"x.y"}, data=bytes(range(256))).
    const PY_BINARY: &str = "63q8Qy0fIrT9x0NaMJTC6xdy7sv+juTpm8kaK4XiRqad8A77QsdGpM6S1vwFQ0K/nkLp8QJh/24fMKqn4yfz5+ympHBgHTtjSe84BL08h3sQC62Mph5UE4xcXOTfL38CG8ZzYwXlyC+I+1m7LHDSSQxpHdWukabv1wS1ityNaWMXN5elFHpLVfQfG2EoYUVY89GLJnHSIAu9AFZ91cPnr/+DApmk63OxK7rCxg3DAF0f/J0fG6Ld7xLgeKgOJPVsnJS5+WUf9PN49xpsBNGtNG5LftOiHvOMJ/f0QKA9qZfSb4woffunKeO6fHdJupQj3H8hvlENaN1dncFHIa5liQVNIhm7GhBXm7OgueLFDBVUR4hx5bi5slR28WA4aZEgG7np5OiXmWP3k8QqPYZgngTGGDXX6uzIJZKrYq6abKM8p1u3wueoobQs95Qi";
    // The Python side with the nonce 00 01 .. 0b and the hello payload
    // (`nonce + AESGCM(key).encrypt(nonce, p.SerializeToString(), None)`).
    const PY_HELLO_FIXED_NONCE: &str =
        "AAECAwQFBgcICQoL+SuJ2idoYdJlc5Wio/f30eikViKThZLQZ+ujKHLhSIIjv0JALNUfHfCTQk0pmWaSyh1drEhY0HI3";

    #[test]
    fn decrypts_what_the_python_sample_encrypted() {
        let codec = sample();
        let out = codec.decode(vec![encrypted(b64(PY_HELLO)), encrypted(b64(PY_BINARY))]).unwrap();
        assert_eq!(out[0], payload(&[("encoding", b"json/plain")], b"\"Hello, World!\""));
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(sorted(out[1].clone()), payload(&[("encoding", b"binary/plain"), ("messageType", b"x.y")], &bytes));
    }

    #[test]
    fn encrypts_byte_for_byte_as_the_python_sample() {
        // Same protobuf bytes, same AES-GCM layout: with the Python side's nonce
        // the Rust side's output is identical.
        let codec = sample();
        let proto = ProtoPayload {
            metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
            data: b"\"Hello, World!\"".to_vec(),
        };
        let mut data = proto.encode_to_vec();
        let nonce: [u8; 12] = std::array::from_fn(|i| i as u8);
        let tag = codec
            .cipher
            .encrypt_inout_detached(&Nonce::<Aes256Gcm>::from(nonce), b"", InOutBuf::from(&mut data[..]))
            .unwrap();
        let ours = [&nonce[..], &data, &tag].concat();
        assert_eq!(ours, b64(PY_HELLO_FIXED_NONCE));
    }

    #[test]
    fn round_trip() {
        let codec = sample();
        let bytes: Vec<u8> = (0..=255).collect();
        let input = vec![
            payload(&[("encoding", b"json/plain")], b"\"Hello, World!\""),
            payload(&[("encoding", b"binary/null")], b""),
            payload(&[], &bytes),
            payload(&[("encoding", b"json/protobuf"), ("messageType", b"temporal.api.common.v1.Payload")], b"{}"),
        ];
        let encoded = codec.encode(input.clone()).unwrap();
        assert_eq!(encoded.len(), input.len());
        for p in &encoded {
            assert_eq!(p.meta("encoding"), Some(&b"binary/encrypted"[..]));
            assert_eq!(p.meta("encryption-key-id"), Some(&b"test-key-id"[..]));
            assert!(!p.data.windows(13).any(|w| w == b"Hello, World!"));
        }
        // A fresh nonce each time.
        assert_ne!(encoded[0].data, codec.encode(vec![input[0].clone()]).unwrap()[0].data);
        let decoded = codec.decode(encoded).unwrap();
        assert_eq!(decoded, input);
    }

    #[test]
    fn passes_other_encodings_through() {
        let codec = sample();
        let input = vec![
            payload(&[("encoding", b"json/plain")], b"1"),
            payload(&[], b"raw"),
            payload(&[("encoding", b"binary/encrypted-not")], b"x"),
        ];
        assert_eq!(codec.decode(input.clone()).unwrap(), input);
    }

    #[test]
    fn refuses_another_key_id() {
        let other = Codec::from_config(Some(SAMPLE_KEY), Some("other-key")).unwrap();
        let encoded = other.encode(vec![payload(&[], b"x")]).unwrap();
        let passthrough = payload(&[("encoding", b"json/plain")], b"1");
        let err = sample().decode(vec![passthrough, encoded[0].clone()]).unwrap_err();
        assert_eq!(err, "payload 1: Unrecognized key ID other-key. Current key ID is test-key-id.");
        let mut no_id = encoded[0].clone();
        no_id.metadata.retain(|(k, _)| k != "encryption-key-id");
        assert!(sample().decode(vec![no_id]).unwrap_err().contains("Unrecognized key ID . Current"));
    }

    #[test]
    fn refuses_a_wrong_key_or_altered_data() {
        let other = Codec::new("test-key-id", &[7u8; 32]).unwrap();
        let encoded = other.encode(vec![payload(&[], b"secret")]).unwrap();
        let err = sample().decode(encoded.clone()).unwrap_err();
        assert!(err.starts_with("payload 0: decryption failed"), "{err}");
        let mut altered = encoded[0].clone();
        *altered.data.last_mut().unwrap() ^= 1;
        assert!(other.decode(vec![altered]).unwrap_err().contains("decryption failed"));
        let short = encrypted(vec![0; 27]);
        assert!(other.decode(vec![short]).unwrap_err().contains("too short (27 bytes)"));
        assert!(!err.contains('\n'));
    }

    #[test]
    fn configuration() {
        let missing = Codec::from_config(None, None).err().unwrap();
        assert!(missing.contains("ENCRYPTION_KEY is not set") && !missing.contains('\n'), "{missing}");
        let short = Codec::from_config(Some("too-short"), None).err().unwrap();
        assert_eq!(short, "ENCRYPTION_KEY must be 32 bytes (AES-256), got 9");
        let bad = Codec::from_config(Some("base64:!!"), None).err().unwrap();
        assert!(bad.starts_with("ENCRYPTION_KEY is not valid base64"), "{bad}");
        let b64_short = Codec::from_config(Some("base64:AAAA"), None).err().unwrap();
        assert_eq!(b64_short, "ENCRYPTION_KEY must be 32 bytes (AES-256), got 3");
        assert_eq!(sample().key_id, "test-key-id");
        assert_eq!(Codec::from_config(Some(SAMPLE_KEY), Some("")).unwrap().key_id, "test-key-id");
        assert_eq!(Codec::from_config(Some(SAMPLE_KEY), Some("k2")).unwrap().key_id, "k2");

        // The sample's key, as base64, is the same key.
        let as_b64 = format!("base64:{}", base64::engine::general_purpose::STANDARD.encode(SAMPLE_KEY));
        let codec = Codec::from_config(Some(&as_b64), None).unwrap();
        let out = codec.decode(vec![encrypted(b64(PY_HELLO))]).unwrap();
        assert_eq!(out[0].data, b"\"Hello, World!\"");
    }
}
