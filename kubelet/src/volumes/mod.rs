//! volumes: materialises a pod's volumes on the node and lists a container's CRI mounts.
//!
//! Layout (upstream's): `<root-dir>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>` with
//! plugins `empty-dir`, `configmap`, `secret`, `downward-api` and `projected`; hostPath
//! volumes point at the host path itself.
//!
//! Entry points for the pod workers:
//! - [`VolumeManager::setup_pod`]: creates every volume (idempotent); call it before
//!   starting containers and again on each pod sync — configMap, secret, downwardAPI and
//!   projected contents are rewritten through the [`atomic_writer::AtomicWriter`] only when
//!   they changed, so updates land atomically in running containers;
//! - [`mounts::container_mounts`]: the CRI mounts of one container (volumeMounts with
//!   readOnly, subPath/subPathExpr and mountPropagation; the managed /etc/hosts; the
//!   termination-log file);
//! - [`mounts::termination_message`]: the terminated container's message, with
//!   FallbackToLogsOnError;
//! - [`VolumeManager::teardown_pod`]: unmounts tmpfs volumes and removes the pod's
//!   directory.
//!
//! Mounts go through the [`mounter::Mounter`] trait (tmpfs for Memory emptyDirs and, as
//! upstream, for secret and projected volumes), so all of this runs unprivileged in tests
//! with [`mounter::FakeMounter`].

pub mod atomic_writer;
pub mod hostpath;
pub mod mounter;
pub mod mounts;
pub mod payload;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Volume};

use crate::container::env::{ObjectSource, PodRuntimeInfo};
use crate::container::resources::Amount;
use atomic_writer::{AtomicWriteError, AtomicWriter, Payload};
use mounter::{MountError, Mounter};
use payload::PayloadError;

/// Plugin directory names (upstream's escaped plugin names).
pub const EMPTY_DIR_PLUGIN: &str = "kubernetes.io~empty-dir";
/// See [`EMPTY_DIR_PLUGIN`].
pub const CONFIG_MAP_PLUGIN: &str = "kubernetes.io~configmap";
/// See [`EMPTY_DIR_PLUGIN`].
pub const SECRET_PLUGIN: &str = "kubernetes.io~secret";
/// See [`EMPTY_DIR_PLUGIN`].
pub const DOWNWARD_API_PLUGIN: &str = "kubernetes.io~downward-api";
/// See [`EMPTY_DIR_PLUGIN`].
pub const PROJECTED_PLUGIN: &str = "kubernetes.io~projected";

/// Why a volume could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// Setting up one volume failed; the message has upstream's event shape.
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {source}")]
    SetUp {
        /// The volume's name.
        volume: String,
        /// Why.
        source: PluginError,
    },
    /// Tearing down failed.
    #[error("UnmountVolume.TearDown failed for pod \"{pod_uid}\" : {source}")]
    TearDown {
        /// The pod's UID.
        pod_uid: String,
        /// Why.
        source: PluginError,
    },
}

