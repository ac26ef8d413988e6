//! Deployment controller (upstream pkg/controller/deployment): rolls a Deployment's pod
//! template out through ReplicaSets named `<deployment>-<pod-template-hash>`.
//!
//! A sync (`sync`) mirrors upstream `syncDeployment`:
//! 1. claim the namespace's ReplicaSets (adopt matching orphans, release non-matching);
//! 2. find the new ReplicaSet (template equal ignoring `pod-template-hash`), or create it
//!    with the hash label/selector, the `deployment.kubernetes.io/revision`,
//!    `desired-replicas` and `max-replicas` annotations, and a controllerRef;
//! 3. `RollingUpdate`: scale the new ReplicaSet up within `maxSurge`, then old ones down
//!    within `maxUnavailable` (unhealthy replicas first), as upstream `rolloutRolling`;
//!    `Recreate`: scale old ReplicaSets to 0, wait until their pods are gone, then scale
//!    the new one up (`rolloutRecreate`); a paused Deployment, or a change of
//!    `spec.replicas` alone, is only scaled, proportionally across active ReplicaSets
//!    (upstream `sync` / `scale`);
//! 4. once complete, delete old ReplicaSets beyond `revisionHistoryLimit`;
//! 5. write status: observedGeneration, replicas, updatedReplicas, readyReplicas,
//!    availableReplicas, unavailableReplicas, and the `Available` / `Progressing`
//!    conditions with upstream reasons and messages — what `kubectl rollout status` reads.
//!
//! Differences from upstream: the pod-template-hash is an FNV-32a of the template's JSON
//! (upstream hashes a Go object dump), so hash values differ while the format (encoded with
//! upstream's `SafeEncodeString` alphabet) matches; the deprecated rollback
//! (`deprecated.deployment.rollback.to`) is not implemented; the only event recorded is
//! `ScalingReplicaSet`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;
use rudder_api::labels::Selector;
use serde_json::json;

use super::{controller_of, is_conflict, is_not_found, run_workers, ControllerError, Requeue};
use crate::events::EventSink;
use crate::informer::{key_of, split_key, Notification};
use crate::ControllerContext;

/// Label carrying the template hash (upstream `DefaultDeploymentUniqueLabelKey`).
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Upstream `RevisionAnnotation`.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Upstream `DesiredReplicasAnnotation`.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// Upstream `MaxReplicasAnnotation`.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Upstream `RevisionHistoryAnnotation`.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";

/// Annotations never copied from a Deployment to its ReplicaSets (upstream
/// `skipCopyAnnotation`).
const SKIP_COPY: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// Errors of one sync; all are retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// an API call failed
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// the new ReplicaSet name is taken by a different ReplicaSet
    #[error("hash collision for replica set {0:?}, collisionCount raised")]
    HashCollision(String),
}

#[derive(Clone)]
struct DeploymentController {
    client: kube::Client,
    d_store: Store<Deployment>,
    rs_store: Store<ReplicaSet>,
    pod_store: Store<Pod>,
    events: EventSink,
}

/// Starts the informers and `--concurrent-deployment-syncs` workers.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("deployment");
    let q = queue.clone();
    let d_informer = ctx.informers.subscribe::<Deployment>(move |n| {
        let d = n.object();
        q.add(key_of(d.as_ref()));
    });
    let d_store = d_informer.store.clone();
    let q = queue.clone();
    let rs_informer = ctx.informers.subscribe::<ReplicaSet>(move |n| {
        let mut objs = Vec::new();
        match &n {
            Notification::Added(o) | Notification::Deleted(o) => objs.push(o.clone()),
            Notification::Updated { old, new } => {
                objs.push(old.clone());
                objs.push(new.clone());
            }
        }
        for rs in objs {
            match owner_deployment(&d_store, &rs.metadata) {
                Some(d) => q.add(key_of(d.as_ref())),
                None if controller_of(&rs.metadata).is_none() => {
                    // Orphan: every Deployment that selects it may adopt it.
                    let ns = rs.metadata.namespace.as_deref();
                    let labels = rs.metadata.labels.clone().unwrap_or_default();
                    for d in d_store.state_filter(|d| {
                        d.metadata.namespace.as_deref() == ns
                            && selector_of(d).is_some_and(|s| !s.is_empty() && s.matches(&labels))
                    }) {
                        q.add(key_of(d.as_ref()));
                    }
                }
                None => {}
            }
        }
    });
    // Pods matter only to Recreate, which waits for old pods to be gone.
    let q = queue.clone();
    let d_store = d_informer.store.clone();
    let rs_store = rs_informer.store.clone();
    let pod_informer = ctx.informers.subscribe::<Pod>(move |n| {
        let Notification::Deleted(pod) = n else {
            return;
        };
        let Some(r) = controller_of(&pod.metadata) else {
            return;
        };
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let Some(rs) = rs_store.get(&ObjectRef::new(&r.name).within(ns)) else {
            return;
        };
        if let Some(d) = owner_deployment(&d_store, &rs.metadata) {
            if strategy_type(&d) == "Recreate" {
                q.add(key_of(d.as_ref()));
            }
        }
    });
    d_informer.synced().await;
    rs_informer.synced().await;
    pod_informer.synced().await;
    let c = DeploymentController {
        client: ctx.client.clone(),
        d_store: d_informer.store.clone(),
        rs_store: rs_informer.store.clone(),
        pod_store: pod_informer.store.clone(),
        events: EventSink::new(ctx.client.clone(), "deployment-controller"),
    };
    run_workers(
        "deployment-controller",
        queue,
        ctx.options.concurrent_deployment_syncs,
        move |key| {
            let c = c.clone();
            async move { c.sync(&key).await }
        },
    )
    .await;
    drop((d_informer, rs_informer, pod_informer));
    Ok(())
}

