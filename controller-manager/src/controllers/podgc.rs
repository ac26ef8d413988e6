//! Pod garbage collector (upstream pkg/controller/podgc): every gc period (upstream's
//! `gcCheckPeriod`, 20 s) over the pod and node caches it
//! - deletes the oldest terminated pods (phase not Pending/Running/Unknown) above
//!   `--terminated-pod-gc-threshold` (0 disables), evicted ones first (`gcTerminated`);
//! - force-deletes terminating pods on nodes that are not Ready and carry the
//!   `node.kubernetes.io/out-of-service` taint (`gcTerminating`);
//! - force-deletes pods bound to nodes that no longer exist, once a node missing from the
//!   cache is still absent on a live GET after the quarantine (upstream 40 s), adding the
//!   `DisruptionTarget` condition (reason `DeletionByPodGC`, "PodGC: node no longer
//!   exists") (`gcOrphaned`);
//! - force-deletes terminating pods never scheduled to a node (`gcUnscheduledTerminating`).
//!
//! Every deletion first moves a non-terminal pod to phase Failed through pods/status (so a
//! pod whose kubelet is gone does not stay Running forever), then deletes with grace 0,
//! as upstream `markFailedAndDeletePodWithCondition`.
//!
//! The gc period and quarantine are upstream constants; Rudder exposes them as hidden flags
//! (`--pod-gc-period`, `--pod-gc-orphan-quarantine`) so tests need not wait a minute.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::reflector::Store;
use kube::Api;
use serde_json::json;
use tokio::time::Instant;

use super::nodelifecycle::{node_is_ready, TAINT_OUT_OF_SERVICE};
use super::{is_not_found, ControllerError};
use crate::ControllerContext;

/// Upstream controller name.
pub const NAME: &str = "pod-garbage-collector-controller";

/// Whether the pod's phase is terminal (upstream `isPodTerminated`: a phase other than
/// Pending, Running and Unknown). A pod without any phase yet is not terminated: upstream's
/// apiserver defaults the phase to Pending, so it never sees one.
pub fn is_terminated(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some(p) if p != "Pending" && p != "Running" && p != "Unknown"
    )
}

fn is_evicted(pod: &Pod) -> bool {
    let s = pod.status.as_ref();
    s.and_then(|s| s.phase.as_deref()) == Some("Failed")
        && s.and_then(|s| s.reason.as_deref()) == Some("Evicted")
}

/// Upstream `byEvictionAndCreationTimestamp`: evicted first, then oldest, then by name.
fn eviction_then_age(a: &Pod, b: &Pod) -> Ordering {
    is_evicted(b)
        .cmp(&is_evicted(a))
        .then_with(|| {
            let t = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            t(a).cmp(&t(b))
        })
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Upstream `gcTerminated`: the terminated pods to delete to get down to `threshold`
/// (none when `threshold <= 0`).
pub fn terminated_to_delete(pods: &[Arc<Pod>], threshold: i32) -> Vec<Arc<Pod>> {
    if threshold <= 0 {
        return Vec::new();
    }
    let mut terminated: Vec<Arc<Pod>> = pods.iter().filter(|p| is_terminated(p)).cloned().collect();
    let excess = terminated.len().saturating_sub(threshold as usize);
    if excess == 0 {
        return Vec::new();
    }
    terminated.sort_by(|a, b| eviction_then_age(a, b));
    terminated.truncate(excess);
    terminated
}

/// Upstream `gcTerminating`: terminating pods on nodes that are not Ready and carry the
/// out-of-service taint.
pub fn terminating_out_of_service(
    pods: &[Arc<Pod>],
    nodes: &HashMap<String, Arc<Node>>,
) -> Vec<Arc<Pod>> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
        .filter(|p| {
            let Some(node) = node_of(p).and_then(|n| nodes.get(n)) else {
                return false;
            };
            let tainted = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .is_some_and(|ts| ts.iter().any(|t| t.key == TAINT_OUT_OF_SERVICE));
            !node_is_ready(node) && tainted
        })
        .cloned()
        .collect()
}

