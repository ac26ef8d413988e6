//! Upstream semantics that need a running apiserver: graceful deletion, finalizers,
//! namespace lifecycle, binding, eviction, compaction and 410, slow watchers, several
//! apiservers on one etcd, tables, in-flight limits.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;

fn status_code(e: &kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn pod(name: &str, labels: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }))
    .unwrap()
}

async fn bind(client: &kube::Client, name: &str, node: &str) -> Result<(), kube::Error> {
    let req = http::Request::post(format!("/api/v1/namespaces/default/pods/{name}/binding"))
        .header("content-type", "application/json")
        .body(
            serde_json::to_vec(&json!({
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name},
                "target": {"kind": "Node", "name": node},
            }))
            .unwrap(),
        )
        .unwrap();
    client.request_text(req).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_pod_deletion_and_binding() {
    let ts = crate::common::start(false).await;
    let pods: Api<Pod> = Api::namespaced(ts.client.clone(), "default");
    pods.create(&PostParams::default(), &pod("p", json!({})))
        .await
        .unwrap();
    bind(&ts.client, "p", "node-a").await.unwrap();
    let p = pods.get("p").await.unwrap();
    assert_eq!(
        p.spec.as_ref().unwrap().node_name.as_deref(),
        Some("node-a")
    );
    let conds = p.status.unwrap().conditions.unwrap();
    assert!(conds
        .iter()
        .any(|c| c.type_ == "PodScheduled" && c.status == "True"));
    // A second binding is a conflict.
    let e = bind(&ts.client, "p", "node-b").await.unwrap_err();
    assert_eq!(status_code(&e), 409);
    // A scheduled pod is deleted gracefully: it stays, marked, until grace 0.
    pods.delete("p", &DeleteParams::default()).await.unwrap();
    let p = pods.get("p").await.unwrap();
    assert!(p.metadata.deletion_timestamp.is_some());
    assert_eq!(p.metadata.deletion_grace_period_seconds, Some(30));
    pods.delete(
        "p",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(status_code(&pods.get("p").await.unwrap_err()), 404);
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizers_hold_deletion() {
    let ts = crate::common::start(false).await;
    let cms: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "f", "finalizers": ["example.com/hold"]},
    }))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.delete("f", &DeleteParams::default()).await.unwrap();
    let held = cms.get("f").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    // Removing the last finalizer completes the deletion.
    cms.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(status_code(&cms.get("f").await.unwrap_err()), 404);
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_lifecycle() {
    let ts = crate::common::start(false).await;
    let nss: Api<Namespace> = Api::all(ts.client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    let created = nss.create(&PostParams::default(), &ns).await.unwrap();
    assert_eq!(
        created.spec.unwrap().finalizers.unwrap(),
        vec!["kubernetes".to_string()]
    );
    nss.delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let n = nss.get("doomed").await.unwrap();
    assert_eq!(n.status.unwrap().phase.as_deref(), Some("Terminating"));
    // No new content in a terminating namespace.
    let cms: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "doomed");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    assert_eq!(
        status_code(&cms.create(&PostParams::default(), &cm).await.unwrap_err()),
        403
    );
    // Emptying spec.finalizers through /finalize purges it (the namespace controller's job).
    let req = http::Request::put("/api/v1/namespaces/doomed/finalize")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}, "spec": {"finalizers": []}})).unwrap())
        .unwrap();
    ts.client.request_text(req).await.unwrap();
    assert_eq!(status_code(&nss.get("doomed").await.unwrap_err()), 404);
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_respects_disruption_budgets() {
    let ts = crate::common::start(false).await;
    let pods: Api<Pod> = Api::namespaced(ts.client.clone(), "default");
    pods.create(&PostParams::default(), &pod("e1", json!({"app": "db"})))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("e2", json!({"app": "web"})))
        .await
        .unwrap();
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(ts.client.clone(), "default");
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}},
    }))
    .unwrap();
    pdbs.create(&PostParams::default(), &pdb).await.unwrap();
    // A Pending pod would be deleted whatever the budget (upstream canIgnorePDB).
    pods.patch_status(
        "e1",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .unwrap();
    // The budget is not computed until the disruption controller does it: eviction is 429.
    let e = pods.evict("e1", &Default::default()).await.unwrap_err();
    assert_eq!(status_code(&e), 429);
    assert!(pods.get("e1").await.is_ok());
    // A pod no budget covers is evicted.
    pods.evict("e2", &Default::default()).await.unwrap();
    assert_eq!(status_code(&pods.get("e2").await.unwrap_err()), 404);
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_before_the_cache_window_is_410() {
    let ts = crate::common::start(false).await;
    let cms: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "old"}})).unwrap();
    let old_rv = cms
        .create(&PostParams::default(), &cm)
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    // Restart on the same data: the new cache starts at the current revision, so the old
    // version is outside its window.
    let dir = ts.dir;
    ts.running.unwrap().stop().await;
    let (running, client) = crate::common::start_on(dir.path(), &[]).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "new"}})).unwrap(),
    )
    .await
    .unwrap();
    let mut s = cms
        .watch(
            &WatchParams::default().timeout(5),
            &(old_rv.parse::<i64>().unwrap() - 1).to_string(),
        )
        .await
        .unwrap()
        .boxed();
    match s.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => {
            assert_eq!(e.code, 410);
            assert!(
                e.message.contains("too old resource version"),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    // The object survived the restart.
    assert!(cms.get("old").await.is_ok());
    running.stop().await;
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_watcher_is_closed_and_resumes_from_its_last_resource_version() {
    const N: usize = 2000;
    let ts = crate::common::start(false).await;
    let cms: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    let mut slow = cms
        .watch(&WatchParams::default().timeout(120), "0")
        .await
        .unwrap()
        .boxed();
    // A healthy watcher on the same resource keeps receiving everything.
    let fast_cms = cms.clone();
    let fast = tokio::spawn(async move {
        let mut s = fast_cms
            .watch(&WatchParams::default().timeout(120), "0")
            .await
            .unwrap()
            .boxed();
        let mut n = 0;
        while n < N {
            match s.try_next().await.unwrap() {
                Some(WatchEvent::Added(_)) => n += 1,
                Some(WatchEvent::Error(e)) => panic!("healthy watcher dropped: {e:?}"),
                Some(_) => {}
                None => panic!("healthy watcher ended early"),
            }
        }
        n
    });
    // Large objects, so that the client's and the kernel's buffers fill long before the
    // server-side per-watcher buffer (1,024 events) would let the slow watcher off.
    let pad = "x".repeat(48 * 1024);
    let mut tasks = futures::stream::iter(0..N)
        .map(|i| {
            let cms = cms.clone();
            let pad = pad.clone();
            async move {
                let cm: ConfigMap = serde_json::from_value(
                    json!({"metadata": {"name": format!("s{i}")}, "data": {"pad": pad}}),
                )
                .unwrap();
                cms.create(&PostParams::default(), &cm).await.unwrap();
            }
        })
        .buffer_unordered(16);
    while tasks.next().await.is_some() {}
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(120), fast)
            .await
            .unwrap()
            .unwrap(),
        N
    );
    // The slow watcher gets what was buffered, then its stream ends without an error, as
    // upstream's cacher closes an unresponsive watcher.
    let mut seen = std::collections::BTreeSet::new();
    let mut last_rv = String::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), slow.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(cm)) => {
                last_rv = cm.metadata.resource_version.unwrap();
                assert!(seen.insert(cm.metadata.name.unwrap()), "duplicate event");
            }
            Some(WatchEvent::Error(e)) => panic!("slow watcher got an error: {e:?}"),
            Some(_) => {}
            None => break,
        }
    }
    let dropped_after = seen.len();
    assert!(dropped_after < N, "the slow watcher was never dropped");
    // Re-watching from the last resourceVersion it saw replays the rest from the window:
    // nothing is lost and nothing repeats, with no relist.
    let mut resumed = cms
        .watch(&WatchParams::default().timeout(120), &last_rv)
        .await
        .unwrap()
        .boxed();
    while seen.len() < N {
        match tokio::time::timeout(Duration::from_secs(30), resumed.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(cm)) => {
                assert!(seen.insert(cm.metadata.name.unwrap()), "duplicate event");
            }
            Some(WatchEvent::Error(e)) => {
                panic!(
                    "resumed watch failed after {dropped_after} + {}: {e:?}",
                    seen.len()
                )
            }
            Some(_) => {}
            None => panic!("resumed watch ended at {}/{N}", seen.len()),
        }
    }
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apiservers_share_one_etcd() {
    let a = crate::common::start(true).await;
    let endpoint = a.etcd.as_ref().unwrap().endpoint.clone();
    let dir = tempfile::tempdir().unwrap();
    let (b, b_client) = crate::common::start_on(dir.path(), &["--etcd-servers", &endpoint]).await;
    let on_b: Api<ConfigMap> = Api::namespaced(b_client, "default");
    let mut w = on_b
        .watch(&WatchParams::default().timeout(20), "0")
        .await
        .unwrap()
        .boxed();
    let on_a: Api<ConfigMap> = Api::namespaced(a.client.clone(), "default");
    on_a.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "shared"}})).unwrap(),
    )
    .await
    .unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(20), w.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(o)) if o.metadata.name.as_deref() == Some("shared") => break,
            Some(WatchEvent::Error(e)) => panic!("{e:?}"),
            Some(_) => {}
            None => panic!("watch ended"),
        }
    }
    assert!(on_b.get("shared").await.is_ok());
    // Optimistic concurrency holds across servers.
    let stale = on_b.get("shared").await.unwrap();
    on_a.patch(
        "shared",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();
    assert_eq!(
        status_code(
            &on_b
                .replace("shared", &PostParams::default(), &stale)
                .await
                .unwrap_err()
        ),
        409
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_and_deletecollection() {
    let ts = crate::common::start(false).await;
    let cms: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    for (n, tier) in [("t1", "a"), ("t2", "a"), ("t3", "b")] {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": n, "labels": {"tier": tier}}, "data": {"k": "v"}}),
        )
        .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let req = http::Request::get("/api/v1/namespaces/default/configmaps")
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Vec::new())
        .unwrap();
    let table: serde_json::Value =
        serde_json::from_str(&ts.client.request_text(req).await.unwrap()).unwrap();
    assert_eq!(table["kind"], "Table");
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, vec!["Name", "Data", "Age"]);
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("tier=a"),
    )
    .await
    .unwrap();
    let left: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert!(
        left.contains(&"t3".to_string())
            && !left.contains(&"t1".to_string())
            && !left.contains(&"t2".to_string()),
        "{left:?}"
    );
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutating_inflight_limit_answers_429() {
    let dir = tempfile::tempdir().unwrap();
    let (running, client) =
        crate::common::start_on(dir.path(), &["--max-mutating-requests-inflight", "1"]).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let codes: Vec<u16> = futures::stream::iter(0..300)
        .map(|i| {
            let cms = cms.clone();
            async move {
                let cm: ConfigMap =
                    serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
                match cms.create(&PostParams::default(), &cm).await {
                    Ok(_) => 201,
                    Err(e) => status_code(&e),
                }
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(codes.iter().all(|c| *c == 201 || *c == 429), "{codes:?}");
    assert!(codes.contains(&429), "no request was throttled");
    assert!(codes.contains(&201));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_convert_between_core_and_events_v1() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use k8s_openapi::api::events::v1::Event as EventV1;
    let ts = crate::common::start(false).await;
    let core: Api<CoreEvent> = Api::namespaced(ts.client.clone(), "default");
    let v1: Api<EventV1> = Api::namespaced(ts.client.clone(), "default");
    let e: EventV1 = serde_json::from_value(json!({
        "metadata": {"name": "sched.1"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "default-scheduler",
        "reportingInstance": "default-scheduler-node1",
        "action": "Binding",
        "reason": "Scheduled",
        "note": "Successfully assigned default/p to node1",
        "type": "Normal",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "p"},
    }))
    .unwrap();
    v1.create(&PostParams::default(), &e).await.unwrap();
    // Read through core/v1: upstream's field names.
    let got = core.get("sched.1").await.unwrap();
    assert_eq!(
        got.message.as_deref(),
        Some("Successfully assigned default/p to node1")
    );
    assert_eq!(got.involved_object.name.as_deref(), Some("p"));
    assert_eq!(
        got.reporting_component.as_deref(),
        Some("default-scheduler")
    );
    let listed = core
        .list(&ListParams::default().fields("involvedObject.name=p"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    // And back through events.k8s.io/v1.
    let again = v1.get("sched.1").await.unwrap();
    assert_eq!(again.regarding.unwrap().name.as_deref(), Some("p"));
    assert_eq!(
        again.note.as_deref(),
        Some("Successfully assigned default/p to node1")
    );
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_token_expires_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let (running, client) =
        crate::common::start_on(dir.path(), &["--etcd-compaction-interval", "1s"]).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..3 {
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap(),
        )
        .await
        .unwrap();
    }
    let first = cms.list(&ListParams::default().limit(1)).await.unwrap();
    let token = first.metadata.continue_.expect("a continue token");
    // Keep the store moving until the compactor passes the token's revision.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    let code = loop {
        assert!(
            Instant::now() < deadline,
            "the continue token never expired"
        );
        cms.patch(
            "c0",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"i": i.to_string()}})),
        )
        .await
        .unwrap();
        i += 1;
        match cms
            .list(&ListParams::default().limit(1).continue_token(&token))
            .await
        {
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => break status_code(&e),
        }
    };
    assert_eq!(code, 410);
    running.stop().await;
}
