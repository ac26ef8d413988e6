//! A container's CRI mounts, the managed `/etc/hosts` file, and termination messages.
//!
//! Mirrors upstream `kubelet_pods.go` `makeMounts` (volumeMounts with readOnly forced by
//! read-only plugins, subPath/subPathExpr validated, created and kept inside the volume,
//! `translateMountPropagation`, the `/etc/hosts` mount unless the container mounts its own)
//! and `kuberuntime_container.go` (the termination-log file
//! `<pod dir>/containers/<name>/<8 hex>` mounted at `terminationMessagePath`;
//! `getTerminationMessage` reads at most its last 4096 bytes, and with
//! `FallbackToLogsOnError` and a non-zero exit the last 80 log lines, at most 2048 bytes).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k8s_cri::v1::{Mount, MountPropagation};
use k8s_openapi::api::core::v1::{Container, Pod};

use super::PodVolumes;
use crate::container::expansion;

/// Upstream `MaxContainerTerminationMessageLength`.
pub const MAX_TERMINATION_MESSAGE_LENGTH: u64 = 4096;
/// Upstream `MaxContainerTerminationMessageLogLength`.
pub const MAX_TERMINATION_MESSAGE_LOG_LENGTH: usize = 2048;
/// Upstream `MaxContainerTerminationMessageLogLines`.
pub const MAX_TERMINATION_MESSAGE_LOG_LINES: usize = 80;
/// The API default of `terminationMessagePath`.
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

/// Why a container's mounts could not be made (upstream messages).
#[derive(Debug, thiserror::Error)]
pub enum MountsError {
    /// A volumeMount names a volume the pod does not have (or that is not set up).
    #[error("cannot find volume {volume:?} to mount into container {container:?}")]
    VolumeNotFound {
        /// The volume.
        volume: String,
        /// The container.
        container: String,
    },
    /// subPathExpr referenced variables without a value.
    #[error("missing value for {0}")]
    MissingSubPathValue(String),
    /// An absolute subPath.
    #[error("error SubPath `{0}` must not be an absolute path")]
    AbsoluteSubPath(String),
    /// A subPath with `..`.
    #[error("unable to provision SubPath `{0}`: must not contain '..'")]
    SubPathBacksteps(String),
    /// The subPath resolves outside the volume (through a symlink).
    #[error("subpath {0:?} not within volume path {1:?}")]
    SubPathOutsideVolume(String, String),
    /// Creating the subPath directory failed.
    #[error(
        "failed to create subPath directory for volumeMount {mount:?} of container {container:?}"
    )]
    SubPathCreate {
        /// The volumeMount's name.
        mount: String,
        /// The container.
        container: String,
    },
    /// An unknown mountPropagation.
    #[error("invalid MountPropagation mode: {0:?}")]
    Propagation(String),
    /// Filesystem error.
    #[error("{0}")]
    Io(String),
}

/// A container's mounts and where its termination log lives on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerMounts {
    /// CRI mounts, in upstream's order: volumeMounts, /etc/hosts, termination log.
    pub mounts: Vec<Mount>,
    /// Host path of the termination-log file, for [`termination_message`].
    pub termination_log: Option<PathBuf>,
}

/// Writes the managed hosts file to `<pod dir>/etc-hosts` (mode 0644) and returns its
/// path. Content comes from [`crate::container::dns::hosts_file_content`].
pub fn write_hosts_file(pod_dir: &Path, content: &str) -> io::Result<PathBuf> {
    fs::create_dir_all(pod_dir)?;
    let path = pod_dir.join("etc-hosts");
    fs::write(&path, content)?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
    Ok(path)
}

/// Upstream `translateMountPropagation`.
pub fn propagation(mode: Option<&str>) -> Result<MountPropagation, MountsError> {
    match mode {
        None | Some("None") => Ok(MountPropagation::PropagationPrivate),
        Some("HostToContainer") => Ok(MountPropagation::PropagationHostToContainer),
        Some("Bidirectional") => Ok(MountPropagation::PropagationBidirectional),
        Some(other) => Err(MountsError::Propagation(other.to_string())),
    }
}

