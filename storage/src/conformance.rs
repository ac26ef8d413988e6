//! The shared conformance suite: every test function takes an `Arc<dyn Store>` and is run
//! against both backends (a fresh SQLite file, or a fresh etcd process per test).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::{
    Event, EventType, KeyValue, ListOptions, StorageError, Store, WatchStream, MAX_VALUE_BYTES,
};

const DEADLINE: Duration = Duration::from_secs(20);

/// Collects exactly `n` events (failing on errors, end of stream or the deadline).
pub(crate) async fn collect(stream: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while out.len() < n {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(batch))) => out.extend(batch),
            Ok(Some(Err(e))) => panic!("watch error after {} events: {e}", out.len()),
            Ok(None) => panic!("watch ended after {} of {n} events", out.len()),
            Err(_) => panic!("timed out after {} of {n} events", out.len()),
        }
    }
    assert_eq!(out.len(), n, "more events than expected: {out:?}");
    out
}

/// Asserts nothing more arrives before a write to `sentinel` (outside the watcher's prefix
/// check) has been observed by a second watcher: a deterministic "no more events" check.
async fn assert_quiet(store: &Arc<dyn Store>, stream: &mut WatchStream, sentinel_prefix: &str) {
    let rev = store.current_revision().await.unwrap();
    let mut probe = store.watch(sentinel_prefix, rev).await.unwrap();
    store
        .create(&format!("{sentinel_prefix}sentinel"), b"s".to_vec())
        .await
        .unwrap();
    collect(&mut probe, 1).await;
    // The sentinel is committed after everything the tested watcher could see; give the
    // tested stream a chance to deliver anything it had buffered.
    if let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
        panic!("unexpected watch item: {item:?}");
    }
}

fn opts(revision: Option<i64>, start_after: Option<&str>, limit: Option<usize>) -> ListOptions {
    ListOptions {
        revision,
        start_after: start_after.map(str::to_string),
        limit,
    }
}

fn keys(items: &[KeyValue]) -> Vec<&str> {
    items.iter().map(|kv| kv.key.as_str()).collect()
}

pub(crate) async fn crud(store: Arc<dyn Store>) {
    let k = "/registry/configmaps/default/a";
    let r1 = store.create(k, b"{\"v\":1}".to_vec()).await.unwrap();
    assert!(r1 > 0);
    let got = store.get(k).await.unwrap().unwrap();
    assert_eq!(got.value, b"{\"v\":1}");
    assert_eq!((got.create_revision, got.mod_revision), (r1, r1));
    assert_eq!(
        store.create(k, b"x".to_vec()).await,
        Err(StorageError::AlreadyExists(k.into()))
    );

    assert_eq!(
        store.update(k, b"{\"v\":2}".to_vec(), r1 - 1).await,
        Err(StorageError::Conflict {
            key: k.into(),
            current: r1
        })
    );
    let r2 = store.update(k, b"{\"v\":2}".to_vec(), r1).await.unwrap();
    assert!(r2 > r1);
    let got = store.get(k).await.unwrap().unwrap();
    assert_eq!(got.value, b"{\"v\":2}");
    assert_eq!((got.create_revision, got.mod_revision), (r1, r2));
    assert_eq!(store.current_revision().await.unwrap(), r2);

    let missing = "/registry/configmaps/default/missing";
    assert_eq!(
        store.update(missing, b"x".to_vec(), 1).await,
        Err(StorageError::NotFound(missing.into()))
    );
    assert_eq!(store.get(missing).await.unwrap(), None);

    assert_eq!(
        store.delete(k, Some(r1)).await,
        Err(StorageError::Conflict {
            key: k.into(),
            current: r2
        })
    );
    let deleted = store.delete(k, Some(r2)).await.unwrap();
    assert_eq!(deleted.value, b"{\"v\":2}");
    assert_eq!(deleted.create_revision, r1);
    assert!(deleted.mod_revision > r2);
    assert_eq!(store.get(k).await.unwrap(), None);
    assert_eq!(
        store.delete(k, None).await,
        Err(StorageError::NotFound(k.into()))
    );

    // Re-create gets a fresh create revision; unconditional delete works.
    let r4 = store.create(k, b"again".to_vec()).await.unwrap();
    assert!(r4 > deleted.mod_revision);
    assert_eq!(store.get(k).await.unwrap().unwrap().create_revision, r4);
    let d = store.delete(k, None).await.unwrap();
    assert_eq!(d.value, b"again");
}

