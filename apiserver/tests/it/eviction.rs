//! pods/eviction against the running apiserver, after upstream's EvictionREST
//! (pkg/registry/core/pod/storage/eviction.go) and its tests: the budget is taken in one
//! compare-and-swap (disruptionsAllowed - 1, the pod in disruptedPods) before the delete,
//! a second eviction before the disruption controller recomputes gets 429 with the
//! DisruptionBudget cause, dry runs leave the budget alone, and pods that can ignore
//! budgets (terminal, Pending) are deleted directly.

use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::{json, Value};

use crate::common::start;

const NS: &str = "default";

/// A pod bound to a node (so its deletion is graceful and it stays visible while
/// terminating).
fn pod(name: &str, app: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]},
    }))
    .unwrap()
}

async fn set_pod_status(pods: &Api<Pod>, name: &str, phase: &str, ready: bool) {
    let status = if ready { "True" } else { "False" };
    pods.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": phase, "conditions": [
            {"type": "Ready", "status": status},
        ]}})),
    )
    .await
    .unwrap();
}

/// A budget over `app`, with the status the disruption controller would have written.
async fn budget(
    client: &kube::Client,
    name: &str,
    app: &str,
    allowed: i32,
    healthy: i32,
    desired: i32,
    extra_spec: Value,
) -> PodDisruptionBudget {
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NS);
    let mut spec = json!({"minAvailable": desired, "selector": {"matchLabels": {"app": app}}});
    for (k, v) in extra_spec.as_object().into_iter().flatten() {
        spec[k] = v.clone();
    }
    let created = pdbs
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap(),
        )
        .await
        .unwrap();
    pdbs.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "observedGeneration": created.metadata.generation,
            "disruptionsAllowed": allowed,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": healthy,
        }})),
    )
    .await
    .unwrap()
}

