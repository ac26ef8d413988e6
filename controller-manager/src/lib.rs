//! kube-controller-manager: the control loops that drive objects in kube-apiserver towards
//! their spec, talking to the apiserver only through list-watch and ordinary API calls.
//!
//! Where to start:
//! - [`Options`] are the upstream flags; [`Config::from_options`] builds the client from
//!   `--kubeconfig`; [`run`] starts every enabled controller until `shutdown` resolves.
//! - [`controllers::descriptors`] is the one registration table (upstream
//!   `NewControllerDescriptors`): name, aliases, enabled-by-default, constructor.
//! - Shared machinery: [`informer`] (one shared reflector store per resource type, with
//!   add/update/delete notifications to each subscribed controller),
//!   [`queue`] (rate-limited, deduplicating work queue), [`expectations`] (no double
//!   creates/deletes while the informer catches up).
//! - [`metrics`] (work-queue and leader-election metrics) and [`server`] (`--secure-port`:
//!   `/healthz`, `/livez`, `/readyz`, `/metrics` over HTTPS).
//! - One file per controller under `controllers/`.
#![forbid(unsafe_code)]

pub mod clock;
pub mod controllers;
pub mod cron;
pub mod duration;
pub mod events;
pub mod expectations;
pub mod informer;
pub mod leaderelection;
pub mod metrics;
pub mod queue;
pub mod server;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

pub use controllers::{descriptors, ControllerDescriptor};

/// Command-line options (upstream names and defaults).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "kube-controller-manager",
    version,
    about = "The Kubernetes controller manager is a daemon that embeds the core control loops shipped with Kubernetes."
)]
pub struct Options {
    /// Path to a kubeconfig file with authorization and master location information.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// A list of controllers to enable. '*' enables all on-by-default controllers, 'foo'
    /// enables the controller named 'foo', '-foo' disables the controller named 'foo'.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    pub controllers: Vec<String>,

    /// Start a leader election client and gain leadership before executing the main loop.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub leader_elect: bool,

    /// Duration non-leader candidates wait after observing a leadership renewal before
    /// trying to acquire leadership.
    #[arg(long, default_value = "15s", value_parser = duration::parse)]
    pub leader_elect_lease_duration: Duration,

    /// Interval between attempts by the acting master to renew a leadership slot.
    #[arg(long, default_value = "10s", value_parser = duration::parse)]
    pub leader_elect_renew_deadline: Duration,

    /// Duration clients wait between attempting acquisition and renewal of a leadership.
    #[arg(long, default_value = "2s", value_parser = duration::parse)]
    pub leader_elect_retry_period: Duration,

    /// The namespace of the resource object used for locking during leader election.
    #[arg(long, default_value = "kube-system")]
    pub leader_elect_resource_namespace: String,

    /// The name of the resource object used for locking during leader election.
    #[arg(long, default_value = "kube-controller-manager")]
    pub leader_elect_resource_name: String,

    /// The number of replica sets that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_replicaset_syncs: usize,

    /// The number of deployment objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_deployment_syncs: usize,

    /// The number of replication controllers that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_rc_syncs: usize,

    /// The number of daemonset objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 2)]
    pub concurrent_daemonset_syncs: usize,

    /// The number of statefulset objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_statefulset_syncs: usize,

    /// The number of namespace objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 10)]
    pub concurrent_namespace_syncs: usize,

    /// The number of garbage collector workers that are allowed to sync concurrently.
    #[arg(long, default_value_t = 20)]
    pub concurrent_gc_syncs: usize,

    /// The number of resource quotas that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_resource_quota_syncs: usize,

    /// The period for syncing quota usage status in the system.
    #[arg(long, default_value = "5m0s", value_parser = duration::parse)]
    pub resource_quota_sync_period: Duration,

    /// Enables the generic garbage collector.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub enable_garbage_collector: bool,

    /// The period for syncing namespace life-cycle updates.
    #[arg(long, default_value = "5m0s", value_parser = duration::parse)]
    pub namespace_sync_period: Duration,

    /// Amount of time a running Node may be unresponsive before it is marked unhealthy.
    #[arg(long, default_value = "50s", value_parser = duration::parse)]
    pub node_monitor_grace_period: Duration,

    /// The number of job objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_job_syncs: usize,

    /// The number of cron job objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_cron_job_syncs: usize,

