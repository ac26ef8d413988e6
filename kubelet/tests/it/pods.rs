//! The kubelet end to end on one node: a real containerd (from `hack/containerd.sh`), an
//! in-process apiserver, and the kubelet's `run_with` in-process. Pods are bound by
//! setting spec.nodeName (no scheduler).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, PostParams};
use kube::Api;
use rudder_kubelet::runtime::cri::CriRuntime;
use rudder_kubelet::runtime::Runtime;
use serde_json::json;

use crate::common::{self, wait_for, Apiserver, Containerd, BUSYBOX};

const NODE: &str = "kl-it-node";

fn pod(name: &str, restart: &str, script: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 5,
            "containers": [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", script]}]
        }
    }))
    .unwrap()
}

fn container_status(p: &Pod) -> Option<k8s_openapi::api::core::v1::ContainerStatus> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_run_log_restart_with_backoff_and_terminate_gracefully() {
    let Some(ctd) = Containerd::start() else {
        return;
    };
    let apiserver = Apiserver::start().await;
    let work = tempfile::tempdir().unwrap();
    let config = common::kubelet_config(
        work.path(),
        &ctd.endpoint(),
        &apiserver.kubeconfig,
        NODE,
        "",
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
    let client = apiserver.client.clone();

    // The node registers and turns Ready, with the runtime's version and a lease.
    let nodes: Api<Node> = Api::all(client.clone());
    let node = wait_for("node Ready", 30, || async {
        let n = nodes.get_opt(NODE).await.ok().flatten()?;
        let ready = n
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        ready.then_some(n)
    })
    .await;
    let info = node.status.unwrap().node_info.unwrap();
    assert!(
        info.container_runtime_version.starts_with("containerd://"),
        "{}",
        info.container_runtime_version
    );
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), "kube-node-lease");
    wait_for("node lease", 15, || async {
        leases.get_opt(NODE).await.ok().flatten()
    })
    .await;

    // A pod runs and its output lands in its CRI log file.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // It has an exec readiness probe, so Ready comes from the probe manager.
    let mut web_pod = pod(
        "web",
        "Always",
        "echo hello from rudder; trap 'exit 0' TERM; while true; do sleep 1; done",
    );
    web_pod.spec.as_mut().unwrap().containers[0].readiness_probe = Some(
        serde_json::from_value(json!({"exec": {"command": ["true"]}, "periodSeconds": 1})).unwrap(),
    );
    let web = pods.create(&PostParams::default(), &web_pod).await.unwrap();
    let web_uid = web.metadata.uid.clone().unwrap();
    let running = wait_for("web Running and Ready", 60, || async {
        let p = pods.get("web").await.ok()?;
        let st = p.status.as_ref()?;
        let ready = st
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        (st.phase.as_deref() == Some("Running") && ready).then_some(p)
    })
    .await;
    let st = running.status.clone().unwrap();
    assert!(st.pod_ip.is_some(), "pod IP from the sandbox");
    assert_eq!(st.host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(st.qos_class.as_deref(), Some("BestEffort"));
    let cs = container_status(&running).unwrap();
    assert!(cs.container_id.unwrap().starts_with("containerd://"));
    assert!(!cs.image_id.is_empty());
    let log = work
        .path()
        .join("pods")
        .join(format!("default_web_{web_uid}"))
        .join("c/0.log");
    wait_for("log line", 15, || async {
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("stdout F hello from rudder").then_some(())
    })
    .await;

    // A failing container restarts at once, then waits 10 s, then 20 s.
    pods.create(
        &PostParams::default(),
        &pod("crash", "Always", "echo boom; exit 1"),
    )
    .await
    .unwrap();
    let waiting_message = |p: &Pod| {
        container_status(p)
            .and_then(|c| c.state)
            .and_then(|s| s.waiting)
            .filter(|w| w.reason.as_deref() == Some("CrashLoopBackOff"))
            .and_then(|w| w.message)
    };
    let p = wait_for("first CrashLoopBackOff", 60, || async {
        let p = pods.get("crash").await.ok()?;
        waiting_message(&p)
            .is_some_and(|m| {
                m.starts_with("back-off 10s restarting failed container=c pod=crash_default(")
            })
            .then_some(p)
    })
    .await;
    let cs = container_status(&p).unwrap();
    assert_eq!(cs.restart_count, 1);
    let last = cs.last_state.unwrap().terminated.unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    wait_for("restart after 10 s, then back-off 20s", 40, || async {
        let p = pods.get("crash").await.ok()?;
        let restarts = container_status(&p)?.restart_count;
        (restarts == 2 && waiting_message(&p)?.starts_with("back-off 20s")).then_some(())
    })
    .await;

    // Graceful deletion: SIGTERM, the sandbox goes, the kubelet finishes the deletion.
    pods.delete("web", &DeleteParams::default()).await.unwrap();
    wait_for("web gone from the apiserver", 30, || async {
        matches!(pods.get_opt("web").await, Ok(None)).then_some(())
    })
    .await;
    wait_for("web sandbox removed", 15, || async {
        let sandboxes = runtime.list_pod_sandbox(None).await.ok()?;
        (!sandboxes
            .iter()
            .any(|s| s.labels.get("io.kubernetes.pod.uid") == Some(&web_uid)))
        .then_some(())
    })
    .await;
    pods.delete("crash", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("crash gone", 30, || async {
        matches!(pods.get_opt("crash").await, Ok(None)).then_some(())
    })
    .await;

    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(15), kubelet)
        .await
        .expect("kubelet stops")
        .unwrap()
        .unwrap();
    apiserver.stop().await;
    drop(ctd);
}
