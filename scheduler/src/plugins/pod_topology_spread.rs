//! PodTopologySpread: `spec.topologySpreadConstraints` (upstream
//! `plugins/podtopologyspread`, default score weight 2). `DoNotSchedule` constraints filter
//! nodes whose domain would exceed `maxSkew`; `ScheduleAnyway` constraints score nodes in
//! emptier domains higher.
//!
//! Pods without constraints of their own get the cluster defaults (`PodTopologySpreadArgs`):
//! with `defaultingType: System` (the default) upstream's `systemDefaultConstraints`
//! (maxSkew 3 on `kubernetes.io/hostname`, maxSkew 5 on `topology.kubernetes.io/zone`, both
//! ScheduleAnyway), with `List` the args' `defaultConstraints`. Their selector is built
//! per pod from the Services selecting it and its controlling ReplicationController,
//! ReplicaSet or StatefulSet (upstream `helper.DefaultSelector`); a pod with none of these
//! gets no default spreading.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, TopologySpreadConstraint};
use rudder_api::labels::Selector;

use super::helper::untolerated_scheduling_taint;
use super::node_affinity::pod_matches_node;
use crate::framework::{
    CycleState, FilterPlugin, NodeInfo, NodeScore, Plugin, PluginSet, PodInfo, PreFilterPlugin,
    PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::registry::{Handle, Listers, RegistryError};

/// The plugin's upstream name.
pub const NAME: &str = "PodTopologySpread";
/// Upstream `v1.LabelHostname`.
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
/// Upstream `v1.LabelTopologyZone`.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// Upstream `ErrReasonConstraintsNotMatch`.
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// Upstream `ErrReasonNodeLabelNotMatch`.
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
const FILTER_KEY: &str = "PreFilterPodTopologySpread";
const SCORE_KEY: &str = "PreScorePodTopologySpread";
/// Score's answer for a node left out of scoring (missing a topology label); real scores
/// are never negative, and NormalizeScore turns this into 0 (upstream keeps the ignored
/// node names for that).
const IGNORED: i64 = -1;

/// The plugin, with the default constraints for pods that have none.
#[derive(Default)]
pub struct PodTopologySpread {
    defaults: Vec<TopologySpreadConstraint>,
    /// `defaultingType: System`: nodes missing a default constraint's label still score.
    system_defaulted: bool,
    listers: Listers,
    /// PreFilter's counts kept between cycles (see [`CountCache`]).
    counts: std::sync::Mutex<Option<CountCache>>,
    /// PreScore's counts for its non-hostname constraints, kept the same way.
    score_counts: std::sync::Mutex<Option<CountCache>>,
}

/// Upstream `systemDefaultConstraints`.
pub fn system_default_constraints() -> Vec<TopologySpreadConstraint> {
    [(LABEL_HOSTNAME, 3), (LABEL_ZONE, 5)]
        .into_iter()
        .map(|(key, skew)| TopologySpreadConstraint {
            topology_key: key.into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            max_skew: skew,
            ..Default::default()
        })
        .collect()
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }
}

/// One constraint with its selector resolved.
#[derive(Clone)]
struct Constraint {
    max_skew: i64,
    key: String,
    selector: Selector,
    min_domains: Option<i64>,
    honor_affinity: bool,
    honor_taints: bool,
}

fn own_constraints(pod: &Pod) -> &[TopologySpreadConstraint] {
    pod.spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_deref())
        .unwrap_or(&[])
}

impl PodTopologySpread {
    /// The pod's constraints of one kind: its own, or the defaults with the selector
    /// derived from its Services and controller (upstream `buildDefaultConstraints`).
    fn constraints(&self, pod: &Pod, when: &str) -> Result<Vec<Constraint>, Status> {
        if !own_constraints(pod).is_empty() || self.defaults.is_empty() {
            return constraints(pod, when);
        }
        let Some(selector) = self.default_selector(pod) else {
            return Ok(Vec::new());
        };
        let selector = Selector::from_label_selector(&selector)
            .map_err(|e| Status::error(format!("building the default selector: {e}")))?;
        Ok(self
            .defaults
            .iter()
            .filter(|c| c.when_unsatisfiable == when)
            .map(|c| Constraint {
                max_skew: i64::from(c.max_skew),
                key: c.topology_key.clone(),
                selector: selector.clone(),
                min_domains: None,
                honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
            })
            .collect())
    }

