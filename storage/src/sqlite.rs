//! Embedded SQLite backend: [`SqliteStore`].
//!
//! Layout (readable with the `sqlite3` CLI; values are TEXT when valid UTF-8, else BLOB):
//! - `log(revision PRIMARY KEY, key, value, create_revision, prev_revision, deleted)`: one
//!   row per write, the MVCC history that feeds watches and reads at past revisions. A delete
//!   is a tombstone row (`deleted = 1`, `value` NULL).
//! - `kv(key PRIMARY KEY, create_revision, mod_revision)`: the live keys, pointing at their
//!   latest `log` row, so get/create/update/delete are O(log n) index lookups.
//! - `meta(name, value)`: `revision` (the global revision) and `compacted`.
//! - view `current`: `kv` joined with its values, for humans.
//!
//! All writes go through one dedicated writer thread that batches whatever was submitted
//! concurrently into a single transaction (group commit: one fsync per batch). The database
//! runs in WAL mode with `synchronous=FULL`, so a reply is sent only after the batch is on
//! disk. Reads use a small pool of separate connections on the blocking pool.
//!
//! Watches are fed in-process: after each commit the writer broadcasts the batch's events. A
//! watcher subscribes first, then replays `log` from its revision, then forwards live events
//! above the last replayed revision, so there is neither a gap nor a duplicate. A watcher
//! whose consumer is too slow for the broadcast buffer re-subscribes and replays from `log`
//! again (or ends with `Compacted` if that history is gone); it never skips events.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};

use parking_lot::Mutex;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, ToSql, TransactionBehavior};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::keys::{in_range, prefix_end, range_start};
use crate::{
    Event, EventType, KeyValue, ListOptions, ListResult, Result, StorageError, Store, WatchStream,
    MAX_VALUE_BYTES,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    revision INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    value,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS log_key_revision ON log(key, revision);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    create_revision INTEGER NOT NULL,
    mod_revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(name, value) VALUES ('revision', 0), ('compacted', 0);
CREATE VIEW IF NOT EXISTS current AS
    SELECT kv.key AS key, log.value AS value, kv.create_revision AS create_revision,
           kv.mod_revision AS mod_revision
    FROM kv JOIN log ON log.revision = kv.mod_revision;
";

/// Most writes folded into one transaction.
const MAX_BATCH: usize = 512;
/// Commit batches buffered per watcher before it has to catch up from `log`.
const DEFAULT_BROADCAST_CAPACITY: usize = 1024;
/// Rows per replay page (one `Vec<Event>` item of the watch stream).
const REPLAY_PAGE: i64 = 500;
/// Items buffered between a watcher task and its consumer.
const WATCH_CHANNEL: usize = 16;

/// Binds bytes as SQLite TEXT without UTF-8 validation; used for range bounds such as
/// `[0xff]`, which must compare bytewise against TEXT keys (a BLOB always sorts after TEXT).
struct RawText<'a>(&'a [u8]);

impl ToSql for RawText<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(self.0)))
    }
}

/// A value column parameter: TEXT when valid UTF-8 (JSON stays readable), BLOB otherwise.
struct ValueParam<'a>(&'a [u8]);

impl ToSql for ValueParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match std::str::from_utf8(self.0) {
            Ok(_) => ValueRef::Text(self.0),
            Err(_) => ValueRef::Blob(self.0),
        }))
    }
}

fn bytes_at(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Vec<u8>> {
    Ok(match row.get_ref(idx)? {
        ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
        _ => Vec::new(),
    })
}

fn sql_err(e: rusqlite::Error) -> StorageError {
    StorageError::Unavailable(format!("sqlite: {e}"))
}

enum Op {
    Create {
        key: String,
        value: Vec<u8>,
    },
    Update {
        key: String,
        value: Vec<u8>,
        expected: i64,
    },
    Delete {
        key: String,
        expected: Option<i64>,
    },
}

enum Cmd {
    Write(Op, oneshot::Sender<Result<KeyValue>>),
    Compact(i64, oneshot::Sender<Result<()>>),
}

struct Shared {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    /// Latest committed revision; published after the commit, before the broadcast.
    revision: AtomicI64,
    compacted: AtomicI64,
}

/// Commit batches as broadcast to watchers.
type Batch = Arc<Vec<Event>>;

impl Shared {
    fn take_reader(&self) -> Result<Connection> {
        if let Some(conn) = self.readers.lock().pop() {
            return Ok(conn);
        }
        let conn = Connection::open(&self.path).map_err(sql_err)?;
        conn.execute_batch("PRAGMA busy_timeout = 10000; PRAGMA query_only = ON;")
            .map_err(sql_err)?;
        Ok(conn)
    }

    fn put_reader(&self, conn: Connection) {
        let mut pool = self.readers.lock();
        // A handful of idle connections is enough on a 2-core box; the rest are closed.
        if pool.len() < 8 {
            pool.push(conn);
        }
    }

    async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let shared = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = shared.take_reader()?;
            let out = f(&mut conn);
            shared.put_reader(conn);
            out
        })
        .await
        .map_err(|e| StorageError::Unavailable(format!("sqlite reader task failed: {e}")))?
    }
}

