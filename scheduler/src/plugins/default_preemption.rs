//! DefaultPreemption: when no node fits, finds a node where evicting lower-priority pods
//! would make room, deletes those victims and nominates the node for the pod (upstream
//! `plugins/defaultpreemption` and `framework/preemption`).
//!
//! Candidates are sampled as upstream: the dry runs start at a random potential node and
//! stop once `max(minCandidateNodesAbsolute, minCandidateNodesPercentage% of the potential
//! nodes)` candidates are found, at least one of them without PodDisruptionBudget
//! violations (`DefaultPreemptionArgs`, defaults 10% and 100).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use rudder_api::labels::Selector;

use super::priority_sort::priority;
use crate::framework::{
    Code, CycleState, Framework, NodeInfo, NodeToStatus, Plugin, PluginSet, PodInfo,
    PostFilterPlugin, Status,
};
use crate::registry::{Handle, RegistryError};
use crate::schedule::FitError;

/// The plugin's upstream name.
pub const NAME: &str = "DefaultPreemption";
/// Status for nodes where only non-preemptible reasons failed.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// Status for nodes without lower-priority pods.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// The plugin.
pub struct DefaultPreemption {
    client: Option<kube::Client>,
    pdbs: Arc<parking_lot::RwLock<Vec<PodDisruptionBudget>>>,
    sampling: Sampling,
}

/// How many candidates preemption looks for (upstream `DefaultPreemptionArgs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    /// `minCandidateNodesPercentage` (default 10).
    pub min_candidate_nodes_percentage: i32,
    /// `minCandidateNodesAbsolute` (default 100).
    pub min_candidate_nodes_absolute: i32,
}

impl Default for Sampling {
    fn default() -> Sampling {
        Sampling {
            min_candidate_nodes_percentage: 10,
            min_candidate_nodes_absolute: 100,
        }
    }
}

impl Sampling {
    /// Upstream `calculateNumCandidates`: the percentage of the potential nodes, at least
    /// the absolute number, at most all of them.
    pub fn num_candidates(&self, num_nodes: usize) -> usize {
        let n = num_nodes as i64 * i64::from(self.min_candidate_nodes_percentage) / 100;
        let n = n.max(i64::from(self.min_candidate_nodes_absolute));
        (n.max(0) as usize).min(num_nodes)
    }
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        NAME
    }
}

/// A node and the pods to evict there.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The node.
    pub node: String,
    /// Pods to evict, most important first.
    pub victims: Vec<Arc<Pod>>,
    /// How many victims evicting would violate a PodDisruptionBudget.
    pub violations: usize,
}

/// Splits pods into those whose eviction would violate a PodDisruptionBudget and the rest
/// (upstream `filterPodsWithPDBViolation`): each matching budget's `disruptionsAllowed`
/// is spent pod by pod, pods already listed in `disruptedPods` cost nothing, and a budget
/// with an empty selector matches nothing.
pub fn split_by_pdb(
    pods: Vec<Arc<PodInfo>>,
    pdbs: &[PodDisruptionBudget],
) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let mut allowed: Vec<i64> = pdbs
        .iter()
        .map(|b| {
            b.status
                .as_ref()
                .map(|s| i64::from(s.disruptions_allowed))
                .unwrap_or(0)
        })
        .collect();
    let selectors: Vec<Option<Selector>> = pdbs
        .iter()
        .map(|b| {
            let sel = b.spec.as_ref().and_then(|s| s.selector.as_ref())?;
            let empty = sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
                && sel.match_expressions.as_ref().is_none_or(|m| m.is_empty());
            if empty {
                return None;
            }
            Selector::from_label_selector(&serde_json::to_value(sel).ok()?).ok()
        })
        .collect();
    let (mut violating, mut ok) = (Vec::new(), Vec::new());
    for p in pods {
        let labels = p.pod.metadata.labels.clone().unwrap_or_default();
        let mut violated = false;
        for (i, b) in pdbs.iter().enumerate() {
            if b.metadata.namespace != p.pod.metadata.namespace {
                continue;
            }
            let Some(sel) = &selectors[i] else { continue };
            if !sel.matches(&labels) {
                continue;
            }
            let name = p.pod.metadata.name.clone().unwrap_or_default();
            let already = b
                .status
                .as_ref()
                .and_then(|s| s.disrupted_pods.as_ref())
                .is_some_and(|d| d.contains_key(&name));
            if already {
                continue;
            }
            allowed[i] -= 1;
            if allowed[i] < 0 {
                violated = true;
            }
        }
        if violated {
            violating.push(p);
        } else {
            ok.push(p);
        }
    }
    (violating, ok)
}

