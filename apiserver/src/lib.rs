//! rudder-apiserver: kube-apiserver, the Kubernetes REST API over embedded SQLite or etcd.
//!
//! Start with [`start`] (used by `main.rs` and by tests, which run the server in-process on
//! port 0) and [`server::ApiServer::handle`], which dispatches every request. Resource verbs
//! live in [`resources`], the watch cache in [`watchcache`], discovery in [`discovery`].
//! Storage, the resource catalog, strategies (defaulting/validation), patching, OpenAPI,
//! protobuf decoding and table printing are separate crates (rudder-storage, rudder-api,
//! rudder-registry, rudder-patch, rudder-openapi, rudder-protobuf, rudder-printers).
#![forbid(unsafe_code)]
// ApiError carries a full metav1.Status (message, details, causes); errors are the cold
// path of every handler and boxing them would buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod admission;
pub mod bootstrap;
pub mod certs;
pub mod convert;
pub mod discovery;
pub mod http;
pub mod kubelet_proxy;
pub mod metrics;
pub mod object;
pub mod options;
pub mod request;
pub mod resources;
pub mod selectors;
pub mod server;
pub mod spdy;
pub mod status;
pub mod stream_translate;
pub mod subresources;
pub mod tables;
pub mod watch;
pub mod watchcache;
pub mod websocket;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

pub use options::Options;
use server::{ApiServer, Settings, User};

/// A started apiserver.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The admin kubeconfig it wrote.
    pub kubeconfig: PathBuf,
    /// Its state.
    pub server: Arc<ApiServer>,
    shutdown: tokio::sync::watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.accept.await;
    }
}

fn load_certs(
    path: &std::path::Path,
) -> anyhow::Result<Vec<rustls_pki_types::CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificates in {}", path.display()))
}

fn load_key(path: &std::path::Path) -> anyhow::Result<rustls_pki_types::PrivateKeyDer<'static>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .with_context(|| format!("parsing key in {}", path.display()))?
        .with_context(|| format!("no private key in {}", path.display()))
}

/// Reads the user from a client certificate: CN is the user, O entries are groups.
fn user_from_cert(der: &[u8]) -> Option<User> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(User { name, groups })
}

async fn open_store(opts: &Options) -> anyhow::Result<Arc<dyn rudder_storage::Store>> {
    if opts.etcd_servers.is_empty() {
        std::fs::create_dir_all(&opts.data_dir)
            .with_context(|| format!("creating {}", opts.data_dir.display()))?;
        let path = opts.data_dir.join("state.db");
        let store = rudder_storage::sqlite::SqliteStore::open(&path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Arc::new(store))
    } else {
        let store = rudder_storage::etcd::EtcdStore::connect(&opts.etcd_servers)
            .await
            .with_context(|| format!("connecting to etcd at {:?}", opts.etcd_servers))?;
        Ok(Arc::new(store))
    }
}

