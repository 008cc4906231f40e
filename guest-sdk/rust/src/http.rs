//! Outbound HTTP from an activity, over the host's `wasi:http`.
//!
//! ```ignore
//! let receipt: Receipt = activity::http::post("https://api.example.com/orders")
//!     .header("x-api-key", key)
//!     .json(&order)
//!     .send()?
//!     .error_for_status()?
//!     .json()?;
//! ```
//!
//! The host sends only what the plugin's manifest grants (`[http] allow = [...]`
//! in `NAME.toml` beside `NAME.wasm`); any other request fails with an
//! [`HttpError`] of kind [`HttpErrorKind::Denied`], which `?` turns into a
//! failed activity saying so.
//!
//! Activities are synchronous, so this API is too: [`RequestBuilder::send`]
//! blocks until the whole response has arrived (a component runs one call at
//! a time, so nothing else could run meanwhile anyway). It speaks `wasi:http`
//! through the `wasip2` bindings directly rather than through an async
//! client, so that the host's own error code (`HTTP-request-denied`,
//! `connection-refused`, `TLS-certificate-error`, ...) reaches the error
//! intact; `HeaderMap`, `Method` and `StatusCode` are the `http` crate's.
//!
//! Redirects are followed, as `fetch`, `requests` and `reqwest` do: up to 10
//! by default ([`Client::max_redirects`]), each hop checked against the
//! manifest by the host. 301/302 after a POST and 303 become a GET without a
//! body; `Authorization`, `Cookie` and `Proxy-Authorization` are dropped when
//! a redirect leaves the origin, so a credential never reaches a host it was
//! not meant for.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasip2::http::types::ErrorCode;

pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

/// How many redirects a [`Client`] follows unless told otherwise (reqwest's default).
const DEFAULT_MAX_REDIRECTS: usize = 10;

/// Starts a GET with a default [`Client`].
pub fn get(url: impl AsRef<str>) -> RequestBuilder {
    Client::new().get(url)
}

/// Starts a POST with a default [`Client`].
pub fn post(url: impl AsRef<str>) -> RequestBuilder {
    Client::new().post(url)
}

/// Sends requests. It holds only settings, so making one per request costs
/// nothing; connections are the host's business.
#[derive(Debug, Clone)]
pub struct Client {
    max_redirects: usize,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client that follows up to 10 redirects, with the host's timeouts.
    pub fn new() -> Self {
        Client { max_redirects: DEFAULT_MAX_REDIRECTS, connect_timeout: None, read_timeout: None }
    }

    /// How many redirects to follow; 0 returns every 3xx response as it is.
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// Bounds each wait of a request by `timeout`: connecting, then the
    /// response's headers, then every pause in its body. An activity's own
    /// timeout still bounds the whole; this fails sooner, with an error the
    /// activity can handle (kind [`HttpErrorKind::Timeout`]). The host caps
    /// each wait (10 s to connect, 60 s for the rest).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self.read_timeout = Some(timeout);
        self
    }

    /// Bounds connecting alone (after [`timeout`](Self::timeout), overrides it for that wait).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    pub fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::GET, url)
    }
    pub fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::POST, url)
    }
    pub fn put(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::PUT, url)
    }
    pub fn patch(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }
    pub fn delete(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }
    pub fn head(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// Starts a request with any method (`Method::from_bytes(b"PROPFIND")`, ...).
    pub fn request(&self, method: Method, url: impl AsRef<str>) -> RequestBuilder {
        let url = url.as_ref().to_string();
        let (uri, error) = match parse_url(&url) {
            Ok(uri) => (Some(uri), None),
            Err(reason) => (None, Some(HttpError::new(HttpErrorKind::Request, &method, &url, reason))),
        };
        RequestBuilder { client: self.clone(), method, url, uri, headers: HeaderMap::new(), body: Vec::new(), error }
    }
}

/// A request being put together. Mistakes (a malformed URL or header, a body
/// that does not serialize) are kept until [`send`](Self::send), which reports
/// the first, so the whole request reads as one chain ending in `?`.
#[derive(Debug)]
pub struct RequestBuilder {
    client: Client,
    method: Method,
    url: String,
    uri: Option<http::Uri>,
    headers: HeaderMap,
    body: Vec<u8>,
    error: Option<HttpError>,
}

