//! The table of built-in resources and their strategies, one module per API group.

pub(crate) mod apps;
pub(crate) mod batch;
pub(crate) mod core;
pub(crate) mod pods;

use crate::strategy::{Generation, Resource};
use crate::validation::NameValidation;

/// Used for resources this crate has no specific strategy for: metadata validation only.
static GENERIC: Resource = Resource {
    namespaced: None,
    generation: Generation::None,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

pub(crate) fn lookup(group: &str, plural: &str) -> &'static Resource {
    match (group, plural) {
        ("", "pods") => &pods::PODS,
        ("", "podtemplates") => &pods::POD_TEMPLATES,
        ("", "services") => &core::SERVICES,
        ("", "namespaces") => &core::NAMESPACES,
        ("", "configmaps") => &core::CONFIG_MAPS,
        ("", "secrets") => &core::SECRETS,
        ("", "serviceaccounts") => &core::SERVICE_ACCOUNTS,
        ("", "nodes") => &core::NODES,
        ("", "events") => &core::EVENTS,
        ("", "endpoints") => &core::ENDPOINTS,
        ("", "persistentvolumeclaims") => &core::PVCS,
        ("", "persistentvolumes") => &core::PVS,
        ("", "limitranges") => &core::LIMIT_RANGES,
        ("", "resourcequotas") => &core::RESOURCE_QUOTAS,
        ("", "replicationcontrollers") => &apps::REPLICATION_CONTROLLERS,
        ("apps", "deployments") => &apps::DEPLOYMENTS,
        ("apps", "replicasets") => &apps::REPLICA_SETS,
        ("apps", "statefulsets") => &apps::STATEFUL_SETS,
        ("apps", "daemonsets") => &apps::DAEMON_SETS,
        ("batch", "jobs") => &batch::JOBS,
        ("batch", "cronjobs") => &batch::CRON_JOBS,
        _ => &GENERIC,
    }
}