/// Upstream `gcUnscheduledTerminating`: terminating pods with no node.
pub fn unscheduled_terminating(pods: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some() && node_of(p).is_none())
        .cloned()
        .collect()
}

fn node_of(p: &Pod) -> Option<&str> {
    p.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|s| !s.is_empty())
}

struct Gc {
    client: kube::Client,
    pods: Store<Pod>,
    nodes: Store<Node>,
    threshold: i32,
    quarantine: Duration,
    /// Node names missing from the cache -> when they were first found missing (upstream's
    /// `nodeQueue.AddAfter(name, quarantineTime)`).
    missing: HashMap<String, Instant>,
}

/// Starts the pod and node informers and runs a gc pass every period.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let pods = ctx.informers.subscribe::<Pod>(|_| {});
    let nodes = ctx.informers.subscribe::<Node>(|_| {});
    pods.synced().await;
    nodes.synced().await;
    let mut gc = Gc {
        client: ctx.client.clone(),
        pods: pods.store.clone(),
        nodes: nodes.store.clone(),
        threshold: ctx.options.terminated_pod_gc_threshold,
        quarantine: ctx.options.pod_gc_orphan_quarantine,
        missing: HashMap::new(),
    };
    let mut tick = tokio::time::interval(ctx.options.pod_gc_period.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        gc.pass().await;
    }
}

impl Gc {
    async fn pass(&mut self) {
        let pods = self.pods.state();
        let nodes: HashMap<String, Arc<Node>> = self
            .nodes
            .state()
            .into_iter()
            .map(|n| (n.metadata.name.clone().unwrap_or_default(), n))
            .collect();
        for p in terminated_to_delete(&pods, self.threshold) {
            self.mark_failed_and_delete(&p, None).await;
        }
        for p in terminating_out_of_service(&pods, &nodes) {
            self.mark_failed_and_delete(&p, None).await;
        }
        for p in self.orphaned(&pods, &nodes).await {
            let cond = PodCondition {
                type_: "DisruptionTarget".into(),
                status: "True".into(),
                reason: Some("DeletionByPodGC".into()),
                message: Some("PodGC: node no longer exists".into()),
                last_transition_time: Some(Time(Timestamp::now())),
                ..Default::default()
            };
            self.mark_failed_and_delete(&p, Some(cond)).await;
        }
        for p in unscheduled_terminating(&pods) {
            self.mark_failed_and_delete(&p, None).await;
        }
    }