impl RequestBuilder {
    /// Adds a header (a repeated name adds another value).
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let (name, value) = (name.as_ref(), value.as_ref());
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            (Err(_), _) => self.fail(format!("invalid header name {name:?}")),
            (_, Err(_)) => self.fail(format!("invalid value for header {name:?}")),
        }
        self
    }

    /// Adds each header of `headers`.
    pub fn headers<K: AsRef<str>, V: AsRef<str>>(mut self, headers: impl IntoIterator<Item = (K, V)>) -> Self {
        for (name, value) in headers {
            self = self.header(name, value);
        }
        self
    }

    /// Sets `Authorization: Bearer TOKEN`.
    pub fn bearer_auth(self, token: impl fmt::Display) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// Sends these bytes as the body (set `content-type` yourself).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends `value` as JSON, with `content-type: application/json` unless
    /// one was set.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                self.body = body;
                if !self.headers.contains_key("content-type") {
                    self.headers.insert("content-type", HeaderValue::from_static("application/json"));
                }
            }
            Err(e) => self.fail(format!("the JSON body did not serialize: {e}")),
        }
        self
    }

    fn fail(&mut self, reason: String) {
        if self.error.is_none() {
            self.error = Some(HttpError::new(HttpErrorKind::Request, &self.method, &self.url, reason));
        }
    }

    /// Sends the request, follows redirects, and reads the whole response.
    ///
    /// Any status is a response here, 404 and 500 included (see
    /// [`Response::error_for_status`]); an error means no response came: the
    /// request was refused by the host, could not connect, timed out, or the
    /// response was cut short.
    pub fn send(self) -> Result<Response, HttpError> {
        let RequestBuilder { client, mut method, url: _, uri, mut headers, mut body, error } = self;
        if let Some(error) = error {
            return Err(error);
        }
        let mut uri = uri.expect("a builder without an error has a URL");
        let mut redirects = 0;
        loop {
            let mut sent_headers = headers.clone();
            // Without it the body goes out chunked, which many servers (Python's
            // http.server among them) read as empty.
            if (!body.is_empty() || matches!(method, Method::POST | Method::PUT | Method::PATCH))
                && !sent_headers.contains_key("content-length")
            {
                sent_headers.insert("content-length", HeaderValue::from(body.len()));
            }
            let url_now = uri.to_string();
            let fail = |(kind, reason): (HttpErrorKind, String), code: Option<&ErrorCode>| {
                let mut error = HttpError::new(kind, &method, &url_now, reason);
                error.code = code.map(|c| describe(c).0.to_string());
                error
            };
            // A redirect about to be followed needs no body.
            let follow = |status: StatusCode, headers: &HeaderMap| {
                client.max_redirects > 0 && is_redirect(status) && headers.contains_key("location")
            };
            let (status, response_headers, response_body) =
                wasi::exchange(&method, &uri, &sent_headers, &body, &client, follow).map_err(|f| match f {
                    wasi::Failure::Code(code, during) => fail(code_reason(&code, during), Some(&code)),
                    wasi::Failure::Other(kind, reason) => fail((kind, reason), None),
                })?;

            let location = response_headers.get("location").and_then(|l| l.to_str().ok());
            match location {
                Some(location) if client.max_redirects > 0 && is_redirect(status) => {
                    if redirects == client.max_redirects {
                        let reason = format!("more than {} redirects (the last to {location})", client.max_redirects);
                        return Err(fail((HttpErrorKind::Redirect, reason), None));
                    }
                    redirects += 1;
                    let next = resolve(&uri, location).map_err(|reason| {
                        fail((HttpErrorKind::Redirect, format!("redirect to {location:?}: {reason}")), None)
                    })?;
                    if (status == StatusCode::SEE_OTHER && method != Method::HEAD)
                        || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                            && method == Method::POST)
                    {
                        method = Method::GET;
                        body.clear();
                        for name in ["content-type", "content-length", "content-encoding", "transfer-encoding"] {
                            headers.remove(name);
                        }
                    }
                    if origin(&next) != origin(&uri) {
                        for name in ["authorization", "cookie", "proxy-authorization"] {
                            headers.remove(name);
                        }
                    }
                    uri = next;
                }
                _ => return Ok(Response { status, headers: response_headers, body: response_body, url: url_now }),
            }
        }
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn origin(uri: &http::Uri) -> (Option<&str>, Option<&str>, Option<u16>) {
    (uri.scheme_str(), uri.host(), uri.port_u16())
}

