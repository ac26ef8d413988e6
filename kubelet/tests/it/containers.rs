//! Container-level behaviour on a real containerd: startup probe gating and recorded
//! probe events.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{ListParams, PostParams};
use kube::Api;
use rudder_kubelet::runtime::cri::CriRuntime;
use serde_json::json;

use crate::common::{self, wait_for, Apiserver, Containerd, BUSYBOX};

/// A kubelet (`run_with`) on a private containerd against an in-process apiserver.
struct Node {
    name: String,
    apiserver: Apiserver,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    kubelet: Option<tokio::task::JoinHandle<Result<(), rudder_kubelet::KubeletError>>>,
    work: tempfile::TempDir,
    ctd: Option<Containerd>,
}

impl Node {
    async fn start(name: &str) -> Option<Node> {
        let ctd = Containerd::start()?;
        let apiserver = Apiserver::start().await;
        let work = tempfile::tempdir().unwrap();
        let config = common::kubelet_config(
            work.path(),
            &ctd.endpoint(),
            &apiserver.kubeconfig,
            name,
            "clusterDomain: cluster.local\n",
            &[],
        );
        let runtime = Arc::new(
            CriRuntime::connect(&ctd.endpoint(), Duration::from_secs(30))
                .await
                .expect("containerd answers CRI"),
        );
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let kubelet = tokio::spawn(rudder_kubelet::run_with(
            config,
            apiserver.client.clone(),
            runtime,
            async {
                let _ = stop_rx.await;
            },
        ));
        Some(Node {
            name: name.into(),
            apiserver,
            stop: Some(stop_tx),
            kubelet: Some(kubelet),
            work,
            ctd: Some(ctd),
        })
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.apiserver.client.clone(), "default")
    }

    async fn create(&self, mut pod: serde_json::Value) -> Pod {
        pod["spec"]["nodeName"] = json!(self.name);
        let pod: Pod = serde_json::from_value(pod).unwrap();
        self.pods()
            .create(&PostParams::default(), &pod)
            .await
            .unwrap()
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(k) = self.kubelet.take() {
            tokio::time::timeout(Duration::from_secs(30), k)
                .await
                .expect("kubelet stops")
                .unwrap()
                .unwrap();
        }
        let Node { apiserver, ctd, .. } = self;
        apiserver.stop().await;
        drop(ctd);
    }
}

fn first_status(p: &Pod) -> Option<k8s_openapi::api::core::v1::ContainerStatus> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_probe_gates_started_and_ready_and_records_unhealthy_events() {
    let Some(node) = Node::start("kl-probe-node").await else {
        return;
    };
    node.create(json!({
        "metadata": {"name": "slow"},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [{
                "name": "c", "image": BUSYBOX,
                "command": ["sh", "-c", "sleep 4; touch /tmp/started; trap 'exit 0' TERM; while true; do sleep 1; done"],
                "startupProbe": {"exec": {"command": ["test", "-f", "/tmp/started"]}, "periodSeconds": 1, "failureThreshold": 30},
                "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1},
            }]
        }
    }))
    .await;
    let pods = node.pods();
    // Running but not started (nor ready) while the startup probe fails...
    wait_for("running, not started", 60, || async {
        let cs = first_status(&pods.get("slow").await.ok()?)?;
        let running = cs.state.as_ref()?.running.is_some();
        (running && cs.started == Some(false) && !cs.ready).then_some(())
    })
    .await;
    // ...then started and ready once it succeeds.
    wait_for("started and ready", 30, || async {
        let cs = first_status(&pods.get("slow").await.ok()?)?;
        (cs.started == Some(true) && cs.ready).then_some(())
    })
    .await;
    // The failed attempts are Events on the pod, as upstream's prober records them.
    let events: Api<Event> = Api::namespaced(node.apiserver.client.clone(), "default");
    let ev = wait_for("Unhealthy event", 15, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| {
            e.reason.as_deref() == Some("Unhealthy")
                && e.involved_object.name.as_deref() == Some("slow")
        })
    })
    .await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert_eq!(ev.message.as_deref(), Some("Startup probe failed: "));
    assert_eq!(
        ev.involved_object.field_path.as_deref(),
        Some("spec.containers{c}")
    );
    assert_eq!(
        ev.source.as_ref().and_then(|s| s.component.as_deref()),
        Some("kubelet")
    );
    node.stop().await;
}