    /// Upstream `gcOrphaned` + `discoverDeletedNodes`.
    async fn orphaned(
        &mut self,
        pods: &[Arc<Pod>],
        nodes: &HashMap<String, Arc<Node>>,
    ) -> Vec<Arc<Pod>> {
        let now = Instant::now();
        let missing_now: HashSet<&str> = pods
            .iter()
            .filter_map(|p| node_of(p))
            .filter(|n| !nodes.contains_key(*n))
            .collect();
        self.missing.retain(|n, _| missing_now.contains(n.as_str()));
        for n in &missing_now {
            self.missing.entry((*n).to_string()).or_insert(now);
        }
        let due: Vec<String> = self
            .missing
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) >= self.quarantine)
            .map(|(n, _)| n.clone())
            .collect();
        let mut deleted = HashSet::new();
        let api: Api<Node> = Api::all(self.client.clone());
        for n in due {
            match api.get_opt(&n).await {
                Ok(None) => {
                    deleted.insert(n);
                }
                Ok(Some(_)) => {
                    self.missing.remove(&n);
                }
                // Checked again on the next pass.
                Err(e) => tracing::info!(node = %n, error = %e, "podgc: getting node failed"),
            }
        }
        pods.iter()
            .filter(|p| node_of(p).is_some_and(|n| deleted.contains(n)))
            .cloned()
            .collect()
    }

    /// Upstream `markFailedAndDeletePodWithCondition`; errors are logged and the pod is
    /// reconsidered on the next pass.
    async fn mark_failed_and_delete(&self, pod: &Pod, cond: Option<PodCondition>) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        tracing::info!(pod = %format!("{ns}/{name}"), "PodGC is force deleting Pod");
        if !is_terminated(pod) {
            let mut conds = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            if let Some(c) = cond {
                match conds.iter_mut().find(|x| x.type_ == c.type_) {
                    Some(x) if x.status == c.status => {
                        x.reason = c.reason;
                        x.message = c.message;
                    }
                    Some(x) => *x = c,
                    None => conds.push(c),
                }
            }
            let patch = json!({
                "metadata": {"uid": pod.metadata.uid},
                "status": {"phase": "Failed", "conditions": conds},
            });
            match api
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => return,
                Err(e) => {
                    tracing::info!(pod = %name, error = %e, "podgc: marking pod failed");
                    return;
                }
            }
        }
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(name, &dp).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => tracing::info!(pod = %name, error = %e, "podgc: deleting pod"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, phase: &str, created: i64, node: Option<&str>, deleting: bool) -> Arc<Pod> {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "ns",
                "creationTimestamp": Timestamp::from_second(1_700_000_000 + created).unwrap().to_string()},
            "spec": {"containers": [], "nodeName": node},
            "status": {"phase": phase},
        });
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2030-01-01T00:00:00Z");
        }
        if phase == "Evicted" {
            v["status"] = json!({"phase": "Failed", "reason": "Evicted"});
        }
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn names(ps: &[Arc<Pod>]) -> Vec<&str> {
        ps.iter()
            .map(|p| p.metadata.name.as_deref().unwrap())
            .collect()
    }

    #[test]
    fn terminated_selection_table() {
        let pods = vec![
            pod("run", "Running", 0, None, false),
            pod("pend", "Pending", 1, None, false),
            pod("unk", "Unknown", 2, None, false),
            pod("ok-new", "Succeeded", 30, None, false),
            pod("fail-old", "Failed", 10, None, false),
            pod("ok-old", "Succeeded", 5, None, false),
            pod("evicted-new", "Evicted", 40, None, false),
        ];
        let cases: &[(i32, &[&str])] = &[
            (0, &[]),
            (-1, &[]),
            (4, &[]),
            (10, &[]),
            (3, &["evicted-new"]),
            (2, &["evicted-new", "ok-old"]),
            (1, &["evicted-new", "ok-old", "fail-old"]),
        ];
        for (threshold, want) in cases {
            assert_eq!(
                names(&terminated_to_delete(&pods, *threshold)),
                *want,
                "threshold {threshold}"
            );
        }
    }

    #[test]
    fn same_age_breaks_ties_by_name() {
        let pods = vec![
            pod("b", "Succeeded", 0, None, false),
            pod("a", "Succeeded", 0, None, false),
        ];
        assert_eq!(names(&terminated_to_delete(&pods, 1)), ["a"]);
    }

    #[test]
    fn terminating_selection() {
        let node = |name: &str, ready: &str, oos: bool| -> (String, Arc<Node>) {
            let taints = if oos {
                json!([{"key": TAINT_OUT_OF_SERVICE, "effect": "NoExecute"}])
            } else {
                json!([])
            };
            let n: Node = serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"taints": taints},
                "status": {"conditions": [{"type": "Ready", "status": ready}]},
            }))
            .unwrap();
            (name.to_string(), Arc::new(n))
        };
        let nodes: HashMap<_, _> = [
            node("down-oos", "False", true),
            node("down", "Unknown", false),
            node("up-oos", "True", true),
        ]
        .into_iter()
        .collect();
        let pods = vec![
            pod("a", "Running", 0, Some("down-oos"), true),
            pod("b", "Running", 0, Some("down-oos"), false),
            pod("c", "Running", 0, Some("down"), true),
            pod("d", "Running", 0, Some("up-oos"), true),
            pod("e", "Running", 0, Some("gone"), true),
            pod("f", "Pending", 0, None, true),
            pod("g", "Pending", 0, None, false),
        ];
        assert_eq!(names(&terminating_out_of_service(&pods, &nodes)), ["a"]);
        assert_eq!(names(&unscheduled_terminating(&pods)), ["f"]);
    }
}