/// A plugin-level failure.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// hostPath type check.
    #[error(transparent)]
    HostPath(#[from] hostpath::HostPathError),
    /// Building the content failed.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// Writing the content failed.
    #[error(transparent)]
    Write(#[from] AtomicWriteError),
    /// Mounting failed.
    #[error(transparent)]
    Mount(#[from] MountError),
    /// Filesystem error.
    #[error("{0}")]
    Io(String),
    /// A volume type this kubelet does not implement.
    #[error("volume type {0} is not supported by this kubelet")]
    Unsupported(String),
}

/// A volume ready to be mounted into containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountedVolume {
    /// Where it is on the host.
    pub host_path: PathBuf,
    /// The plugin forces read-only mounts (configMap, secret, downwardAPI, projected).
    pub read_only: bool,
}

/// The volumes of one pod by volume name.
pub type PodVolumes = BTreeMap<String, MountedVolume>;

/// Sets up and tears down pod volumes under the kubelet's root directory.
pub struct VolumeManager {
    root_dir: PathBuf,
    mounter: Arc<dyn Mounter>,
    objects: Arc<dyn ObjectSource>,
}

impl VolumeManager {
    /// A manager for `--root-dir`.
    pub fn new(
        root_dir: impl Into<PathBuf>,
        mounter: Arc<dyn Mounter>,
        objects: Arc<dyn ObjectSource>,
    ) -> Self {
        VolumeManager {
            root_dir: root_dir.into(),
            mounter,
            objects,
        }
    }

    /// `<root-dir>/pods/<uid>`.
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.root_dir.join("pods").join(uid)
    }

    /// `<root-dir>/pods/<uid>/volumes/<plugin>/<name>`.
    pub fn volume_dir(&self, uid: &str, plugin: &str, name: &str) -> PathBuf {
        self.pod_dir(uid).join("volumes").join(plugin).join(name)
    }

    /// Sets up (or refreshes) every volume of the pod. Call on each sync.
    pub async fn setup_pod(
        &self,
        pod: &Pod,
        info: &PodRuntimeInfo,
    ) -> Result<PodVolumes, VolumeError> {
        let mut out = PodVolumes::new();
        for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            let mv =
                self.setup_volume(pod, info, v)
                    .await
                    .map_err(|source| VolumeError::SetUp {
                        volume: v.name.clone(),
                        source,
                    })?;
            out.insert(v.name.clone(), mv);
        }
        Ok(out)
    }

    async fn setup_volume(
        &self,
        pod: &Pod,
        info: &PodRuntimeInfo,
        v: &Volume,
    ) -> Result<MountedVolume, PluginError> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let objects = self.objects.as_ref();
        if let Some(hp) = &v.host_path {
            let path = PathBuf::from(&hp.path);
            let t = hp.type_.clone();
            tokio::task::spawn_blocking(move || hostpath::check_type(&path, t.as_deref()))
                .await
                .map_err(|e| PluginError::Io(e.to_string()))??;
            return Ok(MountedVolume {
                host_path: PathBuf::from(&hp.path),
                read_only: false,
            });
        }
        if let Some(ed) = &v.empty_dir {
            let dir = self.volume_dir(&uid, EMPTY_DIR_PLUGIN, &v.name);
            match ed.medium.as_deref().unwrap_or("") {
                "" => {
                    self.make_dir(&dir, 0o777).await?;
                    own_empty_dir(&dir, fs_group(pod))?;
                }
                "Memory" => {
                    // Upstream (SizeMemoryBackedVolumes): sizeLimit, capped at and
                    // defaulting to the node's allocatable memory.
                    let limit = ed
                        .size_limit
                        .as_ref()
                        .and_then(|q| Amount::parse(&q.0).ok())
                        .map(|a| a.value())
                        .filter(|v| *v > 0);
                    let alloc = info.allocatable.memory_bytes;
                    let size = match limit {
                        Some(l) if alloc > 0 => Some(l.min(alloc)),
                        Some(l) => Some(l),
                        None => (alloc > 0).then_some(alloc),
                    };
                    self.make_tmpfs(&dir, size, 0o777).await?;
                    own_empty_dir(&dir, fs_group(pod))?;
                }
                other => {
                    return Err(PluginError::Unsupported(format!(
                        "emptyDir medium {other:?}"
                    )));
                }
            }
            return Ok(MountedVolume {
                host_path: dir,
                read_only: false,
            });
        }
        let (plugin, payload, tmpfs) = if let Some(cm) = &v.config_map {
            let p = payload::config_map_payload(
                objects,
                &ns,
                &cm.name,
                cm.items.as_ref(),
                cm.default_mode,
                cm.optional.unwrap_or(false),
            )
            .await?;
            (CONFIG_MAP_PLUGIN, p, false)
        } else if let Some(s) = &v.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            let p = payload::secret_payload(
                objects,
                &ns,
                &name,
                s.items.as_ref(),
                s.default_mode,
                s.optional.unwrap_or(false),
            )
            .await?;
            (SECRET_PLUGIN, p, true)
        } else if let Some(d) = &v.downward_api {
            let p = payload::downward_api_payload(pod, info, d.items.as_ref(), d.default_mode)?;
            (DOWNWARD_API_PLUGIN, p, false)
        } else if let Some(pr) = &v.projected {
            let p = payload::projected_payload(pod, info, objects, pr).await?;
            (PROJECTED_PLUGIN, p, true)
        } else {
            return Err(PluginError::Unsupported(volume_kind(v).to_string()));
        };
        let dir = self.volume_dir(&uid, plugin, &v.name);
        if tmpfs {
            // Upstream wraps secret and projected volumes in a Memory emptyDir so secrets
            // never touch the disk.
            let size = (info.allocatable.memory_bytes > 0).then_some(info.allocatable.memory_bytes);
            self.make_tmpfs(&dir, size, 0o755).await?;
        } else {
            self.make_dir(&dir, 0o755).await?;
        }
        write_payload(dir.clone(), payload, fs_group(pod)).await?;
        Ok(MountedVolume {
            host_path: dir,
            read_only: true,
        })
    }

    async fn make_dir(&self, dir: &Path, mode: u32) -> Result<(), PluginError> {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<(), PluginError> {
            if !dir.is_dir() {
                fs::create_dir_all(&dir)
                    .map_err(|e| PluginError::Io(format!("mkdir {}: {e}", dir.display())))?;
                fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
                    .map_err(|e| PluginError::Io(format!("chmod {}: {e}", dir.display())))?;
            }
            Ok(())
        })
        .await
        .map_err(|e| PluginError::Io(e.to_string()))?
    }

    async fn make_tmpfs(
        &self,
        dir: &Path,
        size: Option<i64>,
        mode: u32,
    ) -> Result<(), PluginError> {
        self.make_dir(dir, mode).await?;
        if !self.mounter.is_mount_point(dir)? {
            self.mounter.mount_tmpfs(dir, size)?;
            // The fresh tmpfs root gets the directory's mode back.
            let d = dir.to_path_buf();
            let _ = fs::set_permissions(&d, fs::Permissions::from_mode(mode));
        }
        Ok(())
    }

    /// Unmounts the pod's tmpfs volumes and removes `<root-dir>/pods/<uid>`. Mount points
    /// that fail to unmount stop the removal so nothing is deleted through a mount.
    pub async fn teardown_pod(&self, uid: &str) -> Result<(), VolumeError> {
        let pod_dir = self.pod_dir(uid);
        let err = |source: PluginError| VolumeError::TearDown {
            pod_uid: uid.to_string(),
            source,
        };
        let volumes = pod_dir.join("volumes");
        if let Ok(plugins) = fs::read_dir(&volumes) {
            for plugin in plugins.flatten() {
                for vol in fs::read_dir(plugin.path()).into_iter().flatten().flatten() {
                    let p = vol.path();
                    if self.mounter.is_mount_point(&p).map_err(|e| err(e.into()))? {
                        self.mounter.unmount(&p).map_err(|e| err(e.into()))?;
                    }
                }
            }
        }
        let d = pod_dir.clone();
        tokio::task::spawn_blocking(move || match fs::remove_dir_all(&d) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PluginError::Io(format!("remove {}: {e}", d.display()))),
        })
        .await
        .map_err(|e| err(PluginError::Io(e.to_string())))?
        .map_err(err)
    }
}

