//! Informers: a list-watch of one resource kept in a `kube::runtime` reflector store, with
//! add/update/delete notifications delivered *after* the store reflects them — the contract
//! of client-go's shared informer event handlers (`OnAdd`, `OnUpdate(old, new)`,
//! `OnDelete`), which controllers rely on to enqueue keys and observe expectations.
//!
//! On a relist (the watcher's `Init` .. `InitDone`), the listed objects become visible at
//! `InitDone`, so notifications are buffered until then; objects that vanished while the
//! watch was down are reported as deletions, as client-go's `DeltaFIFO.Replace` does.
//!
//! Each controller runs its own informers; upstream shares one informer per resource
//! across controllers (`SharedInformerFactory`), which is not done here yet.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

/// One change seen by an informer.
#[derive(Debug)]
pub enum Notification<K> {
    /// The object is new to the store.
    Added(Arc<K>),
    /// The object changed; `old` is the previous stored version.
    Updated {
        /// Before.
        old: Arc<K>,
        /// After.
        new: Arc<K>,
    },
    /// The object was deleted (its last known state).
    Deleted(Arc<K>),
}

/// A running informer; aborted when dropped.
pub struct Informer<K: Resource + 'static>
where
    K::DynamicType: Hash + Eq + Clone,
{
    /// The cache; read it, never write it.
    pub store: Store<K>,
    task: tokio::task::JoinHandle<()>,
}

impl<K: Resource + 'static> Drop for Informer<K>
where
    K::DynamicType: Hash + Eq + Clone,
{
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<K> Informer<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Hash + Eq + Clone + Send + Sync,
{
    /// Starts list-watching `api`, calling `handler` for each change.
    pub fn spawn(api: Api<K>, handler: impl Fn(Notification<K>) + Send + Sync + 'static) -> Self {
        let (store, mut writer) = reflector::store::<K>();
        let reader = store.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher(api).default_backoff().boxed();
            let mut before_init: HashMap<ObjectRef<K>, Arc<K>> = HashMap::new();
            let mut buffered: Vec<K> = Vec::new();
            while let Some(ev) = stream.next().await {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(e) => {
                        tracing::debug!(error = %e, "watch failed, retrying with backoff");
                        continue;
                    }
                };
                match &ev {
                    Event::Apply(obj) => {
                        let old = reader.get(&ObjectRef::from_obj(obj));
                        writer.apply_watcher_event(&ev);
                        let new = reader
                            .get(&ObjectRef::from_obj(obj))
                            .unwrap_or_else(|| Arc::new(obj.clone()));
                        handler(match old {
                            Some(old) => Notification::Updated { old, new },
                            None => Notification::Added(new),
                        });
                    }
                    Event::Delete(obj) => {
                        let last = reader
                            .get(&ObjectRef::from_obj(obj))
                            .unwrap_or_else(|| Arc::new(obj.clone()));
                        writer.apply_watcher_event(&ev);
                        handler(Notification::Deleted(last));
                    }
                    Event::Init => {
                        before_init = reader
                            .state()
                            .into_iter()
                            .map(|o| (ObjectRef::from_obj(o.as_ref()), o))
                            .collect();
                        buffered.clear();
                        writer.apply_watcher_event(&ev);
                    }
                    Event::InitApply(obj) => {
                        buffered.push(obj.clone());
                        writer.apply_watcher_event(&ev);
                    }
                    Event::InitDone => {
                        writer.apply_watcher_event(&ev);
                        for obj in buffered.drain(..) {
                            let r = ObjectRef::from_obj(&obj);
                            let new = reader.get(&r).unwrap_or_else(|| Arc::new(obj.clone()));
                            match before_init.remove(&r) {
                                Some(old) => {
                                    if old.meta().resource_version != new.meta().resource_version {
                                        handler(Notification::Updated { old, new });
                                    }
                                }
                                None => handler(Notification::Added(new)),
                            }
                        }
                        for (_, gone) in before_init.drain() {
                            handler(Notification::Deleted(gone));
                        }
                    }
                }
            }
        });
        Informer { store, task }
    }

    /// Waits until the first list is in the store (upstream `WaitForCacheSync`).
    pub async fn synced(&self) {
        // The writer lives as long as the task; if it ended, there is nothing to wait for.
        let _ = self.store.wait_until_ready().await;
    }
}

fn watcher<K>(api: Api<K>) -> impl futures::Stream<Item = watcher::Result<Event<K>>> + Send
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    // Reflectors list with resourceVersion=0 and then watch with bookmarks, as client-go's.
    watcher::watcher(api, watcher::Config::default().any_semantic())
}

/// `namespace/name` (or `name` for cluster-scoped objects): upstream `MetaNamespaceKeyFunc`.
pub fn key_of<K: Resource>(obj: &K) -> String {
    let m = obj.meta();
    let name = m.name.as_deref().unwrap_or_default();
    match m.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

/// Splits a key made by [`key_of`] into (namespace, name).
pub fn split_key(key: &str) -> (Option<&str>, &str) {
    match key.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Namespace, Pod};

    #[test]
    fn keys_round_trip() {
        let mut p = Pod::default();
        p.metadata.name = Some("a".into());
        p.metadata.namespace = Some("ns".into());
        assert_eq!(key_of(&p), "ns/a");
        assert_eq!(split_key("ns/a"), (Some("ns"), "a"));
        let mut n = Namespace::default();
        n.metadata.name = Some("ns".into());
        assert_eq!(key_of(&n), "ns");
        assert_eq!(split_key("ns"), (None, "ns"));
    }
}
