//! mirror: the mirror pods of static pods in the apiserver.
//!
//! Mirrors upstream `pkg/kubelet/pod/mirror_client.go` and the static-pod parts of
//! `kubelet.go` (SyncPod, HandlePodCleanups) and of the status manager:
//! - for each static pod a mirror pod of the same namespace/name is created: a copy of the
//!   static pod with annotation `kubernetes.io/config.mirror: <config.hash>` and an
//!   ownerReference to this Node (`v1`, `Node`, controller true); not while the Node is
//!   missing or being deleted;
//! - a mirror pod that is being deleted, or whose config.mirror is not the static pod's
//!   current hash, is deleted (uid precondition, grace period 0) and created again;
//! - the static pod's status (computed by its worker) is written to the mirror pod's
//!   status, again after the mirror pod was recreated;
//! - mirror pods on this node without a static pod are deleted (orphans: the manifest was
//!   removed, or the kubelet restarted without it).
//!
//! The mirror pods are known from the node's pod watch (the [`super::PodManager`] feeds
//! them here instead of running them). All apiserver calls happen in [`MirrorPods::run`],
//! off the pod workers' path, so static pods run while the apiserver is unreachable.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::Api;
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use super::static_pods::{config_hash, CONFIG_MIRROR_ANNOTATION};

/// How often mirror pods are reconciled without a change.
const RESYNC: Duration = Duration::from_secs(1);

type Key = (String, String);

