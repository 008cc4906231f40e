//! What one execution's `wasi:http` requests may reach, and how long they
//! may take: the store's `WasiHttpHooks`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::client::{CONNECT_TIMEOUT, HttpClient};
use super::grants::HttpRule;
use crate::error_chain;
use crate::output::Origin;

/// Response timeouts when the guest sets none: wasi-http's own defaults are
/// ten minutes, longer than most activities may run.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(60);

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type Sent = Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

/// One execution's view of outbound HTTP: its grant, its deadline and the
/// process's shared client.
pub struct HttpPolicy {
    rules: Arc<[HttpRule]>,
    client: HttpClient,
    origin: Origin,
    deadline: Instant,
}

impl HttpPolicy {
    pub fn new(rules: Arc<[HttpRule]>, client: HttpClient, origin: Origin, deadline: Instant) -> HttpPolicy {
        HttpPolicy { rules, client, origin, deadline }
    }

    /// The next execution of a reused instance: its own origin and deadline.
    pub fn begin(&mut self, origin: Origin, deadline: Instant) {
        self.origin = origin;
        self.deadline = deadline;
    }

    fn allows(&self, request: &http::Request<WasiBody>) -> bool {
        let uri = request.uri();
        let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let scheme_port = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) { 443 } else { 80 };
        let port = uri.port_u16().unwrap_or(scheme_port);
        self.rules.iter().any(|rule| rule.allows(&host, port, scheme_port, request.method()))
    }
}

impl WasiHttpHooks for HttpPolicy {
    /// The client sets `Host` for HTTP/1 from the URI (HTTP/2 sends it as
    /// `:authority`); wasi-http must not add a second one.
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _io: IoFuture,
    ) -> Sent {
        let o = &self.origin;
        if !self.allows(&request) {
            tracing::info!(
                target: "plugin", plugin = &*o.plugin, activity = &*o.activity_type, activity_id = &*o.activity_id,
                method = %request.method(), url = %request.uri(), "outbound HTTP request refused: not granted"
            );
            o.telemetry.grant_refused(&o.plugin, &o.activity_type, "http");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        tracing::debug!(
            target: "plugin", plugin = &*o.plugin, activity = &*o.activity_type,
            method = %request.method(), url = %request.uri(), "outbound HTTP request"
        );
        let options = options.unwrap_or_default();
        // The guest's timeouts, within the host's, and never past the
        // execution's deadline: a request must not outlive its execution.
        let deadline = self.deadline;
        let connect = options.connect_timeout.map_or(CONNECT_TIMEOUT, |t| t.min(CONNECT_TIMEOUT));
        let first_byte = options.first_byte_timeout.map_or(FIRST_BYTE_TIMEOUT, |t| t.min(FIRST_BYTE_TIMEOUT));
        let between = options.between_bytes_timeout.map_or(BETWEEN_BYTES_TIMEOUT, |t| t.min(BETWEEN_BYTES_TIMEOUT));
        let headers_by = (Instant::now() + connect + first_byte).min(deadline);
        let client = self.client.clone();
        Box::new(async move {
            let response = match tokio::time::timeout_at(headers_by.into(), client.inner().request(request)).await {
                Ok(Ok(response)) => response,
                Ok(Err(error)) => return Err(classify(&error)),
                Err(_) => return Err(Error::HttpResponseTimeout),
            };
            let response =
                response.map(|body| Deadlined::new(body.map_err(Error::Hyper), between, deadline).boxed_unsync());
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

/// The `wasi:http` error code for a failed request, with the reason where
/// the guest can show it.
fn classify(error: &hyper_util::client::legacy::Error) -> Error {
    let causes = error_chain::causes(error);
    for cause in &causes {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return match tls {
                rustls::Error::InvalidCertificate(_) => Error::TlsCertificateError,
                rustls::Error::AlertReceived(alert) => Error::TlsAlertReceived {
                    alert_id: Some(u8::from(*alert)),
                    alert_message: Some(format!("{alert:?}")),
                },
                _ => Error::TlsProtocolError,
            };
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Error::ConnectionRefused,
                std::io::ErrorKind::TimedOut => return Error::ConnectionTimeout,
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                    return Error::ConnectionTerminated;
                }
                _ => {}
            }
        }
    }
    let text = error_chain::one_line(error);
    tracing::debug!(target: "plugin", "outbound HTTP request failed: {text}");
    if causes.iter().any(|c| c.to_string() == "dns error") {
        return Error::DnsError { rcode: Some(text), info_code: None };
    }
    if error.is_connect() {
        return Error::DestinationUnavailable;
    }
    Error::InternalError(Some(text))
}

/// A response body that fails when the server stalls between frames or the
/// execution's deadline passes.
struct Deadlined<B> {
    body: B,
    between: Duration,
    deadline: Instant,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl<B> Deadlined<B> {
    fn new(body: B, between: Duration, deadline: Instant) -> Self {
        let timer = Box::pin(tokio::time::sleep_until((Instant::now() + between).min(deadline).into()));
        Deadlined { body, between, deadline, timer }
    }
}

impl<B: Body<Data = Bytes, Error = Error> + Unpin> Body for Deadlined<B> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            let next = (Instant::now() + this.between).min(this.deadline);
            this.timer.as_mut().reset(next.into());
            return Poll::Ready(frame);
        }
        ready!(this.timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
