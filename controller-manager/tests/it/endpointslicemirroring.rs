//! endpointslice-mirroring-controller against a real apiserver: the sig-network
//! conformance test "EndpointSlice Mirroring" (test/e2e/network/endpointslicemirroring.go)
//! as an integration test — a selector-less Service with a custom Endpoints gets a
//! mirrored EndpointSlice that follows updates and goes with the Endpoints — plus the
//! cases upstream does not mirror.

use crate::common::{wait_for, Cluster};
use k8s_openapi::api::core::v1::{Endpoints, Event, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

const MANAGED_BY: &str = "endpointslicemirroring-controller.k8s.io";

/// The slices mirrored for `name`.
async fn mirrored(slices: &Api<EndpointSlice>, name: &str) -> Vec<EndpointSlice> {
    slices
        .list(&ListParams::default().labels(&format!(
            "kubernetes.io/service-name={name},endpointslice.kubernetes.io/managed-by={MANAGED_BY}"
        )))
        .await
        .unwrap()
        .items
}

fn shape(s: &EndpointSlice) -> (Vec<(String, bool)>, Vec<i32>) {
    let eps = s
        .endpoints
        .iter()
        .map(|e| {
            (
                e.addresses[0].clone(),
                e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false),
            )
        })
        .collect();
    let ports = s.ports.iter().flatten().filter_map(|p| p.port).collect();
    (eps, ports)
}

async fn create_service(svcs: &Api<Service>, name: &str, selector: Option<serde_json::Value>) {
    let mut spec = json!({"ports": [{"name": "example", "port": 80, "targetPort": 80}]});
    if let Some(sel) = selector {
        spec["selector"] = sel;
    }
    svcs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap(),
    )
    .await
    .unwrap();
}

