//! Test harness: a real in-process kube-apiserver on port 0 over SQLite in a temp dir,
//! plus kube-controller-manager running in-process against its kubeconfig.
//! There is no kubelet: [`kubelet_marks_running_ready`] plays the node's part.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Api;

pub struct Cluster {
    pub client: kube::Client,
    /// Where kube-controller-manager serves `--secure-port`, when a test asked for it
    /// (every other test runs with `--secure-port=0`, so parallel tests never share a port).
    pub cm_secure_addr: Option<std::net::SocketAddr>,
    apiserver: Option<rudder_apiserver::Running>,
    stop_cm: Option<tokio::sync::oneshot::Sender<()>>,
    cm: Option<
        tokio::task::JoinHandle<Result<(), rudder_controller_manager::ControllerManagerError>>,
    >,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts the apiserver and the named controllers (`--controllers` syntax), without
    /// leader election.
    pub async fn start(controllers: &str) -> Cluster {
        Cluster::start_with_args(&[
            &format!("--controllers={controllers}"),
            "--leader-elect=false",
        ])
        .await
    }

    /// Starts the apiserver and kube-controller-manager with these extra flags.
    pub async fn start_with_args(extra: &[&str]) -> Cluster {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let args = [
            "kube-apiserver".to_string(),
            "--data-dir".into(),
            dir.path().display().to_string(),
            "--secure-port".into(),
            "0".into(),
            "--bind-address".into(),
            "127.0.0.1".into(),
        ];
        let opts = <rudder_apiserver::Options as clap::Parser>::parse_from(args);
        let running = rudder_apiserver::start(opts)
            .await
            .expect("apiserver starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !running.server.ready() {
            assert!(Instant::now() < deadline, "apiserver never became ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let kc = Kubeconfig::read_from(&running.kubeconfig).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(cfg).unwrap();

        let mut args = vec![
            "kube-controller-manager".to_string(),
            "--kubeconfig".into(),
            running.kubeconfig.display().to_string(),
        ];
        if !extra.iter().any(|a| a.starts_with("--secure-port")) {
            args.push("--secure-port=0".into());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let cm_opts = <rudder_controller_manager::Options as clap::Parser>::parse_from(args);
        let config = rudder_controller_manager::Config::from_options(cm_opts)
            .await
            .expect("controller-manager config");
        let cm_secure_addr = config.secure_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let cm = tokio::spawn(rudder_controller_manager::run(config, async {
            let _ = rx.await;
        }));
        Cluster {
            client,
            cm_secure_addr,
            apiserver: Some(running),
            stop_cm: Some(tx),
            cm: Some(cm),
            _dir: dir,
        }
    }

    pub fn kubeconfig(&self) -> std::path::PathBuf {
        self.apiserver.as_ref().unwrap().kubeconfig.clone()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop_cm.take() {
            let _ = tx.send(());
        }
        if let Some(cm) = self.cm.take() {
            let r = tokio::time::timeout(Duration::from_secs(10), cm)
                .await
                .expect("controller-manager stops in time")
                .expect("controller-manager task");
            r.expect("controller-manager ran without error");
        }
        if let Some(r) = self.apiserver.take() {
            r.stop().await;
        }
    }

    pub async fn namespace(&self, name: &str) {
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name}
        }))
        .unwrap();
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }
}

/// Polls `check` every 25 ms until it returns `Some`, failing the test after `secs` seconds.
pub async fn wait_for<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Plays the kubelet: reports the pod Running with a True Ready condition through the
/// pods/status subresource.
pub async fn kubelet_marks_running_ready(client: &kube::Client, ns: &str, name: &str) {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = serde_json::json!({"status": {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now}
        ]
    }});
    Api::<Pod>::namespaced(client.clone(), ns)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("kubelet status update");
}

/// Plays the kubelet for every pod in `ns` not yet reported ready; returns how many pods
/// are ready.
pub async fn kubelet_readies_all(client: &kube::Client, ns: &str) -> usize {
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&Default::default())
        .await
        .unwrap();
    let mut n = 0;
    for p in pods.items {
        if p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if !ready {
            kubelet_marks_running_ready(client, ns, p.metadata.name.as_deref().unwrap()).await;
        }
        n += 1;
    }
    n
}

