//! Shared helpers: a private containerd from `hack/containerd.sh`, an in-process
//! kube-apiserver on port 0, and condition polling.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};

/// The project's busybox image in the local registry.
pub const BUSYBOX: &str = "127.0.0.1:5000/busybox:latest";

/// The real kubectl 1.32 (the dispatcher in /usr/bin would pick a version by the server's).
pub const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn script(args: &[&str]) -> String {
    let out = Command::new(repo_root().join("hack/containerd.sh"))
        .args(args)
        .output()
        .expect("running hack/containerd.sh");
    assert!(
        out.status.success(),
        "hack/containerd.sh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A private containerd (own root, state, socket, CNI config) stopped with everything it
/// ran on drop.
pub struct Containerd {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
}

impl Containerd {
    /// Starts one, or returns None (after saying why) when containerd is not installed;
    /// `make test` installs it.
    pub fn start() -> Option<Containerd> {
        if Command::new("containerd")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIPPED: containerd is not installed (run hack/containerd.sh install)");
            return None;
        }
        script(&["images"]);
        let dir = tempfile::tempdir().unwrap();
        let socket = PathBuf::from(script(&["up", dir.path().to_str().unwrap()]));
        Some(Containerd { dir, socket })
    }

    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("hack/containerd.sh"))
            .args(["down", self.dir.path().to_str().unwrap()])
            .status();
    }
}

/// An in-process apiserver over SQLite in a temp dir.
pub struct Apiserver {
    pub client: kube::Client,
    pub kubeconfig: PathBuf,
    running: Option<rudder_apiserver::Running>,
    _dir: tempfile::TempDir,
}

impl Apiserver {
    pub async fn start() -> Apiserver {
        let dir = tempfile::tempdir().unwrap();
        let args = [
            "kube-apiserver".to_string(),
            "--data-dir".into(),
            dir.path().display().to_string(),
            "--secure-port".into(),
            "0".into(),
            "--bind-address".into(),
            "127.0.0.1".into(),
        ];
        let opts = <rudder_apiserver::Options as clap::Parser>::parse_from(args);
        let running = rudder_apiserver::start(opts)
            .await
            .expect("apiserver starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !running.server.ready() {
            assert!(Instant::now() < deadline, "apiserver never became ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let kc = Kubeconfig::read_from(&running.kubeconfig).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        Apiserver {
            client: kube::Client::try_from(cfg).unwrap(),
            kubeconfig: running.kubeconfig.clone(),
            running: Some(running),
            _dir: dir,
        }
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// Polls `check` every 100 ms until it returns `Some`, failing after `secs` seconds.
pub async fn wait_for<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the real kubectl with `kubeconfig` and its own discovery cache dir; returns (exit
/// code, stdout, stderr).
pub async fn kubectl(kubeconfig: &Path, cache: &Path, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(KUBECTL)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("KUBECACHEDIR", cache)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("running kubectl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A kubelet configuration for tests: `podLogsDir` and `--root-dir` under `dir`, node name
/// `node`, node IP 127.0.0.1, status every second, plus `extra_yaml` (KubeletConfiguration
/// fields, one per line) and `extra_flags`.
pub fn kubelet_config(
    dir: &Path,
    endpoint: &str,
    kubeconfig: &Path,
    node: &str,
    extra_yaml: &str,
    extra_flags: &[String],
) -> rudder_kubelet::KubeletConfig {
    let cfg_file = dir.join("kubelet.yaml");
    std::fs::write(
        &cfg_file,
        format!(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n\
             podLogsDir: {}\nnodeStatusUpdateFrequency: 1s\n{extra_yaml}",
            dir.join("pods").display()
        ),
    )
    .unwrap();
    let mut args = vec![
        "kubelet".to_string(),
        format!("--config={}", cfg_file.display()),
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--container-runtime-endpoint={endpoint}"),
        format!("--root-dir={}", dir.join("root").display()),
        format!("--hostname-override={node}"),
        "--node-ip=127.0.0.1".into(),
        "--runtime-request-timeout=30s".into(),
    ];
    args.extend_from_slice(extra_flags);
    let opts = <rudder_kubelet::Options as clap::Parser>::parse_from(args);
    rudder_kubelet::KubeletConfig::from_options(&opts).unwrap()
}