async fn create_endpoints(eps: &Api<Endpoints>, name: &str, labels: serde_json::Value) {
    eps.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels,
                "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2024-01-01T00:00:00Z", "team": "net"}},
            "subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"name": "example", "port": 80, "protocol": "TCP"}]}]
        }))
        .unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_endpoints_are_mirrored_updated_and_removed() {
    let cluster = Cluster::start("endpointslice-mirroring-controller").await;
    let ns = "mirror";
    cluster.namespace(ns).await;
    let svcs: Api<Service> = Api::namespaced(cluster.client.clone(), ns);
    let eps: Api<Endpoints> = Api::namespaced(cluster.client.clone(), ns);
    let slices: Api<EndpointSlice> = Api::namespaced(cluster.client.clone(), ns);

    // Not mirrored: skip-mirror label; a Service with a selector; no Service at all.
    create_service(&svcs, "skipped", None).await;
    create_endpoints(
        &eps,
        "skipped",
        json!({"endpointslice.kubernetes.io/skip-mirror": "true"}),
    )
    .await;
    create_service(&svcs, "selected", Some(json!({"app": "x"}))).await;
    create_endpoints(&eps, "selected", json!({})).await;
    create_endpoints(&eps, "orphan", json!({})).await;

    // The conformance scenario: a Service without selector and its custom Endpoints.
    create_service(&svcs, "example-custom-endpoints", None).await;
    create_endpoints(&eps, "example-custom-endpoints", json!({"app": "custom"})).await;
    let ep = eps.get("example-custom-endpoints").await.unwrap();
    let slice = wait_for("mirrored slice", 20, || async {
        let mut s = mirrored(&slices, "example-custom-endpoints").await;
        (s.len() == 1 && !s[0].endpoints.is_empty()).then(|| s.remove(0))
    })
    .await;
    assert_eq!(slice.address_type, "IPv4");
    assert_eq!(shape(&slice), (vec![("10.1.2.3".into(), true)], vec![80]));
    let meta = &slice.metadata;
    assert!(meta
        .name
        .as_deref()
        .unwrap()
        .starts_with("example-custom-endpoints-"));
    let labels = meta.labels.as_ref().unwrap();
    assert_eq!(labels["app"], "custom", "Endpoints labels are copied");
    let ann = meta.annotations.clone().unwrap_or_default();
    assert_eq!(ann.get("team").map(String::as_str), Some("net"));
    assert!(!ann.contains_key("endpoints.kubernetes.io/last-change-trigger-time"));
    let owner = &meta.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "Endpoints");
    assert_eq!(owner.name, "example-custom-endpoints");
    assert_eq!(owner.uid, ep.metadata.uid.clone().unwrap());
    assert_eq!(owner.controller, Some(true));

    // The controller has seen every earlier object by now; none of them was mirrored.
    for name in ["skipped", "selected", "orphan"] {
        assert!(mirrored(&slices, name).await.is_empty(), "{name} mirrored");
    }

    // Update the Endpoints (as the conformance test: new address and port), with a
    // not-ready address: the slice follows.
    eps.patch(
        "example-custom-endpoints",
        &PatchParams::default(),
        &Patch::Merge(json!({"subsets": [{
            "addresses": [{"ip": "10.2.3.4"}],
            "notReadyAddresses": [{"ip": "10.2.3.5"}],
            "ports": [{"name": "example", "port": 81, "protocol": "TCP"}]
        }]})),
    )
    .await
    .unwrap();
    wait_for("slice follows the update", 20, || async {
        let s = mirrored(&slices, "example-custom-endpoints").await;
        (s.len() == 1
            && shape(&s[0])
                == (
                    vec![("10.2.3.4".into(), true), ("10.2.3.5".into(), false)],
                    vec![81],
                ))
            .then_some(())
    })
    .await;

    // The Service gains a selector: the mirrored slice goes; losing it brings it back.
    svcs.patch(
        "example-custom-endpoints",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"selector": {"app": "x"}}})),
    )
    .await
    .unwrap();
    wait_for("slice gone after selector", 20, || async {
        mirrored(&slices, "example-custom-endpoints")
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    svcs.patch(
        "example-custom-endpoints",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"selector": null}})),
    )
    .await
    .unwrap();
    wait_for("slice back without selector", 20, || async {
        (mirrored(&slices, "example-custom-endpoints").await.len() == 1).then_some(())
    })
    .await;

    // Delete the Endpoints: the slice goes.
    eps.delete("example-custom-endpoints", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("slice gone after delete", 20, || async {
        mirrored(&slices, "example-custom-endpoints")
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_over_the_subset_limit_are_not_mirrored() {
    let cluster = Cluster::start_with_args(&[
        "--controllers=endpointslice-mirroring-controller",
        "--leader-elect=false",
        "--mirroring-max-endpoints-per-subset=2",
    ])
    .await;
    let ns = "mirror-max";
    cluster.namespace(ns).await;
    let svcs: Api<Service> = Api::namespaced(cluster.client.clone(), ns);
    let eps: Api<Endpoints> = Api::namespaced(cluster.client.clone(), ns);
    let slices: Api<EndpointSlice> = Api::namespaced(cluster.client.clone(), ns);
    create_service(&svcs, "big", None).await;
    eps.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "big"},
            "subsets": [
                {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}],
                 "ports": [{"port": 80, "protocol": "TCP"}]},
                {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80, "protocol": "TCP"}]}
            ]
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let got = wait_for("two slices", 20, || async {
        let s = mirrored(&slices, "big").await;
        (s.len() == 2).then_some(s)
    })
    .await;
    let mut by_type: Vec<(String, usize)> = got
        .iter()
        .map(|s| (s.address_type.clone(), s.endpoints.len()))
        .collect();
    by_type.sort();
    assert_eq!(
        by_type,
        vec![("IPv4".to_string(), 2), ("IPv6".to_string(), 1)]
    );
    // Upstream's warning about the address left out.
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), ns);
    let ev = wait_for("TooManyAddressesToMirror event", 20, || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("TooManyAddressesToMirror"))
    })
    .await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert_eq!(
        ev.message.as_deref(),
        Some("A max of 2 addresses can be mirrored to EndpointSlices per Endpoints subset. 1 addresses were skipped")
    );
    assert_eq!(ev.involved_object.kind.as_deref(), Some("Endpoints"));
    cluster.stop().await;
}
