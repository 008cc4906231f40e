//! What one execution may touch: the store state behind every fresh instance.
//!
//! Deny by default: a plugin gets clocks, random numbers and its own captured
//! stdout/stderr, and nothing else. Its manifest (see `manifest`) may grant
//! preopened directories, environment variables, outbound HTTP to listed
//! hosts and outbound TCP to listed addresses; anything else is refused with
//! an error the guest sees. Limits bound its memory, run time, fuel, stack,
//! output and payloads.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::{context, types};
use crate::failure::{Failure, kind};
use crate::instances::Reuse;
use crate::memory::Grant;
use crate::outbound_http::{HttpPolicy, HttpRule};
use crate::outbound_pg::{PgGrant, PgSession, PgView};
use crate::output::{Capture, Origin, Stream};
use crate::payload::{Payload, PayloadLimits};
use crate::services::Services;

/// Resource limits of one execution.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Linear memory per instance, all memories together.
    pub memory: u64,
    /// How long an execution may run when nothing else says (`host call
    /// --timeout`, a task without timeouts).
    pub timeout: Duration,
    /// How long an execution may run at most, whatever the task asks.
    pub max_timeout: Option<Duration>,
    /// WebAssembly instructions' fuel per execution, if metered at all.
    pub fuel: Option<u64>,
    /// WebAssembly stack, in bytes.
    pub max_stack: usize,
    /// Bytes of stdout, stderr and log records written to the host's log.
    pub output: usize,
    /// Temporal's payload size limits, applied to arguments, results,
    /// failure details and heartbeat details.
    pub payloads: PayloadLimits,
    /// Whether executions share an instance (`[instances]`).
    pub reuse: Reuse,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: 256 << 20,
            timeout: Duration::from_secs(60),
            max_timeout: None,
            fuel: None,
            max_stack: 512 << 10,
            output: 1 << 20,
            payloads: PayloadLimits::default(),
            reuse: Reuse::FRESH,
        }
    }
}

impl Limits {
    /// How long an execution asked to run for `requested` may run.
    pub fn timeout_for(&self, requested: Option<Duration>) -> Duration {
        let timeout = requested.unwrap_or(self.timeout);
        self.max_timeout.map_or(timeout, |max| timeout.min(max))
    }
}

impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = |b: u64| crate::failure::size(b);
        write!(
            f,
            "memory {}, timeout {}{}, fuel {}, stack {}, output {}",
            size(self.memory),
            humantime::format_duration(self.timeout),
            self.max_timeout.map(|m| format!(" (at most {})", humantime::format_duration(m))).unwrap_or_default(),
            self.fuel.map_or("unmetered".to_string(), |f| f.to_string()),
            size(self.max_stack as u64),
            size(self.output as u64),
        )?;
        if self.reuse.is_on() {
            write!(f, ", an instance reused for up to {} executions", self.reuse.executions)?;
        }
        Ok(())
    }
}

/// A preopened directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    pub host: PathBuf,
    pub guest: String,
    pub write: bool,
}

/// What a plugin may reach beyond its own instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    pub dirs: Vec<DirGrant>,
    pub env: Vec<(String, String)>,
    pub http: Arc<[HttpRule]>,
    /// Databases the plugin may open, by name (`[postgres.NAME]`).
    pub postgres: Arc<[PgGrant]>,
    /// Addresses TCP connections may go to (names resolved at load).
    pub tcp: Vec<SocketAddr>,
    /// The `tcp.connect` entries as written, for display.
    pub tcp_targets: Vec<String>,
    /// Some entry was a name: the guest may resolve names.
    pub name_lookup: bool,
}

impl fmt::Display for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for d in &self.dirs {
            parts.push(format!(
                "dir {} as {} ({})",
                d.host.display(),
                d.guest,
                if d.write { "read-write" } else { "read-only" }
            ));
        }
        if !self.env.is_empty() {
            parts.push(format!("env {}", self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")));
        }
        for r in self.http.iter() {
            parts.push(r.to_string());
        }
        for g in self.postgres.iter() {
            parts.push(g.to_string());
        }
        for t in &self.tcp_targets {
            parts.push(format!("tcp {t}"));
        }
        if parts.is_empty() { f.write_str("none") } else { f.write_str(&parts.join("; ")) }
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

/// A host function's way to end the execution with a given failure.
#[derive(Debug)]
pub struct Stop(pub Failure);

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.error_type, self.0.message)
    }
}

