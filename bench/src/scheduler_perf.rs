//! kube-scheduler throughput, scheduler_perf style (upstream
//! `test/integration/scheduler_perf`): everything goes through a real kube-apiserver on the
//! embedded store, started as a child process like the apiserver scenarios, with a real
//! `kube-scheduler` process against it. There are no kubelets: Node objects carry capacity,
//! labels (hostname, zone) and, on every tenth node, a NoSchedule taint the pods do not
//! tolerate.
//!
//! Per workload the harness creates the nodes and the measured pods with no scheduler
//! running, then starts `kube-scheduler` and times the backlog drain: pods bound per second
//! from the first to the last `spec.nodeName` seen on a pod watch. The same nodes and pods
//! on a second, fresh apiserver give the ceiling: the same bindings POSTed to
//! `pods/binding` with no scheduler, at the scheduler's binding concurrency. The report
//! prints scheduler throughput as a share of that ceiling, and the scheduler's RSS with
//! every node and pod of SchedulingBasic cached.
//!
//! Preemption differs: low-priority pods first fill every node (scheduled by the running
//! scheduler), then high-priority pods are created; each must evict one. The harness plays
//! the kubelet's part by finishing the victims' graceful deletion (DELETE with grace 0).
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
use http_body_util::BodyExt;

use crate::client::Client;
use crate::procs::{rss_bytes, Workspace};
use crate::scenarios::{create_many, ensure_namespace};
use crate::stats::{fmt_mib, table};

/// kube-scheduler's binding concurrency (`rudder_scheduler::scheduler::BIND_CONCURRENCY`);
/// the ceiling measurement posts bindings at the same concurrency.
pub const SCHEDULER_BIND_CONCURRENCY: usize = 16;
/// Upstream scheduler_perf's threshold for SchedulingBasic with 5,000 nodes.
const UPSTREAM_BASIC_MIN: f64 = 680.0;
/// Namespace of the measured pods.
const NS: &str = "sched-perf";

/// Flags of the scheduler benchmark.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "scheduler_perf")]
pub struct Options {
    /// Multiplies every workload's node and pod counts (0.02 gives 100 nodes and 200 pods
    /// for SchedulingBasic: a quick smoke test).
    #[arg(long, default_value_t = 1.0)]
    pub scheduler_scale: f64,
    /// Workloads to run (SchedulingBasic, PodAntiAffinity, TopologySpreading, NodeAffinity,
    /// Preemption); all when empty.
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

/// What the measured pods ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Basic,
    AntiAffinity,
    Spread,
    NodeAffinity,
    Preemption,
}

struct Workload {
    name: &'static str,
    kind: Kind,
    nodes: usize,
    pods: usize,
}

/// The workloads at full size (scale 1).
fn workloads() -> Vec<Workload> {
    vec![
        Workload {
            name: "SchedulingBasic",
            kind: Kind::Basic,
            nodes: 5000,
            pods: 10_000,
        },
        Workload {
            name: "PodAntiAffinity",
            kind: Kind::AntiAffinity,
            nodes: 5000,
            pods: 2000,
        },
        Workload {
            name: "TopologySpreading",
            kind: Kind::Spread,
            nodes: 5000,
            pods: 5000,
        },
        Workload {
            name: "NodeAffinity",
            kind: Kind::NodeAffinity,
            nodes: 5000,
            pods: 5000,
        },
        Workload {
            name: "Preemption",
            kind: Kind::Preemption,
            nodes: 1000,
            pods: 1000,
        },
    ]
}

/// Zones the nodes are spread over.
const ZONES: usize = 10;
/// Low-priority pods per node in Preemption (each takes a quarter of the node's cpu).
const LOW_PER_NODE: usize = 4;

/// Whether node `i` carries the NoSchedule taint: every tenth node, spread over all zones
/// (a zone of only tainted nodes would be an empty spread domain no pod can reach, which
/// keeps DoNotSchedule spreading from ever placing more than one pod per zone).
fn tainted(i: usize) -> bool {
    (i / ZONES) % 10 == 9
}

