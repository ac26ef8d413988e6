//! StatefulSet controller (upstream pkg/controller/statefulset): pods with stable names
//! `<set>-<ordinal>`, stable hostnames (`hostname` = pod name, `subdomain` = serviceName) and
//! stable storage (PVCs `<claim>-<set>-<ordinal>` from volumeClaimTemplates).
//!
//! Each sync mirrors upstream `defaultStatefulSetControl.UpdateStatefulSet`:
//! 1. revisions: the update revision is the ControllerRevision holding the current template
//!    patch (created when missing, or an equal older one renumbered); the current revision
//!    is `status.currentRevision` (or the update revision for a new set);
//! 2. `plan` (pure) walks the ordinals: failed/succeeded pods are deleted, missing pods are
//!    created (at the current revision below the partition, else at the update revision);
//!    with OrderedReady it stops at the first pod not Running+Ready (and available after
//!    minReadySeconds) and handles one pod at a time, with Parallel everything at once;
//!    pods beyond `replicas` are deleted highest ordinal first; then RollingUpdate deletes the
//!    highest-ordinal pod at or above `partition` not at the update revision, waiting for
//!    each replacement to become healthy (OnDelete leaves pods alone);
//! 3. PVC ownerReferences follow `persistentVolumeClaimRetentionPolicy` (whenDeleted: Delete
//!    = owned by the set; whenScaled: Delete = owned by the pod once it is scaled away), so
//!    the garbage collector does the deleting, as upstream;
//! 4. status, with the rolling update completed (currentRevision = updateRevision) once every
//!    pod is updated and ready; revisions not in use beyond `revisionHistoryLimit` go.
//!
//! `rollingUpdate.maxUnavailable` is an alpha field upstream (MaxUnavailableStatefulSet, off
//! by default) and is ignored here: at most one pod is updated at a time.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;
use serde_json::json;

use super::history::{self, POD_REVISION_LABEL};
use super::podclaim::{claim_pods, controller_ref, parse_selector};
use super::{
    controller_of, is_conflict, is_not_found, pod_is_available, pod_is_ready, run_workers,
    ControllerError, Requeue,
};
use crate::events::EventSink;
use crate::informer::{key_of, split_key, Notification};
use crate::ControllerContext;

/// Upstream name.
pub const NAME: &str = "statefulset-controller";
/// Upstream `apps.StatefulSetPodNameLabel`.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// Upstream `apps.PodIndexLabel` (PodIndexLabel feature, GA).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// Errors of one sync; all are retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum StatefulSetError {
    /// an API call failed
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// revision bookkeeping failed
    #[error("{0}")]
    History(#[from] history::HistoryError),
}

// ---------------------------------------------------------------- pure helpers

/// Upstream `getParentNameAndOrdinal`: `web-3` -> (`web`, 3).
pub fn parent_and_ordinal(name: &str) -> Option<(&str, i32)> {
    let (parent, ord) = name.rsplit_once('-')?;
    if ord.is_empty() || !ord.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, ord.parse().ok()?))
}

fn ordinal_of(pod: &Pod) -> i32 {
    pod.metadata
        .name
        .as_deref()
        .and_then(parent_and_ordinal)
        .map_or(-1, |(_, o)| o)
}

fn set_name(set: &StatefulSet) -> &str {
    set.metadata.name.as_deref().unwrap_or_default()
}

/// Upstream `getStartOrdinal`.
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.ordinals.as_ref())
        .and_then(|o| o.start)
        .unwrap_or(0)
}

fn replicas(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .max(0)
}

fn min_ready(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

fn parallel(set: &StatefulSet) -> bool {
    set.spec
        .as_ref()
        .and_then(|s| s.pod_management_policy.as_deref())
        == Some("Parallel")
}

fn update_type(set: &StatefulSet) -> &str {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        .unwrap_or("RollingUpdate")
}

fn partition(set: &StatefulSet) -> Option<i32> {
    set.spec
        .as_ref()?
        .update_strategy
        .as_ref()?
        .rolling_update
        .as_ref()?
        .partition
}

/// Upstream `getPodName`.
pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", set_name(set))
}

/// Upstream `getPersistentVolumeClaimName`.
pub fn claim_name(set: &StatefulSet, claim: &str, ordinal: i32) -> String {
    format!("{claim}-{}-{ordinal}", set_name(set))
}

fn pod_revision(pod: &Pod) -> &str {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(POD_REVISION_LABEL))
        .map_or("", String::as_str)
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Upstream `isRunningAndReady`.
fn running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && pod_is_ready(pod)
}

/// Upstream `isHealthy` with minReadySeconds (`isRunningAndAvailable`), not terminating.
fn healthy(pod: &Pod, min_ready: i32, now: Timestamp) -> bool {
    running_and_ready(pod) && pod_is_available(pod, min_ready, now) && !terminating(pod)
}

fn template_claims(set: &StatefulSet) -> &[PersistentVolumeClaim] {
    set.spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_deref())
        .unwrap_or_default()
}

/// Upstream `getPersistentVolumeClaims`: the claims of `ordinal`, labelled with the
/// selector's matchLabels, keyed by template name.
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<(String, PersistentVolumeClaim)> {
    let match_labels = set
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    template_claims(set)
        .iter()
        .map(|t| {
            let tname = t.metadata.name.clone().unwrap_or_default();
            let mut c = t.clone();
            c.metadata.name = Some(claim_name(set, &tname, ordinal));
            c.metadata.namespace = set.metadata.namespace.clone();
            let labels = c.metadata.labels.get_or_insert_with(BTreeMap::new);
            labels.extend(match_labels.clone());
            c.status = None;
            (tname, c)
        })
        .collect()
}