/// Upstream `ExpandContainerVolumeMounts`: every referenced variable must have a
/// non-empty value.
pub fn expand_sub_path_expr(
    expr: &str,
    env: &HashMap<String, String>,
) -> Result<String, MountsError> {
    let mut missing = std::collections::BTreeSet::new();
    let out = expansion::expand(expr, |k| match env.get(k) {
        Some(v) if !v.is_empty() => v.clone(),
        _ => {
            missing.insert(k.to_string());
            String::new()
        }
    });
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(MountsError::MissingSubPathValue(
            missing.into_iter().collect::<Vec<_>>().join(", "),
        ))
    }
}

/// The CRI mounts of `container`. `pod_dir` is `<root-dir>/pods/<uid>`; `env` is the
/// container's resolved environment (for subPathExpr); `etc_hosts` is the managed hosts
/// file, passed only when the pod has IPs (upstream mounts it only then).
pub fn container_mounts(
    pod: &Pod,
    container: &Container,
    pod_dir: &Path,
    volumes: &PodVolumes,
    env: &HashMap<String, String>,
    etc_hosts: Option<&Path>,
) -> Result<ContainerMounts, MountsError> {
    let _ = pod;
    let mut mounts = Vec::new();
    let mut has_etc_hosts = false;
    for vm in container.volume_mounts.iter().flatten() {
        let vol = volumes
            .get(&vm.name)
            .ok_or_else(|| MountsError::VolumeNotFound {
                volume: vm.name.clone(),
                container: container.name.clone(),
            })?;
        let mut host_path = vol.host_path.clone();
        let sub_path = match (vm.sub_path.as_deref(), vm.sub_path_expr.as_deref()) {
            (Some(s), _) if !s.is_empty() => s.to_string(),
            (_, Some(e)) if !e.is_empty() => expand_sub_path_expr(e, env)?,
            _ => String::new(),
        };
        if !sub_path.is_empty() {
            if Path::new(&sub_path).is_absolute() {
                return Err(MountsError::AbsoluteSubPath(sub_path));
            }
            if sub_path.split('/').any(|e| e == "..") {
                return Err(MountsError::SubPathBacksteps(sub_path));
            }
            let volume_path = host_path.clone();
            let full = volume_path.join(&sub_path);
            if fs::symlink_metadata(&full).is_err() {
                // Created now so it gets the volume's mode rather than root's 0755 when
                // the runtime creates it later.
                let mode = fs::metadata(&volume_path)
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(0o755);
                let created = fs::create_dir_all(&full)
                    .and_then(|_| fs::set_permissions(&full, fs::Permissions::from_mode(mode)));
                if created.is_err() {
                    return Err(MountsError::SubPathCreate {
                        mount: vm.name.clone(),
                        container: container.name.clone(),
                    });
                }
            }
            // Resolve symlinks and keep the result inside the volume (upstream
            // PrepareSafeSubpath bind-mounts the resolved path for the same reason).
            let vol_canon = volume_path
                .canonicalize()
                .map_err(|e| MountsError::Io(format!("{}: {e}", volume_path.display())))?;
            let canon = full
                .canonicalize()
                .map_err(|e| MountsError::Io(format!("{}: {e}", full.display())))?;
            if !canon.starts_with(&vol_canon) {
                return Err(MountsError::SubPathOutsideVolume(
                    full.display().to_string(),
                    volume_path.display().to_string(),
                ));
            }
            host_path = canon;
        }
        if vm.mount_path == "/etc/hosts" {
            has_etc_hosts = true;
        }
        mounts.push(Mount {
            container_path: vm.mount_path.clone(),
            host_path: host_path.display().to_string(),
            readonly: vm.read_only.unwrap_or(false) || vol.read_only,
            selinux_relabel: false,
            propagation: propagation(vm.mount_propagation.as_deref())? as i32,
            ..Default::default()
        });
    }
    if let Some(hosts) = etc_hosts.filter(|_| !has_etc_hosts) {
        mounts.push(Mount {
            container_path: "/etc/hosts".into(),
            host_path: hosts.display().to_string(),
            readonly: false,
            selinux_relabel: true,
            ..Default::default()
        });
    }
    let mut termination_log = None;
    let tmp = container
        .termination_message_path
        .clone()
        .unwrap_or_else(|| DEFAULT_TERMINATION_MESSAGE_PATH.to_string());
    if !tmp.is_empty() {
        let dir = pod_dir.join("containers").join(&container.name);
        let file = dir.join(format!("{:08x}", rand::random::<u32>()));
        let io = |e: io::Error| {
            MountsError::Io(format!("create termination log {}: {e}", file.display()))
        };
        fs::create_dir_all(&dir).map_err(io)?;
        fs::File::create(&file).map_err(io)?;
        // World-writable so a non-root container user can write its message.
        fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).map_err(io)?;
        mounts.push(Mount {
            container_path: tmp,
            host_path: file.display().to_string(),
            selinux_relabel: true,
            ..Default::default()
        });
        termination_log = Some(file);
    }
    Ok(ContainerMounts {
        mounts,
        termination_log,
    })
}

