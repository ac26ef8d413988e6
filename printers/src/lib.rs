//! rudder-printers: server-side Table printing for every built-in resource.
//!
//! Owns what `kubectl get` shows: the column definitions and the row cells that
//! kube-apiserver answers with when asked for `as=Table`. Everything mirrors upstream's
//! `pkg/printers/internalversion/printers.go` (v1.32) plus the few resources upstream prints
//! with other convertors (the default Name/Created At convertor, kube-aggregator's
//! APIService columns).
//!
//! Where to start: [`columns`] and [`cells`] are the API the apiserver needs; [`try_cells`]
//! reports upstream's printer errors and [`row_conditions`] the per-row conditions. The
//! column tables live in `columns.rs`; the per-resource cell functions are grouped by API
//! area in `core.rs` (core group), `workloads.rs` (apps, batch, autoscaling, policy) and
//! `cluster.rs` (everything else); `format.rs` and `quantity.rs` hold the shared
//! formatting helpers.
//!
//! Like upstream's `TableConvertor`, which always generates with `Wide: true`, the cells
//! include every column, priority 1 ones too; kubectl hides those without `-o wide`.
//!
//! Objects are read as the JSON stored for them. Fields that upstream's v1 defaulting always
//! fills in (a Service's `type`, a Deployment's `replicas`, ...) are read with that default
//! when absent, so a row matches upstream's for any object upstream could have stored.
//! Objects of older served versions are read through their own field names where these
//! differ (events.k8s.io Events, autoscaling/v1 HorizontalPodAutoscalers).

#![forbid(unsafe_code)]

mod cluster;
mod columns;
mod core;
mod format;
mod quantity;
mod workloads;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// One column of a Table (`metav1.TableColumnDefinition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Header text, e.g. `Name`, `Ready`.
    pub name: &'static str,
    /// OpenAPI type: `"string" | "integer" | "date" | "number" | "boolean"`.
    pub type_: &'static str,
    /// `"name"` for the column holding the object name, else `""`.
    pub format: &'static str,
    /// Human readable description (upstream's SwaggerDoc text).
    pub description: &'static str,
    /// 0 shows by default, 1 only with `-o wide`.
    pub priority: i32,
}

/// Why a row could not be printed the way upstream prints it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrintError {
    /// An owner reference's apiVersion is not `group/version` (upstream's ControllerRevision
    /// printer fails the whole request with this).
    #[error("unexpected GroupVersion string: {0}")]
    InvalidGroupVersion(String),
}

/// Column definitions for `(group, plural)`, e.g. `("apps", "deployments")`. Unknown
/// resources get upstream's default columns (Name, Created At).
pub fn columns(group: &str, plural: &str) -> &'static [Column] {
    printer(group, plural).0
}

/// One row's cells, in column order, for `obj` (the full JSON object as stored), computing
/// ages relative to `now`. Never fails: where upstream would fail the request (see
/// [`try_cells`]) the affected cell reads `<invalid>`.
pub fn cells(group: &str, plural: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let print = printer(group, plural).1;
    match print(obj, now) {
        Ok(cells) => cells,
        Err(_) => fallback_cells(group, plural, obj, now),
    }
}

/// Like [`cells`], but reports the cases where upstream's printer returns an error.
pub fn try_cells(
    group: &str,
    plural: &str,
    obj: &Value,
    now: DateTime<Utc>,
) -> Result<Vec<Value>, PrintError> {
    (printer(group, plural).1)(obj, now)
}

/// The `conditions` upstream attaches to a row (`metav1.TableRowCondition` JSON): only pods
/// in phase Succeeded or Failed get one, of type `Completed`, which clients may use to dim
/// finished pods. Empty for every other object.
pub fn row_conditions(group: &str, plural: &str, obj: &Value) -> Vec<Value> {
    if (group, plural) != ("", "pods") {
        return Vec::new();
    }
    let (reason, message) = match format::str_at(obj, &["status", "phase"]) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return Vec::new(),
    };
    vec![serde_json::json!({
        "type": "Completed",
        "status": "True",
        "reason": reason,
        "message": message,
    })]
}

/// Cell function signature shared by every resource printer.
pub(crate) type PrintFn = fn(&Value, DateTime<Utc>) -> Result<Vec<Value>, PrintError>;

