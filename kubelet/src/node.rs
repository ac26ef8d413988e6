//! node: the kubelet's Node object and its heartbeat.
//!
//! - [`MachineInfo`] reads the machine (cpu, memory, disk, kernel, OS image, ids).
//! - [`NodeAgent::register`] creates the Node (or adopts an existing one), as upstream's
//!   `registerWithAPIServer` does.
//! - [`NodeAgent::run`] computes the status every `nodeStatusUpdateFrequency` and patches
//!   it when it changed or when `nodeStatusReportFrequency` passed since the last report;
//!   a separate loop renews the `kube-node-lease` Lease every `leaseDuration / 4`
//!   (10 s for the default 40 s), mirroring upstream's node lease controller.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;

use crate::options::KubeletConfig;
use crate::runtime::Runtime;

/// The version this kubelet reports, the same string the project's apiserver serves from
/// `/version` (kubectl compares them).
pub const KUBELET_VERSION: &str = concat!("v1.33.0-rudder.", env!("CARGO_PKG_VERSION"));

/// Namespace of node leases (upstream `kube-node-lease`).
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// Errors registering or updating the Node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// an apiserver request failed
    #[error("{what}: {source}")]
    Api {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    /// the container runtime failed
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
}

/// What the kubelet knows about the machine it runs on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MachineInfo {
    pub hostname: String,
    pub num_cpus: usize,
    pub memory_bytes: u64,
    /// Capacity of the filesystem holding the root dir.
    pub ephemeral_storage_bytes: u64,
    pub kernel_version: String,
    pub os_image: String,
    pub machine_id: String,
    pub boot_id: String,
    pub system_uuid: String,
    pub architecture: String,
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `MemTotal` from /proc/meminfo text, in bytes.
pub fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `PRETTY_NAME` from /etc/os-release text (upstream's osImage), unquoted.
pub fn parse_os_release(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("PRETTY_NAME="))?;
    let v = line.trim_start_matches("PRETTY_NAME=").trim();
    Some(v.trim_matches('"').trim_matches('\'').to_string())
}

impl MachineInfo {
    /// Reads the machine; `root_dir` names the filesystem whose size is ephemeral-storage.
    pub fn read(root_dir: &Path) -> MachineInfo {
        let ephemeral_storage_bytes = rustix::fs::statvfs(root_dir)
            .or_else(|_| rustix::fs::statvfs("/"))
            .map(|s| s.f_blocks * s.f_frsize)
            .unwrap_or(0);
        MachineInfo {
            hostname: read_trim("/proc/sys/kernel/hostname").to_lowercase(),
            num_cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            memory_bytes: std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|t| parse_meminfo_total(&t))
                .unwrap_or(0),
            ephemeral_storage_bytes,
            kernel_version: read_trim("/proc/sys/kernel/osrelease"),
            os_image: std::fs::read_to_string("/etc/os-release")
                .ok()
                .and_then(|t| parse_os_release(&t))
                .unwrap_or_else(|| "Linux".into()),
            machine_id: read_trim("/etc/machine-id"),
            boot_id: read_trim("/proc/sys/kernel/random/boot_id"),
            system_uuid: read_trim("/sys/class/dmi/id/product_uuid"),
            architecture: match std::env::consts::ARCH {
                "x86_64" => "amd64",
                "aarch64" => "arm64",
                other => other,
            }
            .to_string(),
        }
    }
}

/// The node's InternalIP when `--node-ip` is not given: the source address the kernel
/// would pick for the default route. A connected UDP socket sends nothing; it only asks
/// the routing table. Falls back to 127.0.0.1 on a machine without a default route.
pub fn default_node_ip() -> IpAddr {
    let probe = || -> std::io::Result<IpAddr> {
        let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
        s.connect("192.0.2.1:9")?;
        Ok(s.local_addr()?.ip())
    };
    probe().unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// Static inputs of the node object.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub name: String,
    pub node_ip: IpAddr,
    pub hostname: String,
    pub max_pods: u32,
    pub port: u16,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<k8s_openapi::api::core::v1::Taint>,
    pub status_update_frequency: Duration,
    pub status_report_frequency: Duration,
    pub lease_duration_seconds: i32,
}