/// POSTs an Eviction and returns the status code, the Retry-After header and the body.
async fn evict(
    client: &kube::Client,
    name: &str,
    api_version: &str,
    delete_options: Value,
) -> (u16, Option<String>, Value) {
    let mut body = json!({"apiVersion": api_version, "kind": "Eviction", "metadata": {"name": name, "namespace": NS}});
    if !delete_options.is_null() {
        body["deleteOptions"] = delete_options;
    }
    let req = http::Request::post(format!("/api/v1/namespaces/{NS}/pods/{name}/eviction"))
        .header("content-type", "application/json")
        .body(kube::client::Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let code = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (code, retry, serde_json::from_slice(&bytes).unwrap())
}

fn disruption_target(p: &Pod) -> Option<(String, String)> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "DisruptionTarget")
        .map(|c| {
            (
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_takes_the_budget_then_429_until_the_controller_recomputes() {
    let ts = start(false).await;
    let pods: Api<Pod> = Api::namespaced(ts.client.clone(), NS);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(ts.client.clone(), NS);
    for p in ["db-1", "db-2"] {
        pods.create(&PostParams::default(), &pod(p, "db"))
            .await
            .unwrap();
        set_pod_status(&pods, p, "Running", true).await;
    }
    budget(&ts.client, "db", "db", 1, 2, 1, json!({})).await;

    let (code, retry, body) = evict(&ts.client, "db-1", "policy/v1", Value::Null).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(retry, None);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
    );
    // The budget was taken: one CAS wrote disruptionsAllowed 0, disruptedPods and the
    // condition.
    let pdb = pdbs.get("db").await.unwrap();
    let status = pdb.status.unwrap();
    assert_eq!(status.disruptions_allowed, 0);
    let disrupted = status.disrupted_pods.unwrap();
    assert_eq!(disrupted.keys().collect::<Vec<_>>(), vec!["db-1"]);
    let cond = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "DisruptionAllowed")
        .unwrap();
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_str()),
        ("False", "InsufficientPods")
    );
    // The pod is terminating, marked as the eviction's target.
    let p = pods.get("db-1").await.unwrap();
    assert!(p.metadata.deletion_timestamp.is_some());
    assert_eq!(
        disruption_target(&p),
        Some((
            "EvictionByEvictionAPI".to_string(),
            "Eviction API: evicting".to_string()
        ))
    );

    // A second eviction before the controller recomputes: 429 with the budget's cause and
    // no Retry-After (upstream passes 0 seconds).
    let (code, retry, body) = evict(&ts.client, "db-2", "policy/v1beta1", Value::Null).await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(retry, None);
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(
        body["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(
        body["details"]["causes"],
        json!([{"reason": "DisruptionBudget", "message": "The disruption budget db needs 1 healthy pods and has 2 currently"}])
    );
    let p = pods.get("db-2").await.unwrap();
    assert!(p.metadata.deletion_timestamp.is_none());
    assert_eq!(disruption_target(&p), None);
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_eviction_leaves_the_budget_and_the_pod() {
    let ts = start(false).await;
    let pods: Api<Pod> = Api::namespaced(ts.client.clone(), NS);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(ts.client.clone(), NS);
    pods.create(&PostParams::default(), &pod("web-1", "web"))
        .await
        .unwrap();
    set_pod_status(&pods, "web-1", "Running", true).await;
    let before = budget(&ts.client, "web", "web", 1, 2, 1, json!({})).await;

    // dryRun in the Eviction's deleteOptions, and (separately) in the query.
    let (code, _, body) = evict(&ts.client, "web-1", "policy/v1", json!({"dryRun": ["All"]})).await;
    assert_eq!(code, 201, "{body}");
    let req = http::Request::post(format!(
        "/api/v1/namespaces/{NS}/pods/web-1/eviction?dryRun=All"
    ))
    .header("content-type", "application/json")
    .body(kube::client::Body::from(
        serde_json::to_vec(
            &json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-1"}}),
        )
        .unwrap(),
    ))
    .unwrap();
    assert_eq!(ts.client.send(req).await.unwrap().status().as_u16(), 201);

    let after = pdbs.get("web").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    assert_eq!(after.status, before.status);
    let p = pods.get("web-1").await.unwrap();
    assert!(p.metadata.deletion_timestamp.is_none());
    assert_eq!(disruption_target(&p), None);
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_that_can_ignore_budgets_are_deleted_and_budget_errors_are_upstreams() {
    let ts = start(false).await;
    let pods: Api<Pod> = Api::namespaced(ts.client.clone(), NS);
    for p in ["failed", "pending", "unready", "ready"] {
        pods.create(&PostParams::default(), &pod(p, "batch"))
            .await
            .unwrap();
    }
    set_pod_status(&pods, "failed", "Failed", false).await;
    set_pod_status(&pods, "unready", "Running", false).await;
    set_pod_status(&pods, "ready", "Running", true).await;
    // Budget 0 (1 healthy of 1 desired).
    budget(&ts.client, "batch", "batch", 0, 1, 1, json!({})).await;
    let gone = |name: &'static str| {
        let pods = pods.clone();
        async move {
            match pods.get_opt(name).await.unwrap() {
                None => true,
                Some(p) => p.metadata.deletion_timestamp.is_some(),
            }
        }
    };

    // Terminal and Pending pods ignore the budget.
    for p in ["failed", "pending"] {
        let (code, _, body) = evict(&ts.client, p, "policy/v1", Value::Null).await;
        assert_eq!(code, 201, "{p}: {body}");
        assert!(gone(p).await, "{p}");
    }
    // An unready pod under IfHealthyBudget with the budget met (1 >= 1) goes without using
    // the budget.
    let (code, _, body) = evict(&ts.client, "unready", "policy/v1", Value::Null).await;
    assert_eq!(code, 201, "{body}");
    assert!(gone("unready").await);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(ts.client.clone(), NS);
    assert_eq!(
        pdbs.get("batch")
            .await
            .unwrap()
            .status
            .unwrap()
            .disruptions_allowed,
        0
    );
    // The ready pod is protected.
    let (code, _, _) = evict(&ts.client, "ready", "policy/v1", Value::Null).await;
    assert_eq!(code, 429);
    assert!(!gone("ready").await);

    // The URL and body names must agree.
    let (code, _, body) = {
        let req = http::Request::post(format!("/api/v1/namespaces/{NS}/pods/ready/eviction"))
            .header("content-type", "application/json")
            .body(kube::client::Body::from(
                serde_json::to_vec(&json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}}))
                    .unwrap(),
            ))
            .unwrap();
        let resp = ts.client.send(req).await.unwrap();
        let code = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (code, (), serde_json::from_slice::<Value>(&bytes).unwrap())
    };
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        "name in URL does not match name in Eviction object"
    );

    // A budget whose spec changed since the controller looked: 429 "still being processed"
    // with Retry-After 10.
    pods.create(&PostParams::default(), &pod("gen", "gen"))
        .await
        .unwrap();
    set_pod_status(&pods, "gen", "Running", true).await;
    budget(&ts.client, "gen", "gen", 1, 2, 1, json!({})).await;
    pdbs.patch(
        "gen",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 0}})),
    )
    .await
    .unwrap();
    let (code, retry, body) = evict(&ts.client, "gen", "policy/v1", Value::Null).await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(retry.as_deref(), Some("10"));
    assert_eq!(
        body["details"]["causes"][0]["message"],
        "The disruption budget gen is still being processed by the server."
    );

    // Two budgets over one pod: upstream's 500.
    budget(&ts.client, "gen2", "gen", 1, 2, 1, json!({})).await;
    let (code, _, body) = evict(&ts.client, "gen", "policy/v1", Value::Null).await;
    assert_eq!(code, 500, "{body}");
    assert_eq!(
        body["message"],
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    );

    // AlwaysAllow: an unready pod goes even when the budget is not met.
    pods.create(&PostParams::default(), &pod("aa", "aa"))
        .await
        .unwrap();
    set_pod_status(&pods, "aa", "Running", false).await;
    budget(
        &ts.client,
        "aa",
        "aa",
        0,
        0,
        1,
        json!({"unhealthyPodEvictionPolicy": "AlwaysAllow"}),
    )
    .await;
    let (code, _, body) = evict(&ts.client, "aa", "policy/v1", Value::Null).await;
    assert_eq!(code, 201, "{body}");
    ts.stop().await;
}

