//! config: the CRI sandbox and container configs for a pod.
//!
//! The sandbox part (hostname, log directory, DNS, port mappings, namespaces, labels) is
//! the pod workers' own. The container part here is the minimal one (command, args, plain
//! env values, working dir, log path, labels); env valueFrom, $(VAR) expansion, security
//! contexts, resources and volumes belong to the `container` and `volumes` modules and
//! replace this as they land.

use std::collections::HashMap;

use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::{Container, Pod};

/// Container annotation with terminationMessagePath (upstream's).
pub const ANNOTATION_TERMINATION_MESSAGE_PATH: &str =
    "io.kubernetes.container.terminationMessagePath";
/// Container annotation with terminationMessagePolicy (upstream's).
pub const ANNOTATION_TERMINATION_MESSAGE_POLICY: &str =
    "io.kubernetes.container.terminationMessagePolicy";

use super::status::pod_labels;
use super::worker::{PodContext, LABEL_CONTAINER_NAME};

/// `<podLogsDir>/<namespace>_<name>_<uid>`: upstream's pod log directory.
pub fn pod_log_dir(ctx: &PodContext, pod: &Pod) -> String {
    ctx.pod_logs_dir
        .join(format!(
            "{}_{}_{}",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default(),
            pod.metadata.uid.as_deref().unwrap_or_default()
        ))
        .display()
        .to_string()
}

/// The hostname the pod sees: spec.hostname, else the pod name (truncated to 63
/// characters, as upstream's GeneratePodHostNameAndDomain does).
pub fn pod_hostname(pod: &Pod) -> String {
    let spec = pod.spec.as_ref();
    let h = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| pod.metadata.name.clone().unwrap_or_default());
    let h: String = h.chars().take(63).collect();
    h.trim_end_matches(['-', '.']).to_string()
}

/// Servers, searches and options of a resolv.conf text.
pub fn parse_resolv_conf(text: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut servers, mut searches, mut options) = (vec![], vec![], vec![]);
    for line in text.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => servers.extend(f.next().map(str::to_string)),
            Some("search") => searches = f.map(str::to_string).collect(),
            Some("options") => options.extend(f.map(str::to_string)),
            _ => {}
        }
    }
    (servers, searches, options)
}

/// The pod's DNS config per dnsPolicy and dnsConfig (upstream's `GetPodDNS`).
pub fn dns_config(pod: &Pod, ctx: &PodContext) -> cri::DnsConfig {
    let spec = pod.spec.clone().unwrap_or_default();
    let mut policy = spec
        .dns_policy
        .clone()
        .unwrap_or_else(|| "ClusterFirst".into());
    if spec.host_network == Some(true) && policy == "ClusterFirst" {
        // ClusterFirst on the host network falls back to Default.
        policy = "Default".into();
    }
    let host = std::fs::read_to_string(&ctx.resolv_conf).unwrap_or_default();
    let (host_servers, host_searches, _) = parse_resolv_conf(&host);
    let mut cfg = match policy.as_str() {
        "None" => cri::DnsConfig::default(),
        "ClusterFirst" | "ClusterFirstWithHostNet" if !ctx.cluster_dns.is_empty() => {
            let ns = pod
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into());
            let d = &ctx.cluster_domain;
            let mut searches = if d.is_empty() {
                vec![]
            } else {
                vec![format!("{ns}.svc.{d}"), format!("svc.{d}"), d.clone()]
            };
            searches.extend(host_searches);
            cri::DnsConfig {
                servers: ctx.cluster_dns.clone(),
                searches,
                options: vec!["ndots:5".into()],
            }
        }
        // Default, or ClusterFirst without --cluster-dns (upstream falls back to the
        // host's resolver and warns).
        _ => cri::DnsConfig {
            servers: host_servers,
            searches: host_searches,
            options: vec![],
        },
    };
    if let Some(extra) = spec.dns_config {
        cfg.servers.extend(extra.nameservers.unwrap_or_default());
        cfg.searches.extend(extra.searches.unwrap_or_default());
        for o in extra.options.unwrap_or_default() {
            let name = o.name.unwrap_or_default();
            cfg.options
                .retain(|x| x.split(':').next() != Some(name.as_str()));
            cfg.options.push(match o.value {
                Some(v) => format!("{name}:{v}"),
                None => name,
            });
        }
    }
    cfg
}

/// The container port named `name`, for httpGet hooks and probes.
pub fn named_port(pod: &Pod, name: &str) -> Option<i32> {
    pod.spec.as_ref()?.containers.iter().find_map(|c| {
        c.ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .map(|p| p.container_port)
    })
}