/// The embedded SQLite store. Cheap to share behind an `Arc`; dropping the last handle stops
/// the writer thread after it finishes the writes already submitted.
pub struct SqliteStore {
    shared: Arc<Shared>,
    writer: std_mpsc::Sender<Cmd>,
    /// Only the store and the writer thread hold strong senders, so watch streams end once
    /// the store is dropped and the writer has drained.
    events: broadcast::Sender<Batch>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and starts its writer thread.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        Self::open_with_capacity(path, DEFAULT_BROADCAST_CAPACITY).await
    }

    pub(crate) async fn open_with_capacity(path: &Path, capacity: usize) -> Result<SqliteStore> {
        let path = path.to_path_buf();
        let p = path.clone();
        let (conn, revision, compacted) = tokio::task::spawn_blocking(move || {
            let conn = open_writer(&p)?;
            let (revision, compacted) = read_meta(&conn)?;
            Ok::<_, StorageError>((conn, revision, compacted))
        })
        .await
        .map_err(|e| StorageError::Unavailable(format!("sqlite open task failed: {e}")))??;

        let (events, _) = broadcast::channel(capacity.max(1));
        let shared = Arc::new(Shared {
            path,
            readers: Mutex::new(Vec::new()),
            revision: AtomicI64::new(revision),
            compacted: AtomicI64::new(compacted),
        });
        let (tx, rx) = std_mpsc::channel();
        let thread_shared = shared.clone();
        let thread_events = events.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                Writer {
                    conn,
                    shared: thread_shared,
                    rev: revision,
                    events: thread_events,
                }
                .run(rx)
            })
            .map_err(|e| StorageError::Unavailable(format!("spawn sqlite writer: {e}")))?;
        Ok(SqliteStore {
            shared,
            writer: tx,
            events,
        })
    }

    async fn submit(&self, op: Op) -> Result<KeyValue> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(Cmd::Write(op, tx))
            .map_err(|_| writer_gone())?;
        rx.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> StorageError {
    StorageError::Unavailable("sqlite writer thread stopped".into())
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

fn open_writer(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(sql_err)?;
    // WAL + synchronous=FULL: a commit returns only after the WAL is fsynced, and a crash at
    // any point leaves either the whole transaction or none of it.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sql_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StorageError::Unavailable(format!(
            "sqlite: cannot enable WAL (journal_mode is {mode})"
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = OFF;",
    )
    .map_err(sql_err)?;
    conn.execute_batch(SCHEMA).map_err(sql_err)?;
    Ok(conn)
}

fn read_meta(conn: &Connection) -> Result<(i64, i64)> {
    let get = |name: &str| -> Result<i64> {
        conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .map_err(sql_err)
    };
    Ok((get("revision")?, get("compacted")?))
}

/// The dedicated writer: owns the only writing connection and the revision counter.
struct Writer {
    conn: Connection,
    shared: Arc<Shared>,
    rev: i64,
    events: broadcast::Sender<Batch>,
}

impl Writer {
    fn run(mut self, rx: std_mpsc::Receiver<Cmd>) {
        while let Ok(first) = rx.recv() {
            // Group commit: everything queued while the previous fsync ran goes into this
            // transaction.
            let mut writes = Vec::new();
            let mut pending = Some(first);
            while let Some(cmd) = pending.take() {
                match cmd {
                    Cmd::Write(op, reply) => writes.push((op, reply)),
                    Cmd::Compact(rev, reply) => {
                        // Keep submission order: writes queued before the compaction commit
                        // first.
                        self.flush(std::mem::take(&mut writes));
                        let _ = reply.send(self.compact(rev));
                    }
                }
                if writes.len() < MAX_BATCH {
                    pending = rx.try_recv().ok();
                }
            }
            self.flush(writes);
        }
    }

