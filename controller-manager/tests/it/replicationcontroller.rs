//! ReplicationController controller (the ReplicaSet logic over converted objects) against
//! a real apiserver; cases follow the sig-apps ReplicationController conformance
//! descriptions (serve a basic image, adopt matching pods on creation, release no longer
//! matching pods, scale and status).

use crate::common::{kubelet_readies_all, wait_for, Cluster};
use k8s_openapi::api::core::v1::{Event, Pod, ReplicationController};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

fn rc(name: &str, replicas: i32) -> ReplicationController {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"name": name},
            "template": {
                "metadata": {"labels": {"name": name}},
                "spec": {"containers": [{"name": "c", "image": "pause:1"}]}
            }
        }
    }))
    .unwrap()
}

async fn owned_pods(pods: &Api<Pod>, name: &str, uid: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(&format!("name={name}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.metadata.owner_references.as_ref().is_some_and(|rs| {
                rs.iter().any(|r| {
                    r.uid == uid
                        && r.kind == "ReplicationController"
                        && r.api_version == "v1"
                        && r.controller == Some(true)
                })
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicationcontroller_creates_adopts_scales_and_reports_status() {
    let cluster = Cluster::start("replicationcontroller").await;
    let c = cluster.client.clone();
    let ns = "rc-basic";
    cluster.namespace(ns).await;
    let rcs: Api<ReplicationController> = Api::namespaced(c.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);

    // An orphan that matches is adopted rather than duplicated.
    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "pod-adoption", "labels": {"name": "web"}},
        "spec": {"containers": [{"name": "c", "image": "pause:1"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &orphan).await.unwrap();
    let created = rcs
        .create(&PostParams::default(), &rc("web", 2))
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let owned = wait_for("2 owned pods", 20, || async {
        let v = owned_pods(&pods, "web", &uid).await;
        (v.len() == 2).then_some(v)
    })
    .await;
    assert!(owned
        .iter()
        .any(|p| p.metadata.name.as_deref() == Some("pod-adoption")));

    kubelet_readies_all(&c, ns).await;
    wait_for("status", 20, || async {
        let st = rcs.get("web").await.unwrap().status?;
        (st.replicas == 2
            && st.ready_replicas == Some(2)
            && st.available_replicas == Some(2)
            && st.fully_labeled_replicas == Some(2)
            && st.observed_generation == created.metadata.generation)
            .then_some(())
    })
    .await;
    let events = Api::<Event>::namespaced(c.clone(), ns);
    wait_for("SuccessfulCreate event on the RC", 20, || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("SuccessfulCreate")
                    && e.involved_object.kind.as_deref() == Some("ReplicationController")
                    && e.source.as_ref().and_then(|s| s.component.as_deref())
                        == Some("replication-controller")
            })
            .then_some(())
    })
    .await;

    // A pod relabelled out of the selector is released and replaced.
    pods.patch(
        "pod-adoption",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"name": "other"}}})),
    )
    .await
    .unwrap();
    wait_for("released pod", 20, || async {
        let p = pods.get("pod-adoption").await.unwrap();
        p.metadata
            .owner_references
            .is_none_or(|r| r.is_empty())
            .then_some(())
    })
    .await;
    wait_for("replacement", 20, || async {
        (owned_pods(&pods, "web", &uid).await.len() == 2).then_some(())
    })
    .await;

    rcs.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 0}})),
    )
    .await
    .unwrap();
    wait_for("scaled to zero", 20, || async {
        let st = rcs.get("web").await.unwrap().status?;
        (owned_pods(&pods, "web", &uid).await.is_empty() && st.replicas == 0).then_some(())
    })
    .await;
    cluster.stop().await;
}
