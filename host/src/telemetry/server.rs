//! The operator's address (`--metrics-bind`): `/metrics`, `/healthz` and
//! `/readyz`, as a Kubernetes pod and a Prometheus scrape expect them.
//!
//! The core SDK's exporter (`start_prometheus_metric_exporter`) owns the
//! meter and the Prometheus text, but serves nothing but `/metrics` on an
//! address of its own. It listens on an ephemeral loopback port, and this
//! server relays a scrape to it, so that the probes and the metrics share
//! the one address an operator configures.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use temporalio_common::telemetry::metrics::CoreMeter;
use temporalio_common::telemetry::{
    HistogramBucketOverrides, PrometheusExporterOptions, start_prometheus_metric_exporter,
};

use super::Telemetry;
use crate::catalog::Catalog;

/// What `/readyz` answers from: whether the worker polls, whether the
/// Temporal service answers, and whether any plugin is loaded.
#[derive(Default)]
pub struct Health {
    catalog: OnceLock<Arc<Catalog>>,
    polling: AtomicBool,
    /// Why the Temporal service is unreachable, while it is.
    unreachable: Mutex<Option<String>>,
}

impl Health {
    pub fn set_catalog(&self, catalog: Arc<Catalog>) {
        let _ = self.catalog.set(catalog);
    }

    /// The worker polls its task queue (true) or has stopped (false).
    pub fn set_polling(&self, polling: bool) {
        self.polling.store(polling, Ordering::Relaxed);
    }

    /// The last probe of the Temporal service: `Err(reason)` if it failed.
    pub fn set_service(&self, probe: Result<(), String>) {
        *self.unreachable.lock().unwrap_or_else(|p| p.into_inner()) = probe.err();
    }

    /// Ready to take tasks, or why not.
    pub fn ready(&self) -> Result<(), String> {
        let Some(catalog) = self.catalog.get() else { return Err("loading the plugins".into()) };
        if let Some(reason) = self.unreachable.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Err(format!("the Temporal service is unreachable: {reason}"));
        }
        if !self.polling.load(Ordering::Relaxed) {
            return Err("not polling the task queue".into());
        }
        if catalog.registry().plugins().is_empty() {
            return Err(format!("no plugin loaded from {}", catalog.dir().display()));
        }
        Ok(())
    }
}

/// The running server: the meter for core and the host's own series, and
/// the health state the worker keeps up to date.
pub struct MetricsServer {
    pub meter: Arc<dyn CoreMeter>,
    pub telemetry: Telemetry,
    pub health: Arc<Health>,
    pub address: SocketAddr,
}

/// Binds `bind` and serves it until the process ends.
pub async fn start(bind: SocketAddr) -> anyhow::Result<MetricsServer> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| anyhow::anyhow!("--metrics-bind {bind}: cannot listen ({e})"))?;
    let address = listener.local_addr()?;
    let exporter = start_prometheus_metric_exporter(
        PrometheusExporterOptions::builder()
            .socket_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
            .histogram_bucket_overrides(HistogramBucketOverrides {
                overrides: [(super::MEMORY_PEAK.to_string(), super::memory_peak_buckets())].into(),
            })
            .build(),
    )?;
    let meter: Arc<dyn CoreMeter> = exporter.meter;
    let telemetry = Telemetry::new(meter.clone());
    let health = Arc::new(Health::default());
    let state = Arc::new(State {
        core: format!("http://{}/metrics", exporter.bound_addr).parse()?,
        client: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http(),
        health: health.clone(),
        telemetry: telemetry.clone(),
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(state.answer(request).await) }
                });
                // A scraper that hangs up mid-answer is not news.
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(MetricsServer { meter, telemetry, health, address })
}

struct State {
    core: http::Uri,
    client: hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    health: Arc<Health>,
    telemetry: Telemetry,
}

impl State {
    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let text = |status: StatusCode, body: String| {
            Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(Full::new(Bytes::from(body + "\n")))
                .expect("a plain response is valid")
        };
        match (request.method(), request.uri().path()) {
            (&Method::GET, "/healthz") => text(StatusCode::OK, "ok".into()),
            (&Method::GET, "/readyz") => match self.health.ready() {
                Ok(()) => text(StatusCode::OK, "ready".into()),
                Err(reason) => text(StatusCode::SERVICE_UNAVAILABLE, reason),
            },
            (&Method::GET, "/metrics") => {
                if let Some(catalog) = self.health.catalog.get() {
                    let registry = catalog.registry();
                    self.telemetry.plugins(registry.plugins().len(), registry.refused().len());
                }
                match self.scrape_core().await {
                    Ok(response) => response,
                    Err(e) => text(StatusCode::BAD_GATEWAY, format!("the metrics exporter did not answer: {e}")),
                }
            }
            _ => text(StatusCode::NOT_FOUND, "not found: try /metrics, /healthz or /readyz".into()),
        }
    }

    async fn scrape_core(&self) -> anyhow::Result<Response<Full<Bytes>>> {
        let request = Request::get(self.core.clone()).body(Full::new(Bytes::new()))?;
        let response = self.client.request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Response::from_parts(parts, Full::new(body)))
    }
}
