//! DaemonSet controller against a real apiserver; cases follow the sig-apps Daemon set
//! conformance descriptions (run and stop simple daemon, run and stop complex daemon with
//! node selectors, retry creating failed daemon pods, rolling update, revisions). No
//! scheduler runs: pods stay unbound and the tests read the node each pod is pinned to
//! through its required node affinity, as the scheduler would.

use crate::common::{kubelet_marks_running_ready, kubelet_readies_all, wait_for, Cluster};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use rudder_controller_manager::controllers::daemonset::target_node_name;
use serde_json::json;

async fn node(
    client: &kube::Client,
    name: &str,
    labels: serde_json::Value,
    taints: serde_json::Value,
) {
    let n: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints}
    }))
    .unwrap();
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &n)
        .await
        .unwrap();
}

fn daemonset(name: &str, image: &str, node_selector: serde_json::Value) -> DaemonSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"daemonset-name": name}},
            "template": {
                "metadata": {"labels": {"daemonset-name": name}},
                "spec": {
                    "nodeSelector": node_selector,
                    "containers": [{"name": "app", "image": image}]
                }
            }
        }
    }))
    .unwrap()
}

/// Live pods of the DaemonSet by the node they are pinned to.
async fn pods_by_node(pods: &Api<Pod>, ds: &str) -> Vec<(String, Pod)> {
    let mut out: Vec<(String, Pod)> = pods
        .list(&ListParams::default().labels(&format!("daemonset-name={ds}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| (target_node_name(&p).unwrap_or_default(), p))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn nodes_of(v: &[(String, Pod)]) -> Vec<&str> {
    v.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_runs_on_each_eligible_node_and_follows_node_changes() {
    let cluster = Cluster::start("daemonset").await;
    let c = cluster.client.clone();
    let ns = "ds-basic";
    cluster.namespace(ns).await;
    node(&c, "n1", json!({}), json!([])).await;
    node(&c, "n2", json!({}), json!([])).await;
    // A control-plane style taint the daemon does not tolerate: no pod there.
    node(
        &c,
        "tainted",
        json!({}),
        json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
    )
    .await;
    // Node-condition taints are tolerated automatically.
    node(
        &c,
        "cordoned",
        json!({}),
        json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
    )
    .await;
    let dss: Api<DaemonSet> = Api::namespaced(c.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    dss.create(
        &PostParams::default(),
        &daemonset("daemon-set", "pause:1", json!({})),
    )
    .await
    .unwrap();

    let placed = wait_for("one pod per eligible node", 20, || async {
        let v = pods_by_node(&pods, "daemon-set").await;
        (nodes_of(&v) == ["cordoned", "n1", "n2"]).then_some(v)
    })
    .await;
    let ds = dss.get("daemon-set").await.unwrap();
    for (node_name, p) in &placed {
        let labels = p.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["pod-template-generation"], "1");
        assert!(labels.contains_key("controller-revision-hash"));
        assert!(p
            .metadata
            .name
            .as_deref()
            .unwrap()
            .starts_with("daemon-set-"));
        let r = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (r.kind.as_str(), Some(&r.uid)),
            ("DaemonSet", ds.metadata.uid.as_ref())
        );
        let spec = p.spec.as_ref().unwrap();
        assert!(
            spec.node_name.is_none(),
            "bound by the scheduler, not the controller"
        );
        let tols = spec.tolerations.as_ref().unwrap();
        assert!(tols
            .iter()
            .any(|t| t.key.as_deref() == Some("node.kubernetes.io/not-ready")
                && t.effect.as_deref() == Some("NoExecute")
                && t.toleration_seconds.is_none()));
        assert_eq!(target_node_name(p).as_deref(), Some(node_name.as_str()));
    }

    // Status as `kubectl rollout status ds` reads it.
    for (_, p) in &placed {
        kubelet_marks_running_ready(&c, ns, p.metadata.name.as_deref().unwrap()).await;
    }
    wait_for("status counts", 20, || async {
        let st = dss.get("daemon-set").await.unwrap().status?;
        (st.desired_number_scheduled == 3
            && st.current_number_scheduled == 3
            && st.number_ready == 3
            && st.number_available == Some(3)
            && st.updated_number_scheduled == Some(3)
            && st.number_misscheduled == 0
            && st.observed_generation == ds.metadata.generation)
            .then_some(())
    })
    .await;

    // A ControllerRevision records the template.
    let revs = Api::<ControllerRevision>::namespaced(c.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(revs.len(), 1);
    let hash = &placed[0].1.metadata.labels.as_ref().unwrap()["controller-revision-hash"];
    assert_eq!(
        revs[0].metadata.name.as_deref(),
        Some(format!("daemon-set-{hash}").as_str())
    );
    assert_eq!(revs[0].revision, 1);

    // A new node gets a pod; a deleted node's unbound pod goes.
    node(&c, "n3", json!({}), json!([])).await;
    wait_for("pod on the new node", 20, || async {
        let v = pods_by_node(&pods, "daemon-set").await;
        (nodes_of(&v) == ["cordoned", "n1", "n2", "n3"]).then_some(())
    })
    .await;
    Api::<Node>::all(c.clone())
        .delete("n3", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("pod of the deleted node removed", 20, || async {
        let v = pods_by_node(&pods, "daemon-set").await;
        (nodes_of(&v) == ["cordoned", "n1", "n2"]).then_some(())
    })
    .await;

    // Tainting a node NoExecute without toleration evicts the daemon pod.
    Api::<Node>::all(c.clone())
        .patch(
            "n2",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"taints": [{"key": "evict", "effect": "NoExecute"}]}})),
        )
        .await
        .unwrap();
    wait_for("pod removed from the NoExecute node", 20, || async {
        let v = pods_by_node(&pods, "daemon-set").await;
        (nodes_of(&v) == ["cordoned", "n1"]).then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_node_selector_picks_labelled_nodes() {
    let cluster = Cluster::start("daemonset").await;
    let c = cluster.client.clone();
    let ns = "ds-selector";
    cluster.namespace(ns).await;
    node(&c, "blue", json!({"color": "blue"}), json!([])).await;
    node(&c, "green", json!({"color": "green"}), json!([])).await;
    let dss: Api<DaemonSet> = Api::namespaced(c.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    dss.create(
        &PostParams::default(),
        &daemonset("picky", "pause:1", json!({"color": "blue"})),
    )
    .await
    .unwrap();
    wait_for("pod on the blue node only", 20, || async {
        let v = pods_by_node(&pods, "picky").await;
        (nodes_of(&v) == ["blue"]).then_some(())
    })
    .await;
    // Relabelling moves the daemon (the conformance "complex daemon" case).
    let nodes = Api::<Node>::all(c.clone());
    nodes
        .patch(
            "green",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"color": "blue"}}})),
        )
        .await
        .unwrap();
    nodes
        .patch(
            "blue",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"color": "red"}}})),
        )
        .await
        .unwrap();
    wait_for("pod moved to the relabelled node", 20, || async {
        let v = pods_by_node(&pods, "picky").await;
        (nodes_of(&v) == ["green"]).then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_recreates_failed_pods() {
    let cluster = Cluster::start("daemonset").await;
    let c = cluster.client.clone();
    let ns = "ds-failed";
    cluster.namespace(ns).await;
    node(&c, "n1", json!({}), json!([])).await;
    let dss: Api<DaemonSet> = Api::namespaced(c.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    dss.create(
        &PostParams::default(),
        &daemonset("d", "pause:1", json!({})),
    )
    .await
    .unwrap();
    let first = wait_for("daemon pod", 20, || async {
        pods_by_node(&pods, "d")
            .await
            .into_iter()
            .next()
            .map(|(_, p)| p)
    })
    .await;
    // Plays the kubelet rejecting the pod.
    pods.patch_status(
        first.metadata.name.as_deref().unwrap(),
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Failed"}})),
    )
    .await
    .unwrap();
    wait_for("failed pod replaced", 20, || async {
        let v = pods_by_node(&pods, "d").await;
        (v.len() == 1 && v[0].1.metadata.uid != first.metadata.uid).then_some(())
    })
    .await;
    let events = Api::<Event>::namespaced(c.clone(), ns);
    wait_for("FailedDaemonPod event", 20, || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .any(|e| {
                e.reason.as_deref() == Some("FailedDaemonPod")
                    && e.message.as_deref().is_some_and(|m| {
                        m.starts_with(&format!("Found failed daemon pod {ns}/d-"))
                            && m.ends_with("on node n1, will try to kill it")
                    })
            })
            .then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_rolling_update_replaces_pods_and_records_revisions() {
    let cluster = Cluster::start("daemonset").await;
    let c = cluster.client.clone();
    let ns = "ds-rolling";
    cluster.namespace(ns).await;
    for n in ["n1", "n2", "n3"] {
        node(&c, n, json!({}), json!([])).await;
    }
    let dss: Api<DaemonSet> = Api::namespaced(c.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    dss.create(
        &PostParams::default(),
        &daemonset("roll", "pause:1", json!({})),
    )
    .await
    .unwrap();
    wait_for("3 ready pods", 20, || async {
        (kubelet_readies_all(&c, ns).await == 3).then_some(())
    })
    .await;
    let old_hash = pods_by_node(&pods, "roll").await[0]
        .1
        .metadata
        .labels
        .as_ref()
        .unwrap()["controller-revision-hash"]
        .clone();

    dss.patch(
        "roll",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "pause:2"}]}}}})),
    )
    .await
    .unwrap();
    // Plays the kubelet for replacements; maxUnavailable 1 means never more than one node
    // without an available pod.
    let max_missing = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let rolled = wait_for("all pods on the new template", 30, || {
        let (c, pods, max_missing) = (c.clone(), pods.clone(), max_missing.clone());
        async move {
            let v = pods_by_node(&pods, "roll").await;
            let ready = v
                .iter()
                .filter(|(_, p)| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| {
                            cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        })
                })
                .count();
            max_missing.fetch_max(
                3usize.saturating_sub(ready),
                std::sync::atomic::Ordering::SeqCst,
            );
            kubelet_readies_all(&c, ns).await;
            let done = v.len() == 3
                && v.iter().all(|(_, p)| {
                    p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("pause:2")
                        && p.metadata.labels.as_ref().unwrap()["pod-template-generation"] == "2"
                });
            done.then_some(v)
        }
    })
    .await;
    let max_missing = max_missing.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        max_missing <= 1,
        "at most maxUnavailable=1 node without a ready pod, saw {max_missing}"
    );
    let new_hash = &rolled[0].1.metadata.labels.as_ref().unwrap()["controller-revision-hash"];
    assert_ne!(new_hash, &old_hash);

    let revs = Api::<ControllerRevision>::namespaced(c.clone(), ns);
    let mut list = revs.list(&ListParams::default()).await.unwrap().items;
    list.sort_by_key(|r| r.revision);
    let names: Vec<(String, i64)> = list
        .iter()
        .map(|r| (r.metadata.name.clone().unwrap(), r.revision))
        .collect();
    assert_eq!(
        names,
        vec![
            (format!("roll-{old_hash}"), 1),
            (format!("roll-{new_hash}"), 2)
        ]
    );
    wait_for("updated status", 20, || async {
        let st = dss.get("roll").await.unwrap().status?;
        (st.updated_number_scheduled == Some(3) && st.number_available == Some(3)).then_some(())
    })
    .await;

    // Rolling back to the first template reuses revision `roll-<old>` renumbered as 3.
    dss.patch(
        "roll",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "pause:1"}]}}}})),
    )
    .await
    .unwrap();
    wait_for("old revision renumbered", 20, || async {
        let r = revs.get(&format!("roll-{old_hash}")).await.ok()?;
        (r.revision == 3).then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_rollback_without_unnecessary_restarts() {
    let cluster = Cluster::start("daemonset").await;
    let c = cluster.client.clone();
    let ns = "ds-rollback";
    cluster.namespace(ns).await;
    for n in ["n1", "n2", "n3"] {
        node(&c, n, json!({}), json!([])).await;
    }
    let dss: Api<DaemonSet> = Api::namespaced(c.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    dss.create(
        &PostParams::default(),
        &daemonset("rb", "pause:1", json!({})),
    )
    .await
    .unwrap();
    wait_for("3 ready pods", 20, || async {
        (kubelet_readies_all(&c, ns).await == 3).then_some(())
    })
    .await;
    let original: Vec<(String, Option<String>)> = pods_by_node(&pods, "rb")
        .await
        .into_iter()
        .map(|(n, p)| (n, p.metadata.uid))
        .collect();

    // An image that never becomes ready: one pod is replaced, then the update stalls
    // (maxUnavailable 1) because the kubelet helper does not ready it.
    let image = |i: &str| {
        Patch::Merge(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": i}]}}}}),
        )
    };
    dss.patch("rb", &PatchParams::default(), &image("bad:1"))
        .await
        .unwrap();
    let bad_node = wait_for("one pod on the bad image", 20, || async {
        let v = pods_by_node(&pods, "rb").await;
        let bad: Vec<&(String, Pod)> = v
            .iter()
            .filter(|(_, p)| {
                p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("bad:1")
            })
            .collect();
        (v.len() == 3 && bad.len() == 1).then(|| bad[0].0.clone())
    })
    .await;

    // Rolling back replaces only the bad pod; the others keep running untouched.
    dss.patch("rb", &PatchParams::default(), &image("pause:1"))
        .await
        .unwrap();
    wait_for("rolled back", 20, || async {
        let v = pods_by_node(&pods, "rb").await;
        let all_good = v.len() == 3
            && v.iter().all(|(_, p)| {
                p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("pause:1")
            });
        all_good.then_some(())
    })
    .await;
    let now: Vec<(String, Option<String>)> = pods_by_node(&pods, "rb")
        .await
        .into_iter()
        .map(|(n, p)| (n, p.metadata.uid))
        .collect();
    for ((node_before, uid_before), (node_now, uid_now)) in original.iter().zip(&now) {
        assert_eq!(node_before, node_now);
        if *node_now == bad_node {
            assert_ne!(uid_before, uid_now);
        } else {
            assert_eq!(uid_before, uid_now, "pod on {node_now} was restarted");
        }
    }
    cluster.stop().await;
}
