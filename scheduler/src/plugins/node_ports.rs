//! NodePorts: a pod's host ports must be free on the node (upstream `plugins/nodeports`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{
    host_ports, CycleState, FilterPlugin, HostPort, NodeInfo, Plugin, PluginSet, PreFilterPlugin,
    Status,
};
use crate::registry::{Handle, RegistryError};

/// The plugin's upstream name.
pub const NAME: &str = "NodePorts";
/// Upstream `ErrReason`.
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";
const STATE_KEY: &str = "PreFilterNodePorts";

/// The plugin.
pub struct NodePorts;

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }
}

/// Whether two host ports clash: same protocol and port, and the same IP or either one the
/// wildcard 0.0.0.0 (upstream `HostPortInfo.CheckConflict`).
fn conflicts(a: &HostPort, b: &HostPort) -> bool {
    a.1 == b.1 && a.2 == b.2 && (a.0 == b.0 || a.0 == "0.0.0.0" || b.0 == "0.0.0.0")
}

/// Whether any wanted port is already used on the node.
pub fn fits_ports(wanted: &[HostPort], node: &NodeInfo) -> bool {
    !wanted
        .iter()
        .any(|w| node.used_ports.iter().any(|u| conflicts(w, u)))
}

impl PreFilterPlugin for NodePorts {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, _n: &[Arc<NodeInfo>]) -> Status {
        let ports = host_ports(pod);
        if ports.is_empty() {
            return Status::skip();
        }
        state.write(STATE_KEY, ports);
        Status::success()
    }
}

impl FilterPlugin for NodePorts {
    fn filter(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Status {
        let Some(wanted) = state.read::<Vec<HostPort>>(STATE_KEY) else {
            return Status::error(format!("reading {STATE_KEY:?} from cycleState"));
        };
        if fits_ports(wanted, node) {
            Status::success()
        } else {
            Status::unschedulable(ERR_REASON)
        }
    }
}

/// Builds the plugin; it takes no args.
pub fn factory(_args: Option<&serde_json::Value>, _h: &Handle) -> Result<PluginSet, RegistryError> {
    let p = Arc::new(NodePorts);
    Ok(PluginSet {
        pre_filter: Some(p.clone()),
        filter: Some(p),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{node, node_info, pod};
    use serde_json::{json, Value};

    fn port_pod(ports: Value) -> Pod {
        pod(json!({"containers": [{"name": "c", "ports": ports}]}))
    }

    #[test]
    fn filter_table() {
        // Mirrors upstream node_ports_test.go TestNodePorts.
        let p = |proto: &str, ip: &str, port: i32| json!({"containerPort": port, "hostPort": port, "protocol": proto, "hostIP": ip});
        let cases = [
            (json!([]), vec![], Code::Skip),
            (
                json!([p("UDP", "127.0.0.1", 8080)]),
                vec![json!([p("UDP", "127.0.0.1", 9090)])],
                Code::Success,
            ),
            (
                json!([p("UDP", "127.0.0.1", 8080)]),
                vec![json!([p("UDP", "127.0.0.1", 8080)])],
                Code::Unschedulable,
            ),
            (
                json!([p("TCP", "127.0.0.1", 8080)]),
                vec![json!([p("UDP", "127.0.0.1", 8080)])],
                Code::Success,
            ),
            (
                json!([p("UDP", "127.0.0.2", 8080)]),
                vec![json!([p("UDP", "127.0.0.1", 8080)])],
                Code::Success,
            ),
            (
                json!([p("TCP", "0.0.0.0", 8001)]),
                vec![json!([p("TCP", "127.0.0.1", 8001)])],
                Code::Unschedulable,
            ),
            (
                json!([p("TCP", "10.0.10.10", 8001)]),
                vec![json!([p("TCP", "0.0.0.0", 8001)])],
                Code::Unschedulable,
            ),
            (
                json!([{"containerPort": 80, "hostPort": 8001}]),
                vec![json!([p("TCP", "0.0.0.0", 8001)])],
                Code::Unschedulable,
            ),
        ];
        for (want_ports, existing, want) in cases {
            let ni = node_info(
                node("n", json!({})),
                existing.into_iter().map(port_pod).collect(),
            );
            let pd = port_pod(want_ports.clone());
            let mut st = CycleState::default();
            let pre = NodePorts.pre_filter(&mut st, &pd, &[]);
            if want == Code::Skip {
                assert_eq!(pre.code, Code::Skip);
                continue;
            }
            let s = NodePorts.filter(&st, &pd, &ni);
            assert_eq!(s.code, want, "{want_ports}");
            if want != Code::Success {
                assert_eq!(s.message(), ERR_REASON);
            }
        }
    }
}
