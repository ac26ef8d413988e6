//! DefaultPreemption end to end: a higher-priority pod evicts a lower-priority one, is
//! nominated to the node, and binds once the victim is gone.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::common::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_priority_pod_preempts_a_lower_priority_one() {
    let c = Cluster::start().await;
    let pcs: Api<k8s_openapi::api::scheduling::v1::PriorityClass> = Api::all(c.client.clone());
    let pc = serde_json::from_value(json!({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": "high"}, "value": 1000
    }))
    .unwrap();
    pcs.create(&PostParams::default(), &pc).await.unwrap();
    c.node("only", "2", json!({})).await;
    c.pod("low", "1500m", json!({})).await;
    assert_eq!(c.wait_bound("low").await, "only");
    c.pod(
        "high",
        "1500m",
        json!({"spec": {"priorityClassName": "high"}}),
    )
    .await;
    let api = Api::<Pod>::namespaced(c.client.clone(), "default");
    let p = api.get("high").await.unwrap();
    assert_eq!(
        p.spec.as_ref().and_then(|s| s.priority),
        Some(1000),
        "the apiserver resolves priorityClassName"
    );
    assert_eq!(
        c.wait_event("low", "Preempted").await,
        format!(
            "Preempted by pod {} on node only",
            p.metadata.uid.as_deref().unwrap()
        )
    );
    // The preemptor is nominated to the node while the victim terminates.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = api.get("high").await.unwrap();
        if p.status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            == Some("only")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nominatedNodeName never set: {:?}",
            p.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No kubelet here: finish the graceful deletion as the kubelet would.
    api.delete("low", &kube::api::DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert_eq!(c.wait_bound("high").await, "only");
    c.stop().await;
}