/// Upstream `updateStorage`: each claim template becomes a volume of that name, replacing a
/// template volume with the same name.
fn update_storage(set: &StatefulSet, pod: &mut Pod, ordinal: i32) {
    let claims = claims_for(set, ordinal);
    if claims.is_empty() {
        return;
    }
    let spec = pod.spec.get_or_insert_with(Default::default);
    let mut volumes: Vec<Volume> = spec
        .volumes
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|v| !claims.iter().any(|(n, _)| *n == v.name))
        .collect();
    for (tname, c) in claims {
        volumes.push(Volume {
            name: tname,
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: c.metadata.name.unwrap_or_default(),
                read_only: None,
            }),
            ..Default::default()
        });
    }
    spec.volumes = Some(volumes);
}

/// Upstream `storageMatches`.
fn storage_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let ordinal = ordinal_of(pod);
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or_default();
    claims_for(set, ordinal).iter().all(|(tname, c)| {
        volumes.iter().any(|v| {
            v.name == *tname
                && v.persistent_volume_claim.as_ref().map(|p| &p.claim_name)
                    == c.metadata.name.as_ref()
        })
    })
}

/// Upstream `identityMatches` (pod-index label included, PodIndexLabel being GA).
fn identity_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some((parent, ordinal)) = pod.metadata.name.as_deref().and_then(parent_and_ordinal) else {
        return false;
    };
    let label = |k: &str| pod.metadata.labels.as_ref().and_then(|l| l.get(k)).cloned();
    parent == set_name(set)
        && pod.metadata.namespace == set.metadata.namespace
        && label(POD_NAME_LABEL).as_deref() == pod.metadata.name.as_deref()
        && label(POD_INDEX_LABEL) == Some(ordinal.to_string())
}

/// Upstream `updateIdentity`: the identity labels.
fn update_identity(pod: &mut Pod, ordinal: i32) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(POD_NAME_LABEL.into(), name);
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
}

/// Upstream `newStatefulSetPod` + `setPodRevision`: the pod for `ordinal` from `template`.
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, revision: &str, ordinal: i32) -> Pod {
    let tmeta = template.metadata.clone().unwrap_or_default();
    let name = pod_name(set, ordinal);
    let mut labels = tmeta.labels.unwrap_or_default();
    labels.insert(POD_REVISION_LABEL.into(), revision.into());
    let mut pod = Pod {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: set.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![controller_ref("StatefulSet", &set.metadata)]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    };
    update_identity(&mut pod, ordinal);
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.hostname = Some(name);
    if let Some(svc) = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .filter(|s| !s.is_empty())
    {
        spec.subdomain = Some(svc);
    }
    update_storage(set, &mut pod, ordinal);
    pod
}

/// Which revision a new pod for `ordinal` gets (upstream `isCurrentRevisionNeeded`): the
/// current one below the partition during a RollingUpdate, else the update revision.
pub fn current_revision_needed(
    set: &StatefulSet,
    update_revision: &str,
    ordinal: i32,
    replicas: &[Option<Arc<Pod>>],
) -> bool {
    if update_type(set) != "RollingUpdate" {
        return false;
    }
    let current_replicas = set
        .status
        .as_ref()
        .and_then(|s| s.current_replicas)
        .unwrap_or(0);
    let Some(partition) = partition(set) else {
        return ordinal < start_ordinal(set) + current_replicas;
    };
    let not_updated = replicas
        .iter()
        .flatten()
        .filter(|p| ordinal_of(p) != ordinal && pod_revision(p) != update_revision)
        .count() as i32;
    not_updated < partition
}

/// One action of a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create the pod for this ordinal at the current (`true`) or update (`false`) revision.
    Create {
        /// The ordinal.
        ordinal: i32,
        /// Whether the current revision's template is used.
        at_current: bool,
    },
    /// Delete this pod.
    Delete(String),
    /// Fix this existing pod's identity labels or storage volumes.
    FixIdentity(String),
}

