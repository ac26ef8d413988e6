//! Node IPAM (range allocator) against a real apiserver: with `--allocate-node-cidrs` each
//! node gets a distinct `/--node-cidr-mask-size` slice of `--cluster-cidr` in
//! spec.podCIDR/podCIDRs; a deleted node's CIDR is reused; when the range is exhausted the
//! node gets a `CIDRNotAvailable` event.

use k8s_openapi::api::core::v1::{Event, Node};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::Api;
use serde_json::json;

use crate::common::{wait_for, Cluster};

async fn create_node(nodes: &Api<Node>, name: &str) {
    let n: Node = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    nodes.create(&PostParams::default(), &n).await.unwrap();
}

async fn cidr_of(nodes: &Api<Node>, name: &str) -> String {
    wait_for(&format!("podCIDR on {name}"), 15, || async {
        let n = nodes.get(name).await.unwrap();
        let spec = n.spec?;
        let cidr = spec.pod_cidr?;
        assert_eq!(spec.pod_cidrs, Some(vec![cidr.clone()]));
        Some(cidr)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodeipam_assigns_releases_and_reports_exhaustion() {
    let cluster = Cluster::start_with_args(&[
        "--controllers=nodeipam",
        "--leader-elect=false",
        "--allocate-node-cidrs=true",
        "--cluster-cidr=10.244.0.0/23",
        "--node-cidr-mask-size=24",
    ])
    .await;
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    create_node(&nodes, "a").await;
    let a = cidr_of(&nodes, "a").await;
    create_node(&nodes, "b").await;
    let b = cidr_of(&nodes, "b").await;
    let mut got = vec![a.clone(), b.clone()];
    got.sort();
    assert_eq!(got, ["10.244.0.0/24", "10.244.1.0/24"]);

    // The range (two /24s) is exhausted: the third node gets CIDRNotAvailable.
    create_node(&nodes, "c").await;
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), "default");
    wait_for("CIDRNotAvailable event", 15, || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("CIDRNotAvailable")
                    && e.involved_object.name.as_deref() == Some("c")
                    && e.message.as_deref() == Some("Node c status is now: CIDRNotAvailable")
            })
            .then_some(())
    })
    .await;

    // Deleting a node frees its CIDR; the waiting node gets it on its retry.
    nodes.delete("a", &DeleteParams::default()).await.unwrap();
    let c = cidr_of(&nodes, "c").await;
    assert_eq!(c, a);
    cluster.stop().await;
}
