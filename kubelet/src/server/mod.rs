//! The kubelet's HTTPS server (upstream `pkg/kubelet/server`, port 10250):
//!
//! | path | what |
//! |---|---|
//! | `/healthz` | `ok` |
//! | `/pods` | a PodList of the pods this kubelet runs |
//! | `/containerLogs/{ns}/{pod}/{container}` | the container's CRI log ([`logs`]) |
//! | `/exec/{ns}/{pod}[/{uid}]/{container}` | CRI Exec, connection proxied to the runtime ([`stream`]) |
//! | `/attach/{ns}/{pod}[/{uid}]/{container}` | CRI Attach, proxied likewise |
//! | `/portforward/{ns}/{pod}[/{uid}]` | CRI PortForward, proxied likewise |
//! | `/stats/summary` | the Summary API ([`stats`]) |
//! | `/metrics/resource`, `/metrics` | Prometheus text |
//!
//! What the server needs from the rest of the kubelet comes in as trait objects:
//! [`PodSource`] (the pods it runs, lookup by namespace/name) and [`StreamingRuntime`]
//! (CRI calls). [`cri`] implements both directly over CRI for setups without a pod
//! manager. Start it with [`serve`].
//!
//! Authentication and authorization of callers: with `client_ca_file` set, a client
//! certificate signed by that CA is required (the apiserver presents its kubelet client
//! certificate); without it any TLS client is served. Upstream's webhook authn/authz
//! (TokenReview/SubjectAccessReview) is not implemented.

pub mod cri;
pub mod logs;
pub mod stats;
pub mod stream;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub use stream::Body;

/// Errors of runtime calls the server makes.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// connecting to the runtime failed
    #[error("connecting to the container runtime: {0}")]
    Connect(String),
    /// a CRI call failed
    #[error("{call}: {message}")]
    Call {
        /// The CRI method.
        call: &'static str,
        /// The runtime's message.
        message: String,
    },
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// binding the port failed
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// reading or generating TLS material failed
    #[error("tls: {0}")]
    Tls(String),
}

/// A container of a pod, as far as the server needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Its name in the pod spec.
    pub name: String,
    /// The runtime's id of the current instance, if one was created.
    pub id: Option<String>,
    /// Whether that instance runs.
    pub running: bool,
}

/// A pod the kubelet runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID (part of its log directory).
    pub uid: String,
    /// The runtime's sandbox id, once the sandbox exists.
    pub sandbox_id: Option<String>,
    /// Its containers (init, app and ephemeral).
    pub containers: Vec<ContainerInfo>,
}

/// One container's resource usage, as CRI ListContainerStats reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerStat {
    /// Runtime container id.
    pub id: String,
    /// Container name.
    pub name: String,
    /// Pod name.
    pub pod: String,
    /// Pod namespace.
    pub namespace: String,
    /// Pod UID.
    pub pod_uid: String,
    /// Creation time, nanoseconds since the epoch (0 if unknown).
    pub created_at_ns: i64,
    /// When the sample was taken, nanoseconds since the epoch.
    pub timestamp_ns: i64,
    /// Cumulative CPU time.
    pub cpu_usage_core_nanos: Option<u64>,
    /// CPU usage rate.
    pub cpu_usage_nano_cores: Option<u64>,
    /// Working set.
    pub memory_working_set_bytes: Option<u64>,
    /// Memory usage.
    pub memory_usage_bytes: Option<u64>,
    /// RSS.
    pub memory_rss_bytes: Option<u64>,
    /// Writable layer usage.
    pub rootfs_used_bytes: Option<u64>,
}

/// The pods the kubelet runs. The kubelet's pod manager implements it; [`cri::CriPods`]
/// derives it from the runtime.
#[async_trait]
pub trait PodSource: Send + Sync + 'static {
    /// The pods as `v1.Pod` JSON objects, for `/pods`.
    async fn pods(&self) -> Vec<Value>;
    /// One pod by namespace and name.
    async fn pod(&self, namespace: &str, name: &str) -> Option<PodInfo>;
}

