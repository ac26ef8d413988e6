//! The plugin registry (upstream `plugins/registry.go`) and building a [`Framework`] from
//! a profile's `plugins` and `pluginConfig` (upstream `frameworkruntime.NewFramework` with
//! the v1 defaults of `getDefaultPlugins`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::config::{PluginSetConfig, Profile};
use crate::framework::{Framework, PluginSet};
use crate::plugins;

/// Errors building a profile's framework.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A plugin name the registry does not know.
    #[error("plugin {0:?} does not exist")]
    Unknown(String),
    /// An upstream plugin this scheduler does not implement yet.
    #[error("plugin {0:?} is not implemented by this scheduler")]
    NotImplemented(String),
    /// A plugin was enabled at an extension point it does not implement.
    #[error("plugin {plugin:?} does not extend {point} plugin")]
    WrongPoint {
        /// The plugin.
        plugin: String,
        /// The extension point.
        point: &'static str,
    },
    /// Invalid plugin args.
    #[error("initializing plugin {plugin:?}: {message}")]
    Args {
        /// The plugin.
        plugin: String,
        /// What was wrong.
        message: String,
    },
    /// A plugin needs an apiserver client and none was given.
    #[error("plugin {0:?} needs an apiserver client")]
    NoClient(&'static str),
    /// Upstream requires exactly one QueueSort plugin.
    #[error("one queue sort plugin required for profile with scheduler name {0:?}")]
    NoQueueSort(String),
    /// Upstream requires at least one Bind plugin.
    #[error("at least one bind plugin is needed for profile with scheduler name {0:?}")]
    NoBind(String),
}

/// A list kept current by an informer.
pub type Lister<T> = Arc<parking_lot::RwLock<Vec<Arc<T>>>>;

/// The workload objects PodTopologySpread's system default constraints read to build a
/// pod's selector (upstream `helper.DefaultSelector` with its listers).
#[derive(Clone, Default)]
pub struct Listers {
    /// Services.
    pub services: Lister<k8s_openapi::api::core::v1::Service>,
    /// ReplicationControllers.
    pub replication_controllers: Lister<k8s_openapi::api::core::v1::ReplicationController>,
    /// ReplicaSets.
    pub replica_sets: Lister<k8s_openapi::api::apps::v1::ReplicaSet>,
    /// StatefulSets.
    pub stateful_sets: Lister<k8s_openapi::api::apps::v1::StatefulSet>,
}

/// What plugins may use from the scheduler.
#[derive(Clone, Default)]
pub struct Handle {
    /// The apiserver client (absent in unit tests).
    pub client: Option<kube::Client>,
    /// PodDisruptionBudgets kept current by an informer (for preemption).
    pub pdbs: Arc<parking_lot::RwLock<Vec<k8s_openapi::api::policy::v1::PodDisruptionBudget>>>,
    /// Services and workload controllers kept current by informers.
    pub listers: Listers,
}

/// Builds a plugin from its args.
pub type Factory = fn(Option<&serde_json::Value>, &Handle) -> Result<PluginSet, RegistryError>;

/// The implemented plugins by upstream name.
pub fn in_tree() -> HashMap<&'static str, Factory> {
    let mut m: HashMap<&'static str, Factory> = HashMap::new();
    m.insert(
        plugins::scheduling_gates::NAME,
        plugins::scheduling_gates::factory,
    );
    m.insert(
        plugins::priority_sort::NAME,
        plugins::priority_sort::factory,
    );
    m.insert(
        plugins::node_unschedulable::NAME,
        plugins::node_unschedulable::factory,
    );
    m.insert(plugins::node_name::NAME, plugins::node_name::factory);
    m.insert(
        plugins::taint_toleration::NAME,
        plugins::taint_toleration::factory,
    );
    m.insert(
        plugins::node_affinity::NAME,
        plugins::node_affinity::factory,
    );
    m.insert(plugins::node_ports::NAME, plugins::node_ports::factory);
    m.insert(
        plugins::node_resources_fit::NAME,
        plugins::node_resources_fit::factory,
    );
    m.insert(
        plugins::balanced_allocation::NAME,
        plugins::balanced_allocation::factory,
    );
    m.insert(
        plugins::pod_topology_spread::NAME,
        plugins::pod_topology_spread::factory,
    );
    m.insert(
        plugins::inter_pod_affinity::NAME,
        plugins::inter_pod_affinity::factory,
    );
    m.insert(
        plugins::image_locality::NAME,
        plugins::image_locality::factory,
    );
    m.insert(
        plugins::default_preemption::NAME,
        plugins::default_preemption::factory,
    );
    m.insert(
        plugins::default_binder::NAME,
        plugins::default_binder::factory,
    );
    m
}

