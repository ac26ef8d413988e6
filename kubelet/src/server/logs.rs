//! Container logs as the kubelet serves them on `/containerLogs/{ns}/{pod}/{container}`:
//! parsing of the CRI log format, the query options, and reading (tail, since, limit,
//! follow) of the files the runtime writes under `/var/log/pods`.
//!
//! The CRI log format (kubelet's `pkg/kubelet/kuberuntime/logs`): one record per line,
//! `<RFC3339Nano timestamp> <stdout|stderr> <P|F> <message>`, where `P` marks a partial
//! line whose message continues in the next record and `F` a full one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

/// Errors of the log endpoint; each maps to an HTTP status in the server.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// a query parameter has a bad value (400)
    #[error("{0}")]
    BadRequest(String),
    /// the log file does not exist (404 upstream answers for a missing previous log)
    #[error("{0}")]
    NotFound(String),
    /// reading the log failed
    #[error("reading log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Which stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// The container's stdout.
    Stdout,
    /// The container's stderr.
    Stderr,
}

/// One parsed CRI log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord<'a> {
    /// The timestamp exactly as written (RFC3339Nano).
    pub timestamp_raw: &'a str,
    /// The parsed timestamp.
    pub timestamp: DateTime<Utc>,
    /// stdout or stderr.
    pub stream: LogStream,
    /// Whether the line is complete (`F`), or continues in the next record (`P`).
    pub full: bool,
    /// The message without the trailing newline.
    pub message: &'a [u8],
}

/// Parses one CRI log line (without its trailing `\n`). Mirrors upstream's `parseCRILog`:
/// the tag field is optional in old files (treated as full).
pub fn parse_cri_line(line: &[u8]) -> Option<LogRecord<'_>> {
    let sp = line.iter().position(|b| *b == b' ')?;
    let ts = std::str::from_utf8(&line[..sp]).ok()?;
    let timestamp = DateTime::parse_from_rfc3339(ts).ok()?.with_timezone(&Utc);
    let rest = &line[sp + 1..];
    let sp = rest.iter().position(|b| *b == b' ')?;
    let stream = match &rest[..sp] {
        b"stdout" => LogStream::Stdout,
        b"stderr" => LogStream::Stderr,
        _ => return None,
    };
    let rest = &rest[sp + 1..];
    let (full, message) = match rest.iter().position(|b| *b == b' ') {
        Some(i) if &rest[..i] == b"P" => (false, &rest[i + 1..]),
        Some(i) if &rest[..i] == b"F" => (true, &rest[i + 1..]),
        // A record without a tag (before the CRI added partial lines).
        _ => (true, rest),
    };
    Some(LogRecord {
        timestamp_raw: ts,
        timestamp,
        stream,
        full,
        message,
    })
}

/// The options of a log request (upstream `PodLogOptions`, as query parameters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep the stream open and send new lines as they are written.
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<i64>,
    /// Only records at or after this time (sinceSeconds or sinceTime).
    pub since: Option<DateTime<Utc>>,
    /// Prefix each record with its RFC3339Nano timestamp.
    pub timestamps: bool,
    /// The log of the previous instance of the container.
    pub previous: bool,
    /// Stop after this many bytes.
    pub limit_bytes: Option<i64>,
}

fn parse_bool(name: &str, v: &str) -> Result<bool, LogError> {
    // Go's strconv.ParseBool, which upstream's query decoding uses.
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(LogError::BadRequest(format!(
            "invalid value {v:?} for {name}: must be a boolean"
        ))),
    }
}

fn parse_int(name: &str, v: &str) -> Result<i64, LogError> {
    v.parse::<i64>()
        .map_err(|_| LogError::BadRequest(format!("invalid value {v:?} for {name}")))
}

impl LogOptions {
    /// Parses the query parameters of a log request at time `now`, with upstream's
    /// validation messages (`ValidatePodLogOptions`).
    pub fn from_query(q: &[(String, String)], now: DateTime<Utc>) -> Result<LogOptions, LogError> {
        let mut o = LogOptions::default();
        let mut since_seconds = None;
        let mut since_time = None;
        for (k, v) in q {
            match k.as_str() {
                "follow" => o.follow = parse_bool(k, v)?,
                "timestamps" => o.timestamps = parse_bool(k, v)?,
                "previous" => o.previous = parse_bool(k, v)?,
                "tailLines" => o.tail_lines = Some(parse_int(k, v)?),
                "limitBytes" => o.limit_bytes = Some(parse_int(k, v)?),
                "sinceSeconds" => since_seconds = Some(parse_int(k, v)?),
                "sinceTime" => {
                    since_time = Some(
                        DateTime::parse_from_rfc3339(v)
                            .map_err(|_| {
                                LogError::BadRequest(format!("invalid value {v:?} for sinceTime"))
                            })?
                            .with_timezone(&Utc),
                    )
                }
                _ => {}
            }
        }
        if let Some(t) = o.tail_lines {
            if t < 0 {
                return Err(LogError::BadRequest(
                    "tailLines: Invalid value: must be greater than or equal to 0".into(),
                ));
            }
        }
        if let Some(l) = o.limit_bytes {
            if l < 1 {
                return Err(LogError::BadRequest(
                    "limitBytes: Invalid value: must be greater than 0".into(),
                ));
            }
        }
        match (since_seconds, since_time) {
            (Some(_), Some(_)) => {
                return Err(LogError::BadRequest(
                    "at most one of `sinceTime` or `sinceSeconds` may be specified".into(),
                ))
            }
            (Some(s), None) => {
                if s < 1 {
                    return Err(LogError::BadRequest(
                        "sinceSeconds: Invalid value: must be greater than 0".into(),
                    ));
                }
                o.since = Some(now - chrono::Duration::seconds(s));
            }
            (None, Some(t)) => o.since = Some(t),
            (None, None) => {}
        }
        Ok(o)
    }
}