/// The runtime calls the server makes (CRI v1 Exec, Attach, PortForward, ContainerStatus,
/// ListContainerStats). [`cri::CriStreaming`] implements it over a CRI socket.
#[async_trait]
pub trait StreamingRuntime: Send + Sync + 'static {
    /// CRI Exec: returns the streaming URL.
    async fn exec(
        &self,
        container_id: &str,
        cmd: Vec<String>,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        tty: bool,
    ) -> Result<String, RuntimeError>;
    /// CRI Attach: returns the streaming URL.
    async fn attach(
        &self,
        container_id: &str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        tty: bool,
    ) -> Result<String, RuntimeError>;
    /// CRI PortForward: returns the streaming URL.
    async fn port_forward(&self, sandbox_id: &str, ports: Vec<i32>)
        -> Result<String, RuntimeError>;
    /// Whether the container runs (ends `logs -f` when it stops).
    async fn container_running(&self, container_id: &str) -> bool;
    /// Usage of every container.
    async fn container_stats(&self) -> Result<Vec<ContainerStat>, RuntimeError>;
}

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The node's name (certificate SAN, summary nodeName).
    pub node_name: String,
    /// Extra SANs (node IPs, host names) for a generated serving certificate.
    pub hosts: Vec<String>,
    /// `--tls-cert-file`; a self-signed certificate is generated without it.
    pub tls_cert_file: Option<PathBuf>,
    /// `--tls-private-key-file`.
    pub tls_private_key_file: Option<PathBuf>,
    /// `--client-ca-file`: when set, clients must present a certificate signed by it.
    pub client_ca_file: Option<PathBuf>,
    /// Where the runtime writes pod logs (upstream `/var/log/pods`).
    pub pod_logs_dir: PathBuf,
}

impl ServerConfig {
    /// Defaults for a node: generated certificate, `/var/log/pods`.
    pub fn new(node_name: impl Into<String>) -> ServerConfig {
        ServerConfig {
            node_name: node_name.into(),
            hosts: Vec::new(),
            tls_cert_file: None,
            tls_private_key_file: None,
            client_ca_file: None,
            pod_logs_dir: PathBuf::from("/var/log/pods"),
        }
    }
}

/// What the request handlers share.
pub struct Server {
    config: ServerConfig,
    pods: Arc<dyn PodSource>,
    runtime: Arc<dyn StreamingRuntime>,
}

/// A running server.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The serving certificate (PEM), e.g. for clients that pin it.
    pub cert_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting connections.
    pub fn stop(self) {
        self.task.abort();
    }
}

fn load_certs(pem: &[u8]) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, ServerError> {
    rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServerError::Tls(format!("parsing certificates: {e}")))
}

fn read(path: &PathBuf) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|e| ServerError::Tls(format!("reading {}: {e}", path.display())))
}

