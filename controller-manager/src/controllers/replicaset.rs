//! ReplicaSet controller (upstream pkg/controller/replicaset): keeps `spec.replicas` active
//! pods matching the selector, owned through a controller ownerReference.
//!
//! Each sync (`sync`) mirrors upstream `syncReplicaSet`:
//! 1. list the namespace's active pods from the informer and claim them
//!    (`PodControllerRefManager.ClaimPods`): adopt matching orphans after re-reading the
//!    ReplicaSet from the apiserver, release owned pods that no longer match;
//! 2. if the expectations are satisfied and the ReplicaSet is not being deleted, create
//!    missing pods in slow-start batches (1, 2, 4, ...; at most `burstReplicas` = 500 per
//!    sync) or delete surplus pods, least valuable first (`ActivePodsWithRanks`);
//! 3. write `status` (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
//!    observedGeneration, the ReplicaFailure condition) when it changed.
//!
//! The same code drives core/v1 ReplicationControllers (upstream pkg/controller/replication
//! wraps the ReplicaSet controller the same way): [`run_replication_controllers`] converts
//! each ReplicationController into a ReplicaSet in its cache (map selector ->
//! `matchLabels`), and the [`Flavor`] decides the owner reference kind, event source, the
//! object events are about, and where adoption re-checks and status writes go.
//!
//! Differences from upstream: deletion ranking counts co-located pods of this ReplicaSet
//! only (upstream also counts pods of sibling ReplicaSets of the same Deployment), and ready
//! times/restarts are compared exactly rather than on upstream's logarithmic scale.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{ObjectReference, Pod, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;
use rudder_api::labels::Selector;
use serde_json::json;

use super::{
    controller_of, is_namespace_terminating, is_not_found, pod_is_active, pod_is_available,
    pod_is_ready, run_workers, ControllerError, Requeue,
};
use crate::events::EventSink;
use crate::expectations::Expectations;
use crate::informer::{key_of, split_key, Notification};
use crate::queue::WorkQueue;
use crate::ControllerContext;

/// Upstream `BurstReplicas`: at most this many creates or deletes per sync.
pub const BURST_REPLICAS: usize = 500;
/// Upstream `SlowStartInitialBatchSize`.
pub const SLOW_START_INITIAL_BATCH_SIZE: usize = 1;
/// Annotation read when ranking pods for deletion (upstream `PodDeletionCost`).
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// Errors of one sync; all are retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaSetError {
    /// an API call failed
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// creating pods failed
    #[error("{0}")]
    FailedCreate(String),
    /// deleting pods failed
    #[error("{0}")]
    FailedDelete(String),
}

/// Which workload kind the controller drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// apps/v1 ReplicaSets.
    ReplicaSet,
    /// core/v1 ReplicationControllers, handled as converted ReplicaSets.
    ReplicationController,
}

impl Flavor {
    /// The upstream controller name (also the work queue and metrics name).
    pub fn controller_name(self) -> &'static str {
        match self {
            Flavor::ReplicaSet => "replicaset-controller",
            Flavor::ReplicationController => "replicationcontroller-controller",
        }
    }

    /// The event source component (upstream's replication manager records as
    /// `replication-controller`).
    pub fn event_component(self) -> &'static str {
        match self {
            Flavor::ReplicaSet => "replicaset-controller",
            Flavor::ReplicationController => "replication-controller",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Flavor::ReplicaSet => "apps/v1",
            Flavor::ReplicationController => "v1",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Flavor::ReplicaSet => "ReplicaSet",
            Flavor::ReplicationController => "ReplicationController",
        }
    }

    /// Whether an owner reference points at this kind.
    fn owns(self, r: &OwnerReference) -> bool {
        match self {
            Flavor::ReplicaSet => r.kind == "ReplicaSet" && r.api_version.starts_with("apps/"),
            Flavor::ReplicationController => {
                r.kind == "ReplicationController" && r.api_version == "v1"
            }
        }
    }

    /// The controllerRef put on pods.
    pub fn controller_ref(self, rs: &ReplicaSet) -> OwnerReference {
        OwnerReference {
            api_version: self.api_version().into(),
            kind: self.kind().into(),
            ..controller_ref(rs)
        }
    }

    fn object_ref(self, rs: &ReplicaSet) -> ObjectReference {
        ObjectReference {
            api_version: Some(self.api_version().into()),
            kind: Some(self.kind().into()),
            name: rs.metadata.name.clone(),
            namespace: rs.metadata.namespace.clone(),
            uid: rs.metadata.uid.clone(),
            resource_version: rs.metadata.resource_version.clone(),
            ..Default::default()
        }
    }

    /// Upstream `RecheckDeletionTimestamp`: the owner as the apiserver has it now is the
    /// same object and not being deleted.
    async fn recheck(self, client: &kube::Client, rs: &ReplicaSet) -> Result<bool, kube::Error> {
        let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
        let name = rs.metadata.name.as_deref().unwrap_or_default();
        let meta = match self {
            Flavor::ReplicaSet => Api::<ReplicaSet>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await?
                .map(|f| f.metadata),
            Flavor::ReplicationController => {
                Api::<ReplicationController>::namespaced(client.clone(), ns)
                    .get_opt(name)
                    .await?
                    .map(|f| f.metadata)
            }
        };
        Ok(meta.is_some_and(|m| m.uid == rs.metadata.uid && m.deletion_timestamp.is_none()))
    }

    async fn replace_status(
        self,
        client: &kube::Client,
        next: &ReplicaSet,
    ) -> Result<ReplicaSet, ReplicaSetError> {
        let ns = next.metadata.namespace.as_deref().unwrap_or_default();
        let name = next.metadata.name.as_deref().unwrap_or_default();
        match self {
            Flavor::ReplicaSet => Ok(Api::<ReplicaSet>::namespaced(client.clone(), ns)
                .replace_status(name, &PostParams::default(), next)
                .await?),
            Flavor::ReplicationController => {
                let rc = rs_to_rc(next);
                let stored = Api::<ReplicationController>::namespaced(client.clone(), ns)
                    .replace_status(name, &PostParams::default(), &rc)
                    .await?;
                Ok(rc_to_rs(&stored).unwrap_or_else(|| next.clone()))
            }
        }
    }
}

