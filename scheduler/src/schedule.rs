//! One scheduling attempt for one pod, with no I/O (upstream `schedule_one.go`
//! `schedulePod`, `findNodesThatFitPod`, `prioritizeNodes`, `selectHost`), and the
//! FailedScheduling message (upstream `framework.FitError`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use rand::Rng;

use crate::framework::{
    CycleState, Framework, NodeInfo, NodeScore, NodeToStatus, Snapshot, Status,
};

/// Upstream `minFeasibleNodesToFind`.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Upstream `minFeasibleNodesPercentageToFind`.
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: i64 = 5;
/// Upstream `ErrNoNodesAvailable`.
pub const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// How many feasible nodes to look for before scoring (upstream
/// `numFeasibleNodesToFind`): all of them under 100 nodes; else the configured percentage,
/// or adaptively 50% minus 1% per 125 nodes, at least 5%, and never fewer than 100 nodes.
pub fn num_feasible_nodes_to_find(percentage: i32, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let n = num_all_nodes as i64;
    let mut pct = i64::from(percentage);
    if pct == 0 {
        pct = (50 - n / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    }
    let num = (n * pct / 100) as usize;
    num.max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Why no node fits (upstream `FitError` with its `Diagnosis`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FitError {
    /// Nodes in the snapshot.
    pub num_all_nodes: usize,
    /// The rejecting status per node.
    pub statuses: NodeToStatus,
    /// Set when a PreFilter plugin rejected the pod.
    pub pre_filter_msg: Option<String>,
    /// The first PostFilter plugin's message.
    pub post_filter_msg: Option<String>,
    /// The node a PostFilter plugin (preemption) nominated for the pod.
    pub nominated_node: Option<String>,
}

impl FitError {
    /// The plugins that rejected the pod on some node (upstream
    /// `Diagnosis.UnschedulablePlugins`), sorted and deduplicated.
    pub fn unschedulable_plugins(&self) -> Vec<String> {
        let set: std::collections::BTreeSet<&str> = self
            .statuses
            .values()
            .map(|s| s.plugin)
            .filter(|p| !p.is_empty())
            .collect();
        set.into_iter().map(str::to_string).collect()
    }
}

impl fmt::Display for FitError {
    /// Upstream format: `0/N nodes are available: <pre-filter msg | sorted reason
    /// histogram>. <post-filter msg>`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        match &self.pre_filter_msg {
            Some(m) => write!(f, " {m}.")?,
            None => {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for s in self.statuses.values() {
                    for r in &s.reasons {
                        *counts.entry(r).or_default() += 1;
                    }
                }
                let mut reasons: Vec<String> =
                    counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
                // Go's sort.Strings: byte order of the whole "count reason" string.
                reasons.sort();
                if !reasons.is_empty() {
                    write!(f, " {}.", reasons.join(", "))?;
                }
            }
        }
        // The PostFilter message carries its own final period.
        if let Some(m) = &self.post_filter_msg {
            write!(f, " {m}")?;
        }
        Ok(())
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    /// No node fits.
    Fit(Box<FitError>),
    /// The cluster has no nodes.
    NoNodes,
    /// A plugin failed.
    Internal(Status),
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleError::Fit(e) => e.fmt(f),
            ScheduleError::NoNodes => f.write_str(NO_NODES_AVAILABLE),
            ScheduleError::Internal(s) => {
                write!(f, "running {:?} plugin: {}", s.plugin, s.message())
            }
        }
    }
}

/// A successful attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleResult {
    /// The chosen node.
    pub node: String,
    /// How many nodes were filtered.
    pub evaluated: usize,
    /// How many fit.
    pub feasible: usize,
}