    /// The number of ttl-after-finished-controller workers that are allowed to sync
    /// concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_ttl_after_finished_syncs: usize,
    /// The period for syncing NodeStatus in the node-lifecycle controller.
    #[arg(long, default_value = "5s", value_parser = duration::parse)]
    pub node_monitor_period: Duration,

    /// Amount of time a starting Node may be unresponsive before it is marked unhealthy.
    #[arg(long, default_value = "1m0s", value_parser = duration::parse)]
    pub node_startup_grace_period: Duration,

    /// Number of nodes per second on which pods are deleted in case of node failure when a
    /// zone is healthy (see --unhealthy-zone-threshold for definition of healthy/unhealthy).
    /// Zone refers to entire cluster in non-multizone clusters.
    #[arg(long, default_value_t = 0.1)]
    pub node_eviction_rate: f32,

    /// Number of nodes per second on which pods are deleted in case of node failure when a
    /// zone is unhealthy (see --unhealthy-zone-threshold for definition of
    /// healthy/unhealthy). Zone refers to entire cluster in non-multizone clusters. This
    /// value is implicitly overridden to 0 if the cluster size is smaller than
    /// --large-cluster-size-threshold.
    #[arg(long, default_value_t = 0.01)]
    pub secondary_node_eviction_rate: f32,

    /// Number of nodes from which node-lifecycle-controller treats the cluster as large for
    /// the eviction logic purposes. --secondary-node-eviction-rate is implicitly overridden
    /// to 0 for clusters this size or smaller.
    #[arg(long, default_value_t = 50, allow_negative_numbers = true)]
    pub large_cluster_size_threshold: i32,

    /// Fraction of Nodes in a zone which needs to be not Ready (minimum 3) for zone to be
    /// treated as unhealthy.
    #[arg(long, default_value_t = 0.55)]
    pub unhealthy_zone_threshold: f32,

    /// Should CIDRs for Pods be allocated and set on the cloud provider.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allocate_node_cidrs: bool,

    /// CIDR Range for Pods in cluster. Requires --allocate-node-cidrs to be true.
    #[arg(long)]
    pub cluster_cidr: Option<String>,

    /// Mask size for node cidr in cluster. Default is 24 for IPv4.
    #[arg(long)]
    pub node_cidr_mask_size: Option<u8>,

    /// Mask size for IPv4 node cidr in dual-stack cluster. Default is 24.
    #[arg(long)]
    pub node_cidr_mask_size_ipv4: Option<u8>,

    /// Number of terminated pods that can exist before the terminated pod garbage collector
    /// starts deleting terminated pods. If <= 0, the terminated pod garbage collector is
    /// disabled.
    #[arg(long, default_value_t = 12500, allow_negative_numbers = true)]
    pub terminated_pod_gc_threshold: i32,

    /// Rudder only (upstream's constant `gcCheckPeriod`): how often the pod garbage
    /// collector runs; tests shorten it.
    #[arg(long, default_value = "20s", value_parser = duration::parse, hide = true)]
    pub pod_gc_period: Duration,

    /// Rudder only (upstream's constant `quarantineTime`): how long a node must stay absent
    /// before its pods count as orphaned; tests shorten it.
    #[arg(long, default_value = "40s", value_parser = duration::parse, hide = true)]
    pub pod_gc_orphan_quarantine: Duration,

    /// If set, this root certificate authority is published in every namespace's
    /// kube-root-ca.crt ConfigMap instead of the kubeconfig's certificate-authority-data.
    #[arg(long)]
    pub root_ca_file: Option<PathBuf>,

    /// The port on which to serve HTTPS with authentication and authorization. If 0,
    /// don't serve HTTPS at all.
    #[arg(long, default_value_t = 10257)]
    pub secure_port: u16,

    /// The IP address on which to listen for the --secure-port port. If blank or an
    /// unspecified address (0.0.0.0 or ::), all interfaces and IP address families will be
    /// used.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,

    /// File containing the default x509 Certificate for HTTPS. If HTTPS serving is enabled,
    /// and --tls-cert-file and --tls-private-key-file are not provided, a self-signed
    /// certificate and key are generated for the public address.
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,

    /// File containing the default x509 private key matching --tls-cert-file.
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,

    /// The number of service endpoint syncing operations that will be done concurrently by
    /// the endpointslice-mirroring-controller.
    #[arg(long, default_value_t = 5)]
    pub mirroring_concurrent_service_endpoint_syncs: usize,