fn key(pod: &Pod) -> Key {
    (
        pod.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

#[derive(Default)]
struct State {
    /// Static pods by namespace/name; None until the manifest source's first read.
    statics: Option<HashMap<Key, Pod>>,
    /// Latest status of each static pod, by static pod uid.
    statuses: HashMap<String, PodStatus>,
    /// Mirror pods on this node, from the pod watch.
    mirrors: HashMap<Key, Pod>,
    /// Whether the pod watch delivered its initial list.
    mirrors_synced: bool,
    /// Last status written, by static uid: (mirror uid, status).
    written: HashMap<String, (String, PodStatus)>,
}

/// The mirror pods of this node's static pods.
pub struct MirrorPods {
    client: kube::Client,
    node_name: String,
    state: Mutex<State>,
    notify: Notify,
}

/// The mirror pod to create for `static_pod` (upstream CreateMirrorPod): a copy with the
/// config.mirror annotation and the Node as controller owner; uid, resourceVersion and
/// status are the apiserver's.
pub fn mirror_pod_for(static_pod: &Pod, node_name: &str, node_uid: &str) -> Pod {
    let hash = config_hash(static_pod).unwrap_or_default().to_string();
    let mut annotations = static_pod.metadata.annotations.clone().unwrap_or_default();
    annotations.insert(CONFIG_MIRROR_ANNOTATION.into(), hash);
    Pod {
        metadata: ObjectMeta {
            name: static_pod.metadata.name.clone(),
            namespace: static_pod.metadata.namespace.clone(),
            labels: static_pod.metadata.labels.clone(),
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: node_name.into(),
                uid: node_uid.into(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..Default::default()
        },
        spec: static_pod.spec.clone(),
        status: None,
    }
}

/// Whether `mirror` is the current mirror of `static_pod` (upstream IsMirrorPodOf: same
/// hash and not being deleted).
pub fn is_mirror_of(mirror: &Pod, static_pod: &Pod) -> bool {
    mirror.metadata.deletion_timestamp.is_none()
        && mirror
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CONFIG_MIRROR_ANNOTATION))
            .map(String::as_str)
            == config_hash(static_pod)
}

impl MirrorPods {
    pub fn new(client: kube::Client, node_name: String) -> Self {
        MirrorPods {
            client,
            node_name,
            state: Mutex::new(State::default()),
            notify: Notify::new(),
        }
    }

    /// The current static pods (the manifest source's latest read).
    pub fn set_static_pods(&self, pods: &[Pod]) {
        let mut st = self.state.lock();
        let map: HashMap<Key, Pod> = pods.iter().map(|p| (key(p), p.clone())).collect();
        st.statuses.retain(|uid, _| {
            pods.iter()
                .any(|p| p.metadata.uid.as_deref() == Some(uid.as_str()))
        });
        st.written.retain(|uid, _| {
            pods.iter()
                .any(|p| p.metadata.uid.as_deref() == Some(uid.as_str()))
        });
        st.statics = Some(map);
        drop(st);
        self.notify.notify_one();
    }

    /// The status a static pod's worker computed.
    pub fn set_status(&self, static_pod: &Pod, status: &PodStatus) {
        let uid = static_pod.metadata.uid.clone().unwrap_or_default();
        self.state.lock().statuses.insert(uid, status.clone());
        self.notify.notify_one();
    }

    /// A mirror pod from the pod watch (added or modified).
    pub fn observe(&self, mirror: &Pod) {
        self.state
            .lock()
            .mirrors
            .insert(key(mirror), mirror.clone());
        self.notify.notify_one();
    }

    /// A mirror pod removed from the apiserver.
    pub fn forget(&self, mirror: &Pod) {
        let mut st = self.state.lock();
        let k = key(mirror);
        if st.mirrors.get(&k).map(|m| &m.metadata.uid) == Some(&mirror.metadata.uid) {
            st.mirrors.remove(&k);
        }
        drop(st);
        self.notify.notify_one();
    }

    /// The pod watch's (re)list: these are all the mirror pods on the node.
    pub fn replace_mirrors(&self, mirrors: Vec<Pod>) {
        let mut st = self.state.lock();
        st.mirrors = mirrors.into_iter().map(|m| (key(&m), m)).collect();
        st.mirrors_synced = true;
        drop(st);
        self.notify.notify_one();
    }

    /// Reconciles on every change and every second until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            self.reconcile().await;
            tokio::select! {
                _ = self.notify.notified() => {}
                _ = tokio::time::sleep(RESYNC) => {}
                _ = shutdown.wait_for(|v| *v) => return,
            }
        }
    }

    fn pods(&self, ns: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// One pass: create, replace, update the status of and delete mirror pods.
    pub async fn reconcile(&self) {
        let (statics, mirrors, statuses, written) = {
            let st = self.state.lock();
            let Some(statics) = st.statics.clone() else {
                return;
            };
            if !st.mirrors_synced {
                return;
            }
            (
                statics,
                st.mirrors.clone(),
                st.statuses.clone(),
                st.written.clone(),
            )
        };
        for (k, sp) in &statics {
            let uid = sp.metadata.uid.clone().unwrap_or_default();
            let mut mirror_uid = None;
            let mut need_create = true;
            if let Some(m) = mirrors.get(k) {
                if is_mirror_of(m, sp) {
                    mirror_uid = m.metadata.uid.clone();
                    need_create = false;
                } else {
                    tracing::info!(pod = %format!("{}/{}", k.0, k.1), "deleting outdated mirror pod");
                    need_create = self.delete_mirror(m).await;
                }
            }
            if need_create {
                mirror_uid = self.create_mirror(sp).await;
            }
            let (Some(mirror_uid), Some(status)) = (mirror_uid, statuses.get(&uid)) else {
                continue;
            };
            if written.get(&uid) == Some(&(mirror_uid.clone(), status.clone())) {
                continue;
            }
            let patch = serde_json::json!({
                "metadata": {"uid": mirror_uid},
                "status": status,
            });
            match self
                .pods(&k.0)
                .patch_status(&k.1, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.state
                        .lock()
                        .written
                        .insert(uid, (mirror_uid, status.clone()));
                }
                Err(e) => {
                    tracing::debug!(error = %e, pod = %k.1, "writing mirror pod status")
                }
            }
        }
        // Orphans: mirror pods whose static pod is gone (upstream deleteOrphanedMirrorPods).
        for (k, m) in &mirrors {
            if !statics.contains_key(k) {
                tracing::info!(pod = %format!("{}/{}", k.0, k.1), "deleting mirror pod of a removed static pod");
                self.delete_mirror(m).await;
            }
        }
    }

    /// Deletes a mirror pod (uid precondition, grace 0); true when it is gone.
    async fn delete_mirror(&self, m: &Pod) -> bool {
        let (ns, name) = key(m);
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: m.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        let gone = match self.pods(&ns).delete(&name, &params).await {
            Ok(_) => true,
            // Gone already, or replaced by another object (uid precondition failed).
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => true,
            Err(e) => {
                tracing::warn!(error = %e, pod = %name, "deleting mirror pod");
                false
            }
        };
        if gone {
            self.forget(m);
        }
        gone
    }

    /// Creates the mirror pod of `sp`; returns its uid.
    async fn create_mirror(&self, sp: &Pod) -> Option<String> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let node = match nodes.get_opt(&self.node_name).await {
            Ok(Some(n)) => n,
            Ok(None) => return None,
            Err(e) => {
                tracing::debug!(error = %e, "reading the node for a mirror pod");
                return None;
            }
        };
        // Upstream: no mirror pods for a node that is being deleted.
        if node.metadata.deletion_timestamp.is_some() {
            return None;
        }
        let node_uid = node.metadata.uid.unwrap_or_default();
        let mirror = mirror_pod_for(sp, &self.node_name, &node_uid);
        let ns = mirror.metadata.namespace.clone().unwrap_or_default();
        match self.pods(&ns).create(&PostParams::default(), &mirror).await {
            Ok(created) => {
                tracing::info!(pod = %format!("{ns}/{}", sp.metadata.name.as_deref().unwrap_or_default()), "created mirror pod");
                let uid = created.metadata.uid.clone();
                self.observe(&created);
                uid
            }
            Err(kube::Error::Api(e)) if e.code == 409 => None,
            Err(e) => {
                tracing::warn!(error = %e, "creating mirror pod");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::static_pods::decode_manifest;

    #[test]
    fn mirror_pod_copies_the_static_pod_with_owner_and_hash() {
        let sp = decode_manifest(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
            std::path::Path::new("/m/web.yaml"),
            "n1",
        )
        .unwrap();
        let m = mirror_pod_for(&sp, "n1", "node-uid");
        assert_eq!(m.metadata.name.as_deref(), Some("web-n1"));
        assert_eq!(m.metadata.uid, None);
        assert_eq!(m.metadata.labels.as_ref().unwrap()["app"], "web");
        let ann = m.metadata.annotations.clone().unwrap();
        assert_eq!(
            ann[CONFIG_MIRROR_ANNOTATION].as_str(),
            config_hash(&sp).unwrap()
        );
        assert_eq!(ann["kubernetes.io/config.source"], "file");
        let owner = &m.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (
                owner.api_version.as_str(),
                owner.kind.as_str(),
                owner.name.as_str(),
                owner.uid.as_str(),
                owner.controller
            ),
            ("v1", "Node", "n1", "node-uid", Some(true))
        );
        assert!(crate::pods::static_pods::is_mirror(&m));
        assert!(is_mirror_of(&m, &sp));
        let mut other = m.clone();
        other
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(CONFIG_MIRROR_ANNOTATION.into(), "old".into());
        assert!(!is_mirror_of(&other, &sp));
        let mut deleting = m.clone();
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ));
        assert!(!is_mirror_of(&deleting, &sp));
    }
}
