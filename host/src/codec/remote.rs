//! A remote codec: the codec-server protocol the Temporal UI and CLI use,
//! so that an operator's existing codec server serves the host unchanged.
//!
//! `POST {endpoint}/encode` and `{endpoint}/decode`, each with a
//! `temporal.api.common.v1.Payloads` message as proto3 JSON
//! (`{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}`)
//! and the namespace in `X-Namespace`; the answer is the same message. The
//! requests go through the host's one HTTP client (pooled connections, the
//! system's roots plus `--http-ca-file`).

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt as _, Full, Limited};

use super::{CodecError, Direction};
use crate::outbound_http::HttpClient;
use crate::payload::Payload;

/// How long one codec call may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read: more than a message's payloads may hold (4 MiB
/// by default, a third more in base64), well short of exhausting memory.
const MAX_RESPONSE: usize = 64 << 20;

pub struct RemoteCodec {
    endpoint: String,
    encode: Uri,
    decode: Uri,
    headers: HeaderMap,
    client: HttpClient,
}

impl RemoteCodec {
    pub fn new(
        endpoint: &str,
        auth: Option<&str>,
        extra: &[(String, String)],
        namespace: &str,
        client: HttpClient,
    ) -> anyhow::Result<RemoteCodec> {
        let base = endpoint.trim_end_matches('/');
        let uri = |path: &str| -> anyhow::Result<Uri> {
            let uri: Uri = format!("{base}/{path}")
                .parse()
                .map_err(|e| anyhow::anyhow!("--codec-endpoint {endpoint}: not a URL ({e})"))?;
            match uri.scheme_str() {
                Some("http" | "https") if uri.host().is_some() => Ok(uri),
                _ => anyhow::bail!("--codec-endpoint {endpoint}: give an http:// or https:// URL"),
            }
        };
        let mut headers = HeaderMap::new();
        let header = |name: &str, value: &str| -> anyhow::Result<(HeaderName, HeaderValue)> {
            Ok((
                HeaderName::try_from(name).map_err(|_| anyhow::anyhow!("--codec-header {name}: not a header name"))?,
                HeaderValue::try_from(value)
                    .map_err(|_| anyhow::anyhow!("--codec-header {name}: its value is not a header value"))?,
            ))
        };
        for (name, value) in extra {
            let (name, value) = header(name, value)?;
            headers.append(name, value);
        }
        if let Some(auth) = auth {
            let (_, value) =
                header("authorization", auth).map_err(|_| anyhow::anyhow!("--codec-auth: not a header value"))?;
            headers.insert(AUTHORIZATION, value);
        }
        let (_, namespace) = header("x-namespace", namespace)?;
        headers.insert("x-namespace", namespace);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(RemoteCodec { endpoint: base.to_string(), encode: uri("encode")?, decode: uri("decode")?, headers, client })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(super) async fn call(&self, direction: Direction, payloads: Vec<Payload>) -> Result<Vec<Payload>, CodecError> {
        let uri = match direction {
            Direction::Encode => self.encode.clone(),
            Direction::Decode => self.decode.clone(),
        };
        let fail = |what: String| CodecError(format!("codec server {uri}: {what}"));
        let message =
            serde_json::json!({ "payloads": payloads.iter().map(Payload::to_proto_json).collect::<Vec<_>>() });
        let body = serde_json::to_vec(&message).expect("JSON values always serialize");
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .body(Full::new(Bytes::from(body)).map_err(|never: Infallible| match never {}).boxed_unsync())
            .expect("a POST to a checked URL is a valid request");
        request.headers_mut().extend(self.headers.clone());
        let exchange = async {
            let response =
                self.client.inner().request(request).await.map_err(|e| fail(crate::error_chain::one_line(&e)))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| fail(format!("reading the answer: {e}")))?
                .to_bytes();
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_string();
                return Err(fail(format!(
                    "answered {status}{}",
                    if text.is_empty() { String::new() } else { format!(": {text}") }
                )));
            }
            let not_payloads = |why: String| fail(format!("not a Payloads message in proto3 JSON: {why}"));
            let answer: serde_json::Value = serde_json::from_slice(&body).map_err(|e| not_payloads(e.to_string()))?;
            // proto3 JSON leaves out an empty repeated field.
            match answer.get("payloads") {
                None => Ok(Vec::new()),
                Some(serde_json::Value::Array(items)) => {
                    items.iter().map(Payload::from_proto_json).collect::<Result<_, _>>().map_err(not_payloads)
                }
                Some(_) => Err(not_payloads("payloads is not a list".into())),
            }
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(fail(format!("no answer within {}s", TIMEOUT.as_secs()))))
    }
}