/// Runs PreFilter, Filter (stopping once enough feasible nodes are found, starting where
/// the previous attempt stopped), PreScore, Score, and picks the best node, breaking ties
/// at random. `next_start` carries the rotation between attempts. `nodes` are the
/// snapshot's nodes: the caller sets `state.snapshot` to the snapshot they come from, or
/// leaves it empty and one is built from `nodes`.
pub fn schedule_pod(
    fw: &Framework,
    state: &mut CycleState,
    pod: &Pod,
    nodes: &[Arc<NodeInfo>],
    next_start: &mut usize,
    global_percentage: i32,
    rng: &mut impl Rng,
) -> Result<ScheduleResult, ScheduleError> {
    if nodes.is_empty() {
        return Err(ScheduleError::NoNodes);
    }
    if state.snapshot.nodes.is_empty() {
        state.snapshot = Arc::new(Snapshot::from_nodes(nodes.to_vec()));
    }
    let s = fw.run_pre_filter(state, pod, nodes);
    if !s.is_success() {
        if !s.is_rejected() {
            return Err(ScheduleError::Internal(s));
        }
        // Upstream puts the PreFilter rejection on every node.
        let statuses = nodes
            .iter()
            .map(|n| (n.name().to_string(), s.clone()))
            .collect();
        return Err(ScheduleError::Fit(Box::new(FitError {
            num_all_nodes: nodes.len(),
            statuses,
            pre_filter_msg: Some(s.message()),
            post_filter_msg: None,
            nominated_node: None,
        })));
    }

    let all_nodes = nodes;
    let mut statuses = NodeToStatus::new();
    // A PreFilter node set (NodeAffinity on metadata.name, as DaemonSet pods use) narrows
    // the search; the other nodes are reported as upstream `SetAbsentNodesStatus` does.
    let narrowed: Vec<Arc<NodeInfo>>;
    let nodes = match &state.pre_filter_nodes {
        None => nodes,
        Some(names) => {
            narrowed = nodes
                .iter()
                .filter(|n| names.contains(n.name()))
                .cloned()
                .collect();
            let mut plugins = state.pre_filter_node_plugins.clone();
            plugins.sort();
            plugins.dedup();
            let absent = Status::unresolvable(format!(
                "node(s) didn't satisfy plugin(s) [{}]",
                plugins.join(" ")
            ));
            for n in all_nodes.iter().filter(|n| !names.contains(n.name())) {
                let mut s = absent.clone();
                s.plugin = plugins.first().cloned().unwrap_or_default();
                statuses.insert(n.name().to_string(), s);
            }
            &narrowed[..]
        }
    };
    let pct = fw.percentage_of_nodes_to_score.unwrap_or(global_percentage);
    let want = num_feasible_nodes_to_find(pct, nodes.len());
    let mut feasible: Vec<Arc<NodeInfo>> = Vec::new();
    // Rejections by node position. They are only read when no node fits, so the
    // name-keyed map is built then: with a selective filter most nodes of a large cluster
    // reject every pod, and hashing an owned name for each of them cost more than
    // filtering it.
    let mut rejected: Vec<(usize, Status)> = Vec::new();
    let start = *next_start % nodes.len().max(1);
    let mut processed = 0;
    for i in 0..nodes.len() {
        if feasible.len() >= want {
            break;
        }
        let at = (start + i) % nodes.len();
        let n = &nodes[at];
        processed += 1;
        let s = fw.run_filter_with_nominated(state, pod, n);
        if s.is_success() {
            feasible.push(n.clone());
        } else if s.is_rejected() {
            rejected.push((at, s));
        } else {
            return Err(ScheduleError::Internal(s));
        }
    }
    *next_start = (start + processed) % nodes.len().max(1);

    if feasible.is_empty() {
        statuses.extend(
            rejected
                .into_iter()
                .map(|(at, s)| (nodes[at].name().to_string(), s)),
        );
        let mut fit = FitError {
            num_all_nodes: all_nodes.len(),
            statuses,
            pre_filter_msg: None,
            post_filter_msg: None,
            nominated_node: None,
        };
        for p in &fw.post_filter {
            let (nominated, s) = p.post_filter(fw, state, pod, all_nodes, &fit.statuses);
            fit.nominated_node = nominated;
            if !s.reasons.is_empty() {
                fit.post_filter_msg = Some(s.message());
            }
            // Upstream stops at the first PostFilter plugin that does not reject.
            if fit.nominated_node.is_some() || !s.is_rejected() {
                break;
            }
        }
        return Err(ScheduleError::Fit(Box::new(fit)));
    }
    if feasible.len() == 1 {
        return Ok(ScheduleResult {
            node: feasible[0].name().to_string(),
            evaluated: processed,
            feasible: 1,
        });
    }

    let s = fw.run_pre_score(state, pod, &feasible);
    if !s.is_success() {
        return Err(ScheduleError::Internal(s));
    }
    let scores = fw
        .run_score(state, pod, &feasible)
        .map_err(ScheduleError::Internal)?;
    Ok(ScheduleResult {
        node: feasible[select_host(&scores, rng)].name().to_string(),
        evaluated: processed,
        feasible: feasible.len(),
    })
}

