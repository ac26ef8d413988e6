//! kube-controller-manager's `--secure-port`: `/healthz`, `/livez`, `/readyz` and
//! `/metrics` over HTTPS with the self-signed certificate, and the work-queue metrics of a
//! controller that reconciled something.

use crate::common::{wait_for, Cluster};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;

/// GET over HTTPS without verifying the self-signed certificate (`curl -k`, as the
/// kubelet tests do); the body, or `None` on a failed request.
async fn get(url: String) -> Option<String> {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("curl")
            .args(["-ksSf", "--max-time", "10", &url])
            .output()
            .expect("curl runs");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    })
    .await
    .unwrap()
}

/// A loopback port nobody listens on right now (`--secure-port=0` means "off" upstream,
/// so the test cannot ask for an ephemeral port).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The value of `series` (metric name with labels) in the exposition.
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_workqueue_metrics_over_https() {
    let port = free_port();
    let cluster = Cluster::start_with_args(&[
        "--controllers=serviceaccount-controller",
        "--bind-address=127.0.0.1",
        &format!("--secure-port={port}"),
        "--leader-elect-retry-period=200ms",
    ])
    .await;
    let addr = cluster.cm_secure_addr.expect("secure port bound");
    assert_eq!(addr.port(), port);
    let base = format!("https://{addr}");
    for path in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(get(format!("{base}{path}")).await.as_deref(), Some("ok"));
    }
    assert!(
        get(format!("{base}/nope")).await.is_none(),
        "unknown path 404s"
    );

    // The serviceaccount controller reconciles a new namespace.
    cluster.namespace("metrics").await;
    let sas: Api<ServiceAccount> = Api::namespaced(cluster.client.clone(), "metrics");
    wait_for("default serviceaccount", 20, || async {
        sas.get_opt("default").await.unwrap()
    })
    .await;
    let metrics = wait_for("serviceaccount queue metrics", 20, || async {
        let m = get(format!("{base}/metrics")).await?;
        let done = value(
            &m,
            "workqueue_work_duration_seconds_count{name=\"serviceaccount\"}",
        )?;
        (done >= 1.0).then_some(m)
    })
    .await;
    assert!(
        value(&metrics, "workqueue_adds_total{name=\"serviceaccount\"}").unwrap() >= 1.0,
        "{metrics}"
    );
    // Present (a transient conflict may legitimately have retried an item).
    assert!(value(&metrics, "workqueue_retries_total{name=\"serviceaccount\"}").is_some());
    assert!(value(&metrics, "workqueue_depth{name=\"serviceaccount\"}").is_some());
    assert!(value(
        &metrics,
        "workqueue_queue_duration_seconds_bucket{name=\"serviceaccount\",le=\"+Inf\"}"
    )
    .is_some_and(|n| n >= 1.0));
    for name in [
        "workqueue_unfinished_work_seconds",
        "workqueue_longest_running_processor_seconds",
    ] {
        assert!(value(&metrics, &format!("{name}{{name=\"serviceaccount\"}}")).is_some());
    }
    assert!(metrics.contains("# TYPE workqueue_work_duration_seconds histogram\n"));
    // Leader election is on: this instance leads.
    assert_eq!(
        value(
            &metrics,
            "leader_election_master_status{name=\"kube-controller-manager\"}"
        ),
        Some(1.0)
    );
    cluster.stop().await;
    // Stopping the controller manager closes the port.
    wait_for("port closed", 10, || async {
        get(format!("{base}/healthz")).await.is_none().then_some(())
    })
    .await;
}