const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";

/// The real kubectl 1.32: `kubectl drain` cordons the node and evicts its pods through
/// pods/eviction (policy/v1, found in discovery); with a budget allowing one disruption,
/// one pod is evicted and the other is refused with 429, which kubectl reports and
/// retries every 5 s until its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drain_evicts_through_the_budget() {
    if !std::path::Path::new(KUBECTL).exists() {
        panic!("{KUBECTL} is needed for this test");
    }
    let ts = start(false).await;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(ts.client.clone());
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap(),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(ts.client.clone(), NS);
    for p in ["db-1", "db-2"] {
        pods.create(&PostParams::default(), &pod(p, "db"))
            .await
            .unwrap();
        set_pod_status(&pods, p, "Running", true).await;
    }
    budget(&ts.client, "db", "db", 1, 2, 1, json!({})).await;

    let kubeconfig = ts.running.as_ref().unwrap().kubeconfig.clone();
    let cache = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(KUBECTL)
        .args(["drain", "n1", "--force", "--grace-period=0", "--timeout=7s"])
        .env("KUBECONFIG", &kubeconfig)
        .env("KUBECACHEDIR", cache.path())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("running kubectl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}{stderr}");
    eprintln!("kubectl drain output:\n{all}");
    // Not drained: one pod stays protected by the budget until the timeout.
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("node/n1 cordoned"), "{all}");
    assert_eq!(all.matches("evicted").count(), 1, "{all}");
    assert!(
        all.contains("(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget."),
        "{all}"
    );
    let left: Vec<String> = pods
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(left.len(), 1, "{left:?}\n{all}");
    let n = nodes.get("n1").await.unwrap();
    assert_eq!(n.spec.unwrap().unschedulable, Some(true));
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(ts.client.clone(), NS);
    let status = pdbs.get("db").await.unwrap().status.unwrap();
    assert_eq!(status.disruptions_allowed, 0);
    assert_eq!(status.disrupted_pods.unwrap().len(), 1);
    ts.stop().await;
}
