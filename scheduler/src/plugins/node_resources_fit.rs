//! NodeResourcesFit: the node must have room for the pod's requests (cpu, memory,
//! ephemeral-storage, extended resources, pod count), and nodes are scored by a scoring
//! strategy: LeastAllocated by default, MostAllocated, or RequestedToCapacityRatio with a
//! utilization shape (upstream `plugins/noderesources/fit.go`, `least_allocated.go`,
//! `most_allocated.go`, `requested_to_capacity_ratio.go`; default score weight 1).

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;

use crate::framework::{
    CycleState, FilterPlugin, NodeInfo, Plugin, PluginSet, PreFilterPlugin, PreScorePlugin,
    ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::registry::{Handle, RegistryError};
use crate::resources::{ResourceList, CPU, EPHEMERAL_STORAGE, MEMORY, PODS};

/// The plugin's upstream name.
pub const NAME: &str = "NodeResourcesFit";
const STATE_KEY: &str = "PreFilterNodeResourcesFit";
const SCORE_KEY: &str = "PreScoreNodeResourcesFit";
/// Upstream `config.MaxCustomPriorityScore`: shape scores are given in 0..=10.
pub const MAX_CUSTOM_PRIORITY_SCORE: i64 = 10;
/// Upstream `maxUtilization`.
const MAX_UTILIZATION: i64 = 100;

/// A resource and its weight in scoring (upstream `config.ResourceSpec`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ResourceSpec {
    /// The resource name.
    pub name: String,
    /// Its weight; upstream defaults 0 to 1.
    #[serde(default)]
    pub weight: i64,
}

/// Upstream's default scored resources: cpu and memory, weight 1 each.
pub fn default_resources() -> Vec<ResourceSpec> {
    vec![
        ResourceSpec {
            name: CPU.into(),
            weight: 1,
        },
        ResourceSpec {
            name: MEMORY.into(),
            weight: 1,
        },
    ]
}

/// One point of a RequestedToCapacityRatio shape (upstream `UtilizationShapePoint`):
/// utilization in percent (0..=100) and score in 0..=10.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct ShapePoint {
    /// Utilization in percent.
    pub utilization: i64,
    /// Score at that utilization, 0..=10.
    pub score: i64,
}