    fn flush(&mut self, writes: Vec<(Op, oneshot::Sender<Result<KeyValue>>)>) {
        if writes.is_empty() {
            return;
        }
        let start_rev = self.rev;
        let mut rev = start_rev;
        let outcome = (|| -> rusqlite::Result<(Vec<Result<KeyValue>>, Vec<Event>)> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut results = Vec::with_capacity(writes.len());
            let mut events = Vec::with_capacity(writes.len());
            for (op, _) in &writes {
                match apply(&tx, op, &mut rev)? {
                    Ok((kv, event)) => {
                        results.push(Ok(kv));
                        events.push(event);
                    }
                    Err(e) => results.push(Err(e)),
                }
            }
            if rev != start_rev {
                tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'revision'")?
                    .execute([rev])?;
            }
            tx.commit()?;
            Ok((results, events))
        })();
        match outcome {
            Ok((results, events)) => {
                self.rev = rev;
                self.shared.revision.store(rev, Ordering::SeqCst);
                if !events.is_empty() {
                    // No receivers is fine: nobody is watching.
                    let _ = self.events.send(Arc::new(events));
                }
                for ((_, reply), result) in writes.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "sqlite write batch failed; rolled back");
                let err = sql_err(e);
                for (_, reply) in writes {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }

    /// Mirrors etcd's compaction: drop every history row at or below `target` except the
    /// latest revision of each key that is still live at `target`, so reads at `target`
    /// still work and reads below it fail with `Compacted`.
    fn compact(&mut self, target: i64) -> Result<()> {
        if target > self.rev {
            return Err(StorageError::FutureRevision {
                requested: target,
                current: self.rev,
            });
        }
        let compacted = self.shared.compacted.load(Ordering::SeqCst);
        if target <= compacted {
            // etcd answers ErrCompacted for a compaction at or below the compacted revision.
            return Err(StorageError::Compacted {
                requested: target,
                compacted,
            });
        }
        let mut run = || -> rusqlite::Result<()> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Only rows written since the previous compaction can supersede anything: every
            // older row they supersede goes (found through the (key, revision) index), then
            // the window's tombstones themselves. The cost is proportional to the window,
            // not to the store.
            tx.execute(
                "DELETE FROM log WHERE revision IN (
                     SELECT old.revision FROM log AS newer
                     JOIN log AS old ON old.key = newer.key AND old.revision < newer.revision
                     WHERE newer.revision > ?1 AND newer.revision <= ?2)",
                [compacted, target],
            )?;
            tx.execute(
                "DELETE FROM log WHERE revision > ?1 AND revision <= ?2 AND deleted = 1",
                [compacted, target],
            )?;
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE name = 'compacted'",
                [target],
            )?;
            tx.commit()
        };
        run().map_err(sql_err)?;
        self.shared.compacted.store(target, Ordering::SeqCst);
        Ok(())
    }
}

type Applied = std::result::Result<(KeyValue, Event), StorageError>;