fn start_time(p: &Pod) -> Option<String> {
    p.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .and_then(|t| serde_json::to_value(t).ok())
        .and_then(|v| v.as_str().map(String::from))
}

/// Upstream `MoreImportantPod`: higher priority, then earlier start time.
fn more_important(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    priority(b)
        .cmp(&priority(a))
        .then_with(|| match (start_time(a), start_time(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        })
}

/// Upstream `PodEligibleToPreemptOthers`: not with preemptionPolicy Never, and not again
/// while a lower-priority pod on the already nominated node is still terminating.
pub fn eligible(pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Result<(), String> {
    let never = pod
        .spec
        .as_ref()
        .and_then(|s| s.preemption_policy.as_deref())
        == Some("Never");
    if never {
        return Err("not eligible due to preemptionPolicy=Never.".into());
    }
    let nominated = pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .filter(|n| !n.is_empty());
    if let Some(n) = nominated.and_then(|n| nodes.iter().find(|i| i.name() == n)) {
        let prio = priority(pod);
        if n.pods
            .iter()
            .any(|p| p.pod.metadata.deletion_timestamp.is_some() && priority(&p.pod) < prio)
        {
            return Err("not eligible due to a terminating pod on the nominated node.".into());
        }
    }
    Ok(())
}

/// Dry-runs preemption on one node (upstream `SelectVictimsOnNode`): remove every
/// lower-priority pod; if the pod then fits, add victims back, most important first, while
/// it still fits.
pub fn select_victims(
    fw: &Framework,
    state: &CycleState,
    pod: &Pod,
    node: &NodeInfo,
    pdbs: &[PodDisruptionBudget],
) -> Result<(Vec<Arc<Pod>>, usize), Status> {
    let prio = priority(pod);
    let lower = |p: &PodInfo| priority(&p.pod) < prio;
    let mut potential: Vec<Arc<PodInfo>> = node.pods.iter().filter(|p| lower(p)).cloned().collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    let mut ni = node.without(lower);
    // Upstream removes each potential victim from the PreFilter state too
    // (`RunPreFilterExtensionRemovePod`), so spread counts and affinity terms see the
    // node without them.
    let mut state = state.clone();
    for p in &potential {
        let s = fw.run_pre_filter_extension_remove_pod(&mut state, pod, p, &ni);
        if !s.is_success() {
            return Err(s);
        }
    }
    let s = fw.run_filter_with_nominated(&state, pod, &ni);
    if !s.is_success() {
        return Err(s);
    }
    potential.sort_by(|a, b| more_important(&a.pod, &b.pod));
    // Pods protected by a budget get the first chance to stay (upstream reprieves the
    // violating ones first and counts those it cannot keep).
    let (violating, ok) = split_by_pdb(potential, pdbs);
    let mut victims = Vec::new();
    let mut violations = 0;
    for (group, is_violating) in [(violating, true), (ok, false)] {
        for p in group {
            // Upstream `reprievePod`: the pod goes back on the node and into the PreFilter
            // state; it stays a victim if the incoming pod no longer fits.
            let mut with = ni.clone();
            with.add_pod(p.clone());
            let mut with_state = state.clone();
            let s = fw.run_pre_filter_extension_add_pod(&mut with_state, pod, &p, &with);
            if !s.is_success() {
                return Err(s);
            }
            if fw
                .run_filter_with_nominated(&with_state, pod, &with)
                .is_success()
            {
                ni = with;
                state = with_state;
            } else {
                victims.push(p.pod.clone());
                if is_violating {
                    violations += 1;
                }
            }
        }
    }
    // Upstream `DryRunPreemption`: a node where the pod fits without evicting anything is
    // not a preemption candidate (it only fails because of nominated pods, or changed).
    if victims.is_empty() {
        return Err(Status::error(format!(
            "expected at least one victim pod on node {:?}",
            node.name()
        )));
    }
    victims.sort_by(|a, b| more_important(a, b));
    Ok((victims, violations))
}

/// Upstream `pickOneNodeForPreemption`: fewest PodDisruptionBudget violations, then the
/// lowest highest-victim priority, then the lowest priority sum, then the fewest victims,
/// then the latest start time of the most important victims, then the first.
pub fn pick_one(candidates: &[Candidate]) -> Option<&Candidate> {
    let key = |c: &Candidate| {
        let highest = c
            .victims
            .iter()
            .map(|v| priority(v))
            .max()
            .unwrap_or(i32::MIN);
        // Shift like upstream so negative priorities still add up to a positive sum.
        let sum: i64 = c
            .victims
            .iter()
            .map(|v| i64::from(priority(v)) + i64::from(i32::MAX) + 1)
            .sum();
        (c.violations, highest, sum, c.victims.len())
    };
    let best = candidates.iter().map(key).min()?;
    let tied: Vec<&Candidate> = candidates.iter().filter(|c| key(c) == best).collect();
    // Among ties, prefer the node whose most important victims started latest.
    tied.iter()
        .copied()
        .max_by(|a, b| {
            let earliest = |c: &Candidate| {
                c.victims
                    .iter()
                    .filter(|v| priority(v) == best.1)
                    .filter_map(|v| start_time(v))
                    .min()
            };
            earliest(a).cmp(&earliest(b))
        })
        .or_else(|| tied.first().copied())
}

/// Runs preemption without side effects: the chosen candidate, or the per-node statuses
/// for the failure message.
pub fn preempt(
    fw: &Framework,
    state: &CycleState,
    pod: &Pod,
    nodes: &[Arc<NodeInfo>],
    statuses: &NodeToStatus,
    pdbs: &[PodDisruptionBudget],
    sampling: Sampling,
) -> Result<Candidate, Status> {
    if let Err(msg) = eligible(pod, nodes) {
        return Err(Status::unschedulable(msg));
    }
    let mut out = NodeToStatus::new();
    // Only nodes that failed with a resolvable reason might be helped.
    let mut potential = Vec::new();
    for n in nodes {
        if statuses
            .get(n.name())
            .is_none_or(|s| s.code == Code::UnschedulableAndUnresolvable)
        {
            out.insert(n.name().to_string(), Status::unresolvable(NOT_HELPFUL));
        } else {
            potential.push(n);
        }
    }
    // Upstream `GetOffsetAndNumCandidates`: start at a random potential node. When every
    // potential node is dry-run anyway, start at the first so ties are broken by node
    // order, as before sampling.
    let want = sampling.num_candidates(potential.len());
    let offset = if want < potential.len() {
        rand::Rng::random_range(&mut rand::rng(), 0..potential.len())
    } else {
        0
    };
    let mut candidates = Vec::new();
    let (mut non_violating, mut first_error) = (0usize, None::<Status>);
    for i in 0..potential.len() {
        // Upstream `DryRunPreemption` stops once enough candidates are found and at least
        // one of them violates no budget.
        if non_violating > 0 && candidates.len() >= want {
            break;
        }
        let n = potential[(offset + i) % potential.len()];
        let name = n.name().to_string();
        match select_victims(fw, state, pod, n, pdbs) {
            Ok((victims, violations)) => {
                if violations == 0 {
                    non_violating += 1;
                }
                candidates.push(Candidate {
                    node: name,
                    victims,
                    violations,
                })
            }
            // Upstream `DryRunPreemption` keeps going past a node's error and reports
            // errors only when no node is a candidate.
            Err(s) if s.code == Code::Error => {
                first_error.get_or_insert(s);
            }
            Err(s) => {
                out.insert(name, s);
            }
        }
    }
    if candidates.is_empty() {
        if let Some(e) = first_error {
            return Err(e);
        }
    }
    match pick_one(&candidates) {
        Some(c) => Ok(c.clone()),
        None => {
            let fit = FitError {
                num_all_nodes: nodes.len(),
                statuses: out,
                ..Default::default()
            };
            Err(Status::unschedulable(fit.to_string()))
        }
    }
}

/// Evicts the victims as upstream `prepareCandidate`: sets the DisruptionTarget condition,
/// deletes the pod, and records a Preempted event.
async fn evict(client: kube::Client, preemptor: Arc<Pod>, node: String, victims: Vec<Arc<Pod>>) {
    let scheduler = preemptor
        .spec
        .as_ref()
        .and_then(|s| s.scheduler_name.clone())
        .unwrap_or_else(|| crate::config::DEFAULT_SCHEDULER_NAME.into());
    for v in victims {
        let ns = v.metadata.namespace.clone().unwrap_or_default();
        let name = v.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let patch = serde_json::json!({"status": {"conditions": [{
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": format!("{scheduler}: preempting to accommodate a higher priority pod"),
            "lastTransitionTime": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }]}});
        if let Err(e) = api
            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
        {
            tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "setting DisruptionTarget");
        }
        if let Err(e) = api.delete(&name, &DeleteParams::default()).await {
            tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "deleting preemption victim");
            continue;
        }
        let note = format!(
            "Preempted by pod {} on node {}",
            preemptor.metadata.uid.as_deref().unwrap_or(""),
            node
        );
        let instance = format!("{scheduler}-preemption");
        if let Err(e) = crate::events::record(
            &client,
            &v,
            "Normal",
            "Preempted",
            "Preempting",
            &note,
            &scheduler,
            &instance,
        )
        .await
        {
            tracing::warn!(error = %e, "recording Preempted event");
        }
    }
}

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(
        &self,
        fw: &Framework,
        state: &CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        statuses: &NodeToStatus,
    ) -> (Option<String>, Status) {
        let pdbs = self.pdbs.read().clone();
        match preempt(fw, state, pod, nodes, statuses, &pdbs, self.sampling) {
            Ok(c) => {
                if let Some(client) = self.client.clone() {
                    if let Ok(rt) = tokio::runtime::Handle::try_current() {
                        rt.spawn(evict(
                            client,
                            Arc::new(pod.clone()),
                            c.node.clone(),
                            c.victims,
                        ));
                    }
                }
                (Some(c.node), Status::success())
            }
            Err(s) => {
                let msg = s.message();
                // Upstream prefixes the evaluator's message.
                let mut out = Status::new(s.code, vec![format!("preemption: {msg}")]);
                if msg.is_empty() {
                    out.reasons.clear();
                }
                (None, out)
            }
        }
    }
}