fn owner_deployment(store: &Store<Deployment>, meta: &ObjectMeta) -> Option<Arc<Deployment>> {
    let r = controller_of(meta)?;
    if r.kind != "Deployment" {
        return None;
    }
    let d = store.get(&ObjectRef::new(&r.name).within(meta.namespace.as_deref()?))?;
    (d.metadata.uid.as_deref() == Some(r.uid.as_str())).then_some(d)
}

fn selector_of(d: &Deployment) -> Option<Selector> {
    let v = serde_json::to_value(&d.spec.as_ref()?.selector).ok()?;
    Selector::from_label_selector(&v).ok()
}

fn strategy_type(d: &Deployment) -> &str {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
}

fn desired(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// Resolves an int-or-percent against `total` (upstream `GetScaledValueFromIntOrPercent`).
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> i32 {
    match v {
        IntOrString::Int(i) => *i,
        IntOrString::String(s) => {
            let p: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let n = p * i64::from(total);
            (if round_up { (n + 99) / 100 } else { n / 100 }) as i32
        }
    }
}

/// (maxSurge, maxUnavailable) with upstream `ResolveFenceposts`: both zero becomes an
/// unavailability of one, so a rollout can always progress. Recreate has neither.
pub fn fenceposts(d: &Deployment) -> (i32, i32) {
    if strategy_type(d) != "RollingUpdate" {
        return (0, 0);
    }
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.clone())
        .unwrap_or_default();
    let quarter = IntOrString::String("25%".into());
    let surge = scaled_value(ru.max_surge.as_ref().unwrap_or(&quarter), desired(d), true);
    let unavailable = scaled_value(
        ru.max_unavailable.as_ref().unwrap_or(&quarter),
        desired(d),
        false,
    );
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

/// The template without its pod-template-hash label, for upstream `EqualIgnoreHash`.
fn template_ignoring_hash(t: Option<&PodTemplateSpec>) -> serde_json::Value {
    let mut t = t.cloned().unwrap_or_default();
    if let Some(l) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        l.remove(POD_TEMPLATE_HASH);
        if l.is_empty() {
            t.metadata.as_mut().unwrap().labels = None;
        }
    }
    serde_json::to_value(t).unwrap_or_default()
}

/// The pod-template-hash for a template and collision count (upstream `ComputeHash`:
/// FNV-32a, then `rand.SafeEncodeString` of the decimal value).
pub fn compute_hash(template: Option<&PodTemplateSpec>, collision_count: Option<i32>) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    feed(template_ignoring_hash(template).to_string().as_bytes());
    if let Some(c) = collision_count {
        feed(&(c as u32).to_le_bytes());
    }
    h.to_string()
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

fn revision_of(meta: &ObjectMeta) -> i64 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Upstream `NewRSNewReplicas` for RollingUpdate.
pub fn new_rs_new_replicas(d: &Deployment, all: &[Arc<ReplicaSet>], new: &ReplicaSet) -> i32 {
    if strategy_type(d) != "RollingUpdate" {
        return desired(d);
    }
    let (surge, _) = fenceposts(d);
    let current: i32 = all.iter().map(|r| rs_replicas(r)).sum();
    let max_total = desired(d) + surge;
    if current >= max_total {
        return rs_replicas(new);
    }
    let up = (max_total - current).min(desired(d) - rs_replicas(new));
    rs_replicas(new) + up.max(0)
}

fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Upstream `SetDeploymentCondition`: keeps lastTransitionTime when the status is unchanged,
/// and leaves an identical condition alone.
fn set_condition(conds: &mut Vec<DeploymentCondition>, mut c: DeploymentCondition) {
    if let Some(cur) = conds.iter().find(|x| x.type_ == c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            if cur.message == c.message {
                return;
            }
            c.last_transition_time = cur.last_transition_time.clone();
        } else if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time.clone();
        }
    }
    conds.retain(|x| x.type_ != c.type_);
    conds.push(c);
}

/// Upstream `calculateStatus` + the Progressing logic of `syncRolloutStatus`.
pub fn calculate_status(
    d: &Deployment,
    all: &[Arc<ReplicaSet>],
    new: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let old = d.status.clone().unwrap_or_default();
    let sum = |f: fn(&ReplicaSet) -> i32| all.iter().map(|r| f(r)).sum::<i32>();
    let replicas = sum(|r| r.status.as_ref().map_or(0, |s| s.replicas));
    let ready = sum(|r| {
        r.status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0)
    });
    let available = sum(rs_available);
    let total = sum(rs_replicas);
    let updated = new
        .and_then(|n| n.status.as_ref())
        .map_or(0, |s| s.replicas);
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(replicas),
        updated_replicas: Some(updated),
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
        ..Default::default()
    };
    let mut conds = status.conditions.take().unwrap_or_default();
    let (_, max_unavailable) = fenceposts(d);
    if available >= desired(d) - max_unavailable {
        set_condition(
            &mut conds,
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
                now,
            ),
        );
    } else {
        set_condition(
            &mut conds,
            condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
                now,
            ),
        );
    }
    let deadline = d
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .filter(|s| *s > 0 && *s != i32::MAX);
    if let (Some(deadline), Some(new)) = (deadline, new) {
        let name = new.metadata.name.clone().unwrap_or_default();
        let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let complete = updated == desired(d)
            && replicas == desired(d)
            && available == desired(d)
            && status.observed_generation >= d.metadata.generation;
        let progressing = updated > old.updated_replicas.unwrap_or(0)
            || (replicas - updated)
                < (old.replicas.unwrap_or(0) - old.updated_replicas.unwrap_or(0))
            || ready > old.ready_replicas.unwrap_or(0)
            || available > old.available_replicas.unwrap_or(0);
        let current = conds.iter().find(|c| c.type_ == "Progressing").cloned();
        let timed_out = current.as_ref().is_some_and(|c| {
            c.reason.as_deref() != Some("NewReplicaSetAvailable")
                && c.last_update_time
                    .as_ref()
                    .is_some_and(|t| t.0.as_second() + i64::from(deadline) < now.as_second())
        });
        if paused {
            // Upstream does not estimate progress of a paused Deployment.
        } else if complete {
            set_condition(
                &mut conds,
                condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    format!("ReplicaSet {name:?} has successfully progressed."),
                    now,
                ),
            );
        } else if progressing || current.is_none() {
            // Progress refreshes lastUpdateTime, restarting the deadline (upstream
            // `NewDeploymentCondition` + `SetDeploymentCondition` on every progress).
            let mut c = condition(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet {name:?} is progressing."),
                now,
            );
            if let Some(cur) = current.as_ref().filter(|c| c.status == "True") {
                c.last_transition_time = cur.last_transition_time.clone();
            }
            conds.retain(|x| x.type_ != "Progressing");
            conds.push(c);
        } else if timed_out {
            set_condition(
                &mut conds,
                condition(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    format!("ReplicaSet {name:?} has timed out progressing."),
                    now,
                ),
            );
        }
    }
    // Stable order, as upstream appends Progressing after Available on first sync.
    conds.sort_by_key(|c| if c.type_ == "Available" { 0 } else { 1 });
    status.conditions = (!conds.is_empty()).then_some(conds);
    status
}