/// The whole response: status, headers, and the body, already read.
#[derive(Clone)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    url: String,
}

impl Response {
    /// The status; compares with a number (`resp.status() == 404`).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of a header, if it is present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The URL that answered, after redirects.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.body
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<String, HttpError> {
        String::from_utf8(self.body.clone())
            .map_err(|e| self.error(HttpErrorKind::Body, format!("the body is not UTF-8 text: {e}")))
    }

    /// The body decoded from JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| self.error(HttpErrorKind::Body, format!("the body is not the JSON expected: {e}")))
    }

    /// Turns a 4xx or 5xx response into an [`HttpError`] of kind
    /// [`HttpErrorKind::Status`] (message: the status and the start of the
    /// body), so that `?` fails the activity on it.
    pub fn error_for_status(self) -> Result<Self, HttpError> {
        if !(self.status.is_client_error() || self.status.is_server_error()) {
            return Ok(self);
        }
        let mut reason = self.status.to_string();
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        if !text.is_empty() {
            let cut: String = text.chars().take(200).collect();
            reason.push_str(": ");
            reason.push_str(&cut);
            if cut.len() < text.len() {
                reason.push('…');
            }
        }
        let mut error = self.error(HttpErrorKind::Status, reason);
        error.status = Some(self.status);
        Err(error)
    }

    fn error(&self, kind: HttpErrorKind, reason: String) -> HttpError {
        HttpError { kind, message: format!("{}: {reason}", self.url), code: None, status: None }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("url", &self.url)
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &format_args!("{} bytes", self.body.len()))
            .finish()
    }
}

/// What went wrong with a request.
///
/// It is a `std::error::Error`, so `?` in an activity returning
/// `Result<T, ApplicationError>` fails the activity with type `HttpError` and
/// this error's message, which names the request and the reason, for example
/// `GET http://10.0.0.1/: HTTP-request-denied (not granted by the plugin's manifest)`.
/// Such failures are retryable; to stop retries, map it:
/// `.map_err(|e| ApplicationError::from(e).non_retryable())`.
#[derive(Debug, Clone)]
pub struct HttpError {
    kind: HttpErrorKind,
    message: String,
    code: Option<String>,
    status: Option<StatusCode>,
}

/// The broad reason of an [`HttpError`], to decide what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpErrorKind {
    /// The host refused to send it: the plugin's manifest grants no such
    /// host, port or method.
    Denied,
    /// No connection: the name did not resolve, nothing listens there, or TLS
    /// failed (an untrusted certificate, say).
    Connect,
    /// Connecting, or waiting for the response or its body, took too long.
    Timeout,
    /// The request could not be sent as given (URL, header, body).
    Request,
    /// The server broke the protocol or cut the response short.
    Response,
    /// Reading the body failed, or it was not the text or JSON expected.
    Body,
    /// Too many redirects, or one to nowhere.
    Redirect,
    /// [`Response::error_for_status`] on a 4xx or 5xx response.
    Status,
    /// Anything else the host reported.
    Other,
}

impl HttpError {
    fn new(kind: HttpErrorKind, method: &Method, url: &str, reason: impl fmt::Display) -> Self {
        HttpError { kind, message: format!("{method} {url}: {reason}"), code: None, status: None }
    }

    pub fn kind(&self) -> HttpErrorKind {
        self.kind
    }

    /// Whether the host refused the request because the manifest does not grant it.
    pub fn is_denied(&self) -> bool {
        self.kind == HttpErrorKind::Denied
    }

    pub fn is_timeout(&self) -> bool {
        self.kind == HttpErrorKind::Timeout
    }