/// The directory holding one container's log files:
/// `<root>/<namespace>_<pod>_<uid>/<container>` (upstream `BuildContainerLogsDirectory`).
pub fn container_log_dir(
    root: &Path,
    namespace: &str,
    pod: &str,
    uid: &str,
    container: &str,
) -> PathBuf {
    root.join(format!("{namespace}_{pod}_{uid}"))
        .join(container)
}

/// The log files of a container instance, newest first: `<restart>.log` by restart count.
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_suffix(".log")?.parse::<u64>().ok()?;
            Some((n, e.path()))
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    files.into_iter().map(|(_, p)| p).collect()
}

/// Formats the records of `data` (complete lines only) into the output, applying `since`
/// and `timestamps`. Returns the formatted bytes and how many input bytes were consumed
/// (a trailing incomplete line is left for the next read).
fn format_records(data: &[u8], opts: &LogOptions, out: &mut Vec<u8>) -> usize {
    let mut consumed = 0;
    while let Some(nl) = data[consumed..].iter().position(|b| *b == b'\n') {
        let line = &data[consumed..consumed + nl];
        consumed += nl + 1;
        let Some(rec) = parse_cri_line(line) else {
            continue;
        };
        if let Some(since) = opts.since {
            if rec.timestamp < since {
                continue;
            }
        }
        if opts.timestamps {
            out.extend_from_slice(rec.timestamp_raw.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(rec.message);
        if rec.full {
            out.push(b'\n');
        }
    }
    consumed
}

/// The byte offset in `data` where the last `n` lines start (records ending in `\n`),
/// counting CRI records as upstream's tail does.
fn tail_offset(data: &[u8], n: i64) -> usize {
    if n <= 0 {
        return data.len();
    }
    let mut count = 0i64;
    // Skip a trailing newline so the last line is counted once.
    let end = if data.ends_with(b"\n") {
        data.len() - 1
    } else {
        data.len()
    };
    for i in (0..end).rev() {
        if data[i] == b'\n' {
            count += 1;
            if count == n {
                return i + 1;
            }
        }
    }
    0
}

/// Decides whether a followed log has ended: called when the file has no new data.
pub type StillRunning = Box<dyn Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync>;

/// Streams the log of `file` into `tx` as the options ask. With `follow`, keeps reading
/// new data until `still_running` says the container has exited and nothing more was
/// written, or the receiver goes away. Handles the file being replaced (rotation) by
/// reopening it.
pub async fn stream_log(
    file: PathBuf,
    opts: LogOptions,
    still_running: StillRunning,
    tx: mpsc::Sender<Bytes>,
) -> Result<(), LogError> {
    let io = |source| LogError::Io {
        path: file.clone(),
        source,
    };
    let mut f = tokio::fs::File::open(&file).await.map_err(io)?;
    let mut data = Vec::new();
    f.read_to_end(&mut data).await.map_err(io)?;
    let mut offset = data.len() as u64;
    let start = opts.tail_lines.map(|n| tail_offset(&data, n)).unwrap_or(0);
    let mut budget = opts.limit_bytes.map(|l| l as usize);
    let mut out = Vec::new();
    let consumed = format_records(&data[start..], &opts, &mut out);
    let mut pending: Vec<u8> = data[start + consumed..].to_vec();
    if !send_limited(&tx, out, &mut budget).await {
        return Ok(());
    }
    if !opts.follow {
        return Ok(());
    }
    let mut idle_checks = 0u32;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).await.map_err(io)?;
        if n > 0 {
            idle_checks = 0;
            offset += n as u64;
            pending.extend_from_slice(&buf[..n]);
            let mut out = Vec::new();
            let consumed = format_records(&pending, &opts, &mut out);
            pending.drain(..consumed);
            if !send_limited(&tx, out, &mut budget).await {
                return Ok(());
            }
            continue;
        }
        if tx.is_closed() {
            return Ok(());
        }
        // No new data: the file may have been rotated (a new file at the path), or
        // truncated.
        if let Ok(meta) = tokio::fs::metadata(&file).await {
            let cur = f.metadata().await.map_err(io)?;
            use std::os::unix::fs::MetadataExt;
            if meta.ino() != cur.ino() || meta.len() < offset {
                if meta.ino() != cur.ino() {
                    // Rotated (`logs::ContainerLogManager` renamed the file and the
                    // runtime reopened it): the runtime may have written to the old file
                    // between our last read and the reopen, so finish it first.
                    let n = f.read(&mut buf).await.map_err(io)?;
                    if n > 0 {
                        offset += n as u64;
                        pending.extend_from_slice(&buf[..n]);
                        let mut out = Vec::new();
                        let consumed = format_records(&pending, &opts, &mut out);
                        pending.drain(..consumed);
                        if !send_limited(&tx, out, &mut budget).await {
                            return Ok(());
                        }
                        continue;
                    }
                }
                f = tokio::fs::File::open(&file).await.map_err(io)?;
                pending.clear();
                offset = 0;
                continue;
            }
        }
        // Ask the runtime about once a second whether the container still runs; upstream
        // also ends a follow when the container has exited.
        idle_checks += 1;
        if idle_checks.is_multiple_of(10) && !still_running().await {
            // One last read for data written just before the exit.
            let n = f.read(&mut buf).await.map_err(io)?;
            if n == 0 {
                return Ok(());
            }
            offset += n as u64;
            pending.extend_from_slice(&buf[..n]);
            let mut out = Vec::new();
            let consumed = format_records(&pending, &opts, &mut out);
            pending.drain(..consumed);
            if !send_limited(&tx, out, &mut budget).await {
                return Ok(());
            }
            continue;
        }
        // The log file has no change notification here (no inotify dependency); a short
        // poll keeps `logs -f` responsive.
        tokio::time::sleep(Duration::from_millis(100)).await;
        f.seek(std::io::SeekFrom::Start(offset)).await.map_err(io)?;
    }
}

