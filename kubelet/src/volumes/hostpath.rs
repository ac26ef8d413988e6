//! hostPath type checks.
//!
//! Mirrors upstream `pkg/volume/hostpath/host_path.go` `checkTypeInternal`:
//! `DirectoryOrCreate` makes the directory (0755) when nothing exists, `FileOrCreate` makes
//! an empty file (0644, parent not created), the other types only check; messages verbatim.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

/// A failed hostPath check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostPathError(pub String);

/// Checks (and for the *OrCreate types, creates) `path` for the hostPath `type_`
/// (`None` or `""` skips the check).
pub fn check_type(path: &Path, type_: Option<&str>) -> Result<(), HostPathError> {
    let p = path.display();
    let meta = fs::metadata(path).ok();
    let ft = meta.as_ref().map(|m| m.file_type());
    let exists = meta.is_some();
    let err = |what: &str| {
        Err(HostPathError(format!(
            "hostPath type check failed: {p} is not a {what}"
        )))
    };
    match type_.unwrap_or("") {
        "" => Ok(()),
        "DirectoryOrCreate" if !exists => make_dir(path),
        "DirectoryOrCreate" | "Directory" => {
            if ft.is_some_and(|t| t.is_dir()) {
                Ok(())
            } else {
                err("directory")
            }
        }
        "FileOrCreate" if !exists => make_file(path),
        "FileOrCreate" | "File" => {
            if ft.is_some_and(|t| t.is_file()) {
                Ok(())
            } else {
                err("file")
            }
        }
        "Socket" => {
            if ft.is_some_and(|t| t.is_socket()) {
                Ok(())
            } else {
                err("socket file")
            }
        }
        "CharDevice" => {
            if ft.is_some_and(|t| t.is_char_device()) {
                Ok(())
            } else {
                err("character device")
            }
        }
        "BlockDevice" => {
            if ft.is_some_and(|t| t.is_block_device()) {
                Ok(())
            } else {
                err("block device")
            }
        }
        other => Err(HostPathError(format!("{other} is an invalid volume type"))),
    }
}

fn make_dir(path: &Path) -> Result<(), HostPathError> {
    fs::create_dir_all(path)
        .and_then(|_| fs::set_permissions(path, fs::Permissions::from_mode(0o755)))
        .map_err(|e| HostPathError(format!("mkdir {}: {e}", path.display())))
}

fn make_file(path: &Path) -> Result<(), HostPathError> {
    let r: io::Result<()> = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .and_then(|_| fs::set_permissions(path, fs::Permissions::from_mode(0o644)));
    r.map_err(|e| HostPathError(format!("open {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn type_checks() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir(d.join("dir")).unwrap();
        fs::write(d.join("file"), "x").unwrap();
        let _sock = UnixListener::bind(d.join("sock")).unwrap();
        let path = |n: &str| d.join(n);
        let msg = |n: &str, what: &str| {
            Some(format!(
                "hostPath type check failed: {} is not a {what}",
                path(n).display()
            ))
        };
        // (name, type, expected error)
        let cases: Vec<(&str, Option<&str>, Option<String>)> = vec![
            ("missing", None, None),
            ("missing", Some(""), None),
            ("dir", Some("Directory"), None),
            ("file", Some("Directory"), msg("file", "directory")),
            ("missing", Some("Directory"), msg("missing", "directory")),
            ("file", Some("DirectoryOrCreate"), msg("file", "directory")),
            ("file", Some("File"), None),
            ("dir", Some("File"), msg("dir", "file")),
            ("dir", Some("FileOrCreate"), msg("dir", "file")),
            ("sock", Some("Socket"), None),
            ("file", Some("Socket"), msg("file", "socket file")),
            ("file", Some("CharDevice"), msg("file", "character device")),
            ("file", Some("BlockDevice"), msg("file", "block device")),
            (
                "file",
                Some("Bogus"),
                Some("Bogus is an invalid volume type".to_string()),
            ),
        ];
        for (name, t, want) in cases {
            let got = check_type(&path(name), t).err().map(|e| e.0);
            assert_eq!(got, want, "{name} {t:?}");
        }
        // /dev/null is a character device on every Linux machine.
        check_type(Path::new("/dev/null"), Some("CharDevice")).unwrap();

        check_type(&path("new/nested"), Some("DirectoryOrCreate")).unwrap();
        assert!(path("new/nested").is_dir());
        let mode = fs::metadata(path("new/nested"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o755);
        check_type(&path("newfile"), Some("FileOrCreate")).unwrap();
        assert!(path("newfile").is_file());
        // FileOrCreate does not create the parent directory.
        assert!(check_type(&path("noparent/f"), Some("FileOrCreate")).is_err());
    }
}
