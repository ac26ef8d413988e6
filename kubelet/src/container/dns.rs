//! Pod name resolution: hostname and subdomain, the managed `/etc/hosts`, and the DNS
//! configuration (resolv.conf) from `dnsPolicy` and `dnsConfig`.
//!
//! Mirrors upstream `kubelet_pods.go` (`GeneratePodHostNameAndDomain`,
//! `truncatePodHostnameIfNeeded`, `managedHostsFileContent`, `nodeHostsFileContent`,
//! `hostsEntriesFromHostAliases`) and `pkg/kubelet/network/dns/dns.go` (`getPodDNSType`,
//! `GetPodDNS`, `appendDNSConfig`, `formDNSConfigFitsLimits`, `parseResolvConf`). The DNS
//! configuration goes to CRI in the sandbox config; [`resolv_conf_content`] renders it the
//! way containerd writes the sandbox's resolv.conf.

use k8s_cri::v1::DnsConfig;
use k8s_openapi::api::core::v1::Pod;

/// Upstream `managedHostsHeader`.
pub const MANAGED_HOSTS_HEADER: &str = "# Kubernetes-managed hosts file.\n";
/// Upstream `managedHostsHeaderWithHostNetwork`.
pub const MANAGED_HOSTS_HEADER_HOST_NETWORK: &str =
    "# Kubernetes-managed hosts file (host network).\n";
/// Upstream `validation.MaxDNSNameservers`.
pub const MAX_DNS_NAMESERVERS: usize = 3;
/// Upstream `validation.MaxDNSSearchPaths`.
pub const MAX_DNS_SEARCH_PATHS: usize = 32;
/// Upstream `validation.MaxDNSSearchListChars`.
pub const MAX_DNS_SEARCH_LIST_CHARS: usize = 2048;
/// Upstream `defaultDNSOptions`.
pub const DEFAULT_DNS_OPTIONS: &[&str] = &["ndots:5"];

/// Hostname errors (upstream messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostnameError {
    /// Truncation left nothing.
    #[error("hostname for pod {pod:?} was invalid: {hostname:?}")]
    Invalid {
        /// The pod's name.
        pod: String,
        /// The rejected hostname.
        hostname: String,
    },
    /// setHostnameAsFQDN with an FQDN longer than 64 characters.
    #[error(
        "failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too long (64 characters is the max, {len} characters requested)"
    )]
    FqdnTooLong {
        /// The FQDN.
        fqdn: String,
        /// Its length.
        len: usize,
    },
}

/// The pod's hostname and domain (`<subdomain>.<ns>.svc.<cluster domain>`, empty without a
/// subdomain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodHostname {
    /// The hostname (spec.hostname or the pod name, truncated to 63).
    pub hostname: String,
    /// The domain, empty without spec.subdomain.
    pub domain: String,
}

impl PodHostname {
    /// The hostname the sandbox gets: the FQDN when `setHostnameAsFQDN` is set and there is
    /// a domain, else the short hostname (upstream `GeneratePodHostNameAndDomain` callers).
    pub fn sandbox_hostname(&self, pod: &Pod) -> Result<String, HostnameError> {
        let as_fqdn = pod
            .spec
            .as_ref()
            .and_then(|s| s.set_hostname_as_fqdn)
            .unwrap_or(false);
        if !as_fqdn || self.domain.is_empty() {
            return Ok(self.hostname.clone());
        }
        let fqdn = format!("{}.{}", self.hostname, self.domain);
        if fqdn.len() > 64 {
            return Err(HostnameError::FqdnTooLong {
                len: fqdn.len(),
                fqdn,
            });
        }
        Ok(fqdn)
    }
}

