//! The watch cache: one per resource, serving lists and watches from memory.
//!
//! Mirrors upstream's cacher (k8s.io/apiserver/pkg/storage/cacher): it lists the resource's
//! key prefix from storage once, then follows the store's watch, keeping the latest objects
//! and a window of recent events. Watches replay from that window (410 Expired when the
//! requested resourceVersion is older than the window) and then receive live events. Every
//! watcher has a bounded buffer; a watcher that cannot keep up is dropped and told so, never
//! slowing the dispatcher or the other watchers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use parking_lot::RwLock;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use rudder_storage::{EventType, KeyValue, ListOptions, StorageError, Store};

/// Events kept per resource for watch replay (upstream sizes its window dynamically up to
/// 100k; a fixed bound keeps memory predictable).
pub const EVENT_WINDOW: usize = 50_000;
/// Buffered events per watcher before it is considered too slow and dropped.
pub const WATCHER_BUFFER: usize = 1024;

/// An object as the cache holds it: parsed once, serialized once.
#[derive(Debug)]
pub struct CachedObject {
    /// Storage key.
    pub key: String,
    /// The object with metadata.resourceVersion set.
    pub object: Value,
    /// The object serialized as JSON.
    pub json: Bytes,
    /// Its mod revision.
    pub revision: i64,
}

impl CachedObject {
    /// Decodes a stored value, setting resourceVersion to `revision` (upstream stores objects
    /// without it and fills it from the etcd revision on the way out).
    pub fn decode(key: &str, value: &[u8], revision: i64) -> Result<CachedObject, String> {
        let mut object: Value = serde_json::from_slice(value)
            .map_err(|e| format!("decoding stored object {key}: {e}"))?;
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert(
                "resourceVersion".into(),
                Value::String(revision.to_string()),
            );
        }
        let json = Bytes::from(serde_json::to_vec(&object).map_err(|e| e.to_string())?);
        Ok(CachedObject {
            key: key.to_string(),
            object,
            json,
            revision,
        })
    }

    /// Decodes a key-value from storage.
    pub fn from_kv(kv: &KeyValue) -> Result<CachedObject, String> {
        CachedObject::decode(&kv.key, &kv.value, kv.mod_revision)
    }
}

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEventType {
    /// ADDED
    Added,
    /// MODIFIED
    Modified,
    /// DELETED
    Deleted,
}

impl WatchEventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchEventType::Added => "ADDED",
            WatchEventType::Modified => "MODIFIED",
            WatchEventType::Deleted => "DELETED",
        }
    }
}

/// One change as the cache saw it.
#[derive(Debug, Clone)]
pub struct CacheEvent {
    /// Type.
    pub kind: WatchEventType,
    /// The object after the change (for deletes: the last state, at the delete revision).
    pub object: Arc<CachedObject>,
    /// The object before the change.
    pub prev: Option<Arc<CachedObject>>,
    /// The event's revision.
    pub revision: i64,
    /// The JSON watch line (`{"type":...,"object":...}\n`) rendered once for every watcher
    /// that needs exactly this event, so fan-out to N watchers shares one buffer.
    pub line: Bytes,
}

/// Renders a JSON watch event line around pre-serialized object bytes.
pub fn render_line(kind: &str, json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(json);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// What a watcher receives.
#[derive(Debug, Clone)]
pub enum WatcherMessage {
    /// A change.
    Event(Arc<CacheEvent>),
    /// A bookmark at this revision: every event up to it has been sent before.
    Bookmark(i64),
    /// The cache lost its source (relisted); the watch must end with 410.
    Reset,
}

struct Watcher {
    id: u64,
    prefix: String,
    tx: mpsc::Sender<WatcherMessage>,
    overflowed: Arc<AtomicBool>,
}

struct State {
    objects: BTreeMap<String, Arc<CachedObject>>,
    revision: i64,
    events: VecDeque<Arc<CacheEvent>>,
    /// Events after this revision are all in `events`.
    oldest: i64,
    watchers: Vec<Watcher>,
    ready: bool,
}

/// Errors serving from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheError {
    /// The requested revision is older than the window: (requested, oldest available).
    TooOld(i64, i64),
    /// The cache is not yet initialized.
    NotReady,
}