/// The message of a terminated container: the termination-log file's last 4096 bytes, or
/// with `policy == "FallbackToLogsOnError"`, a non-zero exit code and an empty file, the
/// tail of its CRI log (last 80 lines, at most the last 2048 bytes).
pub fn termination_message(
    termination_log: Option<&Path>,
    policy: Option<&str>,
    exit_code: i32,
    container_log: Option<&Path>,
) -> String {
    let fallback = policy == Some("FallbackToLogsOnError") && exit_code != 0;
    if let Some(path) = termination_log {
        match read_last_bytes(path, MAX_TERMINATION_MESSAGE_LENGTH) {
            Ok(data) if !data.is_empty() => return String::from_utf8_lossy(&data).into_owned(),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return format!("Error on reading termination log {}: {e}", path.display()),
        }
    }
    if !fallback {
        return String::new();
    }
    let Some(log) = container_log else {
        return String::new();
    };
    // Only the end of the log is read (upstream readLastStringFromContainerLogs tails
    // it): 80 lines of at most 2 KiB of text fit well inside 64 KiB of CRI records.
    const TAIL_BYTES: u64 = 64 * 1024;
    match read_last_bytes(log, TAIL_BYTES) {
        Ok(data) => {
            let mut content = String::from_utf8_lossy(&data).into_owned();
            if fs::metadata(log).is_ok_and(|m| m.len() > TAIL_BYTES) {
                // The read began mid-record: drop the partial first line.
                let cut = content.find('\n').map_or(content.len(), |i| i + 1);
                content.drain(..cut);
            }
            let text = cri_log_tail(&content, MAX_TERMINATION_MESSAGE_LOG_LINES);
            let bytes = text.as_bytes();
            let start = bytes
                .len()
                .saturating_sub(MAX_TERMINATION_MESSAGE_LOG_LENGTH);
            String::from_utf8_lossy(&bytes[start..]).into_owned()
        }
        Err(e) => format!("Error on reading termination message from logs: {e}"),
    }
}

fn read_last_bytes(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut f = fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len > max {
        f.seek(SeekFrom::Start(len - max))?;
    }
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The content of the last `lines` lines of a CRI-format log
/// (`<RFC3339Nano> <stream> <P|F> <content>`); partial (`P`) records are joined.
pub fn cri_log_tail(content: &str, lines: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut partial = String::new();
    for rec in content.lines() {
        let mut parts = rec.splitn(4, ' ');
        let (_ts, _stream, tag) = (parts.next(), parts.next(), parts.next().unwrap_or("F"));
        let msg = parts.next().unwrap_or("");
        partial.push_str(msg);
        if !tag.split(':').any(|t| t == "P") {
            out.push(std::mem::take(&mut partial));
        }
    }
    if !partial.is_empty() {
        out.push(partial);
    }
    let start = out.len().saturating_sub(lines);
    out[start..].iter().map(|l| format!("{l}\n")).collect()
}