/// Which scoring function ranks the nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// Prefer the emptiest nodes (the default).
    LeastAllocated,
    /// Prefer the fullest nodes (bin packing).
    MostAllocated,
    /// A piecewise linear function of utilization; the points' scores already scaled to
    /// 0..=MAX_NODE_SCORE.
    RequestedToCapacityRatio(Vec<ShapePoint>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RatioArgs {
    #[serde(default)]
    shape: Vec<ShapePoint>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScoringStrategyArgs {
    #[serde(rename = "type")]
    kind: Option<String>,
    resources: Option<Vec<ResourceSpec>>,
    requested_to_capacity_ratio: Option<RatioArgs>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FitArgs {
    #[serde(default)]
    ignored_resources: Vec<String>,
    #[serde(default)]
    ignored_resource_groups: Vec<String>,
    scoring_strategy: Option<ScoringStrategyArgs>,
}

/// The plugin.
#[derive(Debug, Clone)]
pub struct Fit {
    ignored_resources: BTreeSet<String>,
    ignored_groups: BTreeSet<String>,
    strategy: Strategy,
    resources: Vec<ResourceSpec>,
}

impl Default for Fit {
    fn default() -> Fit {
        Fit {
            ignored_resources: BTreeSet::new(),
            ignored_groups: BTreeSet::new(),
            strategy: Strategy::LeastAllocated,
            resources: default_resources(),
        }
    }
}

impl Plugin for Fit {
    fn name(&self) -> &'static str {
        NAME
    }
}

/// One resource the node lacks (upstream `InsufficientResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsufficientResource {
    /// The resource.
    pub name: String,
    /// "Insufficient cpu", "Too many pods", ...
    pub reason: String,
    /// Whether even an empty node could not hold the request (preemption would not help).
    pub unresolvable: bool,
}

/// The pod's requests as Filter reads them (PreFilter state).
struct FitRequest {
    /// cpu, memory, ephemeral-storage, pods.
    core: [i64; 4],
    /// Whether the pod requests nothing at all.
    all_zero: bool,
    /// Requested extended resources that are not ignored, by name.
    extended: Vec<(String, i64)>,
}

fn get(l: &ResourceList, k: &str) -> i64 {
    l.get(k).copied().unwrap_or(0)
}

impl Fit {
    fn ignored(&self, name: &str) -> bool {
        if self.ignored_resources.contains(name) {
            return true;
        }
        name.split_once('/')
            .is_some_and(|(group, _)| self.ignored_groups.contains(group))
    }

    /// Lists what the node lacks for `req` (upstream `fitsRequest`).
    pub fn insufficient(&self, req: &ResourceList, node: &NodeInfo) -> Vec<InsufficientResource> {
        self.insufficient_for(&self.fit_request(req), node)
    }

    /// Sorts the pod's requests out once per cycle: the core amounts in an array, and the
    /// extended resources that are not ignored.
    fn fit_request(&self, req: &ResourceList) -> FitRequest {
        FitRequest {
            core: crate::resources::core_of(req),
            all_zero: req.values().all(|v| *v == 0),
            extended: req
                .iter()
                .filter(|(name, _)| {
                    crate::resources::core_index(name).is_none() && !self.ignored(name)
                })
                .map(|(name, v)| (name.clone(), *v))
                .collect(),
        }
    }

    fn insufficient_for(&self, req: &FitRequest, node: &NodeInfo) -> Vec<InsufficientResource> {
        let mut out = Vec::new();
        let allowed_pods = node.allocatable_core[3];
        if node.pods.len() as i64 + 1 > allowed_pods {
            out.push(InsufficientResource {
                name: PODS.into(),
                reason: "Too many pods".into(),
                unresolvable: false,
            });
        }
        if req.all_zero {
            return out;
        }
        let mut check = |name: &str, want: i64, alloc: i64, requested: i64| {
            if want <= 0 {
                return;
            }
            if want > alloc - requested {
                out.push(InsufficientResource {
                    name: name.into(),
                    reason: format!("Insufficient {name}"),
                    unresolvable: want > alloc,
                });
            }
        };
        for (i, name) in [CPU, MEMORY, EPHEMERAL_STORAGE].into_iter().enumerate() {
            check(
                name,
                req.core[i],
                node.allocatable_core[i],
                node.requested_core[i],
            );
        }
        for (name, want) in &req.extended {
            check(
                name,
                *want,
                get(&node.allocatable, name),
                get(&node.requested, name),
            );
        }
        out
    }

    /// (requested including the pod, allocatable) of one scored resource on a node
    /// (upstream `calculateResourceAllocatableRequest` with `useRequested` false: cpu and
    /// memory use the non-zero defaults).
    fn requested_allocatable(
        &self,
        pod: &crate::framework::PodInfo,
        node: &NodeInfo,
        name: &str,
    ) -> (i64, i64) {
        let alloc = node.allocatable_of(name);
        match name {
            CPU => (node.non_zero_requested.0 + pod.non_zero.0, alloc),
            MEMORY => (node.non_zero_requested.1 + pod.non_zero.1, alloc),
            _ => {
                let want = match crate::resources::core_index(name) {
                    Some(i) => pod.requests_core[i],
                    None => get(&pod.requests, name),
                };
                // Extended resources the pod does not ask for are left out of the score.
                if want == 0 && name != EPHEMERAL_STORAGE {
                    return (0, 0);
                }
                (node.requested_of(name) + want, alloc)
            }
        }
    }
}

/// Upstream `leastRequestedScore`.
fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// Upstream `mostRequestedScore`.
fn most_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

/// Upstream `helper.BuildBrokenLinearFunction`: the score of the first point at or above
/// `p`, interpolated linearly from the point before it; flat outside the shape.
pub fn broken_linear(shape: &[ShapePoint], p: i64) -> i64 {
    for (i, pt) in shape.iter().enumerate() {
        if p <= pt.utilization {
            if i == 0 {
                return pt.score;
            }
            let prev = shape[i - 1];
            return prev.score
                + (pt.score - prev.score) * (p - prev.utilization)
                    / (pt.utilization - prev.utilization);
        }
    }
    shape.last().map_or(0, |p| p.score)
}

/// Upstream `scaledUtilization`: requested * 100 / capacity, clamped to 0..=100, in 128-bit
/// arithmetic so large byte counts do not overflow.
fn scaled_utilization(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested <= 0 {
        return 0;
    }
    if requested >= capacity {
        return MAX_UTILIZATION;
    }
    (i128::from(requested) * i128::from(MAX_UTILIZATION) / i128::from(capacity)) as i64
}

/// Upstream `requestedToCapacityRatioScorer` for one resource: a full (or unknown)
/// resource scores as 100% utilization.
fn ratio_score(shape: &[ShapePoint], requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return broken_linear(shape, MAX_UTILIZATION);
    }
    broken_linear(shape, scaled_utilization(requested, capacity))
}

