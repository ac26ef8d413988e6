//! In-tree plugins, one file each, named and weighted as upstream
//! (`pkg/scheduler/framework/plugins/<name>`).

pub mod balanced_allocation;
pub mod default_binder;
pub mod default_preemption;
pub mod helper;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod priority_sort;
pub mod scheduling_gates;
pub mod taint_toleration;

#[cfg(test)]
pub(crate) mod testing {
    //! Builders for plugin tests.
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::{Node, Pod};
    use serde_json::{json, Value};

    use crate::framework::{NodeInfo, PodInfo};

    pub fn pod(spec: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "uid-p"},
            "spec": spec,
        }))
        .unwrap()
    }

    /// A pod with one container requesting the given resources.
    pub fn pod_req(reqs: Value) -> Pod {
        pod(json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": reqs}}]}))
    }

    pub fn node(name: &str, extra: Value) -> Node {
        let mut v = json!({"metadata": {"name": name}});
        merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    pub fn merge(a: &mut Value, b: Value) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    pub fn node_info(node: Node, pods: Vec<Pod>) -> NodeInfo {
        let mut ni = NodeInfo::new(Arc::new(node));
        for p in pods {
            ni.add_pod(Arc::new(PodInfo::new(Arc::new(p))));
        }
        ni
    }

    /// A node with the given allocatable resources.
    pub fn alloc_node(name: &str, alloc: Value) -> Node {
        node(
            name,
            json!({"status": {"allocatable": alloc, "capacity": alloc}}),
        )
    }
}
