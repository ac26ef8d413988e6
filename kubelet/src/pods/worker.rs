//! worker: one pod's sync loop body: observe the runtime, decide, act, report.
//!
//! Mirrors upstream's `kuberuntime.SyncPod` in order: sandbox, init containers one at a
//! time (restartable "sidecar" init containers start and stay running), then app
//! containers, restarts by restartPolicy with CrashLoopBackOff, image pulls by
//! imagePullPolicy with ImagePullBackOff, and graceful termination (preStop, then
//! StopContainer with the remaining grace period, then the sandbox) when the pod is
//! deleted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::backoff::{go_duration, Backoff, Clock};
use super::config;
use super::status::{self, Attempt, Observed, RunState, SandboxInfo, Waiting};
use crate::container::dns::{hosts_file_content, pod_hostname};
use crate::container::env::{make_environment, ObjectSource, PodRuntimeInfo};
use crate::container::{container_config_pieces, NodeAllocatable};
use crate::runtime::{image_spec, Runtime, RuntimeError};
use crate::volumes::mounts::{container_mounts, termination_message, write_hosts_file};
use crate::volumes::{PodVolumes, VolumeManager};

/// Label with the pod uid on every sandbox and container (upstream's).
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
/// Label with the container name on every container (upstream's).
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";

/// Errors of one sync; the worker logs them and retries on its next tick.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// writing to the apiserver failed
    #[error("{0}")]
    Api(String),
    /// preparing the pod's directories failed
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// setting up the pod's volumes failed (upstream's FailedMount)
    #[error(transparent)]
    Volume(crate::volumes::VolumeError),
}

/// The apiserver side of a pod worker, behind a trait so the decisions are unit-tested.
#[async_trait]
pub trait PodApi: Send + Sync + 'static {
    /// Writes `status` to pods/status.
    async fn patch_status(&self, pod: &Pod, status: &PodStatus) -> Result<(), SyncError>;
    /// Finishes a graceful deletion: DELETE with gracePeriodSeconds=0 and a uid
    /// precondition, as upstream's status manager does once the pod is terminated.
    async fn finish_deletion(&self, pod: &Pod) -> Result<(), SyncError>;
    /// Records a core/v1 Event about the pod (`field_path` like `spec.containers{c}`).
    async fn event(
        &self,
        pod: &Pod,
        field_path: Option<String>,
        type_: &str,
        reason: &str,
        message: &str,
    );
}

/// Settings and shared state of every worker.
pub struct PodContext {
    pub runtime: Arc<dyn Runtime>,
    pub api: Arc<dyn PodApi>,
    pub clock: Arc<dyn Clock>,
    pub crash_backoff: Backoff,
    pub pull_backoff: Backoff,
    pub node_name: String,
    pub host_ip: String,
    /// `containerd` in containerIDs (`containerd://<id>`).
    pub runtime_name: String,
    pub pod_logs_dir: PathBuf,
    pub cluster_dns: Vec<String>,
    pub cluster_domain: String,
    pub resolv_conf: PathBuf,
    /// ConfigMaps and Secrets for env and volumes.
    pub objects: Arc<dyn ObjectSource>,
    /// Pod volumes under the root dir.
    pub volumes: Arc<VolumeManager>,
    /// Node allocatable (resourceFieldRef defaults).
    pub allocatable: NodeAllocatable,
    /// Node memory capacity in bytes (oom_score_adj).
    pub memory_capacity: i64,
    /// Liveness, readiness and startup probes (None: no probing, as in unit tests).
    pub probes: Option<Arc<crate::probes::ProbeManager>>,
}

/// What the caller should do after a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Keep the worker; sync again on the next change or tick.
    Continue,
    /// The pod is gone: everything is stopped and removed.
    Finished,
}

/// One pod's worker state between syncs.
pub struct Worker {
    ctx: Arc<PodContext>,
    waiting: HashMap<String, Waiting>,
    last_status: Option<PodStatus>,
    terminated: bool,
    volumes: PodVolumes,
    pod_ips: Vec<String>,
}

fn nanos_to_system_time(n: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(n.max(0) as u64)
}

fn run_state(s: i32) -> RunState {
    match cri::ContainerState::try_from(s) {
        Ok(cri::ContainerState::ContainerCreated) => RunState::Created,
        Ok(cri::ContainerState::ContainerRunning) => RunState::Running,
        Ok(cri::ContainerState::ContainerExited) => RunState::Exited,
        _ => RunState::Unknown,
    }
}

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

/// The event fieldPath of a container: `spec.containers{name}` or
/// `spec.initContainers{name}`.
pub fn container_field_path(pod: &Pod, name: &str) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if spec.containers.iter().any(|c| c.name == name) {
        return Some(format!("spec.containers{{{name}}}"));
    }
    Some(format!("spec.initContainers{{{name}}}"))
}

impl Worker {
    pub fn new(ctx: Arc<PodContext>) -> Self {
        Worker {
            ctx,
            waiting: HashMap::new(),
            last_status: None,
            terminated: false,
            volumes: PodVolumes::new(),
            pod_ips: Vec::new(),
        }
    }

    /// The last status written (or computed, when writing failed).
    pub fn last_status(&self) -> Option<&PodStatus> {
        self.last_status.as_ref()
    }

