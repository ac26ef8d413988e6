//! exec probes: run a command in the container through CRI `ExecSync`.
//!
//! Mirrors upstream `pkg/probe/exec`: exit 0 is success, any other exit is failure with the
//! combined output (at most 10 KiB) as the message, a timeout is a failure with
//! `command "<cmd>" timed out` (ExecProbeTimeout on), other errors are probe errors. The
//! command is expanded with the container's static env values only
//! (`ExpandContainerCommandOnlyStatic`).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Container;
use parking_lot::Mutex;

use super::{Outcome, ProbeError, ProbeResult, MAX_OUTPUT};
use crate::container::expansion;

/// The output of a finished `ExecSync`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit code.
    pub exit_code: i32,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

/// Why `ExecSync` did not produce an exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The command did not finish within the timeout.
    #[error("command timed out")]
    Timeout,
    /// The runtime failed.
    #[error("{0}")]
    Runtime(String),
}

/// Runs a command in a container; kl-core implements it with CRI `ExecSync`.
#[async_trait]
pub trait ExecRunner: Send + Sync {
    /// Runs `cmd` in `container_id`, giving up after `timeout`.
    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, ExecError>;
}

/// A scripted [`ExecRunner`]: answers are popped per call (the last one repeats); calls
/// are recorded.
#[derive(Default)]
pub struct FakeExec {
    answers: Mutex<Vec<Result<ExecOutput, ExecError>>>,
    calls: Mutex<Vec<(String, Vec<String>, Duration)>>,
}

impl FakeExec {
    /// A fake answering `answers` in order.
    pub fn new(answers: Vec<Result<ExecOutput, ExecError>>) -> Self {
        FakeExec {
            answers: Mutex::new(answers),
            calls: Mutex::default(),
        }
    }
    /// Replaces the remaining answers.
    pub fn set_answers(&self, answers: Vec<Result<ExecOutput, ExecError>>) {
        *self.answers.lock() = answers;
    }
    /// The calls so far: (container id, command, timeout).
    pub fn calls(&self) -> Vec<(String, Vec<String>, Duration)> {
        self.calls.lock().clone()
    }
    /// An exit with the given code and stdout.
    pub fn exit(code: i32, out: &str) -> Result<ExecOutput, ExecError> {
        Ok(ExecOutput {
            exit_code: code,
            stdout: out.as_bytes().to_vec(),
            stderr: vec![],
        })
    }
}

#[async_trait]
impl ExecRunner for FakeExec {
    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, ExecError> {
        self.calls
            .lock()
            .push((container_id.to_string(), cmd.to_vec(), timeout));
        let mut a = self.answers.lock();
        match a.len() {
            0 => Err(ExecError::Runtime("no answer scripted".into())),
            1 => a[0].clone(),
            _ => a.remove(0),
        }
    }
}

/// [`ExecRunner`] over the kubelet's [`crate::runtime::Runtime`] (CRI `ExecSync`). As
/// upstream's remote runtime does, a gRPC `DeadlineExceeded` (or the client-side timeout)
/// is a timeout, which the exec prober turns into a failure.
pub struct RuntimeExec<R: ?Sized>(pub std::sync::Arc<R>);

#[async_trait]
impl<R: crate::runtime::Runtime + ?Sized> ExecRunner for RuntimeExec<R> {
    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, ExecError> {
        use crate::runtime::RuntimeError;
        match self.0.exec_sync(container_id, cmd.to_vec(), timeout).await {
            Ok(r) => Ok(ExecOutput {
                exit_code: r.exit_code,
                stdout: r.stdout,
                stderr: r.stderr,
            }),
            Err(RuntimeError::Timeout { .. }) => Err(ExecError::Timeout),
            Err(RuntimeError::Rpc {
                code: tonic::Code::DeadlineExceeded,
                ..
            }) => Err(ExecError::Timeout),
            Err(e) => Err(ExecError::Runtime(e.to_string())),
        }
    }
}

/// Upstream `ExpandContainerCommandOnlyStatic`: only `env` entries with a literal value.
pub fn expand_command(cmd: &[String], container: &Container) -> Vec<String> {
    let statics: HashMap<String, String> = container
        .env
        .iter()
        .flatten()
        .filter(|e| e.value_from.is_none())
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect();
    cmd.iter()
        .map(|c| expansion::expand_with(c, &[&statics]))
        .collect()
}

/// Runs an exec probe.
pub async fn probe(
    runner: &dyn ExecRunner,
    container_id: &str,
    cmd: &[String],
    timeout: Duration,
) -> Result<ProbeResult, ProbeError> {
    match runner.exec_sync(container_id, cmd, timeout).await {
        Ok(out) => {
            let mut data = out.stdout;
            data.extend_from_slice(&out.stderr);
            data.truncate(MAX_OUTPUT);
            let output = String::from_utf8_lossy(&data).into_owned();
            let outcome = if out.exit_code == 0 {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            Ok(ProbeResult { outcome, output })
        }
        Err(ExecError::Timeout) => Ok(ProbeResult {
            outcome: Outcome::Failure,
            output: format!("command {:?} timed out", cmd.join(" ")),
        }),
        Err(ExecError::Runtime(e)) => Err(ProbeError(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;

    #[tokio::test]
    async fn runtime_adapter_maps_errors() {
        let rt = std::sync::Arc::new(FakeRuntime::new());
        let exec = RuntimeExec(rt.clone());
        let cmd = vec!["true".to_string()];
        rt.fail_next_with(
            "ExecSync",
            tonic::Code::DeadlineExceeded,
            "timeout 1s exceeded",
        );
        assert_eq!(
            exec.exec_sync("c1", &cmd, Duration::from_secs(1)).await,
            Err(ExecError::Timeout)
        );
        let r = probe(&exec, "c1", &cmd, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(r.0.contains("not found"), "{r}");
    }
}
