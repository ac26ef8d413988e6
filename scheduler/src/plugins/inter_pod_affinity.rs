//! InterPodAffinity: required pod affinity and anti-affinity (including the anti-affinity
//! of pods already running) as a filter, preferred terms as a score (upstream
//! `plugins/interpodaffinity`, default score weight 2, `hardPodAffinityWeight` 1).
//!
//! Gap: a term's non-empty `namespaceSelector` needs namespace labels, which this
//! scheduler does not watch; such terms match only their explicit `namespaces` (an empty
//! `namespaceSelector: {}` matches every namespace, as upstream).

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, WeightedPodAffinityTerm};

use crate::framework::{
    CycleState, FilterPlugin, NodeInfo, NodeScore, Plugin, PluginSet, PodInfo, PreFilterPlugin,
    PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::registry::{Handle, RegistryError};

/// The plugin's upstream name.
pub const NAME: &str = "InterPodAffinity";
/// Upstream `ErrReasonAffinityRulesNotMatch`.
pub const ERR_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Upstream `ErrReasonAntiAffinityRulesNotMatch`.
pub const ERR_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// Upstream `ErrReasonExistingAntiAffinityRulesNotMatch`.
pub const ERR_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
const FILTER_KEY: &str = "PreFilterInterPodAffinity";
const SCORE_KEY: &str = "PreScoreInterPodAffinity";

/// The plugin.
pub struct InterPodAffinity {
    hard_pod_affinity_weight: i64,
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }
}

use crate::framework::AffinityTerm as Term;

fn affinity(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::Affinity> {
    pod.spec.as_ref().and_then(|s| s.affinity.as_ref())
}

fn required_affinity(pod: &Pod) -> &[PodAffinityTerm] {
    affinity(pod)
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[])
}

fn required_anti(pod: &Pod) -> &[PodAffinityTerm] {
    affinity(pod)
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[])
}

fn preferred_affinity(pod: &Pod) -> &[WeightedPodAffinityTerm] {
    affinity(pod)
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[])
}

fn preferred_anti(pod: &Pod) -> &[WeightedPodAffinityTerm] {
    affinity(pod)
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[])
}

fn terms(owner: &Pod, ts: &[PodAffinityTerm]) -> Result<Vec<Term>, Status> {
    ts.iter()
        .map(|t| {
            Term::new(owner, t).map_err(|e| Status::unresolvable(format!("invalid term: {e}")))
        })
        .collect()
}

fn node_label<'a>(n: &'a NodeInfo, key: &str) -> Option<&'a String> {
    n.node.metadata.labels.as_ref().and_then(|l| l.get(key))
}

/// Counts per topology key, then per topology value; looked up by `&str` without
/// building a key.
#[derive(Default, Clone)]
struct TopoCounts(HashMap<String, HashMap<String, i64>>);

impl TopoCounts {
    fn add(&mut self, key: &str, value: &str, n: i64) {
        let m = match self.0.get_mut(key) {
            Some(m) => m,
            None => self.0.entry(key.to_string()).or_default(),
        };
        match m.get_mut(value) {
            Some(c) => {
                *c += n;
                // Upstream `topologyToMatchedTermCount.update` deletes pairs that reach 0,
                // so "no matching pod anywhere" (the first pod of an affinity group) holds
                // again once a removed pod was the last one.
                if *c == 0 {
                    m.remove(value);
                }
            }
            None => {
                if n != 0 {
                    m.insert(value.to_string(), n);
                }
            }
        }
    }
    fn get(&self, key: &str, value: &str) -> i64 {
        self.0
            .get(key)
            .and_then(|m| m.get(value))
            .copied()
            .unwrap_or(0)
    }
    fn is_empty(&self) -> bool {
        self.0.values().all(|m| m.is_empty())
    }
    /// The sum over the node's labels of their counts.
    fn sum_for(&self, node: &NodeInfo) -> i64 {
        self.0
            .iter()
            .filter_map(|(k, m)| m.get(node_label(node, k)?))
            .sum()
    }
    /// Whether any of the node's labels has a positive count.
    fn any_positive(&self, node: &NodeInfo) -> bool {
        self.0.iter().any(|(k, m)| {
            node_label(node, k)
                .and_then(|v| m.get(v))
                .is_some_and(|c| *c > 0)
        })
    }
}