impl std::error::Error for Stop {}

/// The state of one store: one execution, one fresh instance.
pub struct Sandbox {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    http_policy: HttpPolicy,
    postgres: PgSession,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) context: ExecutionContext,
    pub(crate) capture: Capture,
    payloads: PayloadLimits,
    deadline: Instant,
    interrupt: CancellationToken,
}

impl Sandbox {
    /// A store for one execution, interrupted at `deadline` or when
    /// `interrupt` fires, and yielding to tokio at every epoch tick.
    // Each is a separate input of one execution; a struct would only move the list.
    #[allow(clippy::too_many_arguments)]
    pub fn store(
        engine: &wasmtime::Engine,
        grants: &Arc<Grants>,
        services: &Services,
        limits: &Limits,
        origin: Origin,
        context: ExecutionContext,
        deadline: Instant,
        interrupt: CancellationToken,
        memory: Grant,
    ) -> Result<Store<Sandbox>, Failure> {
        let capture = Capture::new(origin.clone(), limits.output);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(capture.stream(Stream::Stdout)).stderr(capture.stream(Stream::Stderr));
        wasi.envs(&grants.env);
        for dir in &grants.dirs {
            let perms = if dir.write { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
            wasi.preopened_dir(&dir.host, &dir.guest, perms).map_err(|e| {
                Failure::new(
                    kind::SANDBOX,
                    format!("the granted directory {} cannot be opened: {e}", dir.host.display()),
                )
            })?;
        }
        if !grants.tcp.is_empty() {
            let allowed = grants.tcp.clone();
            let origin = origin.clone();
            wasi.allow_tcp(true).allow_ip_name_lookup(grants.name_lookup).socket_addr_check(move |addr, usage| {
                let ok = match usage {
                    SocketAddrUse::TcpConnect => allowed.contains(&addr),
                    // The ephemeral local port a connect binds to implicitly.
                    SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
                    _ => false,
                };
                if !ok {
                    refused_socket(&origin, addr, usage);
                }
                Box::pin(async move { ok })
            });
        }
        let sandbox = Sandbox {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            http_policy: HttpPolicy::new(grants.http.clone(), services.http.clone(), origin.clone(), deadline),
            postgres: PgSession::new(grants.postgres.clone(), services.postgres.clone(), origin, deadline),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(limits.memory, memory),
            context,
            capture,
            payloads: limits.payloads,
            deadline,
            interrupt,
        };
        let mut store = Store::new(engine, sandbox);
        store.limiter(|s| &mut s.limiter);
        if let Some(fuel) = limits.fuel {
            store.set_fuel(fuel).expect("fuel is enabled on engines of plugins with a fuel limit");
        }
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
        Ok(store)
    }
}

impl Sandbox {
    /// Readies a kept instance's state for its next execution: everything
    /// the guest can learn of the task, and every bound, is that execution's.
    pub(crate) fn begin(
        &mut self,
        limits: &Limits,
        origin: Origin,
        context: ExecutionContext,
        deadline: Instant,
        interrupt: CancellationToken,
    ) {
        self.capture.restart(origin.clone(), limits.output);
        self.http_policy.begin(origin.clone(), deadline);
        self.postgres.begin(origin, deadline);
        self.context = context;
        self.deadline = deadline;
        self.interrupt = interrupt;
        self.limiter.refused = None;
    }

    /// Ends an execution whose instance is kept: its database connections
    /// are released and nothing of its task is held while the instance idles.
    pub(crate) fn end(&mut self) {
        self.postgres().end();
        self.context.heartbeat = Arc::new(|_| {});
        self.context.cancel = CancellationToken::new();
        self.interrupt = CancellationToken::new();
    }

