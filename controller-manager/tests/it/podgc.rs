//! Pod garbage collector against a real apiserver, after upstream's podgc behaviour (and
//! the PodGC parts of the sig-node conformance descriptions): terminated pods above
//! `--terminated-pod-gc-threshold` are deleted oldest first, pods bound to a node that no
//! longer exists are deleted after the quarantine, terminating unscheduled pods are marked
//! Failed and force-deleted. The gc period and quarantine are shortened with Rudder's hidden
//! flags.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

use crate::common::{wait_for, Cluster};

fn pod(name: &str, node: Option<&str>) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
        }
    }))
    .unwrap()
}

async fn names(pods: &Api<Pod>) -> Vec<String> {
    let mut v: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podgc_deletes_terminated_over_threshold_orphans_and_unscheduled_terminating() {
    let cluster = Cluster::start_with_args(&[
        "--controllers=podgc",
        "--leader-elect=false",
        "--terminated-pod-gc-threshold=2",
        "--pod-gc-period=200ms",
        "--pod-gc-orphan-quarantine=1s",
    ])
    .await;
    let ns = "podgc";
    cluster.namespace(ns).await;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    let real: Node = serde_json::from_value(json!({"metadata": {"name": "real"}})).unwrap();
    nodes.create(&PostParams::default(), &real).await.unwrap();

    // Four finished pods, created in name order (ties in creationTimestamp break on name);
    // the threshold of 2 keeps the newest terminated pods.
    for i in 0..4 {
        let name = format!("done-{i}");
        pods.create(&PostParams::default(), &pod(&name, Some("real")))
            .await
            .unwrap();
        pods.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Succeeded"}})),
        )
        .await
        .unwrap();
    }
    // A running pod on a node that exists stays.
    pods.create(&PostParams::default(), &pod("running", Some("real")))
        .await
        .unwrap();
    // An unscheduled pod held by a finalizer while being deleted: podgc marks it Failed
    // and force-deletes it (the finalizer keeps the object until removed).
    let mut held = pod("held", None);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    pods.create(&PostParams::default(), &held).await.unwrap();
    pods.delete("held", &DeleteParams::default()).await.unwrap();

    // Once podgc marks "held" Failed it counts as terminated too (as upstream), so of the
    // five terminated pods the two newest stay: done-3 and held.
    wait_for("podgc to settle", 20, || async {
        let n = names(&pods).await;
        (n == ["done-3", "held", "running"]).then_some(())
    })
    .await;
    wait_for("terminating unscheduled pod marked Failed", 10, || async {
        let p = pods.get("held").await.unwrap();
        (p.status.and_then(|s| s.phase).as_deref() == Some("Failed")).then_some(())
    })
    .await;
    pods.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    wait_for("finalizer-free held pod gone", 10, || async {
        let n = names(&pods).await;
        (n == ["done-3", "running"]).then_some(())
    })
    .await;

    // A pod bound to a node that never existed goes after the quarantine. It is created
    // only now because podgc marks it Failed before deleting it, so for a moment it counts
    // as terminated (as upstream): next to five terminated pods it could push done-3 over
    // the threshold; next to one it cannot.
    pods.create(&PostParams::default(), &pod("orphan", Some("ghost")))
        .await
        .unwrap();
    wait_for("orphaned pod deleted", 20, || async {
        let n = names(&pods).await;
        (n == ["done-3", "running"]).then_some(())
    })
    .await;
    // The running pod on the real node was never touched.
    let r = pods.get("running").await.unwrap();
    assert_ne!(r.status.and_then(|s| s.phase).as_deref(), Some("Failed"));
    cluster.stop().await;
}