pub(crate) async fn list_order_limit(store: Arc<dyn Store>) {
    for name in ["c", "a", "e", "b", "d"] {
        store
            .create(&format!("/p/{name}"), name.as_bytes().to_vec())
            .await
            .unwrap();
    }
    // Neighbours that must not match the `/p/` prefix.
    store.create("/pa", b"x".to_vec()).await.unwrap();
    store.create("/p0", b"x".to_vec()).await.unwrap();
    store.create("/q/x", b"x".to_vec()).await.unwrap();

    let all = store.list("/p/", &ListOptions::default()).await.unwrap();
    assert_eq!(keys(&all.items), ["/p/a", "/p/b", "/p/c", "/p/d", "/p/e"]);
    assert!(!all.more);
    assert_eq!(all.revision, store.current_revision().await.unwrap());
    assert_eq!(all.items[2].value, b"c");

    // (start_after, limit, want keys, want more)
    type Case<'a> = (Option<&'a str>, Option<usize>, &'a [&'a str], bool);
    let cases: &[Case] = &[
        (None, Some(2), &["/p/a", "/p/b"], true),
        (Some("/p/b"), Some(2), &["/p/c", "/p/d"], true),
        (Some("/p/c"), Some(2), &["/p/d", "/p/e"], false),
        (Some("/p/d"), Some(2), &["/p/e"], false),
        (Some("/p/e"), Some(2), &[], false),
        (Some("/p/b"), None, &["/p/c", "/p/d", "/p/e"], false),
        (
            Some("/a"),
            Some(0),
            &["/p/a", "/p/b", "/p/c", "/p/d", "/p/e"],
            false,
        ),
        (
            None,
            Some(5),
            &["/p/a", "/p/b", "/p/c", "/p/d", "/p/e"],
            false,
        ),
    ];
    for (after, limit, want, more) in cases {
        let got = store
            .list("/p/", &opts(None, *after, *limit))
            .await
            .unwrap();
        assert_eq!(keys(&got.items), *want, "after {after:?} limit {limit:?}");
        assert_eq!(got.more, *more, "more for after {after:?} limit {limit:?}");
    }
    assert_eq!(store.count("/p/").await.unwrap(), 5);
    assert_eq!(store.count("/nothing/").await.unwrap(), 0);
    assert_eq!(store.count("").await.unwrap(), 8);
}

pub(crate) async fn list_past_revision(store: Arc<dyn Store>) {
    let r1 = store.create("/h/a", b"a1".to_vec()).await.unwrap();
    let r2 = store.create("/h/b", b"b1".to_vec()).await.unwrap();
    let r3 = store.update("/h/a", b"a2".to_vec(), r1).await.unwrap();
    let r4 = store.delete("/h/b", None).await.unwrap().mod_revision;
    let r5 = store.create("/h/c", b"c1".to_vec()).await.unwrap();

    let vals = |items: &[KeyValue]| -> Vec<(String, String, i64)> {
        items
            .iter()
            .map(|kv| {
                (
                    kv.key.clone(),
                    String::from_utf8(kv.value.clone()).unwrap(),
                    kv.mod_revision,
                )
            })
            .collect()
    };
    let s = |k: &str, v: &str, r: i64| (k.to_string(), v.to_string(), r);
    let cases = vec![
        (r1, vec![s("/h/a", "a1", r1)]),
        (r2, vec![s("/h/a", "a1", r1), s("/h/b", "b1", r2)]),
        (r3, vec![s("/h/a", "a2", r3), s("/h/b", "b1", r2)]),
        (r4, vec![s("/h/a", "a2", r3)]),
        (r5, vec![s("/h/a", "a2", r3), s("/h/c", "c1", r5)]),
    ];
    for (rev, want) in cases {
        let got = store
            .list("/h/", &opts(Some(rev), None, None))
            .await
            .unwrap();
        assert_eq!(vals(&got.items), want, "at revision {rev}");
        assert_eq!(got.revision, rev);
    }
    let page = store
        .list("/h/", &opts(Some(r2), None, Some(1)))
        .await
        .unwrap();
    assert_eq!(keys(&page.items), ["/h/a"]);
    assert!(page.more);
    let page = store
        .list("/h/", &opts(Some(r2), Some("/h/a"), Some(1)))
        .await
        .unwrap();
    assert_eq!(keys(&page.items), ["/h/b"]);

    match store.list("/h/", &opts(Some(r5 + 100), None, None)).await {
        Err(StorageError::FutureRevision { requested, .. }) => assert_eq!(requested, r5 + 100),
        other => panic!("want FutureRevision, got {other:?}"),
    }
}

