//! The kubelet benchmark: pod startup latency on a one-node cluster started the way
//! `make up` starts it, but private (own temp dir, free loopback ports, its own containerd
//! from `hack/containerd.sh up`, so a running `make up` is not disturbed):
//! kube-apiserver (SQLite), kube-controller-manager, kube-scheduler and the kubelet.
//!
//! 1. a warm-up pod pulls the busybox image (the measured pods then find it present,
//!    `imagePullPolicy: IfNotPresent`, as upstream's pod startup SLO excludes image pulls);
//! 2. `--kubelet-pods` (30) pods created at once: per pod, the time from sending its POST
//!    to seeing it Ready through a watch; p50/p99;
//! 3. 30 more pods created one after another, each after the previous is Ready;
//! 4. with the first 30 pods running: the kubelet's RSS (VmRSS) and its CPU use (utime +
//!    stime from `/proc/<pid>/stat`) averaged over `--kubelet-idle-secs` (30) idle seconds,
//!    as % of one core.
//!
//! Upstream anchor: kubernetes/community sig-scalability/slos/pod_startup_latency.md,
//! p99 <= 5s for stateless pods with pre-pulled images (measured there from the pod's
//! creation timestamp to all containers running, observed via watch).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::client::Client;
use crate::procs::{free_port, rss_bytes, Workspace};
use crate::scenarios::{ensure_namespace, list_resource_version, watch_stream, WatchEnd};
use crate::stats::{fmt_mib, fmt_secs, summarize_durations, table, Summary};

const SLO_DOC: &str = "kubernetes/community sig-scalability/slos/pod_startup_latency.md";
const NS: &str = "bench-kubelet";
const NODE: &str = "bench-node";
const IMAGE: &str = "127.0.0.1:5000/busybox:latest";

/// Whether and how the kubelet part runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KubeletMode {
    /// Skip it.
    Off,
    /// After the other parts.
    Also,
    /// Only it.
    Only,
}

/// Flags of the kubelet part (flattened into [`crate::Options`]).
#[derive(Debug, Clone, clap::Args)]
pub struct KubeletOptions {
    /// Run the kubelet pod startup benchmark: off, also (after the other parts) or only.
    #[arg(long = "kubelet", value_enum, default_value = "also")]
    pub kubelet_mode: KubeletMode,
    /// Pods per measurement (created at once, then one after another).
    #[arg(long = "kubelet-pods", default_value_t = 30)]
    pub kubelet_pods: usize,
    /// Seconds over which the idle kubelet's CPU use is averaged.
    #[arg(long = "kubelet-idle-secs", default_value_t = 30)]
    pub kubelet_idle_secs: u64,
    /// Give up on one phase after this many seconds.
    #[arg(long = "kubelet-timeout-secs", default_value_t = 300)]
    pub kubelet_timeout_secs: u64,
    /// The script that starts and stops a private containerd (`up DIR` / `down DIR`).
    #[arg(
        long,
        env = "RUDDER_CONTAINERD_SCRIPT",
        default_value = "hack/containerd.sh"
    )]
    pub containerd_script: PathBuf,
}

/// A private containerd from `hack/containerd.sh up DIR`; `down DIR` on drop removes its
/// containers, mounts, network namespaces and bridge.
struct Containerd {
    script: PathBuf,
    dir: PathBuf,
    socket: String,
}