impl NodeSettings {
    pub fn from_config(cfg: &KubeletConfig, machine: &MachineInfo) -> NodeSettings {
        let name = cfg
            .hostname_override
            .clone()
            .unwrap_or_else(|| machine.hostname.clone())
            .to_lowercase();
        NodeSettings {
            hostname: name.clone(),
            name,
            node_ip: cfg.node_ip.unwrap_or_else(default_node_ip),
            max_pods: cfg.max_pods,
            port: cfg.port,
            labels: cfg.node_labels.clone(),
            taints: cfg.register_with_taints.clone(),
            status_update_frequency: cfg.node_status_update_frequency,
            status_report_frequency: cfg.node_status_report_frequency,
            lease_duration_seconds: cfg.node_lease_duration_seconds,
        }
    }
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// The Node as registered: labels (upstream's well-known ones plus --node-labels), taints.
pub fn initial_node(s: &NodeSettings, machine: &MachineInfo) -> Node {
    let mut labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), s.hostname.clone()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        (
            "kubernetes.io/arch".to_string(),
            machine.architecture.clone(),
        ),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        (
            "beta.kubernetes.io/arch".to_string(),
            machine.architecture.clone(),
        ),
    ]);
    labels.extend(s.labels.clone());
    Node {
        metadata: ObjectMeta {
            name: Some(s.name.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                "volumes.kubernetes.io/controller-managed-attach-detach".to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            taints: (!s.taints.is_empty()).then(|| s.taints.clone()),
            ..Default::default()
        }),
        status: None,
    }
}

/// Runtime health as the Ready condition sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeHealth {
    Ready,
    /// Upstream's message for the Ready=False condition.
    NotReady(String),
}

/// Computes the node status (without heartbeat times; see [`stamp_conditions`]).
pub fn compute_status(
    s: &NodeSettings,
    machine: &MachineInfo,
    runtime_version: &str,
    health: &RuntimeHealth,
    images: Vec<k8s_openapi::api::core::v1::ContainerImage>,
) -> NodeStatus {
    let capacity = BTreeMap::from([
        ("cpu".to_string(), Quantity(machine.num_cpus.to_string())),
        (
            "memory".to_string(),
            Quantity(format!("{}Ki", machine.memory_bytes / 1024)),
        ),
        ("pods".to_string(), Quantity(s.max_pods.to_string())),
        (
            "ephemeral-storage".to_string(),
            Quantity(format!("{}Ki", machine.ephemeral_storage_bytes / 1024)),
        ),
        ("hugepages-1Gi".to_string(), Quantity("0".into())),
        ("hugepages-2Mi".to_string(), Quantity("0".into())),
    ]);
    let cond = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: None,
        last_transition_time: None,
    };
    // Messages are upstream's (pkg/kubelet/nodestatus/setters.go).
    let ready = match health {
        RuntimeHealth::Ready => cond(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        ),
        RuntimeHealth::NotReady(msg) => cond("Ready", "False", "KubeletNotReady", msg),
    };
    NodeStatus {
        capacity: Some(capacity.clone()),
        // No system/kube reservations or eviction thresholds are configurable yet, so
        // allocatable equals capacity.
        allocatable: Some(capacity),
        conditions: Some(vec![
            cond(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            cond(
                "DiskPressure",
                "False",
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
            ),
            cond(
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            ready,
        ]),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: s.node_ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: s.hostname.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: i32::from(s.port),
            }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: machine.architecture.clone(),
            boot_id: machine.boot_id.clone(),
            container_runtime_version: runtime_version.to_string(),
            kernel_version: machine.kernel_version.clone(),
            kube_proxy_version: String::new(),
            kubelet_version: KUBELET_VERSION.to_string(),
            machine_id: machine.machine_id.clone(),
            operating_system: "linux".into(),
            os_image: machine.os_image.clone(),
            system_uuid: machine.system_uuid.clone(),
            ..Default::default()
        }),
        images: (!images.is_empty()).then_some(images),
        ..Default::default()
    }
}

