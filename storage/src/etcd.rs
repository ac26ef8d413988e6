//! etcd v3 backend: [`EtcdStore`].
//!
//! Mirrors upstream's `storage/etcd3` store: the revision is etcd's `mod_revision`, keys are
//! written verbatim (so `etcdctl get --prefix /registry` shows them), creates are a txn on
//! `create_revision == 0`, guarded updates/deletes a txn on `mod_revision == expected`, and
//! watches are etcd watches from `after_revision + 1` with `prev_kv`.
//!
//! etcd does not report its compacted revision directly. This store learns it from its own
//! compactions, from watch compaction responses, and at connect time by a binary search over
//! revisions with count-only range reads (a read below the compacted revision fails).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, DeleteOptions, GetOptions, Txn, TxnOp,
    TxnOpResponse, WatchOptions,
};

use crate::keys::range_start;
use crate::{
    Event, EventType, KeyValue, ListOptions, ListResult, Result, StorageError, Store, WatchStream,
    MAX_VALUE_BYTES,
};

/// The etcd-backed store. Cloning the inner client is cheap; one `EtcdStore` can be shared.
pub struct EtcdStore {
    client: Client,
    compacted: Arc<AtomicI64>,
}

/// etcd's own range end for a prefix (`clientv3.GetPrefixRangeEnd`): the empty prefix means
/// "every key", spelled `\0`.
fn etcd_prefix_end(prefix: &str) -> Vec<u8> {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            return bytes;
        }
    }
    vec![0]
}

/// Maps an etcd client error onto the shared error type by etcd's server messages
/// (`mvcc: required revision has been compacted`, `etcdserver: request is too large`, ...).
/// etcd rejects an empty key ("key is not provided"); `\0` is the smallest key instead.
fn non_empty(key: Vec<u8>) -> Vec<u8> {
    if key.is_empty() {
        vec![0]
    } else {
        key
    }
}

fn map_err(err: etcd_client::Error, requested: i64, compacted: i64, size: usize) -> StorageError {
    let msg = err.to_string();
    if msg.contains("required revision has been compacted") {
        StorageError::Compacted {
            requested,
            compacted,
        }
    } else if msg.contains("required revision is a future revision") {
        StorageError::FutureRevision {
            requested,
            current: 0,
        }
    } else if msg.contains("request is too large") {
        StorageError::TooLarge {
            size,
            limit: MAX_VALUE_BYTES,
        }
    } else {
        StorageError::Unavailable(format!("etcd: {msg}"))
    }
}

fn unavailable(err: etcd_client::Error) -> StorageError {
    map_err(err, 0, 0, 0)
}

