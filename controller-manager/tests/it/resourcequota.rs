//! resourcequota-controller with the apiserver's ResourceQuota admission, mirroring the
//! conformance descriptions "ResourceQuota: object count quota (pod, service, configmap)":
//! the status reflects creations and deletions, and creates past the quota are refused.

use k8s_openapi::api::core::v1::{ConfigMap, Pod, ResourceQuota};
use kube::api::{DeleteParams, PostParams};
use kube::Api;
use serde_json::json;

use crate::common::{wait_for, Cluster};

async fn used(api: &Api<ResourceQuota>, name: &str, res: &str) -> Option<String> {
    let st = api.get(name).await.ok()?.status?;
    Some(st.used?.get(res)?.0.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_status_tracks_usage_and_admission_enforces_it() {
    let c = Cluster::start("resourcequota").await;
    let ns = "quota";
    c.namespace(ns).await;
    let rqs: Api<ResourceQuota> = Api::namespaced(c.client.clone(), ns);
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), ns);
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "before"}})).unwrap(),
    )
    .await
    .unwrap();
    rqs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "test-quota"},
            "spec": {"hard": {"pods": "1", "configmaps": "2", "requests.cpu": "1",
                "count/replicasets.apps": "3", "resourcequotas": "1"}}}))
        .unwrap(),
    )
    .await
    .unwrap();
    // Status is calculated: hard mirrors spec, used counts what exists.
    let st = wait_for("status calculated", 20, || async {
        let st = rqs.get("test-quota").await.ok()?.status?;
        st.used.is_some().then_some(st)
    })
    .await;
    let used0 = st.used.unwrap();
    assert_eq!(st.hard.unwrap().len(), 5);
    assert_eq!(used0["configmaps"].0, "1");
    assert_eq!(used0["pods"].0, "0");
    assert_eq!(used0["resourcequotas"].0, "1");
    assert_eq!(used0["count/replicasets.apps"].0, "0");

    // A pod is charged, and a second one is refused.
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), ns);
    let pod = |n: &str| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": n}, "spec": {"containers": [
            {"name": "c", "image": "registry.k8s.io/pause:3.10",
             "resources": {"requests": {"cpu": "500m"}}}]}}))
        .unwrap()
    };
    pods.create(&PostParams::default(), &pod("p1"))
        .await
        .unwrap();
    wait_for("pod counted", 20, || async {
        (used(&rqs, "test-quota", "pods").await.as_deref() == Some("1")
            && used(&rqs, "test-quota", "requests.cpu").await.as_deref() == Some("500m"))
        .then_some(())
    })
    .await;
    match pods.create(&PostParams::default(), &pod("p2")).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403);
            assert_eq!(
                s.message,
                "pods \"p2\" is forbidden: exceeded quota: test-quota, requested: pods=1, used: pods=1, limited: pods=1"
            );
        }
        other => panic!("expected 403, got {other:?}"),
    }

    // Deleting releases the usage (replenishment), and the create then succeeds.
    pods.delete("p1", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    wait_for("pod gone and released", 20, || async {
        (pods.get_opt("p1").await.unwrap().is_none()
            && used(&rqs, "test-quota", "pods").await.as_deref() == Some("0"))
        .then_some(())
    })
    .await;
    pods.create(&PostParams::default(), &pod("p2"))
        .await
        .unwrap();
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_quota_counts_only_matching_pods() {
    let c = Cluster::start("resourcequota").await;
    let ns = "quotascope";
    c.namespace(ns).await;
    let rqs: Api<ResourceQuota> = Api::namespaced(c.client.clone(), ns);
    rqs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "besteffort"},
            "spec": {"hard": {"pods": "5"}, "scopes": ["BestEffort"]}}))
        .unwrap(),
    )
    .await
    .unwrap();
    // As upstream's e2e: creations are charged by admission once the controller has
    // published status.hard, so wait for it first.
    wait_for("status calculated", 20, || async {
        used(&rqs, "besteffort", "pods").await
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), ns);
    for (n, res) in [
        ("be", json!({})),
        ("burst", json!({"requests": {"cpu": "100m"}})),
    ] {
        pods.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": n}, "spec": {"containers": [
                {"name": "c", "image": "registry.k8s.io/pause:3.10", "resources": res}]}}))
            .unwrap(),
        )
        .await
        .unwrap();
    }
    wait_for("only the best-effort pod counted", 20, || async {
        (used(&rqs, "besteffort", "pods").await.as_deref() == Some("1")).then_some(())
    })
    .await;
    c.stop().await;
}