/// Sets heartbeat times to `at`, and transition times to `at` for conditions whose status
/// differs from `previous` (kept otherwise), as upstream's condition setters do.
pub fn stamp_conditions(status: &mut NodeStatus, previous: Option<&NodeStatus>, at: &Time) {
    let prev: Vec<NodeCondition> = previous
        .and_then(|p| p.conditions.clone())
        .unwrap_or_default();
    for c in status.conditions.iter_mut().flatten() {
        c.last_heartbeat_time = Some(at.clone());
        c.last_transition_time = match prev.iter().find(|p| p.type_ == c.type_) {
            Some(p) if p.status == c.status => p.last_transition_time.clone().or(Some(at.clone())),
            _ => Some(at.clone()),
        };
    }
}

/// Whether two statuses differ in anything but heartbeat times.
pub fn status_changed(a: &NodeStatus, b: &NodeStatus) -> bool {
    let strip = |s: &NodeStatus| {
        let mut s = s.clone();
        for c in s.conditions.iter_mut().flatten() {
            c.last_heartbeat_time = None;
            c.last_transition_time = None;
        }
        s
    };
    strip(a) != strip(b)
}

/// Registers the node and keeps its status and lease current.
pub struct NodeAgent {
    client: kube::Client,
    runtime: Arc<dyn Runtime>,
    settings: NodeSettings,
    machine: MachineInfo,
}

impl NodeAgent {
    pub fn new(
        client: kube::Client,
        runtime: Arc<dyn Runtime>,
        settings: NodeSettings,
        machine: MachineInfo,
    ) -> Self {
        NodeAgent {
            client,
            runtime,
            settings,
            machine,
        }
    }

    pub fn settings(&self) -> &NodeSettings {
        &self.settings
    }

    /// Creates the Node; an existing Node of the same name is adopted (upstream then
    /// reconciles a few labels; here the kubelet's labels are merged into it).
    pub async fn register(&self) -> Result<Node, NodeError> {
        let api: Api<Node> = Api::all(self.client.clone());
        let node = initial_node(&self.settings, &self.machine);
        match api.create(&PostParams::default(), &node).await {
            Ok(n) => Ok(n),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let patch = serde_json::json!({"metadata": {"labels": node.metadata.labels}});
                api.patch(
                    &self.settings.name,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .map_err(|source| NodeError::Api {
                    what: "updating existing node",
                    source,
                })
            }
            Err(source) => Err(NodeError::Api {
                what: "registering node",
                source,
            }),
        }
    }

