//! A rate-limited work queue of string keys (`namespace/name`), with the semantics of
//! client-go's `workqueue.TypedRateLimitingInterface`:
//! - a key queued twice before a worker takes it is processed once (dedup through `dirty`);
//! - a key added while a worker processes it is queued again only when that worker calls
//!   [`WorkQueue::done`], so one key is never processed by two workers at once;
//! - [`WorkQueue::add_rate_limited`] waits per key with exponential backoff, mirroring
//!   `DefaultTypedControllerRateLimiter`'s per-item limiter (5 ms doubling up to 1000 s),
//!   reset by [`WorkQueue::forget`].
//!
//! Every queue a controller makes through [`crate::ControllerContext::work_queue`] reports
//! client-go's work-queue metrics under upstream's queue name (see [`crate::metrics`]).
//!
//! Upstream combines that per-item limiter with an overall 10 qps / 100 burst token bucket;
//! that bucket is not implemented here.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::metrics::QueueMetrics;

/// Base delay of the per-item backoff (upstream `5*time.Millisecond`).
pub const BASE_DELAY: Duration = Duration::from_millis(5);
/// Cap of the per-item backoff (upstream `1000*time.Second`).
pub const MAX_DELAY: Duration = Duration::from_secs(1000);

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    dirty: HashSet<String>,
    processing: HashSet<String>,
    failures: HashMap<String, u32>,
    shutting_down: bool,
}

/// A cloneable handle to one queue.
#[derive(Clone, Default)]
pub struct WorkQueue {
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    metrics: Option<Arc<QueueMetrics>>,
}

impl WorkQueue {
    /// An empty queue without metrics.
    pub fn new() -> WorkQueue {
        WorkQueue::default()
    }

    /// An empty queue reporting to `metrics` (upstream `TypedRateLimitingQueueConfig.Name`).
    pub fn with_metrics(metrics: Arc<QueueMetrics>) -> WorkQueue {
        WorkQueue {
            metrics: Some(metrics),
            ..WorkQueue::default()
        }
    }

    /// Queues `key` unless it is already waiting.
    pub fn add(&self, key: impl Into<String>) {
        let key = key.into();
        let mut s = self.state.lock();
        if s.shutting_down || s.dirty.contains(&key) {
            return;
        }
        if let Some(m) = &self.metrics {
            m.add(&key);
        }
        s.dirty.insert(key.clone());
        if s.processing.contains(&key) {
            // Re-queued by done().
            return;
        }
        s.queue.push_back(key);
        drop(s);
        self.notify.notify_one();
    }