    /// Linear memory the instance holds now, all its memories together.
    pub(crate) fn memory_used(&self) -> u64 {
        self.limiter.used
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl Sandbox {
    /// What the `postgres` interface's host side may touch.
    pub(crate) fn postgres(&mut self) -> PgView<'_> {
        PgView { session: &mut self.postgres, table: &mut self.table }
    }
}

impl WasiHttpView for Sandbox {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.http_policy }
    }
}

/// The host's log line for a socket the grant does not allow, in the same
/// form as a refused HTTP request's: the guest only sees "permission denied".
fn refused_socket(o: &Origin, addr: std::net::SocketAddr, usage: SocketAddrUse) {
    let what = match usage {
        SocketAddrUse::TcpConnect => "outbound TCP connection",
        SocketAddrUse::TcpBind | SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => "listening TCP socket",
        _ => "UDP socket",
    };
    tracing::info!(
        target: "plugin", plugin = &*o.plugin, activity = &*o.activity_type, activity_id = &*o.activity_id,
        address = %addr, "{what} refused: not granted"
    );
    o.telemetry.grant_refused(&o.plugin, &o.activity_type, "tcp");
}

impl types::Host for Sandbox {}

impl context::Host for Sandbox {
    fn info(&mut self) -> types::ActivityInfo {
        self.context.info.clone()
    }

    fn heartbeat(&mut self, details: Vec<Payload>) -> wasmtime::Result<()> {
        // An oversized heartbeat would fail the task at the server: stop here
        // and say why instead.
        if let Err(failure) = self.payloads.check(&details, "heartbeat details") {
            return Err(wasmtime::Error::new(Stop(failure)));
        }
        (self.context.heartbeat)(details);
        Ok(())
    }

    fn is_cancelled(&mut self) -> bool {
        self.context.cancel.is_cancelled()
    }

    fn log(&mut self, level: types::LogLevel, message: String) {
        self.capture.record(level, &message)
    }
}

/// Bounds the linear memory of one instance, all its memories together,
/// draws it and its tables from the host's budget, and remembers a refusal
/// so that the trap that follows (a Rust guest aborts when its allocator
/// fails) is reported as `OutOfMemory` with the limit that refused.
pub(crate) struct MemoryLimiter {
    limit: u64,
    used: u64,
    grant: Grant,
    pub(crate) refused: Option<Refused>,
}

/// Which bound refused a growth, and how much the instance would have had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The plugin's own `memory` limit.
    Plugin { asked: u64 },
    /// The host-wide budget, held by other executions.
    Host { asked: u64 },
}

impl MemoryLimiter {
    fn new(limit: u64, grant: Grant) -> Self {
        MemoryLimiter { limit, used: 0, grant, refused: None }
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    pub(crate) fn grant(&self) -> &Grant {
        &self.grant
    }

    /// What the next execution of this plugin should expect to need: what
    /// this one used, or asked for when it was refused.
    pub(crate) fn high_water(&self) -> u64 {
        let tables = self.grant.peak() - self.used;
        match self.refused {
            Some(Refused::Host { asked }) => tables + asked,
            // More would be refused again.
            Some(Refused::Plugin { .. }) => tables + self.limit,
            None => self.grant.peak(),
        }
    }
}

/// Most tables a plugin may have, in elements: large enough for CPython's
/// function table, small enough that `table.grow` cannot exhaust the host.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;
/// What one table element costs the host (a function reference).
const TABLE_ELEMENT_BYTES: u64 = std::mem::size_of::<usize>() as u64;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let grow = (desired - current) as u64;
        if self.used + grow > self.limit {
            self.refused = Some(Refused::Plugin { asked: self.used + grow });
            return Ok(false);
        }
        if !self.grant.grow(grow) {
            self.refused = Some(Refused::Host { asked: self.used + grow });
            return Ok(false);
        }
        self.used += grow;
        Ok(true)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        Ok(self.grant.grow((desired - current) as u64 * TABLE_ELEMENT_BYTES))
    }
}
