//! kube-scheduler throughput, scheduler_perf style (upstream
//! `test/integration/scheduler_perf`): everything goes through a real kube-apiserver on the
//! embedded store, started as a child process like the apiserver scenarios, with a real
//! `kube-scheduler` process against it. There are no kubelets: Node objects carry capacity
//! (4 cpu, 32Gi, 110 pods), labels (hostname, zone) and, on every tenth node, a NoSchedule
//! taint the pods do not tolerate.
//!
//! Workloads mirroring upstream's `performance-config.yaml` (same pod templates: cpu 100m
//! and memory 500Mi requested and limited; same node, init-pod and measured-pod counts), so
//! their figures compare with upstream's published thresholds:
//! - SchedulingBasic: 5,000 nodes, 1,000 init and 10,000 measured `pod-default` pods.
//! - PodAntiAffinity (upstream SchedulingPodAntiAffinity): 1,000 init pods in `sched-0` and
//!   2,000 measured in `sched-1`, all labelled color=green with a required anti-affinity to
//!   color=green on `kubernetes.io/hostname` over both namespaces.
//! - DefaultTopologySpreading: nodes over 3 zones, 5,000 init `pod-default` pods, 10,000
//!   `pod-with-label` pods selected by a Service, so the scheduler spreads them with its
//!   system default constraints (upstream publishes a threshold only for 50,000 pods).
//! - TopologySpreading: nodes over 3 zones (moon-1..3), 5,000 init `pod-default` pods, 5,000
//!   measured pods with one zone constraint, maxSkew 5, DoNotSchedule, color=blue.
//! - NodeAffinity (upstream SchedulingNodeAffinity): every node in zone `zone1`, 5,000 init
//!   and 10,000 measured pods requiring zone In [zone1, zone2] (every node matches).
//! - Preemption (upstream PreemptionBasic 1000Nodes): 4 low-priority pods of 900m per
//!   schedulable node as init pods, then one high-priority pod of 3 cpu per schedulable node,
//!   each of which must evict three. With every tenth node tainted that is 3,600 and 900
//!   (upstream: 4,000 and 1,000 on 1,000 untainted nodes); upstream publishes no threshold.
//!
//! Two harder variants are kept because they stress what the upstream shapes barely touch:
//! the per-pod scan over almost every node with few feasible ones or a tight constraint.
//! TopologySpreadingTight (10 zones, maxSkew 1 DoNotSchedule on the zone plus a
//! ScheduleAnyway hostname constraint, 5,000 pods) makes PreFilter/PreScore count matching
//! pods over all 5,000 nodes for two keys per pod; NodeAffinityNarrow (required zone In 3 of
//! 10 zones plus a preferred zone, 5,000 pods) rejects 70% of the nodes in Filter and scores
//! the rest. They have no upstream counterpart and no threshold.
//!
//! Per workload the harness creates the nodes, the init pods already bound (`spec.nodeName`
//! set, round robin over the untainted nodes, so at most one anti-affinity pod per node; the
//! apiserver accepts a pod created with `spec.nodeName` as upstream does) and the measured
//! pods, with no scheduler running; then it starts `kube-scheduler` and times the drain of
//! the measured pods only: pods bound per second from the scheduler's first write to a
//! measured pod (its first bind; in Preemption the first nomination, which comes before any
//! bind) to the last `spec.nodeName` seen on a pod watch. Upstream schedules its init pods with the scheduler before it
//! measures; binding them up front gives the scheduler the same cluster state at the start
//! of the measured phase. The same objects on a second, fresh apiserver give the ceiling:
//! the measured pods' bindings POSTed to `pods/binding` with no scheduler, at the
//! scheduler's binding concurrency. The report prints scheduler throughput beside that
//! ceiling and upstream's threshold, and the scheduler's RSS after each workload.
//!
//! In Preemption the harness plays the kubelet's part by finishing the victims' graceful
//! deletion (DELETE with grace 0) should the apiserver not delete them at once.
//!
//! Entry points: [`Options`] (flattened into the bench's flags) and [`run`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{Method, StatusCode};

use crate::client::Client;
use crate::procs::{rss_bytes, Workspace};
use crate::scenarios::{
    create_many, ensure_namespace, ensure_object, list_resource_version, watch_stream, WatchEnd,
};
use crate::stats::{fmt_mib, table};

/// kube-scheduler's binding concurrency (`rudder_scheduler::scheduler::BIND_CONCURRENCY`);
/// the ceiling measurement posts bindings at the same concurrency.
pub const SCHEDULER_BIND_CONCURRENCY: usize = 16;
/// Namespace of the init pods (upstream SchedulingPodAntiAffinity's first namespace).
const INIT_NS: &str = "sched-0";
/// Namespace of the measured pods (upstream SchedulingPodAntiAffinity's second namespace).
const NS: &str = "sched-1";

/// Flags of the scheduler benchmark.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "scheduler_perf")]
pub struct Options {
    /// Multiplies every workload's node and pod counts (0.02 gives 100 nodes, 20 init and
    /// 200 measured pods for SchedulingBasic: a quick smoke test).
    #[arg(long, default_value_t = 1.0)]
    pub scheduler_scale: f64,
    /// Workloads to run (SchedulingBasic, PodAntiAffinity, TopologySpreading,
    /// TopologySpreadingTight, NodeAffinity, NodeAffinityNarrow, Preemption); all when empty.
    #[arg(long, value_delimiter = ',')]
    pub scheduler_workloads: Vec<String>,
    /// Skip the scheduler benchmark.
    #[arg(long)]
    pub skip_scheduler: bool,
    /// Run only the scheduler benchmark (skip the apiserver figures).
    #[arg(long)]
    pub only_scheduler: bool,
    /// Give up on a workload when no pod got bound for this many seconds.
    #[arg(long, default_value_t = 120)]
    pub scheduler_stall_secs: u64,
}

