//! DaemonSet controller (upstream pkg/controller/daemon): one pod per eligible node.
//!
//! Each sync (`sync`) mirrors upstream `syncDaemonSet`:
//! 1. construct the history: the ControllerRevision whose data equals the current template
//!    patch is current (created as `<ds>-<hash>` when missing, revision = max + 1); its
//!    `controller-revision-hash` label is the hash stamped on new pods;
//! 2. if expectations are satisfied, `manage`: per node, `node_should_run_daemon_pod`
//!    (template nodeName, nodeSelector + required node affinity, taints vs tolerations
//!    including the automatic daemon tolerations) decides whether a pod is needed, surplus,
//!    or must go; failed daemon pods are deleted with a per-node backoff (1 s doubling to
//!    15 min, upstream `failedPodsBackoff`);
//! 3. RollingUpdate (`rolling_update`, maxUnavailable / maxSurge) or OnDelete;
//! 4. old revisions beyond `revisionHistoryLimit` that no pod uses are deleted;
//! 5. status (desired/current/misscheduled/ready/updated/available/unavailable,
//!    observedGeneration).
//!
//! Pods are not bound here: as upstream since 1.12, each pod carries a required node
//! affinity `matchFields metadata.name In [<node>]` and the scheduler binds it.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodSpec, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;
use parking_lot::Mutex;

use super::deployment::{compute_hash, scaled_value};
use super::history::{self, POD_REVISION_LABEL};
use super::podclaim::{claim_pods, controller_ref, parse_selector};
use super::{
    controller_of, is_namespace_terminating, is_not_found, pod_is_available, pod_is_ready,
    run_workers, ControllerError, Requeue,
};
use crate::events::EventSink;
use crate::expectations::Expectations;
use crate::informer::{key_of, split_key, Notification};
use crate::ControllerContext;

/// Upstream name.
pub const NAME: &str = "daemonset-controller";
/// Upstream `BurstReplicas` of the daemon controller.
pub const BURST_REPLICAS: usize = 250;
/// Label with the DaemonSet's template generation (upstream
/// `extensions.DaemonSetTemplateGenerationKey`).
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// apps/v1 home of `spec.templateGeneration`, maintained by the apiserver.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";
/// Upstream failed-pod backoff bounds.
const FAILED_BACKOFF_INITIAL: Duration = Duration::from_secs(1);
const FAILED_BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);

/// Well-known taints the daemon tolerations name (upstream `v1.TaintNode*`).
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// See [`TAINT_NOT_READY`].
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// See [`TAINT_NOT_READY`].
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// See [`TAINT_NOT_READY`].
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// See [`TAINT_NOT_READY`].
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// See [`TAINT_NOT_READY`].
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// See [`TAINT_NOT_READY`].
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// Errors of one sync; all are retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum DaemonSetError {
    /// an API call failed
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// revision bookkeeping failed
    #[error("{0}")]
    History(#[from] history::HistoryError),
    /// a stale collision count was used; retried once the status is current
    #[error("found a stale collision count of DaemonSet {0} while processing; will retry until it is updated")]
    StaleCollisionCount(String),
    /// creating or deleting pods failed
    #[error("{0}")]
    Pods(String),
}

// ---------------------------------------------------------------- pure predicates

/// Upstream `Toleration.ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if t.effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != taint.effect)
    {
        return false;
    }
    if t.key
        .as_deref()
        .is_some_and(|k| !k.is_empty() && k != taint.key)
    {
        return false;
    }
    match t.operator.as_deref().unwrap_or("") {
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

/// Whether some taint passing `filter` is tolerated by none of `tolerations` (upstream
/// `FindMatchingUntoleratedTaint`).
pub fn has_untolerated_taint(
    taints: &[Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> bool {
    taints
        .iter()
        .filter(|t| filter(t))
        .any(|taint| !tolerations.iter().any(|tol| tolerates(tol, taint)))
}

fn toleration(key: &str, effect: &str) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Default::default()
    }
}

/// Upstream `AddOrUpdateTolerationInPodSpec`: a toleration with the same key, operator,
/// value and effect is replaced, otherwise it is appended.
fn add_or_update_toleration(spec: &mut PodSpec, t: Toleration) {
    let tols = spec.tolerations.get_or_insert_with(Vec::new);
    let same = |a: &Toleration| {
        a.key == t.key
            && a.operator.as_deref().unwrap_or("Equal") == t.operator.as_deref().unwrap_or("Equal")
            && a.value.as_deref().unwrap_or("") == t.value.as_deref().unwrap_or("")
            && a.effect == t.effect
    };
    match tols.iter_mut().find(|a| same(a)) {
        Some(existing) => *existing = t,
        None => tols.push(t),
    }
}

/// Upstream `AddOrUpdateDaemonPodTolerations`: daemon pods survive not-ready/unreachable
/// NoExecute taints forever (no tolerationSeconds) and ignore the node-condition NoSchedule
/// taints; host-network pods also ignore network-unavailable.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    add_or_update_toleration(spec, toleration(TAINT_NOT_READY, "NoExecute"));
    add_or_update_toleration(spec, toleration(TAINT_UNREACHABLE, "NoExecute"));
    add_or_update_toleration(spec, toleration(TAINT_DISK_PRESSURE, "NoSchedule"));
    add_or_update_toleration(spec, toleration(TAINT_MEMORY_PRESSURE, "NoSchedule"));
    add_or_update_toleration(spec, toleration(TAINT_PID_PRESSURE, "NoSchedule"));
    add_or_update_toleration(spec, toleration(TAINT_UNSCHEDULABLE, "NoSchedule"));
    if spec.host_network == Some(true) {
        add_or_update_toleration(spec, toleration(TAINT_NETWORK_UNAVAILABLE, "NoSchedule"));
    }
}

/// One nodeSelectorRequirement against a node's labels (upstream `nodeaffinity` with
/// `labels.Selector` semantics: In, NotIn, Exists, DoesNotExist, Gt, Lt).
fn label_requirement_matches(
    r: &NodeSelectorRequirement,
    labels: &BTreeMap<String, String>,
) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let v = labels.get(&r.key);
    match r.operator.as_str() {
        "In" => v.is_some_and(|v| values.contains(v)),
        "NotIn" => !v.is_some_and(|v| values.contains(v)),
        "Exists" => v.is_some(),
        "DoesNotExist" => v.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), [bound]) = (v, values) else {
                return false;
            };
            match (v.parse::<i64>(), bound.parse::<i64>()) {
                (Ok(v), Ok(b)) if r.operator == "Gt" => v > b,
                (Ok(v), Ok(b)) => v < b,
                _ => false,
            }
        }
        _ => false,
    }
}

/// matchFields support `metadata.name` with In / NotIn only (upstream validation).
fn field_requirement_matches(r: &NodeSelectorRequirement, node_name: &str) -> bool {
    if r.key != "metadata.name" {
        return false;
    }
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" => values.iter().any(|v| v == node_name),
        "NotIn" => !values.iter().any(|v| v == node_name),
        _ => false,
    }
}

