//! The scheduler cache (upstream `internal/cache`): nodes and the pods assigned to them,
//! including pods the scheduler has *assumed* onto a node before the binding is confirmed
//! by the watch, so the next cycle already counts their resources.
//!
//! The scheduling loop keeps its own [`Snapshot`] and brings it up to date with
//! [`Cache::update_snapshot`] at the start of each cycle (upstream `Cache.UpdateSnapshot`):
//! only the nodes changed since the previous update are replaced, so a cycle costs
//! nothing per unchanged node, and the cache lock is not held while the cycle runs.
//! Upstream finds the changed nodes by generation numbers; here the cache records their
//! names as it changes them, which amounts to the same for the one snapshot it feeds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::framework::{NodeInfo, PodInfo, Snapshot};
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
    /// Per normalized image name, how many nodes have it (upstream `imageStates`).
    image_nodes: Arc<HashMap<String, usize>>,
    /// Nodes whose view changed since the last [`Cache::update_snapshot`].
    dirty: HashSet<String>,
    /// Set when a node was added or removed: the next update rebuilds the node list.
    structure_changed: bool,
    /// Each node's position in the snapshot last updated.
    pos: HashMap<String, usize>,
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
        let old = self.infos.get(node).cloned();
        match self.nodes.get(node) {
            None => {
                if let Some(old) = self.infos.remove(node) {
                    self.count_images(&old, -1);
                    self.structure_changed = true;
                }
            }
            Some(n) => {
                // A pod change keeps the node object; reuse what was derived from it.
                let mut ni = match &old {
                    Some(o) if Arc::ptr_eq(&o.node, n) => o.empty_copy(),
                    _ => NodeInfo::new(n.clone()),
                };
                for k in self.by_node.get(node).into_iter().flatten() {
                    if let Some(p) = self.pods.get(k) {
                        ni.add_pod(p.info.clone());
                    }
                }
                match &old {
                    None => self.structure_changed = true,
                    Some(o) => {
                        if o.images != ni.images {
                            self.count_images(o, -1);
                        } else {
                            // Same images: the counts stay.
                            self.dirty.insert(node.to_string());
                            self.infos.insert(node.to_string(), Arc::new(ni));
                            return;
                        }
                        self.dirty.insert(node.to_string());
                    }
                }
                self.count_images(&ni, 1);
                self.infos.insert(node.to_string(), Arc::new(ni));
            }
        }
    }

    fn count_images(&mut self, ni: &NodeInfo, delta: isize) {
        if ni.images.is_empty() {
            return;
        }
        let m = Arc::make_mut(&mut self.image_nodes);
        for name in ni.images.keys() {
            let c = m.entry(name.clone()).or_insert(0);
            *c = c.saturating_add_signed(delta);
            if *c == 0 {
                m.remove(name);
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

    /// The nodes in name order, freshly collected (tests and one-off readers; the
    /// scheduling loop uses [`Cache::update_snapshot`]).
    pub fn snapshot(&self) -> Vec<Arc<NodeInfo>> {
        self.infos.values().cloned().collect()
    }

    /// Brings the scheduling loop's snapshot up to date: the changed nodes are replaced
    /// in place, or the whole list is rebuilt when nodes were added or removed. Meant for
    /// one snapshot: the record of changes is consumed.
    pub fn update_snapshot(&mut self, snap: &mut Snapshot) {
        if self.structure_changed || snap.nodes.len() != self.infos.len() {
            *snap = Snapshot {
                nodes: self.infos.values().cloned().collect(),
                ..Default::default()
            };
            self.pos = self
                .infos
                .keys()
                .enumerate()
                .map(|(i, n)| (n.clone(), i))
                .collect();
            for i in 0..snap.nodes.len() {
                snap.index(i);
            }
            self.structure_changed = false;
            self.dirty.clear();
        } else {
            for name in self.dirty.drain() {
                if let (Some(i), Some(ni)) = (self.pos.get(&name), self.infos.get(&name)) {
                    snap.nodes[*i] = ni.clone();
                    snap.index(*i);
                }
            }
        }
        if !Arc::ptr_eq(&snap.image_nodes, &self.image_nodes) {
            snap.image_nodes = self.image_nodes.clone();
        }
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
    fn update_snapshot_replaces_only_changed_nodes() {
        let mut c = Cache::default();
        let img = |name: &str, images: serde_json::Value| {
            let mut n = alloc_node(name, json!({"cpu": "2", "pods": "10"}));
            n.status.as_mut().unwrap().images = Some(serde_json::from_value(images).unwrap());
            Arc::new(n)
        };
        c.upsert_node(img("a", json!([{"names": ["app"], "sizeBytes": 1}])));
        c.upsert_node(img(
            "b",
            json!([{"names": ["app:latest", "db:1"], "sizeBytes": 1}]),
        ));
        let mut snap = Snapshot::default();
        c.update_snapshot(&mut snap);
        assert_eq!(snap.nodes.len(), 2);
        assert_eq!(snap.image_nodes.get("app:latest"), Some(&2));
        assert_eq!(snap.image_nodes.get("db:1"), Some(&1));
        let (a0, b0) = (snap.nodes[0].clone(), snap.nodes[1].clone());

        // A pod on b: only b's view is replaced.
        let mut p = pod_req(json!({"cpu": "1"}));
        p.spec.as_mut().unwrap().affinity = Some(
            serde_json::from_value(json!({"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"x": "y"}}, "topologyKey": "k"}]}}))
            .unwrap(),
        );
        c.assume(&p, "b").unwrap();
        c.update_snapshot(&mut snap);
        assert!(Arc::ptr_eq(&snap.nodes[0], &a0));
        assert!(!Arc::ptr_eq(&snap.nodes[1], &b0));
        assert_eq!(snap.nodes[1].requested["cpu"], 1000);
        assert_eq!(snap.nodes[1].pods[0].terms.required_anti.len(), 1);
        let names = |it: &mut dyn Iterator<Item = &Arc<NodeInfo>>| -> Vec<String> {
            it.map(|n| n.name().to_string()).collect()
        };
        assert_eq!(names(&mut snap.nodes_with_required_anti_affinity()), ["b"]);
        assert_eq!(names(&mut snap.nodes_with_affinity()), ["b"]);

        // A new node rebuilds the list; a node losing its image drops the count.
        c.upsert_node(img("0", json!([])));
        c.upsert_node(img("b", json!([])));
        c.update_snapshot(&mut snap);
        let got: Vec<&str> = snap.nodes.iter().map(|n| n.name()).collect();
        assert_eq!(got, ["0", "a", "b"]);
        assert_eq!(snap.image_nodes.get("app:latest"), Some(&1));
        assert_eq!(snap.image_nodes.get("db:1"), None);
        assert_eq!(names(&mut snap.nodes_with_required_anti_affinity()), ["b"]);
        c.forget("default/p");
        c.update_snapshot(&mut snap);
        assert_eq!(snap.nodes_with_affinity().count(), 0);
        assert_eq!(snap.nodes[2].pods.len(), 0);
        c.remove_node("a");
        c.update_snapshot(&mut snap);
        assert_eq!(snap.nodes.len(), 2);
        assert!(snap.image_nodes.is_empty());
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