/// A pod template: upstream's, or one of the harder variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Template {
    /// Upstream `pod-default.yaml`.
    Default,
    /// Upstream `pod-with-pod-anti-affinity.yaml`.
    AntiAffinity,
    /// Upstream `pod-with-topology-spreading.yaml`.
    Spread,
    /// Upstream `pod-with-node-affinity.yaml`.
    NodeAffinity,
    /// Upstream `pod-low-priority.yaml`.
    LowPriority,
    /// Upstream `pod-high-priority.yaml` (its `priority: 10` through a PriorityClass, since
    /// the Priority admission plugin rejects a bare `spec.priority`).
    HighPriority,
    /// Upstream `pod-with-label.yaml` (label `app: scheduler-perf`), selected by a Service:
    /// the scheduler spreads it with the system default constraints.
    WithLabel,
    /// TopologySpreadingTight: zone maxSkew 1 DoNotSchedule plus hostname ScheduleAnyway.
    SpreadTight,
    /// NodeAffinityNarrow: required zone In 3 of 10 zones plus a preferred zone.
    NodeAffinityNarrow,
}

impl Template {
    /// How many pods of this template fit one node without breaking the template's own
    /// constraints (anti-affinity: one; low priority: four of 900m on 4 cpu).
    fn per_node_limit(self) -> usize {
        match self {
            Template::AntiAffinity => 1,
            Template::LowPriority => LOW_PER_NODE,
            _ => usize::MAX,
        }
    }
}

/// How nodes are labelled on `topology.kubernetes.io/zone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zones {
    /// `zone-0` .. `zone-9`, round robin (the harness's own layout).
    Ten,
    /// `moon-1` .. `moon-3`, round robin (upstream TopologySpreading labels nodes with these
    /// values, picked at random).
    Moon,
    /// `zone1` on every node (upstream SchedulingNodeAffinity's node template).
    Single,
}

impl Zones {
    fn of(self, i: usize) -> String {
        match self {
            Zones::Ten => format!("zone-{}", i % ZONES),
            Zones::Moon => format!("moon-{}", i % 3 + 1),
            Zones::Single => "zone1".into(),
        }
    }
}

struct Workload {
    name: &'static str,
    /// Upstream's workload and its threshold in pods/s, where one is published.
    upstream: Option<(&'static str, f64)>,
    zones: Zones,
    nodes: usize,
    /// Init pods, created already bound; not measured.
    init: Option<(Template, usize)>,
    measured: Template,
    pods: usize,
}

/// The workloads at full size (scale 1).
fn workloads() -> Vec<Workload> {
    vec![
        Workload {
            name: "SchedulingBasic",
            upstream: Some(("SchedulingBasic 5000Nodes_10000Pods", 680.0)),
            zones: Zones::Ten,
            nodes: 5000,
            init: Some((Template::Default, 1000)),
            measured: Template::Default,
            pods: 10_000,
        },
        Workload {
            name: "PodAntiAffinity",
            upstream: Some(("SchedulingPodAntiAffinity 5000Nodes_2000Pods", 60.0)),
            zones: Zones::Ten,
            nodes: 5000,
            init: Some((Template::AntiAffinity, 1000)),
            measured: Template::AntiAffinity,
            pods: 2000,
        },
        Workload {
            name: "TopologySpreading",
            upstream: Some(("TopologySpreading 5000Nodes_5000Pods", 460.0)),
            zones: Zones::Moon,
            nodes: 5000,
            init: Some((Template::Default, 5000)),
            measured: Template::Spread,
            pods: 5000,
        },
        Workload {
            // Upstream's DefaultTopologySpreading 5000Nodes_10000Pods publishes no threshold
            // (its 50,000-pod variant: 160/s).
            name: "DefaultTopologySpreading",
            upstream: None,
            zones: Zones::Moon,
            nodes: 5000,
            init: Some((Template::Default, 5000)),
            measured: Template::WithLabel,
            pods: 10_000,
        },
        Workload {
            name: "TopologySpreadingTight",
            upstream: None,
            zones: Zones::Ten,
            nodes: 5000,
            init: None,
            measured: Template::SpreadTight,
            pods: 5000,
        },
        Workload {
            name: "NodeAffinity",
            upstream: Some(("SchedulingNodeAffinity 5000Nodes_10000Pods", 220.0)),
            zones: Zones::Single,
            nodes: 5000,
            init: Some((Template::NodeAffinity, 5000)),
            measured: Template::NodeAffinity,
            pods: 10_000,
        },
        Workload {
            name: "NodeAffinityNarrow",
            upstream: None,
            zones: Zones::Ten,
            nodes: 5000,
            init: None,
            measured: Template::NodeAffinityNarrow,
            pods: 5000,
        },
        Workload {
            name: "Preemption",
            upstream: None,
            zones: Zones::Ten,
            nodes: 1000,
            // Capped below at four per and one per schedulable node.
            init: Some((Template::LowPriority, 4000)),
            measured: Template::HighPriority,
            pods: 1000,
        },
    ]
}

/// Zones of the harness's own layout ([`Zones::Ten`]); also the minimum node count.
const ZONES: usize = 10;
/// Low-priority pods per node in Preemption (4 x 900m of 4 cpu, as upstream).
const LOW_PER_NODE: usize = 4;

/// Whether node `i` carries the NoSchedule taint: every tenth node, in runs of ten
/// consecutive nodes (90-99, 190-199, ...). A run covers every residue of `i % 10` and
/// `i % 3`, so under every zone layout each zone keeps untainted nodes (a zone of only
/// tainted nodes would be an empty spread domain no pod can reach, which keeps DoNotSchedule
/// spreading from ever placing more than maxSkew pods per zone).
fn tainted(i: usize) -> bool {
    (i / ZONES) % 10 == 9
}

/// The untainted node indices below `nodes`.
fn schedulable(nodes: usize) -> Vec<usize> {
    (0..nodes).filter(|i| !tainted(*i)).collect()
}

fn node_name(i: usize) -> String {
    format!("node-{i:05}")
}

/// One node: 4 cpu, 32Gi, 110 pods, hostname and zone labels; every tenth node tainted.
fn node_body(zones: Zones, i: usize) -> Bytes {
    let name = node_name(i);
    let mut node = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "topology.kubernetes.io/zone": zones.of(i),
        }},
        "status": {
            "capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "bench"}],
        },
    });
    if tainted(i) {
        node["spec"] = serde_json::json!({"taints": [
            {"key": "bench.rudder.dev/dedicated", "value": "infra", "effect": "NoSchedule"}]});
    }
    node.to_string().into()
}