/// Applies one write inside the batch transaction. The outer error is an SQLite failure
/// (aborts the batch); the inner one is this write's own precondition failure.
fn apply(tx: &Connection, op: &Op, rev: &mut i64) -> rusqlite::Result<Applied> {
    let current = |key: &str| -> rusqlite::Result<Option<(i64, i64)>> {
        tx.prepare_cached("SELECT create_revision, mod_revision FROM kv WHERE key = ?1")?
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
    };
    let value_at = |revision: i64| -> rusqlite::Result<Vec<u8>> {
        tx.prepare_cached("SELECT value FROM log WHERE revision = ?1")?
            .query_row([revision], |r| bytes_at(r, 0))
    };
    match op {
        Op::Create { key, value } => {
            if current(key)?.is_some() {
                return Ok(Err(StorageError::AlreadyExists(key.clone())));
            }
            let new = *rev + 1;
            tx.prepare_cached(
                "INSERT INTO log(revision, key, value, create_revision, prev_revision, deleted)
                 VALUES (?1, ?2, ?3, ?1, NULL, 0)",
            )?
            .execute(params![new, key, ValueParam(value)])?;
            tx.prepare_cached(
                "INSERT INTO kv(key, create_revision, mod_revision) VALUES (?1, ?2, ?2)",
            )?
            .execute(params![key, new])?;
            *rev = new;
            let kv = KeyValue {
                key: key.clone(),
                value: value.clone(),
                create_revision: new,
                mod_revision: new,
            };
            let event = Event {
                kind: EventType::Put,
                kv: kv.clone(),
                prev: None,
            };
            Ok(Ok((kv, event)))
        }
        Op::Update {
            key,
            value,
            expected,
        } => {
            let Some((create, modr)) = current(key)? else {
                return Ok(Err(StorageError::NotFound(key.clone())));
            };
            if modr != *expected {
                return Ok(Err(StorageError::Conflict {
                    key: key.clone(),
                    current: modr,
                }));
            }
            let prev_value = value_at(modr)?;
            let new = *rev + 1;
            tx.prepare_cached(
                "INSERT INTO log(revision, key, value, create_revision, prev_revision, deleted)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0)",
            )?
            .execute(params![new, key, ValueParam(value), create, modr])?;
            tx.prepare_cached("UPDATE kv SET mod_revision = ?2 WHERE key = ?1")?
                .execute(params![key, new])?;
            *rev = new;
            let kv = KeyValue {
                key: key.clone(),
                value: value.clone(),
                create_revision: create,
                mod_revision: new,
            };
            let prev = KeyValue {
                key: key.clone(),
                value: prev_value,
                create_revision: create,
                mod_revision: modr,
            };
            let event = Event {
                kind: EventType::Put,
                kv: kv.clone(),
                prev: Some(prev),
            };
            Ok(Ok((kv, event)))
        }
        Op::Delete { key, expected } => {
            let Some((create, modr)) = current(key)? else {
                return Ok(Err(StorageError::NotFound(key.clone())));
            };
            if let Some(expected) = expected {
                if modr != *expected {
                    return Ok(Err(StorageError::Conflict {
                        key: key.clone(),
                        current: modr,
                    }));
                }
            }
            let prev_value = value_at(modr)?;
            let new = *rev + 1;
            tx.prepare_cached(
                "INSERT INTO log(revision, key, value, create_revision, prev_revision, deleted)
                 VALUES (?1, ?2, NULL, ?3, ?4, 1)",
            )?
            .execute(params![new, key, create, modr])?;
            tx.prepare_cached("DELETE FROM kv WHERE key = ?1")?
                .execute([key])?;
            *rev = new;
            let prev = KeyValue {
                key: key.clone(),
                value: prev_value.clone(),
                create_revision: create,
                mod_revision: modr,
            };
            let kv = KeyValue {
                key: key.clone(),
                value: prev_value,
                create_revision: create,
                mod_revision: new,
            };
            let event = Event {
                kind: EventType::Delete,
                kv: kv.clone(),
                prev: Some(prev),
            };
            Ok(Ok((kv, event)))
        }
    }
}

/// Checks a read revision against the snapshot's revision and compaction, like etcd's
/// `ErrCompacted` / `ErrFutureRev`.
fn check_read_revision(requested: i64, current: i64, compacted: i64) -> Result<()> {
    if requested > current {
        return Err(StorageError::FutureRevision { requested, current });
    }
    if requested < compacted {
        return Err(StorageError::Compacted {
            requested,
            compacted,
        });
    }
    Ok(())
}