#[derive(Default, Clone)]
struct FilterState {
    affinity: Vec<Term>,
    anti: Vec<Term>,
    /// Pods matching all of the incoming pod's affinity terms, per topology pair.
    affinity_counts: TopoCounts,
    /// Pods matching one of the incoming pod's anti-affinity terms, per topology pair.
    anti_counts: TopoCounts,
    /// Existing pods whose anti-affinity terms match the incoming pod, per topology pair.
    existing_anti_counts: TopoCounts,
    pod_matches_own_affinity: bool,
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        let aff = match terms(pod, required_affinity(pod)) {
            Ok(t) => t,
            Err(s) => return s,
        };
        let anti = match terms(pod, required_anti(pod)) {
            Ok(t) => t,
            Err(s) => return s,
        };
        let mut st = FilterState {
            pod_matches_own_affinity: !aff.is_empty() && aff.iter().all(|t| t.matches(pod)),
            ..Default::default()
        };
        let mut any_existing_anti = false;
        // Without terms of its own, only nodes running pods with required anti-affinity
        // matter (upstream walks `HavePodsWithRequiredAntiAffinityList`); the snapshot
        // keeps that list.
        let own_terms = !aff.is_empty() || !anti.is_empty();
        let walk: Box<dyn Iterator<Item = &Arc<NodeInfo>>> = if own_terms {
            Box::new(state.all_nodes(nodes).iter())
        } else if state.snapshot.nodes.is_empty() {
            Box::new(
                nodes
                    .iter()
                    .filter(|n| n.pods_with_required_anti_affinity > 0),
            )
        } else {
            Box::new(state.snapshot.nodes_with_required_anti_affinity())
        };
        for n in walk {
            if !own_terms && n.pods_with_required_anti_affinity == 0 {
                continue;
            }
            for p in &n.pods {
                let existing = &p.pod;
                // Existing pods' required anti-affinity against the incoming pod (terms
                // parsed once, when the pod entered the cache).
                for term in &p.terms.required_anti {
                    any_existing_anti = true;
                    if term.matches(pod) {
                        if let Some(v) = node_label(n, &term.topology_key) {
                            st.existing_anti_counts.add(&term.topology_key, v, 1);
                        }
                    }
                }
                if !aff.is_empty() && aff.iter().all(|t| t.matches(existing)) {
                    for t in &aff {
                        if let Some(v) = node_label(n, &t.topology_key) {
                            st.affinity_counts.add(&t.topology_key, v, 1);
                        }
                    }
                }
                for t in &anti {
                    if t.matches(existing) {
                        if let Some(v) = node_label(n, &t.topology_key) {
                            st.anti_counts.add(&t.topology_key, v, 1);
                        }
                    }
                }
            }
        }
        if aff.is_empty() && anti.is_empty() && !any_existing_anti {
            return Status::skip();
        }
        st.affinity = aff;
        st.anti = anti;
        state.write(FILTER_KEY, Arc::new(st));
        Status::success()
    }

    /// Upstream `preFilterState.updateWithPod`: the other pod's required anti-affinity against
    /// the incoming pod, and the incoming pod's required affinity (all terms) and
    /// anti-affinity (each term) matching the other pod, counted on the node's topology pairs.
    /// The state is copied, leaving the cycle's original alone.
    fn update_with_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        other: &PodInfo,
        node: &NodeInfo,
        delta: i64,
    ) -> Status {
        let Some(st) = state.read::<Arc<FilterState>>(FILTER_KEY) else {
            return Status::success();
        };
        let mut next = FilterState::clone(st);
        for term in &other.terms.required_anti {
            if term.matches(pod) {
                if let Some(v) = node_label(node, &term.topology_key) {
                    next.existing_anti_counts.add(&term.topology_key, v, delta);
                }
            }
        }
        if !next.affinity.is_empty() && next.affinity.iter().all(|t| t.matches(&other.pod)) {
            for t in &st.affinity {
                if let Some(v) = node_label(node, &t.topology_key) {
                    next.affinity_counts.add(&t.topology_key, v, delta);
                }
            }
        }
        for t in &st.anti {
            if t.matches(&other.pod) {
                if let Some(v) = node_label(node, &t.topology_key) {
                    next.anti_counts.add(&t.topology_key, v, delta);
                }
            }
        }
        state.write(FILTER_KEY, Arc::new(next));
        Status::success()
    }
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Status {
        let Some(st) = state.read::<Arc<FilterState>>(FILTER_KEY) else {
            return Status::error(format!("reading {FILTER_KEY:?} from cycleState"));
        };
        // Upstream `satisfyPodAffinity`: every term's domain must hold a matching pod,
        // except for the first pod of a group that matches its own terms.
        if !st.affinity.is_empty() {
            let mut pods_exist = true;
            for t in &st.affinity {
                match node_label(node, &t.topology_key) {
                    None => return Status::unresolvable(ERR_AFFINITY),
                    Some(v) => {
                        if st.affinity_counts.get(&t.topology_key, v) <= 0 {
                            pods_exist = false;
                        }
                    }
                }
            }
            let first_of_group = st.affinity_counts.is_empty() && st.pod_matches_own_affinity;
            if !(pods_exist || first_of_group) {
                return Status::unresolvable(ERR_AFFINITY);
            }
        }
        for t in &st.anti {
            if let Some(v) = node_label(node, &t.topology_key) {
                if st.anti_counts.get(&t.topology_key, v) > 0 {
                    return Status::unschedulable(ERR_ANTI_AFFINITY);
                }
            }
        }
        if st.existing_anti_counts.any_positive(node) {
            return Status::unschedulable(ERR_EXISTING_ANTI_AFFINITY);
        }
        Status::success()
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        let weighted =
            |ts: &[WeightedPodAffinityTerm], sign: i64| -> Result<Vec<(Term, i64)>, Status> {
                ts.iter()
                    .map(|w| {
                        Term::new(pod, &w.pod_affinity_term)
                            .map(|t| (t, sign * i64::from(w.weight)))
                            .map_err(|e| Status::unresolvable(format!("invalid term: {e}")))
                    })
                    .collect()
            };
        let mut own = match weighted(preferred_affinity(pod), 1) {
            Ok(t) => t,
            Err(s) => return s,
        };
        match weighted(preferred_anti(pod), -1) {
            Ok(t) => own.extend(t),
            Err(s) => return s,
        }
        let mut scores = TopoCounts::default();
        let mut any = !own.is_empty();
        // Without preferred terms of its own, only nodes running pods with affinity terms
        // matter (upstream `HavePodsWithAffinityList`, kept by the snapshot).
        let walk: Box<dyn Iterator<Item = &Arc<NodeInfo>>> = if !own.is_empty() {
            Box::new(state.all_nodes(nodes).iter())
        } else if state.snapshot.nodes.is_empty() {
            Box::new(nodes.iter().filter(|n| n.pods_with_affinity > 0))
        } else {
            Box::new(state.snapshot.nodes_with_affinity())
        };
        for n in walk {
            if own.is_empty() && n.pods_with_affinity == 0 {
                continue;
            }
            for p in &n.pods {
                let existing = &p.pod;
                let mut add = |key: &str, w: i64| {
                    if let Some(v) = node_label(n, key) {
                        scores.add(key, v, w);
                    }
                };
                for (t, w) in &own {
                    if t.matches(existing) {
                        add(&t.topology_key, *w);
                    }
                }
                // Existing pods' terms that match the incoming pod, parsed once per pod.
                let terms = &p.terms;
                for term in &terms.required_affinity {
                    any = true;
                    if self.hard_pod_affinity_weight > 0 && term.matches(pod) {
                        add(&term.topology_key, self.hard_pod_affinity_weight);
                    }
                }
                for (term, w) in terms.preferred_affinity.iter().chain(&terms.preferred_anti) {
                    any = true;
                    if term.matches(pod) {
                        add(&term.topology_key, *w);
                    }
                }
            }
        }
        if !any {
            return Status::skip();
        }
        state.write(SCORE_KEY, Arc::new(scores));
        Status::success()
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let scores = state
            .read::<Arc<TopoCounts>>(SCORE_KEY)
            .ok_or_else(|| Status::error(format!("reading {SCORE_KEY:?} from cycleState")))?;
        Ok(scores.sum_for(node))
    }

    fn normalize(&self, _s: &CycleState, _p: &Pod, scores: &mut [NodeScore]) -> Status {
        let min = scores.iter().map(|s| s.score).min().unwrap_or(0);
        let max = scores.iter().map(|s| s.score).max().unwrap_or(0);
        let diff = max - min;
        for s in scores.iter_mut() {
            s.score = if diff > 0 {
                (MAX_NODE_SCORE as f64 * ((s.score - min) as f64 / diff as f64)) as i64
            } else {
                0
            };
        }
        Status::success()
    }
}

