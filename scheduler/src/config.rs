//! `KubeSchedulerConfiguration` (kubescheduler.config.k8s.io/v1) as read from `--config`,
//! with upstream's defaults (`pkg/scheduler/apis/config/v1/defaults.go`).

use serde::Deserialize;

/// The only accepted apiVersion.
pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
/// Upstream's default scheduler name.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Errors reading the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The YAML did not decode.
    #[error("decoding KubeSchedulerConfiguration: {0}")]
    Decode(#[from] serde_yaml::Error),
    /// Wrong apiVersion/kind.
    #[error("no kind \"{kind}\" is registered for version \"{api_version}\"")]
    Kind {
        /// The kind given.
        kind: String,
        /// The apiVersion given.
        api_version: String,
    },
    /// A semantic rule was broken.
    #[error("invalid KubeSchedulerConfiguration: {0}")]
    Invalid(String),
}

/// One plugin named in an enabled/disabled list.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct PluginRef {
    /// The plugin's name.
    pub name: String,
    /// Its score weight (Score and multiPoint only).
    #[serde(default)]
    pub weight: Option<i64>,
}

/// Enabled and disabled plugins of one extension point.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PluginSetConfig {
    /// Added after the defaults.
    #[serde(default)]
    pub enabled: Vec<PluginRef>,
    /// Removed from the defaults; `*` removes all.
    #[serde(default)]
    pub disabled: Vec<PluginRef>,
}

/// The `plugins` section of a profile.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PluginsConfig {
    pub pre_enqueue: Option<PluginSetConfig>,
    pub queue_sort: Option<PluginSetConfig>,
    pub pre_filter: Option<PluginSetConfig>,
    pub filter: Option<PluginSetConfig>,
    pub post_filter: Option<PluginSetConfig>,
    pub pre_score: Option<PluginSetConfig>,
    pub score: Option<PluginSetConfig>,
    pub reserve: Option<PluginSetConfig>,
    pub permit: Option<PluginSetConfig>,
    pub pre_bind: Option<PluginSetConfig>,
    pub bind: Option<PluginSetConfig>,
    pub post_bind: Option<PluginSetConfig>,
    pub multi_point: Option<PluginSetConfig>,
}

/// Args for one plugin.
#[derive(Debug, Clone, Deserialize)]
pub struct PluginConfig {
    /// The plugin's name.
    pub name: String,
    /// Its args object.
    #[serde(default)]
    pub args: serde_json::Value,
}

/// One scheduling profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Pods whose `spec.schedulerName` equals this are scheduled by this profile.
    #[serde(default = "default_name")]
    pub scheduler_name: String,
    /// Overrides the global percentageOfNodesToScore.
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    /// Plugin enablement.
    #[serde(default)]
    pub plugins: Option<PluginsConfig>,
    /// Plugin args.
    #[serde(default)]
    pub plugin_config: Vec<PluginConfig>,
}

fn default_name() -> String {
    DEFAULT_SCHEDULER_NAME.into()
}

impl Profile {
    /// The profile upstream defaults to when none is given.
    pub fn default_profile() -> Profile {
        Profile {
            scheduler_name: default_name(),
            percentage_of_nodes_to_score: None,
            plugins: None,
            plugin_config: Vec::new(),
        }
    }
}

/// The `leaderElection` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaderElectionConfig {
    /// Whether to elect a leader.
    pub leader_elect: Option<bool>,
}

/// The `clientConnection` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientConnection {
    /// The kubeconfig path.
    pub kubeconfig: Option<String>,
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeSchedulerConfiguration {
    /// Must be kubescheduler.config.k8s.io/v1.
    pub api_version: String,
    /// Must be KubeSchedulerConfiguration.
    pub kind: String,
    /// 0 means adaptive (upstream default).
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    /// Upstream's worker count for Filter and Score (default 16). Validated as upstream,
    /// but the cycle runs on one thread here: threads measured slower on small machines
    /// (docs/scheduler.md, Benchmark).
    #[serde(default)]
    pub parallelism: Option<i32>,
    /// Initial backoff of unschedulable pods (default 1).
    #[serde(default)]
    pub pod_initial_backoff_seconds: Option<i64>,
    /// Maximum backoff (default 10).
    #[serde(default)]
    pub pod_max_backoff_seconds: Option<i64>,
    /// Profiles; one default profile when empty.
    #[serde(default)]
    pub profiles: Vec<Profile>,
    /// Leader election.
    #[serde(default)]
    pub leader_election: Option<LeaderElectionConfig>,
    /// Client connection.
    #[serde(default)]
    pub client_connection: Option<ClientConnection>,
}