pub(crate) async fn compaction(store: Arc<dyn Store>) {
    let r1 = store.create("/c/a", b"a1".to_vec()).await.unwrap();
    let r2 = store.update("/c/a", b"a2".to_vec(), r1).await.unwrap();
    let r3 = store.create("/c/b", b"b1".to_vec()).await.unwrap();
    let r4 = store.delete("/c/b", None).await.unwrap().mod_revision;
    let r5 = store.create("/c/keep", b"k".to_vec()).await.unwrap();
    let r6 = store.update("/c/a", b"a3".to_vec(), r2).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), 0);

    store.compact(r4).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), r4);

    for rev in [r1, r3] {
        match store.list("/c/", &opts(Some(rev), None, None)).await {
            Err(StorageError::Compacted {
                requested,
                compacted,
            }) => {
                assert_eq!(requested, rev);
                assert_eq!(compacted, r4);
            }
            other => panic!("want Compacted at {rev}, got {other:?}"),
        }
    }
    // The compacted revision itself and everything after stay readable.
    let at = store
        .list("/c/", &opts(Some(r4), None, None))
        .await
        .unwrap();
    assert_eq!(keys(&at.items), ["/c/a"]);
    assert_eq!(at.items[0].value, b"a2");
    let at = store
        .list("/c/", &opts(Some(r5), None, None))
        .await
        .unwrap();
    assert_eq!(keys(&at.items), ["/c/a", "/c/keep"]);
    let latest = store.list("/c/", &ListOptions::default()).await.unwrap();
    assert_eq!(latest.items[0].value, b"a3");
    assert_eq!(latest.items[0].mod_revision, r6);

    // Watching from a compacted revision fails, at once or as the first stream item.
    match store.watch("/c/", r1).await {
        Err(StorageError::Compacted { .. }) => {}
        Err(e) => panic!("want Compacted, got {e}"),
        Ok(mut stream) => match tokio::time::timeout(DEADLINE, stream.next()).await {
            Ok(Some(Err(StorageError::Compacted { .. }))) => {}
            other => panic!("want a Compacted item, got {other:?}"),
        },
    }
    // Watching from the compacted revision replays what followed.
    let mut w = store.watch("/c/", r4).await.unwrap();
    let evs = collect(&mut w, 2).await;
    assert_eq!(
        evs.iter().map(|e| e.kv.mod_revision).collect::<Vec<_>>(),
        [r5, r6]
    );
    assert_eq!(evs[1].prev.as_ref().unwrap().value, b"a2");

    // Compacting at or below the compacted revision is itself a Compacted error.
    assert!(matches!(
        store.compact(r2).await,
        Err(StorageError::Compacted { .. })
    ));
    assert!(store.compact(r6 + 100).await.is_err());
}

pub(crate) async fn watch_sequence(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    // Two writes before the watch starts (replayed from history) ...
    let r1 = store.create("/w/a", b"1".to_vec()).await.unwrap();
    let r2 = store.update("/w/a", b"2".to_vec(), r1).await.unwrap();
    let mut w = store.watch("/w/", start).await.unwrap();
    // ... and three after (live).
    let r3 = store.create("/w/b", b"b".to_vec()).await.unwrap();
    let d = store.delete("/w/a", Some(r2)).await.unwrap();
    let r5 = store.update("/w/b", b"b2".to_vec(), r3).await.unwrap();
    let evs = collect(&mut w, 5).await;

    let summary: Vec<(EventType, &str, i64, Option<&[u8]>)> = evs
        .iter()
        .map(|e| {
            (
                e.kind,
                e.kv.key.as_str(),
                e.kv.mod_revision,
                e.prev.as_ref().map(|p| p.value.as_slice()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (EventType::Put, "/w/a", r1, None),
            (EventType::Put, "/w/a", r2, Some(&b"1"[..])),
            (EventType::Put, "/w/b", r3, None),
            (EventType::Delete, "/w/a", d.mod_revision, Some(&b"2"[..])),
            (EventType::Put, "/w/b", r5, Some(&b"b"[..])),
        ]
    );
    // A delete event carries the last value and the original create revision.
    assert_eq!(evs[3].kv.value, b"2");
    assert_eq!(evs[3].kv.create_revision, r1);
    assert_eq!(evs[1].kv.create_revision, r1);

    // A watch from a later revision starts right after it.
    let mut w2 = store.watch("/w/", r3).await.unwrap();
    let evs = collect(&mut w2, 2).await;
    assert_eq!(evs[0].kv.mod_revision, d.mod_revision);
    assert_quiet(&store, &mut w, "/sentinel/").await;
}

pub(crate) async fn watch_prefix_isolation(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    let mut w = store.watch("/a/", start).await.unwrap();
    store.create("/b/x", b"x".to_vec()).await.unwrap();
    store.create("/ab", b"x".to_vec()).await.unwrap();
    store.create("/a", b"x".to_vec()).await.unwrap();
    let r = store.create("/a/x", b"x".to_vec()).await.unwrap();
    let evs = collect(&mut w, 1).await;
    assert_eq!(evs[0].kv.key, "/a/x");
    assert_eq!(evs[0].kv.mod_revision, r);
    assert_quiet(&store, &mut w, "/z/").await;
}

pub(crate) async fn concurrent_writers(store: Arc<dyn Store>) {
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/cc/", start).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..EACH {
                revs.push(
                    store
                        .create(&format!("/cc/{w}/{i}"), vec![b'x'; 100])
                        .await
                        .unwrap(),
                );
            }
            revs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let revs = t.await.unwrap();
        assert!(revs.windows(2).all(|p| p[0] < p[1]), "per-writer order");
        all.extend(revs);
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), WRITERS * EACH, "revisions must be distinct");
    assert_eq!(
        store.current_revision().await.unwrap(),
        *all.last().unwrap()
    );
    assert_eq!(store.count("/cc/").await.unwrap(), (WRITERS * EACH) as i64);
    // The watcher sees every revision once, in order.
    let evs = collect(&mut watch, WRITERS * EACH).await;
    let seen: Vec<i64> = evs.iter().map(|e| e.kv.mod_revision).collect();
    assert_eq!(seen, all);
}

