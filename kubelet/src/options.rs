//! options: the kubelet's command line (upstream flag names and defaults) and the
//! `--config` KubeletConfiguration file (`kubelet.config.k8s.io/v1beta1`), merged into one
//! [`KubeletConfig`].
//!
//! Precedence mirrors upstream: defaults < config file < flags given on the command line.
//! Flags are therefore `Option`s here: `None` means "not given", so the file's value (or
//! the default) stands.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::Taint;
use serde::Deserialize;

/// Errors building the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// the --config file could not be read
    #[error("failed to read kubelet config file {path:?}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// the --config file is not a valid KubeletConfiguration
    #[error("failed to decode kubelet config file {path:?}: {message}")]
    Decode { path: PathBuf, message: String },
    /// a value is out of range or malformed
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Command-line flags (upstream names).
#[derive(Debug, Clone, Default, clap::Parser)]
#[command(
    name = "kubelet",
    version,
    about = "The kubelet is the primary \"node agent\" that runs on each node. It registers the node with the apiserver and runs the pods bound to it through a CRI container runtime."
)]
pub struct Options {
    /// Path to a kubeconfig file, specifying how to connect to the API server.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The Kubelet will load its initial configuration from this file
    /// (kubelet.config.k8s.io/v1beta1 KubeletConfiguration). Command-line flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The endpoint of the remote runtime service (default
    /// unix:///run/containerd/containerd.sock).
    #[arg(long)]
    pub container_runtime_endpoint: Option<String>,
    /// Path to the directory containing static pod files to run (staticPodPath).
    #[arg(long)]
    pub pod_manifest_path: Option<PathBuf>,
    /// Directory path for managing kubelet files (volume mounts, etc) (default
    /// /var/lib/kubelet).
    #[arg(long)]
    pub root_dir: Option<PathBuf>,
    /// If non-empty, will use this string as identification instead of the actual hostname.
    #[arg(long)]
    pub hostname_override: Option<String>,
    /// IP address of the node. If set, kubelet will use this IP address for the node.
    #[arg(long)]
    pub node_ip: Option<IpAddr>,
    /// Comma-separated list of DNS server IP addresses for pods with dnsPolicy=ClusterFirst.
    #[arg(long, value_delimiter = ',')]
    pub cluster_dns: Option<Vec<String>>,
    /// Domain for this cluster; containers search it in addition to the host's domains.
    #[arg(long)]
    pub cluster_domain: Option<String>,
    /// Number of Pods that can run on this Kubelet (default 110).
    #[arg(long)]
    pub max_pods: Option<u32>,
    /// Set the maximum size (e.g. 10Mi) of a container log file before it is rotated.
    #[arg(long)]
    pub container_log_max_size: Option<String>,
    /// Set the maximum number of container log files present for a container.
    #[arg(long)]
    pub container_log_max_files: Option<u32>,
    /// Specify maximum number of concurrent workers for rotating container logs
    /// (default 1).
    #[arg(long)]
    pub container_log_max_workers: Option<u32>,
    /// The duration at which the container logs are monitored for rotation (default 10s,
    /// at least 3s).
    #[arg(long, value_parser = parse_duration)]
    pub container_log_monitor_interval: Option<Duration>,
    /// How often the kubelet computes node status (default 10s).
    #[arg(long, value_parser = parse_duration)]
    pub node_status_update_frequency: Option<Duration>,
    /// The port for the Kubelet to serve on (default 10250).
    #[arg(long)]
    pub port: Option<u16>,
    /// The read-only port for the Kubelet to serve on with no authentication (0 disables).
    #[arg(long)]
    pub read_only_port: Option<u16>,
    /// The IP address for the Kubelet to serve on (default 0.0.0.0).
    #[arg(long)]
    pub address: Option<IpAddr>,
    /// File containing x509 Certificate used for serving HTTPS; a self-signed certificate is
    /// generated when unset.
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// File containing x509 private key matching --tls-cert-file.
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,
    /// If set, any request presenting a client certificate signed by one of the
    /// authorities in this file is authenticated (authentication.x509.clientCAFile).
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    /// Register the node with the apiserver (default true).
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub register_node: Option<bool>,
    /// Labels to add when registering the node in the cluster (key=value,...).
    #[arg(long, value_delimiter = ',')]
    pub node_labels: Option<Vec<String>>,
    /// Register the node with the given list of taints (key=value:effect,...).
    #[arg(long, value_delimiter = ',')]
    pub register_with_taints: Option<Vec<String>>,
    /// Max period between synchronizing running containers and config (default 1m).
    #[arg(long, value_parser = parse_duration)]
    pub sync_frequency: Option<Duration>,
    /// Duration to check config files for new data (default 20s).
    #[arg(long, value_parser = parse_duration)]
    pub file_check_frequency: Option<Duration>,
    /// Timeout of all runtime requests except long running ones (pull, exec, ...)
    /// (default 2m).
    #[arg(long, value_parser = parse_duration)]
    pub runtime_request_timeout: Option<Duration>,
}

