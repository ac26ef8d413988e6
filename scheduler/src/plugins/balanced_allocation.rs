//! NodeResourcesBalancedAllocation: prefers nodes whose resource fractions stay close to
//! each other once the pod is added (upstream `plugins/noderesources/balanced_allocation.go`,
//! default score weight 1).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::node_resources_fit::{default_resources, ResourceSpec};
use crate::framework::{
    CycleState, NodeInfo, Plugin, PluginSet, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::registry::{Handle, RegistryError};
use crate::resources::{pod_requests, ResourceList};

/// The plugin's upstream name.
pub const NAME: &str = "NodeResourcesBalancedAllocation";
const STATE_KEY: &str = "PreScoreNodeResourcesBalancedAllocation";

/// The plugin.
pub struct BalancedAllocation {
    resources: Vec<ResourceSpec>,
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }
}

/// Upstream `balancedResourceScorer`: one minus the standard deviation of the
/// requested/allocatable fractions (each capped at 1), scaled to 100.
pub fn balanced_score(requested: &[i64], allocatable: &[i64]) -> i64 {
    let fractions: Vec<f64> = requested
        .iter()
        .zip(allocatable)
        .filter(|(_, a)| **a != 0)
        .map(|(r, a)| (*r as f64 / *a as f64).min(1.0))
        .collect();
    let std = match fractions.len() {
        0 | 1 => 0.0,
        2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
        n => {
            let mean = fractions.iter().sum::<f64>() / n as f64;
            let var = fractions
                .iter()
                .map(|f| (f - mean) * (f - mean))
                .sum::<f64>()
                / n as f64;
            var.sqrt()
        }
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

impl PreScorePlugin for BalancedAllocation {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, _n: &[Arc<NodeInfo>]) -> Status {
        let req = pod_requests(pod);
        // Upstream skips best-effort pods so that they do not all pile onto one node
        // (kubernetes/kubernetes#129138).
        if self
            .resources
            .iter()
            .all(|r| req.get(&r.name).copied().unwrap_or(0) == 0)
        {
            return Status::skip();
        }
        state.write(STATE_KEY, req);
        Status::success()
    }
}

impl ScorePlugin for BalancedAllocation {
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let computed;
        let req = match state.read::<ResourceList>(STATE_KEY) {
            Some(r) => r,
            None => {
                computed = pod_requests(pod);
                &computed
            }
        };
        // Actual requests, not the non-zero defaults (upstream `useRequested: true`).
        // Two resources by default: on the stack, no allocation per node.
        let mut requested = smallvec_like::<8>();
        let mut allocatable = smallvec_like::<8>();
        let n = self.resources.len().min(8);
        for (i, r) in self.resources.iter().take(n).enumerate() {
            requested[i] = node.requested_of(&r.name) + req.get(&r.name).copied().unwrap_or(0);
            allocatable[i] = node.allocatable_of(&r.name);
        }
        if self.resources.len() > 8 {
            let requested: Vec<i64> = self
                .resources
                .iter()
                .map(|r| node.requested_of(&r.name) + req.get(&r.name).copied().unwrap_or(0))
                .collect();
            let allocatable: Vec<i64> = self
                .resources
                .iter()
                .map(|r| node.allocatable_of(&r.name))
                .collect();
            return Ok(balanced_score(&requested, &allocatable));
        }
        Ok(balanced_score(&requested[..n], &allocatable[..n]))
    }
}

fn smallvec_like<const N: usize>() -> [i64; N] {
    [0; N]
}

/// Builds the plugin from `NodeResourcesBalancedAllocationArgs` (`resources`).
pub fn factory(args: Option<&serde_json::Value>, _h: &Handle) -> Result<PluginSet, RegistryError> {
    let resources = match args.and_then(|a| a.get("resources")) {
        None | Some(serde_json::Value::Null) => default_resources(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| RegistryError::Args {
            plugin: NAME.into(),
            message: e.to_string(),
        })?,
    };
    let p = Arc::new(BalancedAllocation { resources });
    Ok(PluginSet {
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
    use serde_json::json;

    #[test]
    fn score_table() {
        // Mirrors upstream balanced_allocation_test.go.
        let p = pod_req(json!({"cpu": "3000m", "memory": "5000"}));
        let cases = [
            // nothing scheduled, resources requested, differently sized nodes
            (
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
                vec![87, 100],
            ),
            // resources requested, pods scheduled with resources
            (
                vec![
                    node_info(
                        alloc_node("n1", json!({"cpu": "10000m", "memory": "20000"})),
                        vec![pod_req(json!({"cpu": "3000m"}))],
                    ),
                    node_info(
                        alloc_node("n2", json!({"cpu": "10000m", "memory": "50000"})),
                        vec![pod_req(json!({"cpu": "3000m", "memory": "5000"}))],
                    ),
                ],
                vec![82, 80],
            ),
            // requested more than capacity: the fraction is capped at 1
            (
                vec![node_info(
                    alloc_node("n1", json!({"cpu": "2000m", "memory": "10000"})),
                    vec![],
                )],
                vec![75],
            ),
        ];
        let pl = BalancedAllocation {
            resources: default_resources(),
        };
        for (i, (nodes, want)) in cases.into_iter().enumerate() {
            let mut st = CycleState::default();
            assert!(pl.pre_score(&mut st, &p, &[]).is_success());
            let got: Vec<i64> = nodes
                .iter()
                .map(|n| pl.score(&st, &p, n).unwrap())
                .collect();
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn best_effort_is_skipped() {
        let pl = BalancedAllocation {
            resources: default_resources(),
        };
        let mut st = CycleState::default();
        let s = pl.pre_score(&mut st, &pod(json!({"containers": [{"name": "c"}]})), &[]);
        assert_eq!(s.code, Code::Skip);
    }
}