/// Upstream plugins that exist but are not implemented here; naming them in `enabled`
/// is an error, naming them in `disabled` is accepted.
pub const NOT_IMPLEMENTED: &[&str] = &[
    "VolumeRestrictions",
    "NodeVolumeLimits",
    "VolumeBinding",
    "VolumeZone",
    "DynamicResources",
];

/// The default multi-point plugins in upstream order with their score weights, limited to
/// the implemented ones (upstream v1 `getDefaultPlugins`).
pub fn default_plugins() -> Vec<(&'static str, i64)> {
    vec![
        (plugins::scheduling_gates::NAME, 0),
        (plugins::priority_sort::NAME, 0),
        (plugins::node_unschedulable::NAME, 0),
        (plugins::node_name::NAME, 0),
        (plugins::taint_toleration::NAME, 3),
        (plugins::node_affinity::NAME, 2),
        (plugins::node_ports::NAME, 0),
        (plugins::node_resources_fit::NAME, 1),
        (plugins::pod_topology_spread::NAME, 2),
        (plugins::inter_pod_affinity::NAME, 2),
        (plugins::default_preemption::NAME, 0),
        (plugins::balanced_allocation::NAME, 1),
        (plugins::image_locality::NAME, 1),
        (plugins::default_binder::NAME, 0),
    ]
}

fn default_weight(name: &str) -> i64 {
    default_plugins()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, w)| w)
        .filter(|w| *w > 0)
        .unwrap_or(1)
}

fn check_known(name: &str, reg: &HashMap<&'static str, Factory>) -> Result<(), RegistryError> {
    if reg.contains_key(name) {
        Ok(())
    } else if NOT_IMPLEMENTED.contains(&name) {
        Err(RegistryError::NotImplemented(name.into()))
    } else {
        Err(RegistryError::Unknown(name.into()))
    }
}

