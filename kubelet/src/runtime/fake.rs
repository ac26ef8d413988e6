//! fake: an in-memory [`Runtime`] that records every call, for unit tests.
//!
//! It keeps sandboxes, containers and images the way a CRI runtime would (states, exit
//! codes, timestamps, labels), so code under test sees consistent answers. Tests drive it
//! with [`FakeRuntime::exit_container`], [`FakeRuntime::fail_next`],
//! [`FakeRuntime::add_image`], [`FakeRuntime::set_exec_result`] and read
//! [`FakeRuntime::calls`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use k8s_cri::v1::*;
use parking_lot::Mutex;

use super::{Result, Runtime, RuntimeError};

/// One recorded call: the CRI method name and its main argument (an id, an image, or a
/// container name for `CreateContainer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub op: &'static str,
    pub arg: String,
}

#[derive(Debug, Clone)]
struct FakeSandbox {
    config: PodSandboxConfig,
    state: PodSandboxState,
    created_at: i64,
    ip: String,
}

#[derive(Debug, Clone)]
struct FakeContainer {
    sandbox_id: String,
    config: ContainerConfig,
    status: ContainerStatus,
}

#[derive(Default)]
struct State {
    next_id: u64,
    next_ip: u8,
    sandboxes: BTreeMap<String, FakeSandbox>,
    containers: BTreeMap<String, FakeContainer>,
    images: BTreeMap<String, Image>,
    unpullable: HashSet<String>,
    failures: HashMap<&'static str, VecDeque<(tonic::Code, String)>>,
    exec_results: HashMap<String, ExecSyncResponse>,
    calls: Vec<Call>,
    stop_exit_code: i32,
}

/// An in-memory CRI runtime.
pub struct FakeRuntime {
    state: Mutex<State>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        Self::new()
    }
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64
}

fn labels_match(have: &HashMap<String, String>, selector: &HashMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| have.get(k) == Some(v))
}

impl FakeRuntime {
    /// An empty runtime: no images, no sandboxes. Stopped containers exit with 143 (killed
    /// by SIGTERM) unless [`FakeRuntime::set_stop_exit_code`] says otherwise.
    pub fn new() -> Self {
        FakeRuntime {
            state: Mutex::new(State {
                stop_exit_code: 143,
                ..Default::default()
            }),
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().calls.clone()
    }

    /// The ops of every call so far, in order.
    pub fn ops(&self) -> Vec<&'static str> {
        self.state.lock().calls.iter().map(|c| c.op).collect()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.state.lock().calls.clear();
    }

    /// Makes the next call of `op` (a CRI method name such as `"PullImage"`) fail with
    /// gRPC `Unknown` and `message`.
    pub fn fail_next(&self, op: &'static str, message: &str) {
        self.fail_next_with(op, tonic::Code::Unknown, message);
    }

    /// Makes the next call of `op` fail with `code` and `message`.
    pub fn fail_next_with(&self, op: &'static str, code: tonic::Code, message: &str) {
        self.state
            .lock()
            .failures
            .entry(op)
            .or_default()
            .push_back((code, message.to_string()));
    }

    /// Makes the image present, with id `sha256:<n>`.
    pub fn add_image(&self, image: &str) {
        let mut st = self.state.lock();
        let id = format!("sha256:{:064x}", st.images.len() + 1);
        st.images.insert(
            image.to_string(),
            Image {
                id,
                repo_tags: vec![image.to_string()],
                size: 1 << 20,
                spec: Some(super::image_spec(image)),
                ..Default::default()
            },
        );
    }

    /// Makes pulls of `image` fail with NotFound, as a registry without it would.
    pub fn set_unpullable(&self, image: &str) {
        self.state.lock().unpullable.insert(image.to_string());
    }

    /// The result `ExecSync` gives for containers named `container_name` (default: exit 0,
    /// no output).
    pub fn set_exec_result(&self, container_name: &str, result: ExecSyncResponse) {
        self.state
            .lock()
            .exec_results
            .insert(container_name.to_string(), result);
    }

    /// The exit code containers get when stopped through `StopContainer`.
    pub fn set_stop_exit_code(&self, code: i32) {
        self.state.lock().stop_exit_code = code;
    }

    /// Makes a running container exit, as its process ending would.
    pub fn exit_container(&self, container_id: &str, exit_code: i32, reason: &str) {
        self.exit_container_at(container_id, exit_code, reason, SystemTime::now());
    }

