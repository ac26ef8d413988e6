//! namespace-controller against a real apiserver: deleting a namespace deletes its content,
//! reports what remains through the upstream conditions, and finalizes the namespace once
//! it is empty (sig-api-machinery namespace deletion behaviour).

use crate::common::{wait_for, Cluster};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_removes_content_then_the_namespace() {
    let cluster = Cluster::start("namespace").await;
    let ns = "doomed";
    cluster.namespace(ns).await;
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let nss: Api<Namespace> = Api::all(cluster.client.clone());
    let pp = PostParams::default();
    cms.create(
        &pp,
        &serde_json::from_value(json!({"metadata": {"name": "plain"}})).unwrap(),
    )
    .await
    .unwrap();
    cms.create(
        &pp,
        &serde_json::from_value(json!({
            "metadata": {"name": "held", "finalizers": ["example.com/hold"]}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    secrets
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": "s"}})).unwrap(),
        )
        .await
        .unwrap();
    pods.create(
        &pp,
        &serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
        }))
        .unwrap(),
    )
    .await
    .unwrap();

    nss.delete(ns, &Default::default()).await.unwrap();

    // Everything without a finalizer goes; the held ConfigMap stays and is reported.
    let n = wait_for("finalizer reported", 20, || async {
        let n = nss.get(ns).await.unwrap();
        let conds = n.status.as_ref()?.conditions.clone()?;
        conds
            .iter()
            .any(|c| {
                c.type_ == "NamespaceFinalizersRemaining"
                    && c.status == "True"
                    && c.reason.as_deref() == Some("SomeFinalizersRemain")
            })
            .then_some(n)
    })
    .await;
    assert_eq!(
        n.status.as_ref().unwrap().phase.as_deref(),
        Some("Terminating")
    );
    let conds = n.status.unwrap().conditions.unwrap();
    let remaining = conds
        .iter()
        .find(|c| c.type_ == "NamespaceContentRemaining")
        .unwrap();
    assert_eq!(remaining.status, "True");
    assert_eq!(
        remaining.message.as_deref(),
        Some("Some resources are remaining: configmaps. has 1 resource instances")
    );
    assert_eq!(
        conds
            .iter()
            .find(|c| c.type_ == "NamespaceFinalizersRemaining")
            .unwrap()
            .message
            .as_deref(),
        Some("Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
    );
    assert!(cms.get_opt("plain").await.unwrap().is_none());
    assert!(secrets.get_opt("s").await.unwrap().is_none());
    assert!(pods.get_opt("p").await.unwrap().is_none());

    // Releasing the finalizer lets the namespace go.
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    wait_for("namespace gone", 20, || async {
        nss.get_opt(ns).await.unwrap().is_none().then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_deleted_before_other_content() {
    let cluster = Cluster::start("namespace").await;
    let ns = "ordered";
    cluster.namespace(ns).await;
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let nss: Api<Namespace> = Api::all(cluster.client.clone());
    let pp = PostParams::default();
    cms.create(
        &pp,
        &serde_json::from_value(json!({"metadata": {"name": "config"}})).unwrap(),
    )
    .await
    .unwrap();
    // A finalizer keeps the pod around after its deletion.
    pods.create(
        &pp,
        &serde_json::from_value(json!({
            "metadata": {"name": "held", "finalizers": ["example.com/hold"]},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    nss.delete(ns, &Default::default()).await.unwrap();
    wait_for("pod terminating and reported", 20, || async {
        let p = pods.get("held").await.unwrap();
        let n = nss.get(ns).await.unwrap();
        let reported = n.status?.conditions?.iter().any(|c| {
            c.type_ == "NamespaceContentRemaining"
                && c.message.as_deref()
                    == Some("Some resources are remaining: pods. has 1 resource instances")
        });
        (p.metadata.deletion_timestamp.is_some() && reported).then_some(())
    })
    .await;
    // While the pod remains, the ConfigMap is untouched.
    assert!(cms.get_opt("config").await.unwrap().is_some());
    pods.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    wait_for("namespace gone", 20, || async {
        nss.get_opt(ns).await.unwrap().is_none().then_some(())
    })
    .await;
    cluster.stop().await;
}