    /// Queues `key` after `delay` (upstream `AddAfter`).
    pub fn add_after(&self, key: impl Into<String>, delay: Duration) {
        let key = key.into();
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let q = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            q.add(key);
        });
    }

    /// The backoff the next [`WorkQueue::add_rate_limited`] of `key` would wait; counts a failure.
    fn next_delay(&self, key: &str) -> Duration {
        let mut s = self.state.lock();
        let n = s.failures.entry(key.to_string()).or_insert(0);
        let exp = *n;
        *n = n.saturating_add(1);
        backoff(exp)
    }

    /// Queues `key` after its per-item backoff (upstream `AddRateLimited`).
    pub fn add_rate_limited(&self, key: impl Into<String>) {
        let key = key.into();
        if let Some(m) = &self.metrics {
            m.retry();
        }
        let delay = self.next_delay(&key);
        self.add_after(key, delay);
    }

    /// Clears the failure count of `key` (upstream `Forget`).
    pub fn forget(&self, key: &str) {
        self.state.lock().failures.remove(key);
    }

    /// How many times `key` failed since the last forget (upstream `NumRequeues`).
    pub fn num_requeues(&self, key: &str) -> u32 {
        self.state.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// Number of keys waiting (not counting keys being processed).
    pub fn len(&self) -> usize {
        self.state.lock().queue.len()
    }

    /// Whether no key waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for the next key; `None` once the queue is shut down.
    pub async fn get(&self) -> Option<String> {
        loop {
            let notified = self.notify.notified();
            {
                let mut s = self.state.lock();
                if let Some(key) = s.queue.pop_front() {
                    s.dirty.remove(&key);
                    s.processing.insert(key.clone());
                    if let Some(m) = &self.metrics {
                        m.get(&key);
                    }
                    return Some(key);
                }
                if s.shutting_down {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Marks `key` processed; re-queues it if it was added meanwhile.
    pub fn done(&self, key: &str) {
        let mut s = self.state.lock();
        s.processing.remove(key);
        if let Some(m) = &self.metrics {
            m.done(key);
        }
        if s.dirty.contains(key) {
            s.queue.push_back(key.to_string());
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Stops handing out keys; waiting workers get `None`.
    pub fn shut_down(&self) {
        self.state.lock().shutting_down = true;
        self.notify.notify_waiters();
    }
}

/// `BASE_DELAY * 2^failures`, capped at [`MAX_DELAY`].
pub fn backoff(failures: u32) -> Duration {
    if failures >= 32 {
        return MAX_DELAY;
    }
    BASE_DELAY
        .checked_mul(1u32 << failures)
        .map_or(MAX_DELAY, |d| d.min(MAX_DELAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_table() {
        let cases = [
            (0, Duration::from_millis(5)),
            (1, Duration::from_millis(10)),
            (2, Duration::from_millis(20)),
            (10, Duration::from_millis(5120)),
            (17, Duration::from_millis(655_360)),
            (18, MAX_DELAY),
            (31, MAX_DELAY),
            (40, MAX_DELAY),
        ];
        for (n, want) in cases {
            assert_eq!(backoff(n), want, "failures={n}");
        }
    }

    #[tokio::test]
    async fn dedups_queued_keys() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.len(), 2);
        assert_eq!(q.get().await.as_deref(), Some("a"));
        assert_eq!(q.get().await.as_deref(), Some("b"));
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn key_added_while_processing_waits_for_done() {
        let q = WorkQueue::new();
        q.add("a");
        let k = q.get().await.unwrap();
        q.add("a");
        // Not handed out to a second worker while the first holds it.
        assert!(q.is_empty());
        q.done(&k);
        assert_eq!(q.len(), 1);
        assert_eq!(q.get().await.as_deref(), Some("a"));
    }

    #[tokio::test]
    async fn rate_limited_counts_and_forget_resets() {
        let q = WorkQueue::new();
        assert_eq!(q.next_delay("a"), Duration::from_millis(5));
        assert_eq!(q.next_delay("a"), Duration::from_millis(10));
        assert_eq!(q.num_requeues("a"), 2);
        q.forget("a");
        assert_eq!(q.num_requeues("a"), 0);
        assert_eq!(q.next_delay("a"), Duration::from_millis(5));
    }

    #[tokio::test(start_paused = true)]
    async fn add_after_delivers_after_delay() {
        let q = WorkQueue::new();
        q.add_after("a", Duration::from_secs(3));
        tokio::task::yield_now().await;
        assert!(q.is_empty());
        let got = tokio::time::timeout(Duration::from_secs(10), q.get()).await;
        assert_eq!(got.unwrap().as_deref(), Some("a"));
    }

    #[tokio::test]
    async fn reports_metrics() {
        let registry = crate::metrics::Registry::new();
        let q = WorkQueue::with_metrics(registry.queue("test"));
        q.add("a");
        q.add("a");
        q.add("b");
        let k = q.get().await.unwrap();
        q.add_rate_limited("c");
        q.done(&k);
        let text = registry.render();
        // The duplicate add of a waiting key is not counted (upstream `Add` returns early).
        assert!(
            text.contains("workqueue_adds_total{name=\"test\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("workqueue_depth{name=\"test\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("workqueue_retries_total{name=\"test\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("workqueue_work_duration_seconds_count{name=\"test\"} 1\n"));
    }

    #[tokio::test]
    async fn shut_down_releases_waiters() {
        let q = WorkQueue::new();
        let q2 = q.clone();
        let h = tokio::spawn(async move { q2.get().await });
        tokio::task::yield_now().await;
        q.shut_down();
        assert_eq!(h.await.unwrap(), None);
    }
}