/// The CRI sandbox config for `pod`.
pub fn sandbox_config(pod: &Pod, ctx: &PodContext, attempt: u32) -> cri::PodSandboxConfig {
    let spec = pod.spec.clone().unwrap_or_default();
    let mode = |host: Option<bool>, otherwise: cri::NamespaceMode| {
        if host == Some(true) {
            cri::NamespaceMode::Node as i32
        } else {
            otherwise as i32
        }
    };
    let pid_default = if spec.share_process_namespace == Some(true) {
        cri::NamespaceMode::Pod
    } else {
        cri::NamespaceMode::Container
    };
    let port_mappings = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.is_some_and(|h| h > 0))
        .map(|p| cri::PortMapping {
            protocol: match p.protocol.as_deref() {
                Some("UDP") => cri::Protocol::Udp as i32,
                Some("SCTP") => cri::Protocol::Sctp as i32,
                _ => cri::Protocol::Tcp as i32,
            },
            container_port: p.container_port,
            host_port: p.host_port.unwrap_or_default(),
            host_ip: p.host_ip.clone().unwrap_or_default(),
        })
        .collect();
    let mut labels: HashMap<String, String> = pod
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    labels.extend(pod_labels(pod));
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            attempt,
        }),
        hostname: if spec.host_network == Some(true) {
            String::new()
        } else {
            pod_hostname(pod)
        },
        log_directory: pod_log_dir(ctx, pod),
        dns_config: Some(dns_config(pod, ctx)),
        port_mappings,
        labels,
        annotations: pod
            .metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        linux: Some(cri::LinuxPodSandboxConfig {
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: mode(spec.host_network, cri::NamespaceMode::Pod),
                    pid: mode(spec.host_pid, pid_default),
                    ipc: mode(spec.host_ipc, cri::NamespaceMode::Pod),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        windows: None,
    }
}

/// A minimal CRI container config for `c` (see the module docs for what it leaves out).
pub fn container_config(
    pod: &Pod,
    c: &Container,
    attempt: u32,
    image: &str,
) -> cri::ContainerConfig {
    let mut labels: HashMap<String, String> = pod_labels(pod).into_iter().collect();
    labels.insert(LABEL_CONTAINER_NAME.into(), c.name.clone());
    let spec = pod.spec.clone().unwrap_or_default();
    let pid_mode = if spec.host_pid == Some(true) {
        cri::NamespaceMode::Node
    } else if spec.share_process_namespace == Some(true) {
        cri::NamespaceMode::Pod
    } else {
        cri::NamespaceMode::Container
    };
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: c.name.clone(),
            attempt,
        }),
        image: Some(cri::ImageSpec {
            image: image.to_string(),
            user_specified_image: c.image.clone().unwrap_or_default(),
            ..Default::default()
        }),
        command: c.command.clone().unwrap_or_default(),
        args: c.args.clone().unwrap_or_default(),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        envs: c
            .env
            .iter()
            .flatten()
            .filter(|e| e.value_from.is_none())
            .map(|e| cri::KeyValue {
                key: e.name.clone(),
                value: e.value.clone().unwrap_or_default(),
            })
            .collect(),
        labels,
        annotations: HashMap::from([
            (
                "io.kubernetes.container.restartCount".to_string(),
                attempt.to_string(),
            ),
            (
                ANNOTATION_TERMINATION_MESSAGE_PATH.to_string(),
                c.termination_message_path
                    .clone()
                    .unwrap_or_else(|| "/dev/termination-log".into()),
            ),
            (
                ANNOTATION_TERMINATION_MESSAGE_POLICY.to_string(),
                c.termination_message_policy
                    .clone()
                    .unwrap_or_else(|| "File".into()),
            ),
        ]),
        log_path: format!("{}/{}.log", c.name, attempt),
        stdin: c.stdin == Some(true),
        stdin_once: c.stdin_once == Some(true),
        tty: c.tty == Some(true),
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(cri::LinuxContainerResources::default()),
            security_context: Some(cri::LinuxContainerSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: if spec.host_network == Some(true) {
                        cri::NamespaceMode::Node as i32
                    } else {
                        cri::NamespaceMode::Pod as i32
                    },
                    pid: pid_mode as i32,
                    ipc: if spec.host_ipc == Some(true) {
                        cri::NamespaceMode::Node as i32
                    } else {
                        cri::NamespaceMode::Pod as i32
                    },
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}
