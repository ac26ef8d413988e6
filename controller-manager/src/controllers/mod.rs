//! The registration table (upstream `NewControllerDescriptors` in
//! cmd/kube-controller-manager/app/controllermanager.go) and the worker loop every
//! controller shares. Names are upstream's (cmd/kube-controller-manager/names), and the
//! pre-1.27 short names stay accepted as aliases, as upstream does.

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod endpointslicemirroring;
pub mod garbagecollector;
pub mod history;
pub mod job;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod nodezones;
pub mod podclaim;
pub mod podgc;
pub mod replicaset;
pub mod resourcequota;
pub mod rootcacert;
pub mod serviceaccount;
pub mod statefulset;
pub mod tainteviction;
pub mod ttlafterfinished;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::queue::WorkQueue;
use crate::ControllerContext;

/// Upstream name of the garbage collector (switched off by `--enable-garbage-collector=false`).
pub const GARBAGE_COLLECTOR: &str = "garbage-collector-controller";

/// A running controller: resolves only on a fatal error; dropped to stop.
pub type ControllerFuture = Pin<Box<dyn Future<Output = Result<(), ControllerError>> + Send>>;

/// Fatal controller errors (sync errors are retried through the queue instead).
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// the informer stopped before its cache synced
    #[error("informer for {0} never synced")]
    NotSynced(&'static str),
    /// the configuration lacks something the controller needs
    #[error("{0}")]
    Config(String),
}

/// One entry of the registration table.
pub struct ControllerDescriptor {
    /// Upstream controller name (`replicaset-controller`).
    pub name: &'static str,
    /// Names also accepted by `--controllers`.
    pub aliases: &'static [&'static str],
    /// Whether `*` enables it.
    pub enabled_by_default: bool,
    /// Starts it.
    pub start: fn(ControllerContext) -> ControllerFuture,
}

impl ControllerDescriptor {
    /// Whether `--controllers` item `s` (without a leading `-`) names this controller.
    pub fn answers_to(&self, s: &str) -> bool {
        self.name == s || self.aliases.contains(&s)
    }
}

/// Every controller this binary knows, in start order.
pub fn descriptors() -> &'static [ControllerDescriptor] {
    static TABLE: &[ControllerDescriptor] = &[
        ControllerDescriptor {
            name: "serviceaccount-controller",
            aliases: &["serviceaccount"],
            enabled_by_default: true,
            start: |ctx| Box::pin(serviceaccount::run(ctx)),
        },
        ControllerDescriptor {
            name: "root-ca-certificate-publisher-controller",
            aliases: &["root-ca-cert-publisher"],
            enabled_by_default: true,
            start: |ctx| Box::pin(rootcacert::run(ctx)),
        },
        ControllerDescriptor {
            name: "namespace-controller",
            aliases: &["namespace"],
            enabled_by_default: true,
            start: |ctx| Box::pin(namespace::run(ctx)),
        },
        ControllerDescriptor {
            name: "replicaset-controller",
            aliases: &["replicaset"],
            enabled_by_default: true,
            start: |ctx| Box::pin(replicaset::run(ctx)),
        },
        ControllerDescriptor {
            name: "replicationcontroller-controller",
            aliases: &["replicationcontroller"],
            enabled_by_default: true,
            start: |ctx| Box::pin(replicaset::run_replication_controllers(ctx)),
        },
        ControllerDescriptor {
            name: "deployment-controller",
            aliases: &["deployment"],
            enabled_by_default: true,
            start: |ctx| Box::pin(deployment::run(ctx)),
        },
        ControllerDescriptor {
            name: daemonset::NAME,
            aliases: &["daemonset"],
            enabled_by_default: true,
            start: |ctx| Box::pin(daemonset::run(ctx)),
        },
        ControllerDescriptor {
            name: statefulset::NAME,
            aliases: &["statefulset"],
            enabled_by_default: true,
            start: |ctx| Box::pin(statefulset::run(ctx)),
        },
        ControllerDescriptor {
            name: GARBAGE_COLLECTOR,
            aliases: &["garbagecollector"],
            enabled_by_default: true,
            start: |ctx| Box::pin(garbagecollector::run(ctx)),
        },
        ControllerDescriptor {
            name: "endpointslice-controller",
            aliases: &["endpointslice"],
            enabled_by_default: true,
            start: |ctx| Box::pin(endpointslice::run(ctx)),
        },
        ControllerDescriptor {
            name: endpointslicemirroring::NAME,
            aliases: &["endpointslicemirroring"],
            enabled_by_default: true,
            start: |ctx| Box::pin(endpointslicemirroring::run(ctx)),
        },
        ControllerDescriptor {
            name: "endpoints-controller",
            aliases: &["endpoint"],
            enabled_by_default: true,
            start: |ctx| Box::pin(endpoints::run(ctx)),
        },
        ControllerDescriptor {
            name: disruption::NAME,
            aliases: &["disruption"],
            enabled_by_default: true,
            start: |ctx| Box::pin(disruption::run(ctx)),
        },
        ControllerDescriptor {
            name: "job-controller",
            aliases: &["job"],
            enabled_by_default: true,
            start: |ctx| Box::pin(job::run(ctx)),
        },
        ControllerDescriptor {
            name: "cronjob-controller",
            aliases: &["cronjob"],
            enabled_by_default: true,
            start: |ctx| Box::pin(cronjob::run(ctx)),
        },
        ControllerDescriptor {
            name: "ttl-after-finished-controller",
            aliases: &["ttl-after-finished"],
            enabled_by_default: true,
            start: |ctx| Box::pin(ttlafterfinished::run(ctx)),
        },
        ControllerDescriptor {
            name: nodeipam::NAME,
            aliases: &["nodeipam"],
            enabled_by_default: true,
            start: |ctx| Box::pin(nodeipam::run(ctx)),
        },
        ControllerDescriptor {
            name: nodelifecycle::NAME,
            aliases: &["nodelifecycle"],
            enabled_by_default: true,
            start: |ctx| Box::pin(nodelifecycle::run(ctx)),
        },
        ControllerDescriptor {
            name: tainteviction::NAME,
            aliases: &[],
            enabled_by_default: true,
            start: |ctx| Box::pin(tainteviction::run(ctx)),
        },
        ControllerDescriptor {
            name: podgc::NAME,
            aliases: &["podgc"],
            enabled_by_default: true,
            start: |ctx| Box::pin(podgc::run(ctx)),
        },
        ControllerDescriptor {
            name: resourcequota::NAME,
            aliases: &["resourcequota"],
            enabled_by_default: true,
            start: |ctx| Box::pin(resourcequota::run(ctx)),
        },
    ];
    TABLE
}