    /// Upstream `helper.DefaultSelector`: the labels of every Service in the pod's namespace
    /// whose selector matches the pod, plus the selector of its controlling
    /// ReplicationController, ReplicaSet or StatefulSet. None when that is empty.
    pub fn default_selector(&self, pod: &Pod) -> Option<serde_json::Value> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let mut match_labels: BTreeMap<String, String> = BTreeMap::new();
        for svc in self.listers.services.read().iter() {
            if svc.metadata.namespace.as_deref() != Some(ns) {
                continue;
            }
            // A Service without a selector selects nothing (upstream `GetPodServices`).
            let Some(sel) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
                continue;
            };
            if sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                match_labels.extend(sel.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        let mut exprs: Vec<serde_json::Value> = Vec::new();
        let owner = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true));
        if let Some(o) = owner {
            let mine = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
                m.namespace.as_deref() == Some(ns) && m.name.as_deref() == Some(o.name.as_str())
            };
            let add_selector =
                |exprs: &mut Vec<serde_json::Value>,
                 sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector| {
                    for (k, v) in sel.match_labels.iter().flatten() {
                        exprs.push(serde_json::json!({"key": k, "operator": "In", "values": [v]}));
                    }
                    for e in sel.match_expressions.iter().flatten() {
                        exprs.push(serde_json::to_value(e).unwrap_or_default());
                    }
                };
            match (o.api_version.as_str(), o.kind.as_str()) {
                ("v1", "ReplicationController") => {
                    let rcs = self.listers.replication_controllers.read();
                    if let Some(sel) = rcs
                        .iter()
                        .find(|rc| mine(&rc.metadata))
                        .and_then(|rc| rc.spec.as_ref())
                        .and_then(|s| s.selector.as_ref())
                    {
                        match_labels.extend(sel.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                }
                ("apps/v1", "ReplicaSet") => {
                    let rss = self.listers.replica_sets.read();
                    if let Some(rs) = rss.iter().find(|rs| mine(&rs.metadata)) {
                        if let Some(spec) = rs.spec.as_ref() {
                            add_selector(&mut exprs, &spec.selector);
                        }
                    }
                }
                ("apps/v1", "StatefulSet") => {
                    let sss = self.listers.stateful_sets.read();
                    if let Some(ss) = sss.iter().find(|ss| mine(&ss.metadata)) {
                        if let Some(spec) = ss.spec.as_ref() {
                            add_selector(&mut exprs, &spec.selector);
                        }
                    }
                }
                _ => {}
            }
        }
        if match_labels.is_empty() && exprs.is_empty() {
            return None;
        }
        Some(serde_json::json!({"matchLabels": match_labels, "matchExpressions": exprs}))
    }

    /// Nodes missing a topology label are left out of scoring, except for system defaulted
    /// constraints (upstream `requireAllTopologies`).
    fn require_all_topologies(&self, pod: &Pod) -> bool {
        !own_constraints(pod).is_empty() || !self.system_defaulted
    }
}

fn constraints(pod: &Pod, when: &str) -> Result<Vec<Constraint>, Status> {
    let list = own_constraints(pod);
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
fn node_eligible(c: &Constraint, pod: &Pod, node: &NodeInfo) -> bool {
    if label(&node.node, &c.key).is_none() {
        return false;
    }
    if c.honor_affinity && !pod_matches_node(pod, &node.node) {
        return false;
    }
    if c.honor_taints {
        let tols = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or(&[]);
        if untolerated_scheduling_taint(&node.taints, tols).is_some() {
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
                && c.selector.matches_with(|k| {
                    p.pod
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(k))
                        .map(String::as_str)
                })
        })
        .count() as i64
}

/// The matching-pod counts of one constraint's domains (topology values).
#[derive(Clone, Default)]
struct Domains {
    /// Domain index by topology value. Indices are never reused: a domain whose last
    /// eligible node went away keeps its index with `nodes == 0` and counts as absent.
    index: HashMap<String, usize>,
    /// Matching pods per domain.
    pods: Vec<i64>,
    /// Eligible nodes per domain.
    nodes: Vec<u32>,
}

impl Domains {
    fn slot(&mut self, value: &str) -> usize {
        if let Some(&i) = self.index.get(value) {
            return i;
        }
        let i = self.pods.len();
        self.index.insert(value.to_string(), i);
        self.pods.push(0);
        self.nodes.push(0);
        i
    }

    /// Matching pods in the domain of `value`; 0 for an absent domain.
    fn count(&self, value: &str) -> i64 {
        self.index.get(value).map_or(0, |&i| self.pods[i])
    }

    /// Upstream `minMatchNum`: the smallest count over the present domains, 0 when fewer
    /// than `min_domains` domains are present.
    fn min(&self, min_domains: Option<i64>) -> i64 {
        let present = self.nodes.iter().filter(|&&n| n > 0).count() as i64;
        if min_domains.is_some_and(|d| present < d) {
            return 0;
        }
        self.pods
            .iter()
            .zip(&self.nodes)
            .filter(|(_, &n)| n > 0)
            .map(|(&p, _)| p)
            .min()
            .unwrap_or(0)
    }
}

#[derive(Clone)]
struct FilterState {
    constraints: Vec<Constraint>,
    /// Per constraint: matching pods per topology value.
    domains: Arc<Vec<Domains>>,
    /// Per constraint: 1 when the incoming pod matches its own selector.
    self_match: Vec<i64>,
    /// Per constraint: the global minimum over the eligible domains; zero when fewer
    /// domains than minDomains exist (upstream `minMatchNum`). Computed once in PreFilter
    /// rather than for every node.
    min: Vec<i64>,
}

/// A pod's nodeSelector and required node affinity.
type RequiredNodeTerms = (
    Option<BTreeMap<String, String>>,
    Option<k8s_openapi::api::core::v1::NodeSelector>,
);

