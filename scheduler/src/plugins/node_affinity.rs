//! NodeAffinity: `spec.nodeSelector` and required node affinity as a filter, preferred
//! node affinity as a score (upstream `plugins/nodeaffinity`, default score weight 2).
//! `NodeAffinityArgs.addedAffinity` applies a scheduler-enforced affinity to every pod.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{NodeAffinity as ApiNodeAffinity, Pod, PreferredSchedulingTerm};

use super::helper::terms_match;
use crate::framework::{
    default_normalize_score, CycleState, FilterPlugin, NodeInfo, NodeScore, Plugin, PluginSet,
    PreFilterPlugin, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::registry::{Handle, RegistryError};

/// The plugin's upstream name.
pub const NAME: &str = "NodeAffinity";
/// Upstream `ErrReasonPod`.
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";
/// Upstream `ErrReasonEnforced`.
pub const ERR_REASON_ENFORCED: &str = "node(s) didn't match scheduler-enforced node affinity";

/// Upstream `errReasonConflict`.
pub const ERR_REASON_CONFLICT: &str = "pod affinity terms conflict";

/// The node names the pod's required terms allow when every term pins names with
/// `matchFields` `metadata.name` In (upstream NodeAffinity `PreFilter`): within a term the
/// requirements intersect, across terms the sets unite. None when some term names no
/// nodes, so every node stays eligible.
pub fn required_node_names(pod: &Pod) -> Option<std::collections::BTreeSet<String>> {
    let terms = &pod_affinity(pod)?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    let mut out = std::collections::BTreeSet::new();
    for t in terms {
        let mut term_names: Option<std::collections::BTreeSet<String>> = None;
        for r in t.match_fields.iter().flatten() {
            if r.key == "metadata.name" && r.operator == "In" {
                let s: std::collections::BTreeSet<String> =
                    r.values.iter().flatten().cloned().collect();
                term_names = Some(match term_names {
                    None => s,
                    Some(old) => old.intersection(&s).cloned().collect(),
                });
            }
        }
        out.extend(term_names?);
    }
    Some(out)
}

/// The plugin, with the optional scheduler-enforced affinity from its args.
#[derive(Default)]
pub struct NodeAffinity {
    added: Option<ApiNodeAffinity>,
}

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }
}

fn pod_affinity(pod: &Pod) -> Option<&ApiNodeAffinity> {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
}

/// Whether the node matches an affinity's required terms (absent means everything).
fn required_matches(a: Option<&ApiNodeAffinity>, node: &k8s_openapi::api::core::v1::Node) -> bool {
    match a.and_then(|a| {
        a.required_during_scheduling_ignored_during_execution
            .as_ref()
    }) {
        None => true,
        Some(sel) => terms_match(&sel.node_selector_terms, node),
    }
}

/// Whether the node matches the pod's nodeSelector and required node affinity (upstream
/// `GetRequiredNodeAffinity(pod).Match(node)`).
pub fn pod_matches_node(pod: &Pod, node: &k8s_openapi::api::core::v1::Node) -> bool {
    if let Some(sel) = pod.spec.as_ref().and_then(|s| s.node_selector.as_ref()) {
        let labels = node.metadata.labels.as_ref();
        if !sel
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        {
            return false;
        }
    }
    required_matches(pod_affinity(pod), node)
}

fn preferred_score(
    terms: &[PreferredSchedulingTerm],
    node: &k8s_openapi::api::core::v1::Node,
) -> i64 {
    terms
        .iter()
        .filter(|t| t.weight != 0 && super::helper::term_matches(&t.preference, node))
        .map(|t| i64::from(t.weight))
        .sum()
}

fn preferred(a: Option<&ApiNodeAffinity>) -> &[PreferredSchedulingTerm] {
    a.and_then(|a| {
        a.preferred_during_scheduling_ignored_during_execution
            .as_deref()
    })
    .unwrap_or(&[])
}

impl PreFilterPlugin for NodeAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, _n: &[Arc<NodeInfo>]) -> Status {
        let has_selector = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_selector.as_ref())
            .is_some_and(|s| !s.is_empty());
        let has_required = pod_affinity(pod)
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .is_some();
        let has_added = self
            .added
            .as_ref()
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .is_some();
        // Upstream skips Filter when there is nothing to check.
        if !has_selector && !has_required && !has_added {
            return Status::skip();
        }
        // Required terms that name nodes through matchFields metadata.name (DaemonSet pods)
        // narrow the cycle to those nodes (upstream `PreFilterResult`).
        if let Some(names) = required_node_names(pod) {
            if names.is_empty() {
                return Status::unresolvable(ERR_REASON_CONFLICT);
            }
            state.restrict_nodes(NAME, names);
        }
        Status::success()
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, _s: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        if !required_matches(self.added.as_ref(), &node.node) {
            return Status::unresolvable(ERR_REASON_ENFORCED);
        }
        if !pod_matches_node(pod, &node.node) {
            return Status::unresolvable(ERR_REASON_POD);
        }
        Status::success()
    }
}

