//! Garbage collector (upstream pkg/controller/garbagecollector): deletes objects whose
//! owners are gone, and carries out `Orphan` and `Foreground` deletion of owners.
//!
//! How it works (the shape of upstream's GraphBuilder + attemptToDelete/attemptToOrphan):
//! - discovery lists every resource supporting `list`, `watch` and `delete` (re-run every
//!   30 s to pick up new CRDs); each gets a metadata-only watch feeding one graph of
//!   uid -> (resource, namespace, name, ownerReferences, deleting, finalizers) plus the
//!   reverse owner -> dependents index;
//! - a dependent is queued when it appears with owners, and all dependents of an object are
//!   queued when it disappears;
//! - `attempt_to_delete` classifies each owner reference as solid (exists), dangling
//!   (absent: not in the graph and a live GET answers 404 or another uid), or waiting for
//!   dependents (being deleted with the `foregroundDeletion` finalizer). No solid owner:
//!   delete the dependent (Foreground if an owner waits on it, else by the dependent's own
//!   finalizers, default Background), with a uid precondition. A solid owner plus dangling
//!   ones: drop the dangling references;
//! - an owner deleted with `orphan` has the reference removed from its dependents and then
//!   the finalizer removed; one deleted with `foregroundDeletion` has its blocking dependents
//!   deleted and loses the finalizer once none remain.
//!
//! Differences from upstream: no "absent owner" cache and no virtual nodes for owners seen
//! only through references; a cluster-scoped dependent naming a namespaced owner is not
//! flagged with an event; a relisted watch does not report objects deleted while it was
//! down (their dependents are collected when next queued).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    DeleteParams, DynamicObject, PartialObjectMeta, Patch, PatchParams, Preconditions,
};
use kube::discovery::{verbs, ApiResource, Discovery, Scope};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use parking_lot::Mutex;
use serde_json::json;

use super::{is_not_found, run_workers, ControllerError, Requeue};
use crate::queue::WorkQueue;
use crate::ControllerContext;

/// How often discovery is re-run (upstream resyncs the monitored resources periodically).
pub const DISCOVERY_RESYNC: Duration = Duration::from_secs(30);

/// Errors of one attempt; retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum GarbageCollectorError {
    /// an API call failed
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// an owner reference names a kind discovery does not know
    #[error("unable to resolve owner {api_version}/{kind}")]
    UnknownKind {
        /// The reference's apiVersion.
        api_version: String,
        /// The reference's kind.
        kind: String,
    },
}

#[derive(Debug, Clone)]
struct Node {
    resource: ApiResource,
    namespace: Option<String>,
    name: String,
    owners: Vec<OwnerReference>,
    deleting: bool,
    finalizers: Vec<String>,
}

#[derive(Default)]
struct Graph {
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    /// Inserts or replaces a node; returns the uids to queue.
    fn upsert(&mut self, uid: &str, node: Node) -> Vec<String> {
        let mut queue = Vec::new();
        if let Some(old) = self.nodes.remove(uid) {
            for o in &old.owners {
                if let Some(d) = self.dependents.get_mut(&o.uid) {
                    d.remove(uid);
                }
                // An owner waiting in foreground deletion may now be unblocked.
                if !node.owners.iter().any(|n| n.uid == o.uid) {
                    queue.push(o.uid.clone());
                }
            }
        }
        for o in &node.owners {
            self.dependents
                .entry(o.uid.clone())
                .or_default()
                .insert(uid.to_string());
        }
        if !node.owners.is_empty() || (node.deleting && !node.finalizers.is_empty()) {
            queue.push(uid.to_string());
        }
        self.nodes.insert(uid.to_string(), node);
        queue
    }

    /// Removes a node; returns the uids to queue (its dependents and owners).
    fn remove(&mut self, uid: &str) -> Vec<String> {
        let mut queue: Vec<String> = self
            .dependents
            .get(uid)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default();
        if let Some(old) = self.nodes.remove(uid) {
            for o in &old.owners {
                if let Some(d) = self.dependents.get_mut(&o.uid) {
                    d.remove(uid);
                }
                queue.push(o.uid.clone());
            }
        }
        queue
    }
}

/// (apiVersion, kind) -> (resource, namespaced).
type KindMap = HashMap<(String, String), (ApiResource, bool)>;

#[derive(Clone)]
struct GarbageCollector {
    client: kube::Client,
    graph: Arc<Mutex<Graph>>,
    /// (apiVersion, kind) -> resource, from discovery.
    kinds: Arc<Mutex<KindMap>>,
}