/// Builds the plugin from `DefaultPreemptionArgs` (`minCandidateNodesPercentage`,
/// `minCandidateNodesAbsolute`), validated as upstream `ValidateDefaultPreemptionArgs`.
pub fn factory(args: Option<&serde_json::Value>, h: &Handle) -> Result<PluginSet, RegistryError> {
    let mut sampling = Sampling::default();
    let int = |key: &str| args.and_then(|a| a.get(key)).and_then(|v| v.as_i64());
    if let Some(v) = int("minCandidateNodesPercentage") {
        sampling.min_candidate_nodes_percentage = v.clamp(i32::MIN.into(), i32::MAX.into()) as i32;
    }
    if let Some(v) = int("minCandidateNodesAbsolute") {
        sampling.min_candidate_nodes_absolute = v.clamp(i32::MIN.into(), i32::MAX.into()) as i32;
    }
    let (pct, abs) = (
        sampling.min_candidate_nodes_percentage,
        sampling.min_candidate_nodes_absolute,
    );
    let mut errs = Vec::new();
    if !(0..=100).contains(&pct) {
        errs.push(format!(
            "minCandidateNodesPercentage: Invalid value: {pct}: not in valid range [0, 100]"
        ));
    }
    if abs < 0 {
        errs.push(format!(
            "minCandidateNodesAbsolute: Invalid value: {abs}: not in valid range [0, inf)"
        ));
    }
    if pct == 0 && abs == 0 {
        errs.push("minCandidateNodesPercentage: Invalid value: 0: cannot be zero at the same time as minCandidateNodesAbsolute".into());
        errs.push("minCandidateNodesAbsolute: Invalid value: 0: cannot be zero at the same time as minCandidateNodesPercentage".into());
    }
    if !errs.is_empty() {
        // Upstream aggregates field errors as "[a, b]" when there are several.
        let message = if errs.len() == 1 {
            errs.remove(0)
        } else {
            format!("[{}]", errs.join(", "))
        };
        return Err(RegistryError::Args {
            plugin: NAME.into(),
            message,
        });
    }
    Ok(PluginSet {
        post_filter: Some(Arc::new(DefaultPreemption {
            client: h.client.clone(),
            pdbs: h.pdbs.clone(),
            sampling,
        })),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{alloc_node, node, node_info, pod};
    use crate::schedule::{schedule_pod, ScheduleError};
    use serde_json::{json, Value};

    fn fw() -> Framework {
        let h = Handle::default();
        let mut fw = Framework::default();
        for name in ["NodeUnschedulable", "TaintToleration", "NodeResourcesFit"] {
            let s = crate::registry::in_tree()[name](None, &h).unwrap();
            fw.pre_filter.extend(s.pre_filter);
            fw.filter.extend(s.filter);
        }
        fw.post_filter.push(Arc::new(DefaultPreemption {
            client: None,
            pdbs: Default::default(),
            sampling: Sampling::default(),
        }));
        fw
    }

    fn prio_pod(name: &str, prio: i32, cpu: &str, extra: Value) -> Pod {
        let mut spec = json!({"priority": prio, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]});
        if let (Some(s), Value::Object(e)) = (spec.as_object_mut(), extra) {
            s.extend(e);
        }
        let mut p = pod(spec);
        p.metadata.name = Some(name.into());
        p
    }

    fn run(fw: &Framework, p: &Pod, nodes: &[Arc<NodeInfo>]) -> FitError {
        let mut start = 0;
        match schedule_pod(
            fw,
            &mut CycleState::default(),
            p,
            nodes,
            &mut start,
            0,
            &mut rand::rng(),
        ) {
            Err(ScheduleError::Fit(f)) => *f,
            other => panic!("expected a fit error, got {other:?}"),
        }
    }

    #[test]
    fn sampling_args() {
        // Mirrors upstream TestCalculateNumCandidates and ValidateDefaultPreemptionArgs.
        let s = |pct, abs| Sampling {
            min_candidate_nodes_percentage: pct,
            min_candidate_nodes_absolute: abs,
        };
        for (sampling, nodes, want) in [
            (s(10, 100), 1000, 100),
            (s(10, 100), 5000, 500),
            (s(10, 100), 50, 50),
            (s(0, 100), 5000, 100),
            (s(40, 0), 1000, 400),
        ] {
            assert_eq!(sampling.num_candidates(nodes), want, "{sampling:?} {nodes}");
        }
        let h = Handle::default();
        assert!(factory(Some(&json!({"minCandidateNodesPercentage": 20})), &h).is_ok());
        let err = |args: Value| match factory(Some(&args), &h) {
            Err(RegistryError::Args { message, .. }) => message,
            _ => panic!("{args} accepted"),
        };
        assert_eq!(
            err(json!({"minCandidateNodesPercentage": 101})),
            "minCandidateNodesPercentage: Invalid value: 101: not in valid range [0, 100]"
        );
        assert_eq!(
            err(json!({"minCandidateNodesAbsolute": -1})),
            "minCandidateNodesAbsolute: Invalid value: -1: not in valid range [0, inf)"
        );
        assert!(
            err(json!({"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 0}))
                .contains("cannot be zero at the same time")
        );
    }

    #[test]
    fn sampling_stops_early() {
        // 5 equal full nodes, 2 candidates wanted: the dry runs start at a random node and
        // stop after 2, so the pick varies; evaluating every node would always pick the
        // same one of the tie.
        let fw = fw();
        let low = |i: usize| {
            let mut p = prio_pod(&format!("low{i}"), 1, "2", json!({}));
            p.spec.as_mut().unwrap().node_name = Some(format!("n{i}"));
            p
        };
        let nodes: Vec<Arc<NodeInfo>> = (0..5)
            .map(|i| {
                Arc::new(node_info(
                    alloc_node(&format!("n{i}"), json!({"cpu": "2", "pods": "10"})),
                    vec![low(i)],
                ))
            })
            .collect();
        let p = prio_pod("high", 100, "1", json!({}));
        let mut st = CycleState::default();
        fw.run_pre_filter(&mut st, &p, &nodes);
        let statuses: NodeToStatus = nodes
            .iter()
            .map(|n| {
                (
                    n.name().to_string(),
                    Status::unschedulable("Insufficient cpu"),
                )
            })
            .collect();
        let sampling = Sampling {
            min_candidate_nodes_percentage: 0,
            min_candidate_nodes_absolute: 2,
        };
        let mut picked = std::collections::BTreeSet::new();
        for _ in 0..40 {
            let c = preempt(&fw, &st, &p, &nodes, &statuses, &[], sampling).unwrap();
            assert_eq!(c.victims.len(), 1);
            picked.insert(c.node);
        }
        assert!(picked.len() > 1, "{picked:?}");
        let all = Sampling::default();
        let mut picked = std::collections::BTreeSet::new();
        for _ in 0..10 {
            picked.insert(
                preempt(&fw, &st, &p, &nodes, &statuses, &[], all)
                    .unwrap()
                    .node,
            );
        }
        assert_eq!(picked.len(), 1, "{picked:?}");
    }

    #[test]
    fn table() {
        let fw = fw();
        let alloc = json!({"cpu": "2", "memory": "1Gi", "pods": "10"});
        let tainted = node(
            "cp",
            json!({"status": {"allocatable": alloc}, "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
        );
        type Case<'a> = (&'a str, Pod, Vec<NodeInfo>, Option<&'a str>, &'a str);
        let cases: Vec<Case> = vec![
            (
                "not helpful anywhere",
                prio_pod("p", 100, "1", json!({})),
                vec![node_info(tainted.clone(), vec![])],
                None,
                "0/1 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
            ),
            (
                "no lower-priority victims",
                prio_pod("p", 100, "1500m", json!({})),
                vec![node_info(alloc_node("n1", alloc.clone()), vec![prio_pod("v", 100, "1", json!({}))])],
                None,
                "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
            ),
            (
                "preemptionPolicy Never",
                prio_pod("p", 100, "1500m", json!({"preemptionPolicy": "Never"})),
                vec![node_info(alloc_node("n1", alloc.clone()), vec![prio_pod("v", 1, "1", json!({}))])],
                None,
                "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.",
            ),
            (
                "preempts on the node with the cheapest victims",
                prio_pod("p", 100, "1500m", json!({})),
                vec![
                    node_info(tainted, vec![]),
                    node_info(alloc_node("n1", alloc.clone()), vec![prio_pod("v10", 10, "1", json!({}))]),
                    node_info(alloc_node("n2", alloc.clone()), vec![prio_pod("v5", 5, "1", json!({}))]),
                ],
                Some("n2"),
                "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu.",
            ),
        ];
        for (name, p, nodes, want_node, want_msg) in cases {
            let nodes: Vec<Arc<NodeInfo>> = nodes.into_iter().map(Arc::new).collect();
            let f = run(&fw, &p, &nodes);
            assert_eq!(f.nominated_node.as_deref(), want_node, "{name}");
            assert_eq!(f.to_string(), want_msg, "{name}");
        }
    }

    #[test]
    fn not_again_while_a_victim_terminates() {
        let mut victim = prio_pod("v", 1, "1", json!({}));
        victim.metadata.deletion_timestamp =
            Some(serde_json::from_value(json!("2024-01-01T00:00:00Z")).unwrap());
        let n = Arc::new(node_info(
            alloc_node("n1", json!({"cpu": "2", "memory": "1Gi", "pods": "10"})),
            vec![victim],
        ));
        let mut p = prio_pod("p", 100, "1500m", json!({}));
        assert!(eligible(&p, std::slice::from_ref(&n)).is_ok());
        p.status = Some(serde_json::from_value(json!({"nominatedNodeName": "n1"})).unwrap());
        assert_eq!(
            eligible(&p, &[n]),
            Err("not eligible due to a terminating pod on the nominated node.".into())
        );
    }

    #[test]
    fn pdbs_steer_victims() {
        let fw = fw();
        let alloc = json!({"cpu": "2", "memory": "1Gi", "pods": "10"});
        let mut guarded = prio_pod("g", 1, "1", json!({}));
        guarded.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
        let nodes: Vec<Arc<NodeInfo>> = vec![
            Arc::new(node_info(alloc_node("n1", alloc.clone()), vec![guarded])),
            Arc::new(node_info(
                alloc_node("n2", alloc),
                vec![prio_pod("free", 5, "1", json!({}))],
            )),
        ];
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "db"}}},
            "status": {"disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}
        }))
        .unwrap();
        let p = prio_pod("p", 100, "1500m", json!({}));
        let mut st = CycleState::default();
        fw.run_pre_filter(&mut st, &p, &nodes);
        let mut statuses = NodeToStatus::new();
        for n in &nodes {
            statuses.insert(n.name().into(), Status::unschedulable("Insufficient cpu"));
        }
        // Without the budget the lower-priority victim on n1 is cheaper.
        assert_eq!(
            preempt(&fw, &st, &p, &nodes, &statuses, &[], Sampling::default())
                .unwrap()
                .node,
            "n1"
        );
        // With it, n1 would violate the budget.
        let c = preempt(&fw, &st, &p, &nodes, &statuses, &[pdb], Sampling::default()).unwrap();
        assert_eq!((c.node.as_str(), c.violations), ("n2", 0));
    }

    #[test]
    fn reprieves_victims_that_can_stay() {
        let fw = fw();
        let n = node_info(
            alloc_node("n1", json!({"cpu": "3", "memory": "1Gi", "pods": "10"})),
            vec![
                prio_pod("a", 1, "1", json!({})),
                prio_pod("b", 2, "1", json!({})),
                prio_pod("c", 3, "1", json!({})),
            ],
        );
        let p = prio_pod("p", 100, "2", json!({}));
        let mut st = CycleState::default();
        fw.run_pre_filter(&mut st, &p, &[]);
        let (victims, violations) = select_victims(&fw, &st, &p, &n, &[]).unwrap();
        assert_eq!(violations, 0);
        let names: Vec<&str> = victims
            .iter()
            .map(|v| v.metadata.name.as_deref().unwrap())
            .collect();
        // The most important pod (c) is added back first and stays.
        assert_eq!(names, vec!["b", "a"]);
    }

    #[test]
    fn victims_blocking_affinity_and_spread_are_found() {
        // Upstream SelectVictimsOnNode runs RemovePod on the PreFilter state: a low-priority
        // pod that the incoming pod's required anti-affinity rejects is a victim (without
        // the extension the state would still count it and no node would be a candidate),
        // and the same for a pod pushing a spread domain over maxSkew.
        let h = Handle::default();
        let mut fw = fw();
        for name in ["InterPodAffinity", "PodTopologySpread"] {
            let s = crate::registry::in_tree()[name](None, &h).unwrap();
            fw.pre_filter.extend(s.pre_filter);
            fw.filter.extend(s.filter);
        }
        let alloc = json!({"cpu": "4", "memory": "1Gi", "pods": "10"});
        let labelled = |name: &str, prio: i32, app: &str| {
            let mut p = prio_pod(name, prio, "100m", json!({}));
            p.metadata.labels = Some([("app".to_string(), app.to_string())].into());
            p
        };
        let zone_node = |name: &str, zone: &str, pods: Vec<Pod>| {
            let mut n = alloc_node(name, alloc.clone());
            n.metadata.labels = Some(
                [
                    ("kubernetes.io/hostname".to_string(), name.to_string()),
                    ("zone".to_string(), zone.to_string()),
                ]
                .into(),
            );
            Arc::new(node_info(n, pods))
        };

        // Anti-affinity: "db" must not share a host with "cache" pods.
        let nodes = vec![zone_node("n1", "z1", vec![labelled("low", 1, "cache")])];
        let mut db = labelled("db", 100, "db");
        db.spec.as_mut().unwrap().affinity = serde_json::from_value(json!({"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": {"app": "cache"}},
                "topologyKey": "kubernetes.io/hostname"}]}}))
        .unwrap();
        let mut st = CycleState::default();
        assert!(fw.run_pre_filter(&mut st, &db, &nodes).is_success());
        assert!(!fw.run_filter(&st, &db, &nodes[0]).is_success());
        let (victims, _) = select_victims(&fw, &st, &db, &nodes[0], &[]).unwrap();
        assert_eq!(victims[0].metadata.name.as_deref(), Some("low"));

        // Spread: z1 holds two "web" pods, z2 none; maxSkew 1 keeps a third out of z1
        // unless one low-priority web pod there goes.
        let nodes = vec![
            zone_node(
                "n1",
                "z1",
                vec![labelled("w1", 1, "web"), labelled("w2", 1, "web")],
            ),
            zone_node("n2", "z2", vec![labelled("filler", 1000, "other")]),
        ];
        let mut web = labelled("web", 100, "web");
        web.spec.as_mut().unwrap().topology_spread_constraints =
            serde_json::from_value(json!([{"maxSkew": 2, "topologyKey": "zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "web"}}}]))
            .unwrap();
        let mut st = CycleState::default();
        assert!(fw.run_pre_filter(&mut st, &web, &nodes).is_success());
        assert!(!fw.run_filter(&st, &web, &nodes[0]).is_success());
        let (victims, _) = select_victims(&fw, &st, &web, &nodes[0], &[]).unwrap();
        // Only one of the two has to go: the other is reprieved.
        assert_eq!(victims.len(), 1);
    }

    #[test]
    fn nominated_pods_count_for_spread_and_anti_affinity() {
        // Upstream RunFilterPluginsWithNominatedPods adds nominated pods to the PreFilter
        // state (AddPod): a pod nominated to n1 with the same labels fills its domain.
        let h = Handle::default();
        let mut fw = Framework::default();
        for name in ["InterPodAffinity", "PodTopologySpread"] {
            let s = crate::registry::in_tree()[name](None, &h).unwrap();
            fw.pre_filter.extend(s.pre_filter);
            fw.filter.extend(s.filter);
        }
        let zone_node = |name: &str| {
            let mut n = node(name, json!({}));
            n.metadata.labels = Some(
                [
                    ("kubernetes.io/hostname".to_string(), name.to_string()),
                    ("zone".to_string(), name.to_string()),
                ]
                .into(),
            );
            Arc::new(node_info(n, vec![]))
        };
        let nodes = vec![zone_node("n1"), zone_node("n2")];
        let mut nominee = prio_pod("nominee", 100, "100m", json!({}));
        nominee.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        let mut incoming = prio_pod("p", 10, "100m", json!({}));
        incoming.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        let cases = [
            json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "web"}}}]}),
            json!({"affinity": {"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{
                    "labelSelector": {"matchLabels": {"app": "web"}},
                    "topologyKey": "kubernetes.io/hostname"}]}}}),
        ];
        for extra in cases {
            let mut p = incoming.clone();
            if let (Ok(mut spec), Value::Object(e)) =
                (serde_json::to_value(p.spec.take()), extra.clone())
            {
                spec.as_object_mut().unwrap().extend(e);
                p.spec = serde_json::from_value(spec).unwrap();
            }
            let mut st = CycleState::default();
            assert!(
                fw.run_pre_filter(&mut st, &p, &nodes).is_success(),
                "{extra}"
            );
            assert!(
                fw.run_filter_with_nominated(&st, &p, &nodes[0])
                    .is_success(),
                "{extra}"
            );
            Arc::make_mut(&mut st.nominated).insert(
                "n1".into(),
                vec![Arc::new(PodInfo::new(Arc::new(nominee.clone())))],
            );
            assert!(
                !fw.run_filter_with_nominated(&st, &p, &nodes[0])
                    .is_success(),
                "{extra}"
            );
            assert!(
                fw.run_filter_with_nominated(&st, &p, &nodes[1])
                    .is_success(),
                "{extra}"
            );
        }
    }
}
