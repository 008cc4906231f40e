//! The host's stderr (log records and its own messages) and stdout, written
//! so that a reader going away or falling behind never panics, blocks or
//! stops the host.
//!
//! Rust ignores SIGPIPE, so a write into a pipe whose reader has gone
//! returns EPIPE; `eprintln!`/`println!` panic on it, and tracing-subscriber's
//! fmt layer reports a failed write with `eprintln!`. The first record
//! logged after `host run ... 2>&1 | tail` lost its `tail` therefore
//! panicked in whichever task logged it: the signal task (which then never
//! started the shutdown, so SIGTERM seemed ignored) or the main task (exit
//! 101). A reader that stays but stops reading fills the pipe, and a
//! blocking write then never returns, shutdown included.
//!
//! Here a write that fails is dropped and counted, never reported on the
//! stream that just failed. For `host run`, records go through a bounded
//! queue to a writer thread, so no task ever waits for stderr; what does not
//! fit in the queue is dropped and counted too. The count reaches the log as
//! soon as a line gets through again (`N log lines dropped ...`): the only
//! place anyone could read it. If stderr never recovers, nobody can read
//! anything the host writes, and the count goes with the process; the exit
//! code stays that of the command, since a lost log is no failed service.

use std::collections::VecDeque;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::time::FormatTime as _;

/// Bytes of records waiting for the writer thread, at most: far more than a
/// healthy stderr ever lags behind, and a bounded cost when it stalls.
const MAX_QUEUED: usize = 8 << 20;
/// At exit, how long the writer thread may make no progress before the
/// records still queued are given up: a reader that keeps reading gets the
/// whole log, one that stopped does not hold the exit.
const STALL: Duration = Duration::from_secs(1);
/// At exit, how long the queue is drained at most, however slowly it moves.
const MAX_DRAIN: Duration = Duration::from_secs(10);

/// How stderr is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In the caller's thread: output stays in order with stdout (`call`,
    /// `list`, `check`, which serve nobody while they wait).
    Direct,
    /// Through the writer thread: a worker must not wait for its log.
    Queued,
}

enum Sink {
    Direct(Mutex<Unreported>),
    Queued(Arc<Queue>),
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Chooses how stderr is written; the first call wins. Before it, and if
/// the writer thread cannot be started, writes are direct.
pub fn init(mode: Mode) {
    let sink = match mode {
        Mode::Direct => Sink::Direct(Mutex::default()),
        Mode::Queued => match Queue::start() {
            Ok(queue) => Sink::Queued(queue),
            Err(_) => Sink::Direct(Mutex::default()),
        },
    };
    let _ = SINK.set(sink);
}

fn sink() -> &'static Sink {
    SINK.get_or_init(|| Sink::Direct(Mutex::default()))
}

/// Writes one whole record (a log line, a message) to stderr, or drops it.
pub fn write_stderr(record: &[u8]) {
    match sink() {
        Sink::Direct(unreported) => lock(unreported).emit(record),
        Sink::Queued(queue) => queue.push(record),
    }
}

/// Writes to stdout, ignoring a reader that has gone: what the command
/// prints is its answer, and nobody is left to answer.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let _ = io::stdout().lock().write_fmt(args);
}

/// Before the process exits: lets the writer thread write what is queued,
/// for as long as it makes progress.
pub fn finish() {
    if let Some(Sink::Queued(queue)) = SINK.get() {
        queue.drain();
    }
}