/// Upstream `SetVolumeOwnership` on a read-write emptyDir root: group fsGroup, mode
/// `0777 | setgid`, so files created inside inherit the group.
fn own_empty_dir(dir: &Path, gid: Option<u32>) -> Result<(), PluginError> {
    let Some(gid) = gid else { return Ok(()) };
    std::os::unix::fs::lchown(dir, None, Some(gid))
        .and_then(|_| fs::set_permissions(dir, fs::Permissions::from_mode(0o2777)))
        .map_err(|e| PluginError::Io(format!("chown {}: {e}", dir.display())))
}

/// The pod's `securityContext.fsGroup`.
fn fs_group(pod: &Pod) -> Option<u32> {
    pod.spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|sc| sc.fs_group)
        .and_then(|g| u32::try_from(g).ok())
}

async fn write_payload(
    dir: PathBuf,
    payload: Payload,
    fs_group: Option<u32>,
) -> Result<bool, PluginError> {
    tokio::task::spawn_blocking(move || {
        AtomicWriter::new(dir)
            .with_fs_group(fs_group)
            .write(&payload)
    })
    .await
    .map_err(|e| PluginError::Io(e.to_string()))?
    .map_err(PluginError::from)
}

/// The name of the volume source a volume uses, for the unsupported-type error.
fn volume_kind(v: &Volume) -> &'static str {
    macro_rules! kinds {
        ($($f:ident => $n:literal),*) => {$( if v.$f.is_some() { return $n; } )*};
    }
    kinds!(
        persistent_volume_claim => "persistentVolumeClaim",
        csi => "csi",
        ephemeral => "ephemeral",
        nfs => "nfs",
        iscsi => "iscsi",
        git_repo => "gitRepo",
        fc => "fc"
    );
    "unknown"
}

#[cfg(test)]
mod tests;
