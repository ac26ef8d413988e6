//! logs: container log rotation, as upstream's `ContainerLogManager`
//! (pkg/kubelet/logs/container_log_manager.go).
//!
//! Every `containerLogMonitorInterval` the manager lists the runtime's containers and, for
//! each running one, with at most `containerLogMaxWorkers` at a time:
//! 1. asks CRI ContainerStatus for its log path; a missing log file (the kubelet stopped
//!    between a rename and the reopen) makes it call ReopenContainerLog first;
//! 2. when the file is at least `containerLogMaxSize` bytes, rotates it:
//!    - rotated files are `<log>.<timestamp>` (Go layout `20060102-150405`, local time),
//!      `<log>.<timestamp>.gz` when compressed;
//!    - leftovers of an interrupted rotation are removed (`*.tmp`, and an uncompressed file
//!      whose `.gz` exists);
//!    - the oldest rotated files are removed so that at most `containerLogMaxFiles - 2`
//!      remain (room for the file rotated now and the runtime's new file);
//!    - the remaining uncompressed rotated files are gzipped (through `<name>.tmp`, renamed
//!      to `<name>.gz`);
//!    - the current log is renamed to `<log>.<timestamp>` and left uncompressed (the runtime
//!      may still write to it until it reopens, and readers may be finishing it), then CRI
//!      ReopenContainerLog makes the runtime create a new file; if that fails the file is
//!      renamed back so the next round retries.
//!
//! A negative `containerLogMaxSize` disables rotation, as upstream's stub manager.
//! The log reader (`server::logs`) reads the current file only, as upstream's
//! `kubectl logs` does; `follow` drains the renamed file and continues in the new one.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local};
use futures::StreamExt;
use k8s_cri::v1::{ContainerFilter, ContainerState};

use crate::runtime::{Runtime, RuntimeError};

/// Go layout `20060102-150405` of upstream's rotated-log suffix, in chrono's syntax.
pub const TIMESTAMP_FORMAT: &str = "%Y%m%d-%H%M%S";
/// Suffix of compressed rotated logs.
pub const COMPRESS_SUFFIX: &str = ".gz";
/// Suffix of a compression in progress.
pub const TMP_SUFFIX: &str = ".tmp";

/// Errors of log rotation.
#[derive(Debug, thiserror::Error)]
pub enum LogRotationError {
    /// containerLogMaxFiles is too small
    #[error("invalid MaxFiles {0}, must be > 1")]
    MaxFiles(u32),
    /// containerLogMaxSize is not a quantity
    #[error("failed to parse container log max size {0:?}")]
    MaxSize(String),
    /// a runtime call failed
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// a file operation failed
    #[error("{what} {path:?}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// the blocking file work panicked or was cancelled
    #[error("log rotation task failed: {0}")]
    Task(String),
}

/// How big a log may grow and how many files a container keeps (upstream
/// `LogRotatePolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRotatePolicy {
    /// Rotate once the current file has at least this many bytes.
    pub max_size: u64,
    /// Files kept per container, the current one included.
    pub max_files: usize,
}

/// The wall clock used for rotated-file timestamps (a fixed one in tests).
pub type Now = Arc<dyn Fn() -> DateTime<Local> + Send + Sync>;

/// Rotates the logs of the runtime's running containers.
pub struct ContainerLogManager {
    runtime: Arc<dyn Runtime>,
    policy: LogRotatePolicy,
    max_workers: usize,
    interval: Duration,
    now: Now,
    // One rotation pass at a time, as upstream's mutex around rotateLogs.
    pass: tokio::sync::Mutex<()>,
}

impl ContainerLogManager {
    /// A manager for `max_size` (a quantity such as `10Mi`; negative disables rotation:
    /// then `Ok(None)`) and `max_files` (> 1).
    pub fn new(
        runtime: Arc<dyn Runtime>,
        max_size: &str,
        max_files: u32,
        max_workers: u32,
        interval: Duration,
    ) -> Result<Option<ContainerLogManager>, LogRotationError> {
        if max_files <= 1 {
            return Err(LogRotationError::MaxFiles(max_files));
        }
        if max_size.trim_start().starts_with('-') {
            return Ok(None);
        }
        let max_size = crate::options::parse_bytes(max_size)
            .map_err(|_| LogRotationError::MaxSize(max_size.to_string()))?;
        Ok(Some(ContainerLogManager {
            runtime,
            policy: LogRotatePolicy {
                max_size,
                max_files: max_files as usize,
            },
            max_workers: max_workers.max(1) as usize,
            interval,
            now: Arc::new(Local::now),
            pass: tokio::sync::Mutex::new(()),
        }))
    }