/// The highest-scoring node; among equals each has the same chance (upstream `selectHost`
/// reservoir sampling).
pub fn select_host(scores: &[NodeScore], rng: &mut impl Rng) -> usize {
    let mut best = &scores[0];
    let mut ties = 1u32;
    for s in &scores[1..] {
        if s.score > best.score {
            best = s;
            ties = 1;
        } else if s.score == best.score {
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                best = s;
            }
        }
    }
    best.index
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;
    use crate::framework::{BindPlugin, Code, PluginSet};
    use crate::plugins::testing::{alloc_node, node, node_info, pod, pod_req};
    use crate::registry::{build_framework, Handle};
    use serde_json::json;

    #[test]
    fn num_feasible_nodes_table() {
        // Mirrors upstream TestNumFeasibleNodesToFind.
        let cases = [
            (0, 10, 10),
            (40, 10, 10),
            (0, 1000, 420),
            (40, 1000, 400),
            (0, 6000, 300),
            (40, 6000, 2400),
            (0, 100, 100),
            (0, 5000, 500),
            (10, 500, 100),
        ];
        for (pct, n, want) in cases {
            assert_eq!(
                num_feasible_nodes_to_find(pct, n),
                want,
                "pct={pct} nodes={n}"
            );
        }
    }

    #[test]
    fn fit_error_message() {
        let mut statuses = NodeToStatus::new();
        statuses.insert(
            "cp".into(),
            Status::unresolvable(
                "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
            ),
        );
        statuses.insert("w1".into(), Status::unschedulable("Insufficient cpu"));
        statuses.insert(
            "w2".into(),
            Status::new(
                Code::Unschedulable,
                ["Insufficient cpu", "Insufficient memory"],
            ),
        );
        let e = FitError {
            num_all_nodes: 3,
            statuses,
            pre_filter_msg: None,
            post_filter_msg: Some(
                "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
                    .into(),
            ),
            nominated_node: None,
        };
        assert_eq!(
            e.to_string(),
            "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
        assert_eq!(
            e.unschedulable_plugins(),
            Vec::<String>::new(),
            "statuses without plugin names"
        );
        let mut named = NodeToStatus::new();
        let mut s1 = Status::unschedulable("Insufficient cpu");
        s1.plugin = "NodeResourcesFit";
        let mut s2 = Status::unresolvable("x");
        s2.plugin = "TaintToleration";
        named.insert("a".into(), s1.clone());
        named.insert("b".into(), s2);
        named.insert("c".into(), s1);
        let e2 = FitError {
            num_all_nodes: 3,
            statuses: named,
            ..Default::default()
        };
        assert_eq!(
            e2.unschedulable_plugins(),
            vec![
                "NodeResourcesFit".to_string(),
                "TaintToleration".to_string()
            ]
        );
        let pre = FitError {
            num_all_nodes: 2,
            statuses: NodeToStatus::new(),
            pre_filter_msg: Some("node(s) didn't satisfy plugin(s) [X]".into()),
            post_filter_msg: None,
            nominated_node: None,
        };
        assert_eq!(
            pre.to_string(),
            "0/2 nodes are available: node(s) didn't satisfy plugin(s) [X]."
        );
    }

    struct NoBind;
    impl crate::framework::Plugin for NoBind {
        fn name(&self) -> &'static str {
            "NoBind"
        }
    }
    impl BindPlugin for NoBind {
        fn bind<'a>(&'a self, _p: &'a Pod, _n: &'a str) -> futures::future::BoxFuture<'a, Status> {
            Box::pin(async { Status::error("unused") })
        }
    }

    fn framework() -> Framework {
        // The default profile without DefaultBinder (no client in unit tests).
        let mut p = Profile::default_profile();
        p.plugins =
            Some(serde_yaml::from_str("multiPoint: {disabled: [{name: DefaultBinder}]}").unwrap());
        match build_framework(&p, &Handle::default()) {
            Err(crate::registry::RegistryError::NoBind(_)) => {}
            other => panic!("expected NoBind, got {:?}", other.err()),
        }
        let mut fw = Framework::default();
        let full = |name: &str| crate::registry::in_tree()[name](None, &Handle::default()).unwrap();
        for name in [
            "NodeUnschedulable",
            "NodeName",
            "TaintToleration",
            "NodeAffinity",
            "NodePorts",
            "NodeResourcesFit",
            "NodeResourcesBalancedAllocation",
        ] {
            let s: PluginSet = full(name);
            fw.pre_filter.extend(s.pre_filter);
            fw.filter.extend(s.filter);
            fw.pre_score.extend(s.pre_score);
            if let Some(sc) = s.score {
                let w = match name {
                    "TaintToleration" => 3,
                    "NodeAffinity" => 2,
                    _ => 1,
                };
                fw.score.push((sc, w));
            }
        }
        fw.bind.push(Arc::new(NoBind));
        fw
    }

    #[test]
    fn schedules_onto_fitting_node_and_reports_failures() {
        let fw = framework();
        let alloc = json!({"cpu": "2", "memory": "4Gi", "pods": "110"});
        let tainted = node(
            "cp",
            json!({"status": {"allocatable": alloc}, "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
        );
        let nodes: Vec<Arc<NodeInfo>> = vec![
            Arc::new(node_info(tainted, vec![])),
            Arc::new(node_info(
                alloc_node("small", json!({"cpu": "1", "memory": "4Gi", "pods": "110"})),
                vec![],
            )),
            Arc::new(node_info(alloc_node("big", alloc.clone()), vec![])),
        ];
        let mut rng = rand::rng();
        let mut start = 0;
        let r = schedule_pod(
            &fw,
            &mut CycleState::default(),
            &pod_req(json!({"cpu": "1500m"})),
            &nodes,
            &mut start,
            0,
            &mut rng,
        )
        .unwrap();
        assert_eq!(r.node, "big");
        assert_eq!((r.evaluated, r.feasible), (3, 1));

        let err = schedule_pod(
            &fw,
            &mut CycleState::default(),
            &pod_req(json!({"cpu": "3"})),
            &nodes,
            &mut start,
            0,
            &mut rng,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu."
        );

        // The least allocated node wins among feasible ones.
        let mut busy = node_info(
            alloc_node("busy", alloc.clone()),
            vec![pod_req(json!({"cpu": "1", "memory": "1Gi"}))],
        );
        busy.node = Arc::new(alloc_node("busy", alloc.clone()));
        let nodes2 = vec![
            Arc::new(busy),
            Arc::new(node_info(alloc_node("idle", alloc), vec![])),
        ];
        for _ in 0..5 {
            let r = schedule_pod(
                &fw,
                &mut CycleState::default(),
                &pod_req(json!({"cpu": "100m", "memory": "100Mi"})),
                &nodes2,
                &mut start,
                0,
                &mut rng,
            )
            .unwrap();
            assert_eq!(r.node, "idle");
        }

        assert_eq!(
            schedule_pod(
                &fw,
                &mut CycleState::default(),
                &pod(json!({"containers": []})),
                &[],
                &mut start,
                0,
                &mut rng
            ),
            Err(ScheduleError::NoNodes)
        );
    }

    #[test]
    fn match_fields_pin_daemonset_pods() {
        let fw = framework();
        let alloc = json!({"cpu": "2", "memory": "4Gi", "pods": "110"});
        let nodes: Vec<Arc<NodeInfo>> = ["a", "b", "c"]
            .iter()
            .map(|n| Arc::new(node_info(alloc_node(n, alloc.clone()), vec![])))
            .collect();
        let ds_pod = |cpu: &str| -> Pod {
            let mut p = pod_req(json!({"cpu": cpu}));
            p.spec.as_mut().unwrap().affinity = Some(
                serde_json::from_value(
                    json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchFields": [
                        {"key": "metadata.name", "operator": "In", "values": ["b"]}]}]}}}),
                )
                .unwrap(),
            );
            p
        };
        let mut start = 0;
        let r = schedule_pod(
            &fw,
            &mut CycleState::default(),
            &ds_pod("100m"),
            &nodes,
            &mut start,
            0,
            &mut rand::rng(),
        )
        .unwrap();
        assert_eq!((r.node.as_str(), r.evaluated), ("b", 1));
        let err = schedule_pod(
            &fw,
            &mut CycleState::default(),
            &ds_pod("3"),
            &nodes,
            &mut start,
            0,
            &mut rand::rng(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]."
        );
    }

    #[test]
    fn nominated_pods_keep_their_room() {
        // Upstream TestNominatedPodsAreConsidered-style: a higher-priority pod nominated to
        // "a" holds its cpu there, so a lower-priority pod goes to "b".
        let fw = framework();
        let alloc = json!({"cpu": "2", "memory": "4Gi", "pods": "110"});
        let nodes: Vec<Arc<NodeInfo>> = vec![
            Arc::new(node_info(alloc_node("a", alloc.clone()), vec![])),
            Arc::new(node_info(
                alloc_node("b", alloc.clone()),
                vec![pod_req(json!({"cpu": "500m"}))],
            )),
        ];
        let mut nominee = pod_req(json!({"cpu": "1500m"}));
        nominee.metadata.name = Some("nominee".into());
        nominee.spec.as_mut().unwrap().priority = Some(100);
        let mut state = CycleState::default();
        Arc::make_mut(&mut state.nominated).insert(
            "a".into(),
            vec![Arc::new(crate::framework::PodInfo::new(Arc::new(nominee)))],
        );
        let mut start = 0;
        let r = schedule_pod(
            &fw,
            &mut state,
            &pod_req(json!({"cpu": "1"})),
            &nodes,
            &mut start,
            0,
            &mut rand::rng(),
        )
        .unwrap();
        assert_eq!(r.node, "b");
        // Without the nomination the emptier "a" wins.
        let r = schedule_pod(
            &fw,
            &mut CycleState::default(),
            &pod_req(json!({"cpu": "1"})),
            &nodes,
            &mut start,
            0,
            &mut rand::rng(),
        )
        .unwrap();
        assert_eq!(r.node, "a");
    }

    #[test]
    fn select_host_picks_max_and_spreads_ties() {
        let mut rng = rand::rng();
        let scores = vec![
            NodeScore {
                index: 0,
                score: 10,
            },
            NodeScore {
                index: 1,
                score: 30,
            },
            NodeScore {
                index: 2,
                score: 30,
            },
        ];
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.insert(select_host(&scores, &mut rng));
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![1, 2]);
    }
}
