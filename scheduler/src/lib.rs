//! kube-scheduler: assigns unscheduled pods to nodes. Like upstream, it reads the
//! cluster only through list-watch (pods, nodes, PodDisruptionBudgets). It writes only
//! what upstream writes: `pods/binding`, events.k8s.io/v1 Events, the `PodScheduled`
//! condition and `nominatedNodeName` via `pods/status`, preemption victims' deletion,
//! and its leader-election Lease.
//!
//! Where to start: [`run`] wires the pieces, and [`scheduler`] holds the informers and
//! the scheduling loop. [`schedule::schedule_pod`] is one attempt (filter, score,
//! select). [`framework`] defines upstream's extension points as traits, and [`plugins`]
//! holds one file per in-tree plugin. [`registry`] turns a `KubeSchedulerConfiguration`
//! profile ([`config`]) into a [`framework::Framework`]. [`queue`] and [`cache`] are
//! upstream's scheduling queue and assumed-pod cache. [`leader`] is Lease leader
//! election, and [`health`] and [`metrics`] serve `--secure-port`.
#![forbid(unsafe_code)]

pub mod cache;
pub mod config;
pub mod events;
pub mod framework;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod plugins;
pub mod queue;
pub mod registry;
pub mod resources;
pub mod schedule;
pub mod scheduler;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use parking_lot::Mutex;

use crate::config::KubeSchedulerConfiguration;
use crate::queue::{SchedulingQueue, SharedQueue};

/// Command-line options (upstream names and defaults).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "kube-scheduler", version)]
pub struct Options {
    /// Path to a kubeconfig file with authorization and master location information.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The path to the configuration file (KubeSchedulerConfiguration,
    /// kubescheduler.config.k8s.io/v1).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Start a leader election client and gain leadership before executing the main loop.
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// The duration that non-leader candidates will wait after observing a leadership
    /// renewal until attempting to acquire leadership.
    #[arg(long, default_value = "15s")]
    pub leader_elect_lease_duration: String,
    /// The interval between attempts by the acting master to renew a leadership slot
    /// before it stops leading.
    #[arg(long, default_value = "10s")]
    pub leader_elect_renew_deadline: String,
    /// The duration the clients should wait between attempting acquisition and renewal of
    /// a leadership.
    #[arg(long, default_value = "2s")]
    pub leader_elect_retry_period: String,
    /// The name of resource object that is used for locking during leader election.
    #[arg(long, default_value = "kube-scheduler")]
    pub leader_elect_resource_name: String,
    /// The namespace of resource object that is used for locking during leader election.
    #[arg(long, default_value = "kube-system")]
    pub leader_elect_resource_namespace: String,
    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// The port on which to serve HTTPS (/healthz, /livez, /readyz, /metrics). If 0, don't serve
    /// HTTPS at all.
    #[arg(long, default_value_t = 10259)]
    pub secure_port: u16,
}