    /// [`FakeRuntime::exit_container`] with the finish time given (tests on a fake clock).
    pub fn exit_container_at(
        &self,
        container_id: &str,
        exit_code: i32,
        reason: &str,
        at: SystemTime,
    ) {
        let mut st = self.state.lock();
        if let Some(c) = st.containers.get_mut(container_id) {
            c.status.state = ContainerState::ContainerExited as i32;
            c.status.exit_code = exit_code;
            c.status.finished_at =
                at.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as i64;
            c.status.reason = reason.to_string();
        }
    }

    /// Ids of the containers named `name` (any sandbox), oldest first.
    pub fn container_ids_named(&self, name: &str) -> Vec<String> {
        let st = self.state.lock();
        let mut found: Vec<(i64, String)> = st
            .containers
            .iter()
            .filter(|(_, c)| c.config.metadata.as_ref().map(|m| m.name.as_str()) == Some(name))
            .map(|(id, c)| (c.status.created_at, id.clone()))
            .collect();
        found.sort();
        found.into_iter().map(|(_, id)| id).collect()
    }

    /// The config a container was created with.
    pub fn container_config(&self, container_id: &str) -> Option<ContainerConfig> {
        self.state
            .lock()
            .containers
            .get(container_id)
            .map(|c| c.config.clone())
    }

    /// The config a sandbox was created with.
    pub fn sandbox_config(&self, sandbox_id: &str) -> Option<PodSandboxConfig> {
        self.state
            .lock()
            .sandboxes
            .get(sandbox_id)
            .map(|s| s.config.clone())
    }

    /// Marks a sandbox NotReady, as a dead pause process would.
    pub fn kill_sandbox(&self, sandbox_id: &str) {
        if let Some(s) = self.state.lock().sandboxes.get_mut(sandbox_id) {
            s.state = PodSandboxState::SandboxNotready;
        }
    }

    fn enter(&self, op: &'static str, arg: &str) -> Result<parking_lot::MutexGuard<'_, State>> {
        let mut st = self.state.lock();
        st.calls.push(Call {
            op,
            arg: arg.to_string(),
        });
        if let Some((code, message)) = st.failures.get_mut(op).and_then(|q| q.pop_front()) {
            return Err(RuntimeError::from_status(
                op,
                tonic::Status::new(code, message),
            ));
        }
        Ok(st)
    }

    fn not_found(op: &'static str, what: &str, id: &str) -> RuntimeError {
        RuntimeError::NotFound {
            op,
            message: format!("an error occurred when try to find {what} {id:?}: not found"),
        }
    }
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:016x}", self.next_id)
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    async fn version(&self) -> Result<VersionResponse> {
        let _st = self.enter("Version", "")?;
        Ok(VersionResponse {
            version: "0.1.0".into(),
            runtime_name: "fake".into(),
            runtime_version: "1.0.0".into(),
            runtime_api_version: "v1".into(),
        })
    }

    async fn status(&self, _verbose: bool) -> Result<StatusResponse> {
        let _st = self.enter("Status", "")?;
        let cond = |t: &str| RuntimeCondition {
            r#type: t.to_string(),
            status: true,
            ..Default::default()
        };
        Ok(StatusResponse {
            status: Some(RuntimeStatus {
                conditions: vec![cond("RuntimeReady"), cond("NetworkReady")],
            }),
            ..Default::default()
        })
    }