/// Upstream's template container: pause, port 80, `cpu` and 500Mi requested and limited.
fn upstream_container(cpu: &str) -> serde_json::Value {
    let res = serde_json::json!({"cpu": cpu, "memory": "500Mi"});
    serde_json::json!([{"name": "pause", "image": "registry.k8s.io/pause:3.10",
        "ports": [{"containerPort": 80}],
        "resources": {"requests": res.clone(), "limits": res}}])
}

/// Pod `{prefix}-{i:06}` of `template`; bound to `node` when given (init pods).
fn pod_body(template: Template, prefix: &str, i: usize, node: Option<&str>) -> Bytes {
    let mut labels = serde_json::json!({});
    let mut spec = serde_json::json!({"containers": upstream_container("100m")});
    match template {
        Template::Default => {}
        Template::AntiAffinity => {
            labels["color"] = "green".into();
            spec["affinity"] = serde_json::json!({"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{
                    "labelSelector": {"matchLabels": {"color": "green"}},
                    "topologyKey": "kubernetes.io/hostname",
                    "namespaces": [NS, INIT_NS]}]}});
        }
        Template::Spread => {
            labels["color"] = "blue".into();
            spec["topologySpreadConstraints"] = serde_json::json!([
                {"maxSkew": 5, "topologyKey": "topology.kubernetes.io/zone",
                 "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"color": "blue"}}}]);
        }
        Template::WithLabel => {
            labels["app"] = SPREAD_APP.into();
        }
        Template::NodeAffinity => {
            spec["affinity"] = serde_json::json!({"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
                    "matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                        "values": ["zone1", "zone2"]}]}]}}});
        }
        Template::LowPriority => {
            spec["containers"] = upstream_container("900m");
            spec["terminationGracePeriodSeconds"] = 0.into();
        }
        Template::HighPriority => {
            spec["containers"] = upstream_container("3000m");
            spec["priorityClassName"] = HIGH_PRIORITY_CLASS.into();
        }
        Template::SpreadTight | Template::NodeAffinityNarrow => {
            // The harness's earlier shapes, unchanged so their figures stay comparable
            // with earlier runs.
            labels["app"] = prefix.into();
            spec["containers"] = serde_json::json!([{"name": "c", "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]);
            if template == Template::SpreadTight {
                spec["topologySpreadConstraints"] = serde_json::json!([
                    {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                     "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": prefix}}},
                    {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                     "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": prefix}}}]);
            } else {
                spec["affinity"] = serde_json::json!({"nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
                        "matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                            "values": ["zone-1", "zone-2", "zone-3"]}]}]},
                    "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 10, "preference": {
                        "matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                            "values": ["zone-2"]}]}}]}});
            }
        }
    }
    if let Some(node) = node {
        spec["nodeName"] = node.into();
    }
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("{prefix}-{i:06}"), "labels": labels},
        "spec": spec,
    })
    .to_string()
    .into()
}

/// PriorityClass of Preemption's high-priority pods (value 10, upstream's `priority`).
const HIGH_PRIORITY_CLASS: &str = "bench-high";
/// The label of DefaultTopologySpreading's pods, selected by a Service (upstream
/// `templates/service.yaml` and `pod-with-label.yaml`).
const SPREAD_APP: &str = "scheduler-perf";

/// A workload's counts after scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sized {
    nodes: usize,
    init: usize,
    pods: usize,
}