    /// The runtime's view of the pod.
    pub async fn observe(&self, uid: &str) -> Result<Observed, SyncError> {
        let rt = &self.ctx.runtime;
        let selector = HashMap::from([(LABEL_POD_UID.to_string(), uid.to_string())]);
        let mut sandboxes = rt
            .list_pod_sandbox(Some(cri::PodSandboxFilter {
                label_selector: selector.clone(),
                ..Default::default()
            }))
            .await?;
        sandboxes.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        let sandbox = match sandboxes.first() {
            Some(s) => {
                let st = rt.pod_sandbox_status(&s.id).await?;
                Some(SandboxInfo {
                    id: s.id.clone(),
                    ready: st.state == cri::PodSandboxState::SandboxReady as i32,
                    ip: st.network.map(|n| n.ip).unwrap_or_default(),
                })
            }
            None => None,
        };
        let containers = rt
            .list_containers(Some(cri::ContainerFilter {
                label_selector: selector,
                ..Default::default()
            }))
            .await?;
        let mut by_name: HashMap<String, Vec<Attempt>> = HashMap::new();
        for c in containers {
            let name = c
                .metadata
                .as_ref()
                .map(|m| m.name.clone())
                .unwrap_or_default();
            let st = match rt.container_status(&c.id).await {
                Ok(st) => st,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let mut message = st.message.clone();
            if run_state(st.state) == RunState::Exited {
                // Upstream getTerminationMessage: the termination-log file (found through
                // the mount at terminationMessagePath), or the log tail with
                // FallbackToLogsOnError; appended to the runtime's message.
                let path = st
                    .annotations
                    .get(config::ANNOTATION_TERMINATION_MESSAGE_PATH)
                    .cloned()
                    .unwrap_or_else(|| "/dev/termination-log".into());
                let host_file = st
                    .mounts
                    .iter()
                    .find(|m| m.container_path == path)
                    .map(|m| PathBuf::from(&m.host_path));
                let log = (!st.log_path.is_empty()).then(|| PathBuf::from(&st.log_path));
                let text = termination_message(
                    host_file.as_deref(),
                    st.annotations
                        .get(config::ANNOTATION_TERMINATION_MESSAGE_POLICY)
                        .map(String::as_str),
                    st.exit_code,
                    log.as_deref(),
                );
                if !text.is_empty() {
                    if !message.is_empty() {
                        message.push_str(": ");
                    }
                    message.push_str(&text);
                }
            }
            by_name.entry(name).or_default().push(Attempt {
                id: c.id.clone(),
                attempt: st.metadata.as_ref().map(|m| m.attempt).unwrap_or(0),
                state: run_state(st.state),
                exit_code: st.exit_code,
                reason: st.reason.clone(),
                message,
                created_at: st.created_at,
                started_at: st.started_at,
                finished_at: st.finished_at,
                image_ref: if st.image_ref.is_empty() {
                    st.image_id.clone()
                } else {
                    st.image_ref.clone()
                },
            });
        }
        for v in by_name.values_mut() {
            v.sort_by_key(|a| std::cmp::Reverse((a.attempt, a.created_at)));
        }
        Ok(Observed {
            sandbox,
            containers: by_name,
        })
    }

    /// One sync of `pod` (None: the pod was removed from the apiserver).
    pub async fn sync(&mut self, pod: &Pod, removed: bool) -> Result<Outcome, SyncError> {
        if removed {
            if !self.terminated {
                let grace = grace_period(pod);
                self.terminate(pod, grace).await?;
            }
            return Ok(Outcome::Finished);
        }
        if pod.metadata.deletion_timestamp.is_some() {
            if !self.terminated {
                let grace = grace_period(pod);
                self.terminate(pod, grace).await?;
                let observed = self.observe(&uid_of(pod)).await?;
                self.report(pod, &observed).await?;
            }
            self.ctx.api.finish_deletion(pod).await?;
            return Ok(Outcome::Finished);
        }
        let uid = uid_of(pod);
        let mut observed = self.observe(&uid).await?;

        // A pod that reached Succeeded/Failed stays so: nothing restarts (upstream
        // never restarts containers of a terminal pod).
        let terminal = self
            .last_status
            .as_ref()
            .or(pod.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|p| p == "Succeeded" || p == "Failed");
        if terminal {
            if let Some(sb) = observed.sandbox.as_ref().filter(|s| s.ready) {
                self.ctx.runtime.stop_pod_sandbox(&sb.id).await?;
                observed = self.observe(&uid).await?;
            }
            self.report(pod, &observed).await?;
            return Ok(Outcome::Continue);
        }

        let sandbox_config =
            config::sandbox_config(pod, &self.ctx, next_sandbox_attempt(&observed));
        let sandbox_id = match observed.sandbox.as_ref().filter(|s| s.ready) {
            Some(s) => s.id.clone(),
            None => {
                // Upstream: a dead sandbox means every container is killed and the pod
                // starts over in a new sandbox.
                if let Some(old) = &observed.sandbox {
                    self.ctx.runtime.stop_pod_sandbox(&old.id).await?;
                }
                let dir = &sandbox_config.log_directory;
                std::fs::create_dir_all(dir).map_err(|source| SyncError::Io {
                    what: format!("creating pod log directory {dir}"),
                    source,
                })?;
                match self
                    .ctx
                    .runtime
                    .run_pod_sandbox(sandbox_config.clone(), "")
                    .await
                {
                    Ok(id) => {
                        observed = self.observe(&uid).await?;
                        id
                    }
                    Err(e) => {
                        self.ctx
                            .api
                            .event(
                                pod,
                                None,
                                "Warning",
                                "FailedCreatePodSandBox",
                                &format!("Failed to create pod sandbox: {e}"),
                            )
                            .await;
                        self.report(pod, &observed).await?;
                        return Err(e.into());
                    }
                }
            }
        };

        // The pod's IPs (env status.podIP, probes, /etc/hosts): the node's on
        // hostNetwork, else the sandbox's.
        let host_network = pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        if host_network {
            self.pod_ips = vec![self.ctx.host_ip.clone()];
        } else if let Some(sb) = observed.sandbox.as_ref().filter(|s| !s.ip.is_empty()) {
            self.pod_ips = vec![sb.ip.clone()];
        }
        // Volumes are set up (and configMap/secret/downwardAPI content refreshed, written
        // atomically) on every sync, as upstream's volume manager does before SyncPod
        // starts containers. Here it runs after the sandbox so downward API values that
        // need the pod IP have it. A failure is upstream's FailedMount event and a retry.
        match self.ctx.volumes.setup_pod(pod, &self.runtime_info()).await {
            Ok(v) => self.volumes = v,
            Err(e) => {
                let message = e.to_string();
                self.ctx
                    .api
                    .event(pod, None, "Warning", "FailedMount", &message)
                    .await;
                self.report(pod, &observed).await?;
                return Err(SyncError::Volume(e));
            }
        }
        let spec = pod.spec.clone().unwrap_or_default();
        let restart_policy = spec
            .restart_policy
            .clone()
            .unwrap_or_else(|| "Always".into());
        let mut init_ok = true;
        for c in spec.init_containers.iter().flatten() {
            let latest = observed.latest(&c.name).cloned();
            if status::is_sidecar(c) {
                match latest {
                    None => {
                        self.start(pod, c, 0, &sandbox_id, &sandbox_config).await;
                    }
                    Some(a) if a.state == RunState::Exited => {
                        self.restart_with_backoff(pod, c, &a, &sandbox_id, &sandbox_config)
                            .await;
                    }
                    Some(_) => {
                        self.waiting.remove(&c.name);
                    }
                }
                // Later init containers wait until the sidecar started: running, and
                // its startup probe succeeded (upstream's started).
                let now = self.observe(&uid).await?;
                let started = match now.latest(&c.name) {
                    Some(a) if a.state == RunState::Running => self.probe_started(pod, c, a),
                    _ => false,
                };
                if !started {
                    init_ok = false;
                    break;
                }
                observed = now;
                continue;
            }
            match latest {
                None => {
                    self.start(pod, c, 0, &sandbox_id, &sandbox_config).await;
                    init_ok = false;
                    break;
                }
                Some(a) if a.state == RunState::Exited && a.exit_code == 0 => {
                    self.waiting.remove(&c.name);
                    continue;
                }
                Some(a) if a.state == RunState::Exited => {
                    // A failed init container restarts unless restartPolicy is Never.
                    if restart_policy != "Never" {
                        self.restart_with_backoff(pod, c, &a, &sandbox_id, &sandbox_config)
                            .await;
                    }
                    init_ok = false;
                    break;
                }
                Some(_) => {
                    init_ok = false;
                    break;
                }
            }
        }
        if init_ok {
            for c in &spec.containers {
                match observed.latest(&c.name).cloned() {
                    None => {
                        self.start(pod, c, 0, &sandbox_id, &sandbox_config).await;
                    }
                    Some(a) if a.state == RunState::Exited => {
                        let restart = match restart_policy.as_str() {
                            "Never" => false,
                            "OnFailure" => a.exit_code != 0,
                            _ => true,
                        };
                        if restart {
                            self.restart_with_backoff(pod, c, &a, &sandbox_id, &sandbox_config)
                                .await;
                        } else {
                            self.waiting.remove(&c.name);
                        }
                    }
                    Some(_) => {
                        self.waiting.remove(&c.name);
                    }
                }
            }
        }
        let mut observed = self.observe(&uid).await?;
        // Container GC: keep the running/latest attempt and the one before it (for
        // lastState and `logs --previous`), like upstream's per-container dead limit.
        let mut removed_any = false;
        for attempts in observed.containers.values() {
            for old in attempts
                .iter()
                .skip(2)
                .filter(|a| a.state == RunState::Exited)
            {
                match self.ctx.runtime.remove_container(&old.id).await {
                    Ok(()) => removed_any = true,
                    Err(e) => tracing::debug!(error = %e, "removing old container"),
                }
            }
        }
        if removed_any {
            observed = self.observe(&uid).await?;
        }
        self.probe(pod, &observed).await;
        self.report(pod, &observed).await?;
        Ok(Outcome::Continue)
    }

    /// Starts probe workers for running containers and kills those whose liveness or
    /// startup probe failed (upstream restarts them through the normal restart path).
    async fn probe(&mut self, pod: &Pod, observed: &Observed) {
        let Some(probes) = self.ctx.probes.clone() else {
            return;
        };
        let uid = uid_of(pod);
        let pod_ip = self.pod_ips.first().cloned().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        for c in spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
        {
            let Some(a) = observed.latest(&c.name) else {
                continue;
            };
            if a.state != RunState::Running {
                probes.container_stopped(&uid, &c.name);
                continue;
            }
            probes.container_started(pod, c, &a.id, &pod_ip);
            if probes.status(&uid, &c.name).is_some_and(|st| !st.live) {
                let what = if probes.status(&uid, &c.name).is_some_and(|st| !st.started) {
                    "startup"
                } else {
                    "liveness"
                };
                self.ctx
                    .api
                    .event(
                        pod,
                        container_field_path(pod, &c.name),
                        "Normal",
                        "Killing",
                        &format!(
                            "Container {} failed {what} probe, will be restarted",
                            c.name
                        ),
                    )
                    .await;
                let grace = c
                    .liveness_probe
                    .as_ref()
                    .and_then(|p| p.termination_grace_period_seconds)
                    .unwrap_or_else(|| grace_period(pod));
                if let Err(e) = self.ctx.runtime.stop_container(&a.id, grace).await {
                    tracing::warn!(error = %e, container = %c.name, "killing unhealthy container");
                }
                probes.container_stopped(&uid, &c.name);
            }
        }
    }

    /// Whether a running container's startup probe succeeded (true without one, or
    /// without a probe manager); starts its probe workers.
    fn probe_started(&self, pod: &Pod, c: &Container, a: &Attempt) -> bool {
        let (Some(probes), Some(_)) = (&self.ctx.probes, &c.startup_probe) else {
            return true;
        };
        let pod_ip = self.pod_ips.first().cloned().unwrap_or_default();
        probes.container_started(pod, c, &a.id, &pod_ip);
        probes
            .status(&uid_of(pod), &c.name)
            .is_some_and(|st| st.started)
    }

    fn runtime_info(&self) -> PodRuntimeInfo {
        PodRuntimeInfo {
            node_name: self.ctx.node_name.clone(),
            host_ips: vec![self.ctx.host_ip.clone()],
            pod_ips: self.pod_ips.clone(),
            allocatable: self.ctx.allocatable.clone(),
        }
    }

    /// The full CRI container config: env, expansion, security context and resources from
    /// the `container` module, mounts from `volumes`.
    async fn build_config(
        &self,
        pod: &Pod,
        c: &Container,
        attempt: u32,
        image_ref: &str,
    ) -> Result<cri::ContainerConfig, String> {
        // Service link variables (upstream pkg/kubelet/envvars). Upstream refuses to
        // build the env before its Service informer synced; here a failed list (no
        // apiserver, e.g. static pods offline) is logged and the links are left out.
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let links = pod
            .spec
            .as_ref()
            .and_then(|s| s.enable_service_links)
            .unwrap_or(true);
        let services = match self.ctx.objects.services_for_pod(&ns, links).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, pod = %status::pod_desc(pod), "listing services for service links");
                Vec::new()
            }
        };
        let env = make_environment(
            pod,
            c,
            &self.runtime_info(),
            &services,
            self.ctx.objects.as_ref(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let pieces = container_config_pieces(pod, c, &env, self.ctx.memory_capacity);
        let pod_dir = self.ctx.volumes.pod_dir(&uid_of(pod));
        // The kubelet-managed /etc/hosts (upstream makeHostsMount/ensureHostsFile): only
        // once the pod has an IP; for hostNetwork a copy of the node's /etc/hosts.
        let etc_hosts = if self.pod_ips.is_empty() {
            None
        } else {
            let host = pod_hostname(pod, &self.ctx.cluster_domain).map_err(|e| e.to_string())?;
            let host_network = pod
                .spec
                .as_ref()
                .and_then(|s| s.host_network)
                .unwrap_or(false);
            let node_hosts = if host_network {
                std::fs::read_to_string("/etc/hosts").unwrap_or_default()
            } else {
                String::new()
            };
            let content = hosts_file_content(pod, &self.pod_ips, &host, &node_hosts);
            Some(
                write_hosts_file(&pod_dir, &content)
                    .map_err(|e| format!("writing the pod's hosts file: {e}"))?,
            )
        };
        let mounts = container_mounts(
            pod,
            c,
            &pod_dir,
            &self.volumes,
            &env.as_map(),
            etc_hosts.as_deref(),
        )
        .map_err(|e| e.to_string())?;
        let mut cfg = config::container_config(pod, c, attempt, image_ref);
        cfg.command = pieces.command;
        cfg.args = pieces.args;
        cfg.working_dir = pieces.working_dir;
        cfg.envs = pieces.envs;
        let mut linux = pieces.linux;
        // Namespace options follow the sandbox's (hostNetwork/hostPID/hostIPC).
        if let (Some(sc), Some(base)) = (
            linux.security_context.as_mut(),
            cfg.linux
                .as_ref()
                .and_then(|l| l.security_context.as_ref())
                .and_then(|s| s.namespace_options.clone()),
        ) {
            if sc.namespace_options.is_none() {
                sc.namespace_options = Some(base);
            }
        }
        cfg.linux = Some(linux);
        cfg.mounts = mounts.mounts;
        Ok(cfg)
    }

    /// Computes the status and writes it when it changed.
    async fn report(&mut self, pod: &Pod, observed: &Observed) -> Result<(), SyncError> {
        let mut readiness = HashMap::new();
        let mut started = HashMap::new();
        if let Some(probes) = &self.ctx.probes {
            let uid = uid_of(pod);
            for name in observed.containers.keys() {
                if let Some(st) = probes.status(&uid, name) {
                    readiness.insert(name.clone(), st.ready);
                    started.insert(name.clone(), st.started);
                }
            }
        }
        let mut base = pod.clone();
        if let Some(last) = &self.last_status {
            // Keep our own transition times and startTime between syncs.
            let mut st = last.clone();
            let server = pod.status.clone().unwrap_or_default();
            let sched = server
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "PodScheduled")
                .cloned();
            if let Some(conds) = st.conditions.as_mut() {
                conds.retain(|c| c.type_ != "PodScheduled");
                conds.extend(sched);
            }
            base.status = Some(st);
        }
        let ctx = status::StatusContext {
            host_ip: &self.ctx.host_ip,
            runtime_name: &self.ctx.runtime_name,
            waiting: &self.waiting,
            readiness: &readiness,
            started: &started,
            now: Time(
                k8s_openapi::jiff::Timestamp::try_from(self.ctx.clock.now())
                    .unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now()),
            ),
        };
        let new = status::compute(&base, observed, &ctx);
        if status::changed(self.last_status.as_ref(), &new) {
            self.ctx.api.patch_status(pod, &new).await?;
            self.last_status = Some(new);
        }
        Ok(())
    }

    async fn restart_with_backoff(
        &mut self,
        pod: &Pod,
        c: &Container,
        last: &Attempt,
        sandbox_id: &str,
        sandbox_config: &cri::PodSandboxConfig,
    ) {
        let key = format!("{}/{}", uid_of(pod), c.name);
        let finished = nanos_to_system_time(last.finished_at);
        if self.ctx.crash_backoff.in_backoff_since(&key, finished) {
            let msg = format!(
                "back-off {} restarting failed container={} pod={}",
                go_duration(self.ctx.crash_backoff.get(&key)),
                c.name,
                status::pod_desc(pod)
            );
            let w = Waiting {
                reason: "CrashLoopBackOff".into(),
                message: msg,
            };
            if self.waiting.get(&c.name) != Some(&w) {
                self.ctx
                    .api
                    .event(
                        pod,
                        container_field_path(pod, &c.name),
                        "Warning",
                        "BackOff",
                        &format!(
                            "Back-off restarting failed container {} in pod {}",
                            c.name,
                            status::pod_desc(pod)
                        ),
                    )
                    .await;
                self.waiting.insert(c.name.clone(), w);
            }
            return;
        }
        self.ctx.crash_backoff.next(&key);
        self.start(pod, c, last.attempt + 1, sandbox_id, sandbox_config)
            .await;
    }

    /// Pulls (per policy), creates and starts one container; failures become the
    /// container's waiting reason and an event, as upstream's startContainer reports them.
    async fn start(
        &mut self,
        pod: &Pod,
        c: &Container,
        attempt: u32,
        sandbox_id: &str,
        sandbox_config: &cri::PodSandboxConfig,
    ) {
        let field = container_field_path(pod, &c.name);
        let image_ref = match self.ensure_image(pod, c, sandbox_config).await {
            Ok(r) => r,
            Err(w) => {
                self.waiting.insert(c.name.clone(), w);
                return;
            }
        };
        let cfg = match self.build_config(pod, c, attempt, &image_ref).await {
            Ok(cfg) => cfg,
            Err(msg) => {
                // Upstream's CreateContainerConfigError (missing ConfigMap key, ...).
                self.ctx
                    .api
                    .event(
                        pod,
                        field.clone(),
                        "Warning",
                        "Failed",
                        &format!("Error: {msg}"),
                    )
                    .await;
                self.waiting.insert(
                    c.name.clone(),
                    Waiting {
                        reason: "CreateContainerConfigError".into(),
                        message: msg,
                    },
                );
                return;
            }
        };
        let log_dir = PathBuf::from(&sandbox_config.log_directory).join(&c.name);
        if let Err(e) = std::fs::create_dir_all(&log_dir) {
            tracing::warn!(error = %e, dir = %log_dir.display(), "creating container log directory");
        }
        let result = async {
            let id = self
                .ctx
                .runtime
                .create_container(sandbox_id, cfg, sandbox_config.clone())
                .await
                .map_err(|e| ("CreateContainerError", e))?;
            self.ctx
                .api
                .event(
                    pod,
                    field.clone(),
                    "Normal",
                    "Created",
                    &format!("Created container: {}", c.name),
                )
                .await;
            self.ctx
                .runtime
                .start_container(&id)
                .await
                .map_err(|e| ("RunContainerError", e))?;
            Ok::<_, (&str, RuntimeError)>(id)
        }
        .await;
        let id = match result {
            Ok(id) => id,
            Err((reason, e)) => {
                self.ctx
                    .api
                    .event(
                        pod,
                        field.clone(),
                        "Warning",
                        "Failed",
                        &format!("Error: {e}"),
                    )
                    .await;
                self.waiting.insert(
                    c.name.clone(),
                    Waiting {
                        reason: reason.into(),
                        message: e.to_string(),
                    },
                );
                return;
            }
        };
        self.waiting.remove(&c.name);
        self.ctx
            .api
            .event(
                pod,
                field.clone(),
                "Normal",
                "Started",
                &format!("Started container {}", c.name),
            )
            .await;
        if let Some(handler) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
            if let Err(msg) = self
                .run_hook(pod, &id, handler, Duration::from_secs(30))
                .await
            {
                // Upstream: a failed postStart hook kills the container.
                self.ctx
                    .api
                    .event(
                        pod,
                        field.clone(),
                        "Warning",
                        "FailedPostStartHook",
                        &format!("PostStartHook failed: {msg}"),
                    )
                    .await;
                let _ = self.ctx.runtime.stop_container(&id, 0).await;
            }
        }
    }

    /// Makes the image present per imagePullPolicy; returns the image to run.
    async fn ensure_image(
        &self,
        pod: &Pod,
        c: &Container,
        sandbox_config: &cri::PodSandboxConfig,
    ) -> Result<String, Waiting> {
        let image = c.image.clone().unwrap_or_default();
        let field = container_field_path(pod, &c.name);
        let api = &self.ctx.api;
        let policy = c.image_pull_policy.clone().unwrap_or_else(|| {
            // Upstream defaulting: Always for :latest or untagged, else IfNotPresent.
            let last = image.rsplit('/').next().unwrap_or("");
            if image.contains('@') || (last.contains(':') && !last.ends_with(":latest")) {
                "IfNotPresent".into()
            } else {
                "Always".into()
            }
        });
        let present = if policy == "Always" {
            None
        } else {
            self.ctx
                .runtime
                .image_status(image_spec(&image))
                .await
                .ok()
                .flatten()
        };
        if let Some(img) = present {
            api.event(
                pod,
                field,
                "Normal",
                "Pulled",
                &format!("Container image \"{image}\" already present on machine"),
            )
            .await;
            return Ok(if img.id.is_empty() { image } else { img.id });
        }
        if policy == "Never" {
            let msg =
                format!("Container image \"{image}\" is not present with pull policy of Never");
            api.event(pod, field.clone(), "Warning", "ErrImageNeverPull", &msg)
                .await;
            return Err(Waiting {
                reason: "ErrImageNeverPull".into(),
                message: msg,
            });
        }
        let key = format!("{}/{}", uid_of(pod), image);
        if self.ctx.pull_backoff.in_backoff_since_update(&key) {
            let msg = format!("Back-off pulling image \"{image}\"");
            api.event(pod, field, "Normal", "BackOff", &msg).await;
            return Err(Waiting {
                reason: "ImagePullBackOff".into(),
                message: msg,
            });
        }
        api.event(
            pod,
            field.clone(),
            "Normal",
            "Pulling",
            &format!("Pulling image \"{image}\""),
        )
        .await;
        let started = Instant::now();
        match self
            .ctx
            .runtime
            .pull_image(image_spec(&image), None, Some(sandbox_config.clone()))
            .await
        {
            Ok(image_ref) => {
                let took = started.elapsed().as_secs_f64();
                api.event(
                    pod,
                    field,
                    "Normal",
                    "Pulled",
                    &format!(
                        "Successfully pulled image \"{image}\" in {took:.3}s ({took:.3}s including waiting)"
                    ),
                )
                .await;
                Ok(if image_ref.is_empty() {
                    image
                } else {
                    image_ref
                })
            }
            Err(e) => {
                self.ctx.pull_backoff.next(&key);
                let msg = format!("Failed to pull image \"{image}\": {e}");
                api.event(pod, field.clone(), "Warning", "Failed", &msg)
                    .await;
                api.event(pod, field, "Warning", "Failed", "Error: ErrImagePull")
                    .await;
                Err(Waiting {
                    reason: "ErrImagePull".into(),
                    message: msg,
                })
            }
        }
    }

    /// Runs a lifecycle hook (exec, httpGet, sleep) against container `id`.
    async fn run_hook(
        &self,
        pod: &Pod,
        id: &str,
        handler: &LifecycleHandler,
        timeout: Duration,
    ) -> Result<(), String> {
        if let Some(exec) = &handler.exec {
            let cmd = exec.command.clone().unwrap_or_default();
            let resp = self
                .ctx
                .runtime
                .exec_sync(id, cmd.clone(), timeout)
                .await
                .map_err(|e| {
                    format!(
                        "Exec lifecycle hook ({cmd:?}) for Container in Pod {} failed - error: {e}",
                        status::pod_desc(pod)
                    )
                })?;
            if resp.exit_code != 0 {
                return Err(format!(
                    "Exec lifecycle hook ({cmd:?}) for Container in Pod {} failed - error: command '{}' exited with {}: {}",
                    status::pod_desc(pod),
                    cmd.join(" "),
                    resp.exit_code,
                    String::from_utf8_lossy(&resp.stderr)
                ));
            }
            return Ok(());
        }
        if let Some(sleep) = &handler.sleep {
            let d = Duration::from_secs(sleep.seconds.max(0) as u64).min(timeout);
            tokio::time::sleep(d).await;
            return Ok(());
        }
        if let Some(http) = &handler.http_get {
            let host = http
                .host
                .clone()
                .or_else(|| pod.status.as_ref().and_then(|s| s.pod_ip.clone()))
                .ok_or("no pod IP for httpGet hook")?;
            let port = match &http.port {
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p) => *p,
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(name) => {
                    config::named_port(pod, name).ok_or_else(|| format!("unknown port {name:?}"))?
                }
            };
            let path = http.path.clone().unwrap_or_else(|| "/".into());
            return tokio::time::timeout(timeout, http_get(&host, port, &path))
                .await
                .map_err(|_| "http hook timed out".to_string())?;
        }
        Err("no handler specified".into())
    }

    /// Kills the pod: preStop hooks, StopContainer with the remaining grace period,
    /// then the sandbox.
    pub async fn terminate(&mut self, pod: &Pod, grace: i64) -> Result<(), SyncError> {
        let uid = uid_of(pod);
        let observed = self.observe(&uid).await?;
        let started = Instant::now();
        let running: Vec<(String, Attempt)> = observed
            .containers
            .iter()
            .filter_map(|(n, a)| a.first().map(|a| (n.clone(), a.clone())))
            .filter(|(_, a)| a.state == RunState::Running)
            .collect();
        let spec = pod.spec.clone().unwrap_or_default();
        let all: Vec<Container> = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .cloned()
            .collect();
        let this = &*self;
        let kills = running.iter().map(|(name, a)| {
            let c = all.iter().find(|c| &c.name == name).cloned();
            async move {
                this.ctx
                    .api
                    .event(
                        pod,
                        container_field_path(pod, name),
                        "Normal",
                        "Killing",
                        &format!("Stopping container {name}"),
                    )
                    .await;
                if let Some(pre) = c
                    .as_ref()
                    .and_then(|c| c.lifecycle.as_ref())
                    .and_then(|l| l.pre_stop.as_ref())
                {
                    let budget = Duration::from_secs(grace.max(0) as u64);
                    if let Err(msg) = this.run_hook(pod, &a.id, pre, budget).await {
                        this.ctx
                            .api
                            .event(
                                pod,
                                container_field_path(pod, name),
                                "Warning",
                                "FailedPreStopHook",
                                &format!("PreStopHook failed: {msg}"),
                            )
                            .await;
                    }
                }
                // Upstream: the hook's time comes out of the grace period, with a
                // 2 s minimum left for SIGTERM.
                let left = grace - started.elapsed().as_secs() as i64;
                let timeout = left.max(2);
                this.ctx.runtime.stop_container(&a.id, timeout).await
            }
        });
        for r in futures::future::join_all(kills).await {
            match r {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(sb) = &observed.sandbox {
            self.ctx.runtime.stop_pod_sandbox(&sb.id).await?;
        }
        self.terminated = true;
        if let Some(p) = &self.ctx.probes {
            p.remove_pod(&uid);
        }
        self.ctx.crash_backoff.forget_prefix(&format!("{uid}/"));
        self.ctx.pull_backoff.forget_prefix(&format!("{uid}/"));
        Ok(())
    }

    /// Removes the pod's sandboxes (and with them its containers) once it is finished.
    pub async fn cleanup(&self, uid: &str) -> Result<(), SyncError> {
        let selector = HashMap::from([(LABEL_POD_UID.to_string(), uid.to_string())]);
        for sb in self
            .ctx
            .runtime
            .list_pod_sandbox(Some(cri::PodSandboxFilter {
                label_selector: selector,
                ..Default::default()
            }))
            .await?
        {
            self.ctx.runtime.stop_pod_sandbox(&sb.id).await?;
            self.ctx.runtime.remove_pod_sandbox(&sb.id).await?;
        }
        if let Err(e) = self.ctx.volumes.teardown_pod(uid).await {
            tracing::warn!(error = %e, %uid, "tearing down pod volumes");
        }
        Ok(())
    }
}

/// The grace period to kill with: deletionGracePeriodSeconds when deleting, else the
/// spec's terminationGracePeriodSeconds (default 30).
pub fn grace_period(pod: &Pod) -> i64 {
    pod.metadata
        .deletion_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(30)
}

fn next_sandbox_attempt(observed: &Observed) -> u32 {
    // Attempt numbers are informational for CRI; a new sandbox after a dead one gets the
    // next number.
    u32::from(observed.sandbox.is_some())
}

async fn http_get(host: &str, port: i32, path: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect((host, port as u16))
        .await
        .map_err(|e| format!("Http lifecycle hook ({path}) failed - error: {e}"))?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-lifecycle/1.33\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64];
    let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&buf[..n]).to_string();
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!(
            "Http lifecycle hook ({path}) failed - status code {code}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::backoff::FakeClock;
    use crate::runtime::fake::FakeRuntime;
    use parking_lot::Mutex;

    #[derive(Default)]
    struct FakeApi {
        statuses: Mutex<Vec<PodStatus>>,
        deletions: Mutex<Vec<String>>,
        events: Mutex<Vec<(String, String)>>,
    }

    #[async_trait]
    impl PodApi for FakeApi {
        async fn patch_status(&self, _pod: &Pod, status: &PodStatus) -> Result<(), SyncError> {
            self.statuses.lock().push(status.clone());
            Ok(())
        }
        async fn finish_deletion(&self, pod: &Pod) -> Result<(), SyncError> {
            self.deletions.lock().push(uid_of(pod));
            Ok(())
        }
        async fn event(
            &self,
            _pod: &Pod,
            _f: Option<String>,
            _t: &str,
            reason: &str,
            message: &str,
        ) {
            self.events
                .lock()
                .push((reason.to_string(), message.to_string()));
        }
    }

    struct Env {
        rt: Arc<FakeRuntime>,
        api: Arc<FakeApi>,
        clock: FakeClock,
        worker: Worker,
        _dir: tempfile::TempDir,
    }

    fn env() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(FakeRuntime::new());
        let api = Arc::new(FakeApi::default());
        let clock = FakeClock::new(SystemTime::now());
        let c: Arc<dyn Clock> = Arc::new(clock.clone());
        let objects: Arc<dyn ObjectSource> = Arc::new(crate::container::FakeObjects::default());
        let ctx = Arc::new(PodContext {
            runtime: rt.clone(),
            api: api.clone(),
            clock: c.clone(),
            crash_backoff: Backoff::crash_loop(c.clone()),
            pull_backoff: Backoff::crash_loop(c),
            node_name: "n1".into(),
            host_ip: "192.168.0.10".into(),
            runtime_name: "containerd".into(),
            pod_logs_dir: dir.path().to_path_buf(),
            cluster_dns: vec!["10.96.0.10".into()],
            cluster_domain: "cluster.local".into(),
            resolv_conf: dir.path().join("resolv.conf"),
            objects: objects.clone(),
            volumes: Arc::new(VolumeManager::new(
                dir.path().join("root"),
                Arc::new(crate::volumes::mounter::FakeMounter::default()),
                objects,
            )),
            allocatable: NodeAllocatable::default(),
            memory_capacity: 1 << 30,
            probes: None,
        });
        Env {
            worker: Worker::new(ctx),
            rt,
            api,
            clock,
            _dir: dir,
        }
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": spec,
        }))
        .unwrap()
    }

    impl Env {
        async fn sync(&mut self, p: &Pod) -> Outcome {
            self.worker.sync(p, false).await.unwrap()
        }
        fn latest(&self, name: &str) -> String {
            self.rt
                .container_ids_named(name)
                .last()
                .cloned()
                .expect(name)
        }
        fn attempt(&self, name: &str) -> u32 {
            self.rt
                .container_config(&self.latest(name))
                .and_then(|c| c.metadata)
                .map(|m| m.attempt)
                .unwrap()
        }
        fn status(&self) -> PodStatus {
            self.worker.last_status().cloned().unwrap()
        }
        fn cstatus(&self, name: &str) -> k8s_openapi::api::core::v1::ContainerStatus {
            let st = self.status();
            st.container_statuses
                .iter()
                .flatten()
                .chain(st.init_container_statuses.iter().flatten())
                .find(|c| c.name == name)
                .cloned()
                .unwrap()
        }
        fn waiting_reason(&self, name: &str) -> Option<String> {
            self.cstatus(name).state?.waiting?.reason
        }
    }

    #[tokio::test]
    async fn init_containers_run_in_order_before_app_containers() {
        let mut e = env();
        let p = pod(serde_json::json!({
            "initContainers": [{"name": "i1", "image": "img:1"}, {"name": "i2", "image": "img:1"}],
            "containers": [{"name": "a", "image": "img:1"}],
        }));
        e.sync(&p).await;
        assert_eq!(e.rt.container_ids_named("i1").len(), 1);
        assert!(e.rt.container_ids_named("i2").is_empty());
        assert_eq!(e.status().phase.as_deref(), Some("Pending"));
        // The sandbox carries upstream's labels, log directory and cluster DNS.
        let sb = e.rt.list_pod_sandbox(None).await.unwrap();
        let cfg = e.rt.sandbox_config(&sb[0].id).unwrap();
        assert_eq!(cfg.labels[LABEL_POD_UID], "u1");
        assert!(cfg.log_directory.ends_with("ns_p_u1"));
        assert_eq!(cfg.dns_config.unwrap().searches[0], "ns.svc.cluster.local");

        e.sync(&p).await; // i1 still running: nothing new
        assert!(e.rt.container_ids_named("i2").is_empty());
        e.rt.exit_container(&e.latest("i1"), 0, "Completed");
        e.sync(&p).await;
        assert_eq!(e.rt.container_ids_named("i2").len(), 1);
        assert!(e.rt.container_ids_named("a").is_empty());
        e.rt.exit_container(&e.latest("i2"), 0, "Completed");
        e.sync(&p).await;
        let a = e.rt.container_config(&e.latest("a")).unwrap();
        assert_eq!(a.log_path, "a/0.log");
        let st = e.status();
        assert_eq!(st.phase.as_deref(), Some("Running"));
        assert_eq!(st.pod_ip.as_deref(), Some("10.88.0.2"));
        assert!(e.cstatus("a").ready);
    }

    #[tokio::test]
    async fn sidecar_init_containers_start_and_stay_running() {
        let mut e = env();
        let p = pod(serde_json::json!({
            "restartPolicy": "Never",
            "initContainers": [{"name": "s", "image": "img:1", "restartPolicy": "Always"}],
            "containers": [{"name": "a", "image": "img:1"}],
        }));
        e.sync(&p).await;
        assert_eq!(e.rt.container_ids_named("s").len(), 1);
        assert_eq!(e.rt.container_ids_named("a").len(), 1);
        // A sidecar is restarted even though the pod's policy is Never.
        e.rt.exit_container(&e.latest("s"), 1, "Error");
        e.sync(&p).await;
        assert_eq!(e.rt.container_ids_named("s").len(), 2);
    }

    #[tokio::test]
    async fn crash_loop_backoff_doubles() {
        let mut e = env();
        let p = pod(serde_json::json!({"containers": [{"name": "a", "image": "img:1"}]}));
        e.sync(&p).await;
        // First failure restarts at once.
        e.rt.exit_container_at(&e.latest("a"), 1, "Error", e.clock.now());
        e.sync(&p).await;
        assert_eq!(e.attempt("a"), 1);
        assert_eq!(e.cstatus("a").restart_count, 1);
        for window in [10u64, 20, 40] {
            e.rt.exit_container_at(&e.latest("a"), 1, "Error", e.clock.now());
            let before = e.attempt("a");
            e.sync(&p).await;
            assert_eq!(e.attempt("a"), before, "held back");
            assert_eq!(e.waiting_reason("a").as_deref(), Some("CrashLoopBackOff"));
            let msg = e
                .cstatus("a")
                .state
                .unwrap()
                .waiting
                .unwrap()
                .message
                .unwrap();
            assert_eq!(
                msg,
                format!("back-off {window}s restarting failed container=a pod=p_ns(u1)")
            );
            let last = e.cstatus("a").last_state.unwrap().terminated.unwrap();
            assert_eq!(last.exit_code, 1);
            e.clock.advance(Duration::from_secs(window - 1));
            e.sync(&p).await;
            assert_eq!(e.attempt("a"), before, "still held back");
            e.clock.advance(Duration::from_secs(2));
            e.sync(&p).await;
            assert_eq!(e.attempt("a"), before + 1, "restarted");
        }
        assert!(e.api.events.lock().iter().any(|(r, _)| r == "BackOff"));
        e.sync(&p).await;
        assert!(
            e.rt.container_ids_named("a").len() <= 2,
            "old attempts removed"
        );
    }

    #[tokio::test]
    async fn restart_policies() {
        let mut e = env();
        let p = pod(
            serde_json::json!({"restartPolicy": "Never", "containers": [{"name": "a", "image": "img:1"}]}),
        );
        e.sync(&p).await;
        e.rt.exit_container(&e.latest("a"), 3, "Error");
        e.sync(&p).await;
        e.sync(&p).await;
        assert_eq!(e.rt.container_ids_named("a").len(), 1);
        let st = e.status();
        assert_eq!(st.phase.as_deref(), Some("Failed"));
        let t = e.cstatus("a").state.unwrap().terminated.unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));

        let mut e = env();
        let p = pod(
            serde_json::json!({"restartPolicy": "OnFailure", "containers": [{"name": "a", "image": "img:1"}]}),
        );
        e.sync(&p).await;
        e.rt.exit_container(&e.latest("a"), 0, "Completed");
        e.sync(&p).await;
        assert_eq!(e.rt.container_ids_named("a").len(), 1);
        assert_eq!(e.status().phase.as_deref(), Some("Succeeded"));
    }

    #[tokio::test]
    async fn image_pull_policies() {
        let mut e = env();
        let p = pod(serde_json::json!({"containers": [
            {"name": "n", "image": "absent:1", "imagePullPolicy": "Never"},
            {"name": "b", "image": "broken:1", "imagePullPolicy": "IfNotPresent"},
            {"name": "ok", "image": "present:1", "imagePullPolicy": "IfNotPresent"},
        ]}));
        e.rt.add_image("present:1");
        e.rt.set_unpullable("broken:1");
        e.sync(&p).await;
        assert_eq!(e.waiting_reason("n").as_deref(), Some("ErrImageNeverPull"));
        assert_eq!(
            e.cstatus("n")
                .state
                .unwrap()
                .waiting
                .unwrap()
                .message
                .as_deref(),
            Some("Container image \"absent:1\" is not present with pull policy of Never")
        );
        assert_eq!(e.waiting_reason("b").as_deref(), Some("ErrImagePull"));
        let pulls = |e: &Env| e.rt.calls().iter().filter(|c| c.op == "PullImage").count();
        assert_eq!(pulls(&e), 1, "present image not pulled, Never not pulled");
        e.sync(&p).await;
        assert_eq!(e.waiting_reason("b").as_deref(), Some("ImagePullBackOff"));
        assert_eq!(pulls(&e), 1, "no pull during back-off");
        e.clock.advance(Duration::from_secs(11));
        e.sync(&p).await;
        assert_eq!(pulls(&e), 2);
        assert_eq!(e.status().phase.as_deref(), Some("Pending"));
    }

    #[tokio::test]
    async fn graceful_deletion_stops_everything_then_deletes() {
        let mut e = env();
        let mut p = pod(serde_json::json!({"containers": [
            {"name": "a", "image": "img:1", "lifecycle": {"preStop": {"exec": {"command": ["true"]}}}},
        ]}));
        e.sync(&p).await;
        let id = e.latest("a");
        p.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        p.metadata.deletion_grace_period_seconds = Some(5);
        assert_eq!(e.worker.sync(&p, false).await.unwrap(), Outcome::Finished);
        let ops = e.rt.ops();
        let exec = ops
            .iter()
            .position(|o| *o == "ExecSync")
            .expect("preStop ran");
        let stop = ops.iter().position(|o| *o == "StopContainer").unwrap();
        let sandbox = ops.iter().position(|o| *o == "StopPodSandbox").unwrap();
        assert!(exec < stop && stop < sandbox, "{ops:?}");
        assert_eq!(
            e.rt.container_status(&id).await.unwrap().state,
            cri::ContainerState::ContainerExited as i32
        );
        assert_eq!(e.api.deletions.lock().as_slice(), ["u1"]);
        assert!(e
            .api
            .events
            .lock()
            .iter()
            .any(|(r, m)| r == "Killing" && m == "Stopping container a"));
        e.worker.cleanup("u1").await.unwrap();
        assert!(e.rt.list_pod_sandbox(None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn status_is_written_only_when_it_changes() {
        let mut e = env();
        let p = pod(serde_json::json!({"containers": [{"name": "a", "image": "img:1"}]}));
        e.sync(&p).await;
        let n = e.api.statuses.lock().len();
        e.sync(&p).await;
        e.sync(&p).await;
        assert_eq!(e.api.statuses.lock().len(), n);
        e.rt.exit_container(&e.latest("a"), 1, "Error");
        e.sync(&p).await;
        assert!(e.api.statuses.lock().len() > n);
    }

    #[tokio::test]
    async fn failed_post_start_hook_kills_the_container() {
        let mut e = env();
        e.rt.set_exec_result(
            "a",
            cri::ExecSyncResponse {
                exit_code: 1,
                ..Default::default()
            },
        );
        let p = pod(serde_json::json!({"containers": [
            {"name": "a", "image": "img:1", "lifecycle": {"postStart": {"exec": {"command": ["false"]}}}},
        ]}));
        e.sync(&p).await;
        let st = e.rt.container_status(&e.latest("a")).await.unwrap();
        assert_eq!(st.state, cri::ContainerState::ContainerExited as i32);
        assert!(e
            .api
            .events
            .lock()
            .iter()
            .any(|(r, _)| r == "FailedPostStartHook"));
    }
}