impl Containerd {
    fn start(script: &Path, dir: &Path) -> Result<Containerd> {
        let run = |args: &[&str]| -> Result<String> {
            let out = Command::new(script)
                .args(args)
                .output()
                .with_context(|| format!("running {}", script.display()))?;
            if !out.status.success() {
                bail!(
                    "{} {args:?} failed: {}",
                    script.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        // The local registry with the images (started once; `make down` stops it).
        run(&["images"])?;
        let dir_s = dir.to_str().context("non-UTF-8 temp dir")?;
        let socket = run(&["up", dir_s])?;
        let socket = socket.lines().last().unwrap_or_default().to_string();
        Ok(Containerd {
            script: script.to_path_buf(),
            dir: dir.to_path_buf(),
            socket,
        })
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .arg("down")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .status();
    }
}

/// When each pod was first seen Ready through the watch.
#[derive(Default)]
struct ReadySeen {
    at: std::sync::Mutex<HashMap<String, Instant>>,
    changed: tokio::sync::Notify,
}

impl ReadySeen {
    fn get(&self, name: &str) -> Option<Instant> {
        self.at.lock().ok()?.get(name).copied()
    }

    /// Waits until every pod in `names` was seen Ready, or `timeout`.
    async fn wait_all(&self, names: &[String], timeout: Duration) -> Result<Vec<Instant>> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            let got: Vec<Option<Instant>> = names.iter().map(|n| self.get(n)).collect();
            if got.iter().all(Option::is_some) {
                return Ok(got.into_iter().flatten().collect());
            }
            if Instant::now() > deadline {
                let missing = names.len() - got.iter().flatten().count();
                bail!(
                    "{missing} of {} pods not Ready within {timeout:?}",
                    names.len()
                );
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
        }
    }
}

fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Watches the namespace's pods from `rv` and records Ready times, re-watching from the
/// last seen resourceVersion if the server ends the stream.
async fn watch_ready(client: Arc<Client>, mut rv: String, seen: Arc<ReadySeen>) -> Result<()> {
    let path = format!("/api/v1/namespaces/{NS}/pods");
    loop {
        let end = watch_stream(&client, &path, &mut rv, |_, obj, now| {
            if !pod_ready(obj) {
                return;
            }
            if let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str) {
                if let Ok(mut at) = seen.at.lock() {
                    at.entry(name.to_string()).or_insert(now);
                }
                seen.changed.notify_waiters();
            }
        })
        .await?;
        if let WatchEnd::Expired(status) = end {
            bail!("watch error: {status}");
        }
    }
}

fn pod_body(name: &str) -> Bytes {
    Bytes::from(
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "automountServiceAccountToken": false,
                "containers": [{
                    "name": "c",
                    "image": IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sleep", "3600"]
                }]
            }
        })
        .to_string(),
    )
}

async fn create_pod(client: &Client, name: &str) -> Result<Instant> {
    let sent = Instant::now();
    let (status, body) = client
        .request(
            Method::POST,
            &format!("/api/v1/namespaces/{NS}/pods"),
            Some(pod_body(name)),
        )
        .await?;
    if status != StatusCode::CREATED {
        bail!(
            "creating pod {name}: {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(sent)
}

/// utime + stime of a process in seconds, from `/proc/<pid>/stat` (fields 14 and 15, in
/// clock ticks).
pub fn cpu_seconds(pid: u32, ticks_per_sec: f64) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat)
        .map(|t| t as f64 / ticks_per_sec)
        .context("malformed /proc/<pid>/stat")
}

fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces; fields after its closing parenthesis
    // start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

struct Figures {
    pods: usize,
    batch: Option<Summary>,
    batch_wall: Duration,
    serial: Option<Summary>,
    rss_no_pods: u64,
    rss_pods: u64,
    cpu_percent: f64,
    idle_secs: u64,
}