impl DeploymentController {
    async fn sync(&self, key: &str) -> Result<Requeue, DeploymentError> {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let Some(d) = self.d_store.get(&ObjectRef::new(name).within(ns)) else {
            return Ok(Requeue::No);
        };
        let mut d = (*d).clone();
        let Some(selector) = selector_of(&d) else {
            return Ok(Requeue::No);
        };
        if selector.is_empty() {
            // Upstream refuses to act on a selector that selects everything.
            tracing::warn!(key, "deployment selector selects all pods, not syncing");
            return Ok(Requeue::No);
        }
        let rss = self.claim_replicasets(&d, &selector).await?;
        if d.metadata.deletion_timestamp.is_some() {
            let new = find_new(&d, &rss);
            self.update_status(&d, &rss, new.as_deref()).await?;
            return Ok(Requeue::No);
        }
        let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let requeue = if paused || is_scaling_event(&d, &rss) {
            // Upstream `sync`: a paused Deployment, or one whose replicas changed, is only
            // scaled (proportionally across active ReplicaSets) and its status updated.
            let new = find_new(&d, &rss);
            let old: Vec<Arc<ReplicaSet>> = rss
                .iter()
                .filter(|r| {
                    new.as_ref()
                        .is_none_or(|n| n.metadata.uid != r.metadata.uid)
                })
                .cloned()
                .collect();
            for (rs, size) in scale_plan(&d, new.as_ref(), &old) {
                self.scale(&d, &rs, size).await?;
            }
            let rss = self.owned(&d);
            let new = find_new(&d, &rss);
            self.update_status(&d, &rss, new.as_deref()).await?
        } else if strategy_type(&d) == "Recreate" {
            self.rollout_recreate(&mut d, rss).await?
        } else {
            self.rollout_rolling(&mut d, rss).await?
        };
        Ok(requeue)
    }

    /// ReplicaSets in the store owned by `d`.
    fn owned(&self, d: &Deployment) -> Vec<Arc<ReplicaSet>> {
        let uid = d.metadata.uid.clone();
        let ns = d.metadata.namespace.clone();
        self.rs_store.state_filter(|rs| {
            rs.metadata.namespace == ns
                && controller_of(&rs.metadata).is_some_and(|r| Some(&r.uid) == uid.as_ref())
        })
    }