/// The decisions of one sync (upstream `updateStatefulSet` without the API calls): the pods
/// by ordinal slot, the condemned pods, and the actions in order. `current`/`update` are
/// the revision names.
pub fn plan(set: &StatefulSet, pods: &[Arc<Pod>], update: &str, now: Timestamp) -> Vec<Action> {
    let start = start_ordinal(set);
    let count = replicas(set);
    let monotonic = !parallel(set);
    let min_ready = min_ready(set);
    let mut slots: Vec<Option<Arc<Pod>>> = vec![None; count as usize];
    let mut condemned: Vec<Arc<Pod>> = Vec::new();
    for p in pods {
        let o = ordinal_of(p);
        if o >= start && o < start + count {
            slots[(o - start) as usize] = Some(p.clone());
        } else if o >= 0 {
            condemned.push(p.clone());
        }
    }
    // Highest ordinal first.
    condemned.sort_by_key(|p| std::cmp::Reverse(ordinal_of(p)));
    let first_unhealthy = slots
        .iter()
        .flatten()
        .chain(condemned.iter().rev())
        .find(|p| !healthy(p, min_ready, now))
        .and_then(|p| p.metadata.name.clone());

    let mut actions = Vec::new();
    if set.metadata.deletion_timestamp.is_some() {
        return actions;
    }
    for (i, slot) in slots.iter().enumerate() {
        let ordinal = start + i as i32;
        match slot {
            None => {
                actions.push(Action::Create {
                    ordinal,
                    at_current: current_revision_needed(set, update, ordinal, &slots),
                });
                if monotonic {
                    return actions;
                }
            }
            Some(p) => {
                let name = p.metadata.name.clone().unwrap_or_default();
                if matches!(phase(p), "Failed" | "Succeeded") {
                    // Recreated on a later sync, once the old pod is gone.
                    if !terminating(p) {
                        actions.push(Action::Delete(name));
                    }
                    if monotonic {
                        return actions;
                    }
                    continue;
                }
                if monotonic && (terminating(p) || !running_and_ready(p)) {
                    return actions;
                }
                if monotonic && !pod_is_available(p, min_ready, now) {
                    return actions;
                }
                let intact = identity_matches(set, p) && storage_matches(set, p);
                if !terminating(p) && !intact {
                    actions.push(Action::FixIdentity(name));
                }
            }
        }
    }
    for p in &condemned {
        let name = p.metadata.name.clone().unwrap_or_default();
        if terminating(p) {
            if monotonic {
                return actions;
            }
            continue;
        }
        if monotonic && !running_and_ready(p) && first_unhealthy.as_deref() != Some(&name) {
            return actions;
        }
        actions.push(Action::Delete(name));
        if monotonic {
            return actions;
        }
    }
    if update_type(set) != "RollingUpdate" {
        return actions;
    }
    let update_min = partition(set).unwrap_or(0).max(0) as usize;
    for slot in slots.iter().skip(update_min).rev() {
        let Some(p) = slot else {
            // Being created: wait for it.
            return actions;
        };
        if pod_revision(p) != update && !terminating(p) {
            actions.push(Action::Delete(p.metadata.name.clone().unwrap_or_default()));
            return actions;
        }
        if !healthy(p, min_ready, now) {
            return actions;
        }
    }
    actions
}

/// The status counts of the pods (upstream, at the top of `updateStatefulSet`).
pub fn count_status(
    set: &StatefulSet,
    pods: &[Arc<Pod>],
    current: &str,
    update: &str,
    now: Timestamp,
) -> StatefulSetStatus {
    let min_ready = min_ready(set);
    let mut st = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        current_revision: Some(current.into()),
        update_revision: Some(update.into()),
        collision_count: set.status.as_ref().and_then(|s| s.collision_count),
        conditions: set.status.as_ref().and_then(|s| s.conditions.clone()),
        ..Default::default()
    };
    let (mut ready, mut available, mut cur, mut upd) = (0, 0, 0, 0);
    for p in pods {
        if !terminating(p) {
            st.replicas += 1;
            if pod_revision(p) == current {
                cur += 1;
            }
            if pod_revision(p) == update {
                upd += 1;
            }
        }
        if running_and_ready(p) {
            ready += 1;
            if pod_is_available(p, min_ready, now) {
                available += 1;
            }
        }
    }
    st.ready_replicas = Some(ready);
    st.available_replicas = Some(available);
    st.current_replicas = Some(cur);
    st.updated_replicas = Some(upd);
    st
}

/// Upstream `completeRollingUpdate`: once every pod is updated and ready, the update
/// revision becomes current.
pub fn complete_rolling_update(set: &StatefulSet, st: &mut StatefulSetStatus) {
    if update_type(set) == "RollingUpdate"
        && st.updated_replicas == Some(st.replicas)
        && st.ready_replicas == Some(st.replicas)
    {
        st.current_replicas = st.updated_replicas;
        st.current_revision = st.update_revision.clone();
    }
}

fn pod_owner_ref(pod: &Pod) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        ..Default::default()
    }
}

fn set_owner_ref(set: &StatefulSet) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        name: set_name(set).into(),
        uid: set.metadata.uid.clone().unwrap_or_default(),
        ..Default::default()
    }
}

/// Upstream `updateClaimOwnerRefForSetAndPod`: the ownerReferences a claim of `pod` should
/// have under the retention policy. `scaled_down` = the pod's ordinal is out of range.
pub fn claim_owner_refs(
    set: &StatefulSet,
    pod: Option<&Pod>,
    scaled_down: bool,
    existing: &[OwnerReference],
) -> Vec<OwnerReference> {
    let policy = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let when_deleted = policy
        .and_then(|p| p.when_deleted.as_deref())
        .unwrap_or("Retain");
    let when_scaled = policy
        .and_then(|p| p.when_scaled.as_deref())
        .unwrap_or("Retain");
    let set_uid = set.metadata.uid.clone().unwrap_or_default();
    let pod_uid = pod.and_then(|p| p.metadata.uid.clone()).unwrap_or_default();
    let pod_name = pod.and_then(|p| p.metadata.name.clone());
    // References to an earlier pod of the same name (scaled away, then back) are stale: the
    // garbage collector would otherwise delete the claim the new pod uses.
    let stale_pod = |r: &OwnerReference| r.kind == "Pod" && Some(&r.name) == pod_name.as_ref();
    let mut refs: Vec<OwnerReference> = existing
        .iter()
        .filter(|r| r.uid != set_uid && (pod_uid.is_empty() || r.uid != pod_uid) && !stale_pod(r))
        .cloned()
        .collect();
    let want_set = when_deleted == "Delete" && !(when_scaled == "Delete" && scaled_down);
    let want_pod = when_scaled == "Delete" && scaled_down;
    if want_set {
        refs.push(set_owner_ref(set));
    }
    if want_pod {
        if let Some(p) = pod {
            refs.push(pod_owner_ref(p));
        }
    }
    refs
}