fn list_blocking(
    conn: &mut Connection,
    start: &[u8],
    end: &[u8],
    opts: &ListOptions,
) -> Result<ListResult> {
    let tx = conn.transaction().map_err(sql_err)?;
    let (current, compacted) = read_meta(&tx)?;
    let limit = opts.limit.filter(|l| *l > 0);
    // Fetch one extra row to learn whether more exist.
    let fetch = limit.map(|l| l as i64 + 1).unwrap_or(-1);
    let at = opts.revision.filter(|r| *r > 0);
    let mut items = Vec::new();
    let revision = match at {
        Some(r) => {
            check_read_revision(r, current, compacted)?;
            r
        }
        None => current,
    };
    if revision == current {
        let mut stmt = tx
            .prepare_cached(
                "SELECT kv.key, log.value, kv.create_revision, kv.mod_revision
                 FROM kv JOIN log ON log.revision = kv.mod_revision
                 WHERE kv.key >= ?1 AND kv.key < ?2 ORDER BY kv.key LIMIT ?3",
            )
            .map_err(sql_err)?;
        let rows = stmt
            .query_map(params![RawText(start), RawText(end), fetch], |r| {
                Ok(KeyValue {
                    key: r.get(0)?,
                    value: bytes_at(r, 1)?,
                    create_revision: r.get(2)?,
                    mod_revision: r.get(3)?,
                })
            })
            .map_err(sql_err)?;
        for row in rows {
            items.push(row.map_err(sql_err)?);
        }
    } else {
        // A past revision: walk the distinct keys of the history in key order (one index
        // seek each) and take each key's latest row at or below the revision.
        let mut next_key = tx
            .prepare_cached("SELECT key FROM log WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT 1")
            .map_err(sql_err)?;
        let mut at_rev = tx
            .prepare_cached(
                "SELECT value, create_revision, revision, deleted FROM log
                 WHERE key = ?1 AND revision <= ?2 ORDER BY revision DESC LIMIT 1",
            )
            .map_err(sql_err)?;
        let mut lo = start.to_vec();
        while fetch < 0 || (items.len() as i64) < fetch {
            let key: Option<String> = next_key
                .query_row(params![RawText(&lo), RawText(end)], |r| r.get(0))
                .optional()
                .map_err(sql_err)?;
            let Some(key) = key else { break };
            let row = at_rev
                .query_row(params![key, revision], |r| {
                    Ok((
                        bytes_at(r, 0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .optional()
                .map_err(sql_err)?;
            if let Some((value, create, modr, deleted)) = row {
                if deleted == 0 {
                    items.push(KeyValue {
                        key: key.clone(),
                        value,
                        create_revision: create,
                        mod_revision: modr,
                    });
                }
            }
            lo = key.into_bytes();
            lo.push(0);
        }
    }
    let more = match limit {
        Some(l) if items.len() > l => {
            items.truncate(l);
            true
        }
        _ => false,
    };
    Ok(ListResult {
        items,
        revision,
        more,
    })
}

/// One page of history above `after` in the key range, with the snapshot's revision and
/// compacted revision.
struct HistoryPage {
    events: Vec<Event>,
    snapshot: i64,
    compacted: i64,
}

fn history_blocking(
    conn: &mut Connection,
    after: i64,
    start: &[u8],
    end: &[u8],
) -> Result<HistoryPage> {
    let tx = conn.transaction().map_err(sql_err)?;
    let (snapshot, compacted) = read_meta(&tx)?;
    let mut events = Vec::new();
    if after >= compacted {
        let mut stmt = tx
            .prepare_cached(
                "SELECT l.revision, l.key, l.value, l.create_revision, l.deleted,
                        p.revision, p.value, p.create_revision
                 FROM log AS l LEFT JOIN log AS p ON p.revision = l.prev_revision
                 WHERE l.revision > ?1 AND l.key >= ?2 AND l.key < ?3
                 ORDER BY l.revision LIMIT ?4",
            )
            .map_err(sql_err)?;
        let rows = stmt
            .query_map(
                params![after, RawText(start), RawText(end), REPLAY_PAGE],
                |r| {
                    let revision: i64 = r.get(0)?;
                    let key: String = r.get(1)?;
                    let deleted: i64 = r.get(4)?;
                    let prev = match r.get::<_, Option<i64>>(5)? {
                        Some(prev_rev) => Some(KeyValue {
                            key: key.clone(),
                            value: bytes_at(r, 6)?,
                            create_revision: r.get(7)?,
                            mod_revision: prev_rev,
                        }),
                        None => None,
                    };
                    let create: i64 = r.get(3)?;
                    Ok(if deleted != 0 {
                        Event {
                            kind: EventType::Delete,
                            kv: KeyValue {
                                key,
                                value: prev.as_ref().map(|p| p.value.clone()).unwrap_or_default(),
                                create_revision: create,
                                mod_revision: revision,
                            },
                            prev,
                        }
                    } else {
                        Event {
                            kind: EventType::Put,
                            kv: KeyValue {
                                key,
                                value: bytes_at(r, 2)?,
                                create_revision: create,
                                mod_revision: revision,
                            },
                            prev,
                        }
                    })
                },
            )
            .map_err(sql_err)?;
        for row in rows {
            events.push(row.map_err(sql_err)?);
        }
    }
    Ok(HistoryPage {
        events,
        snapshot,
        compacted,
    })
}

/// Feeds one watcher: replay from `log`, then live broadcast events, re-replaying after a
/// broadcast overflow. Ends when the consumer drops the stream.
async fn run_watch(
    shared: Arc<Shared>,
    start: Vec<u8>,
    end: Vec<u8>,
    mut last: i64,
    events: broadcast::WeakSender<Batch>,
    mut rx: broadcast::Receiver<Batch>,
    out: mpsc::Sender<Result<Vec<Event>>>,
) {
    loop {
        // Replay everything committed up to a snapshot taken after `rx` subscribed.
        loop {
            let (s, e) = (start.clone(), end.clone());
            let page = match shared
                .read(move |conn| history_blocking(conn, last, &s, &e))
                .await
            {
                Ok(page) => page,
                Err(err) => {
                    let _ = out.send(Err(err)).await;
                    return;
                }
            };
            if last < page.compacted {
                let _ = out
                    .send(Err(StorageError::Compacted {
                        requested: last,
                        compacted: page.compacted,
                    }))
                    .await;
                return;
            }
            let full = page.events.len() as i64 >= REPLAY_PAGE;
            if let Some(ev) = page.events.last() {
                last = ev.kv.mod_revision;
                if out.send(Ok(page.events)).await.is_err() {
                    return;
                }
            }
            if !full {
                last = last.max(page.snapshot);
                break;
            }
        }
        // Live events; anything at or below `last` was already replayed.
        loop {
            let batch = tokio::select! {
                _ = out.closed() => return,
                r = rx.recv() => r,
            };
            match batch {
                Ok(batch) => {
                    let events: Vec<Event> = batch
                        .iter()
                        .filter(|ev| {
                            ev.kv.mod_revision > last && in_range(&ev.kv.key, &start, &end)
                        })
                        .cloned()
                        .collect();
                    if let Some(max) = batch.iter().map(|ev| ev.kv.mod_revision).max() {
                        last = last.max(max);
                    }
                    if !events.is_empty() && out.send(Ok(events)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, last, "sqlite watcher lagged; replaying from log");
                    match events.upgrade() {
                        Some(sender) => rx = sender.subscribe(),
                        None => return,
                    }
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let key = key.to_string();
        self.shared
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT log.value, kv.create_revision, kv.mod_revision
                     FROM kv JOIN log ON log.revision = kv.mod_revision WHERE kv.key = ?1",
                )
                .map_err(sql_err)?
                .query_row([&key], |r| {
                    Ok(KeyValue {
                        key: key.clone(),
                        value: bytes_at(r, 0)?,
                        create_revision: r.get(1)?,
                        mod_revision: r.get(2)?,
                    })
                })
                .optional()
                .map_err(sql_err)
            })
            .await
    }

    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListResult> {
        let start = range_start(prefix, opts.start_after.as_deref());
        let end = prefix_end(prefix);
        let opts = opts.clone();
        self.shared
            .read(move |conn| list_blocking(conn, &start, &end, &opts))
            .await
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let start = prefix.as_bytes().to_vec();
        let end = prefix_end(prefix);
        self.shared
            .read(move |conn| {
                conn.prepare_cached("SELECT COUNT(*) FROM kv WHERE key >= ?1 AND key < ?2")
                    .map_err(sql_err)?
                    .query_row(params![RawText(&start), RawText(&end)], |r| r.get(0))
                    .map_err(sql_err)
            })
            .await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<i64> {
        check_size(&value)?;
        let kv = self
            .submit(Op::Create {
                key: key.to_string(),
                value,
            })
            .await?;
        Ok(kv.mod_revision)
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected_revision: i64) -> Result<i64> {
        check_size(&value)?;
        let kv = self
            .submit(Op::Update {
                key: key.to_string(),
                value,
                expected: expected_revision,
            })
            .await?;
        Ok(kv.mod_revision)
    }

    async fn delete(&self, key: &str, expected_revision: Option<i64>) -> Result<KeyValue> {
        self.submit(Op::Delete {
            key: key.to_string(),
            expected: expected_revision,
        })
        .await
    }

    async fn watch(&self, prefix: &str, after_revision: i64) -> Result<WatchStream> {
        let compacted = self.shared.compacted.load(Ordering::SeqCst);
        if after_revision < compacted {
            return Err(StorageError::Compacted {
                requested: after_revision,
                compacted,
            });
        }
        // Subscribe before the replay snapshot is taken: see the module docs.
        let rx = self.events.subscribe();
        let (tx, out) = mpsc::channel(WATCH_CHANNEL);
        tokio::spawn(run_watch(
            self.shared.clone(),
            prefix.as_bytes().to_vec(),
            prefix_end(prefix),
            after_revision,
            self.events.downgrade(),
            rx,
            tx,
        ));
        Ok(Box::pin(futures::stream::unfold(
            out,
            |mut out| async move { out.recv().await.map(|item| (item, out)) },
        )))
    }

    async fn current_revision(&self) -> Result<i64> {
        Ok(self.shared.revision.load(Ordering::SeqCst))
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(Cmd::Compact(revision, tx))
            .map_err(|_| writer_gone())?;
        rx.await.map_err(|_| writer_gone())?
    }

    async fn compacted_revision(&self) -> Result<i64> {
        Ok(self.shared.compacted.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::conformance_tests;
    use futures::StreamExt;
    use std::io::{BufRead, Write};
    use std::time::Duration;

    async fn sqlite_store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state.db"))
            .await
            .unwrap();
        (dir, Arc::new(store))
    }

    conformance_tests!(sqlite_store);

    /// With a tiny broadcast buffer the watcher overflows and must catch up from the log.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lagging_watcher_catches_up_without_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open_with_capacity(&dir.path().join("s.db"), 2)
                .await
                .unwrap(),
        );
        crate::conformance::slow_watcher(store).await;
    }

    /// After compaction a lagging watcher whose history is gone ends with `Compacted`
    /// instead of skipping events.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lagging_watcher_past_compaction_gets_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_with_capacity(&dir.path().join("s.db"), 1)
            .await
            .unwrap();
        let mut w = store.watch("/l/", 0).await.unwrap();
        let mut last = 0;
        for i in 0..(WATCH_CHANNEL * 4) {
            last = store
                .create(&format!("/l/{i}"), b"v".to_vec())
                .await
                .unwrap();
        }
        store.compact(last).await.unwrap();
        let mut delivered = Vec::new();
        let result = loop {
            match tokio::time::timeout(Duration::from_secs(20), w.next()).await {
                Ok(Some(Ok(batch))) => {
                    delivered.extend(batch.into_iter().map(|e| e.kv.mod_revision))
                }
                Ok(Some(Err(e))) => break Some(e),
                Ok(None) => break None,
                Err(_) => panic!("watch stalled"),
            }
        };
        // Whatever was delivered is a gap-free prefix of the history.
        assert_eq!(delivered, (1..=delivered.len() as i64).collect::<Vec<_>>());
        if (delivered.len() as i64) < last {
            assert!(
                matches!(result, Some(StorageError::Compacted { .. })),
                "{result:?}"
            );
        }
    }

    /// Successive compactions drop exactly the superseded rows and tombstones.
    #[tokio::test]
    async fn compaction_removes_superseded_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let rows = || -> Vec<i64> {
            let conn = Connection::open(&path).unwrap();
            let mut stmt = conn
                .prepare("SELECT revision FROM log ORDER BY revision")
                .unwrap();
            let out = stmt
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            out
        };
        store.create("/a", b"1".to_vec()).await.unwrap(); // 1
        store.create("/b", b"1".to_vec()).await.unwrap(); // 2
        store.update("/a", b"2".to_vec(), 1).await.unwrap(); // 3
        store.compact(3).await.unwrap();
        assert_eq!(rows(), [2, 3]);
        store.update("/b", b"2".to_vec(), 2).await.unwrap(); // 4
        store.delete("/a", None).await.unwrap(); // 5
        store.create("/c", b"1".to_vec()).await.unwrap(); // 6
        store.compact(5).await.unwrap();
        assert_eq!(rows(), [4, 6]);
        let at5 = store
            .list(
                "/",
                &ListOptions {
                    revision: Some(5),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(at5.items.len(), 1);
        assert_eq!(at5.items[0].key, "/b");
        assert!(matches!(
            store
                .list(
                    "/",
                    &ListOptions {
                        revision: Some(4),
                        ..Default::default()
                    }
                )
                .await,
            Err(StorageError::Compacted {
                requested: 4,
                compacted: 5
            })
        ));
    }

    #[tokio::test]
    async fn dropping_the_store_ends_its_watches() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).await.unwrap();
        let mut w = store.watch("/", 0).await.unwrap();
        store.create("/a", vec![]).await.unwrap();
        assert_eq!(w.next().await.unwrap().unwrap().len(), 1);
        drop(store);
        let end = tokio::time::timeout(Duration::from_secs(20), w.next()).await;
        assert!(matches!(end, Ok(None)), "{end:?}");
    }

    #[tokio::test]
    async fn reopen_keeps_state_and_revision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let r = {
            let store = SqliteStore::open(&path).await.unwrap();
            store.create("/k/a", b"{\"a\":1}".to_vec()).await.unwrap();
            let r = store.create("/k/b", b"b".to_vec()).await.unwrap();
            store.compact(1).await.unwrap();
            r
        };
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.current_revision().await.unwrap(), r);
        assert_eq!(store.compacted_revision().await.unwrap(), 1);
        assert_eq!(
            store.get("/k/a").await.unwrap().unwrap().value,
            b"{\"a\":1}"
        );
        assert_eq!(store.create("/k/c", vec![]).await.unwrap(), r + 1);
        // Values are stored as TEXT when they are UTF-8, so the sqlite3 CLI shows JSON.
        let conn = Connection::open(&path).unwrap();
        let ty: String = conn
            .query_row(
                "SELECT typeof(value) FROM current WHERE key = '/k/a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(ty, "text");
    }

    /// Hot-path queries must be index lookups, never scans of the history.
    #[test]
    fn hot_queries_use_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("s.db")).unwrap();
        let cases = [
            "SELECT create_revision, mod_revision FROM kv WHERE key = 'x'",
            "SELECT log.value FROM kv JOIN log ON log.revision = kv.mod_revision WHERE kv.key = 'x'",
            "SELECT key FROM log WHERE key >= 'a' AND key < 'b' ORDER BY key LIMIT 1",
            "SELECT value FROM log WHERE key = 'a' AND revision <= 5 ORDER BY revision DESC LIMIT 1",
        ];
        for sql in cases {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let plan: Vec<String> = stmt
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            for step in &plan {
                assert!(
                    !step.starts_with("SCAN") && !step.contains("TEMP B-TREE"),
                    "{sql}: {plan:?}"
                );
            }
        }
    }

    const CRASH_ENV: &str = "RUDDER_STORAGE_CRASH_CHILD_DB";

    /// The child half of `kill_9_loses_no_acknowledged_write`: only does something when
    /// re-executed with the env var set. Writes forever from several tasks and prints each
    /// acknowledged write.
    #[test]
    fn crash_child() {
        let Ok(path) = std::env::var(CRASH_ENV) else {
            return;
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let store = Arc::new(SqliteStore::open(Path::new(&path)).await.unwrap());
            let (tx, mut rx) = mpsc::unbounded_channel::<(String, i64)>();
            for w in 0..4 {
                let store = store.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    for i in 0.. {
                        let key = format!("/crash/{w}/{i}");
                        let rev = store
                            .create(&key, format!("{{\"i\":{i}}}").into_bytes())
                            .await
                            .unwrap();
                        if tx.send((key, rev)).is_err() {
                            return;
                        }
                    }
                });
            }
            let mut out = std::io::stdout().lock();
            while let Some((key, rev)) = rx.recv().await {
                writeln!(out, "ACK {rev} {key}").unwrap();
                out.flush().unwrap();
            }
        });
    }

    #[test]
    fn kill_9_loses_no_acknowledged_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crash.db");
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sqlite::tests::crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_ENV, &path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let mut acked = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while acked.len() < 400 {
            assert!(std::time::Instant::now() < deadline, "child too slow");
            let line = lines.next().expect("child ended early").unwrap();
            if let Some(rest) = line.strip_prefix("ACK ") {
                let (rev, key) = rest.split_once(' ').unwrap();
                acked.push((rev.parse::<i64>().unwrap(), key.to_string()));
            }
        }
        // SIGKILL mid-stream, while the writers are still committing.
        child.kill().unwrap();
        // Lines printed before the kill were acknowledged too.
        for line in lines {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("ACK ") {
                if let Some((rev, key)) = rest.split_once(' ') {
                    if let Ok(rev) = rev.parse::<i64>() {
                        acked.push((rev, key.to_string()));
                    }
                }
            }
        }
        child.wait().unwrap();

        let conn = Connection::open(&path).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        drop(conn);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let store = SqliteStore::open(&path).await.unwrap();
            let current = store.current_revision().await.unwrap();
            for (rev, key) in &acked {
                let kv = store
                    .get(key)
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("acknowledged {key}@{rev} lost"));
                assert_eq!(kv.mod_revision, *rev, "{key}");
                assert!(*rev <= current);
            }
            // The store keeps working after recovery.
            let next = store.create("/after/crash", vec![]).await.unwrap();
            assert_eq!(next, current + 1);
        });
    }
}