    /// Replaces the clock used for rotated-file names.
    pub fn with_clock(mut self, now: Now) -> Self {
        self.now = now;
        self
    }

    /// The policy in force.
    pub fn policy(&self) -> LogRotatePolicy {
        self.policy
    }

    /// Runs a rotation pass every interval until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        tracing::info!(
            workers = self.max_workers,
            monitor_period = ?self.interval,
            "initializing container log rotate workers"
        );
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
            if let Err(e) = self.rotate_logs().await {
                tracing::error!(error = %e, "failed to rotate container logs");
            }
        }
    }

    /// One pass: every running container's log is checked and rotated when too big.
    /// Failures of single containers are logged and do not stop the pass (upstream's
    /// workers log and move on).
    pub async fn rotate_logs(&self) -> Result<(), LogRotationError> {
        let _pass = self.pass.lock().await;
        let containers = self
            .runtime
            .list_containers(Some(ContainerFilter::default()))
            .await?;
        let running: Vec<String> = containers
            .into_iter()
            // Only running containers write; rotating a stopped one would leave an empty
            // current log (upstream's reasoning).
            .filter(|c| c.state == ContainerState::ContainerRunning as i32)
            .map(|c| c.id)
            .collect();
        futures::stream::iter(running)
            .for_each_concurrent(self.max_workers, |id| async move {
                if let Err(e) = self.process_container(&id).await {
                    tracing::error!(container_id = %id, error = %e, "failed to rotate log for container");
                }
            })
            .await;
        Ok(())
    }

    /// Checks one container and rotates its log when it is too big; returns whether it
    /// rotated.
    pub async fn process_container(&self, id: &str) -> Result<bool, LogRotationError> {
        let status = self.runtime.container_status(id).await?;
        if status.log_path.is_empty() {
            return Ok(false);
        }
        let path = PathBuf::from(&status.log_path);
        let size = match tokio::fs::metadata(&path).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // The kubelet may have stopped between the rename and the reopen.
                self.runtime.reopen_container_log(id).await?;
                tokio::fs::metadata(&path)
                    .await
                    .map_err(|source| LogRotationError::Io {
                        what: "stat after reopen",
                        path: path.clone(),
                        source,
                    })?
                    .len()
            }
            Err(source) => {
                return Err(LogRotationError::Io {
                    what: "stat",
                    path,
                    source,
                })
            }
        };
        if size < self.policy.max_size {
            return Ok(false);
        }
        self.rotate_log(id, &path).await?;
        Ok(true)
    }

    /// Rotates `log` of container `id` (see the module docs for the steps).
    pub async fn rotate_log(&self, id: &str, log: &Path) -> Result<(), LogRotationError> {
        let policy = self.policy;
        let owned = log.to_path_buf();
        tokio::task::spawn_blocking(move || prepare_rotated_logs(&owned, policy))
            .await
            .map_err(|e| LogRotationError::Task(e.to_string()))??;
        let rotated = rotated_name(log, &(self.now)());
        std::fs::rename(log, &rotated).map_err(|source| LogRotationError::Io {
            what: "rotate log",
            path: log.to_path_buf(),
            source,
        })?;
        if let Err(e) = self.runtime.reopen_container_log(id).await {
            // Rename it back so that the next round tries again.
            if let Err(re) = std::fs::rename(&rotated, log) {
                tracing::error!(error = %re, rotated = ?rotated, log = ?log, "failed to rename rotated log");
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Removes every log file of container `id`, rotated ones included (upstream `Clean`).
    pub async fn clean(&self, id: &str) -> Result<(), LogRotationError> {
        let _pass = self.pass.lock().await;
        let status = self.runtime.container_status(id).await?;
        if status.log_path.is_empty() {
            return Ok(());
        }
        let log = PathBuf::from(status.log_path);
        let mut all = rotated_logs(&log)?;
        all.push(log);
        for f in all {
            match std::fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(LogRotationError::Io {
                        what: "remove log",
                        path: f,
                        source,
                    })
                }
            }
        }
        Ok(())
    }
}

