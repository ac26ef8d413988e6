//! cri: the real [`Runtime`] over a CRI v1 runtime's unix socket (containerd).
//!
//! One tonic `Channel` (HTTP/2, multiplexed) is shared by the runtime and image clients.
//! Every call except `PullImage` is bounded by the runtime request timeout, as upstream's
//! remote runtime does with `--runtime-request-timeout` (pulls are bounded only by the
//! runtime itself, and `ExecSync` by its own timeout plus the request timeout).

use std::time::Duration;

use async_trait::async_trait;
use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use super::{Result, Runtime, RuntimeError};

/// Upstream's kubelet raises gRPC's 4 MiB message cap to 16 MiB for CRI (large
/// ListContainers answers on busy nodes).
const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// A CRI v1 client over a unix socket.
#[derive(Clone)]
pub struct CriRuntime {
    runtime: RuntimeServiceClient<Channel>,
    image: ImageServiceClient<Channel>,
    timeout: Duration,
    endpoint: String,
}

/// The socket path of a `unix:///path` endpoint (a bare absolute path is accepted too).
pub fn socket_path(endpoint: &str) -> Result<String> {
    if let Some(path) = endpoint.strip_prefix("unix://") {
        if path.starts_with('/') {
            return Ok(path.to_string());
        }
    } else if endpoint.starts_with('/') {
        return Ok(endpoint.to_string());
    }
    Err(RuntimeError::InvalidEndpoint(endpoint.to_string()))
}

impl CriRuntime {
    /// Connects to `endpoint` (`unix:///run/containerd/containerd.sock`) and checks that it
    /// answers CRI v1 `Version` within `timeout`.
    pub async fn connect(endpoint: &str, timeout: Duration) -> Result<Self> {
        let path = socket_path(endpoint)?;
        // The URI is only a placeholder: every connection goes to the unix socket.
        let channel =
            Endpoint::from_static("http://[::1]:50051")
                .connect_timeout(timeout)
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                }))
                .await
                .map_err(|source| RuntimeError::Connect {
                    endpoint: endpoint.to_string(),
                    source,
                })?;
        let runtime = CriRuntime {
            runtime: RuntimeServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
            image: ImageServiceClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
            timeout,
            endpoint: endpoint.to_string(),
        };
        runtime.version().await?;
        Ok(runtime)
    }

    /// The endpoint this client was built for.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn bounded<T, F>(&self, op: &'static str, timeout: Duration, fut: F) -> Result<T>
    where
        F: std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(resp)) => Ok(resp.into_inner()),
            Ok(Err(status)) => Err(RuntimeError::from_status(op, status)),
            Err(_) => Err(RuntimeError::Timeout { op, timeout }),
        }
    }

    async fn call<T, F>(&self, op: &'static str, fut: F) -> Result<T>
    where
        F: std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        self.bounded(op, self.timeout, fut).await
    }
}

#[async_trait]
impl Runtime for CriRuntime {
    async fn version(&self) -> Result<VersionResponse> {
        let mut c = self.runtime.clone();
        self.call(
            "Version",
            c.version(VersionRequest {
                version: "v1".into(),
            }),
        )
        .await
    }

    async fn status(&self, verbose: bool) -> Result<StatusResponse> {
        let mut c = self.runtime.clone();
        self.call("Status", c.status(StatusRequest { verbose }))
            .await
    }

    async fn run_pod_sandbox(
        &self,
        config: PodSandboxConfig,
        runtime_handler: &str,
    ) -> Result<String> {
        let mut c = self.runtime.clone();
        // Sandbox creation sets up the network through CNI; upstream doubles the request
        // timeout for it.
        let resp = self
            .bounded(
                "RunPodSandbox",
                self.timeout * 2,
                c.run_pod_sandbox(RunPodSandboxRequest {
                    config: Some(config),
                    runtime_handler: runtime_handler.to_string(),
                }),
            )
            .await?;
        Ok(resp.pod_sandbox_id)
    }

