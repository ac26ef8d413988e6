//! garbage-collector-controller against a real apiserver: background cascading deletion
//! of a Deployment, orphaning, and foreground deletion (sig-api-machinery Garbage collector
//! conformance descriptions).

use crate::common::{wait_for, Cluster};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::Api;
use serde_json::json;

async fn configmap(api: &Api<ConfigMap>, name: &str, owner: Option<&ConfigMap>) -> ConfigMap {
    let mut meta = json!({"name": name});
    if let Some(o) = owner {
        meta["ownerReferences"] = json!([{
            "apiVersion": "v1", "kind": "ConfigMap",
            "name": o.metadata.name, "uid": o.metadata.uid,
            "blockOwnerDeletion": true
        }]);
    }
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": meta})).unwrap(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_deployment_deletes_its_replicasets_and_pods() {
    let cluster = Cluster::start("deployment,replicaset,garbagecollector").await;
    let ns = "gc-deploy";
    cluster.namespace(ns).await;
    let ds: Api<Deployment> = Api::namespaced(cluster.client.clone(), ns);
    let rss: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    ds.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}
            }
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    wait_for("2 pods", 20, || async {
        (pods.list(&ListParams::default()).await.unwrap().items.len() == 2).then_some(())
    })
    .await;
    // kubectl delete: background propagation.
    ds.delete("web", &DeleteParams::background()).await.unwrap();
    wait_for("replica sets and pods collected", 20, || async {
        let r = rss.list(&ListParams::default()).await.unwrap().items.len();
        let p = pods.list(&ListParams::default()).await.unwrap().items.len();
        (r == 0 && p == 0).then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_and_foreground_propagation() {
    let cluster = Cluster::start("garbagecollector").await;
    let ns = "gc-policies";
    cluster.namespace(ns).await;
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), ns);

    // Orphan: the dependent survives without the owner reference.
    let owner = configmap(&cms, "orphan-owner", None).await;
    configmap(&cms, "orphan-dep", Some(&owner)).await;
    cms.delete("orphan-owner", &DeleteParams::orphan())
        .await
        .unwrap();
    wait_for("owner gone", 20, || async {
        cms.get_opt("orphan-owner")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let dep = cms.get("orphan-dep").await.unwrap();
    assert!(dep.metadata.owner_references.unwrap_or_default().is_empty());

    // Foreground: the owner stays (with its finalizer) until the dependent is gone.
    let owner = configmap(&cms, "fg-owner", None).await;
    configmap(&cms, "fg-dep", Some(&owner)).await;
    cms.delete("fg-owner", &DeleteParams::foreground())
        .await
        .unwrap();
    wait_for("owner and dependent gone", 20, || async {
        let o = cms.get_opt("fg-owner").await.unwrap();
        let d = cms.get_opt("fg-dep").await.unwrap();
        if let Some(o) = &o {
            // While the owner exists, it still carries the foreground finalizer.
            assert!(
                o.metadata
                    .finalizers
                    .iter()
                    .flatten()
                    .any(|f| f == "foregroundDeletion")
                    || d.is_none()
            );
        }
        (o.is_none() && d.is_none()).then_some(())
    })
    .await;

    // A dependent whose owner never existed is collected.
    let ghost: ConfigMap = serde_json::from_value(json!({"metadata": {
        "name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"
    }}))
    .unwrap();
    configmap(&cms, "haunted", Some(&ghost)).await;
    wait_for("dangling dependent collected", 20, || async {
        cms.get_opt("haunted")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    cluster.stop().await;
}