/// Everything PreFilter's counts depend on besides the nodes: two pods with equal keys
/// (the replicas of one workload) get equal counts from equal snapshots.
#[derive(PartialEq)]
struct CountKey {
    namespace: Option<String>,
    /// Per constraint: topology key, selector, node affinity and taint policies.
    constraints: Vec<(String, Selector, bool, bool)>,
    /// The pod's nodeSelector and required node affinity, when a constraint honours it.
    affinity: Option<RequiredNodeTerms>,
    /// The pod's tolerations, when a constraint honours taints.
    tolerations: Option<Vec<k8s_openapi::api::core::v1::Toleration>>,
}

impl CountKey {
    fn new(pod: &Pod, cs: &[Constraint]) -> CountKey {
        let spec = pod.spec.as_ref();
        let affinity = cs.iter().any(|c| c.honor_affinity).then(|| {
            (
                spec.and_then(|s| s.node_selector.clone()),
                spec.and_then(|s| s.affinity.as_ref())
                    .and_then(|a| a.node_affinity.as_ref())
                    .and_then(|a| {
                        a.required_during_scheduling_ignored_during_execution
                            .clone()
                    }),
            )
        });
        let tolerations = cs
            .iter()
            .any(|c| c.honor_taints)
            .then(|| spec.and_then(|s| s.tolerations.clone()).unwrap_or_default());
        CountKey {
            namespace: pod.metadata.namespace.clone(),
            constraints: cs
                .iter()
                .map(|c| {
                    (
                        c.key.clone(),
                        c.selector.clone(),
                        c.honor_affinity,
                        c.honor_taints,
                    )
                })
                .collect(),
            affinity,
            tolerations,
        }
    }
}

/// PreFilter's counts from the previous cycle, updated for the nodes that changed since.
///
/// Upstream `calPreFilterState` walks every node and every pod on it for every pod it
/// schedules (16 goroutines wide). Consecutive pods of one workload share their
/// constraints, and between two cycles only the nodes that got or lost a pod change (the
/// snapshot swaps in a new `Arc<NodeInfo>` for exactly those), so this recounts only nodes
/// whose view is not the one counted last time: a pointer comparison per node instead of
/// a walk over its labels and pods.
struct CountCache {
    key: CountKey,
    /// The node views counted, by snapshot position.
    nodes: Vec<Arc<NodeInfo>>,
    /// Per position and constraint (`i * constraints + c`): the node's domain and its
    /// matching pods, `None` when the node does not count for the constraint.
    entries: Vec<Option<(u32, u32)>>,
    domains: Arc<Vec<Domains>>,
}

impl CountCache {
    fn new(key: CountKey) -> CountCache {
        let n = key.constraints.len();
        CountCache {
            key,
            nodes: Vec::new(),
            entries: Vec::new(),
            domains: Arc::new(vec![Domains::default(); n]),
        }
    }

    /// The counts of `cs` for `pod` over `nodes`, from the counts kept in `kept` when they
    /// were made for the same key (then only changed nodes are recounted), else counted
    /// afresh; `kept` holds the result for the next cycle.
    fn counts(
        kept: &std::sync::Mutex<Option<CountCache>>,
        cs: &[Constraint],
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> Arc<Vec<Domains>> {
        let key = CountKey::new(pod, cs);
        // A panic while counting would leave the cache half updated: start over.
        let mut guard = kept.lock().unwrap_or_else(|e| {
            let mut g = e.into_inner();
            *g = None;
            g
        });
        let cache = match guard.as_mut() {
            Some(c) if c.key == key => c,
            _ => guard.insert(CountCache::new(key)),
        };
        cache.update(cs, pod, nodes);
        cache.domains.clone()
    }

    /// Brings the counts up to date with `nodes`.
    fn update(&mut self, cs: &[Constraint], pod: &Pod, nodes: &[Arc<NodeInfo>]) {
        let k = cs.len();
        if self.nodes.len() > nodes.len() {
            // Removed nodes at the tail: take their contributions out first.
            for i in nodes.len()..self.nodes.len() {
                self.retract(i, k);
            }
            self.nodes.truncate(nodes.len());
            self.entries.truncate(nodes.len() * k);
        }
        for (i, n) in nodes.iter().enumerate() {
            if i < self.nodes.len() {
                if Arc::ptr_eq(&self.nodes[i], n) {
                    continue;
                }
                self.retract(i, k);
                self.nodes[i] = n.clone();
            } else {
                self.nodes.push(n.clone());
                self.entries.extend(std::iter::repeat_n(None, k));
            }
            let domains = Arc::make_mut(&mut self.domains);
            for (ci, c) in cs.iter().enumerate() {
                let entry = if node_eligible(c, pod, n) {
                    let d = &mut domains[ci];
                    let slot = d.slot(label(&n.node, &c.key).unwrap_or_default());
                    let m = count_matching(c, pod, n);
                    d.pods[slot] += m;
                    d.nodes[slot] += 1;
                    Some((slot as u32, m as u32))
                } else {
                    None
                };
                self.entries[i * k + ci] = entry;
            }
        }
    }

    /// Takes the contribution of position `i` out of the domain counts.
    fn retract(&mut self, i: usize, k: usize) {
        let domains = Arc::make_mut(&mut self.domains);
        let entries = &mut self.entries[i * k..(i + 1) * k];
        for (d, e) in domains.iter_mut().zip(entries) {
            if let Some((slot, m)) = e.take() {
                d.pods[slot as usize] -= i64::from(m);
                d.nodes[slot as usize] -= 1;
            }
        }
    }
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        let cs = match self.constraints(pod, "DoNotSchedule") {
            Ok(c) => c,
            Err(s) => return s,
        };
        if cs.is_empty() {
            return Status::skip();
        }
        let domains = CountCache::counts(&self.counts, &cs, pod, nodes);
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let self_match = cs
            .iter()
            .map(|c| i64::from(c.selector.matches(&labels)))
            .collect();
        let min = cs
            .iter()
            .zip(domains.iter())
            .map(|(c, d)| d.min(c.min_domains))
            .collect();
        state.write(
            FILTER_KEY,
            Arc::new(FilterState {
                constraints: cs,
                domains,
                self_match,
                min,
            }),
        );
        Status::success()
    }

