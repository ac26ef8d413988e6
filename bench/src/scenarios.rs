//! The measured workloads: concurrent creates, repeated LISTs from the watch cache, and a
//! watch fan-out.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;

use crate::client::Client;
use crate::stats::{summarize, summarize_durations, Summary};

/// Builds the body of object `i`.
pub type BodyFn = Arc<dyn Fn(usize) -> Bytes + Send + Sync>;
/// Told of each acknowledged create: index, send time, time the 201 arrived.
pub type AckFn = Arc<dyn Fn(usize, Instant, Instant) + Send + Sync>;
/// Per write index: (sent, acknowledged).
type AckTable = Arc<Mutex<Vec<Option<(Instant, Instant)>>>>;

/// Outcome of a batch of creates.
#[derive(Debug)]
pub struct CreateRun {
    pub n: usize,
    pub concurrency: usize,
    pub elapsed: Duration,
    pub latency: Option<Summary>,
}

impl CreateRun {
    pub fn rate(&self) -> f64 {
        self.n as f64 / self.elapsed.as_secs_f64()
    }
}

/// Creates a namespace (201, or 409 if it is already there).
pub async fn ensure_namespace(client: &Client, name: &str) -> Result<()> {
    let body =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    ensure_object(
        client,
        "/api/v1/namespaces",
        &body,
        &format!("namespace {name}"),
    )
    .await
}

/// POSTs `body` to the collection `path`; success or 409 (already there) is fine, any
/// other answer fails naming `what`.
pub async fn ensure_object(
    client: &Client,
    path: &str,
    body: &serde_json::Value,
    what: &str,
) -> Result<()> {
    let (status, resp) = client
        .request(Method::POST, path, Some(body.to_string().into()))
        .await?;
    if !(status.is_success() || status == StatusCode::CONFLICT) {
        bail!(
            "creating {what}: {status}: {}",
            String::from_utf8_lossy(&resp)
        );
    }
    Ok(())
}

/// POSTs `n` objects to `path` from `concurrency` tasks, object `i` being `body(i)`, and
/// records each request's latency (send to last byte of the response). Any non-201 answer
/// fails the run: a benchmark that silently counts errors as throughput would lie.
pub async fn create_many(
    client: &Arc<Client>,
    path: &str,
    n: usize,
    concurrency: usize,
    body: BodyFn,
    on_ack: Option<AckFn>,
) -> Result<CreateRun> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, next, body, path) =
            (client.clone(), next.clone(), body.clone(), path.to_string());
        let on_ack = on_ack.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(lat);
                }
                let payload = body(i);
                let sent = Instant::now();
                let (status, resp) = client.request(Method::POST, &path, Some(payload)).await?;
                let acked = Instant::now();
                if status != StatusCode::CREATED {
                    bail!(
                        "POST {path} #{i}: {status}: {}",
                        String::from_utf8_lossy(&resp)
                    );
                }
                if let Some(f) = &on_ack {
                    f(i, sent, acked);
                }
                lat.push(acked - sent);
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.context("create worker panicked")??);
    }
    Ok(CreateRun {
        n,
        concurrency: concurrency.max(1),
        elapsed: started.elapsed(),
        latency: summarize_durations(&all),
    })
}

/// A ConfigMap named `{prefix}{i}` carrying a 1 KiB value, the size the raw-store baselines
/// write, so apiserver and raw figures move the same payload.
pub fn configmap_body(prefix: &str, i: usize, payload_bytes: usize) -> Bytes {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": format!("{prefix}{i:06}")},
        "data": {"payload": "x".repeat(payload_bytes)},
    })
    .to_string()
    .into()
}

/// A minimal valid Pod: one container with a name and an image.
pub fn pod_body(i: usize) -> Bytes {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("bench-pod-{i:06}")},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
    })
    .to_string()
    .into()
}

/// Outcome of the LIST measurement.
#[derive(Debug)]
pub struct ListRun {
    pub lists: usize,
    pub items: usize,
    pub bytes: usize,
    pub latency: Option<Summary>,
}

/// GETs `path` `count` times in sequence, timing each to the last byte, and counts the
/// items of the last answer.
pub async fn list_many(client: &Client, path: &str, count: usize) -> Result<ListRun> {
    let mut lat = Vec::new();
    let mut last = Bytes::new();
    for _ in 0..count.max(1) {
        let start = Instant::now();
        let (status, body) = client.request(Method::GET, path, None).await?;
        lat.push(start.elapsed());
        if status != StatusCode::OK {
            bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
        }
        last = body;
    }
    let v: serde_json::Value = serde_json::from_slice(&last).context("decoding the list")?;
    let items = v
        .get("items")
        .and_then(|i| i.as_array())
        .map_or(0, Vec::len);
    Ok(ListRun {
        lists: lat.len(),
        items,
        bytes: last.len(),
        latency: summarize_durations(&lat),
    })
}