/// A self-signed serving certificate for the node, as upstream's kubelet generates one
/// when no `--tls-cert-file` is given (`<node>` and the node's addresses as SANs).
pub fn self_signed_cert(
    node_name: &str,
    hosts: &[String],
) -> Result<(String, String), ServerError> {
    let tls = |e: rcgen::Error| ServerError::Tls(e.to_string());
    let mut names = vec![node_name.to_string(), "localhost".to_string()];
    let mut ips = vec![std::net::IpAddr::from([127, 0, 0, 1])];
    for h in hosts {
        match h.parse() {
            Ok(ip) => ips.push(ip),
            Err(_) => names.push(h.clone()),
        }
    }
    let mut params = rcgen::CertificateParams::new(names).map_err(tls)?;
    params
        .subject_alt_names
        .extend(ips.into_iter().map(rcgen::SanType::IpAddress));
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        format!("{node_name}@{}", chrono::Utc::now().timestamp()),
    );
    params.distinguished_name = dn;
    let key = rcgen::KeyPair::generate().map_err(tls)?;
    let cert = params.self_signed(&key).map_err(tls)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn tls_config(config: &ServerConfig) -> Result<(rustls::ServerConfig, String), ServerError> {
    let (cert_pem, key_pem) = match (&config.tls_cert_file, &config.tls_private_key_file) {
        (Some(c), Some(k)) => (read(c)?, read(k)?),
        (None, None) => {
            let (c, k) = self_signed_cert(&config.node_name, &config.hosts)?;
            (c.into_bytes(), k.into_bytes())
        }
        _ => {
            return Err(ServerError::Tls(
                "--tls-cert-file and --tls-private-key-file must be given together".into(),
            ))
        }
    };
    let certs = load_certs(&cert_pem)?;
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| ServerError::Tls(format!("parsing key: {e}")))?
        .ok_or_else(|| ServerError::Tls("no private key found".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    let builder = match &config.client_ca_file {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in load_certs(&read(ca)?)? {
                roots
                    .add(c)
                    .map_err(|e| ServerError::Tls(format!("client CA: {e}")))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| ServerError::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut tls = builder
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    // Upgrades (SPDY, WebSocket) need HTTP/1.1.
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((tls, String::from_utf8_lossy(&cert_pem).into_owned()))
}

/// Starts serving on `listener` in the background.
pub fn serve(
    listener: TcpListener,
    config: ServerConfig,
    pods: Arc<dyn PodSource>,
    runtime: Arc<dyn StreamingRuntime>,
) -> Result<Running, ServerError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    let (tls, cert_pem) = tls_config(&config)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let server = Arc::new(Server {
        config,
        pods,
        runtime,
    });
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let server = server.clone();
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "kubelet server: TLS handshake failed");
                        return;
                    }
                };
                let svc = hyper::service::service_fn(move |req| {
                    let server = server.clone();
                    async move { Ok::<_, Infallible>(server.handle(req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Ok(Running {
        addr,
        cert_pem,
        task,
    })
}

/// Binds `addr` (port 10250 upstream; 0 in tests) and starts serving.
pub async fn bind_and_serve(
    addr: SocketAddr,
    config: ServerConfig,
    pods: Arc<dyn PodSource>,
    runtime: Arc<dyn StreamingRuntime>,
) -> Result<Running, ServerError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    serve(listener, config, pods, runtime)
}

fn text(code: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn json_response(v: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())).boxed());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a query string into decoded pairs, keeping order and repeats.
pub fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// A request path turned into what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/healthz`
    Healthz,
    /// `/pods`
    Pods,
    /// `/containerLogs/{ns}/{pod}/{container}`
    Logs {
        /// Namespace.
        namespace: String,
        /// Pod.
        pod: String,
        /// Container.
        container: String,
    },
    /// `/exec/...` or `/attach/...`
    Stream {
        /// exec or attach.
        exec: bool,
        /// Namespace.
        namespace: String,
        /// Pod.
        pod: String,
        /// Pod UID, when the path carries it.
        uid: Option<String>,
        /// Container.
        container: String,
    },
    /// `/portforward/{ns}/{pod}[/{uid}]`
    PortForward {
        /// Namespace.
        namespace: String,
        /// Pod.
        pod: String,
        /// Pod UID, when the path carries it.
        uid: Option<String>,
    },
    /// `/stats/summary`
    Summary,
    /// `/metrics/resource`
    ResourceMetrics,
    /// `/metrics`
    Metrics,
}

/// Maps a path to a [`Route`].
pub fn route(path: &str) -> Option<Route> {
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    Some(match s.as_slice() {
        ["healthz"] => Route::Healthz,
        ["pods"] => Route::Pods,
        ["stats", "summary"] => Route::Summary,
        ["metrics"] => Route::Metrics,
        ["metrics", "resource"] => Route::ResourceMetrics,
        ["containerLogs", ns, pod, c] => Route::Logs {
            namespace: ns.to_string(),
            pod: pod.to_string(),
            container: c.to_string(),
        },
        [kind @ ("exec" | "attach"), ns, pod, c] => Route::Stream {
            exec: *kind == "exec",
            namespace: ns.to_string(),
            pod: pod.to_string(),
            uid: None,
            container: c.to_string(),
        },
        [kind @ ("exec" | "attach"), ns, pod, uid, c] => Route::Stream {
            exec: *kind == "exec",
            namespace: ns.to_string(),
            pod: pod.to_string(),
            uid: Some(uid.to_string()),
            container: c.to_string(),
        },
        ["portforward", ns, pod] => Route::PortForward {
            namespace: ns.to_string(),
            pod: pod.to_string(),
            uid: None,
        },
        ["portforward", ns, pod, uid] => Route::PortForward {
            namespace: ns.to_string(),
            pod: pod.to_string(),
            uid: Some(uid.to_string()),
        },
        _ => return None,
    })
}

impl Server {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let Some(r) = route(req.uri().path()) else {
            return text(StatusCode::NOT_FOUND, "404 page not found\n");
        };
        let query = parse_query(req.uri().query());
        let streaming = matches!(r, Route::Stream { .. } | Route::PortForward { .. });
        if !streaming && req.method() != Method::GET && req.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
        }
        match r {
            Route::Healthz => text(StatusCode::OK, "ok"),
            Route::Pods => {
                let items = self.pods.pods().await;
                json_response(&json!({
                    "kind": "PodList",
                    "apiVersion": "v1",
                    "metadata": {},
                    "items": items,
                }))
            }
            Route::Logs {
                namespace,
                pod,
                container,
            } => self.logs(&namespace, &pod, &container, &query).await,
            Route::Stream {
                exec,
                namespace,
                pod,
                uid,
                container,
            } => {
                self.stream(
                    req,
                    exec,
                    &namespace,
                    &pod,
                    uid.as_deref(),
                    &container,
                    &query,
                )
                .await
            }
            Route::PortForward {
                namespace,
                pod,
                uid,
            } => {
                self.port_forward(req, &namespace, &pod, uid.as_deref(), &query)
                    .await
            }
            Route::Summary => {
                let node = stats::read_node_stats().await;
                let cs = self.runtime.container_stats().await;
                match cs {
                    Ok(cs) => json_response(&stats::summary(&self.config.node_name, &node, &cs)),
                    Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
                }
            }
            Route::ResourceMetrics => {
                let node = stats::read_node_stats().await;
                let cs = self.runtime.container_stats().await;
                let err = cs.is_err();
                let body = stats::resource_metrics(&node, &cs.unwrap_or_default(), err);
                prometheus(body)
            }
            Route::Metrics => {
                let pods = self.pods.pods().await.len();
                let cs = self.runtime.container_stats().await.unwrap_or_default();
                prometheus(stats::kubelet_metrics(pods, &cs, &self.config.node_name))
            }
        }
    }

    /// Finds the pod (checking the UID when the path has one); errors as upstream's
    /// kubelet words them.
    async fn find_pod(
        &self,
        namespace: &str,
        pod: &str,
        uid: Option<&str>,
    ) -> Result<PodInfo, Response<Body>> {
        match self.pods.pod(namespace, pod).await {
            Some(p) if uid.is_none_or(|u| u == p.uid) => Ok(p),
            _ => Err(text(StatusCode::NOT_FOUND, "pod does not exist\n")),
        }
    }

    async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        query: &[(String, String)],
    ) -> Response<Body> {
        let opts = match logs::LogOptions::from_query(query, chrono::Utc::now()) {
            Ok(o) => o,
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
        };
        let Some(p) = self.pods.pod(namespace, pod).await else {
            return text(
                StatusCode::NOT_FOUND,
                format!("pod {namespace}/{pod} does not exist\n"),
            );
        };
        let Some(c) = p.containers.iter().find(|c| c.name == container) else {
            return text(
                StatusCode::NOT_FOUND,
                format!("container {container:?} in pod {pod:?} is not available\n"),
            );
        };
        let dir =
            logs::container_log_dir(&self.config.pod_logs_dir, namespace, pod, &p.uid, container);
        let files = logs::log_files(&dir);
        let file = if opts.previous {
            files.get(1)
        } else {
            files.first()
        };
        let Some(file) = file.cloned() else {
            // Upstream: `previous terminated container "c" in pod "p" not found`.
            let msg = if opts.previous {
                format!("previous terminated container {container:?} in pod {pod:?} not found\n")
            } else {
                format!("container {container:?} in pod {pod:?} is waiting to start: ContainerCreating\n")
            };
            return text(StatusCode::BAD_REQUEST, msg);
        };
        let runtime = self.runtime.clone();
        let id = c.id.clone().filter(|_| !opts.previous);
        let still_running: logs::StillRunning = Box::new(move || {
            let runtime = runtime.clone();
            let id = id.clone();
            Box::pin(async move {
                match id {
                    Some(id) => runtime.container_running(&id).await,
                    None => false,
                }
            })
        });
        let (tx, mut rx) = mpsc::channel::<Bytes>(16);
        tokio::spawn(async move {
            if let Err(e) = logs::stream_log(file, opts, still_running, tx).await {
                tracing::debug!(error = %e, "log stream ended");
            }
        });
        let (ftx, frx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
        tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if ftx.send(Ok(Frame::data(b))).await.is_err() {
                    return;
                }
            }
        });
        let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(frx)).boxed();
        let mut r = Response::new(body);
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain"),
        );
        r
    }

    #[allow(clippy::too_many_arguments)]
    async fn stream(
        &self,
        req: Request<Incoming>,
        exec: bool,
        namespace: &str,
        pod: &str,
        uid: Option<&str>,
        container: &str,
        query: &[(String, String)],
    ) -> Response<Body> {
        let p = match self.find_pod(namespace, pod, uid).await {
            Ok(p) => p,
            Err(r) => return r,
        };
        let Some(id) = p
            .containers
            .iter()
            .find(|c| c.name == container)
            .and_then(|c| c.id.clone())
        else {
            return text(
                StatusCode::NOT_FOUND,
                format!("container not found ({container:?})\n"),
            );
        };
        let f = stream::StreamFlags::from_query(query);
        let url = if exec {
            if f.command.is_empty() {
                return text(StatusCode::BAD_REQUEST, "missing required command\n");
            }
            self.runtime
                .exec(&id, f.command, f.stdin, f.stdout, f.stderr, f.tty)
                .await
        } else {
            self.runtime
                .attach(&id, f.stdin, f.stdout, f.stderr, f.tty)
                .await
        };
        self.proxy(req, url).await
    }

    async fn port_forward(
        &self,
        req: Request<Incoming>,
        namespace: &str,
        pod: &str,
        uid: Option<&str>,
        query: &[(String, String)],
    ) -> Response<Body> {
        let p = match self.find_pod(namespace, pod, uid).await {
            Ok(p) => p,
            Err(r) => return r,
        };
        let Some(sandbox) = p.sandbox_id else {
            return text(StatusCode::NOT_FOUND, "pod sandbox does not exist\n");
        };
        let ports = query
            .iter()
            .filter(|(k, _)| k == "port")
            .filter_map(|(_, v)| v.parse::<i32>().ok())
            .collect();
        let url = self.runtime.port_forward(&sandbox, ports).await;
        self.proxy(req, url).await
    }

    async fn proxy(
        &self,
        req: Request<Incoming>,
        url: Result<String, RuntimeError>,
    ) -> Response<Body> {
        let url = match url {
            Ok(u) => u,
            Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        };
        match stream::proxy_to_runtime(req, &url).await {
            Ok(r) => r,
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        }
    }
}

