//! endpointslice-controller against a real apiserver: a Service's slices follow its pods'
//! IPs and readiness (sig-network EndpointSlice conformance descriptions).

use crate::common::{wait_for, Cluster};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

/// Plays the kubelet: gives the pod an IP and a readiness.
async fn kubelet_reports(pods: &Api<Pod>, name: &str, ip: &str, ready: bool) {
    let status = if ready { "True" } else { "False" };
    pods.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": status}]
        }})),
    )
    .await
    .unwrap();
}

async fn endpoints(slices: &Api<EndpointSlice>) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
        .await
        .unwrap()
        .items
        .into_iter()
        .flat_map(|s| s.endpoints)
        .map(|e| {
            (
                e.addresses[0].clone(),
                e.conditions.and_then(|c| c.ready).unwrap_or(false),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slices_follow_pods() {
    let cluster = Cluster::start("endpointslice,endpoints-controller").await;
    let ns = "eps";
    cluster.namespace(ns).await;
    let svcs: Api<Service> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let slices: Api<EndpointSlice> = Api::namespaced(cluster.client.clone(), ns);
    let svc = svcs
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
            }))
            .unwrap(),
        )
        .await
        .unwrap();

    // No pods yet: one placeholder slice owned by the Service.
    let placeholder = wait_for("placeholder slice", 20, || async {
        let l = slices
            .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
            .await
            .unwrap()
            .items;
        (l.len() == 1).then(|| l[0].clone())
    })
    .await;
    assert!(placeholder.endpoints.is_empty());
    let labels = placeholder.metadata.labels.unwrap();
    assert_eq!(
        labels["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    let owner = &placeholder.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), Some(&owner.uid)),
        ("Service", svc.metadata.uid.as_ref())
    );

    for (name, ip) in [("a", "10.1.0.1"), ("b", "10.1.0.2")] {
        pods.create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                    "ports": [{"name": "http", "containerPort": 8080}]}]}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
        kubelet_reports(&pods, name, ip, name == "a").await;
    }
    wait_for("two endpoints", 20, || async {
        (endpoints(&slices).await
            == vec![
                ("10.1.0.1".to_string(), true),
                ("10.1.0.2".to_string(), false),
            ])
        .then_some(())
    })
    .await;
    // The core/v1 Endpoints object of the same name agrees.
    let eps: Api<Endpoints> = Api::namespaced(cluster.client.clone(), ns);
    wait_for("endpoints object", 20, || async {
        let e = eps.get_opt("web").await.unwrap()?;
        let subset = e.subsets?.into_iter().next()?;
        let ready: Vec<String> = subset.addresses?.into_iter().map(|a| a.ip).collect();
        let not_ready: Vec<String> = subset
            .not_ready_addresses?
            .into_iter()
            .map(|a| a.ip)
            .collect();
        (ready == ["10.1.0.1"] && not_ready == ["10.1.0.2"] && subset.ports?[0].port == 8080)
            .then_some(())
    })
    .await;
    let slice = &slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
        .await
        .unwrap()
        .items[0];
    let port = &slice.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port, port.protocol.as_deref()),
        (Some("http"), Some(8080), Some("TCP"))
    );

    // Readiness changes and deletions are reflected.
    kubelet_reports(&pods, "b", "10.1.0.2", true).await;
    pods.delete("a", &Default::default()).await.unwrap();
    wait_for("b ready, a gone", 20, || async {
        (endpoints(&slices).await == vec![("10.1.0.2".to_string(), true)]).then_some(())
    })
    .await;
    // Deleting the Service deletes its Endpoints.
    svcs.delete("web", &Default::default()).await.unwrap();
    wait_for("endpoints deleted", 20, || async {
        eps.get_opt("web").await.unwrap().is_none().then_some(())
    })
    .await;
    cluster.stop().await;
}
