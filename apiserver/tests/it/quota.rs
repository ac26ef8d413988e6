//! ResourceQuota admission: requests over a quota's `status.hard` are refused with 403 and
//! upstream's message, admitted ones are charged into `status.used`, and concurrent creates
//! never overshoot. No controller runs here, so the tests write the quota status themselves
//! as the resourcequota controller would.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ResourceQuota};
use kube::api::PostParams;
use kube::Api;
use serde_json::{json, Value};

async fn setup(c: &kube::Client, ns: &str, hard: Value) -> Api<ResourceQuota> {
    Api::<Namespace>::all(c.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap();
    let rqs: Api<ResourceQuota> = Api::namespaced(c.clone(), ns);
    let mut q = rqs
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "compute-resources"},
                "spec": {"hard": hard}}))
            .unwrap(),
        )
        .await
        .unwrap();
    // Play the controller: hard from spec, nothing used yet.
    let used: serde_json::Map<String, Value> = hard
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), json!("0")))
        .collect();
    q.status = Some(serde_json::from_value(json!({"hard": hard, "used": used})).unwrap());
    rqs.replace_status("compute-resources", &PostParams::default(), &q)
        .await
        .unwrap();
    rqs
}

fn pod(name: &str, limits: bool) -> Pod {
    let resources = if limits {
        json!({"limits": {"cpu": "100m", "memory": "64Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}})
    } else {
        json!({})
    };
    serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10", "resources": resources}]}}))
    .unwrap()
}

fn forbidden_message(r: Result<impl std::fmt::Debug, kube::Error>) -> String {
    match r {
        Err(kube::Error::Api(s)) if s.code == 403 => s.message,
        other => panic!("expected 403, got {other:?}"),
    }
}

#[tokio::test]
async fn quota_admission_rejects_over_quota_and_charges_usage() {
    let s = crate::common::start(false).await;
    let ns = "rq";
    let rqs = setup(
        &s.client,
        ns,
        json!({"pods": "2", "limits.cpu": "1", "configmaps": "1"}),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), ns);

    // A compute quota requires limits on every container.
    let msg = forbidden_message(
        pods.create(&PostParams::default(), &pod("bare", false))
            .await,
    );
    assert_eq!(
        msg,
        "pods \"bare\" is forbidden: failed quota: compute-resources: must specify limits.cpu for: c"
    );

    pods.create(&PostParams::default(), &pod("a", true))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("b", true))
        .await
        .unwrap();
    let used = rqs
        .get("compute-resources")
        .await
        .unwrap()
        .status
        .unwrap()
        .used
        .unwrap();
    assert_eq!(used["pods"].0, "2");
    assert_eq!(used["limits.cpu"].0, "200m");
    let msg = forbidden_message(pods.create(&PostParams::default(), &pod("c", true)).await);
    assert_eq!(
        msg,
        "pods \"c\" is forbidden: exceeded quota: compute-resources, requested: pods=1, used: pods=2, limited: pods=2"
    );

    // Object counts.
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), ns);
    let cm = |n: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n}})).unwrap()
    };
    cms.create(&PostParams::default(), &cm("one"))
        .await
        .unwrap();
    let msg = forbidden_message(cms.create(&PostParams::default(), &cm("two")).await);
    assert_eq!(
        msg,
        "configmaps \"two\" is forbidden: exceeded quota: compute-resources, requested: configmaps=1, used: configmaps=1, limited: configmaps=1"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_cannot_overshoot() {
    let s = crate::common::start(false).await;
    let ns = "rqrace";
    let rqs = setup(&s.client, ns, json!({"count/configmaps": "5"})).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), ns);
        tasks.push(tokio::spawn(async move {
            let cm: ConfigMap =
                serde_json::from_value(json!({"metadata": {"name": format!("cm-{i}")}})).unwrap();
            cms.create(&PostParams::default(), &cm).await.is_ok()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() {
            ok += 1;
        }
    }
    assert_eq!(ok, 5, "exactly the quota's worth of creates is admitted");
    let used = rqs
        .get("compute-resources")
        .await
        .unwrap()
        .status
        .unwrap()
        .used
        .unwrap();
    assert_eq!(used["count/configmaps"].0, "5");
    s.stop().await;
}