    /// The maximum number of endpoints that will be added to an EndpointSlice by the
    /// endpointslice-mirroring-controller (between 1 and 1000).
    #[arg(long, default_value_t = 1000)]
    pub mirroring_max_endpoints_per_subset: i32,

    /// The length of EndpointSlice updates batching period for
    /// endpointslice-mirroring-controller. Processing of EndpointSlice changes will be
    /// delayed by this duration to join them with potential upcoming updates.
    #[arg(long, default_value = "0s", value_parser = duration::parse)]
    pub mirroring_endpointslice_updates_batch_period: Duration,
}

/// Errors building the configuration or running controllers.
#[derive(Debug, thiserror::Error)]
pub enum ControllerManagerError {
    /// reading the kubeconfig failed
    #[error("reading kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        source: kube::config::KubeconfigError,
    },
    /// building a client failed
    #[error("building client: {0}")]
    Client(String),
    /// reading --root-ca-file failed
    #[error("reading root ca file {path}: {source}")]
    RootCa {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// --controllers named something unknown
    #[error("{0:?} is not in the list of known controllers")]
    UnknownController(String),
    /// a controller stopped with an error
    #[error("controller {name}: {message}")]
    Controller {
        /// Controller name.
        name: &'static str,
        /// What happened.
        message: String,
    },
    /// leader election failed or was lost
    #[error(transparent)]
    LeaderElection(#[from] leaderelection::LeaderElectionError),
    /// setting up --secure-port failed
    #[error(transparent)]
    Serving(#[from] server::ServingError),
}

/// What every controller gets: the client, the options, the cluster CA.
#[derive(Clone)]
pub struct ControllerContext {
    /// Client to kube-apiserver.
    pub client: kube::Client,
    /// The parsed flags.
    pub options: Arc<Options>,
    /// PEM bundle of the cluster CA published in kube-root-ca.crt, when known.
    pub root_ca: Option<Arc<String>>,
    /// The process-wide informers: one list-watch and cache per resource type.
    pub informers: Arc<informer::SharedInformerFactory>,
    /// What `/metrics` serves.
    pub metrics: Arc<metrics::Registry>,
}

impl ControllerContext {
    /// A work queue reporting the work-queue metrics under `name` (upstream's queue name,
    /// e.g. `replicaset`).
    pub fn work_queue(&self, name: &str) -> queue::WorkQueue {
        queue::WorkQueue::with_metrics(self.metrics.queue(name))
    }
}

/// The built configuration: options plus a client.
#[derive(Clone)]
pub struct Config {
    /// The flags.
    pub options: Options,
    /// Client to kube-apiserver.
    pub client: kube::Client,
    /// PEM bundle of the cluster CA.
    pub root_ca: Option<String>,
    /// The bound `--secure-port`, unless it is 0.
    pub serving: Option<server::SecureServing>,
}

impl Config {
    /// The address `--secure-port` is bound to, if serving.
    pub fn secure_addr(&self) -> Option<SocketAddr> {
        self.serving.as_ref()?.local_addr()
    }
}

impl Config {
    /// Builds a client from `--kubeconfig` (or the in-cluster / default config without it)
    /// and reads the CA to publish: `--root-ca-file`, else the kubeconfig cluster's
    /// certificate-authority(-data), as upstream's root-ca-cert-publisher.
    pub async fn from_options(options: Options) -> Result<Config, ControllerManagerError> {
        let (kube_config, mut root_ca) = match &options.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|source| {
                    ControllerManagerError::Kubeconfig {
                        path: path.clone(),
                        source,
                    }
                })?;
                let ca = kubeconfig_ca(&kc, path);
                let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                    .await
                    .map_err(|source| ControllerManagerError::Kubeconfig {
                        path: path.clone(),
                        source,
                    })?;
                (cfg, ca)
            }
            None => (
                kube::Config::infer()
                    .await
                    .map_err(|e| ControllerManagerError::Client(e.to_string()))?,
                None,
            ),
        };
        if let Some(path) = &options.root_ca_file {
            root_ca = Some(std::fs::read_to_string(path).map_err(|source| {
                ControllerManagerError::RootCa {
                    path: path.clone(),
                    source,
                }
            })?);
        }
        let client = kube::Client::try_from(kube_config)
            .map_err(|e| ControllerManagerError::Client(e.to_string()))?;
        // Upstream: `--secure-port 0` turns HTTPS serving off.
        let serving = if options.secure_port == 0 {
            None
        } else {
            Some(server::SecureServing::bind(
                SocketAddr::new(options.bind_address, options.secure_port),
                options.tls_cert_file.as_deref(),
                options.tls_private_key_file.as_deref(),
            )?)
        };
        Ok(Config {
            options,
            client,
            root_ca,
            serving,
        })
    }
}