    async fn run_pod_sandbox(
        &self,
        config: PodSandboxConfig,
        _runtime_handler: &str,
    ) -> Result<String> {
        let name = config
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        let mut st = self.enter("RunPodSandbox", &name)?;
        let id = st.id("sb");
        st.next_ip = st.next_ip.wrapping_add(1);
        let ip = format!("10.88.0.{}", st.next_ip.max(2));
        st.sandboxes.insert(
            id.clone(),
            FakeSandbox {
                config,
                state: PodSandboxState::SandboxReady,
                created_at: now_nanos(),
                ip,
            },
        );
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, pod_sandbox_id: &str) -> Result<()> {
        let mut st = self.enter("StopPodSandbox", pod_sandbox_id)?;
        let code = st.stop_exit_code;
        for c in st.containers.values_mut() {
            if c.sandbox_id == pod_sandbox_id
                && c.status.state == ContainerState::ContainerRunning as i32
            {
                c.status.state = ContainerState::ContainerExited as i32;
                c.status.exit_code = code;
                c.status.finished_at = now_nanos();
                c.status.reason = "Error".into();
            }
        }
        if let Some(s) = st.sandboxes.get_mut(pod_sandbox_id) {
            s.state = PodSandboxState::SandboxNotready;
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, pod_sandbox_id: &str) -> Result<()> {
        let mut st = self.enter("RemovePodSandbox", pod_sandbox_id)?;
        st.sandboxes.remove(pod_sandbox_id);
        st.containers.retain(|_, c| c.sandbox_id != pod_sandbox_id);
        Ok(())
    }

    async fn pod_sandbox_status(&self, pod_sandbox_id: &str) -> Result<PodSandboxStatus> {
        let st = self.enter("PodSandboxStatus", pod_sandbox_id)?;
        let s = st
            .sandboxes
            .get(pod_sandbox_id)
            .ok_or_else(|| Self::not_found("PodSandboxStatus", "sandbox", pod_sandbox_id))?;
        let host_network = s
            .config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|sc| sc.namespace_options.as_ref())
            .is_some_and(|ns| ns.network == NamespaceMode::Node as i32);
        Ok(PodSandboxStatus {
            id: pod_sandbox_id.to_string(),
            metadata: s.config.metadata.clone(),
            state: s.state as i32,
            created_at: s.created_at,
            network: Some(PodSandboxNetworkStatus {
                // As with containerd: a host-network sandbox reports no IP of its own.
                ip: if host_network {
                    String::new()
                } else {
                    s.ip.clone()
                },
                additional_ips: vec![],
            }),
            labels: s.config.labels.clone(),
            annotations: s.config.annotations.clone(),
            ..Default::default()
        })
    }

    async fn list_pod_sandbox(&self, filter: Option<PodSandboxFilter>) -> Result<Vec<PodSandbox>> {
        let st = self.enter("ListPodSandbox", "")?;
        let f = filter.unwrap_or_default();
        Ok(st
            .sandboxes
            .iter()
            .filter(|(id, s)| {
                (f.id.is_empty() || f.id == **id)
                    && f.state.as_ref().is_none_or(|v| v.state == s.state as i32)
                    && labels_match(&s.config.labels, &f.label_selector)
            })
            .map(|(id, s)| PodSandbox {
                id: id.clone(),
                metadata: s.config.metadata.clone(),
                state: s.state as i32,
                created_at: s.created_at,
                labels: s.config.labels.clone(),
                annotations: s.config.annotations.clone(),
                runtime_handler: String::new(),
            })
            .collect())
    }