    /// Upstream `getReplicaSetsForDeployment` (ControllerRefManager over ReplicaSets).
    async fn claim_replicasets(
        &self,
        d: &Deployment,
        selector: &Selector,
    ) -> Result<Vec<Arc<ReplicaSet>>, DeploymentError> {
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &ns);
        let mut out = Vec::new();
        let candidates = self
            .rs_store
            .state_filter(|rs| rs.metadata.namespace.as_deref() == Some(ns.as_str()));
        for rs in candidates {
            let labels = rs.metadata.labels.clone().unwrap_or_default();
            let matches = selector.matches(&labels);
            let rs_name = rs.metadata.name.clone().unwrap_or_default();
            let rs_uid = rs.metadata.uid.clone().unwrap_or_default();
            match controller_of(&rs.metadata) {
                Some(r) if r.uid == uid => {
                    if matches {
                        out.push(rs);
                    } else if d.metadata.deletion_timestamp.is_none() {
                        let patch = json!({"metadata": {
                            "ownerReferences": [{"$patch": "delete", "uid": uid}],
                            "uid": rs_uid,
                        }});
                        match api
                            .patch(&rs_name, &PatchParams::default(), &Patch::Strategic(patch))
                            .await
                        {
                            Ok(_) => {}
                            Err(e) if is_not_found(&e) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                Some(_) => {}
                None => {
                    if !matches
                        || d.metadata.deletion_timestamp.is_some()
                        || rs.metadata.deletion_timestamp.is_some()
                    {
                        continue;
                    }
                    let patch = json!({"metadata": {
                        "ownerReferences": [controller_ref(d)],
                        "uid": rs_uid,
                    }});
                    match api
                        .patch(&rs_name, &PatchParams::default(), &Patch::Strategic(patch))
                        .await
                    {
                        Ok(rs) => out.push(Arc::new(rs)),
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(out)
    }

    /// Upstream `getNewReplicaSet` with `createIfNotExisted`, plus revision bookkeeping.
    async fn get_or_create_new(
        &self,
        d: &mut Deployment,
        rss: &[Arc<ReplicaSet>],
        create: bool,
    ) -> Result<Option<Arc<ReplicaSet>>, DeploymentError> {
        let existing = find_new(d, rss);
        let max_old = rss
            .iter()
            .filter(|r| {
                existing
                    .as_ref()
                    .is_none_or(|e| e.metadata.uid != r.metadata.uid)
            })
            .map(|r| revision_of(&r.metadata))
            .max()
            .unwrap_or(0);
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &ns);
        let (surge, _) = fenceposts(d);
        let new = match existing {
            Some(rs) => {
                let want_rev = revision_of(&rs.metadata).max(max_old + 1);
                let mut updated = (*rs).clone();
                let annotations = updated
                    .metadata
                    .annotations
                    .get_or_insert_with(Default::default);
                let mut changed = false;
                if revision_of(&rs.metadata) < want_rev {
                    annotations.insert(REVISION.into(), want_rev.to_string());
                    changed = true;
                }
                let min_ready = d.spec.as_ref().and_then(|s| s.min_ready_seconds);
                if let Some(spec) = updated.spec.as_mut() {
                    if spec.min_ready_seconds != min_ready {
                        spec.min_ready_seconds = min_ready;
                        changed = true;
                    }
                }
                if changed {
                    Arc::new(
                        api.replace(
                            rs.metadata.name.as_deref().unwrap_or_default(),
                            &PostParams::default(),
                            &updated,
                        )
                        .await?,
                    )
                } else {
                    rs
                }
            }
            None if !create => return Ok(None),
            None => {
                let revision = max_old + 1;
                let spec = d.spec.clone().unwrap_or_default();
                let collision = d.status.as_ref().and_then(|s| s.collision_count);
                let hash = compute_hash(Some(&spec.template), collision);
                let mut template = spec.template.clone();
                let tmeta = template.metadata.get_or_insert_with(Default::default);
                tmeta
                    .labels
                    .get_or_insert_with(Default::default)
                    .insert(POD_TEMPLATE_HASH.into(), hash.clone());
                let mut selector = spec.selector.clone();
                selector
                    .match_labels
                    .get_or_insert_with(Default::default)
                    .insert(POD_TEMPLATE_HASH.into(), hash.clone());
                let mut annotations: BTreeMap<String, String> = d
                    .metadata
                    .annotations
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(k, _)| !SKIP_COPY.contains(&k.as_str()))
                    .collect();
                annotations.insert(REVISION.into(), revision.to_string());
                annotations.insert(DESIRED_REPLICAS.into(), desired(d).to_string());
                annotations.insert(MAX_REPLICAS.into(), (desired(d) + surge).to_string());
                let name = format!(
                    "{}-{}",
                    d.metadata.name.as_deref().unwrap_or_default(),
                    hash
                );
                let mut rs = ReplicaSet {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(ns.clone()),
                        labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                        annotations: Some(annotations),
                        owner_references: Some(vec![controller_ref(d)]),
                        ..Default::default()
                    },
                    spec: Some(ReplicaSetSpec {
                        replicas: Some(0),
                        min_ready_seconds: spec.min_ready_seconds,
                        selector,
                        template: Some(template),
                    }),
                    status: None,
                };
                let all: Vec<Arc<ReplicaSet>> = rss.to_vec();
                let replicas = new_rs_new_replicas(d, &all, &rs);
                rs.spec.as_mut().unwrap().replicas = Some(replicas);
                match api.create(&PostParams::default(), &rs).await {
                    Ok(created) => {
                        self.events.normal(
                            d,
                            "ScalingReplicaSet",
                            format!("Scaled up replica set {name} from 0 to {replicas}"),
                        );
                        self.set_progressing(
                            d,
                            "NewReplicaSetCreated",
                            format!("Created new replica set {name:?}"),
                        )
                        .await?;
                        Arc::new(created)
                    }
                    Err(e) if is_conflict(&e) => {
                        // Upstream: an existing RS with our template and owner is ours;
                        // anything else is a hash collision, resolved by bumping
                        // status.collisionCount so the next hash differs.
                        let other = api.get(&name).await?;
                        let ours = controller_of(&other.metadata)
                            .is_some_and(|r| Some(&r.uid) == d.metadata.uid.as_ref());
                        if ours
                            && template_ignoring_hash(
                                other.spec.as_ref().and_then(|s| s.template.as_ref()),
                            ) == template_ignoring_hash(Some(&spec.template))
                        {
                            Arc::new(other)
                        } else {
                            let mut status = d.status.clone().unwrap_or_default();
                            status.collision_count = Some(collision.unwrap_or(0) + 1);
                            let mut next = d.clone();
                            next.status = Some(status);
                            Api::<Deployment>::namespaced(self.client.clone(), &ns)
                                .replace_status(
                                    d.metadata.name.as_deref().unwrap_or_default(),
                                    &PostParams::default(),
                                    &next,
                                )
                                .await?;
                            return Err(DeploymentError::HashCollision(name));
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        // The Deployment carries the revision of its new ReplicaSet.
        let rev = revision_of(&new.metadata);
        if revision_of(&d.metadata) != rev {
            let api: Api<Deployment> = Api::namespaced(self.client.clone(), &ns);
            let patch = json!({"metadata": {"annotations": {REVISION: rev.to_string()}}});
            let updated = api
                .patch(
                    d.metadata.name.as_deref().unwrap_or_default(),
                    &PatchParams::default(),
                    &Patch::Merge(patch),
                )
                .await?;
            d.metadata = updated.metadata;
            d.status = updated.status;
        }
        Ok(Some(new))
    }

    /// Records a Progressing reason on the Deployment right away, as upstream does when it
    /// creates the new ReplicaSet.
    async fn set_progressing(
        &self,
        d: &mut Deployment,
        reason: &str,
        message: String,
    ) -> Result<(), DeploymentError> {
        if d.spec
            .as_ref()
            .and_then(|s| s.progress_deadline_seconds)
            .is_none_or(|s| s <= 0 || s == i32::MAX)
        {
            return Ok(());
        }
        let mut status = d.status.clone().unwrap_or_default();
        let mut conds = status.conditions.take().unwrap_or_default();
        set_condition(
            &mut conds,
            condition("Progressing", "True", reason, message, Timestamp::now()),
        );
        status.conditions = Some(conds);
        let mut next = d.clone();
        next.status = Some(status);
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let updated = Api::<Deployment>::namespaced(self.client.clone(), &ns)
            .replace_status(
                d.metadata.name.as_deref().unwrap_or_default(),
                &PostParams::default(),
                &next,
            )
            .await?;
        *d = updated;
        Ok(())
    }

    /// Sets `spec.replicas` and the desired/max annotations (upstream
    /// `scaleReplicaSetAndRecordEvent`).
    async fn scale(
        &self,
        d: &Deployment,
        rs: &ReplicaSet,
        replicas: i32,
    ) -> Result<(), DeploymentError> {
        let (surge, _) = fenceposts(d);
        let ns = rs.metadata.namespace.clone().unwrap_or_default();
        let mut next = rs.clone();
        next.spec.get_or_insert_with(Default::default).replicas = Some(replicas);
        let a = next
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        a.insert(DESIRED_REPLICAS.into(), desired(d).to_string());
        a.insert(MAX_REPLICAS.into(), (desired(d) + surge).to_string());
        Api::<ReplicaSet>::namespaced(self.client.clone(), &ns)
            .replace(
                rs.metadata.name.as_deref().unwrap_or_default(),
                &PostParams::default(),
                &next,
            )
            .await?;
        let before = rs_replicas(rs);
        if before != replicas {
            // Upstream: "Scaled up/down replica set NAME from A to B".
            let direction = if replicas > before { "up" } else { "down" };
            self.events.normal(
                d,
                "ScalingReplicaSet",
                format!(
                    "Scaled {direction} replica set {} from {before} to {replicas}",
                    rs.metadata.name.as_deref().unwrap_or_default()
                ),
            );
        }
        Ok(())
    }

    /// Upstream `rolloutRolling`.
    async fn rollout_rolling(
        &self,
        d: &mut Deployment,
        rss: Vec<Arc<ReplicaSet>>,
    ) -> Result<Requeue, DeploymentError> {
        let Some(new) = self.get_or_create_new(d, &rss, true).await? else {
            return Ok(Requeue::No);
        };
        let mut all: Vec<Arc<ReplicaSet>> = rss
            .into_iter()
            .filter(|r| r.metadata.uid != new.metadata.uid)
            .collect();
        let mut old = all.clone();
        old.sort_by_key(|r| r.metadata.creation_timestamp.as_ref().map(|t| t.0));
        all.push(new.clone());

        // Scale up the new ReplicaSet within maxSurge.
        let target = if rs_replicas(&new) > desired(d) {
            desired(d)
        } else {
            new_rs_new_replicas(d, &all, &new)
        };
        if target != rs_replicas(&new) {
            self.scale(d, &new, target).await?;
            return self.update_status(d, &self.owned(d), Some(&new)).await;
        }

        // Scale old ReplicaSets down within maxUnavailable (`reconcileOldReplicaSets`).
        let old_count: i32 = old.iter().map(|r| rs_replicas(r)).sum();
        if old_count > 0 {
            let all_count: i32 = all.iter().map(|r| rs_replicas(r)).sum();
            let (_, max_unavailable) = fenceposts(d);
            let min_available = desired(d) - max_unavailable;
            let new_unavailable = rs_replicas(&new) - rs_available(&new);
            let mut budget = all_count - min_available - new_unavailable;
            let mut scaled = false;
            if budget > 0 {
                // Unhealthy old replicas first (`cleanupUnhealthyReplicas`).
                let mut cleaned = 0;
                for rs in &old {
                    if cleaned >= budget {
                        break;
                    }
                    let unhealthy = rs_replicas(rs) - rs_available(rs);
                    if rs_replicas(rs) == 0 || unhealthy <= 0 {
                        continue;
                    }
                    let n = unhealthy.min(budget - cleaned);
                    self.scale(d, rs, rs_replicas(rs) - n).await?;
                    cleaned += n;
                }
                budget -= cleaned;
                scaled = cleaned > 0;
                // Then healthy ones while availability allows
                // (`scaleDownOldReplicaSetsForRollingUpdate`).
                if !scaled {
                    let available: i32 = all.iter().map(|r| rs_available(r)).sum();
                    let total = (available - min_available).min(budget);
                    let mut done = 0;
                    for rs in &old {
                        if done >= total {
                            break;
                        }
                        if rs_replicas(rs) == 0 {
                            continue;
                        }
                        let n = rs_replicas(rs).min(total - done);
                        self.scale(d, rs, rs_replicas(rs) - n).await?;
                        done += n;
                    }
                    scaled = done > 0;
                }
            }
            if scaled {
                return self.update_status(d, &self.owned(d), Some(&new)).await;
            }
        }
        let requeue = self.update_status(d, &all, Some(&new)).await?;
        self.cleanup_if_complete(d, &old).await?;
        Ok(requeue)
    }

    /// Upstream `rolloutRecreate`.
    async fn rollout_recreate(
        &self,
        d: &mut Deployment,
        rss: Vec<Arc<ReplicaSet>>,
    ) -> Result<Requeue, DeploymentError> {
        let new = self.get_or_create_new(d, &rss, false).await?;
        let old: Vec<Arc<ReplicaSet>> = rss
            .iter()
            .filter(|r| {
                new.as_ref()
                    .is_none_or(|n| n.metadata.uid != r.metadata.uid)
            })
            .cloned()
            .collect();
        let mut scaled_down = false;
        for rs in old.iter().filter(|r| rs_replicas(r) > 0) {
            self.scale(d, rs, 0).await?;
            scaled_down = true;
        }
        if scaled_down {
            return self.update_status(d, &self.owned(d), new.as_deref()).await;
        }
        // Wait until no pod of an old ReplicaSet is still running (`oldPodsRunning`).
        let old_uids: Vec<String> = old.iter().filter_map(|r| r.metadata.uid.clone()).collect();
        let old_running = self.pod_store.state().iter().any(|p| {
            controller_of(&p.metadata).is_some_and(|r| old_uids.contains(&r.uid))
                && !matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded") | Some("Failed")
                )
        });
        if old_running {
            return self.update_status(d, &rss, new.as_deref()).await;
        }
        let new = match new {
            Some(n) => n,
            None => match self.get_or_create_new(d, &rss, true).await? {
                Some(n) => n,
                None => return Ok(Requeue::No),
            },
        };
        if rs_replicas(&new) != desired(d) {
            self.scale(d, &new, desired(d)).await?;
            return self.update_status(d, &self.owned(d), Some(&new)).await;
        }
        let mut all = old.clone();
        all.push(new.clone());
        let requeue = self.update_status(d, &all, Some(&new)).await?;
        self.cleanup_if_complete(d, &old).await?;
        Ok(requeue)
    }

    /// Upstream `cleanupDeployment`: once complete, keep at most revisionHistoryLimit
    /// (default 10) scaled-down old ReplicaSets, deleting the oldest revisions first.
    async fn cleanup_if_complete(
        &self,
        d: &Deployment,
        old: &[Arc<ReplicaSet>],
    ) -> Result<(), DeploymentError> {
        let limit = d
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .unwrap_or(10)
            .max(0) as usize;
        let mut dead: Vec<&Arc<ReplicaSet>> = old
            .iter()
            .filter(|r| {
                rs_replicas(r) == 0
                    && r.status.as_ref().is_none_or(|s| s.replicas == 0)
                    && r.metadata.deletion_timestamp.is_none()
            })
            .collect();
        if dead.len() <= limit {
            return Ok(());
        }
        dead.sort_by_key(|r| revision_of(&r.metadata));
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &ns);
        for rs in &dead[..dead.len() - limit] {
            match api
                .delete(
                    rs.metadata.name.as_deref().unwrap_or_default(),
                    &DeleteParams::default(),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Writes status when it changed; asks for a later re-check while progressing so the
    /// progress deadline can be noticed (upstream `requeueStuckDeployment`).
    async fn update_status(
        &self,
        d: &Deployment,
        all: &[Arc<ReplicaSet>],
        new: Option<&ReplicaSet>,
    ) -> Result<Requeue, DeploymentError> {
        let status = calculate_status(d, all, new, Timestamp::now());
        let changed = {
            let strip = |s: &DeploymentStatus| {
                let mut s = s.clone();
                for c in s.conditions.iter_mut().flatten() {
                    c.last_update_time = None;
                    c.last_transition_time = None;
                }
                serde_json::to_value(s).unwrap_or_default()
            };
            strip(&status) != strip(&d.status.clone().unwrap_or_default())
        };
        let progressing =
            status.conditions.iter().flatten().any(|c| {
                c.type_ == "Progressing" && c.reason.as_deref() == Some("ReplicaSetUpdated")
            });
        if changed {
            let mut next = d.clone();
            next.status = Some(status);
            let ns = d.metadata.namespace.clone().unwrap_or_default();
            Api::<Deployment>::namespaced(self.client.clone(), &ns)
                .replace_status(
                    d.metadata.name.as_deref().unwrap_or_default(),
                    &PostParams::default(),
                    &next,
                )
                .await?;
        }
        let deadline = d.spec.as_ref().and_then(|s| s.progress_deadline_seconds);
        match deadline {
            Some(secs) if progressing && secs > 0 && secs != i32::MAX => {
                Ok(Requeue::After(Duration::from_secs(secs as u64 + 1)))
            }
            _ => Ok(Requeue::No),
        }
    }
}

fn annotation_i32(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.metadata.annotations.as_ref()?.get(key)?.parse().ok()
}

/// Upstream `isScalingEvent`: an active ReplicaSet was sized for a different
/// `spec.replicas` (its desired-replicas annotation differs).
fn is_scaling_event(d: &Deployment, rss: &[Arc<ReplicaSet>]) -> bool {
    rss.iter()
        .filter(|r| rs_replicas(r) > 0)
        .filter_map(|r| annotation_i32(r, DESIRED_REPLICAS))
        .any(|want| want != desired(d))
}

/// Upstream `scale`: the ReplicaSets to resize and their new sizes. One active (or only
/// the latest) ReplicaSet takes the full count; a saturated new ReplicaSet zeroes the old
/// ones; otherwise a rolling Deployment spreads the change proportionally
/// (`GetProportion`), larger ReplicaSets first, leftovers to the first.
pub fn scale_plan(
    d: &Deployment,
    new: Option<&Arc<ReplicaSet>>,
    old: &[Arc<ReplicaSet>],
) -> Vec<(Arc<ReplicaSet>, i32)> {
    let want = desired(d);
    let mut old_newest_first = old.to_vec();
    old_newest_first.sort_by(|a, b| {
        b.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .cmp(&a.metadata.creation_timestamp.as_ref().map(|t| t.0))
    });
    let mut all: Vec<Arc<ReplicaSet>> = old_newest_first.clone();
    all.extend(new.cloned());
    let active: Vec<Arc<ReplicaSet>> = all.iter().filter(|r| rs_replicas(r) > 0).cloned().collect();
    // FindActiveOrLatest.
    let target = match active.len() {
        0 => new.cloned().or_else(|| old_newest_first.first().cloned()),
        1 => Some(active[0].clone()),
        _ => None,
    };
    if let Some(rs) = target {
        return if rs_replicas(&rs) == want {
            Vec::new()
        } else {
            vec![(rs, want)]
        };
    }
    // IsSaturated.
    if let Some(n) = new {
        if annotation_i32(n, DESIRED_REPLICAS) == Some(want)
            && rs_replicas(n) == want
            && rs_available(n) == want
        {
            return old
                .iter()
                .filter(|r| rs_replicas(r) > 0)
                .map(|r| (r.clone(), 0))
                .collect();
        }
    }
    if strategy_type(d) != "RollingUpdate" {
        return Vec::new();
    }
    let (surge, _) = fenceposts(d);
    let total: i32 = active.iter().map(|r| rs_replicas(r)).sum();
    let allowed = if want > 0 { want + surge } else { 0 };
    let to_add = allowed - total;
    let mut sorted = active;
    let created = |r: &ReplicaSet| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
    if to_add > 0 {
        // ReplicaSetsBySizeNewer: larger first, newer first on ties.
        sorted.sort_by(|a, b| {
            rs_replicas(b)
                .cmp(&rs_replicas(a))
                .then(created(b).cmp(&created(a)))
        });
    } else if to_add < 0 {
        // ReplicaSetsBySizeOlder: larger first, older first on ties.
        sorted.sort_by(|a, b| {
            rs_replicas(b)
                .cmp(&rs_replicas(a))
                .then(created(a).cmp(&created(b)))
        });
    }
    let mut added = 0;
    let mut sizes: Vec<i32> = Vec::new();
    for rs in &sorted {
        let mut size = rs_replicas(rs);
        if to_add != 0 && size != 0 && to_add != added {
            let fraction = if want == 0 {
                -size
            } else {
                let annotated = annotation_i32(rs, MAX_REPLICAS)
                    .unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
                if annotated == 0 {
                    0
                } else {
                    (f64::from(size) * f64::from(want + surge) / f64::from(annotated)).round()
                        as i32
                        - size
                }
            };
            let allowed_left = to_add - added;
            let proportion = if to_add > 0 {
                fraction.min(allowed_left)
            } else {
                fraction.max(allowed_left)
            };
            size += proportion;
            added += proportion;
        }
        sizes.push(size);
    }
    if let Some(first) = sizes.first_mut() {
        if to_add != 0 {
            *first = (*first + to_add - added).max(0);
        }
    }
    sorted
        .into_iter()
        .zip(sizes)
        .filter(|(rs, size)| rs_replicas(rs) != *size)
        .collect()
}

/// The ReplicaSet whose template equals the Deployment's ignoring the hash label; the
/// oldest if several (upstream `FindNewReplicaSet`).
fn find_new(d: &Deployment, rss: &[Arc<ReplicaSet>]) -> Option<Arc<ReplicaSet>> {
    let want = template_ignoring_hash(d.spec.as_ref().map(|s| &s.template));
    let mut matching: Vec<&Arc<ReplicaSet>> = rss
        .iter()
        .filter(|r| {
            template_ignoring_hash(r.spec.as_ref().and_then(|s| s.template.as_ref())) == want
        })
        .collect();
    matching.sort_by_key(|r| r.metadata.creation_timestamp.as_ref().map(|t| t.0));
    matching.first().map(|r| (*r).clone())
}

fn controller_ref(d: &Deployment) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: d.metadata.name.clone().unwrap_or_default(),
        uid: d.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(replicas: i32, surge: Option<&str>, unavailable: Option<&str>) -> Deployment {
        let mut ru = serde_json::Map::new();
        if let Some(s) = surge {
            ru.insert("maxSurge".into(), int_or_str(s));
        }
        if let Some(u) = unavailable {
            ru.insert("maxUnavailable".into(), int_or_str(u));
        }
        serde_json::from_value(json!({
            "metadata": {"name": "d", "namespace": "ns", "uid": "d-uid", "generation": 2},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "x"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": ru},
                "progressDeadlineSeconds": 600,
                "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
            }
        }))
        .unwrap()
    }

    fn int_or_str(s: &str) -> serde_json::Value {
        s.parse::<i64>().map_or_else(|_| json!(s), |n| json!(n))
    }

    fn rs(name: &str, spec: i32, status: i32, available: i32) -> Arc<ReplicaSet> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")},
                "spec": {"replicas": spec, "selector": {"matchLabels": {"app": "x"}}},
                "status": {"replicas": status, "readyReplicas": available, "availableReplicas": available}
            }))
            .unwrap(),
        )
    }

    fn owned_rs(
        name: &str,
        spec: i32,
        available: i32,
        desired: i32,
        max: i32,
        created: i64,
    ) -> Arc<ReplicaSet> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                    "creationTimestamp": Timestamp::from_second(created).unwrap().to_string(),
                    "annotations": {DESIRED_REPLICAS: desired.to_string(), MAX_REPLICAS: max.to_string()}},
                "spec": {"replicas": spec, "selector": {"matchLabels": {"app": "x"}}},
                "status": {"replicas": spec, "availableReplicas": available}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn proportional_scaling() {
        // Mid-rollout of 10 (maxSurge 3): old 8, new 5 (sized for 10, max 13). Scaling to
        // 20 allows 23, so 10 are added, split by each ReplicaSet's share of 13.
        let d = deployment(20, Some("3"), Some("2"));
        let old = owned_rs("old", 8, 8, 10, 13, 1);
        let new = owned_rs("new", 5, 0, 10, 13, 2);
        assert!(is_scaling_event(&d, &[old.clone(), new.clone()]));
        let plan: Vec<(String, i32)> = scale_plan(&d, Some(&new), std::slice::from_ref(&old))
            .into_iter()
            .map(|(rs, n)| (rs.metadata.name.clone().unwrap(), n))
            .collect();
        // old: round(8*23/13)=14 (+6); new: round(5*23/13)=9 (+4); total 23 = 20 + surge 3.
        assert_eq!(plan, vec![("old".to_string(), 14), ("new".to_string(), 9)]);

        // A single active ReplicaSet takes the whole count.
        let only = owned_rs("only", 3, 3, 3, 4, 1);
        let plan = scale_plan(&d, Some(&only), &[]);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].1, 20);

