//! NodeUnschedulable: cordoned nodes (`spec.unschedulable`) only take pods tolerating the
//! `node.kubernetes.io/unschedulable:NoSchedule` taint (upstream `plugins/nodeunschedulable`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Taint};

use super::helper::tolerated_by;
use crate::framework::{CycleState, FilterPlugin, NodeInfo, Plugin, PluginSet, Status};
use crate::registry::{Handle, RegistryError};

/// The plugin's upstream name.
pub const NAME: &str = "NodeUnschedulable";
/// Upstream `ErrReasonUnschedulable`.
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// The taint key upstream checks tolerations against.
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// The plugin.
pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _s: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        if !node.unschedulable {
            return Status::success();
        }
        let taint = Taint {
            key: TAINT_NODE_UNSCHEDULABLE.into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or(&[]);
        if tolerated_by(tolerations, &taint) {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON_UNSCHEDULABLE)
        }
    }
}

/// Builds the plugin; it takes no args.
pub fn factory(_args: Option<&serde_json::Value>, _h: &Handle) -> Result<PluginSet, RegistryError> {
    Ok(PluginSet {
        filter: Some(Arc::new(NodeUnschedulable)),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{node, node_info, pod};
    use serde_json::json;

    #[test]
    fn filter_table() {
        let tol = json!([{"key": TAINT_NODE_UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"}]);
        let cases = [
            (json!({}), json!({"containers": []}), Code::Success),
            (
                json!({"unschedulable": false}),
                json!({"containers": []}),
                Code::Success,
            ),
            (
                json!({"unschedulable": true}),
                json!({"containers": []}),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                json!({"unschedulable": true}),
                json!({"containers": [], "tolerations": tol}),
                Code::Success,
            ),
        ];
        for (nspec, pspec, want) in cases {
            let ni = node_info(node("n", json!({"spec": nspec})), vec![]);
            let s = NodeUnschedulable.filter(&CycleState::default(), &pod(pspec.clone()), &ni);
            assert_eq!(s.code, want, "{nspec} {pspec}");
            if want != Code::Success {
                assert_eq!(s.message(), ERR_REASON_UNSCHEDULABLE);
            }
        }
    }
}
