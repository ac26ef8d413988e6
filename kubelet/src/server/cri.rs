//! The server's needs met directly over CRI v1: streaming URLs (Exec, Attach,
//! PortForward), container state and stats ([`CriStreaming`]), and a pod lookup built from
//! the CRI sandbox and container metadata and labels ([`CriPods`]) for setups where no pod
//! manager is wired in (tests, or a kubelet that only needs its pods' streams).

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;
use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use serde_json::{json, Value};
use tonic::transport::{Channel, Endpoint, Uri};

use super::{ContainerInfo, ContainerStat, PodInfo, PodSource, RuntimeError, StreamingRuntime};

/// CRI label upstream's kubelet puts on containers: the pod's name.
pub const LABEL_POD_NAME: &str = "io.kubernetes.pod.name";
/// CRI label: the pod's namespace.
pub const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// CRI label: the pod's UID.
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
/// CRI label: the container's name in the pod spec.
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";

fn status_err(call: &'static str) -> impl Fn(tonic::Status) -> RuntimeError {
    move |s| RuntimeError::Call {
        call,
        message: s.message().to_string(),
    }
}

/// Connects a tonic channel to a CRI unix socket.
pub async fn connect(socket: &Path) -> Result<Channel, RuntimeError> {
    let path = socket.to_path_buf();
    // The URI is required by tonic but unused: the connector always dials the socket.
    Endpoint::try_from("http://[::]:50051")
        .map_err(|e| RuntimeError::Connect(e.to_string()))?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?))
            }
        }))
        .await
        .map_err(|e| RuntimeError::Connect(format!("{}: {e}", socket.display())))
}

/// [`StreamingRuntime`] over a CRI v1 runtime service.
#[derive(Clone)]
pub struct CriStreaming {
    client: RuntimeServiceClient<Channel>,
}

impl CriStreaming {
    /// Wraps a connected channel.
    pub fn new(channel: Channel) -> CriStreaming {
        CriStreaming {
            client: RuntimeServiceClient::new(channel),
        }
    }

    /// The underlying client.
    pub fn client(&self) -> RuntimeServiceClient<Channel> {
        self.client.clone()
    }
}

fn u64v(v: &Option<cri::UInt64Value>) -> Option<u64> {
    v.as_ref().map(|v| v.value)
}

#[async_trait]
impl StreamingRuntime for CriStreaming {
    async fn exec(
        &self,
        container_id: &str,
        cmd: Vec<String>,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        tty: bool,
    ) -> Result<String, RuntimeError> {
        let r = self
            .client
            .clone()
            .exec(cri::ExecRequest {
                container_id: container_id.into(),
                cmd,
                tty,
                stdin,
                stdout,
                stderr,
            })
            .await
            .map_err(status_err("Exec"))?;
        Ok(r.into_inner().url)
    }

    async fn attach(
        &self,
        container_id: &str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        tty: bool,
    ) -> Result<String, RuntimeError> {
        let r = self
            .client
            .clone()
            .attach(cri::AttachRequest {
                container_id: container_id.into(),
                stdin,
                tty,
                stdout,
                stderr,
            })
            .await
            .map_err(status_err("Attach"))?;
        Ok(r.into_inner().url)
    }

    async fn port_forward(
        &self,
        sandbox_id: &str,
        ports: Vec<i32>,
    ) -> Result<String, RuntimeError> {
        let r = self
            .client
            .clone()
            .port_forward(cri::PortForwardRequest {
                pod_sandbox_id: sandbox_id.into(),
                port: ports,
            })
            .await
            .map_err(status_err("PortForward"))?;
        Ok(r.into_inner().url)
    }

    async fn container_running(&self, container_id: &str) -> bool {
        match self
            .client
            .clone()
            .container_status(cri::ContainerStatusRequest {
                container_id: container_id.into(),
                verbose: false,
            })
            .await
        {
            Ok(r) => r
                .into_inner()
                .status
                .is_some_and(|s| s.state == cri::ContainerState::ContainerRunning as i32),
            Err(_) => false,
        }
    }