    async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: ContainerConfig,
        _sandbox_config: PodSandboxConfig,
    ) -> Result<String> {
        let name = config
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        let mut st = self.enter("CreateContainer", &name)?;
        if !st.sandboxes.contains_key(pod_sandbox_id) {
            return Err(Self::not_found(
                "CreateContainer",
                "sandbox",
                pod_sandbox_id,
            ));
        }
        let image = config.image.clone().unwrap_or_default();
        let image_ref = st
            .images
            .get(&image.image)
            .map(|i| i.id.clone())
            .unwrap_or_default();
        let id = st.id("ctr");
        let log_path = st
            .sandboxes
            .get(pod_sandbox_id)
            .map(|s| format!("{}/{}", s.config.log_directory, config.log_path))
            .unwrap_or_default();
        let status = ContainerStatus {
            id: id.clone(),
            metadata: config.metadata.clone(),
            state: ContainerState::ContainerCreated as i32,
            created_at: now_nanos(),
            image: Some(image),
            image_ref: image_ref.clone(),
            image_id: image_ref,
            labels: config.labels.clone(),
            annotations: config.annotations.clone(),
            mounts: config.mounts.clone(),
            log_path,
            ..Default::default()
        };
        st.containers.insert(
            id.clone(),
            FakeContainer {
                sandbox_id: pod_sandbox_id.to_string(),
                config,
                status,
            },
        );
        Ok(id)
    }

    async fn start_container(&self, container_id: &str) -> Result<()> {
        let mut st = self.enter("StartContainer", container_id)?;
        let c = st
            .containers
            .get_mut(container_id)
            .ok_or_else(|| Self::not_found("StartContainer", "container", container_id))?;
        if c.status.state != ContainerState::ContainerCreated as i32 {
            return Err(RuntimeError::Rpc {
                op: "StartContainer",
                code: tonic::Code::FailedPrecondition,
                message: format!("container {container_id} is not in created state"),
            });
        }
        c.status.state = ContainerState::ContainerRunning as i32;
        c.status.started_at = now_nanos();
        Ok(())
    }

    async fn stop_container(&self, container_id: &str, _timeout_seconds: i64) -> Result<()> {
        let mut st = self.enter("StopContainer", container_id)?;
        let code = st.stop_exit_code;
        let c = st
            .containers
            .get_mut(container_id)
            .ok_or_else(|| Self::not_found("StopContainer", "container", container_id))?;
        if c.status.state == ContainerState::ContainerRunning as i32 {
            c.status.state = ContainerState::ContainerExited as i32;
            c.status.exit_code = code;
            c.status.finished_at = now_nanos();
            c.status.reason = if code == 0 { "Completed" } else { "Error" }.into();
        } else if c.status.state == ContainerState::ContainerCreated as i32 {
            c.status.state = ContainerState::ContainerExited as i32;
        }
        Ok(())
    }

    async fn remove_container(&self, container_id: &str) -> Result<()> {
        let mut st = self.enter("RemoveContainer", container_id)?;
        st.containers.remove(container_id);
        Ok(())
    }

    async fn container_status(&self, container_id: &str) -> Result<ContainerStatus> {
        let st = self.enter("ContainerStatus", container_id)?;
        st.containers
            .get(container_id)
            .map(|c| c.status.clone())
            .ok_or_else(|| Self::not_found("ContainerStatus", "container", container_id))
    }

    async fn list_containers(&self, filter: Option<ContainerFilter>) -> Result<Vec<Container>> {
        let st = self.enter("ListContainers", "")?;
        let f = filter.unwrap_or_default();
        Ok(st
            .containers
            .iter()
            .filter(|(id, c)| {
                (f.id.is_empty() || f.id == **id)
                    && (f.pod_sandbox_id.is_empty() || f.pod_sandbox_id == c.sandbox_id)
                    && f.state.as_ref().is_none_or(|v| v.state == c.status.state)
                    && labels_match(&c.config.labels, &f.label_selector)
            })
            .map(|(id, c)| Container {
                id: id.clone(),
                pod_sandbox_id: c.sandbox_id.clone(),
                metadata: c.config.metadata.clone(),
                image: c.status.image.clone(),
                image_ref: c.status.image_ref.clone(),
                state: c.status.state,
                created_at: c.status.created_at,
                labels: c.config.labels.clone(),
                annotations: c.config.annotations.clone(),
                image_id: c.status.image_id.clone(),
            })
            .collect())
    }

    async fn reopen_container_log(&self, container_id: &str) -> Result<()> {
        let st = self.enter("ReopenContainerLog", container_id)?;
        if st.containers.contains_key(container_id) {
            Ok(())
        } else {
            Err(Self::not_found(
                "ReopenContainerLog",
                "container",
                container_id,
            ))
        }
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        _cmd: Vec<String>,
        _timeout: Duration,
    ) -> Result<ExecSyncResponse> {
        let st = self.enter("ExecSync", container_id)?;
        let c = st
            .containers
            .get(container_id)
            .ok_or_else(|| Self::not_found("ExecSync", "container", container_id))?;
        let name = c
            .config
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        Ok(st.exec_results.get(&name).cloned().unwrap_or_default())
    }

    async fn exec(&self, request: ExecRequest) -> Result<String> {
        let _st = self.enter("Exec", &request.container_id)?;
        Ok(format!("http://127.0.0.1:0/exec/{}", request.container_id))
    }

    async fn attach(&self, request: AttachRequest) -> Result<String> {
        let _st = self.enter("Attach", &request.container_id)?;
        Ok(format!(
            "http://127.0.0.1:0/attach/{}",
            request.container_id
        ))
    }

    async fn port_forward(&self, request: PortForwardRequest) -> Result<String> {
        let _st = self.enter("PortForward", &request.pod_sandbox_id)?;
        Ok(format!(
            "http://127.0.0.1:0/portforward/{}",
            request.pod_sandbox_id
        ))
    }

    async fn container_stats(&self, container_id: &str) -> Result<ContainerStats> {
        let st = self.enter("ContainerStats", container_id)?;
        let c = st
            .containers
            .get(container_id)
            .ok_or_else(|| Self::not_found("ContainerStats", "container", container_id))?;
        Ok(ContainerStats {
            attributes: Some(ContainerAttributes {
                id: container_id.to_string(),
                metadata: c.config.metadata.clone(),
                labels: c.config.labels.clone(),
                annotations: c.config.annotations.clone(),
            }),
            ..Default::default()
        })
    }

    async fn list_container_stats(
        &self,
        _filter: Option<ContainerStatsFilter>,
    ) -> Result<Vec<ContainerStats>> {
        let st = self.enter("ListContainerStats", "")?;
        Ok(st
            .containers
            .iter()
            .map(|(id, c)| ContainerStats {
                attributes: Some(ContainerAttributes {
                    id: id.clone(),
                    metadata: c.config.metadata.clone(),
                    labels: c.config.labels.clone(),
                    annotations: c.config.annotations.clone(),
                }),
                ..Default::default()
            })
            .collect())
    }

    async fn pull_image(
        &self,
        image: ImageSpec,
        _auth: Option<AuthConfig>,
        _sandbox_config: Option<PodSandboxConfig>,
    ) -> Result<String> {
        let st = self.enter("PullImage", &image.image)?;
        if st.unpullable.contains(&image.image) {
            return Err(RuntimeError::NotFound {
                op: "PullImage",
                message: format!(
                    "failed to pull and unpack image {:?}: failed to resolve reference {:?}: not found",
                    image.image, image.image
                ),
            });
        }
        drop(st);
        if !self.state.lock().images.contains_key(&image.image) {
            self.add_image(&image.image);
        }
        Ok(self.state.lock().images[&image.image].id.clone())
    }

    async fn list_images(&self, _filter: Option<ImageFilter>) -> Result<Vec<Image>> {
        let st = self.enter("ListImages", "")?;
        Ok(st.images.values().cloned().collect())
    }

    async fn image_status(&self, image: ImageSpec) -> Result<Option<Image>> {
        let st = self.enter("ImageStatus", &image.image)?;
        Ok(st.images.get(&image.image).cloned())
    }

    async fn remove_image(&self, image: ImageSpec) -> Result<()> {
        let mut st = self.enter("RemoveImage", &image.image)?;
        st.images.remove(&image.image);
        Ok(())
    }

    async fn image_fs_info(&self) -> Result<ImageFsInfoResponse> {
        let _st = self.enter("ImageFsInfo", "")?;
        Ok(ImageFsInfoResponse::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox_config(name: &str) -> PodSandboxConfig {
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.into(),
                uid: "u1".into(),
                namespace: "default".into(),
                attempt: 0,
            }),
            log_directory: "/var/log/pods/default_p_u1".into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn lifecycle_is_consistent_and_recorded() {
        let rt = FakeRuntime::new();
        let sb = rt.run_pod_sandbox(sandbox_config("p"), "").await.unwrap();
        rt.pull_image(super::super::image_spec("img"), None, None)
            .await
            .unwrap();
        let cfg = ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: "c".into(),
                attempt: 0,
            }),
            image: Some(super::super::image_spec("img")),
            log_path: "c/0.log".into(),
            ..Default::default()
        };
        let id = rt
            .create_container(&sb, cfg, sandbox_config("p"))
            .await
            .unwrap();
        rt.start_container(&id).await.unwrap();
        let st = rt.container_status(&id).await.unwrap();
        assert_eq!(st.state, ContainerState::ContainerRunning as i32);
        assert_eq!(st.log_path, "/var/log/pods/default_p_u1/c/0.log");
        assert!(st.image_ref.starts_with("sha256:"));
        rt.exit_container(&id, 1, "Error");
        let st = rt.container_status(&id).await.unwrap();
        assert_eq!(
            (st.state, st.exit_code),
            (ContainerState::ContainerExited as i32, 1)
        );
        // A second start of an exited container is refused, as containerd does.
        assert!(rt.start_container(&id).await.is_err());
        rt.remove_pod_sandbox(&sb).await.unwrap();
        assert!(rt.container_status(&id).await.unwrap_err().is_not_found());
        assert_eq!(
            rt.ops(),
            vec![
                "RunPodSandbox",
                "PullImage",
                "CreateContainer",
                "StartContainer",
                "ContainerStatus",
                "ContainerStatus",
                "StartContainer",
                "RemovePodSandbox",
                "ContainerStatus"
            ]
        );
    }

    #[tokio::test]
    async fn injected_failures_and_unpullable_images() {
        let rt = FakeRuntime::new();
        rt.fail_next("Version", "boom");
        let err = rt.version().await.unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        rt.version().await.unwrap();
        rt.set_unpullable("nope");
        let err = rt
            .pull_image(super::super::image_spec("nope"), None, None)
            .await
            .unwrap_err();
        assert!(err.is_not_found());
        assert!(rt
            .image_status(super::super::image_spec("nope"))
            .await
            .unwrap()
            .is_none());
    }
}