/// Scales the workload's counts by `scale` and caps them to what the untainted nodes hold:
/// init pods by the template's per-node limit, measured pods by one per node for
/// anti-affinity (init ones included) and for Preemption's high-priority pods (a node holds
/// one 3-cpu pod).
fn size(w: &Workload, scale: f64) -> Sized {
    let scaled = |n: usize| ((n as f64 * scale).round() as usize).max(1);
    let nodes = scaled(w.nodes).max(ZONES);
    let free = schedulable(nodes).len();
    let init = w.init.map_or(0, |(t, n)| {
        scaled(n).min(free.saturating_mul(t.per_node_limit()))
    });
    let mut pods = scaled(w.pods);
    match w.measured {
        Template::AntiAffinity => pods = pods.min(free.saturating_sub(init)).max(1),
        Template::HighPriority => pods = pods.min(free),
        _ => {}
    }
    Sized { nodes, init, pods }
}

/// Figures of one workload.
pub struct WorkloadRun {
    pub name: &'static str,
    /// Upstream's workload and its threshold in pods/s, where one is published.
    pub upstream: Option<(&'static str, f64)>,
    pub nodes: usize,
    /// Init pods, created already bound.
    pub init_pods: usize,
    /// Measured pods.
    pub pods: usize,
    /// Measured pods bound per second by the scheduler, first to last bind.
    pub scheduled_per_sec: f64,
    /// Bindings per second POSTed with no scheduler.
    pub ceiling_per_sec: Option<f64>,
    /// Scheduler RSS once the workload's pods are bound.
    pub scheduler_rss: u64,
    /// Preemption: init pods gone once every measured pod is bound.
    pub evicted: Option<usize>,
}

/// Runs the selected workloads and returns their figures.
pub async fn run(
    opts: &Options,
    ws: &mut Workspace,
    bin_dir: &Path,
    connections: usize,
) -> Result<Vec<WorkloadRun>> {
    anyhow::ensure!(
        bin_dir.join("kube-scheduler").is_file(),
        "no kube-scheduler in {}",
        bin_dir.display()
    );
    anyhow::ensure!(
        opts.scheduler_scale > 0.0,
        "--scheduler-scale must be positive"
    );
    let all = workloads();
    for want in &opts.scheduler_workloads {
        anyhow::ensure!(
            all.iter().any(|w| w.name.eq_ignore_ascii_case(want)),
            "unknown scheduler workload {want:?}; known: {}",
            all.iter().map(|w| w.name).collect::<Vec<_>>().join(", ")
        );
    }
    let mut out = Vec::new();
    for w in all {
        if !opts.scheduler_workloads.is_empty()
            && !opts
                .scheduler_workloads
                .iter()
                .any(|n| n.eq_ignore_ascii_case(w.name))
        {
            continue;
        }
        let sized = size(&w, opts.scheduler_scale);
        eprintln!(
            ">> scheduler_perf {}: {} nodes, {} init pods (bound), {} measured pods",
            w.name, sized.nodes, sized.init, sized.pods
        );
        let stall = Duration::from_secs(opts.scheduler_stall_secs);
        let run = backlog(ws, bin_dir, connections, &w, sized, stall).await?;
        eprintln!(
            "   {}: {:.0} pods/s scheduled, ceiling {}",
            w.name,
            run.scheduled_per_sec,
            run.ceiling_per_sec
                .map_or("n/a".into(), |c| format!("{c:.0} bindings/s"))
        );
        out.push(run);
    }
    Ok(out)
}

/// Starts a fresh apiserver and connects to it; returns (pid, client, kubeconfig).
async fn apiserver(
    ws: &mut Workspace,
    bin_dir: &Path,
    name: &str,
    connections: usize,
) -> Result<(u32, Arc<Client>, std::path::PathBuf)> {
    let api = ws.start_apiserver(bin_dir, name, None).await?;
    let kubeconfig = ws.path().join(name).join("admin.kubeconfig");
    let client = Arc::new(Client::connect(&api.creds, connections).await?);
    ensure_namespace(&client, INIT_NS).await?;
    ensure_namespace(&client, NS).await?;
    Ok((api.pid, client, kubeconfig))
}

/// Creates everything a workload needs before the scheduler runs: the priority class, the
/// nodes, the init pods bound round robin to the untainted nodes, and the pending measured
/// pods `pod-*` in [`NS`].
async fn populate(client: &Arc<Client>, w: &Workload, sized: Sized) -> Result<()> {
    if w.measured == Template::HighPriority {
        create_priority_class(client, HIGH_PRIORITY_CLASS, 10).await?;
    }
    if w.measured == Template::WithLabel {
        // A Service selecting the measured pods gives them the system default spreading
        // (hostname maxSkew 3 and zone maxSkew 5, ScheduleAnyway) in the scheduler.
        let body = serde_json::json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "spread"},
            "spec": {"selector": {"app": SPREAD_APP}, "ports": [{"port": 80}]}});
        ensure_object(
            client,
            &format!("/api/v1/namespaces/{NS}/services"),
            &body,
            "the Service",
        )
        .await?;
    }
    let zones = w.zones;
    create_many(
        client,
        "/api/v1/nodes",
        sized.nodes,
        32,
        Arc::new(move |i| node_body(zones, i)),
        None,
    )
    .await?;
    if let Some((template, _)) = w.init {
        let targets = Arc::new(schedulable(sized.nodes));
        anyhow::ensure!(
            !targets.is_empty() || sized.init == 0,
            "no untainted node for the init pods"
        );
        create_many(
            client,
            &format!("/api/v1/namespaces/{INIT_NS}/pods"),
            sized.init,
            32,
            Arc::new(move |i| {
                let node = node_name(targets[i % targets.len()]);
                pod_body(template, "init", i, Some(&node))
            }),
            None,
        )
        .await?;
    }
    let measured = w.measured;
    create_many(
        client,
        &format!("/api/v1/namespaces/{NS}/pods"),
        sized.pods,
        32,
        Arc::new(move |i| pod_body(measured, MEASURED, i, None)),
        None,
    )
    .await?;
    Ok(())
}

