//! `/stats/summary` (the Summary API, `stats/v1alpha1`) and the Prometheus endpoints
//! `/metrics/resource` and `/metrics`, from the runtime's container stats (CRI
//! ListContainerStats) and the node's `/proc`.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::ContainerStat;

/// Node-level figures read from `/proc`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeStats {
    /// Cumulative CPU time of the node, all cores, in nanoseconds (busy time: everything
    /// but idle and iowait, like cAdvisor's root cgroup usage).
    pub cpu_usage_core_nanos: u64,
    /// MemTotal in bytes.
    pub memory_total_bytes: u64,
    /// MemAvailable in bytes.
    pub memory_available_bytes: u64,
    /// When the node booted.
    pub boot_time: Option<DateTime<Utc>>,
}

impl NodeStats {
    /// Working set as upstream approximates it for the node: total minus available.
    pub fn memory_working_set_bytes(&self) -> u64 {
        self.memory_total_bytes
            .saturating_sub(self.memory_available_bytes)
    }
}

/// USER_HZ on Linux: /proc/stat counts in 1/100 s.
const NANOS_PER_TICK: u64 = 10_000_000;

/// Parses `/proc/stat` and `/proc/meminfo` contents.
pub fn parse_node_stats(proc_stat: &str, meminfo: &str) -> NodeStats {
    let mut s = NodeStats::default();
    for line in proc_stat.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("cpu") => {
                let v: Vec<u64> = f.filter_map(|x| x.parse().ok()).collect();
                // user nice system idle iowait irq softirq steal
                let busy: u64 = v
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
                    .map(|(_, x)| *x)
                    .sum();
                s.cpu_usage_core_nanos = busy * NANOS_PER_TICK;
            }
            Some("btime") => {
                s.boot_time = f
                    .next()
                    .and_then(|x| x.parse::<i64>().ok())
                    .and_then(|t| Utc.timestamp_opt(t, 0).single());
            }
            _ => {}
        }
    }
    for line in meminfo.lines() {
        let mut f = line.split_whitespace();
        let key = f.next();
        let kb = f.next().and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        match key {
            Some("MemTotal:") => s.memory_total_bytes = kb * 1024,
            Some("MemAvailable:") => s.memory_available_bytes = kb * 1024,
            _ => {}
        }
    }
    s
}

/// Reads the node's figures from `/proc`.
pub async fn read_node_stats() -> NodeStats {
    let stat = tokio::fs::read_to_string("/proc/stat")
        .await
        .unwrap_or_default();
    let mem = tokio::fs::read_to_string("/proc/meminfo")
        .await
        .unwrap_or_default();
    parse_node_stats(&stat, &mem)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn time_of(ns: i64) -> String {
    if ns == 0 {
        return rfc3339(Utc::now());
    }
    rfc3339(Utc.timestamp_nanos(ns))
}

fn container_json(c: &ContainerStat, now: &str) -> Value {
    json!({
        "name": c.name,
        "startTime": time_of(c.created_at_ns),
        "cpu": {
            "time": now,
            "usageNanoCores": c.cpu_usage_nano_cores,
            "usageCoreNanoSeconds": c.cpu_usage_core_nanos,
        },
        "memory": {
            "time": now,
            "usageBytes": c.memory_usage_bytes,
            "workingSetBytes": c.memory_working_set_bytes,
            "rssBytes": c.memory_rss_bytes,
        },
        "rootfs": {"time": now, "usedBytes": c.rootfs_used_bytes},
    })
}

fn sum(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    values.fold(None, |acc, v| match (acc, v) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    })
}

/// Groups container stats by pod: (namespace, name, uid) -> containers.
fn by_pod(containers: &[ContainerStat]) -> BTreeMap<(String, String, String), Vec<&ContainerStat>> {
    let mut pods: BTreeMap<_, Vec<&ContainerStat>> = BTreeMap::new();
    for c in containers {
        pods.entry((c.namespace.clone(), c.pod.clone(), c.pod_uid.clone()))
            .or_default()
            .push(c);
    }
    pods
}