/// Upstream `nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)`: the nodeSelector map
/// and the required node affinity terms (ORed; an empty term matches nothing).
pub fn required_affinity_matches(spec: &PodSpec, node: &Node) -> bool {
    let empty = BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    if let Some(sel) = &spec.node_selector {
        if !sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return false;
        }
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let Some(required) = required else {
        return true;
    };
    let name = node.metadata.name.as_deref().unwrap_or_default();
    required.node_selector_terms.iter().any(|term| {
        let exprs = term.match_expressions.as_deref().unwrap_or_default();
        let fields = term.match_fields.as_deref().unwrap_or_default();
        (!exprs.is_empty() || !fields.is_empty())
            && exprs.iter().all(|r| label_requirement_matches(r, labels))
            && fields.iter().all(|r| field_requirement_matches(r, name))
    })
}

/// The pod spec a DaemonSet would run on `node` before pinning (upstream `NewPod`): the
/// template with the daemon tolerations and `nodeName`.
fn would_run_spec(ds: &DaemonSet, node_name: &str) -> PodSpec {
    let mut spec = template_of(ds).spec.clone().unwrap_or_default();
    spec.node_name = Some(node_name.to_string());
    add_daemon_tolerations(&mut spec);
    spec
}

/// Upstream `NodeShouldRunDaemonPod`: `(should_run, should_continue_running)`. A node whose
/// NoSchedule taint is not tolerated keeps running pods that tolerate its NoExecute taints.
pub fn node_should_run_daemon_pod(node: &Node, ds: &DaemonSet) -> (bool, bool) {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    let template_node = template_of(ds)
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("");
    if !template_node.is_empty() && template_node != name {
        return (false, false);
    }
    let spec = would_run_spec(ds, name);
    if !required_affinity_matches(&spec, node) {
        return (false, false);
    }
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default();
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let fits_taints = !has_untolerated_taint(taints, tolerations, |t| {
        t.effect == "NoExecute" || t.effect == "NoSchedule"
    });
    if !fits_taints {
        let untolerated_no_execute =
            has_untolerated_taint(taints, tolerations, |t| t.effect == "NoExecute");
        return (false, !untolerated_no_execute);
    }
    (true, true)
}

/// Upstream `ReplaceDaemonSetPodNodeNameNodeAffinity`: the required node affinity becomes a
/// single term `metadata.name In [node]` (the other terms were already checked against the
/// node); preferred terms stay.
pub fn pin_to_node(affinity: Option<Affinity>, node_name: &str) -> Affinity {
    let term = NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node_name.to_string()]),
        }]),
        match_expressions: None,
    };
    let mut affinity = affinity.unwrap_or_default();
    let na = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    na.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![term],
    });
    affinity
}

/// Upstream `GetTargetNodeName`: `spec.nodeName`, or the node the pinning affinity names.
pub fn target_node_name(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n.to_string());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.as_deref()?.iter().find_map(|r| {
            let v = r.values.as_deref()?;
            (r.key == "metadata.name" && r.operator == "In" && v.len() == 1).then(|| v[0].clone())
        })
    })
}

fn template_of(ds: &DaemonSet) -> &k8s_openapi::api::core::v1::PodTemplateSpec {
    static EMPTY: std::sync::OnceLock<k8s_openapi::api::core::v1::PodTemplateSpec> =
        std::sync::OnceLock::new();
    ds.spec
        .as_ref()
        .map(|s| &s.template)
        .unwrap_or_else(|| EMPTY.get_or_init(Default::default))
}

/// The DaemonSet's template generation (upstream `GetTemplateGeneration`).
pub fn template_generation(ds: &DaemonSet) -> Option<i64> {
    ds.metadata
        .annotations
        .as_ref()?
        .get(TEMPLATE_GENERATION_ANNOTATION)?
        .parse()
        .ok()
}

/// Upstream `IsPodUpdated`: the pod carries the current hash or template generation.
pub fn pod_is_updated(pod: &Pod, hash: &str, generation: Option<i64>) -> bool {
    let label = |k: &str| pod.metadata.labels.as_ref().and_then(|l| l.get(k)).cloned();
    let template_matches =
        generation.is_some_and(|g| label(TEMPLATE_GENERATION_LABEL) == Some(g.to_string()));
    let hash_matches = !hash.is_empty() && label(POD_REVISION_LABEL).as_deref() == Some(hash);
    hash_matches || template_matches
}

