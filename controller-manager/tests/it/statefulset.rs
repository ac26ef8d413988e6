//! StatefulSet controller against a real apiserver; cases follow the sig-apps StatefulSet
//! conformance descriptions (scaling in order and halting while a pod is not ready, burst
//! scaling, rolling updates with a partition, PVC creation, revisions and status).

use crate::common::{kubelet_marks_running_ready, kubelet_readies_all, wait_for, Cluster};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::Api;
use serde_json::json;

fn statefulset(name: &str, replicas: i32, extra: serde_json::Value) -> StatefulSet {
    let mut spec = json!({
        "replicas": replicas,
        "serviceName": "test",
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "webserver", "image": "httpd:1"}]}
        }
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

async fn live_pod_names(pods: &Api<Pod>, app: &str) -> Vec<String> {
    let mut v: Vec<String> = pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name)
        .collect();
    v.sort();
    v
}

async fn status_replicas(sets: &Api<StatefulSet>, name: &str) -> Option<i32> {
    Some(sets.get(name).await.ok()?.status?.replicas)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_scales_in_order_and_halts_on_unready_pods() {
    let cluster = Cluster::start("statefulset").await;
    let c = cluster.client.clone();
    let ns = "sts-order";
    cluster.namespace(ns).await;
    let sets: Api<StatefulSet> = Api::namespaced(c.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    sets.create(&PostParams::default(), &statefulset("ss", 3, json!({})))
        .await
        .unwrap();

    for n in 0..3 {
        let name = format!("ss-{n}");
        // The controller has seen `n + 1` pods and, with ss-<n> not ready, creates no more.
        wait_for(&format!("{name} counted"), 20, || async {
            (status_replicas(&sets, "ss").await == Some(n + 1)).then_some(())
        })
        .await;
        let names = live_pod_names(&pods, "ss").await;
        let want: Vec<String> = (0..=n).map(|i| format!("ss-{i}")).collect();
        assert_eq!(names, want, "halted while {name} is not ready");
        let p = pods.get(&name).await.unwrap();
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some(name.as_str()));
        assert_eq!(spec.subdomain.as_deref(), Some("test"));
        let labels = p.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["statefulset.kubernetes.io/pod-name"], name);
        assert_eq!(labels["apps.kubernetes.io/pod-index"], n.to_string());
        assert!(labels["controller-revision-hash"].starts_with("ss-"));
        kubelet_marks_running_ready(&c, ns, &name).await;
    }
    let st = wait_for("ready status", 20, || async {
        let st = sets.get("ss").await.unwrap().status?;
        (st.ready_replicas == Some(3) && st.available_replicas == Some(3)).then_some(st)
    })
    .await;
    assert_eq!(st.current_revision, st.update_revision);
    assert_eq!(st.current_replicas, Some(3));
    assert_eq!(st.updated_replicas, Some(3));
    let events = Api::<Event>::namespaced(c.clone(), ns);
    wait_for("SuccessfulCreate event", 20, || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("SuccessfulCreate")
                    && e.message.as_deref() == Some("create Pod ss-0 in StatefulSet ss successful")
            })
            .then_some(())
    })
    .await;

    // Scale down: ss-2 goes before ss-1 (unbound pods vanish at once, so the order is read
    // from a watch started before the scale).
    let rv = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = pods
        .watch(&WatchParams::default().labels("app=ss"), &rv)
        .await
        .unwrap()
        .boxed();
    sets.patch(
        "ss",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    let mut deleted = Vec::new();
    let deadline = std::time::Duration::from_secs(20);
    while deleted.len() < 2 {
        let ev = tokio::time::timeout(deadline, stream.next())
            .await
            .expect("deletions within 20s")
            .expect("watch open")
            .unwrap();
        if let WatchEvent::Deleted(p) = ev {
            deleted.push(p.metadata.name.unwrap());
        }
    }
    assert_eq!(deleted, ["ss-2", "ss-1"]);
    assert_eq!(live_pod_names(&pods, "ss").await, ["ss-0"]);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_parallel_burst_scaling() {
    let cluster = Cluster::start("statefulset").await;
    let c = cluster.client.clone();
    let ns = "sts-burst";
    cluster.namespace(ns).await;
    let sets: Api<StatefulSet> = Api::namespaced(c.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    sets.create(
        &PostParams::default(),
        &statefulset("ss", 3, json!({"podManagementPolicy": "Parallel"})),
    )
    .await
    .unwrap();
    // All three exist although none is ready.
    wait_for("3 pods without readiness", 20, || async {
        (live_pod_names(&pods, "ss").await == ["ss-0", "ss-1", "ss-2"]).then_some(())
    })
    .await;
    sets.patch(
        "ss",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 0}})),
    )
    .await
    .unwrap();
    wait_for("all scaled away", 20, || async {
        live_pod_names(&pods, "ss").await.is_empty().then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_rolling_update_with_partition() {
    let cluster = Cluster::start("statefulset").await;
    let c = cluster.client.clone();
    let ns = "sts-roll";
    cluster.namespace(ns).await;
    let sets: Api<StatefulSet> = Api::namespaced(c.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    sets.create(&PostParams::default(), &statefulset("ss", 3, json!({})))
        .await
        .unwrap();
    wait_for("3 ready pods", 30, || async {
        kubelet_readies_all(&c, ns).await;
        let st = sets.get("ss").await.unwrap().status?;
        (st.ready_replicas == Some(3)).then_some(())
    })
    .await;
    let before = sets.get("ss").await.unwrap().status.unwrap();
    let old_rev = before.current_revision.clone().unwrap();

    // Partition 2: only ss-2 moves to the new template.
    sets.patch(
        "ss",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            "template": {"spec": {"containers": [{"name": "webserver", "image": "httpd:2"}]}}
        }})),
    )
    .await
    .unwrap();
    let revision_of =
        |p: &Pod| p.metadata.labels.as_ref().unwrap()["controller-revision-hash"].clone();
    let new_rev = wait_for("ss-2 updated", 30, || async {
        kubelet_readies_all(&c, ns).await;
        let st = sets.get("ss").await.unwrap().status?;
        let upd = st.update_revision.clone()?;
        let p2 = pods.get_opt("ss-2").await.unwrap()?;
        (upd != old_rev
            && revision_of(&p2) == upd
            && st.ready_replicas == Some(3)
            && st.updated_replicas == Some(1))
        .then_some(upd)
    })
    .await;
    for p in ["ss-0", "ss-1"] {
        assert_eq!(
            revision_of(&pods.get(p).await.unwrap()),
            old_rev,
            "{p} below the partition"
        );
    }
    let st = sets.get("ss").await.unwrap().status.unwrap();
    assert_eq!(st.current_revision.as_deref(), Some(old_rev.as_str()));
    assert_eq!(st.current_replicas, Some(2));

    // Partition 0: the rest follow, highest ordinal first, and the rollout completes.
    sets.patch(
        "ss",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})),
    )
    .await
    .unwrap();
    wait_for("rollout complete", 30, || async {
        kubelet_readies_all(&c, ns).await;
        let st = sets.get("ss").await.unwrap().status?;
        (st.current_revision.as_deref() == Some(new_rev.as_str())
            && st.updated_replicas == Some(3)
            && st.ready_replicas == Some(3))
        .then_some(())
    })
    .await;
    for p in ["ss-0", "ss-1", "ss-2"] {
        let pod = pods.get(p).await.unwrap();
        assert_eq!(
            pod.spec.as_ref().unwrap().containers[0].image.as_deref(),
            Some("httpd:2")
        );
    }
    // Both templates are recorded as revisions 1 and 2.
    let mut revs = Api::<ControllerRevision>::namespaced(c.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    revs.sort_by_key(|r| r.revision);
    let got: Vec<(String, i64)> = revs
        .iter()
        .map(|r| (r.metadata.name.clone().unwrap(), r.revision))
        .collect();
    assert_eq!(got, vec![(old_rev, 1), (new_rev, 2)]);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_creates_claims_with_retention_owner_refs() {
    let cluster = Cluster::start("statefulset").await;
    let c = cluster.client.clone();
    let ns = "sts-pvc";
    cluster.namespace(ns).await;
    let sets: Api<StatefulSet> = Api::namespaced(c.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(c.clone(), ns);
    sets.create(
        &PostParams::default(),
        &statefulset(
            "db",
            2,
            json!({
                "podManagementPolicy": "Parallel",
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"},
                "volumeClaimTemplates": [{
                    "metadata": {"name": "datadir"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
                }]
            }),
        ),
    )
    .await
    .unwrap();
    let set = sets.get("db").await.unwrap();
    wait_for("pods with their claims", 20, || async {
        (live_pod_names(&pods, "db").await == ["db-0", "db-1"]).then_some(())
    })
    .await;
    for i in 0..2 {
        let claim = pvcs.get(&format!("datadir-db-{i}")).await.unwrap();
        assert_eq!(claim.metadata.labels.as_ref().unwrap()["app"], "db");
        let refs = claim.metadata.owner_references.unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(
            (refs[0].kind.as_str(), Some(&refs[0].uid)),
            ("StatefulSet", set.metadata.uid.as_ref())
        );
        let pod = pods.get(&format!("db-{i}")).await.unwrap();
        let vol = pod
            .spec
            .unwrap()
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == "datadir")
            .unwrap();
        assert_eq!(
            vol.persistent_volume_claim.unwrap().claim_name,
            format!("datadir-db-{i}")
        );
    }
    // Scaling down hands db-1's claim to the pod (whenScaled: Delete), so the garbage
    // collector removes it with the pod.
    let db1 = pods.get("db-1").await.unwrap();
    sets.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    wait_for("claim owned by the scaled-down pod", 20, || async {
        let claim = pvcs.get("datadir-db-1").await.ok()?;
        let refs = claim.metadata.owner_references?;
        (refs.len() == 1
            && refs[0].kind == "Pod"
            && Some(&refs[0].uid) == db1.metadata.uid.as_ref())
        .then_some(())
    })
    .await;
    wait_for("db-1 removed", 20, || async {
        (live_pod_names(&pods, "db").await == ["db-0"]).then_some(())
    })
    .await;
    cluster.stop().await;
}
