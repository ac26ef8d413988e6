//! The scheduler cache (upstream `internal/cache`): nodes and the pods assigned to them,
//! including pods the scheduler has *assumed* onto a node before the binding is confirmed
//! by the watch, so the next cycle already counts their resources.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::framework::{NodeInfo, PodInfo};
use crate::queue::pod_key;

struct PodState {
    node: String,
    info: Arc<PodInfo>,
    assumed: bool,
}

/// Nodes and assigned pods.
#[derive(Default)]
pub struct Cache {
    nodes: BTreeMap<String, Arc<Node>>,
    pods: HashMap<String, PodState>,
    by_node: HashMap<String, Vec<String>>,
    infos: BTreeMap<String, Arc<NodeInfo>>,
}

/// Errors of cache bookkeeping.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CacheError {
    /// Assuming a pod the cache already has.
    #[error("pod {0} is in the cache, so can't be assumed")]
    AlreadyPresent(String),
}

impl Cache {
    fn rebuild(&mut self, node: &str) {
        match self.nodes.get(node) {
            None => {
                self.infos.remove(node);
            }
            Some(n) => {
                let mut ni = NodeInfo::new(n.clone());
                for k in self.by_node.get(node).into_iter().flatten() {
                    if let Some(p) = self.pods.get(k) {
                        ni.add_pod(p.info.clone());
                    }
                }
                self.infos.insert(node.to_string(), Arc::new(ni));
            }
        }
    }

    /// Adds or replaces a node.
    pub fn upsert_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        self.nodes.insert(name.clone(), node);
        self.rebuild(&name);
    }

    /// Removes a node; its pods stay until they are deleted, as upstream.
    pub fn remove_node(&mut self, name: &str) {
        self.nodes.remove(name);
        self.rebuild(name);
    }

    /// Node names, for relist reconciliation.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Whether the cache holds the pod (bound or assumed).
    pub fn has_pod(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    /// The node object, if known.
    pub fn node(&self, name: &str) -> Option<Arc<Node>> {
        self.nodes.get(name).cloned()
    }

    /// A cached pod and whether it is only assumed.
    pub fn pod(&self, key: &str) -> Option<(Arc<Pod>, bool)> {
        self.pods.get(key).map(|p| (p.info.pod.clone(), p.assumed))
    }

    /// Pod keys, for relist reconciliation.
    pub fn pod_keys(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }

    fn insert(&mut self, key: String, node: String, pod: Arc<Pod>, assumed: bool) {
        self.remove_pod(&key);
        self.by_node
            .entry(node.clone())
            .or_default()
            .push(key.clone());
        self.pods.insert(
            key,
            PodState {
                node: node.clone(),
                info: Arc::new(PodInfo::new(pod)),
                assumed,
            },
        );
        self.rebuild(&node);
    }

    /// A pod seen assigned by the watch; confirms an assumed pod.
    pub fn upsert_pod(&mut self, pod: Arc<Pod>) {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            return;
        };
        self.insert(pod_key(&pod), node, pod, false);
    }

    /// Removes a pod.
    pub fn remove_pod(&mut self, key: &str) {
        if let Some(old) = self.pods.remove(key) {
            if let Some(v) = self.by_node.get_mut(&old.node) {
                v.retain(|k| k != key);
                if v.is_empty() {
                    self.by_node.remove(&old.node);
                }
            }
            self.rebuild(&old.node);
        }
    }

    /// Counts a pod on a node before binding (upstream `AssumePod`).
    pub fn assume(&mut self, pod: &Pod, node: &str) -> Result<(), CacheError> {
        let key = pod_key(pod);
        if self.pods.contains_key(&key) {
            return Err(CacheError::AlreadyPresent(key));
        }
        let mut p = pod.clone();
        p.spec.get_or_insert_with(Default::default).node_name = Some(node.to_string());
        self.insert(key, node.to_string(), Arc::new(p), true);
        Ok(())
    }

    /// Drops an assumed pod after its binding failed (upstream `ForgetPod`).
    pub fn forget(&mut self, key: &str) {
        if self.pods.get(key).is_some_and(|p| p.assumed) {
            self.remove_pod(key);
        }
    }

    /// Whether the pod is assumed and not yet confirmed.
    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    /// The nodes for a scheduling cycle, in name order.
    pub fn snapshot(&self) -> Vec<Arc<NodeInfo>> {
        self.infos.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{alloc_node, pod_req};
    use serde_json::json;

    #[test]
    fn assume_confirm_forget() {
        let mut c = Cache::default();
        c.upsert_node(Arc::new(alloc_node(
            "n1",
            json!({"cpu": "1", "pods": "10"}),
        )));
        let p = pod_req(json!({"cpu": "300m"}));
        c.assume(&p, "n1").unwrap();
        assert!(c.is_assumed("default/p"));
        assert_eq!(c.snapshot()[0].requested["cpu"], 300);
        assert_eq!(
            c.assume(&p, "n1"),
            Err(CacheError::AlreadyPresent("default/p".into()))
        );

        // The watch confirms the binding.
        let mut bound = p.clone();
        bound.spec.as_mut().unwrap().node_name = Some("n1".into());
        c.upsert_pod(Arc::new(bound));
        assert!(!c.is_assumed("default/p"));
        c.forget("default/p");
        assert_eq!(
            c.snapshot()[0].pods.len(),
            1,
            "confirmed pods are not forgotten"
        );

        c.remove_pod("default/p");
        assert_eq!(c.snapshot()[0].pods.len(), 0);
        c.assume(&p, "n1").unwrap();
        c.forget("default/p");
        assert!(c.snapshot()[0].requested.values().all(|v| *v == 0));
    }

    #[test]
    fn pods_on_unknown_nodes_wait_for_the_node() {
        let mut c = Cache::default();
        let mut p = pod_req(json!({"cpu": "1"}));
        p.spec.as_mut().unwrap().node_name = Some("late".into());
        c.upsert_pod(Arc::new(p));
        assert!(c.snapshot().is_empty());
        c.upsert_node(Arc::new(alloc_node("late", json!({"cpu": "2"}))));
        assert_eq!(c.snapshot()[0].requested["cpu"], 1000);
        c.remove_node("late");
        assert!(c.snapshot().is_empty());
    }
}
