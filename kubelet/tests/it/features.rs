//! Pod features end to end on one node: a real containerd (`hack/containerd.sh`), an
//! in-process apiserver, and the whole kubelet (`rudder_kubelet::run`: pod workers and the
//! HTTPS server the apiserver proxies exec to), with the real kubectl 1.32 where the
//! feature is a kubectl one.
//!
//! - exec probes: readiness success and failure, a failing liveness probe restarts the
//!   container;
//! - httpGet (busybox httpd), tcpSocket (busybox nc) and grpc (an in-test grpc.health.v1
//!   server on loopback probed from a hostNetwork pod) probes, and a 404 readiness failure;
//! - configMap and secret volume updates reach a running pod;
//! - `kubectl cp` into and out of a pod (busybox has `tar`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::Api;
use rudder_kubelet::runtime::cri::CriRuntime;
use rudder_kubelet::runtime::Runtime;
use serde_json::{json, Value};

use crate::common::{kubectl, kubelet_config, wait_for, Apiserver, Containerd, BUSYBOX};

/// containerd, apiserver and a kubelet with its server, torn down by [`Node::stop`].
struct Node {
    name: &'static str,
    apiserver: Apiserver,
    runtime: Arc<CriRuntime>,
    work: tempfile::TempDir,
    stop: tokio::sync::oneshot::Sender<()>,
    kubelet: tokio::task::JoinHandle<Result<(), rudder_kubelet::KubeletError>>,
    ctd: Containerd,
}

impl Node {
    async fn start(name: &'static str) -> Option<Node> {
        let ctd = Containerd::start()?;
        let apiserver = Apiserver::start().await;
        let work = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = kubelet_config(
            work.path(),
            &ctd.endpoint(),
            &apiserver.kubeconfig,
            name,
            "",
            &[format!("--port={port}"), "--address=127.0.0.1".into()],
        );
        let runtime = Arc::new(
            CriRuntime::connect(&ctd.endpoint(), Duration::from_secs(30))
                .await
                .expect("containerd answers CRI"),
        );
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let kubelet = tokio::spawn(rudder_kubelet::run(config, async {
            let _ = stop_rx.await;
        }));
        Some(Node {
            name,
            apiserver,
            runtime,
            work,
            stop,
            kubelet,
            ctd,
        })
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.apiserver.client.clone(), "default")
    }

    async fn create(&self, mut pod: Value) -> String {
        pod["spec"]["nodeName"] = json!(self.name);
        let name = pod["metadata"]["name"].as_str().unwrap().to_string();
        self.pods()
            .create(
                &PostParams::default(),
                &serde_json::from_value(pod).unwrap(),
            )
            .await
            .unwrap();
        name
    }

    /// Waits until `check` holds for the pod; on timeout fails with the pod's last status.
    async fn wait_pod(
        &self,
        name: &str,
        what: &str,
        secs: u64,
        check: impl Fn(&Pod) -> bool,
    ) -> Pod {
        let pods = self.pods();
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let p = pods.get(name).await.ok();
            if let Some(p) = p.as_ref().filter(|p| check(p)) {
                return p.clone();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last status: {}",
                serde_json::to_string_pretty(&p.and_then(|p| p.status)).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The CRI id of the pod's container `c`.
    async fn container_id(&self, pod: &str, c: &str) -> String {
        let p = self
            .wait_pod(pod, &format!("{pod}/{c} running"), 60, |p| {
                status_of(p, c).is_some_and(|s| s.state.and_then(|s| s.running).is_some())
            })
            .await;
        status_of(&p, c)
            .unwrap()
            .container_id
            .unwrap()
            .trim_start_matches("containerd://")
            .to_string()
    }

    /// `cat` inside the container over CRI ExecSync.
    async fn cat(&self, container_id: &str, path: &str) -> String {
        let r = self
            .runtime
            .exec_sync(
                container_id,
                vec!["cat".into(), path.into()],
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        String::from_utf8_lossy(&r.stdout).into_owned()
    }

    async fn stop(self) {
        let pods = self.pods();
        let names: Vec<String> = pods
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        for n in &names {
            let _ = pods.delete(n, &DeleteParams::default()).await;
        }
        wait_for("pods gone", 60, || async {
            pods.list(&Default::default())
                .await
                .ok()?
                .items
                .is_empty()
                .then_some(())
        })
        .await;
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(15), self.kubelet)
            .await
            .expect("kubelet stops")
            .unwrap()
            .unwrap();
        self.apiserver.stop().await;
        drop(self.work);
        drop(self.ctd);
    }
}

fn status_of(p: &Pod, c: &str) -> Option<k8s_openapi::api::core::v1::ContainerStatus> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|s| s.name == c)
        .cloned()
}