pub(crate) async fn too_large(store: Arc<dyn Store>) {
    let big = vec![b'x'; MAX_VALUE_BYTES + 1];
    assert_eq!(
        store.create("/big/a", big.clone()).await,
        Err(StorageError::TooLarge {
            size: MAX_VALUE_BYTES + 1,
            limit: MAX_VALUE_BYTES
        })
    );
    let r = store.create("/big/a", b"small".to_vec()).await.unwrap();
    assert!(matches!(
        store.update("/big/a", big, r).await,
        Err(StorageError::TooLarge { .. })
    ));
    // A large but acceptable value round-trips.
    let ok = vec![b'y'; 512 * 1024];
    store.update("/big/a", ok.clone(), r).await.unwrap();
    assert_eq!(store.get("/big/a").await.unwrap().unwrap().value, ok);
}

/// A consumer that does not read while many writes happen still gets every event, in
/// order, or an error — never a silent gap.
pub(crate) async fn slow_watcher(store: Arc<dyn Store>) {
    const N: usize = 300;
    let start = store.current_revision().await.unwrap();
    let mut w = store.watch("/slow/", start).await.unwrap();
    let mut revs = Vec::new();
    for i in 0..N {
        revs.push(
            store
                .create(&format!("/slow/{i:04}"), b"v".to_vec())
                .await
                .unwrap(),
        );
    }
    let evs = collect(&mut w, N).await;
    let seen: Vec<i64> = evs.iter().map(|e| e.kv.mod_revision).collect();
    assert_eq!(seen, revs);
}

/// A binary (non UTF-8) value round-trips.
pub(crate) async fn binary_value(store: Arc<dyn Store>) {
    let v = vec![0u8, 0xff, 0xfe, b'k', 8, 0];
    store.create("/bin/a", v.clone()).await.unwrap();
    assert_eq!(store.get("/bin/a").await.unwrap().unwrap().value, v);
    let l = store.list("/bin/", &ListOptions::default()).await.unwrap();
    assert_eq!(l.items[0].value, v);
}

/// Runs every conformance function as its own `#[tokio::test]` against a backend; `$make`
/// is an async fn returning `(guard, Arc<dyn Store>)` where the guard owns the resources.
macro_rules! conformance_tests {
    ($make:path) => {
        conformance_tests!(@each $make, crud, list_order_limit, list_past_revision,
            compaction, watch_sequence, watch_prefix_isolation, concurrent_writers,
            too_large, slow_watcher, binary_value);
    };
    (@each $make:path, $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_guard, store) = $make().await;
                $crate::conformance::$name(store).await;
            }
        )*
    };
}
pub(crate) use conformance_tests;

/// A real etcd on free loopback ports with its own data dir; killed on drop.
pub(crate) struct EtcdProcess {
    child: std::process::Child,
    pub(crate) endpoint: String,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl EtcdProcess {
    pub(crate) async fn start() -> (EtcdProcess, crate::EtcdStore) {
        let dir = tempfile::tempdir().unwrap();
        let (client, peer) = (free_port(), free_port());
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
        let child = std::process::Command::new("/usr/bin/etcd")
            .arg("--name=test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=test={peer_url}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start /usr/bin/etcd (install the etcd-server package)");
        let mut proc = EtcdProcess {
            child,
            endpoint,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let attempt = tokio::time::timeout(
                Duration::from_secs(2),
                crate::EtcdStore::connect(std::slice::from_ref(&proc.endpoint)),
            )
            .await;
            if let Ok(Ok(store)) = attempt {
                return (proc, store);
            }
            if let Ok(Some(status)) = proc.child.try_wait() {
                panic!("etcd exited with {status}: {}", proc.log());
            }
            assert!(
                Instant::now() < deadline,
                "etcd not ready in time: {}",
                proc.log()
            );
            // Poll interval while waiting for readiness (bounded by the deadline above).
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