fn statuses(p: &Pod) -> Vec<k8s_openapi::api::core::v1::ContainerStatus> {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_etc_hosts_and_termination_messages() {
    let Some(node) = Node::start("kl-hosts-node").await else {
        return;
    };
    let created = node
        .create(json!({
            "metadata": {"name": "hosts"},
            "spec": {
                "restartPolicy": "Never",
                "hostname": "web",
                "subdomain": "sub",
                "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}],
                "containers": [
                    {"name": "c", "image": BUSYBOX,
                     "command": ["sh", "-c", "cat /etc/hosts; printf bye > /dev/termination-log"]},
                    {"name": "f", "image": BUSYBOX, "terminationMessagePolicy": "FallbackToLogsOnError",
                     "command": ["sh", "-c", "echo first; echo last words; exit 3"]},
                    {"name": "own", "image": BUSYBOX, "terminationMessagePath": "/tmp/msg",
                     "command": ["sh", "-c", "echo custom > /tmp/msg"]},
                ]
            }
        }))
        .await;
    let uid = created.metadata.uid.clone().unwrap();
    let pods = node.pods();
    let pod = wait_for("pod Failed with all containers terminated", 60, || async {
        let p = pods.get("hosts").await.ok()?;
        let done = statuses(&p).len() == 3
            && statuses(&p)
                .iter()
                .all(|c| c.state.as_ref().is_some_and(|s| s.terminated.is_some()));
        (done && p.status.as_ref()?.phase.as_deref() == Some("Failed")).then_some(p)
    })
    .await;
    let message = |name: &str| {
        statuses(&pod)
            .into_iter()
            .find(|c| c.name == name)
            .and_then(|c| c.state?.terminated?.message)
    };
    assert_eq!(message("c").as_deref(), Some("bye"));
    assert_eq!(message("f").as_deref(), Some("first\nlast words\n"));
    assert_eq!(message("own").as_deref(), Some("custom\n"));

    // /etc/hosts inside the pod: localhost, the pod IP with the FQDN and hostname, and
    // the hostAliases.
    let pod_ip = pod.status.as_ref().unwrap().pod_ip.clone().expect("pod IP");
    let log = node
        .work
        .path()
        .join(format!("pods/default_hosts_{uid}/c/0.log"));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.splitn(4, ' ').nth(3))
        .collect();
    assert!(lines.contains(&"127.0.0.1\tlocalhost"), "{lines:?}");
    let own = format!("{pod_ip}\tweb.sub.default.svc.cluster.local\tweb");
    assert!(lines.contains(&own.as_str()), "{lines:?}");
    assert!(
        lines.contains(&"10.1.2.3\tfoo.local\tbar.local"),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"# Entries added by HostAliases."),
        "{lines:?}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_link_env_vars() {
    let Some(node) = Node::start("kl-svc-node").await else {
        return;
    };
    let svcs: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(node.apiserver.client.clone(), "default");
    let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "metadata": {"name": "redis-master"},
        "spec": {"ports": [{"name": "db", "port": 6379, "protocol": "TCP"}], "selector": {"app": "redis"}}
    }))
    .unwrap();
    let svc = svcs.create(&PostParams::default(), &svc).await.unwrap();
    let ip = svc.spec.unwrap().cluster_ip.expect("cluster IP allocated");
    let mut uids = Vec::new();
    for (name, links) in [("links", true), ("nolinks", false)] {
        let p = node
            .create(json!({
                "metadata": {"name": name},
                "spec": {"restartPolicy": "Never", "enableServiceLinks": links,
                         "containers": [{"name": "c", "image": BUSYBOX, "command": ["env"]}]}
            }))
            .await;
        uids.push((name, p.metadata.uid.unwrap()));
    }
    let pods = node.pods();
    for (name, _) in &uids {
        wait_for("pod Succeeded", 60, || async {
            let p = pods.get(name).await.ok()?;
            (p.status?.phase.as_deref() == Some("Succeeded")).then_some(())
        })
        .await;
    }
    let env_of = |name: &str, uid: &str| {
        let log = node
            .work
            .path()
            .join(format!("pods/default_{name}_{uid}/c/0.log"));
        std::fs::read_to_string(log)
            .unwrap()
            .lines()
            .filter_map(|l| l.splitn(4, ' ').nth(3).map(str::to_string))
            .collect::<Vec<_>>()
    };
    let with = env_of(uids[0].0, &uids[0].1);
    for want in [
        format!("REDIS_MASTER_SERVICE_HOST={ip}"),
        "REDIS_MASTER_SERVICE_PORT=6379".into(),
        "REDIS_MASTER_SERVICE_PORT_DB=6379".into(),
        format!("REDIS_MASTER_PORT=tcp://{ip}:6379"),
        format!("REDIS_MASTER_PORT_6379_TCP_ADDR={ip}"),
        "REDIS_MASTER_PORT_6379_TCP_PROTO=tcp".into(),
    ] {
        assert!(with.contains(&want), "{want} missing in {with:?}");
    }
    let without = env_of(uids[1].0, &uids[1].1);
    assert!(
        !without.iter().any(|l| l.starts_with("REDIS_MASTER_")),
        "{without:?}"
    );
    node.stop().await;
}