fn kv_from(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    Ok(KeyValue {
        key: kv
            .key_str()
            .map_err(|e| StorageError::Unavailable(format!("etcd: non-utf8 key: {e}")))?
            .to_string(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
    })
}

fn check_size(value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StorageError::TooLarge {
            size: value.len(),
            limit: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Result<i64> {
    header
        .map(|h| h.revision())
        .ok_or_else(|| StorageError::Unavailable("etcd: response without header".into()))
}

impl EtcdStore {
    /// Connects to the etcd cluster at `endpoints` (e.g. `http://127.0.0.1:2379`) and
    /// checks that it answers.
    pub async fn connect(endpoints: &[String]) -> Result<EtcdStore> {
        let client = Client::connect(endpoints, None)
            .await
            .map_err(unavailable)?;
        let store = EtcdStore {
            client,
            compacted: Arc::new(AtomicI64::new(0)),
        };
        let current = store.current_revision().await?;
        store.discover_compacted(current).await?;
        Ok(store)
    }

    fn note_compacted(&self, rev: i64) {
        self.compacted.fetch_max(rev, Ordering::SeqCst);
    }

    /// Whether a read at `rev` fails because `rev` is compacted.
    async fn is_compacted(&self, rev: i64) -> Result<bool> {
        let opts = GetOptions::new()
            .with_revision(rev)
            .with_count_only()
            .with_limit(1);
        match self.client.clone().get("\0", Some(opts)).await {
            Ok(_) => Ok(false),
            Err(e) => match map_err(e, rev, 0, 0) {
                StorageError::Compacted { .. } => Ok(true),
                other => Err(other),
            },
        }
    }

    /// Finds the compacted revision: the smallest revision still readable (etcd allows reads
    /// at exactly the compacted revision and rejects anything below it).
    async fn discover_compacted(&self, current: i64) -> Result<i64> {
        let known = self.compacted.load(Ordering::SeqCst);
        let mut lo = known.max(1);
        if current < 1 || !self.is_compacted(lo).await? {
            return Ok(known);
        }
        // Invariant: `lo` is compacted, `hi` is readable.
        let mut hi = current;
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.is_compacted(mid).await? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        self.note_compacted(hi);
        Ok(hi)
    }

    /// Fills in the compacted revision of a `Compacted` error.
    async fn enrich(&self, err: StorageError) -> StorageError {
        match err {
            StorageError::Compacted { requested, .. } => {
                let current = self.current_revision().await.unwrap_or(0);
                let compacted = self
                    .discover_compacted(current)
                    .await
                    .unwrap_or_else(|_| self.compacted.load(Ordering::SeqCst));
                StorageError::Compacted {
                    requested,
                    compacted,
                }
            }
            StorageError::FutureRevision { requested, .. } => StorageError::FutureRevision {
                requested,
                current: self.current_revision().await.unwrap_or(0),
            },
            other => other,
        }
    }

    async fn txn(&self, txn: Txn, size: usize) -> Result<etcd_client::TxnResponse> {
        self.client
            .clone()
            .txn(txn)
            .await
            .map_err(|e| map_err(e, 0, 0, size))
    }

    /// The current value from the `or_else` get of a failed guarded txn.
    fn failed_current(resp: &etcd_client::TxnResponse) -> Result<Option<KeyValue>> {
        for op in resp.op_responses() {
            if let TxnOpResponse::Get(get) = op {
                return get.kvs().first().map(kv_from).transpose();
            }
        }
        Ok(None)
    }
}

/// Turns one etcd watch event into ours. etcd's delete event carries only the key and the
/// delete revision; the last value comes from `prev_kv`.
fn event_from(ev: &etcd_client::Event) -> Result<Event> {
    let kv = ev
        .kv()
        .ok_or_else(|| StorageError::Unavailable("etcd: watch event without kv".into()))?;
    let prev = ev.prev_kv().map(kv_from).transpose()?;
    Ok(match ev.event_type() {
        etcd_client::EventType::Put => Event {
            kind: EventType::Put,
            kv: kv_from(kv)?,
            prev,
        },
        etcd_client::EventType::Delete => {
            let mut out = kv_from(kv)?;
            if let Some(p) = &prev {
                out.value = p.value.clone();
                out.create_revision = p.create_revision;
            }
            Event {
                kind: EventType::Delete,
                kv: out,
                prev,
            }
        }
    })
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let resp = self
            .client
            .clone()
            .get(key, None)
            .await
            .map_err(unavailable)?;
        resp.kvs().first().map(kv_from).transpose()
    }

    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListResult> {
        let start = non_empty(range_start(prefix, opts.start_after.as_deref()));
        let mut get = GetOptions::new().with_range(etcd_prefix_end(prefix));
        let at = opts.revision.filter(|r| *r > 0);
        if let Some(rev) = at {
            get = get.with_revision(rev);
        }
        if let Some(limit) = opts.limit.filter(|l| *l > 0) {
            get = get.with_limit(limit as i64);
        }
        let resp = match self.client.clone().get(start, Some(get)).await {
            Ok(resp) => resp,
            Err(e) => {
                let compacted = self.compacted.load(Ordering::SeqCst);
                return Err(self.enrich(map_err(e, at.unwrap_or(0), compacted, 0)).await);
            }
        };
        let items = resp.kvs().iter().map(kv_from).collect::<Result<Vec<_>>>()?;
        let revision = match at {
            Some(rev) => rev,
            None => header_revision(resp.header())?,
        };
        Ok(ListResult {
            items,
            revision,
            more: resp.more(),
        })
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let opts = GetOptions::new()
            .with_range(etcd_prefix_end(prefix))
            .with_count_only();
        let resp = self
            .client
            .clone()
            .get(non_empty(prefix.as_bytes().to_vec()), Some(opts))
            .await
            .map_err(unavailable)?;
        Ok(resp.count())
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<i64> {
        check_size(&value)?;
        let size = value.len();
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value, None)]);
        let resp = self.txn(txn, size).await?;
        if !resp.succeeded() {
            return Err(StorageError::AlreadyExists(key.to_string()));
        }
        header_revision(resp.header())
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected_revision: i64) -> Result<i64> {
        check_size(&value)?;
        let size = value.len();
        let txn = Txn::new()
            .when([Compare::mod_revision(
                key,
                CompareOp::Equal,
                expected_revision,
            )])
            .and_then([TxnOp::put(key, value, None)])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.txn(txn, size).await?;
        if resp.succeeded() {
            return header_revision(resp.header());
        }
        match Self::failed_current(&resp)? {
            None => Err(StorageError::NotFound(key.to_string())),
            Some(kv) => Err(StorageError::Conflict {
                key: key.to_string(),
                current: kv.mod_revision,
            }),
        }
    }

    async fn delete(&self, key: &str, expected_revision: Option<i64>) -> Result<KeyValue> {
        let del = TxnOp::delete(key, Some(DeleteOptions::new().with_prev_key()));
        let mut txn = Txn::new();
        if let Some(expected) = expected_revision {
            txn = txn.when([Compare::mod_revision(key, CompareOp::Equal, expected)]);
        }
        let txn = txn.and_then([del]).or_else([TxnOp::get(key, None)]);
        let resp = self.txn(txn, 0).await?;
        if !resp.succeeded() {
            return match Self::failed_current(&resp)? {
                None => Err(StorageError::NotFound(key.to_string())),
                Some(kv) => Err(StorageError::Conflict {
                    key: key.to_string(),
                    current: kv.mod_revision,
                }),
            };
        }
        let revision = header_revision(resp.header())?;
        for op in resp.op_responses() {
            if let TxnOpResponse::Delete(d) = op {
                if let Some(prev) = d.prev_kvs().first() {
                    let mut kv = kv_from(prev)?;
                    kv.mod_revision = revision;
                    return Ok(kv);
                }
            }
        }
        Err(StorageError::NotFound(key.to_string()))
    }

    async fn watch(&self, prefix: &str, after_revision: i64) -> Result<WatchStream> {
        // etcd reports a compacted start revision only asynchronously, after the watch is
        // created; a count-only read at the same revision answers synchronously, so callers
        // get `Compacted` from this call like with the SQLite backend.
        let probe = after_revision.max(1);
        if self.is_compacted(probe).await? {
            return Err(self
                .enrich(StorageError::Compacted {
                    requested: after_revision,
                    compacted: 0,
                })
                .await);
        }
        let opts = WatchOptions::new()
            .with_range(etcd_prefix_end(prefix))
            .with_start_revision(after_revision + 1)
            .with_prev_key();
        let stream = self
            .client
            .clone()
            .watch(non_empty(prefix.as_bytes().to_vec()), Some(opts))
            .await
            .map_err(unavailable)?;
        let compacted = self.compacted.clone();
        // State: the etcd stream (which also owns the request sender that keeps the watch
        // open) and whether the stream has already ended with an error.
        let out = futures::stream::unfold(Some(stream), move |state| {
            let compacted = compacted.clone();
            async move {
                let mut stream = state?;
                loop {
                    let resp = match stream.message().await {
                        Ok(Some(resp)) => resp,
                        Ok(None) => return None,
                        Err(e) => return Some((Err(unavailable(e)), None)),
                    };
                    if resp.compact_revision() > 0 {
                        compacted.fetch_max(resp.compact_revision(), Ordering::SeqCst);
                        let err = StorageError::Compacted {
                            requested: after_revision,
                            compacted: resp.compact_revision(),
                        };
                        return Some((Err(err), None));
                    }
                    if resp.canceled() {
                        let err = StorageError::Unavailable(format!(
                            "etcd: watch canceled: {}",
                            resp.cancel_reason()
                        ));
                        return Some((Err(err), None));
                    }
                    if resp.events().is_empty() {
                        // The `created` confirmation or a progress notification.
                        continue;
                    }
                    let events = resp.events().iter().map(event_from).collect();
                    return match events {
                        Ok(events) => Some((Ok(events), Some(stream))),
                        Err(e) => Some((Err(e), None)),
                    };
                }
            }
        });
        Ok(Box::pin(out))
    }

    async fn current_revision(&self) -> Result<i64> {
        let opts = GetOptions::new().with_count_only().with_limit(1);
        let resp = self
            .client
            .clone()
            .get("\0", Some(opts))
            .await
            .map_err(unavailable)?;
        header_revision(resp.header())
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        // Physical: return once the compaction is applied, so history below is really gone.
        let opts = CompactionOptions::new().with_physical();
        match self.client.clone().compact(revision, Some(opts)).await {
            Ok(_) => {
                self.note_compacted(revision);
                Ok(())
            }
            Err(e) => {
                let compacted = self.compacted.load(Ordering::SeqCst);
                Err(self.enrich(map_err(e, revision, compacted, 0)).await)
            }
        }
    }

    async fn compacted_revision(&self) -> Result<i64> {
        Ok(self.compacted.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_prefix_end_table() {
        let cases: &[(&str, &[u8])] = &[("/registry/", b"/registry0"), ("", &[0])];
        for (prefix, want) in cases {
            assert_eq!(etcd_prefix_end(prefix), want.to_vec());
        }
    }

    #[test]
    fn error_messages_map_to_kinds() {
        let compacted = map_err(
            etcd_client::Error::InvalidArgs(
                "etcdserver: mvcc: required revision has been compacted".into(),
            ),
            3,
            7,
            0,
        );
        assert_eq!(
            compacted,
            StorageError::Compacted {
                requested: 3,
                compacted: 7
            }
        );
        let large = map_err(
            etcd_client::Error::InvalidArgs("etcdserver: request is too large".into()),
            0,
            0,
            10,
        );
        assert!(matches!(large, StorageError::TooLarge { size: 10, .. }));
        let other = map_err(etcd_client::Error::InvalidArgs("boom".into()), 0, 0, 0);
        assert!(matches!(other, StorageError::Unavailable(_)));
    }
}

#[cfg(test)]
mod conformance_etcd {
    use crate::conformance::{conformance_tests, EtcdProcess};
    use crate::Store;
    use std::sync::Arc;

    async fn etcd_store() -> (EtcdProcess, Arc<dyn Store>) {
        let (proc, store) = EtcdProcess::start().await;
        (proc, Arc::new(store))
    }

    conformance_tests!(etcd_store);

    #[tokio::test]
    async fn connect_discovers_existing_compaction() {
        let (proc, store) = EtcdProcess::start().await;
        let mut last = 0;
        for i in 0..20 {
            last = store.create(&format!("/d/{i}"), vec![]).await.unwrap();
        }
        store.compact(last - 3).await.unwrap();
        let again = crate::EtcdStore::connect(std::slice::from_ref(&proc.endpoint))
            .await
            .unwrap();
        assert_eq!(again.compacted_revision().await.unwrap(), last - 3);
    }

    /// etcd's own limit covers the whole request, so a value of exactly MAX_VALUE_BYTES
    /// passes our check but may be refused by etcd: that must surface as TooLarge.
    #[tokio::test]
    async fn etcd_request_too_large_maps_to_too_large() {
        let (_proc, store) = EtcdProcess::start().await;
        match store
            .create("/big/x", vec![b'x'; crate::MAX_VALUE_BYTES])
            .await
        {
            Ok(_) | Err(crate::StorageError::TooLarge { .. }) => {}
            Err(e) => panic!("want Ok or TooLarge, got {e}"),
        }
    }

    #[tokio::test]
    async fn raw_put_rate_measures() {
        let (proc, _store) = EtcdProcess::start().await;
        let rate = crate::bench::raw_etcd_put_rate(std::slice::from_ref(&proc.endpoint), 50, 4)
            .await
            .unwrap();
        assert!(rate > 0.0);
    }
}
