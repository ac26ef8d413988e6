//! Leader election on a coordination.k8s.io Lease.

use std::time::{Duration, Instant};

use kube::api::Api;
use serde_json::json;

use crate::common::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_over_a_lease() {
    use k8s_openapi::api::coordination::v1::Lease;
    use rudder_scheduler::leader::{LeaderConfig, LeaderElector};
    // The scheduler itself takes kube-system/kube-scheduler before scheduling.
    let c = Cluster::start_with(&["--leader-elect-retry-period=100ms"]).await;
    c.node("n1", "2", json!({})).await;
    c.pod("p", "100m", json!({})).await;
    assert_eq!(c.wait_bound("p").await, "n1");
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), "kube-system");
    let lease = leases.get("kube-scheduler").await.unwrap();
    let holder = lease.spec.unwrap().holder_identity.unwrap();
    assert!(holder.contains('_'), "{holder}");

    // Two more candidates on another lease: one wins, the other waits for expiry.
    let cfg = |id: &str| LeaderConfig {
        namespace: "kube-system".into(),
        name: "test-lock".into(),
        identity: id.into(),
        lease_duration: Duration::from_secs(1),
        renew_deadline: Duration::from_millis(800),
        retry_period: Duration::from_millis(100),
    };
    let mut a = LeaderElector::new(c.client.clone(), cfg("a"));
    let mut b = LeaderElector::new(c.client.clone(), cfg("b"));
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    assert!(a.try_acquire_or_renew().await.unwrap(), "the holder renews");
    // "a" stops renewing: "b" takes over once it has seen the same record for 1 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.try_acquire_or_renew().await.unwrap() {
        assert!(Instant::now() < deadline, "b never took over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let l = Api::<Lease>::namespaced(c.client.clone(), "kube-system")
        .get("test-lock")
        .await
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(l.holder_identity.as_deref(), Some("b"));
    assert_eq!(l.lease_transitions, Some(1));
    // Release lets "a" in at once.
    b.release().await;
    assert!(a.try_acquire_or_renew().await.unwrap());
    c.stop().await;
}

/// Two replicas on the same Lease: only the holder schedules, so every pod is bound
/// exactly once (one Scheduled event, no binding conflicts); when the holder shuts down it
/// releases the Lease and the other replica takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_with_leader_election_never_both_bind() {
    use k8s_openapi::api::coordination::v1::Lease;
    let mut c = Cluster::apiserver().await;
    let flags = [
        "--leader-elect-lease-duration=3s",
        "--leader-elect-renew-deadline=2s",
        "--leader-elect-retry-period=100ms",
    ];
    let a = c.scheduler(&flags).await;
    let b = c.scheduler(&flags).await;
    let ids = [a.identity.clone().unwrap(), b.identity.clone().unwrap()];
    assert_ne!(ids[0], ids[1]);
    for n in ["n1", "n2", "n3"] {
        c.node(n, "4", json!({})).await;
    }
    let n_pods = 12;
    for i in 0..n_pods {
        c.pod(&format!("p{i}"), "100m", json!({})).await;
    }
    for i in 0..n_pods {
        c.wait_bound(&format!("p{i}")).await;
    }
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), "kube-system");
    let holder = leases
        .get("kube-scheduler")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity
        .unwrap();
    let leader = ids
        .iter()
        .position(|i| *i == holder)
        .expect("holder is one of the two");
    for i in 0..n_pods {
        let name = format!("p{i}");
        // Wait for the event (events are written after the binding).
        c.wait_event(&name, "Scheduled").await;
        assert_eq!(c.events(&name, "Scheduled").await.len(), 1, "{name}");
        assert!(
            c.events(&name, "FailedScheduling").await.is_empty(),
            "{name}: a second scheduler raced for the binding"
        );
    }

    // The leader stops cleanly and releases the Lease; the other one takes over.
    let (old, standby) = if leader == 0 { (a, b) } else { (b, a) };
    old.stop().await;
    c.pod("after", "100m", json!({})).await;
    c.wait_bound("after").await;
    c.wait_event("after", "Scheduled").await;
    let holder = leases
        .get("kube-scheduler")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity
        .unwrap();
    assert_eq!(Some(holder), standby.identity.clone());
    assert_eq!(c.events("after", "Scheduled").await.len(), 1);
    c.schedulers.push(standby);
    c.stop().await;
}