    /// Upstream `preFilterState.updateWithPod`: a pod of the same namespace on a node that has
    /// every constraint's topology label changes the count of each constraint whose selector
    /// matches it and whose inclusion policies admit the node. The state is copied (the cycle's
    /// original and the kept counts stay as they are).
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
        if other.pod.metadata.namespace != pod.metadata.namespace
            || !st
                .constraints
                .iter()
                .all(|c| label(&node.node, &c.key).is_some())
        {
            return Status::success();
        }
        let labels = other.pod.metadata.labels.clone().unwrap_or_default();
        let mut next = FilterState::clone(st);
        let mut domains: Vec<Domains> = (*next.domains).clone();
        let mut changed = false;
        for (i, c) in next.constraints.iter().enumerate() {
            if !c.selector.matches(&labels) || !node_eligible(c, pod, node) {
                continue;
            }
            let d = &mut domains[i];
            let slot = d.slot(label(&node.node, &c.key).unwrap_or_default());
            d.pods[slot] += delta;
            if d.nodes[slot] == 0 {
                // A domain PreFilter did not see (the node was not counted then): it exists
                // from now on, as upstream's map entry does after `+= delta`.
                d.nodes[slot] = 1;
            }
            next.min[i] = d.min(c.min_domains);
            changed = true;
        }
        if changed {
            next.domains = Arc::new(domains);
            state.write(FILTER_KEY, Arc::new(next));
        }
        Status::success()
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Status {
        let Some(st) = state.read::<Arc<FilterState>>(FILTER_KEY) else {
            return Status::error(format!("reading {FILTER_KEY:?} from cycleState"));
        };
        for (i, (c, domains)) in st.constraints.iter().zip(st.domains.iter()).enumerate() {
            let Some(value) = label(&node.node, &c.key) else {
                return Status::unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH);
            };
            let (self_match, min) = (st.self_match[i], st.min[i]);
            if domains.count(value) + self_match - min > c.max_skew {
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
        let cs = match self.constraints(pod, "ScheduleAnyway") {
            Ok(c) => c,
            Err(s) => return s,
        };
        if cs.is_empty() {
            return Status::skip();
        }
        let mut ignored = BTreeSet::new();
        if self.require_all_topologies(pod) {
            for n in nodes {
                if cs.iter().any(|c| label(&n.node, &c.key).is_none()) {
                    ignored.insert(n.name().to_string());
                }
            }
        }
        // Matching pods per domain over every node, for the constraints that are not per
        // host, from counts kept between cycles as PreFilter does (the system default
        // zone constraint of every ReplicaSet pod would otherwise walk all nodes per pod).
        let spread: Vec<Constraint> = cs
            .iter()
            .filter(|c| c.key != LABEL_HOSTNAME)
            .cloned()
            .collect();
        let all = if spread.is_empty() {
            None
        } else {
            Some(CountCache::counts(
                &self.score_counts,
                &spread,
                pod,
                state.all_nodes(nodes),
            ))
        };
        let mut spread_index = 0;
        let mut counts = Vec::new();
        let mut weights = Vec::new();
        for c in &cs {
            // Upstream `initPreScoreState`: the domains are those of the feasible nodes,
            // and only their pairs are counted over all nodes. Per-host counts are read
            // from the node itself in Score, so the hostname constraint builds no map.
            let hostname = c.key == LABEL_HOSTNAME;
            let mut m: HashMap<String, i64> = HashMap::new();
            let mut domains = 0usize;
            for n in nodes {
                if !ignored.is_empty() && ignored.contains(n.name()) {
                    continue;
                }
                if let Some(v) = label(&n.node, &c.key) {
                    if hostname {
                        domains += 1;
                    } else if !m.contains_key(v) {
                        m.insert(v.to_string(), 0);
                        domains += 1;
                    }
                }
            }
            weights.push(((domains + 2) as f64).ln());
            if !hostname {
                // Upstream counts matching pods on every node of the snapshot, not only
                // the feasible ones; the kept counts are exactly that.
                if let Some(all) = &all {
                    let d = &all[spread_index];
                    for (v, cnt) in m.iter_mut() {
                        *cnt = d.count(v);
                    }
                }
                spread_index += 1;
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
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let st = state
            .read::<Arc<ScoreState>>(SCORE_KEY)
            .ok_or_else(|| Status::error(format!("reading {SCORE_KEY:?} from cycleState")))?;
        if st.ignored.contains(node.name()) {
            return Ok(IGNORED);
        }
        let mut score = 0.0;
        for ((c, counts), w) in st.constraints.iter().zip(&st.counts).zip(&st.weights) {
            if let Some(v) = label(&node.node, &c.key) {
                let cnt = if c.key == LABEL_HOSTNAME {
                    // Upstream counts a host's pods in Score.
                    count_matching(c, pod, node)
                } else {
                    counts.get(v).copied().unwrap_or(0)
                };
                // Upstream `scoreForCount`.
                score += cnt as f64 * w + (c.max_skew - 1) as f64;
            }
        }
        Ok(score.round() as i64)
    }

    fn normalize(&self, state: &CycleState, _pod: &Pod, scores: &mut [NodeScore]) -> Status {
        if state.read::<Arc<ScoreState>>(SCORE_KEY).is_none() {
            return Status::error(format!("reading {SCORE_KEY:?} from cycleState"));
        }
        let valid = scores.iter().map(|s| s.score).filter(|s| *s != IGNORED);
        let min = valid.clone().min().unwrap_or(0);
        let max = valid.max().unwrap_or(0);
        for s in scores.iter_mut() {
            if s.score == IGNORED {
                // Upstream: nodes missing a required topology label score 0.
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

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Args {
    #[serde(default)]
    default_constraints: Vec<TopologySpreadConstraint>,
    #[serde(default)]
    defaulting_type: Option<String>,
}

/// Upstream `ValidatePodTopologySpreadArgs` (the rules that apply here).
fn validate(a: &Args, defaulting: &str) -> Result<(), String> {
    match defaulting {
        "System" if !a.default_constraints.is_empty() => {
            return Err(
                "defaultingType: Invalid value: \"System\": when .defaultConstraints are not empty"
                    .into(),
            )
        }
        "System" | "List" => {}
        other => {
            return Err(format!(
            "defaultingType: Unsupported value: {other:?}: supported values: \"List\", \"System\""
        ))
        }
    }
    let mut seen = BTreeSet::new();
    for (i, c) in a.default_constraints.iter().enumerate() {
        let path = format!("defaultConstraints[{i}]");
        if c.max_skew <= 0 {
            return Err(format!(
                "{path}.maxSkew: Invalid value: {}: must be greater than zero",
                c.max_skew
            ));
        }
        if c.topology_key.is_empty() {
            return Err(format!(
                "{path}.topologyKey: Required value: can not be empty"
            ));
        }
        if !["DoNotSchedule", "ScheduleAnyway"].contains(&c.when_unsatisfiable.as_str()) {
            return Err(format!(
                "{path}.whenUnsatisfiable: Unsupported value: {:?}: supported values: \"DoNotSchedule\", \"ScheduleAnyway\"",
                c.when_unsatisfiable
            ));
        }
        if !seen.insert((c.topology_key.clone(), c.when_unsatisfiable.clone())) {
            return Err(format!(
                "{path}: Duplicate value: {{{:?}, {:?}}}",
                c.topology_key, c.when_unsatisfiable
            ));
        }
        if c.label_selector.is_some() {
            return Err(format!(
                "{path}.labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod"
            ));
        }
    }
    Ok(())
}

/// Builds the plugin from `PodTopologySpreadArgs` (`defaultConstraints`, `defaultingType`
/// defaulting to System as upstream v1).
pub fn factory(args: Option<&serde_json::Value>, h: &Handle) -> Result<PluginSet, RegistryError> {
    let bad = |m: String| RegistryError::Args {
        plugin: NAME.into(),
        message: m,
    };
    let a: Args = match args {
        None => Args::default(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| bad(e.to_string()))?,
    };
    let defaulting = a.defaulting_type.clone().unwrap_or_else(|| "System".into());
    validate(&a, &defaulting).map_err(bad)?;
    let system = defaulting == "System";
    let p = Arc::new(PodTopologySpread {
        defaults: if system {
            system_default_constraints()
        } else {
            a.default_constraints
        },
        system_defaulted: system,
        listers: h.listers.clone(),
        counts: Default::default(),
        score_counts: Default::default(),
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
            assert!(PodTopologySpread::default()
                .pre_filter(&mut st, &p, &nodes)
                .is_success());
            let got: Vec<Code> = nodes
                .iter()
                .map(|n| PodTopologySpread::default().filter(&st, &p, n).code)
                .collect();
            assert_eq!(got, want, "{spec}");
        }
        // Without constraints the plugin skips.
        let p = labelled_pod("p", json!({}), json!({}));
        assert_eq!(
            PodTopologySpread::default()
                .pre_filter(&mut CycleState::default(), &p, &nodes)
                .code,
            Code::Skip
        );
    }

    /// Filter codes of `p` on every node, from `plugin`'s PreFilter.
    fn codes(plugin: &PodTopologySpread, p: &Pod, nodes: &[Arc<NodeInfo>]) -> Vec<Code> {
        let mut st = CycleState::default();
        assert!(plugin.pre_filter(&mut st, p, nodes).is_success());
        nodes
            .iter()
            .map(|n| plugin.filter(&st, p, n).code)
            .collect()
    }

    #[test]
    fn kept_counts_follow_node_changes() {
        // One plugin instance across cycles (the kept counts) must agree with a fresh one
        // (a full count) after every kind of snapshot change.
        let kept = PodTopologySpread::default();
        let spec = spread("DoNotSchedule", "zone", 1);
        let p = labelled_pod("p", json!({"foo": ""}), spec.clone());
        let mut nodes = vec![
            zone_node("node-a", "zone1", 1),
            zone_node("node-b", "zone1", 0),
            zone_node("node-x", "zone2", 0),
            zone_node("node-y", "zone2", 0),
        ];
        let check = |nodes: &[Arc<NodeInfo>], what: &str| {
            let fresh = codes(&PodTopologySpread::default(), &p, nodes);
            assert_eq!(codes(&kept, &p, nodes), fresh, "{what}");
            fresh
        };
        use Code::{Success as S, Unschedulable as U};
        assert_eq!(check(&nodes, "first count"), vec![U, U, S, S]);
        // A pod lands on node-x: zone2 catches up, every node fits again.
        nodes[2] = zone_node("node-x", "zone2", 1);
        assert_eq!(check(&nodes, "pod added"), vec![S; 4]);
        // node-a loses its pod.
        nodes[0] = zone_node("node-a", "zone1", 0);
        assert_eq!(check(&nodes, "pod removed"), vec![S, S, U, U]);
        // node-y moves to a new zone3 with no pods: the minimum drops to 0 there.
        nodes[3] = zone_node("node-y", "zone3", 0);
        assert_eq!(check(&nodes, "label changed"), vec![S, S, U, S]);
        // The last node goes: zone3 disappears from the domains.
        nodes.pop();
        assert_eq!(check(&nodes, "node removed"), vec![S, S, U]);
        // A new node is added at the end (and one in the middle is replaced at once).
        nodes.push(zone_node("node-z", "zone4", 0));
        nodes[1] = zone_node("node-b", "zone1", 2);
        assert_eq!(check(&nodes, "node added"), vec![U, U, U, S]);
        // A pod with other constraints starts over, and back again.
        let other = labelled_pod("q", json!({"foo": ""}), spread("DoNotSchedule", "node", 1));
        let mut st = CycleState::default();
        kept.pre_filter(&mut st, &other, &nodes);
        let fresh = codes(&PodTopologySpread::default(), &other, &nodes);
        assert_eq!(
            nodes
                .iter()
                .map(|n| kept.filter(&st, &other, n).code)
                .collect::<Vec<_>>(),
            fresh
        );
        check(&nodes, "after another pod's cycle");
    }

    #[test]
    fn node_taints_policy_honor_leaves_out_tainted_domains() {
        // zone1 has only a tainted, empty node; zone2 holds two matching pods. Ignoring
        // taints (the default) the minimum is zone1's 0, so zone2 is over maxSkew 1;
        // honouring them zone1 is no domain, the minimum is 2 and zone2 fits.
        let tainted = Arc::new(node_info(
            node(
                "node-a",
                json!({"metadata": {"labels": {"zone": "zone1", "node": "node-a"}},
                       "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}),
            ),
            vec![],
        ));
        let nodes = vec![tainted, zone_node("node-x", "zone2", 2)];
        for (policy, want) in [("Ignore", Code::Unschedulable), ("Honor", Code::Success)] {
            let mut spec = spread("DoNotSchedule", "zone", 1);
            spec["topologySpreadConstraints"][0]["nodeTaintsPolicy"] = json!(policy);
            let p = labelled_pod("p", json!({"foo": ""}), spec);
            assert_eq!(
                codes(&PodTopologySpread::default(), &p, &nodes)[1],
                want,
                "{policy}"
            );
        }
    }

    #[test]
    fn min_domains_forces_new_domains() {
        let nodes = vec![zone_node("node-a", "zone1", 1)];
        let mut spec = spread("DoNotSchedule", "zone", 1);
        spec["topologySpreadConstraints"][0]["minDomains"] = json!(2);
        let p = labelled_pod("p", json!({"foo": ""}), spec);
        let mut st = CycleState::default();
        PodTopologySpread::default().pre_filter(&mut st, &p, &nodes);
        // One domain only, so the minimum counts as 0: 1 + 1 - 0 > 1.
        assert_eq!(
            PodTopologySpread::default().filter(&st, &p, &nodes[0]).code,
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
        assert!(PodTopologySpread::default()
            .pre_score(&mut st, &p, &nodes)
            .is_success());
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .enumerate()
            .map(|(index, n)| NodeScore {
                index,
                score: PodTopologySpread::default().score(&st, &p, n).unwrap(),
            })
            .collect();
        // weight = ln(3 + 2) ~ 1.609: raw 5, 0, 2.
        assert_eq!(
            scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            vec![5, 0, 2]
        );
        PodTopologySpread::default().normalize(&st, &p, &mut scores);
        // 100 * (5 + 0 - s) / 5
        assert_eq!(
            scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            vec![0, 100, 60]
        );
    }

    fn web_pod(name: &str, extra: Value) -> Pod {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": []},
        });
        crate::plugins::testing::merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn owned_by_rs() -> Value {
        json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "name": "rs1", "uid": "u1", "controller": true}]}})
    }

    fn listers_with_rs() -> Listers {
        let l = Listers::default();
        let rs: k8s_openapi::api::apps::v1::ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "rs1", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {}}
        }))
        .unwrap();
        l.replica_sets.write().push(Arc::new(rs));
        l
    }

