//! The REST API through the `kube` crate, on both storage backends.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels.iter().cloned().collect::<BTreeMap<_, _>>()},
        "data": {"k": "v"},
    }))
    .unwrap()
}

fn status_code(e: &kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn crud_and_conflicts(etcd: bool) {
    let ts = crate::common::start(etcd).await;
    let cms: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    let created = cms
        .create(&PostParams::default(), &cm("a", &[("app", "x")]))
        .await
        .unwrap();
    let rv1 = created.metadata.resource_version.clone().unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());

    // AlreadyExists
    let e = cms
        .create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap_err();
    assert_eq!(status_code(&e), 409);

    // Update with the current resourceVersion works; with the stale one, 409 Conflict.
    let mut upd = created.clone();
    upd.data.as_mut().unwrap().insert("k".into(), "v2".into());
    let updated = cms
        .replace("a", &PostParams::default(), &upd)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version.as_deref(),
        Some(rv1.as_str())
    );
    let e = cms
        .replace("a", &PostParams::default(), &upd)
        .await
        .unwrap_err();
    assert_eq!(status_code(&e), 409);
    if let kube::Error::Api(s) = &e {
        assert!(
            s.message.contains("the object has been modified"),
            "{}",
            s.message
        );
    }

    // Merge patch and JSON patch.
    let p = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"m": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data.as_ref().unwrap()["m"], "1");
    let p = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::<()>::Json(
                serde_json::from_value(json!([{"op": "remove", "path": "/data/m"}])).unwrap(),
            ),
        )
        .await
        .unwrap();
    assert!(!p.data.as_ref().unwrap().contains_key("m"));

    // Label selectors.
    cms.create(&PostParams::default(), &cm("b", &[("app", "y")]))
        .await
        .unwrap();
    let l = cms
        .list(&ListParams::default().labels("app=x"))
        .await
        .unwrap();
    assert_eq!(l.items.len(), 1);
    let l = cms
        .list(&ListParams::default().labels("app in (x,y)"))
        .await
        .unwrap();
    assert_eq!(l.items.len(), 2);
    let l = cms
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .unwrap();
    assert_eq!(l.items.len(), 1);

    // Paging with limit/continue returns every object exactly once.
    for i in 0..7 {
        cms.create(
            &PostParams::default(),
            &cm(&format!("p{i}"), &[("page", "yes")]),
        )
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut lp = ListParams::default().labels("page=yes").limit(3);
    loop {
        let l = cms.list(&lp).await.unwrap();
        seen.extend(l.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match l.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");

    // Missing object and missing namespace are 404.
    assert_eq!(status_code(&cms.get("nope").await.unwrap_err()), 404);
    let other: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "does-not-exist");
    assert_eq!(
        status_code(
            &other
                .create(&PostParams::default(), &cm("z", &[]))
                .await
                .unwrap_err()
        ),
        404
    );

    // Invalid names are 422 with a field cause.
    let e = cms
        .create(&PostParams::default(), &cm("Bad_Name", &[]))
        .await
        .unwrap_err();
    assert_eq!(status_code(&e), 422);

    // Delete.
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    assert_eq!(status_code(&cms.get("a").await.unwrap_err()), 404);
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_sqlite() {
    crud_and_conflicts(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_etcd() {
    crud_and_conflicts(true).await;
}

async fn watch_resume(etcd: bool) {
    let ts = crate::common::start(etcd).await;
    let cms: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    let first = cms
        .create(&PostParams::default(), &cm("w1", &[]))
        .await
        .unwrap();
    let rv = first.metadata.resource_version.clone().unwrap();
    cms.create(&PostParams::default(), &cm("w2", &[]))
        .await
        .unwrap();
    cms.delete("w1", &DeleteParams::default()).await.unwrap();
    // Watching from the first object's version replays exactly what came after, in order.
    let stream = cms
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap();
    let mut stream = stream.boxed();
    let mut got = Vec::new();
    while got.len() < 2 {
        let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .expect("event in time")
            .unwrap()
            .expect("stream open");
        match ev {
            WatchEvent::Added(o) => got.push(format!("ADDED {}", o.metadata.name.unwrap())),
            WatchEvent::Deleted(o) => got.push(format!("DELETED {}", o.metadata.name.unwrap())),
            WatchEvent::Modified(o) => got.push(format!("MODIFIED {}", o.metadata.name.unwrap())),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(got, vec!["ADDED w2", "DELETED w1"]);
    // A live event arrives too.
    cms.create(&PostParams::default(), &cm("w3", &[]))
        .await
        .unwrap();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .expect("event in time")
            .unwrap()
            .expect("stream open");
        if let WatchEvent::Added(o) = ev {
            assert_eq!(o.metadata.name.as_deref(), Some("w3"));
            break;
        }
    }
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sqlite() {
    watch_resume(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_etcd() {
    watch_resume(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_objects_and_defaults() {
    let ts = crate::common::start(false).await;
    let nss: Api<Namespace> = Api::all(ts.client.clone());
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let n = nss.get(ns).await.unwrap();
        assert_eq!(n.status.unwrap().phase.as_deref(), Some("Active"));
    }
    let svcs: Api<Service> = Api::namespaced(ts.client.clone(), "default");
    let k = svcs.get("kubernetes").await.unwrap();
    assert_eq!(k.spec.unwrap().cluster_ip.as_deref(), Some("10.0.0.1"));
    // Immortal namespaces cannot be deleted.
    assert_eq!(
        status_code(
            &nss.delete("default", &DeleteParams::default())
                .await
                .unwrap_err()
        ),
        403
    );

    // Pod defaults and graceful deletion of an unscheduled pod (immediate).
    let pods: Api<Pod> = Api::namespaced(ts.client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }))
    .unwrap();
    let p = pods.create(&PostParams::default(), &pod).await.unwrap();
    let spec = p.spec.unwrap();
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
    assert_eq!(
        spec.containers[0].image_pull_policy.as_deref(),
        Some("Always")
    );
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Pending"));
    pods.delete("p", &DeleteParams::default()).await.unwrap();
    assert_eq!(status_code(&pods.get("p").await.unwrap_err()), 404);

    // Deployment defaults, scale subresource, generation bumps on spec change only.
    let deps: Api<Deployment> = Api::namespaced(ts.client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}},
        },
    }))
    .unwrap();
    let d = deps.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(
        spec.strategy.unwrap().type_.as_deref(),
        Some("RollingUpdate")
    );
    let s = deps.get_scale("web").await.unwrap();
    assert_eq!(s.spec.unwrap().replicas, Some(1));
    deps.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 3}})),
    )
    .await
    .unwrap();
    let d = deps.get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(3));
    assert_eq!(d.metadata.generation, Some(2));
    // A label change is not a spec change.
    let d = deps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(2));
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_conflicts() {
    let ts = crate::common::start(false).await;
    let cms: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    let doc = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1"}});
    let c = cms
        .patch("ssa", &PatchParams::apply("mgr-one"), &Patch::Apply(&doc))
        .await
        .unwrap();
    assert_eq!(c.data.unwrap()["a"], "1");
    assert!(c.metadata.managed_fields.is_some());
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "2"}});
    let e = cms
        .patch("ssa", &PatchParams::apply("mgr-two"), &Patch::Apply(&other))
        .await
        .unwrap_err();
    assert_eq!(status_code(&e), 409);
    let c = cms
        .patch(
            "ssa",
            &PatchParams::apply("mgr-two").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(c.data.unwrap()["a"], "2");
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413() {
    let ts = crate::common::start(false).await;
    let cms: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    // Over the 3 MiB request limit.
    let mut big = cm("big", &[]);
    big.data = Some([("k".to_string(), "x".repeat(3 * 1024 * 1024 + 10))].into());
    assert_eq!(
        status_code(&cms.create(&PostParams::default(), &big).await.unwrap_err()),
        413
    );
    // Under the request limit but over what storage takes (and ConfigMap validation
    // rejects data over 1 MiB first: either way never a 500).
    big.data = Some([("k".to_string(), "x".repeat(2 * 1024 * 1024))].into());
    let code = status_code(&cms.create(&PostParams::default(), &big).await.unwrap_err());
    assert!(code == 413 || code == 422, "{code}");
    ts.stop().await;
}
