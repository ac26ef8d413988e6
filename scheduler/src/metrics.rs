//! Prometheus metrics served on `/metrics` (a subset of upstream's
//! `pkg/scheduler/metrics`): `scheduler_schedule_attempts_total`,
//! `scheduler_scheduling_attempt_duration_seconds` and `scheduler_pending_pods`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use parking_lot::Mutex;

/// Upstream buckets: exponential from 1 ms, factor 2, 15 buckets.
fn buckets() -> Vec<f64> {
    (0..15).map(|i| 0.001 * 2f64.powi(i)).collect()
}

#[derive(Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// The scheduler's metrics.
#[derive(Default)]
pub struct Metrics {
    attempts: Mutex<BTreeMap<(String, String), u64>>,
    durations: Mutex<BTreeMap<(String, String), Histogram>>,
}

/// Outcome label values, as upstream.
pub const SCHEDULED: &str = "scheduled";
/// A rejected attempt.
pub const UNSCHEDULABLE: &str = "unschedulable";
/// A failed attempt.
pub const ERROR: &str = "error";

impl Metrics {
    /// Records one scheduling attempt.
    pub fn observe(&self, profile: &str, result: &str, took: Duration) {
        let key = (profile.to_string(), result.to_string());
        *self.attempts.lock().entry(key.clone()).or_insert(0) += 1;
        let mut d = self.durations.lock();
        let h = d.entry(key).or_insert_with(|| Histogram {
            counts: vec![0; buckets().len()],
            ..Default::default()
        });
        let secs = took.as_secs_f64();
        for (i, b) in buckets().iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// The text exposition, with the queue sizes (active, backoff, unschedulable).
    pub fn render(&self, pending: (usize, usize, usize)) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP scheduler_schedule_attempts_total [STABLE] Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be scheduled, while 'error' means an internal scheduler problem.");
        let _ = writeln!(out, "# TYPE scheduler_schedule_attempts_total counter");
        for ((profile, result), n) in self.attempts.lock().iter() {
            let _ = writeln!(
                out,
                "scheduler_schedule_attempts_total{{profile=\"{profile}\",result=\"{result}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP scheduler_scheduling_attempt_duration_seconds [STABLE] Scheduling attempt latency in seconds (scheduling algorithm + binding)");
        let _ = writeln!(
            out,
            "# TYPE scheduler_scheduling_attempt_duration_seconds histogram"
        );
        for ((profile, result), h) in self.durations.lock().iter() {
            let labels = format!("profile=\"{profile}\",result=\"{result}\"");
            for (b, c) in buckets().iter().zip(&h.counts) {
                let _ = writeln!(
                    out,
                    "scheduler_scheduling_attempt_duration_seconds_bucket{{{labels},le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                out,
                "scheduler_scheduling_attempt_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "scheduler_scheduling_attempt_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "scheduler_scheduling_attempt_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        let _ = writeln!(out, "# HELP scheduler_pending_pods [STABLE] Number of pending pods, by the queue type. 'active' means number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in unschedulablePods that the scheduler attempted to schedule and failed; 'gated' is the number of unschedulable pods that the scheduler never attempted to schedule because they are gated.");
        let _ = writeln!(out, "# TYPE scheduler_pending_pods gauge");
        for (q, n) in [
            ("active", pending.0),
            ("backoff", pending.1),
            ("unschedulable", pending.2),
        ] {
            let _ = writeln!(out, "scheduler_pending_pods{{queue=\"{q}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition() {
        let m = Metrics::default();
        m.observe("default-scheduler", SCHEDULED, Duration::from_millis(3));
        m.observe("default-scheduler", SCHEDULED, Duration::from_millis(1));
        m.observe("default-scheduler", UNSCHEDULABLE, Duration::from_millis(1));
        let text = m.render((1, 2, 3));
        assert!(text.contains("scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"scheduled\"} 2"));
        assert!(text.contains("scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"unschedulable\"} 1"));
        assert!(text.contains("scheduler_scheduling_attempt_duration_seconds_bucket{profile=\"default-scheduler\",result=\"scheduled\",le=\"0.002\"} 1"));
        assert!(text.contains("scheduler_scheduling_attempt_duration_seconds_bucket{profile=\"default-scheduler\",result=\"scheduled\",le=\"0.004\"} 2"));
        assert!(text.contains("scheduler_pending_pods{queue=\"unschedulable\"} 3"));
    }
}
