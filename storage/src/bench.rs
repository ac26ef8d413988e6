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

#[cfg(test)]
mod tests {
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