/// Runs the kubelet measurements and prints their report.
pub async fn run(bin_dir: &Path, work_dir: Option<&Path>, opts: &KubeletOptions) -> Result<()> {
    for bin in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
    ] {
        anyhow::ensure!(
            bin_dir.join(bin).is_file(),
            "no {bin} in {}",
            bin_dir.display()
        );
    }
    let timeout = Duration::from_secs(opts.kubelet_timeout_secs);
    let mut ws = Workspace::new(work_dir)?;
    eprintln!(">> kubelet: starting a private containerd");
    // Declared after `ws`: dropped first, so containerd and its containers go before the
    // directory is removed; the children (the kubelet) are killed by `ws` afterwards, which
    // is harmless since the pods went with containerd.
    let ctd = Containerd::start(&opts.containerd_script, &ws.subdir("containerd")?)?;
    eprintln!(">> kubelet: starting kube-apiserver, kube-controller-manager, kube-scheduler");
    let api = ws.start_apiserver(bin_dir, "kl-apiserver", None).await?;
    let kubeconfig = ws.path().join("kl-apiserver").join("admin.kubeconfig");
    let mut cmd = Command::new(bin_dir.join("kube-controller-manager"));
    // --secure-port=0: a running `make up` already serves 127.0.0.1:10257.
    cmd.arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--leader-elect=false")
        .arg("--secure-port=0")
        .env("RUST_LOG", "warn");
    ws.spawn_child("kube-controller-manager", cmd)?;
    let mut cmd = Command::new(bin_dir.join("kube-scheduler"));
    cmd.arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--leader-elect=false")
        .arg("--secure-port")
        .arg("0")
        .env("RUST_LOG", "warn");
    ws.spawn_child("kube-scheduler", cmd)?;
    let kl_dir = ws.subdir("kubelet")?;
    let kl_config = kl_dir.join("kubelet.yaml");
    std::fs::write(
        &kl_config,
        format!(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\npodLogsDir: {}\n",
            kl_dir.join("pods").display()
        ),
    )?;
    let mut cmd = Command::new(bin_dir.join("kubelet"));
    cmd.arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--config")
        .arg(&kl_config)
        .arg("--container-runtime-endpoint")
        .arg(format!("unix://{}", ctd.socket))
        .arg("--root-dir")
        .arg(kl_dir.join("root"))
        .arg("--hostname-override")
        .arg(NODE)
        .arg("--node-ip=127.0.0.1")
        .arg("--address=127.0.0.1")
        .arg("--port")
        .arg(free_port()?.to_string())
        .env("RUST_LOG", "warn");
    let kubelet_pid = ws.spawn_child("kubelet", cmd)?;
    let result = measure(&api.creds, opts, timeout, kubelet_pid).await;
    // The kubelet first (so it does not recreate what goes next), then containerd with its
    // containers, then the other children and the directory.
    ws.stop(kubelet_pid);
    drop(ctd);
    drop(ws);
    print_report(&result?);
    Ok(())
}

