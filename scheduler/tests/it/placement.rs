//! Pods land where they fit: resources, taints, node affinity, pod anti-affinity and
//! topology spread.

use serde_json::json;

use crate::common::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_land_on_nodes_that_fit() {
    let c = Cluster::start().await;
    c.node("small", "1", json!({})).await;
    c.node("big", "4", json!({})).await;
    c.pod("p1", "2", json!({})).await;
    assert_eq!(c.wait_bound("p1").await, "big");
    assert_eq!(
        c.wait_event("p1", "Scheduled").await,
        "Successfully assigned default/p1 to big"
    );
    // p1's 2 cpu count on "big" now: 2.5 more cpu fit nowhere.
    c.pod("p2", "2500m", json!({})).await;
    assert_eq!(
        c.wait_event("p2", "FailedScheduling").await,
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
    );
    // 1.5 cpu still fit on "big" only.
    c.pod("p3", "1500m", json!({})).await;
    assert_eq!(c.wait_bound("p3").await, "big");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taints_and_node_affinity_are_honoured() {
    let c = Cluster::start().await;
    c.node(
        "cp",
        "4",
        json!({"metadata": {"labels": {"zone": "a"}},
               "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
    )
    .await;
    c.node("wa", "4", json!({"metadata": {"labels": {"zone": "a"}}}))
        .await;
    c.node("wb", "4", json!({"metadata": {"labels": {"zone": "b"}}}))
        .await;

    c.pod(
        "sel",
        "100m",
        json!({"spec": {"nodeSelector": {"zone": "b"}}}),
    )
    .await;
    assert_eq!(c.wait_bound("sel").await, "wb");

    // Required affinity to the control plane's hostname plus a toleration.
    c.pod(
        "tol",
        "100m",
        json!({"spec": {
            "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["cp"]}]}]}}}
        }}),
    )
    .await;
    assert_eq!(c.wait_bound("tol").await, "cp");

    // Zone a without a toleration: only "wa".
    for i in 0..3 {
        let name = format!("za{i}");
        c.pod(
            &name,
            "100m",
            json!({"spec": {"nodeSelector": {"zone": "a"}}}),
        )
        .await;
        assert_eq!(c.wait_bound(&name).await, "wa");
    }
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anti_affinity_and_topology_spread() {
    let c = Cluster::start().await;
    for (n, zone) in [("a1", "za"), ("a2", "za"), ("b1", "zb")] {
        c.node(n, "4", json!({"metadata": {"labels": {"zone": zone}}}))
            .await;
    }
    let anti = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"affinity": {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}}});
    let mut hosts = std::collections::BTreeSet::new();
    for i in 0..3 {
        let name = format!("web{i}");
        c.pod(&name, "100m", anti.clone()).await;
        hosts.insert(c.wait_bound(&name).await);
    }
    assert_eq!(hosts.len(), 3, "one web pod per host: {hosts:?}");
    c.pod("web3", "100m", anti).await;
    assert_eq!(
        c.wait_event("web3", "FailedScheduling").await,
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    );

    // Zone spread with maxSkew 1: two pods land in different zones.
    let spread = json!({"metadata": {"labels": {"app": "api"}}, "spec": {"topologySpreadConstraints": [{
        "maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "api"}}}]}});
    c.pod("api0", "100m", spread.clone()).await;
    let first = c.wait_bound("api0").await;
    c.pod("api1", "100m", spread).await;
    let second = c.wait_bound("api1").await;
    let zone = |n: &str| if n.starts_with('a') { "za" } else { "zb" };
    assert_ne!(zone(&first), zone(&second), "{first} {second}");
    c.stop().await;
}

/// A DaemonSet-style pod pins its node with `matchFields` on `metadata.name`; the other
/// nodes are reported as not satisfying NodeAffinity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_fields_pin_a_daemonset_pod() {
    let c = Cluster::start().await;
    for n in ["n1", "n2", "n3"] {
        c.node(n, "2", json!({})).await;
    }
    let pin = |node: &str| {
        json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [node]}]}]}}}}})
    };
    c.pod("ds-n2", "100m", pin("n2")).await;
    assert_eq!(c.wait_bound("ds-n2").await, "n2");
    c.pod("ds-big", "3", pin("n3")).await;
    assert_eq!(
        c.wait_event("ds-big", "FailedScheduling").await,
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    c.stop().await;
}