/// Upstream `GeneratePodHostNameAndDomain` (the apiserver has already validated the
/// hostname and subdomain labels).
pub fn pod_hostname(pod: &Pod, cluster_domain: &str) -> Result<PodHostname, HostnameError> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let hostname = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| name.clone());
    let hostname = truncate_hostname(&name, &hostname)?;
    let domain = match spec
        .and_then(|s| s.subdomain.as_deref())
        .filter(|s| !s.is_empty())
    {
        Some(sub) => format!(
            "{sub}.{}.svc.{cluster_domain}",
            pod.metadata.namespace.as_deref().unwrap_or("")
        ),
        None => String::new(),
    };
    Ok(PodHostname { hostname, domain })
}

/// Upstream `truncatePodHostnameIfNeeded`: 63 characters, then trailing `-` and `.` cut.
pub fn truncate_hostname(pod_name: &str, hostname: &str) -> Result<String, HostnameError> {
    const MAX: usize = 63;
    if hostname.len() <= MAX {
        return Ok(hostname.to_string());
    }
    let truncated = hostname[..MAX].trim_end_matches(['-', '.']);
    if truncated.is_empty() {
        return Err(HostnameError::Invalid {
            pod: pod_name.to_string(),
            hostname: hostname.to_string(),
        });
    }
    Ok(truncated.to_string())
}

/// The content of the pod's managed `/etc/hosts`. `node_hosts` is the node's `/etc/hosts`,
/// used for hostNetwork pods.
pub fn hosts_file_content(
    pod: &Pod,
    pod_ips: &[String],
    host: &PodHostname,
    node_hosts: &str,
) -> String {
    let spec = pod.spec.as_ref();
    let mut out = String::new();
    if spec.and_then(|s| s.host_network).unwrap_or(false) {
        out.push_str(MANAGED_HOSTS_HEADER_HOST_NETWORK);
        out.push_str(node_hosts);
    } else {
        out.push_str(MANAGED_HOSTS_HEADER);
        out.push_str("127.0.0.1\tlocalhost\n");
        out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
        out.push_str("fe00::0\tip6-localnet\n");
        out.push_str("fe00::0\tip6-mcastprefix\n");
        out.push_str("fe00::1\tip6-allnodes\n");
        out.push_str("fe00::2\tip6-allrouters\n");
        for ip in pod_ips {
            if host.domain.is_empty() {
                out.push_str(&format!("{ip}\t{}\n", host.hostname));
            } else {
                out.push_str(&format!(
                    "{ip}\t{}.{}\t{}\n",
                    host.hostname, host.domain, host.hostname
                ));
            }
        }
    }
    let aliases = spec.and_then(|s| s.host_aliases.as_ref());
    if let Some(aliases) = aliases.filter(|a| !a.is_empty()) {
        out.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            out.push_str(&format!(
                "{}\t{}\n",
                a.ip,
                a.hostnames.clone().unwrap_or_default().join("\t")
            ));
        }
    }
    out
}

/// The kubelet's DNS settings (`--cluster-dns`, `--cluster-domain`, `--resolv-conf`).
#[derive(Debug, Clone, Default)]
pub struct DnsSettings {
    /// Cluster DNS server IPs.
    pub cluster_dns: Vec<String>,
    /// The cluster domain, e.g. `cluster.local`.
    pub cluster_domain: String,
    /// The content of the `--resolv-conf` file; `None` when the flag is empty.
    pub host_resolv_conf: Option<String>,
    /// The node's IPs (for the localhost fallback when `--resolv-conf` is empty).
    pub node_ips: Vec<String>,
}

/// A pod's DNS configuration and the warning events upstream records while forming it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodDns {
    /// What goes to CRI's `PodSandboxConfig.dns_config`.
    pub config: DnsConfig,
    /// Warning event messages (reasons `MissingClusterDNS`, `DNSConfigForming`).
    pub warnings: Vec<String>,
}

/// Parsed resolv.conf (upstream `parseResolvConf`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines.
    pub nameservers: Vec<String>,
    /// The last `search` line, trailing dots removed and `.` dropped.
    pub searches: Vec<String>,
    /// All `options` fields.
    pub options: Vec<String>,
}

