//! The kube-controller-manager benchmark: a kube-apiserver (SQLite) and a
//! kube-controller-manager started as child processes from `--bin-dir`, driven over HTTPS:
//!
//! 1. time for a Deployment of `1000 x --cm-scale` replicas to have all its pods created;
//! 2. a rolling update of those pods (template change) until the Deployment reports every
//!    replica updated, ready and available with no old pods left; the bench plays the kubelet
//!    by writing Running + Ready status for every new pod, as the integration tests' helper;
//! 3. deleting the Deployment (background propagation) until the garbage collector and the
//!    ReplicaSet controller have removed every pod;
//! 4. kube-controller-manager RSS idle, and with `10,000 x --cm-scale` pods in its caches.
//!
//! `--cm only` runs just this part, `--cm off` skips it; a small `--cm-scale` (0.01) makes a
//! quick smoke test in debug builds.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::client::Client;
use crate::procs::{rss_bytes, Workspace};
use crate::scenarios::{create_many, ensure_namespace};
use crate::stats::{fmt_mib, table};

/// Whether and how the controller-manager part runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CmMode {
    /// Skip it.
    Off,
    /// After the kube-apiserver measurements.
    Also,
    /// Only it.
    Only,
}

/// Flags of the controller-manager part (flattened into [`crate::Options`]).
#[derive(Debug, Clone, clap::Args)]
pub struct CmOptions {
    /// Run the kube-controller-manager benchmark: off, also (after the apiserver part) or
    /// only.
    #[arg(long = "cm", value_enum, default_value = "also")]
    pub cm_mode: CmMode,
    /// Multiplies the controller-manager workload sizes (1000 replicas, 10,000 cached pods);
    /// e.g. 0.01 for a quick debug smoke test.
    #[arg(long = "cm-scale", default_value_t = 1.0)]
    pub cm_scale: f64,
    /// Give up on one controller-manager phase after this many seconds.
    #[arg(long = "cm-timeout-secs", default_value_t = 900)]
    pub cm_timeout_secs: u64,
}

const NS: &str = "bench-cm";
const RSS_NS: &str = "bench-cm-cache";
const DEPLOY: &str = "bench";

/// kube-controller-manager as a child; killed and reaped on drop.
struct CmProcess {
    child: Child,
    log: std::path::PathBuf,
}

impl CmProcess {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            bail!(
                "kube-controller-manager exited ({status}); log tail:\n{}",
                lines[lines.len().saturating_sub(20)..].join("\n")
            );
        }
        Ok(())
    }
}

impl Drop for CmProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Figures {
    replicas: usize,
    cached: usize,
    create: Duration,
    ready: Duration,
    rollout: Duration,
    delete: Duration,
    rss_idle: u64,
    rss_deploy: u64,
    rss_cached: u64,
}

