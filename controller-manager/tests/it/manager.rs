//! The whole kube-controller-manager: default controllers with leader election on, and the
//! Lease-based election itself.

use std::time::Duration;

use crate::common::wait_for;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::Api;
use rudder_controller_manager::leaderelection::{LeaderElectionConfig, LeaderElector};

fn election(identity: &str) -> LeaderElectionConfig {
    LeaderElectionConfig {
        namespace: "kube-system".into(),
        name: "test-lock".into(),
        identity: identity.into(),
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_millis(200),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_candidate_holds_the_lease() {
    // No controllers: only the apiserver is needed here.
    let cluster = crate::common::Cluster::start("-serviceaccount,-replicaset").await;
    let first = LeaderElector::new(cluster.client.clone(), election("a"))
        .acquire()
        .await
        .unwrap();
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), "kube-system");
    let lease = leases.get("test-lock").await.unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("a"));
    assert_eq!(spec.lease_duration_seconds, Some(15));
    // A second candidate cannot take an unexpired lease.
    let second = LeaderElector::new(cluster.client.clone(), election("b")).acquire();
    assert!(
        tokio::time::timeout(Duration::from_secs(1), second)
            .await
            .is_err(),
        "second candidate acquired a held lease"
    );
    // The holder keeps renewing.
    let renewed = spec.renew_time.unwrap().0;
    wait_for("renewal", 10, || async {
        let t = leases.get("test-lock").await.unwrap().spec?.renew_time?.0;
        (t > renewed).then_some(())
    })
    .await;
    first.release().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_controllers_run_under_leader_election() {
    let cluster = crate::common::Cluster::start_with_args(&["--controllers=*"]).await;
    wait_for("kube-controller-manager lease", 20, || async {
        let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), "kube-system");
        leases
            .get_opt("kube-controller-manager")
            .await
            .ok()
            .flatten()?
            .spec?
            .holder_identity
    })
    .await;
    cluster.namespace("smoke").await;
    let sas: Api<ServiceAccount> = Api::namespaced(cluster.client.clone(), "smoke");
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "smoke");
    wait_for("default serviceaccount", 20, || async {
        sas.get_opt("default").await.unwrap()
    })
    .await;
    wait_for("kube-root-ca.crt", 20, || async {
        cms.get_opt("kube-root-ca.crt").await.unwrap()
    })
    .await;
    cluster.stop().await;
}