/// The PEM CA of the kubeconfig's current cluster, if it names one.
fn kubeconfig_ca(kc: &Kubeconfig, path: &std::path::Path) -> Option<String> {
    use base64::Engine;
    let ctx_name = kc.current_context.as_deref()?;
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == ctx_name)?
        .context
        .as_ref()?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)?
        .cluster
        .as_ref()?;
    if let Some(data) = &cluster.certificate_authority_data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .ok()?;
        return String::from_utf8(bytes).ok();
    }
    let file = cluster.certificate_authority.as_ref()?;
    let file = path
        .parent()
        .map_or_else(|| PathBuf::from(file), |d| d.join(file));
    std::fs::read_to_string(file).ok()
}

/// Which registered controllers `--controllers` enables, in table order; mirrors upstream
/// `IsControllerEnabled`: an explicit `name` enables, `-name` disables, otherwise `*`
/// enables the on-by-default ones. Aliases count as names.
pub fn enabled_controllers(
    selection: &[String],
) -> Result<Vec<&'static ControllerDescriptor>, ControllerManagerError> {
    let table = descriptors();
    for s in selection {
        let s = s.trim();
        let bare = s.strip_prefix('-').unwrap_or(s);
        if bare == "*" || bare.is_empty() {
            continue;
        }
        if !table.iter().any(|d| d.answers_to(bare)) {
            return Err(ControllerManagerError::UnknownController(s.to_string()));
        }
    }
    Ok(table
        .iter()
        .filter(|d| {
            let mut star = false;
            for s in selection {
                let s = s.trim();
                if let Some(neg) = s.strip_prefix('-') {
                    if d.answers_to(neg) {
                        return false;
                    }
                } else if s == "*" {
                    star = true;
                } else if d.answers_to(s) {
                    return true;
                }
            }
            star && d.enabled_by_default
        })
        .collect())
}