/// Name prefix of the measured pods.
const MEASURED: &str = "pod";

fn start_scheduler(
    ws: &mut Workspace,
    bin_dir: &Path,
    name: &str,
    kubeconfig: &Path,
) -> Result<u32> {
    let mut cmd = std::process::Command::new(bin_dir.join("kube-scheduler"));
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--leader-elect=false")
        .arg("--secure-port")
        .arg("0")
        .env("RUST_LOG", "warn");
    ws.spawn_child(name, cmd)
}

/// One workload: everything exists before the scheduler starts; the drain of the measured
/// pods is timed from the first to the last bind.
async fn backlog(
    ws: &mut Workspace,
    bin_dir: &Path,
    connections: usize,
    w: &Workload,
    sized: Sized,
    stall: Duration,
) -> Result<WorkloadRun> {
    let name = w.name;
    // 1. The ceiling: the same objects, the measured pods' bindings posted with no scheduler.
    let (pid, client, _) = apiserver(ws, bin_dir, &format!("{name}-ceiling"), connections).await?;
    populate(&client, w, sized).await?;
    let ceiling = post_bindings(
        &client,
        MEASURED,
        sized.pods,
        sized.nodes,
        SCHEDULER_BIND_CONCURRENCY,
    )
    .await?;
    drop(client);
    ws.stop(pid);

    // 2. The scheduler. Preemption victims are finished off by the watch (the kubelet's
    // part), in case the apiserver deletes them gracefully.
    let (pid, client, kubeconfig) = apiserver(ws, bin_dir, name, connections).await?;
    populate(&client, w, sized).await?;
    let preempting = w.measured == Template::HighPriority;
    let watch = BindWatch::start(client.clone(), MEASURED, preempting).await?;
    let sched = start_scheduler(ws, bin_dir, &format!("{name}-scheduler"), &kubeconfig)?;
    let rate = watch.wait_all(sized.pods, stall, sched).await?;
    let rss = rss_bytes(sched)?;
    let evicted = if preempting {
        Some(
            sized
                .init
                .saturating_sub(count_pods(&client, INIT_NS).await?),
        )
    } else {
        None
    };
    drop(client);
    ws.stop(sched);
    ws.stop(pid);
    Ok(WorkloadRun {
        name,
        upstream: w.upstream,
        evicted,
        nodes: sized.nodes,
        init_pods: sized.init,
        pods: sized.pods,
        scheduled_per_sec: rate,
        ceiling_per_sec: Some(ceiling),
        scheduler_rss: rss,
    })
}