/// Plays a node's kubelet for the node-lifecycle tests: registers a Node whose Ready
/// condition is True and renews its Lease in `kube-node-lease` every `renew`, until
/// [`FakeNode::stop`]; [`FakeNode::resume`] reports Ready again and renews again.
pub struct FakeNode {
    pub name: String,
    client: kube::Client,
    renew: Duration,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeNode {
    pub async fn start(client: &kube::Client, name: &str, renew: Duration) -> FakeNode {
        Self::start_with_labels(client, name, renew, &[]).await
    }

    /// As [`FakeNode::start`], with extra node labels (e.g. `topology.kubernetes.io/zone`).
    pub async fn start_with_labels(
        client: &kube::Client,
        name: &str,
        renew: Duration,
        labels: &[(&str, &str)],
    ) -> FakeNode {
        use k8s_openapi::api::core::v1::Node;
        let mut l = serde_json::json!({"kubernetes.io/hostname": name});
        for (k, v) in labels {
            l[*k] = serde_json::json!(v);
        }
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": l},
        }))
        .unwrap();
        Api::<Node>::all(client.clone())
            .create(&PostParams::default(), &node)
            .await
            .expect("create node");
        let mut n = FakeNode {
            name: name.to_string(),
            client: client.clone(),
            renew,
            task: None,
        };
        n.resume().await;
        n
    }

    /// Posts Ready=True with a fresh heartbeat and starts renewing the Lease.
    pub async fn resume(&mut self) {
        use k8s_openapi::api::core::v1::Node;
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        let cond = |t: &str, s: &str, reason: &str| {
            serde_json::json!({"type": t, "status": s, "reason": reason,
                "lastHeartbeatTime": now, "lastTransitionTime": now})
        };
        let patch = serde_json::json!({"status": {"conditions": [
            cond("Ready", "True", "KubeletReady"),
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID"),
        ]}});
        Api::<Node>::all(self.client.clone())
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("node status");
        self.stop();
        let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
            Api::namespaced(self.client.clone(), "kube-node-lease");
        let name = self.name.clone();
        let renew = self.renew;
        self.task = Some(tokio::spawn(async move {
            loop {
                let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
                    k8s_openapi::jiff::Timestamp::now(),
                );
                let lease = serde_json::json!({
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": name, "namespace": "kube-node-lease"},
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now},
                });
                let pp = PatchParams::apply("fake-kubelet").force();
                let _ = leases.patch(&name, &pp, &Patch::Apply(&lease)).await;
                tokio::time::sleep(renew).await;
            }
        }));
    }

    /// Stops renewing the Lease (the kubelet went away).
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Plays the kubelet for a finished pod: phase `Succeeded` (exit code 0) or `Failed`
/// (`exit_code`), with the container terminated at now, plus any extra pod conditions
/// (e.g. `{"type": "DisruptionTarget", "status": "True"}`).
pub async fn kubelet_finishes_pod(
    client: &kube::Client,
    ns: &str,
    name: &str,
    exit_code: i32,
    extra_conditions: &[serde_json::Value],
) {
    let pods = Api::<Pod>::namespaced(client.clone(), ns);
    let pod = pods.get(name).await.expect("pod to finish exists");
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let statuses: Vec<serde_json::Value> = pod
        .spec
        .map(|s| s.containers)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name, "image": c.image, "imageID": "", "ready": false,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": exit_code, "startedAt": now,
                                         "finishedAt": now,
                                         "reason": if exit_code == 0 { "Completed" } else { "Error" }}}
            })
        })
        .collect();
    let mut conditions =
        vec![serde_json::json!({"type": "Ready", "status": "False", "lastTransitionTime": now})];
    conditions.extend(extra_conditions.iter().cloned());
    let patch = serde_json::json!({"status": {
        "phase": if exit_code == 0 { "Succeeded" } else { "Failed" },
        "conditions": conditions,
        "containerStatuses": statuses,
    }});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("kubelet status update");
}