/// Parses resolv.conf content.
pub fn parse_resolv_conf(content: &str) -> ResolvConf {
    let mut rc = ResolvConf::default();
    for line in content.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.first() {
            Some(&"nameserver") if fields.len() >= 2 => rc.nameservers.push(fields[1].to_string()),
            Some(&"search") => {
                rc.searches = fields[1..]
                    .iter()
                    .filter(|s| **s != ".")
                    .map(|s| s.trim_end_matches('.').to_string())
                    .collect()
            }
            Some(&"options") => rc.options.extend(fields[1..].iter().map(|s| s.to_string())),
            _ => {}
        }
    }
    rc
}

fn omit_duplicates(items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

/// Upstream `mergeDNSOptions`: options keyed by name, later ones override, order of first
/// appearance.
fn merge_options(existing: &[String], pod: &[(String, Option<String>)]) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut values: std::collections::HashMap<String, Option<String>> = Default::default();
    let mut put = |name: String, value: Option<String>| {
        if !values.contains_key(&name) {
            order.push(name.clone());
        }
        values.insert(name, value);
    };
    for o in existing {
        match o.split_once(':') {
            Some((n, v)) => put(n.to_string(), Some(v.to_string())),
            None => put(o.clone(), None),
        }
    }
    for (n, v) in pod {
        put(n.clone(), v.clone());
    }
    order
        .into_iter()
        .map(|n| match &values[&n] {
            Some(v) => format!("{n}:{v}"),
            None => n,
        })
        .collect()
}

/// The pod's DNS configuration (upstream `GetPodDNS`).
pub fn pod_dns(pod: &Pod, settings: &DnsSettings) -> PodDns {
    let spec = pod.spec.as_ref();
    let policy = spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst");
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let mut warnings = Vec::new();
    #[derive(PartialEq)]
    enum Kind {
        Cluster,
        Host,
        None,
    }
    let mut kind = match policy {
        "None" => Kind::None,
        "ClusterFirstWithHostNet" => Kind::Cluster,
        "ClusterFirst" if !host_network => Kind::Cluster,
        _ => Kind::Host,
    };
    if kind == Kind::Cluster && settings.cluster_dns.is_empty() {
        warnings.push(format!(
            "kubelet does not have ClusterDNS IP configured and cannot create Pod using {policy:?} policy. Falling back to \"Default\" policy."
        ));
        kind = Kind::Host;
    }
    let host = settings
        .host_resolv_conf
        .as_deref()
        .map(parse_resolv_conf)
        .unwrap_or_default();
    let mut cfg = DnsConfig::default();
    match kind {
        Kind::None => {}
        Kind::Cluster => {
            cfg.servers = settings.cluster_dns.clone();
            cfg.searches = if settings.cluster_domain.is_empty() {
                host.searches.clone()
            } else {
                let d = &settings.cluster_domain;
                let ns = pod.metadata.namespace.as_deref().unwrap_or("");
                let mut s = vec![format!("{ns}.svc.{d}"), format!("svc.{d}"), d.clone()];
                s.extend(host.searches.iter().cloned());
                omit_duplicates(s)
            };
            cfg.options = DEFAULT_DNS_OPTIONS.iter().map(|s| s.to_string()).collect();
        }
        Kind::Host => {
            if settings.host_resolv_conf.is_none() {
                // "--resolv-conf=" disables DNS lookups: use the local machine's resolver.
                for ip in &settings.node_ips {
                    cfg.servers
                        .push(if ip.contains(':') { "::1" } else { "127.0.0.1" }.into());
                }
                if cfg.servers.is_empty() {
                    cfg.servers.push("127.0.0.1".into());
                }
                cfg.searches = vec![".".into()];
            } else {
                cfg.servers = host.nameservers.clone();
                cfg.searches = host.searches.clone();
                cfg.options = host.options.clone();
            }
        }
    }
    if let Some(pc) = spec.and_then(|s| s.dns_config.as_ref()) {
        let mut servers = cfg.servers.clone();
        servers.extend(pc.nameservers.iter().flatten().cloned());
        cfg.servers = omit_duplicates(servers);
        let mut searches = cfg.searches.clone();
        searches.extend(pc.searches.iter().flatten().cloned());
        cfg.searches = omit_duplicates(searches);
        let pod_opts: Vec<(String, Option<String>)> = pc
            .options
            .iter()
            .flatten()
            .filter_map(|o| o.name.clone().map(|n| (n, o.value.clone())))
            .collect();
        cfg.options = merge_options(&cfg.options, &pod_opts);
    }
    // Upstream formDNSConfigFitsLimits.
    if cfg.servers.len() > MAX_DNS_NAMESERVERS {
        cfg.servers.truncate(MAX_DNS_NAMESERVERS);
        warnings.push(format!(
            "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: {}",
            cfg.servers.join(" ")
        ));
    }
    let (searches, exceeded) = fit_searches(std::mem::take(&mut cfg.searches));
    cfg.searches = searches;
    if exceeded {
        warnings.push(format!(
            "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}",
            cfg.searches.join(" ")
        ));
    }
    PodDns {
        config: cfg,
        warnings,
    }
}