/// A ReplicationController as the ReplicaSet it is equivalent to (upstream
/// `replication.conversion`): the selector map becomes `matchLabels`; the rest has the same
/// shape. `None` if the object does not convert.
pub fn rc_to_rs(rc: &ReplicationController) -> Option<ReplicaSet> {
    let mut v = serde_json::to_value(rc).ok()?;
    let obj = v.as_object_mut()?;
    obj.insert("apiVersion".into(), json!("apps/v1"));
    obj.insert("kind".into(), json!("ReplicaSet"));
    if let Some(spec) = obj.get_mut("spec").and_then(|s| s.as_object_mut()) {
        let sel = spec.remove("selector").unwrap_or_else(|| json!({}));
        spec.insert("selector".into(), json!({"matchLabels": sel}));
    }
    serde_json::from_value(v).ok()
}

/// The inverse of [`rc_to_rs`] (only `matchLabels` selectors exist on the way back).
pub fn rs_to_rc(rs: &ReplicaSet) -> ReplicationController {
    let mut v = serde_json::to_value(rs).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("apiVersion".into(), json!("v1"));
        obj.insert("kind".into(), json!("ReplicationController"));
        if let Some(spec) = obj.get_mut("spec").and_then(|s| s.as_object_mut()) {
            let sel = spec
                .get("selector")
                .and_then(|s| s.get("matchLabels"))
                .cloned()
                .unwrap_or_else(|| json!({}));
            spec.insert("selector".into(), sel);
        }
    }
    serde_json::from_value(v).unwrap_or_default()
}

/// The controller state shared by its workers and event handlers.
#[derive(Clone)]
pub struct ReplicaSetController {
    client: kube::Client,
    rs_store: Store<ReplicaSet>,
    pod_store: Store<Pod>,
    expectations: Expectations,
    events: EventSink,
    flavor: Flavor,
}

/// Starts the informers and `--concurrent-replicaset-syncs` workers.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("replicaset");
    let q = queue.clone();
    let rs_informer = ctx.informers.subscribe::<ReplicaSet>(move |n| {
        let obj = n.object();
        q.add(key_of(obj.as_ref()));
    });
    let store = rs_informer.store.clone();
    run_flavor(ctx, Flavor::ReplicaSet, queue, store, async move {
        rs_informer.synced().await;
        rs_informer
    })
    .await
}

/// Starts the ReplicationController informer (feeding a cache of converted ReplicaSets)
/// and `--concurrent-rc-syncs` workers (upstream replication manager).
pub async fn run_replication_controllers(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("replicationmanager");
    let q = queue.clone();
    let (store, writer) = kube::runtime::reflector::store::<ReplicaSet>();
    let writer = parking_lot::Mutex::new(writer);
    let rc_informer = ctx.informers.subscribe::<ReplicationController>(move |n| {
        let (rc, deleted) = match &n {
            Notification::Added(o) => (o, false),
            Notification::Deleted(o) => (o, true),
            Notification::Updated { new, .. } => (new, false),
        };
        if let Some(rs) = rc_to_rs(rc) {
            let ev = if deleted {
                kube::runtime::watcher::Event::Delete(rs)
            } else {
                kube::runtime::watcher::Event::Apply(rs)
            };
            writer.lock().apply_watcher_event(&ev);
        }
        q.add(key_of(rc.as_ref()));
    });
    run_flavor(
        ctx,
        Flavor::ReplicationController,
        queue,
        store,
        async move {
            rc_informer.synced().await;
            rc_informer
        },
    )
    .await
}