/// Outcome of the watch fan-out.
#[derive(Debug)]
pub struct FanoutRun {
    pub watchers: usize,
    pub writes: usize,
    pub write_elapsed: Duration,
    /// Receive time minus the time the write was sent.
    pub lag_from_send: Option<Summary>,
    /// Receive time minus the time the write's 201 was received (may be negative).
    pub lag_from_ack: Option<Summary>,
    /// Expected (watcher, event) deliveries that never arrived.
    pub missing: usize,
    pub watchers_missing: usize,
    pub duplicates: usize,
    pub peak_rss: u64,
}

/// A list's `metadata.resourceVersion`, to watch from.
pub fn list_resource_version(list: &serde_json::Value) -> Result<String> {
    Ok(list
        .pointer("/metadata/resourceVersion")
        .and_then(|r| r.as_str())
        .context("list has no resourceVersion")?
        .to_string())
}

/// How one watch stream ended ([`watch_stream`]).
pub enum WatchEnd {
    /// The server ended it (its request timeout, or upstream's closing of a watcher that
    /// fell behind): watch again from the last resourceVersion seen.
    Closed,
    /// An ERROR event with 410 Expired (the resourceVersion left the server's window, or
    /// its cache relisted): only a relist recovers. Carries the Status.
    Expired(serde_json::Value),
}

/// Reads one watch of the collection at `path`, from `*rv`, with bookmarks, calling
/// `on_event(type, object, arrival)` for every event but bookmarks and keeping `*rv` at
/// the last resourceVersion seen, so that the caller can resume where the stream ended,
/// as a reflector does. An ERROR event other than 410 is an error.
pub async fn watch_stream(
    client: &Client,
    path: &str,
    rv: &mut String,
    mut on_event: impl FnMut(&str, &serde_json::Value, Instant),
) -> Result<WatchEnd> {
    let url = format!("{path}?watch=true&allowWatchBookmarks=true&resourceVersion={rv}");
    let resp = client.send(Method::GET, &url, None).await?;
    if resp.status() != StatusCode::OK {
        bail!("watch {path} from {rv}: {}", resp.status());
    }
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let now = Instant::now();
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let mut ev: serde_json::Value = serde_json::from_slice(&line).context("watch event")?;
            let kind = ev["type"].as_str().unwrap_or_default().to_string();
            let obj = &ev["object"];
            if kind == "ERROR" {
                if obj["code"] == 410 {
                    return Ok(WatchEnd::Expired(ev["object"].take()));
                }
                bail!("watch error: {obj}");
            }
            if let Some(v) = obj
                .pointer("/metadata/resourceVersion")
                .and_then(|v| v.as_str())
            {
                v.clone_into(rv);
            }
            if kind != "BOOKMARK" {
                on_event(&kind, obj, now);
            }
        }
    }
    Ok(WatchEnd::Closed)
}