/// Cells when a printer failed: only the ControllerRevision printer can fail, on its
/// Controller cell.
fn fallback_cells(group: &str, plural: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    match (group, plural) {
        ("apps", "controllerrevisions") => {
            workloads::controller_revision_cells(obj, now, "<invalid>".to_string())
        }
        _ => default_cells(obj, now).unwrap_or_default(),
    }
}

/// Mirrors upstream's `rest.NewDefaultTableConvertor`: the name and the creation time as
/// RFC 3339 in UTC (a zero time prints as Go's zero time).
pub(crate) fn default_cells(obj: &Value, _now: DateTime<Utc>) -> Result<Vec<Value>, PrintError> {
    let created = format::time_at(obj, &["metadata", "creationTimestamp"])
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    Ok(vec![Value::from(format::name(obj)), Value::from(created)])
}

/// The printer table: `(group, plural)` to columns and cell function.
fn printer(group: &str, plural: &str) -> (&'static [Column], PrintFn) {
    use columns as c;
    match (group, plural) {
        ("", "pods") => (c::POD, core::pod),
        ("", "podtemplates") => (c::POD_TEMPLATE, core::pod_template),
        ("", "replicationcontrollers") => (c::RC, core::replication_controller),
        ("", "services") => (c::SERVICE, core::service),
        ("", "endpoints") => (c::ENDPOINTS, core::endpoints),
        ("", "nodes") => (c::NODE, core::node),
        ("", "namespaces") => (c::NAMESPACE, core::namespace),
        ("", "events") => (c::EVENT, core::event),
        ("events.k8s.io", "events") => (c::EVENT, core::event),
        ("", "secrets") => (c::SECRET, core::secret),
        ("", "configmaps") => (c::CONFIGMAP, core::config_map),
        ("", "serviceaccounts") => (c::SERVICE_ACCOUNT, core::service_account),
        ("", "persistentvolumes") => (c::PV, core::persistent_volume),
        ("", "persistentvolumeclaims") => (c::PVC, core::persistent_volume_claim),
        ("", "resourcequotas") => (c::RESOURCE_QUOTA, core::resource_quota),
        ("", "componentstatuses") => (c::COMPONENT_STATUS, core::component_status),

        ("apps", "deployments") => (c::DEPLOYMENT, workloads::deployment),
        ("apps", "replicasets") => (c::RS, workloads::replica_set),
        ("apps", "statefulsets") => (c::STS, workloads::stateful_set),
        ("apps", "daemonsets") => (c::DS, workloads::daemon_set),
        ("apps", "controllerrevisions") => (c::CONTROLLER_REVISION, workloads::controller_revision),
        ("batch", "jobs") => (c::JOB, workloads::job),
        ("batch", "cronjobs") => (c::CRONJOB, workloads::cron_job),
        ("autoscaling", "horizontalpodautoscalers") => (c::HPA, workloads::hpa),
        ("policy", "poddisruptionbudgets") => (c::PDB, workloads::pdb),

        ("coordination.k8s.io", "leases") => (c::LEASE, cluster::lease),
        ("coordination.k8s.io", "leasecandidates") => {
            (c::LEASE_CANDIDATE, cluster::lease_candidate)
        }
        ("networking.k8s.io", "ingresses") => (c::INGRESS, cluster::ingress),
        ("networking.k8s.io", "ingressclasses") => (c::INGRESS_CLASS, cluster::ingress_class),
        ("networking.k8s.io", "networkpolicies") => (c::NETWORK_POLICY, cluster::network_policy),
        ("networking.k8s.io", "ipaddresses") => (c::IP_ADDRESS, cluster::ip_address),
        ("networking.k8s.io", "servicecidrs") => (c::SERVICE_CIDR, cluster::service_cidr),
        ("discovery.k8s.io", "endpointslices") => (c::ENDPOINT_SLICE, cluster::endpoint_slice),
        ("rbac.authorization.k8s.io", "rolebindings") => (c::ROLE_BINDING, cluster::role_binding),
        ("rbac.authorization.k8s.io", "clusterrolebindings") => {
            (c::CLUSTER_ROLE_BINDING, cluster::role_binding)
        }
        ("storage.k8s.io", "storageclasses") => (c::STORAGE_CLASS, cluster::storage_class),
        ("storage.k8s.io", "volumeattributesclasses") => {
            (c::VOLUME_ATTRIBUTES_CLASS, cluster::volume_attributes_class)
        }
        ("storage.k8s.io", "csidrivers") => (c::CSI_DRIVER, cluster::csi_driver),
        ("storage.k8s.io", "csinodes") => (c::CSI_NODE, cluster::csi_node),
        ("storage.k8s.io", "volumeattachments") => {
            (c::VOLUME_ATTACHMENT, cluster::volume_attachment)
        }
        ("storage.k8s.io", "csistoragecapacities") => {
            (c::CSI_STORAGE_CAPACITY, cluster::csi_storage_capacity)
        }
        ("scheduling.k8s.io", "priorityclasses") => (c::PRIORITY_CLASS, cluster::priority_class),
        ("node.k8s.io", "runtimeclasses") => (c::RUNTIME_CLASS, cluster::runtime_class),
        ("certificates.k8s.io", "certificatesigningrequests") => (c::CSR, cluster::csr),
        ("certificates.k8s.io", "clustertrustbundles") => {
            (c::CLUSTER_TRUST_BUNDLE, cluster::cluster_trust_bundle)
        }
        ("flowcontrol.apiserver.k8s.io", "flowschemas") => (c::FLOW_SCHEMA, cluster::flow_schema),
        ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations") => {
            (c::PRIORITY_LEVEL, cluster::priority_level)
        }
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations")
        | ("admissionregistration.k8s.io", "validatingwebhookconfigurations") => {
            (c::WEBHOOK_CONFIGURATION, cluster::webhook_configuration)
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicies") => {
            (c::VAP, cluster::validating_admission_policy)
        }
        ("admissionregistration.k8s.io", "mutatingadmissionpolicies") => {
            (c::MAP, cluster::mutating_admission_policy)
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicybindings")
        | ("admissionregistration.k8s.io", "mutatingadmissionpolicybindings") => {
            (c::POLICY_BINDING, cluster::policy_binding)
        }
        ("apiregistration.k8s.io", "apiservices") => (c::API_SERVICE, cluster::api_service),
        ("internal.apiserver.k8s.io", "storageversions") => {
            (c::STORAGE_VERSION, cluster::storage_version)
        }
        ("storagemigration.k8s.io", "storageversionmigrations") => (
            c::STORAGE_VERSION_MIGRATION,
            cluster::storage_version_migration,
        ),
        ("resource.k8s.io", "deviceclasses") | ("resource.k8s.io", "resourceclaimtemplates") => {
            (c::NAME_AGE, cluster::name_age)
        }
        ("resource.k8s.io", "resourceclaims") => (c::RESOURCE_CLAIM, cluster::resource_claim),
        ("resource.k8s.io", "resourceslices") => (c::RESOURCE_SLICE, cluster::resource_slice),

        // Upstream serves these (limitranges, roles, clusterroles,
        // customresourcedefinitions, ...) with the default convertor.
        _ => (c::DEFAULT, default_cells),
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use chrono::{DateTime, Utc};

    /// The fixed "now" every test prints against.
    pub(crate) fn now() -> DateTime<Utc> {
        crate::format::parse_time("2024-05-01T12:00:00Z").expect("valid time")
    }

    /// RFC 3339 text of `now() - secs`.
    pub(crate) fn ago(secs: i64) -> String {
        (now() - chrono::TimeDelta::seconds(secs))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    /// Runs a printer table: each case is (description, object, expected cells).
    pub(crate) fn check(
        group: &str,
        plural: &str,
        cases: &[(&str, serde_json::Value, serde_json::Value)],
    ) {
        for (what, obj, want) in cases {
            let got = serde_json::Value::Array(crate::cells(group, plural, obj, now()));
            assert_eq!(&got, want, "{group}/{plural}: {what}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_printer_yields_one_cell_per_column() {
        // A minimal object for every resource: the row must have as many cells as columns
        // (IPAddress is the one upstream quirk: it adds an Age cell without a column).
        let obj = json!({"metadata": {"name": "x", "creationTimestamp": "2024-05-01T11:00:00Z"}});
        let table: &[(&str, &[&str])] = &[
            (
                "",
                &[
                    "pods",
                    "podtemplates",
                    "replicationcontrollers",
                    "services",
                    "endpoints",
                    "nodes",
                    "namespaces",
                    "events",
                    "secrets",
                    "configmaps",
                    "serviceaccounts",
                    "persistentvolumes",
                    "persistentvolumeclaims",
                    "resourcequotas",
                    "componentstatuses",
                    "limitranges",
                ],
            ),
            (
                "apps",
                &[
                    "deployments",
                    "replicasets",
                    "statefulsets",
                    "daemonsets",
                    "controllerrevisions",
                ],
            ),
            ("batch", &["jobs", "cronjobs"]),
            ("autoscaling", &["horizontalpodautoscalers"]),
            ("policy", &["poddisruptionbudgets"]),
            ("events.k8s.io", &["events"]),
            ("coordination.k8s.io", &["leases", "leasecandidates"]),
            (
                "networking.k8s.io",
                &[
                    "ingresses",
                    "ingressclasses",
                    "networkpolicies",
                    "servicecidrs",
                ],
            ),
            ("discovery.k8s.io", &["endpointslices"]),
            (
                "rbac.authorization.k8s.io",
                &[
                    "roles",
                    "clusterroles",
                    "rolebindings",
                    "clusterrolebindings",
                ],
            ),
            (
                "storage.k8s.io",
                &[
                    "storageclasses",
                    "volumeattributesclasses",
                    "csidrivers",
                    "csinodes",
                    "volumeattachments",
                    "csistoragecapacities",
                ],
            ),
            ("scheduling.k8s.io", &["priorityclasses"]),
            ("node.k8s.io", &["runtimeclasses"]),
            (
                "certificates.k8s.io",
                &["certificatesigningrequests", "clustertrustbundles"],
            ),
            (
                "flowcontrol.apiserver.k8s.io",
                &["flowschemas", "prioritylevelconfigurations"],
            ),
            (
                "admissionregistration.k8s.io",
                &[
                    "mutatingwebhookconfigurations",
                    "validatingwebhookconfigurations",
                    "validatingadmissionpolicies",
                    "validatingadmissionpolicybindings",
                    "mutatingadmissionpolicies",
                    "mutatingadmissionpolicybindings",
                ],
            ),
            ("apiregistration.k8s.io", &["apiservices"]),
            ("apiextensions.k8s.io", &["customresourcedefinitions"]),
            ("internal.apiserver.k8s.io", &["storageversions"]),
            ("storagemigration.k8s.io", &["storageversionmigrations"]),
            (
                "resource.k8s.io",
                &[
                    "deviceclasses",
                    "resourceclaims",
                    "resourceclaimtemplates",
                    "resourceslices",
                ],
            ),
        ];
        for (group, plurals) in table {
            for plural in *plurals {
                let cols = columns(group, plural);
                let row = cells(group, plural, &obj, testutil::now());
                assert_eq!(row.len(), cols.len(), "{group}/{plural}: {row:?}");
                assert!(cols.iter().filter(|c| c.format == "name").count() <= 2);
            }
        }
        let row = cells("networking.k8s.io", "ipaddresses", &obj, testutil::now());
        assert_eq!(row, vec![json!("x"), json!("<none>"), json!("60m")]);
        assert_eq!(columns("networking.k8s.io", "ipaddresses").len(), 2);
    }

    #[test]
    fn completed_pods_carry_a_row_condition() {
        let pod = |phase: &str| json!({"metadata": {"name": "p"}, "status": {"phase": phase}});
        assert_eq!(
            row_conditions("", "pods", &pod("Succeeded")),
            vec![
                json!({"type": "Completed", "status": "True", "reason": "Succeeded",
                        "message": "The pod has completed successfully."})
            ]
        );
        assert_eq!(
            row_conditions("", "pods", &pod("Failed"))[0]["message"],
            json!("The pod failed.")
        );
        assert!(row_conditions("", "pods", &pod("Running")).is_empty());
        assert!(row_conditions("batch", "jobs", &pod("Succeeded")).is_empty());
    }

    #[test]
    fn unknown_resources_use_default_convertor() {
        let cols = columns("example.com", "widgets");
        let names: Vec<_> = cols.iter().map(|c| (c.name, c.type_, c.format)).collect();
        assert_eq!(
            names,
            vec![("Name", "string", "name"), ("Created At", "date", "")]
        );
        let obj =
            json!({"metadata": {"name": "w", "creationTimestamp": "2024-05-01T11:00:00.5+02:00"}});
        assert_eq!(
            cells("example.com", "widgets", &obj, testutil::now()),
            vec![json!("w"), json!("2024-05-01T09:00:00Z")]
        );
        let bare = json!({"metadata": {"name": "w"}});
        assert_eq!(
            cells("rbac.authorization.k8s.io", "roles", &bare, testutil::now())[1],
            json!("0001-01-01T00:00:00Z")
        );
    }

    #[test]
    fn column_types_and_priorities() {
        // (group, plural, column, type, format, priority) as upstream declares them.
        let cases = [
            ("", "pods", "Restarts", "string", "", 0),
            ("", "pods", "Readiness Gates", "string", "", 1),
            ("", "replicationcontrollers", "Desired", "integer", "", 0),
            ("", "services", "Selector", "string", "", 1),
            ("", "nodes", "Container-Runtime", "string", "", 1),
            ("", "events", "Name", "string", "name", 1),
            ("", "events", "Count", "string", "", 1),
            ("", "persistentvolumes", "VolumeMode", "string", "", 1),
            ("apps", "daemonsets", "Node Selector", "string", "", 0),
            ("apps", "deployments", "Up-to-date", "string", "", 0),
            ("batch", "cronjobs", "Suspend", "boolean", "", 0),
            ("batch", "cronjobs", "Active", "integer", "", 0),
            (
                "policy",
                "poddisruptionbudgets",
                "Allowed Disruptions",
                "integer",
                "",
                0,
            ),
            (
                "scheduling.k8s.io",
                "priorityclasses",
                "Value",
                "integer",
                "",
                0,
            ),
            (
                "scheduling.k8s.io",
                "priorityclasses",
                "PreemptionPolicy",
                "string",
                "",
                0,
            ),
            (
                "storage.k8s.io",
                "volumeattachments",
                "Attacher",
                "string",
                "name",
                0,
            ),
            ("storage.k8s.io", "csidrivers", "Modes", "string", "", 0),
            (
                "rbac.authorization.k8s.io",
                "clusterrolebindings",
                "ServiceAccounts",
                "string",
                "",
                1,
            ),
            (
                "storagemigration.k8s.io",
                "storageversionmigrations",
                "Name",
                "string",
                "",
                0,
            ),
            (
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                "Created At",
                "date",
                "",
                0,
            ),
        ];
        for (group, plural, col, type_, format, priority) in cases {
            let c = columns(group, plural)
                .iter()
                .find(|c| c.name == col)
                .unwrap_or_else(|| panic!("{group}/{plural} has no column {col}"));
            assert_eq!(
                (c.type_, c.format, c.priority),
                (type_, format, priority),
                "{group}/{plural} {col}"
            );
        }
        let svc: Vec<_> = columns("", "services").iter().map(|c| c.name).collect();
        assert_eq!(
            svc,
            [
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age",
                "Selector"
            ]
        );
        // Descriptions are k8s.io/api v0.32's SwaggerDoc text for the referenced field.
        let cluster_ip = columns("", "services")[2].description;
        assert!(cluster_ip.starts_with("clusterIP is the IP address of the service"));
        assert!(cluster_ip.contains("useful when direct endpoint connections are preferred"));
    }

    #[test]
    fn column_definitions_match_upstream_shape() {
        let pod: Vec<_> = columns("", "pods")
            .iter()
            .map(|c| (c.name, c.priority))
            .collect();
        assert_eq!(
            pod,
            vec![
                ("Name", 0),
                ("Ready", 0),
                ("Status", 0),
                ("Restarts", 0),
                ("Age", 0),
                ("IP", 1),
                ("Node", 1),
                ("Nominated Node", 1),
                ("Readiness Gates", 1)
            ]
        );
        let name = &columns("apps", "deployments")[0];
        assert_eq!(
            (name.name, name.type_, name.format),
            ("Name", "string", "name")
        );
        assert!(name
            .description
            .starts_with("Name must be unique within a namespace."));
        let ev: Vec<_> = columns("events.k8s.io", "events")
            .iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(ev[..4], ["Last Seen", "Type", "Reason", "Object"]);
    }
}