/// The shared part of [`run`] and [`run_replication_controllers`]: the pod informer and the
/// workers over a cache of (possibly converted) ReplicaSets. `owner_informer` resolves,
/// once synced, to the owner informer, which is kept alive as long as the workers run.
async fn run_flavor<I>(
    ctx: ControllerContext,
    flavor: Flavor,
    queue: WorkQueue,
    rs_store: Store<ReplicaSet>,
    owner_informer: impl std::future::Future<Output = I>,
) -> Result<(), ControllerError> {
    let expectations = Expectations::new();
    let handler = PodHandler {
        rs_store: rs_store.clone(),
        queue: queue.clone(),
        expectations: expectations.clone(),
        flavor,
    };
    let pod_informer = ctx.informers.subscribe::<Pod>(move |n| handler.handle(n));
    let owner_informer = owner_informer.await;
    pod_informer.synced().await;
    let c = ReplicaSetController {
        client: ctx.client.clone(),
        rs_store,
        pod_store: pod_informer.store.clone(),
        expectations,
        events: EventSink::new(ctx.client.clone(), flavor.event_component()),
        flavor,
    };
    let workers = match flavor {
        Flavor::ReplicaSet => ctx.options.concurrent_replicaset_syncs,
        Flavor::ReplicationController => ctx.options.concurrent_rc_syncs,
    };
    run_workers(flavor.controller_name(), queue, workers, move |key| {
        let c = c.clone();
        async move { c.sync(&key).await }
    })
    .await;
    drop((owner_informer, pod_informer));
    Ok(())
}

/// Pod event handling (upstream `addPod`, `updatePod`, `deletePod`).
struct PodHandler {
    rs_store: Store<ReplicaSet>,
    queue: WorkQueue,
    expectations: Expectations,
    flavor: Flavor,
}

impl PodHandler {
    fn handle(&self, n: Notification<Pod>) {
        match n {
            Notification::Added(pod) => {
                if pod.metadata.deletion_timestamp.is_some() {
                    // Seen for the first time already terminating (e.g. after a relist).
                    self.deleted(&pod);
                    return;
                }
                if let Some(rs) = self.resolve(&pod) {
                    let key = key_of(rs.as_ref());
                    self.expectations.creation_observed(&key);
                    self.queue.add(key);
                    return;
                }
                // An orphan: every matching ReplicaSet gets a chance to adopt it.
                for rs in self.matching(&pod) {
                    self.queue.add(key_of(rs.as_ref()));
                }
            }
            Notification::Updated { old, new } => {
                if old.metadata.resource_version == new.metadata.resource_version {
                    return;
                }
                let labels_changed = old.metadata.labels != new.metadata.labels;
                if new.metadata.deletion_timestamp.is_some() {
                    // Upstream treats a pod that got a deletionTimestamp as deleted, so the
                    // expectations are met without waiting out the grace period.
                    self.deleted(&new);
                    if labels_changed {
                        self.deleted(&old);
                    }
                    return;
                }
                let old_ref = controller_of(&old.metadata).cloned();
                let new_ref = controller_of(&new.metadata).cloned();
                let ref_changed = old_ref != new_ref;
                if ref_changed && old_ref.is_some() {
                    if let Some(rs) = self.resolve(&old) {
                        self.queue.add(key_of(rs.as_ref()));
                    }
                }
                if new_ref.is_some() {
                    if let Some(rs) = self.resolve(&new) {
                        let key = key_of(rs.as_ref());
                        let min_ready = rs.spec.as_ref().and_then(|s| s.min_ready_seconds);
                        if let Some(secs) = min_ready.filter(|s| *s > 0) {
                            if !pod_is_ready(&old) && pod_is_ready(&new) {
                                // Re-check availability once minReadySeconds have passed
                                // (upstream adds one second of slack).
                                self.queue
                                    .add_after(key.clone(), Duration::from_secs(secs as u64 + 1));
                            }
                        }
                        self.queue.add(key);
                    }
                    return;
                }
                if labels_changed || ref_changed {
                    for rs in self.matching(&new) {
                        self.queue.add(key_of(rs.as_ref()));
                    }
                }
            }
            Notification::Deleted(pod) => self.deleted(&pod),
        }
    }

