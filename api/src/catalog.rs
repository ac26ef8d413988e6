//! The resource catalog: every built-in resource the apiserver serves.
//!
//! Mirrors what upstream kube-apiserver v1.33 advertises in discovery (`kubectl api-resources
//! -o wide`, `/api/v1`, `/apis/<group>/<version>`): group, version, kind, plural/singular names,
//! scope, short names, categories, verbs and subresources. Discovery, routing, OpenAPI and the
//! printers all key off this table, and [`key_prefix`]/[`object_key`] give the etcd key layout
//! upstream uses, so a Rudder store can be read like an upstream one.
//!
//! The facts come from upstream's checked-in discovery documents (`api/discovery/*.json`) and
//! the etcd storage-path test data (`test/integration/etcd/data.go`).

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

    /// Whether discovery lists `verb` for the resource itself.
    pub fn supports_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
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

/// Namespaces: upstream's namespace storage has no DeleteCollection.
pub const NO_DELETECOLLECTION: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// Virtual create-only resources (reviews, bindings, evictions, token requests).
pub const CREATE_ONLY: &[&str] = &["create"];

/// componentstatuses: read-only, no watch.
pub const GET_LIST: &[&str] = &["get", "list"];

/// Status-like subresources (`status`, `scale`, `approval`, `ephemeralcontainers`, `resize`).
pub const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

/// `namespaces/finalize`.
pub const UPDATE_ONLY: &[&str] = &["update"];

/// `pods/log`.
pub const GET_ONLY: &[&str] = &["get"];

/// Connect subresources answering GET and POST (`exec`, `attach`, `portforward`): upstream maps
/// the connect methods to verbs, GET -> get, POST -> create.
pub const CONNECT_VERBS: &[&str] = &["create", "get"];

/// Proxy subresources: connect methods GET/POST/PUT/PATCH/DELETE (HEAD and OPTIONS map to no
/// verb upstream).
pub const PROXY_VERBS: &[&str] = &["create", "delete", "get", "patch", "update"];

