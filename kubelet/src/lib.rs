//! kubelet: the node agent. It registers this machine as a Node, renews its Lease, watches
//! the pods bound to it (list-watch with `fieldSelector=spec.nodeName=<node>`) and runs
//! them on containerd through CRI v1, reporting their status back to kube-apiserver.
//!
//! Where to start:
//! - [`runtime`]: the CRI v1 client (containerd over its unix socket) behind the
//!   `Runtime` trait, with a recording fake for unit tests.
//! - [`node`]: Node registration, status and the kube-node-lease Lease.
//! - [`pods`]: pod workers: sandbox, image pulls, init and app containers, restarts with
//!   CrashLoopBackOff, graceful termination, pod status; static pods from
//!   `--pod-manifest-path` and their mirror pods.
//! - [`container`]: turns a pod spec into CRI container configs (env, command expansion,
//!   security context, resources, /etc/hosts, resolv.conf).
//! - [`volumes`]: emptyDir, hostPath, configMap, secret, downwardAPI, projected.
//! - [`probes`]: liveness, readiness and startup probes.
//! - [`logs`]: container log rotation (containerLogMaxSize/Files).
//! - [`server`]: the kubelet's HTTPS server on 10250 (logs, exec, attach, port-forward,
//!   stats, metrics).

pub mod container;
pub mod logs;
pub mod node;
pub mod options;
pub mod pods;
pub mod probes;
pub mod runtime;
pub mod server;
pub mod volumes;

use std::future::Future;
use std::sync::Arc;

use kube::config::{KubeConfigOptions, Kubeconfig};

pub use options::{KubeletConfig, Options};

