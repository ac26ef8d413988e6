//! Child processes of the bench (etcd, kube-apiserver) and the scratch directory they use.
//! Everything the bench starts is owned by a [`Workspace`]; dropping it (normal return,
//! error, panic unwinding, or the signal handler in `main` dropping the run future) kills
//! every child and then removes the directory.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use http::Method;

use crate::client::{Client, Credentials};

/// How long a child may take to become ready before the bench gives up.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A child process that is killed (SIGKILL) and reaped on drop.
pub struct ChildGuard {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl ChildGuard {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the child's output (the log is removed with the temp dir, so
    /// errors carry it).
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Fails if the process has exited, with the tail of its log.
    fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); log tail:\n{}",
                self.name,
                self.log_tail()
            );
        }
        Ok(())
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The scratch directory and the processes living in it. Field order matters: children are
/// dropped (killed) before the directory is removed.
pub struct Workspace {
    children: Vec<ChildGuard>,
    dir: tempfile::TempDir,
}

/// A started kube-apiserver.
pub struct Apiserver {
    pub pid: u32,
    pub creds: Credentials,
}

impl Workspace {
    /// Creates the scratch directory under `base` (the system temp dir when `None`).
    pub fn new(base: Option<&Path>) -> Result<Self> {
        let mut b = tempfile::Builder::new();
        b.prefix("rudder-bench-");
        let dir = match base {
            Some(base) => b.tempdir_in(base),
            None => b.tempdir(),
        }
        .context("creating the bench temp dir")?;
        Ok(Workspace {
            children: Vec::new(),
            dir,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Makes a fresh subdirectory.
    pub fn subdir(&self, name: &str) -> Result<PathBuf> {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(p)
    }

    fn spawn(&mut self, name: &str, mut cmd: Command) -> Result<usize> {
        let log = self.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {name} ({cmd:?})"))?;
        self.children.push(ChildGuard {
            name: name.to_string(),
            child,
            log,
        });
        Ok(self.children.len() - 1)
    }

    /// Starts any other child (kube-scheduler, ...) with its output in `<name>.log`; returns
    /// its pid, which [`Workspace::stop`] takes.
    pub fn spawn_child(&mut self, name: &str, cmd: Command) -> Result<u32> {
        let i = self.spawn(name, cmd)?;
        Ok(self.children[i].pid())
    }

    /// Kills one child started earlier (by the pid [`Workspace::start_apiserver`] or
    /// [`Workspace::start_etcd`] reported).
    pub fn stop(&mut self, pid: u32) {
        self.children.retain(|c| c.pid() != pid);
    }

    /// Starts etcd on two free loopback ports with its own data dir and waits until its
    /// `/health` answers healthy. Returns its client URL and pid.
    pub async fn start_etcd(&mut self, etcd_bin: &Path, name: &str) -> Result<(String, u32)> {
        let data = self.subdir(name)?.join("data");
        let client = free_port()?;
        let peer = free_port()?;
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut cmd = Command::new(etcd_bin);
        cmd.arg("--name")
            .arg("default")
            .arg("--data-dir")
            .arg(&data)
            .arg("--listen-client-urls")
            .arg(&url)
            .arg("--advertise-client-urls")
            .arg(&url)
            .arg("--listen-peer-urls")
            .arg(&peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer_url)
            .arg("--initial-cluster")
            .arg(format!("default={peer_url}"));
        let i = self.spawn(name, cmd)?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.children[i].check_running()?;
            if etcd_healthy(client) {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "etcd did not become healthy within {START_TIMEOUT:?}; log tail:\n{}",
                    self.children[i].log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok((url, self.children[i].pid()))
    }

    /// Starts `bin_dir/kube-apiserver` on a free loopback port (over SQLite in its own data
    /// dir, or over the given etcd) and waits until `/readyz` answers 200.
    pub async fn start_apiserver(
        &mut self,
        bin_dir: &Path,
        name: &str,
        etcd: Option<&str>,
    ) -> Result<Apiserver> {
        let data = self.subdir(name)?;
        let port = free_port()?;
        let bin = bin_dir.join("kube-apiserver");
        let mut cmd = Command::new(&bin);
        cmd.arg("--data-dir")
            .arg(&data)
            .arg("--secure-port")
            .arg(port.to_string())
            .arg("--bind-address")
            .arg("127.0.0.1")
            .env("RUST_LOG", "warn");
        if let Some(e) = etcd {
            cmd.arg("--etcd-servers").arg(e);
        }
        let i = self.spawn(name, cmd)?;
        let kubeconfig = data.join("admin.kubeconfig");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.children[i].check_running()?;
            if kubeconfig.exists() {
                if let Ok(creds) = Credentials::from_kubeconfig(&kubeconfig) {
                    if let Ok(client) = Client::connect(&creds, 1).await {
                        if let Ok((status, _)) = client.request(Method::GET, "/readyz", None).await
                        {
                            if status.is_success() {
                                return Ok(Apiserver {
                                    pid: self.children[i].pid(),
                                    creds,
                                });
                            }
                        }
                    }
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "{name} did not become ready within {START_TIMEOUT:?}; log tail:\n{}",
                    self.children[i].log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A loopback port that was free a moment ago (the child binds it right after).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// etcd's `/health` over plain HTTP/1.0 (etcd serves it on the client URL).
fn etcd_healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.") && out.contains("\"health\":\"true\"")
}

/// The filesystem type holding `path` (longest mount point prefix in `/proc/mounts`), so the
/// report says what the fsyncs hit (tmpfs makes durability figures meaningless).
pub fn fs_type(path: &Path) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    let path = std::fs::canonicalize(path).ok()?;
    fs_type_in(&mounts, &path)
}

fn fs_type_in(mounts: &str, path: &Path) -> Option<String> {
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, mnt, ty) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(mnt).then(|| (mnt.len(), ty.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, ty)| ty)
}

/// Resident set size of a process in bytes, from `VmRSS` in `/proc/<pid>/status`.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vmrss(&status).context("no VmRSS line")
}

fn parse_vmrss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmrss_parsing() {
        let cases = [
            (
                "Name:\tx\nVmRSS:\t   12345 kB\nVmData: 1 kB\n",
                Some(12345 * 1024),
            ),
            ("Name:\tx\n", None),
            ("VmRSS:\tlots kB\n", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_vmrss(input), want, "{input:?}");
        }
    }

    #[test]
    fn fs_type_takes_longest_mount() {
        let mounts = "/dev/vda / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\ntmpfs /tmpx tmpfs rw 0 0\n";
        let cases = [
            ("/tmp/rudder-bench-1", Some("tmpfs")),
            ("/tmpfoo/x", Some("ext4")),
            ("/var/tmp", Some("ext4")),
        ];
        for (path, want) in cases {
            assert_eq!(
                fs_type_in(mounts, Path::new(path)).as_deref(),
                want,
                "{path}"
            );
        }
        assert_eq!(fs_type_in("", Path::new("/x")), None);
    }

    #[test]
    fn own_rss_is_readable() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn workspace_kills_children_and_removes_dir() {
        let mut ws = Workspace::new(None).unwrap();
        let dir = ws.path().to_path_buf();
        let mut cmd = Command::new("sleep");
        cmd.arg("600");
        let i = ws.spawn("sleeper", cmd).unwrap();
        let pid = ws.children[i].pid();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(ws);
        // Reaped by the guard, so the pid is gone (not a zombie) once drop returns.
        assert!(!Path::new(&format!("/proc/{pid}/status")).exists());
        assert!(!dir.exists());
    }
}