/// Builds one profile's framework.
pub fn build_framework(profile: &Profile, handle: &Handle) -> Result<Framework, RegistryError> {
    let reg = in_tree();
    let cfg = profile.plugins.clone().unwrap_or_default();
    let args: HashMap<&str, &serde_json::Value> = profile
        .plugin_config
        .iter()
        .map(|pc| (pc.name.as_str(), &pc.args))
        .collect();

    // Multi-point: the defaults minus disabled, plus enabled (a weight given for a default
    // plugin overrides the default weight).
    let mp = cfg.multi_point.clone().unwrap_or_default();
    let disabled: BTreeSet<&str> = mp.disabled.iter().map(|p| p.name.as_str()).collect();
    let mut multi: Vec<(String, i64)> = if disabled.contains("*") {
        Vec::new()
    } else {
        default_plugins()
            .into_iter()
            .filter(|(n, _)| !disabled.contains(n))
            .map(|(n, w)| (n.to_string(), w))
            .collect()
    };
    for e in &mp.enabled {
        check_known(&e.name, &reg)?;
        let w = e.weight.filter(|w| *w > 0);
        match multi.iter_mut().find(|(n, _)| *n == e.name) {
            Some(slot) => {
                if let Some(w) = w {
                    slot.1 = w;
                }
            }
            None => multi.push((e.name.clone(), w.unwrap_or_else(|| default_weight(&e.name)))),
        }
    }

    let mut instances: HashMap<String, PluginSet> = HashMap::new();
    let mut instance = |name: &str| -> Result<PluginSet, RegistryError> {
        if let Some(s) = instances.get(name) {
            return Ok(s.clone());
        }
        check_known(name, &reg)?;
        let set = reg[name](args.get(name).copied().filter(|v| !v.is_null()), handle)?;
        instances.insert(name.to_string(), set.clone());
        Ok(set)
    };

    let mut fw = Framework {
        scheduler_name: profile.scheduler_name.clone(),
        percentage_of_nodes_to_score: profile.percentage_of_nodes_to_score,
        ..Default::default()
    };

    // Every extension point: multi-point plugins that implement it, minus the point's
    // disabled list, plus its enabled list.
    macro_rules! point {
        ($field:ident, $cfg:ident, $label:literal) => {{
            let pc: PluginSetConfig = cfg.$cfg.clone().unwrap_or_default();
            let dis: BTreeSet<&str> = pc.disabled.iter().map(|p| p.name.as_str()).collect();
            let mut names: Vec<(String, i64, bool)> = if dis.contains("*") {
                Vec::new()
            } else {
                multi
                    .iter()
                    .filter(|(n, _)| !dis.contains(n.as_str()))
                    .map(|(n, w)| (n.clone(), *w, false))
                    .collect()
            };
            for e in &pc.enabled {
                let w = e
                    .weight
                    .filter(|w| *w > 0)
                    .unwrap_or_else(|| default_weight(&e.name));
                match names.iter_mut().find(|(n, _, _)| *n == e.name) {
                    Some(slot) => {
                        slot.1 = w;
                        slot.2 = true;
                    }
                    None => names.push((e.name.clone(), w, true)),
                }
            }
            let mut out = Vec::new();
            for (n, w, explicit) in names {
                let set = instance(&n)?;
                match set.$field {
                    Some(p) => out.push((p, w)),
                    None if explicit => {
                        return Err(RegistryError::WrongPoint {
                            plugin: n,
                            point: $label,
                        })
                    }
                    None => {}
                }
            }
            out
        }};
    }

    fw.pre_enqueue = point!(pre_enqueue, pre_enqueue, "PreEnqueue")
        .into_iter()
        .map(|p| p.0)
        .collect();
    fw.queue_sort = point!(queue_sort, queue_sort, "QueueSort")
        .into_iter()
        .map(|p| p.0)
        .next();
    fw.pre_filter = point!(pre_filter, pre_filter, "PreFilter")
        .into_iter()
        .map(|p| p.0)
        .collect();
    fw.filter = point!(filter, filter, "Filter")
        .into_iter()
        .map(|p| p.0)
        .collect();
    fw.post_filter = point!(post_filter, post_filter, "PostFilter")
        .into_iter()
        .map(|p| p.0)
        .collect();
    fw.pre_score = point!(pre_score, pre_score, "PreScore")
        .into_iter()
        .map(|p| p.0)
        .collect();
    fw.score = point!(score, score, "Score");
    fw.reserve = point!(reserve, reserve, "Reserve")
        .into_iter()
        .map(|p| p.0)
        .collect();
    fw.permit = point!(permit, permit, "Permit")
        .into_iter()
        .map(|p| p.0)
        .collect();
    fw.pre_bind = point!(pre_bind, pre_bind, "PreBind")
        .into_iter()
        .map(|p| p.0)
        .collect();
    fw.bind = point!(bind, bind, "Bind")
        .into_iter()
        .map(|p| p.0)
        .collect();

    if fw.queue_sort.is_none() {
        return Err(RegistryError::NoQueueSort(profile.scheduler_name.clone()));
    }
    if fw.bind.is_empty() {
        return Err(RegistryError::NoBind(profile.scheduler_name.clone()));
    }
    Ok(fw)
}

