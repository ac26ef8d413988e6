//! serviceaccount-controller and root-ca-certificate-publisher-controller against a real
//! apiserver: every namespace gets the `default` ServiceAccount and the `kube-root-ca.crt`
//! ConfigMap, and both are repaired when removed or edited.

use crate::common::{wait_for, Cluster};
use base64::Engine;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

fn kubeconfig_ca(path: &std::path::Path) -> String {
    let kc = kube::config::Kubeconfig::read_from(path).unwrap();
    let data = kc.clusters[0]
        .cluster
        .as_ref()
        .unwrap()
        .certificate_authority_data
        .clone()
        .expect("apiserver kubeconfig carries certificate-authority-data");
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_get_default_serviceaccount_and_root_ca() {
    let cluster = Cluster::start("serviceaccount,root-ca-cert-publisher").await;
    let ca = kubeconfig_ca(&cluster.kubeconfig());
    let ns = "defaults";
    cluster.namespace(ns).await;
    let sas: Api<ServiceAccount> = Api::namespaced(cluster.client.clone(), ns);
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), ns);

    wait_for("default serviceaccount", 20, || async {
        sas.get_opt("default").await.unwrap()
    })
    .await;
    let cm = wait_for("kube-root-ca.crt", 20, || async {
        cms.get_opt("kube-root-ca.crt").await.unwrap()
    })
    .await;
    assert_eq!(cm.data.unwrap().get("ca.crt"), Some(&ca));
    assert!(cm
        .metadata
        .annotations
        .unwrap()
        .get("kubernetes.io/description")
        .unwrap()
        .starts_with("Contains a CA bundle"));

    // Deleted: recreated.
    sas.delete("default", &Default::default()).await.unwrap();
    let old_uid = cm.metadata.uid.clone();
    cms.delete("kube-root-ca.crt", &Default::default())
        .await
        .unwrap();
    wait_for("default serviceaccount again", 20, || async {
        sas.get_opt("default").await.unwrap()
    })
    .await;
    wait_for("kube-root-ca.crt again", 20, || async {
        cms.get_opt("kube-root-ca.crt")
            .await
            .unwrap()
            .filter(|c| c.metadata.uid != old_uid)
    })
    .await;

    // Edited: restored.
    cms.patch(
        "kube-root-ca.crt",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"ca.crt": "tampered"}})),
    )
    .await
    .unwrap();
    wait_for("ca.crt restored", 20, || async {
        let cm = cms.get("kube-root-ca.crt").await.unwrap();
        (cm.data.unwrap_or_default().get("ca.crt") == Some(&ca)).then_some(())
    })
    .await;
    cluster.stop().await;
}