        // A saturated new ReplicaSet zeroes the old ones.
        let d = deployment(4, None, None);
        let new = owned_rs("new", 4, 4, 4, 5, 2);
        let old = owned_rs("old", 1, 1, 4, 5, 1);
        let plan = scale_plan(&d, Some(&new), std::slice::from_ref(&old));
        assert_eq!(plan.len(), 1);
        assert_eq!(
            (plan[0].0.metadata.name.as_deref(), plan[0].1),
            (Some("old"), 0)
        );
    }

    #[test]
    fn fencepost_table() {
        let cases = [
            (10, None, None, (3, 2)),
            (4, None, None, (1, 1)),
            (1, None, None, (1, 0)),
            (3, Some("0"), Some("0"), (0, 1)),
            (10, Some("2"), Some("50%"), (2, 5)),
            (10, Some("15%"), Some("15%"), (2, 1)),
        ];
        for (replicas, s, u, want) in cases {
            assert_eq!(
                fenceposts(&deployment(replicas, s, u)),
                want,
                "replicas={replicas} surge={s:?} unavailable={u:?}"
            );
        }
    }

    #[test]
    fn new_replicas_respect_surge() {
        let d = deployment(3, Some("1"), Some("0"));
        let old = rs("old", 3, 3, 3);
        let new = rs("new", 0, 0, 0);
        assert_eq!(
            new_rs_new_replicas(&d, &[old.clone(), new.clone()], &new),
            1
        );
        let new = rs("new", 1, 1, 0);
        assert_eq!(new_rs_new_replicas(&d, &[old, new.clone()], &new), 1);
        let old = rs("old", 2, 2, 2);
        assert_eq!(new_rs_new_replicas(&d, &[old, new.clone()], &new), 2);
    }

    #[test]
    fn hash_is_stable_safe_and_ignores_hash_label() {
        let d = deployment(1, None, None);
        let t = d.spec.as_ref().unwrap().template.clone();
        let h = compute_hash(Some(&t), None);
        assert!(!h.is_empty());
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        assert_eq!(h, compute_hash(Some(&t), None));
        assert_ne!(h, compute_hash(Some(&t), Some(1)));
        let mut labelled = t.clone();
        labelled
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_TEMPLATE_HASH.into(), h.clone());
        assert_eq!(h, compute_hash(Some(&labelled), None));
    }

    #[test]
    fn status_as_rollout_status_reads_it() {
        let d = deployment(3, None, None);
        let now = Timestamp::from_second(1000).unwrap();
        let old = rs("old", 1, 1, 1);
        let new = rs("new", 3, 3, 2);
        let s = calculate_status(&d, &[old.clone(), new.clone()], Some(&new), now);
        assert_eq!(s.observed_generation, Some(2));
        assert_eq!(s.replicas, Some(4));
        assert_eq!(s.updated_replicas, Some(3));
        assert_eq!(s.available_replicas, Some(3));
        assert_eq!(s.unavailable_replicas, Some(1));
        let conds = s.conditions.clone().unwrap();
        assert_eq!(conds[0].type_, "Available");
        assert_eq!(conds[0].reason.as_deref(), Some("MinimumReplicasAvailable"));
        assert_eq!(conds[1].reason.as_deref(), Some("ReplicaSetUpdated"));
        assert_eq!(
            conds[1].message.as_deref(),
            Some("ReplicaSet \"new\" is progressing.")
        );

        let done = rs("new", 3, 3, 3);
        let mut d2 = d.clone();
        d2.status = Some(s);
        let s = calculate_status(&d2, std::slice::from_ref(&done), Some(&done), now);
        let p = s
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Progressing")
            .unwrap();
        assert_eq!(p.reason.as_deref(), Some("NewReplicaSetAvailable"));
        assert_eq!(
            p.message.as_deref(),
            Some("ReplicaSet \"new\" has successfully progressed.")
        );
    }

    #[test]
    fn stuck_rollout_times_out() {
        let mut d = deployment(3, None, None);
        let new = rs("new", 3, 3, 0);
        let t0 = Timestamp::from_second(1000).unwrap();
        let s = calculate_status(&d, std::slice::from_ref(&new), Some(&new), t0);
        d.status = Some(s);
        let later = Timestamp::from_second(1000 + 601).unwrap();
        let s = calculate_status(&d, std::slice::from_ref(&new), Some(&new), later);
        let p = s
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Progressing")
            .unwrap();
        assert_eq!(
            (p.status.as_str(), p.reason.as_deref()),
            ("False", Some("ProgressDeadlineExceeded"))
        );
    }
}