    fn host_zone_node(name: &str, zone: Option<&str>, web_pods: usize) -> Arc<NodeInfo> {
        let mut labels = json!({"kubernetes.io/hostname": name});
        if let Some(z) = zone {
            labels["topology.kubernetes.io/zone"] = json!(z);
        }
        let pods = (0..web_pods)
            .map(|i| web_pod(&format!("{name}-{i}"), json!({})))
            .collect();
        Arc::new(node_info(
            node(name, json!({"metadata": {"labels": labels}})),
            pods,
        ))
    }

    fn plugin(args: Option<Value>, listers: Listers) -> PodTopologySpread {
        let h = Handle {
            listers,
            ..Default::default()
        };
        let set = factory(args.as_ref(), &h).unwrap();
        assert!(set.filter.is_some());
        // Rebuild the concrete type the factory made, with the same args.
        let a: Args = args
            .map(|v| serde_json::from_value(v).unwrap())
            .unwrap_or_default();
        let system = a.defaulting_type.as_deref().unwrap_or("System") == "System";
        PodTopologySpread {
            defaults: if system {
                system_default_constraints()
            } else {
                a.default_constraints
            },
            system_defaulted: system,
            listers: h.listers,
            counts: Default::default(),
            score_counts: Default::default(),
        }
    }

