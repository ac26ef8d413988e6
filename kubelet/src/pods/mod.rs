//! pods: the pods bound to this node, one worker per pod.
//!
//! - [`PodManager`] list-watches pods with `fieldSelector=spec.nodeName=<node>` and feeds
//!   each pod's worker the latest object; it removes sandboxes of pods it does not know
//!   once the initial list is in (upstream's orphan cleanup).
//! - [`worker::Worker`] syncs one pod (sandbox, images, init and app containers,
//!   restarts, termination) and reports its status through [`worker::PodApi`].
//! - [`status`] computes phase, conditions and container statuses; [`backoff`] holds
//!   CrashLoopBackOff / ImagePullBackOff timing; [`config`] builds CRI configs.

pub mod backoff;
pub mod config;
pub mod status;
pub mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::watcher;
use kube::Api;
use tokio::sync::watch;

use worker::{Outcome, PodApi, PodContext, SyncError, Worker, LABEL_POD_UID};

/// How often a worker re-observes its pod without a change from the apiserver; upstream's
/// PLEG relists every second.
pub const RELIST_PERIOD: Duration = Duration::from_secs(1);

/// [`PodApi`] over the apiserver.
pub struct KubePodApi {
    client: kube::Client,
    node_name: String,
}

impl KubePodApi {
    pub fn new(client: kube::Client, node_name: String) -> Self {
        KubePodApi { client, node_name }
    }

    fn pods(&self, pod: &Pod) -> Api<Pod> {
        Api::namespaced(
            self.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        )
    }
}

#[async_trait]
impl PodApi for KubePodApi {
    async fn patch_status(&self, pod: &Pod, status: &PodStatus) -> Result<(), SyncError> {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        // The uid in the patch makes it fail on a recreated pod of the same name.
        let patch = serde_json::json!({
            "metadata": {"uid": pod.metadata.uid},
            "status": status,
        });
        match self
            .pods(pod)
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(SyncError::Api(format!(
                "patching status of pod {name}: {e}"
            ))),
        }
    }

    async fn finish_deletion(&self, pod: &Pod) -> Result<(), SyncError> {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match self.pods(pod).delete(name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
            Err(e) => Err(SyncError::Api(format!("deleting pod {name}: {e}"))),
        }
    }

    async fn event(
        &self,
        pod: &Pod,
        field_path: Option<String>,
        type_: &str,
        reason: &str,
        message: &str,
    ) {
        let ns = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let now = k8s_openapi::jiff::Timestamp::now();
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{}.{:x}",
                    pod.metadata.name.as_deref().unwrap_or_default(),
                    rand::random::<u64>()
                )),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: pod.metadata.name.clone(),
                namespace: Some(ns.clone()),
                uid: pod.metadata.uid.clone(),
                resource_version: pod.metadata.resource_version.clone(),
                field_path,
            },
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some(type_.into()),
            source: Some(EventSource {
                component: Some("kubelet".into()),
                host: Some(self.node_name.clone()),
            }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: None::<MicroTime>,
            count: Some(1),
            reporting_component: Some("kubelet".into()),
            reporting_instance: Some(self.node_name.clone()),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        if let Err(e) = api.create(&PostParams::default(), &ev).await {
            tracing::debug!(error = %e, reason, "could not record event");
        }
    }
}

/// Resolves once shutdown is signalled (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// ConfigMaps and Secrets read from the apiserver (env valueFrom/envFrom and volumes).
pub struct KubeObjects {
    client: kube::Client,
}

impl KubeObjects {
    pub fn new(client: kube::Client) -> Self {
        KubeObjects { client }
    }
}

#[async_trait]
impl crate::container::ObjectSource for KubeObjects {
    async fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<k8s_openapi::api::core::v1::ConfigMap>, crate::container::ObjectSourceError>
    {
        Api::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(|e| crate::container::ObjectSourceError(e.to_string()))
    }

    async fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<k8s_openapi::api::core::v1::Secret>, crate::container::ObjectSourceError>
    {
        Api::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(|e| crate::container::ObjectSourceError(e.to_string()))
    }
}

struct Handle {
    tx: watch::Sender<(Pod, bool)>,
}

