//! Informers: a list-watch of one resource kept in a `kube::runtime` reflector store, with
//! add/update/delete notifications delivered *after* the store reflects them — the contract
//! of client-go's shared informer event handlers (`OnAdd`, `OnUpdate(old, new)`,
//! `OnDelete`), which controllers rely on to enqueue keys and observe expectations.
//!
//! On a relist (the watcher's `Init` .. `InitDone`), the listed objects become visible at
//! `InitDone`, so notifications are buffered until then; objects that vanished while the
//! watch was down are reported as deletions, as client-go's `DeltaFIFO.Replace` does.
//!
//! [`SharedInformerFactory`] mirrors client-go's `SharedInformerFactory`: one list-watch and
//! one cache per resource type for the whole process, each controller subscribing its own
//! handler with [`SharedInformerFactory::subscribe`]. A subscriber that joins after the cache
//! filled first gets a synthetic `Added` for every cached object (client-go's
//! `AddEventHandler` on a started informer does the same). [`Informer::spawn`] still runs a
//! private list-watch, for watches that cannot be shared (a namespace or selector).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource};
use parking_lot::Mutex;
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

impl<K> Notification<K> {
    /// The object as it is now (the last known state for a deletion).
    pub fn object(&self) -> &Arc<K> {
        match self {
            Notification::Added(o) | Notification::Deleted(o) => o,
            Notification::Updated { new, .. } => new,
        }
    }
}

type Handler<K> = Arc<dyn Fn(Notification<K>) + Send + Sync>;

/// The handlers of one cache. Its lock is held while the store is written and handlers run,
/// so a new subscriber's snapshot and the notifications after it neither overlap nor gap.
struct Dispatch<K> {
    next_id: u64,
    handlers: Vec<(u64, Handler<K>)>,
}

/// One cache and its subscribers.
struct SharedCache<K: Resource + 'static>
where
    K::DynamicType: Hash + Eq + Clone,
{
    store: Store<K>,
    dispatch: Mutex<Dispatch<K>>,
    /// Turns true once the first list is in the store. Not `Store::wait_until_ready`:
    /// kube's readiness future wakes only the last of several concurrent waiters, and a
    /// shared cache has one waiter per subscriber.
    synced: tokio::sync::watch::Sender<bool>,
}

impl<K: Resource + Clone + 'static> SharedCache<K>
where
    K::DynamicType: Hash + Eq + Clone,
{
    fn notify(dispatch: &Dispatch<K>, make: impl Fn() -> Notification<K>) {
        for (_, h) in &dispatch.handlers {
            h(make());
        }
    }

    /// Adds `handler`, first replaying the cache to it as `Added` notifications.
    fn subscribe(&self, handler: Handler<K>) -> u64 {
        let mut d = self.dispatch.lock();
        for obj in self.store.state() {
            handler(Notification::Added(obj));
        }
        let id = d.next_id;
        d.next_id += 1;
        d.handlers.push((id, handler));
        id
    }
}

/// Runs the list-watch feeding `cache` until aborted.
fn spawn_reflector<K>(
    api: Api<K>,
    mut writer: reflector::store::Writer<K>,
    cache: Arc<SharedCache<K>>,
) -> tokio::task::JoinHandle<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Hash + Eq + Clone + Send + Sync,
{
    tokio::spawn(async move {
        let reader = cache.store.clone();
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
            let d = cache.dispatch.lock();
            match &ev {
                Event::Apply(obj) => {
                    let old = reader.get(&ObjectRef::from_obj(obj));
                    writer.apply_watcher_event(&ev);
                    let new = reader
                        .get(&ObjectRef::from_obj(obj))
                        .unwrap_or_else(|| Arc::new(obj.clone()));
                    SharedCache::notify(&d, || match &old {
                        Some(old) => Notification::Updated {
                            old: old.clone(),
                            new: new.clone(),
                        },
                        None => Notification::Added(new.clone()),
                    });
                }
                Event::Delete(obj) => {
                    let last = reader
                        .get(&ObjectRef::from_obj(obj))
                        .unwrap_or_else(|| Arc::new(obj.clone()));
                    writer.apply_watcher_event(&ev);
                    SharedCache::notify(&d, || Notification::Deleted(last.clone()));
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
                    cache.synced.send_replace(true);
                    for obj in buffered.drain(..) {
                        let r = ObjectRef::from_obj(&obj);
                        let new = reader.get(&r).unwrap_or_else(|| Arc::new(obj.clone()));
                        match before_init.remove(&r) {
                            Some(old) => {
                                if old.meta().resource_version != new.meta().resource_version {
                                    SharedCache::notify(&d, || Notification::Updated {
                                        old: old.clone(),
                                        new: new.clone(),
                                    });
                                }
                            }
                            None => SharedCache::notify(&d, || Notification::Added(new.clone())),
                        }
                    }
                    for (_, gone) in before_init.drain() {
                        SharedCache::notify(&d, || Notification::Deleted(gone.clone()));
                    }
                }
            }
        }
    })
}