/// A snapshot answer.
pub struct Snapshot {
    /// Objects in key order.
    pub items: Vec<Arc<CachedObject>>,
    /// The cache revision the snapshot is at.
    pub revision: i64,
}

/// A registered watch.
pub struct Subscription {
    /// Events to send first (replay or initial state), in order.
    pub initial: Vec<Arc<CacheEvent>>,
    /// Live messages.
    pub rx: mpsc::Receiver<WatcherMessage>,
    /// Set when the watcher was dropped for being too slow.
    pub overflowed: Arc<AtomicBool>,
    /// The cache revision at registration.
    pub revision: i64,
    /// Live events at or before this revision are skipped: the cache may not yet have
    /// caught up with the revision the client asked to start after.
    pub after: i64,
    id: u64,
    cacher: Arc<Cacher>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let id = self.id;
        self.cacher.state.write().watchers.retain(|w| w.id != id);
    }
}

/// The cache of one resource.
pub struct Cacher {
    prefix: String,
    state: RwLock<State>,
    rev_tx: watch::Sender<i64>,
    next_id: AtomicU64,
}

impl Cacher {
    /// Creates the cache and starts following storage.
    pub fn start(store: Arc<dyn Store>, prefix: String) -> Arc<Cacher> {
        let (rev_tx, _) = watch::channel(0);
        let cacher = Arc::new(Cacher {
            prefix,
            state: RwLock::new(State {
                objects: BTreeMap::new(),
                revision: 0,
                events: VecDeque::new(),
                oldest: 0,
                watchers: Vec::new(),
                ready: false,
            }),
            rev_tx,
            next_id: AtomicU64::new(1),
        });
        let weak = Arc::downgrade(&cacher);
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                let Some(c) = weak.upgrade() else { return };
                match c.run_once(&store).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(prefix = %c.prefix, error = %e, "watch cache lost its source; relisting");
                        c.reset();
                    }
                }
                drop(c);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        let weak = Arc::downgrade(&cacher);
        // Upstream sends bookmarks to watchers that asked for them about once a minute; more
        // often costs little and keeps clients' resume points fresh.
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            loop {
                tick.tick().await;
                let Some(c) = weak.upgrade() else { return };
                c.broadcast_bookmark();
            }
        });
        cacher
    }

    fn reset(&self) {
        let mut st = self.state.write();
        st.ready = false;
        for w in st.watchers.drain(..) {
            let _ = w.tx.try_send(WatcherMessage::Reset);
        }
    }

    fn broadcast_bookmark(&self) {
        let st = self.state.read();
        if !st.ready {
            return;
        }
        for w in &st.watchers {
            // A full buffer means events are pending; skipping the bookmark is harmless.
            let _ = w.tx.try_send(WatcherMessage::Bookmark(st.revision));
        }
    }

    async fn run_once(&self, store: &Arc<dyn Store>) -> Result<(), StorageError> {
        let list = store.list(&self.prefix, &ListOptions::default()).await?;
        let mut objects = BTreeMap::new();
        for kv in &list.items {
            match CachedObject::from_kv(kv) {
                Ok(o) => {
                    objects.insert(kv.key.clone(), Arc::new(o));
                }
                Err(e) => tracing::error!(error = %e, "skipping undecodable object"),
            }
        }
        let mut stream = store.watch(&self.prefix, list.revision).await?;
        {
            let mut st = self.state.write();
            st.objects = objects;
            st.revision = list.revision;
            st.oldest = list.revision;
            st.events.clear();
            st.ready = true;
        }
        self.rev_tx.send_replace(list.revision);
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            self.apply(batch);
        }
        Err(StorageError::Unavailable("watch stream ended".into()))
    }

    fn apply(&self, batch: Vec<rudder_storage::Event>) {
        let mut st = self.state.write();
        let mut last = st.revision;
        for ev in batch {
            let revision = ev.kv.mod_revision;
            let obj = match CachedObject::from_kv(&ev.kv) {
                Ok(o) => Arc::new(o),
                Err(e) => {
                    tracing::error!(error = %e, "skipping undecodable event");
                    continue;
                }
            };
            let prev = st.objects.get(&ev.kv.key).cloned();
            let kind = match ev.kind {
                EventType::Put if prev.is_none() => WatchEventType::Added,
                EventType::Put => WatchEventType::Modified,
                EventType::Delete => WatchEventType::Deleted,
            };
            match kind {
                WatchEventType::Deleted => {
                    st.objects.remove(&ev.kv.key);
                }
                _ => {
                    st.objects.insert(ev.kv.key.clone(), obj.clone());
                }
            }
            let line = render_line(kind.as_str(), &obj.json);
            let event = Arc::new(CacheEvent {
                kind,
                object: obj,
                prev,
                revision,
                line,
            });
            st.events.push_back(event.clone());
            while st.events.len() > EVENT_WINDOW {
                if let Some(old) = st.events.pop_front() {
                    st.oldest = old.revision;
                }
            }
            let mut dropped = Vec::new();
            for w in &st.watchers {
                if !event.object.key.starts_with(&w.prefix) {
                    continue;
                }
                if w.tx.try_send(WatcherMessage::Event(event.clone())).is_err() {
                    w.overflowed.store(true, Ordering::SeqCst);
                    dropped.push(w.id);
                }
            }
            if !dropped.is_empty() {
                st.watchers.retain(|w| !dropped.contains(&w.id));
            }
            last = last.max(revision);
        }
        st.revision = last;
        drop(st);
        self.rev_tx.send_replace(last);
    }

    /// The revision the cache has caught up to.
    pub fn revision(&self) -> i64 {
        self.state.read().revision
    }

    /// Whether the initial list has completed.
    pub fn ready(&self) -> bool {
        self.state.read().ready
    }

    /// Waits until the cache is ready and at least at `revision`, up to `timeout`.
    pub async fn wait_for(&self, revision: i64, timeout: Duration) -> bool {
        let mut rx = self.rev_tx.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            {
                let st = self.state.read();
                if st.ready && st.revision >= revision {
                    return true;
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return false,
            }
        }
    }

    /// Current objects under `prefix` (a sub-prefix of the resource, e.g. one namespace).
    pub fn snapshot(&self, prefix: &str) -> Result<Snapshot, CacheError> {
        let st = self.state.read();
        if !st.ready {
            return Err(CacheError::NotReady);
        }
        let items = st
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect();
        Ok(Snapshot {
            items,
            revision: st.revision,
        })
    }

    /// One object.
    pub fn get(&self, key: &str) -> Result<(Option<Arc<CachedObject>>, i64), CacheError> {
        let st = self.state.read();
        if !st.ready {
            return Err(CacheError::NotReady);
        }
        Ok((st.objects.get(key).cloned(), st.revision))
    }

    /// Registers a watcher on `prefix`. With `from = None` the initial events are the current
    /// state as ADDED events (upstream's behaviour for resourceVersion "" and "0"); with
    /// `from = Some(rv)` they are the window's events after rv, or `TooOld`.
    pub fn subscribe(
        self: &Arc<Self>,
        prefix: &str,
        from: Option<i64>,
    ) -> Result<Subscription, CacheError> {
        let (tx, rx) = mpsc::channel(WATCHER_BUFFER);
        let overflowed = Arc::new(AtomicBool::new(false));
        let mut st = self.state.write();
        if !st.ready {
            return Err(CacheError::NotReady);
        }
        let initial = match from {
            None => st
                .objects
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(_, o)| {
                    Arc::new(CacheEvent {
                        kind: WatchEventType::Added,
                        object: o.clone(),
                        prev: None,
                        revision: o.revision,
                        line: render_line("ADDED", &o.json),
                    })
                })
                .collect(),
            Some(rv) => {
                if rv < st.oldest {
                    return Err(CacheError::TooOld(rv, st.oldest));
                }
                let start = st.events.partition_point(|e| e.revision <= rv);
                st.events
                    .iter()
                    .skip(start)
                    .filter(|e| e.object.key.starts_with(prefix))
                    .cloned()
                    .collect()
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        st.watchers.push(Watcher {
            id,
            prefix: prefix.to_string(),
            tx,
            overflowed: overflowed.clone(),
        });
        let revision = st.revision;
        drop(st);
        Ok(Subscription {
            initial,
            rx,
            overflowed,
            revision,
            after: from.unwrap_or(0).max(revision),
            id,
            cacher: self.clone(),
        })
    }

    /// Number of registered watchers.
    pub fn watcher_count(&self) -> usize {
        self.state.read().watchers.len()
    }
}