/// The subset of upstream's KubeletConfiguration (kubelet.config.k8s.io/v1beta1) this
/// kubelet reads. Unknown fields are ignored, as upstream's lenient decoding does for
/// fields of other versions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletConfigurationFile {
    pub kind: Option<String>,
    pub api_version: Option<String>,
    pub static_pod_path: Option<PathBuf>,
    pub container_runtime_endpoint: Option<String>,
    pub pod_logs_dir: Option<PathBuf>,
    #[serde(rename = "clusterDNS")]
    pub cluster_dns: Option<Vec<String>>,
    pub cluster_domain: Option<String>,
    pub max_pods: Option<u32>,
    pub container_log_max_size: Option<String>,
    pub container_log_max_files: Option<u32>,
    pub container_log_max_workers: Option<u32>,
    pub container_log_monitor_interval: Option<String>,
    pub node_status_update_frequency: Option<String>,
    pub node_status_report_frequency: Option<String>,
    pub node_lease_duration_seconds: Option<i32>,
    pub port: Option<u16>,
    pub read_only_port: Option<u16>,
    pub address: Option<IpAddr>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_private_key_file: Option<PathBuf>,
    pub register_node: Option<bool>,
    pub register_with_taints: Option<Vec<Taint>>,
    pub sync_frequency: Option<String>,
    pub file_check_frequency: Option<String>,
    pub runtime_request_timeout: Option<String>,
    pub resolv_conf: Option<PathBuf>,
    pub crash_loop_back_off: Option<CrashLoopBackOffConfig>,
}

/// `crashLoopBackOff` (upstream KubeletCrashLoopBackOffMax, 1.32+).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrashLoopBackOffConfig {
    pub max_container_restart_period: Option<String>,
}

/// The kubelet's effective configuration.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    pub kubeconfig: Option<PathBuf>,
    pub container_runtime_endpoint: String,
    pub static_pod_path: Option<PathBuf>,
    pub root_dir: PathBuf,
    /// Where container logs go (`podLogsDir`, default /var/log/pods).
    pub pod_logs_dir: PathBuf,
    pub hostname_override: Option<String>,
    pub node_ip: Option<IpAddr>,
    pub cluster_dns: Vec<String>,
    pub cluster_domain: String,
    pub max_pods: u32,
    pub container_log_max_size: String,
    pub container_log_max_files: u32,
    /// Concurrent log rotations (`containerLogMaxWorkers`, default 1).
    pub container_log_max_workers: u32,
    /// How often container logs are checked for rotation (`containerLogMonitorInterval`,
    /// default 10s).
    pub container_log_monitor_interval: Duration,
    pub node_status_update_frequency: Duration,
    pub node_status_report_frequency: Duration,
    pub node_lease_duration_seconds: i32,
    pub port: u16,
    pub read_only_port: u16,
    pub address: IpAddr,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_private_key_file: Option<PathBuf>,
    pub client_ca_file: Option<PathBuf>,
    pub register_node: bool,
    pub node_labels: BTreeMap<String, String>,
    pub register_with_taints: Vec<Taint>,
    pub sync_frequency: Duration,
    pub file_check_frequency: Duration,
    pub runtime_request_timeout: Duration,
    /// The resolver configuration used as the basis for pods' resolv.conf
    /// (`resolvConf`, default /etc/resolv.conf).
    pub resolv_conf: PathBuf,
    /// First CrashLoopBackOff / ImagePullBackOff window (10 s; lowered to
    /// `crashLoopBackOff.maxContainerRestartPeriod` when that is smaller, as upstream).
    pub crash_loop_backoff_initial: Duration,
    /// Longest CrashLoopBackOff window (300 s, or
    /// `crashLoopBackOff.maxContainerRestartPeriod`).
    pub crash_loop_backoff_max: Duration,
}