    async fn runtime_state(&self) -> (String, RuntimeHealth) {
        let version = match self.runtime.version().await {
            Ok(v) => format!("{}://{}", v.runtime_name, v.runtime_version),
            Err(e) => {
                return (
                    String::new(),
                    RuntimeHealth::NotReady(format!("container runtime is down: {e}")),
                )
            }
        };
        let health = match self.runtime.status(false).await {
            Ok(st) => {
                let conds = st.status.map(|s| s.conditions).unwrap_or_default();
                let bad: Vec<String> = conds
                    .iter()
                    .filter(|c| !c.status)
                    .map(|c| {
                        format!(
                            "{}=false reason:{} message:{}",
                            c.r#type, c.reason, c.message
                        )
                    })
                    .collect();
                if bad.is_empty() {
                    RuntimeHealth::Ready
                } else if conds
                    .iter()
                    .any(|c| c.r#type == "RuntimeReady" && !c.status)
                {
                    RuntimeHealth::NotReady(format!(
                        "container runtime status check may not have completed yet: {}",
                        bad.join(", ")
                    ))
                } else {
                    RuntimeHealth::NotReady(format!(
                        "container runtime network not ready: {}",
                        bad.join(", ")
                    ))
                }
            }
            Err(e) => RuntimeHealth::NotReady(format!("container runtime is down: {e}")),
        };
        (version, health)
    }

    async fn images(&self) -> Vec<k8s_openapi::api::core::v1::ContainerImage> {
        let mut images = self.runtime.list_images(None).await.unwrap_or_default();
        // Upstream reports at most 50 images, largest first (nodeStatusMaxImages).
        images.sort_by_key(|i| std::cmp::Reverse(i.size));
        images
            .into_iter()
            .take(50)
            .map(|i| {
                let mut names = i.repo_digests.clone();
                names.extend(i.repo_tags.clone());
                k8s_openapi::api::core::v1::ContainerImage {
                    names: Some(names),
                    size_bytes: Some(i.size as i64),
                }
            })
            .collect()
    }

    /// Computes and patches the status if it changed or the report interval passed;
    /// returns the status now on the server (or the last one sent).
    pub async fn sync_status(
        &self,
        last: Option<&NodeStatus>,
        force: bool,
    ) -> Result<Option<NodeStatus>, NodeError> {
        let (version, health) = self.runtime_state().await;
        let images = self.images().await;
        let mut status = compute_status(&self.settings, &self.machine, &version, &health, images);
        if !force && last.is_some_and(|l| !status_changed(&status, l)) {
            return Ok(None);
        }
        stamp_conditions(&mut status, last, &now());
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = serde_json::json!({ "status": status });
        api.patch_status(
            &self.settings.name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|source| NodeError::Api {
            what: "updating node status",
            source,
        })?;
        Ok(Some(status))
    }

    /// Creates or renews the node's Lease.
    pub async fn renew_lease(&self, node_uid: &str) -> Result<(), NodeError> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), NODE_LEASE_NAMESPACE);
        let renew = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.settings.name.clone()),
                namespace: Some(NODE_LEASE_NAMESPACE.into()),
                owner_references: Some(vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: self.settings.name.clone(),
                    uid: node_uid.to_string(),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.settings.name.clone()),
                lease_duration_seconds: Some(self.settings.lease_duration_seconds),
                renew_time: Some(renew.clone()),
                ..Default::default()
            }),
        };
        match api.get_opt(&self.settings.name).await {
            Ok(Some(mut existing)) => {
                let spec = existing.spec.get_or_insert_with(Default::default);
                spec.holder_identity = Some(self.settings.name.clone());
                spec.lease_duration_seconds = Some(self.settings.lease_duration_seconds);
                spec.renew_time = Some(renew);
                if existing.metadata.owner_references.is_none() {
                    existing.metadata.owner_references = lease.metadata.owner_references;
                }
                api.replace(&self.settings.name, &PostParams::default(), &existing)
                    .await
                    .map(|_| ())
            }
            Ok(None) => api.create(&PostParams::default(), &lease).await.map(|_| ()),
            Err(e) => Err(e),
        }
        .map_err(|source| NodeError::Api {
            what: "renewing node lease",
            source,
        })
    }

    /// Registers (retrying until it works or `shutdown`), then runs the status and lease
    /// loops until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        let node = loop {
            match self.register().await {
                Ok(n) => break n,
                Err(e) => {
                    tracing::warn!(error = %e, "unable to register node, will retry");
                    if wait_or_shutdown(&shutdown, Duration::from_secs(1)).await {
                        return;
                    }
                }
            }
        };
        tracing::info!(node = %self.settings.name, "successfully registered node");
        let uid = node.metadata.uid.clone().unwrap_or_default();
        let lease_agent = self.clone();
        let lease_shutdown = shutdown.clone();
        let lease = tokio::spawn(async move {
            let every = Duration::from_secs(
                (lease_agent.settings.lease_duration_seconds as u64 / 4).max(1),
            );
            loop {
                if let Err(e) = lease_agent.renew_lease(&uid).await {
                    tracing::warn!(error = %e, "failed to renew lease");
                }
                if wait_or_shutdown(&lease_shutdown, every).await {
                    return;
                }
            }
        });
        let mut last: Option<NodeStatus> = None;
        let mut last_report = Instant::now();
        loop {
            let force =
                last.is_none() || last_report.elapsed() >= self.settings.status_report_frequency;
            match self.sync_status(last.as_ref(), force).await {
                Ok(Some(st)) => {
                    last = Some(st);
                    last_report = Instant::now();
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "error updating node status, will retry"),
            }
            if wait_or_shutdown(&shutdown, self.settings.status_update_frequency).await {
                break;
            }
        }
        let _ = lease.await;
    }
}