/// Runs every enabled controller until `shutdown` resolves or one fails. With
/// `--leader-elect` (the default) the controllers start only once this process holds the
/// lease, and stop with an error if it is lost (upstream exits then too).
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ControllerManagerError> {
    let mut enabled = enabled_controllers(&config.options.controllers)?;
    if !config.options.enable_garbage_collector {
        enabled.retain(|d| d.name != controllers::GARBAGE_COLLECTOR);
    }
    let ctx = ControllerContext {
        client: config.client.clone(),
        options: Arc::new(config.options.clone()),
        root_ca: config.root_ca.map(Arc::new),
        informers: Arc::new(informer::SharedInformerFactory::new(config.client.clone())),
        metrics: Arc::new(metrics::Registry::new()),
    };
    tokio::pin!(shutdown);

    // Served while waiting for leadership too, as upstream; stops with `run`.
    let _server = config.serving.clone().map(|serving| {
        tracing::info!(addr = ?serving.local_addr(), "serving securely");
        let registry = ctx.metrics.clone();
        controllers::AbortOnDrop(tokio::spawn(async move {
            if let Err(e) = server::serve(serving, registry).await {
                tracing::error!(error = %e, "secure port stopped");
            }
        }))
    });

    let mut lease = None;
    if config.options.leader_elect {
        ctx.metrics.set_leader(false);
        let elector = leaderelection::LeaderElector::new(
            config.client.clone(),
            leaderelection::LeaderElectionConfig::from_options(&config.options),
        );
        tokio::select! {
            held = elector.acquire() => lease = Some(held?),
            () = &mut shutdown => return Ok(()),
        }
        ctx.metrics.set_leader(true);
    }

    let mut set = tokio::task::JoinSet::new();
    for d in enabled {
        tracing::info!(controller = d.name, "starting controller");
        let fut = (d.start)(ctx.clone());
        let name = d.name;
        set.spawn(async move { (name, fut.await) });
    }
    let lost = async {
        match &mut lease {
            Some(l) => l.lost().await,
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        () = &mut shutdown => Ok(()),
        err = lost => Err(ControllerManagerError::LeaderElection(err)),
        Some(done) = set.join_next() => match done {
            Ok((name, Ok(()))) => Err(ControllerManagerError::Controller { name, message: "stopped".into() }),
            Ok((name, Err(e))) => Err(ControllerManagerError::Controller { name, message: e.to_string() }),
            Err(e) => Err(ControllerManagerError::Controller { name: "unknown", message: e.to_string() }),
        },
    };
    set.shutdown().await;
    if let Some(l) = lease {
        l.release().await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn names(sel: &[&str]) -> Result<Vec<&'static str>, ControllerManagerError> {
        let sel: Vec<String> = sel.iter().map(|s| s.to_string()).collect();
        Ok(enabled_controllers(&sel)?.iter().map(|d| d.name).collect())
    }

    #[test]
    fn controller_selection_table() {
        let all_default: Vec<&str> = descriptors()
            .iter()
            .filter(|d| d.enabled_by_default)
            .map(|d| d.name)
            .collect();
        assert_eq!(names(&["*"]).unwrap(), all_default);
        assert_eq!(
            names(&["replicaset-controller"]).unwrap(),
            vec!["replicaset-controller"]
        );
        // Aliases (upstream keeps the pre-1.27 short names as aliases).
        assert_eq!(
            names(&["replicaset"]).unwrap(),
            vec!["replicaset-controller"]
        );
        let without_rs = names(&["*", "-replicaset"]).unwrap();
        assert!(!without_rs.contains(&"replicaset-controller"));
        assert_eq!(without_rs.len(), all_default.len() - 1);
        // Disable wins over the star, whatever the order.
        assert!(!names(&["-replicaset-controller", "*"])
            .unwrap()
            .contains(&"replicaset-controller"));
        assert!(names(&[]).unwrap().is_empty());
        let err = names(&["*", "bogus"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"bogus\" is not in the list of known controllers"
        );
    }

    #[test]
    fn options_defaults_and_syntax() {
        let o = Options::parse_from(["kube-controller-manager"]);
        assert_eq!(o.controllers, vec!["*"]);
        assert!(o.leader_elect);
        assert_eq!(o.leader_elect_lease_duration, Duration::from_secs(15));
        assert_eq!(o.concurrent_replicaset_syncs, 5);
        assert_eq!(o.concurrent_namespace_syncs, 10);
        assert_eq!(o.concurrent_gc_syncs, 20);
        assert_eq!(o.node_monitor_grace_period, Duration::from_secs(50));
        assert_eq!(o.namespace_sync_period, Duration::from_secs(300));
        assert_eq!(o.node_monitor_period, Duration::from_secs(5));
        assert_eq!(o.node_startup_grace_period, Duration::from_secs(60));
        assert_eq!(o.node_eviction_rate, 0.1);
        assert_eq!(o.secondary_node_eviction_rate, 0.01);
        assert_eq!(o.large_cluster_size_threshold, 50);
        assert_eq!(o.unhealthy_zone_threshold, 0.55);
        assert!(!o.allocate_node_cidrs);
        assert_eq!(o.terminated_pod_gc_threshold, 12500);
        assert_eq!(o.pod_gc_period, Duration::from_secs(20));
        assert_eq!(o.pod_gc_orphan_quarantine, Duration::from_secs(40));
        assert_eq!(o.secure_port, 10257);
        assert_eq!(o.bind_address, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(o.mirroring_max_endpoints_per_subset, 1000);
        assert_eq!(o.mirroring_concurrent_service_endpoint_syncs, 5);
        assert_eq!(
            o.mirroring_endpointslice_updates_batch_period,
            Duration::ZERO
        );
        let o = Options::parse_from([
            "kube-controller-manager",
            "--allocate-node-cidrs",
            "--cluster-cidr=10.244.0.0/16",
            "--node-cidr-mask-size=26",
            "--terminated-pod-gc-threshold=-1",
        ]);
        assert!(o.allocate_node_cidrs);
        assert_eq!(o.cluster_cidr.as_deref(), Some("10.244.0.0/16"));
        assert_eq!(o.node_cidr_mask_size, Some(26));
        assert_eq!(o.terminated_pod_gc_threshold, -1);
        assert_eq!(o.resource_quota_sync_period, Duration::from_secs(300));
        assert_eq!(o.concurrent_resource_quota_syncs, 5);
        let o = Options::parse_from([
            "kube-controller-manager",
            "--controllers=*,-namespace",
            "--leader-elect=false",
            "--node-monitor-grace-period=1m30s",
        ]);
        assert_eq!(o.controllers, vec!["*", "-namespace"]);
        assert!(!o.leader_elect);
        assert_eq!(o.node_monitor_grace_period, Duration::from_secs(90));
    }
}