/// Upstream `formDNSSearchFitsLimits`: at most 32 paths, none longer than 253 characters,
/// and at most 2048 characters in all.
fn fit_searches(mut s: Vec<String>) -> (Vec<String>, bool) {
    let mut exceeded = false;
    if s.len() > MAX_DNS_SEARCH_PATHS {
        s.truncate(MAX_DNS_SEARCH_PATHS);
        exceeded = true;
    }
    let before = s.len();
    s.retain(|x| x.len() <= 253);
    exceeded |= s.len() != before;
    let total = s.join(" ").len();
    if total > MAX_DNS_SEARCH_LIST_CHARS {
        let mut cut_len = 0;
        let mut cut = 0;
        for x in s.iter().rev() {
            cut_len += x.len() + 1;
            cut += 1;
            if total - cut_len <= MAX_DNS_SEARCH_LIST_CHARS {
                break;
            }
        }
        s.truncate(s.len() - cut);
        exceeded = true;
    }
    (s, exceeded)
}

/// resolv.conf as containerd writes it for a sandbox: `search`, `nameserver` lines, then
/// `options`.
pub fn resolv_conf_content(cfg: &DnsConfig) -> String {
    let mut out = String::new();
    if !cfg.searches.is_empty() {
        out.push_str(&format!("search {}\n", cfg.searches.join(" ")));
    }
    for s in &cfg.servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !cfg.options.is_empty() {
        out.push_str(&format!("options {}\n", cfg.options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{HostAlias, PodDNSConfig, PodDNSConfigOption, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(spec: PodSpec) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web-0".into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            spec: Some(spec),
            ..Default::default()
        }
    }

    #[test]
    fn hostnames() {
        let long = "a".repeat(70);
        let dashy = format!("{}-.x", "b".repeat(62));
        // (spec.hostname, spec.subdomain, expected hostname, expected domain)
        let cases = vec![
            (None, None, "web-0", ""),
            (Some("h"), None, "h", ""),
            (Some("h"), Some("sub"), "h", "sub.ns.svc.cluster.local"),
            (Some(long.as_str()), None, &long[..63], ""),
            (Some(dashy.as_str()), None, &dashy[..62], ""),
        ];
        for (h, sub, want_h, want_d) in cases {
            let p = pod(PodSpec {
                hostname: h.map(Into::into),
                subdomain: sub.map(Into::into),
                ..Default::default()
            });
            let got = pod_hostname(&p, "cluster.local").unwrap();
            assert_eq!(got.hostname, want_h);
            assert_eq!(got.domain, want_d);
        }
        let p = pod(PodSpec {
            hostname: Some("h".into()),
            subdomain: Some("sub".into()),
            set_hostname_as_fqdn: Some(true),
            ..Default::default()
        });
        let h = pod_hostname(&p, "cluster.local").unwrap();
        assert_eq!(
            h.sandbox_hostname(&p).unwrap(),
            "h.sub.ns.svc.cluster.local"
        );
        assert!(truncate_hostname("p", &"-".repeat(70)).is_err());
    }

    #[test]
    fn hosts_files() {
        let p = pod(PodSpec {
            hostname: Some("h".into()),
            subdomain: Some("sub".into()),
            host_aliases: Some(vec![HostAlias {
                ip: "1.2.3.4".into(),
                hostnames: Some(vec!["foo".into(), "bar".into()]),
            }]),
            ..Default::default()
        });
        let h = pod_hostname(&p, "cluster.local").unwrap();
        let got = hosts_file_content(&p, &["10.0.0.5".into(), "fd00::5".into()], &h, "");
        assert_eq!(
            got,
            "# Kubernetes-managed hosts file.\n\
             127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             fe00::0\tip6-mcastprefix\n\
             fe00::1\tip6-allnodes\n\
             fe00::2\tip6-allrouters\n\
             10.0.0.5\th.sub.ns.svc.cluster.local\th\n\
             fd00::5\th.sub.ns.svc.cluster.local\th\n\
             \n# Entries added by HostAliases.\n\
             1.2.3.4\tfoo\tbar\n"
        );
        let p = pod(PodSpec::default());
        let h = pod_hostname(&p, "cluster.local").unwrap();
        let got = hosts_file_content(&p, &["10.0.0.5".into()], &h, "");
        assert!(
            got.ends_with("fe00::2\tip6-allrouters\n10.0.0.5\tweb-0\n"),
            "{got}"
        );
        let p = pod(PodSpec {
            host_network: Some(true),
            ..Default::default()
        });
        let got = hosts_file_content(&p, &["10.0.0.5".into()], &h, "127.0.0.1 localhost node\n");
        assert_eq!(
            got,
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost node\n"
        );
    }

    fn settings() -> DnsSettings {
        DnsSettings {
            cluster_dns: vec!["10.96.0.10".into()],
            cluster_domain: "cluster.local".into(),
            host_resolv_conf: Some(
                "# comment\nnameserver 8.8.8.8\nnameserver 1.1.1.1\nsearch corp.example. .\noptions rotate timeout:2\n".into(),
            ),
            node_ips: vec!["192.168.1.2".into()],
        }
    }

    fn dns(policy: Option<&str>, host_network: bool, cfg: Option<PodDNSConfig>) -> PodDns {
        let p = pod(PodSpec {
            dns_policy: policy.map(Into::into),
            host_network: Some(host_network),
            dns_config: cfg,
            ..Default::default()
        });
        pod_dns(&p, &settings())
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dns_policies() {
        let cluster_search = strs(&[
            "ns.svc.cluster.local",
            "svc.cluster.local",
            "cluster.local",
            "corp.example",
        ]);
        // (policy, hostNetwork, servers, searches, options)
        let cases = vec![
            (
                Some("ClusterFirst"),
                false,
                strs(&["10.96.0.10"]),
                cluster_search.clone(),
                strs(&["ndots:5"]),
            ),
            (
                None,
                false,
                strs(&["10.96.0.10"]),
                cluster_search.clone(),
                strs(&["ndots:5"]),
            ),
            (
                Some("ClusterFirst"),
                true,
                strs(&["8.8.8.8", "1.1.1.1"]),
                strs(&["corp.example"]),
                strs(&["rotate", "timeout:2"]),
            ),
            (
                Some("ClusterFirstWithHostNet"),
                true,
                strs(&["10.96.0.10"]),
                cluster_search.clone(),
                strs(&["ndots:5"]),
            ),
            (
                Some("Default"),
                false,
                strs(&["8.8.8.8", "1.1.1.1"]),
                strs(&["corp.example"]),
                strs(&["rotate", "timeout:2"]),
            ),
            (Some("None"), false, vec![], vec![], vec![]),
        ];
        for (policy, hn, servers, searches, options) in cases {
            let got = dns(policy, hn, None);
            assert_eq!(got.config.servers, servers, "{policy:?} {hn}");
            assert_eq!(got.config.searches, searches, "{policy:?} {hn}");
            assert_eq!(got.config.options, options, "{policy:?} {hn}");
            assert!(got.warnings.is_empty());
        }
    }

    #[test]
    fn dns_config_merge_and_limits() {
        let cfg = PodDNSConfig {
            nameservers: Some(strs(&["10.96.0.10", "9.9.9.9", "8.8.4.4", "4.4.4.4"])),
            searches: Some(strs(&["my.dns.search", "ns.svc.cluster.local"])),
            options: Some(vec![
                PodDNSConfigOption {
                    name: Some("ndots".into()),
                    value: Some("2".into()),
                },
                PodDNSConfigOption {
                    name: Some("edns0".into()),
                    value: None,
                },
            ]),
        };
        let got = dns(Some("ClusterFirst"), false, Some(cfg.clone()));
        assert_eq!(
            got.config.servers,
            strs(&["10.96.0.10", "9.9.9.9", "8.8.4.4"])
        );
        assert_eq!(
            got.config.searches,
            strs(&[
                "ns.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "corp.example",
                "my.dns.search"
            ])
        );
        assert_eq!(got.config.options, strs(&["ndots:2", "edns0"]));
        assert_eq!(
            got.warnings,
            vec!["Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 10.96.0.10 9.9.9.9 8.8.4.4".to_string()]
        );
        let got = dns(
            Some("None"),
            false,
            Some(PodDNSConfig {
                nameservers: Some(strs(&["1.2.3.4"])),
                ..cfg
            }),
        );
        assert_eq!(got.config.servers, strs(&["1.2.3.4"]));
        assert_eq!(
            got.config.searches,
            strs(&["my.dns.search", "ns.svc.cluster.local"])
        );
        assert_eq!(
            resolv_conf_content(&got.config),
            "search my.dns.search ns.svc.cluster.local\nnameserver 1.2.3.4\noptions ndots:2 edns0\n"
        );
        // 40 search paths: cut to 32 with a warning.
        let many: Vec<String> = (0..40).map(|i| format!("d{i}.example")).collect();
        let got = dns(
            Some("None"),
            false,
            Some(PodDNSConfig {
                searches: Some(many),
                ..Default::default()
            }),
        );
        assert_eq!(got.config.searches.len(), 32);
        assert!(got.warnings[0].starts_with("Search Line limits were exceeded"));
        // Long paths: cut from the end until the line fits 2048 characters.
        let long: Vec<String> = (0..10).map(|i| format!("{i}{}", "x".repeat(250))).collect();
        let got = dns(
            Some("None"),
            false,
            Some(PodDNSConfig {
                searches: Some(long),
                ..Default::default()
            }),
        );
        assert!(got.config.searches.join(" ").len() <= 2048);
        assert_eq!(got.config.searches.len(), 8);
    }

    #[test]
    fn fallbacks() {
        let mut s = settings();
        s.cluster_dns.clear();
        let p = pod(PodSpec::default());
        let got = pod_dns(&p, &s);
        assert_eq!(got.config.servers, strs(&["8.8.8.8", "1.1.1.1"]));
        assert!(got.warnings[0].contains("Falling back to \"Default\" policy"));
        s.host_resolv_conf = None;
        let got = pod_dns(&p, &s);
        assert_eq!(got.config.servers, strs(&["127.0.0.1"]));
        assert_eq!(got.config.searches, strs(&["."]));
    }
}