    fn deleted(&self, pod: &Pod) {
        if let Some(rs) = self.resolve(pod) {
            let key = key_of(rs.as_ref());
            self.expectations
                .deletion_observed(&key, pod.metadata.uid.as_deref().unwrap_or_default());
            self.queue.add(key);
        }
    }

    /// The ReplicaSet named by the pod's controllerRef, if it is that very object
    /// (upstream `resolveControllerRef` compares the UID).
    fn resolve(&self, pod: &Pod) -> Option<Arc<ReplicaSet>> {
        let r = controller_of(&pod.metadata)?;
        if !self.flavor.owns(r) {
            return None;
        }
        let ns = pod.metadata.namespace.as_deref()?;
        let rs = self.rs_store.get(&ObjectRef::new(&r.name).within(ns))?;
        (rs.metadata.uid.as_deref() == Some(r.uid.as_str())).then_some(rs)
    }

    /// ReplicaSets in the pod's namespace whose selector matches it (upstream
    /// `GetPodReplicaSets`).
    fn matching(&self, pod: &Pod) -> Vec<Arc<ReplicaSet>> {
        let ns = pod.metadata.namespace.as_deref();
        let empty = BTreeMap::new();
        let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
        self.rs_store.state_filter(|rs| {
            rs.metadata.namespace.as_deref() == ns
                && selector_of(rs).is_some_and(|s| !s.is_empty() && s.matches(labels))
        })
    }
}

/// The ReplicaSet's selector; `None` if it cannot be parsed.
fn selector_of(rs: &ReplicaSet) -> Option<Selector> {
    let sel = rs.spec.as_ref().map(|s| &s.selector)?;
    let v = serde_json::to_value(sel).ok()?;
    Selector::from_label_selector(&v).ok()
}

/// The controllerRef a ReplicaSet puts on its pods.
pub fn controller_ref(rs: &ReplicaSet) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: rs.metadata.name.clone().unwrap_or_default(),
        uid: rs.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

impl ReplicaSetController {
    async fn sync(&self, key: &str) -> Result<Requeue, ReplicaSetError> {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let Some(rs) = self.rs_store.get(&ObjectRef::new(name).within(ns)) else {
            self.expectations.delete(key);
            return Ok(Requeue::No);
        };
        let needs_sync = self.expectations.satisfied(key);
        let Some(selector) = selector_of(&rs) else {
            // Upstream logs and drops the key: retrying cannot fix a bad selector.
            tracing::warn!(key, "invalid selector, not syncing");
            return Ok(Requeue::No);
        };
        let active: Vec<Arc<Pod>> = self
            .pod_store
            .state_filter(|p| p.metadata.namespace.as_deref() == Some(ns) && pod_is_active(p));
        let pods = self.claim_pods(&rs, &selector, active).await?;

        let mut manage_err = None;
        if needs_sync && rs.metadata.deletion_timestamp.is_none() {
            manage_err = self.manage_replicas(&pods, &rs).await.err();
        }
        let status = calculate_status(&rs, &pods, manage_err.as_ref(), Timestamp::now());
        let updated = self.update_status(&rs, status).await?;
        if let Some(e) = manage_err {
            return Err(e);
        }
        let spec = updated.spec.as_ref();
        let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
        let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
        let st = updated.status.clone().unwrap_or_default();
        if min_ready > 0
            && st.ready_replicas.unwrap_or(0) == desired
            && st.available_replicas.unwrap_or(0) != desired
        {
            return Ok(Requeue::After(Duration::from_secs(min_ready as u64)));
        }
        Ok(Requeue::No)
    }

