//! Node lifecycle and taint-based eviction against a real apiserver, after the sig-node
//! conformance descriptions "NoExecuteTaintManager Single Pod/Multiple Pods" (evict pods
//! without a toleration at once, pods with tolerationSeconds after them, removing the taint
//! cancels the eviction) and upstream's node lifecycle behaviour: a node whose kubelet stops
//! renewing its Lease becomes Ready=Unknown with the unreachable taints, its pods are marked
//! not ready and evicted per their tolerations, and recovery removes the taints.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

use crate::common::{kubelet_marks_running_ready, wait_for, Cluster, FakeNode};

fn bound_pod(name: &str, node: &str, tolerations: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
            "tolerations": tolerations,
        }
    }))
    .unwrap()
}

/// Gone, or being deleted.
async fn evicted(pods: &Api<Pod>, name: &str) -> bool {
    match pods.get_opt(name).await.unwrap() {
        None => true,
        Some(p) => p.metadata.deletion_timestamp.is_some(),
    }
}

fn taint_keys(n: &Node) -> Vec<(String, String)> {
    let mut v: Vec<_> = n
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.effect))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_node_is_tainted_its_pods_evicted_per_tolerations_and_recovers() {
    let cluster = Cluster::start_with_args(&[
        "--controllers=nodelifecycle,taint-eviction-controller",
        "--leader-elect=false",
        "--node-monitor-grace-period=2s",
        "--node-monitor-period=200ms",
    ])
    .await;
    let ns = "nlc";
    cluster.namespace(ns).await;
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let mut node = FakeNode::start(&cluster.client, "worker-1", Duration::from_millis(300)).await;

    let unreachable = "node.kubernetes.io/unreachable";
    // Default tolerations from admission (300 s): stays for this test's lifetime.
    let created = pods
        .create(
            &PostParams::default(),
            &bound_pod("default", "worker-1", json!(null)),
        )
        .await
        .unwrap();
    assert_eq!(
        created.spec.unwrap().tolerations.map(|t| t.len()),
        Some(2),
        "DefaultTolerationSeconds admission added the two tolerations"
    );
    pods.create(
        &PostParams::default(),
        &bound_pod(
            "short",
            "worker-1",
            json!([{"key": unreachable, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}]),
        ),
    )
    .await
    .unwrap();
    pods.create(
        &PostParams::default(),
        &bound_pod(
            "forever",
            "worker-1",
            json!([{"key": unreachable, "operator": "Exists", "effect": "NoExecute"}]),
        ),
    )
    .await
    .unwrap();
    for p in ["default", "short", "forever"] {
        kubelet_marks_running_ready(&cluster.client, ns, p).await;
    }

    // A healthy node keeps no taints and stays Ready.
    let n = nodes.get("worker-1").await.unwrap();
    assert!(taint_keys(&n).is_empty(), "{:?}", taint_keys(&n));

    // The kubelet goes silent: Ready becomes Unknown with upstream's reason and message.
    node.stop();
    let stopped = Instant::now();
    let n = wait_for("node Ready=Unknown and tainted", 20, || async {
        let n = nodes.get("worker-1").await.unwrap();
        let ready = n
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "Ready")?
            .clone();
        (ready.status == "Unknown" && taint_keys(&n).len() == 2).then_some(n)
    })
    .await;
    assert!(
        stopped.elapsed() >= Duration::from_secs(2),
        "marked before the grace period"
    );
    let conds = n.status.as_ref().unwrap().conditions.clone().unwrap();
    for t in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
        let c = conds.iter().find(|c| c.type_ == t).unwrap();
        assert_eq!(c.status, "Unknown", "{t}");
        assert_eq!(c.reason.as_deref(), Some("NodeStatusUnknown"), "{t}");
        assert_eq!(
            c.message.as_deref(),
            Some("Kubelet stopped posting node status."),
            "{t}"
        );
    }
    assert_eq!(
        taint_keys(&n),
        vec![
            (unreachable.to_string(), "NoExecute".to_string()),
            (unreachable.to_string(), "NoSchedule".to_string()),
        ]
    );
    let ne = n
        .spec
        .unwrap()
        .taints
        .unwrap()
        .into_iter()
        .find(|t| t.effect == "NoExecute")
        .unwrap();
    assert!(ne.time_added.is_some(), "NoExecute taint has timeAdded");

    // Its pods are marked not ready.
    wait_for("pods marked Ready=False", 10, || async {
        let all = pods.list(&ListParams::default()).await.unwrap().items;
        all.iter()
            .filter(|p| p.metadata.name.as_deref() != Some("short"))
            .all(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "False"))
            })
            .then_some(())
    })
    .await;

    // tolerationSeconds=2: evicted after about 2 s, with the DisruptionTarget condition.
    let tainted = Instant::now();
    wait_for("short-toleration pod evicted", 15, || async {
        evicted(&pods, "short").await.then_some(())
    })
    .await;
    assert!(
        tainted.elapsed() >= Duration::from_millis(1500),
        "evicted before tolerationSeconds"
    );
    if let Some(p) = pods.get_opt("short").await.unwrap() {
        let c = p.status.unwrap().conditions.unwrap();
        let dt = c.iter().find(|c| c.type_ == "DisruptionTarget").unwrap();
        assert_eq!(dt.reason.as_deref(), Some("DeletionByTaintManager"));
    }
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), ns);
    wait_for("TaintManagerEviction event", 10, || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("TaintManagerEviction")
                    && e.message.as_deref() == Some("Marking for deletion Pod nlc/short")
            })
            .then_some(())
    })
    .await;
    // The pod tolerating forever and the one with the default 300 s stay.
    assert!(!evicted(&pods, "forever").await);
    assert!(!evicted(&pods, "default").await);

    // The kubelet comes back: the taints go away.
    node.resume().await;
    wait_for("taints removed", 10, || async {
        let n = nodes.get("worker-1").await.unwrap();
        taint_keys(&n).is_empty().then_some(())
    })
    .await;
    assert!(!evicted(&pods, "default").await);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_execute_taint_evicts_untolerating_pods_and_removal_cancels() {
    let cluster = Cluster::start("taint-eviction-controller").await;
    let ns = "taints";
    cluster.namespace(ns).await;
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "tainted"}})).unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let key = "kubernetes.io/e2e-evict-taint-key";
    let tol = |secs: Option<i64>| {
        let mut t = json!({"key": key, "operator": "Equal", "value": "evictTaintVal", "effect": "NoExecute"});
        if let Some(s) = secs {
            t["tolerationSeconds"] = json!(s);
        }
        json!([t])
    };
    pods.create(
        &PostParams::default(),
        &bound_pod("none", "tainted", json!(null)),
    )
    .await
    .unwrap();
    pods.create(
        &PostParams::default(),
        &bound_pod("long", "tainted", tol(Some(3))),
    )
    .await
    .unwrap();
    pods.create(
        &PostParams::default(),
        &bound_pod("always", "tainted", tol(None)),
    )
    .await
    .unwrap();

    let set_taints = |taints: serde_json::Value| {
        let nodes = nodes.clone();
        async move {
            nodes
                .patch(
                    "tainted",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"taints": taints}})),
                )
                .await
                .unwrap();
        }
    };
    set_taints(json!([{"key": key, "value": "evictTaintVal", "effect": "NoExecute"}])).await;

    // No toleration: evicted at once.
    wait_for("untolerating pod evicted", 10, || async {
        evicted(&pods, "none").await.then_some(())
    })
    .await;
    // Removing the taint before tolerationSeconds cancels the eviction.
    set_taints(json!(null)).await;
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), ns);
    wait_for("cancellation event", 10, || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| e.message.as_deref() == Some("Cancelling deletion of Pod taints/long"))
            .then_some(())
    })
    .await;
    // Past the 3 s it would have been deleted at, it is still there.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        assert!(!evicted(&pods, "long").await, "cancelled eviction happened");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Tainting again: the bounded pod goes after its seconds, the unbounded one stays.
    set_taints(json!([{"key": key, "value": "evictTaintVal", "effect": "NoExecute"}])).await;
    let t0 = Instant::now();
    wait_for("bounded pod evicted", 15, || async {
        evicted(&pods, "long").await.then_some(())
    })
    .await;
    assert!(t0.elapsed() >= Duration::from_millis(2500));
    assert!(!evicted(&pods, "always").await);
    cluster.stop().await;
}
