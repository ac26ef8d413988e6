//! NodeName: a pod with `spec.nodeName` only fits that node (upstream `plugins/nodename`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{CycleState, FilterPlugin, NodeInfo, Plugin, PluginSet, Status};
use crate::registry::{Handle, RegistryError};

/// The plugin's upstream name.
pub const NAME: &str = "NodeName";
/// Upstream `ErrReason`.
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

/// The plugin.
pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _s: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        match pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            Some(want) if !want.is_empty() && want != node.name() => {
                Status::unresolvable(ERR_REASON)
            }
            _ => Status::success(),
        }
    }
}

/// Builds the plugin; it takes no args.
pub fn factory(_args: Option<&serde_json::Value>, _h: &Handle) -> Result<PluginSet, RegistryError> {
    Ok(PluginSet {
        filter: Some(Arc::new(NodeName)),
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
        let cases = [
            (json!({"containers": []}), Code::Success),
            (json!({"containers": [], "nodeName": "foo"}), Code::Success),
            (
                json!({"containers": [], "nodeName": "bar"}),
                Code::UnschedulableAndUnresolvable,
            ),
        ];
        let ni = node_info(node("foo", json!({})), vec![]);
        for (spec, want) in cases {
            let s = NodeName.filter(&CycleState::default(), &pod(spec.clone()), &ni);
            assert_eq!(s.code, want, "{spec}");
            if want != Code::Success {
                assert_eq!(s.message(), ERR_REASON);
            }
        }
    }
}
