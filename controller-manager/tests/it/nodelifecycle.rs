//! Node lifecycle and taint-based eviction against a real apiserver, after the sig-node
//! conformance descriptions "NoExecuteTaintManager Single Pod/Multiple Pods" (evict pods
//! without a toleration at once, pods with tolerationSeconds after them, removing the taint
//! cancels the eviction) and upstream's node lifecycle behaviour: a node whose kubelet stops
//! renewing its Lease becomes Ready=Unknown with the unreachable taints, its pods are marked
//! not ready and evicted per their tolerations, and recovery removes the taints; zone
//! disruption states with rate-limited tainting and master disruption mode.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Node, Pod, Taint};
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
    // A second, healthy node: with worker-1 alone down the (single) zone would be fully
    // disrupted and upstream's master disruption mode would keep the NoExecute taint off.
    let _healthy = FakeNode::start(&cluster.client, "worker-2", Duration::from_millis(300)).await;

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

fn no_execute(n: &Node) -> Option<Taint> {
    n.spec
        .as_ref()?
        .taints
        .as_ref()?
        .iter()
        .find(|t| t.effect == "NoExecute")
        .cloned()
}

fn ready_status(n: &Node) -> Option<String> {
    n.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
}

/// Upstream's zone handling: zone-a (two nodes) goes fully down while zone-b stays
/// normal, so zone-a's nodes are tainted one per token of `--node-eviction-rate`; then
/// zone-b goes down too, every zone is fully disrupted, and the controller enters master
/// disruption mode (no NoExecute taints anywhere); when zone-b's node returns it leaves the
/// mode and zone-a's nodes are tainted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_full_disruption_rate_limits_taints_and_master_disruption_mode_lifts_them() {
    let cluster = Cluster::start_with_args(&[
        "--controllers=nodelifecycle",
        "--leader-elect=false",
        // 3 s of grace against 200 ms renewals: a late renewal on a loaded CI machine
        // must not take zone b down early.
        "--node-monitor-grace-period=3s",
        "--node-monitor-period=100ms",
        "--node-eviction-rate=1",
    ])
    .await;
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    let renew = Duration::from_millis(200);
    let zone = |z: &'static str| {
        [
            ("topology.kubernetes.io/region", "r"),
            ("topology.kubernetes.io/zone", z),
        ]
    };
    let mut a1 = FakeNode::start_with_labels(&cluster.client, "a1", renew, &zone("a")).await;
    let mut a2 = FakeNode::start_with_labels(&cluster.client, "a2", renew, &zone("a")).await;
    let mut b1 = FakeNode::start_with_labels(&cluster.client, "b1", renew, &zone("b")).await;

    // Zone a goes down entirely; zone b is fine: a's nodes are tainted, rate limited.
    a1.stop();
    a2.stop();
    let taints = wait_for("a1 and a2 tainted unreachable", 20, || async {
        let mut out = Vec::new();
        for n in ["a1", "a2"] {
            let node = nodes.get(n).await.unwrap();
            let t = no_execute(&node)?;
            out.push(t);
        }
        Some(out)
    })
    .await;
    for t in &taints {
        assert_eq!(t.key, "node.kubernetes.io/unreachable");
    }
    let added: Vec<i64> = taints
        .iter()
        .map(|t| t.time_added.as_ref().unwrap().0.as_second())
        .collect();
    assert!(
        (added[0] - added[1]).abs() >= 1,
        "one node per second (--node-eviction-rate=1): {added:?}"
    );
    assert!(no_execute(&nodes.get("b1").await.unwrap()).is_none());

    // Zone b goes down too: master disruption mode removes every NoExecute taint, and
    // b1 (down now) gets none.
    b1.stop();
    wait_for(
        "b1 unknown and no NoExecute taints anywhere",
        20,
        || async {
            let b = nodes.get("b1").await.unwrap();
            if ready_status(&b).as_deref() != Some("Unknown") {
                return None;
            }
            for n in ["a1", "a2", "b1"] {
                if no_execute(&nodes.get(n).await.unwrap()).is_some() {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    // It stays that way (several monitor periods and tainting passes).
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        for n in ["a1", "a2", "b1"] {
            let node = nodes.get(n).await.unwrap();
            assert!(
                no_execute(&node).is_none(),
                "{n} tainted in master disruption mode"
            );
            // The NoSchedule unreachable taint is not part of the eviction logic: it stays.
            assert!(taint_keys(&node).contains(&(
                "node.kubernetes.io/unreachable".to_string(),
                "NoSchedule".to_string()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // b1 is back: the mode ends, limiters reset, zone a's nodes are tainted again.
    b1.resume().await;
    wait_for("a1 and a2 tainted again", 20, || async {
        for n in ["a1", "a2"] {
            no_execute(&nodes.get(n).await.unwrap())?;
        }
        Some(())
    })
    .await;
    assert!(no_execute(&nodes.get("b1").await.unwrap()).is_none());

    // Recovery of zone a removes its taints.
    a1.resume().await;
    a2.resume().await;
    wait_for("a1 and a2 untainted", 20, || async {
        for n in ["a1", "a2"] {
            if !taint_keys(&nodes.get(n).await.unwrap()).is_empty() {
                return None;
            }
        }
        Some(())
    })
    .await;
    cluster.stop().await;
}
