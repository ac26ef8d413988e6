//! PodTopologySpread: `spec.topologySpreadConstraints` (upstream
//! `plugins/podtopologyspread`, default score weight 2). `DoNotSchedule` constraints filter
//! nodes whose domain would exceed `maxSkew`; `ScheduleAnyway` constraints score nodes in
//! emptier domains higher.
//!
//! Not implemented: the cluster-level default constraints upstream applies to pods that
//! have none (`defaultingType: System`); such pods are not spread.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, TopologySpreadConstraint};
use rudder_api::labels::Selector;

use super::helper::tolerated_by;
use super::node_affinity::pod_matches_node;
use crate::framework::{
    CycleState, FilterPlugin, NodeInfo, NodeScore, Plugin, PluginSet, PreFilterPlugin,
    PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::registry::{Handle, RegistryError};

/// The plugin's upstream name.
pub const NAME: &str = "PodTopologySpread";
/// Upstream `ErrReasonConstraintsNotMatch`.
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// Upstream `ErrReasonNodeLabelNotMatch`.
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
const FILTER_KEY: &str = "PreFilterPodTopologySpread";
const SCORE_KEY: &str = "PreScorePodTopologySpread";

/// The plugin.
pub struct PodTopologySpread;

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }
}

/// One constraint with its selector resolved.
struct Constraint {
    max_skew: i64,
    key: String,
    selector: Selector,
    min_domains: Option<i64>,
    honor_affinity: bool,
    honor_taints: bool,
}

fn constraints(pod: &Pod, when: &str) -> Result<Vec<Constraint>, Status> {
    let list: &[TopologySpreadConstraint] = pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_deref())
        .unwrap_or(&[]);
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let mut out = Vec::new();
    for c in list.iter().filter(|c| c.when_unsatisfiable == when) {
        let mut sel = serde_json::to_value(&c.label_selector).unwrap_or_default();
        // matchLabelKeys: the pod's own values for those keys join the selector.
        for k in c.match_label_keys.iter().flatten() {
            if let Some(v) = labels.get(k) {
                if sel.is_null() {
                    sel = serde_json::json!({});
                }
                let exprs = sel
                    .as_object_mut()
                    .map(|o| o.entry("matchExpressions").or_insert(serde_json::json!([])));
                if let Some(serde_json::Value::Array(a)) = exprs {
                    a.push(serde_json::json!({"key": k, "operator": "In", "values": [v]}));
                }
            }
        }
        let selector = Selector::from_label_selector(&sel)
            .map_err(|e| Status::unresolvable(format!("invalid labelSelector: {e}")))?;
        out.push(Constraint {
            max_skew: i64::from(c.max_skew),
            key: c.topology_key.clone(),
            selector,
            min_domains: c.min_domains.map(i64::from),
            honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        });
    }
    Ok(out)
}

fn label<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

/// Whether the node counts for the constraint (upstream `nodeLabelsMatchSpreadConstraints`
/// plus the node inclusion policies).
fn node_eligible(c: &Constraint, pod: &Pod, node: &Node) -> bool {
    if label(node, &c.key).is_none() {
        return false;
    }
    if c.honor_affinity && !pod_matches_node(pod, node) {
        return false;
    }
    if c.honor_taints {
        let tols = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or(&[]);
        let taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_deref())
            .unwrap_or(&[]);
        if taints.iter().any(|t| {
            (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerated_by(tols, t)
        }) {
            return false;
        }
    }
    true
}

/// Pods on the node in the pod's namespace, not terminating, that the selector matches.
fn count_matching(c: &Constraint, pod: &Pod, node: &NodeInfo) -> i64 {
    let ns = pod.metadata.namespace.as_deref();
    node.pods
        .iter()
        .filter(|p| {
            p.pod.metadata.namespace.as_deref() == ns
                && p.pod.metadata.deletion_timestamp.is_none()
                && c.selector
                    .matches(&p.pod.metadata.labels.clone().unwrap_or_default())
        })
        .count() as i64
}

