//! AtomicWriter: writes a set of files into a volume directory so that a running container
//! sees either the old or the new set, never a mix.
//!
//! Mirrors upstream `pkg/volume/util/atomic_writer.go`: the payload goes into a fresh
//! timestamped directory `..<YYYY_MM_DD_HH_MM_SS>.<random>`, a `..data_tmp` symlink to it is
//! renamed over `..data` (rename is atomic), the user-visible top-level paths are symlinks
//! through `..data`, paths that left the payload are removed, and the old timestamped
//! directory is deleted. An unchanged payload writes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The symlink naming the current payload directory.
pub const DATA_DIR_NAME: &str = "..data";
/// The temporary symlink renamed over [`DATA_DIR_NAME`].
pub const NEW_DATA_DIR_NAME: &str = "..data_tmp";

/// One file of a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    /// The content.
    pub data: Vec<u8>,
    /// The permission bits (e.g. 0o644).
    pub mode: u32,
}

/// A payload: relative path → file.
pub type Payload = BTreeMap<String, FileProjection>;

/// Why a payload could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AtomicWriteError {
    /// A payload path failed validation (upstream `validatePath` messages).
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> AtomicWriteError {
    let path = path.to_path_buf();
    move |source| AtomicWriteError::Io { op, path, source }
}

/// Upstream `validatePath`: relative, at most 4096 bytes, no `..` element, not starting with
/// `..`.
pub fn validate_path(p: &str) -> Result<(), AtomicWriteError> {
    if p.is_empty() {
        return Ok(());
    }
    if p.len() > 4096 {
        return Err(AtomicWriteError::InvalidPath(format!(
            "must be less than or equal to 4096 characters: {p}"
        )));
    }
    if Path::new(p).is_absolute() {
        return Err(AtomicWriteError::InvalidPath(format!(
            "must be relative path: {p}"
        )));
    }
    if p.split('/').any(|e| e == "..") {
        return Err(AtomicWriteError::InvalidPath(format!(
            "must not contain '..': {p}"
        )));
    }
    if p.starts_with("..") {
        return Err(AtomicWriteError::InvalidPath(format!(
            "must not start with '..': {p}"
        )));
    }
    Ok(())
}

/// Cleans a payload path the way Go's `filepath.Clean` does for relative paths.
fn clean(p: &str) -> String {
    let parts: Vec<&str> = Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect();
    parts.join("/")
}

/// Writes payloads atomically into one target directory.
#[derive(Debug, Clone)]
pub struct AtomicWriter {
    target: PathBuf,
    fs_group: Option<u32>,
}

/// Upstream `SetVolumeOwnership` masks for read-only volumes: files get group read,
/// directories group read/exec and setgid.
const RO_MASK: u32 = 0o440;
const DIR_EXTRA: u32 = 0o2000 | 0o110;

impl AtomicWriter {
    /// A writer for `target` (created if missing).
    pub fn new(target: impl Into<PathBuf>) -> Self {
        AtomicWriter {
            target: target.into(),
            fs_group: None,
        }
    }

    /// Applies the pod's fsGroup to what is written (upstream `SetVolumeOwnership` for
    /// read-only volumes): group ownership, `mode | 0440` on files, `| 02550` on dirs.
    pub fn with_fs_group(mut self, gid: Option<u32>) -> Self {
        self.fs_group = gid;
        self
    }

    fn file_mode(&self, mode: u32) -> u32 {
        if self.fs_group.is_some() {
            mode | RO_MASK
        } else {
            mode
        }
    }

    fn own(&self, path: &Path, dir_mode: Option<u32>) -> Result<(), AtomicWriteError> {
        if let Some(gid) = self.fs_group {
            std::os::unix::fs::lchown(path, None, Some(gid)).map_err(io_err("chown", path))?;
            if let Some(m) = dir_mode {
                fs::set_permissions(path, fs::Permissions::from_mode(m | RO_MASK | DIR_EXTRA))
                    .map_err(io_err("chmod", path))?;
            }
        }
        Ok(())
    }

