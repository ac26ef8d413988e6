//! Test harness: an in-process kube-apiserver on port 0 over SQLite in a temp dir, and
//! kube-schedulers started in-process against it with `run` and a shutdown channel.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{json, Value};

/// How long a test waits for any one condition.
pub const WAIT: Duration = Duration::from_secs(20);

/// A scheduler running in-process.
pub struct Scheduler {
    /// Its leader-election identity, when it elects.
    pub identity: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<Result<(), rudder_scheduler::SchedulerError>>>,
}

impl Scheduler {
    /// Stops it and checks it ended without an error.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(10), h)
                .await
                .expect("scheduler stops")
                .unwrap()
                .unwrap();
        }
    }
}

/// An apiserver plus the schedulers a test started.
pub struct Cluster {
    running: Option<rudder_apiserver::Running>,
    _dir: tempfile::TempDir,
    pub client: kube::Client,
    pub kubeconfig: std::path::PathBuf,
    pub schedulers: Vec<Scheduler>,
}

impl Cluster {
    /// An apiserver and one scheduler without leader election.
    pub async fn start() -> Cluster {
        Cluster::start_with(&["--leader-elect=false"]).await
    }

    /// An apiserver and one scheduler with extra flags.
    pub async fn start_with(extra: &[&str]) -> Cluster {
        let mut c = Cluster::apiserver().await;
        let s = c.scheduler(extra).await;
        c.schedulers.push(s);
        c
    }

    /// Only the apiserver.
    pub async fn apiserver() -> Cluster {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "rudder_scheduler=warn".into()),
            )
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let args = [
            "kube-apiserver",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--secure-port",
            "0",
            "--bind-address",
            "127.0.0.1",
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
        Cluster {
            kubeconfig: running.kubeconfig.clone(),
            running: Some(running),
            _dir: dir,
            client,
            schedulers: Vec::new(),
        }
    }

    /// Starts a scheduler with the given extra flags (not added to `schedulers`).
    pub async fn scheduler(&self, extra: &[&str]) -> Scheduler {
        let mut args = vec![
            "kube-scheduler",
            "--kubeconfig",
            self.kubeconfig.to_str().unwrap(),
            "--secure-port",
            "0",
        ];
        args.extend_from_slice(extra);
        let opts = <rudder_scheduler::Options as clap::Parser>::parse_from(args);
        let config = rudder_scheduler::Config::from_options(&opts).await.unwrap();
        let identity = config.leader.as_ref().map(|l| l.identity.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(rudder_scheduler::run(config, async {
            let _ = rx.await;
        }));
        Scheduler {
            identity,
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    /// Stops the schedulers, then the apiserver.
    pub async fn stop(mut self) {
        for s in std::mem::take(&mut self.schedulers) {
            s.stop().await;
        }
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }

    /// Creates a ready node with `cpu` cores, 8Gi memory and 110 pods, labelled with its
    /// hostname; `extra` is merged into the object.
    pub async fn node(&self, name: &str, cpu: &str, extra: Value) {
        let mut v = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {
                "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ok"}]
            }
        });
        merge(&mut v, extra);
        let n: Node = serde_json::from_value(v).unwrap();
        Api::<Node>::all(self.client.clone())
            .create(&PostParams::default(), &n)
            .await
            .unwrap();
    }

    /// Creates a pod in `default` requesting `cpu` and 10Mi; `extra` is merged in.
    pub async fn pod(&self, name: &str, cpu: &str, extra: Value) {
        let mut v = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                     "resources": {"requests": {"cpu": cpu, "memory": "10Mi"}}}]}
        });
        merge(&mut v, extra);
        let p: Pod = serde_json::from_value(v).unwrap();
        self.pods()
            .create(&PostParams::default(), &p)
            .await
            .unwrap();
    }

    /// Pods of `default`.
    pub fn pods(&self) -> Api<Pod> {
        Api::<Pod>::namespaced(self.client.clone(), "default")
    }

    /// Polls until the pod is bound, with a deadline; returns the node.
    pub async fn wait_bound(&self, name: &str) -> String {
        let api = self.pods();
        let deadline = Instant::now() + WAIT;
        loop {
            let p = api.get(name).await.unwrap();
            if let Some(n) = p.spec.and_then(|s| s.node_name) {
                return n;
            }
            assert!(Instant::now() < deadline, "pod {name} was never bound");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Events of `default` about `pod` with `reason`.
    pub async fn events(&self, pod: &str, reason: &str) -> Vec<Event> {
        let api = Api::<Event>::namespaced(self.client.clone(), "default");
        let list = api.list(&ListParams::default()).await.unwrap();
        list.items
            .into_iter()
            .filter(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(pod)
            })
            .collect()
    }

    /// Polls until an event with `reason` about the pod exists; returns its note.
    pub async fn wait_event(&self, pod: &str, reason: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.events(pod, reason).await.first() {
                return e.note.clone().unwrap_or_default();
            }
            assert!(Instant::now() < deadline, "no {reason} event for {pod}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls until `check` holds for the pod, with a deadline.
    pub async fn wait_pod(&self, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
        let api = self.pods();
        let deadline = Instant::now() + WAIT;
        loop {
            let p = api.get(name).await.unwrap();
            if check(&p) {
                return p;
            }
            assert!(Instant::now() < deadline, "pod {name}: {what} never held");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Merges `b` into `a` (objects key by key, anything else replaced).
pub fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}
