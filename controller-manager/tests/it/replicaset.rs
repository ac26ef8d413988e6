//! ReplicaSet controller against a real apiserver; cases follow the sig-apps ReplicaSet
//! conformance descriptions (scale, adopt matching pods, release non-matching pods, status).

use crate::common::{kubelet_readies_all, wait_for, Cluster};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

fn replicaset(name: &str, replicas: i32, app: &str) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
            }
        }
    }))
    .unwrap()
}

async fn active_pods(pods: &Api<Pod>, selector: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicaset_creates_scales_and_reports_status() {
    let cluster = Cluster::start("replicaset").await;
    let ns = "rs-basic";
    cluster.namespace(ns).await;
    let rss: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    rss.create(&PostParams::default(), &replicaset("web", 3, "web"))
        .await
        .unwrap();

    // Three pods, each owned by the ReplicaSet through a controller reference.
    let created = wait_for("3 pods", 20, || async {
        let ps = active_pods(&pods, "app=web").await;
        (ps.len() == 3).then_some(ps)
    })
    .await;
    let rs = rss.get("web").await.unwrap();
    for p in &created {
        assert!(p.metadata.name.as_deref().unwrap().starts_with("web-"));
        let r = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(r.kind, "ReplicaSet");
        assert_eq!(Some(&r.uid), rs.metadata.uid.as_ref());
        assert_eq!(r.controller, Some(true));
        assert_eq!(r.block_owner_deletion, Some(true));
    }

    // Each creation is recorded as an event on the ReplicaSet (`kubectl describe rs`).
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(cluster.client.clone(), ns);
    wait_for("SuccessfulCreate events", 20, || async {
        let n = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| {
                e.reason.as_deref() == Some("SuccessfulCreate")
                    && e.involved_object.name.as_deref() == Some("web")
                    && e.message
                        .as_deref()
                        .is_some_and(|m| m.starts_with("Created pod: web-"))
            })
            .count();
        (n == 3).then_some(())
    })
    .await;

    // The "kubelet" reports them ready: status follows.
    wait_for("status ready 3", 20, || async {
        kubelet_readies_all(&cluster.client, ns).await;
        let s = rss.get("web").await.unwrap().status.unwrap_or_default();
        (s.replicas == 3
            && s.ready_replicas == Some(3)
            && s.available_replicas == Some(3)
            && s.fully_labeled_replicas == Some(3)
            && s.observed_generation == rs.metadata.generation)
            .then_some(())
    })
    .await;

    // Scale down through the scale subresource, as `kubectl scale` does.
    rss.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    wait_for("1 pod and status", 20, || async {
        let n = active_pods(&pods, "app=web").await.len();
        let rs = rss.get("web").await.unwrap();
        let s = rs.status.unwrap_or_default();
        (n == 1 && s.replicas == 1 && s.observed_generation == rs.metadata.generation).then_some(())
    })
    .await;

    // Scale up again.
    rss.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 2}})),
    )
    .await
    .unwrap();
    wait_for("2 pods", 20, || async {
        (active_pods(&pods, "app=web").await.len() == 2).then_some(())
    })
    .await;

    // A pod deleted behind the controller's back is replaced.
    let victim = active_pods(&pods, "app=web").await[0]
        .metadata
        .name
        .clone()
        .unwrap();
    pods.delete(&victim, &Default::default()).await.unwrap();
    wait_for("replacement pod", 20, || async {
        let ps = active_pods(&pods, "app=web").await;
        (ps.len() == 2
            && ps
                .iter()
                .all(|p| p.metadata.name.as_deref() != Some(&victim)))
        .then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicaset_adopts_matching_pods_and_releases_non_matching() {
    let cluster = Cluster::start("replicaset").await;
    let ns = "rs-adopt";
    cluster.namespace(ns).await;
    let rss: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);

    // An orphan pod exists first.
    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "pod-adoption-release", "labels": {"name": "pod-adoption-release"}},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &orphan).await.unwrap();
    rss.create(
        &PostParams::default(),
        &replicaset("pod-adoption-release", 1, "pod-adoption-release").tap_selector("name"),
    )
    .await
    .unwrap();
    let rs = rss.get("pod-adoption-release").await.unwrap();
    let uid = rs.metadata.uid.clone().unwrap();

    // Adopted, not replaced: the orphan gets the controller reference, and no second pod.
    wait_for("adoption", 20, || async {
        let p = pods.get("pod-adoption-release").await.unwrap();
        p.metadata
            .owner_references
            .unwrap_or_default()
            .iter()
            .any(|r| r.uid == uid && r.controller == Some(true))
            .then_some(())
    })
    .await;
    assert_eq!(
        active_pods(&pods, "name=pod-adoption-release").await.len(),
        1,
        "the orphan was adopted instead of a new pod being created"
    );

    // Relabel it: released (controller reference removed) and replaced.
    pods.patch(
        "pod-adoption-release",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"name": "not-matching"}}})),
    )
    .await
    .unwrap();
    wait_for("release", 20, || async {
        let p = pods.get("pod-adoption-release").await.unwrap();
        (!p.metadata
            .owner_references
            .unwrap_or_default()
            .iter()
            .any(|r| r.uid == uid))
        .then_some(())
    })
    .await;
    wait_for("replacement", 20, || async {
        (active_pods(&pods, "name=pod-adoption-release").await.len() == 1).then_some(())
    })
    .await;
    cluster.stop().await;
}

/// Rewrites the test ReplicaSet to select and template on label key `key`.
trait TapSelector {
    fn tap_selector(self, key: &str) -> Self;
}

impl TapSelector for ReplicaSet {
    fn tap_selector(mut self, key: &str) -> Self {
        let spec = self.spec.as_mut().unwrap();
        let app = spec
            .selector
            .match_labels
            .take()
            .unwrap()
            .remove("app")
            .unwrap();
        spec.selector.match_labels = Some([(key.to_string(), app.clone())].into());
        spec.template
            .as_mut()
            .unwrap()
            .metadata
            .as_mut()
            .unwrap()
            .labels = Some([(key.to_string(), app)].into());
        self
    }
}
