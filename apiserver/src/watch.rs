//! Serving a watch: newline-delimited JSON events over a streamed 200 response, flushed per
//! event, as upstream's watch server writes them (`{"type":...,"object":...}\n`).

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use rudder_api::catalog::ResourceInfo;

use crate::http::{Body, Wanted};
use crate::selectors::Selectors;
use crate::server::ApiServer;
use crate::status::ApiError;
use crate::tables;
use crate::watchcache::{CacheEvent, Subscription, WatchEventType, WatcherMessage};

/// Everything a watch needs.
pub struct WatchParams {
    /// Server (for metrics).
    pub server: Arc<ApiServer>,
    /// Watched resource.
    pub res: &'static ResourceInfo,
    /// The cache subscription.
    pub sub: Subscription,
    /// Filters.
    pub selectors: Selectors,
    /// Event object form.
    pub wanted: Wanted,
    /// includeObject for tables.
    pub include_object: String,
    /// allowWatchBookmarks.
    pub bookmarks: bool,
    /// sendInitialEvents: end the initial state with a bookmark annotated
    /// `k8s.io/initial-events-end`.
    pub send_initial_end: bool,
    /// When the watch ends.
    pub timeout: Duration,
}

fn stream_response(rx: mpsc::Receiver<Result<Frame<Bytes>, Infallible>>) -> Response<Body> {
    let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx)).boxed();
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    r
}

/// A watch whose only event is an ERROR carrying `err` (upstream answers a too-old
/// resourceVersion this way, with HTTP 200).
pub fn error_stream(err: &ApiError) -> Response<Body> {
    let (tx, rx) = mpsc::channel(1);
    let line = event_line("ERROR", &err.to_status());
    let _ = tx.try_send(Ok(Frame::data(line)));
    stream_response(rx)
}

fn event_line(kind: &str, obj: &Value) -> Bytes {
    let mut out = format!("{{\"type\":\"{kind}\",\"object\":").into_bytes();
    serde_json::to_writer(&mut out, obj).expect("json");
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// Starts serving the watch.
pub fn serve(p: WatchParams) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
    tokio::spawn(run(p, tx));
    stream_response(rx)
}

async fn run(mut p: WatchParams, tx: mpsc::Sender<Result<Frame<Bytes>, Infallible>>) {
    let metric_res = p.res.plural;
    p.server.metrics.watch_delta(metric_res, 1);
    let deadline = tokio::time::Instant::now() + p.timeout;
    let initial = std::mem::take(&mut p.sub.initial);
    let mut last_rev = p.sub.revision;
    'out: {
        for ev in &initial {
            if let Some(line) = render(&p, ev) {
                if tx.send(Ok(Frame::data(line))).await.is_err() {
                    break 'out;
                }
            }
        }
        if p.send_initial_end {
            let line = bookmark_line(&p, p.sub.revision, true);
            if tx.send(Ok(Frame::data(line))).await.is_err() {
                break 'out;
            }
        }
        loop {
            let msg = tokio::select! {
                m = p.sub.rx.recv() => m,
                _ = tokio::time::sleep_until(deadline) => break 'out,
                _ = tx.closed() => break 'out,
            };
            match msg {
                Some(WatcherMessage::Event(ev)) => {
                    if ev.revision <= p.sub.after {
                        continue;
                    }
                    last_rev = ev.revision;
                    if let Some(line) = render(&p, &ev) {
                        if tx.send(Ok(Frame::data(line))).await.is_err() {
                            break 'out;
                        }
                    }
                }
                Some(WatcherMessage::Bookmark(rev)) => {
                    if p.bookmarks && rev >= last_rev {
                        let line = bookmark_line(&p, rev, false);
                        if tx.send(Ok(Frame::data(line))).await.is_err() {
                            break 'out;
                        }
                    }
                }
                None if p.sub.overflowed.load(Ordering::SeqCst) => {
                    // This watcher could not keep up and was dropped; everything buffered
                    // has been sent. End the stream without an error, as upstream's cacher
                    // does (cacheWatcher.forget closes the watch): the client re-watches
                    // from the last resourceVersion it saw, replayed from the window, and
                    // relists only if that has left the window (410 then).
                    tracing::info!(
                        resource = p.res.plural,
                        "forcing watcher close due to unresponsiveness"
                    );
                    break 'out;
                }
                Some(WatcherMessage::Reset) | None => {
                    // The cache relisted: its window restarted, so tell the client to
                    // relist rather than let it miss events.
                    let err = ApiError::expired(format!(
                        "too old resource version: {last_rev} (the watch cache was reinitialized; relist and watch again)"
                    ));
                    let _ = tx
                        .send(Ok(Frame::data(event_line("ERROR", &err.to_status()))))
                        .await;
                    break 'out;
                }
            }
        }
    }
    p.server.metrics.watch_delta(metric_res, -1);
}

fn bookmark_line(p: &WatchParams, rev: i64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rev.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let obj = json!({"kind": p.res.kind, "apiVersion": p.res.api_version(), "metadata": meta});
    event_line("BOOKMARK", &obj)
}

/// Renders an event for this watcher, applying selector transitions as upstream's cacher
/// does: an object that stops matching is DELETED for the watcher, one that starts
/// matching is ADDED.
fn render(p: &WatchParams, ev: &Arc<CacheEvent>) -> Option<Bytes> {
    let cur = p.selectors.matches(&ev.object.object);
    let prev = ev.prev.as_ref().map(|o| p.selectors.matches(&o.object));
    let kind = match ev.kind {
        WatchEventType::Added => cur.then_some("ADDED"),
        WatchEventType::Modified => match (prev.unwrap_or(false), cur) {
            (true, true) => Some("MODIFIED"),
            (false, true) => Some("ADDED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
        WatchEventType::Deleted => (cur || prev.unwrap_or(false)).then_some("DELETED"),
    }?;
    if let Some(converted) = crate::convert::convert(p.res, &ev.object.object, &p.res.api_version())
    {
        return Some(match p.wanted {
            Wanted::Table => event_line(
                kind,
                &tables::table(p.res, &[&converted], &p.include_object, None, None),
            ),
            Wanted::PartialMetadata => event_line(kind, &tables::partial(&converted)),
            _ => event_line(kind, &converted),
        });
    }
    Some(match p.wanted {
        Wanted::Table => event_line(
            kind,
            &tables::table(p.res, &[&ev.object.object], &p.include_object, None, None),
        ),
        Wanted::PartialMetadata => event_line(kind, &tables::partial(&ev.object.object)),
        // The common case shares the line the cache rendered once for everyone.
        _ if kind == ev.kind.as_str() => ev.line.clone(),
        _ => crate::watchcache::render_line(kind, &ev.object.json),
    })
}