// ---------------------------------------------------------------- controller

/// The controller state shared by its workers.
#[derive(Clone)]
pub struct StatefulSetController {
    client: kube::Client,
    set_store: Store<StatefulSet>,
    pod_store: Store<Pod>,
    pvc_store: Store<PersistentVolumeClaim>,
    rev_store: Store<ControllerRevision>,
    events: EventSink,
}

fn resolve_set(store: &Store<StatefulSet>, meta: &ObjectMeta) -> Option<Arc<StatefulSet>> {
    let r = controller_of(meta)?;
    if r.kind != "StatefulSet" || !r.api_version.starts_with("apps/") {
        return None;
    }
    let set = store.get(&ObjectRef::new(&r.name).within(meta.namespace.as_deref()?))?;
    (set.metadata.uid.as_deref() == Some(r.uid.as_str())).then_some(set)
}

/// Starts the informers and `--concurrent-statefulset-syncs` workers.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("statefulset");
    let q = queue.clone();
    let set_informer = ctx.informers.subscribe::<StatefulSet>(move |n| {
        let obj = n.object();
        q.add(key_of(obj.as_ref()));
    });
    let set_store = set_informer.store.clone();
    let (q, store) = (queue.clone(), set_store.clone());
    let pod_informer = ctx.informers.subscribe::<Pod>(move |n| {
        let (pod, old) = match &n {
            Notification::Added(p) | Notification::Deleted(p) => (p.clone(), None),
            Notification::Updated { old, new } => {
                if old.metadata.resource_version == new.metadata.resource_version {
                    return;
                }
                (new.clone(), Some(old.clone()))
            }
        };
        if let Some(old) =
            old.filter(|o| controller_of(&o.metadata) != controller_of(&pod.metadata))
        {
            if let Some(set) = resolve_set(&store, &old.metadata) {
                q.add(key_of(set.as_ref()));
            }
        }
        if let Some(set) = resolve_set(&store, &pod.metadata) {
            let key = key_of(set.as_ref());
            let secs = min_ready(&set);
            if secs > 0 && pod_is_ready(&pod) {
                q.add_after(key.clone(), Duration::from_secs(secs as u64 + 1));
            }
            q.add(key);
        } else if controller_of(&pod.metadata).is_none() {
            // An orphan: sets that select it and whose name it carries may adopt it.
            let Some((parent, _)) = pod.metadata.name.as_deref().and_then(parent_and_ordinal)
            else {
                return;
            };
            let empty = BTreeMap::new();
            let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
            for set in store.state_filter(|s| {
                s.metadata.namespace == pod.metadata.namespace
                    && s.metadata.name.as_deref() == Some(parent)
                    && s.spec
                        .as_ref()
                        .and_then(|sp| parse_selector(&sp.selector))
                        .is_some_and(|sel| !sel.is_empty() && sel.matches(labels))
            }) {
                q.add(key_of(set.as_ref()));
            }
        }
    });
    let pvc_informer = ctx.informers.subscribe::<PersistentVolumeClaim>(|_| {});
    let (q, store) = (queue.clone(), set_store.clone());
    let rev_informer = ctx.informers.subscribe::<ControllerRevision>(move |n| {
        let obj = n.object();
        if let Some(set) = resolve_set(&store, &obj.metadata) {
            q.add(key_of(set.as_ref()));
        }
    });
    set_informer.synced().await;
    pod_informer.synced().await;
    pvc_informer.synced().await;
    rev_informer.synced().await;
    let c = StatefulSetController {
        client: ctx.client.clone(),
        set_store,
        pod_store: pod_informer.store.clone(),
        pvc_store: pvc_informer.store.clone(),
        rev_store: rev_informer.store.clone(),
        events: EventSink::new(ctx.client.clone(), NAME),
    };
    run_workers(
        NAME,
        queue,
        ctx.options.concurrent_statefulset_syncs,
        move |key| {
            let c = c.clone();
            async move { c.sync(&key).await }
        },
    )
    .await;
    drop((set_informer, pod_informer, pvc_informer, rev_informer));
    Ok(())
}

