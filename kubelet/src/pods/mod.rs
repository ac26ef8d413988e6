//! pods: the pods bound to this node, one worker per pod.
//!
//! - [`PodManager`] list-watches pods with `fieldSelector=spec.nodeName=<node>` and feeds
//!   each pod's worker the latest object; it removes sandboxes of pods it does not know
//!   once the initial list is in (upstream's orphan cleanup).
//! - [`worker::Worker`] syncs one pod (sandbox, images, init and app containers,
//!   restarts, termination) and reports its status through [`worker::PodApi`].
//! - [`status`] computes phase, conditions and container statuses; [`backoff`] holds
//!   CrashLoopBackOff / ImagePullBackOff timing; [`config`] builds CRI configs.
//! - [`static_pods`] reads `--pod-manifest-path`; the manager runs those pods like API
//!   pods (they run without the apiserver) and [`mirror::MirrorPods`] keeps their mirror
//!   pods in the apiserver. Mirror pods seen in the watch are never run.

pub mod backoff;
pub mod config;
pub mod mirror;
pub mod static_pods;
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
    mirrors: Option<Arc<mirror::MirrorPods>>,
}

impl KubePodApi {
    pub fn new(client: kube::Client, node_name: String) -> Self {
        KubePodApi {
            client,
            node_name,
            mirrors: None,
        }
    }

    /// Static pods' statuses go to their mirror pods through `mirrors`.
    pub fn with_mirrors(mut self, mirrors: Arc<mirror::MirrorPods>) -> Self {
        self.mirrors = Some(mirrors);
        self
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
        if static_pods::is_static(pod) {
            // Upstream's status manager writes a static pod's status to its mirror pod;
            // the mirror task does that off the worker's path.
            if let Some(m) = &self.mirrors {
                m.set_status(pod, status);
            }
            return Ok(());
        }
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
        if static_pods::is_static(pod) {
            return Ok(());
        }
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

    async fn services_for_pod(
        &self,
        namespace: &str,
        enable_service_links: bool,
    ) -> Result<Vec<k8s_openapi::api::core::v1::Service>, crate::container::ObjectSourceError> {
        use k8s_openapi::api::core::v1::Service;
        let err = |e: kube::Error| crate::container::ObjectSourceError(e.to_string());
        let mut out = Vec::new();
        if enable_service_links {
            let api: Api<Service> = Api::namespaced(self.client.clone(), namespace);
            out = api
                .list(&kube::api::ListParams::default())
                .await
                .map_err(err)?
                .items;
        }
        if !(enable_service_links && namespace == "default") {
            let api: Api<Service> = Api::namespaced(self.client.clone(), "default");
            out.extend(api.get_opt("kubernetes").await.map_err(err)?);
        }
        Ok(out)
    }
}

struct Handle {
    tx: watch::Sender<(Pod, bool)>,
}

/// Runs the workers for this node's pods.
pub struct PodManager {
    ctx: Arc<PodContext>,
    client: kube::Client,
    statics: Option<StaticInput>,
}

/// The static pod source and the mirror pods it feeds.
struct StaticInput {
    rx: watch::Receiver<Option<Vec<Pod>>>,
    mirrors: Arc<mirror::MirrorPods>,
}

impl PodManager {
    pub fn new(ctx: Arc<PodContext>, client: kube::Client) -> Self {
        PodManager {
            ctx,
            client,
            statics: None,
        }
    }

    /// Also runs the static pods published on `rx` (from [`static_pods::run`]) and tells
    /// `mirrors` about them and about the mirror pods in the watch.
    pub fn with_static_pods(
        mut self,
        rx: watch::Receiver<Option<Vec<Pod>>>,
        mirrors: Arc<mirror::MirrorPods>,
    ) -> Self {
        self.statics = Some(StaticInput { rx, mirrors });
        self
    }