/// Sends `out` within the byte budget; false when the stream should end.
async fn send_limited(
    tx: &mpsc::Sender<Bytes>,
    mut out: Vec<u8>,
    budget: &mut Option<usize>,
) -> bool {
    if let Some(b) = budget {
        if out.len() >= *b {
            out.truncate(*b);
            if !out.is_empty() {
                let _ = tx.send(Bytes::from(out)).await;
            }
            return false;
        }
        *b -= out.len();
    }
    if out.is_empty() {
        return true;
    }
    tx.send(Bytes::from(out)).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cri_lines() {
        type Case<'a> = (&'a [u8], Option<(LogStream, bool, &'a [u8])>);
        let cases: &[Case] = &[
            (
                b"2016-10-06T00:17:09.669794202Z stdout F hello world",
                Some((LogStream::Stdout, true, b"hello world")),
            ),
            (
                b"2016-10-06T00:17:09.669794203Z stderr P part",
                Some((LogStream::Stderr, false, b"part")),
            ),
            (
                b"2016-10-06T00:17:09.669794203Z stdout F ",
                Some((LogStream::Stdout, true, b"")),
            ),
            // No tag: old format, treated as a full line.
            (
                b"2016-10-06T00:17:09Z stdout legacy",
                Some((LogStream::Stdout, true, b"legacy")),
            ),
            (b"not-a-time stdout F x", None),
            (b"2016-10-06T00:17:09Z stdin F x", None),
            (b"", None),
        ];
        for (line, want) in cases {
            let got = parse_cri_line(line).map(|r| (r.stream, r.full, r.message));
            assert_eq!(&got, want, "line {:?}", String::from_utf8_lossy(line));
        }
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn parses_options() {
        let now = DateTime::parse_from_rfc3339("2024-01-01T00:01:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let o = LogOptions::from_query(
            &q(&[
                ("follow", "true"),
                ("tailLines", "3"),
                ("sinceSeconds", "60"),
                ("timestamps", "1"),
                ("previous", "false"),
                ("limitBytes", "10"),
            ]),
            now,
        )
        .unwrap();
        assert!(o.follow && o.timestamps && !o.previous);
        assert_eq!(o.tail_lines, Some(3));
        assert_eq!(o.limit_bytes, Some(10));
        assert_eq!(
            o.since.unwrap().to_rfc3339(),
            "2024-01-01T00:00:00+00:00".to_string()
        );
        let bad: &[&[(&str, &str)]] = &[
            &[("follow", "yes")],
            &[("tailLines", "-1")],
            &[("limitBytes", "0")],
            &[("sinceSeconds", "0")],
            &[("sinceSeconds", "1"), ("sinceTime", "2024-01-01T00:00:00Z")],
            &[("sinceTime", "yesterday")],
        ];
        for b in bad {
            assert!(
                matches!(
                    LogOptions::from_query(&q(b), now),
                    Err(LogError::BadRequest(_))
                ),
                "{b:?}"
            );
        }
    }

    const LOG: &str = "2024-01-01T00:00:01.5Z stdout F one\n\
2024-01-01T00:00:02Z stderr F two\n\
2024-01-01T00:00:03Z stdout P thr\n\
2024-01-01T00:00:03.1Z stdout F ee\n\
2024-01-01T00:00:04Z stdout F four\n";

    async fn read_all(opts: LogOptions, content: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, content).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        stream_log(path, opts, Box::new(|| Box::pin(async { false })), tx)
            .await
            .unwrap();
        let mut out = Vec::new();
        while let Some(b) = rx.recv().await {
            out.extend_from_slice(&b);
        }
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn reads_with_options() {
        let ts = |s: &str| Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc));
        let cases: Vec<(LogOptions, &str)> = vec![
            (LogOptions::default(), "one\ntwo\nthree\nfour\n"),
            (
                LogOptions {
                    tail_lines: Some(2),
                    ..Default::default()
                },
                // Tail counts records: the last two are the end of "three" and "four".
                "ee\nfour\n",
            ),
            (
                LogOptions {
                    tail_lines: Some(0),
                    ..Default::default()
                },
                "",
            ),
            (
                LogOptions {
                    tail_lines: Some(100),
                    ..Default::default()
                },
                "one\ntwo\nthree\nfour\n",
            ),
            (
                LogOptions {
                    since: ts("2024-01-01T00:00:02Z"),
                    ..Default::default()
                },
                "two\nthree\nfour\n",
            ),
            (
                LogOptions {
                    timestamps: true,
                    tail_lines: Some(1),
                    ..Default::default()
                },
                "2024-01-01T00:00:04Z four\n",
            ),
            (
                LogOptions {
                    limit_bytes: Some(6),
                    ..Default::default()
                },
                "one\ntw",
            ),
        ];
        for (opts, want) in cases {
            assert_eq!(read_all(opts.clone(), LOG).await, want, "{opts:?}");
        }
    }

    #[tokio::test]
    async fn follow_sees_appended_lines_and_ends_when_container_exits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, "2024-01-01T00:00:01Z stdout F first\n").unwrap();
        let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let r = running.clone();
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(stream_log(
            path.clone(),
            LogOptions {
                follow: true,
                ..Default::default()
            },
            Box::new(move || {
                let r = r.clone();
                Box::pin(async move { r.load(std::sync::atomic::Ordering::SeqCst) })
            }),
            tx,
        ));
        assert_eq!(&rx.recv().await.unwrap()[..], b"first\n");
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(b"2024-01-01T00:00:02Z stdout F second\n")
                .unwrap();
        }
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&got[..], b"second\n");
        running.store(false, std::sync::atomic::Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("follow ends after the container exits")
            .unwrap()
            .unwrap();
    }

    async fn recv_until(rx: &mut mpsc::Receiver<Bytes>, got: &mut String, want: &str) {
        while !got.ends_with(want) {
            let b = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .unwrap_or_else(|_| panic!("waiting for {want:?}, got {got:?}"))
                .unwrap();
            got.push_str(std::str::from_utf8(&b).unwrap());
        }
    }

    #[tokio::test]
    async fn follow_continues_across_rotation() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, "2024-01-01T00:00:01Z stdout F one\n").unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(stream_log(
            path.clone(),
            LogOptions {
                follow: true,
                ..Default::default()
            },
            Box::new(|| Box::pin(async { true })),
            tx,
        ));
        let mut got = String::new();
        recv_until(&mut rx, &mut got, "one\n").await;
        // As the log manager does: rename, a late write to the renamed file by the
        // runtime, then the runtime's new file.
        let rotated = dir.path().join("0.log.20240101-000001");
        std::fs::rename(&path, &rotated).unwrap();
        let mut old = std::fs::OpenOptions::new()
            .append(true)
            .open(&rotated)
            .unwrap();
        old.write_all(b"2024-01-01T00:00:02Z stdout F two\n")
            .unwrap();
        std::fs::write(&path, "2024-01-01T00:00:03Z stdout F three\n").unwrap();
        recv_until(&mut rx, &mut got, "three\n").await;
        assert_eq!(got, "one\ntwo\nthree\n");
        task.abort();
    }

    #[test]
    fn lists_log_files_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "0.log",
            "1.log",
            "10.log",
            "2.log",
            "1.log.20240101-000000",
            "x.log",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let names: Vec<String> = log_files(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["10.log", "2.log", "1.log", "0.log"]);
    }
}