/// Runs the controller-manager measurements and prints their report.
pub async fn run(bin_dir: &Path, work_dir: Option<&Path>, opts: &CmOptions) -> Result<()> {
    let cm_bin = bin_dir.join("kube-controller-manager");
    anyhow::ensure!(
        cm_bin.is_file(),
        "no kube-controller-manager in {}",
        bin_dir.display()
    );
    let replicas = ((1000.0 * opts.cm_scale).round() as usize).max(1);
    let cached = ((10_000.0 * opts.cm_scale).round() as usize).max(1);
    let timeout = Duration::from_secs(opts.cm_timeout_secs);
    let mut ws = Workspace::new(work_dir)?;
    eprintln!(
        ">> controller-manager: starting kube-apiserver (SQLite) and kube-controller-manager"
    );
    let api = ws.start_apiserver(bin_dir, "cm-apiserver", None).await?;
    let kubeconfig = ws.path().join("cm-apiserver").join("admin.kubeconfig");
    let log = ws.path().join("kube-controller-manager.log");
    let file = std::fs::File::create(&log)?;
    let child = Command::new(&cm_bin)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--leader-elect=false")
        // No /healthz or /metrics needed; 10257 may be taken by a `make up` cluster.
        .arg("--secure-port=0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("starting {}", cm_bin.display()))?;
    // Declared after `ws`, so it is killed before the directory goes.
    let mut cm = CmProcess { child, log };
    let client = Arc::new(Client::connect(&api.creds, 4).await?);

    // The serviceaccount controller answering is the sign the controllers are running.
    ensure_namespace(&client, NS).await?;
    wait(
        &mut cm,
        "the controller-manager to start",
        timeout,
        || async {
            let (s, _) = client
                .request(
                    Method::GET,
                    &format!("/api/v1/namespaces/{NS}/serviceaccounts/default"),
                    None,
                )
                .await?;
            Ok(s.is_success())
        },
    )
    .await?;
    let rss_idle = rss_bytes(cm.pid())?;

    // 1. Deployment of N replicas: all pods created.
    eprintln!(">> controller-manager: Deployment of {replicas} replicas");
    let t0 = Instant::now();
    post(
        &client,
        &format!("/apis/apps/v1/namespaces/{NS}/deployments"),
        &deployment(replicas),
    )
    .await?;
    wait(&mut cm, "all pods created", timeout, || async {
        Ok(count_pods(&client, NS).await?.0 >= replicas)
    })
    .await?;
    let create = t0.elapsed();

    // Playing the kubelet: every pod reported Running + Ready (not part of a figure, but
    // timed for context), then the Deployment is available.
    let kubelet = Kubelet::start(client.clone());
    let t0 = Instant::now();
    wait(&mut cm, "deployment available", timeout, || async {
        let d = get(
            &client,
            &format!("/apis/apps/v1/namespaces/{NS}/deployments/{DEPLOY}"),
        )
        .await?;
        Ok(rolled_out(&d, replicas))
    })
    .await?;
    let ready = t0.elapsed();

    // 2. Rolling update of all pods.
    eprintln!(">> controller-manager: rolling update of {replicas} pods");
    let path = format!("/apis/apps/v1/namespaces/{NS}/deployments/{DEPLOY}");
    let mut d = get(&client, &path).await?;
    d["spec"]["template"]["metadata"]["annotations"] = json!({"bench/rev": "2"});
    let t0 = Instant::now();
    let (s, body) = client
        .request(Method::PUT, &path, Some(d.to_string().into()))
        .await?;
    if !s.is_success() {
        bail!(
            "updating the deployment: {s}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    wait(&mut cm, "rollout complete", timeout, || async {
        let d = get(&client, &path).await?;
        let (pods, _) = count_pods(&client, NS).await?;
        Ok(rolled_out(&d, replicas) && pods == replicas)
    })
    .await?;
    let rollout = t0.elapsed();
    let rss_deploy = rss_bytes(cm.pid())?;
    kubelet.stop().await;

    // 3. Delete the Deployment; the garbage collector removes ReplicaSets and pods.
    eprintln!(">> controller-manager: deleting the Deployment");
    let t0 = Instant::now();
    let (s, body) = client
        .request(
            Method::DELETE,
            &path,
            Some(
                json!({"propagationPolicy": "Background"})
                    .to_string()
                    .into(),
            ),
        )
        .await?;
    if !s.is_success() {
        bail!(
            "deleting the deployment: {s}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    wait(&mut cm, "every pod gone", timeout, || async {
        Ok(count_pods(&client, NS).await?.1 == 0)
    })
    .await?;
    let delete = t0.elapsed();

    // 4. RSS with many pods in the controllers' caches.
    eprintln!(">> controller-manager: {cached} pods for the cache measurement");
    ensure_namespace(&client, RSS_NS).await?;
    create_many(
        &client,
        &format!("/api/v1/namespaces/{RSS_NS}/pods"),
        cached,
        32,
        Arc::new(|i| {
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("cached-{i:06}"), "labels": {"app": "cached"}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
            })
            .to_string()
            .into()
        }),
        None,
    )
    .await?;
    // The informers have caught up when RSS stops growing (no other signal is exposed).
    let mut last = rss_bytes(cm.pid())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        cm.check_running()?;
        let now = rss_bytes(cm.pid())?;
        let grew = now.saturating_sub(last);
        last = now;
        if grew < now / 200 || Instant::now() > deadline {
            break;
        }
    }
    let figures = Figures {
        replicas,
        cached,
        create,
        ready,
        rollout,
        delete,
        rss_idle,
        rss_deploy,
        rss_cached: last,
    };
    drop(client);
    drop(cm);
    drop(ws);
    print(&figures);
    Ok(())
}

fn print(f: &Figures) {
    println!();
    println!(
        "== kube-controller-manager (real processes, SQLite apiserver; the bench plays the kubelet)"
    );
    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let rate = |d: Duration| format!("{:.0} pods/s", f.replicas as f64 / d.as_secs_f64());
    let rows = vec![
        vec![
            format!("Deployment of {}: all pods created", f.replicas),
            secs(f.create),
            rate(f.create),
        ],
        vec![
            format!(
                "  then all {} reported ready -> Available (kubelet role)",
                f.replicas
            ),
            secs(f.ready),
            rate(f.ready),
        ],
        vec![
            format!(
                "rolling update of {} pods (25% surge/unavailable)",
                f.replicas
            ),
            secs(f.rollout),
            rate(f.rollout),
        ],
        vec![
            "delete Deployment until the GC removed every pod".into(),
            secs(f.delete),
            rate(f.delete),
        ],
    ];
    print!("{}", table(&["operation", "time", "rate"], &rows));
    let rows = vec![
        vec!["idle after start".into(), fmt_mib(f.rss_idle)],
        vec![
            format!("after the {}-replica rollout", f.replicas),
            fmt_mib(f.rss_deploy),
        ],
        vec![
            format!("with {} more pods cached", f.cached),
            fmt_mib(f.rss_cached),
        ],
    ];
    print!(
        "{}",
        table(&["kube-controller-manager VmRSS", "MiB"], &rows)
    );
    println!(
        "note: one shared informer cache per resource type serves every controller (upstream's"
    );
    println!("      SharedInformerFactory), so the pods are held once.");
}

