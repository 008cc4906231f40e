//! Payload codecs: what a Temporal SDK's `PayloadCodec` does for a native
//! worker, for the payloads that cross the host.
//!
//! A codec decodes an activity's input and heartbeat details before the
//! plugin sees them, and encodes the result, heartbeat details and failure
//! details before they leave (with `failure_attributes`, the failure's message
//! and stack trace too, moved into its encoded attributes as the SDKs'
//! `encode_common_attributes` does). Headers are left alone, as the SDKs'
//! default. Two kinds: a remote codec server ([`remote`], the protocol the
//! Temporal UI and CLI already use) and a codec plugin ([`plugin`], a
//! sandboxed component of the `codec-plugin` world).
//!
//! A codec that fails fails the attempt (retryably) with type `CodecError`;
//! what it could not encode is never sent in clear text.

pub mod plugin;
pub mod remote;

use std::path::PathBuf;
use std::sync::Arc;

use crate::failure::{Failure, Outcome};
use crate::payload::{Payload, PayloadLimits};
use crate::runtime::Runtime;

/// The failure type of an attempt whose payloads the codec could not
/// encode or decode.
pub const CODEC_ERROR: &str = "CodecError";
/// A failure's message once its attributes are encoded, as the SDKs write it.
const ENCODED_FAILURE: &str = "Encoded failure";

/// How the operator configured a codec (`--codec-endpoint`, `--codec-plugin`).
#[derive(Debug, Clone, Default)]
pub struct CodecOptions {
    pub endpoint: Option<String>,
    /// The `Authorization` header sent to the codec server, verbatim.
    pub auth: Option<String>,
    /// Further headers sent to the codec server.
    pub headers: Vec<(String, String)>,
    pub plugin: Option<PathBuf>,
    /// Move failure messages and stack traces into encoded attributes.
    pub failure_attributes: bool,
}

/// Why a codec call failed: one line, the codec's own words included.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub String);

enum Kind {
    Remote(remote::RemoteCodec),
    Plugin(plugin::CodecPlugin),
}

/// A configured codec, shared by every execution of the process.
pub struct Codec {
    kind: Kind,
    failure_attributes: bool,
}

impl Codec {
    /// The codec the options ask for, or `None` when they name none. An
    /// endpoint and a plugin together are a usage error (clap prevents it).
    pub async fn from_options(
        options: &CodecOptions,
        runtime: &Arc<Runtime>,
        namespace: &str,
    ) -> anyhow::Result<Option<Arc<Codec>>> {
        let kind = match (&options.endpoint, &options.plugin) {
            (Some(endpoint), None) => Kind::Remote(remote::RemoteCodec::new(
                endpoint,
                options.auth.as_deref(),
                &options.headers,
                namespace,
                runtime.services().http.clone(),
            )?),
            (None, Some(path)) => Kind::Plugin(plugin::CodecPlugin::load(runtime, path).await?),
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => anyhow::bail!("--codec-endpoint and --codec-plugin exclude each other"),
        };
        Ok(Some(Arc::new(Codec { kind, failure_attributes: options.failure_attributes })))
    }

    /// What the log says the codec is.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Remote(remote) => format!("codec server {}", remote.endpoint()),
            Kind::Plugin(plugin) => format!("codec plugin {}", plugin.path().display()),
        }
    }

    pub async fn encode(&self, payloads: Vec<Payload>) -> Result<Vec<Payload>, CodecError> {
        self.call(Direction::Encode, payloads).await
    }

    pub async fn decode(&self, payloads: Vec<Payload>) -> Result<Vec<Payload>, CodecError> {
        self.call(Direction::Decode, payloads).await
    }

    async fn call(&self, direction: Direction, payloads: Vec<Payload>) -> Result<Vec<Payload>, CodecError> {
        if payloads.is_empty() {
            return Ok(payloads);
        }
        let given = payloads.len();
        let returned = match &self.kind {
            Kind::Remote(remote) => remote.call(direction, payloads).await?,
            Kind::Plugin(plugin) => plugin.call(direction, payloads).await?,
        };
        if returned.len() != given {
            return Err(CodecError(format!(
                "the codec's {direction} returned {} payloads for {given}",
                returned.len()
            )));
        }
        Ok(returned)
    }

    /// A task's arguments and the last attempt's heartbeat details, decoded
    /// (in one call: one round trip to a codec server).
    pub async fn decode_input(
        &self,
        args: Vec<Payload>,
        heartbeat_details: Vec<Payload>,
    ) -> Result<(Vec<Payload>, Vec<Payload>), Failure> {
        let split = args.len();
        let mut all = args;
        all.extend(heartbeat_details);
        let mut decoded =
            self.decode(all).await.map_err(|e| codec_failure(&format!("cannot decode the activity's input: {e}")))?;
        let details = decoded.split_off(split);
        Ok((decoded, details))
    }

    /// An outcome as it leaves for the server: its payloads encoded and held
    /// to `limits`. A codec failure replaces the outcome with one that
    /// carries nothing the codec was given.
    pub async fn encode_outcome(&self, outcome: Outcome, limits: &PayloadLimits) -> Outcome {
        match outcome {
            Outcome::Completed(result) => match self.encode(vec![result]).await {
                Ok(mut encoded) => match limits.check(&encoded, "the encoded result") {
                    Ok(()) => Outcome::Completed(encoded.pop().expect("one payload in, one out")),
                    Err(failure) => Outcome::Failed(failure),
                },
                Err(e) => Outcome::Failed(codec_failure(&format!("cannot encode the result: {e}"))),
            },
            Outcome::Failed(failure) => Outcome::Failed(self.encode_failure(failure, limits).await),
            Outcome::Cancelled(reason) => Outcome::Cancelled(reason),
        }
    }

    async fn encode_failure(&self, mut failure: Failure, limits: &PayloadLimits) -> Failure {
        let mut payloads = std::mem::take(&mut failure.details);
        if self.failure_attributes {
            let attributes = serde_json::json!({ "message": failure.message, "stack_trace": failure.stack_trace });
            payloads.insert(0, Payload::json(&attributes));
        }
        let mut encoded = match self.encode(payloads).await {
            Ok(encoded) => encoded,
            Err(e) => return codec_failure(&format!("cannot encode the failure's details: {e}")),
        };
        if let Err(too_large) = limits.check(&encoded, "the encoded failure's details") {
            return too_large;
        }
        if self.failure_attributes {
            failure.encoded_attributes = Some(Box::new(encoded.remove(0)));
            failure.message = ENCODED_FAILURE.to_string();
            failure.stack_trace = String::new();
        }
        failure.details = encoded;
        failure
    }
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A codec's failure as the activity's: retryable, since the codec (a
/// server, a key) may be back or fixed by the next attempt.
fn codec_failure(message: &str) -> Failure {
    Failure::new(CODEC_ERROR, message)
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    Encode,
    Decode,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Encode => "encode",
            Direction::Decode => "decode",
        })
    }
}