impl PreFilterPlugin for Fit {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, _n: &[Arc<NodeInfo>]) -> Status {
        let req = self.fit_request(&crate::resources::pod_requests(pod));
        state.write(STATE_KEY, req);
        Status::success()
    }
}

impl PreScorePlugin for Fit {
    /// Computes the pod's requests once per cycle instead of once per scored node
    /// (upstream `PreScore` writes `preScoreState` with the pod requests).
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, _n: &[Arc<NodeInfo>]) -> Status {
        state.write(
            SCORE_KEY,
            crate::framework::PodInfo::new(Arc::new(pod.clone())),
        );
        Status::success()
    }
}

impl FilterPlugin for Fit {
    fn filter(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Status {
        let Some(req) = state.read::<FitRequest>(STATE_KEY) else {
            return Status::error(format!("reading {STATE_KEY:?} from cycleState"));
        };
        let ins = self.insufficient_for(req, node);
        if ins.is_empty() {
            return Status::success();
        }
        let code = if ins.iter().any(|i| i.unresolvable) {
            crate::framework::Code::UnschedulableAndUnresolvable
        } else {
            crate::framework::Code::Unschedulable
        };
        Status::new(code, ins.into_iter().map(|i| i.reason))
    }
}

impl ScorePlugin for Fit {
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let computed;
        let pi = match state.read::<crate::framework::PodInfo>(SCORE_KEY) {
            Some(pi) => pi,
            None => {
                computed = crate::framework::PodInfo::new(Arc::new(pod.clone()));
                &computed
            }
        };
        let (mut total, mut weights) = (0i64, 0i64);
        for r in &self.resources {
            let (req, alloc) = self.requested_allocatable(pi, node, &r.name);
            if alloc == 0 {
                continue;
            }
            let s = match &self.strategy {
                Strategy::LeastAllocated => least_requested(req, alloc),
                Strategy::MostAllocated => most_requested(req, alloc),
                Strategy::RequestedToCapacityRatio(shape) => {
                    let s = ratio_score(shape, req, alloc);
                    // Upstream leaves resources scoring 0 out of the weighted average.
                    if s <= 0 {
                        continue;
                    }
                    s
                }
            };
            total += s * r.weight;
            weights += r.weight;
        }
        if weights == 0 {
            return Ok(0);
        }
        Ok(match self.strategy {
            // Upstream rounds this strategy's average (math.Round) and truncates the others.
            Strategy::RequestedToCapacityRatio(_) => (total as f64 / weights as f64).round() as i64,
            _ => total / weights,
        })
    }
}

/// Upstream `validateFunctionShape`: at least one point, utilizations strictly
/// increasing within 0..=100, scores within 0..=10.
fn validate_shape(shape: &[ShapePoint]) -> Result<(), String> {
    const PATH: &str = "scoringStrategy.requestedToCapacityRatio.shape";
    if shape.is_empty() {
        return Err(format!(
            "{PATH}: Required value: at least one point must be specified"
        ));
    }
    for (i, p) in shape.iter().enumerate() {
        if !(0..=MAX_UTILIZATION).contains(&p.utilization) {
            return Err(format!(
                "{PATH}[{i}].utilization: Invalid value: {}: not in valid range [0, {MAX_UTILIZATION}]",
                p.utilization
            ));
        }
        if i > 0 && p.utilization <= shape[i - 1].utilization {
            return Err(format!(
                "{PATH}[{i}].utilization: Invalid value: {}: utilization values must be sorted in increasing order",
                p.utilization
            ));
        }
        if !(0..=MAX_CUSTOM_PRIORITY_SCORE).contains(&p.score) {
            return Err(format!(
                "{PATH}[{i}].score: Invalid value: {}: not in valid range [0, {MAX_CUSTOM_PRIORITY_SCORE}]",
                p.score
            ));
        }
    }
    Ok(())
}

