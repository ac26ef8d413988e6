//! kube-apiserver's flags, with upstream's names and defaults where the feature exists.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Command-line options.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "kube-apiserver",
    about = "The Kubernetes API server (Rudder)",
    version
)]
pub struct Options {
    /// Directory for the embedded store, generated certificates and admin.kubeconfig.
    #[arg(long = "data-dir", default_value = "/var/lib/rudder/apiserver")]
    pub data_dir: PathBuf,
    /// The port on which to serve HTTPS with authentication and authorization. 0 picks a
    /// free port.
    #[arg(long = "secure-port", default_value_t = 6443)]
    pub secure_port: u16,
    /// The IP address on which to listen for the --secure-port port.
    #[arg(long = "bind-address", default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// The IP address on which to advertise the apiserver to members of the cluster.
    #[arg(long = "advertise-address")]
    pub advertise_address: Option<IpAddr>,
    /// List of etcd servers to connect with (scheme://ip:port), comma separated. Without
    /// it, state lives in an embedded SQLite database under --data-dir.
    #[arg(long = "etcd-servers", value_delimiter = ',')]
    pub etcd_servers: Vec<String>,
    /// The interval of compaction requests (upstream default 5m).
    #[arg(long = "etcd-compaction-interval", default_value = "5m", value_parser = parse_duration)]
    pub etcd_compaction_interval: Duration,
    /// A CIDR notation IP range from which to assign service cluster IPs.
    #[arg(long = "service-cluster-ip-range", default_value = "10.0.0.0/24")]
    pub service_cluster_ip_range: String,
    /// File containing the default x509 certificate for HTTPS.
    #[arg(long = "tls-cert-file")]
    pub tls_cert_file: Option<PathBuf>,
    /// File containing the default x509 private key matching --tls-cert-file.
    #[arg(long = "tls-private-key-file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// Any request presenting a client certificate signed by one of the authorities in this
    /// file is authenticated with the CommonName as user and Organizations as groups.
    #[arg(long = "client-ca-file")]
    pub client_ca_file: Option<PathBuf>,
    /// Path to a client cert file for TLS to kubelets (pods/log, exec, attach,
    /// portforward, nodes/proxy). Generated from the cluster CA when not given.
    #[arg(long = "kubelet-client-certificate")]
    pub kubelet_client_certificate: Option<PathBuf>,
    /// Path to a client key file for TLS to kubelets.
    #[arg(long = "kubelet-client-key")]
    pub kubelet_client_key: Option<PathBuf>,
    /// The maximum number of non-mutating requests in flight at a given time.
    #[arg(long = "max-requests-inflight", default_value_t = 400)]
    pub max_requests_inflight: usize,
    /// The maximum number of mutating requests in flight at a given time.
    #[arg(long = "max-mutating-requests-inflight", default_value_t = 200)]
    pub max_mutating_requests_inflight: usize,
}

/// Parses Go-style durations: `300ms`, `5m`, `1h30m`, `10s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if (c == 'm' || c == 'u' || c == 'n') && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap_or('s'));
        }
        let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return Err(format!("unknown unit {unit:?} in duration {s:?}")),
        };
    }
    if !num.is_empty() {
        if num == "0" {
            return Ok(Duration::ZERO);
        }
        return Err(format!("missing unit in duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Parses an IPv4 CIDR.
pub fn parse_cidr(s: &str) -> Result<(std::net::Ipv4Addr, u8), String> {
    let (ip, len) = s
        .split_once('/')
        .ok_or_else(|| format!("invalid CIDR address: {s}"))?;
    let ip: std::net::Ipv4Addr = ip
        .parse()
        .map_err(|_| format!("invalid CIDR address: {s}"))?;
    let len: u8 = len
        .parse()
        .map_err(|_| format!("invalid CIDR address: {s}"))?;
    if len > 30 {
        return Err(format!("service CIDR {s} is too small"));
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ok((std::net::Ipv4Addr::from(u32::from(ip) & mask), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_go() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn cidrs() {
        assert_eq!(parse_cidr("10.96.0.0/12").unwrap().1, 12);
        assert!(parse_cidr("10.96.0.0").is_err());
        assert!(parse_cidr("10.96.0.0/31").is_err());
    }
}