fn prometheus(body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).boxed());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_paths() {
        let cases: Vec<(&str, Option<Route>)> = vec![
            ("/healthz", Some(Route::Healthz)),
            ("/pods/", Some(Route::Pods)),
            ("/stats/summary", Some(Route::Summary)),
            ("/metrics/resource", Some(Route::ResourceMetrics)),
            (
                "/containerLogs/default/web/nginx",
                Some(Route::Logs {
                    namespace: "default".into(),
                    pod: "web".into(),
                    container: "nginx".into(),
                }),
            ),
            (
                "/exec/default/web/c",
                Some(Route::Stream {
                    exec: true,
                    namespace: "default".into(),
                    pod: "web".into(),
                    uid: None,
                    container: "c".into(),
                }),
            ),
            (
                "/attach/default/web/uid-1/c",
                Some(Route::Stream {
                    exec: false,
                    namespace: "default".into(),
                    pod: "web".into(),
                    uid: Some("uid-1".into()),
                    container: "c".into(),
                }),
            ),
            (
                "/portforward/default/web",
                Some(Route::PortForward {
                    namespace: "default".into(),
                    pod: "web".into(),
                    uid: None,
                }),
            ),
            ("/containerLogs/default/web", None),
            ("/nope", None),
        ];
        for (path, want) in cases {
            assert_eq!(route(path), want, "{path}");
        }
    }

    #[test]
    fn parses_queries() {
        assert_eq!(
            parse_query(Some(
                "command=sh&command=-c&command=echo+a%20b%3D&input=1&x"
            )),
            vec![
                ("command".to_string(), "sh".to_string()),
                ("command".to_string(), "-c".to_string()),
                ("command".to_string(), "echo a b=".to_string()),
                ("input".to_string(), "1".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
