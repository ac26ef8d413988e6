//! The kubelet server and the apiserver's kubelet proxy against a real containerd (started
//! by `hack/containerd.sh up` in a temp dir) and the real kubectl 1.32: a pod sandbox and a
//! busybox container are created directly over CRI, the server finds them through
//! `CriPods`, and `kubectl logs` / `exec` (also `-it` under a pseudo-terminal) / `attach` /
//! `port-forward` and the Python client's `stream()` and `portforward()` go through an
//! in-process apiserver.
//!
//! Needs root, the packages of `hack/containerd.sh install`, and the local registry with
//! the project's images (`hack/containerd.sh images`, run by the test).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Patch, PatchParams, PostParams};
use rudder_kubelet::server::{self, cri::CriPods, cri::CriStreaming, ServerConfig};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{kubectl, Containerd, BUSYBOX, KUBECTL};

fn labels(ns: &str, pod: &str, uid: &str) -> HashMap<String, String> {
    HashMap::from([
        (server::cri::LABEL_POD_NAMESPACE.to_string(), ns.to_string()),
        (server::cri::LABEL_POD_NAME.to_string(), pod.to_string()),
        (server::cri::LABEL_POD_UID.to_string(), uid.to_string()),
    ])
}

async fn kubectl_stdin(
    kubeconfig: &Path,
    cache: &Path,
    args: &[&str],
    input: &[u8],
) -> (i32, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(KUBECTL)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("KUBECACHEDIR", cache)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("running kubectl");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("kubectl exec -i ends after its stdin")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the official Python client's `stream(connect_get_namespaced_pod_exec, ...)`
/// (WebSocket, v4.channel.k8s.io) against the apiserver: the preloaded form returns the
/// output, the streaming form also reports the exit code from the error channel.
async fn python_exec(kubeconfig: &Path, pod: &str) {
    const SCRIPT: &str = r#"
import sys
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(sys.argv[1])
api = client.CoreV1Api()
out = stream(api.connect_get_namespaced_pod_exec, sys.argv[2], "default",
             command=["sh", "-c", "echo py-out"], stderr=True, stdin=False,
             stdout=True, tty=False)
print("preloaded=%r" % out)
ws = stream(api.connect_get_namespaced_pod_exec, sys.argv[2], "default",
            command=["sh", "-c", "echo py-stdout; echo py-stderr >&2; exit 4"],
            stderr=True, stdin=False, stdout=True, tty=False,
            _preload_content=False)
ws.run_forever(timeout=20)
print("stdout=%r" % ws.read_stdout())
print("stderr=%r" % ws.read_stderr())
print("returncode=%r" % ws.returncode)
"#;
    let has_client = std::process::Command::new("python3")
        .args(["-c", "import kubernetes"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        has_client,
        "the Python kubernetes client is missing: run hack/install-deps.sh --python"
    );
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("python3")
            .args(["-c", SCRIPT, kubeconfig.to_str().unwrap(), pod])
            .output(),
    )
    .await
    .expect("the Python exec ends")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python exec: {stdout} {stderr}");
    for line in [
        "preloaded='py-out\\n'",
        "stdout='py-stdout\\n'",
        "stderr='py-stderr\\n'",
        "returncode=4",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line} missing in {stdout:?} ({stderr})"
        );
    }
}