impl PreScorePlugin for NodeAffinity {
    fn pre_score(&self, _state: &mut CycleState, pod: &Pod, _n: &[Arc<NodeInfo>]) -> Status {
        if preferred(pod_affinity(pod)).is_empty() && preferred(self.added.as_ref()).is_empty() {
            return Status::skip();
        }
        Status::success()
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, _s: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        Ok(preferred_score(preferred(self.added.as_ref()), &node.node)
            + preferred_score(preferred(pod_affinity(pod)), &node.node))
    }

    fn normalize(&self, _s: &CycleState, _p: &Pod, scores: &mut [NodeScore]) -> Status {
        default_normalize_score(MAX_NODE_SCORE, false, scores);
        Status::success()
    }
}

/// Builds the plugin from `NodeAffinityArgs` (`addedAffinity`).
pub fn factory(args: Option<&serde_json::Value>, _h: &Handle) -> Result<PluginSet, RegistryError> {
    let added = match args.and_then(|a| a.get("addedAffinity")) {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value::<ApiNodeAffinity>(v.clone()).map_err(|e| {
                RegistryError::Args {
                    plugin: NAME.into(),
                    message: e.to_string(),
                }
            })?,
        ),
    };
    let p = Arc::new(NodeAffinity { added });
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
    use crate::plugins::testing::{node, node_info, pod};
    use serde_json::{json, Value};

    fn labelled(name: &str, labels: Value) -> NodeInfo {
        node_info(node(name, json!({"metadata": {"labels": labels}})), vec![])
    }

    #[test]
    fn filter_table() {
        // Mirrors upstream node_affinity_test.go TestNodeAffinity.
        let req = |terms: Value| json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}});
        let cases = [
            (json!({}), json!({"foo": "bar"}), Code::Skip),
            (
                json!({"nodeSelector": {"foo": "bar"}}),
                json!({"foo": "bar"}),
                Code::Success,
            ),
            (
                json!({"nodeSelector": {"foo": "bar"}}),
                json!({"foo": "baz"}),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                json!({"nodeSelector": {"foo": "bar"}}),
                json!({}),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                json!({"affinity": req(json!([{"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar", "value2"]}]}]))}),
                json!({"foo": "bar"}),
                Code::Success,
            ),
            (
                json!({"affinity": req(json!([{"matchExpressions": [{"key": "kernel-version", "operator": "Gt", "values": ["0204"]}]}]))}),
                json!({"kernel-version": "0206"}),
                Code::Success,
            ),
            (
                json!({"affinity": req(json!([]))}),
                json!({"foo": "bar"}),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                json!({"affinity": req(json!([{}]))}),
                json!({"foo": "bar"}),
                Code::UnschedulableAndUnresolvable,
            ),
            // Terms are ORed.
            (
                json!({"affinity": req(json!([
                {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["x"]}]},
                {"matchExpressions": [{"key": "diffkey", "operator": "In", "values": ["wrong", "value2"]}]}]))}),
                json!({"diffkey": "value2"}),
                Code::Success,
            ),
            // nodeSelector and affinity are ANDed.
            (
                json!({"nodeSelector": {"foo": "bar"}, "affinity": req(json!([{"matchExpressions": [{"key": "foo", "operator": "Exists"}]}]))}),
                json!({"foo": "baz"}),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                json!({"affinity": req(json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node1"]}]}]))}),
                json!({}),
                Code::Success,
            ),
        ];
        let pl = NodeAffinity::default();
        for (spec, labels, want) in cases {
            let mut spec = spec;
            spec["containers"] = json!([]);
            let p = pod(spec.clone());
            let ni = labelled("node1", labels);
            let mut st = CycleState::default();
            let pre = pl.pre_filter(&mut st, &p, &[]);
            if want == Code::Skip {
                assert_eq!(pre.code, Code::Skip, "{spec}");
                continue;
            }
            let s = pl.filter(&st, &p, &ni);
            assert_eq!(s.code, want, "{spec}");
            if want != Code::Success {
                assert_eq!(s.message(), ERR_REASON_POD);
            }
        }
    }

    #[test]
    fn added_affinity() {
        let pl = NodeAffinity {
            added: Some(serde_json::from_value(json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["foo"]}]}]}})).unwrap()),
        };
        let p = pod(json!({"containers": []}));
        let mut st = CycleState::default();
        assert!(pl.pre_filter(&mut st, &p, &[]).is_success());
        assert!(pl
            .filter(&st, &p, &labelled("a", json!({"zone": "foo"})))
            .is_success());
        let s = pl.filter(&st, &p, &labelled("b", json!({"zone": "bar"})));
        assert_eq!(s.message(), ERR_REASON_ENFORCED);
    }

    #[test]
    fn score_table() {
        // Mirrors upstream TestNodeAffinityPriority: weights of matching preferred terms,
        // normalized to the best node.
        let aff = json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 2, "preference": {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar"]}]}},
            {"weight": 4, "preference": {"matchExpressions": [{"key": "key", "operator": "In", "values": ["value"]}]}},
            {"weight": 5, "preference": {"matchExpressions": [
                {"key": "foo", "operator": "In", "values": ["bar"]},
                {"key": "key", "operator": "In", "values": ["value"]},
                {"key": "az", "operator": "In", "values": ["az1"]}]}},
        ]}});
        let p = pod(json!({"containers": [], "affinity": aff}));
        let nodes = [
            labelled("n1", json!({"foo": "bar"})),
            labelled("n2", json!({"foo": "bar", "key": "value", "az": "az1"})),
            labelled("n3", json!({"key": "value"})),
            labelled("n4", json!({})),
        ];
        let pl = NodeAffinity::default();
        let mut st = CycleState::default();
        assert!(pl.pre_score(&mut st, &p, &[]).is_success());
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .enumerate()
            .map(|(index, n)| NodeScore {
                index,
                score: pl.score(&st, &p, n).unwrap(),
            })
            .collect();
        pl.normalize(&st, &p, &mut scores);
        let got: Vec<i64> = scores.iter().map(|s| s.score).collect();
        assert_eq!(got, vec![18, 100, 36, 0]);
        // No preferred terms: Score is skipped.
        assert_eq!(
            pl.pre_score(&mut st, &pod(json!({"containers": []})), &[])
                .code,
            Code::Skip
        );
    }

    #[test]
    fn match_fields_narrow_the_cycle() {
        // Mirrors upstream TestNodeAffinityPreFilterResult-style cases.
        let term = |names: &[&str]| json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": names}]});
        let with_terms = |terms: Vec<serde_json::Value>| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                    {"nodeSelectorTerms": terms}}}}}))
            .unwrap()
        };
        let set = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect());
        let label_term = json!({"matchExpressions": [{"key": "zone", "operator": "Exists"}]});
        let both = json!({"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["a", "b"]},
            {"key": "metadata.name", "operator": "In", "values": ["b", "c"]}]});
        let cases = [
            (with_terms(vec![term(&["n1"])]), set(&["n1"])),
            (
                with_terms(vec![term(&["n1"]), term(&["n2"])]),
                set(&["n1", "n2"]),
            ),
            (with_terms(vec![both]), set(&["b"])),
            (with_terms(vec![term(&["n1"]), label_term]), None),
            (
                with_terms(vec![
                    term(&["a"]),
                    json!({"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": ["a"]},
                {"key": "metadata.name", "operator": "In", "values": ["b"]}]}),
                ]),
                set(&["a"]),
            ),
        ];
        for (i, (p, want)) in cases.into_iter().enumerate() {
            assert_eq!(required_node_names(&p), want, "case {i}");
        }
        let conflict = with_terms(vec![json!({"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["a"]},
            {"key": "metadata.name", "operator": "In", "values": ["b"]}]})]);
        let mut st = CycleState::default();
        let s = NodeAffinity::default().pre_filter(&mut st, &conflict, &[]);
        assert_eq!(s.code, crate::framework::Code::UnschedulableAndUnresolvable);
        assert_eq!(s.reasons, vec![ERR_REASON_CONFLICT]);
        let mut st = CycleState::default();
        let p = with_terms(vec![term(&["n2"])]);
        assert!(NodeAffinity::default()
            .pre_filter(&mut st, &p, &[])
            .is_success());
        assert_eq!(st.pre_filter_nodes, set(&["n2"]));
    }
}