    async fn stop_pod_sandbox(&self, pod_sandbox_id: &str) -> Result<()> {
        let mut c = self.runtime.clone();
        self.call(
            "StopPodSandbox",
            c.stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: pod_sandbox_id.to_string(),
            }),
        )
        .await
        .map(|_| ())
    }

    async fn remove_pod_sandbox(&self, pod_sandbox_id: &str) -> Result<()> {
        let mut c = self.runtime.clone();
        self.call(
            "RemovePodSandbox",
            c.remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: pod_sandbox_id.to_string(),
            }),
        )
        .await
        .map(|_| ())
    }

    async fn pod_sandbox_status(&self, pod_sandbox_id: &str) -> Result<PodSandboxStatus> {
        let mut c = self.runtime.clone();
        let resp = self
            .call(
                "PodSandboxStatus",
                c.pod_sandbox_status(PodSandboxStatusRequest {
                    pod_sandbox_id: pod_sandbox_id.to_string(),
                    verbose: false,
                }),
            )
            .await?;
        resp.status.ok_or(RuntimeError::MissingField {
            op: "PodSandboxStatus",
            field: "status",
        })
    }

    async fn list_pod_sandbox(&self, filter: Option<PodSandboxFilter>) -> Result<Vec<PodSandbox>> {
        let mut c = self.runtime.clone();
        let resp = self
            .call(
                "ListPodSandbox",
                c.list_pod_sandbox(ListPodSandboxRequest { filter }),
            )
            .await?;
        Ok(resp.items)
    }

    async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: ContainerConfig,
        sandbox_config: PodSandboxConfig,
    ) -> Result<String> {
        let mut c = self.runtime.clone();
        let resp = self
            .call(
                "CreateContainer",
                c.create_container(CreateContainerRequest {
                    pod_sandbox_id: pod_sandbox_id.to_string(),
                    config: Some(config),
                    sandbox_config: Some(sandbox_config),
                }),
            )
            .await?;
        Ok(resp.container_id)
    }

    async fn start_container(&self, container_id: &str) -> Result<()> {
        let mut c = self.runtime.clone();
        self.call(
            "StartContainer",
            c.start_container(StartContainerRequest {
                container_id: container_id.to_string(),
            }),
        )
        .await
        .map(|_| ())
    }

    async fn stop_container(&self, container_id: &str, timeout_seconds: i64) -> Result<()> {
        let mut c = self.runtime.clone();
        // The call itself lasts up to the grace period; upstream adds it to the request
        // timeout.
        let budget = self.timeout + Duration::from_secs(timeout_seconds.max(0) as u64);
        self.bounded(
            "StopContainer",
            budget,
            c.stop_container(StopContainerRequest {
                container_id: container_id.to_string(),
                timeout: timeout_seconds,
            }),
        )
        .await
        .map(|_| ())
    }

    async fn remove_container(&self, container_id: &str) -> Result<()> {
        let mut c = self.runtime.clone();
        self.call(
            "RemoveContainer",
            c.remove_container(RemoveContainerRequest {
                container_id: container_id.to_string(),
            }),
        )
        .await
        .map(|_| ())
    }

    async fn container_status(&self, container_id: &str) -> Result<ContainerStatus> {
        let mut c = self.runtime.clone();
        let resp = self
            .call(
                "ContainerStatus",
                c.container_status(ContainerStatusRequest {
                    container_id: container_id.to_string(),
                    verbose: false,
                }),
            )
            .await?;
        resp.status.ok_or(RuntimeError::MissingField {
            op: "ContainerStatus",
            field: "status",
        })
    }

    async fn list_containers(&self, filter: Option<ContainerFilter>) -> Result<Vec<Container>> {
        let mut c = self.runtime.clone();
        let resp = self
            .call(
                "ListContainers",
                c.list_containers(ListContainersRequest { filter }),
            )
            .await?;
        Ok(resp.containers)
    }

    async fn reopen_container_log(&self, container_id: &str) -> Result<()> {
        let mut c = self.runtime.clone();
        self.call(
            "ReopenContainerLog",
            c.reopen_container_log(ReopenContainerLogRequest {
                container_id: container_id.to_string(),
            }),
        )
        .await
        .map(|_| ())
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<ExecSyncResponse> {
        let mut c = self.runtime.clone();
        let budget = if timeout.is_zero() {
            // No exec timeout: only the caller bounds it (upstream passes 0 through too).
            Duration::from_secs(u64::from(u32::MAX))
        } else {
            timeout + self.timeout
        };
        self.bounded(
            "ExecSync",
            budget,
            c.exec_sync(ExecSyncRequest {
                container_id: container_id.to_string(),
                cmd,
                timeout: timeout.as_secs() as i64,
            }),
        )
        .await
    }

    async fn exec(&self, request: ExecRequest) -> Result<String> {
        let mut c = self.runtime.clone();
        Ok(self.call("Exec", c.exec(request)).await?.url)
    }

    async fn attach(&self, request: AttachRequest) -> Result<String> {
        let mut c = self.runtime.clone();
        Ok(self.call("Attach", c.attach(request)).await?.url)
    }

    async fn port_forward(&self, request: PortForwardRequest) -> Result<String> {
        let mut c = self.runtime.clone();
        Ok(self.call("PortForward", c.port_forward(request)).await?.url)
    }

    async fn container_stats(&self, container_id: &str) -> Result<ContainerStats> {
        let mut c = self.runtime.clone();
        let resp = self
            .call(
                "ContainerStats",
                c.container_stats(ContainerStatsRequest {
                    container_id: container_id.to_string(),
                }),
            )
            .await?;
        resp.stats.ok_or(RuntimeError::MissingField {
            op: "ContainerStats",
            field: "stats",
        })
    }

    async fn list_container_stats(
        &self,
        filter: Option<ContainerStatsFilter>,
    ) -> Result<Vec<ContainerStats>> {
        let mut c = self.runtime.clone();
        let resp = self
            .call(
                "ListContainerStats",
                c.list_container_stats(ListContainerStatsRequest { filter }),
            )
            .await?;
        Ok(resp.stats)
    }

    async fn pull_image(
        &self,
        image: ImageSpec,
        auth: Option<AuthConfig>,
        sandbox_config: Option<PodSandboxConfig>,
    ) -> Result<String> {
        let mut c = self.image.clone();
        let resp = c
            .pull_image(PullImageRequest {
                image: Some(image),
                auth,
                sandbox_config,
            })
            .await
            .map_err(|s| RuntimeError::from_status("PullImage", s))?;
        Ok(resp.into_inner().image_ref)
    }

    async fn list_images(&self, filter: Option<ImageFilter>) -> Result<Vec<Image>> {
        let mut c = self.image.clone();
        let resp = self
            .call("ListImages", c.list_images(ListImagesRequest { filter }))
            .await?;
        Ok(resp.images)
    }

    async fn image_status(&self, image: ImageSpec) -> Result<Option<Image>> {
        let mut c = self.image.clone();
        let resp = self
            .call(
                "ImageStatus",
                c.image_status(ImageStatusRequest {
                    image: Some(image),
                    verbose: false,
                }),
            )
            .await?;
        Ok(resp.image)
    }

    async fn remove_image(&self, image: ImageSpec) -> Result<()> {
        let mut c = self.image.clone();
        self.call(
            "RemoveImage",
            c.remove_image(RemoveImageRequest { image: Some(image) }),
        )
        .await
        .map(|_| ())
    }

    async fn image_fs_info(&self) -> Result<ImageFsInfoResponse> {
        let mut c = self.image.clone();
        self.call("ImageFsInfo", c.image_fs_info(ImageFsInfoRequest {}))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_parsing() {
        for (endpoint, want) in [
            (
                "unix:///run/containerd/containerd.sock",
                Some("/run/containerd/containerd.sock"),
            ),
            ("/run/c.sock", Some("/run/c.sock")),
            ("unix://relative.sock", None),
            ("tcp://127.0.0.1:1234", None),
            ("npipe:////./pipe/x", None),
        ] {
            assert_eq!(socket_path(endpoint).ok().as_deref(), want, "{endpoint}");
        }
    }

    #[tokio::test]
    async fn connect_to_missing_socket_fails() {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = format!("unix://{}/nope.sock", dir.path().display());
        let err = CriRuntime::connect(&endpoint, Duration::from_secs(1))
            .await
            .err()
            .expect("no socket there");
        assert!(matches!(err, RuntimeError::Connect { .. }), "{err}");
    }
}