/// Opens storage, ensures the PKI and system objects, binds the port and starts serving in
/// the background.
pub async fn start(opts: Options) -> anyhow::Result<Running> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let service_cidr = options::parse_cidr(&opts.service_cluster_ip_range)
        .map_err(anyhow::Error::msg)
        .context("--service-cluster-ip-range")?;
    let advertise = opts
        .advertise_address
        .unwrap_or(if opts.bind_address.is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            opts.bind_address
        });
    let listener = TcpListener::bind(SocketAddr::new(opts.bind_address, opts.secure_port))
        .await
        .with_context(|| format!("binding {}:{}", opts.bind_address, opts.secure_port))?;
    let addr = listener.local_addr()?;

    // PKI: generated on first start unless certificate flags are given.
    let pki = certs::Pki::at(&opts.data_dir.join("pki"));
    let mut hosts = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        "kubernetes.default.svc.cluster.local".to_string(),
        admission::first_service_ip(service_cidr).to_string(),
    ];
    if !hosts.contains(&advertise.to_string()) {
        hosts.push(advertise.to_string());
    }
    let generated = opts.tls_cert_file.is_none() || opts.client_ca_file.is_none();
    if generated {
        let pki = pki.clone();
        let hosts = hosts.clone();
        tokio::task::spawn_blocking(move || pki.ensure(&hosts))
            .await?
            .context("creating certificates")?;
    }
    let (cert_file, key_file) = match (&opts.tls_cert_file, &opts.tls_private_key_file) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (Some(_), None) | (None, Some(_)) => {
            anyhow::bail!("--tls-cert-file and --tls-private-key-file must be given together")
        }
        _ => (pki.serving_cert.clone(), pki.serving_key.clone()),
    };
    let ca_file = opts.client_ca_file.clone().unwrap_or(pki.ca_cert.clone());
    let mut roots = rustls::RootCertStore::empty();
    for c in load_certs(&ca_file)? {
        roots.add(c).context("adding client CA")?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .context("building the client certificate verifier")?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(&cert_file)?, load_key(&key_file)?)
        .context("loading the serving certificate")?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

    // The client certificate toward kubelets: the flags, or the generated one. Generated
    // PKI is ensured above only when serving certificates are generated too.
    let (kc_cert, kc_key) = match (&opts.kubelet_client_certificate, &opts.kubelet_client_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (Some(_), None) | (None, Some(_)) => anyhow::bail!(
            "--kubelet-client-certificate and --kubelet-client-key must be given together"
        ),
        _ => {
            if !generated {
                let pki = pki.clone();
                let hosts = hosts.clone();
                tokio::task::spawn_blocking(move || pki.ensure(&hosts))
                    .await?
                    .context("creating certificates")?;
            }
            (
                pki.kubelet_client_cert.clone(),
                pki.kubelet_client_key.clone(),
            )
        }
    };
    let kubelet_tls = Arc::new(
        kubelet_proxy::kubelet_tls(
            &std::fs::read(&kc_cert).with_context(|| format!("reading {}", kc_cert.display()))?,
            &std::fs::read(&kc_key).with_context(|| format!("reading {}", kc_key.display()))?,
        )
        .map_err(anyhow::Error::msg)
        .context("kubelet client certificate")?,
    );

    let kubeconfig = opts.data_dir.join("admin.kubeconfig");
    if generated {
        let server_url = format!("https://{}", SocketAddr::new(advertise, addr.port()));
        certs::write_kubeconfig(
            &kubeconfig,
            &server_url,
            &certs::read_pem(&pki.ca_cert)?,
            &certs::read_pem(&pki.admin_cert)?,
            &certs::read_pem(&pki.admin_key)?,
            "admin",
        )?;
    }

    // Build the OpenAPI documents off the runtime while storage opens (about a second).
    let openapi = tokio::task::spawn_blocking(rudder_openapi::prebuild);
    let store = open_store(&opts).await?;
    let _compactor =
        rudder_storage::compactor::spawn_compactor(store.clone(), opts.etcd_compaction_interval);
    let server = ApiServer::new(
        store,
        Settings {
            service_cidr,
            advertise_address: advertise,
            secure_port: addr.port(),
            max_requests_inflight: opts.max_requests_inflight,
            max_mutating_requests_inflight: opts.max_mutating_requests_inflight,
            default_toleration_seconds: (
                opts.default_not_ready_toleration_seconds,
                opts.default_unreachable_toleration_seconds,
            ),
            kubelet_tls: Some(kubelet_tls),
        },
    );
    openapi.await.context("building OpenAPI documents")?;
    bootstrap::run(&server)
        .await
        .map_err(anyhow::Error::msg)
        .context("ensuring system objects")?;

    let (shutdown, mut shutdown_rx) = tokio::sync::watch::channel(false);
    let srv = server.clone();
    let accept = tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                },
                _ = shutdown_rx.changed() => return,
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let srv = srv.clone();
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                };
                let user = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| user_from_cert(c));
                let svc = hyper::service::service_fn(move |req| {
                    let srv = srv.clone();
                    let user = user.clone();
                    async move { Ok::<_, std::convert::Infallible>(srv.handle(req, user).await) }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                if let Err(e) = builder
                    .serve_connection_with_upgrades(TokioIo::new(tls), svc)
                    .await
                {
                    tracing::debug!(%peer, error = %e, "connection ended");
                }
            });
        }
    });
    tracing::info!(%addr, kubeconfig = %kubeconfig.display(), "kube-apiserver serving");
    Ok(Running {
        addr,
        kubeconfig,
        server,
        shutdown,
        accept,
    })
}
