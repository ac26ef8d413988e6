//! The metrics served on `/metrics`, in the Prometheus text format: client-go's work-queue
//! metrics for every controller's queue, and `leader_election_master_status`.
//!
//! Mirrors client-go `util/workqueue/metrics.go` (`defaultQueueMetrics`) as registered by
//! component-base `metrics/prometheus/workqueue`: every series is labelled `name=<queue
//! name>` (upstream's queue names, e.g. `replicaset`, `endpoint_slice_mirroring`);
//! - `workqueue_adds_total` counts adds of keys not already waiting;
//! - `workqueue_depth` is the number of keys waiting;
//! - `workqueue_queue_duration_seconds` observes how long a key waited before a worker took
//!   it, `workqueue_work_duration_seconds` how long its processing took (both with
//!   upstream's buckets `ExponentialBuckets(10e-9, 10, 12)`);
//! - `workqueue_retries_total` counts rate-limited re-adds;
//! - `workqueue_unfinished_work_seconds` / `workqueue_longest_running_processor_seconds`
//!   sum / max the age of keys being processed (upstream refreshes them every 500 ms; here
//!   they are computed at scrape time, which gives the same values without a ticker).
//!
//! One [`Registry`] per running kube-controller-manager (not a process-wide global), so
//! several instances in one test process do not mix their figures.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

/// Upstream buckets: `prometheus.ExponentialBuckets(10e-9, 10, 12)`, 10 ns to 1000 s,
/// as powers of ten from -8 to 3 (parsed from text so each bound is exact).
fn buckets() -> [f64; 12] {
    let mut b = [0.0; 12];
    for (i, slot) in b.iter_mut().enumerate() {
        *slot = format!("1e{}", i as i32 - 8).parse().unwrap_or(f64::MAX);
    }
    b
}

/// A cumulative histogram with [`buckets`].
#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; 12],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, b) in buckets().iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }
}

#[derive(Default)]
struct QueueStats {
    adds: u64,
    retries: u64,
    depth: i64,
    queue_duration: Histogram,
    work_duration: Histogram,
    /// When each waiting key was first added (upstream `addTimes`).
    added_at: HashMap<String, Instant>,
    /// When a worker took each key being processed (upstream `processingStartTimes`).
    processing_since: HashMap<String, Instant>,
}

/// The metrics of one work queue; the queue calls these hooks.
pub struct QueueMetrics {
    name: String,
    stats: Mutex<QueueStats>,
}

impl QueueMetrics {
    /// A key became waiting (upstream `add`).
    pub(crate) fn add(&self, key: &str) {
        let mut s = self.stats.lock();
        s.adds += 1;
        s.depth += 1;
        s.added_at
            .entry(key.to_string())
            .or_insert_with(Instant::now);
    }

    /// A worker took the key (upstream `get`).
    pub(crate) fn get(&self, key: &str) {
        let now = Instant::now();
        let mut s = self.stats.lock();
        s.depth -= 1;
        s.processing_since.insert(key.to_string(), now);
        if let Some(t) = s.added_at.remove(key) {
            s.queue_duration
                .observe(now.duration_since(t).as_secs_f64());
        }
    }

    /// The worker finished the key (upstream `done`).
    pub(crate) fn done(&self, key: &str) {
        let mut s = self.stats.lock();
        if let Some(t) = s.processing_since.remove(key) {
            s.work_duration.observe(t.elapsed().as_secs_f64());
        }
    }

    /// A rate-limited re-add (upstream `retry`).
    pub(crate) fn retry(&self) {
        self.stats.lock().retries += 1;
    }
}

/// All metrics of one kube-controller-manager.
#[derive(Default)]
pub struct Registry {
    queues: Mutex<Vec<Arc<QueueMetrics>>>,
    /// 0: no leader election; 1: candidate, not leading; 2: leading.
    leader: AtomicU8,
}

