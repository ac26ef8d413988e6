//! Taint eviction controller (upstream pkg/controller/tainteviction): deletes pods bound
//! to nodes with `NoExecute` taints they do not tolerate.
//!
//! For each pod on a node with NoExecute taints (upstream `processPodOnNode`):
//! - a taint the pod does not tolerate: delete at once;
//! - all tolerated: after the smallest `tolerationSeconds` among the matching tolerations
//!   (<= 0 meaning at once), counted from when this controller first scheduled the eviction
//!   (upstream `getMinTolerationTime` and the timed worker's `CreatedAt`); when no matching
//!   toleration has `tolerationSeconds`, the pod stays forever;
//! - no NoExecute taints left: a scheduled eviction is cancelled, with a
//!   `TaintManagerEviction` "Cancelling deletion of Pod ns/name" event.
//!
//! Deleting (upstream `addConditionAndDeletePod`): a `TaintManagerEviction` "Marking for
//! deletion Pod ns/name" event, the `DisruptionTarget` condition (reason
//! `DeletionByTaintManager`) through pods/status, then a delete with a UID precondition.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;
use parking_lot::Mutex;
use serde_json::json;
use tokio::time::Instant;

use super::{is_not_found, AbortOnDrop, ControllerError};
use crate::events::EventSink;
use crate::informer::{key_of, split_key, Notification};
use crate::ControllerContext;

/// Upstream controller name.
pub const NAME: &str = "taint-eviction-controller";
/// Reason of the events and of the DisruptionTarget condition's source.
pub const EVENT_REASON: &str = "TaintManagerEviction";
/// How many times a deletion is tried (upstream `retries` in `deletePodHandler`).
const DELETE_RETRIES: u32 = 5;

/// Upstream `ToleratesTaint` (the Equal / Exists operators; an empty effect matches all).
pub fn tolerates(tol: &Toleration, taint: &Taint) -> bool {
    let effect = tol.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = tol.key.as_deref().unwrap_or("");
    let op = tol.operator.as_deref().unwrap_or("Equal");
    if key.is_empty() {
        // An empty key with Exists tolerates every key; with Equal it matches nothing.
        return op == "Exists";
    }
    if key != taint.key {
        return false;
    }
    match op {
        "Exists" => true,
        "Equal" | "" => tol.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// What to do with one pod given its node's taints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No NoExecute taints: cancel any scheduled eviction.
    Cancel,
    /// Tolerated forever: cancel any scheduled eviction and never delete.
    Forever,
    /// Some taint is not tolerated: delete now.
    Now,
    /// Delete this long after the eviction was first scheduled.
    After(Duration),
}

/// Upstream `processPodOnNode` + `getMatchingTolerations` + `getMinTolerationTime`.
pub fn decide(taints: &[Taint], tolerations: &[Toleration]) -> Decision {
    let no_execute: Vec<&Taint> = taints.iter().filter(|t| t.effect == "NoExecute").collect();
    if no_execute.is_empty() {
        return Decision::Cancel;
    }
    let mut used: Vec<&Toleration> = Vec::new();
    for taint in &no_execute {
        let matching: Vec<&Toleration> = tolerations
            .iter()
            .filter(|tol| tolerates(tol, taint))
            .collect();
        if matching.is_empty() {
            return Decision::Now;
        }
        used.extend(matching);
    }
    let mut min: Option<i64> = None;
    for tol in used {
        if let Some(s) = tol.toleration_seconds {
            if s <= 0 {
                return Decision::After(Duration::ZERO);
            }
            min = Some(min.map_or(s, |m| m.min(s)));
        }
    }
    match min {
        None => Decision::Forever,
        Some(s) => Decision::After(Duration::from_secs(s as u64)),
    }
}

/// A pending deletion (upstream `TimedWorker`); dropping it cancels it.
struct Scheduled {
    fire_at: Instant,
    _task: AbortOnDrop,
}

#[derive(Clone)]
struct Controller {
    client: kube::Client,
    nodes: Store<Node>,
    pods: Store<Pod>,
    events: EventSink,
    scheduled: Arc<Mutex<HashMap<String, Scheduled>>>,
}

/// Starts the node and pod informers; each change re-evaluates the affected pods.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Change>();
    let t = tx.clone();
    let nodes = ctx.informers.subscribe::<Node>(move |n| {
        let node = match &n {
            Notification::Added(o) | Notification::Deleted(o) => o,
            Notification::Updated { old, new } => {
                if no_execute(old) == no_execute(new) {
                    return;
                }
                new
            }
        };
        let _ = t.send(Change::Node(node.metadata.name.clone().unwrap_or_default()));
    });
    let t = tx;
    let pods = ctx.informers.subscribe::<Pod>(move |n| match n {
        Notification::Added(p) => {
            let _ = t.send(Change::Pod(key_of(p.as_ref())));
        }
        Notification::Updated { old, new } => {
            // Upstream `PodUpdated` acts when the node or the tolerations change.
            let node = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone());
            let tols = |p: &Pod| p.spec.as_ref().and_then(|s| s.tolerations.clone());
            if node(&old) != node(&new) || tols(&old) != tols(&new) {
                let _ = t.send(Change::Pod(key_of(new.as_ref())));
            }
        }
        Notification::Deleted(p) => {
            let _ = t.send(Change::PodGone(key_of(p.as_ref())));
        }
    });
    nodes.synced().await;
    pods.synced().await;
    let c = Controller {
        client: ctx.client.clone(),
        nodes: nodes.store.clone(),
        pods: pods.store.clone(),
        events: EventSink::new(ctx.client.clone(), NAME),
        scheduled: Arc::default(),
    };
    // Changes seen before the caches synced are covered by a pass over every node.
    for n in c.nodes.state() {
        c.node_changed(n.metadata.name.as_deref().unwrap_or_default());
    }
    while let Some(ch) = rx.recv().await {
        match ch {
            Change::Node(name) => c.node_changed(&name),
            Change::Pod(key) => c.pod_changed(&key),
            Change::PodGone(key) => {
                c.scheduled.lock().remove(&key);
            }
        }
    }
    drop((nodes, pods));
    Err(ControllerError::Config("informers stopped".into()))
}

