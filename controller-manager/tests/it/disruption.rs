//! disruption-controller, mirroring the conformance descriptions "PodDisruptionBudget:
//! Status updates" (the controller MUST update the PDB status with how many disruptions are
//! allowed) and "block an eviction until the PDB is updated to allow it", and upstream's
//! handling of `status.disruptedPods` (pods the eviction subresource is deleting do not
//! count as healthy for 2 minutes; their entries go once the pod is gone or expired).

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

use crate::common::{kubelet_marks_running_ready, kubelet_readies_all, wait_for, Cluster};

async fn status_of(
    api: &Api<PodDisruptionBudget>,
    name: &str,
) -> Option<k8s_openapi::api::policy::v1::PodDisruptionBudgetStatus> {
    api.get(name).await.ok()?.status
}

fn allowed_condition(
    pdb: &k8s_openapi::api::policy::v1::PodDisruptionBudgetStatus,
) -> (String, String) {
    let c = pdb
        .conditions
        .as_ref()
        .and_then(|c| c.iter().find(|c| c.type_ == "DisruptionAllowed"))
        .expect("DisruptionAllowed condition");
    (c.status.clone(), c.reason.clone())
}

/// A client that reports 429 instead of retrying it (kube retries 429 by default).
async fn no_retry_client(c: &Cluster) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(c.kubeconfig()).unwrap();
    let mut cfg =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
    cfg.default_retry = false;
    kube::Client::try_from(cfg).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_healthy_pods_and_blocks_eviction() {
    let c = Cluster::start("disruption").await;
    let ns = "pdb";
    c.namespace(ns).await;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(no_retry_client(&c).await, ns);
    for name in ["p1", "p2", "p3"] {
        pods.create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {"app": "db"}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    }
    let pdb = pdbs
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "db"},
                "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}}
            }))
            .unwrap(),
        )
        .await
        .unwrap();

    // No pod is ready yet: nothing may be disrupted.
    let st = wait_for("initial status", 20, || async {
        status_of(&pdbs, "db")
            .await
            .filter(|s| s.observed_generation == pdb.metadata.generation && s.expected_pods == 3)
    })
    .await;
    assert_eq!(
        (
            st.current_healthy,
            st.desired_healthy,
            st.disruptions_allowed
        ),
        (0, 2, 0)
    );
    assert_eq!(
        allowed_condition(&st),
        ("False".into(), "InsufficientPods".into())
    );

    // Eviction is refused while the budget allows none (for a Running pod: a Pending one
    // would be deleted whatever the budget, as upstream's canIgnorePDB).
    pods.patch_status(
        "p1",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .unwrap();
    let evict = pods.evict("p1", &Default::default()).await;
    assert!(
        matches!(&evict, Err(kube::Error::Api(s)) if s.code == 429),
        "eviction should be blocked: {evict:?}"
    );

    // Pods becoming ready are counted as they change.
    assert_eq!(kubelet_readies_all(&c.client, ns).await, 3);
    let st = wait_for("one disruption allowed", 20, || async {
        status_of(&pdbs, "db")
            .await
            .filter(|s| s.current_healthy == 3 && s.disruptions_allowed == 1)
    })
    .await;
    assert_eq!(
        allowed_condition(&st),
        ("True".into(), "SufficientPods".into())
    );

    // Raising the bar (a spec update) is observed with the new generation.
    let updated = pdbs
        .patch(
            "db",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minAvailable": 3}})),
        )
        .await
        .unwrap();
    let st = wait_for("no disruption allowed after update", 20, || async {
        status_of(&pdbs, "db")
            .await
            .filter(|s| s.observed_generation == updated.metadata.generation)
    })
    .await;
    assert_eq!((st.desired_healthy, st.disruptions_allowed), (3, 0));
    let evict = pods.evict("p2", &Default::default()).await;
    assert!(matches!(&evict, Err(kube::Error::Api(s)) if s.code == 429));

    // Allowing it again lets the eviction through.
    pdbs.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 2}})),
    )
    .await
    .unwrap();
    wait_for("disruption allowed again", 20, || async {
        status_of(&pdbs, "db")
            .await
            .filter(|s| s.disruptions_allowed == 1)
    })
    .await;
    pods.evict("p2", &Default::default()).await.unwrap();
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percentages_use_the_controller_scale() {
    let c = Cluster::start("disruption,replicaset").await;
    let ns = "pdbpct";
    c.namespace(ns).await;
    let rss: Api<ReplicaSet> = Api::namespaced(c.client.clone(), ns);
    rss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web", "tier": "rs"}},
                "template": {"metadata": {"labels": {"app": "web", "tier": "rs"}},
                    "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.client.clone(), ns);
    pdbs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"maxUnavailable": "30%", "selector": {"matchLabels": {"app": "web"}}}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    wait_for("four ready pods", 20, || async {
        (kubelet_readies_all(&c.client, ns).await == 4).then_some(())
    })
    .await;
    // 30% of 4 rounds up to 2 unavailable: desired 2, so 2 disruptions allowed.
    let st = wait_for("percent status", 20, || async {
        status_of(&pdbs, "web")
            .await
            .filter(|s| s.current_healthy == 4)
    })
    .await;
    assert_eq!(
        (st.expected_pods, st.desired_healthy, st.disruptions_allowed),
        (4, 2, 2)
    );

    // A pod without a controller makes a percentage budget fail safe. (It matches the
    // budget's selector but not the ReplicaSet's, so the ReplicaSet does not adopt it.)
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), ns);
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "stray", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    kubelet_marks_running_ready(&c.client, ns, "stray").await;
    let st = wait_for("sync failed", 20, || async {
        status_of(&pdbs, "web").await.filter(|s| {
            s.conditions
                .as_ref()
                .is_some_and(|c| c.iter().any(|c| c.reason == "SyncFailed"))
        })
    })
    .await;
    assert_eq!(st.disruptions_allowed, 0);
    let cond = st.conditions.unwrap().into_iter().next().unwrap();
    assert_eq!(cond.message, "found no controller ref for pod \"stray\"");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disrupted_pods_are_not_healthy_until_deleted_or_expired() {
    let c = Cluster::start("disruption").await;
    let ns = "pdbd";
    c.namespace(ns).await;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(no_retry_client(&c).await, ns);
    for name in ["p1", "p2", "p3", "p4"] {
        pods.create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {"app": "db"}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    }
    assert_eq!(kubelet_readies_all(&c.client, ns).await, 4);
    pdbs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "db"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    wait_for("two disruptions allowed", 20, || async {
        status_of(&pdbs, "db")
            .await
            .filter(|s| s.current_healthy == 4 && s.disruptions_allowed == 2)
    })
    .await;

    // A real eviction: the apiserver takes the budget and lists p1; the pod (unbound, so
    // deleted at once) is gone, and the controller drops its entry and counts 3 healthy.
    pods.evict("p1", &Default::default()).await.unwrap();
    let st = wait_for("p1's entry dropped after its deletion", 20, || async {
        status_of(&pdbs, "db")
            .await
            .filter(|s| s.current_healthy == 3 && s.disrupted_pods.is_none())
    })
    .await;
    assert_eq!(st.disruptions_allowed, 1);

    // An eviction whose delete has not happened yet (as between the budget write and the
    // pod deletion, or when the delete failed): p2 listed a moment ago is not healthy.
    let now = k8s_openapi::jiff::Timestamp::now();
    pdbs.patch_status(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"disruptedPods": {"p2": now.to_string()}}})),
    )
    .await
    .unwrap();
    let st = wait_for("p2 not counted while being disrupted", 20, || async {
        status_of(&pdbs, "db")
            .await
            .filter(|s| s.current_healthy == 2)
    })
    .await;
    assert_eq!(st.disruptions_allowed, 0);
    assert_eq!(
        st.disrupted_pods
            .as_ref()
            .map(|d| d.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["p2".to_string()])
    );
    // ... so a further eviction is refused.
    let evict = pods.evict("p3", &Default::default()).await;
    assert!(
        matches!(&evict, Err(kube::Error::Api(s)) if s.code == 429),
        "{evict:?}"
    );

    // Past upstream's 2-minute DeletionTimeout the entry is dropped, p2 counts again, and a
    // NotDeleted event says so.
    let stale = now - k8s_openapi::jiff::SignedDuration::from_secs(121);
    pdbs.patch_status(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"disruptedPods": {"p2": stale.to_string()}}})),
    )
    .await
    .unwrap();
    let st = wait_for("expired entry dropped", 20, || async {
        status_of(&pdbs, "db")
            .await
            .filter(|s| s.current_healthy == 3 && s.disrupted_pods.is_none())
    })
    .await;
    assert_eq!(st.disruptions_allowed, 1);
    let events: Api<Event> = Api::namespaced(c.client.clone(), ns);
    wait_for("NotDeleted event", 20, || async {
        events
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("NotDeleted")
                    && e.involved_object.name.as_deref() == Some("p2")
                    && e.message.as_deref()
                        == Some("Pod was expected by PDB pdbd/db to be deleted but it wasn't")
            })
    })
    .await;
    c.stop().await;
}