/// Upstream `leaderelection` metric name label for this binary.
const LEASE_NAME: &str = "kube-controller-manager";

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The metrics of a new queue called `name`. Two queues of the same name (which
    /// upstream refuses to register twice) are rendered as separate series of that name.
    pub fn queue(&self, name: &str) -> Arc<QueueMetrics> {
        let m = Arc::new(QueueMetrics {
            name: name.to_string(),
            stats: Mutex::default(),
        });
        self.queues.lock().push(m.clone());
        m
    }

    /// Records whether this process holds the leader lease
    /// (`leader_election_master_status`, exported only when leader election runs).
    pub fn set_leader(&self, leading: bool) {
        self.leader
            .store(if leading { 2 } else { 1 }, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let now = Instant::now();
        let mut queues: Vec<(String, QueueSnapshot)> = self
            .queues
            .lock()
            .iter()
            .map(|q| (q.name.clone(), QueueSnapshot::of(&q.stats.lock(), now)))
            .collect();
        queues.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::new();
        match self.leader.load(Ordering::Relaxed) {
            0 => {}
            state => {
                family(&mut out, "leader_election_master_status", "gauge", "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.");
                let _ = writeln!(
                    out,
                    "leader_election_master_status{{name=\"{LEASE_NAME}\"}} {}",
                    u8::from(state == 2)
                );
            }
        }
        if queues.is_empty() {
            return out;
        }
        family(
            &mut out,
            "workqueue_adds_total",
            "counter",
            "Total number of adds handled by workqueue",
        );
        for (n, q) in &queues {
            let _ = writeln!(out, "workqueue_adds_total{{name=\"{n}\"}} {}", q.adds);
        }
        family(
            &mut out,
            "workqueue_depth",
            "gauge",
            "Current depth of workqueue",
        );
        for (n, q) in &queues {
            let _ = writeln!(out, "workqueue_depth{{name=\"{n}\"}} {}", q.depth);
        }
        family(
            &mut out,
            "workqueue_longest_running_processor_seconds",
            "gauge",
            "How many seconds has the longest running processor for workqueue been running.",
        );
        for (n, q) in &queues {
            let _ = writeln!(
                out,
                "workqueue_longest_running_processor_seconds{{name=\"{n}\"}} {}",
                q.longest
            );
        }
        family(
            &mut out,
            "workqueue_queue_duration_seconds",
            "histogram",
            "How long in seconds an item stays in workqueue before being requested.",
        );
        for (n, q) in &queues {
            histogram(&mut out, "workqueue_queue_duration_seconds", n, &q.queue);
        }
        family(
            &mut out,
            "workqueue_retries_total",
            "counter",
            "Total number of retries handled by workqueue",
        );
        for (n, q) in &queues {
            let _ = writeln!(out, "workqueue_retries_total{{name=\"{n}\"}} {}", q.retries);
        }
        family(&mut out, "workqueue_unfinished_work_seconds", "gauge", "How many seconds of work has done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.");
        for (n, q) in &queues {
            let _ = writeln!(
                out,
                "workqueue_unfinished_work_seconds{{name=\"{n}\"}} {}",
                q.unfinished
            );
        }
        family(
            &mut out,
            "workqueue_work_duration_seconds",
            "histogram",
            "How long in seconds processing an item from workqueue takes.",
        );
        for (n, q) in &queues {
            histogram(&mut out, "workqueue_work_duration_seconds", n, &q.work);
        }
        out
    }
}

/// The figures of one queue at scrape time.
struct QueueSnapshot {
    adds: u64,
    retries: u64,
    depth: i64,
    queue: Histogram,
    work: Histogram,
    unfinished: f64,
    longest: f64,
}

impl QueueSnapshot {
    fn of(s: &QueueStats, now: Instant) -> QueueSnapshot {
        let ages: Vec<f64> = s
            .processing_since
            .values()
            .map(|t| now.duration_since(*t).as_secs_f64())
            .collect();
        QueueSnapshot {
            adds: s.adds,
            retries: s.retries,
            depth: s.depth.max(0),
            queue: s.queue_duration.clone(),
            work: s.work_duration.clone(),
            unfinished: ages.iter().fold(0.0, |a, b| a + b),
            longest: ages.iter().copied().fold(0.0, f64::max),
        }
    }
}

/// `# HELP` (with component-base's stability prefix) and `# TYPE` lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} [ALPHA] {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, metric: &str, queue: &str, h: &Histogram) {
    for (b, c) in buckets().iter().zip(h.counts.iter()) {
        let _ = writeln!(
            out,
            "{metric}_bucket{{name=\"{queue}\",le=\"{}\"}} {c}",
            le(*b)
        );
    }
    let _ = writeln!(
        out,
        "{metric}_bucket{{name=\"{queue}\",le=\"+Inf\"}} {}",
        h.count
    );
    let _ = writeln!(out, "{metric}_sum{{name=\"{queue}\"}} {}", h.sum);
    let _ = writeln!(out, "{metric}_count{{name=\"{queue}\"}} {}", h.count);
}

/// Bucket bounds as Go's Prometheus client prints them (`strconv.FormatFloat(b, 'g', -1)`:
/// `1e-08` ... `1e-05`, then `0.0001` ... `1000`).
fn le(b: f64) -> String {
    let exp = b.log10().round() as i32;
    if exp < -4 {
        format!("1e-{:02}", -exp)
    } else {
        format!("{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_labels_match_go() {
        let got: Vec<String> = buckets().iter().map(|b| le(*b)).collect();
        assert_eq!(
            got,
            [
                "1e-08", "1e-07", "1e-06", "1e-05", "0.0001", "0.001", "0.01", "0.1", "1", "10",
                "100", "1000"
            ]
        );
    }

    #[test]
    fn queue_hooks_feed_the_exposition() {
        let r = Registry::new();
        let q = r.queue("replicaset");
        q.add("ns/a");
        q.add("ns/b");
        q.get("ns/a");
        q.retry();
        let text = r.render();
        assert!(text.contains("# TYPE workqueue_adds_total counter\n"));
        assert!(text.contains("workqueue_adds_total{name=\"replicaset\"} 2\n"));
        assert!(text.contains("workqueue_depth{name=\"replicaset\"} 1\n"));
        assert!(text.contains("workqueue_retries_total{name=\"replicaset\"} 1\n"));
        assert!(text.contains("workqueue_queue_duration_seconds_count{name=\"replicaset\"} 1\n"));
        assert!(text.contains("workqueue_work_duration_seconds_count{name=\"replicaset\"} 0\n"));
        q.done("ns/a");
        let text = r.render();
        assert!(text.contains("workqueue_work_duration_seconds_count{name=\"replicaset\"} 1\n"));
        assert!(text.contains(
            "workqueue_work_duration_seconds_bucket{name=\"replicaset\",le=\"+Inf\"} 1\n"
        ));
        assert!(text.contains("workqueue_unfinished_work_seconds{name=\"replicaset\"} 0\n"));
        assert!(!text.contains("leader_election_master_status"));
        r.set_leader(false);
        assert!(r
            .render()
            .contains("leader_election_master_status{name=\"kube-controller-manager\"} 0\n"));
        r.set_leader(true);
        assert!(r
            .render()
            .contains("leader_election_master_status{name=\"kube-controller-manager\"} 1\n"));
    }
}