/// Finds the index in the first `"{prefix}NNNNNN"` string of an event line. A substring
/// scan rather than a JSON decode: 500 watchers x 1,000 events would otherwise make the
/// client's JSON parsing, not the server, the thing measured on a 2-core machine.
fn event_index(line: &[u8], needle: &[u8]) -> Option<usize> {
    let pos = line.windows(needle.len()).position(|w| w == needle)?;
    let digits = &line[pos + needle.len()..];
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// Runs the fan-out: `watchers` watches on ConfigMaps of `ns` (from the collection's
/// current resourceVersion, so nothing written after it can be missed even if a watch
/// registers late), then `writes` ConfigMap creates at `write_concurrency`. Waits until
/// every watcher saw every write or `timeout` after the last write.
#[allow(clippy::too_many_arguments)]
pub async fn fanout(
    watch_client: Arc<Client>,
    write_client: Arc<Client>,
    ns: &str,
    watchers: usize,
    writes: usize,
    write_concurrency: usize,
    timeout: Duration,
    apiserver_pid: u32,
) -> Result<FanoutRun> {
    let list_path = format!("/api/v1/namespaces/{ns}/configmaps");
    let (status, body) = write_client.request(Method::GET, &list_path, None).await?;
    if status != StatusCode::OK {
        bail!("GET {list_path}: {status}");
    }
    let rv = list_resource_version(&serde_json::from_slice(&body)?)?;

    let prefix = "fanout-";
    let needle = format!("\"{prefix}").into_bytes();
    let done = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<Result<()>>(watchers.max(1));
    let mut handles = Vec::new();
    for _ in 0..watchers {
        let (client, needle, done, ready_tx) = (
            watch_client.clone(),
            needle.clone(),
            done.clone(),
            ready_tx.clone(),
        );
        let mut stop = stop_rx.clone();
        let path = format!("{list_path}?watch=true&resourceVersion={rv}&allowWatchBookmarks=false");
        handles.push(tokio::spawn(async move {
            let mut got: Vec<(usize, Instant)> = Vec::with_capacity(writes);
            let resp = match client.send(Method::GET, &path, None).await {
                Ok(r) if r.status() == StatusCode::OK => r,
                Ok(r) => {
                    let _ = ready_tx
                        .send(Err(anyhow::anyhow!("watch: {}", r.status())))
                        .await;
                    return got;
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into())).await;
                    return got;
                }
            };
            let _ = ready_tx.send(Ok(())).await;
            drop(ready_tx);
            let mut body = resp.into_body();
            let mut buf: Vec<u8> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            loop {
                let frame = tokio::select! {
                    f = body.frame() => f,
                    _ = stop.changed() => break,
                };
                let Some(Ok(frame)) = frame else { break };
                let now = Instant::now();
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                buf.extend_from_slice(&data);
                while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    if let Some(i) = event_index(&line, &needle) {
                        got.push((i, now));
                        seen.insert(i);
                    }
                }
                if seen.len() >= writes {
                    break;
                }
            }
            done.fetch_add(1, Ordering::Relaxed);
            got
        }));
    }
    drop(ready_tx);
    let deadline = Instant::now() + Duration::from_secs(120);
    for _ in 0..watchers {
        match tokio::time::timeout_at(deadline.into(), ready_rx.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(e))) => return Err(e.context("starting a watcher")),
            Ok(None) => bail!("a watcher ended before it started"),
            Err(_) => bail!("watchers not established within 120s"),
        }
    }

    // Sample the apiserver's RSS while events flow, to report the peak.
    let peak = Arc::new(AtomicU64::new(
        crate::procs::rss_bytes(apiserver_pid).unwrap_or(0),
    ));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Ok(r) = crate::procs::rss_bytes(apiserver_pid) {
                    peak.fetch_max(r, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let times: AckTable = Arc::new(Mutex::new(vec![None; writes]));
    let on_ack = {
        let times = times.clone();
        Arc::new(move |i: usize, sent: Instant, acked: Instant| {
            if let Ok(mut t) = times.lock() {
                t[i] = Some((sent, acked));
            }
        })
    };
    let body = Arc::new(move |i: usize| configmap_body(prefix, i, 64));
    let write = create_many(
        &write_client,
        &list_path,
        writes,
        write_concurrency,
        body,
        Some(on_ack),
    )
    .await;
    let write = match write {
        Ok(w) => w,
        Err(e) => {
            sampling.store(false, Ordering::Relaxed);
            let _ = stop_tx.send(true);
            return Err(e);
        }
    };

    // Bounded wait for delivery: poll the finished-watcher count until all are done or
    // the timeout after the last write passes.
    let wait_deadline = Instant::now() + timeout;
    while done.load(Ordering::Relaxed) < watchers && Instant::now() < wait_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let mut per_watcher = Vec::new();
    for h in handles {
        per_watcher.push(h.await.context("watcher panicked")?);
    }
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;

    let times = times
        .lock()
        .map_err(|_| anyhow::anyhow!("ack table poisoned"))?
        .clone();
    let mut from_send = Vec::new();
    let mut from_ack = Vec::new();
    let (mut missing, mut watchers_missing, mut duplicates) = (0, 0, 0);
    for got in &per_watcher {
        let mut seen = vec![false; writes];
        for (i, at) in got {
            if *i >= writes {
                continue;
            }
            if seen[*i] {
                duplicates += 1;
                continue;
            }
            seen[*i] = true;
            if let Some((sent, acked)) = times[*i] {
                from_send.push(at.saturating_duration_since(sent).as_secs_f64());
                from_ack.push(if *at >= acked {
                    (*at - acked).as_secs_f64()
                } else {
                    -(acked - *at).as_secs_f64()
                });
            }
        }
        let m = seen.iter().filter(|s| !**s).count();
        missing += m;
        watchers_missing += usize::from(m > 0);
    }
    Ok(FanoutRun {
        watchers,
        writes,
        write_elapsed: write.elapsed,
        lag_from_send: summarize(from_send),
        lag_from_ack: summarize(from_ack),
        missing,
        watchers_missing,
        duplicates,
        peak_rss: peak.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_index_cases() {
        let n = b"\"fanout-";
        let cases: Vec<(&[u8], Option<usize>)> = vec![
            (
                br#"{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"fanout-000042","namespace":"w"}}}"#,
                Some(42),
            ),
            (br#"{"type":"ADDED","object":{"metadata":{"name":"kube-root-ca.crt"}}}"#, None),
            (br#"{"metadata":{"name":"fanout-"}}"#, None),
            (br#"{"metadata":{"name":"fanout-12"#, None),
        ];
        for (line, want) in cases {
            assert_eq!(
                event_index(line, n),
                want,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn bodies_are_valid_objects() {
        let cm: serde_json::Value =
            serde_json::from_slice(&configmap_body("cm-", 7, 1024)).unwrap();
        assert_eq!(cm["metadata"]["name"], "cm-000007");
        assert_eq!(cm["data"]["payload"].as_str().unwrap().len(), 1024);
        let pod: serde_json::Value = serde_json::from_slice(&pod_body(3)).unwrap();
        assert_eq!(pod["spec"]["containers"][0]["name"], "c");
        assert!(pod["spec"]["containers"][0]["image"].is_string());
    }
}