    fn prescore_and_score(
        pl: &PodTopologySpread,
        p: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> Option<Vec<i64>> {
        prescore_and_score_within(pl, p, &[], nodes)
    }

    /// PreScore, Score and NormalizeScore of `nodes` (the feasible ones) in a cycle whose
    /// snapshot holds `all` (none when empty: plugins then count over `nodes`).
    fn prescore_and_score_within(
        pl: &PodTopologySpread,
        p: &Pod,
        all: &[Arc<NodeInfo>],
        nodes: &[Arc<NodeInfo>],
    ) -> Option<Vec<i64>> {
        let mut st = CycleState::default();
        if !all.is_empty() {
            st.snapshot = Arc::new(crate::framework::Snapshot::from_nodes(all.to_vec()));
        }
        let s = pl.pre_score(&mut st, p, nodes);
        if s.code == Code::Skip {
            return None;
        }
        assert!(s.is_success(), "{s:?}");
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .enumerate()
            .map(|(index, n)| NodeScore {
                index,
                score: pl.score(&st, p, n).unwrap(),
            })
            .collect();
        pl.normalize(&st, p, &mut scores);
        Some(scores.iter().map(|s| s.score).collect())
    }

    #[test]
    fn kept_score_counts_follow_node_changes() {
        // PreScore's zone counts come from counts kept between cycles; a fresh plugin
        // counts everything. Both must score alike after each change, including when the
        // feasible nodes are a subset of the snapshot (counts are over all nodes).
        let kept = PodTopologySpread::default();
        let spec = json!({"topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}},
            {"maxSkew": 1, "topologyKey": "node", "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}}]});
        let p = labelled_pod("p", json!({"foo": ""}), spec);
        let scores = |pl: &PodTopologySpread, all: &[Arc<NodeInfo>], feasible: &[Arc<NodeInfo>]| {
            prescore_and_score_within(pl, &p, all, feasible).expect("PreScore skipped")
        };
        let check = |all: &[Arc<NodeInfo>], what: &str| {
            for feasible in [all, &all[1..]] {
                let fresh = scores(&PodTopologySpread::default(), all, feasible);
                assert_eq!(scores(&kept, all, feasible), fresh, "{what}");
            }
        };
        let mut nodes = vec![
            zone_node("node-a", "zone1", 2),
            zone_node("node-b", "zone1", 0),
            zone_node("node-x", "zone2", 0),
            zone_node("node-y", "zone2", 1),
        ];
        check(&nodes, "first count");
        nodes[2] = zone_node("node-x", "zone2", 3);
        check(&nodes, "pods added");
        nodes[0] = zone_node("node-a", "zone3", 0);
        check(&nodes, "label and pods changed");
        nodes.pop();
        check(&nodes, "node removed");
        nodes.push(zone_node("node-z", "zone1", 4));
        check(&nodes, "node added");
    }

    #[test]
    fn system_defaults_spread_pods_of_a_replicaset() {
        // Mirrors upstream scoring_test.go "system defaults" cases: hostname maxSkew 3 and
        // zone maxSkew 5, ScheduleAnyway, selector from the owning ReplicaSet.
        let pl = plugin(None, listers_with_rs());
        let nodes = vec![
            host_zone_node("n1", Some("zone-a"), 2),
            host_zone_node("n2", Some("zone-a"), 0),
            host_zone_node("n3", Some("zone-b"), 1),
        ];
        let p = web_pod("p", owned_by_rs());
        // raw: n1 2*ln5+2 + 2*ln4+4 = 12; n2 0+2 + 2*ln4+4 = 9; n3 ln5+2 + ln4+4 = 9.
        assert_eq!(
            prescore_and_score(&pl, &p, &nodes),
            Some(vec![75, 100, 100])
        );
        // System defaults are score-only: the filter has nothing to do.
        assert_eq!(
            pl.pre_filter(&mut CycleState::default(), &p, &nodes).code,
            Code::Skip
        );
        // A node without a zone label still scores (upstream requireAllTopologies is
        // false for system defaulting).
        let nodes = vec![
            host_zone_node("n1", Some("zone-a"), 1),
            host_zone_node("n2", None, 0),
        ];
        let got = prescore_and_score(&pl, &p, &nodes).unwrap();
        assert!(got[1] > got[0], "{got:?}");
    }

    #[test]
    fn default_selector_sources() {
        let nodes = vec![host_zone_node("n1", Some("zone-a"), 1)];
        // Neither a Service nor a controller: no default spreading.
        let pl = plugin(None, listers_with_rs());
        assert_eq!(
            prescore_and_score(&pl, &web_pod("p", json!({})), &nodes),
            None
        );
        assert_eq!(pl.default_selector(&web_pod("p", json!({}))), None);
        // A Service selecting the pod gives the selector.
        let l = Listers::default();
        let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}}
        }))
        .unwrap();
        l.services.write().push(Arc::new(svc));
        let other: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
            "metadata": {"name": "other", "namespace": "default"},
            "spec": {"selector": {"app": "db"}}
        }))
        .unwrap();
        l.services.write().push(Arc::new(other));
        let pl = plugin(None, l);
        assert_eq!(
            pl.default_selector(&web_pod("p", json!({}))),
            Some(json!({"matchLabels": {"app": "web"}, "matchExpressions": []}))
        );
        assert!(prescore_and_score(&pl, &web_pod("p", json!({})), &nodes).is_some());
        // The ReplicaSet's selector becomes requirements.
        let pl = plugin(None, listers_with_rs());
        assert_eq!(
            pl.default_selector(&web_pod("p", owned_by_rs())),
            Some(json!({"matchLabels": {}, "matchExpressions": [
                {"key": "app", "operator": "In", "values": ["web"]}]}))
        );
        // Pods with their own constraints ignore the defaults.
        let own = web_pod(
            "p",
            json!({"spec": {"topologySpreadConstraints": [{"maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "web"}}}]}}),
        );
        assert!(pl
            .pre_filter(&mut CycleState::default(), &own, &nodes)
            .is_success());
        assert_eq!(prescore_and_score(&pl, &own, &nodes), None);
    }

    #[test]
    fn list_defaulting_filters() {
        let args = json!({"defaultingType": "List", "defaultConstraints": [
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}]});
        let pl = plugin(Some(args), listers_with_rs());
        let nodes = vec![
            host_zone_node("n1", Some("zone-a"), 2),
            host_zone_node("n2", Some("zone-b"), 1),
        ];
        let p = web_pod("p", owned_by_rs());
        let mut st = CycleState::default();
        assert!(pl.pre_filter(&mut st, &p, &nodes).is_success());
        let got: Vec<Code> = nodes.iter().map(|n| pl.filter(&st, &p, n).code).collect();
        assert_eq!(got, vec![Code::Unschedulable, Code::Success]);
    }

    #[test]
    fn args_errors() {
        let cases = [
            (
                json!({"defaultConstraints": [{"maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "ScheduleAnyway"}]}),
                "defaultingType: Invalid value: \"System\": when .defaultConstraints are not empty",
            ),
            (
                json!({"defaultingType": "List", "defaultConstraints": [{"maxSkew": 0, "topologyKey": "k", "whenUnsatisfiable": "ScheduleAnyway"}]}),
                "defaultConstraints[0].maxSkew: Invalid value: 0: must be greater than zero",
            ),
            (
                json!({"defaultingType": "List", "defaultConstraints": [
                    {"maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "ScheduleAnyway"},
                    {"maxSkew": 2, "topologyKey": "k", "whenUnsatisfiable": "ScheduleAnyway"}]}),
                "defaultConstraints[1]: Duplicate value: {\"k\", \"ScheduleAnyway\"}",
            ),
            (
                json!({"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "k",
                    "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"a": "b"}}}]}),
                "defaultConstraints[0].labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod",
            ),
            (
                json!({"defaultingType": "Other"}),
                "defaultingType: Unsupported value: \"Other\": supported values: \"List\", \"System\"",
            ),
        ];
        for (args, want) in cases {
            let err = factory(Some(&args), &Handle::default())
                .err()
                .expect("an error");
            assert_eq!(
                err.to_string(),
                format!("initializing plugin \"PodTopologySpread\": {want}"),
                "{args}"
            );
        }
        assert!(factory(Some(&json!({"defaultingType": "List"})), &Handle::default()).is_ok());
    }
}