/// Builds every profile, keyed by schedulerName.
pub fn build_profiles(
    profiles: &[Profile],
    handle: &Handle,
) -> Result<HashMap<String, Arc<Framework>>, RegistryError> {
    profiles
        .iter()
        .map(|p| {
            Ok((
                p.scheduler_name.clone(),
                Arc::new(build_framework(p, handle)?),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KubeSchedulerConfiguration;

    fn names<T: ?Sized + crate::framework::Plugin>(v: &[Arc<T>]) -> Vec<&'static str> {
        v.iter().map(|p| p.name()).collect()
    }

    /// A handle whose client points nowhere; building never connects.
    fn handle() -> Handle {
        let cfg = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        Handle {
            client: Some(kube::Client::try_from(cfg).unwrap()),
            ..Default::default()
        }
    }

    fn profile(yaml: &str) -> Profile {
        let c = KubeSchedulerConfiguration::from_yaml(yaml).unwrap();
        c.profiles[0].clone()
    }

    #[tokio::test]
    async fn defaults() {
        let fw = build_framework(&Profile::default_profile(), &handle()).unwrap();
        assert_eq!(names(&fw.pre_enqueue), vec!["SchedulingGates"]);
        assert_eq!(
            names(&fw.filter),
            vec![
                "NodeUnschedulable",
                "NodeName",
                "TaintToleration",
                "NodeAffinity",
                "NodePorts",
                "NodeResourcesFit",
                "PodTopologySpread",
                "InterPodAffinity"
            ]
        );
        let scores: Vec<(&str, i64)> = fw.score.iter().map(|(p, w)| (p.name(), *w)).collect();
        assert_eq!(
            scores,
            vec![
                ("TaintToleration", 3),
                ("NodeAffinity", 2),
                ("NodeResourcesFit", 1),
                ("PodTopologySpread", 2),
                ("InterPodAffinity", 2),
                ("NodeResourcesBalancedAllocation", 1),
                ("ImageLocality", 1)
            ]
        );
        assert_eq!(names(&fw.bind), vec!["DefaultBinder"]);
        assert_eq!(names(&fw.post_filter), vec!["DefaultPreemption"]);
    }

    #[tokio::test]
    async fn enable_disable_and_weights() {
        let p = profile(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: packer
  plugins:
    score:
      disabled: [{name: NodeResourcesBalancedAllocation}]
      enabled: [{name: NodeResourcesFit, weight: 5}]
    filter:
      disabled: [{name: NodePorts}]
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy: {type: MostAllocated}
"#,
        );
        let fw = build_framework(&p, &handle()).unwrap();
        assert_eq!(fw.scheduler_name, "packer");
        let scores: Vec<(&str, i64)> = fw.score.iter().map(|(p, w)| (p.name(), *w)).collect();
        assert_eq!(
            scores,
            vec![
                ("TaintToleration", 3),
                ("NodeAffinity", 2),
                ("NodeResourcesFit", 5),
                ("PodTopologySpread", 2),
                ("InterPodAffinity", 2),
                ("ImageLocality", 1)
            ]
        );
        assert!(!names(&fw.filter).contains(&"NodePorts"));
    }

    #[tokio::test]
    async fn errors() {
        let cases = [
            ("multiPoint: {enabled: [{name: Nope}]}", "plugin \"Nope\" does not exist"),
            ("multiPoint: {enabled: [{name: VolumeBinding}]}", "plugin \"VolumeBinding\" is not implemented by this scheduler"),
            ("filter: {enabled: [{name: PrioritySort}]}", "plugin \"PrioritySort\" does not extend Filter plugin"),
            ("multiPoint: {disabled: [{name: \"*\"}]}", "one queue sort plugin required for profile with scheduler name \"default-scheduler\""),
        ];
        for (plugins, want) in cases {
            let yaml = format!(
                "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: default-scheduler\n  plugins:\n    {plugins}\n"
            );
            let err = build_framework(&profile(&yaml), &handle())
                .err()
                .expect(plugins);
            assert_eq!(err.to_string(), want);
        }
        // Disabling an unimplemented upstream plugin is fine.
        let yaml = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- plugins:\n    multiPoint: {disabled: [{name: VolumeBinding}]}\n";
        assert!(build_framework(&profile(yaml), &handle()).is_ok());
    }
}