/// What a sync asks of the worker loop after success.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// Nothing more to do.
    #[default]
    No,
    /// Sync again after this long (upstream `AddAfter`, e.g. minReadySeconds).
    After(Duration),
}

/// Runs `workers` workers over `queue` until the future is dropped, mirroring upstream
/// `processNextWorkItem`: success forgets the key's backoff, failure re-adds it rate-limited.
pub async fn run_workers<F, Fut, E>(name: &'static str, queue: WorkQueue, workers: usize, sync: F)
where
    F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Requeue, E>> + Send,
    E: std::fmt::Display,
{
    struct ShutDownOnDrop(WorkQueue);
    impl Drop for ShutDownOnDrop {
        fn drop(&mut self) {
            self.0.shut_down();
        }
    }
    let _guard = ShutDownOnDrop(queue.clone());
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let sync = sync.clone();
        set.spawn(async move {
            while let Some(key) = queue.get().await {
                match sync(key.clone()).await {
                    Ok(requeue) => {
                        queue.forget(&key);
                        if let Requeue::After(d) = requeue {
                            queue.add_after(key.clone(), d);
                        }
                    }
                    Err(e) => {
                        tracing::info!(controller = name, key = %key, error = %e, "sync failed, requeuing");
                        queue.add_rate_limited(key.clone());
                    }
                }
                queue.done(&key);
            }
        });
    }
    while set.join_next().await.is_some() {}
}

/// Upstream `IsPodActive`: not Succeeded, not Failed, not being deleted.
pub fn pod_is_active(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded") | Some("Failed"))
        && pod.metadata.deletion_timestamp.is_none()
}

/// Upstream `podutil.IsPodReady`: the Ready condition is True.
pub fn pod_is_ready(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// The pod's Ready condition.
pub fn ready_condition(
    pod: &k8s_openapi::api::core::v1::Pod,
) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// Upstream `podutil.IsPodAvailable`: ready, and ready for at least `min_ready_seconds`.
pub fn pod_is_available(
    pod: &k8s_openapi::api::core::v1::Pod,
    min_ready_seconds: i32,
    now: k8s_openapi::jiff::Timestamp,
) -> bool {
    let Some(c) = ready_condition(pod).filter(|c| c.status == "True") else {
        return false;
    };
    if min_ready_seconds <= 0 {
        return true;
    }
    match &c.last_transition_time {
        Some(t) => t.0.as_second() + i64::from(min_ready_seconds) <= now.as_second(),
        None => false,
    }
}

/// The owner reference marked `controller: true`, if any (upstream `GetControllerOf`).
pub fn controller_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// Whether an API error is a 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether an API error is a 409 (conflict or already exists).
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// Upstream `HasStatusCause(err, NamespaceTerminatingCause)`: a create refused because the
/// namespace is being deleted.
pub fn is_namespace_terminating(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => {
            s.code == 403
                && s.details
                    .as_ref()
                    .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"))
        }
        _ => false,
    }
}

/// Aborts a helper task when the controller future that owns it is dropped.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