/// `kubectl exec -it` needs a terminal on its side: it runs under util-linux `script`,
/// which gives it a pseudo-terminal sized 45x123 (`stty` before kubectl starts), so kubectl
/// sends that size on the resize channel. The remote command prints its tty, waits for the
/// size to arrive and exits 5. Returns script's exit code (`-e`: the child's), the
/// terminal's output and kubectl's stderr (-v=4, written to a file so that it stays off the
/// terminal).
async fn kubectl_tty(
    kubeconfig: &Path,
    cache: &Path,
    dir: &Path,
    pod: &str,
) -> (i32, String, String) {
    let remote = r#"tty; n=0; while [ "$(stty size 2>/dev/null)" != "45 123" ] && [ $n -lt 100 ]; do n=$((n+1)); sleep 0.1; done; echo size=$(stty size); exit 5"#;
    let err_file = dir.join("kubectl-tty.err");
    let line = format!(
        "stty cols 123 rows 45; exec {KUBECTL} -v=4 exec -it {pod} -- sh -c '{remote}' 2>{}",
        err_file.display()
    );
    let mut child = tokio::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("KUBECONFIG", kubeconfig)
        .env("KUBECACHEDIR", cache)
        // An open pipe that is never written: script forwards its stdin to the terminal,
        // and an EOF there would reach the remote shell.
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("running script (util-linux)");
    let stdin = child.stdin.take();
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("kubectl exec -it ends with its remote command")
        .unwrap();
    drop(stdin);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        std::fs::read_to_string(&err_file).unwrap_or_default(),
    )
}