impl Default for KubeletConfig {
    /// Upstream's defaults (pkg/kubelet/apis/config/v1beta1/defaults.go).
    fn default() -> Self {
        KubeletConfig {
            kubeconfig: None,
            container_runtime_endpoint: "unix:///run/containerd/containerd.sock".into(),
            static_pod_path: None,
            root_dir: "/var/lib/kubelet".into(),
            pod_logs_dir: "/var/log/pods".into(),
            hostname_override: None,
            node_ip: None,
            cluster_dns: vec![],
            cluster_domain: String::new(),
            max_pods: 110,
            container_log_max_size: "10Mi".into(),
            container_log_max_files: 5,
            container_log_max_workers: 1,
            container_log_monitor_interval: Duration::from_secs(10),
            node_status_update_frequency: Duration::from_secs(10),
            node_status_report_frequency: Duration::from_secs(300),
            node_lease_duration_seconds: 40,
            port: 10250,
            read_only_port: 0,
            address: IpAddr::from([0, 0, 0, 0]),
            tls_cert_file: None,
            tls_private_key_file: None,
            client_ca_file: None,
            register_node: true,
            node_labels: BTreeMap::new(),
            register_with_taints: vec![],
            sync_frequency: Duration::from_secs(60),
            file_check_frequency: Duration::from_secs(20),
            runtime_request_timeout: Duration::from_secs(120),
            resolv_conf: "/etc/resolv.conf".into(),
            crash_loop_backoff_initial: Duration::from_secs(10),
            crash_loop_backoff_max: Duration::from_secs(300),
        }
    }
}