/// `eprintln!` that never panics; through the log's queue when there is one,
/// so that messages and log records stay in order.
macro_rules! eprintln_safe {
    ($($arg:tt)*) => {
        $crate::logging::write_stderr(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
}

/// `println!` that never panics.
macro_rules! println_safe {
    ($($arg:tt)*) => {
        $crate::logging::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {eprintln_safe, println_safe};

/// tracing-subscriber's writer: each event is one `write_all` of the whole
/// formatted record, which goes to [`write_stderr`] as it is. It never
/// fails, so the fmt layer never reports a failure with `eprintln!`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Self::Writer {
        Stderr
    }
}

impl io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_stderr(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records dropped and not yet reported in the log.
#[derive(Default)]
struct Unreported(u64);

impl Unreported {
    fn emit(&mut self, record: &[u8]) {
        if io::stderr().lock().write_all(record).is_err() {
            self.dropped(1);
            return;
        }
        self.report();
    }

    fn dropped(&mut self, n: u64) {
        self.0 += n;
    }

    /// Says in the log how many records it lost, once a write gets through.
    fn report(&mut self) {
        if self.0 == 0 {
            return;
        }
        let mut line = String::new();
        let _ = tracing_subscriber::fmt::time::SystemTime
            .format_time(&mut tracing_subscriber::fmt::format::Writer::new(&mut line));
        line.push_str(&format!(
            "  WARN activity_host: {} log lines dropped: stderr did not take them (its reader was gone or too slow)\n",
            self.0
        ));
        if io::stderr().lock().write_all(line.as_bytes()).is_ok() {
            self.0 = 0;
        }
    }
}

struct Queue {
    state: Mutex<State>,
    /// Records were queued.
    queued: Condvar,
    /// The writer thread wrote everything queued.
    idle: Condvar,
    /// Records the writer thread has handled (written or dropped), so that
    /// [`Queue::drain`] can tell slow from stuck.
    handled: AtomicU64,
}

#[derive(Default)]
struct State {
    records: VecDeque<Vec<u8>>,
    bytes: usize,
    /// Records refused because the queue was full, not yet counted.
    overflow: u64,
    /// The writer thread holds a batch.
    busy: bool,
}

impl Queue {
    fn start() -> io::Result<Arc<Queue>> {
        let queue = Arc::new(Queue {
            state: Mutex::default(),
            queued: Condvar::new(),
            idle: Condvar::new(),
            handled: AtomicU64::new(0),
        });
        let writer = queue.clone();
        std::thread::Builder::new().name("log-writer".into()).spawn(move || writer.run())?;
        Ok(queue)
    }

    fn push(&self, record: &[u8]) {
        let mut state = lock(&self.state);
        if state.bytes + record.len() > MAX_QUEUED {
            state.overflow += 1;
            return;
        }
        state.bytes += record.len();
        state.records.push_back(record.to_vec());
        drop(state);
        self.queued.notify_one();
    }

    fn run(&self) {
        let mut unreported = Unreported::default();
        loop {
            let (batch, overflow) = {
                let mut state = lock(&self.state);
                while state.records.is_empty() {
                    state = self.queued.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                state.busy = true;
                state.bytes = 0;
                (std::mem::take(&mut state.records), std::mem::take(&mut state.overflow))
            };
            unreported.dropped(overflow);
            for record in batch {
                if io::stderr().lock().write_all(&record).is_err() {
                    unreported.dropped(1);
                }
                self.handled.fetch_add(1, Ordering::Relaxed);
            }
            unreported.report();
            let mut state = lock(&self.state);
            state.busy = false;
            if state.records.is_empty() {
                self.idle.notify_all();
            }
        }
    }

    fn drain(&self) {
        let deadline = Instant::now() + MAX_DRAIN;
        let mut state = lock(&self.state);
        while state.busy || !state.records.is_empty() {
            let before = self.handled.load(Ordering::Relaxed);
            let wait = STALL.min(deadline.saturating_duration_since(Instant::now()));
            state = self.idle.wait_timeout(state, wait).unwrap_or_else(|p| p.into_inner()).0;
            let idle = !state.busy && state.records.is_empty();
            if !idle && (self.handled.load(Ordering::Relaxed) == before || Instant::now() >= deadline) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let queue =
            Queue { state: Mutex::default(), queued: Condvar::new(), idle: Condvar::new(), handled: AtomicU64::new(0) };
        let record = vec![b'x'; 1 << 20];
        for _ in 0..10 {
            queue.push(&record);
        }
        let state = lock(&queue.state);
        assert_eq!(state.records.len(), MAX_QUEUED >> 20);
        assert_eq!(state.overflow, 10 - (MAX_QUEUED >> 20) as u64);
    }
}
