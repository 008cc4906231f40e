//! A plugin's stdout and stderr: written line by line to the host's log,
//! tagged with the plugin and the activity, and bounded.
//!
//! A write never fails: output past the limit is counted and dropped, because
//! a guest whose `println!` fails would panic, and "printed too much" is not a
//! reason to fail an activity. The last few KiB of stderr are kept to explain
//! a trap (a Rust panic prints its message there before aborting).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// The longest line logged as one record; longer lines are split.
const MAX_LINE: usize = 8 * 1024;
/// How much of the end of stderr is kept for a failure's stack trace.
const TAIL: usize = 4 * 1024;

/// Which of the two streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// The output of one execution. Cloned into the WASI context; every clone
/// shares the same buffers.
#[derive(Clone)]
pub struct Capture {
    inner: Arc<Mutex<Inner>>,
}

/// Who an execution is, for its log records and the metrics of what it did.
#[derive(Clone)]
pub struct Origin {
    pub plugin: Arc<str>,
    pub activity_type: Arc<str>,
    pub activity_id: Arc<str>,
    pub telemetry: crate::telemetry::Telemetry,
    /// The trace the execution belongs to, when its task was traced.
    pub trace_id: Option<Arc<str>>,
}

struct Inner {
    origin: Origin,
    /// Output bytes still allowed, across both streams.
    budget: usize,
    dropped: u64,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stderr_tail: VecDeque<u8>,
}

impl Capture {
    /// `limit`: bytes of output (both streams together) written to the log.
    pub fn new(origin: Origin, limit: usize) -> Self {
        Capture {
            inner: Arc::new(Mutex::new(Inner {
                origin,
                budget: limit,
                dropped: 0,
                stdout: Vec::new(),
                stderr: Vec::new(),
                stderr_tail: VecDeque::new(),
            })),
        }
    }

    /// Starts the output of the next execution of a reused instance: its
    /// own origin on every line and its own budget. The streams handed to
    /// WASI stay the same.
    pub fn restart(&self, origin: Origin, limit: usize) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.origin = origin;
        inner.budget = limit;
        inner.dropped = 0;
        inner.stdout.clear();
        inner.stderr.clear();
        inner.stderr_tail.clear();
    }

    /// The stream to hand to `WasiCtxBuilder::stdout` / `stderr`.
    pub fn stream(&self, stream: Stream) -> CaptureStream {
        CaptureStream { capture: self.clone(), stream }
    }

    /// Logs what is left of an unfinished line, says how much was dropped,
    /// and returns the end of stderr.
    pub fn finish(&self) -> String {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(inner.line_buffer(stream));
            if !rest.is_empty() {
                inner.log(stream, &rest);
            }
        }
        if inner.dropped > 0 {
            let o = &inner.origin;
            tracing::warn!(
                target: "plugin",
                plugin = &*o.plugin, activity = &*o.activity_type, activity_id = &*o.activity_id,
                "output limit reached: {} more bytes were not logged", inner.dropped
            );
            inner.dropped = 0;
        }
        let (a, b) = inner.stderr_tail.as_slices();
        String::from_utf8_lossy(&[a, b].concat()).into_owned()
    }

    /// A record from the guest's logger, charged to the same budget as its
    /// output so that neither can flood the host's log.
    pub fn record(&self, level: crate::bindings::types::LogLevel, message: &str) {
        use crate::bindings::types::LogLevel;
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if message.len() > inner.budget {
            inner.budget = 0;
            inner.dropped += message.len() as u64;
            return;
        }
        inner.budget -= message.len();
        let o = &inner.origin;
        let (plugin, activity, activity_id) = (&*o.plugin, &*o.activity_type, &*o.activity_id);
        // `None` records no field: untraced lines do not carry an empty one.
        let trace_id = o.trace_id.as_deref();
        match level {
            LogLevel::Trace => tracing::trace!(target: "plugin", plugin, activity, activity_id, trace_id, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "plugin", plugin, activity, activity_id, trace_id, "{message}"),
            LogLevel::Info => tracing::info!(target: "plugin", plugin, activity, activity_id, trace_id, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "plugin", plugin, activity, activity_id, trace_id, "{message}"),
            LogLevel::Error => tracing::error!(target: "plugin", plugin, activity, activity_id, trace_id, "{message}"),
        }
    }

    fn write(&self, stream: Stream, bytes: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if stream == Stream::Stderr {
            let tail = &mut inner.stderr_tail;
            tail.extend(&bytes[bytes.len().saturating_sub(TAIL)..]);
            let excess = tail.len().saturating_sub(TAIL);
            tail.drain(..excess);
        }
        let allowed = bytes.len().min(inner.budget);
        inner.budget -= allowed;
        inner.dropped += (bytes.len() - allowed) as u64;
        let mut rest = &bytes[..allowed];
        while !rest.is_empty() {
            let buffer = inner.line_buffer(stream);
            match rest.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    buffer.extend_from_slice(&rest[..end]);
                    rest = &rest[end + 1..];
                    let line = std::mem::take(buffer);
                    inner.log(stream, &line);
                }
                None => {
                    buffer.extend_from_slice(rest);
                    rest = &[];
                    if buffer.len() >= MAX_LINE {
                        let line = std::mem::take(buffer);
                        inner.log(stream, &line);
                    }
                }
            }
        }
    }
}

impl Inner {
    fn line_buffer(&mut self, stream: Stream) -> &mut Vec<u8> {
        match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        }
    }

    fn log(&self, stream: Stream, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        if text.trim().is_empty() {
            return;
        }
        let o = &self.origin;
        tracing::info!(
            target: "plugin",
            plugin = &*o.plugin, activity = &*o.activity_type, activity_id = &*o.activity_id,
            trace_id = o.trace_id.as_deref(), stream = stream.name(),
            "{}", text.trim_end_matches('\r')
        );
    }
}

/// One of the two streams of a [`Capture`], as WASI wants it.
pub struct CaptureStream {
    capture: Capture,
    stream: Stream,
}

impl IsTerminal for CaptureStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CaptureStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(CaptureStream { capture: self.capture.clone(), stream: self.stream })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(CaptureStream { capture: self.capture.clone(), stream: self.stream })
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CaptureStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.capture.write(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CaptureStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CaptureStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.capture.write(self.stream, buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(limit: usize) -> Capture {
        Capture::new(
            Origin {
                plugin: "p.wasm".into(),
                activity_type: "a".into(),
                activity_id: "1".into(),
                telemetry: Default::default(),
                trace_id: None,
            },
            limit,
        )
    }

    #[test]
    fn keeps_the_end_of_stderr() {
        let c = capture(1 << 20);
        c.write(Stream::Stdout, b"ignored\n");
        c.write(Stream::Stderr, &vec![b'x'; 10_000]);
        c.write(Stream::Stderr, b"\npanicked at src/lib.rs:1:1:\nboom\n");
        let tail = c.finish();
        assert_eq!(tail.len(), TAIL);
        assert!(tail.ends_with("panicked at src/lib.rs:1:1:\nboom\n"));
    }

    #[test]
    fn output_over_the_limit_is_dropped_not_an_error() {
        let c = capture(10);
        c.write(Stream::Stdout, b"0123456789abcdef\n");
        let inner = c.inner.lock().unwrap();
        assert_eq!(inner.budget, 0);
        assert_eq!(inner.dropped, 7);
    }
}