impl KubeletConfig {
    /// Reads `--config` (if any) and applies the flags over it.
    pub fn from_options(options: &Options) -> Result<Self, ConfigError> {
        let file = match &options.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
                        path: path.clone(),
                        source,
                    })?;
                let file: KubeletConfigurationFile =
                    serde_yaml::from_str(&text).map_err(|e| ConfigError::Decode {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                if let Some(kind) = file
                    .kind
                    .as_deref()
                    .filter(|k| *k != "KubeletConfiguration")
                {
                    return Err(ConfigError::Decode {
                        path: path.clone(),
                        message: format!("unexpected kind {kind:?}, want KubeletConfiguration"),
                    });
                }
                file
            }
            None => KubeletConfigurationFile::default(),
        };
        Self::merge(options, file)
    }

    /// Defaults, then the file, then the flags.
    pub fn merge(o: &Options, f: KubeletConfigurationFile) -> Result<Self, ConfigError> {
        let d = KubeletConfig::default();
        let dur = |flag: Option<Duration>, file: &Option<String>, def: Duration, name: &str| {
            if let Some(v) = flag {
                return Ok(v);
            }
            match file {
                Some(s) => {
                    parse_duration(s).map_err(|e| ConfigError::Invalid(format!("{name}: {e}")))
                }
                None => Ok(def),
            }
        };
        let node_labels = o
            .node_labels
            .iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| {
                        ConfigError::Invalid(format!("--node-labels: {kv:?} is not key=value"))
                    })
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        let register_with_taints = match &o.register_with_taints {
            Some(list) => list
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| parse_taint(s))
                .collect::<Result<Vec<_>, _>>()?,
            None => f.register_with_taints.unwrap_or_default(),
        };
        let backoff_max = match f
            .crash_loop_back_off
            .as_ref()
            .and_then(|c| c.max_container_restart_period.as_ref())
        {
            Some(s) => parse_duration(s).map_err(|e| {
                ConfigError::Invalid(format!("crashLoopBackOff.maxContainerRestartPeriod: {e}"))
            })?,
            None => d.crash_loop_backoff_max,
        };
        let cfg = KubeletConfig {
            kubeconfig: o.kubeconfig.clone(),
            container_runtime_endpoint: o
                .container_runtime_endpoint
                .clone()
                .or(f.container_runtime_endpoint)
                .unwrap_or(d.container_runtime_endpoint),
            static_pod_path: o
                .pod_manifest_path
                .clone()
                .or(f.static_pod_path)
                .filter(|p| !p.as_os_str().is_empty()),
            root_dir: o.root_dir.clone().unwrap_or(d.root_dir),
            pod_logs_dir: f.pod_logs_dir.unwrap_or(d.pod_logs_dir),
            hostname_override: o.hostname_override.clone().filter(|s| !s.is_empty()),
            node_ip: o.node_ip,
            cluster_dns: o.cluster_dns.clone().or(f.cluster_dns).unwrap_or_default(),
            cluster_domain: o
                .cluster_domain
                .clone()
                .or(f.cluster_domain)
                .unwrap_or_default(),
            max_pods: o.max_pods.or(f.max_pods).unwrap_or(d.max_pods),
            container_log_max_size: o
                .container_log_max_size
                .clone()
                .or(f.container_log_max_size)
                .unwrap_or(d.container_log_max_size),
            container_log_max_files: o
                .container_log_max_files
                .or(f.container_log_max_files)
                .unwrap_or(d.container_log_max_files),
            container_log_max_workers: o
                .container_log_max_workers
                .or(f.container_log_max_workers)
                .unwrap_or(d.container_log_max_workers),
            container_log_monitor_interval: dur(
                o.container_log_monitor_interval,
                &f.container_log_monitor_interval,
                d.container_log_monitor_interval,
                "containerLogMonitorInterval",
            )?,
            node_status_update_frequency: dur(
                o.node_status_update_frequency,
                &f.node_status_update_frequency,
                d.node_status_update_frequency,
                "nodeStatusUpdateFrequency",
            )?,
            node_status_report_frequency: dur(
                None,
                &f.node_status_report_frequency,
                d.node_status_report_frequency,
                "nodeStatusReportFrequency",
            )?,
            node_lease_duration_seconds: f
                .node_lease_duration_seconds
                .unwrap_or(d.node_lease_duration_seconds),
            port: o.port.or(f.port).unwrap_or(d.port),
            read_only_port: o.read_only_port.or(f.read_only_port).unwrap_or(0),
            address: o.address.or(f.address).unwrap_or(d.address),
            tls_cert_file: o.tls_cert_file.clone().or(f.tls_cert_file),
            tls_private_key_file: o.tls_private_key_file.clone().or(f.tls_private_key_file),
            client_ca_file: o.client_ca_file.clone(),
            register_node: o.register_node.or(f.register_node).unwrap_or(true),
            node_labels,
            register_with_taints,
            sync_frequency: dur(
                o.sync_frequency,
                &f.sync_frequency,
                d.sync_frequency,
                "syncFrequency",
            )?,
            file_check_frequency: dur(
                o.file_check_frequency,
                &f.file_check_frequency,
                d.file_check_frequency,
                "fileCheckFrequency",
            )?,
            runtime_request_timeout: dur(
                o.runtime_request_timeout,
                &f.runtime_request_timeout,
                d.runtime_request_timeout,
                "runtimeRequestTimeout",
            )?,
            resolv_conf: f.resolv_conf.unwrap_or(d.resolv_conf),
            crash_loop_backoff_initial: d.crash_loop_backoff_initial.min(backoff_max),
            crash_loop_backoff_max: backoff_max,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_pods == 0 {
            return Err(ConfigError::Invalid(
                "maxPods (--max-pods) must be positive".into(),
            ));
        }
        if self.node_lease_duration_seconds <= 0 {
            return Err(ConfigError::Invalid(
                "nodeLeaseDurationSeconds must be greater than 0".into(),
            ));
        }
        if self.node_status_update_frequency.is_zero() {
            return Err(ConfigError::Invalid(
                "nodeStatusUpdateFrequency must be greater than 0".into(),
            ));
        }
        // Upstream's ValidateKubeletConfiguration and NewContainerLogManager messages.
        if self.container_log_max_files <= 1 {
            return Err(ConfigError::Invalid(format!(
                "invalid configuration: containerLogMaxFiles must be greater than 1, got {}",
                self.container_log_max_files
            )));
        }
        if !self.container_log_max_size.trim_start().starts_with('-') {
            parse_bytes(&self.container_log_max_size)?;
        }
        if self.container_log_max_workers < 1 {
            return Err(ConfigError::Invalid(
                "invalid configuration: containerLogMaxWorkers must be greater than or equal to 1"
                    .into(),
            ));
        }
        if self.container_log_monitor_interval < Duration::from_secs(3) {
            return Err(ConfigError::Invalid(
                "invalid configuration: containerLogMonitorInterval must be a positive time duration greater than or equal to 3s".into(),
            ));
        }
        if self.tls_cert_file.is_some() != self.tls_private_key_file.is_some() {
            return Err(ConfigError::Invalid(
                "--tls-cert-file and --tls-private-key-file must be given together".into(),
            ));
        }
        Ok(())
    }
}