/// Builds the plugin from `NodeResourcesFitArgs`.
pub fn factory(args: Option<&serde_json::Value>, _h: &Handle) -> Result<PluginSet, RegistryError> {
    let bad = |m: String| RegistryError::Args {
        plugin: NAME.into(),
        message: m,
    };
    let a: FitArgs = match args {
        None => FitArgs::default(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| bad(e.to_string()))?,
    };
    let mut fit = Fit {
        ignored_resources: a.ignored_resources.into_iter().collect(),
        ignored_groups: a.ignored_resource_groups.into_iter().collect(),
        ..Fit::default()
    };
    if let Some(s) = a.scoring_strategy {
        fit.strategy = match s.kind.as_deref().unwrap_or("LeastAllocated") {
            "LeastAllocated" => Strategy::LeastAllocated,
            "MostAllocated" => Strategy::MostAllocated,
            "RequestedToCapacityRatio" => {
                let shape = s.requested_to_capacity_ratio.unwrap_or_default().shape;
                validate_shape(&shape).map_err(bad)?;
                Strategy::RequestedToCapacityRatio(
                    shape
                        .into_iter()
                        .map(|p| ShapePoint {
                            utilization: p.utilization,
                            // Scale 0..=10 to the framework's 0..=100 (upstream
                            // `MaxNodeScore / MaxCustomPriorityScore`).
                            score: p.score * (MAX_NODE_SCORE / MAX_CUSTOM_PRIORITY_SCORE),
                        })
                        .collect(),
                )
            }
            other => {
                return Err(bad(format!(
                    "scoringStrategy.type: Unsupported value: {other:?}: supported values: \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\""
                )))
            }
        };
        // Upstream defaulting: an empty list means cpu and memory, weight 0 means 1.
        if let Some(rs) = s.resources.filter(|r| !r.is_empty()) {
            let mut out = Vec::new();
            for (i, mut r) in rs.into_iter().enumerate() {
                if r.weight == 0 {
                    r.weight = 1;
                }
                if !(1..=100).contains(&r.weight) {
                    return Err(bad(format!(
                        "scoringStrategy.resources[{i}].weight: Invalid value: {}: resource weight of {} should be in range [1, 100]",
                        r.weight, r.name
                    )));
                }
                out.push(r);
            }
            fit.resources = out;
        }
    }
    let p = Arc::new(fit);
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
    use crate::plugins::testing::{alloc_node, node_info, pod, pod_req};
    use serde_json::{json, Value};

    #[test]
    fn filter_table() {
        // Mirrors cases of upstream fit_test.go TestEnoughRequests (allocatable 10m cpu,
        // 20 bytes memory, 32 pods, 5 ephemeral-storage units).
        let alloc = json!({"cpu": "10m", "memory": "20", "pods": "32", "ephemeral-storage": "20", "example.com/aaa": "5"});
        let cases: Vec<(Pod, Vec<Pod>, Code, Vec<&str>)> = vec![
            (
                pod(json!({"containers": [{"name": "c"}]})),
                vec![pod_req(json!({"cpu": "10m", "memory": "20"}))],
                Code::Success,
                vec![],
            ),
            (
                pod_req(json!({"cpu": "1m", "memory": "1"})),
                vec![pod_req(json!({"cpu": "5m", "memory": "5"}))],
                Code::Success,
                vec![],
            ),
            (
                pod_req(json!({"cpu": "1m", "memory": "1"})),
                vec![pod_req(json!({"cpu": "10m", "memory": "20"}))],
                Code::Unschedulable,
                vec!["Insufficient cpu", "Insufficient memory"],
            ),
            (
                pod_req(json!({"cpu": "1m", "memory": "1"})),
                vec![pod_req(json!({"cpu": "9m", "memory": "5"}))],
                Code::Success,
                vec![],
            ),
            (
                pod_req(json!({"cpu": "2m", "memory": "1"})),
                vec![pod_req(json!({"cpu": "9m", "memory": "5"}))],
                Code::Unschedulable,
                vec!["Insufficient cpu"],
            ),
            (
                pod_req(json!({"cpu": "1m", "memory": "2"})),
                vec![pod_req(json!({"cpu": "5m", "memory": "19"}))],
                Code::Unschedulable,
                vec!["Insufficient memory"],
            ),
            // Larger than the whole node: preemption cannot help.
            (
                pod_req(json!({"cpu": "11m"})),
                vec![],
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient cpu"],
            ),
            (
                pod_req(json!({"example.com/aaa": "6"})),
                vec![],
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient example.com/aaa"],
            ),
            (
                pod_req(json!({"example.com/aaa": "3"})),
                vec![pod_req(json!({"example.com/aaa": "3"}))],
                Code::Unschedulable,
                vec!["Insufficient example.com/aaa"],
            ),
            (
                pod_req(json!({"ephemeral-storage": "25"})),
                vec![],
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient ephemeral-storage"],
            ),
            // Init containers: the max of any init container and the sum of the app ones.
            (
                pod(
                    json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "1m"}}}],
                        "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "3m"}}}]}),
                ),
                vec![pod_req(json!({"cpu": "8m"}))],
                Code::Unschedulable,
                vec!["Insufficient cpu"],
            ),
            (
                pod(
                    json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "1m"}}}],
                        "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2m"}}}]}),
                ),
                vec![pod_req(json!({"cpu": "8m"}))],
                Code::Success,
                vec![],
            ),
            // Sidecars add to the app containers.
            (
                pod(
                    json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "1m"}}}],
                        "initContainers": [{"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1m"}}}]}),
                ),
                vec![pod_req(json!({"cpu": "9m"}))],
                Code::Unschedulable,
                vec!["Insufficient cpu"],
            ),
            // Overhead counts.
            (
                pod(
                    json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "1m"}}}], "overhead": {"cpu": "1m"}}),
                ),
                vec![pod_req(json!({"cpu": "9m"}))],
                Code::Unschedulable,
                vec!["Insufficient cpu"],
            ),
        ];
        let fit = Fit::default();
        for (i, (p, existing, code, reasons)) in cases.into_iter().enumerate() {
            let ni = node_info(alloc_node("n", alloc.clone()), existing);
            let mut st = CycleState::default();
            fit.pre_filter(&mut st, &p, &[]);
            let s = fit.filter(&st, &p, &ni);
            assert_eq!(s.code, code, "case {i}: {s:?}");
            assert_eq!(s.reasons, reasons, "case {i}");
        }
    }

    #[test]
    fn too_many_pods() {
        let ni = node_info(
            alloc_node("n", json!({"cpu": "10", "memory": "20", "pods": "1"})),
            vec![pod_req(json!({}))],
        );
        let p = pod_req(json!({"cpu": "1m"}));
        let fit = Fit::default();
        let mut st = CycleState::default();
        fit.pre_filter(&mut st, &p, &[]);
        let s = fit.filter(&st, &p, &ni);
        assert_eq!(s.reasons, vec!["Too many pods"]);
        assert_eq!(s.code, Code::Unschedulable);
    }

    #[test]
    fn ignored_resources() {
        let args = json!({"ignoredResources": ["example.com/aaa"], "ignoredResourceGroups": ["example.org"]});
        let set = factory(Some(&args), &Handle::default()).unwrap();
        let fit = set.filter.unwrap();
        let ni = node_info(
            alloc_node("n", json!({"cpu": "1", "memory": "1Gi", "pods": "10"})),
            vec![],
        );
        let p = pod_req(
            json!({"example.com/aaa": "1", "example.org/bbb": "1", "example.net/ccc": "1"}),
        );
        let mut st = CycleState::default();
        set.pre_filter.unwrap().pre_filter(&mut st, &p, &[]);
        let s = fit.filter(&st, &p, &ni);
        assert_eq!(s.reasons, vec!["Insufficient example.net/ccc"]);
    }

    fn scores(fit: &Fit, p: &Pod, nodes: &[NodeInfo]) -> Vec<i64> {
        nodes
            .iter()
            .map(|n| fit.score(&CycleState::default(), p, n).unwrap())
            .collect()
    }

    #[test]
    fn least_allocated_table() {
        // Mirrors upstream least_allocated_test.go.
        let cpu_and_mem = pod_req(json!({"cpu": "3000m", "memory": "5000"}));
        let cases = [
            // nothing scheduled, resources requested, differently sized nodes
            (
                cpu_and_mem.clone(),
                vec![
                    node_info(
                        alloc_node("n1", json!({"cpu": "4000m", "memory": "10000"})),
                        vec![],
                    ),
                    node_info(
                        alloc_node("n2", json!({"cpu": "6000m", "memory": "10000"})),
                        vec![],
                    ),
                ],
                vec![37, 50],
            ),
            // resources requested, pods scheduled with resources
            (
                cpu_and_mem.clone(),
                vec![
                    node_info(
                        alloc_node("n1", json!({"cpu": "10000m", "memory": "20000"})),
                        vec![pod_req(json!({"cpu": "3000m", "memory": "0"}))],
                    ),
                    node_info(
                        alloc_node("n2", json!({"cpu": "10000m", "memory": "20000"})),
                        vec![pod_req(json!({"cpu": "3000m", "memory": "5000"}))],
                    ),
                ],
                vec![57, 45],
            ),
            // requested more than capacity scores 0 for that resource
            (
                pod_req(json!({"cpu": "5000m", "memory": "5000"})),
                vec![node_info(
                    alloc_node("n1", json!({"cpu": "4000m", "memory": "10000"})),
                    vec![],
                )],
                vec![25],
            ),
        ];
        let fit = Fit::default();
        for (i, (p, nodes, want)) in cases.into_iter().enumerate() {
            assert_eq!(scores(&fit, &p, &nodes), want, "case {i}");
        }
    }

    #[test]
    fn best_effort_uses_non_zero_defaults() {
        // A pod without requests counts as 100m cpu / 200MB memory when scoring.
        let fit = Fit::default();
        let p = pod(json!({"containers": [{"name": "c"}]}));
        let n = node_info(
            alloc_node("n1", json!({"cpu": "1000m", "memory": "2000Mi"})),
            vec![],
        );
        // cpu (1000-100)*100/1000 = 90, memory (2000-200)*100/2000 = 90.
        assert_eq!(scores(&fit, &p, &[n]), vec![90]);
    }

    #[test]
    fn most_allocated_table() {
        let args = json!({"scoringStrategy": {"type": "MostAllocated"}});
        let set = factory(Some(&args), &Handle::default()).unwrap();
        let score = set.score.unwrap();
        let p = pod_req(json!({"cpu": "3000m", "memory": "5000"}));
        let nodes = [
            node_info(
                alloc_node("n1", json!({"cpu": "4000m", "memory": "10000"})),
                vec![],
            ),
            node_info(
                alloc_node("n2", json!({"cpu": "6000m", "memory": "10000"})),
                vec![],
            ),
        ];
        let got: Vec<i64> = nodes
            .iter()
            .map(|n| score.score(&CycleState::default(), &p, n).unwrap())
            .collect();
        // cpu 75, memory 50 -> 62; cpu 50, memory 50 -> 50.
        assert_eq!(got, vec![62, 50]);
    }

    #[test]
    fn broken_linear_table() {
        // Mirrors upstream TestBrokenLinearFunction.
        let pts = |v: &[(i64, i64)]| -> Vec<ShapePoint> {
            v.iter()
                .map(|(u, s)| ShapePoint {
                    utilization: *u,
                    score: *s,
                })
                .collect()
        };
        // (shape, [(utilization, expected score)])
        type Case = (Vec<ShapePoint>, Vec<(i64, i64)>);
        let cases: Vec<Case> = vec![
            (
                pts(&[(10, 1), (90, 9)]),
                vec![
                    (-10, 1),
                    (0, 1),
                    (9, 1),
                    (10, 1),
                    (15, 1),
                    (19, 1),
                    (20, 2),
                    (89, 8),
                    (90, 9),
                    (99, 9),
                    (100, 9),
                    (110, 9),
                ],
            ),
            (
                pts(&[(0, 2), (40, 10), (100, 0)]),
                vec![
                    (-10, 2),
                    (0, 2),
                    (20, 6),
                    (30, 8),
                    (40, 10),
                    (70, 5),
                    (100, 0),
                    (110, 0),
                ],
            ),
            (
                pts(&[(0, 2), (40, 2), (100, 2)]),
                vec![(-10, 2), (0, 2), (20, 2), (70, 2), (100, 2), (110, 2)],
            ),
        ];
        for (shape, asserts) in cases {
            for (p, want) in asserts {
                assert_eq!(broken_linear(&shape, p), want, "{shape:?} p={p}");
            }
        }
    }

    fn ratio_plugin(resources: Value, shape: Value) -> Arc<dyn ScorePlugin> {
        let args = json!({"scoringStrategy": {"type": "RequestedToCapacityRatio",
            "resources": resources, "requestedToCapacityRatio": {"shape": shape}}});
        factory(Some(&args), &Handle::default())
            .unwrap()
            .score
            .unwrap()
    }

    #[test]
    fn requested_to_capacity_ratio_table() {
        // Mirrors upstream TestRequestedToCapacityRatioScoringStrategy (shape 0->10,
        // 100->0; cpu in whole cores, memory in bytes).
        let score = ratio_plugin(
            json!([{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]),
            json!([{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]),
        );
        let n = |name: &str, cpu: &str| alloc_node(name, json!({"cpu": cpu, "memory": "10000"}));
        // Upstream's st.MakePod() has no containers, so no non-zero defaults apply.
        let empty = || pod(json!({"containers": []}));
        let big = || pod_req(json!({"cpu": "3000", "memory": "5000"}));
        let on = |mut p: Pod| {
            p.spec.as_mut().unwrap().node_name = Some("x".into());
            p
        };
        let cases: Vec<(&str, Pod, Vec<NodeInfo>, Vec<i64>)> = vec![
            (
                "nothing scheduled, nothing requested",
                empty(),
                vec![
                    node_info(n("node1", "4000"), vec![on(empty()), on(empty())]),
                    node_info(n("node2", "4000"), vec![]),
                ],
                vec![100, 100],
            ),
            (
                "nothing scheduled, resources requested, differently sized nodes",
                big(),
                vec![
                    node_info(n("node1", "4000"), vec![on(empty()), on(empty())]),
                    node_info(n("node2", "6000"), vec![]),
                ],
                vec![38, 50],
            ),
            (
                "no resources requested, pods scheduled with resources",
                empty(),
                vec![
                    node_info(n("node1", "4000"), vec![on(big())]),
                    node_info(n("node2", "6000"), vec![on(big())]),
                ],
                vec![38, 50],
            ),
        ];
        for (name, p, nodes, want) in cases {
            let got: Vec<i64> = nodes
                .iter()
                .map(|n| score.score(&CycleState::default(), &p, n).unwrap())
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn bin_packing_extended_resources() {
        // Mirrors upstream TestResourceBinPackingSingleExtended and
        // TestResourceBinPackingMultipleExtended (shape 0->0, 100->1).
        let shape = json!([{"utilization": 0, "score": 0}, {"utilization": 100, "score": 1}]);
        let n = |name: &str, foo: &str, bar: &str| {
            alloc_node(
                name,
                json!({"cpu": "4", "memory": "10000Mi", "intel.com/foo": foo, "intel.com/bar": bar}),
            )
        };
        let single = ratio_plugin(
            json!([{"name": "intel.com/foo", "weight": 1}]),
            shape.clone(),
        );
        let cases: Vec<(Pod, Vec<NodeInfo>, Vec<i64>)> = vec![
            (
                pod(json!({"containers": [{"name": "c"}]})),
                vec![
                    node_info(n("node1", "8", "0"), vec![]),
                    node_info(n("node2", "4", "0"), vec![]),
                ],
                vec![0, 0],
            ),
            (
                pod_req(json!({"intel.com/foo": "2"})),
                vec![
                    node_info(n("node1", "8", "0"), vec![]),
                    node_info(n("node2", "4", "0"), vec![]),
                ],
                vec![2, 5],
            ),
            (
                pod_req(json!({"intel.com/foo": "2"})),
                vec![
                    node_info(n("node1", "8", "0"), vec![]),
                    node_info(
                        n("node2", "4", "0"),
                        vec![pod_req(json!({"intel.com/foo": "2"}))],
                    ),
                ],
                vec![2, 10],
            ),
            (
                pod_req(json!({"intel.com/foo": "4"})),
                vec![
                    node_info(n("node1", "8", "0"), vec![]),
                    node_info(n("node2", "4", "0"), vec![]),
                ],
                vec![5, 10],
            ),
        ];
        for (i, (p, nodes, want)) in cases.into_iter().enumerate() {
            let got: Vec<i64> = nodes
                .iter()
                .map(|n| single.score(&CycleState::default(), &p, n).unwrap())
                .collect();
            assert_eq!(got, want, "single case {i}");
        }
        let multi = ratio_plugin(
            json!([{"name": "intel.com/foo", "weight": 3}, {"name": "intel.com/bar", "weight": 5}]),
            shape,
        );
        let nodes = [
            node_info(n("node1", "8", "4"), vec![]),
            node_info(n("node2", "4", "8"), vec![]),
        ];
        let cases = [
            (pod(json!({"containers": [{"name": "c"}]})), vec![0, 0]),
            // node1: foo 25% -> 2, bar 50% -> 5: (2*3 + 5*5) / 8 = 3.9 -> 4;
            // node2: foo 50% -> 5, bar 25% -> 2: (5*3 + 2*5) / 8 = 3.1 -> 3.
            (
                pod_req(json!({"intel.com/foo": "2", "intel.com/bar": "2"})),
                vec![4, 3],
            ),
            // node1: foo 50% -> 5, bar 50% -> 5; node2: foo 100% -> 10, bar 25% -> 2:
            // (10*3 + 2*5) / 8 = 5.
            (
                pod_req(json!({"intel.com/foo": "4", "intel.com/bar": "2"})),
                vec![5, 5],
            ),
        ];
        for (i, (p, want)) in cases.into_iter().enumerate() {
            let got: Vec<i64> = nodes
                .iter()
                .map(|n| multi.score(&CycleState::default(), &p, n).unwrap())
                .collect();
            assert_eq!(got, want, "multi case {i}");
        }
    }

    #[test]
    fn scoring_strategy_args_errors() {
        let cases = [
            (
                json!({"scoringStrategy": {"type": "RequestedToCapacityRatio"}}),
                "scoringStrategy.requestedToCapacityRatio.shape: Required value: at least one point must be specified",
            ),
            (
                json!({"scoringStrategy": {"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {"shape": [{"utilization": 50, "score": 1}, {"utilization": 40, "score": 2}]}}}),
                "scoringStrategy.requestedToCapacityRatio.shape[1].utilization: Invalid value: 40: utilization values must be sorted in increasing order",
            ),
            (
                json!({"scoringStrategy": {"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {"shape": [{"utilization": 101, "score": 1}]}}}),
                "scoringStrategy.requestedToCapacityRatio.shape[0].utilization: Invalid value: 101: not in valid range [0, 100]",
            ),
            (
                json!({"scoringStrategy": {"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {"shape": [{"utilization": 10, "score": 11}]}}}),
                "scoringStrategy.requestedToCapacityRatio.shape[0].score: Invalid value: 11: not in valid range [0, 10]",
            ),
            (
                json!({"scoringStrategy": {"type": "MostAllocated", "resources": [{"name": "cpu", "weight": 101}]}}),
                "scoringStrategy.resources[0].weight: Invalid value: 101: resource weight of cpu should be in range [1, 100]",
            ),
            (
                json!({"scoringStrategy": {"type": "Nope"}}),
                "scoringStrategy.type: Unsupported value: \"Nope\": supported values: \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\"",
            ),
        ];
        for (args, want) in cases {
            let err = factory(Some(&args), &Handle::default())
                .err()
                .expect("an error");
            assert_eq!(
                err.to_string(),
                format!("initializing plugin \"NodeResourcesFit\": {want}"),
                "{args}"
            );
        }
    }
}
