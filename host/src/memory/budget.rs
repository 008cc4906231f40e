//! The shared account of guest memory.
//!
//! Lock-free on the paths every execution takes: admission when nothing
//! waits, growth and return are one compare-and-swap or one subtraction on a
//! shared counter. Only an execution that must wait takes the queue, a fair
//! (FIFO) mutex, so that a large plugin is not overtaken forever by small ones.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::limit::BudgetSource;

/// How often pressure on the budget is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Guest memory for the whole host.
pub struct MemoryBudget {
    total: u64,
    source: BudgetSource,
    used: AtomicU64,
    /// Charged once and kept: what the instance pools keep resident.
    fixed: AtomicU64,
    waiting: AtomicUsize,
    refusals: AtomicU64,
    queue: tokio::sync::Mutex<()>,
    freed: Notify,
    idle: Notify,
    /// Milliseconds after `born` of the last pressure log line.
    logged: AtomicU64,
    born: Instant,
}

/// The budget's state, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub total: u64,
    /// Held by instances and by the pools' resident memory.
    pub used: u64,
    /// Executions waiting for their memory to fit.
    pub waiting: usize,
    /// Growths refused since start.
    pub refusals: u64,
}

impl MemoryBudget {
    pub fn new(total: u64, source: BudgetSource) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            total,
            source,
            used: AtomicU64::new(0),
            fixed: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            refusals: AtomicU64::new(0),
            queue: tokio::sync::Mutex::new(()),
            freed: Notify::new(),
            idle: Notify::new(),
            logged: AtomicU64::new(0),
            born: Instant::now(),
        })
    }

    /// `--max-memory`, or the host's cgroup, or the machine (see [`super::limit`]).
    pub fn for_host(configured: Option<u64>) -> Arc<MemoryBudget> {
        match configured {
            Some(total) => MemoryBudget::new(total, BudgetSource::Configured),
            None => {
                let (total, source) = super::limit::detect();
                MemoryBudget::new(total, source)
            }
        }
    }

    /// No host-wide bound: each instance is bounded by its own limit only.
    pub fn unbounded() -> Arc<MemoryBudget> {
        MemoryBudget::new(u64::MAX, BudgetSource::Unbounded)
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn source(&self) -> &BudgetSource {
        &self.source
    }

    pub fn is_bounded(&self) -> bool {
        self.total != u64::MAX
    }

    pub fn stats(&self) -> Stats {
        Stats {
            total: self.total,
            used: self.used.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            refusals: self.refusals.load(Ordering::Relaxed),
        }
    }

    /// What instances may hold together: the total less the pools' share.
    pub fn capacity(&self) -> u64 {
        self.total.saturating_sub(self.fixed.load(Ordering::Relaxed))
    }

    /// Charges memory that stays taken for the life of the process (an
    /// instance pool's resident slots). Never refused: the pool is sized
    /// from the budget before it is charged.
    pub fn charge_fixed(&self, bytes: u64) {
        self.fixed.fetch_add(bytes, Ordering::Relaxed);
        self.used.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Takes `bytes` if they fit.
    fn try_take(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&after| after <= self.total)
            })
            .is_ok()
    }

    fn give(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        if self.waiting.load(Ordering::Acquire) > 0 {
            self.freed.notify_waiters();
        }
    }

    /// Waits until `bytes` fit, behind every execution that waited before,
    /// and holds them for the instance. What can never fit (more than the
    /// capacity) is admitted alone, once everything else has returned its memory.
    /// Cancel-safe: dropping the future leaves the queue.
    pub async fn admit(self: &Arc<Self>, bytes: u64) -> Grant {
        if let Some(grant) = self.try_admit(bytes) {
            return grant;
        }
        let bytes = bytes.min(self.capacity());
        let _waiting = Waiting::enter(self);
        self.pressure("an execution waits for its memory");
        let _turn = self.queue.lock().await;
        loop {
            let mut freed = pin!(self.freed.notified());
            freed.as_mut().enable();
            if self.try_take(bytes) {
                return Grant { budget: self.clone(), held: bytes, used: 0 };
            }
            freed.await;
        }
    }

    /// A grant that holds nothing yet and was not queued: for instances the
    /// host needs at once (a codec's), whose growth still draws from the budget.
    pub fn unqueued(self: &Arc<Self>) -> Grant {
        Grant { budget: self.clone(), held: 0, used: 0 }
    }

    /// Admission without waiting: `None` if `bytes` do not fit now or others
    /// wait already (they go first).
    pub fn try_admit(self: &Arc<Self>, bytes: u64) -> Option<Grant> {
        let bytes = bytes.min(self.capacity());
        (bytes == 0 || (self.waiting.load(Ordering::Acquire) == 0 && self.try_take(bytes))).then(|| Grant {
            budget: self.clone(),
            held: bytes,
            used: 0,
        })
    }

    /// Resolves when no execution waits for memory.
    pub async fn no_waiters(&self) {
        loop {
            let mut idle = pin!(self.idle.notified());
            idle.as_mut().enable();
            if self.waiting.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// One log line about pressure on the budget every [`LOG_EVERY`] at most.
    fn pressure(&self, what: &str) {
        let now = self.born.elapsed().as_millis() as u64;
        let last = self.logged.load(Ordering::Relaxed);
        if (last != 0 && now.saturating_sub(last) < LOG_EVERY.as_millis() as u64)
            || self.logged.compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return;
        }
        let stats = self.stats();
        tracing::warn!(
            budget = stats.total,
            used = stats.used,
            waiting = stats.waiting,
            refusals = stats.refusals,
            "guest memory budget under pressure: {what} ({} of {} in use, {} waiting, {} refused so far)",
            crate::failure::size(stats.used),
            crate::failure::size(stats.total),
            stats.waiting,
            stats.refusals,
        );
    }
}