    /// The directory written to.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Writes `payload`; returns whether anything changed on disk.
    pub fn write(&self, payload: &Payload) -> Result<bool, AtomicWriteError> {
        let mut clean_payload: Payload = BTreeMap::new();
        for (p, f) in payload {
            validate_path(p)?;
            let c = clean(p);
            if c.is_empty() {
                return Err(AtomicWriteError::InvalidPath(format!(
                    "must not be empty: {p}"
                )));
            }
            clean_payload.insert(c, f.clone());
        }
        fs::create_dir_all(&self.target).map_err(io_err("mkdir", &self.target))?;

        let data_link = self.target.join(DATA_DIR_NAME);
        let old_ts = fs::read_link(&data_link)
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
            .filter(|t| !t.is_empty());
        let old_dir = old_ts.as_ref().map(|t| self.target.join(t));
        let old_paths = match &old_dir {
            Some(d) if d.is_dir() => walk_files(d).map_err(io_err("walk", d))?,
            _ => BTreeSet::new(),
        };

        let unchanged = old_dir.as_ref().is_some_and(|d| {
            old_paths.len() == clean_payload.len()
                && clean_payload.iter().all(|(p, f)| {
                    let path = d.join(p);
                    fs::read(&path).ok().as_deref() == Some(f.data.as_slice())
                        && fs::metadata(&path)
                            .map(|m| m.permissions().mode() & 0o7777 == self.file_mode(f.mode))
                            .unwrap_or(false)
                })
        });

        let mut changed = false;
        if !unchanged {
            let ts_name = format!(
                "{}{}",
                chrono::Utc::now().format("..%Y_%m_%d_%H_%M_%S."),
                rand::random::<u32>()
            );
            let ts_dir = self.target.join(&ts_name);
            fs::create_dir(&ts_dir).map_err(io_err("mkdir", &ts_dir))?;
            fs::set_permissions(&ts_dir, fs::Permissions::from_mode(0o755))
                .map_err(io_err("chmod", &ts_dir))?;
            self.own(&ts_dir, Some(0o755))?;
            for (p, f) in &clean_payload {
                let path = ts_dir.join(p);
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(io_err("mkdir", parent))?;
                    let mut d = parent;
                    while d != ts_dir {
                        self.own(d, Some(0o755))?;
                        d = d.parent().unwrap_or(&ts_dir);
                    }
                }
                fs::write(&path, &f.data).map_err(io_err("write", &path))?;
                // Set the mode explicitly: the umask must not narrow it.
                fs::set_permissions(&path, fs::Permissions::from_mode(self.file_mode(f.mode)))
                    .map_err(io_err("chmod", &path))?;
                self.own(&path, None)?;
            }
            let tmp_link = self.target.join(NEW_DATA_DIR_NAME);
            let _ = fs::remove_file(&tmp_link);
            symlink(&ts_name, &tmp_link).map_err(io_err("symlink", &tmp_link))?;
            self.own(&tmp_link, None)?;
            fs::rename(&tmp_link, &data_link).map_err(io_err("rename", &data_link))?;
            changed = true;
        }

        // User-visible top-level entries: symlinks through ..data.
        let new_top: BTreeSet<String> = clean_payload
            .keys()
            .map(|p| p.split('/').next().unwrap_or(p).to_string())
            .collect();
        for top in &new_top {
            let visible = self.target.join(top);
            if fs::symlink_metadata(&visible).is_err() {
                symlink(Path::new(DATA_DIR_NAME).join(top), &visible)
                    .map_err(io_err("symlink", &visible))?;
                self.own(&visible, None)?;
                changed = true;
            }
        }
        let old_top: BTreeSet<String> = old_paths
            .iter()
            .map(|p| p.split('/').next().unwrap_or(p).to_string())
            .collect();
        for gone in old_top.difference(&new_top) {
            let visible = self.target.join(gone);
            if fs::symlink_metadata(&visible).is_ok() {
                fs::remove_file(&visible).map_err(io_err("remove", &visible))?;
                changed = true;
            }
        }
        if changed && !unchanged {
            if let Some(d) = old_dir.filter(|d| d.is_dir()) {
                fs::remove_dir_all(&d).map_err(io_err("remove", &d))?;
            }
        }
        Ok(changed)
    }
}