impl Default for KubeSchedulerConfiguration {
    fn default() -> Self {
        KubeSchedulerConfiguration {
            api_version: API_VERSION.into(),
            kind: "KubeSchedulerConfiguration".into(),
            percentage_of_nodes_to_score: None,
            parallelism: None,
            pod_initial_backoff_seconds: None,
            pod_max_backoff_seconds: None,
            profiles: vec![Profile::default_profile()],
            leader_election: None,
            client_connection: None,
        }
    }
}

impl KubeSchedulerConfiguration {
    /// Decodes, defaults and validates a configuration document.
    pub fn from_yaml(s: &str) -> Result<Self, ConfigError> {
        let mut c: KubeSchedulerConfiguration = serde_yaml::from_str(s)?;
        if c.api_version != API_VERSION || c.kind != "KubeSchedulerConfiguration" {
            return Err(ConfigError::Kind {
                kind: c.kind,
                api_version: c.api_version,
            });
        }
        if c.profiles.is_empty() {
            c.profiles.push(Profile::default_profile());
        }
        c.validate()?;
        Ok(c)
    }

    /// Reads a file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let s = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&s)
    }

    /// Upstream validation rules that matter here.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let pct_ok = |p: Option<i32>| p.is_none_or(|p| (0..=100).contains(&p));
        if !pct_ok(self.percentage_of_nodes_to_score) {
            return Err(ConfigError::Invalid(
                "percentageOfNodesToScore: Invalid value: not in valid range [0-100]".into(),
            ));
        }
        if let Some(p) = self.parallelism.filter(|p| *p <= 0) {
            return Err(ConfigError::Invalid(format!(
                "parallelism: Invalid value: {p}: should be an integer value greater than zero"
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in self.profiles.iter().enumerate() {
            if p.scheduler_name.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "profiles[{i}].schedulerName: Required value"
                )));
            }
            if !seen.insert(p.scheduler_name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "profiles[{i}].schedulerName: Duplicate value: {:?}",
                    p.scheduler_name
                )));
            }
            if !pct_ok(p.percentage_of_nodes_to_score) {
                return Err(ConfigError::Invalid(format!(
                    "profiles[{i}].percentageOfNodesToScore: Invalid value: not in valid range [0-100]"
                )));
            }
        }
        let initial = self.pod_initial_backoff_seconds.unwrap_or(1);
        let max = self.pod_max_backoff_seconds.unwrap_or(10);
        if initial <= 0 || max < initial {
            return Err(ConfigError::Invalid(
                "podInitialBackoffSeconds must be positive and podMaxBackoffSeconds at least as large"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases: &[(&str, Result<usize, &str>)] = &[
            ("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n", Ok(1)),
            (
                "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\npercentageOfNodesToScore: 30\nprofiles:\n- schedulerName: a\n- schedulerName: b\n  percentageOfNodesToScore: 10\n",
                Ok(2),
            ),
            (
                "apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n",
                Err("no kind \"KubeSchedulerConfiguration\" is registered for version \"kubescheduler.config.k8s.io/v1beta3\""),
            ),
            (
                "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: a\n- schedulerName: a\n",
                Err("invalid KubeSchedulerConfiguration: profiles[1].schedulerName: Duplicate value: \"a\""),
            ),
            (
                "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\npercentageOfNodesToScore: 101\n",
                Err("invalid KubeSchedulerConfiguration: percentageOfNodesToScore: Invalid value: not in valid range [0-100]"),
            ),
            (
                "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nparallelism: 16\n",
                Ok(1),
            ),
            (
                "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nparallelism: 0\n",
                Err("invalid KubeSchedulerConfiguration: parallelism: Invalid value: 0: should be an integer value greater than zero"),
            ),
        ];
        for (yaml, want) in cases {
            match (KubeSchedulerConfiguration::from_yaml(yaml), want) {
                (Ok(c), Ok(n)) => assert_eq!(c.profiles.len(), *n),
                (Err(e), Err(m)) => assert_eq!(e.to_string(), *m),
                (got, want) => panic!("{yaml}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn profile_fields() {
        let c = KubeSchedulerConfiguration::from_yaml(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- percentageOfNodesToScore: 20\n  pluginConfig:\n  - name: NodeAffinity\n    args: {addedAffinity: {}}\n",
        )
        .unwrap();
        let p = &c.profiles[0];
        assert_eq!(p.scheduler_name, DEFAULT_SCHEDULER_NAME);
        assert_eq!(p.percentage_of_nodes_to_score, Some(20));
        assert_eq!(p.plugin_config[0].name, "NodeAffinity");
    }
}