    async fn container_stats(&self) -> Result<Vec<ContainerStat>, RuntimeError> {
        let stats = self
            .client
            .clone()
            .list_container_stats(cri::ListContainerStatsRequest { filter: None })
            .await
            .map_err(status_err("ListContainerStats"))?
            .into_inner()
            .stats;
        let containers = self
            .client
            .clone()
            .list_containers(cri::ListContainersRequest { filter: None })
            .await
            .map_err(status_err("ListContainers"))?
            .into_inner()
            .containers;
        let created: HashMap<String, i64> = containers
            .iter()
            .map(|c| (c.id.clone(), c.created_at))
            .collect();
        Ok(stats
            .into_iter()
            .filter_map(|s| {
                let a = s.attributes?;
                let label = |k: &str| a.labels.get(k).cloned().unwrap_or_default();
                Some(ContainerStat {
                    name: a
                        .metadata
                        .as_ref()
                        .map(|m| m.name.clone())
                        .unwrap_or_else(|| label(LABEL_CONTAINER_NAME)),
                    pod: label(LABEL_POD_NAME),
                    namespace: label(LABEL_POD_NAMESPACE),
                    pod_uid: label(LABEL_POD_UID),
                    created_at_ns: created.get(&a.id).copied().unwrap_or(0),
                    id: a.id,
                    timestamp_ns: s.cpu.as_ref().map(|c| c.timestamp).unwrap_or(0),
                    cpu_usage_core_nanos: s
                        .cpu
                        .as_ref()
                        .and_then(|c| u64v(&c.usage_core_nano_seconds)),
                    cpu_usage_nano_cores: s.cpu.as_ref().and_then(|c| u64v(&c.usage_nano_cores)),
                    memory_working_set_bytes: s
                        .memory
                        .as_ref()
                        .and_then(|m| u64v(&m.working_set_bytes)),
                    memory_usage_bytes: s.memory.as_ref().and_then(|m| u64v(&m.usage_bytes)),
                    memory_rss_bytes: s.memory.as_ref().and_then(|m| u64v(&m.rss_bytes)),
                    rootfs_used_bytes: s.writable_layer.as_ref().and_then(|w| u64v(&w.used_bytes)),
                })
            })
            .collect())
    }
}

/// [`PodSource`] from the runtime's own records: sandboxes and their containers,
/// identified by the metadata and labels the kubelet sets on them.
#[derive(Clone)]
pub struct CriPods {
    client: RuntimeServiceClient<Channel>,
}

impl CriPods {
    /// Wraps a connected channel.
    pub fn new(channel: Channel) -> CriPods {
        CriPods {
            client: RuntimeServiceClient::new(channel),
        }
    }

    async fn all(&self) -> Vec<PodInfo> {
        let Ok(sandboxes) = self
            .client
            .clone()
            .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
            .await
        else {
            return Vec::new();
        };
        let containers = self
            .client
            .clone()
            .list_containers(cri::ListContainersRequest { filter: None })
            .await
            .map(|r| r.into_inner().containers)
            .unwrap_or_default();
        // Stopped sandboxes count too (their containers' logs stay readable, as upstream
        // keeps a terminated pod's logs); when a pod has several, the ready one, then the
        // newest, comes first and wins the lookup.
        let mut sandboxes = sandboxes.into_inner().items;
        sandboxes.sort_by_key(|s| {
            (
                s.state != cri::PodSandboxState::SandboxReady as i32,
                std::cmp::Reverse(s.created_at),
            )
        });
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for s in sandboxes {
            let Some(m) = s.metadata else { continue };
            if !seen.insert((m.namespace.clone(), m.name.clone())) {
                continue;
            }
            // The newest container per name wins (a restarted container has a higher
            // attempt); the older one is the "previous" instance.
            let mut by_name: HashMap<String, &cri::Container> = HashMap::new();
            for c in containers.iter().filter(|c| c.pod_sandbox_id == s.id) {
                let name = c
                    .metadata
                    .as_ref()
                    .map(|m| m.name.clone())
                    .unwrap_or_default();
                let newer = by_name
                    .get(&name)
                    .is_none_or(|o| o.created_at < c.created_at);
                if newer {
                    by_name.insert(name, c);
                }
            }
            out.push(PodInfo {
                namespace: m.namespace,
                name: m.name,
                uid: m.uid,
                sandbox_id: Some(s.id.clone()),
                containers: by_name
                    .into_iter()
                    .map(|(name, c)| ContainerInfo {
                        name,
                        id: Some(c.id.clone()),
                        running: c.state == cri::ContainerState::ContainerRunning as i32,
                    })
                    .collect(),
            });
        }
        out
    }
}

#[async_trait]
impl PodSource for CriPods {
    async fn pods(&self) -> Vec<Value> {
        self.all()
            .await
            .into_iter()
            .map(|p| {
                json!({
                    "metadata": {"name": p.name, "namespace": p.namespace, "uid": p.uid},
                    "spec": {"containers": p.containers.iter().map(|c| json!({"name": c.name})).collect::<Vec<_>>()},
                    "status": {"phase": "Running"},
                })
            })
            .collect()
    }

    async fn pod(&self, namespace: &str, name: &str) -> Option<PodInfo> {
        self.all()
            .await
            .into_iter()
            .find(|p| p.namespace == namespace && p.name == name)
    }
}