/// Relative paths of the regular files under `dir`.
fn walk_files(dir: &Path) -> io::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if e.file_type()?.is_dir() {
                stack.push((e.path(), rel));
            } else {
                out.insert(rel);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(items: &[(&str, &str, u32)]) -> Payload {
        items
            .iter()
            .map(|(p, d, m)| {
                (
                    p.to_string(),
                    FileProjection {
                        data: d.as_bytes().to_vec(),
                        mode: *m,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn path_validation() {
        let cases = [
            ("a", None),
            ("a/b/c", None),
            ("a..b", None),
            ("/abs", Some("invalid path: must be relative path: /abs")),
            (
                "a/../b",
                Some("invalid path: must not contain '..': a/../b"),
            ),
            ("..a", Some("invalid path: must not start with '..': ..a")),
        ];
        for (p, want) in cases {
            assert_eq!(
                validate_path(p).err().map(|e| e.to_string()).as_deref(),
                want,
                "{p}"
            );
        }
    }

    #[test]
    fn write_update_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let w = AtomicWriter::new(dir.path().join("vol"));
        let t = w.target().to_path_buf();
        assert!(w
            .write(&payload(&[("a", "1", 0o644), ("sub/b", "2", 0o600)]))
            .unwrap());
        assert_eq!(fs::read_to_string(t.join("a")).unwrap(), "1");
        assert_eq!(fs::read_to_string(t.join("sub/b")).unwrap(), "2");
        assert_eq!(fs::read_link(t.join("a")).unwrap(), Path::new("..data/a"));
        assert_eq!(
            fs::read_link(t.join("sub")).unwrap(),
            Path::new("..data/sub")
        );
        let mode = fs::metadata(t.join("sub/b")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let first = fs::read_link(t.join(DATA_DIR_NAME)).unwrap();
        assert!(first.to_string_lossy().starts_with(".."), "{first:?}");

        // Same payload: nothing changes, ..data still points at the same directory.
        assert!(!w
            .write(&payload(&[("a", "1", 0o644), ("sub/b", "2", 0o600)]))
            .unwrap());
        assert_eq!(fs::read_link(t.join(DATA_DIR_NAME)).unwrap(), first);

        // Update: new content visible, removed key vanishes, old ts dir removed.
        assert!(w
            .write(&payload(&[("a", "changed", 0o644), ("c", "3", 0o644)]))
            .unwrap());
        let second = fs::read_link(t.join(DATA_DIR_NAME)).unwrap();
        assert_ne!(first, second);
        assert_eq!(fs::read_to_string(t.join("a")).unwrap(), "changed");
        assert_eq!(fs::read_to_string(t.join("c")).unwrap(), "3");
        assert!(fs::symlink_metadata(t.join("sub")).is_err());
        assert!(!t.join(&first).exists());
        assert!(!t.join(NEW_DATA_DIR_NAME).exists());
        let entries: BTreeSet<String> = fs::read_dir(&t)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let want: BTreeSet<String> = ["..data", "a", "c", second.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(entries, want);

        // Mode change alone is a change.
        assert!(w
            .write(&payload(&[("a", "changed", 0o400), ("c", "3", 0o644)]))
            .unwrap());
        let mode = fs::metadata(t.join("a")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400);

        // Empty payload removes everything visible.
        assert!(w.write(&Payload::new()).unwrap());
        assert!(fs::symlink_metadata(t.join("a")).is_err());
        assert!(t.join(DATA_DIR_NAME).is_dir());
    }

    #[test]
    fn fs_group_ownership() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        // A group this process may chown to: its own.
        let gid = fs::metadata(dir.path()).unwrap().gid();
        let w = AtomicWriter::new(dir.path().join("vol")).with_fs_group(Some(gid));
        let t = w.target().to_path_buf();
        assert!(w
            .write(&payload(&[("a", "1", 0o400), ("d/b", "2", 0o600)]))
            .unwrap());
        let meta = fs::metadata(t.join("a")).unwrap();
        assert_eq!(
            (meta.gid(), meta.permissions().mode() & 0o7777),
            (gid, 0o440)
        );
        assert_eq!(mode_of(&t.join("d/b")), 0o640);
        assert_eq!(mode_of(&t.join("d")), 0o2755);
        // The masked modes count as unchanged on the next sync.
        assert!(!w
            .write(&payload(&[("a", "1", 0o400), ("d/b", "2", 0o600)]))
            .unwrap());
    }

    fn mode_of(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn rejects_bad_paths() {
        let dir = tempfile::tempdir().unwrap();
        let w = AtomicWriter::new(dir.path());
        assert!(w.write(&payload(&[("../escape", "x", 0o644)])).is_err());
        assert!(w.write(&payload(&[("..data", "x", 0o644)])).is_err());
    }
}
