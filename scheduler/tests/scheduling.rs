//! The scheduler in-process against a real in-process kube-apiserver (SQLite in a temp
//! dir, port 0). Nodes are plain Node objects with status; no kubelets.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{json, Value};

struct Cluster {
    running: Option<rudder_apiserver::Running>,
    _dir: tempfile::TempDir,
    client: kube::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    sched: Option<tokio::task::JoinHandle<Result<(), rudder_scheduler::SchedulerError>>>,
}

impl Cluster {
    async fn start() -> Cluster {
        Cluster::start_with(&["--leader-elect=false"]).await
    }

    async fn start_with(extra: &[&str]) -> Cluster {
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

        let mut args = vec![
            "kube-scheduler",
            "--kubeconfig",
            running.kubeconfig.to_str().unwrap(),
            "--secure-port",
            "0",
        ];
        args.extend_from_slice(extra);
        let opts = <rudder_scheduler::Options as clap::Parser>::parse_from(args);
        let config = rudder_scheduler::Config::from_options(&opts).await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let sched = tokio::spawn(rudder_scheduler::run(config, async {
            let _ = rx.await;
        }));
        Cluster {
            running: Some(running),
            _dir: dir,
            client,
            stop: Some(tx),
            sched: Some(sched),
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.sched.take() {
            tokio::time::timeout(Duration::from_secs(10), h)
                .await
                .expect("scheduler stops")
                .unwrap()
                .unwrap();
        }
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }

    async fn node(&self, name: &str, cpu: &str, extra: Value) {
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

    async fn pod(&self, name: &str, cpu: &str, extra: Value) {
        let mut v = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                     "resources": {"requests": {"cpu": cpu, "memory": "10Mi"}}}]}
        });
        merge(&mut v, extra);
        let p: Pod = serde_json::from_value(v).unwrap();
        Api::<Pod>::namespaced(self.client.clone(), "default")
            .create(&PostParams::default(), &p)
            .await
            .unwrap();
    }

    /// Polls until the pod is bound, with a deadline.
    async fn wait_bound(&self, name: &str) -> String {
        let api = Api::<Pod>::namespaced(self.client.clone(), "default");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let p = api.get(name).await.unwrap();
            if let Some(n) = p.spec.and_then(|s| s.node_name) {
                return n;
            }
            assert!(Instant::now() < deadline, "pod {name} was never bound");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls until an event with `reason` about the pod exists; returns its note.
    async fn wait_event(&self, pod: &str, reason: &str) -> String {
        let api = Api::<Event>::namespaced(self.client.clone(), "default");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let list = api.list(&ListParams::default()).await.unwrap();
            if let Some(e) = list.items.iter().find(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(pod)
            }) {
                return e.note.clone().unwrap_or_default();
            }
            assert!(Instant::now() < deadline, "no {reason} event for {pod}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_land_on_nodes_that_fit() {
    let c = Cluster::start().await;
    c.node("small", "1", json!({})).await;
    c.node("big", "4", json!({})).await;
    c.pod("p1", "2", json!({})).await;
    assert_eq!(c.wait_bound("p1").await, "big");
    assert_eq!(
        c.wait_event("p1", "Scheduled").await,
        "Successfully assigned default/p1 to big"
    );
    // p1's 2 cpu count on "big" now: 2.5 more cpu fit nowhere.
    c.pod("p2", "2500m", json!({})).await;
    assert_eq!(
        c.wait_event("p2", "FailedScheduling").await,
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
    );
    // 1.5 cpu still fit on "big" only.
    c.pod("p3", "1500m", json!({})).await;
    assert_eq!(c.wait_bound("p3").await, "big");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taints_and_node_affinity_are_honoured() {
    let c = Cluster::start().await;
    c.node(
        "cp",
        "4",
        json!({"metadata": {"labels": {"zone": "a"}},
               "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
    )
    .await;
    c.node("wa", "4", json!({"metadata": {"labels": {"zone": "a"}}}))
        .await;
    c.node("wb", "4", json!({"metadata": {"labels": {"zone": "b"}}}))
        .await;

    c.pod(
        "sel",
        "100m",
        json!({"spec": {"nodeSelector": {"zone": "b"}}}),
    )
    .await;
    assert_eq!(c.wait_bound("sel").await, "wb");

    // Required affinity to the control plane's hostname plus a toleration.
    c.pod(
        "tol",
        "100m",
        json!({"spec": {
            "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["cp"]}]}]}}}
        }}),
    )
    .await;
    assert_eq!(c.wait_bound("tol").await, "cp");

    // Zone a without a toleration: only "wa".
    for i in 0..3 {
        let name = format!("za{i}");
        c.pod(
            &name,
            "100m",
            json!({"spec": {"nodeSelector": {"zone": "a"}}}),
        )
        .await;
        assert_eq!(c.wait_bound(&name).await, "wa");
    }
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unschedulable_pod_reports_and_waits_for_a_fitting_node() {
    let c = Cluster::start().await;
    c.node(
        "cp",
        "16",
        json!({"spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
    )
    .await;
    c.node("w1", "2", json!({})).await;
    c.node("w2", "2", json!({})).await;
    c.pod("huge", "8", json!({})).await;
    let note = c.wait_event("huge", "FailedScheduling").await;
    assert_eq!(
        note,
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    // The PodScheduled condition says why.
    let api = Api::<Pod>::namespaced(c.client.clone(), "default");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = api.get("huge").await.unwrap();
        let cond = p
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "PodScheduled");
        if let Some(cond) = cond {
            if cond.reason.as_deref() == Some("Unschedulable") {
                assert_eq!(cond.status, "False");
                assert_eq!(cond.message.as_deref(), Some(note.as_str()));
                break;
            }
        }
        assert!(Instant::now() < deadline, "PodScheduled=False never set");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.node("w3", "16", json!({})).await;
    assert_eq!(c.wait_bound("huge").await, "w3");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_priority_pod_preempts_a_lower_priority_one() {
    let c = Cluster::start().await;
    let pcs: Api<k8s_openapi::api::scheduling::v1::PriorityClass> = Api::all(c.client.clone());
    let pc = serde_json::from_value(json!({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": "high"}, "value": 1000
    }))
    .unwrap();
    pcs.create(&PostParams::default(), &pc).await.unwrap();
    c.node("only", "2", json!({})).await;
    c.pod("low", "1500m", json!({})).await;
    assert_eq!(c.wait_bound("low").await, "only");
    c.pod(
        "high",
        "1500m",
        json!({"spec": {"priorityClassName": "high"}}),
    )
    .await;
    let api = Api::<Pod>::namespaced(c.client.clone(), "default");
    let p = api.get("high").await.unwrap();
    assert_eq!(
        p.spec.as_ref().and_then(|s| s.priority),
        Some(1000),
        "the apiserver resolves priorityClassName"
    );
    assert_eq!(
        c.wait_event("low", "Preempted").await,
        format!(
            "Preempted by pod {} on node only",
            p.metadata.uid.as_deref().unwrap()
        )
    );
    // The preemptor is nominated to the node while the victim terminates.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = api.get("high").await.unwrap();
        if p.status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            == Some("only")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nominatedNodeName never set: {:?}",
            p.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No kubelet here: finish the graceful deletion as the kubelet would.
    api.delete("low", &kube::api::DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert_eq!(c.wait_bound("high").await, "only");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anti_affinity_and_topology_spread() {
    let c = Cluster::start().await;
    for (n, zone) in [("a1", "za"), ("a2", "za"), ("b1", "zb")] {
        c.node(n, "4", json!({"metadata": {"labels": {"zone": zone}}}))
            .await;
    }
    let anti = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"affinity": {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}}});
    let mut hosts = std::collections::BTreeSet::new();
    for i in 0..3 {
        let name = format!("web{i}");
        c.pod(&name, "100m", anti.clone()).await;
        hosts.insert(c.wait_bound(&name).await);
    }
    assert_eq!(hosts.len(), 3, "one web pod per host: {hosts:?}");
    c.pod("web3", "100m", anti).await;
    assert_eq!(
        c.wait_event("web3", "FailedScheduling").await,
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    );

    // Zone spread with maxSkew 1: two pods land in different zones.
    let spread = json!({"metadata": {"labels": {"app": "api"}}, "spec": {"topologySpreadConstraints": [{
        "maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "api"}}}]}});
    c.pod("api0", "100m", spread.clone()).await;
    let first = c.wait_bound("api0").await;
    c.pod("api1", "100m", spread).await;
    let second = c.wait_bound("api1").await;
    let zone = |n: &str| if n.starts_with('a') { "za" } else { "zb" };
    assert_ne!(zone(&first), zone(&second), "{first} {second}");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_over_a_lease() {
    use k8s_openapi::api::coordination::v1::Lease;
    use rudder_scheduler::leader::{LeaderConfig, LeaderElector};
    // The scheduler itself takes kube-system/kube-scheduler before scheduling.
    let c = Cluster::start_with(&["--leader-elect-retry-period=100ms"]).await;
    c.node("n1", "2", json!({})).await;
    c.pod("p", "100m", json!({})).await;
    assert_eq!(c.wait_bound("p").await, "n1");
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), "kube-system");
    let lease = leases.get("kube-scheduler").await.unwrap();
    let holder = lease.spec.unwrap().holder_identity.unwrap();
    assert!(holder.contains('_'), "{holder}");

    // Two more candidates on another lease: one wins, the other waits for expiry.
    let cfg = |id: &str| LeaderConfig {
        namespace: "kube-system".into(),
        name: "test-lock".into(),
        identity: id.into(),
        lease_duration: Duration::from_secs(1),
        renew_deadline: Duration::from_millis(800),
        retry_period: Duration::from_millis(100),
    };
    let mut a = LeaderElector::new(c.client.clone(), cfg("a"));
    let mut b = LeaderElector::new(c.client.clone(), cfg("b"));
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    assert!(a.try_acquire_or_renew().await.unwrap(), "the holder renews");
    // "a" stops renewing: "b" takes over once it has seen the same record for 1 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.try_acquire_or_renew().await.unwrap() {
        assert!(Instant::now() < deadline, "b never took over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let l = Api::<Lease>::namespaced(c.client.clone(), "kube-system")
        .get("test-lock")
        .await
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(l.holder_identity.as_deref(), Some("b"));
    assert_eq!(l.lease_transitions, Some(1));
    // Release lets "a" in at once.
    b.release().await;
    assert!(a.try_acquire_or_renew().await.unwrap());
    c.stop().await;
}