/// Errors that stop the kubelet.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// the configuration is invalid
    #[error(transparent)]
    Config(#[from] options::ConfigError),
    /// the kubeconfig could not be loaded
    #[error("invalid kubeconfig {path:?}: {message}")]
    Kubeconfig {
        path: Option<std::path::PathBuf>,
        message: String,
    },
    /// the container runtime is unreachable
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    /// the kubelet's HTTPS server could not start
    #[error("starting the kubelet server: {0}")]
    Server(String),
    /// the log rotation settings are invalid
    #[error(transparent)]
    LogRotation(#[from] logs::LogRotationError),
    /// a directory the kubelet needs could not be created
    #[error("creating {path:?}: {source}")]
    Dir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// A client for the apiserver from `--kubeconfig` (or the in-cluster/default config).
pub async fn client(config: &KubeletConfig) -> Result<kube::Client, KubeletError> {
    let err = |message: String| KubeletError::Kubeconfig {
        path: config.kubeconfig.clone(),
        message,
    };
    let cfg = match &config.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| err(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| err(e.to_string()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| err(e.to_string()))?,
    };
    kube::Client::try_from(cfg).map_err(|e| err(e.to_string()))
}

/// Connects to the apiserver and the container runtime, then runs until `shutdown`.
pub async fn run(
    config: KubeletConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), KubeletError> {
    let client = client(&config).await?;
    let runtime = runtime::cri::CriRuntime::connect(
        &config.container_runtime_endpoint,
        config.runtime_request_timeout,
    )
    .await?;
    // The HTTPS server (logs, exec, attach, port-forward, stats) on --address:--port.
    let socket = runtime::cri::socket_path(&config.container_runtime_endpoint)?;
    let channel = server::cri::connect(std::path::Path::new(&socket))
        .await
        .map_err(|e| KubeletError::Server(e.to_string()))?;
    let machine = node::MachineInfo::read(&config.root_dir);
    let settings = node::NodeSettings::from_config(&config, &machine);
    let mut server_config = server::ServerConfig::new(settings.name.clone());
    server_config.hosts = vec![settings.node_ip.to_string(), settings.hostname.clone()];
    server_config.tls_cert_file = config.tls_cert_file.clone();
    server_config.tls_private_key_file = config.tls_private_key_file.clone();
    server_config.client_ca_file = config.client_ca_file.clone();
    server_config.pod_logs_dir = config.pod_logs_dir.clone();
    let server = server::bind_and_serve(
        std::net::SocketAddr::new(config.address, config.port),
        server_config,
        Arc::new(server::cri::CriPods::new(channel.clone())),
        Arc::new(server::cri::CriStreaming::new(channel)),
    )
    .await
    .map_err(|e| KubeletError::Server(e.to_string()))?;
    tracing::info!(addr = %server.addr, "kubelet server listening");
    let result = run_with(config, client, Arc::new(runtime), shutdown).await;
    server.stop();
    result
}

/// [`run`] with the client and runtime given (tests pass a fake runtime).
pub async fn run_with(
    config: KubeletConfig,
    client: kube::Client,
    runtime: Arc<dyn runtime::Runtime>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), KubeletError> {
    for dir in [&config.root_dir, &config.pod_logs_dir] {
        std::fs::create_dir_all(dir).map_err(|source| KubeletError::Dir {
            path: dir.clone(),
            source,
        })?;
    }
    let log_manager = logs::ContainerLogManager::new(
        runtime.clone(),
        &config.container_log_max_size,
        config.container_log_max_files,
        config.container_log_max_workers,
        config.container_log_monitor_interval,
    )?;
    let machine = node::MachineInfo::read(&config.root_dir);
    let settings = node::NodeSettings::from_config(&config, &machine);
    let runtime_name = runtime
        .version()
        .await
        .map(|v| v.runtime_name)
        .unwrap_or_else(|_| "containerd".into());
    tracing::info!(node = %settings.name, runtime = %runtime_name, "starting kubelet");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    if config.register_node {
        let agent = Arc::new(node::NodeAgent::new(
            client.clone(),
            runtime.clone(),
            settings.clone(),
            machine.clone(),
        ));
        tasks.push(tokio::spawn(agent.run(stop_rx.clone())));
    }
    let (probe_manager, mut probe_notices) =
        probes::ProbeManager::new(Arc::new(probes::exec::RuntimeExec(runtime.clone())));
    let probe_manager = Arc::new(probe_manager);
    let clock: Arc<dyn pods::backoff::Clock> = Arc::new(pods::backoff::RealClock);
    let objects: Arc<dyn container::ObjectSource> =
        Arc::new(pods::KubeObjects::new(client.clone()));
    // Static pods (--pod-manifest-path) and their mirror pods.
    let mirrors = Arc::new(pods::mirror::MirrorPods::new(
        client.clone(),
        settings.name.clone(),
    ));
    let mut pod_api = pods::KubePodApi::new(client.clone(), settings.name.clone());
    let mut static_rx = None;
    if let Some(path) = config.static_pod_path.clone() {
        let (tx, rx) = tokio::sync::watch::channel(None);
        tasks.push(tokio::spawn(pods::static_pods::run(
            path,
            settings.name.clone(),
            config.file_check_frequency,
            tx,
            stop_rx.clone(),
        )));
        tasks.push(tokio::spawn(mirrors.clone().run(stop_rx.clone())));
        pod_api = pod_api.with_mirrors(mirrors.clone());
        static_rx = Some(rx);
    }
    let ctx = Arc::new(pods::worker::PodContext {
        runtime: runtime.clone(),
        api: Arc::new(pod_api),
        clock: clock.clone(),
        crash_backoff: pods::backoff::Backoff::new(
            config.crash_loop_backoff_initial,
            config.crash_loop_backoff_max,
            clock.clone(),
        ),
        pull_backoff: pods::backoff::Backoff::new(
            config.crash_loop_backoff_initial,
            config.crash_loop_backoff_max,
            clock,
        ),
        node_name: settings.name.clone(),
        host_ip: settings.node_ip.to_string(),
        runtime_name,
        pod_logs_dir: config.pod_logs_dir.clone(),
        cluster_dns: config.cluster_dns.clone(),
        cluster_domain: config.cluster_domain.clone(),
        resolv_conf: config.resolv_conf.clone(),
        objects: objects.clone(),
        volumes: Arc::new(volumes::VolumeManager::new(
            config.root_dir.clone(),
            Arc::new(volumes::mounter::CommandMounter),
            objects,
        )),
        allocatable: container::NodeAllocatable {
            cpu_millis: machine.num_cpus as i64 * 1000,
            memory_bytes: machine.memory_bytes as i64,
            ephemeral_storage_bytes: machine.ephemeral_storage_bytes as i64,
        },
        memory_capacity: machine.memory_bytes as i64,
        probes: Some(probe_manager.clone()),
    });
    // Workers read probe results on their next relist (1 s); probe events (Unhealthy,
    // ProbeWarning) are recorded on the pod as upstream's prober does.
    let events_api = ctx.api.clone();
    let notices = tokio::spawn(async move {
        while let Some(n) = probe_notices.recv().await {
            let probes::ProbeNotice::Event(ev) = n else {
                continue;
            };
            let Some(pod) = probe_manager.pod(&ev.pod_uid, &ev.container_name) else {
                continue;
            };
            let field_path = pods::worker::container_field_path(&pod, &ev.container_name);
            events_api
                .event(&pod, field_path, "Warning", ev.reason, &ev.message)
                .await;
        }
    });
    // Container log rotation (upstream starts its ContainerLogManager with the kubelet).
    if let Some(log_manager) = log_manager {
        tasks.push(tokio::spawn(Arc::new(log_manager).run(stop_rx.clone())));
    }
    let mut manager = pods::PodManager::new(ctx, client.clone());
    if let Some(rx) = static_rx {
        manager = manager.with_static_pods(rx, mirrors);
    }
    tasks.push(tokio::spawn(manager.run(stop_rx.clone())));
    shutdown.await;
    tracing::info!("kubelet shutting down");
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), t).await;
    }
    notices.abort();
    Ok(())
}