/// `key=value:Effect` or `key:Effect` (as `--register-with-taints` takes them).
pub fn parse_taint(s: &str) -> Result<Taint, ConfigError> {
    let bad = || ConfigError::Invalid(format!("invalid taint spec: {s}"));
    let (kv, effect) = s.rsplit_once(':').ok_or_else(bad)?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Err(ConfigError::Invalid(format!(
            "invalid taint effect: {effect}, unsupported taint effect"
        )));
    }
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (kv, None),
    };
    if key.is_empty() {
        return Err(bad());
    }
    Ok(Taint {
        key: key.to_string(),
        value,
        effect: effect.to_string(),
        time_added: None,
    })
}

/// Go `time.ParseDuration` syntax (`10s`, `1m0s`, `1h30m`, `250ms`), since upstream
/// duration flags and config fields use it. Negative durations are refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() || t.starts_with('-') {
        return Err(invalid());
    }
    let mut nanos: f64 = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {s:?}"))?;
        if n == 0 {
            return Err(invalid());
        }
        let value: f64 = rest[..n].parse().map_err(|_| invalid())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_nanos = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => return Err(format!("time: unknown unit {other:?} in duration {s:?}")),
        };
        nanos += value * unit_nanos;
        rest = &rest[u..];
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// Parses a Kubernetes quantity of bytes such as `10Mi`, `1G` or `1024`, for
/// containerLogMaxSize.
pub fn parse_bytes(s: &str) -> Result<u64, ConfigError> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| ConfigError::Invalid(format!("invalid quantity {s:?}")))?;
    let mult: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0f64.powi(4),
        _ => return Err(ConfigError::Invalid(format!("invalid quantity {s:?}"))),
    };
    Ok((value * mult) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_match_upstream() {
        let c = KubeletConfig::from_options(&Options::parse_from(["kubelet"])).unwrap();
        assert_eq!(c.max_pods, 110);
        assert_eq!(c.port, 10250);
        assert_eq!(c.read_only_port, 0);
        assert_eq!(c.root_dir, PathBuf::from("/var/lib/kubelet"));
        assert_eq!(c.node_status_update_frequency, Duration::from_secs(10));
        assert_eq!(c.node_status_report_frequency, Duration::from_secs(300));
        assert_eq!(c.sync_frequency, Duration::from_secs(60));
        assert_eq!(c.runtime_request_timeout, Duration::from_secs(120));
        assert_eq!(c.node_lease_duration_seconds, 40);
        assert!(c.register_node);
        assert_eq!(c.container_log_max_size, "10Mi");
        assert_eq!(c.container_log_max_files, 5);
        assert_eq!(c.container_log_max_workers, 1);
        assert_eq!(c.container_log_monitor_interval, Duration::from_secs(10));
    }

    #[test]
    fn container_log_settings_validate_as_upstream() {
        for (args, ok) in [
            (&["--container-log-max-files=1"][..], false),
            (&["--container-log-max-files=2"][..], true),
            (&["--container-log-max-workers=0"][..], false),
            (&["--container-log-monitor-interval=2s"][..], false),
            (&["--container-log-monitor-interval=3s"][..], true),
            (&["--container-log-max-size=1Ki"][..], true),
            (&["--container-log-max-size=-1"][..], true),
            (&["--container-log-max-size=ten"][..], false),
        ] {
            let o = Options::parse_from(std::iter::once("kubelet").chain(args.iter().copied()));
            assert_eq!(KubeletConfig::from_options(&o).is_ok(), ok, "{args:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            "kind: KubeletConfiguration\ncontainerLogMaxWorkers: 3\n\
             containerLogMonitorInterval: 5s\ncontainerLogMaxSize: 1Ki\n",
        )
        .unwrap();
        let o = Options::parse_from(["kubelet", "--config", path.to_str().unwrap()]);
        let c = KubeletConfig::from_options(&o).unwrap();
        assert_eq!(c.container_log_max_workers, 3);
        assert_eq!(c.container_log_monitor_interval, Duration::from_secs(5));
        assert_eq!(c.container_log_max_size, "1Ki");
    }

    #[test]
    fn flags_override_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(
            &path,
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n\
             maxPods: 50\nclusterDomain: cluster.local\nclusterDNS: [10.0.0.10]\n\
             staticPodPath: /etc/kubernetes/manifests\nsyncFrequency: 30s\n\
             podLogsDir: /tmp/pods\nregisterWithTaints:\n- key: a\n  effect: NoSchedule\n\
             someFutureField: true\n",
        )
        .unwrap();
        let o = Options::parse_from([
            "kubelet",
            "--config",
            path.to_str().unwrap(),
            "--max-pods=20",
            "--node-labels=a=b,c=d",
            "--register-node=false",
        ]);
        let c = KubeletConfig::from_options(&o).unwrap();
        assert_eq!(c.max_pods, 20, "flag wins");
        assert_eq!(c.cluster_domain, "cluster.local");
        assert_eq!(c.cluster_dns, vec!["10.0.0.10"]);
        assert_eq!(c.sync_frequency, Duration::from_secs(30));
        assert_eq!(c.pod_logs_dir, PathBuf::from("/tmp/pods"));
        assert_eq!(
            c.static_pod_path,
            Some(PathBuf::from("/etc/kubernetes/manifests"))
        );
        assert_eq!(c.register_with_taints[0].key, "a");
        assert_eq!(c.node_labels.get("c").map(String::as_str), Some("d"));
        assert!(!c.register_node);
    }

    #[test]
    fn wrong_kind_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "kind: Pod\n").unwrap();
        let o = Options::parse_from(["kubelet", "--config", path.to_str().unwrap()]);
        assert!(KubeletConfig::from_options(&o).is_err());
        let o = Options::parse_from(["kubelet", "--max-pods=0"]);
        assert!(KubeletConfig::from_options(&o).is_err());
    }

    #[test]
    fn taints_and_durations_parse() {
        let t = parse_taint("dedicated=gpu:NoSchedule").unwrap();
        assert_eq!(
            (t.key.as_str(), t.value.as_deref()),
            ("dedicated", Some("gpu"))
        );
        assert!(parse_taint("k:Bogus").is_err());
        assert_eq!(parse_taint("k:NoExecute").unwrap().value, None);
        for (s, want) in [
            ("10s", Some(10_000)),
            ("1m30s", Some(90_000)),
            ("250ms", Some(250)),
            ("2m0s", Some(120_000)),
            ("0", Some(0)),
            ("-1s", None),
            ("5", None),
            ("3d", None),
        ] {
            assert_eq!(
                parse_duration(s).ok().map(|d| d.as_millis() as u64),
                want,
                "{s}"
            );
        }
        assert_eq!(parse_bytes("10Mi").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_bytes("1k").unwrap(), 1000);
    }
}
