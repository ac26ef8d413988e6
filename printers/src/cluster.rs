//! Cells for the remaining groups (networking, discovery, rbac, storage, scheduling, node,
//! certificates, flowcontrol, admissionregistration, coordination, apiregistration,
//! internal, resource, storagemigration), mirroring upstream's `print*` functions and
//! kube-aggregator's APIService convertor.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::core::load_balancer_ingress;
use crate::format::{
    age, arr, bool_or, format_label_selector, get, human_duration, int_or, len_at, list_with_more,
    name, opt_str, str_at,
};
use crate::{quantity, PrintError};

type Cells = Result<Vec<Value>, PrintError>;

fn annotation_true(obj: &Value, key: &str) -> bool {
    get(obj, &["metadata", "annotations", key]).and_then(Value::as_str) == Some("true")
}

/// Name and Age only (DeviceClass, ResourceClaimTemplate).
pub(crate) fn name_age(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![name(obj).into(), age(obj, now).into()])
}

/// Mirrors `printLease`.
pub(crate) fn lease(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        str_at(obj, &["spec", "holderIdentity"]).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printLeaseCandidate`.
pub(crate) fn lease_candidate(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        str_at(obj, &["spec", "leaseName"]).into(),
        str_at(obj, &["spec", "binaryVersion"]).into(),
        str_at(obj, &["spec", "emulationVersion"]).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `formatHosts`: up to three hosts, `*` when none.
fn format_hosts(rules: &[Value]) -> String {
    const MAX: usize = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == MAX {
            more = true;
        }
        let host = str_at(rule, &["host"]);
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_string();
    }
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", rules.len() - MAX);
    }
    ret
}

/// Mirrors `printIngress`.
pub(crate) fn ingress(obj: &Value, now: DateTime<Utc>) -> Cells {
    let ports = if arr(obj, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    Ok(vec![
        name(obj).into(),
        opt_str(obj, &["spec", "ingressClassName"])
            .unwrap_or("<none>")
            .into(),
        format_hosts(arr(obj, &["spec", "rules"])).into(),
        load_balancer_ingress(arr(obj, &["status", "loadBalancer", "ingress"])).into(),
        ports.into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printIngressClass`: parameters as `Kind[.apiGroup]/name`.
pub(crate) fn ingress_class(obj: &Value, now: DateTime<Utc>) -> Cells {
    let parameters = match get(obj, &["spec", "parameters"]) {
        None => "<none>".to_string(),
        Some(p) => {
            let mut s = str_at(p, &["kind"]).to_string();
            if let Some(g) = opt_str(p, &["apiGroup"]) {
                s = format!("{s}.{g}");
            }
            format!("{s}/{}", str_at(p, &["name"]))
        }
    };
    Ok(vec![
        name(obj).into(),
        str_at(obj, &["spec", "controller"]).into(),
        parameters.into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printNetworkPolicy`.
pub(crate) fn network_policy(obj: &Value, now: DateTime<Utc>) -> Cells {
    // podSelector is a struct, never nil upstream: an absent one is the empty selector.
    let empty = Value::Object(Default::default());
    let sel = get(obj, &["spec", "podSelector"]).unwrap_or(&empty);
    Ok(vec![
        name(obj).into(),
        format_label_selector(Some(sel)).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printIPAddress`. Upstream emits an Age cell although the columns stop at
/// ParentRef; kubectl ignores the extra cell, and so the row keeps it to stay identical.
pub(crate) fn ip_address(obj: &Value, now: DateTime<Utc>) -> Cells {
    let parent = match get(obj, &["spec", "parentRef"]) {
        None => "<none>".to_string(),
        Some(p) => {
            let group = str_at(p, &["group"]);
            let resource = str_at(p, &["resource"]);
            let gr = if group.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}.{group}")
            };
            let mut s = gr.to_lowercase();
            let ns = str_at(p, &["namespace"]);
            if !ns.is_empty() {
                s = format!("{s}/{ns}");
            }
            format!("{s}/{}", str_at(p, &["name"]))
        }
    };
    Ok(vec![name(obj).into(), parent.into(), age(obj, now).into()])
}

/// Mirrors `printServiceCIDR`.
pub(crate) fn service_cidr(obj: &Value, now: DateTime<Utc>) -> Cells {
    let cidrs: Vec<&str> = arr(obj, &["spec", "cidrs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    Ok(vec![
        name(obj).into(),
        cidrs.join(",").into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printEndpointSlice` with `formatDiscoveryPorts` / `formatDiscoveryEndpoints`.
pub(crate) fn endpoint_slice(obj: &Value, now: DateTime<Utc>) -> Cells {
    const MAX: usize = 3;
    let ports = arr(obj, &["ports"]);
    let port_list: Vec<String> = ports
        .iter()
        .take(MAX)
        .map(|p| {
            if let Some(n) = get(p, &["port"]).and_then(Value::as_i64) {
                n.to_string()
            } else if let Some(n) = opt_str(p, &["name"]) {
                n.to_string()
            } else {
                "*".to_string()
            }
        })
        .collect();
    let addresses: Vec<String> = arr(obj, &["endpoints"])
        .iter()
        .flat_map(|e| arr(e, &["addresses"]).iter())
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect();
    let shown: Vec<String> = addresses.iter().take(MAX).cloned().collect();
    Ok(vec![
        name(obj).into(),
        str_at(obj, &["addressType"]).into(),
        list_with_more(&port_list, ports.len(), MAX).into(),
        list_with_more(&shown, addresses.len(), MAX).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printRoleBinding` / `printClusterRoleBinding` with `rbac.SubjectsStrings`.
pub(crate) fn role_binding(obj: &Value, now: DateTime<Utc>) -> Cells {
    let role = format!(
        "{}/{}",
        str_at(obj, &["roleRef", "kind"]),
        str_at(obj, &["roleRef", "name"])
    );
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in arr(obj, &["subjects"]) {
        let n = str_at(s, &["name"]);
        match str_at(s, &["kind"]) {
            "ServiceAccount" => sas.push(format!("{}/{n}", str_at(s, &["namespace"]))),
            "User" => users.push(n.to_string()),
            "Group" => groups.push(n.to_string()),
            _ => {}
        }
    }
    Ok(vec![
        name(obj).into(),
        role.into(),
        age(obj, now).into(),
        users.join(", ").into(),
        groups.join(", ").into(),
        sas.join(", ").into(),
    ])
}

/// Mirrors `printStorageClass`: ` (default)` after the name of the default class.
pub(crate) fn storage_class(obj: &Value, now: DateTime<Utc>) -> Cells {
    let mut n = name(obj);
    if annotation_true(obj, "storageclass.kubernetes.io/is-default-class")
        || annotation_true(obj, "storageclass.beta.kubernetes.io/is-default-class")
    {
        n.push_str(" (default)");
    }
    Ok(vec![
        n.into(),
        str_at(obj, &["provisioner"]).into(),
        opt_str(obj, &["reclaimPolicy"]).unwrap_or("Delete").into(),
        opt_str(obj, &["volumeBindingMode"])
            .unwrap_or("Immediate")
            .into(),
        bool_or(obj, &["allowVolumeExpansion"], false).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printVolumeAttributesClass`.
pub(crate) fn volume_attributes_class(obj: &Value, now: DateTime<Utc>) -> Cells {
    let mut n = name(obj);
    if annotation_true(
        obj,
        "volumeattributesclass.alpha.kubernetes.io/is-default-class",
    ) {
        n.push_str(" (default)");
    }
    Ok(vec![
        n.into(),
        str_at(obj, &["driverName"]).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printCSIDriver`, reading absent fields with their v1 defaults.
pub(crate) fn csi_driver(obj: &Value, now: DateTime<Utc>) -> Cells {
    let modes: Vec<&str> = match get(obj, &["spec", "volumeLifecycleModes"]) {
        // v1 defaulting: Persistent when unset.
        None => vec!["Persistent"],
        Some(v) => v
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default(),
    };
    let modes = if modes.is_empty() {
        "<none>".to_string()
    } else {
        modes.join(",")
    };
    let token_requests = match get(obj, &["spec", "tokenRequests"]).and_then(Value::as_array) {
        None => "<unset>".to_string(),
        Some(t) => t
            .iter()
            .map(|r| str_at(r, &["audience"]))
            .collect::<Vec<_>>()
            .join(","),
    };
    Ok(vec![
        name(obj).into(),
        bool_or(obj, &["spec", "attachRequired"], true).into(),
        bool_or(obj, &["spec", "podInfoOnMount"], false).into(),
        bool_or(obj, &["spec", "storageCapacity"], false).into(),
        token_requests.into(),
        bool_or(obj, &["spec", "requiresRepublish"], false).into(),
        modes.into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printCSINode`.
pub(crate) fn csi_node(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        len_at(obj, &["spec", "drivers"]).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printVolumeAttachment`.
pub(crate) fn volume_attachment(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        str_at(obj, &["spec", "attacher"]).into(),
        str_at(obj, &["spec", "source", "persistentVolumeName"]).into(),
        str_at(obj, &["spec", "nodeName"]).into(),
        bool_or(obj, &["status", "attached"], false).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printCSIStorageCapacity` (no Age column upstream).
pub(crate) fn csi_storage_capacity(obj: &Value, _now: DateTime<Utc>) -> Cells {
    let capacity = match get(obj, &["capacity"]) {
        None => "<unset>".to_string(),
        Some(q) => quantity::of_value(Some(q)),
    };
    Ok(vec![
        name(obj).into(),
        str_at(obj, &["storageClassName"]).into(),
        capacity.into(),
    ])
}

/// Mirrors `printPriorityClass`.
pub(crate) fn priority_class(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        int_or(obj, &["value"], 0).into(),
        bool_or(obj, &["globalDefault"], false).into(),
        age(obj, now).into(),
        // v1 defaulting sets PreemptLowerPriority.
        opt_str(obj, &["preemptionPolicy"])
            .unwrap_or("PreemptLowerPriority")
            .into(),
    ])
}

/// Mirrors `printRuntimeClass`.
pub(crate) fn runtime_class(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        str_at(obj, &["handler"]).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `extractCSRStatus`.
fn csr_status(obj: &Value) -> String {
    let conditions = arr(obj, &["status", "conditions"]);
    let has = |t: &str| conditions.iter().any(|c| str_at(c, &["type"]) == t);
    let mut status = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !str_at(obj, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    status
}

/// Mirrors `printCertificateSigningRequest`.
pub(crate) fn csr(obj: &Value, now: DateTime<Utc>) -> Cells {
    let signer = match str_at(obj, &["spec", "signerName"]) {
        "" => "<none>",
        s => s,
    };
    let requested = match get(obj, &["spec", "expirationSeconds"]).and_then(Value::as_i64) {
        None => "<none>".to_string(),
        Some(secs) => human_duration(TimeDelta::seconds(secs)),
    };
    Ok(vec![
        name(obj).into(),
        age(obj, now).into(),
        signer.into(),
        str_at(obj, &["spec", "username"]).into(),
        requested.into(),
        csr_status(obj).into(),
    ])
}

/// Mirrors `printClusterTrustBundle` (no Age column upstream).
pub(crate) fn cluster_trust_bundle(obj: &Value, _now: DateTime<Utc>) -> Cells {
    let signer = match str_at(obj, &["spec", "signerName"]) {
        "" => "<none>",
        s => s,
    };
    Ok(vec![name(obj).into(), signer.into()])
}

/// Mirrors `printFlowSchema`.
pub(crate) fn flow_schema(obj: &Value, now: DateTime<Utc>) -> Cells {
    let distinguisher = opt_str(obj, &["spec", "distinguisherMethod", "type"]).unwrap_or("<none>");
    let missing_pl = arr(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Dangling")
        .map(|c| str_at(c, &["status"]))
        .unwrap_or("?");
    // v1 defaulting turns an unset (zero) matchingPrecedence into 1000.
    let precedence = match int_or(obj, &["spec", "matchingPrecedence"], 0) {
        0 => 1000,
        p => p,
    };
    Ok(vec![
        name(obj).into(),
        str_at(obj, &["spec", "priorityLevelConfiguration", "name"]).into(),
        precedence.into(),
        distinguisher.into(),
        age(obj, now).into(),
        missing_pl.into(),
    ])
}

/// Mirrors `printPriorityLevelConfiguration`; absent values read as the v1 defaults
/// (30 shares; 64 queues, hand size 8, queue length 50 for queuing).
pub(crate) fn priority_level(obj: &Value, now: DateTime<Utc>) -> Cells {
    let none = || Value::from("<none>");
    let (mut ncs, mut queues, mut hand, mut qlen) = (none(), none(), none(), none());
    if let Some(limited) = get(obj, &["spec", "limited"]) {
        // assuredConcurrencyShares is the v1beta1/v1beta2 name of the same field.
        let shares = get(limited, &["nominalConcurrencyShares"])
            .or_else(|| get(limited, &["assuredConcurrencyShares"]))
            .and_then(Value::as_i64)
            .unwrap_or(30);
        ncs = shares.into();
        if str_at(limited, &["limitResponse", "type"]) == "Queue" {
            let q = get(limited, &["limitResponse", "queuing"]);
            let field = |f: &str, d: i64| {
                q.and_then(|q| get(q, &[f]))
                    .and_then(Value::as_i64)
                    .filter(|v| *v != 0)
                    .unwrap_or(d)
            };
            queues = field("queues", 64).into();
            hand = field("handSize", 8).into();
            qlen = field("queueLengthLimit", 50).into();
        }
    }
    Ok(vec![
        name(obj).into(),
        str_at(obj, &["spec", "type"]).into(),
        ncs,
        queues,
        hand,
        qlen,
        age(obj, now).into(),
    ])
}

/// Mirrors `printMutatingWebhook` / `printValidatingWebhook`.
pub(crate) fn webhook_configuration(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        len_at(obj, &["webhooks"]).into(),
        age(obj, now).into(),
    ])
}

fn param_kind(obj: &Value) -> String {
    match get(obj, &["spec", "paramKind"]) {
        None => "<unset>".to_string(),
        Some(p) => format!("{}/{}", str_at(p, &["apiVersion"]), str_at(p, &["kind"])),
    }
}

/// Mirrors `printValidatingAdmissionPolicy`.
pub(crate) fn validating_admission_policy(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        len_at(obj, &["spec", "validations"]).into(),
        param_kind(obj).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printMutatingAdmissionPolicy`.
pub(crate) fn mutating_admission_policy(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        len_at(obj, &["spec", "mutations"]).into(),
        param_kind(obj).into(),
        age(obj, now).into(),
    ])
}

/// Go's `%v` of a `[]string`: `[a b]`.
fn go_string_slice(values: &[Value]) -> String {
    let items: Vec<&str> = values.iter().map(|v| v.as_str().unwrap_or("")).collect();
    format!("[{}]", items.join(" "))
}

/// The gogo-protobuf `String()` of a `metav1.LabelSelector`, which upstream prints for a
/// binding's selector-based paramRef.
fn proto_label_selector_string(sel: &Value) -> String {
    let mut labels: Vec<(&String, &str)> = get(sel, &["matchLabels"])
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    let labels: String = labels.iter().map(|(k, v)| format!("{k}: {v},")).collect();
    let exprs: String = arr(sel, &["matchExpressions"])
        .iter()
        .map(|e| {
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:{},}},",
                str_at(e, &["key"]),
                str_at(e, &["operator"]),
                go_string_slice(arr(e, &["values"]))
            )
        })
        .collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )
}

/// Mirrors `printValidatingAdmissionPolicyBinding` / `printMutatingAdmissionPolicyBinding`.
pub(crate) fn policy_binding(obj: &Value, now: DateTime<Utc>) -> Cells {
    let param = match get(obj, &["spec", "paramRef"]) {
        None => "<unset>".to_string(),
        Some(pr) => {
            let n = str_at(pr, &["name"]);
            if !n.is_empty() {
                match str_at(pr, &["namespace"]) {
                    // Cluster-scoped or not cannot be told here, so upstream prints `*/`.
                    "" => format!("*/{n}"),
                    ns => format!("{ns}/{n}"),
                }
            } else if let Some(sel) = get(pr, &["selector"]) {
                proto_label_selector_string(sel)
            } else {
                "<unset>".to_string()
            }
        }
    };
    Ok(vec![
        name(obj).into(),
        str_at(obj, &["spec", "policyName"]).into(),
        param.into(),
        age(obj, now).into(),
    ])
}

/// Mirrors kube-aggregator's APIService `ConvertToTable`: the backing service or `Local`,
/// and the Available condition with its reason when not True.
pub(crate) fn api_service(obj: &Value, now: DateTime<Utc>) -> Cells {
    let service = match get(obj, &["spec", "service"]) {
        None => "Local".to_string(),
        Some(s) => format!("{}/{}", str_at(s, &["namespace"]), str_at(s, &["name"])),
    };
    let available = match arr(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Available")
    {
        None => "Unknown".to_string(),
        Some(c) => {
            let status = str_at(c, &["status"]);
            let reason = str_at(c, &["reason"]);
            if status != "True" && !reason.is_empty() {
                format!("{status} ({reason})")
            } else {
                status.to_string()
            }
        }
    };
    Ok(vec![
        name(obj).into(),
        service.into(),
        available.into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printStorageVersion` with `formatStorageVersions`.
pub(crate) fn storage_version(obj: &Value, now: DateTime<Utc>) -> Cells {
    const MAX: usize = 3;
    let versions = arr(obj, &["status", "storageVersions"]);
    let list: Vec<String> = versions
        .iter()
        .take(MAX)
        .map(|v| {
            format!(
                "{}={}",
                str_at(v, &["apiServerID"]),
                str_at(v, &["encodingVersion"])
            )
        })
        .collect();
    Ok(vec![
        name(obj).into(),
        opt_str(obj, &["status", "commonEncodingVersion"])
            .unwrap_or("<unset>")
            .into(),
        list_with_more(&list, versions.len(), MAX).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printStorageVersionMigration`: `resource.version.group`.
pub(crate) fn storage_version_migration(obj: &Value, _now: DateTime<Utc>) -> Cells {
    let r = |f: &str| str_at(obj, &["spec", "resource", f]);
    Ok(vec![
        name(obj).into(),
        format!("{}.{}.{}", r("resource"), r("version"), r("group")).into(),
    ])
}

/// Mirrors `resourceClaimState`.
pub(crate) fn resource_claim(obj: &Value, now: DateTime<Utc>) -> Cells {
    let deleting = get(obj, &["metadata", "deletionTimestamp"]).is_some();
    let mut states: Vec<&str> = Vec::new();
    if deleting {
        states.push("deleted");
    }
    if get(obj, &["status", "allocation"]).is_none() {
        if !deleting {
            states.push("pending");
        }
    } else {
        states.push("allocated");
        if !arr(obj, &["status", "reservedFor"]).is_empty() {
            states.push("reserved");
        }
    }
    Ok(vec![
        name(obj).into(),
        states.join(",").into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printResourceSlice`.
pub(crate) fn resource_slice(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        str_at(obj, &["spec", "nodeName"]).into(),
        str_at(obj, &["spec", "driver"]).into(),
        str_at(obj, &["spec", "pool", "name"]).into(),
        age(obj, now).into(),
    ])
}

#[cfg(test)]
mod tests {
    use crate::testutil::{ago, check};
    use serde_json::{json, Value};

    fn meta(name: &str) -> Value {
        json!({"name": name, "creationTimestamp": ago(600)})
    }

    #[test]
    fn networking() {
        check(
            "networking.k8s.io",
            "ingresses",
            &[
                (
                    "tls, many hosts",
                    json!({"metadata": meta("web"), "spec": {"ingressClassName": "nginx",
                "tls": [{"hosts": ["a.example.com"]}],
                "rules": [{"host": "a.example.com"}, {}, {"host": "b.example.com"}, {"host": "c.example.com"}, {"host": "d.example.com"}]},
                "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.9"}, {"hostname": "lb.example.com"}]}}}),
                    json!([
                        "web",
                        "nginx",
                        "a.example.com,b.example.com,c.example.com + 2 more...",
                        "10.0.0.9,lb.example.com",
                        "80, 443",
                        "10m"
                    ]),
                ),
                (
                    "no class no hosts",
                    json!({"metadata": meta("i"), "spec": {"defaultBackend": {}}}),
                    json!(["i", "<none>", "*", "", "80", "10m"]),
                ),
            ],
        );
        check(
            "networking.k8s.io",
            "ingressclasses",
            &[
                (
                    "params",
                    json!({"metadata": meta("nginx"), "spec": {"controller": "k8s.io/ingress-nginx",
                "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}}),
                    json!([
                        "nginx",
                        "k8s.io/ingress-nginx",
                        "IngressParameters.k8s.example.com/external-lb",
                        "10m"
                    ]),
                ),
                (
                    "no params",
                    json!({"metadata": meta("c"), "spec": {"controller": "x"}}),
                    json!(["c", "x", "<none>", "10m"]),
                ),
            ],
        );
        check(
            "networking.k8s.io",
            "networkpolicies",
            &[
                (
                    "all pods",
                    json!({"metadata": meta("deny"), "spec": {"podSelector": {}}}),
                    json!(["deny", "<none>", "10m"]),
                ),
                (
                    "selected",
                    json!({"metadata": meta("np"), "spec": {"podSelector": {"matchLabels": {"role": "db"}}}}),
                    json!(["np", "role=db", "10m"]),
                ),
            ],
        );
        check(
            "networking.k8s.io",
            "ipaddresses",
            &[(
                "service ip",
                json!({"metadata": meta("10.96.0.1"),
            "spec": {"parentRef": {"group": "", "resource": "services", "namespace": "default", "name": "kubernetes"}}}),
                json!(["10.96.0.1", "services/default/kubernetes", "10m"]),
            )],
        );
        check(
            "networking.k8s.io",
            "servicecidrs",
            &[(
                "cidrs",
                json!({"metadata": meta("kubernetes"),
            "spec": {"cidrs": ["10.96.0.0/12", "fd00::/108"]}}),
                json!(["kubernetes", "10.96.0.0/12,fd00::/108", "10m"]),
            )],
        );
        check(
            "discovery.k8s.io",
            "endpointslices",
            &[
                (
                    "slice",
                    json!({"metadata": meta("web-abc"), "addressType": "IPv4",
                "ports": [{"name": "http", "port": 80}, {"name": "named"}, {}, {"port": 9}],
                "endpoints": [{"addresses": ["10.1.0.1"]}, {"addresses": ["10.1.0.2", "10.1.0.3", "10.1.0.4"]}]}),
                    json!([
                        "web-abc",
                        "IPv4",
                        "80,named,* + 1 more...",
                        "10.1.0.1,10.1.0.2,10.1.0.3 + 1 more...",
                        "10m"
                    ]),
                ),
                (
                    "empty",
                    json!({"metadata": meta("e"), "addressType": "IPv6"}),
                    json!(["e", "IPv6", "<unset>", "<unset>", "10m"]),
                ),
            ],
        );
    }

    #[test]
    fn rbac() {
        let rb = json!({"metadata": meta("rb"), "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                         {"kind": "ServiceAccount", "namespace": "kube-system", "name": "default"},
                         {"kind": "User", "name": "bob"}]});
        let want = json!([
            "rb",
            "ClusterRole/view",
            "10m",
            "alice, bob",
            "devs",
            "kube-system/default"
        ]);
        check(
            "rbac.authorization.k8s.io",
            "rolebindings",
            &[("subjects", rb.clone(), want.clone())],
        );
        check(
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            &[("subjects", rb, want)],
        );
    }

    #[test]
    fn storage() {
        check(
            "storage.k8s.io",
            "storageclasses",
            &[
                (
                    "default class",
                    json!({"metadata": {"name": "standard", "creationTimestamp": ago(600),
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}),
                    json!([
                        "standard (default)",
                        "rancher.io/local-path",
                        "Delete",
                        "WaitForFirstConsumer",
                        false,
                        "10m"
                    ]),
                ),
                (
                    "expandable",
                    json!({"metadata": meta("fast"), "provisioner": "csi.example.com",
                "reclaimPolicy": "Retain", "allowVolumeExpansion": true}),
                    json!([
                        "fast",
                        "csi.example.com",
                        "Retain",
                        "Immediate",
                        true,
                        "10m"
                    ]),
                ),
            ],
        );
        check(
            "storage.k8s.io",
            "csidrivers",
            &[
                (
                    "defaults",
                    json!({"metadata": meta("csi.example.com"), "spec": {}}),
                    json!([
                        "csi.example.com",
                        true,
                        false,
                        false,
                        "<unset>",
                        false,
                        "Persistent",
                        "10m"
                    ]),
                ),
                (
                    "set",
                    json!({"metadata": meta("d"), "spec": {"attachRequired": false, "podInfoOnMount": true,
                "storageCapacity": true, "tokenRequests": [{"audience": "a"}, {"audience": "b"}],
                "requiresRepublish": true, "volumeLifecycleModes": ["Persistent", "Ephemeral"]}}),
                    json!([
                        "d",
                        false,
                        true,
                        true,
                        "a,b",
                        true,
                        "Persistent,Ephemeral",
                        "10m"
                    ]),
                ),
            ],
        );
        check(
            "storage.k8s.io",
            "csinodes",
            &[(
                "drivers",
                json!({"metadata": meta("n1"),
            "spec": {"drivers": [{"name": "a"}, {"name": "b"}]}}),
                json!(["n1", 2, "10m"]),
            )],
        );
        check(
            "storage.k8s.io",
            "volumeattachments",
            &[(
                "attached",
                json!({"metadata": meta("csi-1"),
            "spec": {"attacher": "csi.example.com", "nodeName": "n1", "source": {"persistentVolumeName": "pv1"}},
            "status": {"attached": true}}),
                json!(["csi-1", "csi.example.com", "pv1", "n1", true, "10m"]),
            )],
        );
        check(
            "storage.k8s.io",
            "csistoragecapacities",
            &[
                (
                    "cap",
                    json!({"metadata": meta("c1"), "storageClassName": "fast", "capacity": "10240Mi"}),
                    json!(["c1", "fast", "10Gi"]),
                ),
                (
                    "unset",
                    json!({"metadata": meta("c2"), "storageClassName": "fast"}),
                    json!(["c2", "fast", "<unset>"]),
                ),
            ],
        );
        check(
            "storage.k8s.io",
            "volumeattributesclasses",
            &[(
                "vac",
                json!({"metadata": {"name": "gold",
            "creationTimestamp": ago(600), "annotations": {"volumeattributesclass.alpha.kubernetes.io/is-default-class": "true"}},
            "driverName": "csi.example.com"}),
                json!(["gold (default)", "csi.example.com", "10m"]),
            )],
        );
    }

    #[test]
    fn scheduling_node_coordination() {
        check(
            "scheduling.k8s.io",
            "priorityclasses",
            &[
                (
                    "system",
                    json!({"metadata": meta("system-node-critical"), "value": 2000001000,
                "preemptionPolicy": "PreemptLowerPriority"}),
                    json!([
                        "system-node-critical",
                        2000001000,
                        false,
                        "10m",
                        "PreemptLowerPriority"
                    ]),
                ),
                (
                    "default never",
                    json!({"metadata": meta("low"), "value": -5, "globalDefault": true,
                "preemptionPolicy": "Never"}),
                    json!(["low", -5, true, "10m", "Never"]),
                ),
            ],
        );
        check(
            "node.k8s.io",
            "runtimeclasses",
            &[(
                "gvisor",
                json!({"metadata": meta("gvisor"), "handler": "runsc"}),
                json!(["gvisor", "runsc", "10m"]),
            )],
        );
        check(
            "coordination.k8s.io",
            "leases",
            &[
                (
                    "held",
                    json!({"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "host_1234"}}),
                    json!(["kube-scheduler", "host_1234", "10m"]),
                ),
                (
                    "free",
                    json!({"metadata": meta("l"), "spec": {}}),
                    json!(["l", "", "10m"]),
                ),
            ],
        );
        check(
            "coordination.k8s.io",
            "leasecandidates",
            &[(
                "cand",
                json!({"metadata": meta("c"),
            "spec": {"leaseName": "kube-scheduler", "binaryVersion": "1.32.0", "emulationVersion": "1.32"}}),
                json!(["c", "kube-scheduler", "1.32.0", "1.32", "10m"]),
            )],
        );
    }

    #[test]
    fn certificates() {
        let csr = |conditions: Value, cert: &str, exp: Option<i64>| {
            let mut spec =
                json!({"signerName": "kubernetes.io/kube-apiserver-client", "username": "alice"});
            if let Some(e) = exp {
                spec["expirationSeconds"] = json!(e);
            }
            json!({"metadata": meta("csr-1"), "spec": spec, "status": {"conditions": conditions, "certificate": cert}})
        };
        let row = |dur: &str, status: &str| {
            json!([
                "csr-1",
                "10m",
                "kubernetes.io/kube-apiserver-client",
                "alice",
                dur,
                status
            ])
        };
        check(
            "certificates.k8s.io",
            "certificatesigningrequests",
            &[
                (
                    "pending",
                    csr(json!([]), "", None),
                    row("<none>", "Pending"),
                ),
                (
                    "approved issued",
                    csr(json!([{"type": "Approved"}]), "LS0t", Some(86400)),
                    row("24h", "Approved,Issued"),
                ),
                (
                    "denied failed",
                    csr(
                        json!([{"type": "Approved"}, {"type": "Denied"}, {"type": "Failed"}]),
                        "",
                        Some(600),
                    ),
                    row("10m", "Denied,Failed"),
                ),
            ],
        );
        check(
            "certificates.k8s.io",
            "clustertrustbundles",
            &[(
                "ctb",
                json!({"metadata": meta("b"), "spec": {}}),
                json!(["b", "<none>"]),
            )],
        );
    }

    #[test]
    fn flow_control() {
        check(
            "flowcontrol.apiserver.k8s.io",
            "flowschemas",
            &[
                (
                    "exempt",
                    json!({"metadata": meta("exempt"), "spec": {"matchingPrecedence": 1,
                "priorityLevelConfiguration": {"name": "exempt"}},
                "status": {"conditions": [{"type": "Dangling", "status": "False"}]}}),
                    json!(["exempt", "exempt", 1, "<none>", "10m", "False"]),
                ),
                (
                    "by user, defaulted precedence",
                    json!({"metadata": meta("fs"), "spec": {
                "priorityLevelConfiguration": {"name": "workload-low"}, "distinguisherMethod": {"type": "ByUser"}}}),
                    json!(["fs", "workload-low", 1000, "ByUser", "10m", "?"]),
                ),
            ],
        );
        check(
            "flowcontrol.apiserver.k8s.io",
            "prioritylevelconfigurations",
            &[
                (
                    "exempt",
                    json!({"metadata": meta("exempt"), "spec": {"type": "Exempt", "exempt": {}}}),
                    json!(["exempt", "Exempt", "<none>", "<none>", "<none>", "<none>", "10m"]),
                ),
                (
                    "queued",
                    json!({"metadata": meta("global-default"), "spec": {"type": "Limited", "limited": {
                "nominalConcurrencyShares": 20, "limitResponse": {"type": "Queue",
                "queuing": {"queues": 128, "handSize": 6, "queueLengthLimit": 50}}}}}),
                    json!(["global-default", "Limited", 20, 128, 6, 50, "10m"]),
                ),
                (
                    "reject",
                    json!({"metadata": meta("catch-all"), "spec": {"type": "Limited", "limited": {
                "nominalConcurrencyShares": 5, "limitResponse": {"type": "Reject"}}}}),
                    json!([
                        "catch-all",
                        "Limited",
                        5,
                        "<none>",
                        "<none>",
                        "<none>",
                        "10m"
                    ]),
                ),
            ],
        );
    }

    #[test]
    fn admission() {
        check(
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            &[(
                "hooks",
                json!({"metadata": meta("w"), "webhooks": [{"name": "a"}, {"name": "b"}]}),
                json!(["w", 2, "10m"]),
            )],
        );
        check(
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            &[(
                "none",
                json!({"metadata": meta("m")}),
                json!(["m", 0, "10m"]),
            )],
        );
        check(
            "admissionregistration.k8s.io",
            "validatingadmissionpolicies",
            &[
                (
                    "param",
                    json!({"metadata": meta("p"), "spec": {"validations": [{"expression": "true"}],
                "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"}}}),
                    json!(["p", 1, "v1/ConfigMap", "10m"]),
                ),
                (
                    "no param",
                    json!({"metadata": meta("p"), "spec": {}}),
                    json!(["p", 0, "<unset>", "10m"]),
                ),
            ],
        );
        check(
            "admissionregistration.k8s.io",
            "mutatingadmissionpolicies",
            &[(
                "m",
                json!({"metadata": meta("m"),
            "spec": {"mutations": [{}, {}]}}),
                json!(["m", 2, "<unset>", "10m"]),
            )],
        );
        let binding = |param: Value| json!({"metadata": meta("b"), "spec": {"policyName": "p", "paramRef": param}});
        check("admissionregistration.k8s.io", "validatingadmissionpolicybindings", &[
            ("namespaced", binding(json!({"name": "cfg", "namespace": "default"})), json!(["b", "p", "default/cfg", "10m"])),
            ("any namespace", binding(json!({"name": "cfg"})), json!(["b", "p", "*/cfg", "10m"])),
            ("selector", binding(json!({"selector": {"matchLabels": {"b": "2", "a": "1"},
                "matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]}})),
             json!(["b", "p", "&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:k,Operator:In,Values:[x y],},},}", "10m"])),
            ("unset", json!({"metadata": meta("b"), "spec": {"policyName": "p"}}), json!(["b", "p", "<unset>", "10m"])),
        ]);
    }

    #[test]
    fn aggregation_internal_resource() {
        check(
            "apiregistration.k8s.io",
            "apiservices",
            &[
                (
                    "local",
                    json!({"metadata": meta("v1.apps"), "spec": {"group": "apps", "version": "v1"},
                "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local"}]}}),
                    json!(["v1.apps", "Local", "True", "10m"]),
                ),
                (
                    "unavailable",
                    json!({"metadata": meta("v1beta1.metrics.k8s.io"), "spec": {"service": {
                "namespace": "kube-system", "name": "metrics-server"}},
                "status": {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}}),
                    json!([
                        "v1beta1.metrics.k8s.io",
                        "kube-system/metrics-server",
                        "False (MissingEndpoints)",
                        "10m"
                    ]),
                ),
                (
                    "no status",
                    json!({"metadata": meta("x")}),
                    json!(["x", "Local", "Unknown", "10m"]),
                ),
            ],
        );
        check(
            "internal.apiserver.k8s.io",
            "storageversions",
            &[(
                "sv",
                json!({"metadata": meta("apps.deployments"),
            "status": {"commonEncodingVersion": "apps/v1", "storageVersions": [
                {"apiServerID": "a", "encodingVersion": "apps/v1"}, {"apiServerID": "b", "encodingVersion": "apps/v1"},
                {"apiServerID": "c", "encodingVersion": "apps/v1"}, {"apiServerID": "d", "encodingVersion": "apps/v1"}]}}),
                json!([
                    "apps.deployments",
                    "apps/v1",
                    "a=apps/v1,b=apps/v1,c=apps/v1 + 1 more...",
                    "10m"
                ]),
            )],
        );
        check(
            "storagemigration.k8s.io",
            "storageversionmigrations",
            &[(
                "m",
                json!({"metadata": meta("m"),
            "spec": {"resource": {"group": "apps", "version": "v1", "resource": "deployments"}}}),
                json!(["m", "deployments.v1.apps"]),
            )],
        );
        check(
            "resource.k8s.io",
            "resourceclaims",
            &[
                (
                    "pending",
                    json!({"metadata": meta("c")}),
                    json!(["c", "pending", "10m"]),
                ),
                (
                    "reserved",
                    json!({"metadata": meta("c"), "status": {"allocation": {}, "reservedFor": [{"name": "p"}]}}),
                    json!(["c", "allocated,reserved", "10m"]),
                ),
                (
                    "deleted",
                    json!({"metadata": {"name": "c", "deletionTimestamp": ago(1)}}),
                    json!(["c", "deleted", "<unknown>"]),
                ),
            ],
        );
        check(
            "resource.k8s.io",
            "resourceslices",
            &[(
                "s",
                json!({"metadata": meta("s"),
            "spec": {"nodeName": "n1", "driver": "gpu.example.com", "pool": {"name": "n1"}}}),
                json!(["s", "n1", "gpu.example.com", "n1", "10m"]),
            )],
        );
        check(
            "resource.k8s.io",
            "deviceclasses",
            &[("d", json!({"metadata": meta("gpu")}), json!(["gpu", "10m"]))],
        );
    }
}
