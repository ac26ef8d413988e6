//! Static pods from `staticPodPath` on a real containerd, with their mirror pods in an
//! in-process apiserver: created, recreated after deletion, removed with the manifest,
//! and static pods still run once the apiserver is gone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::Pod;
use kube::api::DeleteParams;
use kube::Api;
use rudder_kubelet::runtime::cri::CriRuntime;
use rudder_kubelet::runtime::Runtime;

use crate::common::{self, wait_for, Apiserver, Containerd, BUSYBOX};

const NODE: &str = "kl-static-node";

fn manifest(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    tier: control-plane\n\
         spec:\n  terminationGracePeriodSeconds: 2\n  containers:\n  - name: c\n    image: {BUSYBOX}\n\
         \x20   command: [sh, -c, \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n"
    )
}

/// Running containers of the pod with this uid.
async fn running_containers(rt: &CriRuntime, uid: &str) -> usize {
    rt.list_containers(Some(cri::ContainerFilter {
        label_selector: HashMap::from([("io.kubernetes.pod.uid".to_string(), uid.to_string())]),
        state: Some(cri::ContainerStateValue {
            state: cri::ContainerState::ContainerRunning as i32,
        }),
        ..Default::default()
    }))
    .await
    .map(|c| c.len())
    .unwrap_or(0)
}

async fn sandboxes(rt: &CriRuntime, uid: &str) -> usize {
    rt.list_pod_sandbox(Some(cri::PodSandboxFilter {
        label_selector: HashMap::from([("io.kubernetes.pod.uid".to_string(), uid.to_string())]),
        ..Default::default()
    }))
    .await
    .map(|s| s.len())
    .unwrap_or(usize::MAX)
}

fn running_mirror(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_pod_runs_with_a_mirror_pod_recreated_and_removed_with_the_file() {
    let Some(ctd) = Containerd::start() else {
        return;
    };
    let apiserver = Apiserver::start().await;
    let work = tempfile::tempdir().unwrap();
    let manifests = work.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(manifests.join("web.yaml"), manifest("web")).unwrap();
    let extra = format!(
        "staticPodPath: {}\nfileCheckFrequency: 1s\n",
        work.path().join("manifests").display()
    );
    let config = common::kubelet_config(
        work.path(),
        &ctd.endpoint(),
        &apiserver.kubeconfig,
        NODE,
        &extra,
        &[],
    );
    let runtime = Arc::new(
        CriRuntime::connect(&ctd.endpoint(), Duration::from_secs(30))
            .await
            .expect("containerd answers CRI"),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let kubelet = tokio::spawn(rudder_kubelet::run_with(
        config,
        apiserver.client.clone(),
        runtime.clone(),
        async {
            let _ = stop_rx.await;
        },
    ));
    let pods: Api<Pod> = Api::namespaced(apiserver.client.clone(), "default");
    let name = format!("web-{NODE}");

    // The mirror pod appears with the static pod's hash, the Node as owner and the
    // static pod's Running status.
    let mirror = wait_for("mirror pod Running", 60, || async {
        let p = pods.get_opt(&name).await.ok().flatten()?;
        running_mirror(&p).then_some(p)
    })
    .await;
    let ann = mirror.metadata.annotations.clone().unwrap();
    let hash = ann["kubernetes.io/config.mirror"].clone();
    assert_eq!(ann["kubernetes.io/config.hash"], hash);
    assert_eq!(ann["kubernetes.io/config.source"], "file");
    assert!(ann.contains_key("kubernetes.io/config.seen"));
    assert_eq!(
        mirror.metadata.labels.as_ref().unwrap()["tier"],
        "control-plane"
    );
    let owner = &mirror.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Node", NODE, Some(true))
    );
    let spec = mirror.spec.clone().unwrap();
    assert_eq!(spec.node_name.as_deref(), Some(NODE));
    assert!(spec
        .tolerations
        .iter()
        .flatten()
        .any(|t| t.operator.as_deref() == Some("Exists")
            && t.effect.as_deref() == Some("NoExecute")
            && t.key.is_none()));
    let cs = &mirror
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .clone()
        .unwrap()[0];
    assert!(cs
        .container_id
        .as_deref()
        .unwrap_or("")
        .starts_with("containerd://"));
    // The container runs under the static pod's uid (the hash), not the mirror's: the
    // mirror pod from the watch is not run a second time.
    assert_ne!(mirror.metadata.uid.as_deref(), Some(hash.as_str()));
    assert_eq!(running_containers(&runtime, &hash).await, 1);
    let mirror_uid = mirror.metadata.uid.clone().unwrap();
    assert_eq!(
        sandboxes(&runtime, &mirror_uid).await,
        0,
        "mirror pod not run"
    );

    // Deleting the mirror pod through the API: the kubelet recreates it, the static pod
    // keeps running.
    pods.delete(&name, &DeleteParams::default()).await.unwrap();
    let recreated = wait_for("mirror pod recreated and Running", 30, || async {
        let p = pods.get_opt(&name).await.ok().flatten()?;
        (p.metadata.uid.as_deref() != Some(mirror_uid.as_str()) && running_mirror(&p)).then_some(p)
    })
    .await;
    assert_eq!(
        recreated.metadata.annotations.unwrap()["kubernetes.io/config.mirror"],
        hash
    );
    assert_eq!(
        running_containers(&runtime, &hash).await,
        1,
        "not restarted"
    );

    // Removing the manifest stops the pod and deletes the mirror pod.
    std::fs::remove_file(manifests.join("web.yaml")).unwrap();
    wait_for("mirror pod deleted", 30, || async {
        matches!(pods.get_opt(&name).await, Ok(None)).then_some(())
    })
    .await;
    wait_for("static pod sandbox removed", 30, || async {
        (sandboxes(&runtime, &hash).await == 0).then_some(())
    })
    .await;

    // Without the apiserver, static pods still run.
    apiserver.stop().await;
    std::fs::write(manifests.join("offline.json"), {
        let v: serde_json::Value = serde_yaml::from_str(&manifest("offline")).unwrap();
        serde_json::to_string(&v).unwrap()
    })
    .unwrap();
    let uid = wait_for("offline static pod running", 60, || async {
        let sbs = runtime.list_pod_sandbox(None).await.ok()?;
        let sb = sbs.iter().find(|s| {
            s.metadata.as_ref().map(|m| m.name.as_str()) == Some(&format!("offline-{NODE}"))
        })?;
        let uid = sb.labels.get("io.kubernetes.pod.uid")?.clone();
        (running_containers(&runtime, &uid).await == 1).then_some(uid)
    })
    .await;
    std::fs::remove_file(manifests.join("offline.json")).unwrap();
    wait_for("offline static pod removed", 30, || async {
        (sandboxes(&runtime, &uid).await == 0).then_some(())
    })
    .await;

    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(40), kubelet)
        .await
        .expect("kubelet stops")
        .unwrap()
        .unwrap();
    drop(ctd);
}
