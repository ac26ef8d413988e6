//! Periodic compaction of the store's history: [`spawn_compactor`].
//!
//! Mirrors upstream's apiserver compactor (`storage/etcd3/compact.go`, driven by
//! `--etcd-compaction-interval`, default 5m): on every tick it compacts to the revision it
//! observed on the previous tick, so at least one interval of history stays readable for
//! watchers and paginated lists that resume from a recent resourceVersion.

use std::sync::Arc;
use std::time::Duration;

use crate::{StorageError, Store};

/// Starts the compaction loop on the current tokio runtime; abort the handle to stop it.
///
/// The first tick only records the current revision; each later tick compacts to the
/// revision recorded one tick earlier and records the new current revision.
pub fn spawn_compactor(store: Arc<dyn Store>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        // Missed ticks (a suspended process) must not trigger a burst of compactions that
        // would shrink the window below one interval.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick fires immediately
        let mut observed: Option<i64> = None;
        loop {
            ticker.tick().await;
            if let Some(rev) = observed.filter(|r| *r > 0) {
                match store.compact(rev).await {
                    Ok(()) => tracing::info!(revision = rev, "compacted storage history"),
                    // Already compacted at or past `rev` (e.g. by another apiserver sharing
                    // etcd): nothing to do, like upstream's lost compare-and-swap.
                    Err(StorageError::Compacted { .. }) => {
                        tracing::debug!(revision = rev, "history already compacted")
                    }
                    Err(e) => tracing::warn!(revision = rev, error = %e, "compaction failed"),
                }
            }
            observed = match store.current_revision().await {
                Ok(rev) => Some(rev),
                Err(e) => {
                    tracing::warn!(error = %e, "compactor cannot read the current revision");
                    None
                }
            };
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyValue, ListOptions, ListResult, Result, WatchStream};
    use parking_lot::Mutex;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::Instant;

    /// Records compactions; every `current_revision` call returns the next revision
    /// (1, 2, 3, ...), so each compaction target names the tick that observed it.
    #[derive(Default)]
    struct Fake {
        revision: AtomicI64,
        compactions: Mutex<Vec<(i64, Instant)>>,
    }

    fn unsupported<T>() -> Result<T> {
        Err(StorageError::Unavailable(
            "not supported by the fake".into(),
        ))
    }

    #[async_trait::async_trait]
    impl Store for Fake {
        async fn get(&self, _: &str) -> Result<Option<KeyValue>> {
            unsupported()
        }
        async fn list(&self, _: &str, _: &ListOptions) -> Result<ListResult> {
            unsupported()
        }
        async fn count(&self, _: &str) -> Result<i64> {
            unsupported()
        }
        async fn create(&self, _: &str, _: Vec<u8>) -> Result<i64> {
            unsupported()
        }
        async fn update(&self, _: &str, _: Vec<u8>, _: i64) -> Result<i64> {
            unsupported()
        }
        async fn delete(&self, _: &str, _: Option<i64>) -> Result<KeyValue> {
            unsupported()
        }
        async fn watch(&self, _: &str, _: i64) -> Result<WatchStream> {
            unsupported()
        }
        async fn current_revision(&self) -> Result<i64> {
            Ok(self.revision.fetch_add(1, Ordering::SeqCst) + 1)
        }
        async fn compact(&self, revision: i64) -> Result<()> {
            self.compactions.lock().push((revision, Instant::now()));
            Ok(())
        }
        async fn compacted_revision(&self) -> Result<i64> {
            Ok(self.compactions.lock().last().map(|c| c.0).unwrap_or(0))
        }
    }

    #[tokio::test]
    async fn compacts_to_revision_seen_one_interval_earlier() {
        let fake = Arc::new(Fake::default());
        let interval = Duration::from_millis(40);
        let started = Instant::now();
        let handle = spawn_compactor(fake.clone(), interval);
        let deadline = Instant::now() + Duration::from_secs(10);
        while fake.compactions.lock().len() < 3 {
            assert!(Instant::now() < deadline, "compactor did not run 3 times");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        handle.abort();
        let compactions = fake.compactions.lock().clone();
        let targets: Vec<i64> = compactions.iter().take(3).map(|c| c.0).collect();
        // Tick 1 observes revision 1; tick 2 compacts to 1 and observes 2; ...
        assert_eq!(targets, vec![1, 2, 3]);
        // The first compaction happens on the second tick after start, never earlier.
        assert!(compactions[0].1 - started >= interval * 2);
        // Each later compaction is at least one interval after the previous one.
        assert!(compactions[1].1 - compactions[0].1 >= interval - Duration::from_millis(5));
    }
}
