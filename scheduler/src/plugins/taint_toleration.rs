//! TaintToleration: filters out nodes with NoSchedule/NoExecute taints the pod does not
//! tolerate, and prefers nodes with fewer untolerated PreferNoSchedule taints (upstream
//! `plugins/tainttoleration`, default score weight 3).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Toleration};

use super::helper::{tolerated_by, untolerated_scheduling_taint};
use crate::framework::{
    default_normalize_score, CycleState, FilterPlugin, NodeInfo, NodeScore, Plugin, PluginSet,
    PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::registry::{Handle, RegistryError};

/// The plugin's upstream name.
pub const NAME: &str = "TaintToleration";
const STATE_KEY: &str = "PreScoreTaintToleration";

/// The plugin.
pub struct TaintToleration;

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }
}

fn tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[])
}

impl FilterPlugin for TaintToleration {
    fn filter(&self, _s: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let taints = &node.taints;
        let tols = tolerations(pod);
        let untolerated = untolerated_scheduling_taint(taints, tols);
        match untolerated {
            None => Status::success(),
            Some(t) => Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or("")
            )),
        }
    }
}

impl PreScorePlugin for TaintToleration {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, _n: &[Arc<NodeInfo>]) -> Status {
        // Only tolerations that can tolerate PreferNoSchedule taints matter for scoring.
        let tols: Vec<Toleration> = tolerations(pod)
            .iter()
            .filter(|t| {
                matches!(
                    t.effect.as_deref(),
                    None | Some("") | Some("PreferNoSchedule")
                )
            })
            .cloned()
            .collect();
        state.write(STATE_KEY, tols);
        Status::success()
    }
}

impl ScorePlugin for TaintToleration {
    fn score(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let tols = state
            .read::<Vec<Toleration>>(STATE_KEY)
            .ok_or_else(|| Status::error(format!("reading {STATE_KEY:?} from cycleState")))?;
        let count = node
            .taints
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule" && !tolerated_by(tols, t))
            .count();
        Ok(count as i64)
    }

    fn normalize(&self, _s: &CycleState, _p: &Pod, scores: &mut [NodeScore]) -> Status {
        default_normalize_score(MAX_NODE_SCORE, true, scores);
        Status::success()
    }
}

/// Builds the plugin; it takes no args.
pub fn factory(_args: Option<&serde_json::Value>, _h: &Handle) -> Result<PluginSet, RegistryError> {
    let p = Arc::new(TaintToleration);
    Ok(PluginSet {
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

    fn tainted(name: &str, taints: Value) -> NodeInfo {
        node_info(node(name, json!({"spec": {"taints": taints}})), vec![])
    }

    #[test]
    fn filter_table() {
        // Mirrors cases of upstream taint_toleration_test.go TestTaintTolerationFilter.
        let cases = [
            (
                json!([]),
                json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]),
                Some("node(s) had untolerated taint {dedicated: user1}"),
            ),
            (
                json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]),
                json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]),
                None,
            ),
            (
                json!([{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}]),
                json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]),
                Some("node(s) had untolerated taint {dedicated: user1}"),
            ),
            (
                json!([{"key": "foo", "operator": "Exists", "effect": "NoSchedule"}]),
                json!([{"key": "foo", "value": "bar", "effect": "NoSchedule"}]),
                None,
            ),
            (
                json!([]),
                json!([{"key": "foo", "value": "bar", "effect": "PreferNoSchedule"}]),
                None,
            ),
            (
                json!([{"key": "foo", "operator": "Exists", "effect": "NoSchedule"}]),
                json!([{"key": "foo", "value": "bar", "effect": "NoExecute"}]),
                Some("node(s) had untolerated taint {foo: bar}"),
            ),
            (
                json!([]),
                json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
                Some("node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"),
            ),
        ];
        for (tols, taints, want) in cases {
            let p = pod(json!({"containers": [], "tolerations": tols}));
            let s =
                TaintToleration.filter(&CycleState::default(), &p, &tainted("n", taints.clone()));
            match want {
                None => assert!(s.is_success(), "{tols} {taints}: {s:?}"),
                Some(m) => {
                    assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
                    assert_eq!(s.message(), m);
                }
            }
        }
    }

    #[test]
    fn score_table() {
        // Mirrors upstream TestTaintTolerationScore: fewer intolerable PreferNoSchedule
        // taints score higher.
        let cases = [
            (
                json!([{"key": "cpu-type", "operator": "Equal", "value": "arm64", "effect": "PreferNoSchedule"}]),
                vec![
                    json!([]),
                    json!([{"key": "cpu-type", "value": "arm64", "effect": "PreferNoSchedule"}]),
                    json!([{"key": "cpu-type", "value": "arm32", "effect": "PreferNoSchedule"},
                           {"key": "disk-type", "value": "ssd", "effect": "PreferNoSchedule"}]),
                ],
                vec![100, 100, 0],
            ),
            (
                json!([]),
                vec![
                    json!([]),
                    json!([{"key": "cpu-type", "value": "arm64", "effect": "PreferNoSchedule"}]),
                    json!([{"key": "cpu-type", "value": "arm32", "effect": "PreferNoSchedule"},
                           {"key": "disk-type", "value": "ssd", "effect": "PreferNoSchedule"}]),
                ],
                vec![100, 50, 0],
            ),
            (
                json!([]),
                vec![json!([{"key": "cpu-type", "value": "arm64", "effect": "NoSchedule"}])],
                vec![100],
            ),
        ];
        for (tols, nodes, want) in cases {
            let p = pod(json!({"containers": [], "tolerations": tols}));
            let infos: Vec<Arc<NodeInfo>> = nodes
                .into_iter()
                .enumerate()
                .map(|(i, t)| Arc::new(tainted(&format!("n{i}"), t)))
                .collect();
            let mut st = CycleState::default();
            assert!(TaintToleration.pre_score(&mut st, &p, &infos).is_success());
            let mut scores: Vec<NodeScore> = infos
                .iter()
                .enumerate()
                .map(|(index, n)| NodeScore {
                    index,
                    score: TaintToleration.score(&st, &p, n).unwrap(),
                })
                .collect();
            TaintToleration.normalize(&st, &p, &mut scores);
            let got: Vec<i64> = scores.iter().map(|s| s.score).collect();
            assert_eq!(got, want);
        }
    }
}