/// Runs the workers for this node's pods.
pub struct PodManager {
    ctx: Arc<PodContext>,
    client: kube::Client,
}

impl PodManager {
    pub fn new(ctx: Arc<PodContext>, client: kube::Client) -> Self {
        PodManager { ctx, client }
    }

    /// Watches until `shutdown`. Containers keep running when the kubelet stops, as
    /// upstream's do.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let api: Api<Pod> = Api::all(self.client.clone());
        let cfg =
            watcher::Config::default().fields(&format!("spec.nodeName={}", self.ctx.node_name));
        let mut stream = watcher::watcher(api, cfg).boxed();
        let mut workers: HashMap<String, Handle> = HashMap::new();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut finished: HashSet<String> = HashSet::new();
        let mut init_seen: HashSet<String> = HashSet::new();
        let mut sd = shutdown.clone();
        loop {
            tokio::select! {
                _ = stopped(&mut sd) => break,
                Some(uid) = done_rx.recv() => {
                    workers.remove(&uid);
                    finished.insert(uid);
                }
                ev = stream.next() => {
                    let Some(ev) = ev else { break };
                    let ev = match ev {
                        Ok(ev) => ev,
                        Err(e) => {
                            tracing::warn!(error = %e, "pod watch failed; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    };
                    match ev {
                        watcher::Event::Init => init_seen.clear(),
                        watcher::Event::InitApply(pod) | watcher::Event::Apply(pod) => {
                            let uid = pod.metadata.uid.clone().unwrap_or_default();
                            init_seen.insert(uid.clone());
                            if finished.contains(&uid) {
                                continue;
                            }
                            match workers.get(&uid) {
                                Some(h) => { let _ = h.tx.send((pod, false)); }
                                None => {
                                    let h = self.spawn(pod, shutdown.clone(), done_tx.clone());
                                    workers.insert(uid, h);
                                }
                            }
                        }
                        watcher::Event::Delete(pod) => {
                            let uid = pod.metadata.uid.clone().unwrap_or_default();
                            if let Some(h) = workers.get(&uid) {
                                let _ = h.tx.send((pod, true));
                            }
                        }
                        watcher::Event::InitDone => {
                            self.remove_orphans(&init_seen).await;
                        }
                    }
                }
            }
        }
    }

    fn spawn(
        &self,
        pod: Pod,
        shutdown: watch::Receiver<bool>,
        done: tokio::sync::mpsc::UnboundedSender<String>,
    ) -> Handle {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let (tx, mut rx) = watch::channel((pod, false));
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            let mut w = Worker::new(ctx);
            let mut sd = shutdown;
            loop {
                let (pod, removed) = rx.borrow_and_update().clone();
                match w.sync(&pod, removed).await {
                    Ok(Outcome::Finished) => {
                        if let Err(e) = w.cleanup(&uid).await {
                            tracing::warn!(error = %e, %uid, "removing sandboxes of finished pod");
                        }
                        let _ = done.send(uid);
                        return;
                    }
                    Ok(Outcome::Continue) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, pod = %status::pod_desc(&pod), "error syncing pod, skipping")
                    }
                }
                tokio::select! {
                    r = rx.changed() => if r.is_err() { return },
                    _ = tokio::time::sleep(RELIST_PERIOD) => {}
                    _ = stopped(&mut sd) => return,
                }
            }
        });
        Handle { tx }
    }

    /// Stops and removes sandboxes whose pod is not bound here any more.
    async fn remove_orphans(&self, known: &HashSet<String>) {
        let Ok(sandboxes) = self.ctx.runtime.list_pod_sandbox(None).await else {
            return;
        };
        for sb in sandboxes {
            let Some(uid) = sb.labels.get(LABEL_POD_UID) else {
                continue;
            };
            if known.contains(uid) {
                continue;
            }
            tracing::info!(sandbox = %sb.id, %uid, "removing sandbox of a pod no longer bound to this node");
            let _ = self.ctx.runtime.stop_pod_sandbox(&sb.id).await;
            let _ = self.ctx.runtime.remove_pod_sandbox(&sb.id).await;
        }
    }
}
