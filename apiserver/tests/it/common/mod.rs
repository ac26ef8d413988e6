//! Test harness: an in-process kube-apiserver on port 0 over SQLite in a temp dir, or over
//! a real etcd the test starts itself (Debian's etcd-server) on a free loopback port.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};

pub struct TestServer {
    pub running: Option<rudder_apiserver::Running>,
    pub dir: tempfile::TempDir,
    pub client: kube::Client,
    pub etcd: Option<Etcd>,
}

impl TestServer {
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real etcd process, killed on drop.
pub struct Etcd {
    child: Child,
    pub endpoint: String,
    _dir: tempfile::TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Etcd {
    pub fn start() -> Etcd {
        let dir = tempfile::tempdir().unwrap();
        let client = free_port();
        let peer = free_port();
        let endpoint = format!("http://127.0.0.1:{client}");
        let child = Command::new("etcd")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listen-client-urls")
            .arg(&endpoint)
            .arg("--advertise-client-urls")
            .arg(&endpoint)
            .arg("--listen-peer-urls")
            .arg(format!("http://127.0.0.1:{peer}"))
            .arg("--initial-advertise-peer-urls")
            .arg(format!("http://127.0.0.1:{peer}"))
            .arg("--initial-cluster")
            .arg(format!("default=http://127.0.0.1:{peer}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd is installed (hack/install-deps.sh)");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", client)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "etcd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Etcd {
            child,
            endpoint,
            _dir: dir,
        }
    }
}

pub async fn client_for(kubeconfig: &std::path::Path) -> kube::Client {
    let kc = Kubeconfig::read_from(kubeconfig).unwrap();
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    // The tests assert the server's own answers (429, 503): no client-side retries.
    cfg.default_retry = false;
    kube::Client::try_from(cfg).unwrap()
}

/// Starts an apiserver on `data_dir` with extra flags, waits until it is ready, and returns
/// it with a client (no client-side retries).
pub async fn start_on(
    data_dir: &std::path::Path,
    extra: &[&str],
) -> (rudder_apiserver::Running, kube::Client) {
    let mut args = vec![
        "kube-apiserver".to_string(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--secure-port".into(),
        "0".into(),
        "--bind-address".into(),
        "127.0.0.1".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let opts = <rudder_apiserver::Options as clap::Parser>::parse_from(args);
    let running = rudder_apiserver::start(opts)
        .await
        .expect("apiserver starts");
    let client = client_for(&running.kubeconfig).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !running.server.ready() {
        assert!(Instant::now() < deadline, "apiserver never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (running, client)
}

pub async fn start(etcd: bool) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let etcd = etcd.then(Etcd::start);
    let extra: Vec<&str> = match &etcd {
        Some(e) => vec!["--etcd-servers", e.endpoint.as_str()],
        None => vec![],
    };
    let (running, client) = start_on(dir.path(), &extra).await;
    TestServer {
        running: Some(running),
        dir,
        client,
        etcd,
    }
}