/// The Summary API document (`GET /stats/summary`), field names as upstream's
/// `stats/v1alpha1.Summary`.
pub fn summary(node_name: &str, node: &NodeStats, containers: &[ContainerStat]) -> Value {
    let now = rfc3339(Utc::now());
    let pods: Vec<Value> = by_pod(containers)
        .into_iter()
        .map(|((ns, name, uid), cs)| {
            let start = cs
                .iter()
                .map(|c| c.created_at_ns)
                .filter(|t| *t > 0)
                .min()
                .unwrap_or(0);
            json!({
                "podRef": {"name": name, "namespace": ns, "uid": uid},
                "startTime": time_of(start),
                "containers": cs.iter().map(|c| container_json(c, &now)).collect::<Vec<_>>(),
                "cpu": {
                    "time": now,
                    "usageNanoCores": sum(cs.iter().map(|c| c.cpu_usage_nano_cores)),
                    "usageCoreNanoSeconds": sum(cs.iter().map(|c| c.cpu_usage_core_nanos)),
                },
                "memory": {
                    "time": now,
                    "usageBytes": sum(cs.iter().map(|c| c.memory_usage_bytes)),
                    "workingSetBytes": sum(cs.iter().map(|c| c.memory_working_set_bytes)),
                    "rssBytes": sum(cs.iter().map(|c| c.memory_rss_bytes)),
                },
            })
        })
        .collect();
    json!({
        "node": {
            "nodeName": node_name,
            "startTime": node.boot_time.map(rfc3339),
            "cpu": {"time": now, "usageCoreNanoSeconds": node.cpu_usage_core_nanos},
            "memory": {
                "time": now,
                "availableBytes": node.memory_available_bytes,
                "usageBytes": node.memory_working_set_bytes(),
                "workingSetBytes": node.memory_working_set_bytes(),
            },
        },
        "pods": pods,
    })
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `/metrics/resource`: upstream's resource metrics (names, help and labels of the
/// kubelet's `resource_metrics.go`), each sample with its timestamp in milliseconds.
pub fn resource_metrics(
    node: &NodeStats,
    containers: &[ContainerStat],
    scrape_error: bool,
) -> String {
    let now_ms = Utc::now().timestamp_millis();
    let ts = |ns: i64| if ns > 0 { ns / 1_000_000 } else { now_ms };
    let mut o = String::new();
    let header = |o: &mut String, name: &str, help: &str, kind: &str| {
        let _ = writeln!(o, "# HELP {name} [STABLE] {help}");
        let _ = writeln!(o, "# TYPE {name} {kind}");
    };
    header(
        &mut o,
        "container_cpu_usage_seconds_total",
        "Cumulative cpu time consumed by the container in core-seconds",
        "counter",
    );
    for c in containers {
        if let Some(v) = c.cpu_usage_core_nanos {
            let _ = writeln!(
                o,
                "container_cpu_usage_seconds_total{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}} {} {}",
                esc(&c.name), esc(&c.namespace), esc(&c.pod), v as f64 / 1e9, ts(c.timestamp_ns)
            );
        }
    }
    header(
        &mut o,
        "container_memory_working_set_bytes",
        "Current working set of the container in bytes",
        "gauge",
    );
    for c in containers {
        if let Some(v) = c.memory_working_set_bytes {
            let _ = writeln!(
                o,
                "container_memory_working_set_bytes{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}} {} {}",
                esc(&c.name), esc(&c.namespace), esc(&c.pod), v, ts(c.timestamp_ns)
            );
        }
    }
    header(
        &mut o,
        "container_start_time_seconds",
        "Start time of the container since unix epoch in seconds",
        "gauge",
    );
    for c in containers.iter().filter(|c| c.created_at_ns > 0) {
        let _ = writeln!(
            o,
            "container_start_time_seconds{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}} {} {}",
            esc(&c.name),
            esc(&c.namespace),
            esc(&c.pod),
            c.created_at_ns as f64 / 1e9,
            ts(c.timestamp_ns)
        );
    }
    header(
        &mut o,
        "node_cpu_usage_seconds_total",
        "Cumulative cpu time consumed by the node in core-seconds",
        "counter",
    );
    let _ = writeln!(
        o,
        "node_cpu_usage_seconds_total {} {now_ms}",
        node.cpu_usage_core_nanos as f64 / 1e9
    );
    header(
        &mut o,
        "node_memory_working_set_bytes",
        "Current working set of the node in bytes",
        "gauge",
    );
    let _ = writeln!(
        o,
        "node_memory_working_set_bytes {} {now_ms}",
        node.memory_working_set_bytes()
    );
    let pods = by_pod(containers);
    header(
        &mut o,
        "pod_cpu_usage_seconds_total",
        "Cumulative cpu time consumed by the pod in core-seconds",
        "counter",
    );
    for ((ns, name, _), cs) in &pods {
        if let Some(v) = sum(cs.iter().map(|c| c.cpu_usage_core_nanos)) {
            let _ = writeln!(
                o,
                "pod_cpu_usage_seconds_total{{namespace=\"{}\",pod=\"{}\"}} {} {now_ms}",
                esc(ns),
                esc(name),
                v as f64 / 1e9
            );
        }
    }
    header(
        &mut o,
        "pod_memory_working_set_bytes",
        "Current working set of the pod in bytes",
        "gauge",
    );
    for ((ns, name, _), cs) in &pods {
        if let Some(v) = sum(cs.iter().map(|c| c.memory_working_set_bytes)) {
            let _ = writeln!(
                o,
                "pod_memory_working_set_bytes{{namespace=\"{}\",pod=\"{}\"}} {v} {now_ms}",
                esc(ns),
                esc(name)
            );
        }
    }
    header(
        &mut o,
        "resource_scrape_error",
        "1 if there was an error while getting container metrics, 0 otherwise",
        "gauge",
    );
    let _ = writeln!(o, "resource_scrape_error {}", u8::from(scrape_error));
    o
}

/// `/metrics`: a few of the kubelet's own metrics (upstream names).
pub fn kubelet_metrics(
    running_pods: usize,
    containers: &[ContainerStat],
    node_name: &str,
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# HELP kubelet_running_pods [ALPHA] Number of pods that have a running pod sandbox"
    );
    let _ = writeln!(o, "# TYPE kubelet_running_pods gauge");
    let _ = writeln!(o, "kubelet_running_pods {running_pods}");
    let _ = writeln!(
        o,
        "# HELP kubelet_running_containers [ALPHA] Number of containers currently running"
    );
    let _ = writeln!(o, "# TYPE kubelet_running_containers gauge");
    let _ = writeln!(
        o,
        "kubelet_running_containers{{container_state=\"running\"}} {}",
        containers.len()
    );
    let _ = writeln!(
        o,
        "# HELP kubelet_node_name [ALPHA] The node's name. The count is always 1."
    );
    let _ = writeln!(o, "# TYPE kubelet_node_name gauge");
    let _ = writeln!(o, "kubelet_node_name{{node=\"{}\"}} 1", esc(node_name));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc() {
        let stat = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 1 1 1 1\nbtime 1700000000\n";
        let mem = "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    400 kB\n";
        let s = parse_node_stats(stat, mem);
        assert_eq!(
            s.cpu_usage_core_nanos,
            (100 + 5 + 50 + 1 + 2 + 3) * NANOS_PER_TICK
        );
        assert_eq!(s.memory_total_bytes, 1_024_000);
        assert_eq!(s.memory_working_set_bytes(), 600 * 1024);
        assert_eq!(s.boot_time.unwrap().timestamp(), 1_700_000_000);
    }

    fn stat(ns: &str, pod: &str, name: &str, cpu: u64, mem: u64) -> ContainerStat {
        ContainerStat {
            id: format!("{pod}-{name}"),
            name: name.into(),
            pod: pod.into(),
            namespace: ns.into(),
            pod_uid: format!("uid-{pod}"),
            created_at_ns: 1_700_000_000_000_000_000,
            timestamp_ns: 1_700_000_100_000_000_000,
            cpu_usage_core_nanos: Some(cpu),
            cpu_usage_nano_cores: None,
            memory_working_set_bytes: Some(mem),
            memory_usage_bytes: None,
            memory_rss_bytes: None,
            rootfs_used_bytes: None,
        }
    }

    #[test]
    fn summary_groups_containers_by_pod() {
        let cs = [
            stat("default", "a", "c1", 1_000, 10),
            stat("default", "a", "c2", 2_000, 20),
            stat("kube-system", "b", "c", 5, 1),
        ];
        let s = summary("node1", &NodeStats::default(), &cs);
        assert_eq!(s["node"]["nodeName"], "node1");
        let pods = s["pods"].as_array().unwrap();
        assert_eq!(pods.len(), 2);
        assert_eq!(pods[0]["podRef"]["name"], "a");
        assert_eq!(pods[0]["cpu"]["usageCoreNanoSeconds"], 3_000);
        assert_eq!(pods[0]["memory"]["workingSetBytes"], 30);
        assert_eq!(pods[0]["containers"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn resource_metrics_use_upstream_names() {
        let text = resource_metrics(
            &NodeStats::default(),
            &[stat("default", "a", "c1", 1_500_000_000, 10)],
            false,
        );
        for want in [
            "# TYPE node_cpu_usage_seconds_total counter",
            "container_cpu_usage_seconds_total{container=\"c1\",namespace=\"default\",pod=\"a\"} 1.5 1700000100000",
            "container_memory_working_set_bytes{container=\"c1\",namespace=\"default\",pod=\"a\"} 10 1700000100000",
            "pod_memory_working_set_bytes{namespace=\"default\",pod=\"a\"} 10 ",
            "resource_scrape_error 0",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }
}