/// Pods in `ns` that are not being deleted.
async fn count_pods(client: &Client, ns: &str) -> Result<usize> {
    let path = format!("/api/v1/namespaces/{ns}/pods");
    let (status, body) = client.request(Method::GET, &path, None).await?;
    if status != StatusCode::OK {
        bail!("GET {path}: {status}");
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    let items = v["items"].as_array().context("pod list has no items")?;
    Ok(items
        .iter()
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
        .count())
}

async fn create_priority_class(client: &Client, name: &str, value: i32) -> Result<()> {
    let body = serde_json::json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": name}, "value": value});
    ensure_object(
        client,
        "/apis/scheduling.k8s.io/v1/priorityclasses",
        &body,
        &format!("PriorityClass {name}"),
    )
    .await
}

/// POSTs `pods/binding` for `{prefix}-i` in [`NS`], i < n, at `concurrency`, onto the
/// untainted nodes round robin. Returns bindings per second; any non-201 fails the run.
async fn post_bindings(
    client: &Arc<Client>,
    prefix: &str,
    n: usize,
    nodes: usize,
    concurrency: usize,
) -> Result<f64> {
    let targets: Arc<Vec<usize>> = Arc::new(schedulable(nodes));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, next, targets, prefix) = (
            client.clone(),
            next.clone(),
            targets.clone(),
            prefix.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                let pod = format!("{prefix}-{i:06}");
                let node = node_name(targets[i % targets.len()]);
                let body = serde_json::json!({"apiVersion": "v1", "kind": "Binding",
                    "metadata": {"name": pod}, "target": {"kind": "Node", "name": node}});
                let path = format!("/api/v1/namespaces/{NS}/pods/{pod}/binding");
                let (status, resp) = client
                    .request(Method::POST, &path, Some(body.to_string().into()))
                    .await?;
                if status != StatusCode::CREATED {
                    bail!("POST {path}: {status}: {}", String::from_utf8_lossy(&resp));
                }
            }
        }));
    }
    for t in tasks {
        t.await.context("binding worker panicked")??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// A pod watch over all namespaces recording when each `{prefix}-*` pod of [`NS`] is first
/// seen bound. With `finish_deletes` it also completes graceful deletions in any namespace
/// (the kubelet's part) so preemption victims, which are init pods, go away.
struct BindWatch {
    /// First-bind times, by pod name.
    bound: Arc<std::sync::Mutex<HashMap<String, Instant>>>,
    /// When the first event on a measured pod arrived: the scheduler's first write to one
    /// (a bind, or before it a nomination or PodScheduled=False status, as in Preemption).
    first_touch: Arc<std::sync::Mutex<Option<Instant>>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

/// The state [`BindWatch`]'s task keeps across watch streams, as a reflector keeps it.
struct PodFollower {
    client: Arc<Client>,
    /// `{prefix}-`: names of measured pods start with it.
    want: String,
    finish_deletes: bool,
    /// Pods whose graceful deletion this watch has already finished off.
    deleting: std::collections::HashSet<String>,
    bound: Arc<std::sync::Mutex<HashMap<String, Instant>>>,
    first_touch: Arc<std::sync::Mutex<Option<Instant>>>,
    /// Relists after 410 Expired, reported so a run that needed them says so.
    relists: usize,
}

impl PodFollower {
    /// Records what one pod, seen at `now` (in an event of type `kind`, or in a relist),
    /// means for the measurement, and finishes its graceful deletion if asked to.
    fn observe(&mut self, kind: &str, obj: &serde_json::Value, now: Instant) {
        let Some(name) = obj.pointer("/metadata/name").and_then(|n| n.as_str()) else {
            return;
        };
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
        if self.finish_deletes
            && obj.pointer("/metadata/deletionTimestamp").is_some()
            && kind != "DELETED"
            && self.deleting.insert(path.clone())
        {
            let client = self.client.clone();
            tokio::spawn(async move {
                let body = serde_json::json!({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0});
                let _ = client
                    .request(Method::DELETE, &path, Some(body.to_string().into()))
                    .await;
            });
        }
        if ns != NS || !name.starts_with(&self.want) {
            return;
        }
        // The watch starts after every measured pod exists, so any event on one is the
        // scheduler's doing.
        self.first_touch
            .lock()
            .expect("touch record")
            .get_or_insert(now);
        let node = obj.pointer("/spec/nodeName").and_then(|n| n.as_str());
        if node.is_some_and(|n| !n.is_empty()) {
            let mut t = self.bound.lock().expect("bind record");
            t.entry(name.to_string()).or_insert(now);
        }
    }

    /// Lists every pod, observing each (a pod bound while no watch was open is recorded
    /// as bound now, a few milliseconds late at most), and returns the list's
    /// resourceVersion to watch from.
    async fn relist(&mut self) -> Result<String> {
        let (status, body) = self
            .client
            .request(Method::GET, "/api/v1/pods", None)
            .await?;
        if status != StatusCode::OK {
            bail!("relist pods: {status}");
        }
        let now = Instant::now();
        let list: serde_json::Value = serde_json::from_slice(&body)?;
        for pod in list["items"].as_array().into_iter().flatten() {
            self.observe("ADDED", pod, now);
        }
        self.relists += 1;
        list_resource_version(&list)
    }

    /// Follows pods over all namespaces from `rv` until aborted, resuming and relisting as
    /// a reflector does: the apiserver ends watches (its request timeout, or a watcher
    /// that fell behind, as upstream's cacher does), and that should not fail the run.
    async fn run(mut self, mut rv: String) -> Result<()> {
        let client = self.client.clone();
        loop {
            let end = watch_stream(&client, "/api/v1/pods", &mut rv, |kind, obj, now| {
                self.observe(kind, obj, now)
            })
            .await?;
            if let WatchEnd::Expired(_) = end {
                rv = self.relist().await?;
                eprintln!(
                    "rudder-bench: pod watch expired (410); relisted ({} so far)",
                    self.relists
                );
            }
        }
    }
}

impl BindWatch {
    async fn start(client: Arc<Client>, prefix: &str, finish_deletes: bool) -> Result<BindWatch> {
        let list = "/api/v1/pods?limit=1";
        let (status, body) = client.request(Method::GET, list, None).await?;
        if status != StatusCode::OK {
            bail!("GET {list}: {status}");
        }
        let rv = list_resource_version(&serde_json::from_slice(&body)?)?;
        let bound: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Arc::default();
        let first_touch: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
        let follower = PodFollower {
            client,
            want: format!("{prefix}-"),
            finish_deletes,
            deleting: Default::default(),
            bound: bound.clone(),
            first_touch: first_touch.clone(),
            relists: 0,
        };
        let task = tokio::spawn(follower.run(rv));
        Ok(BindWatch {
            bound,
            first_touch,
            task,
        })
    }

    /// Waits until `n` pods are bound (failing when none got bound for `stall`, or the
    /// scheduler died) and returns pods per second from the first to the last bind.
    async fn wait_all(self, n: usize, stall: Duration, scheduler_pid: u32) -> Result<f64> {
        let mut last_count = 0;
        let mut last_progress = Instant::now();
        loop {
            let count = self.bound.lock().expect("bind record").len();
            if count >= n {
                break;
            }
            if count != last_count {
                last_count = count;
                last_progress = Instant::now();
            }
            if self.task.is_finished() {
                let why = match self.task.await {
                    Ok(Ok(())) => "it ended".to_string(),
                    Ok(Err(e)) => format!("{e:#}"),
                    Err(e) => e.to_string(),
                };
                bail!("the pod watch failed after {count}/{n} bound pods: {why}");
            }
            if !process_alive(scheduler_pid) {
                bail!("kube-scheduler exited after {count}/{n} bound pods");
            }
            if last_progress.elapsed() > stall {
                bail!("no pod bound for {stall:?}; {count}/{n} bound");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.task.abort();
        let times: Vec<Instant> = self
            .bound
            .lock()
            .expect("bind record")
            .values()
            .copied()
            .collect();
        let touch = *self.first_touch.lock().expect("touch record");
        drain_rate(touch, &times).context("no binds")
    }
}

/// Pods per second of a drain: from the scheduler's first write to a measured pod to the
/// last bind. When that first write is the first bind, `n` binds span `n - 1` intervals;
/// when it came earlier (a preemption's nomination), all `n` binds count. One bind, or all
/// within one watch frame, has no duration: the count is reported as a floor.
fn drain_rate(first_touch: Option<Instant>, binds: &[Instant]) -> Option<f64> {
    let first_bind = binds.iter().min().copied()?;
    let last = binds.iter().max().copied()?;
    let start = first_touch.map_or(first_bind, |t| t.min(first_bind));
    let secs = (last - start).as_secs_f64();
    let intervals = if start < first_bind {
        binds.len()
    } else {
        binds.len() - 1
    };
    Some(if secs > 0.0 {
        intervals as f64 / secs
    } else {
        binds.len() as f64
    })
}

/// Whether the process runs (exists and is not a zombie).
fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st != "Z"))
        })
        .unwrap_or(false)
}