    /// The `wasi:http` error code the host gave, as the WIT names it
    /// (`HTTP-request-denied`, `connection-refused`, `TLS-certificate-error`, ...).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The status, for an error made by [`Response::error_for_status`].
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpError {}

/// A URL the host can be asked for: absolute, http or https.
fn parse_url(url: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("invalid URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some_and(|h| !h.is_empty()) => Ok(uri),
        Some("http" | "https") => Err("invalid URL: no host".into()),
        Some(other) => Err(format!("invalid URL: scheme {other:?} is not http or https")),
        None => Err("invalid URL: not absolute (it must start with http:// or https://)".into()),
    }
}

/// Resolves a `Location` against the URL that answered (RFC 3986, section 5.2).
fn resolve(base: &http::Uri, location: &str) -> Result<http::Uri, String> {
    let location = location.split('#').next().unwrap_or_default();
    let scheme = base.scheme_str().unwrap_or("https");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    let absolute = if location.contains("://") {
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        let (path, query) = location.split_once('?').map_or((location, None), |(p, q)| (p, Some(q)));
        join(scheme, authority, &remove_dot_segments(path), query)
    } else if location.is_empty() || location.starts_with('?') {
        let query = location.strip_prefix('?').or(if location.is_empty() { base.query() } else { None });
        join(scheme, authority, base.path(), query)
    } else {
        let (path, query) = location.split_once('?').map_or((location, None), |(p, q)| (p, Some(q)));
        let dir = &base.path()[..base.path().rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        join(scheme, authority, &remove_dot_segments(&format!("{dir}{path}")), query)
    };
    parse_url(&absolute)
}

fn join(scheme: &str, authority: &str, path: &str, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{scheme}://{authority}{path}?{q}"),
        None => format!("{scheme}://{authority}{path}"),
    }
}

fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// The kind and message of an error code, saying when it came if not while
/// waiting for the response.
fn code_reason(code: &ErrorCode, during: &str) -> (HttpErrorKind, String) {
    let (name, kind, detail) = describe(code);
    let mut reason = if during.is_empty() { String::new() } else { format!("{during}: ") };
    reason.push_str(name);
    if !detail.is_empty() {
        reason.push_str(&format!(" ({detail})"));
    }
    (kind, reason)
}

/// The WIT name of a `wasi:http` error code, its kind, and what it carries
/// (or, for a refusal, why).
fn describe(code: &ErrorCode) -> (&'static str, HttpErrorKind, String) {
    use HttpErrorKind::*;
    let opt = |v: Option<String>| v.unwrap_or_default();
    let size = |v: Option<u64>| v.map(|n| format!("{n} bytes")).unwrap_or_default();
    let field = |name: &Option<String>, size: Option<u32>| match (name, size) {
        (Some(name), Some(n)) => format!("{name}: {n} bytes"),
        (Some(name), None) => name.clone(),
        (None, Some(n)) => format!("{n} bytes"),
        (None, None) => String::new(),
    };
    match code {
        ErrorCode::DnsTimeout => ("DNS-timeout", Timeout, String::new()),
        ErrorCode::DnsError(p) => (
            "DNS-error",
            Connect,
            [p.rcode.clone(), p.info_code.map(|c| c.to_string())].into_iter().flatten().collect::<Vec<_>>().join(" "),
        ),
        ErrorCode::DestinationNotFound => ("destination-not-found", Connect, String::new()),
        ErrorCode::DestinationUnavailable => ("destination-unavailable", Connect, String::new()),
        ErrorCode::DestinationIpProhibited => ("destination-IP-prohibited", Connect, String::new()),
        ErrorCode::DestinationIpUnroutable => ("destination-IP-unroutable", Connect, String::new()),
        ErrorCode::ConnectionRefused => ("connection-refused", Connect, String::new()),
        ErrorCode::ConnectionTerminated => ("connection-terminated", Connect, String::new()),
        ErrorCode::ConnectionTimeout => ("connection-timeout", Timeout, String::new()),
        ErrorCode::ConnectionReadTimeout => ("connection-read-timeout", Timeout, String::new()),
        ErrorCode::ConnectionWriteTimeout => ("connection-write-timeout", Timeout, String::new()),
        ErrorCode::ConnectionLimitReached => ("connection-limit-reached", Connect, String::new()),
        ErrorCode::TlsProtocolError => ("TLS-protocol-error", Connect, String::new()),
        ErrorCode::TlsCertificateError => {
            ("TLS-certificate-error", Connect, "the server's certificate is not trusted".to_string())
        }
        ErrorCode::TlsAlertReceived(p) => (
            "TLS-alert-received",
            Connect,
            [p.alert_message.clone(), p.alert_id.map(|c| c.to_string())]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ErrorCode::HttpRequestDenied => {
            ("HTTP-request-denied", Denied, "not granted by the plugin's manifest".to_string())
        }
        ErrorCode::HttpRequestLengthRequired => ("HTTP-request-length-required", Request, String::new()),
        ErrorCode::HttpRequestBodySize(n) => ("HTTP-request-body-size", Request, size(*n)),
        ErrorCode::HttpRequestMethodInvalid => ("HTTP-request-method-invalid", Request, String::new()),
        ErrorCode::HttpRequestUriInvalid => ("HTTP-request-URI-invalid", Request, String::new()),
        ErrorCode::HttpRequestUriTooLong => ("HTTP-request-URI-too-long", Request, String::new()),
        ErrorCode::HttpRequestHeaderSectionSize(n) => {
            ("HTTP-request-header-section-size", Request, size(n.map(u64::from)))
        }
        ErrorCode::HttpRequestHeaderSize(f) => (
            "HTTP-request-header-size",
            Request,
            f.as_ref().map(|f| field(&f.field_name, f.field_size)).unwrap_or_default(),
        ),
        ErrorCode::HttpRequestTrailerSectionSize(n) => {
            ("HTTP-request-trailer-section-size", Request, size(n.map(u64::from)))
        }
        ErrorCode::HttpRequestTrailerSize(f) => {
            ("HTTP-request-trailer-size", Request, field(&f.field_name, f.field_size))
        }
        ErrorCode::HttpResponseIncomplete => ("HTTP-response-incomplete", Response, String::new()),
        ErrorCode::HttpResponseHeaderSectionSize(n) => {
            ("HTTP-response-header-section-size", Response, size(n.map(u64::from)))
        }
        ErrorCode::HttpResponseHeaderSize(f) => {
            ("HTTP-response-header-size", Response, field(&f.field_name, f.field_size))
        }
        ErrorCode::HttpResponseBodySize(n) => ("HTTP-response-body-size", Response, size(*n)),
        ErrorCode::HttpResponseTrailerSectionSize(n) => {
            ("HTTP-response-trailer-section-size", Response, size(n.map(u64::from)))
        }
        ErrorCode::HttpResponseTrailerSize(f) => {
            ("HTTP-response-trailer-size", Response, field(&f.field_name, f.field_size))
        }
        ErrorCode::HttpResponseTransferCoding(c) => ("HTTP-response-transfer-coding", Response, opt(c.clone())),
        ErrorCode::HttpResponseContentCoding(c) => ("HTTP-response-content-coding", Response, opt(c.clone())),
        ErrorCode::HttpResponseTimeout => ("HTTP-response-timeout", Timeout, String::new()),
        ErrorCode::HttpUpgradeFailed => ("HTTP-upgrade-failed", Response, String::new()),
        ErrorCode::HttpProtocolError => ("HTTP-protocol-error", Response, String::new()),
        ErrorCode::LoopDetected => ("loop-detected", Response, String::new()),
        ErrorCode::ConfigurationError => ("configuration-error", Other, String::new()),
        ErrorCode::InternalError(m) => ("internal-error", Other, opt(m.clone())),
    }
}

/// One request and its response, over the host's `wasi:http`.
mod wasi {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        self as wt, ErrorCode, Fields, HeaderError, IncomingBody, OutgoingBody, OutgoingRequest, RequestOptions,
    };
    use wasip2::io::streams::{OutputStream, StreamError};

    use super::{Client, HeaderMap, HeaderName, HeaderValue, HttpErrorKind, Method, StatusCode};

    pub(super) enum Failure {
        /// The host's error code, and what was under way when it came (empty:
        /// sending the request and waiting for its response).
        Code(ErrorCode, &'static str),
        Other(HttpErrorKind, String),
    }

    fn other(kind: HttpErrorKind, reason: impl Into<String>) -> Failure {
        Failure::Other(kind, reason.into())
    }

    fn stream_failure(error: StreamError, during: &'static str) -> Failure {
        match error {
            StreamError::Closed => other(HttpErrorKind::Response, format!("{during}: the stream closed")),
            StreamError::LastOperationFailed(e) => match wt::http_error_code(&e) {
                Some(code) => Failure::Code(code, during),
                None => other(HttpErrorKind::Response, format!("{during}: {}", e.to_debug_string())),
            },
        }
    }

    /// Sends the request and reads the response: status, headers, and the body
    /// unless `skip_body` says it is not wanted.
    pub(super) fn exchange(
        method: &Method,
        uri: &http::Uri,
        headers: &HeaderMap,
        body: &[u8],
        client: &Client,
        skip_body: impl Fn(StatusCode, &HeaderMap) -> bool,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), Failure> {
        use HttpErrorKind::Request;
        let fields = Fields::new();
        for (name, value) in headers {
            fields.append(name.as_str(), value.as_bytes()).map_err(|e| match e {
                HeaderError::Forbidden => {
                    other(Request, format!("header {name} is the host's to set (wasi:http forbids it)"))
                }
                e => other(Request, format!("header {name} refused by wasi:http ({e:?})")),
            })?;
        }
        let request = OutgoingRequest::new(fields);
        let wasi_method = match method.as_str() {
            "GET" => wt::Method::Get,
            "HEAD" => wt::Method::Head,
            "POST" => wt::Method::Post,
            "PUT" => wt::Method::Put,
            "DELETE" => wt::Method::Delete,
            "CONNECT" => wt::Method::Connect,
            "OPTIONS" => wt::Method::Options,
            "TRACE" => wt::Method::Trace,
            "PATCH" => wt::Method::Patch,
            other => wt::Method::Other(other.to_string()),
        };
        let scheme = if uri.scheme_str() == Some("https") { wt::Scheme::Https } else { wt::Scheme::Http };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        request
            .set_method(&wasi_method)
            .map_err(|()| other(Request, format!("method {method} refused by wasi:http")))?;
        request.set_scheme(Some(&scheme)).map_err(|()| other(Request, "scheme refused by wasi:http"))?;
        request
            .set_authority(uri.authority().map(|a| a.as_str()))
            .map_err(|()| other(Request, "host refused by wasi:http"))?;
        request.set_path_with_query(Some(path)).map_err(|()| other(Request, "path refused by wasi:http"))?;
        let outgoing_body = request.body().map_err(|()| other(Request, "no request body stream"))?;

        let future = outgoing_handler::handle(request, options(client)).map_err(|code| Failure::Code(code, ""))?;
        // A write fails when the host dropped the request (refused it, could
        // not connect) or the server answered early: either way the response,
        // or the error code in its place, says more, so it decides.
        let _ = write_body(outgoing_body, body);
        let response = loop {
            match future.get() {
                Some(Ok(result)) => break result,
                Some(Err(())) => return Err(other(HttpErrorKind::Other, "the response was taken twice")),
                None => future.subscribe().block(),
            }
        };
        drop(future);
        let response = response.map_err(|code| Failure::Code(code, ""))?;

        let status = StatusCode::from_u16(response.status())
            .map_err(|_| other(HttpErrorKind::Response, format!("invalid status {}", response.status())))?;
        let mut headers = HeaderMap::new();
        let fields = response.headers();
        for (name, value) in fields.entries() {
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(&value)) {
                headers.append(name, value);
            }
        }
        drop(fields);
        if skip_body(status, &headers) {
            return Ok((status, headers, Vec::new()));
        }

        let incoming = response.consume().map_err(|()| other(HttpErrorKind::Response, "no response body"))?;
        let stream = incoming.stream().map_err(|()| other(HttpErrorKind::Response, "no response body stream"))?;
        let mut bytes = Vec::new();
        let read = loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break Ok(()),
                Err(e) => break Err(stream_failure(e, "reading the response body")),
            }
        };
        // Children before parents: wasi:http traps otherwise.
        drop(stream);
        drop(IncomingBody::finish(incoming));
        read.map(|()| (status, headers, bytes))
    }

    fn options(client: &Client) -> Option<RequestOptions> {
        if client.connect_timeout.is_none() && client.read_timeout.is_none() {
            return None;
        }
        let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let options = RequestOptions::new();
        // A host that does not support one keeps its own: nothing to fail for.
        if let Some(t) = client.connect_timeout {
            let _ = options.set_connect_timeout(Some(nanos(t)));
        }
        if let Some(t) = client.read_timeout {
            let _ = options.set_first_byte_timeout(Some(nanos(t)));
            let _ = options.set_between_bytes_timeout(Some(nanos(t)));
        }
        Some(options)
    }

    fn write_body(outgoing: OutgoingBody, body: &[u8]) -> Result<(), Failure> {
        let written = match outgoing.write() {
            Ok(stream) => write_all(&stream, body),
            Err(()) => Err(other(HttpErrorKind::Request, "no request body stream")),
        };
        let finished =
            OutgoingBody::finish(outgoing, None).map_err(|code| Failure::Code(code, "sending the request body"));
        written.and(finished)
    }

    fn write_all(stream: &OutputStream, mut body: &[u8]) -> Result<(), Failure> {
        let failed = |e| stream_failure(e, "sending the request body");
        while !body.is_empty() {
            let permitted = stream.check_write().map_err(failed)?;
            if permitted == 0 {
                stream.subscribe().block();
                continue;
            }
            let n = body.len().min(usize::try_from(permitted).unwrap_or(usize::MAX));
            stream.write(&body[..n]).map_err(failed)?;
            body = &body[n..];
        }
        stream.blocking_flush().map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(base: &str, location: &str) -> String {
        resolve(&base.parse().unwrap(), location).unwrap().to_string()
    }

    #[test]
    fn redirect_locations_resolve_against_the_url_that_answered() {
        let base = "http://a.example:8080/b/c/d?q=1";
        assert_eq!(resolved(base, "https://x.example/y"), "https://x.example/y");
        assert_eq!(resolved(base, "//x.example/y"), "http://x.example/y");
        assert_eq!(resolved(base, "/y?z=2"), "http://a.example:8080/y?z=2");
        assert_eq!(resolved(base, "g"), "http://a.example:8080/b/c/g");
        assert_eq!(resolved(base, "../g#frag"), "http://a.example:8080/b/g");
        assert_eq!(resolved(base, "./"), "http://a.example:8080/b/c/");
        assert_eq!(resolved(base, "?z=3"), "http://a.example:8080/b/c/d?z=3");
        assert_eq!(resolved("http://a.example", "g"), "http://a.example/g");
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(parse_url("https://api.example.com/orders?x=1").is_ok());
        assert!(parse_url("/orders").unwrap_err().contains("not absolute"));
        assert!(parse_url("ftp://example.com/").unwrap_err().contains("\"ftp\""));
        assert!(parse_url("http://exa mple.com/").is_err());
    }

    #[test]
    fn builder_mistakes_surface_at_send_with_the_request_named() {
        let err = post("http://127.0.0.1:1/x").header("bad header", "v").send().unwrap_err();
        assert_eq!(err.kind(), HttpErrorKind::Request);
        assert_eq!(err.to_string(), "POST http://127.0.0.1:1/x: invalid header name \"bad header\"");
        let err = get("example.com").send().unwrap_err();
        assert!(err.to_string().starts_with("GET example.com: invalid URL: not absolute"), "{err}");
    }

    #[test]
    fn errors_become_application_errors_of_type_http_error() {
        let err = HttpError::new(HttpErrorKind::Denied, &Method::GET, "http://x/", "HTTP-request-denied");
        let app: crate::ApplicationError = err.into();
        assert_eq!(app.error_type(), "HttpError");
        assert_eq!(app.message(), "GET http://x/: HTTP-request-denied");
    }

    #[test]
    fn error_codes_read_as_wit_names() {
        let (name, kind, detail) = describe(&ErrorCode::HttpRequestDenied);
        assert_eq!((name, kind), ("HTTP-request-denied", HttpErrorKind::Denied));
        assert_eq!(detail, "not granted by the plugin's manifest");
        assert_eq!(describe(&ErrorCode::ConnectionRefused).0, "connection-refused");
        assert_eq!(describe(&ErrorCode::InternalError(Some("boom".into()))).2, "boom");
    }

    #[test]
    fn error_for_status_keeps_the_start_of_the_body() {
        let response = Response {
            status: StatusCode::NOT_FOUND,
            headers: HeaderMap::new(),
            body: b"no such order\n".to_vec(),
            url: "http://x/orders/1".into(),
        };
        let err = response.clone().error_for_status().unwrap_err();
        assert_eq!(err.to_string(), "http://x/orders/1: 404 Not Found: no such order");
        assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
        assert!(response.status() == 404);
    }
}
