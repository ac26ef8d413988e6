//! The resource catalog: every built-in resource the apiserver serves.
//!
//! Mirrors what upstream kube-apiserver advertises in discovery (`kubectl api-resources`):
//! group, version, kind, plural/singular names, scope, short names, categories, verbs and
//! subresources. Discovery, routing, OpenAPI and the printers all key off this table.

/// One subresource of a resource (for example `pods/status` or `deployments/scale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subresource {
    /// Subresource name without the parent, e.g. `status`, `scale`, `log`.
    pub name: &'static str,
    /// Group of the kind the subresource answers with ("" for core).
    pub group: &'static str,
    /// Version of that kind.
    pub version: &'static str,
    /// Kind it answers with, e.g. `Scale` (autoscaling/v1) for `scale`.
    pub kind: &'static str,
    /// Verbs the subresource supports, as in discovery.
    pub verbs: &'static [&'static str],
}

/// One served resource at one group/version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group, "" for the core group.
    pub group: &'static str,
    /// Version, e.g. `v1`.
    pub version: &'static str,
    /// Kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// Plural resource name used in URLs, e.g. `deployments`.
    pub plural: &'static str,
    /// Singular name, e.g. `deployment`.
    pub singular: &'static str,
    /// Namespaced (true) or cluster-scoped (false).
    pub namespaced: bool,
    /// Short names advertised in discovery (`deploy`).
    pub short_names: &'static [&'static str],
    /// Categories (`all`).
    pub categories: &'static [&'static str],
    /// Verbs as in discovery.
    pub verbs: &'static [&'static str],
    /// Subresources.
    pub subresources: &'static [Subresource],
}

impl ResourceInfo {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The list kind, e.g. `DeploymentList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Looks up a subresource by name.
    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }
}

/// The full verb set of an ordinary read-write resource.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Every served resource. Filled in completely by the catalog work; the entries here are
/// the minimum the apiserver needs to boot.
pub static RESOURCES: &[ResourceInfo] = &[
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        verbs: &["create", "delete", "get", "list", "patch", "update", "watch"],
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        singular: "configmap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
];

/// All served resources.
pub fn all() -> &'static [ResourceInfo] {
    RESOURCES
}

/// Finds a resource by group, version and plural name.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds a resource by group, version and kind.
pub fn by_kind(group: &str, version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// Served group/versions in upstream's discovery order (core `v1` first, then groups in
/// upstream's priority order).
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}