async fn measure(
    creds: &crate::client::Credentials,
    opts: &KubeletOptions,
    timeout: Duration,
    kubelet_pid: u32,
) -> Result<Figures> {
    let client = &Arc::new(Client::connect(creds, 2).await?);
    eprintln!(">> kubelet: waiting for node {NODE} to be Ready");
    let deadline = Instant::now() + timeout;
    loop {
        let (status, body) = client
            .request(Method::GET, &format!("/api/v1/nodes/{NODE}"), None)
            .await?;
        if status == StatusCode::OK && pod_ready(&serde_json::from_slice(&body)?) {
            break;
        }
        if Instant::now() > deadline {
            bail!("node {NODE} not Ready within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rss_no_pods = rss_bytes(kubelet_pid)?;

    ensure_namespace(client, NS).await?;
    let (status, body) = client
        .request(Method::GET, &format!("/api/v1/namespaces/{NS}/pods"), None)
        .await?;
    anyhow::ensure!(status == StatusCode::OK, "list pods: {status}");
    let rv = list_resource_version(&serde_json::from_slice(&body)?)?;
    let seen = Arc::new(ReadySeen::default());
    let watcher = tokio::spawn(watch_ready(client.clone(), rv, seen.clone()));
    let result = measure_pods(client, &seen, opts, timeout, kubelet_pid, rss_no_pods).await;
    watcher.abort();
    result
}

async fn measure_pods(
    client: &Arc<Client>,
    seen: &Arc<ReadySeen>,
    opts: &KubeletOptions,
    timeout: Duration,
    kubelet_pid: u32,
    rss_no_pods: u64,
) -> Result<Figures> {
    eprintln!(">> kubelet: warm-up pod (pulls {IMAGE})");
    create_pod(client, "warmup").await?;
    seen.wait_all(&["warmup".to_string()], timeout).await?;

    let n = opts.kubelet_pods;
    eprintln!(">> kubelet: {n} pods created at once");
    let names: Vec<String> = (0..n).map(|i| format!("batch-{i}")).collect();
    let started = Instant::now();
    let sent = futures_join(client, &names).await?;
    let ready = seen.wait_all(&names, timeout).await?;
    let batch_wall = started.elapsed();
    let batch: Vec<Duration> = sent
        .iter()
        .zip(&ready)
        .map(|(s, r)| r.saturating_duration_since(*s))
        .collect();

    eprintln!(
        ">> kubelet: {n} pods running; kubelet CPU over {}s idle",
        opts.kubelet_idle_secs
    );
    let ticks = clock_ticks();
    let rss_pods = rss_bytes(kubelet_pid)?;
    let cpu0 = cpu_seconds(kubelet_pid, ticks)?;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(opts.kubelet_idle_secs)).await;
    let cpu1 = cpu_seconds(kubelet_pid, ticks)?;
    let cpu_percent = (cpu1 - cpu0) / t0.elapsed().as_secs_f64() * 100.0;

    eprintln!(">> kubelet: {n} pods one after another");
    let mut serial = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("serial-{i}");
        let sent = create_pod(client, &name).await?;
        let ready = seen.wait_all(std::slice::from_ref(&name), timeout).await?;
        serial.push(ready[0].saturating_duration_since(sent));
    }
    Ok(Figures {
        pods: n,
        batch: summarize_durations(&batch),
        batch_wall,
        serial: summarize_durations(&serial),
        rss_no_pods,
        rss_pods,
        cpu_percent,
        idle_secs: opts.kubelet_idle_secs,
    })
}

/// Creates all `names` concurrently; returns each POST's send time, in order.
async fn futures_join(client: &Arc<Client>, names: &[String]) -> Result<Vec<Instant>> {
    let handles: Vec<_> = names
        .iter()
        .map(|name| {
            let (client, name) = (client.clone(), name.clone());
            tokio::spawn(async move { create_pod(&client, &name).await })
        })
        .collect();
    let mut sent = Vec::with_capacity(handles.len());
    for h in handles {
        sent.push(h.await.context("create task")??);
    }
    Ok(sent)
}

fn print_report(f: &Figures) {
    println!();
    println!(
        "== kubelet pod startup latency (one node, kube-apiserver on SQLite, containerd, image present)"
    );
    let row = |what: String, s: &Option<Summary>| -> Vec<String> {
        let (p50, p99, max) = match s {
            Some(s) => (fmt_secs(s.p50), fmt_secs(s.p99), fmt_secs(s.max)),
            None => ("n/a".into(), "n/a".into(), "n/a".into()),
        };
        vec![what, p50, p99, max, "p99 <= 5s [a]".into()]
    };
    let rows = vec![
        row(
            format!(
                "{} pods created at once (all Ready after {})",
                f.pods,
                fmt_secs(f.batch_wall.as_secs_f64())
            ),
            &f.batch,
        ),
        row(format!("{} pods one after another", f.pods), &f.serial),
    ];
    print!(
        "{}",
        table(
            &[
                "created -> Ready (watch)",
                "p50",
                "p99",
                "max",
                "upstream SLO"
            ],
            &rows
        )
    );
    let rows = vec![
        vec![
            "kubelet RSS, node Ready, no pods".into(),
            fmt_mib(f.rss_no_pods),
            "n/a".into(),
        ],
        vec![
            format!("kubelet RSS, {} pods running", f.pods),
            fmt_mib(f.rss_pods),
            "n/a".into(),
        ],
        vec![
            format!(
                "kubelet CPU, {} pods running, {}s idle",
                f.pods, f.idle_secs
            ),
            format!("{:.1}% of one core", f.cpu_percent),
            "n/a".into(),
        ],
    ];
    print!("{}", table(&["kubelet", "figure", "upstream"], &rows));
    println!("[a] {SLO_DOC}: stateless pods, images pre-pulled, p99 <= 5s, from pod creation to");
    println!("    all containers running observed via watch; here from the client's POST to Ready seen via watch.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_from_proc_stat() {
        let cases = [
            // Field 14 utime = 7, field 15 stime = 5.
            (
                "42 (kubelet) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 8 0 1000",
                Some(12),
            ),
            ("42 (a b) c) R 1 42 42 0 -1 0 0 0 0 0 30 12 0 0", Some(42)),
            ("42 (x) S 1", None),
        ];
        for (stat, want) in cases {
            assert_eq!(parse_cpu_ticks(stat), want, "{stat}");
        }
        assert!(cpu_seconds(std::process::id(), 100.0).is_ok());
    }

    #[test]
    fn pod_readiness_from_conditions() {
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let not = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(pod_ready(&ready));
        assert!(!pod_ready(&not));
        assert!(!pod_ready(&json!({})));
    }
}