/// Starts the graph builder and `--concurrent-gc-syncs` workers.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let gc = GarbageCollector {
        client: ctx.client.clone(),
        graph: Arc::default(),
        kinds: Arc::default(),
    };
    let queue = ctx.work_queue("garbage_collector_attempt_to_delete");
    let mut watches = tokio::task::JoinSet::new();
    let mut watched: HashSet<String> = HashSet::new();
    // First discovery and initial lists before any decision, as upstream waits for the
    // graph to sync.
    let mut synced = Vec::new();
    gc.discover(&queue, &mut watches, &mut watched, &mut synced)
        .await;
    for rx in synced {
        let _ = rx.await;
    }
    let workers = {
        let gc = gc.clone();
        run_workers(
            "garbage-collector-controller",
            queue.clone(),
            ctx.options.concurrent_gc_syncs,
            move |uid| {
                let gc = gc.clone();
                async move { gc.attempt(&uid).await }
            },
        )
    };
    let rediscover = async {
        loop {
            tokio::time::sleep(DISCOVERY_RESYNC).await;
            let mut synced = Vec::new();
            gc.discover(&queue, &mut watches, &mut watched, &mut synced)
                .await;
        }
    };
    tokio::select! {
        () = workers => {}
        () = rediscover => {}
    }
    Ok(())
}