/// Errors starting or running the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The configuration file is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A profile could not be built.
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    /// The kubeconfig could not be loaded.
    #[error("loading kubeconfig: {0}")]
    Kubeconfig(String),
    /// The apiserver client could not be built.
    #[error("building the apiserver client: {0}")]
    Client(#[from] kube::Error),
    /// The health endpoint could not be served.
    #[error(transparent)]
    Health(#[from] health::HealthError),
    /// Leader election failed or leadership was lost.
    #[error(transparent)]
    Leader(#[from] leader::LeaderError),
}

/// Everything `run` needs, built apart from running so tests can pass their own client.
#[derive(Clone)]
pub struct Config {
    /// The apiserver client.
    pub client: kube::Client,
    /// The component configuration.
    pub component: KubeSchedulerConfiguration,
    /// Where to serve /healthz; None disables it.
    pub health_addr: Option<SocketAddr>,
    /// Leader election settings; None runs without electing (`--leader-elect=false`).
    pub leader: Option<leader::LeaderConfig>,
}

impl Config {
    /// Loads the configuration file and kubeconfig named by the options.
    pub async fn from_options(opts: &Options) -> Result<Config, SchedulerError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let component = match &opts.config {
            Some(p) => KubeSchedulerConfiguration::from_file(p)?,
            None => KubeSchedulerConfiguration::default(),
        };
        // The flag wins over clientConnection.kubeconfig, as upstream.
        let kubeconfig = opts.kubeconfig.clone().or_else(|| {
            component
                .client_connection
                .as_ref()
                .and_then(|c| c.kubeconfig.clone())
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        });
        let kcfg = match kubeconfig {
            Some(p) => {
                let kc = Kubeconfig::read_from(&p)
                    .map_err(|e| SchedulerError::Kubeconfig(format!("{}: {e}", p.display())))?;
                kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| SchedulerError::Kubeconfig(e.to_string()))?
            }
            None => kube::Config::infer()
                .await
                .map_err(|e| SchedulerError::Kubeconfig(e.to_string()))?,
        };
        let leader_elect = component
            .leader_election
            .as_ref()
            .and_then(|l| l.leader_elect)
            .unwrap_or(true)
            && opts.leader_elect;
        let leader = if leader_elect {
            Some(leader::LeaderConfig {
                namespace: opts.leader_elect_resource_namespace.clone(),
                name: opts.leader_elect_resource_name.clone(),
                // Upstream identity: hostname plus a random suffix.
                identity: format!("{}_{}", hostname(), uuid::Uuid::new_v4()),
                lease_duration: leader::parse_duration(&opts.leader_elect_lease_duration)?,
                renew_deadline: leader::parse_duration(&opts.leader_elect_renew_deadline)?,
                retry_period: leader::parse_duration(&opts.leader_elect_retry_period)?,
            })
        } else {
            None
        };
        Ok(Config {
            client: kube::Client::try_from(kcfg)?,
            component,
            health_addr: (opts.secure_port != 0)
                .then(|| SocketAddr::new(opts.bind_address, opts.secure_port)),
            leader,
        })
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Runs the scheduler until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), SchedulerError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let handle = registry::Handle {
        client: Some(config.client.clone()),
        ..Default::default()
    };
    let profiles = registry::build_profiles(&config.component.profiles, &handle)?;
    let first = &config.component.profiles[0].scheduler_name;
    let sort = profiles[first]
        .queue_sort
        .clone()
        .ok_or_else(|| registry::RegistryError::NoQueueSort(first.clone()))?;
    let pre_enqueue_profiles = profiles.clone();
    let pre_enqueue: queue::PreEnqueueFn = Arc::new(move |pod| {
        let name = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .unwrap_or(config::DEFAULT_SCHEDULER_NAME);
        match pre_enqueue_profiles.get(name) {
            Some(fw) => fw.run_pre_enqueue(pod),
            None => framework::Status::success(),
        }
    });
    let c = &config.component;
    let q = SchedulingQueue::new(
        sort,
        pre_enqueue,
        Duration::from_secs(c.pod_initial_backoff_seconds.unwrap_or(1) as u64),
        Duration::from_secs(c.pod_max_backoff_seconds.unwrap_or(10) as u64),
    );
    let shared = Arc::new(scheduler::Shared {
        cache: Mutex::new(cache::Cache::default()),
        queue: SharedQueue::new(q),
        profiles,
        metrics: metrics::Metrics::default(),
        nominator: Default::default(),
    });

    let mut tasks = tokio::task::JoinSet::new();
    // Health is served while waiting for leadership, as upstream.
    if let Some(addr) = config.health_addr {
        let server = health::HealthServer::bind(addr).await?;
        tracing::info!(addr = %server.local_addr(), "serving /healthz");
        let s = shared.clone();
        let render: health::MetricsFn =
            Arc::new(move || s.metrics.render(s.queue.with(|q| q.lens())));
        tasks.spawn(server.serve(Some(render)));
    }
    let shutdown = shutdown;
    tokio::pin!(shutdown);
    let mut elector = config
        .leader
        .clone()
        .map(|c| leader::LeaderElector::new(config.client.clone(), c));
    if let Some(e) = elector.as_mut() {
        tokio::select! {
            _ = e.acquire() => {}
            _ = &mut shutdown => {
                tasks.shutdown().await;
                return Ok(());
            }
        }
    }
    tasks.spawn(scheduler::run_pod_informer(
        config.client.clone(),
        shared.clone(),
    ));
    tasks.spawn(scheduler::run_pdb_informer(
        config.client.clone(),
        handle.pdbs.clone(),
    ));
    let l = &handle.listers;
    tasks.spawn(scheduler::run_lister(
        config.client.clone(),
        l.services.clone(),
    ));
    tasks.spawn(scheduler::run_lister(
        config.client.clone(),
        l.replication_controllers.clone(),
    ));
    tasks.spawn(scheduler::run_lister(
        config.client.clone(),
        l.replica_sets.clone(),
    ));
    tasks.spawn(scheduler::run_lister(
        config.client.clone(),
        l.stateful_sets.clone(),
    ));
    tasks.spawn(scheduler::run_node_informer(
        config.client.clone(),
        shared.clone(),
    ));
    tasks.spawn(
        scheduler::Loop::new(
            shared,
            config.client.clone(),
            c.percentage_of_nodes_to_score.unwrap_or(0),
            hostname(),
        )
        .run(),
    );
    let result = match elector.as_mut() {
        Some(e) => tokio::select! {
            _ = &mut shutdown => Ok(()),
            err = e.hold() => Err(SchedulerError::Leader(err)),
        },
        None => {
            shutdown.await;
            Ok(())
        }
    };
    tasks.shutdown().await;
    if result.is_ok() {
        if let Some(e) = elector.as_mut() {
            e.release().await;
        }
    }
    result
}