impl std::fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBudget").field("stats", &self.stats()).field("source", &self.source).finish()
    }
}

/// Counts an execution as waiting while it is in the queue.
struct Waiting<'a>(&'a MemoryBudget);

impl<'a> Waiting<'a> {
    fn enter(budget: &'a MemoryBudget) -> Self {
        budget.waiting.fetch_add(1, Ordering::AcqRel);
        Waiting(budget)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.0.waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// The memory one instance holds: what it was admitted with, and what it
/// drew since. Everything returns to the budget when it is dropped.
pub struct Grant {
    budget: Arc<MemoryBudget>,
    held: u64,
    used: u64,
}

impl Grant {
    /// The instance grows by `bytes`: within what it holds, or drawn from
    /// the budget if it fits. `false` leaves everything as it was.
    pub fn grow(&mut self, bytes: u64) -> bool {
        let need = self.used.saturating_add(bytes);
        if need > self.held {
            if !self.budget.try_take(need - self.held) {
                self.budget.refusals.fetch_add(1, Ordering::Relaxed);
                self.budget.pressure("a growing instance was refused memory");
                return false;
            }
            self.held = need;
        }
        self.used = need;
        true
    }

    /// The most the instance has used (memory never shrinks while it lives).
    pub fn peak(&self) -> u64 {
        self.used
    }

    pub fn budget(&self) -> &MemoryBudget {
        &self.budget
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.budget.give(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(total: u64) -> Arc<MemoryBudget> {
        MemoryBudget::new(total, BudgetSource::Configured)
    }

    #[tokio::test]
    async fn growth_draws_beyond_the_admission_and_all_returns_on_drop() {
        let b = budget(100);
        let mut g = b.admit(30).await;
        assert_eq!(b.stats().used, 30);
        assert!(g.grow(20)); // within what it was admitted with
        assert_eq!(b.stats().used, 30);
        assert!(g.grow(20)); // 40 in use: 10 more drawn
        assert_eq!(b.stats().used, 40);
        assert!(!g.grow(61), "41 + 61 is more than the budget");
        assert_eq!((b.stats().used, b.stats().refusals, g.peak()), (40, 1, 40));
        assert!(g.grow(60));
        assert_eq!(b.stats().used, 100);
        drop(g);
        assert_eq!(b.stats().used, 0);
    }

    #[tokio::test]
    async fn several_memories_of_one_instance_share_its_grant() {
        // Two memories and a table, as a componentize-py plugin has.
        let b = budget(100);
        let mut g = b.admit(10).await;
        assert!(g.grow(8) && g.grow(8) && g.grow(4));
        assert_eq!((g.peak(), b.stats().used), (20, 20));
        let mut other = b.admit(70).await;
        assert!(!g.grow(20), "the second instance holds 70 of the 80 left");
        assert!(other.grow(70));
        drop(other);
        assert!(g.grow(20));
    }

    #[tokio::test]
    async fn admission_waits_in_order_and_the_pool_share_is_kept_back() {
        let b = budget(100);
        b.charge_fixed(20);
        assert_eq!(b.capacity(), 80);
        let first = b.admit(60).await;
        let (b2, b3) = (b.clone(), b.clone());
        let big = tokio::spawn(async move { b2.admit(50).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let small = tokio::spawn(async move { b3.admit(10).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(b.waiting(), 2, "the small one fits but does not overtake the big one");
        assert!(!big.is_finished() && !small.is_finished());
        drop(first);
        let (big, small) = (big.await.unwrap(), small.await.unwrap());
        assert_eq!((b.waiting(), b.stats().used), (0, 80));
        drop((big, small));
        assert_eq!(b.stats().used, 20);
    }

    #[tokio::test]
    async fn more_than_the_capacity_runs_alone_rather_than_never() {
        let b = budget(100);
        let g = b.admit(500).await;
        assert_eq!(b.stats().used, 100);
        drop(g);
        assert_eq!(b.stats().used, 0);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_the_queue() {
        let b = budget(100);
        let held = b.admit(100).await;
        let gave_up = tokio::time::timeout(Duration::from_millis(20), b.admit(1)).await;
        assert!(gave_up.is_err());
        assert_eq!(b.waiting(), 0);
        tokio::time::timeout(Duration::from_millis(100), b.no_waiters()).await.unwrap();
        drop(held);
        assert_eq!(b.admit(100).await.peak(), 0);
    }

    #[test]
    fn an_unbounded_budget_never_refuses() {
        let b = MemoryBudget::unbounded();
        let mut g = Grant { budget: b.clone(), held: 0, used: 0 };
        assert!(g.grow(u64::MAX / 2) && g.grow(u64::MAX / 4));
        assert!(!b.is_bounded());
    }
}
