//! Outbound HTTP through the host's shared client: grants checked before any
//! connection, keep-alive connections and TLS sessions reused across
//! executions, the operator's CA file trusted, and no request outliving its
//! execution. Real servers on 127.0.0.1, started by the tests.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use activity_host::engine::EngineOptions;
use activity_host::outbound_http::HttpClientOptions;
use activity_host::{Limits, Outcome, Payload, Registry, Request, Runtime, ServiceOptions, Services};
use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// A keep-alive HTTP/1.1 server, optionally behind TLS, that counts the
/// connections it accepts (so, with TLS, the handshakes) and notices when a
/// client gives up on a request it never answers (`/hang`).
struct Server {
    port: u16,
    accepted: Arc<AtomicUsize>,
    hung_up: Arc<Notify>,
}

impl Server {
    async fn start(tls: Option<tokio_rustls::TlsAcceptor>) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let hung_up = Arc::new(Notify::new());
        let (count, notify) = (accepted.clone(), hung_up.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (tls, notify) = (tls.clone(), notify.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(stream, notify).await;
                            }
                        }
                        None => serve(stream, notify).await,
                    }
                });
            }
        });
        Server { port, accepted, hung_up }
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Answers requests on one connection until the client closes it.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, hung_up: Arc<Notify>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
        buffer.drain(..end);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        if path == "/hang" {
            // Never answer; wait for the client to give up.
            while let Ok(n) = stream.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
            }
            hung_up.notify_one();
            return;
        }
        let body = format!("hello {path}");
        let response = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A test CA and a certificate for 127.0.0.1 signed by it: the acceptor
/// for the server, and the CA's PEM file for `--http-ca-file`.
fn test_pki(dir: &TempDir) -> (tokio_rustls::TlsAcceptor, std::path::PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "activity-host test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();

    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    let ca_file = dir.write("ca.pem", ca_cert.pem().as_bytes());
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca_file)
}

async fn load(dir: &TempDir, ca_file: Option<std::path::PathBuf>) -> Registry {
    let services =
        Services::new(&ServiceOptions { http: HttpClientOptions { ca_file }, ..Default::default() }).unwrap();
    let options = EngineOptions { max_instances: 16, ..EngineOptions::default() };
    let runtime = Runtime::with_services(&options, Limits::default(), services).unwrap();
    runtime.load_dir(dir.path()).await.unwrap()
}

/// The misbehaving plugin with an `[http]` grant.
fn granted(allow: &str) -> TempDir {
    let dir = TempDir::new();
    dir.add("misbehave.wasm", &test_plugin("misbehave"));
    dir.write("misbehave.toml", format!("[http]\nallow = [{allow}]\n").as_bytes());
    dir
}

fn fetch(url: &str) -> Request {
    Request::local("http_fetch", vec![Payload::from_json_arg(&serde_json::to_string(url).unwrap()).unwrap()])
}

#[track_caller]
fn completed(outcome: Outcome) -> String {
    match outcome {
        Outcome::Completed(p) => serde_json::from_str(&p.to_json_text()).unwrap(),
        other => panic!("expected a result, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_executions_reuse_a_handful_of_connections() {
    let server = Server::start(None).await;
    let dir = granted(&format!("\"127.0.0.1:{}\"", server.port));
    let registry = load(&dir, None).await;
    for i in 0..50 {
        let url = format!("http://127.0.0.1:{}/{i}", server.port);
        assert_eq!(completed(registry.execute(fetch(&url)).await), format!("200 hello /{i}"));
    }
    assert!(server.connections() <= 2, "50 executions opened {} connections", server.connections());
}

#[tokio::test(flavor = "multi_thread")]
async fn https_trusts_the_ca_file_and_reuses_its_tls_sessions() {
    let dir = TempDir::new();
    let (acceptor, ca_file) = test_pki(&dir);
    let server = Server::start(Some(acceptor)).await;
    let plugins = granted(&format!("\"127.0.0.1:{}\"", server.port));
    let url = format!("https://127.0.0.1:{}/secure", server.port);

    // Without the CA, the server's certificate is not trusted.
    let untrusted = failed(load(&plugins, None).await.execute(fetch(&url)).await);
    assert!(untrusted.message.contains("TlsCertificateError"), "{}", untrusted.message);

    let before = server.connections();
    let registry = load(&plugins, Some(ca_file)).await;
    for _ in 0..20 {
        assert_eq!(completed(registry.execute(fetch(&url)).await), "200 hello /secure");
    }
    let handshakes = server.connections() - before;
    assert!(handshakes <= 2, "20 executions made {handshakes} TLS handshakes");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_is_never_answered_ends_with_its_execution() {
    let server = Server::start(None).await;
    let dir = granted(&format!("\"127.0.0.1:{}\"", server.port));
    let registry = load(&dir, None).await;
    let url = format!("http://127.0.0.1:{}/hang", server.port);

    let started = Instant::now();
    let outcome = registry.execute(fetch(&url).with_timeout(Duration::from_millis(500))).await;
    assert_eq!(failed(outcome).error_type, activity_host::failure::kind::TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(3), "stopped after {:?}", started.elapsed());
    // The connection is closed, not left waiting in the pool for an answer.
    tokio::time::timeout(Duration::from_secs(5), server.hung_up.notified())
        .await
        .expect("the request outlived its execution");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_execution_aborts_its_request() {
    let server = Server::start(None).await;
    let dir = granted(&format!("\"127.0.0.1:{}\"", server.port));
    let registry = load(&dir, None).await;
    let request = fetch(&format!("http://127.0.0.1:{}/hang", server.port));
    let interrupt = request.interrupt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        interrupt.cancel();
    });
    assert!(matches!(registry.execute(request).await, Outcome::Cancelled(_)));
    tokio::time::timeout(Duration::from_secs(5), server.hung_up.notified())
        .await
        .expect("the request outlived its interrupted execution");
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_are_checked_before_any_connection() {
    let server = Server::start(None).await;
    let port = server.port;
    let url = format!("http://127.0.0.1:{port}/x");
    for allow in [
        // A bare host allows the scheme's own port (80 here), not this one.
        "\"127.0.0.1\"".to_string(),
        format!("\"localhost:{port}\""),
        format!("{{ host = \"127.0.0.1\", ports = [{port}], methods = [\"POST\"] }}"),
    ] {
        let dir = granted(&allow);
        let denied = failed(load(&dir, None).await.execute(fetch(&url)).await);
        assert!(denied.message.contains("HttpRequestDenied"), "{allow}: {}", denied.message);
    }
    assert_eq!(server.connections(), 0, "a refused request reached the server");
    let dir = granted(&format!("{{ host = \"127.0.0.1\", ports = [{port}], methods = [\"GET\"] }}"));
    assert_eq!(completed(load(&dir, None).await.execute(fetch(&url)).await), "200 hello /x");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_names_the_reason() {
    // A port nobody listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = granted(&format!("\"127.0.0.1:{port}\""));
    let refused = failed(load(&dir, None).await.execute(fetch(&format!("http://127.0.0.1:{port}/"))).await);
    assert!(refused.message.contains("ConnectionRefused"), "{}", refused.message);
}

#[test]
fn a_ca_file_that_is_not_pem_is_one_clear_error() {
    let dir = TempDir::new();
    let file = dir.write("ca.pem", b"not a certificate");
    let error = Services::new(&ServiceOptions {
        http: HttpClientOptions { ca_file: Some(file.clone()) },
        ..Default::default()
    })
    .unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("--http-ca-file") && text.contains("ca.pem"), "{text}");
}
