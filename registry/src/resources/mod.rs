//! The table of built-in resources and their strategies, one module per API group.

pub(crate) mod apps;
pub(crate) mod batch;
pub(crate) mod core;
pub(crate) mod others;
pub(crate) mod pods;

use crate::strategy::{Generation, Resource};
use crate::validation::NameValidation;

/// Used for resources this crate has no specific strategy for: metadata validation only.
static GENERIC: Resource = Resource {
    namespaced: None,
    generation: Generation::None,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

/// Resources whose strategy upstream keeps to ObjectMeta rules (plus a status subresource
/// and generation where noted), declared so that scope and name format are still checked.
static NAMESPACED_BASIC: Resource = Resource::basic(true, NameValidation::Dns1123Subdomain);
static CLUSTER_BASIC: Resource = Resource::basic(false, NameValidation::Dns1123Subdomain);
static CLUSTER_WITH_STATUS: Resource = Resource {
    status: true,
    ..Resource::basic(false, NameValidation::Dns1123Subdomain)
};
/// CustomResourceDefinitions: status subresource, generation bumped on spec changes.
static CRDS: Resource = Resource {
    status: true,
    generation: Generation::Spec,
    validate: validate_crd_name,
    prepare_create: prepare_crd_create,
    ..Resource::basic(false, NameValidation::Dns1123Subdomain)
};
/// APIServices: names are `<version>.<group>`, free-form enough to need path-segment rules.
static API_SERVICES: Resource = Resource {
    status: true,
    ..Resource::basic(false, NameValidation::PathSegment)
};

/// A CRD's name must be `<spec.names.plural>.<spec.group>` (upstream
/// ValidateCustomResourceDefinition).
fn validate_crd_name(obj: &serde_json::Value) -> crate::field::ErrorList {
    use crate::json::str_at;
    let name = str_at(obj, &["metadata", "name"]);
    let want = format!(
        "{}.{}",
        str_at(obj, &["spec", "names", "plural"]),
        str_at(obj, &["spec", "group"])
    );
    if name != want {
        vec![crate::field::FieldError::invalid(
            "metadata.name",
            name,
            "must be spec.names.plural+\".\"+spec.group",
        )]
    } else {
        Vec::new()
    }
}

/// Upstream's CRD PrepareForCreate: status starts with the storage version as the only
/// stored version.
fn prepare_crd_create(obj: &mut serde_json::Value) {
    let storage: Vec<serde_json::Value> = crate::json::arr_at(obj, &["spec", "versions"])
        .iter()
        .filter(|v| v.get("storage").and_then(serde_json::Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    if let Some(m) = obj.as_object_mut() {
        m.insert(
            "status".into(),
            serde_json::json!({"storedVersions": storage}),
        );
    }
}

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
        ("rbac.authorization.k8s.io", "roles") => &others::ROLES,
        ("rbac.authorization.k8s.io", "clusterroles") => &others::CLUSTER_ROLES,
        ("rbac.authorization.k8s.io", "rolebindings") => &others::ROLE_BINDINGS,
        ("rbac.authorization.k8s.io", "clusterrolebindings") => &others::CLUSTER_ROLE_BINDINGS,
        ("scheduling.k8s.io", "priorityclasses") => &others::PRIORITY_CLASSES,
        ("policy", "poddisruptionbudgets") => &others::POD_DISRUPTION_BUDGETS,
        ("networking.k8s.io", "ingresses") => &others::INGRESSES,
        ("networking.k8s.io", "ingressclasses") => &others::INGRESS_CLASSES,
        ("networking.k8s.io", "networkpolicies") => &others::NETWORK_POLICIES,
        ("autoscaling", "horizontalpodautoscalers") => &others::HPAS,
        ("discovery.k8s.io", "endpointslices") => &others::ENDPOINT_SLICES,
        ("coordination.k8s.io", "leases") => &others::LEASES,
        ("storage.k8s.io", "storageclasses") => &others::STORAGE_CLASSES,
        (
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations" | "validatingwebhookconfigurations",
        ) => &others::WEBHOOK_CONFIGURATIONS,
        ("events.k8s.io", "events") => &core::EVENTS,
        ("storage.k8s.io", "csidrivers" | "csinodes" | "volumeattributesclasses") => &CLUSTER_BASIC,
        ("storage.k8s.io", "volumeattachments") => &CLUSTER_WITH_STATUS,
        ("storage.k8s.io", "csistoragecapacities") => &NAMESPACED_BASIC,
        ("certificates.k8s.io", "certificatesigningrequests") => &CLUSTER_WITH_STATUS,
        ("apiextensions.k8s.io", "customresourcedefinitions") => &CRDS,
        ("apiregistration.k8s.io", "apiservices") => &API_SERVICES,
        ("node.k8s.io", "runtimeclasses") => &CLUSTER_BASIC,
        (
            "admissionregistration.k8s.io",
            "validatingadmissionpolicies" | "validatingadmissionpolicybindings",
        ) => &others::WEBHOOK_CONFIGURATIONS,
        _ => &GENERIC,
    }
}