enum Change {
    Node(String),
    Pod(String),
    PodGone(String),
}

fn no_execute(n: &Node) -> Vec<Taint> {
    n.spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.effect == "NoExecute")
        .collect()
}

impl Controller {
    fn node_changed(&self, node: &str) {
        let taints = self
            .nodes
            .get(&ObjectRef::new(node))
            .map(|n| no_execute(&n))
            .unwrap_or_default();
        let pods = self
            .pods
            .state_filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node));
        for p in pods {
            self.process(&p, &taints);
        }
    }

    fn pod_changed(&self, key: &str) {
        let (ns, name) = split_key(key);
        let Some(pod) = self
            .pods
            .get(&ObjectRef::new(name).within(ns.unwrap_or_default()))
        else {
            return;
        };
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            return;
        };
        let taints = self
            .nodes
            .get(&ObjectRef::new(&node))
            .map(|n| no_execute(&n))
            .unwrap_or_default();
        self.process(&pod, &taints);
    }

    /// Upstream `processPodOnNode`.
    fn process(&self, pod: &Arc<Pod>, taints: &[Taint]) {
        let key = key_of(pod.as_ref());
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.clone())
            .unwrap_or_default();
        let now = Instant::now();
        match decide(taints, &tolerations) {
            Decision::Cancel | Decision::Forever => self.cancel(pod),
            Decision::Now => {
                // Already due (or being carried out): leave it running.
                if self
                    .scheduled
                    .lock()
                    .get(&key)
                    .is_some_and(|s| s.fire_at <= now)
                {
                    return;
                }
                self.schedule(pod, now);
            }
            Decision::After(d) => {
                // Upstream keeps a standing schedule: its `CreatedAt + d` is never later
                // than `now + d`, so a re-evaluation does not postpone the deletion.
                if self.scheduled.lock().contains_key(&key) {
                    return;
                }
                self.schedule(pod, now + d);
            }
        }
    }

    fn cancel(&self, pod: &Pod) {
        if self.scheduled.lock().remove(&key_of(pod)).is_some() {
            self.events.normal(
                pod,
                EVENT_REASON,
                format!("Cancelling deletion of Pod {}", key_of(pod)),
            );
        }
    }

    fn schedule(&self, pod: &Arc<Pod>, fire_at: Instant) {
        let key = key_of(pod.as_ref());
        let c = self.clone();
        let p = pod.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep_until(fire_at).await;
            // The entry stays until the pod is gone, so a pod being terminated gracefully is
            // not evicted twice.
            c.evict(&p).await;
        });
        self.scheduled.lock().insert(
            key,
            Scheduled {
                fire_at,
                _task: AbortOnDrop(task),
            },
        );
    }

    /// Upstream `deletePodHandler` / `addConditionAndDeletePod`.
    async fn evict(&self, pod: &Pod) {
        let key = key_of(pod);
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let uid = pod.metadata.uid.clone();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        self.events
            .normal(pod, EVENT_REASON, format!("Marking for deletion Pod {key}"));
        for attempt in 0..DELETE_RETRIES {
            match self.condition_and_delete(&api, name, uid.clone()).await {
                Ok(()) => return,
                Err(e) if is_not_found(&e) => return,
                Err(e) => {
                    tracing::info!(pod = %key, error = %e, attempt, "taint eviction failed");
                    tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
                }
            }
        }
    }

    async fn condition_and_delete(
        &self,
        api: &Api<Pod>,
        name: &str,
        uid: Option<String>,
    ) -> Result<(), kube::Error> {
        let current = api.get(name).await?;
        if current.metadata.uid != uid {
            return Ok(());
        }
        let mut conds = current
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        if !conds
            .iter()
            .any(|c| c.type_ == "DisruptionTarget" && c.status == "True")
        {
            conds.retain(|c| c.type_ != "DisruptionTarget");
            conds.push(k8s_openapi::api::core::v1::PodCondition {
                type_: "DisruptionTarget".into(),
                status: "True".into(),
                reason: Some("DeletionByTaintManager".into()),
                message: Some("Taint manager: deleting due to NoExecute taint".into()),
                last_transition_time: Some(Time(Timestamp::now())),
                ..Default::default()
            });
            let patch = json!({
                "metadata": {"resourceVersion": current.metadata.resource_version},
                "status": {"conditions": conds},
            });
            api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid,
                resource_version: None,
            }),
            ..Default::default()
        };
        api.delete(name, &dp).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: value.map(Into::into),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn tol(
        key: &str,
        op: &str,
        value: Option<&str>,
        effect: &str,
        secs: Option<i64>,
    ) -> Toleration {
        Toleration {
            key: (!key.is_empty()).then(|| key.to_string()),
            operator: (!op.is_empty()).then(|| op.to_string()),
            value: value.map(Into::into),
            effect: (!effect.is_empty()).then(|| effect.to_string()),
            toleration_seconds: secs,
        }
    }

    #[test]
    fn toleration_matching_table() {
        let t = taint("k", Some("v"), "NoExecute");
        let cases = [
            (tol("k", "Equal", Some("v"), "NoExecute", None), true),
            (tol("k", "", Some("v"), "NoExecute", None), true),
            (tol("k", "Equal", Some("w"), "NoExecute", None), false),
            (tol("k", "Exists", None, "NoExecute", None), true),
            (tol("k", "Exists", None, "", None), true),
            (tol("k", "Exists", None, "NoSchedule", None), false),
            (tol("", "Exists", None, "", None), true),
            (tol("", "Equal", None, "", None), false),
            (tol("other", "Exists", None, "NoExecute", None), false),
        ];
        for (i, (tol, want)) in cases.iter().enumerate() {
            assert_eq!(tolerates(tol, &t), *want, "case {i}: {tol:?}");
        }
    }

    #[test]
    fn eviction_timing_table() {
        let unreachable = taint("node.kubernetes.io/unreachable", None, "NoExecute");
        let other = taint("example.com/x", None, "NoExecute");
        let noschedule = taint("node.kubernetes.io/unreachable", None, "NoSchedule");
        let t_unreach = |s| {
            tol(
                "node.kubernetes.io/unreachable",
                "Exists",
                None,
                "NoExecute",
                s,
            )
        };
        let cases: Vec<(Vec<Taint>, Vec<Toleration>, Decision)> = vec![
            (vec![], vec![], Decision::Cancel),
            (vec![noschedule.clone()], vec![], Decision::Cancel),
            (vec![unreachable.clone()], vec![], Decision::Now),
            (
                vec![unreachable.clone()],
                vec![t_unreach(Some(300))],
                Decision::After(Duration::from_secs(300)),
            ),
            (
                vec![unreachable.clone()],
                vec![t_unreach(None)],
                Decision::Forever,
            ),
            (
                vec![unreachable.clone()],
                vec![t_unreach(Some(0))],
                Decision::After(Duration::ZERO),
            ),
            (
                vec![unreachable.clone()],
                vec![t_unreach(Some(-5))],
                Decision::After(Duration::ZERO),
            ),
            // Smallest tolerationSeconds among the tolerations used wins.
            (
                vec![unreachable.clone(), other.clone()],
                vec![
                    t_unreach(Some(300)),
                    tol("example.com/x", "Exists", None, "NoExecute", Some(30)),
                ],
                Decision::After(Duration::from_secs(30)),
            ),
            // One untolerated taint among tolerated ones: now.
            (
                vec![unreachable.clone(), other.clone()],
                vec![t_unreach(None)],
                Decision::Now,
            ),
            // A bounded toleration beside an unbounded one for the same taint still bounds.
            (
                vec![unreachable.clone()],
                vec![t_unreach(None), t_unreach(Some(60))],
                Decision::After(Duration::from_secs(60)),
            ),
            // Tolerate-everything toleration.
            (
                vec![unreachable, other],
                vec![tol("", "Exists", None, "", None)],
                Decision::Forever,
            ),
        ];
        for (i, (taints, tols, want)) in cases.into_iter().enumerate() {
            assert_eq!(decide(&taints, &tols), want, "case {i}");
        }
    }
}