/// `<log>.<timestamp>`.
pub fn rotated_name(log: &Path, now: &DateTime<Local>) -> PathBuf {
    let mut s = log.as_os_str().to_owned();
    s.push(".");
    s.push(now.format(TIMESTAMP_FORMAT).to_string());
    PathBuf::from(s)
}

/// The files matching `<log>.*` (upstream's glob), unsorted.
pub fn rotated_logs(log: &Path) -> Result<Vec<PathBuf>, LogRotationError> {
    let (Some(dir), Some(name)) = (log.parent(), log.file_name().and_then(|n| n.to_str())) else {
        return Ok(vec![]);
    };
    let prefix = format!("{name}.");
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => {
            return Err(LogRotationError::Io {
                what: "list logs in",
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    Ok(entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .map(|e| e.path())
        .collect())
}

/// The logs of a container in use, oldest first, the current one last (upstream
/// `GetAllLogs`).
pub fn all_logs(log: &Path) -> Result<Vec<PathBuf>, LogRotationError> {
    let found = rotated_logs(log)?;
    let (mut inuse, _) = split_unused(&found);
    inuse.sort();
    inuse.push(log.to_path_buf());
    Ok(inuse)
}

/// Splits rotated logs into (in use, unused): temporary files, and uncompressed files
/// whose compressed copy exists (compression finished but the removal did not), are
/// unused.
fn split_unused(logs: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let names: std::collections::HashSet<&std::ffi::OsStr> =
        logs.iter().map(|p| p.as_os_str()).collect();
    logs.iter().cloned().partition(|l| {
        let s = l.to_string_lossy();
        if s.ends_with(TMP_SUFFIX) {
            return false;
        }
        if s.ends_with(COMPRESS_SUFFIX) {
            return true;
        }
        let mut gz = l.as_os_str().to_owned();
        gz.push(COMPRESS_SUFFIX);
        !names.contains(gz.as_os_str())
    })
}

fn remove(path: &Path, what: &'static str) -> Result<(), LogRotationError> {
    std::fs::remove_file(path).map_err(|source| LogRotationError::Io {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// The file work before the rename: cleanup of leftovers, removal of excess files and
/// compression of the older rotated files.
fn prepare_rotated_logs(log: &Path, policy: LogRotatePolicy) -> Result<(), LogRotationError> {
    let found = rotated_logs(log)?;
    let (mut inuse, unused) = split_unused(&found);
    for l in &unused {
        remove(l, "remove unused log")?;
    }
    // Oldest first: the timestamp suffix sorts by name. Remove from the oldest so an
    // ongoing read of a newer file is not broken.
    inuse.sort();
    let keep = policy.max_files.saturating_sub(2);
    let excess = inuse.len().saturating_sub(keep);
    for l in inuse.drain(..excess) {
        remove(&l, "remove old log")?;
    }
    for l in &inuse {
        if !l.to_string_lossy().ends_with(COMPRESS_SUFFIX) {
            compress_log(l)?;
        }
    }
    Ok(())
}

/// Gzips `log` to `<log>.gz` through `<log>.tmp`, keeping its mode, and removes `log`.
pub fn compress_log(log: &Path) -> Result<(), LogRotationError> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| LogRotationError::Io { what, path, source }
    };
    let mut tmp = log.as_os_str().to_owned();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    let mut gz = log.as_os_str().to_owned();
    gz.push(COMPRESS_SUFFIX);
    let gz = PathBuf::from(gz);
    let result = (|| {
        let mode = std::fs::metadata(log)
            .map_err(io("stat log file", log))?
            .permissions();
        let mut input = std::fs::File::open(log).map_err(io("open log", log))?;
        let out = std::fs::File::create(&tmp).map_err(io("create temporary log", &tmp))?;
        out.set_permissions(mode)
            .map_err(io("chmod temporary log", &tmp))?;
        let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = input.read(&mut buf).map_err(io("read log", log))?;
            if n == 0 {
                break;
            }
            enc.write_all(&buf[..n])
                .map_err(io("compress log to", &tmp))?;
        }
        enc.finish()
            .and_then(|f| f.sync_all())
            .map_err(io("compress log to", &tmp))?;
        std::fs::rename(&tmp, &gz).map_err(io("rename compressed log", &tmp))?;
        remove(log, "remove log after compress")
    })();
    // Best effort: the temporary file is gone after a successful rename anyway.
    let _ = std::fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;
    use chrono::TimeZone;
    use k8s_cri::v1::{ContainerConfig, ContainerMetadata, PodSandboxConfig, PodSandboxMetadata};

    async fn running_container(rt: &FakeRuntime, logs: &Path) -> String {
        let sandbox_config = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: "p".into(),
                uid: "u1".into(),
                namespace: "default".into(),
                attempt: 0,
            }),
            log_directory: logs.display().to_string(),
            ..Default::default()
        };
        let sb = rt
            .run_pod_sandbox(sandbox_config.clone(), "")
            .await
            .unwrap();
        let id = rt
            .create_container(
                &sb,
                ContainerConfig {
                    metadata: Some(ContainerMetadata {
                        name: "c".into(),
                        attempt: 0,
                    }),
                    log_path: "c/0.log".into(),
                    ..Default::default()
                },
                sandbox_config,
            )
            .await
            .unwrap();
        rt.start_container(&id).await.unwrap();
        id
    }

    fn manager(
        rt: Arc<FakeRuntime>,
        size: &str,
        files: u32,
        at: (u32, u32),
    ) -> ContainerLogManager {
        let now = Local
            .with_ymd_and_hms(2024, 5, 6, at.0, at.1, 7)
            .single()
            .unwrap();
        ContainerLogManager::new(rt, size, files, 1, Duration::from_secs(10))
            .unwrap()
            .unwrap()
            .with_clock(Arc::new(move || now))
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn gunzip(path: &Path) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn settings_are_validated_as_upstream() {
        let rt: Arc<dyn Runtime> = Arc::new(FakeRuntime::new());
        let new = |size: &str, files| {
            ContainerLogManager::new(rt.clone(), size, files, 1, Duration::from_secs(10))
        };
        assert_eq!(
            new("10Mi", 1).err().unwrap().to_string(),
            "invalid MaxFiles 1, must be > 1"
        );
        assert!(new("ten", 5).is_err());
        assert!(new("-1", 5).unwrap().is_none(), "negative disables");
        assert_eq!(
            new("10Mi", 5).unwrap().unwrap().policy(),
            LogRotatePolicy {
                max_size: 10 * 1024 * 1024,
                max_files: 5
            }
        );
    }

    #[test]
    fn rotated_names_use_upstream_timestamp_layout() {
        let t = Local
            .with_ymd_and_hms(2024, 1, 2, 3, 4, 5)
            .single()
            .unwrap();
        assert_eq!(
            rotated_name(Path::new("/l/c/0.log"), &t),
            PathBuf::from("/l/c/0.log.20240102-030405")
        );
    }

    #[tokio::test]
    async fn small_logs_are_left_alone_and_big_ones_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(FakeRuntime::new());
        let id = running_container(&rt, dir.path()).await;
        let cdir = dir.path().join("c");
        std::fs::create_dir_all(&cdir).unwrap();
        std::fs::write(cdir.join("0.log"), "x".repeat(10)).unwrap();
        let m = manager(rt.clone(), "100", 5, (10, 0));
        rt.clear_calls();
        m.rotate_logs().await.unwrap();
        assert_eq!(names(&cdir), vec!["0.log"]);
        assert!(!rt.ops().contains(&"ReopenContainerLog"));

        std::fs::write(cdir.join("0.log"), "y".repeat(100)).unwrap();
        m.rotate_logs().await.unwrap();
        assert_eq!(names(&cdir), vec!["0.log.20240506-100007"]);
        assert_eq!(
            rt.calls()
                .iter()
                .filter(|c| c.op == "ReopenContainerLog")
                .map(|c| c.arg.clone())
                .collect::<Vec<_>>(),
            vec![id]
        );
    }

    #[tokio::test]
    async fn old_files_are_compressed_and_excess_ones_removed() {
        // Table: (existing rotated files, max files) -> files after one rotation.
        let cases: Vec<(Vec<&str>, u32, Vec<&str>)> = vec![
            // The previous rotated file is compressed, the new one stays plain.
            (
                vec!["0.log.20240506-090000"],
                5,
                vec!["0.log", "0.log.20240506-090000.gz", "0.log.20240506-100007"],
            ),
            // MaxFiles 3: one older rotated file kept (compressed), the oldest removed.
            (
                vec!["0.log.20240506-080000.gz", "0.log.20240506-090000"],
                3,
                vec!["0.log", "0.log.20240506-090000.gz", "0.log.20240506-100007"],
            ),
            // MaxFiles 2: only the new rotated file and the current one.
            (
                vec!["0.log.20240506-080000.gz", "0.log.20240506-090000"],
                2,
                vec!["0.log", "0.log.20240506-100007"],
            ),
            // Leftovers of an interrupted compression are cleaned up.
            (
                vec![
                    "0.log.20240506-080000",
                    "0.log.20240506-080000.gz",
                    "0.log.20240506-090000.tmp",
                ],
                5,
                vec!["0.log", "0.log.20240506-080000.gz", "0.log.20240506-100007"],
            ),
        ];
        for (existing, max_files, want) in cases {
            let dir = tempfile::tempdir().unwrap();
            let rt = Arc::new(FakeRuntime::new());
            let id = running_container(&rt, dir.path()).await;
            let cdir = dir.path().join("c");
            std::fs::create_dir_all(&cdir).unwrap();
            for f in &existing {
                if f.ends_with(".gz") {
                    let mut enc = flate2::write::GzEncoder::new(
                        std::fs::File::create(cdir.join(f)).unwrap(),
                        flate2::Compression::default(),
                    );
                    enc.write_all(f.trim_end_matches(".gz").as_bytes()).unwrap();
                    enc.finish().unwrap();
                } else {
                    std::fs::write(cdir.join(f), f).unwrap();
                }
            }
            std::fs::write(cdir.join("0.log"), "current\n".repeat(20)).unwrap();
            let m = manager(rt.clone(), "100", max_files, (10, 0));
            assert!(m.process_container(&id).await.unwrap());
            // The fake runtime does not recreate the file on reopen; containerd does.
            std::fs::write(cdir.join("0.log"), "").unwrap();
            assert_eq!(names(&cdir), want, "from {existing:?}, max {max_files}");
            for f in want.iter().filter(|f| f.ends_with(".gz")) {
                let plain = f.trim_end_matches(".gz");
                assert_eq!(gunzip(&cdir.join(f)), plain, "content of {f}");
            }
            assert_eq!(
                std::fs::read_to_string(cdir.join("0.log.20240506-100007")).unwrap(),
                "current\n".repeat(20)
            );
        }
    }

    #[tokio::test]
    async fn a_failed_reopen_renames_the_log_back() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(FakeRuntime::new());
        let id = running_container(&rt, dir.path()).await;
        let cdir = dir.path().join("c");
        std::fs::create_dir_all(&cdir).unwrap();
        std::fs::write(cdir.join("0.log"), "z".repeat(200)).unwrap();
        let m = manager(rt.clone(), "100", 5, (10, 0));
        rt.fail_next("ReopenContainerLog", "boom");
        assert!(m.process_container(&id).await.is_err());
        assert_eq!(names(&cdir), vec!["0.log"]);
    }

    #[tokio::test]
    async fn a_missing_log_is_reopened_and_stopped_containers_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(FakeRuntime::new());
        let id = running_container(&rt, dir.path()).await;
        let m = manager(rt.clone(), "100", 5, (10, 0));
        rt.clear_calls();
        // No file: ReopenContainerLog is called, then the stat after it fails (the fake
        // does not create the file).
        assert!(m.process_container(&id).await.is_err());
        assert!(rt.ops().contains(&"ReopenContainerLog"));

        rt.exit_container(&id, 0, "Completed");
        rt.clear_calls();
        m.rotate_logs().await.unwrap();
        assert!(!rt.ops().contains(&"ContainerStatus"), "{:?}", rt.ops());
    }

    #[tokio::test]
    async fn clean_removes_every_log_file() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(FakeRuntime::new());
        let id = running_container(&rt, dir.path()).await;
        let cdir = dir.path().join("c");
        std::fs::create_dir_all(&cdir).unwrap();
        for f in [
            "0.log",
            "0.log.20240506-090000",
            "0.log.20240506-080000.gz",
            "1.log",
        ] {
            std::fs::write(cdir.join(f), "x").unwrap();
        }
        assert_eq!(
            all_logs(&cdir.join("0.log")).unwrap(),
            vec![
                cdir.join("0.log.20240506-080000.gz"),
                cdir.join("0.log.20240506-090000"),
                cdir.join("0.log")
            ]
        );
        let m = manager(rt.clone(), "100", 5, (10, 0));
        m.clean(&id).await.unwrap();
        assert_eq!(names(&cdir), vec!["1.log"]);
    }
}