struct FilterState {
    constraints: Vec<Constraint>,
    /// Per constraint: matching pods per topology value.
    counts: Vec<HashMap<String, i64>>,
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        let cs = match constraints(pod, "DoNotSchedule") {
            Ok(c) => c,
            Err(s) => return s,
        };
        if cs.is_empty() {
            return Status::skip();
        }
        let counts = cs
            .iter()
            .map(|c| {
                let mut m: HashMap<String, i64> = HashMap::new();
                for n in nodes {
                    if !node_eligible(c, pod, &n.node) {
                        continue;
                    }
                    let v = label(&n.node, &c.key).unwrap_or_default().to_string();
                    *m.entry(v).or_insert(0) += count_matching(c, pod, n);
                }
                m
            })
            .collect();
        state.write(
            FILTER_KEY,
            Arc::new(FilterState {
                constraints: cs,
                counts,
            }),
        );
        Status::success()
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let Some(st) = state.read::<Arc<FilterState>>(FILTER_KEY) else {
            return Status::error(format!("reading {FILTER_KEY:?} from cycleState"));
        };
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        for (c, counts) in st.constraints.iter().zip(&st.counts) {
            let Some(value) = label(&node.node, &c.key) else {
                return Status::unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH);
            };
            let self_match = i64::from(c.selector.matches(&labels));
            // The global minimum over the eligible domains; zero when fewer domains than
            // minDomains exist (upstream `minMatchNum`).
            let mut min = counts.values().copied().min().unwrap_or(0);
            if c.min_domains.is_some_and(|d| (counts.len() as i64) < d) {
                min = 0;
            }
            let matched = counts.get(value).copied().unwrap_or(0);
            if matched + self_match - min > c.max_skew {
                return Status::unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}

struct ScoreState {
    constraints: Vec<Constraint>,
    /// Per constraint: matching pods per topology value (all nodes).
    counts: Vec<HashMap<String, i64>>,
    /// Per constraint: log(number of domains + 2).
    weights: Vec<f64>,
    /// Nodes missing a constraint's topology label.
    ignored: BTreeSet<String>,
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        let cs = match constraints(pod, "ScheduleAnyway") {
            Ok(c) => c,
            Err(s) => return s,
        };
        if cs.is_empty() {
            return Status::skip();
        }
        let mut ignored = BTreeSet::new();
        for n in nodes {
            if cs.iter().any(|c| label(&n.node, &c.key).is_none()) {
                ignored.insert(n.name().to_string());
            }
        }
        let mut counts = Vec::new();
        let mut weights = Vec::new();
        for c in &cs {
            let domains: BTreeSet<&str> = nodes
                .iter()
                .filter(|n| !ignored.contains(n.name()))
                .filter_map(|n| label(&n.node, &c.key))
                .collect();
            weights.push(((domains.len() + 2) as f64).ln());
            let mut m: HashMap<String, i64> = HashMap::new();
            // Upstream counts matching pods on every node of the snapshot, not only the
            // feasible ones.
            let all = if state.all_nodes.is_empty() {
                nodes
            } else {
                &state.all_nodes[..]
            };
            for n in all {
                if !node_eligible(c, pod, &n.node) {
                    continue;
                }
                let v = label(&n.node, &c.key).unwrap_or_default().to_string();
                *m.entry(v).or_insert(0) += count_matching(c, pod, n);
            }
            counts.push(m);
        }
        state.write(
            SCORE_KEY,
            Arc::new(ScoreState {
                constraints: cs,
                counts,
                weights,
                ignored,
            }),
        );
        Status::success()
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let st = state
            .read::<Arc<ScoreState>>(SCORE_KEY)
            .ok_or_else(|| Status::error(format!("reading {SCORE_KEY:?} from cycleState")))?;
        if st.ignored.contains(node.name()) {
            return Ok(0);
        }
        let mut score = 0.0;
        for ((c, counts), w) in st.constraints.iter().zip(&st.counts).zip(&st.weights) {
            if let Some(v) = label(&node.node, &c.key) {
                let cnt = counts.get(v).copied().unwrap_or(0);
                // Upstream `scoreForCount`.
                score += cnt as f64 * w + (c.max_skew - 1) as f64;
            }
        }
        Ok(score.round() as i64)
    }

    fn normalize(&self, state: &CycleState, _pod: &Pod, scores: &mut [NodeScore]) -> Status {
        let Some(st) = state.read::<Arc<ScoreState>>(SCORE_KEY) else {
            return Status::error(format!("reading {SCORE_KEY:?} from cycleState"));
        };
        let valid: BTreeMap<&str, i64> = scores
            .iter()
            .filter(|s| !st.ignored.contains(&s.name))
            .map(|s| (s.name.as_str(), s.score))
            .collect();
        let min = valid.values().copied().min().unwrap_or(0);
        let max = valid.values().copied().max().unwrap_or(0);
        for s in scores.iter_mut() {
            if st.ignored.contains(&s.name) {
                s.score = 0;
            } else if max == 0 {
                s.score = MAX_NODE_SCORE;
            } else {
                s.score = MAX_NODE_SCORE * (max + min - s.score) / max;
            }
        }
        Status::success()
    }
}