    /// Upstream `ClaimPods`: owned + matching pods stay, matching orphans are adopted,
    /// owned pods that stopped matching are released.
    async fn claim_pods(
        &self,
        rs: &ReplicaSet,
        selector: &Selector,
        pods: Vec<Arc<Pod>>,
    ) -> Result<Vec<Arc<Pod>>, ReplicaSetError> {
        let uid = rs.metadata.uid.as_deref().unwrap_or_default();
        let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let empty = BTreeMap::new();
        let mut claimed = Vec::new();
        let mut can_adopt: Option<bool> = None;
        for pod in pods {
            let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
            let matches = !selector.is_empty() && selector.matches(labels);
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
            match controller_of(&pod.metadata) {
                Some(r) if r.uid == uid => {
                    if matches {
                        claimed.push(pod);
                    } else if rs.metadata.deletion_timestamp.is_none() {
                        let patch = json!({"metadata": {
                            "ownerReferences": [{"$patch": "delete", "uid": uid}],
                            "uid": pod_uid,
                        }});
                        match api
                            .patch(&pod_name, &PatchParams::default(), &Patch::Strategic(patch))
                            .await
                        {
                            Ok(_) => {}
                            // Gone or changed identity: nothing to release.
                            Err(e) if is_not_found(&e) || is_invalid(&e) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                Some(_) => {}
                None => {
                    if !matches
                        || rs.metadata.deletion_timestamp.is_some()
                        || pod.metadata.deletion_timestamp.is_some()
                    {
                        continue;
                    }
                    // Upstream `RecheckDeletionTimestamp`: adopt only if a fresh read shows
                    // the same, live ReplicaSet.
                    if can_adopt.is_none() {
                        can_adopt = Some(self.flavor.recheck(&self.client, rs).await?);
                    }
                    if can_adopt != Some(true) {
                        continue;
                    }
                    let patch = json!({"metadata": {
                        "ownerReferences": [self.flavor.controller_ref(rs)],
                        "uid": pod_uid,
                    }});
                    match api
                        .patch(&pod_name, &PatchParams::default(), &Patch::Strategic(patch))
                        .await
                    {
                        Ok(p) => claimed.push(Arc::new(p)),
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(claimed)
    }

    /// Upstream `manageReplicas`.
    async fn manage_replicas(
        &self,
        pods: &[Arc<Pod>],
        rs: &ReplicaSet,
    ) -> Result<(), ReplicaSetError> {
        let key = key_of(rs);
        let desired = rs
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1)
            .max(0) as usize;
        let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        match pods.len().cmp(&desired) {
            Ordering::Equal => Ok(()),
            Ordering::Less => {
                let n = (desired - pods.len()).min(BURST_REPLICAS);
                // Raise expectations before any create, so a watch event arriving before
                // create() returns is not lost.
                self.expectations.expect_creations(&key, n);
                let mut template = pod_from_template(rs);
                template.metadata.owner_references = Some(vec![self.flavor.controller_ref(rs)]);
                let involved = self.flavor.object_ref(rs);
                let (created, err) = slow_start_batch(n, SLOW_START_INITIAL_BATCH_SIZE, || {
                    let api = api.clone();
                    let pod = template.clone();
                    let expectations = self.expectations.clone();
                    let key = key.clone();
                    let events = self.events.clone();
                    let involved = involved.clone();
                    async move {
                        match api.create(&PostParams::default(), &pod).await {
                            Ok(created) => {
                                events.normal_ref(
                                    involved,
                                    "SuccessfulCreate",
                                    format!(
                                        "Created pod: {}",
                                        created.metadata.name.as_deref().unwrap_or_default()
                                    ),
                                );
                                Ok(())
                            }
                            Err(e) => {
                                // The informer will never see this pod.
                                expectations.creation_observed(&key);
                                if is_namespace_terminating(&e) {
                                    // Upstream ignores creates refused in a terminating
                                    // namespace: the namespace controller is deleting it.
                                    return Ok(());
                                }
                                events.warning_ref(
                                    involved,
                                    "FailedCreate",
                                    format!("Error creating: {e}"),
                                );
                                Err(e)
                            }
                        }
                    }
                })
                .await;
                let skipped = n - created;
                if skipped > 0 {
                    self.expectations.lower_creations(&key, skipped);
                }
                match err {
                    Some(e) => Err(ReplicaSetError::FailedCreate(e.to_string())),
                    None => Ok(()),
                }
            }
            Ordering::Greater => {
                let n = (pods.len() - desired).min(BURST_REPLICAS);
                let victims = pods_to_delete(pods, n);
                let uids: Vec<String> = victims
                    .iter()
                    .map(|p| p.metadata.uid.clone().unwrap_or_default())
                    .collect();
                self.expectations.expect_deletions(&key, uids);
                let results = futures::future::join_all(victims.iter().map(|p| {
                    let api = api.clone();
                    async move {
                        let name = p.metadata.name.as_deref().unwrap_or_default();
                        (p, api.delete(name, &DeleteParams::default()).await)
                    }
                }))
                .await;
                let mut first_err = None;
                for (p, r) in results {
                    let name = p.metadata.name.as_deref().unwrap_or_default();
                    match &r {
                        Ok(_) => self.events.normal_ref(
                            self.flavor.object_ref(rs),
                            "SuccessfulDelete",
                            format!("Deleted pod: {name}"),
                        ),
                        Err(e) if !is_not_found(e) => self.events.warning_ref(
                            self.flavor.object_ref(rs),
                            "FailedDelete",
                            format!("Error deleting: {e}"),
                        ),
                        Err(_) => {}
                    }
                    if let Err(e) = r {
                        // The informer will not observe this deletion.
                        self.expectations
                            .deletion_observed(&key, p.metadata.uid.as_deref().unwrap_or_default());
                        if !is_not_found(&e) && first_err.is_none() {
                            first_err = Some(e);
                        }
                    }
                }
                match first_err {
                    Some(e) => Err(ReplicaSetError::FailedDelete(e.to_string())),
                    None => Ok(()),
                }
            }
        }
    }

    /// Writes status if it changed (upstream `updateReplicaSetStatus`), returning the
    /// ReplicaSet as stored.
    async fn update_status(
        &self,
        rs: &ReplicaSet,
        status: ReplicaSetStatus,
    ) -> Result<ReplicaSet, ReplicaSetError> {
        let current = rs.status.clone().unwrap_or_default();
        if status_equal(&current, &status) {
            return Ok(rs.clone());
        }
        let mut next = rs.clone();
        next.status = Some(status);
        self.flavor.replace_status(&self.client, &next).await
    }
}

fn status_equal(a: &ReplicaSetStatus, b: &ReplicaSetStatus) -> bool {
    let strip = |c: &Option<Vec<ReplicaSetCondition>>| {
        c.iter()
            .flatten()
            .map(|c| {
                (
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.message.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    a.replicas == b.replicas
        && a.fully_labeled_replicas.unwrap_or(0) == b.fully_labeled_replicas.unwrap_or(0)
        && a.ready_replicas.unwrap_or(0) == b.ready_replicas.unwrap_or(0)
        && a.available_replicas.unwrap_or(0) == b.available_replicas.unwrap_or(0)
        && a.observed_generation == b.observed_generation
        && strip(&a.conditions) == strip(&b.conditions)
}

/// Runs `n` calls of `f` in batches of 1, 2, 4, ... (upstream `slowStartBatch`), stopping
/// after the first batch with an error. Returns how many calls succeeded and the first error.
pub async fn slow_start_batch<F, Fut, E>(n: usize, initial: usize, f: F) -> (usize, Option<E>)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    let mut remaining = n;
    let mut successes = 0;
    let mut batch = remaining.min(initial.max(1));
    while batch > 0 {
        let results = futures::future::join_all((0..batch).map(|_| f())).await;
        let mut first_err = None;
        for r in results {
            match r {
                Ok(()) => successes += 1,
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        if first_err.is_some() {
            return (successes, first_err);
        }
        remaining -= batch;
        batch = remaining.min(2 * batch);
    }
    (successes, None)
}

/// The pod a ReplicaSet creates (upstream `GetPodFromTemplate`): template labels,
/// annotations and finalizers, `generateName: <rs>-`, the controllerRef.
pub fn pod_from_template(rs: &ReplicaSet) -> Pod {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!(
                "{}-",
                rs.metadata.name.as_deref().unwrap_or_default()
            )),
            namespace: rs.metadata.namespace.clone(),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![controller_ref(rs)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Upstream `calculateStatus`.
pub fn calculate_status(
    rs: &ReplicaSet,
    pods: &[Arc<Pod>],
    manage_err: Option<&ReplicaSetError>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let mut status = rs.status.clone().unwrap_or_default();
    let template_labels = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = rs
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let mut fully = 0;
    let mut ready = 0;
    let mut available = 0;
    for p in pods {
        let labels = p.metadata.labels.clone().unwrap_or_default();
        if template_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
        {
            fully += 1;
        }
        if pod_is_ready(p) {
            ready += 1;
            if pod_is_available(p, min_ready, now) {
                available += 1;
            }
        }
    }
    let mut conditions = status.conditions.take().unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c.type_ == "ReplicaFailure");
    match manage_err {
        Some(e) if !has_failure => {
            let (reason, message) = match e {
                ReplicaSetError::FailedDelete(m) => ("FailedDelete", m.clone()),
                ReplicaSetError::FailedCreate(m) => ("FailedCreate", m.clone()),
                ReplicaSetError::Api(e) => ("FailedCreate", e.to_string()),
            };
            conditions.push(ReplicaSetCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some(reason.into()),
                message: Some(message),
                last_transition_time: Some(Time(now)),
            });
        }
        None if has_failure => conditions.retain(|c| c.type_ != "ReplicaFailure"),
        _ => {}
    }
    status.conditions = (!conditions.is_empty()).then_some(conditions);
    status.replicas = pods.len() as i32;
    status.fully_labeled_replicas = Some(fully);
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status.observed_generation = rs.metadata.generation;
    status
}

/// The `n` pods to delete first, by upstream `ActivePodsWithRanks` order.
pub fn pods_to_delete(pods: &[Arc<Pod>], n: usize) -> Vec<Arc<Pod>> {
    let mut per_node: BTreeMap<&str, i32> = BTreeMap::new();
    for p in pods {
        if let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            *per_node.entry(node).or_default() += 1;
        }
    }
    let rank = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .and_then(|n| per_node.get(n).copied())
            .unwrap_or(0)
    };
    let mut ranked: Vec<(i32, Arc<Pod>)> = pods.iter().map(|p| (rank(p), p.clone())).collect();
    ranked.sort_by(|(ra, a), (rb, b)| deletion_order(a, *ra, b, *rb));
    ranked.into_iter().take(n).map(|(_, p)| p).collect()
}

/// `Less` when `a` should be deleted before `b`.
fn deletion_order(a: &Pod, rank_a: i32, b: &Pod, rank_b: i32) -> Ordering {
    let node = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default()
    };
    // 1. Unassigned before assigned.
    let (na, nb) = (node(a), node(b));
    if na.is_empty() != nb.is_empty() {
        return if na.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    // 2. Pending < Unknown < Running.
    let phase = |p: &Pod| match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    };
    let o = phase(a).cmp(&phase(b));
    if o != Ordering::Equal {
        return o;
    }
    // 3. Not ready before ready.
    let o = pod_is_ready(a).cmp(&pod_is_ready(b));
    if o != Ordering::Equal {
        return o;
    }
    // 4. Lower pod-deletion-cost first.
    let cost = |p: &Pod| {
        p.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(POD_DELETION_COST))
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(0)
    };
    let o = cost(a).cmp(&cost(b));
    if o != Ordering::Equal {
        return o;
    }
    // 5. More co-located pods first.
    let o = rank_b.cmp(&rank_a);
    if o != Ordering::Equal {
        return o;
    }
    // 6. Ready for less time first.
    if pod_is_ready(a) && pod_is_ready(b) {
        let t = |p: &Pod| {
            super::ready_condition(p)
                .and_then(|c| c.last_transition_time.as_ref())
                .map(|t| t.0)
        };
        let o = t(b).cmp(&t(a));
        if o != Ordering::Equal {
            return o;
        }
    }
    // 7. More restarts first.
    let restarts = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0))
            .unwrap_or(0)
    };
    let o = restarts(b).cmp(&restarts(a));
    if o != Ordering::Equal {
        return o;
    }
    // 8. Newer first.
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    created(b).cmp(&created(a))
}

fn is_invalid(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 422)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};

    fn pod(name: &str, node: &str, phase: &str, ready: bool, created: i64) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                creation_timestamp: Some(Time(Timestamp::from_second(created).unwrap())),
                labels: Some([("app".to_string(), "x".to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: (!node.is_empty()).then(|| node.to_string()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    last_transition_time: Some(Time(Timestamp::from_second(created).unwrap())),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        })
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<&str> {
        pods.iter()
            .map(|p| p.metadata.name.as_deref().unwrap())
            .collect()
    }

    #[test]
    fn deletion_ranking_table() {
        type Case<'a> = (&'a str, Vec<Arc<Pod>>, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            (
                "unscheduled first",
                vec![
                    pod("a", "n1", "Running", true, 1),
                    pod("b", "", "Pending", false, 1),
                ],
                vec!["b", "a"],
            ),
            (
                "pending before running",
                vec![
                    pod("a", "n1", "Running", true, 1),
                    pod("b", "n2", "Pending", false, 1),
                ],
                vec!["b", "a"],
            ),
            (
                "not ready before ready",
                vec![
                    pod("a", "n1", "Running", true, 1),
                    pod("b", "n2", "Running", false, 1),
                ],
                vec!["b", "a"],
            ),
            (
                "doubled-up node first",
                vec![
                    pod("a", "n1", "Running", true, 1),
                    pod("b", "n2", "Running", true, 1),
                    pod("c", "n2", "Running", true, 1),
                ],
                vec!["b", "c", "a"],
            ),
            (
                "ready more recently first",
                vec![
                    pod("old", "n1", "Running", true, 1),
                    pod("new", "n2", "Running", true, 100),
                ],
                vec!["new", "old"],
            ),
        ];
        for (name, pods, want) in cases {
            let got = pods_to_delete(&pods, pods.len());
            assert_eq!(names(&got), want, "{name}");
        }
    }

    #[test]
    fn deletion_cost_wins_over_rank() {
        let mut cheap = (*pod("cheap", "n1", "Running", true, 1)).clone();
        cheap.metadata.annotations =
            Some([(POD_DELETION_COST.to_string(), "-10".to_string())].into());
        let pods = vec![
            pod("b", "n2", "Running", true, 1),
            pod("c", "n2", "Running", true, 1),
            Arc::new(cheap),
        ];
        assert_eq!(names(&pods_to_delete(&pods, 1)), vec!["cheap"]);
    }

    #[tokio::test]
    async fn slow_start_batches_grow_and_stop_on_error() {
        use std::sync::atomic::{AtomicUsize, Ordering as O};
        let calls = AtomicUsize::new(0);
        let (ok, err) = slow_start_batch(10, 1, || {
            calls.fetch_add(1, O::SeqCst);
            async { Ok::<(), ()>(()) }
        })
        .await;
        assert_eq!((ok, err), (10, None));
        assert_eq!(calls.load(O::SeqCst), 10);

        // Batches 1, 2, 4: the 4th call fails, so the batch of 4 finishes and nothing more
        // is attempted.
        let calls = AtomicUsize::new(0);
        let (ok, err) = slow_start_batch(10, 1, || {
            let n = calls.fetch_add(1, O::SeqCst);
            async move {
                if n == 3 {
                    Err("boom")
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(ok, 6);
        assert_eq!(err, Some("boom"));
        assert_eq!(calls.load(O::SeqCst), 7);
    }

    fn rs(replicas: i32, generation: i64) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "rs-uid", "generation": generation},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "x"}},
                "template": {"metadata": {"labels": {"app": "x", "tier": "fe"}}, "spec": {"containers": []}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn status_counts() {
        let mut fully = (*pod("full", "n1", "Running", true, 1)).clone();
        fully
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("tier".into(), "fe".into());
        let pods = vec![
            Arc::new(fully),
            pod("a", "n1", "Running", false, 1),
            pod("b", "n1", "Running", true, 1),
        ];
        let now = Timestamp::from_second(1000).unwrap();
        let s = calculate_status(&rs(3, 7), &pods, None, now);
        assert_eq!(s.replicas, 3);
        assert_eq!(s.fully_labeled_replicas, Some(1));
        assert_eq!(s.ready_replicas, Some(2));
        assert_eq!(s.available_replicas, Some(2));
        assert_eq!(s.observed_generation, Some(7));
        assert!(s.conditions.is_none());

        let mut with_min_ready = rs(3, 7);
        with_min_ready.spec.as_mut().unwrap().min_ready_seconds = Some(10);
        let s = calculate_status(
            &with_min_ready,
            &pods,
            None,
            Timestamp::from_second(5).unwrap(),
        );
        assert_eq!(
            s.available_replicas,
            Some(0),
            "ready for 4s < minReadySeconds"
        );

        let err = ReplicaSetError::FailedCreate("quota".into());
        let s = calculate_status(&rs(3, 7), &pods, Some(&err), now);
        let c = &s.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (c.type_.as_str(), c.reason.as_deref()),
            ("ReplicaFailure", Some("FailedCreate"))
        );
        let mut failed = rs(3, 7);
        failed.status = Some(s);
        assert!(calculate_status(&failed, &pods, None, now)
            .conditions
            .is_none());
    }

    #[test]
    fn template_pod_is_owned() {
        let p = pod_from_template(&rs(1, 1));
        assert_eq!(p.metadata.generate_name.as_deref(), Some("web-"));
        assert_eq!(p.metadata.labels.unwrap().get("tier").unwrap(), "fe");
        let r = &p.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (r.kind.as_str(), r.uid.as_str(), r.controller),
            ("ReplicaSet", "rs-uid", Some(true))
        );
    }

    #[test]
    fn replication_controller_converts_both_ways() {
        let rc: ReplicationController = serde_json::from_value(json!({
            "metadata": {"name": "rc", "namespace": "ns", "uid": "rc-uid"},
            "spec": {"replicas": 2, "selector": {"app": "x"},
                     "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}},
            "status": {"replicas": 1, "readyReplicas": 1}
        }))
        .unwrap();
        let rs = rc_to_rs(&rc).unwrap();
        assert_eq!(rs.spec.as_ref().unwrap().replicas, Some(2));
        assert!(selector_of(&rs)
            .unwrap()
            .matches(&[("app".to_string(), "x".to_string())].into()));
        let back = rs_to_rc(&rs);
        assert_eq!(back, rc);
        let r = Flavor::ReplicationController.controller_ref(&rs);
        assert_eq!(
            (r.api_version.as_str(), r.kind.as_str(), r.uid.as_str()),
            ("v1", "ReplicationController", "rc-uid")
        );
        assert!(Flavor::ReplicationController.owns(&r));
        assert!(!Flavor::ReplicaSet.owns(&r));
    }
}
