//! runtime: the kubelet's view of the container runtime, CRI v1 `RuntimeService` and
//! `ImageService`, behind the [`Runtime`] trait.
//!
//! - [`cri::CriRuntime`] talks to containerd (or any CRI v1 runtime) over its unix socket.
//! - [`fake::FakeRuntime`] is an in-memory runtime that records every call, for unit tests
//!   of the pod workers, probes and server without root or containerd.
//!
//! The trait uses the `k8s_cri::v1` message types directly, so callers build real CRI
//! configs and the fake sees exactly what containerd would.

pub mod cri;
pub mod fake;

use std::time::Duration;

use async_trait::async_trait;
pub use k8s_cri::v1 as api;
pub use k8s_cri::v1::AuthConfig;
use k8s_cri::v1::{
    AttachRequest, Container, ContainerConfig, ContainerFilter, ContainerStats,
    ContainerStatsFilter, ContainerStatus, ExecRequest, ExecSyncResponse, Image, ImageFilter,
    ImageFsInfoResponse, ImageSpec, PodSandbox, PodSandboxConfig, PodSandboxFilter,
    PodSandboxStatus, PortForwardRequest, StatusResponse, VersionResponse,
};

/// Errors from the container runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// the endpoint is not a `unix://` path
    #[error("invalid container runtime endpoint {0:?}: only unix:// endpoints are supported")]
    InvalidEndpoint(String),
    /// the runtime's socket could not be reached
    #[error("failed to connect to the container runtime at {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    /// the object the call names does not exist (gRPC NotFound)
    #[error("{op}: not found: {message}")]
    NotFound { op: &'static str, message: String },
    /// the call did not finish within the runtime request timeout
    #[error("{op}: timed out after {timeout:?}")]
    Timeout { op: &'static str, timeout: Duration },
    /// any other gRPC failure, with the runtime's status kept as typed data
    #[error("{op}: rpc error: code = {code:?} desc = {message}")]
    Rpc {
        op: &'static str,
        code: tonic::Code,
        message: String,
    },
    /// the runtime answered without a field the CRI contract requires
    #[error("{op}: runtime response is missing {field}")]
    MissingField {
        op: &'static str,
        field: &'static str,
    },
}

impl RuntimeError {
    /// Whether the runtime said the named object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RuntimeError::NotFound { .. })
    }

    pub(crate) fn from_status(op: &'static str, status: tonic::Status) -> Self {
        if status.code() == tonic::Code::NotFound {
            RuntimeError::NotFound {
                op,
                message: status.message().to_string(),
            }
        } else {
            RuntimeError::Rpc {
                op,
                code: status.code(),
                message: status.message().to_string(),
            }
        }
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// What the kubelet uses from CRI v1. Ids are the runtime's sandbox/container ids; names of
/// the methods follow the CRI RPCs.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// CRI `Version`: runtime name and version (`containerd`, `1.6.20`).
    async fn version(&self) -> Result<VersionResponse>;
    /// CRI `Status`: RuntimeReady / NetworkReady conditions.
    async fn status(&self, verbose: bool) -> Result<StatusResponse>;

    /// CRI `RunPodSandbox`; returns the sandbox id.
    async fn run_pod_sandbox(
        &self,
        config: PodSandboxConfig,
        runtime_handler: &str,
    ) -> Result<String>;
    /// CRI `StopPodSandbox`; stopping a stopped or missing sandbox is not an error.
    async fn stop_pod_sandbox(&self, pod_sandbox_id: &str) -> Result<()>;
    /// CRI `RemovePodSandbox`; removing a missing sandbox is not an error.
    async fn remove_pod_sandbox(&self, pod_sandbox_id: &str) -> Result<()>;
    /// CRI `PodSandboxStatus`.
    async fn pod_sandbox_status(&self, pod_sandbox_id: &str) -> Result<PodSandboxStatus>;
    /// CRI `ListPodSandbox`.
    async fn list_pod_sandbox(&self, filter: Option<PodSandboxFilter>) -> Result<Vec<PodSandbox>>;

    /// CRI `CreateContainer`; returns the container id.
    async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: ContainerConfig,
        sandbox_config: PodSandboxConfig,
    ) -> Result<String>;
    /// CRI `StartContainer`.
    async fn start_container(&self, container_id: &str) -> Result<()>;
    /// CRI `StopContainer`: SIGTERM (or the image's stop signal), SIGKILL after
    /// `timeout_seconds`.
    async fn stop_container(&self, container_id: &str, timeout_seconds: i64) -> Result<()>;
    /// CRI `RemoveContainer`.
    async fn remove_container(&self, container_id: &str) -> Result<()>;
    /// CRI `ContainerStatus`.
    async fn container_status(&self, container_id: &str) -> Result<ContainerStatus>;
    /// CRI `ListContainers`.
    async fn list_containers(&self, filter: Option<ContainerFilter>) -> Result<Vec<Container>>;
    /// CRI `ReopenContainerLog` (after log rotation).
    async fn reopen_container_log(&self, container_id: &str) -> Result<()>;

    /// CRI `ExecSync`: runs `cmd` in the container and waits for it, at most `timeout`
    /// (zero means no timeout).
    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<ExecSyncResponse>;
    /// CRI `Exec`: returns the streaming server URL to hand the client.
    async fn exec(&self, request: ExecRequest) -> Result<String>;
    /// CRI `Attach`: returns the streaming server URL.
    async fn attach(&self, request: AttachRequest) -> Result<String>;
    /// CRI `PortForward`: returns the streaming server URL.
    async fn port_forward(&self, request: PortForwardRequest) -> Result<String>;

    /// CRI `ContainerStats`.
    async fn container_stats(&self, container_id: &str) -> Result<ContainerStats>;
    /// CRI `ListContainerStats`.
    async fn list_container_stats(
        &self,
        filter: Option<ContainerStatsFilter>,
    ) -> Result<Vec<ContainerStats>>;

    /// CRI `PullImage`; returns the image reference (id/digest) the runtime resolved.
    async fn pull_image(
        &self,
        image: ImageSpec,
        auth: Option<AuthConfig>,
        sandbox_config: Option<PodSandboxConfig>,
    ) -> Result<String>;
    /// CRI `ListImages`.
    async fn list_images(&self, filter: Option<ImageFilter>) -> Result<Vec<Image>>;
    /// CRI `ImageStatus`; `None` when the image is not present.
    async fn image_status(&self, image: ImageSpec) -> Result<Option<Image>>;
    /// CRI `RemoveImage`.
    async fn remove_image(&self, image: ImageSpec) -> Result<()>;
    /// CRI `ImageFsInfo`.
    async fn image_fs_info(&self) -> Result<ImageFsInfoResponse>;
}

/// An `ImageSpec` naming `image` with nothing else set.
pub fn image_spec(image: &str) -> ImageSpec {
    ImageSpec {
        image: image.to_string(),
        ..Default::default()
    }
}