/// Builds the plugin from `InterPodAffinityArgs` (`hardPodAffinityWeight`, default 1).
pub fn factory(args: Option<&serde_json::Value>, _h: &Handle) -> Result<PluginSet, RegistryError> {
    let w = args
        .and_then(|a| a.get("hardPodAffinityWeight"))
        .and_then(|v| v.as_i64())
        .unwrap_or(1);
    if !(0..=100).contains(&w) {
        return Err(RegistryError::Args {
            plugin: NAME.into(),
            message: format!(
                "hardPodAffinityWeight: Invalid value: {w}: not in valid range [0-100]"
            ),
        });
    }
    let p = Arc::new(InterPodAffinity {
        hard_pod_affinity_weight: w,
    });
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

    fn lpod(name: &str, labels: Value, affinity: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"containers": [], "affinity": affinity},
        }))
        .unwrap()
    }

    fn zone_node(name: &str, zone: &str, pods: Vec<Pod>) -> Arc<NodeInfo> {
        Arc::new(node_info(
            node(
                name,
                json!({"metadata": {"labels": {"zone": zone, "kubernetes.io/hostname": name}}}),
            ),
            pods,
        ))
    }

    fn term(key: &str, app: &str) -> Value {
        json!([{"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}])
    }

    fn run(p: &Pod, nodes: &[Arc<NodeInfo>]) -> Vec<(Code, String)> {
        let pl = InterPodAffinity {
            hard_pod_affinity_weight: 1,
        };
        let mut st = CycleState::default();
        let pre = pl.pre_filter(&mut st, p, nodes);
        if pre.code == Code::Skip {
            return nodes.iter().map(|_| (Code::Skip, String::new())).collect();
        }
        nodes
            .iter()
            .map(|n| {
                let s = pl.filter(&st, p, n);
                (s.code, s.message())
            })
            .collect()
    }

    #[test]
    fn filter_table() {
        // Mirrors upstream filtering_test.go: affinity to app=db in the same zone,
        // anti-affinity per host, existing pods' anti-affinity.
        let db = lpod("db", json!({"app": "db"}), Value::Null);
        let nodes = vec![
            zone_node("n1", "z1", vec![db.clone()]),
            zone_node("n2", "z1", vec![]),
            zone_node("n3", "z2", vec![]),
        ];
        let ok = (Code::Success, String::new());
        let aff = (Code::UnschedulableAndUnresolvable, ERR_AFFINITY.to_string());
        let anti = (Code::Unschedulable, ERR_ANTI_AFFINITY.to_string());
        let existing = (Code::Unschedulable, ERR_EXISTING_ANTI_AFFINITY.to_string());
        let cases = vec![
            (
                "no terms",
                lpod("p", json!({}), Value::Null),
                vec![(Code::Skip, String::new()); 3],
            ),
            (
                "affinity to db's zone",
                lpod(
                    "p",
                    json!({}),
                    json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": term("zone", "db")}}),
                ),
                vec![ok.clone(), ok.clone(), aff.clone()],
            ),
            (
                "affinity on a missing topology key",
                lpod(
                    "p",
                    json!({}),
                    json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": term("rack", "db")}}),
                ),
                vec![aff.clone(), aff.clone(), aff.clone()],
            ),
            (
                "first pod of a self-affine group",
                lpod(
                    "p",
                    json!({"app": "web"}),
                    json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": term("zone", "web")}}),
                ),
                vec![ok.clone(), ok.clone(), ok.clone()],
            ),
            (
                "anti-affinity to db's host",
                lpod(
                    "p",
                    json!({}),
                    json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": term("kubernetes.io/hostname", "db")}}),
                ),
                vec![anti.clone(), ok.clone(), ok.clone()],
            ),
            (
                "anti-affinity to db's zone",
                lpod(
                    "p",
                    json!({}),
                    json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": term("zone", "db")}}),
                ),
                vec![anti.clone(), anti.clone(), ok.clone()],
            ),
        ];
        for (name, p, want) in cases {
            assert_eq!(run(&p, &nodes), want, "{name}");
        }
        // An existing pod that refuses app=web in its zone.
        let guard = lpod(
            "guard",
            json!({}),
            json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": term("zone", "web")}}),
        );
        let nodes = vec![
            zone_node("n1", "z1", vec![guard]),
            zone_node("n2", "z1", vec![]),
            zone_node("n3", "z2", vec![]),
        ];
        assert_eq!(
            run(&lpod("p", json!({"app": "web"}), Value::Null), &nodes),
            vec![existing.clone(), existing, ok.clone()]
        );
        assert_eq!(
            run(&lpod("p", json!({"app": "other"}), Value::Null), &nodes),
            vec![ok.clone(), ok.clone(), ok]
        );
    }

    #[test]
    fn score_table() {
        let db = lpod("db", json!({"app": "db"}), Value::Null);
        let nodes = vec![
            zone_node("n1", "z1", vec![db]),
            zone_node("n2", "z1", vec![]),
            zone_node("n3", "z2", vec![]),
        ];
        let pref = |kind: &str, weight: i32| {
            json!({kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": weight, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}}
            ]}})
        };
        let cases = [
            (pref("podAffinity", 5), vec![100, 100, 0]),
            (pref("podAntiAffinity", 5), vec![0, 0, 100]),
        ];
        let pl = InterPodAffinity {
            hard_pod_affinity_weight: 1,
        };
        for (aff, want) in cases {
            let p = lpod("p", json!({}), aff.clone());
            let mut st = CycleState::default();
            assert!(pl.pre_score(&mut st, &p, &nodes).is_success());
            let mut scores: Vec<NodeScore> = nodes
                .iter()
                .enumerate()
                .map(|(index, n)| NodeScore {
                    index,
                    score: pl.score(&st, &p, n).unwrap(),
                })
                .collect();
            pl.normalize(&st, &p, &mut scores);
            assert_eq!(
                scores.iter().map(|s| s.score).collect::<Vec<_>>(),
                want,
                "{aff}"
            );
        }
    }
}
