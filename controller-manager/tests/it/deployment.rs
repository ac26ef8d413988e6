//! Deployment controller (with the ReplicaSet controller) against a real apiserver; cases
//! follow the sig-apps Deployment conformance descriptions (RollingUpdate, Recreate,
//! revision history) and check status the way `kubectl rollout status` reads it.

use crate::common::{kubelet_readies_all, wait_for, Cluster};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

fn deployment(name: &str, replicas: i32, strategy: serde_json::Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 1,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]}
            }
        }
    }))
    .unwrap()
}

/// `kubectl rollout status` succeeds: observed, all updated, no old replicas, all available.
fn rolled_out(d: &Deployment) -> bool {
    let want = d.spec.as_ref().unwrap().replicas.unwrap();
    let Some(s) = d.status.as_ref() else {
        return false;
    };
    s.observed_generation >= d.metadata.generation
        && s.updated_replicas == Some(want)
        && s.replicas == Some(want)
        && s.available_replicas == Some(want)
        && s.conditions.iter().flatten().any(|c| {
            c.type_ == "Progressing" && c.reason.as_deref() == Some("NewReplicaSetAvailable")
        })
}

async fn roll_out(cluster: &Cluster, ns: &str, name: &str) -> Deployment {
    let ds: Api<Deployment> = Api::namespaced(cluster.client.clone(), ns);
    wait_for("rollout complete", 30, || async {
        kubelet_readies_all(&cluster.client, ns).await;
        let d = ds.get(name).await.unwrap();
        rolled_out(&d).then_some(d)
    })
    .await
}

fn template_hash(rs: &ReplicaSet) -> String {
    rs.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_replaces_pods_and_keeps_history() {
    let cluster = Cluster::start("deployment,replicaset").await;
    let ns = "deploy-rolling";
    cluster.namespace(ns).await;
    let ds: Api<Deployment> = Api::namespaced(cluster.client.clone(), ns);
    let rss: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    ds.create(
        &PostParams::default(),
        &deployment(
            "web",
            3,
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}),
        ),
    )
    .await
    .unwrap();
    let d = roll_out(&cluster, ns, "web").await;
    assert_eq!(
        d.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"],
        "1"
    );
    let first = rss.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(first.len(), 1);
    let first = &first[0];
    let hash = template_hash(first);
    assert_eq!(
        first.metadata.name.as_deref(),
        Some(format!("web-{hash}").as_str())
    );
    assert_eq!(
        first
            .spec
            .as_ref()
            .unwrap()
            .selector
            .match_labels
            .as_ref()
            .unwrap()["pod-template-hash"],
        hash
    );
    let a = first.metadata.annotations.as_ref().unwrap();
    assert_eq!(a["deployment.kubernetes.io/revision"], "1");
    assert_eq!(a["deployment.kubernetes.io/desired-replicas"], "3");
    assert_eq!(a["deployment.kubernetes.io/max-replicas"], "4");
    for p in pods.list(&ListParams::default()).await.unwrap().items {
        assert_eq!(p.metadata.labels.unwrap()["pod-template-hash"], hash);
    }

    // New image: a second ReplicaSet at revision 2 takes over; the first is scaled to 0.
    ds.patch(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "registry.k8s.io/pause:3.10"}
        ]}}}})),
    )
    .await
    .unwrap();
    let d = roll_out(&cluster, ns, "web").await;
    assert_eq!(
        d.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"],
        "2"
    );
    let all = rss.list(&ListParams::default()).await.unwrap().items;
    let old = all.iter().find(|r| template_hash(r) == hash).unwrap();
    assert_eq!(old.spec.as_ref().unwrap().replicas, Some(0));
    let new = all.iter().find(|r| template_hash(r) != hash).unwrap();
    assert_eq!(new.spec.as_ref().unwrap().replicas, Some(3));
    assert_eq!(
        new.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"],
        "2"
    );

    // A third template: with revisionHistoryLimit 1 only one old ReplicaSet stays.
    ds.patch(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "registry.k8s.io/pause:3.8"}
        ]}}}})),
    )
    .await
    .unwrap();
    roll_out(&cluster, ns, "web").await;
    wait_for("old replica sets pruned", 20, || async {
        (rss.list(&ListParams::default()).await.unwrap().items.len() == 2).then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_deletes_old_pods_before_creating_new_ones() {
    let cluster = Cluster::start("deployment,replicaset").await;
    let ns = "deploy-recreate";
    cluster.namespace(ns).await;
    let ds: Api<Deployment> = Api::namespaced(cluster.client.clone(), ns);
    let rss: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), ns);
    ds.create(
        &PostParams::default(),
        &deployment("db", 2, json!({"type": "Recreate"})),
    )
    .await
    .unwrap();
    roll_out(&cluster, ns, "db").await;
    let old_hash = template_hash(&rss.list(&ListParams::default()).await.unwrap().items[0]);
    ds.patch(
        "db",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "registry.k8s.io/pause:3.10"}
        ]}}}})),
    )
    .await
    .unwrap();
    // Watch the pods as the rollout proceeds: old and new pods never coexist.
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    wait_for("recreate rollout", 30, || async {
        let ps: Vec<Pod> = pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let hashes: std::collections::BTreeSet<String> = ps
            .iter()
            .map(|p| p.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone())
            .collect();
        assert!(
            hashes.len() <= 1,
            "old and new pods ran together: {hashes:?}"
        );
        kubelet_readies_all(&cluster.client, ns).await;
        let d = ds.get("db").await.unwrap();
        (rolled_out(&d) && !hashes.contains(&old_hash) && !hashes.is_empty()).then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_subresource_resizes_the_replicaset() {
    let cluster = Cluster::start("deployment,replicaset").await;
    let ns = "deploy-scale";
    cluster.namespace(ns).await;
    let ds: Api<Deployment> = Api::namespaced(cluster.client.clone(), ns);
    let rss: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), ns);
    ds.create(
        &PostParams::default(),
        &deployment("api", 1, json!({"type": "RollingUpdate"})),
    )
    .await
    .unwrap();
    roll_out(&cluster, ns, "api").await;
    let scale = ds.get_scale("api").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(1));
    ds.patch_scale(
        "api",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 3}})),
    )
    .await
    .unwrap();
    roll_out(&cluster, ns, "api").await;
    let all = rss.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(all.len(), 1, "scaling does not start a new rollout");
    assert_eq!(all[0].spec.as_ref().unwrap().replicas, Some(3));
    assert_eq!(
        all[0].metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/desired-replicas"],
        "3"
    );
    cluster.stop().await;
}
