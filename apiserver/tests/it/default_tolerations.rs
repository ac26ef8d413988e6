//! DefaultTolerationSeconds admission against the running apiserver: pods created without
//! not-ready/unreachable NoExecute tolerations get them with 300 s (or the flag values);
//! pods that already tolerate them keep theirs; updates are not touched.

use k8s_openapi::api::core::v1::{Pod, Toleration};
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

use crate::common::start_on;

fn pod(name: &str, tolerations: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
            "tolerations": tolerations,
        }
    }))
    .unwrap()
}

fn noexecute(p: &Pod, key: &str) -> Vec<Toleration> {
    p.spec
        .as_ref()
        .unwrap()
        .tolerations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.key.as_deref() == Some(key))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_toleration_seconds_on_pod_create() {
    let dir = tempfile::tempdir().unwrap();
    let (running, client) = start_on(dir.path(), &[]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let plain = pods
        .create(&PostParams::default(), &pod("plain", json!(null)))
        .await
        .unwrap();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let t = noexecute(&plain, key);
        assert_eq!(t.len(), 1, "{key}: {t:?}");
        assert_eq!(t[0].operator.as_deref(), Some("Exists"));
        assert_eq!(t[0].effect.as_deref(), Some("NoExecute"));
        assert_eq!(t[0].toleration_seconds, Some(300));
    }

    // A pod tolerating unreachable forever keeps exactly its own toleration.
    let own = pods
        .create(
            &PostParams::default(),
            &pod(
                "own",
                json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}]),
            ),
        )
        .await
        .unwrap();
    let t = noexecute(&own, "node.kubernetes.io/unreachable");
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].toleration_seconds, None);
    assert_eq!(
        noexecute(&own, "node.kubernetes.io/not-ready")[0].toleration_seconds,
        Some(300)
    );

    // The plugin runs on create only: an update leaves the list as it is.
    let patched = pods
        .patch(
            "plain",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.spec.unwrap().tolerations.unwrap().len(),
        2,
        "update leaves tolerations alone"
    );
    running.stop().await;

    // The flags set the seconds.
    let dir = tempfile::tempdir().unwrap();
    let (running, client) = start_on(
        dir.path(),
        &[
            "--default-not-ready-toleration-seconds=60",
            "--default-unreachable-toleration-seconds=120",
        ],
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let p = pods
        .create(&PostParams::default(), &pod("flags", json!(null)))
        .await
        .unwrap();
    assert_eq!(
        noexecute(&p, "node.kubernetes.io/not-ready")[0].toleration_seconds,
        Some(60)
    );
    assert_eq!(
        noexecute(&p, "node.kubernetes.io/unreachable")[0].toleration_seconds,
        Some(120)
    );
    running.stop().await;
}