    /// Watches until `shutdown`. Containers keep running when the kubelet stops, as
    /// upstream's do.
    pub async fn run(mut self, shutdown: watch::Receiver<bool>) {
        let api: Api<Pod> = Api::all(self.client.clone());
        let cfg =
            watcher::Config::default().fields(&format!("spec.nodeName={}", self.ctx.node_name));
        let mut stream = watcher::watcher(api, cfg).boxed();
        let mut workers: HashMap<String, Handle> = HashMap::new();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut finished: HashSet<String> = HashSet::new();
        let mut init_seen: HashSet<String> = HashSet::new();
        let mut init_mirrors: Vec<Pod> = Vec::new();
        // Static pods by uid (None until the manifest source's first read).
        let mut statics: Option<HashMap<String, Pod>> = None;
        let mut static_input = self.statics.take();
        let mirrors = static_input.as_ref().map(|s| s.mirrors.clone());
        let mut orphan_cleanup_pending = false;
        let mut sd = shutdown.clone();
        loop {
            tokio::select! {
                _ = stopped(&mut sd) => break,
                Some(uid) = done_rx.recv() => {
                    workers.remove(&uid);
                    match statics.as_ref().and_then(|s| s.get(&uid)) {
                        // A static pod whose file came back while its worker was
                        // stopping it starts again.
                        Some(pod) => {
                            let h = self.spawn(pod.clone(), shutdown.clone(), done_tx.clone());
                            workers.insert(uid, h);
                        }
                        None => { finished.insert(uid); }
                    }
                }
                r = async {
                    match static_input.as_mut() {
                        Some(s) => s.rx.changed().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if r.is_err() {
                        static_input = None;
                        continue;
                    }
                    let Some(input) = static_input.as_mut() else { continue };
                    let Some(pods) = input.rx.borrow_and_update().clone() else { continue };
                    input.mirrors.set_static_pods(&pods);
                    let new: HashMap<String, Pod> = pods
                        .into_iter()
                        .map(|p| (p.metadata.uid.clone().unwrap_or_default(), p))
                        .collect();
                    for (uid, old) in statics.iter().flatten() {
                        if !new.contains_key(uid) {
                            tracing::info!(pod = %status::pod_desc(old), "static pod removed");
                            if let Some(h) = workers.get(uid) {
                                let _ = h.tx.send((old.clone(), true));
                            }
                        }
                    }
                    for (uid, pod) in &new {
                        finished.remove(uid);
                        match workers.get(uid) {
                            Some(h) => { let _ = h.tx.send((pod.clone(), false)); }
                            None => {
                                tracing::info!(pod = %status::pod_desc(pod), "static pod added");
                                let h = self.spawn(pod.clone(), shutdown.clone(), done_tx.clone());
                                workers.insert(uid.clone(), h);
                            }
                        }
                    }
                    statics = Some(new);
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
                        watcher::Event::Init => {
                            init_seen.clear();
                            init_mirrors.clear();
                        }
                        watcher::Event::InitApply(pod) if static_pods::is_mirror(&pod) => {
                            // Mirror pods stand for static pods; they are never run.
                            init_mirrors.push(pod);
                        }
                        watcher::Event::Apply(pod) if static_pods::is_mirror(&pod) => {
                            if let Some(m) = &mirrors {
                                m.observe(&pod);
                            }
                        }
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
                        watcher::Event::Delete(pod) if static_pods::is_mirror(&pod) => {
                            if let Some(m) = &mirrors {
                                m.forget(&pod);
                            }
                        }
                        watcher::Event::Delete(pod) => {
                            let uid = pod.metadata.uid.clone().unwrap_or_default();
                            if let Some(h) = workers.get(&uid) {
                                let _ = h.tx.send((pod, true));
                            }
                        }
                        watcher::Event::InitDone => {
                            if let Some(m) = &mirrors {
                                m.replace_mirrors(std::mem::take(&mut init_mirrors));
                            }
                            orphan_cleanup_pending = true;
                        }
                    }
                }
            }
            // Orphan sandboxes are removed once both the API list and (when configured)
            // the static pods are known, so a restarted kubelet keeps its static pods.
            if orphan_cleanup_pending && (static_input.is_none() || statics.is_some()) {
                orphan_cleanup_pending = false;
                let mut known = init_seen.clone();
                known.extend(statics.iter().flat_map(|s| s.keys().cloned()));
                self.remove_orphans(&known).await;
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