/// One node: 4 cpu, 32Gi, 110 pods, hostname and zone labels; every tenth node tainted.
fn node_body(i: usize) -> Bytes {
    let name = format!("node-{i:05}");
    let mut node = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "topology.kubernetes.io/zone": format!("zone-{}", i % ZONES),
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

/// One measured pod of the workload.
fn pod_body(kind: Kind, prefix: &str, i: usize) -> Bytes {
    let mut spec = serde_json::json!({
        "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}],
    });
    let mut labels = serde_json::json!({"app": prefix});
    match kind {
        Kind::Basic => {}
        Kind::AntiAffinity => {
            // Upstream SchedulingPodAntiAffinity: one pod per host among pods of a group.
            labels["group"] = serde_json::json!(format!("g{}", i % 4));
            spec["affinity"] = serde_json::json!({"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{
                    "labelSelector": {"matchLabels": {"group": format!("g{}", i % 4)}},
                    "topologyKey": "kubernetes.io/hostname"}]}});
        }
        Kind::Spread => {
            spec["topologySpreadConstraints"] = serde_json::json!([
                {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                 "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": prefix}}},
                {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                 "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": prefix}}}]);
        }
        Kind::NodeAffinity => {
            spec["affinity"] = serde_json::json!({"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
                    "matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                        "values": ["zone-1", "zone-2", "zone-3"]}]}]},
                "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 10, "preference": {
                    "matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                        "values": ["zone-2"]}]}}]}});
        }
        Kind::Preemption => {
            let low = prefix == "low";
            spec["containers"][0]["resources"]["requests"]["cpu"] = serde_json::json!("1");
            spec["priorityClassName"] =
                serde_json::json!(if low { "bench-low" } else { "bench-high" });
        }
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

/// Figures of one workload.
pub struct WorkloadRun {
    pub name: &'static str,
    pub nodes: usize,
    pub pods: usize,
    /// Pods bound per second by the scheduler, first to last bind.
    pub scheduled_per_sec: f64,
    /// Bindings per second POSTed with no scheduler.
    pub ceiling_per_sec: Option<f64>,
    /// Scheduler RSS once the workload's pods are bound.
    pub scheduler_rss: u64,
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
    let mut out = Vec::new();
    for w in workloads() {
        if !opts.scheduler_workloads.is_empty()
            && !opts
                .scheduler_workloads
                .iter()
                .any(|n| n.eq_ignore_ascii_case(w.name))
        {
            continue;
        }
        let scale = |n: usize| ((n as f64 * opts.scheduler_scale).round() as usize).max(1);
        let (nodes, pods) = (scale(w.nodes).max(ZONES), scale(w.pods));
        eprintln!(">> scheduler_perf {}: {nodes} nodes, {pods} pods", w.name);
        let stall = Duration::from_secs(opts.scheduler_stall_secs);
        let run = match w.kind {
            Kind::Preemption => {
                preemption(ws, bin_dir, connections, w.name, nodes, pods, stall).await?
            }
            kind => backlog(ws, bin_dir, connections, w.name, kind, nodes, pods, stall).await?,
        };
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
    ensure_namespace(&client, NS).await?;
    Ok((api.pid, client, kubeconfig))
}

async fn create_nodes(client: &Arc<Client>, n: usize) -> Result<()> {
    create_many(client, "/api/v1/nodes", n, 32, Arc::new(node_body), None).await?;
    Ok(())
}

async fn create_pods(
    client: &Arc<Client>,
    kind: Kind,
    prefix: &'static str,
    n: usize,
) -> Result<()> {
    create_many(
        client,
        &format!("/api/v1/namespaces/{NS}/pods"),
        n,
        32,
        Arc::new(move |i| pod_body(kind, prefix, i)),
        None,
    )
    .await?;
    Ok(())
}

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

/// SchedulingBasic and friends: the pods exist before the scheduler starts; the drain of
/// that backlog is timed from the first to the last bind.
#[allow(clippy::too_many_arguments)]
async fn backlog(
    ws: &mut Workspace,
    bin_dir: &Path,
    connections: usize,
    name: &'static str,
    kind: Kind,
    nodes: usize,
    pods: usize,
    stall: Duration,
) -> Result<WorkloadRun> {
    let prefix = "pod";
    // 1. The ceiling: the same objects, bindings posted with no scheduler.
    let (pid, client, _) = apiserver(ws, bin_dir, &format!("{name}-ceiling"), connections).await?;
    create_nodes(&client, nodes).await?;
    create_pods(&client, kind, prefix, pods).await?;
    let ceiling = post_bindings(&client, prefix, pods, nodes, SCHEDULER_BIND_CONCURRENCY).await?;
    drop(client);
    ws.stop(pid);

    // 2. The scheduler.
    let (pid, client, kubeconfig) = apiserver(ws, bin_dir, name, connections).await?;
    create_nodes(&client, nodes).await?;
    create_pods(&client, kind, prefix, pods).await?;
    let watch = BindWatch::start(client.clone(), prefix, false).await?;
    let sched = start_scheduler(ws, bin_dir, &format!("{name}-scheduler"), &kubeconfig)?;
    let rate = watch.wait_all(pods, stall, sched).await?;
    let rss = rss_bytes(sched)?;
    drop(client);
    ws.stop(sched);
    ws.stop(pid);
    Ok(WorkloadRun {
        name,
        nodes,
        pods,
        scheduled_per_sec: rate,
        ceiling_per_sec: Some(ceiling),
        scheduler_rss: rss,
    })
}

/// Preemption: low-priority pods fill every node, then each high-priority pod must evict
/// one. The ceiling is the bindings of the high-priority pods onto empty nodes.
async fn preemption(
    ws: &mut Workspace,
    bin_dir: &Path,
    connections: usize,
    name: &'static str,
    nodes: usize,
    pods: usize,
    stall: Duration,
) -> Result<WorkloadRun> {
    let (pid, client, _) = apiserver(ws, bin_dir, &format!("{name}-ceiling"), connections).await?;
    create_priority_classes(&client).await?;
    create_nodes(&client, nodes).await?;
    create_pods(&client, Kind::Preemption, "high", pods).await?;
    let ceiling = post_bindings(&client, "high", pods, nodes, SCHEDULER_BIND_CONCURRENCY).await?;
    drop(client);
    ws.stop(pid);

    let (pid, client, kubeconfig) = apiserver(ws, bin_dir, name, connections).await?;
    create_priority_classes(&client).await?;
    create_nodes(&client, nodes).await?;
    // Tainted nodes take no pods, so fill only the others.
    let schedulable = (0..nodes).filter(|i| !tainted(*i)).count();
    let low = schedulable * LOW_PER_NODE;
    let sched = start_scheduler(ws, bin_dir, &format!("{name}-scheduler"), &kubeconfig)?;
    let watch = BindWatch::start(client.clone(), "low", false).await?;
    create_pods(&client, Kind::Preemption, "low", low).await?;
    watch.wait_all(low, stall, sched).await?;
    let watch = BindWatch::start(client.clone(), "high", true).await?;
    create_pods(&client, Kind::Preemption, "high", pods).await?;
    let rate = watch.wait_all(pods, stall, sched).await?;
    let rss = rss_bytes(sched)?;
    drop(client);
    ws.stop(sched);
    ws.stop(pid);
    Ok(WorkloadRun {
        name,
        nodes,
        pods,
        scheduled_per_sec: rate,
        ceiling_per_sec: Some(ceiling),
        scheduler_rss: rss,
    })
}

async fn create_priority_classes(client: &Client) -> Result<()> {
    for (name, value) in [("bench-low", 1), ("bench-high", 1000)] {
        let body = serde_json::json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value});
        let (status, resp) = client
            .request(
                Method::POST,
                "/apis/scheduling.k8s.io/v1/priorityclasses",
                Some(body.to_string().into()),
            )
            .await?;
        if !(status.is_success() || status == StatusCode::CONFLICT) {
            bail!(
                "creating PriorityClass {name}: {status}: {}",
                String::from_utf8_lossy(&resp)
            );
        }
    }
    Ok(())
}

/// POSTs `pods/binding` for `{prefix}-i`, i < n, at `concurrency`, onto the untainted nodes
/// round robin. Returns bindings per second; any non-201 fails the run.
async fn post_bindings(
    client: &Arc<Client>,
    prefix: &str,
    n: usize,
    nodes: usize,
    concurrency: usize,
) -> Result<f64> {
    let targets: Arc<Vec<usize>> = Arc::new((0..nodes).filter(|i| !tainted(*i)).collect());
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
                let node = format!("node-{:05}", targets[i % targets.len()]);
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

/// A pod watch in the bench namespace recording when each `{prefix}-*` pod is first seen
/// bound. With `finish_deletes` it also completes graceful deletions (the kubelet's part)
/// so preemption victims go away.
struct BindWatch {
    /// First-bind times, by pod name.
    bound: Arc<std::sync::Mutex<HashMap<String, Instant>>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl BindWatch {
    async fn start(client: Arc<Client>, prefix: &str, finish_deletes: bool) -> Result<BindWatch> {
        let list = format!("/api/v1/namespaces/{NS}/pods?limit=1");
        let (status, body) = client.request(Method::GET, &list, None).await?;
        if status != StatusCode::OK {
            bail!("GET {list}: {status}");
        }
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        let rv = v
            .pointer("/metadata/resourceVersion")
            .and_then(|r| r.as_str())
            .context("pod list has no resourceVersion")?
            .to_string();
        let path = format!("/api/v1/namespaces/{NS}/pods?watch=true&resourceVersion={rv}");
        let resp = client.send(Method::GET, &path, None).await?;
        if resp.status() != StatusCode::OK {
            bail!("watch pods: {}", resp.status());
        }
        let bound: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Arc::default();
        let (b, want) = (bound.clone(), format!("{prefix}-"));
        let task = tokio::spawn(async move {
            let mut body = resp.into_body();
            let mut buf: Vec<u8> = Vec::new();
            let mut deleting: std::collections::HashSet<String> = Default::default();
            while let Some(frame) = body.frame().await {
                let now = Instant::now();
                let Ok(data) = frame?.into_data() else {
                    continue;
                };
                buf.extend_from_slice(&data);
                while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    let Ok(ev) = serde_json::from_slice::<serde_json::Value>(&line) else {
                        continue;
                    };
                    let obj = &ev["object"];
                    let Some(name) = obj.pointer("/metadata/name").and_then(|n| n.as_str()) else {
                        continue;
                    };
                    if finish_deletes
                        && obj.pointer("/metadata/deletionTimestamp").is_some()
                        && deleting.insert(name.to_string())
                    {
                        let (client, name) = (client.clone(), name.to_string());
                        tokio::spawn(async move {
                            let body = serde_json::json!({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0});
                            let path = format!("/api/v1/namespaces/{NS}/pods/{name}");
                            let _ = client
                                .request(Method::DELETE, &path, Some(body.to_string().into()))
                                .await;
                        });
                    }
                    if !name.starts_with(&want) {
                        continue;
                    }
                    let node = obj.pointer("/spec/nodeName").and_then(|n| n.as_str());
                    if node.is_some_and(|n| !n.is_empty()) {
                        let mut t = b.lock().expect("bind record");
                        t.entry(name.to_string()).or_insert(now);
                    }
                }
            }
            Ok(())
        });
        Ok(BindWatch { bound, task })
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
                bail!("the pod watch ended after {count}/{n} bound pods");
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
        let times = self.bound.lock().expect("bind record");
        let first = times.values().min().copied().context("no binds")?;
        let last = times.values().max().copied().context("no binds")?;
        let secs = (last - first).as_secs_f64();
        // One bind (or all within one frame) has no duration; report the count as a floor.
        Ok(if secs > 0.0 {
            (times.len() - 1) as f64 / secs
        } else {
            times.len() as f64
        })
    }
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
                r.pods.to_string(),
                format!("{:.0}", r.scheduled_per_sec),
                r.ceiling_per_sec
                    .map_or("n/a".into(), |c| format!("{c:.0}")),
                r.ceiling_per_sec
                    .map_or("n/a".into(), |c| format!("{:.2}", r.scheduled_per_sec / c)),
                if r.name == "SchedulingBasic" {
                    format!(">= {UPSTREAM_BASIC_MIN:.0} pods/s [c]")
                } else {
                    "n/a".into()
                },
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "workload",
                "nodes",
                "pods",
                "scheduled/s",
                "binding ceiling/s",
                "sched/ceiling",
                "upstream"
            ],
            &rows
        )
    );
    println!("scheduled/s: pods bound per second from the first to the last spec.nodeName seen on a pod watch, the");
    println!("    scheduler draining pods that existed before it started (Preemption: high-priority pods created while it");
    println!("    runs, each evicting a low-priority pod). binding ceiling/s: the same pods/binding POSTs with no scheduler");
    println!(
        "    on a fresh apiserver, {SCHEDULER_BIND_CONCURRENCY} at a time (kube-scheduler's binding concurrency)."
    );
    for r in runs {
        println!(
            "kube-scheduler RSS after {} ({} nodes, {} pods cached): {}",
            r.name,
            r.nodes,
            r.pods,
            fmt_mib(r.scheduler_rss)
        );
    }
    println!("[c] kubernetes/kubernetes test/integration/scheduler_perf config: SchedulingBasic 5000Nodes threshold, on larger machines.");
}
