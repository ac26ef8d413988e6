//! rudder-storage: the one storage trait of kube-apiserver and its two real backends.
//!
//! Only kube-apiserver depends on this crate: every other component reaches state through the
//! REST API. Start with [`Store`]; the backends are [`sqlite::SqliteStore`] (embedded, the
//! default) and [`etcd::EtcdStore`] (etcd 3.4+, for several apiservers).
//! [`compactor::spawn_compactor`] keeps history bounded like upstream's
//! `--etcd-compaction-interval`; [`bench`] holds raw write-rate baselines for `make bench`.
//! The conformance suite (`conformance.rs`, tests only) runs the same checks on both backends.
//!
//! Semantics shared by both backends, mirroring etcd3 as upstream's storage layer uses it:
//! - one global, strictly increasing revision; every write gets the next one and it is the
//!   object's `resourceVersion` (its mod revision);
//! - keys follow upstream's layout, `/registry/<resource>/<namespace>/<name>`;
//! - reads can be served at a past revision until it is compacted; after that the caller gets
//!   [`StorageError::Compacted`] (the apiserver answers 410 Expired);
//! - watches deliver every change under a prefix after a revision, in revision order, without
//!   gaps.
#![forbid(unsafe_code)]

pub mod bench;
pub mod compactor;
#[cfg(test)]
mod conformance;
pub mod etcd;
mod keys;
pub mod sqlite;

pub use compactor::spawn_compactor;
pub use etcd::EtcdStore;
pub use sqlite::SqliteStore;

use std::pin::Pin;

use futures::Stream;

/// A stored key with its value and revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// Full key, e.g. `/registry/pods/default/web-0`.
    pub key: String,
    /// The stored bytes (JSON of the object).
    pub value: Vec<u8>,
    /// Revision at which the key was created.
    pub create_revision: i64,
    /// Revision of the last write (the object's resourceVersion).
    pub mod_revision: i64,
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created (`prev` is `None`) or updated (`prev` is the old value).
    Put,
    /// Deleted; `kv.value` is the last value before deletion and `kv.mod_revision` the
    /// revision of the delete.
    Delete,
}

/// One change delivered by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Put or Delete.
    pub kind: EventType,
    /// The key after the change (for Delete: the last value, with the delete's revision as
    /// `mod_revision`).
    pub kv: KeyValue,
    /// The value before the change, when there was one.
    pub prev: Option<KeyValue>,
}

/// The answer to a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResult {
    /// Keys in ascending key order.
    pub items: Vec<KeyValue>,
    /// The revision the list was read at.
    pub revision: i64,
    /// More keys exist after the last returned one (only when a limit was given).
    pub more: bool,
}

/// Parameters of a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Read at this revision (a snapshot); `None` reads the latest.
    pub revision: Option<i64>,
    /// Start at keys strictly greater than this one (for continue tokens).
    pub start_after: Option<String>,
    /// At most this many items; `None` or 0 means no limit.
    pub limit: Option<usize>,
}

/// Errors every backend reports the same way.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StorageError {
    /// key not found
    #[error("key not found: {0}")]
    NotFound(String),
    /// key already exists
    #[error("key already exists: {0}")]
    AlreadyExists(String),
    /// the key was modified since the expected revision
    #[error("revision conflict on {key}: current revision {current}")]
    Conflict {
        /// The key.
        key: String,
        /// Its current mod revision (0 when it no longer exists).
        current: i64,
    },
    /// the requested revision has been compacted
    #[error("required revision {requested} has been compacted (compacted revision {compacted})")]
    Compacted {
        /// Revision asked for.
        requested: i64,
        /// Oldest revision still available.
        compacted: i64,
    },
    /// the requested revision is in the future
    #[error("required revision {requested} is a future revision (current {current})")]
    FutureRevision {
        /// Revision asked for.
        requested: i64,
        /// Current revision.
        current: i64,
    },
    /// the value is larger than the backend accepts
    #[error("request is too large: {size} bytes, limit {limit}")]
    TooLarge {
        /// Size of the value.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// the backend failed or cannot be reached
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, StorageError>;

/// A stream of batches of events, in revision order. A batch holds the events of one or more
/// consecutive revisions. The stream ends (or yields an error) when the backend can no longer
/// deliver; the consumer then relists.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Vec<Event>>> + Send>>;

/// Largest value either backend stores, matching etcd's default `--max-request-bytes`
/// (1.5 MiB), which upstream's apiserver inherits.
pub const MAX_VALUE_BYTES: usize = 1572864;

/// The storage interface of kube-apiserver.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one key at the latest revision.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Lists keys with the prefix (a prefix ending in `/`), in key order.
    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListResult>;

    /// Counts keys under the prefix at the latest revision.
    async fn count(&self, prefix: &str) -> Result<i64>;

    /// Creates the key; fails with `AlreadyExists` when present. Returns the new revision.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<i64>;

    /// Replaces the key's value if its mod revision is still `expected_revision`; otherwise
    /// `Conflict` (or `NotFound` when it is gone). Returns the new revision.
    async fn update(&self, key: &str, value: Vec<u8>, expected_revision: i64) -> Result<i64>;

    /// Deletes the key, if `expected_revision` is given only when its mod revision matches.
    /// Returns the deleted value with the delete's revision as `mod_revision`.
    async fn delete(&self, key: &str, expected_revision: Option<i64>) -> Result<KeyValue>;

    /// Watches every change under the prefix with a revision greater than `after_revision`.
    /// Fails with `Compacted` when `after_revision` is older than the compacted revision.
    async fn watch(&self, prefix: &str, after_revision: i64) -> Result<WatchStream>;

    /// The latest revision of the whole store.
    async fn current_revision(&self) -> Result<i64>;

    /// Discards history at and before `revision` (never the latest value of a live key).
    async fn compact(&self, revision: i64) -> Result<()>;

    /// The oldest revision still readable (0 if never compacted).
    async fn compacted_revision(&self) -> Result<i64>;
}