fn deployment(replicas: usize) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": DEPLOY},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": DEPLOY}},
            "template": {
                "metadata": {"labels": {"app": DEPLOY}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
            }
        }
    })
}

/// What `kubectl rollout status` waits for.
fn rolled_out(d: &Value, replicas: usize) -> bool {
    let n = |p: &str| d.pointer(p).and_then(Value::as_u64).unwrap_or(0) as usize;
    n("/status/observedGeneration") >= n("/metadata/generation")
        && n("/status/updatedReplicas") == replicas
        && n("/status/replicas") == replicas
        && n("/status/availableReplicas") == replicas
        && n("/status/readyReplicas") == replicas
}

async fn post(client: &Client, path: &str, body: &Value) -> Result<()> {
    let (s, resp) = client
        .request(Method::POST, path, Some(body.to_string().into()))
        .await?;
    if s != StatusCode::CREATED {
        bail!("POST {path}: {s}: {}", String::from_utf8_lossy(&resp));
    }
    Ok(())
}

async fn get(client: &Client, path: &str) -> Result<Value> {
    let (s, body) = client.request(Method::GET, path, None).await?;
    if !s.is_success() {
        bail!("GET {path}: {s}: {}", String::from_utf8_lossy(&body));
    }
    Ok(serde_json::from_slice(&body)?)
}

/// (pods not being deleted, all pods) in `ns`.
async fn count_pods(client: &Client, ns: &str) -> Result<(usize, usize)> {
    let list = get(client, &format!("/api/v1/namespaces/{ns}/pods")).await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let live = items
        .iter()
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
        .count();
    Ok((live, items.len()))
}

/// Polls `check` every 100 ms, failing after `timeout` or if the controller-manager died.
async fn wait<F, Fut>(cm: &mut CmProcess, what: &str, timeout: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        cm.check_running()?;
        if check().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Plays the kubelet: reports every live pod in [`NS`] Running with Ready=True.
struct Kubelet {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    marked: Arc<AtomicUsize>,
}

impl Kubelet {
    fn start(client: Arc<Client>) -> Kubelet {
        let stop = Arc::new(AtomicBool::new(false));
        let marked = Arc::new(AtomicUsize::new(0));
        let (s, m) = (stop.clone(), marked.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                if let Err(e) = mark_all_ready(&client, &m).await {
                    eprintln!("bench kubelet: {e:#}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Kubelet { stop, task, marked }
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        eprintln!(
            ">> bench kubelet marked {} pods ready",
            self.marked.load(Ordering::Relaxed)
        );
    }
}

async fn mark_all_ready(client: &Arc<Client>, marked: &Arc<AtomicUsize>) -> Result<()> {
    let list = get(client, &format!("/api/v1/namespaces/{NS}/pods")).await?;
    let todo: Vec<Value> = list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.pointer("/metadata/deletionTimestamp").is_none()
                && p.pointer("/status/phase").and_then(Value::as_str) != Some("Running")
        })
        .collect();
    let todo = Arc::new(std::sync::Mutex::new(todo));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, todo, marked) = (client.clone(), todo.clone(), marked.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(mut pod) = todo.lock().ok().and_then(|mut t| t.pop()) else {
                    return;
                };
                let name = pod["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let now = now_rfc3339();
                pod["status"]["phase"] = json!("Running");
                pod["status"]["conditions"] = json!([
                    {"type": "Ready", "status": "True", "lastTransitionTime": now},
                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                ]);
                let path = format!("/api/v1/namespaces/{NS}/pods/{name}/status");
                // A conflict or a pod deleted meanwhile is retried (or dropped) next round.
                if let Ok((s, _)) = client
                    .request(Method::PUT, &path, Some(pod.to_string().into()))
                    .await
                {
                    if s.is_success() {
                        marked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

/// RFC 3339 UTC with seconds, as metav1.Time serializes.
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's civil-from-days algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn rollout_check() {
        let d = json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 2,
            "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3, "readyReplicas": 3}});
        assert!(rolled_out(&d, 3));
        let d = json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 2,
            "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3, "readyReplicas": 3}});
        assert!(!rolled_out(&d, 3));
        let d = json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 2,
            "updatedReplicas": 3, "replicas": 4, "availableReplicas": 3, "readyReplicas": 3}});
        assert!(!rolled_out(&d, 3));
    }
}
