//! What one execution may touch: the store state behind every fresh instance.
//!
//! By default a plugin gets clocks, random numbers and its own captured
//! stdout/stderr, and nothing else: no files, no environment, no sockets, no
//! outbound HTTP (a component that imports `wasi:http` links, but every
//! request is refused). Limits bound its memory, its run time and its output.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::bindings::{context, types};
use crate::output::{Capture, Origin, Stream};
use crate::payload::Payload;

/// Resource limits of one execution.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Linear memory per instance, all memories together.
    pub memory: u64,
    /// How long an execution may run when nothing shorter is asked for
    /// (`host call --timeout`, or no start-to-close timeout on the task).
    pub timeout: Duration,
    /// Bytes of stdout, stderr and log records written to the host's log.
    pub output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory: 256 << 20, timeout: Duration::from_secs(60), output: 1 << 20 }
    }
}

/// Receives the details of each `heartbeat()` call.
pub type HeartbeatSink = Arc<dyn Fn(Vec<Payload>) + Send + Sync>;

/// What the running execution can learn and signal through `context`.
pub struct ExecutionContext {
    pub info: types::ActivityInfo,
    pub heartbeat: HeartbeatSink,
    /// Turns `is-cancelled()` true.
    pub cancel: CancellationToken,
}

/// The state of one store: one execution, one fresh instance.
pub struct Sandbox {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    http_hooks: DenyHttp,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) context: ExecutionContext,
    pub(crate) capture: Capture,
    deadline: Instant,
    interrupt: CancellationToken,
}

impl Sandbox {
    /// A store for one execution, interrupted at `deadline` or when
    /// `interrupt` fires, and yielding to tokio at every epoch tick.
    pub fn store(
        engine: &wasmtime::Engine,
        limits: &Limits,
        origin: Origin,
        context: ExecutionContext,
        deadline: Instant,
        interrupt: CancellationToken,
    ) -> Store<Sandbox> {
        let capture = Capture::new(origin, limits.output);
        let wasi =
            WasiCtxBuilder::new().stdout(capture.stream(Stream::Stdout)).stderr(capture.stream(Stream::Stderr)).build();
        let sandbox = Sandbox {
            wasi,
            http: WasiHttpCtx::new(),
            http_hooks: DenyHttp,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(limits.memory),
            context,
            capture,
            deadline,
            interrupt,
        };
        let mut store = Store::new(engine, sandbox);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            let s = ctx.data();
            if s.interrupt.is_cancelled() || Instant::now() >= s.deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Let tokio run the other executions, then come back.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for Sandbox {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.http_hooks }
    }
}

/// Refuses every outbound request with `HTTP-request-denied`, which the guest
/// sees as an error it can handle.
struct DenyHttp;

impl WasiHttpHooks for DenyHttp {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _io: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
                )>,
            > + Send,
    > {
        tracing::warn!(target: "plugin", method = %request.method(), uri = %request.uri(), "outbound HTTP request refused: no grant");
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl types::Host for Sandbox {}

impl context::Host for Sandbox {
    fn info(&mut self) -> types::ActivityInfo {
        self.context.info.clone()
    }

    fn heartbeat(&mut self, details: Vec<Payload>) {
        (self.context.heartbeat)(details)
    }

    fn is_cancelled(&mut self) -> bool {
        self.context.cancel.is_cancelled()
    }

    fn log(&mut self, level: types::LogLevel, message: String) {
        self.capture.record(level, &message)
    }
}

/// Bounds the linear memory of one instance, all its memories together, and
/// remembers a refusal so that the trap that follows (a Rust guest aborts
/// when its allocator fails) is reported as `OutOfMemory`.
pub(crate) struct MemoryLimiter {
    limit: u64,
    used: u64,
    pub(crate) refused: Option<u64>,
}

impl MemoryLimiter {
    fn new(limit: u64) -> Self {
        MemoryLimiter { limit, used: 0, refused: None }
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }
}

/// Most tables a plugin may have, in elements: large enough for CPython's
/// function table, small enough that `table.grow` cannot exhaust the host.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let grow = (desired - current) as u64;
        if self.used + grow > self.limit {
            self.refused = Some(self.used + grow);
            return Ok(false);
        }
        self.used += grow;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