/// Builds the plugin. `defaultConstraints` and `defaultingType: System` are not
/// implemented; args other than `defaultingType: List` without constraints are refused.
pub fn factory(args: Option<&serde_json::Value>, _h: &Handle) -> Result<PluginSet, RegistryError> {
    if let Some(a) = args {
        let has_defaults = a
            .get("defaultConstraints")
            .and_then(|d| d.as_array())
            .is_some_and(|d| !d.is_empty());
        if has_defaults {
            return Err(RegistryError::Args {
                plugin: NAME.into(),
                message: "defaultConstraints are not implemented".into(),
            });
        }
    }
    let p = Arc::new(PodTopologySpread);
    Ok(PluginSet {
        pre_filter: Some(p.clone()),
        filter: Some(p.clone()),
        pre_score: Some(p.clone()),
        score: Some(p),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{node, node_info};
    use serde_json::{json, Value};

    fn labelled_pod(name: &str, labels: Value, spec: Value) -> Pod {
        let mut spec = spec;
        spec["containers"] = json!([]);
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": spec,
        }))
        .unwrap()
    }

    fn zone_node(name: &str, zone: &str, pods: usize) -> Arc<NodeInfo> {
        let existing = (0..pods)
            .map(|i| labelled_pod(&format!("{name}-{i}"), json!({"foo": ""}), json!({})))
            .collect();
        Arc::new(node_info(
            node(
                name,
                json!({"metadata": {"labels": {"zone": zone, "node": name}}}),
            ),
            existing,
        ))
    }

    fn spread(when: &str, key: &str, max_skew: i32) -> Value {
        json!({"topologySpreadConstraints": [{
            "maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
            "labelSelector": {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}
        }]})
    }

    #[test]
    fn filter_table() {
        // Mirrors upstream filtering_test.go "pods spread across zones as 3/3, all nodes
        // fit" style cases: zone1 = node-a (2 pods) + node-b (1), zone2 = node-x (0) + node-y (1).
        let nodes = vec![
            zone_node("node-a", "zone1", 2),
            zone_node("node-b", "zone1", 1),
            zone_node("node-x", "zone2", 0),
            zone_node("node-y", "zone2", 1),
        ];
        let cases = [
            (
                spread("DoNotSchedule", "zone", 1),
                vec![
                    Code::Unschedulable,
                    Code::Unschedulable,
                    Code::Success,
                    Code::Success,
                ],
            ),
            // zone1 has 3, zone2 has 1: with maxSkew 2 zone1 gives skew 3 + 1 - 1 = 3.
            (
                spread("DoNotSchedule", "zone", 2),
                vec![
                    Code::Unschedulable,
                    Code::Unschedulable,
                    Code::Success,
                    Code::Success,
                ],
            ),
            (spread("DoNotSchedule", "zone", 3), vec![Code::Success; 4]),
            (
                spread("DoNotSchedule", "node", 1),
                // per node 2/1/0/1 with minimum 0: only node-x stays within skew 1.
                vec![
                    Code::Unschedulable,
                    Code::Unschedulable,
                    Code::Success,
                    Code::Unschedulable,
                ],
            ),
            (
                spread("DoNotSchedule", "rack", 1),
                vec![Code::UnschedulableAndUnresolvable; 4],
            ),
        ];
        for (spec, want) in cases {
            let p = labelled_pod("p", json!({"foo": ""}), spec.clone());
            let mut st = CycleState::default();
            assert!(PodTopologySpread
                .pre_filter(&mut st, &p, &nodes)
                .is_success());
            let got: Vec<Code> = nodes
                .iter()
                .map(|n| PodTopologySpread.filter(&st, &p, n).code)
                .collect();
            assert_eq!(got, want, "{spec}");
        }
        // Without constraints the plugin skips.
        let p = labelled_pod("p", json!({}), json!({}));
        assert_eq!(
            PodTopologySpread
                .pre_filter(&mut CycleState::default(), &p, &nodes)
                .code,
            Code::Skip
        );
    }

    #[test]
    fn min_domains_forces_new_domains() {
        let nodes = vec![zone_node("node-a", "zone1", 1)];
        let mut spec = spread("DoNotSchedule", "zone", 1);
        spec["topologySpreadConstraints"][0]["minDomains"] = json!(2);
        let p = labelled_pod("p", json!({"foo": ""}), spec);
        let mut st = CycleState::default();
        PodTopologySpread.pre_filter(&mut st, &p, &nodes);
        // One domain only, so the minimum counts as 0: 1 + 1 - 0 > 1.
        assert_eq!(
            PodTopologySpread.filter(&st, &p, &nodes[0]).code,
            Code::Unschedulable
        );
    }

    #[test]
    fn score_prefers_emptier_domains() {
        let nodes = vec![
            zone_node("node-a", "zone1", 3),
            zone_node("node-b", "zone1", 0),
            zone_node("node-x", "zone2", 1),
        ];
        let p = labelled_pod("p", json!({"foo": ""}), spread("ScheduleAnyway", "node", 1));
        let mut st = CycleState::default();
        assert!(PodTopologySpread
            .pre_score(&mut st, &p, &nodes)
            .is_success());
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .map(|n| NodeScore {
                name: n.name().into(),
                score: PodTopologySpread.score(&st, &p, n).unwrap(),
            })
            .collect();
        // weight = ln(3 + 2) ~ 1.609: raw 5, 0, 2.
        assert_eq!(
            scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            vec![5, 0, 2]
        );
        PodTopologySpread.normalize(&st, &p, &mut scores);
        // 100 * (5 + 0 - s) / 5
        assert_eq!(
            scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            vec![0, 100, 60]
        );
    }
}
