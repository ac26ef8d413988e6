//! Mounter: the mount side effects of volumes (tmpfs for Memory emptyDirs, secret and
//! projected volumes), behind a trait so volume logic is tested without root.
//!
//! [`CommandMounter`] runs `mount`/`umount` (as upstream's `mount.Mounter` does) and reads
//! `/proc/self/mountinfo`; [`FakeMounter`] records calls.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use parking_lot::Mutex;

/// A mount operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MountError(pub String);

/// Mount operations volumes need.
pub trait Mounter: Send + Sync {
    /// Mounts a tmpfs at `target`, limited to `size_bytes` when given.
    fn mount_tmpfs(&self, target: &Path, size_bytes: Option<i64>) -> Result<(), MountError>;
    /// Unmounts `target`.
    fn unmount(&self, target: &Path) -> Result<(), MountError>;
    /// Whether `target` is a mount point.
    fn is_mount_point(&self, target: &Path) -> Result<bool, MountError>;
}

/// The real mounter: `mount -t tmpfs -o size=<n> tmpfs <target>`, `umount <target>`.
#[derive(Debug, Default, Clone)]
pub struct CommandMounter;

fn run(cmd: &mut Command) -> Result<(), MountError> {
    let out = cmd
        .output()
        .map_err(|e| MountError(format!("{cmd:?}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        // Upstream's message shape: "mount failed: exit status 32\nMounting command: ...".
        Err(MountError(format!(
            "mount failed: {}\nMounting command: {:?}\nOutput: {}",
            out.status,
            cmd,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Mounter for CommandMounter {
    fn mount_tmpfs(&self, target: &Path, size_bytes: Option<i64>) -> Result<(), MountError> {
        let mut cmd = Command::new("mount");
        cmd.arg("-t").arg("tmpfs");
        if let Some(size) = size_bytes.filter(|s| *s > 0) {
            cmd.arg("-o").arg(format!("size={size}"));
        }
        cmd.arg("tmpfs").arg(target);
        run(&mut cmd)
    }

    fn unmount(&self, target: &Path) -> Result<(), MountError> {
        run(Command::new("umount").arg(target))
    }

    fn is_mount_point(&self, target: &Path) -> Result<bool, MountError> {
        let info = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| MountError(format!("read /proc/self/mountinfo: {e}")))?;
        let target = target
            .canonicalize()
            .unwrap_or_else(|_| target.to_path_buf());
        Ok(mount_points(&info).iter().any(|m| m == &target))
    }
}

/// Mount points listed in mountinfo content (field 5, octal escapes decoded).
pub fn mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_octal(p)))
        .collect()
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A recorded mounter call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountCall {
    /// `mount_tmpfs(target, size)`.
    Tmpfs(PathBuf, Option<i64>),
    /// `unmount(target)`.
    Unmount(PathBuf),
}

/// A recording fake: tracks what is "mounted" without touching the system.
#[derive(Debug, Default)]
pub struct FakeMounter {
    calls: Mutex<Vec<MountCall>>,
    mounted: Mutex<BTreeSet<PathBuf>>,
}

impl FakeMounter {
    /// The calls made so far.
    pub fn calls(&self) -> Vec<MountCall> {
        self.calls.lock().clone()
    }
    /// The paths currently mounted.
    pub fn mounted(&self) -> BTreeSet<PathBuf> {
        self.mounted.lock().clone()
    }
}

impl Mounter for FakeMounter {
    fn mount_tmpfs(&self, target: &Path, size_bytes: Option<i64>) -> Result<(), MountError> {
        self.calls
            .lock()
            .push(MountCall::Tmpfs(target.to_path_buf(), size_bytes));
        self.mounted.lock().insert(target.to_path_buf());
        Ok(())
    }
    fn unmount(&self, target: &Path) -> Result<(), MountError> {
        self.calls
            .lock()
            .push(MountCall::Unmount(target.to_path_buf()));
        if self.mounted.lock().remove(target) {
            Ok(())
        } else {
            Err(MountError(format!(
                "umount: {}: not mounted.",
                target.display()
            )))
        }
    }
    fn is_mount_point(&self, target: &Path) -> Result<bool, MountError> {
        Ok(self.mounted.lock().contains(target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo() {
        let info = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                    40 22 0:35 / /var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/with\\040space rw - tmpfs tmpfs rw\n";
        assert_eq!(
            mount_points(info),
            vec![
                PathBuf::from("/"),
                PathBuf::from("/var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/with space")
            ]
        );
    }

    #[test]
    fn fake_records() {
        let m = FakeMounter::default();
        let p = Path::new("/x");
        m.mount_tmpfs(p, Some(10)).unwrap();
        assert!(m.is_mount_point(p).unwrap());
        m.unmount(p).unwrap();
        assert!(m.unmount(p).is_err());
        assert_eq!(m.calls().len(), 3);
    }
}
