//! probes: liveness, readiness and startup probes.
//!
//! - [`run_probe`] runs one probe (exec through the [`exec::ExecRunner`] trait kl-core
//!   implements with CRI `ExecSync`; httpGet, tcpSocket and grpc from the kubelet's network
//!   namespace against the pod IP), as upstream `pkg/kubelet/prober.prober.runProbe`.
//! - [`manager::ProbeManager`] runs per-container workers honouring every timing field
//!   and publishes results and events on a channel the pod worker consumes (readiness,
//!   started, and liveness/startup failures that require a restart).
//!
//! Timing uses tokio's clock, so tests drive it with `tokio::time::pause`.

pub mod exec;
pub mod grpc;
pub mod http;
pub mod manager;
pub mod tcp;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub use exec::{ExecError, ExecOutput, ExecRunner, FakeExec};
pub use manager::{ProbeManager, ProbeNotice, ProbeStatus, ProbeType};

/// Upstream's limit on probe output kept (`maxReadLength` / `maxRespBodyLength`, 10 KiB).
pub const MAX_OUTPUT: usize = 10 * 1024;

/// Upstream `probe.Result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Passed.
    Success,
    /// Passed with a warning (e.g. a redirect to another host); counts as success.
    Warning,
    /// Failed.
    Failure,
}

/// One probe's outcome and output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// Success, warning or failure.
    pub outcome: Outcome,
    /// The output (failure reason, response body, command output).
    pub output: String,
}

/// A probe that could not run at all (upstream's "probe errored"); not counted toward
/// thresholds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProbeError(pub String);

/// What a probe runs against.
#[derive(Debug, Clone, Default)]
pub struct ProbeTarget {
    /// The CRI container ID (for exec).
    pub container_id: String,
    /// The pod's IP (default host of httpGet/tcpSocket, host of grpc).
    pub pod_ip: String,
    /// The container spec (named ports, static env for exec).
    pub container: Container,
}

/// The probe's timeout (`timeoutSeconds`, default 1, minimum 1).
pub fn probe_timeout(p: &Probe) -> Duration {
    Duration::from_secs(p.timeout_seconds.unwrap_or(1).max(1) as u64)
}

/// Upstream `ResolveContainerPort`: a number, or a container port name (or a number in a
/// string), within 1..=65535.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, ProbeError> {
    let p: i64 = match port {
        IntOrString::Int(i) => *i as i64,
        IntOrString::String(name) => {
            let named = container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| p.container_port as i64);
            match named {
                Some(p) => p,
                None => name.parse::<i64>().map_err(|_| {
                    ProbeError(format!("strconv.Atoi: parsing {name:?}: invalid syntax"))
                })?,
            }
        }
    };
    if p > 0 && p < 65536 {
        Ok(p as u16)
    } else {
        Err(ProbeError(format!("invalid port number: {p}")))
    }
}

/// Runs one probe attempt.
pub async fn run_probe(
    probe: &Probe,
    target: &ProbeTarget,
    runner: &dyn ExecRunner,
) -> Result<ProbeResult, ProbeError> {
    let timeout = probe_timeout(probe);
    if let Some(e) = &probe.exec {
        let cmd = exec::expand_command(e.command.as_deref().unwrap_or_default(), &target.container);
        return exec::probe(runner, &target.container_id, &cmd, timeout).await;
    }
    if let Some(h) = &probe.http_get {
        let port = resolve_port(&h.port, &target.container)?;
        let host = h
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| target.pod_ip.clone());
        let scheme = h.scheme.as_deref().unwrap_or("HTTP").to_ascii_lowercase();
        let mut path = h.path.clone().unwrap_or_default();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let t = http::HttpTarget {
            scheme,
            host,
            port,
            path,
            headers: h
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
        };
        return Ok(http::probe(&t, timeout).await);
    }
    if let Some(t) = &probe.tcp_socket {
        let port = resolve_port(&t.port, &target.container)?;
        let host = t
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| target.pod_ip.clone());
        return Ok(tcp::probe(&host, port, timeout).await);
    }
    if let Some(g) = &probe.grpc {
        let port = resolve_port(&IntOrString::Int(g.port), &target.container)?;
        let service = g.service.clone().unwrap_or_default();
        return Ok(grpc::probe(&target.pod_ip, port, &service, timeout).await);
    }
    Err(ProbeError(format!(
        "missing probe handler for container {}",
        target.container.name
    )))
}

#[cfg(test)]
mod tests;