impl GarbageCollector {
    /// Runs discovery and starts a metadata watch for each new deletable resource.
    async fn discover(
        &self,
        queue: &WorkQueue,
        watches: &mut tokio::task::JoinSet<()>,
        watched: &mut HashSet<String>,
        synced: &mut Vec<tokio::sync::oneshot::Receiver<()>>,
    ) {
        let discovery = match Discovery::new(self.client.clone()).run().await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "garbage collector discovery failed");
                return;
            }
        };
        for group in discovery.groups() {
            for version in group.versions() {
                for (ar, caps) in group.versioned_resources(version) {
                    let namespaced = caps.scope == Scope::Namespaced;
                    self.kinds.lock().insert(
                        (ar.api_version.clone(), ar.kind.clone()),
                        (ar.clone(), namespaced),
                    );
                }
            }
            for (ar, caps) in group.recommended_resources() {
                let deletable = [verbs::LIST, verbs::WATCH, verbs::DELETE]
                    .iter()
                    .all(|v| caps.supports_operation(v));
                let key = format!("{}.{}", ar.plural, ar.group);
                if !deletable || !watched.insert(key) {
                    continue;
                }
                let (tx, rx) = tokio::sync::oneshot::channel();
                synced.push(rx);
                watches.spawn(self.clone().watch(ar, queue.clone(), tx));
            }
        }
    }

    async fn watch(
        self,
        ar: ApiResource,
        queue: WorkQueue,
        synced: tokio::sync::oneshot::Sender<()>,
    ) {
        // Api<PartialObjectMeta<_>> makes metadata-only list/watch requests.
        let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(self.client.clone(), &ar);
        let mut stream = watcher::watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .boxed();
        let mut synced = Some(synced);
        while let Some(ev) = stream.next().await {
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::debug!(resource = %ar.plural, error = %e, "gc watch failed, retrying");
                    continue;
                }
            };
            let to_queue = match ev {
                Event::Apply(obj) | Event::InitApply(obj) => {
                    let m = obj.metadata;
                    let Some(uid) = m.uid.clone() else { continue };
                    let node = Node {
                        resource: ar.clone(),
                        namespace: m.namespace.clone(),
                        name: m.name.clone().unwrap_or_default(),
                        owners: m.owner_references.clone().unwrap_or_default(),
                        deleting: m.deletion_timestamp.is_some(),
                        finalizers: m.finalizers.clone().unwrap_or_default(),
                    };
                    self.graph.lock().upsert(&uid, node)
                }
                Event::Delete(obj) => match obj.metadata.uid.as_deref() {
                    Some(uid) => self.graph.lock().remove(uid),
                    None => Vec::new(),
                },
                Event::Init => Vec::new(),
                Event::InitDone => {
                    if let Some(tx) = synced.take() {
                        let _ = tx.send(());
                    }
                    Vec::new()
                }
            };
            for uid in to_queue {
                queue.add(uid);
            }
        }
    }

    fn api_for(&self, node: &Node) -> Api<DynamicObject> {
        match &node.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &node.resource),
            None => Api::all_with(self.client.clone(), &node.resource),
        }
    }

    async fn attempt(&self, uid: &str) -> Result<Requeue, GarbageCollectorError> {
        let Some(node) = self.graph.lock().nodes.get(uid).cloned() else {
            return Ok(Requeue::No);
        };
        if node.deleting {
            if node.finalizers.iter().any(|f| f == "orphan") {
                self.orphan_dependents(uid).await?;
                self.remove_finalizer(&node, "orphan").await?;
            } else if node.finalizers.iter().any(|f| f == "foregroundDeletion") {
                self.process_deleting_dependents(uid, &node).await?;
            }
            return Ok(Requeue::No);
        }
        if node.owners.is_empty() {
            return Ok(Requeue::No);
        }
        let mut solid = Vec::new();
        let mut dangling = Vec::new();
        let mut waiting = Vec::new();
        for r in &node.owners {
            match self.owner_state(r, node.namespace.as_deref()).await? {
                OwnerState::Absent => dangling.push(r.clone()),
                OwnerState::WaitingForDependents => waiting.push(r.clone()),
                OwnerState::Solid => solid.push(r.clone()),
            }
        }
        let api = self.api_for(&node);
        if !solid.is_empty() {
            if dangling.is_empty() && waiting.is_empty() {
                return Ok(Requeue::No);
            }
            // Upstream removes dangling references and unblocks owners waiting on us
            // (blockOwnerDeletion=false) while a solid owner keeps the object alive.
            let mut refs: Vec<serde_json::Value> = dangling
                .iter()
                .map(|r| json!({"$patch": "delete", "uid": r.uid}))
                .collect();
            refs.extend(waiting.iter().map(|r| {
                let mut r = r.clone();
                r.block_owner_deletion = Some(false);
                serde_json::to_value(r).unwrap_or_default()
            }));
            let patch = json!({"metadata": {"ownerReferences": refs, "uid": uid}});
            match api
                .patch(
                    &node.name,
                    &PatchParams::default(),
                    &Patch::Strategic(patch),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) || is_invalid(&e) => {}
                Err(e) => return Err(e.into()),
            }
            return Ok(Requeue::No);
        }
        let mut dp = if !waiting.is_empty() {
            DeleteParams::foreground()
        } else if node.finalizers.iter().any(|f| f == "orphan") {
            DeleteParams::orphan()
        } else if node.finalizers.iter().any(|f| f == "foregroundDeletion") {
            DeleteParams::foreground()
        } else {
            DeleteParams::background()
        };
        dp.preconditions = Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        });
        tracing::info!(
            resource = %node.resource.plural,
            namespace = node.namespace.as_deref().unwrap_or(""),
            name = %node.name,
            "deleting object whose owners are gone"
        );
        match api.delete(&node.name, &dp).await {
            Ok(_) => Ok(Requeue::No),
            Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(Requeue::No),
            Err(e) => Err(e.into()),
        }
    }

    async fn owner_state(
        &self,
        r: &OwnerReference,
        namespace: Option<&str>,
    ) -> Result<OwnerState, GarbageCollectorError> {
        if let Some(owner) = self.graph.lock().nodes.get(&r.uid) {
            return Ok(classify(owner));
        }
        // Not in the graph (yet): ask the apiserver, as upstream verifies absence live.
        let Some((ar, namespaced)) = self
            .kinds
            .lock()
            .get(&(r.api_version.clone(), r.kind.clone()))
            .cloned()
        else {
            return Err(GarbageCollectorError::UnknownKind {
                api_version: r.api_version.clone(),
                kind: r.kind.clone(),
            });
        };
        let api: Api<DynamicObject> = match (namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &ar),
            // A cluster-scoped dependent cannot have a namespaced owner: absent.
            (true, None) => return Ok(OwnerState::Absent),
            (false, _) => Api::all_with(self.client.clone(), &ar),
        };
        match api.get_metadata_opt(&r.name).await? {
            Some(o) if o.metadata.uid.as_deref() == Some(r.uid.as_str()) => {
                let deleting = o.metadata.deletion_timestamp.is_some();
                let fg = o
                    .metadata
                    .finalizers
                    .iter()
                    .flatten()
                    .any(|f| f == "foregroundDeletion");
                Ok(if deleting && fg {
                    OwnerState::WaitingForDependents
                } else {
                    OwnerState::Solid
                })
            }
            _ => Ok(OwnerState::Absent),
        }
    }

    /// Upstream `orphanDependents`: drop the owner's reference from every dependent.
    async fn orphan_dependents(&self, owner_uid: &str) -> Result<(), GarbageCollectorError> {
        let dependents: Vec<(String, Node)> = {
            let g = self.graph.lock();
            g.dependents
                .get(owner_uid)
                .into_iter()
                .flatten()
                .filter_map(|d| g.nodes.get(d).map(|n| (d.clone(), n.clone())))
                .collect()
        };
        for (uid, dep) in dependents {
            let patch = json!({"metadata": {
                "ownerReferences": [{"$patch": "delete", "uid": owner_uid}],
                "uid": uid,
            }});
            match self
                .api_for(&dep)
                .patch(&dep.name, &PatchParams::default(), &Patch::Strategic(patch))
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) || is_invalid(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Upstream `processDeletingDependentsItem`.
    async fn process_deleting_dependents(
        &self,
        uid: &str,
        node: &Node,
    ) -> Result<(), GarbageCollectorError> {
        let blocking: Vec<(String, Node)> = {
            let g = self.graph.lock();
            g.dependents
                .get(uid)
                .into_iter()
                .flatten()
                .filter_map(|d| g.nodes.get(d).map(|n| (d.clone(), n.clone())))
                .filter(|(_, n)| {
                    n.owners
                        .iter()
                        .any(|r| r.uid == uid && r.block_owner_deletion == Some(true))
                })
                .collect()
        };
        if blocking.is_empty() {
            return self.remove_finalizer(node, "foregroundDeletion").await;
        }
        for (dep_uid, dep) in blocking {
            if dep.deleting {
                continue;
            }
            let mut dp = DeleteParams::foreground();
            dp.preconditions = Some(Preconditions {
                uid: Some(dep_uid),
                resource_version: None,
            });
            match self.api_for(&dep).delete(&dep.name, &dp).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) || is_conflict(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn remove_finalizer(
        &self,
        node: &Node,
        finalizer: &str,
    ) -> Result<(), GarbageCollectorError> {
        let api = self.api_for(node);
        let Some(live) = api.get_metadata_opt(&node.name).await? else {
            return Ok(());
        };
        let finalizers: Vec<String> = live
            .metadata
            .finalizers
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        // The resourceVersion makes this a compare-and-swap of the finalizer list.
        let patch = json!({"metadata": {
            "finalizers": finalizers,
            "resourceVersion": live.metadata.resource_version,
        }});
        match api
            .patch(&node.name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum OwnerState {
    Solid,
    Absent,
    WaitingForDependents,
}

fn classify(owner: &Node) -> OwnerState {
    if owner.deleting && owner.finalizers.iter().any(|f| f == "foregroundDeletion") {
        OwnerState::WaitingForDependents
    } else {
        OwnerState::Solid
    }
}

fn is_invalid(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 422)
}

fn is_conflict(e: &kube::Error) -> bool {
    super::is_conflict(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(owners: &[&str], deleting: bool, finalizers: &[&str]) -> Node {
        Node {
            resource: ApiResource {
                group: String::new(),
                version: "v1".into(),
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                plural: "configmaps".into(),
            },
            namespace: Some("ns".into()),
            name: "n".into(),
            owners: owners
                .iter()
                .map(|u| OwnerReference {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    name: format!("owner-{u}"),
                    uid: u.to_string(),
                    ..Default::default()
                })
                .collect(),
            deleting,
            finalizers: finalizers.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn graph_queues_dependents_when_owner_goes() {
        let mut g = Graph::default();
        assert!(g.upsert("owner", node(&[], false, &[])).is_empty());
        assert_eq!(g.upsert("dep1", node(&["owner"], false, &[])), vec!["dep1"]);
        g.upsert("dep2", node(&["owner"], false, &[]));
        let mut q = g.remove("owner");
        q.sort();
        assert_eq!(q, vec!["dep1", "dep2"]);
        // Dropping an owner reference re-queues that owner (it may wait on us).
        let q = g.upsert("dep1", node(&[], false, &[]));
        assert_eq!(q, vec!["owner"]);
        assert!(!g.dependents["owner"].contains("dep1"));
    }

    #[test]
    fn owner_classification() {
        assert_eq!(classify(&node(&[], false, &[])), OwnerState::Solid);
        assert_eq!(
            classify(&node(&[], true, &["foregroundDeletion"])),
            OwnerState::WaitingForDependents
        );
        assert_eq!(classify(&node(&[], true, &["orphan"])), OwnerState::Solid);
    }
}