/// The report's "upstream" cell: upstream's threshold and workload, or why there is none.
fn upstream_cell(upstream: Option<(&str, f64)>) -> String {
    match upstream {
        Some((workload, min)) => format!(">= {min:.0} pods/s [{workload}]"),
        None => "n/a".into(),
    }
}

/// Prints the scheduler section of the report.
pub fn print_report(runs: &[WorkloadRun]) {
    if runs.is_empty() {
        return;
    }
    println!();
    println!(
        "== 5. kube-scheduler throughput (scheduler_perf style, through the apiserver on SQLite)"
    );
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.name.to_string(),
                r.nodes.to_string(),
                r.init_pods.to_string(),
                r.pods.to_string(),
                format!("{:.0}", r.scheduled_per_sec),
                r.ceiling_per_sec
                    .map_or("n/a".into(), |c| format!("{c:.0}")),
                r.ceiling_per_sec
                    .map_or("n/a".into(), |c| format!("{:.2}", r.scheduled_per_sec / c)),
                upstream_cell(r.upstream),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "workload",
                "nodes",
                "init pods",
                "pods",
                "scheduled/s",
                "binding ceiling/s",
                "sched/ceiling",
                "upstream [c]"
            ],
            &rows
        )
    );
    println!("init pods: created before the scheduler starts, already bound (spec.nodeName, round robin over the untainted");
    println!("    nodes; one anti-affinity pod per node); not timed. pods: the measured pods, pending when the scheduler starts.");
    println!("scheduled/s: measured pods bound per second, from the scheduler's first write to a measured pod (the first bind;");
    println!("    Preemption: the first nomination) to the last spec.nodeName seen on a pod watch, the scheduler draining a");
    println!("    backlog that existed before it started (Preemption: each high-priority pod evicts three low-priority init");
    println!("    pods). binding ceiling/s: the measured pods' pods/binding POSTs with no scheduler on a");
    println!(
        "    fresh apiserver holding the same nodes and init pods, {SCHEDULER_BIND_CONCURRENCY} at a time (kube-scheduler's binding concurrency)."
    );
    println!("nodes: 4 cpu, 32Gi, 110 pods, every tenth tainted NoSchedule (upstream's nodes are untainted); upstream-shaped");
    println!("    pods request cpu 100m, memory 500Mi. TopologySpreadingTight and NodeAffinityNarrow are this harness's");
    println!("    harder shapes (10 zones; maxSkew 1 plus a hostname constraint; 3 of 10 zones plus a preferred zone).");
    for r in runs {
        println!(
            "kube-scheduler RSS after {} ({} nodes, {} pods cached): {}",
            r.name,
            r.nodes,
            r.init_pods + r.pods,
            fmt_mib(r.scheduler_rss)
        );
    }
    for r in runs {
        if let Some(evicted) = r.evicted {
            println!(
                "{}: {evicted} low-priority init pods evicted for {} high-priority pods (3 each needed to fit)",
                r.name, r.pods
            );
        }
    }
    println!("[c] kubernetes/kubernetes test/integration/scheduler_perf performance-config.yaml thresholds (SchedulingThroughput");
    println!("    average), met there on larger machines than this one; PreemptionBasic 1000Nodes publishes none.");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(b: Bytes) -> serde_json::Value {
        serde_json::from_slice(&b).expect("valid JSON")
    }

    #[test]
    fn every_zone_keeps_untainted_nodes() {
        for zones in [Zones::Ten, Zones::Moon, Zones::Single] {
            for nodes in [10, 100, 1000, 5000] {
                let all: std::collections::BTreeSet<String> =
                    (0..nodes).map(|i| zones.of(i)).collect();
                let free: std::collections::BTreeSet<String> = schedulable(nodes)
                    .into_iter()
                    .map(|i| zones.of(i))
                    .collect();
                assert_eq!(all, free, "{zones:?} with {nodes} nodes");
            }
        }
        assert_eq!(schedulable(5000).len(), 4500);
        assert_eq!(Zones::Moon.of(0), "moon-1");
        assert_eq!(Zones::Moon.of(5), "moon-3");
    }

    #[test]
    fn node_body_labels_and_taint() {
        let n = json(node_body(Zones::Single, 95));
        assert_eq!(n["metadata"]["name"], "node-00095");
        assert_eq!(
            n["metadata"]["labels"]["kubernetes.io/hostname"],
            "node-00095"
        );
        assert_eq!(
            n["metadata"]["labels"]["topology.kubernetes.io/zone"],
            "zone1"
        );
        assert_eq!(n["spec"]["taints"][0]["effect"], "NoSchedule");
        assert_eq!(n["status"]["allocatable"]["memory"], "32Gi");
        let n = json(node_body(Zones::Ten, 13));
        assert_eq!(
            n["metadata"]["labels"]["topology.kubernetes.io/zone"],
            "zone-3"
        );
        assert!(n.get("spec").is_none());
    }

    #[test]
    fn upstream_pod_templates() {
        let p = json(pod_body(Template::Default, "pod", 7, None));
        assert_eq!(p["metadata"]["name"], "pod-000007");
        let c = &p["spec"]["containers"][0];
        for side in ["requests", "limits"] {
            assert_eq!(c["resources"][side]["cpu"], "100m");
            assert_eq!(c["resources"][side]["memory"], "500Mi");
        }
        assert!(p["spec"].get("nodeName").is_none());

        let p = json(pod_body(
            Template::AntiAffinity,
            "init",
            0,
            Some("node-00001"),
        ));
        assert_eq!(p["spec"]["nodeName"], "node-00001");
        assert_eq!(p["metadata"]["labels"]["color"], "green");
        let term = &p["spec"]["affinity"]["podAntiAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"][0];
        assert_eq!(term["labelSelector"]["matchLabels"]["color"], "green");
        assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
        assert_eq!(
            term["namespaces"],
            serde_json::json!(["sched-1", "sched-0"])
        );

        let p = json(pod_body(Template::Spread, "pod", 0, None));
        let c = &p["spec"]["topologySpreadConstraints"];
        assert_eq!(c.as_array().map(Vec::len), Some(1));
        assert_eq!(c[0]["maxSkew"], 5);
        assert_eq!(c[0]["topologyKey"], "topology.kubernetes.io/zone");
        assert_eq!(c[0]["labelSelector"]["matchLabels"]["color"], "blue");

        let p = json(pod_body(Template::NodeAffinity, "pod", 0, None));
        let e = &p["spec"]["affinity"]["nodeAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
            ["matchExpressions"][0];
        assert_eq!(e["values"], serde_json::json!(["zone1", "zone2"]));

        let low = json(pod_body(
            Template::LowPriority,
            "init",
            0,
            Some("node-00000"),
        ));
        assert_eq!(
            low["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            "900m"
        );
        assert!(low["spec"].get("priorityClassName").is_none());
        let high = json(pod_body(Template::HighPriority, "pod", 0, None));
        assert_eq!(
            high["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            "3000m"
        );
        assert_eq!(high["spec"]["priorityClassName"], HIGH_PRIORITY_CLASS);
    }

    #[test]
    fn sizes_fit_the_untainted_nodes() {
        let by_name = |n: &str| {
            workloads()
                .into_iter()
                .find(|w| w.name == n)
                .expect("workload")
        };
        let full = |n: &str| size(&by_name(n), 1.0);
        assert_eq!(
            full("SchedulingBasic"),
            Sized {
                nodes: 5000,
                init: 1000,
                pods: 10_000
            }
        );
        assert_eq!(
            full("Preemption"),
            Sized {
                nodes: 1000,
                init: 3600,
                pods: 900
            }
        );
        let smoke = size(&by_name("PodAntiAffinity"), 0.02);
        assert!(smoke.init + smoke.pods <= schedulable(smoke.nodes).len());
        assert_eq!(
            size(&by_name("Preemption"), 0.02),
            Sized {
                nodes: 20,
                init: 80,
                pods: 20
            }
        );
        // Every workload name is distinct, so --scheduler-workloads selects one each.
        let names: std::collections::BTreeSet<_> = workloads().iter().map(|w| w.name).collect();
        assert_eq!(names.len(), workloads().len());
    }

    #[test]
    fn drain_rate_counts_intervals() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // First write is the first bind: 3 binds over 1 s are 2 intervals.
        assert_eq!(drain_rate(None, &[at(0), at(500), at(1000)]), Some(2.0));
        assert_eq!(
            drain_rate(Some(at(0)), &[at(0), at(500), at(1000)]),
            Some(2.0)
        );
        // A nomination 1 s before the first bind: 2 binds over 2 s.
        assert_eq!(drain_rate(Some(at(0)), &[at(1000), at(2000)]), Some(1.0));
        // All in one frame: the count as a floor.
        assert_eq!(drain_rate(None, &[at(5), at(5)]), Some(2.0));
        assert_eq!(drain_rate(None, &[]), None);
    }

    #[test]
    fn upstream_column() {
        assert_eq!(
            upstream_cell(Some(("TopologySpreading 5000Nodes_5000Pods", 460.0))),
            ">= 460 pods/s [TopologySpreading 5000Nodes_5000Pods]"
        );
        assert_eq!(upstream_cell(None), "n/a");
    }
}
