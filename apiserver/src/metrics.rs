//! Prometheus metrics with upstream's names: apiserver_request_total,
//! apiserver_request_duration_seconds, apiserver_longrunning_requests,
//! apiserver_registered_watchers, apiserver_storage_request_duration_seconds (upstream calls
//! the latter etcd_request_duration_seconds; both names are served).

use std::collections::BTreeMap;
use std::fmt::Write;

use parking_lot::Mutex;

/// Histogram buckets (seconds), upstream's request duration buckets.
const BUCKETS: &[f64] = &[
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
    10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS.iter().enumerate() {
            let c = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, String, u16), u64>,
    durations: BTreeMap<(String, String), Histogram>,
    storage: BTreeMap<(String, String), Histogram>,
    watches: BTreeMap<String, i64>,
}

/// The apiserver's metrics registry.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Records a finished request.
    pub fn request(&self, verb: &str, group: &str, resource: &str, code: u16, seconds: f64) {
        let mut i = self.inner.lock();
        *i.requests
            .entry((
                verb.to_string(),
                group.to_string(),
                resource.to_string(),
                code,
            ))
            .or_default() += 1;
        if verb != "WATCH" {
            i.durations
                .entry((verb.to_string(), resource.to_string()))
                .or_default()
                .observe(seconds);
        }
    }

    /// Records one storage operation.
    pub fn storage(&self, operation: &str, resource: &str, seconds: f64) {
        self.inner
            .lock()
            .storage
            .entry((operation.to_string(), resource.to_string()))
            .or_default()
            .observe(seconds);
    }

    /// Adjusts the open watch count of a resource.
    pub fn watch_delta(&self, resource: &str, delta: i64) {
        *self
            .inner
            .lock()
            .watches
            .entry(resource.to_string())
            .or_default() += delta;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let i = self.inner.lock();
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, group, resource and HTTP response code.\n# TYPE apiserver_request_total counter\n");
        for ((verb, group, resource, code), n) in &i.requests {
            let _ = writeln!(
                out,
                "apiserver_request_total{{code=\"{code}\",group=\"{group}\",resource=\"{resource}\",verb=\"{verb}\"}} {n}"
            );
        }
        out.push_str("# HELP apiserver_request_duration_seconds Response latency distribution in seconds for each verb and resource.\n# TYPE apiserver_request_duration_seconds histogram\n");
        for ((verb, resource), h) in &i.durations {
            h.render(
                &mut out,
                "apiserver_request_duration_seconds",
                &format!("resource=\"{resource}\",verb=\"{verb}\""),
            );
        }
        out.push_str("# HELP apiserver_registered_watchers Number of currently registered watchers for a given resource.\n# TYPE apiserver_registered_watchers gauge\n");
        for (resource, n) in &i.watches {
            let _ = writeln!(
                out,
                "apiserver_registered_watchers{{resource=\"{resource}\"}} {n}"
            );
        }
        let total: i64 = i.watches.values().sum();
        out.push_str("# HELP apiserver_longrunning_requests Gauge of all active long-running apiserver requests.\n# TYPE apiserver_longrunning_requests gauge\n");
        let _ = writeln!(
            out,
            "apiserver_longrunning_requests{{verb=\"WATCH\"}} {total}"
        );
        for name in [
            "apiserver_storage_request_duration_seconds",
            "etcd_request_duration_seconds",
        ] {
            let _ = writeln!(out, "# HELP {name} Storage request latency in seconds for each operation and object type.\n# TYPE {name} histogram");
            for ((op, resource), h) in &i.storage {
                h.render(
                    &mut out,
                    name,
                    &format!("operation=\"{op}\",type=\"{resource}\""),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.request("GET", "", "pods", 200, 0.01);
        m.request("GET", "", "pods", 200, 0.3);
        m.storage("get", "pods", 0.001);
        m.watch_delta("pods", 2);
        let text = m.render();
        assert!(text.contains(
            "apiserver_request_total{code=\"200\",group=\"\",resource=\"pods\",verb=\"GET\"} 2"
        ));
        assert!(text.contains(
            "apiserver_request_duration_seconds_bucket{resource=\"pods\",verb=\"GET\",le=\"0.025\"} 1"
        ));
        assert!(text.contains("apiserver_registered_watchers{resource=\"pods\"} 2"));
        assert!(
            text.contains("etcd_request_duration_seconds_count{operation=\"get\",type=\"pods\"} 1")
        );
    }
}