const fn sub(
    name: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> Subresource {
    Subresource {
        name,
        group,
        version,
        kind,
        verbs,
    }
}

/// A `status` subresource answering with the parent's own kind.
const fn status_sub(group: &'static str, version: &'static str, kind: &'static str) -> Subresource {
    sub("status", group, version, kind, GET_PATCH_UPDATE)
}

/// Every `scale` subresource answers with autoscaling/v1 `Scale`, whatever the parent group.
const SCALE_SUB: Subresource = sub("scale", "autoscaling", "v1", "Scale", GET_PATCH_UPDATE);

/// Every served resource, ordered as upstream discovery orders them: group/versions by
/// upstream's APIService priority (core first, then apiregistration.k8s.io, apps, events.k8s.io,
/// ...; autoscaling v2 before v1), resources alphabetically by plural within a group/version,
/// subresources alphabetically within a resource.
pub static RESOURCES: &[ResourceInfo] = &[
    // core/v1
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Binding",
        plural: "bindings",
        singular: "binding",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: CREATE_ONLY,
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ComponentStatus",
        plural: "componentstatuses",
        singular: "componentstatus",
        namespaced: false,
        short_names: &["cs"],
        categories: &[],
        verbs: GET_LIST,
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
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Endpoints",
        plural: "endpoints",
        singular: "endpoints",
        namespaced: true,
        short_names: &["ep"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "LimitRange",
        plural: "limitranges",
        singular: "limitrange",
        namespaced: true,
        short_names: &["limits"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        verbs: NO_DELETECOLLECTION,
        subresources: &[
            sub("finalize", "", "v1", "Namespace", UPDATE_ONLY),
            status_sub("", "v1", "Namespace"),
        ],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        singular: "node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[
            sub("proxy", "", "v1", "NodeProxyOptions", PROXY_VERBS),
            status_sub("", "v1", "Node"),
        ],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "PersistentVolumeClaim",
        plural: "persistentvolumeclaims",
        singular: "persistentvolumeclaim",
        namespaced: true,
        short_names: &["pvc"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[status_sub("", "v1", "PersistentVolumeClaim")],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "PersistentVolume",
        plural: "persistentvolumes",
        singular: "persistentvolume",
        namespaced: false,
        short_names: &["pv"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[status_sub("", "v1", "PersistentVolume")],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[
            sub("attach", "", "v1", "PodAttachOptions", CONNECT_VERBS),
            sub("binding", "", "v1", "Binding", CREATE_ONLY),
            sub("ephemeralcontainers", "", "v1", "Pod", GET_PATCH_UPDATE),
            sub("eviction", "policy", "v1", "Eviction", CREATE_ONLY),
            sub("exec", "", "v1", "PodExecOptions", CONNECT_VERBS),
            sub("log", "", "v1", "Pod", GET_ONLY),
            sub(
                "portforward",
                "",
                "v1",
                "PodPortForwardOptions",
                CONNECT_VERBS,
            ),
            sub("proxy", "", "v1", "PodProxyOptions", PROXY_VERBS),
            sub("resize", "", "v1", "Pod", GET_PATCH_UPDATE),
            status_sub("", "v1", "Pod"),
        ],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "PodTemplate",
        plural: "podtemplates",
        singular: "podtemplate",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ReplicationController",
        plural: "replicationcontrollers",
        singular: "replicationcontroller",
        namespaced: true,
        short_names: &["rc"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[SCALE_SUB, status_sub("", "v1", "ReplicationController")],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ResourceQuota",
        plural: "resourcequotas",
        singular: "resourcequota",
        namespaced: true,
        short_names: &["quota"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[status_sub("", "v1", "ResourceQuota")],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        singular: "secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        namespaced: true,
        short_names: &["sa"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[sub(
            "token",
            "authentication.k8s.io",
            "v1",
            "TokenRequest",
            CREATE_ONLY,
        )],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        singular: "service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[
            sub("proxy", "", "v1", "ServiceProxyOptions", PROXY_VERBS),
            status_sub("", "v1", "Service"),
        ],
    },
    // apiregistration.k8s.io/v1
    ResourceInfo {
        group: "apiregistration.k8s.io",
        version: "v1",
        kind: "APIService",
        plural: "apiservices",
        singular: "apiservice",
        namespaced: false,
        short_names: &[],
        categories: &["api-extensions"],
        verbs: ALL_VERBS,
        subresources: &[status_sub("apiregistration.k8s.io", "v1", "APIService")],
    },
    // apps/v1
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "ControllerRevision",
        plural: "controllerrevisions",
        singular: "controllerrevision",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "DaemonSet",
        plural: "daemonsets",
        singular: "daemonset",
        namespaced: true,
        short_names: &["ds"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[status_sub("apps", "v1", "DaemonSet")],
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        singular: "deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[SCALE_SUB, status_sub("apps", "v1", "Deployment")],
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "ReplicaSet",
        plural: "replicasets",
        singular: "replicaset",
        namespaced: true,
        short_names: &["rs"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[SCALE_SUB, status_sub("apps", "v1", "ReplicaSet")],
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "StatefulSet",
        plural: "statefulsets",
        singular: "statefulset",
        namespaced: true,
        short_names: &["sts"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[SCALE_SUB, status_sub("apps", "v1", "StatefulSet")],
    },
    // events.k8s.io/v1
    ResourceInfo {
        group: "events.k8s.io",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    // authentication.k8s.io/v1
    ResourceInfo {
        group: "authentication.k8s.io",
        version: "v1",
        kind: "SelfSubjectReview",
        plural: "selfsubjectreviews",
        singular: "selfsubjectreview",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: CREATE_ONLY,
        subresources: &[],
    },
    ResourceInfo {
        group: "authentication.k8s.io",
        version: "v1",
        kind: "TokenReview",
        plural: "tokenreviews",
        singular: "tokenreview",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: CREATE_ONLY,
        subresources: &[],
    },
    // authorization.k8s.io/v1
    ResourceInfo {
        group: "authorization.k8s.io",
        version: "v1",
        kind: "LocalSubjectAccessReview",
        plural: "localsubjectaccessreviews",
        singular: "localsubjectaccessreview",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: CREATE_ONLY,
        subresources: &[],
    },
    ResourceInfo {
        group: "authorization.k8s.io",
        version: "v1",
        kind: "SelfSubjectAccessReview",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: CREATE_ONLY,
        subresources: &[],
    },
    ResourceInfo {
        group: "authorization.k8s.io",
        version: "v1",
        kind: "SelfSubjectRulesReview",
        plural: "selfsubjectrulesreviews",
        singular: "selfsubjectrulesreview",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: CREATE_ONLY,
        subresources: &[],
    },
    ResourceInfo {
        group: "authorization.k8s.io",
        version: "v1",
        kind: "SubjectAccessReview",
        plural: "subjectaccessreviews",
        singular: "subjectaccessreview",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: CREATE_ONLY,
        subresources: &[],
    },
    // autoscaling/v2
    ResourceInfo {
        group: "autoscaling",
        version: "v2",
        kind: "HorizontalPodAutoscaler",
        plural: "horizontalpodautoscalers",
        singular: "horizontalpodautoscaler",
        namespaced: true,
        short_names: &["hpa"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[status_sub("autoscaling", "v2", "HorizontalPodAutoscaler")],
    },
    // autoscaling/v1
    ResourceInfo {
        group: "autoscaling",
        version: "v1",
        kind: "HorizontalPodAutoscaler",
        plural: "horizontalpodautoscalers",
        singular: "horizontalpodautoscaler",
        namespaced: true,
        short_names: &["hpa"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[status_sub("autoscaling", "v1", "HorizontalPodAutoscaler")],
    },
    // batch/v1
    ResourceInfo {
        group: "batch",
        version: "v1",
        kind: "CronJob",
        plural: "cronjobs",
        singular: "cronjob",
        namespaced: true,
        short_names: &["cj"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[status_sub("batch", "v1", "CronJob")],
    },
    ResourceInfo {
        group: "batch",
        version: "v1",
        kind: "Job",
        plural: "jobs",
        singular: "job",
        namespaced: true,
        short_names: &[],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[status_sub("batch", "v1", "Job")],
    },
    // certificates.k8s.io/v1
    ResourceInfo {
        group: "certificates.k8s.io",
        version: "v1",
        kind: "CertificateSigningRequest",
        plural: "certificatesigningrequests",
        singular: "certificatesigningrequest",
        namespaced: false,
        short_names: &["csr"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[
            sub(
                "approval",
                "certificates.k8s.io",
                "v1",
                "CertificateSigningRequest",
                GET_PATCH_UPDATE,
            ),
            status_sub("certificates.k8s.io", "v1", "CertificateSigningRequest"),
        ],
    },
    // networking.k8s.io/v1
    ResourceInfo {
        group: "networking.k8s.io",
        version: "v1",
        kind: "IngressClass",
        plural: "ingressclasses",
        singular: "ingressclass",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "networking.k8s.io",
        version: "v1",
        kind: "Ingress",
        plural: "ingresses",
        singular: "ingress",
        namespaced: true,
        short_names: &["ing"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[status_sub("networking.k8s.io", "v1", "Ingress")],
    },
    ResourceInfo {
        group: "networking.k8s.io",
        version: "v1",
        kind: "IPAddress",
        plural: "ipaddresses",
        singular: "ipaddress",
        namespaced: false,
        short_names: &["ip"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "networking.k8s.io",
        version: "v1",
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        singular: "networkpolicy",
        namespaced: true,
        short_names: &["netpol"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "networking.k8s.io",
        version: "v1",
        kind: "ServiceCIDR",
        plural: "servicecidrs",
        singular: "servicecidr",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[status_sub("networking.k8s.io", "v1", "ServiceCIDR")],
    },
    // policy/v1
    ResourceInfo {
        group: "policy",
        version: "v1",
        kind: "PodDisruptionBudget",
        plural: "poddisruptionbudgets",
        singular: "poddisruptionbudget",
        namespaced: true,
        short_names: &["pdb"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[status_sub("policy", "v1", "PodDisruptionBudget")],
    },
    // rbac.authorization.k8s.io/v1
    ResourceInfo {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "ClusterRoleBinding",
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "ClusterRole",
        plural: "clusterroles",
        singular: "clusterrole",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "RoleBinding",
        plural: "rolebindings",
        singular: "rolebinding",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "Role",
        plural: "roles",
        singular: "role",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    // storage.k8s.io/v1
    ResourceInfo {
        group: "storage.k8s.io",
        version: "v1",
        kind: "CSIDriver",
        plural: "csidrivers",
        singular: "csidriver",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "storage.k8s.io",
        version: "v1",
        kind: "CSINode",
        plural: "csinodes",
        singular: "csinode",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "storage.k8s.io",
        version: "v1",
        kind: "CSIStorageCapacity",
        plural: "csistoragecapacities",
        singular: "csistoragecapacity",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "storage.k8s.io",
        version: "v1",
        kind: "StorageClass",
        plural: "storageclasses",
        singular: "storageclass",
        namespaced: false,
        short_names: &["sc"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "storage.k8s.io",
        version: "v1",
        kind: "VolumeAttachment",
        plural: "volumeattachments",
        singular: "volumeattachment",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[status_sub("storage.k8s.io", "v1", "VolumeAttachment")],
    },
    // admissionregistration.k8s.io/v1
    ResourceInfo {
        group: "admissionregistration.k8s.io",
        version: "v1",
        kind: "MutatingWebhookConfiguration",
        plural: "mutatingwebhookconfigurations",
        singular: "mutatingwebhookconfiguration",
        namespaced: false,
        short_names: &[],
        categories: &["api-extensions"],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "admissionregistration.k8s.io",
        version: "v1",
        kind: "ValidatingAdmissionPolicy",
        plural: "validatingadmissionpolicies",
        singular: "validatingadmissionpolicy",
        namespaced: false,
        short_names: &[],
        categories: &["api-extensions"],
        verbs: ALL_VERBS,
        subresources: &[status_sub(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicy",
        )],
    },
    ResourceInfo {
        group: "admissionregistration.k8s.io",
        version: "v1",
        kind: "ValidatingAdmissionPolicyBinding",
        plural: "validatingadmissionpolicybindings",
        singular: "validatingadmissionpolicybinding",
        namespaced: false,
        short_names: &[],
        categories: &["api-extensions"],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    ResourceInfo {
        group: "admissionregistration.k8s.io",
        version: "v1",
        kind: "ValidatingWebhookConfiguration",
        plural: "validatingwebhookconfigurations",
        singular: "validatingwebhookconfiguration",
        namespaced: false,
        short_names: &[],
        categories: &["api-extensions"],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    // apiextensions.k8s.io/v1
    ResourceInfo {
        group: "apiextensions.k8s.io",
        version: "v1",
        kind: "CustomResourceDefinition",
        plural: "customresourcedefinitions",
        singular: "customresourcedefinition",
        namespaced: false,
        short_names: &["crd", "crds"],
        categories: &["api-extensions"],
        verbs: ALL_VERBS,
        subresources: &[status_sub(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
        )],
    },
    // scheduling.k8s.io/v1
    ResourceInfo {
        group: "scheduling.k8s.io",
        version: "v1",
        kind: "PriorityClass",
        plural: "priorityclasses",
        singular: "priorityclass",
        namespaced: false,
        short_names: &["pc"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    // coordination.k8s.io/v1
    ResourceInfo {
        group: "coordination.k8s.io",
        version: "v1",
        kind: "Lease",
        plural: "leases",
        singular: "lease",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    // node.k8s.io/v1
    ResourceInfo {
        group: "node.k8s.io",
        version: "v1",
        kind: "RuntimeClass",
        plural: "runtimeclasses",
        singular: "runtimeclass",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    // discovery.k8s.io/v1
    ResourceInfo {
        group: "discovery.k8s.io",
        version: "v1",
        kind: "EndpointSlice",
        plural: "endpointslices",
        singular: "endpointslice",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    // flowcontrol.apiserver.k8s.io/v1
    ResourceInfo {
        group: "flowcontrol.apiserver.k8s.io",
        version: "v1",
        kind: "FlowSchema",
        plural: "flowschemas",
        singular: "flowschema",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[status_sub(
            "flowcontrol.apiserver.k8s.io",
            "v1",
            "FlowSchema",
        )],
    },
    ResourceInfo {
        group: "flowcontrol.apiserver.k8s.io",
        version: "v1",
        kind: "PriorityLevelConfiguration",
        plural: "prioritylevelconfigurations",
        singular: "prioritylevelconfiguration",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[status_sub(
            "flowcontrol.apiserver.k8s.io",
            "v1",
            "PriorityLevelConfiguration",
        )],
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

/// Served groups in discovery order (core "" first), each once.
pub fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for (g, _) in group_versions() {
        if !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

/// Versions served for `group`, preferred first (upstream orders versions in a group by
/// version priority; autoscaling serves v2 then v1).
pub fn versions(group: &str) -> Vec<&'static str> {
    group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(_, v)| v)
        .collect()
}

/// The preferred version of a served group, as `/apis` reports in `preferredVersion`: the
/// highest-priority version (all groups prefer `v1` except autoscaling, which prefers `v2`).
/// An unknown group yields "" (no version is served for it).
pub fn preferred_version(group: &str) -> &'static str {
    versions(group).first().copied().unwrap_or("")
}

/// Resolves a name the way kubectl users type it: plural, singular, short name or kind,
/// case-insensitively, optionally qualified as `name.group` or `name.version.group`
/// (`deployments.apps`, `deploy.v1.apps`, `hpa.autoscaling`). Every match is returned, in
/// catalog order, so the preferred version of a group comes first and the core group before
/// the others (`events` resolves to core events, then events.k8s.io events).
pub fn find_by_name(name: &str) -> Vec<&'static ResourceInfo> {
    let lower = name.to_ascii_lowercase();
    let direct: Vec<&'static ResourceInfo> = RESOURCES
        .iter()
        .filter(|r| name_matches(r, &lower))
        .collect();
    if !direct.is_empty() || !lower.contains('.') {
        return direct;
    }
    // `resource.group` or `resource.version.group`: resource names never contain dots, so the
    // first segment is the resource.
    let (res, rest) = lower.split_once('.').unwrap_or((lower.as_str(), ""));
    RESOURCES
        .iter()
        .filter(|r| name_matches(r, res))
        .filter(|r| {
            r.group == rest
                || rest
                    .split_once('.')
                    .is_some_and(|(v, g)| r.version == v && r.group == g)
        })
        .collect()
}

fn name_matches(r: &ResourceInfo, lower: &str) -> bool {
    r.plural == lower
        || r.singular == lower
        || r.kind.eq_ignore_ascii_case(lower)
        || r.short_names.contains(&lower)
}

/// Resources in a category (`all`, `api-extensions`), preferred versions only, as kubectl
/// expands `kubectl get all`.
pub fn in_category(category: &str) -> Vec<&'static ResourceInfo> {
    let mut out: Vec<&'static ResourceInfo> = Vec::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.categories.contains(&category))
    {
        if !out
            .iter()
            .any(|o| o.group == r.group && o.plural == r.plural)
        {
            out.push(r);
        }
    }
    out
}

/// The etcd key segment upstream stores a resource under (the part after `/registry/`), or
/// `None` for resources that are never stored (bindings, componentstatuses, the review APIs,
/// which upstream serves without storage).
///
/// Mirrors upstream's storage paths (`test/integration/etcd/data.go`): a few resources keep
/// historical names (`services/specs`, `services/endpoints`, `minions`, `controllers`,
/// `ingress`), the aggregator and apiextensions resources are prefixed by their group, and
/// resources served at several group/versions share one prefix (both autoscaling versions
/// under `horizontalpodautoscalers`, core and events.k8s.io events under `events`).
pub fn storage_resource(r: &ResourceInfo) -> Option<&'static str> {
    let seg = match (r.group, r.plural) {
        ("", "bindings") | ("", "componentstatuses") => return None,
        ("authentication.k8s.io", _) | ("authorization.k8s.io", _) => return None,
        ("", "services") => "services/specs",
        ("", "endpoints") => "services/endpoints",
        ("", "nodes") => "minions",
        ("", "replicationcontrollers") => "controllers",
        ("networking.k8s.io", "ingresses") => "ingress",
        ("apiregistration.k8s.io", "apiservices") => "apiregistration.k8s.io/apiservices",
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            "apiextensions.k8s.io/customresourcedefinitions"
        }
        (_, plural) => plural,
    };
    Some(seg)
}

/// The etcd key prefix of a resource, without a trailing slash, e.g. `/registry/services/specs`
/// or `/registry/deployments`.
///
/// For the unstored resources (see [`storage_resource`]) this is `/registry/<plural>`, which
/// nothing upstream ever writes; callers that need to know should check `storage_resource`.
pub fn key_prefix(r: &ResourceInfo) -> String {
    format!("/registry/{}", storage_resource(r).unwrap_or(r.plural))
}

/// The etcd key of one object: `/registry/pods/default/web` for namespaced resources,
/// `/registry/minions/node-1` for cluster-scoped ones (the namespace is ignored when the
/// resource is cluster-scoped, as upstream's `NoNamespaceKeyFunc` does).
pub fn object_key(r: &ResourceInfo, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if r.namespaced => format!("{}/{}/{}", key_prefix(r), ns, name),
        _ => format!("{}/{}", key_prefix(r), name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_versions_follow_upstream_discovery_order() {
        let want: Vec<(&str, &str)> = vec![
            ("", "v1"),
            ("apiregistration.k8s.io", "v1"),
            ("apps", "v1"),
            ("events.k8s.io", "v1"),
            ("authentication.k8s.io", "v1"),
            ("authorization.k8s.io", "v1"),
            ("autoscaling", "v2"),
            ("autoscaling", "v1"),
            ("batch", "v1"),
            ("certificates.k8s.io", "v1"),
            ("networking.k8s.io", "v1"),
            ("policy", "v1"),
            ("rbac.authorization.k8s.io", "v1"),
            ("storage.k8s.io", "v1"),
            ("admissionregistration.k8s.io", "v1"),
            ("apiextensions.k8s.io", "v1"),
            ("scheduling.k8s.io", "v1"),
            ("coordination.k8s.io", "v1"),
            ("node.k8s.io", "v1"),
            ("discovery.k8s.io", "v1"),
            ("flowcontrol.apiserver.k8s.io", "v1"),
        ];
        assert_eq!(group_versions(), want);
        // Each group/version appears as one contiguous run, or group_versions() would hide
        // a misplaced entry.
        let mut runs = 0;
        let mut prev = None;
        for r in RESOURCES {
            if prev != Some((r.group, r.version)) {
                runs += 1;
                prev = Some((r.group, r.version));
            }
        }
        assert_eq!(runs, want.len());
    }

    #[test]
    fn preferred_versions() {
        for (group, want) in [
            ("", "v1"),
            ("apps", "v1"),
            ("autoscaling", "v2"),
            ("batch", "v1"),
            ("flowcontrol.apiserver.k8s.io", "v1"),
            ("nosuch.example.com", ""),
        ] {
            assert_eq!(preferred_version(group), want, "group {group:?}");
        }
        assert_eq!(versions("autoscaling"), vec!["v2", "v1"]);
    }

    #[test]
    fn resources_match_upstream_discovery() {
        // (group, version, plural, kind, singular, namespaced, short names, categories, verbs)
        type Row<'a> = (
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            bool,
            &'a [&'a str],
            &'a [&'a str],
            &'a [&'a str],
        );
        let rows: &[Row] = &[
            (
                "",
                "v1",
                "bindings",
                "Binding",
                "binding",
                true,
                &[],
                &[],
                &["create"],
            ),
            (
                "",
                "v1",
                "componentstatuses",
                "ComponentStatus",
                "componentstatus",
                false,
                &["cs"],
                &[],
                &["get", "list"],
            ),
            (
                "",
                "v1",
                "endpoints",
                "Endpoints",
                "endpoints",
                true,
                &["ep"],
                &[],
                ALL_VERBS,
            ),
            (
                "",
                "v1",
                "namespaces",
                "Namespace",
                "namespace",
                false,
                &["ns"],
                &[],
                &[
                    "create", "delete", "get", "list", "patch", "update", "watch",
                ],
            ),
            (
                "",
                "v1",
                "nodes",
                "Node",
                "node",
                false,
                &["no"],
                &[],
                ALL_VERBS,
            ),
            (
                "",
                "v1",
                "pods",
                "Pod",
                "pod",
                true,
                &["po"],
                &["all"],
                ALL_VERBS,
            ),
            (
                "",
                "v1",
                "resourcequotas",
                "ResourceQuota",
                "resourcequota",
                true,
                &["quota"],
                &[],
                ALL_VERBS,
            ),
            (
                "",
                "v1",
                "limitranges",
                "LimitRange",
                "limitrange",
                true,
                &["limits"],
                &[],
                ALL_VERBS,
            ),
            (
                "",
                "v1",
                "services",
                "Service",
                "service",
                true,
                &["svc"],
                &["all"],
                ALL_VERBS,
            ),
            (
                "",
                "v1",
                "secrets",
                "Secret",
                "secret",
                true,
                &[],
                &[],
                ALL_VERBS,
            ),
            (
                "apps",
                "v1",
                "deployments",
                "Deployment",
                "deployment",
                true,
                &["deploy"],
                &["all"],
                ALL_VERBS,
            ),
            (
                "apps",
                "v1",
                "controllerrevisions",
                "ControllerRevision",
                "controllerrevision",
                true,
                &[],
                &[],
                ALL_VERBS,
            ),
            (
                "batch",
                "v1",
                "cronjobs",
                "CronJob",
                "cronjob",
                true,
                &["cj"],
                &["all"],
                ALL_VERBS,
            ),
            (
                "batch",
                "v1",
                "jobs",
                "Job",
                "job",
                true,
                &[],
                &["all"],
                ALL_VERBS,
            ),
            (
                "autoscaling",
                "v1",
                "horizontalpodautoscalers",
                "HorizontalPodAutoscaler",
                "horizontalpodautoscaler",
                true,
                &["hpa"],
                &["all"],
                ALL_VERBS,
            ),
            (
                "authorization.k8s.io",
                "v1",
                "localsubjectaccessreviews",
                "LocalSubjectAccessReview",
                "localsubjectaccessreview",
                true,
                &[],
                &[],
                &["create"],
            ),
            (
                "authorization.k8s.io",
                "v1",
                "subjectaccessreviews",
                "SubjectAccessReview",
                "subjectaccessreview",
                false,
                &[],
                &[],
                &["create"],
            ),
            (
                "authentication.k8s.io",
                "v1",
                "selfsubjectreviews",
                "SelfSubjectReview",
                "selfsubjectreview",
                false,
                &[],
                &[],
                &["create"],
            ),
            (
                "networking.k8s.io",
                "v1",
                "ipaddresses",
                "IPAddress",
                "ipaddress",
                false,
                &["ip"],
                &[],
                ALL_VERBS,
            ),
            (
                "networking.k8s.io",
                "v1",
                "networkpolicies",
                "NetworkPolicy",
                "networkpolicy",
                true,
                &["netpol"],
                &[],
                ALL_VERBS,
            ),
            (
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                "customresourcedefinition",
                false,
                &["crd", "crds"],
                &["api-extensions"],
                ALL_VERBS,
            ),
            (
                "apiregistration.k8s.io",
                "v1",
                "apiservices",
                "APIService",
                "apiservice",
                false,
                &[],
                &["api-extensions"],
                ALL_VERBS,
            ),
            (
                "admissionregistration.k8s.io",
                "v1",
                "validatingadmissionpolicybindings",
                "ValidatingAdmissionPolicyBinding",
                "validatingadmissionpolicybinding",
                false,
                &[],
                &["api-extensions"],
                ALL_VERBS,
            ),
            (
                "storage.k8s.io",
                "v1",
                "csistoragecapacities",
                "CSIStorageCapacity",
                "csistoragecapacity",
                true,
                &[],
                &[],
                ALL_VERBS,
            ),
            (
                "scheduling.k8s.io",
                "v1",
                "priorityclasses",
                "PriorityClass",
                "priorityclass",
                false,
                &["pc"],
                &[],
                ALL_VERBS,
            ),
            (
                "events.k8s.io",
                "v1",
                "events",
                "Event",
                "event",
                true,
                &["ev"],
                &[],
                ALL_VERBS,
            ),
        ];
        for (g, v, plural, kind, singular, namespaced, short, cats, verbs) in rows {
            let r = lookup(g, v, plural).unwrap_or_else(|| panic!("{g}/{v} {plural} missing"));
            assert_eq!(r.kind, *kind, "{plural}");
            assert_eq!(r.singular, *singular, "{plural}");
            assert_eq!(r.namespaced, *namespaced, "{plural}");
            assert_eq!(r.short_names, *short, "{plural}");
            assert_eq!(r.categories, *cats, "{plural}");
            assert_eq!(r.verbs, *verbs, "{plural}");
            assert_eq!(by_kind(g, v, kind).map(|b| b.plural), Some(*plural));
        }
    }

    #[test]
    fn subresources_match_upstream_discovery() {
        // (group, version, plural, subresource, response group, version, kind, verbs)
        type Row<'a> = (
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            &'a [&'a str],
        );
        let rows: &[Row] = &[
            (
                "",
                "v1",
                "pods",
                "exec",
                "",
                "v1",
                "PodExecOptions",
                &["create", "get"],
            ),
            (
                "",
                "v1",
                "pods",
                "attach",
                "",
                "v1",
                "PodAttachOptions",
                &["create", "get"],
            ),
            (
                "",
                "v1",
                "pods",
                "portforward",
                "",
                "v1",
                "PodPortForwardOptions",
                &["create", "get"],
            ),
            (
                "",
                "v1",
                "pods",
                "proxy",
                "",
                "v1",
                "PodProxyOptions",
                &["create", "delete", "get", "patch", "update"],
            ),
            ("", "v1", "pods", "log", "", "v1", "Pod", &["get"]),
            (
                "",
                "v1",
                "pods",
                "eviction",
                "policy",
                "v1",
                "Eviction",
                &["create"],
            ),
            (
                "",
                "v1",
                "pods",
                "binding",
                "",
                "v1",
                "Binding",
                &["create"],
            ),
            (
                "",
                "v1",
                "pods",
                "resize",
                "",
                "v1",
                "Pod",
                &["get", "patch", "update"],
            ),
            (
                "",
                "v1",
                "pods",
                "ephemeralcontainers",
                "",
                "v1",
                "Pod",
                &["get", "patch", "update"],
            ),
            (
                "",
                "v1",
                "namespaces",
                "finalize",
                "",
                "v1",
                "Namespace",
                &["update"],
            ),
            (
                "",
                "v1",
                "nodes",
                "proxy",
                "",
                "v1",
                "NodeProxyOptions",
                &["create", "delete", "get", "patch", "update"],
            ),
            (
                "",
                "v1",
                "services",
                "proxy",
                "",
                "v1",
                "ServiceProxyOptions",
                &["create", "delete", "get", "patch", "update"],
            ),
            (
                "",
                "v1",
                "serviceaccounts",
                "token",
                "authentication.k8s.io",
                "v1",
                "TokenRequest",
                &["create"],
            ),
            (
                "",
                "v1",
                "replicationcontrollers",
                "scale",
                "autoscaling",
                "v1",
                "Scale",
                &["get", "patch", "update"],
            ),
            (
                "apps",
                "v1",
                "deployments",
                "scale",
                "autoscaling",
                "v1",
                "Scale",
                &["get", "patch", "update"],
            ),
            (
                "apps",
                "v1",
                "statefulsets",
                "scale",
                "autoscaling",
                "v1",
                "Scale",
                &["get", "patch", "update"],
            ),
            (
                "apps",
                "v1",
                "deployments",
                "status",
                "apps",
                "v1",
                "Deployment",
                &["get", "patch", "update"],
            ),
            (
                "autoscaling",
                "v2",
                "horizontalpodautoscalers",
                "status",
                "autoscaling",
                "v2",
                "HorizontalPodAutoscaler",
                &["get", "patch", "update"],
            ),
            (
                "certificates.k8s.io",
                "v1",
                "certificatesigningrequests",
                "approval",
                "certificates.k8s.io",
                "v1",
                "CertificateSigningRequest",
                &["get", "patch", "update"],
            ),
            (
                "networking.k8s.io",
                "v1",
                "servicecidrs",
                "status",
                "networking.k8s.io",
                "v1",
                "ServiceCIDR",
                &["get", "patch", "update"],
            ),
            (
                "flowcontrol.apiserver.k8s.io",
                "v1",
                "flowschemas",
                "status",
                "flowcontrol.apiserver.k8s.io",
                "v1",
                "FlowSchema",
                &["get", "patch", "update"],
            ),
        ];
        for (g, v, plural, name, sg, sv, sk, verbs) in rows {
            let r = lookup(g, v, plural).unwrap();
            let s = r
                .subresource(name)
                .unwrap_or_else(|| panic!("{plural}/{name} missing"));
            assert_eq!(
                (s.group, s.version, s.kind),
                (*sg, *sv, *sk),
                "{plural}/{name}"
            );
            assert_eq!(s.verbs, *verbs, "{plural}/{name}");
        }
        let pods = lookup("", "v1", "pods").unwrap();
        let names: Vec<&str> = pods.subresources.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "attach",
                "binding",
                "ephemeralcontainers",
                "eviction",
                "exec",
                "log",
                "portforward",
                "proxy",
                "resize",
                "status"
            ]
        );
        // Resources without subresources upstream.
        for (g, plural) in [
            ("", "configmaps"),
            ("apps", "controllerrevisions"),
            ("coordination.k8s.io", "leases"),
        ] {
            assert!(
                lookup(g, "v1", plural).unwrap().subresources.is_empty(),
                "{plural}"
            );
        }
    }

    #[test]
    fn catalog_is_consistent() {
        for r in RESOURCES {
            // Discovery sorts verbs.
            let mut sorted = r.verbs.to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, r.verbs, "{} verbs sorted", r.plural);
            assert_eq!(
                RESOURCES
                    .iter()
                    .filter(|o| o.group == r.group
                        && o.version == r.version
                        && o.plural == r.plural)
                    .count(),
                1,
                "{} duplicated",
                r.plural
            );
            let names: Vec<&str> = r.subresources.iter().map(|s| s.name).collect();
            let mut sorted_names = names.clone();
            sorted_names.sort_unstable();
            assert_eq!(names, sorted_names, "{} subresources sorted", r.plural);
        }
        assert_eq!(RESOURCES.len(), 61);
    }

    #[test]
    fn find_by_name_resolves_like_kubectl() {
        type Gvr<'a> = (&'a str, &'a str, &'a str);
        let cases: &[(&str, &[Gvr])] = &[
            ("po", &[("", "v1", "pods")]),
            ("Pod", &[("", "v1", "pods")]),
            ("PODS", &[("", "v1", "pods")]),
            ("deploy", &[("apps", "v1", "deployments")]),
            ("deployment", &[("apps", "v1", "deployments")]),
            ("deployments.apps", &[("apps", "v1", "deployments")]),
            ("deploy.v1.apps", &[("apps", "v1", "deployments")]),
            (
                "hpa",
                &[
                    ("autoscaling", "v2", "horizontalpodautoscalers"),
                    ("autoscaling", "v1", "horizontalpodautoscalers"),
                ],
            ),
            (
                "hpa.v1.autoscaling",
                &[("autoscaling", "v1", "horizontalpodautoscalers")],
            ),
            (
                "events",
                &[("", "v1", "events"), ("events.k8s.io", "v1", "events")],
            ),
            ("ev.events.k8s.io", &[("events.k8s.io", "v1", "events")]),
            (
                "crd",
                &[("apiextensions.k8s.io", "v1", "customresourcedefinitions")],
            ),
            (
                "customresourcedefinitions.apiextensions.k8s.io",
                &[("apiextensions.k8s.io", "v1", "customresourcedefinitions")],
            ),
            ("deployments.extensions", &[]),
            ("nosuch", &[]),
        ];
        for (name, want) in cases {
            let got: Vec<Gvr> = find_by_name(name)
                .iter()
                .map(|r| (r.group, r.version, r.plural))
                .collect();
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn categories() {
        let all: Vec<&str> = in_category("all").iter().map(|r| r.plural).collect();
        assert_eq!(
            all,
            [
                "pods",
                "replicationcontrollers",
                "services",
                "daemonsets",
                "deployments",
                "replicasets",
                "statefulsets",
                "horizontalpodautoscalers",
                "cronjobs",
                "jobs"
            ]
        );
        assert_eq!(in_category("api-extensions").len(), 6);
    }

    #[test]
    fn etcd_keys_match_upstream_storage_paths() {
        // Expected paths from upstream's etcd storage-path test data.
        type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, &'a str, &'a str);
        let cases: &[Row] = &[
            (
                "",
                "v1",
                "services",
                Some("ns"),
                "service1",
                "/registry/services/specs/ns/service1",
            ),
            (
                "",
                "v1",
                "endpoints",
                Some("ns"),
                "ep1",
                "/registry/services/endpoints/ns/ep1",
            ),
            ("", "v1", "nodes", None, "node1", "/registry/minions/node1"),
            (
                "",
                "v1",
                "replicationcontrollers",
                Some("ns"),
                "rc1",
                "/registry/controllers/ns/rc1",
            ),
            (
                "",
                "v1",
                "pods",
                Some("default"),
                "web",
                "/registry/pods/default/web",
            ),
            (
                "",
                "v1",
                "events",
                Some("ns"),
                "e1",
                "/registry/events/ns/e1",
            ),
            (
                "events.k8s.io",
                "v1",
                "events",
                Some("ns"),
                "e3",
                "/registry/events/ns/e3",
            ),
            (
                "",
                "v1",
                "namespaces",
                None,
                "namespace1",
                "/registry/namespaces/namespace1",
            ),
            (
                "apps",
                "v1",
                "deployments",
                Some("ns"),
                "d4",
                "/registry/deployments/ns/d4",
            ),
            (
                "autoscaling",
                "v1",
                "horizontalpodautoscalers",
                Some("ns"),
                "h",
                "/registry/horizontalpodautoscalers/ns/h",
            ),
            (
                "autoscaling",
                "v2",
                "horizontalpodautoscalers",
                Some("ns"),
                "h",
                "/registry/horizontalpodautoscalers/ns/h",
            ),
            (
                "networking.k8s.io",
                "v1",
                "ingresses",
                Some("ns"),
                "i3",
                "/registry/ingress/ns/i3",
            ),
            (
                "networking.k8s.io",
                "v1",
                "ipaddresses",
                None,
                "192.168.2.3",
                "/registry/ipaddresses/192.168.2.3",
            ),
            (
                "coordination.k8s.io",
                "v1",
                "leases",
                Some("ns"),
                "l",
                "/registry/leases/ns/l",
            ),
            (
                "certificates.k8s.io",
                "v1",
                "certificatesigningrequests",
                None,
                "csr2",
                "/registry/certificatesigningrequests/csr2",
            ),
            (
                "apiregistration.k8s.io",
                "v1",
                "apiservices",
                None,
                "as2.foo.com",
                "/registry/apiregistration.k8s.io/apiservices/as2.foo.com",
            ),
            (
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                None,
                "a.b.c",
                "/registry/apiextensions.k8s.io/customresourcedefinitions/a.b.c",
            ),
            // Cluster-scoped resources ignore a namespace.
            (
                "rbac.authorization.k8s.io",
                "v1",
                "clusterroles",
                Some("ns"),
                "crole3",
                "/registry/clusterroles/crole3",
            ),
        ];
        for (g, v, plural, ns, name, want) in cases {
            let r = lookup(g, v, plural).unwrap();
            assert_eq!(object_key(r, *ns, name), *want, "{g}/{v} {plural}");
        }
        assert_eq!(
            key_prefix(lookup("", "v1", "services").unwrap()),
            "/registry/services/specs"
        );
        for (g, plural) in [
            ("", "bindings"),
            ("", "componentstatuses"),
            ("authentication.k8s.io", "tokenreviews"),
            ("authorization.k8s.io", "subjectaccessreviews"),
        ] {
            assert_eq!(
                storage_resource(lookup(g, "v1", plural).unwrap()),
                None,
                "{plural}"
            );
        }
    }
}