/// Runs the official Python client's `kubernetes.stream.portforward` (a WebSocket with the
/// v4 channel protocol, a data and an error channel per port) to ports 8080 (busybox
/// httpd) and 8081 (nothing listens) of the pod: sends an HTTP/1.0 request through 8080
/// and reads 8081 until it ends; returns (success, stdout, stderr) of the script, which
/// prints the page and both ports' error channels.
async fn python_portforward(kubeconfig: &Path, pod: &str) -> (bool, String, String) {
    const SCRIPT: &str = r#"
import sys
from kubernetes import client, config
from kubernetes.stream import portforward
config.load_kube_config(sys.argv[1])
api = client.CoreV1Api()
pf = portforward(api.connect_get_namespaced_pod_portforward, sys.argv[2], "default",
                 ports="8080,8081")

def read_all(s):
    s.settimeout(20)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk

web = pf.socket(8080)
web.sendall(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n")
data = read_all(web)
web.close()
print("status=%r" % data.split(b"\r\n", 1)[0])
print("body=%r" % data.split(b"\r\n\r\n", 1)[-1])
closed = pf.socket(8081)
print("closed-port-data=%r" % read_all(closed))
closed.close()
print("error-8080=%r" % pf.error(8080))
print("error-8081=%s" % pf.error(8081))
"#;
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("python3")
            .args(["-c", SCRIPT, kubeconfig.to_str().unwrap(), pod])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the Python port-forward ends")
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn curl(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-ksS", "--max-time", "10", url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_exec_through_the_apiserver_reach_containerd() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rudder_apiserver::stream_translate=trace")
        .with_test_writer()
        .try_init();
    let Some(ctd) = Containerd::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let logs_dir = work.path().join("pods");
    let channel = server::cri::connect(&ctd.socket).await.unwrap();
    let mut rt = RuntimeServiceClient::new(channel.clone());
    let mut images = ImageServiceClient::new(channel.clone());

    // A sandbox and a container, as the kubelet's pod workers would create them.
    let (ns, name, uid) = ("default", "web", uuid::Uuid::new_v4().to_string());
    let log_dir = logs_dir.join(format!("{ns}_{name}_{uid}"));
    std::fs::create_dir_all(&log_dir).unwrap();
    let sandbox_config = cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: uid.clone(),
            namespace: ns.into(),
            attempt: 0,
        }),
        hostname: name.into(),
        log_directory: log_dir.to_string_lossy().into_owned(),
        labels: labels(ns, name, &uid),
        ..Default::default()
    };
    images
        .pull_image(cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: BUSYBOX.into(),
                ..Default::default()
            }),
            sandbox_config: Some(sandbox_config.clone()),
            ..Default::default()
        })
        .await
        .expect("pulling busybox from the local registry");
    let sandbox = rt
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(sandbox_config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .expect("RunPodSandbox")
        .into_inner()
        .pod_sandbox_id;
    let mut clabels = labels(ns, name, &uid);
    clabels.insert(server::cri::LABEL_CONTAINER_NAME.into(), "c".into());
    let container = rt
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: sandbox.clone(),
            config: Some(cri::ContainerConfig {
                metadata: Some(cri::ContainerMetadata {
                    name: "c".into(),
                    attempt: 0,
                }),
                image: Some(cri::ImageSpec {
                    image: BUSYBOX.into(),
                    ..Default::default()
                }),
                command: vec![
                    "sh".into(),
                    "-c".into(),
                    "mkdir -p /www; echo hi-from-pod > /www/index.html; httpd -p 8080 -h /www; \
                     echo hello; echo oops >&2; echo third; \
                     while true; do echo tick; sleep 1; done"
                        .into(),
                ],
                log_path: "c/0.log".into(),
                labels: clabels,
                ..Default::default()
            }),
            sandbox_config: Some(sandbox_config.clone()),
        })
        .await
        .expect("CreateContainer")
        .into_inner()
        .container_id;
    rt.start_container(cri::StartContainerRequest {
        container_id: container.clone(),
    })
    .await
    .expect("StartContainer");

    // The kubelet server over CRI.
    let mut cfg = ServerConfig::new("node-1");
    cfg.pod_logs_dir = logs_dir.clone();
    let kubelet = server::bind_and_serve(
        "127.0.0.1:0".parse().unwrap(),
        cfg,
        Arc::new(CriPods::new(channel.clone())),
        Arc::new(CriStreaming::new(channel.clone())),
    )
    .await
    .unwrap();
    let base = format!("https://127.0.0.1:{}", kubelet.addr.port());
    assert_eq!(curl(&format!("{base}/healthz")), "ok");
    let pods: serde_json::Value = serde_json::from_str(&curl(&format!("{base}/pods"))).unwrap();
    assert_eq!(pods["items"][0]["metadata"]["uid"], uid.as_str());
    let summary: serde_json::Value =
        serde_json::from_str(&curl(&format!("{base}/stats/summary"))).unwrap();
    assert_eq!(summary["node"]["nodeName"], "node-1");
    assert!(curl(&format!("{base}/metrics/resource")).contains("node_cpu_usage_seconds_total"));

    // The apiserver, with a Node pointing at the kubelet and the Pod bound to it.
    let api_dir = work.path().join("apiserver");
    let opts = rudder_apiserver::Options::parse_from([
        "kube-apiserver",
        "--data-dir",
        api_dir.to_str().unwrap(),
        "--secure-port",
        "0",
        "--bind-address",
        "127.0.0.1",
    ]);
    let api = rudder_apiserver::start(opts).await.unwrap();
    let kcfg = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&api.kubeconfig).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(kcfg).unwrap();
    let nodes: kube::Api<Node> = kube::Api::all(client.clone());
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "node-1"}})).unwrap(),
        )
        .await
        .unwrap();
    nodes
        .patch_status(
            "node-1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.addr.port()}},
            }})),
        )
        .await
        .unwrap();
    let pods_api: kube::Api<Pod> = kube::Api::namespaced(client.clone(), ns);
    pods_api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": BUSYBOX}]},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    // kubectl port-forward refuses pods that are not Running; this test stands in for the
    // kubelet's status manager.
    pods_api
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running"}})),
        )
        .await
        .unwrap();
    let kc = api.kubeconfig.clone();
    let cache = work.path().join("kubectl-cache");

    // logs: wait until the container's three lines are in its CRI log.
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let (code, out, err) = kubectl(&kc, &cache, &["logs", name, "-c", "c"]).await;
        if code == 0 && out.lines().count() >= 4 {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "kubectl logs: code {code}, out {out:?}, err {err:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for line in ["hello", "oops", "third", "tick"] {
        assert!(out.lines().any(|l| l == line), "{line} missing in {out:?}");
    }
    // stdout and stderr are separate pipes, so their relative order in the file varies.
    let last = format!("{}\n", out.lines().last().unwrap());
    // A new `tick` may have been written since (one a second).
    let (code, out, err) = kubectl(&kc, &cache, &["logs", name, "--tail=1"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out == last || out == "tick\n", "{out:?}, last was {last:?}");
    let (code, out, _) = kubectl(&kc, &cache, &["logs", name, "--tail=1", "--timestamps"]).await;
    assert_eq!(code, 0);
    assert!(
        out.ends_with(&format!("Z {last}")) || out.ends_with("Z tick\n"),
        "{out:?}"
    );
    assert_eq!(out.lines().count(), 1, "{out:?}");
    let (code, _, err) = kubectl(&kc, &cache, &["logs", name, "-c", "nope"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("container nope is not valid for pod web"),
        "{err}"
    );

    // nodes/proxy reaches the kubelet's own endpoints.
    let (code, out, err) = kubectl(
        &kc,
        &cache,
        &["get", "--raw", "/api/v1/nodes/node-1/proxy/healthz"],
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "ok"), "{err}");
    let (code, out, err) = kubectl(
        &kc,
        &cache,
        &["get", "--raw", "/api/v1/nodes/node-1/proxy/stats/summary"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["pods"][0]["podRef"]["name"], name);

    // exec: output and exit codes.
    let (code, out, err) = kubectl(
        &kc,
        &cache,
        &["exec", name, "-c", "c", "--", "sh", "-c", "echo $((40+2))"],
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "42\n"), "kubectl exec: {err}");
    let (code, _, _) = kubectl(&kc, &cache, &["exec", name, "--", "sh", "-c", "exit 3"]).await;
    assert_eq!(code, 3, "the remote exit code is kubectl's");

    // The apiserver translates kubectl's WebSocket (v5.channel.k8s.io) into SPDY toward
    // the kubelet: kubectl logs "RemoteCommand fallback" at -v=4 when it has to use SPDY.
    let (code, out, err) = kubectl(
        &kc,
        &cache,
        &[
            "-v=4",
            "exec",
            name,
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    )
    .await;
    eprintln!("kubectl exec -v=4 stderr:\n{err}");
    assert_eq!((code, out.as_str()), (3, "out\n"), "{err}");
    assert!(err.lines().any(|l| l == "err"), "{err}");
    assert!(
        !err.contains("fallback"),
        "kubectl fell back to SPDY: {err}"
    );
    assert!(
        err.contains("The subprotocol is v5.channel.k8s.io"),
        "kubectl negotiated v5.channel.k8s.io: {err}"
    );
    // stdin, closed with the v5 close signal.
    let (code, out, err) = kubectl_stdin(
        &kc,
        &cache,
        &["-v=4", "exec", "-i", name, "--", "cat"],
        b"hi\n",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "hi\n"), "{err}");
    assert!(
        !err.contains("fallback"),
        "kubectl fell back to SPDY: {err}"
    );

    // A terminal: tty=true, stdin, and the terminal size on the resize channel (v5).
    let (code, out, err) = kubectl_tty(&kc, &cache, work.path(), name).await;
    eprintln!("kubectl exec -it terminal: {out:?}\nstderr:\n{err}");
    assert!(
        out.lines().any(|l| l.trim_end().starts_with("/dev/pts/")),
        "the remote command has a terminal: {out:?} ({err})"
    );
    assert!(
        out.lines().any(|l| l.trim_end() == "size=45 123"),
        "the terminal size reached the remote terminal: {out:?} ({err})"
    );
    assert_eq!(
        code, 5,
        "the remote exit code is kubectl's: {out:?} ({err})"
    );
    assert!(
        err.contains("The subprotocol is v5.channel.k8s.io") && !err.contains("fallback"),
        "kubectl exec -it used WebSocket v5: {err}"
    );

    // The Python client's kubernetes.stream (v4.channel.k8s.io).
    python_exec(&kc, name).await;

    // logs -f and attach: both keep delivering the container's new output.
    for args in [
        &["logs", "-f", name, "--tail=1"][..],
        &["attach", name, "-c", "c"][..],
    ] {
        let mut child = tokio::process::Command::new(KUBECTL)
            .args(args)
            .env("KUBECONFIG", &kc)
            .env("KUBECACHEDIR", &cache)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut ticks = 0;
        while ticks < 2 {
            let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("kubectl {args:?} delivered no new output"))
                .unwrap()
                .unwrap_or_else(|| panic!("kubectl {args:?} ended"));
            if line == "tick" {
                ticks += 1;
            }
        }
        let _ = child.kill().await;
    }

    // port-forward (SPDY portforward.k8s.io) to busybox httpd in the pod.
    let mut pf = tokio::process::Command::new(KUBECTL)
        .args(["-v=4", "port-forward", name, ":8080"])
        .env("KUBECONFIG", &kc)
        .env("KUBECACHEDIR", &cache)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut pf_err = pf.stderr.take().unwrap();
    let mut lines = BufReader::new(pf.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(15), lines.next_line())
        .await
        .expect("port-forward prints its local port")
        .unwrap()
        .unwrap_or_default();
    // "Forwarding from 127.0.0.1:PORT -> 8080"
    let local = first
        .strip_prefix("Forwarding from ")
        .and_then(|r| r.split(" -> ").next())
        .unwrap_or_else(|| {
            let mut err = String::new();
            let _ = futures::executor::block_on(tokio::io::AsyncReadExt::read_to_string(
                &mut pf_err,
                &mut err,
            ));
            panic!("unexpected port-forward output {first:?}, stderr {err:?}")
        })
        .to_string();
    let page = tokio::task::spawn_blocking(move || curl(&format!("http://{local}/")))
        .await
        .unwrap();
    assert_eq!(page, "hi-from-pod\n");
    let _ = pf.kill().await;
    let mut pf_log = String::new();
    let _ = tokio::io::AsyncReadExt::read_to_string(&mut pf_err, &mut pf_log).await;
    eprintln!("kubectl port-forward -v=4 stderr:\n{pf_log}");
    assert!(
        !pf_log.contains("fallback"),
        "kubectl port-forward fell back to SPDY: {pf_log}"
    );
    // tunneling_dialer.go logs the tunnel's subprotocol without its "SPDY/3.1+" prefix.
    assert!(
        pf_log.contains("Before WebSocket Upgrade Connection")
            && pf_log.contains("negotiated protocol: portforward.k8s.io"),
        "kubectl tunnelled SPDY over WebSocket: {pf_log}"
    );

    // The Python client's portforward: a v4 channel WebSocket (no SPDY inside), which the
    // apiserver passes to the kubelet and the kubelet to containerd's streaming server, as
    // upstream does.
    let (ok, out, err) = python_portforward(&kc, name).await;
    eprintln!("python portforward stdout:\n{out}\nstderr:\n{err}");
    assert!(ok, "python portforward: {out} {err}");
    for line in [
        "status=b'HTTP/1.1 200 OK'",
        "body=b'hi-from-pod\\n'",
        "closed-port-data=b''",
        "error-8080=None",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "{line} missing in {out:?} ({err})"
        );
    }
    // The runtime's message for the refused connection arrives on port 8081's error
    // channel (upstream: "error forwarding port 8081 to pod ...").
    assert!(
        out.lines()
            .any(|l| l.starts_with("error-8081=") && l.contains("8081") && l != "error-8081=None"),
        "port 8081's error channel: {out:?} ({err})"
    );

    // Clean up the pod on the runtime; the containerd guard removes the rest.
    kubelet.stop();
    let _ = rt
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: sandbox.clone(),
        })
        .await;
    let _ = rt
        .remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: sandbox,
        })
        .await;
    api.stop().await;
}
