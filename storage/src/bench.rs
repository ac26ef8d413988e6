//! Raw write-rate baselines for `make bench`: what plain SQLite transactions and plain etcd
//! puts achieve on this machine, to compare the [`crate::Store`] backends against.

use std::path::Path;
use std::time::Instant;

use crate::{Result, StorageError};

fn unavailable(e: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable(e.to_string())
}

/// Inserts `n` rows (a revision-keyed log row plus a key-indexed row, like one create) in
/// `n` separate SQLite transactions from `concurrency` threads, each with its own
/// connection, with the store's durability (WAL, `synchronous=FULL`). Returns transactions
/// per second. Creates `raw-bench.db` in `dir`.
pub async fn raw_sqlite_tx_rate(dir: &Path, n: usize, concurrency: usize) -> Result<f64> {
    let path = dir.join("raw-bench.db");
    let concurrency = concurrency.max(1);
    let setup = path.clone();
    tokio::task::spawn_blocking(move || -> rusqlite::Result<()> {
        let conn = rusqlite::Connection::open(&setup)?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS log (revision INTEGER PRIMARY KEY, key TEXT NOT NULL, value);
             CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, mod_revision INTEGER) WITHOUT ROWID;",
        )
    })
    .await
    .map_err(unavailable)?
    .map_err(unavailable)?;

    let value = "x".repeat(1024);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let path = path.clone();
        let value = value.clone();
        let count = n / concurrency + usize::from(w < n % concurrency);
        workers.push(tokio::task::spawn_blocking(
            move || -> rusqlite::Result<()> {
                let mut conn = rusqlite::Connection::open(&path)?;
                conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA busy_timeout = 60000;")?;
                for i in 0..count {
                    let key = format!("/bench/{w}/{i}");
                    let tx =
                        conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    tx.execute(
                        "INSERT INTO log(key, value) VALUES (?1, ?2)",
                        rusqlite::params![key, value],
                    )?;
                    let rev = tx.last_insert_rowid();
                    tx.execute(
                        "INSERT OR REPLACE INTO kv(key, mod_revision) VALUES (?1, ?2)",
                        rusqlite::params![key, rev],
                    )?;
                    tx.commit()?;
                }
                Ok(())
            },
        ));
    }
    for w in workers {
        w.await.map_err(unavailable)?.map_err(unavailable)?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Puts `n` distinct 1 KiB values with plain etcd-client puts from `concurrency` tasks.
/// Returns puts per second.
pub async fn raw_etcd_put_rate(endpoints: &[String], n: usize, concurrency: usize) -> Result<f64> {
    let client = etcd_client::Client::connect(endpoints, None)
        .await
        .map_err(unavailable)?;
    let concurrency = concurrency.max(1);
    let value = vec![b'x'; 1024];
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let mut client = client.clone();
        let value = value.clone();
        let count = n / concurrency + usize::from(w < n % concurrency);
        workers.push(tokio::spawn(async move {
            for i in 0..count {
                client
                    .put(format!("/bench/{w}/{i}"), value.clone(), None)
                    .await?;
            }
            Ok::<_, etcd_client::Error>(())
        }));
    }
    for w in workers {
        w.await.map_err(unavailable)?.map_err(unavailable)?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Creates `n` distinct 1 KiB keys through a [`crate::Store`] from `concurrency` tasks, for
/// comparing a backend with the raw figures above. Returns creates per second.
pub async fn store_create_rate(
    store: std::sync::Arc<dyn crate::Store>,
    prefix: &str,
    n: usize,
    concurrency: usize,
) -> Result<f64> {
    let concurrency = concurrency.max(1);
    let value = vec![b'x'; 1024];
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let store = store.clone();
        let value = value.clone();
        let prefix = prefix.to_string();
        let count = n / concurrency + usize::from(w < n % concurrency);
        workers.push(tokio::spawn(async move {
            for i in 0..count {
                store
                    .create(&format!("{prefix}{w}/{i}"), value.clone())
                    .await?;
            }
            Ok::<_, StorageError>(())
        }));
    }
    for w in workers {
        w.await.map_err(unavailable)??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    /// Prints raw SQLite vs `SqliteStore` create rates, and the store's rate as it grows.
    /// A measurement, not a pass/fail check: `cargo test -p rudder-storage -- --ignored
    /// --nocapture compare_rates`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn compare_rates() {
        let dir = tempfile::tempdir().unwrap();
        let store: std::sync::Arc<dyn crate::Store> = std::sync::Arc::new(
            crate::SqliteStore::open(&dir.path().join("s.db"))
                .await
                .unwrap(),
        );
        for c in [1, 16, 64] {
            let raw = super::raw_sqlite_tx_rate(dir.path(), 1000, c)
                .await
                .unwrap();
            let st = super::store_create_rate(store.clone(), &format!("/c{c}/"), 1000, c)
                .await
                .unwrap();
            println!("concurrency {c}: raw sqlite {raw:.0} tx/s, SqliteStore {st:.0} creates/s");
        }
        for round in 0..6 {
            let st = super::store_create_rate(store.clone(), &format!("/grow{round}/"), 3000, 16)
                .await
                .unwrap();
            let total = store.count("/").await.unwrap();
            println!("store size {total}: {st:.0} creates/s");
        }
    }

    #[tokio::test]
    async fn raw_sqlite_rate_measures() {
        let dir = tempfile::tempdir().unwrap();
        let rate = super::raw_sqlite_tx_rate(dir.path(), 40, 4).await.unwrap();
        assert!(rate > 0.0);
        let conn = rusqlite::Connection::open(dir.path().join("raw-bench.db")).unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM kv", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 40);
    }
}