fn ready(p: &Pod, c: &str) -> bool {
    status_of(p, c).is_some_and(|s| s.ready)
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn container(name: &str, script: &str, probes: Value) -> Value {
    let mut c = json!({
        "name": name,
        "image": BUSYBOX,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", script],
    });
    for (k, v) in probes.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

const SLEEP: &str = "trap 'exit 0' TERM; while true; do sleep 1; done";

/// A probe spec of `kind` probing every second.
fn probe(kind: Value) -> Value {
    let mut p = json!({"periodSeconds": 1});
    for (k, v) in kind.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_probes_gate_readiness_and_restart_on_liveness_failure() {
    let Some(node) = Node::start("kl-exec-probes").await else {
        return;
    };
    node.create(json!({
        "metadata": {"name": "exec-probes"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [
            container("ok", &format!("touch /tmp/ready; {SLEEP}"),
                json!({"readinessProbe": probe(json!({"exec": {"command": ["cat", "/tmp/ready"]}}))})),
            container("unready", SLEEP,
                json!({"readinessProbe": probe(json!({"exec": {"command": ["cat", "/tmp/missing"]}}))})),
            container("dead", SLEEP,
                json!({"livenessProbe": probe(json!({"exec": {"command": ["false"]}, "failureThreshold": 1}))})),
        ]}
    }))
    .await;
    let p = node
        .wait_pod(
            "exec-probes",
            "exec readiness success and a liveness restart",
            90,
            |p| ready(p, "ok") && status_of(p, "dead").is_some_and(|s| s.restart_count >= 1),
        )
        .await;
    assert!(!ready(&p, "unready"), "a failing exec readiness probe");
    assert!(!pod_ready(&p));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_tcp_and_grpc_probes_work() {
    let Some(node) = Node::start("kl-probes").await else {
        return;
    };
    // grpc.health.v1 on loopback: a hostNetwork pod's IP is the node IP, 127.0.0.1.
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_port = listener.local_addr().unwrap().port();
    let grpc_server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    node.create(json!({
        "metadata": {"name": "probes"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [
            container("http", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www",
                json!({"readinessProbe": probe(json!({"httpGet": {"path": "/index.html", "port": 8080}}))})),
            container("tcp", "exec nc -ll -p 9000 -e true",
                json!({"readinessProbe": probe(json!({"tcpSocket": {"port": 9000}}))})),
            // httpd answers 404 for a missing path: a failed readiness probe.
            container("http404", "mkdir -p /www2 && exec httpd -f -p 8081 -h /www2",
                json!({"readinessProbe": probe(json!({"httpGet": {"path": "/missing", "port": 8081}}))})),
        ]}
    }))
    .await;
    node.create(json!({
        "metadata": {"name": "probes-grpc"},
        "spec": {"hostNetwork": true, "terminationGracePeriodSeconds": 1, "containers": [
            container("grpc", SLEEP,
                json!({"readinessProbe": probe(json!({"grpc": {"port": grpc_port}}))})),
        ]}
    }))
    .await;

    let started = Instant::now();
    let p = node
        .wait_pod("probes", "httpGet and tcpSocket probes succeed", 90, |p| {
            ready(p, "http") && ready(p, "tcp")
        })
        .await;
    eprintln!(
        "httpGet/tcpSocket containers Ready after {:?}",
        started.elapsed()
    );
    assert!(!ready(&p, "http404"), "a 404 readiness probe fails");
    node.wait_pod("probes-grpc", "grpc probe succeeds", 60, |p| {
        ready(p, "grpc") && pod_ready(p)
    })
    .await;
    // The grpc server says NOT_SERVING: readiness turns False.
    reporter
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    node.wait_pod(
        "probes-grpc",
        "grpc NOT_SERVING makes it unready",
        30,
        |p| !ready(p, "grpc") && !pod_ready(p),
    )
    .await;
    grpc_server.abort();
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_map_and_secret_updates_reach_a_running_pod() {
    let Some(node) = Node::start("kl-volumes").await else {
        return;
    };
    let client = node.apiserver.client.clone();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "cfg"}, "data": {"key": "one"}}))
            .unwrap(),
    )
    .await
    .unwrap();
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "sec"}, "stringData": {"pass": "alpha"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let mut c = container("c", SLEEP, json!({}));
    c["volumeMounts"] = json!([
        {"name": "cfg", "mountPath": "/etc/cfg"},
        {"name": "sec", "mountPath": "/etc/sec"}
    ]);
    node.create(json!({
        "metadata": {"name": "vols"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [c], "volumes": [
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "sec", "secret": {"secretName": "sec"}}
        ]}
    }))
    .await;
    let id = node.container_id("vols", "c").await;
    assert_eq!(node.cat(&id, "/etc/cfg/key").await, "one");
    assert_eq!(node.cat(&id, "/etc/sec/pass").await, "alpha");

    cms.patch(
        "cfg",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"key": "two", "added": "new"}})),
    )
    .await
    .unwrap();
    secrets
        .patch(
            "sec",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"pass": "beta"}})),
        )
        .await
        .unwrap();
    let updated = Instant::now();
    wait_for("new configMap and secret content in the pod", 30, || {
        let node = &node;
        let id = id.clone();
        async move {
            let key = node.cat(&id, "/etc/cfg/key").await;
            let added = node.cat(&id, "/etc/cfg/added").await;
            let pass = node.cat(&id, "/etc/sec/pass").await;
            (key == "two" && added == "new" && pass == "beta").then_some(())
        }
    })
    .await;
    eprintln!(
        "volume content updated in the pod {:?} after the API update",
        updated.elapsed()
    );
    // The container still runs: the update did not restart it.
    let p = node.pods().get("vols").await.unwrap();
    assert_eq!(status_of(&p, "c").unwrap().restart_count, 0);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_cp_copies_into_and_out_of_a_pod() {
    let Some(node) = Node::start("kl-cp").await else {
        return;
    };
    node.create(json!({
        "metadata": {"name": "cp"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [
            container("c", &format!("mkdir -p /data && echo made-in-pod > /data/out.txt; {SLEEP}"), json!({})),
        ]}
    }))
    .await;
    let id = node.container_id("cp", "c").await;
    let kc = node.apiserver.kubeconfig.clone();
    let cache = node.work.path().join("kubectl-cache");
    let local = node.work.path().join("in.txt");
    std::fs::write(&local, "sent-from-host\nsecond line\n").unwrap();

    // Into the pod: kubectl runs `tar xmf - -C /tmp` in the container over exec.
    let (code, out, err) = kubectl(
        &kc,
        &cache,
        &[
            "cp",
            local.to_str().unwrap(),
            "default/cp:/tmp/in.txt",
            "-c",
            "c",
        ],
    )
    .await;
    assert_eq!(code, 0, "kubectl cp into the pod: {out} {err}");
    assert_eq!(
        node.cat(&id, "/tmp/in.txt").await,
        "sent-from-host\nsecond line\n"
    );

    // Out of the pod: kubectl runs `tar cf - /data/out.txt` and unpacks locally.
    let back = node.work.path().join("out.txt");
    let (code, out, err) = kubectl(
        &kc,
        &cache,
        &[
            "cp",
            "default/cp:/data/out.txt",
            back.to_str().unwrap(),
            "-c",
            "c",
        ],
    )
    .await;
    assert_eq!(code, 0, "kubectl cp out of the pod: {out} {err}");
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "made-in-pod\n");

    // A directory out of the pod.
    let dir_back = node.work.path().join("data-copy");
    let (code, out, err) = kubectl(
        &kc,
        &cache,
        &[
            "cp",
            "default/cp:/data",
            dir_back.to_str().unwrap(),
            "-c",
            "c",
        ],
    )
    .await;
    assert_eq!(code, 0, "kubectl cp of a directory: {out} {err}");
    assert_eq!(
        std::fs::read_to_string(Path::new(&dir_back).join("out.txt")).unwrap(),
        "made-in-pod\n"
    );
    node.stop().await;
}