/// Sleeps `d`; true if shutdown was signalled meanwhile.
pub(crate) async fn wait_or_shutdown(
    shutdown: &tokio::sync::watch::Receiver<bool>,
    d: Duration,
) -> bool {
    let mut rx = shutdown.clone();
    if *rx.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = async { let _ = rx.wait_for(|v| *v).await; } => return true,
    }
    *shutdown.borrow()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> NodeSettings {
        NodeSettings {
            name: "n1".into(),
            node_ip: IpAddr::from([10, 0, 0, 5]),
            hostname: "n1".into(),
            max_pods: 110,
            port: 10250,
            labels: BTreeMap::from([("role".to_string(), "x".to_string())]),
            taints: vec![],
            status_update_frequency: Duration::from_secs(10),
            status_report_frequency: Duration::from_secs(300),
            lease_duration_seconds: 40,
        }
    }

    fn machine() -> MachineInfo {
        MachineInfo {
            hostname: "n1".into(),
            num_cpus: 2,
            memory_bytes: 4 * 1024 * 1024 * 1024,
            ephemeral_storage_bytes: 10 * 1024 * 1024 * 1024,
            architecture: "amd64".into(),
            ..Default::default()
        }
    }

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            parse_meminfo_total("MemTotal:       24554140 kB\nMemFree: 1 kB\n"),
            Some(24554140 * 1024)
        );
        assert_eq!(
            parse_os_release("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")
                .as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        let m = MachineInfo::read(Path::new("/"));
        assert!(m.num_cpus >= 1 && m.memory_bytes > 0 && m.ephemeral_storage_bytes > 0);
    }

    #[test]
    fn status_has_upstream_shape() {
        let st = compute_status(
            &settings(),
            &machine(),
            "containerd://1.6.20",
            &RuntimeHealth::Ready,
            vec![],
        );
        let cap = st.capacity.as_ref().unwrap();
        assert_eq!(cap["cpu"].0, "2");
        assert_eq!(cap["memory"].0, "4194304Ki");
        assert_eq!(cap["pods"].0, "110");
        let conds = st.conditions.as_ref().unwrap();
        let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.reason.as_deref(), Some("KubeletReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some("kubelet is posting ready status")
        );
        assert_eq!(
            st.node_info.as_ref().unwrap().container_runtime_version,
            "containerd://1.6.20"
        );
        assert_eq!(st.addresses.as_ref().unwrap()[0].address, "10.0.0.5");
        let node = initial_node(&settings(), &machine());
        assert_eq!(
            node.metadata.labels.as_ref().unwrap()["kubernetes.io/hostname"],
            "n1"
        );
        assert_eq!(node.metadata.labels.as_ref().unwrap()["role"], "x");
    }

    #[test]
    fn transition_times_move_only_on_change() {
        let t0 = Time(k8s_openapi::jiff::Timestamp::from_second(1000).unwrap());
        let t1 = Time(k8s_openapi::jiff::Timestamp::from_second(2000).unwrap());
        let mut a = compute_status(&settings(), &machine(), "x", &RuntimeHealth::Ready, vec![]);
        stamp_conditions(&mut a, None, &t0);
        let mut b = compute_status(&settings(), &machine(), "x", &RuntimeHealth::Ready, vec![]);
        assert!(!status_changed(&a, &b));
        stamp_conditions(&mut b, Some(&a), &t1);
        let ready = |s: &NodeStatus| {
            s.conditions
                .clone()
                .unwrap()
                .into_iter()
                .find(|c| c.type_ == "Ready")
                .unwrap()
        };
        assert_eq!(ready(&b).last_transition_time, Some(t0.clone()));
        assert_eq!(ready(&b).last_heartbeat_time, Some(t1.clone()));
        let mut c = compute_status(
            &settings(),
            &machine(),
            "x",
            &RuntimeHealth::NotReady("container runtime is down".into()),
            vec![],
        );
        assert!(status_changed(&c, &b));
        stamp_conditions(&mut c, Some(&b), &t1);
        assert_eq!(ready(&c).last_transition_time, Some(t1));
        assert_eq!(ready(&c).reason.as_deref(), Some("KubeletNotReady"));
    }
}