/// Upstream `CreatePodTemplate` + pinning: the pod a DaemonSet creates for `node`.
pub fn new_daemon_pod(ds: &DaemonSet, hash: &str, node_name: &str) -> Pod {
    let template = template_of(ds).clone();
    let tmeta = template.metadata.unwrap_or_default();
    let mut spec = template.spec.unwrap_or_default();
    add_daemon_tolerations(&mut spec);
    spec.affinity = Some(pin_to_node(spec.affinity.take(), node_name));
    let mut labels = tmeta.labels.unwrap_or_default();
    if let Some(g) = template_generation(ds) {
        labels.insert(TEMPLATE_GENERATION_LABEL.into(), g.to_string());
    }
    if !hash.is_empty() {
        labels.insert(POD_REVISION_LABEL.into(), hash.into());
    }
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!(
                "{}-",
                ds.metadata.name.as_deref().unwrap_or_default()
            )),
            namespace: ds.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![controller_ref("DaemonSet", &ds.metadata)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// Upstream `podByCreationTimestampAndPhase`: running before others, then oldest first.
fn by_creation_and_phase(a: &Arc<Pod>, b: &Arc<Pod>) -> Ordering {
    let running = |p: &Pod| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    running(b)
        .cmp(&running(a))
        .then_with(|| created(a).cmp(&created(b)))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn pod_name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

fn min_ready(ds: &DaemonSet) -> i32 {
    ds.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

fn strategy(ds: &DaemonSet) -> (&str, Option<IntOrString>, Option<IntOrString>) {
    let us = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
    let t = us
        .and_then(|u| u.type_.as_deref())
        .unwrap_or("RollingUpdate");
    let ru = us.and_then(|u| u.rolling_update.as_ref());
    (
        t,
        ru.and_then(|r| r.max_surge.clone()),
        ru.and_then(|r| r.max_unavailable.clone()),
    )
}

/// Upstream `updatedDesiredNodeCounts`: (maxSurge, maxUnavailable) for `desired` nodes;
/// an impossible 0/0 falls back to maxUnavailable 1.
pub fn surge_and_unavailable(ds: &DaemonSet, desired: i32) -> (i32, i32) {
    let (_, surge, unavailable) = strategy(ds);
    let surge = surge.map_or(0, |v| scaled_value(&v, desired, true));
    let mut unavailable = unavailable.map_or(1, |v| scaled_value(&v, desired, true));
    if desired > 0 && surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// (the pod at the current hash, the pod at an older one) on a node.
type NewAndOld<'a> = (Option<&'a Arc<Pod>>, Option<&'a Arc<Pod>>);

/// Upstream `findUpdatedPodsOnNode`: at most one new and one old live pod, else `None`.
fn updated_pods_on_node<'a>(
    pods: &'a [Arc<Pod>],
    hash: &str,
    generation: Option<i64>,
) -> Option<NewAndOld<'a>> {
    let (mut new, mut old) = (None, None);
    for p in pods {
        if p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let slot = if pod_is_updated(p, hash, generation) {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(p);
    }
    Some((new, old))
}

/// The pods to delete and nodes to create on for a RollingUpdate step (upstream
/// `rollingUpdate`), given the pods per node and the nodes that should run a pod.
pub fn rolling_update_plan(
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    node_pods: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    now: Timestamp,
) -> (Vec<String>, Vec<String>) {
    let generation = template_generation(ds);
    let min_ready = min_ready(ds);
    let mut node_pods = node_pods.clone();
    let mut should_run: HashMap<String, bool> = HashMap::new();
    let mut desired = 0;
    for n in nodes {
        let name = n.metadata.name.clone().unwrap_or_default();
        let (run, _) = node_should_run_daemon_pod(n, ds);
        should_run.insert(name.clone(), run);
        if run {
            desired += 1;
            node_pods.entry(name).or_default();
        }
    }
    let (max_surge, max_unavailable) = surge_and_unavailable(ds, desired);
    let available = |p: &Pod| pod_is_available(p, min_ready, now);

    if max_surge == 0 {
        let mut unavailable = 0;
        let mut replace = Vec::new();
        let mut candidates = Vec::new();
        for pods in node_pods.values() {
            let Some((new, old)) = updated_pods_on_node(pods, hash, generation) else {
                unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(new), None) => {
                    if !available(new) {
                        unavailable += 1;
                    }
                }
                (None, Some(old)) => {
                    if !available(old) {
                        replace.push(pod_name(old));
                    } else if unavailable < max_unavailable {
                        candidates.push(pod_name(old));
                    }
                }
            }
        }
        let remaining = (max_unavailable - unavailable).max(0) as usize;
        replace.extend(candidates.into_iter().take(remaining));
        return (replace, Vec::new());
    }

    let mut delete = Vec::new();
    let mut should_not_run = Vec::new();
    let mut candidate_nodes = Vec::new();
    let mut allowed_nodes = Vec::new();
    let mut surge = 0;
    let mut num_available = 0;
    for (node, pods) in &node_pods {
        let Some((new, old)) = updated_pods_on_node(pods, hash, generation) else {
            surge += 1;
            continue;
        };
        match (old, new) {
            (Some(old), _) if available(old) => num_available += 1,
            (None, Some(new)) if available(new) => num_available += 1,
            _ => {}
        }
        if !should_run.get(node).copied().unwrap_or(false) {
            should_not_run.extend(old.map(|p| pod_name(p)));
            should_not_run.extend(new.map(|p| pod_name(p)));
            continue;
        }
        match (old, new) {
            (None, _) => {}
            (Some(old), None) => {
                if !available(old) {
                    allowed_nodes.push(node.clone());
                } else if surge < max_surge {
                    candidate_nodes.push(node.clone());
                }
            }
            (Some(old), Some(new)) => {
                if !available(new) {
                    surge += 1;
                    continue;
                }
                delete.push(pod_name(old));
            }
        }
    }
    // With surge the owner expects full availability: pods on nodes that should no longer
    // run one go only once enough pods elsewhere are available.
    let deletable = (num_available - desired).max(0) as usize;
    delete.extend(should_not_run.into_iter().take(deletable));
    let remaining = (max_surge - surge).max(0) as usize;
    allowed_nodes.extend(candidate_nodes.into_iter().take(remaining));
    (delete, allowed_nodes)
}

/// Upstream status computation of `updateDaemonSetStatus` (counts only).
pub fn calculate_status(
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    node_pods: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    now: Timestamp,
) -> DaemonSetStatus {
    let generation = template_generation(ds);
    let min_ready = min_ready(ds);
    let mut st = ds.status.clone().unwrap_or_default();
    let (mut desired, mut current, mut mis, mut ready, mut updated, mut available) =
        (0, 0, 0, 0, 0, 0);
    for n in nodes {
        let name = n.metadata.name.as_deref().unwrap_or_default();
        let (run, _) = node_should_run_daemon_pod(n, ds);
        let pods = node_pods.get(name).filter(|p| !p.is_empty());
        if run {
            desired += 1;
            let Some(pods) = pods else { continue };
            current += 1;
            let mut pods = pods.clone();
            pods.sort_by(by_creation_and_phase);
            let pod = &pods[0];
            if pod_is_ready(pod) {
                ready += 1;
                if pod_is_available(pod, min_ready, now) {
                    available += 1;
                }
            }
            if pod_is_updated(pod, hash, generation) {
                updated += 1;
            }
        } else if pods.is_some() {
            mis += 1;
        }
    }
    st.desired_number_scheduled = desired;
    st.current_number_scheduled = current;
    st.number_misscheduled = mis;
    st.number_ready = ready;
    st.updated_number_scheduled = Some(updated);
    st.number_available = Some(available);
    st.number_unavailable = Some(desired - available);
    st
}

// ---------------------------------------------------------------- controller

/// Per-node failed-pod backoff (upstream `flowcontrol.Backoff` keyed `<ds uid>/<node>`).
#[derive(Default)]
struct FailedBackoff {
    entries: HashMap<String, (Instant, Duration)>,
}

impl FailedBackoff {
    /// The remaining delay if `key` is still backing off since its last failure.
    fn in_backoff(&self, key: &str, now: Instant) -> Option<Duration> {
        let (at, d) = self.entries.get(key)?;
        let elapsed = now.duration_since(*at);
        (elapsed < *d).then(|| *d - elapsed)
    }

    fn next(&mut self, key: &str, now: Instant) {
        let e = self
            .entries
            .entry(key.to_string())
            .or_insert((now, Duration::ZERO));
        // An entry idle for twice the maximum starts over, as upstream's `hasExpired`.
        e.1 = if e.1.is_zero() || now.duration_since(e.0) > 2 * FAILED_BACKOFF_MAX {
            FAILED_BACKOFF_INITIAL
        } else {
            (e.1 * 2).min(FAILED_BACKOFF_MAX)
        };
        e.0 = now;
    }
}

/// The controller state shared by its workers and event handlers.
#[derive(Clone)]
pub struct DaemonSetController {
    client: kube::Client,
    ds_store: Store<DaemonSet>,
    pod_store: Store<Pod>,
    node_store: Store<Node>,
    rev_store: Store<ControllerRevision>,
    expectations: Expectations,
    events: EventSink,
    failed: Arc<Mutex<FailedBackoff>>,
}

fn resolve_ds(store: &Store<DaemonSet>, meta: &ObjectMeta) -> Option<Arc<DaemonSet>> {
    let r = controller_of(meta)?;
    if r.kind != "DaemonSet" || !r.api_version.starts_with("apps/") {
        return None;
    }
    let ds = store.get(&ObjectRef::new(&r.name).within(meta.namespace.as_deref()?))?;
    (ds.metadata.uid.as_deref() == Some(r.uid.as_str())).then_some(ds)
}

fn selector_matches(sel: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    let empty = BTreeMap::new();
    parse_selector(sel).is_some_and(|s| !s.is_empty() && s.matches(labels.unwrap_or(&empty)))
}

/// Starts the informers and `--concurrent-daemonset-syncs` (upstream default 2) workers.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("daemonset");
    let expectations = Expectations::new();
    let q = queue.clone();
    let ds_informer = ctx.informers.subscribe::<DaemonSet>(move |n| {
        let obj = n.object();
        q.add(key_of(obj.as_ref()));
    });
    let ds_store = ds_informer.store.clone();

    let (q, store, exp) = (queue.clone(), ds_store.clone(), expectations.clone());
    let pod_informer = ctx.informers.subscribe::<Pod>(move |n| {
        let deleted = |pod: &Pod| {
            if let Some(ds) = resolve_ds(&store, &pod.metadata) {
                let key = key_of(ds.as_ref());
                exp.deletion_observed(&key, pod.metadata.uid.as_deref().unwrap_or_default());
                q.add(key);
            }
        };
        let orphan = |pod: &Pod| {
            let ns = pod.metadata.namespace.as_deref();
            for ds in store.state_filter(|d| {
                d.metadata.namespace.as_deref() == ns
                    && d.spec.as_ref().is_some_and(|s| {
                        selector_matches(&s.selector, pod.metadata.labels.as_ref())
                    })
            }) {
                q.add(key_of(ds.as_ref()));
            }
        };
        match n {
            Notification::Added(pod) => {
                if pod.metadata.deletion_timestamp.is_some() {
                    deleted(&pod);
                } else if let Some(ds) = resolve_ds(&store, &pod.metadata) {
                    let key = key_of(ds.as_ref());
                    exp.creation_observed(&key);
                    q.add(key);
                } else if controller_of(&pod.metadata).is_none() {
                    orphan(&pod);
                }
            }
            Notification::Updated { old, new } => {
                if old.metadata.resource_version == new.metadata.resource_version {
                    return;
                }
                if new.metadata.deletion_timestamp.is_some() {
                    deleted(&new);
                    return;
                }
                if controller_of(&old.metadata) != controller_of(&new.metadata) {
                    if let Some(ds) = resolve_ds(&store, &old.metadata) {
                        q.add(key_of(ds.as_ref()));
                    }
                }
                if let Some(ds) = resolve_ds(&store, &new.metadata) {
                    let key = key_of(ds.as_ref());
                    let secs = ds
                        .spec
                        .as_ref()
                        .and_then(|s| s.min_ready_seconds)
                        .unwrap_or(0);
                    if secs > 0 && !pod_is_ready(&old) && pod_is_ready(&new) {
                        q.add_after(key.clone(), Duration::from_secs(secs as u64 + 1));
                    }
                    q.add(key);
                } else if controller_of(&new.metadata).is_none() {
                    orphan(&new);
                }
            }
            Notification::Deleted(pod) => deleted(&pod),
        }
    });

    // Node changes re-evaluate every DaemonSet whose predicates answer differently
    // (upstream `addNode`, `updateNode` with `shouldIgnoreNodeUpdate`, `deleteNode`).
    let (q, store) = (queue.clone(), ds_store.clone());
    let node_informer = ctx.informers.subscribe::<Node>(move |n| {
        let all = store.state();
        match n {
            Notification::Added(_) | Notification::Deleted(_) => {
                for ds in all {
                    q.add(key_of(ds.as_ref()));
                }
            }
            Notification::Updated { old, new } => {
                for ds in all {
                    if node_should_run_daemon_pod(&old, &ds)
                        != node_should_run_daemon_pod(&new, &ds)
                    {
                        q.add(key_of(ds.as_ref()));
                    }
                }
            }
        }
    });

    let (q, store) = (queue.clone(), ds_store.clone());
    let rev_informer = ctx.informers.subscribe::<ControllerRevision>(move |n| {
        let obj = n.object();
        if let Some(ds) = resolve_ds(&store, &obj.metadata) {
            q.add(key_of(ds.as_ref()));
        }
    });

    ds_informer.synced().await;
    pod_informer.synced().await;
    node_informer.synced().await;
    rev_informer.synced().await;
    let c = DaemonSetController {
        client: ctx.client.clone(),
        ds_store,
        pod_store: pod_informer.store.clone(),
        node_store: node_informer.store.clone(),
        rev_store: rev_informer.store.clone(),
        expectations,
        events: EventSink::new(ctx.client.clone(), NAME),
        failed: Arc::default(),
    };
    run_workers(
        NAME,
        queue,
        ctx.options.concurrent_daemonset_syncs,
        move |key| {
            let c = c.clone();
            async move { c.sync(&key).await }
        },
    )
    .await;
    drop((ds_informer, pod_informer, node_informer, rev_informer));
    Ok(())
}

impl DaemonSetController {
    async fn sync(&self, key: &str) -> Result<Requeue, DaemonSetError> {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let Some(ds) = self.ds_store.get(&ObjectRef::new(name).within(ns)) else {
            self.expectations.delete(key);
            return Ok(Requeue::No);
        };
        let selector = ds.spec.as_ref().map(|s| &s.selector);
        if selector.is_none_or(|s| s == &LabelSelector::default()) {
            self.events.warning(
                ds.as_ref(),
                "SelectingAll",
                "This daemon set is selecting all pods. A non-empty selector is required.".into(),
            );
            return Ok(Requeue::No);
        }
        // Upstream leaves a terminating DaemonSet's pods to the garbage collector.
        if ds.metadata.deletion_timestamp.is_some() {
            return Ok(Requeue::No);
        }
        let mut nodes = self.node_store.state();
        nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let (cur, old) = self.construct_history(&ds).await?;
        let hash = cur
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(POD_REVISION_LABEL))
            .cloned()
            .unwrap_or_default();
        if !self.expectations.satisfied(key) {
            // Status only; observedGeneration is not raised for a generation not processed.
            return self.update_status(&ds, &nodes, &hash, false).await;
        }
        let mut requeue = Requeue::No;
        let result = async {
            let node_pods = self.node_to_daemon_pods(&ds, false).await?;
            requeue = self.manage(&ds, &nodes, &node_pods, &hash).await?;
            if self.expectations.satisfied(key) && strategy(&ds).0 == "RollingUpdate" {
                let (delete, create) =
                    rolling_update_plan(&ds, &nodes, &node_pods, &hash, Timestamp::now());
                self.sync_nodes(&ds, &node_pods, delete, create, &hash)
                    .await?;
            }
            self.cleanup_history(&ds, &node_pods, &cur, &old).await
        }
        .await;
        let status = self.update_status(&ds, &nodes, &hash, true).await;
        result?;
        let status = status?;
        Ok(match (requeue, status) {
            (Requeue::After(a), Requeue::After(b)) => Requeue::After(a.min(b)),
            (Requeue::After(a), _) | (_, Requeue::After(a)) => Requeue::After(a),
            _ => Requeue::No,
        })
    }

    /// The DaemonSet's claimed pods by target node (upstream `getNodesToDaemonPods`);
    /// without `include_deleted_terminal`, terminal pods being deleted are left out.
    async fn node_to_daemon_pods(
        &self,
        ds: &DaemonSet,
        include_deleted_terminal: bool,
    ) -> Result<BTreeMap<String, Vec<Arc<Pod>>>, DaemonSetError> {
        let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
        let pods = self
            .pod_store
            .state_filter(|p| p.metadata.namespace.as_deref() == Some(ns));
        let Some(selector) = ds.spec.as_ref().and_then(|s| parse_selector(&s.selector)) else {
            return Ok(BTreeMap::new());
        };
        let client = self.client.clone();
        let name = ds.metadata.name.clone().unwrap_or_default();
        let uid = ds.metadata.uid.clone();
        let claimed = claim_pods(
            &self.client,
            &ds.metadata,
            &controller_ref("DaemonSet", &ds.metadata),
            &selector,
            pods,
            || async move {
                let fresh = Api::<DaemonSet>::namespaced(client, ns)
                    .get_opt(&name)
                    .await?;
                Ok(fresh.is_some_and(|f| {
                    f.metadata.uid == uid && f.metadata.deletion_timestamp.is_none()
                }))
            },
        )
        .await?;
        let mut out: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
        for p in claimed {
            let terminal = matches!(phase(&p), "Failed" | "Succeeded");
            if !include_deleted_terminal && terminal && p.metadata.deletion_timestamp.is_some() {
                continue;
            }
            if let Some(node) = target_node_name(&p) {
                out.entry(node).or_default().push(p);
            }
        }
        Ok(out)
    }

    /// Upstream `manage` + `podsShouldBeOnNode`.
    async fn manage(
        &self,
        ds: &DaemonSet,
        nodes: &[Arc<Node>],
        node_pods: &BTreeMap<String, Vec<Arc<Pod>>>,
        hash: &str,
    ) -> Result<Requeue, DaemonSetError> {
        let mut need = Vec::new();
        let mut delete = Vec::new();
        let mut requeue = Requeue::No;
        let surge = strategy(ds)
            .1
            .is_some_and(|s| scaled_value(&s, 1, true) > 0)
            && strategy(ds).0 == "RollingUpdate";
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let now = Instant::now();
        for node in nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let (run, keep) = node_should_run_daemon_pod(node, ds);
            let pods = node_pods.get(&name);
            let exists = pods.is_some_and(|p| !p.is_empty());
            if run && !exists {
                need.push(name);
            } else if keep {
                let Some(pods) = pods else { continue };
                let mut running = Vec::new();
                for p in pods {
                    if p.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    match phase(p) {
                        "Failed" => {
                            // Upstream avoids hot-looping against a kubelet that rejects the
                            // pod: one delete per backoff period per node.
                            let bkey = format!("{uid}/{name}");
                            let mut failed = self.failed.lock();
                            if let Some(d) = failed.in_backoff(&bkey, now) {
                                requeue = Requeue::After(d);
                                continue;
                            }
                            failed.next(&bkey, now);
                            drop(failed);
                            let ns = p.metadata.namespace.as_deref().unwrap_or_default();
                            self.events.warning(
                                ds,
                                "FailedDaemonPod",
                                format!(
                                    "Found failed daemon pod {ns}/{} on node {name}, will try to kill it",
                                    pod_name(p)
                                ),
                            );
                            delete.push(pod_name(p));
                        }
                        "Succeeded" => delete.push(pod_name(p)),
                        _ => running.push(p.clone()),
                    }
                }
                running.sort_by(by_creation_and_phase);
                if !surge {
                    // Without surge one pod per node: keep the oldest.
                    delete.extend(running.iter().skip(1).map(|p| pod_name(p)));
                    continue;
                }
                if running.len() <= 1 {
                    continue;
                }
                // With surge two pods may share a node only while the new one is not yet
                // available and the old one is ready.
                let generation = template_generation(ds);
                let (mut oldest_new, mut oldest_old) = (None, None);
                for p in &running {
                    let slot = if pod_is_updated(p, hash, generation) {
                        &mut oldest_new
                    } else {
                        &mut oldest_old
                    };
                    if slot.is_none() {
                        *slot = Some(p.clone());
                    } else {
                        delete.push(pod_name(p));
                    }
                }
                if let (Some(new), Some(old)) = (oldest_new, oldest_old) {
                    if !pod_is_ready(&old)
                        || pod_is_available(&new, min_ready(ds), Timestamp::now())
                    {
                        delete.push(pod_name(&old));
                    }
                }
            } else if exists {
                for p in pods.into_iter().flatten() {
                    if p.metadata.deletion_timestamp.is_none() {
                        delete.push(pod_name(p));
                    }
                }
            }
        }
        // Pods pinned to nodes that no longer exist and never scheduled (upstream
        // `getUnscheduledPodsWithoutNode`).
        let known: HashSet<&str> = nodes
            .iter()
            .filter_map(|n| n.metadata.name.as_deref())
            .collect();
        for (node, pods) in node_pods {
            if known.contains(node.as_str()) {
                continue;
            }
            for p in pods {
                let unscheduled = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .is_none_or(str::is_empty);
                if unscheduled && p.metadata.deletion_timestamp.is_none() {
                    delete.push(pod_name(p));
                }
            }
        }
        self.sync_nodes(ds, node_pods, delete, need, hash).await?;
        Ok(requeue)
    }

    /// Upstream `syncNodes`: creates pods for `create` nodes in slow-start batches and
    /// deletes the named pods, both bounded by the burst size, under expectations.
    async fn sync_nodes(
        &self,
        ds: &DaemonSet,
        node_pods: &BTreeMap<String, Vec<Arc<Pod>>>,
        mut delete: Vec<String>,
        mut create: Vec<String>,
        hash: &str,
    ) -> Result<(), DaemonSetError> {
        if delete.is_empty() && create.is_empty() {
            return Ok(());
        }
        delete.sort();
        delete.dedup();
        create.truncate(BURST_REPLICAS);
        delete.truncate(BURST_REPLICAS);
        let key = key_of(ds);
        let by_name: HashMap<String, &Arc<Pod>> = node_pods
            .values()
            .flatten()
            .map(|p| (pod_name(p), p))
            .collect();
        let victims: Vec<&Arc<Pod>> = delete
            .iter()
            .filter_map(|n| by_name.get(n).copied())
            .collect();
        self.expectations.expect(
            &key,
            create.len(),
            victims
                .iter()
                .map(|p| p.metadata.uid.clone().unwrap_or_default()),
        );
        let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let mut errors = Vec::new();

        let mut pos = 0;
        let mut batch = create.len().min(1);
        let mut skipped = 0;
        while batch > 0 {
            let results = futures::future::join_all(create[pos..pos + batch].iter().map(|node| {
                let pod = new_daemon_pod(ds, hash, node);
                let api = api.clone();
                async move { api.create(&PostParams::default(), &pod).await }
            }))
            .await;
            let mut failed = false;
            for r in results {
                match r {
                    Ok(p) => self.events.normal(
                        ds,
                        "SuccessfulCreate",
                        format!("Created pod: {}", pod_name(&p)),
                    ),
                    Err(e) => {
                        self.expectations.creation_observed(&key);
                        if is_namespace_terminating(&e) {
                            continue;
                        }
                        self.events
                            .warning(ds, "FailedCreate", format!("Error creating: {e}"));
                        errors.push(e.to_string());
                        failed = true;
                    }
                }
            }
            pos += batch;
            if failed {
                skipped = create.len() - pos;
                break;
            }
            batch = (2 * batch).min(create.len() - pos);
        }
        if skipped > 0 {
            self.expectations.lower_creations(&key, skipped);
        }

        let results = futures::future::join_all(victims.iter().map(|p| {
            let api = api.clone();
            async move { (p, api.delete(&pod_name(p), &DeleteParams::default()).await) }
        }))
        .await;
        for (p, r) in results {
            match r {
                Ok(_) => self.events.normal(
                    ds,
                    "SuccessfulDelete",
                    format!("Deleted pod: {}", pod_name(p)),
                ),
                Err(e) => {
                    self.expectations
                        .deletion_observed(&key, p.metadata.uid.as_deref().unwrap_or_default());
                    if !is_not_found(&e) {
                        self.events
                            .warning(ds, "FailedDelete", format!("Error deleting: {e}"));
                        errors.push(e.to_string());
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DaemonSetError::Pods(errors.join("; ")))
        }
    }

    fn owned_revisions(&self, ds: &DaemonSet) -> Vec<Arc<ControllerRevision>> {
        let uid = ds.metadata.uid.as_deref();
        self.rev_store.state_filter(|r| {
            r.metadata.namespace == ds.metadata.namespace
                && controller_of(&r.metadata).is_some_and(|o| Some(o.uid.as_str()) == uid)
        })
    }

    /// Upstream `constructHistory` + `snapshot`: (current revision, old revisions).
    async fn construct_history(
        &self,
        ds: &DaemonSet,
    ) -> Result<(ControllerRevision, Vec<Arc<ControllerRevision>>), DaemonSetError> {
        let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), ns);
        let template = template_of(ds);
        let patch = history::template_patch(Some(template));
        let mut current = Vec::new();
        let mut old = Vec::new();
        for r in self.owned_revisions(ds) {
            if r.data.as_ref().map(|d| &d.0) == Some(&patch) {
                current.push(r);
            } else {
                old.push(r);
            }
        }
        let next = history::next_revision(&old);
        let cur = match history::newest(&current).cloned() {
            Some(cur) => {
                // Duplicates of the current revision (upstream `dedupCurHistories`) are
                // left for history cleanup once no pod uses them.
                let mut cur = (*cur).clone();
                if cur.revision < next {
                    cur.revision = next;
                    cur = api
                        .replace(
                            cur.metadata.name.as_deref().unwrap_or_default(),
                            &PostParams::default(),
                            &cur,
                        )
                        .await?;
                }
                for dup in current
                    .iter()
                    .filter(|r| r.metadata.name != cur.metadata.name)
                {
                    old.push(dup.clone());
                }
                cur
            }
            None => {
                let collision = ds.status.as_ref().and_then(|s| s.collision_count);
                let hash = compute_hash(Some(template), collision);
                let name = format!("{}-{hash}", ds.metadata.name.as_deref().unwrap_or_default());
                let mut labels = template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default();
                labels.insert(POD_REVISION_LABEL.into(), hash);
                let rev = ControllerRevision {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: ds.metadata.namespace.clone(),
                        labels: Some(labels),
                        annotations: ds.metadata.annotations.clone(),
                        owner_references: Some(vec![controller_ref("DaemonSet", &ds.metadata)]),
                        ..Default::default()
                    },
                    data: Some(k8s_openapi::apimachinery::pkg::runtime::RawExtension(
                        patch.clone(),
                    )),
                    revision: next,
                };
                match api.create(&PostParams::default(), &rev).await {
                    Ok(r) => r,
                    Err(kube::Error::Api(s)) if s.code == 409 => {
                        let existing = api.get(&name).await?;
                        if existing.data.as_ref().map(|d| &d.0) == Some(&patch) {
                            existing
                        } else {
                            // A different template hashed to this name: bump the collision
                            // count (if ours is current) and retry with a new hash.
                            let dss: Api<DaemonSet> = Api::namespaced(self.client.clone(), ns);
                            let mut fresh = dss
                                .get(ds.metadata.name.as_deref().unwrap_or_default())
                                .await?;
                            let fresh_count = fresh.status.as_ref().and_then(|s| s.collision_count);
                            if fresh_count != collision {
                                return Err(DaemonSetError::StaleCollisionCount(key_of(ds)));
                            }
                            let st = fresh.status.get_or_insert_with(Default::default);
                            st.collision_count = Some(collision.unwrap_or(0) + 1);
                            dss.replace_status(
                                fresh.metadata.name.clone().unwrap_or_default().as_str(),
                                &PostParams::default(),
                                &fresh,
                            )
                            .await?;
                            return Err(DaemonSetError::Api(kube::Error::Api(s)));
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        Ok((cur, old))
    }

    /// Upstream `cleanupHistory`: old revisions no pod uses, oldest first, beyond the limit.
    async fn cleanup_history(
        &self,
        ds: &DaemonSet,
        node_pods: &BTreeMap<String, Vec<Arc<Pod>>>,
        cur: &ControllerRevision,
        old: &[Arc<ControllerRevision>],
    ) -> Result<(), DaemonSetError> {
        let limit = ds
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .unwrap_or(10);
        let live_hashes: HashSet<String> = node_pods
            .values()
            .flatten()
            .filter_map(|p| p.metadata.labels.as_ref()?.get(POD_REVISION_LABEL).cloned())
            .collect();
        let mut live: HashSet<String> = old
            .iter()
            .filter(|r| {
                r.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(POD_REVISION_LABEL))
                    .is_some_and(|h| live_hashes.contains(h))
            })
            .filter_map(|r| r.metadata.name.clone())
            .collect();
        live.extend(cur.metadata.name.clone());
        let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), ns);
        for r in history::revisions_to_prune(old, &live, limit) {
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
        Ok(())
    }

    /// Upstream `updateDaemonSetStatus` / `storeDaemonSetStatus`.
    async fn update_status(
        &self,
        ds: &DaemonSet,
        nodes: &[Arc<Node>],
        hash: &str,
        observed: bool,
    ) -> Result<Requeue, DaemonSetError> {
        let node_pods = self.node_to_daemon_pods(ds, true).await?;
        let mut st = calculate_status(ds, nodes, &node_pods, hash, Timestamp::now());
        if observed {
            st.observed_generation = ds.metadata.generation;
        }
        let current = ds.status.clone().unwrap_or_default();
        if st != current {
            let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
            let api: Api<DaemonSet> = Api::namespaced(self.client.clone(), ns);
            let mut next = ds.clone();
            next.status = Some(st.clone());
            api.replace_status(
                ds.metadata.name.as_deref().unwrap_or_default(),
                &PostParams::default(),
                &next,
            )
            .await?;
        }
        let min_ready = min_ready(ds);
        if min_ready > 0 && st.number_ready != st.number_available.unwrap_or(0) {
            // Upstream re-checks after minReadySeconds as a guard against clock skew.
            return Ok(Requeue::After(Duration::from_secs(min_ready as u64)));
        }
        Ok(Requeue::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints}
        }))
        .unwrap()
    }

    fn ds(spec_extra: serde_json::Value) -> DaemonSet {
        let mut pod_spec = json!({"containers": [{"name": "c", "image": "pause"}]});
        if let (Some(p), Some(e)) = (pod_spec.as_object_mut(), spec_extra.as_object()) {
            for (k, v) in e {
                p.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(json!({
            "metadata": {"name": "ds", "namespace": "ns", "uid": "ds-uid",
                         "annotations": {TEMPLATE_GENERATION_ANNOTATION: "3"}},
            "spec": {
                "selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "d"}}, "spec": pod_spec}
            }
        }))
        .unwrap()
    }

    #[test]
    fn toleration_matching_table() {
        let taint = |k: &str, v: &str, e: &str| Taint {
            key: k.into(),
            value: (!v.is_empty()).then(|| v.into()),
            effect: e.into(),
            time_added: None,
        };
        let tol = |k: &str, op: &str, v: &str, e: &str| Toleration {
            key: (!k.is_empty()).then(|| k.into()),
            operator: (!op.is_empty()).then(|| op.into()),
            value: (!v.is_empty()).then(|| v.into()),
            effect: (!e.is_empty()).then(|| e.into()),
            toleration_seconds: None,
        };
        let cases = [
            (
                "equal same value",
                tol("k", "Equal", "v", "NoSchedule"),
                taint("k", "v", "NoSchedule"),
                true,
            ),
            (
                "default operator is Equal",
                tol("k", "", "v", ""),
                taint("k", "v", "NoExecute"),
                true,
            ),
            (
                "different value",
                tol("k", "Equal", "w", ""),
                taint("k", "v", "NoSchedule"),
                false,
            ),
            (
                "exists any value",
                tol("k", "Exists", "", ""),
                taint("k", "v", "NoSchedule"),
                true,
            ),
            (
                "empty key exists tolerates all",
                tol("", "Exists", "", ""),
                taint("x", "", "NoExecute"),
                true,
            ),
            (
                "effect mismatch",
                tol("k", "Exists", "", "NoSchedule"),
                taint("k", "", "NoExecute"),
                false,
            ),
            (
                "key mismatch",
                tol("j", "Exists", "", ""),
                taint("k", "", "NoSchedule"),
                false,
            ),
        ];
        for (name, t, taint, want) in cases {
            assert_eq!(tolerates(&t, &taint), want, "{name}");
        }
    }

    #[test]
    fn daemon_tolerations_are_added_once() {
        let mut spec = PodSpec::default();
        add_daemon_tolerations(&mut spec);
        add_daemon_tolerations(&mut spec);
        let keys: Vec<(String, String)> = spec
            .tolerations
            .as_ref()
            .unwrap()
            .iter()
            .map(|t| (t.key.clone().unwrap(), t.effect.clone().unwrap()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (TAINT_NOT_READY.into(), "NoExecute".into()),
                (TAINT_UNREACHABLE.into(), "NoExecute".into()),
                (TAINT_DISK_PRESSURE.into(), "NoSchedule".into()),
                (TAINT_MEMORY_PRESSURE.into(), "NoSchedule".into()),
                (TAINT_PID_PRESSURE.into(), "NoSchedule".into()),
                (TAINT_UNSCHEDULABLE.into(), "NoSchedule".into()),
            ]
        );
        assert!(spec
            .tolerations
            .as_ref()
            .unwrap()
            .iter()
            .all(|t| t.toleration_seconds.is_none()));
        let mut host = PodSpec {
            host_network: Some(true),
            ..Default::default()
        };
        add_daemon_tolerations(&mut host);
        assert!(host
            .tolerations
            .unwrap()
            .iter()
            .any(|t| t.key.as_deref() == Some(TAINT_NETWORK_UNAVAILABLE)));
    }

    #[test]
    fn node_should_run_table() {
        let plain = ds(json!({}));
        let with_selector = ds(json!({"nodeSelector": {"role": "edge"}}));
        let with_affinity = ds(json!({"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["special"]}]}
        ]}}}}));
        let tolerating = ds(json!({"tolerations": [{"key": "dedicated", "operator": "Exists"}]}));
        let pinned = ds(json!({"nodeName": "n1"}));
        let no_taints = json!([]);
        let cases = [
            (
                "plain node",
                &plain,
                node("n1", json!({}), no_taints.clone()),
                (true, true),
            ),
            (
                "NoSchedule taint not tolerated",
                &plain,
                node(
                    "n1",
                    json!({}),
                    json!([{"key": "dedicated", "effect": "NoSchedule"}]),
                ),
                (false, true),
            ),
            (
                "NoExecute taint not tolerated",
                &plain,
                node(
                    "n1",
                    json!({}),
                    json!([{"key": "dedicated", "effect": "NoExecute"}]),
                ),
                (false, false),
            ),
            (
                "PreferNoSchedule ignored",
                &plain,
                node(
                    "n1",
                    json!({}),
                    json!([{"key": "dedicated", "effect": "PreferNoSchedule"}]),
                ),
                (true, true),
            ),
            (
                "taint tolerated",
                &tolerating,
                node(
                    "n1",
                    json!({}),
                    json!([{"key": "dedicated", "value": "x", "effect": "NoExecute"}]),
                ),
                (true, true),
            ),
            (
                "unschedulable taint auto-tolerated",
                &plain,
                node(
                    "n1",
                    json!({}),
                    json!([{"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"}]),
                ),
                (true, true),
            ),
            (
                "not-ready NoExecute auto-tolerated",
                &plain,
                node(
                    "n1",
                    json!({}),
                    json!([{"key": TAINT_NOT_READY, "effect": "NoExecute"}]),
                ),
                (true, true),
            ),
            (
                "network-unavailable only for hostNetwork",
                &plain,
                node(
                    "n1",
                    json!({}),
                    json!([{"key": TAINT_NETWORK_UNAVAILABLE, "effect": "NoSchedule"}]),
                ),
                (false, true),
            ),
            (
                "nodeSelector matches",
                &with_selector,
                node("n1", json!({"role": "edge"}), no_taints.clone()),
                (true, true),
            ),
            (
                "nodeSelector misses",
                &with_selector,
                node("n1", json!({"role": "core"}), no_taints.clone()),
                (false, false),
            ),
            (
                "affinity expression",
                &with_affinity,
                node("n1", json!({"zone": "b"}), no_taints.clone()),
                (true, true),
            ),
            (
                "affinity field term",
                &with_affinity,
                node("special", json!({}), no_taints.clone()),
                (true, true),
            ),
            (
                "affinity misses",
                &with_affinity,
                node("n1", json!({"zone": "c"}), no_taints.clone()),
                (false, false),
            ),
            (
                "template nodeName other node",
                &pinned,
                node("n2", json!({}), no_taints.clone()),
                (false, false),
            ),
            (
                "template nodeName this node",
                &pinned,
                node("n1", json!({}), no_taints.clone()),
                (true, true),
            ),
        ];
        for (name, d, n, want) in cases {
            assert_eq!(node_should_run_daemon_pod(&n, d), want, "{name}");
        }
    }

    #[test]
    fn new_pod_is_pinned_labelled_and_owned() {
        let d = ds(json!({"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchExpressions": [{"key": "ssd", "operator": "Exists"}]}}]
        }}}));
        let p = new_daemon_pod(&d, "abc", "n7");
        assert_eq!(p.metadata.generate_name.as_deref(), Some("ds-"));
        let labels = p.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[POD_REVISION_LABEL], "abc");
        assert_eq!(labels[TEMPLATE_GENERATION_LABEL], "3");
        assert_eq!(target_node_name(&p).as_deref(), Some("n7"));
        let na = p
            .spec
            .as_ref()
            .unwrap()
            .affinity
            .as_ref()
            .unwrap()
            .node_affinity
            .as_ref()
            .unwrap();
        let terms = &na
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap()
            .node_selector_terms;
        assert_eq!(terms.len(), 1);
        assert!(terms[0].match_expressions.is_none());
        assert_eq!(
            na.preferred_during_scheduling_ignored_during_execution
                .as_ref()
                .unwrap()
                .len(),
            1
        );
        assert!(
            p.spec.as_ref().unwrap().node_name.is_none(),
            "the scheduler binds"
        );
        assert_eq!(
            p.metadata.owner_references.as_ref().unwrap()[0].kind,
            "DaemonSet"
        );
        assert!(pod_is_updated(&p, "abc", None));
        assert!(pod_is_updated(&p, "zzz", Some(3)));
        assert!(!pod_is_updated(&p, "zzz", Some(4)));
    }

    fn pod(name: &str, node: &str, hash: &str, ready: bool) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "uid": name, "labels": {POD_REVISION_LABEL: hash},
                             "creationTimestamp": "2020-01-01T00:00:00Z"},
                "spec": {"nodeName": node, "containers": []},
                "status": {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": if ready {"True"} else {"False"},
                     "lastTransitionTime": "2020-01-01T00:00:00Z"}]}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn rolling_update_respects_max_unavailable_and_surge() {
        let nodes: Vec<Arc<Node>> = ["a", "b", "c"]
            .iter()
            .map(|n| Arc::new(node(n, json!({}), json!([]))))
            .collect();
        let now = Timestamp::from_second(2_000_000_000).unwrap();
        let mut node_pods = BTreeMap::new();
        for n in ["a", "b", "c"] {
            node_pods.insert(
                n.to_string(),
                vec![pod(&format!("old-{n}"), n, "old", true)],
            );
        }
        let mut d = ds(json!({}));
        d.metadata.annotations = None;
        // Default maxUnavailable 1: one old pod at a time.
        let (del, create) = rolling_update_plan(&d, &nodes, &node_pods, "new", now);
        assert_eq!((del.len(), create.len()), (1, 0));
        // While a new pod is unavailable, nothing else goes.
        node_pods.insert("a".into(), vec![pod("new-a", "a", "new", false)]);
        let (del, _) = rolling_update_plan(&d, &nodes, &node_pods, "new", now);
        assert!(del.is_empty());
        // An unavailable old pod is replaced regardless of the budget.
        node_pods.insert("b".into(), vec![pod("old-b", "b", "old", false)]);
        let (del, _) = rolling_update_plan(&d, &nodes, &node_pods, "new", now);
        assert_eq!(del, vec!["old-b".to_string()]);

        // maxSurge 1: create a new pod beside an available old one, then delete the old one
        // once the new one is available.
        let mut s = ds(json!({}));
        s.metadata.annotations = None;
        s.spec.as_mut().unwrap().update_strategy = Some(
            serde_json::from_value(json!({
                "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}
            }))
            .unwrap(),
        );
        let mut node_pods = BTreeMap::new();
        for n in ["a", "b", "c"] {
            node_pods.insert(
                n.to_string(),
                vec![pod(&format!("old-{n}"), n, "old", true)],
            );
        }
        let (del, create) = rolling_update_plan(&s, &nodes, &node_pods, "new", now);
        assert_eq!((del.len(), create.len()), (0, 1));
        node_pods.insert(
            "a".into(),
            vec![
                pod("old-a", "a", "old", true),
                pod("new-a", "a", "new", false),
            ],
        );
        let (del, create) = rolling_update_plan(&s, &nodes, &node_pods, "new", now);
        assert_eq!((del.len(), create.len()), (0, 0), "surge budget used");
        node_pods.insert(
            "a".into(),
            vec![
                pod("old-a", "a", "old", true),
                pod("new-a", "a", "new", true),
            ],
        );
        let (del, create) = rolling_update_plan(&s, &nodes, &node_pods, "new", now);
        assert_eq!(del, vec!["old-a".to_string()]);
        assert_eq!(create.len(), 1, "an available new pod frees its surge slot");
    }

    #[test]
    fn status_counts() {
        let nodes: Vec<Arc<Node>> = vec![
            Arc::new(node("a", json!({}), json!([]))),
            Arc::new(node("b", json!({}), json!([]))),
            Arc::new(node(
                "t",
                json!({}),
                json!([{"key": "x", "effect": "NoExecute"}]),
            )),
        ];
        let mut node_pods = BTreeMap::new();
        node_pods.insert("a".to_string(), vec![pod("pa", "a", "h1", true)]);
        node_pods.insert("t".to_string(), vec![pod("pt", "t", "h1", true)]);
        let mut d = ds(json!({}));
        d.metadata.annotations = None;
        let st = calculate_status(&d, &nodes, &node_pods, "h1", Timestamp::now());
        assert_eq!(st.desired_number_scheduled, 2);
        assert_eq!(st.current_number_scheduled, 1);
        assert_eq!(st.number_misscheduled, 1);
        assert_eq!(st.number_ready, 1);
        assert_eq!(st.updated_number_scheduled, Some(1));
        assert_eq!(st.number_available, Some(1));
        assert_eq!(st.number_unavailable, Some(1));
    }

    #[test]
    fn failed_backoff_doubles() {
        let mut b = FailedBackoff::default();
        let t0 = Instant::now();
        assert!(b.in_backoff("k", t0).is_none());
        b.next("k", t0);
        assert!(b.in_backoff("k", t0).is_some());
        assert!(b
            .in_backoff("k", t0 + Duration::from_millis(1100))
            .is_none());
        b.next("k", t0 + Duration::from_millis(1100));
        assert_eq!(b.entries["k"].1, Duration::from_secs(2));
    }
}
