//! A pod that fits nowhere: FailedScheduling with upstream's message, PodScheduled=False,
//! and a retry once a fitting node appears.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::json;

use crate::common::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unschedulable_pod_reports_and_waits_for_a_fitting_node() {
    let c = Cluster::start().await;
    c.node(
        "cp",
        "16",
        json!({"spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
    )
    .await;
    c.node("w1", "2", json!({})).await;
    c.node("w2", "2", json!({})).await;
    c.pod("huge", "8", json!({})).await;
    let note = c.wait_event("huge", "FailedScheduling").await;
    assert_eq!(
        note,
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    // The PodScheduled condition says why.
    let api = Api::<Pod>::namespaced(c.client.clone(), "default");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = api.get("huge").await.unwrap();
        let cond = p
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "PodScheduled");
        if let Some(cond) = cond {
            if cond.reason.as_deref() == Some("Unschedulable") {
                assert_eq!(cond.status, "False");
                assert_eq!(cond.message.as_deref(), Some(note.as_str()));
                break;
            }
        }
        assert!(Instant::now() < deadline, "PodScheduled=False never set");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.node("w3", "16", json!({})).await;
    assert_eq!(c.wait_bound("huge").await, "w3");
    c.stop().await;
}