/// A subscription to an informer: the cache plus this subscriber's handler. Dropping it
/// removes the handler (and, for [`Informer::spawn`], stops the private list-watch).
pub struct Informer<K: Resource + 'static>
where
    K::DynamicType: Hash + Eq + Clone,
{
    /// The cache; read it, never write it.
    pub store: Store<K>,
    cache: Arc<SharedCache<K>>,
    id: u64,
    own_task: Option<tokio::task::JoinHandle<()>>,
}

impl<K: Resource + 'static> Drop for Informer<K>
where
    K::DynamicType: Hash + Eq + Clone,
{
    fn drop(&mut self) {
        self.cache
            .dispatch
            .lock()
            .handlers
            .retain(|(i, _)| *i != self.id);
        if let Some(t) = &self.own_task {
            t.abort();
        }
    }
}

impl<K> Informer<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Hash + Eq + Clone + Send + Sync,
{
    /// Starts a private list-watch of `api`, calling `handler` for each change. Prefer
    /// [`SharedInformerFactory::subscribe`], which shares one cache per resource type.
    pub fn spawn(api: Api<K>, handler: impl Fn(Notification<K>) + Send + Sync + 'static) -> Self {
        let (store, writer) = reflector::store::<K>();
        let cache = Arc::new(SharedCache {
            store: store.clone(),
            dispatch: Mutex::new(Dispatch {
                next_id: 0,
                handlers: Vec::new(),
            }),
            synced: tokio::sync::watch::channel(false).0,
        });
        let id = cache.subscribe(Arc::new(handler));
        let task = spawn_reflector(api, writer, cache.clone());
        Informer {
            store,
            cache,
            id,
            own_task: Some(task),
        }
    }

    /// Waits until the first list is in the store (upstream `WaitForCacheSync`).
    pub async fn synced(&self) {
        // The writer lives as long as the task; if it ended, there is nothing to wait for.
        let _ = self.cache.synced.subscribe().wait_for(|s| *s).await;
    }
}

/// A shared cache as the factory keeps it: the cache and the task feeding it.
struct Entry<K: Resource + 'static>
where
    K::DynamicType: Hash + Eq + Clone,
{
    cache: Arc<SharedCache<K>>,
    task: tokio::task::JoinHandle<()>,
}

impl<K: Resource + 'static> Drop for Entry<K>
where
    K::DynamicType: Hash + Eq + Clone,
{
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One list-watch and one cache per resource type for the whole process (client-go's
/// `SharedInformerFactory`). The list-watch of a type starts with its first subscriber and
/// stops when the factory is dropped.
pub struct SharedInformerFactory {
    client: kube::Client,
    entries: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl SharedInformerFactory {
    /// A factory list-watching through `client`.
    pub fn new(client: kube::Client) -> SharedInformerFactory {
        SharedInformerFactory {
            client,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn cache<K>(&self) -> Arc<SharedCache<K>>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Default + Hash + Eq + Clone + Send + Sync,
    {
        let mut entries = self.entries.lock();
        let any = entries
            .entry(TypeId::of::<K>())
            .or_insert_with(|| {
                let (store, writer) = reflector::store::<K>();
                let cache = Arc::new(SharedCache {
                    store,
                    dispatch: Mutex::new(Dispatch {
                        next_id: 0,
                        handlers: Vec::new(),
                    }),
                    synced: tokio::sync::watch::channel(false).0,
                });
                let task = spawn_reflector(Api::all(self.client.clone()), writer, cache.clone());
                Arc::new(Entry { cache, task })
            })
            .clone();
        drop(entries);
        let entry = any
            .downcast::<Entry<K>>()
            .unwrap_or_else(|_| unreachable!("entries are keyed by their own TypeId"));
        entry.cache.clone()
    }

    /// Subscribes `handler` to the shared cache of `K` (all namespaces), starting its
    /// list-watch if this is the first subscriber. Objects already cached are replayed as
    /// `Added` first. Drop the returned handle to unsubscribe.
    pub fn subscribe<K>(
        &self,
        handler: impl Fn(Notification<K>) + Send + Sync + 'static,
    ) -> Informer<K>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Default + Hash + Eq + Clone + Send + Sync,
    {
        let cache = self.cache::<K>();
        let id = cache.subscribe(Arc::new(handler));
        Informer {
            store: cache.store.clone(),
            cache,
            id,
            own_task: None,
        }
    }

    /// The shared cache of `K` (a lister), once its first list is in; starts its
    /// list-watch if needed.
    pub async fn synced_store<K>(&self) -> Store<K>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Default + Hash + Eq + Clone + Send + Sync,
    {
        let cache = self.cache::<K>();
        let _ = cache.synced.subscribe().wait_for(|s| *s).await;
        cache.store.clone()
    }

    /// How many resource types have a running list-watch.
    pub fn started(&self) -> usize {
        self.entries.lock().len()
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
