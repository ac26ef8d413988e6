//! Expectations: what a controller has asked the apiserver to do and not yet seen in its
//! informer, so a sync running before the informer catches up never double-creates or
//! double-deletes. Mirrors upstream `pkg/controller/controller_utils.go`
//! (`ControllerExpectations` + `UIDTrackingControllerExpectations`):
//! - creations are counted: `expect_creations(key, n)`, `creation_observed(key)` on each
//!   pod add event, `lower_creations` for creates that failed or were skipped;
//! - deletions are tracked by pod UID, so a pod seen first with a deletionTimestamp and then
//!   deleted is counted once;
//! - a record older than [`EXPECTATIONS_TIMEOUT`] (upstream `ExpectationsTimeout`, 5 min)
//!   counts as satisfied, so a lost watch event cannot wedge a controller forever.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Upstream `ExpectationsTimeout`.
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
struct Record {
    adds: i64,
    deletes: HashSet<String>,
    at: Instant,
}

/// Expectations keyed by controller key (`namespace/name`).
#[derive(Clone, Default)]
pub struct Expectations {
    inner: Arc<Mutex<HashMap<String, Record>>>,
}

impl Expectations {
    /// No expectations.
    pub fn new() -> Expectations {
        Expectations::default()
    }

    /// Whether the controller may act on `key`: no record, every expected event seen, or
    /// the record expired (upstream `SatisfiedExpectations`).
    pub fn satisfied(&self, key: &str) -> bool {
        self.satisfied_at(key, Instant::now())
    }

    fn satisfied_at(&self, key: &str, now: Instant) -> bool {
        match self.inner.lock().get(key) {
            None => true,
            Some(r) => {
                (r.adds <= 0 && r.deletes.is_empty())
                    || now.duration_since(r.at) > EXPECTATIONS_TIMEOUT
            }
        }
    }

    /// Expects `n` pod creations for `key`, replacing any earlier record.
    pub fn expect_creations(&self, key: &str, n: usize) {
        self.inner.lock().insert(
            key.to_string(),
            Record {
                adds: n as i64,
                deletes: HashSet::new(),
                at: Instant::now(),
            },
        );
    }

    /// Expects the deletion of the pods with these UIDs, replacing any earlier record.
    pub fn expect_deletions(&self, key: &str, uids: impl IntoIterator<Item = String>) {
        self.inner.lock().insert(
            key.to_string(),
            Record {
                adds: 0,
                deletes: uids.into_iter().collect(),
                at: Instant::now(),
            },
        );
    }

    /// Expects `adds` creations and the deletion of the pods with these UIDs at once
    /// (upstream `SetExpectations`, used by controllers that create and delete in one sync).
    pub fn expect(&self, key: &str, adds: usize, delete_uids: impl IntoIterator<Item = String>) {
        self.inner.lock().insert(
            key.to_string(),
            Record {
                adds: adds as i64,
                deletes: delete_uids.into_iter().collect(),
                at: Instant::now(),
            },
        );
    }

    /// One expected creation happened (or will never happen).
    pub fn creation_observed(&self, key: &str) {
        self.lower_creations(key, 1);
    }

    /// `n` expected creations will never be observed (failed or skipped creates).
    pub fn lower_creations(&self, key: &str, n: usize) {
        if let Some(r) = self.inner.lock().get_mut(key) {
            r.adds -= n as i64;
        }
    }

    /// The pod with `uid` was deleted (or got a deletionTimestamp), or its delete failed.
    pub fn deletion_observed(&self, key: &str, uid: &str) {
        if let Some(r) = self.inner.lock().get_mut(key) {
            r.deletes.remove(uid);
        }
    }

    /// Forgets `key` (its controller object is gone).
    pub fn delete(&self, key: &str) {
        self.inner.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_are_counted() {
        let e = Expectations::new();
        assert!(e.satisfied("ns/a"), "no record is satisfied");
        e.expect_creations("ns/a", 2);
        assert!(!e.satisfied("ns/a"));
        e.creation_observed("ns/a");
        assert!(!e.satisfied("ns/a"));
        e.creation_observed("ns/a");
        assert!(e.satisfied("ns/a"));
        e.expect_creations("ns/a", 3);
        e.lower_creations("ns/a", 3);
        assert!(e.satisfied("ns/a"));
    }

    #[test]
    fn deletions_are_tracked_by_uid_once() {
        let e = Expectations::new();
        e.expect_deletions("ns/a", ["u1".to_string(), "u2".to_string()]);
        e.deletion_observed("ns/a", "u1");
        // The same pod seen again (terminating, then gone) does not count twice.
        e.deletion_observed("ns/a", "u1");
        assert!(!e.satisfied("ns/a"));
        e.deletion_observed("ns/a", "other");
        assert!(!e.satisfied("ns/a"));
        e.deletion_observed("ns/a", "u2");
        assert!(e.satisfied("ns/a"));
    }

    #[test]
    fn expired_record_is_satisfied() {
        let e = Expectations::new();
        e.expect_creations("ns/a", 1);
        let later = Instant::now() + EXPECTATIONS_TIMEOUT + Duration::from_secs(1);
        assert!(e.satisfied_at("ns/a", later));
        assert!(!e.satisfied("ns/a"));
        e.delete("ns/a");
        assert!(e.satisfied("ns/a"));
    }
}