impl StatefulSetController {
    async fn sync(&self, key: &str) -> Result<Requeue, StatefulSetError> {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let Some(set) = self.set_store.get(&ObjectRef::new(name).within(ns)) else {
            return Ok(Requeue::No);
        };
        let Some(selector) = set.spec.as_ref().and_then(|s| parse_selector(&s.selector)) else {
            tracing::warn!(key, "invalid selector, not syncing");
            return Ok(Requeue::No);
        };
        // Only pods named after this set are its members (upstream `isMemberOf`).
        let members = self.pod_store.state_filter(|p| {
            p.metadata.namespace.as_deref() == Some(ns)
                && p.metadata
                    .name
                    .as_deref()
                    .and_then(parent_and_ordinal)
                    .is_some_and(|(parent, _)| parent == name)
        });
        let client = self.client.clone();
        let (set_name_s, uid) = (name.to_string(), set.metadata.uid.clone());
        let pods = claim_pods(
            &self.client,
            &set.metadata,
            &controller_ref("StatefulSet", &set.metadata),
            &selector,
            members,
            || async move {
                let fresh = Api::<StatefulSet>::namespaced(client, ns)
                    .get_opt(&set_name_s)
                    .await?;
                Ok(fresh.is_some_and(|f| {
                    f.metadata.uid == uid && f.metadata.deletion_timestamp.is_none()
                }))
            },
        )
        .await?;

        let (current, update, revisions, collision) = self.revisions(&set).await?;
        let current_name = current.metadata.name.clone().unwrap_or_default();
        let update_name = update.metadata.name.clone().unwrap_or_default();
        let now = Timestamp::now();
        let result = self.apply(&set, &pods, &current, &update).await;

        // Status from the informer's view after this sync's actions were requested:
        // upstream adjusts its counts as it acts; recounting on the next event is equivalent.
        let mut st = count_status(&set, &pods, &current_name, &update_name, now);
        st.collision_count = Some(collision).filter(|c| *c > 0).or(st.collision_count);
        complete_rolling_update(&set, &mut st);
        self.update_status(&set, st.clone()).await?;
        result?;

        // Upstream `truncateHistory`: keep revisions in use, prune the oldest of the rest.
        let mut live: HashSet<String> = pods.iter().map(|p| pod_revision(p).to_string()).collect();
        live.insert(current_name);
        live.insert(update_name);
        let limit = set
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .unwrap_or(10);
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), ns);
        for r in history::revisions_to_prune(&revisions, &live, limit) {
            match api
                .delete(
                    r.metadata.name.as_deref().unwrap_or_default(),
                    &DeleteParams::default(),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let secs = min_ready(&set);
        if secs > 0 && st.available_replicas != st.ready_replicas {
            return Ok(Requeue::After(Duration::from_secs(secs as u64)));
        }
        Ok(Requeue::No)
    }

    /// Upstream `getStatefulSetRevisions`: (current, update, all revisions, collision count).
    async fn revisions(
        &self,
        set: &StatefulSet,
    ) -> Result<
        (
            ControllerRevision,
            ControllerRevision,
            Vec<Arc<ControllerRevision>>,
            i32,
        ),
        StatefulSetError,
    > {
        let ns = set.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), ns);
        let uid = set.metadata.uid.as_deref();
        let mut revisions = self.rev_store.state_filter(|r| {
            r.metadata.namespace == set.metadata.namespace
                && controller_of(&r.metadata).is_some_and(|o| Some(o.uid.as_str()) == uid)
        });
        history::sort_revisions(&mut revisions);
        let mut collision = set
            .status
            .as_ref()
            .and_then(|s| s.collision_count)
            .unwrap_or(0);
        let template = set.spec.as_ref().map(|s| &s.template);
        let candidate = history::new_revision(
            &set.metadata,
            controller_ref("StatefulSet", &set.metadata),
            template
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.labels.as_ref()),
            history::template_patch(template),
            history::next_revision(&revisions),
            Some(collision),
        );
        let equal: Vec<Arc<ControllerRevision>> = revisions
            .iter()
            .filter(|r| history::equal_revision(r, &candidate))
            .cloned()
            .collect();
        let update = match (equal.last(), revisions.last()) {
            (Some(e), Some(last)) if e.metadata.name == last.metadata.name => (**e).clone(),
            (Some(e), _) => {
                // An earlier revision is back (rollback): renumber it as the newest.
                let mut r = (**e).clone();
                r.revision = candidate.revision;
                match api
                    .replace(
                        r.metadata.name.as_deref().unwrap_or_default(),
                        &PostParams::default(),
                        &r,
                    )
                    .await
                {
                    Ok(r) => r,
                    Err(e) => return Err(e.into()),
                }
            }
            (None, _) => {
                let created =
                    history::create_revision(&api, &set.metadata, &candidate, &mut collision)
                        .await?;
                revisions.push(Arc::new(created.clone()));
                created
            }
        };
        let current_name = set.status.as_ref().and_then(|s| s.current_revision.clone());
        let current = revisions
            .iter()
            .find(|r| r.metadata.name.is_some() && r.metadata.name == current_name)
            .map(|r| (**r).clone())
            .unwrap_or_else(|| update.clone());
        Ok((current, update, revisions, collision))
    }

    /// Runs the plan's actions plus the claim retention bookkeeping.
    async fn apply(
        &self,
        set: &StatefulSet,
        pods: &[Arc<Pod>],
        current: &ControllerRevision,
        update: &ControllerRevision,
    ) -> Result<(), StatefulSetError> {
        let ns = set.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let update_name = update.metadata.name.clone().unwrap_or_default();
        let current_name = current.metadata.name.clone().unwrap_or_default();
        let by_name: BTreeMap<String, &Arc<Pod>> = pods
            .iter()
            .map(|p| (p.metadata.name.clone().unwrap_or_default(), p))
            .collect();
        let start = start_ordinal(set);
        let count = replicas(set);

        // Claims of existing pods follow the retention policy (upstream
        // `UpdatePodClaimForRetentionPolicy`), before any condemned pod goes.
        if set.metadata.deletion_timestamp.is_none() {
            for p in pods.iter().filter(|p| !terminating(p)) {
                let o = ordinal_of(p);
                let scaled_down = o < start || o >= start + count;
                self.update_claim_refs(set, p, o, scaled_down).await?;
            }
        }

        let actions = plan(set, pods, &update_name, Timestamp::now());
        let results = futures::future::join_all(actions.into_iter().map(|a| {
            let api = api.clone();
            let by_name = &by_name;
            let (current_name, update_name) = (&current_name, &update_name);
            async move {
                match a {
                    Action::Create {
                        ordinal,
                        at_current,
                    } => {
                        let (rev, template) = if at_current {
                            (current_name, history::template_of(current)?)
                        } else {
                            (
                                update_name,
                                set.spec
                                    .as_ref()
                                    .map(|s| s.template.clone())
                                    .unwrap_or_default(),
                            )
                        };
                        let pod = new_pod(set, &template, rev, ordinal);
                        self.create_pod(set, &api, pod, ordinal).await
                    }
                    Action::Delete(name) => {
                        match api.delete(&name, &DeleteParams::default()).await {
                            Ok(_) => {
                                self.events.normal(
                                    set,
                                    "SuccessfulDelete",
                                    format!(
                                        "delete Pod {name} in StatefulSet {} successful",
                                        set_name(set)
                                    ),
                                );
                                Ok(())
                            }
                            Err(e) if is_not_found(&e) => Ok(()),
                            Err(e) => {
                                self.events.warning(
                                    set,
                                    "FailedDelete",
                                    format!(
                                        "delete Pod {name} in StatefulSet {} failed error: {e}",
                                        set_name(set)
                                    ),
                                );
                                Err(e.into())
                            }
                        }
                    }
                    Action::FixIdentity(name) => {
                        let Some(p) = by_name.get(&name) else {
                            return Ok(());
                        };
                        let mut fixed = (***p).clone();
                        let o = ordinal_of(&fixed);
                        update_identity(&mut fixed, o);
                        if !storage_matches(set, &fixed) {
                            self.create_claims(set, &fixed, o).await?;
                            update_storage(set, &mut fixed, o);
                        }
                        match api.replace(&name, &PostParams::default(), &fixed).await {
                            Ok(_) => Ok(()),
                            Err(e) if is_conflict(&e) || is_not_found(&e) => Ok(()),
                            Err(e) => Err(e.into()),
                        }
                    }
                }
            }
        }))
        .await;
        results
            .into_iter()
            .collect::<Result<Vec<()>, StatefulSetError>>()?;
        Ok(())
    }

    /// Upstream `CreateStatefulPod`: the claims first, then the pod.
    async fn create_pod(
        &self,
        set: &StatefulSet,
        api: &Api<Pod>,
        pod: Pod,
        ordinal: i32,
    ) -> Result<(), StatefulSetError> {
        self.create_claims(set, &pod, ordinal).await?;
        let name = pod.metadata.name.clone().unwrap_or_default();
        match api.create(&PostParams::default(), &pod).await {
            Ok(_) => {
                self.events.normal(
                    set,
                    "SuccessfulCreate",
                    format!(
                        "create Pod {name} in StatefulSet {} successful",
                        set_name(set)
                    ),
                );
                Ok(())
            }
            // The informer has not seen it yet.
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => {
                self.events.warning(
                    set,
                    "FailedCreate",
                    format!(
                        "create Pod {name} in StatefulSet {} failed error: {e}",
                        set_name(set)
                    ),
                );
                Err(e.into())
            }
        }
    }

    /// Upstream `createPersistentVolumeClaims`: missing claims are created with the
    /// retention policy's ownerReferences.
    async fn create_claims(
        &self,
        set: &StatefulSet,
        pod: &Pod,
        ordinal: i32,
    ) -> Result<(), StatefulSetError> {
        let ns = set.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), ns);
        for (_, mut claim) in claims_for(set, ordinal) {
            let name = claim.metadata.name.clone().unwrap_or_default();
            if self
                .pvc_store
                .get(&ObjectRef::new(&name).within(ns))
                .is_some()
            {
                continue;
            }
            let refs = claim_owner_refs(set, None, false, &[]);
            claim.metadata.owner_references = (!refs.is_empty()).then_some(refs);
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            match api.create(&PostParams::default(), &claim).await {
                Ok(_) => self.events.normal(
                    set,
                    "SuccessfulCreate",
                    format!(
                        "create Claim {name} Pod {pod_name} in StatefulSet {} success",
                        set_name(set)
                    ),
                ),
                Err(e) if is_conflict(&e) => {}
                Err(e) => {
                    self.events.warning(
                        set,
                        "FailedCreate",
                        format!("create Claim {name} for Pod {pod_name} in StatefulSet {} failed error: {e}", set_name(set)),
                    );
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    async fn update_claim_refs(
        &self,
        set: &StatefulSet,
        pod: &Pod,
        ordinal: i32,
        scaled_down: bool,
    ) -> Result<(), StatefulSetError> {
        let ns = set.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), ns);
        for (_, want) in claims_for(set, ordinal) {
            let name = want.metadata.name.clone().unwrap_or_default();
            let Some(claim) = self.pvc_store.get(&ObjectRef::new(&name).within(ns)) else {
                continue;
            };
            let existing = claim.metadata.owner_references.clone().unwrap_or_default();
            let refs = claim_owner_refs(set, Some(pod), scaled_down, &existing);
            if refs == existing {
                continue;
            }
            let patch = json!({"metadata": {
                "ownerReferences": refs,
                "resourceVersion": claim.metadata.resource_version,
            }});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) || is_conflict(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn update_status(
        &self,
        set: &StatefulSet,
        st: StatefulSetStatus,
    ) -> Result<(), StatefulSetError> {
        if set.status.as_ref() == Some(&st) {
            return Ok(());
        }
        let ns = set.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), ns);
        let mut next = set.clone();
        next.status = Some(st);
        match api
            .replace_status(set_name(set), &PostParams::default(), &next)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(replicas: i32, extra: serde_json::Value) -> StatefulSet {
        let mut spec = json!({
            "replicas": replicas,
            "serviceName": "svc",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "podManagementPolicy": "OrderedReady"
        });
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "set-uid", "generation": 2},
            "spec": spec
        }))
        .unwrap()
    }

    fn pod(s: &StatefulSet, ordinal: i32, rev: &str, running_ready: bool) -> Arc<Pod> {
        let mut p = new_pod(s, &s.spec.as_ref().unwrap().template, rev, ordinal);
        p.metadata.uid = Some(format!("pod-{ordinal}"));
        p.status = Some(
            serde_json::from_value(json!({
                "phase": if running_ready { "Running" } else { "Pending" },
                "conditions": [{"type": "Ready", "status": if running_ready {"True"} else {"False"},
                                "lastTransitionTime": "2020-01-01T00:00:00Z"}]
            }))
            .unwrap(),
        );
        Arc::new(p)
    }

    fn now() -> Timestamp {
        Timestamp::from_second(2_000_000_000).unwrap()
    }

    fn create(ordinal: i32) -> Action {
        Action::Create {
            ordinal,
            at_current: false,
        }
    }

    #[test]
    fn names_and_ordinals() {
        assert_eq!(parent_and_ordinal("web-12"), Some(("web", 12)));
        assert_eq!(parent_and_ordinal("my-web-0"), Some(("my-web", 0)));
        assert_eq!(parent_and_ordinal("web-x"), None);
        assert_eq!(parent_and_ordinal("web"), None);
        let s = set(
            1,
            json!({"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}),
        );
        assert_eq!(claim_name(&s, "data", 3), "data-web-3");
        let p = new_pod(&s, &s.spec.as_ref().unwrap().template, "web-abc", 3);
        assert_eq!(p.metadata.name.as_deref(), Some("web-3"));
        let labels = p.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[POD_NAME_LABEL], "web-3");
        assert_eq!(labels[POD_INDEX_LABEL], "3");
        assert_eq!(labels[POD_REVISION_LABEL], "web-abc");
        assert_eq!(labels["app"], "web");
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-3"));
        assert_eq!(spec.subdomain.as_deref(), Some("svc"));
        let v = &spec.volumes.as_ref().unwrap()[0];
        assert_eq!(v.name, "data");
        assert_eq!(
            v.persistent_volume_claim.as_ref().unwrap().claim_name,
            "data-web-3"
        );
        assert!(identity_matches(&s, &p) && storage_matches(&s, &p));
        let claims = claims_for(&s, 3);
        assert_eq!(claims[0].1.metadata.labels.as_ref().unwrap()["app"], "web");
    }

    #[test]
    fn ordered_ready_scales_up_one_at_a_time() {
        let s = set(3, json!({}));
        assert_eq!(plan(&s, &[], "r1", now()), vec![create(0)]);
        // web-0 exists but is not ready: wait.
        let p0 = pod(&s, 0, "r1", false);
        assert!(plan(&s, &[p0], "r1", now()).is_empty());
        let p0 = pod(&s, 0, "r1", true);
        assert_eq!(
            plan(&s, std::slice::from_ref(&p0), "r1", now()),
            vec![create(1)]
        );
        // minReadySeconds keeps the next one waiting until web-0 is available.
        let slow = set(3, json!({"minReadySeconds": 30}));
        let mut fresh = (*pod(&slow, 0, "r1", true)).clone();
        fresh.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].last_transition_time =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now()));
        assert!(plan(&slow, &[Arc::new(fresh)], "r1", now()).is_empty());
    }

    #[test]
    fn parallel_creates_and_deletes_everything_at_once() {
        let s = set(3, json!({"podManagementPolicy": "Parallel"}));
        assert_eq!(
            plan(&s, &[], "r1", now()),
            vec![create(0), create(1), create(2)]
        );
        let s1 = set(1, json!({"podManagementPolicy": "Parallel"}));
        let pods: Vec<_> = (0..3).map(|i| pod(&s1, i, "r1", false)).collect();
        assert_eq!(
            plan(&s1, &pods, "r1", now()),
            vec![
                Action::Delete("web-2".into()),
                Action::Delete("web-1".into())
            ]
        );
    }

    #[test]
    fn ordered_scale_down_goes_highest_first_and_waits() {
        let s = set(1, json!({}));
        let pods: Vec<_> = (0..3).map(|i| pod(&s, i, "r1", true)).collect();
        assert_eq!(
            plan(&s, &pods, "r1", now()),
            vec![Action::Delete("web-2".into())]
        );
        // web-2 terminating: wait for it before touching web-1.
        let mut p2 = (*pods[2]).clone();
        p2.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now()));
        let pods2 = vec![pods[0].clone(), pods[1].clone(), Arc::new(p2)];
        assert!(plan(&s, &pods2, "r1", now()).is_empty());
        // A not-ready web-0 blocks scale-down under OrderedReady.
        let pods3 = vec![pod(&s, 0, "r1", false), pods[1].clone(), pods[2].clone()];
        assert!(plan(&s, &pods3, "r1", now()).is_empty());
    }

    #[test]
    fn failed_pods_are_deleted_for_recreation() {
        let s = set(2, json!({}));
        let mut p0 = (*pod(&s, 0, "r1", false)).clone();
        p0.status.as_mut().unwrap().phase = Some("Failed".into());
        assert_eq!(
            plan(&s, &[Arc::new(p0)], "r1", now()),
            vec![Action::Delete("web-0".into())]
        );
    }

    #[test]
    fn rolling_update_respects_partition_and_order() {
        let s = set(
            3,
            json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}}),
        );
        let pods: Vec<_> = (0..3).map(|i| pod(&s, i, "old", true)).collect();
        assert_eq!(
            plan(&s, &pods, "new", now()),
            vec![Action::Delete("web-2".into())]
        );
        // web-2 updated but not ready yet: wait.
        let pods2 = vec![pods[0].clone(), pods[1].clone(), pod(&s, 2, "new", false)];
        assert!(plan(&s, &pods2, "new", now()).is_empty());
        let pods3 = vec![pods[0].clone(), pods[1].clone(), pod(&s, 2, "new", true)];
        assert_eq!(
            plan(&s, &pods3, "new", now()),
            vec![Action::Delete("web-1".into())]
        );
        // Ordinal 0 is below the partition: never updated.
        let pods4 = vec![
            pods[0].clone(),
            pod(&s, 1, "new", true),
            pod(&s, 2, "new", true),
        ];
        assert!(plan(&s, &pods4, "new", now()).is_empty());
        // A recreated web-0 keeps the current revision while below the partition.
        let slots = vec![
            None,
            Some(pod(&s, 1, "new", true)),
            Some(pod(&s, 2, "new", true)),
        ];
        assert!(current_revision_needed(&s, "new", 0, &slots));
        let on_delete = set(3, json!({"updateStrategy": {"type": "OnDelete"}}));
        assert!(plan(&on_delete, &pods, "new", now()).is_empty());
        assert!(!current_revision_needed(&on_delete, "new", 0, &slots));
    }

    #[test]
    fn ordinals_start() {
        let s = set(2, json!({"ordinals": {"start": 5}}));
        assert_eq!(plan(&s, &[], "r", now()), vec![create(5)]);
        let p = pod(&s, 0, "r", true);
        // web-0 is outside [5, 7): condemned once web-5 and web-6 are healthy.
        let pods = vec![p, pod(&s, 5, "r", true), pod(&s, 6, "r", true)];
        assert_eq!(
            plan(&s, &pods, "r", now()),
            vec![Action::Delete("web-0".into())]
        );
    }

    #[test]
    fn status_and_rollout_completion() {
        let s = set(3, json!({}));
        let pods = vec![
            pod(&s, 0, "new", true),
            pod(&s, 1, "new", true),
            pod(&s, 2, "old", false),
        ];
        let mut st = count_status(&s, &pods, "old", "new", now());
        assert_eq!(st.replicas, 3);
        assert_eq!(st.ready_replicas, Some(2));
        assert_eq!(st.available_replicas, Some(2));
        assert_eq!(st.current_replicas, Some(1));
        assert_eq!(st.updated_replicas, Some(2));
        assert_eq!(st.observed_generation, Some(2));
        complete_rolling_update(&s, &mut st);
        assert_eq!(st.current_revision.as_deref(), Some("old"));
        let pods = vec![
            pod(&s, 0, "new", true),
            pod(&s, 1, "new", true),
            pod(&s, 2, "new", true),
        ];
        let mut st = count_status(&s, &pods, "old", "new", now());
        complete_rolling_update(&s, &mut st);
        assert_eq!(st.current_revision.as_deref(), Some("new"));
        assert_eq!(st.current_replicas, Some(3));
    }

    #[test]
    fn retention_policy_owner_refs_table() {
        let p = pod(&set(1, json!({})), 0, "r", true);
        let uids = |refs: Vec<OwnerReference>| refs.into_iter().map(|r| r.uid).collect::<Vec<_>>();
        let cases = [
            ("Retain", "Retain", false, vec![]),
            ("Delete", "Retain", false, vec!["set-uid"]),
            ("Delete", "Retain", true, vec!["set-uid"]),
            ("Retain", "Delete", false, vec![]),
            ("Retain", "Delete", true, vec!["pod-0"]),
            ("Delete", "Delete", false, vec!["set-uid"]),
            ("Delete", "Delete", true, vec!["pod-0"]),
        ];
        for (deleted, scaled, down, want) in cases {
            let s = set(
                1,
                json!({"persistentVolumeClaimRetentionPolicy": {"whenDeleted": deleted, "whenScaled": scaled}}),
            );
            let got = uids(claim_owner_refs(&s, Some(&p), down, &[set_owner_ref(&s)]));
            assert_eq!(
                got, want,
                "whenDeleted={deleted} whenScaled={scaled} scaledDown={down}"
            );
        }
        // A reference to a previous web-0 (other uid) is dropped; unrelated owners stay.
        let s = set(
            1,
            json!({"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Delete"}}),
        );
        let stale = OwnerReference {
            uid: "old-pod".into(),
            ..pod_owner_ref(&p)
        };
        let other = OwnerReference {
            kind: "Thing".into(),
            name: "x".into(),
            uid: "thing".into(),
            ..Default::default()
        };
        let got = uids(claim_owner_refs(&s, Some(&p), false, &[stale, other]));
        assert_eq!(got, vec!["thing"]);
    }
}
