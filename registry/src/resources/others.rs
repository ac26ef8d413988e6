//! Resources outside core/apps/batch: RBAC, scheduling, policy, networking, autoscaling,
//! discovery, coordination, storage and admission registration (upstream
//! `pkg/apis/<group>/{v1,v2}/defaults.go`, `pkg/apis/<group>/validation/validation.go`).

use super::apps::validate_int_or_percent;
use crate::field::{ErrorList, FieldError};
use crate::json::{arr_at, child_obj, default_field, each_obj_in, get, int_at, str_at};
use crate::strategy::{Generation, Resource};
use crate::validation::names;
use crate::validation::selector::validate_label_selector;
use crate::validation::{validate_enum, validate_immutable, validate_nonnegative, NameValidation};
use serde_json::{json, Value};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

// ---------------------------------------------------------------- rbac

pub(crate) static ROLES: Resource = Resource {
    validate: validate_role,
    ..Resource::basic(true, NameValidation::PathSegment)
};

pub(crate) static CLUSTER_ROLES: Resource = Resource {
    validate: validate_cluster_role,
    ..Resource::basic(false, NameValidation::PathSegment)
};

pub(crate) static ROLE_BINDINGS: Resource = Resource {
    defaults: default_binding,
    validate: validate_role_binding,
    validate_update: validate_role_ref_immutable,
    ..Resource::basic(true, NameValidation::PathSegment)
};

pub(crate) static CLUSTER_ROLE_BINDINGS: Resource = Resource {
    defaults: default_binding,
    validate: validate_cluster_role_binding,
    validate_update: validate_role_ref_immutable,
    ..Resource::basic(false, NameValidation::PathSegment)
};

/// Upstream `ValidatePolicyRule`.
fn validate_rules(obj: &Value, namespaced: bool) -> ErrorList {
    let mut errs = Vec::new();
    for (i, r) in arr_at(obj, &["rules"]).iter().enumerate() {
        let p = format!("rules[{i}]");
        if arr_at(r, &["verbs"]).is_empty() {
            errs.push(FieldError::required(
                format!("{p}.verbs"),
                "verbs must contain at least one value",
            ));
        }
        let urls = arr_at(r, &["nonResourceURLs"]);
        if !urls.is_empty() {
            let urls_v = Value::Array(urls.to_vec());
            if namespaced {
                errs.push(FieldError::invalid(
                    format!("{p}.nonResourceURLs"),
                    urls_v.clone(),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if !arr_at(r, &["apiGroups"]).is_empty()
                || !arr_at(r, &["resources"]).is_empty()
                || !arr_at(r, &["resourceNames"]).is_empty()
            {
                errs.push(FieldError::invalid(
                    format!("{p}.nonResourceURLs"),
                    urls_v,
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if arr_at(r, &["apiGroups"]).is_empty() {
            errs.push(FieldError::required(
                format!("{p}.apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if arr_at(r, &["resources"]).is_empty() {
            errs.push(FieldError::required(
                format!("{p}.resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
    errs
}

fn validate_role(obj: &Value) -> ErrorList {
    validate_rules(obj, true)
}

fn validate_cluster_role(obj: &Value) -> ErrorList {
    let mut errs = validate_rules(obj, false);
    for (i, s) in arr_at(obj, &["aggregationRule", "clusterRoleSelectors"])
        .iter()
        .enumerate()
    {
        errs.extend(validate_label_selector(
            s,
            &format!("aggregationRule.clusterRoleSelectors[{i}]"),
        ));
    }
    errs
}

/// SetDefaults_RoleBinding/ClusterRoleBinding/Subject: the RBAC API group for roleRef and
/// for User/Group subjects.
fn default_binding(obj: &mut Value) {
    if let Some(rr) = child_obj(obj, "roleRef") {
        default_field(rr, "apiGroup", json!(RBAC_GROUP));
    }
    if let Some(m) = obj.as_object_mut() {
        each_obj_in(m, "subjects", |s| {
            let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
            if matches!(kind, "User" | "Group") {
                default_field(s, "apiGroup", json!(RBAC_GROUP));
            }
        });
    }
}

fn validate_binding(obj: &Value, namespaced: bool) -> ErrorList {
    let mut errs = Vec::new();
    let rr = obj.get("roleRef").unwrap_or(&Value::Null);
    let group = str_at(rr, &["apiGroup"]);
    if group != RBAC_GROUP {
        errs.push(FieldError::not_supported(
            "roleRef.apiGroup",
            group,
            &[RBAC_GROUP],
        ));
    }
    let kind = str_at(rr, &["kind"]);
    if namespaced && !matches!(kind, "Role" | "ClusterRole") {
        errs.push(FieldError::not_supported(
            "roleRef.kind",
            kind,
            &["Role", "ClusterRole"],
        ));
    } else if !namespaced && kind != "ClusterRole" {
        errs.push(FieldError::not_supported(
            "roleRef.kind",
            kind,
            &["ClusterRole"],
        ));
    }
    let name = str_at(rr, &["name"]);
    if name.is_empty() {
        errs.push(FieldError::required("roleRef.name", ""));
    } else {
        for m in names::is_path_segment(name, false) {
            errs.push(FieldError::invalid("roleRef.name", name, m));
        }
    }
    for (i, s) in arr_at(obj, &["subjects"]).iter().enumerate() {
        let p = format!("subjects[{i}]");
        let name = str_at(s, &["name"]);
        if name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        }
        let group = str_at(s, &["apiGroup"]);
        match str_at(s, &["kind"]) {
            "ServiceAccount" => {
                if !name.is_empty() {
                    for m in names::is_dns1123_subdomain(name) {
                        errs.push(FieldError::invalid(format!("{p}.name"), name, m));
                    }
                }
                if !group.is_empty() {
                    errs.push(FieldError::not_supported(
                        format!("{p}.apiGroup"),
                        group,
                        &[""],
                    ));
                }
                if !namespaced && str_at(s, &["namespace"]).is_empty() {
                    errs.push(FieldError::required(format!("{p}.namespace"), ""));
                }
            }
            "User" | "Group" => {
                if group != RBAC_GROUP {
                    errs.push(FieldError::not_supported(
                        format!("{p}.apiGroup"),
                        group,
                        &[RBAC_GROUP],
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                format!("{p}.kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
    errs
}

fn validate_role_binding(obj: &Value) -> ErrorList {
    validate_binding(obj, true)
}

fn validate_cluster_role_binding(obj: &Value) -> ErrorList {
    validate_binding(obj, false)
}

fn validate_role_ref_immutable(new: &Value, old: &Value) -> ErrorList {
    if new.get("roleRef") != old.get("roleRef") {
        vec![FieldError::invalid(
            "roleRef",
            new.get("roleRef").cloned().unwrap_or(Value::Null),
            "cannot change roleRef",
        )]
    } else {
        Vec::new()
    }
}

// ---------------------------------------------------------------- scheduling

pub(crate) static PRIORITY_CLASSES: Resource = Resource {
    defaults: default_priority_class,
    validate: validate_priority_class,
    validate_update: validate_priority_class_update,
    ..Resource::basic(false, NameValidation::Dns1123Subdomain)
};

/// Upstream `HighestUserDefinablePriority`.
const HIGHEST_USER_PRIORITY: i64 = 1_000_000_000;

fn default_priority_class(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        default_field(m, "preemptionPolicy", json!("PreemptLowerPriority"));
    }
}

fn validate_priority_class(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let name = str_at(obj, &["metadata", "name"]);
    let value = int_at(obj, &["value"]).unwrap_or(0);
    if name.starts_with("system-") {
        let known = matches!(
            (name, value),
            ("system-node-critical", 2_000_001_000) | ("system-cluster-critical", 2_000_000_000)
        );
        if !known {
            errs.push(FieldError::forbidden(
                "metadata.name",
                format!("priority class names with 'system-' prefix are reserved for system use only. error: {name} is not a known system priority class"),
            ));
        }
    } else if value > HIGHEST_USER_PRIORITY {
        errs.push(FieldError::forbidden(
            "value",
            format!("maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"),
        ));
    }
    errs.extend(validate_enum(
        get(obj, &["preemptionPolicy"]),
        "preemptionPolicy",
        &["Never", "PreemptLowerPriority"],
        false,
    ));
    errs
}

fn validate_priority_class_update(new: &Value, old: &Value) -> ErrorList {
    let mut errs = Vec::new();
    if get(new, &["value"]) != get(old, &["value"]) {
        errs.push(FieldError::forbidden(
            "value",
            "may not be changed in an update.",
        ));
    }
    errs.extend(validate_immutable(
        get(new, &["preemptionPolicy"]),
        get(old, &["preemptionPolicy"]),
        "preemptionPolicy",
    ));
    errs
}

// ---------------------------------------------------------------- policy

pub(crate) static POD_DISRUPTION_BUDGETS: Resource = Resource {
    status: true,
    generation: Generation::Spec,
    validate: validate_pdb,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

fn validate_pdb(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let min = get(spec, &["minAvailable"]);
    let max = get(spec, &["maxUnavailable"]);
    if min.is_some() && max.is_some() {
        errs.push(FieldError::invalid(
            "spec",
            spec.clone(),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    errs.extend(validate_int_or_percent(min, "spec.minAvailable", true));
    errs.extend(validate_int_or_percent(max, "spec.maxUnavailable", true));
    if let Some(s) = get(spec, &["selector"]) {
        errs.extend(validate_label_selector(s, "spec.selector"));
    }
    errs.extend(validate_enum(
        get(spec, &["unhealthyPodEvictionPolicy"]),
        "spec.unhealthyPodEvictionPolicy",
        &["AlwaysAllow", "IfHealthyBudget"],
        false,
    ));
    errs
}

// ---------------------------------------------------------------- networking

pub(crate) static INGRESSES: Resource = Resource {
    status: true,
    generation: Generation::Spec,
    validate: validate_ingress,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

pub(crate) static INGRESS_CLASSES: Resource = Resource {
    validate: validate_ingress_class,
    validate_update: validate_ingress_class_update,
    ..Resource::basic(false, NameValidation::Dns1123Subdomain)
};

pub(crate) static NETWORK_POLICIES: Resource = Resource {
    generation: Generation::Spec,
    defaults: default_network_policy,
    validate: validate_network_policy,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

fn validate_host(host: &str, path: &str) -> ErrorList {
    let mut errs = Vec::new();
    if names::is_ip(host) {
        errs.push(FieldError::invalid(
            path,
            host,
            "must be a DNS name, not an IP address",
        ));
        return errs;
    }
    let (check, wildcard) = match host.strip_prefix("*.") {
        Some(rest) => (rest, true),
        None => (host, false),
    };
    if wildcard || !host.contains('*') {
        for m in names::is_dns1123_subdomain(check) {
            errs.push(FieldError::invalid(path, host, m));
        }
    } else {
        errs.push(FieldError::invalid(
            path,
            host,
            "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ));
    }
    errs
}

fn validate_ingress_backend(b: &Value, path: &str) -> ErrorList {
    let mut errs = Vec::new();
    let svc = get(b, &["service"]);
    let res = get(b, &["resource"]);
    match (svc, res) {
        (Some(_), Some(_)) => errs.push(FieldError::invalid(
            path,
            "",
            "cannot set both resource and service backends",
        )),
        (None, None) => errs.push(FieldError::invalid(
            path,
            "",
            "resource or service backend is required",
        )),
        (Some(s), None) => {
            let name = str_at(s, &["name"]);
            if name.is_empty() {
                errs.push(FieldError::required(format!("{path}.service.name"), ""));
            } else {
                for m in names::is_dns1035_label(name) {
                    errs.push(FieldError::invalid(format!("{path}.service.name"), name, m));
                }
            }
            let pname = str_at(s, &["port", "name"]);
            let pnum = int_at(s, &["port", "number"]).unwrap_or(0);
            let pp = format!("{path}.service.port");
            match (pname.is_empty(), pnum == 0) {
                (false, false) => errs.push(FieldError::invalid(
                    &pp,
                    s["port"].clone(),
                    "cannot set both port name & port number",
                )),
                (false, true) => {
                    for m in names::is_valid_port_name(pname) {
                        errs.push(FieldError::invalid(format!("{pp}.name"), pname, m));
                    }
                }
                (true, false) => {
                    for m in names::is_valid_port_num(pnum) {
                        errs.push(FieldError::invalid(format!("{pp}.number"), pnum, m));
                    }
                }
                (true, true) => {
                    errs.push(FieldError::required(&pp, "port name or number is required"))
                }
            }
        }
        (None, Some(r)) => {
            if str_at(r, &["kind"]).is_empty() {
                errs.push(FieldError::required(format!("{path}.resource.kind"), ""));
            }
            if str_at(r, &["name"]).is_empty() {
                errs.push(FieldError::required(format!("{path}.resource.name"), ""));
            }
        }
    }
    errs
}

fn validate_ingress(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let rules = arr_at(spec, &["rules"]);
    let default_backend = get(spec, &["defaultBackend"]);
    if rules.is_empty() && default_backend.is_none() {
        errs.push(FieldError::invalid(
            "spec",
            Value::Array(Vec::new()),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(b) = default_backend {
        errs.extend(validate_ingress_backend(b, "spec.defaultBackend"));
    }
    let class = str_at(spec, &["ingressClassName"]);
    if !class.is_empty() {
        for m in names::is_dns1123_subdomain(class) {
            errs.push(FieldError::invalid("spec.ingressClassName", class, m));
        }
    }
    for (i, r) in rules.iter().enumerate() {
        let rp = format!("spec.rules[{i}]");
        let host = str_at(r, &["host"]);
        if !host.is_empty() {
            errs.extend(validate_host(host, &format!("{rp}.host")));
        }
        let Some(http) = get(r, &["http"]) else {
            continue;
        };
        let paths = arr_at(http, &["paths"]);
        if paths.is_empty() {
            errs.push(FieldError::required(format!("{rp}.http.paths"), ""));
        }
        for (j, p) in paths.iter().enumerate() {
            let pp = format!("{rp}.http.paths[{j}]");
            let path = str_at(p, &["path"]);
            match get(p, &["pathType"]) {
                None => errs.push(FieldError::required(
                    format!("{pp}.pathType"),
                    "pathType must be specified",
                )),
                Some(t) => {
                    errs.extend(validate_enum(
                        Some(t),
                        &format!("{pp}.pathType"),
                        &["Exact", "ImplementationSpecific", "Prefix"],
                        true,
                    ));
                    if matches!(t.as_str(), Some("Exact" | "Prefix")) && !path.starts_with('/') {
                        errs.push(FieldError::invalid(
                            format!("{pp}.path"),
                            path,
                            "must be an absolute path",
                        ));
                    }
                }
            }
            if !path.is_empty()
                && !path.starts_with('/')
                && get(p, &["pathType"]).and_then(Value::as_str) == Some("ImplementationSpecific")
            {
                errs.push(FieldError::invalid(
                    format!("{pp}.path"),
                    path,
                    "must be an absolute path",
                ));
            }
            match get(p, &["backend"]) {
                Some(b) => errs.extend(validate_ingress_backend(b, &format!("{pp}.backend"))),
                None => errs.push(FieldError::required(format!("{pp}.backend"), "")),
            }
        }
    }
    for (i, t) in arr_at(spec, &["tls"]).iter().enumerate() {
        for (j, h) in arr_at(t, &["hosts"]).iter().enumerate() {
            errs.extend(validate_host(
                h.as_str().unwrap_or(""),
                &format!("spec.tls[{i}].hosts[{j}]"),
            ));
        }
    }
    errs
}

fn validate_ingress_class(obj: &Value) -> ErrorList {
    let c = str_at(obj, &["spec", "controller"]);
    if c.is_empty() {
        return vec![FieldError::required("spec.controller", "")];
    }
    let mut errs = Vec::new();
    if c.len() > 250 {
        errs.push(FieldError::too_long("spec.controller", 250));
    }
    errs
}

fn validate_ingress_class_update(new: &Value, old: &Value) -> ErrorList {
    validate_immutable(
        get(new, &["spec", "controller"]),
        get(old, &["spec", "controller"]),
        "spec.controller",
    )
}

/// SetDefaults_NetworkPolicy and SetDefaults_NetworkPolicyPort.
fn default_network_policy(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    let empty = spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if empty {
        let mut types = vec![json!("Ingress")];
        if spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty())
        {
            types.push(json!("Egress"));
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
    for dir in ["ingress", "egress"] {
        each_obj_in(spec, dir, |rule| {
            each_obj_in(rule, "ports", |p| {
                default_field(p, "protocol", json!("TCP"))
            })
        });
    }
}

fn valid_cidr(s: &str) -> bool {
    s.split_once('/').is_some_and(|(ip, len)| {
        let max = if ip.contains(':') { 128 } else { 32 };
        names::is_ip(ip) && len.parse::<u8>().is_ok_and(|l| l <= max)
    })
}

fn validate_network_policy(obj: &Value) -> ErrorList {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let mut errs = validate_label_selector(
        spec.get("podSelector").unwrap_or(&json!({})),
        "spec.podSelector",
    );
    for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in arr_at(spec, &[dir]).iter().enumerate() {
            let rp = format!("spec.{dir}[{i}]");
            for (j, port) in arr_at(rule, &["ports"]).iter().enumerate() {
                let pp = format!("{rp}.ports[{j}]");
                errs.extend(validate_enum(
                    get(port, &["protocol"]),
                    &format!("{pp}.protocol"),
                    &["SCTP", "TCP", "UDP"],
                    false,
                ));
                if let Some(p) = get(port, &["port"]) {
                    errs.extend(super::pods::validate_port_num_or_name(
                        p,
                        &format!("{pp}.port"),
                    ));
                    if let Some(end) = int_at(port, &["endPort"]) {
                        match p.as_i64() {
                            Some(start) if end < start => errs.push(FieldError::invalid(
                                format!("{pp}.endPort"),
                                end,
                                "must be greater than or equal to `port`",
                            )),
                            None => errs.push(FieldError::forbidden(
                                format!("{pp}.endPort"),
                                "may not be specified when `port` is non-numeric",
                            )),
                            _ => {}
                        }
                    }
                }
            }
            for (j, peer) in arr_at(rule, &[peers]).iter().enumerate() {
                let pp = format!("{rp}.{peers}[{j}]");
                for sel in ["podSelector", "namespaceSelector"] {
                    if let Some(s) = get(peer, &[sel]) {
                        errs.extend(validate_label_selector(s, &format!("{pp}.{sel}")));
                    }
                }
                if let Some(b) = get(peer, &["ipBlock"]) {
                    let cidr = str_at(b, &["cidr"]);
                    if cidr.is_empty() {
                        errs.push(FieldError::required(format!("{pp}.ipBlock.cidr"), ""));
                    } else if !valid_cidr(cidr) {
                        errs.push(FieldError::invalid(
                            format!("{pp}.ipBlock.cidr"),
                            cidr,
                            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                        ));
                    }
                }
            }
        }
    }
    let types = arr_at(spec, &["policyTypes"]);
    for (i, t) in types.iter().enumerate() {
        if !matches!(t.as_str(), Some("Ingress" | "Egress")) {
            errs.push(FieldError::not_supported(
                format!("spec.policyTypes[{i}]"),
                t.clone(),
                &["Ingress", "Egress"],
            ));
        }
    }
    if types.len() > 2 {
        errs.push(FieldError::invalid(
            "spec.policyTypes",
            Value::Array(types.to_vec()),
            "may not specify more than two policyTypes",
        ));
    }
    errs
}

// ---------------------------------------------------------------- autoscaling

pub(crate) static HPAS: Resource = Resource {
    status: true,
    defaults: default_hpa,
    validate: validate_hpa,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

/// autoscaling/v2 SetDefaults_HorizontalPodAutoscaler (+ behavior rules when behavior is set).
fn default_hpa(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    default_field(spec, "minReplicas", json!(1));
    if spec
        .get("metrics")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]),
        );
    }
    if let Some(Value::Object(b)) = spec.get_mut("behavior") {
        let up = b.entry("scaleUp").or_insert_with(|| json!({}));
        if let Some(up) = up.as_object_mut() {
            default_field(up, "stabilizationWindowSeconds", json!(0));
            default_field(up, "selectPolicy", json!("Max"));
            if up
                .get("policies")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            {
                up.insert(
                    "policies".into(),
                    json!([{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]),
                );
            }
        }
        let down = b.entry("scaleDown").or_insert_with(|| json!({}));
        if let Some(down) = down.as_object_mut() {
            default_field(down, "selectPolicy", json!("Max"));
            if down
                .get("policies")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            {
                down.insert(
                    "policies".into(),
                    json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
                );
            }
        }
    }
}

fn validate_hpa(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let min = int_at(spec, &["minReplicas"]);
    let max = int_at(spec, &["maxReplicas"]).unwrap_or(0);
    if let Some(m) = min.filter(|m| *m < 1) {
        errs.push(FieldError::invalid(
            "spec.minReplicas",
            m,
            "must be greater than or equal to 1",
        ));
    }
    if max < 1 {
        errs.push(FieldError::invalid(
            "spec.maxReplicas",
            max,
            "must be greater than 0",
        ));
    }
    if min.is_some_and(|m| max < m) {
        errs.push(FieldError::invalid(
            "spec.maxReplicas",
            max,
            "must be greater than or equal to `minReplicas`",
        ));
    }
    for f in ["kind", "name"] {
        let v = str_at(spec, &["scaleTargetRef", f]);
        if v.is_empty() {
            errs.push(FieldError::required(format!("spec.scaleTargetRef.{f}"), ""));
        } else {
            for m in names::is_path_segment(v, false) {
                errs.push(FieldError::invalid(
                    format!("spec.scaleTargetRef.{f}"),
                    v,
                    m,
                ));
            }
        }
    }
    for (i, m) in arr_at(spec, &["metrics"]).iter().enumerate() {
        errs.extend(validate_enum(
            get(m, &["type"]),
            &format!("spec.metrics[{i}].type"),
            &[
                "ContainerResource",
                "External",
                "Object",
                "Pods",
                "Resource",
            ],
            true,
        ));
    }
    errs
}

// ---------------------------------------------------------------- discovery, coordination

pub(crate) static ENDPOINT_SLICES: Resource = Resource {
    generation: Generation::AnyField,
    defaults: default_endpoint_slice,
    validate: validate_endpoint_slice,
    validate_update: validate_endpoint_slice_update,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

pub(crate) static LEASES: Resource = Resource {
    validate: validate_lease,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

fn default_endpoint_slice(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        each_obj_in(m, "ports", |p| {
            default_field(p, "protocol", json!("TCP"));
            if p.get("name").is_none_or(Value::is_null) {
                p.insert("name".into(), json!(""));
            }
        });
    }
}

fn validate_endpoint_slice(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let at = str_at(obj, &["addressType"]);
    errs.extend(validate_enum(
        get(obj, &["addressType"]),
        "addressType",
        &["FQDN", "IPv4", "IPv6"],
        true,
    ));
    let eps = arr_at(obj, &["endpoints"]);
    if eps.len() > 1000 {
        errs.push(FieldError::too_many("endpoints", eps.len(), 1000));
    }
    for (i, e) in eps.iter().enumerate() {
        let addrs = arr_at(e, &["addresses"]);
        let ap = format!("endpoints[{i}].addresses");
        if addrs.is_empty() {
            errs.push(FieldError::required(&ap, "must contain at least 1 address"));
        } else if addrs.len() > 100 {
            errs.push(FieldError::too_many(&ap, addrs.len(), 100));
        }
        for (j, a) in addrs.iter().enumerate() {
            let s = a.as_str().unwrap_or("");
            let p = format!("{ap}[{j}]");
            match at {
                "IPv4" if s.parse::<std::net::Ipv4Addr>().is_err() => {
                    errs.push(FieldError::invalid(p, s, "must be a valid IPv4 address"));
                }
                "IPv6" if s.parse::<std::net::Ipv6Addr>().is_err() => {
                    errs.push(FieldError::invalid(p, s, "must be a valid IPv6 address"));
                }
                "FQDN" => {
                    for m in names::is_dns1123_subdomain(s) {
                        errs.push(FieldError::invalid(&p, s, m));
                    }
                }
                _ => {}
            }
        }
    }
    let ports = arr_at(obj, &["ports"]);
    if ports.len() > 100 {
        errs.push(FieldError::too_many("ports", ports.len(), 100));
    }
    for (i, p) in ports.iter().enumerate() {
        let name = str_at(p, &["name"]);
        if !name.is_empty() {
            for m in names::is_dns1123_label(name) {
                errs.push(FieldError::invalid(format!("ports[{i}].name"), name, m));
            }
        }
        if let Some(n) = int_at(p, &["port"]) {
            for m in names::is_valid_port_num(n) {
                errs.push(FieldError::invalid(format!("ports[{i}].port"), n, m));
            }
        }
        errs.extend(validate_enum(
            get(p, &["protocol"]),
            &format!("ports[{i}].protocol"),
            &["SCTP", "TCP", "UDP"],
            true,
        ));
    }
    errs
}

fn validate_endpoint_slice_update(new: &Value, old: &Value) -> ErrorList {
    validate_immutable(
        get(new, &["addressType"]),
        get(old, &["addressType"]),
        "addressType",
    )
}

fn validate_lease(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    if let Some(d) = int_at(obj, &["spec", "leaseDurationSeconds"]).filter(|d| *d <= 0) {
        errs.push(FieldError::invalid(
            "spec.leaseDurationSeconds",
            d,
            "must be greater than 0",
        ));
    }
    errs.extend(validate_nonnegative(
        int_at(obj, &["spec", "leaseTransitions"]),
        "spec.leaseTransitions",
    ));
    errs
}

// ---------------------------------------------------------------- storage, admission

pub(crate) static STORAGE_CLASSES: Resource = Resource {
    defaults: default_storage_class,
    validate: validate_storage_class,
    validate_update: validate_storage_class_update,
    ..Resource::basic(false, NameValidation::Dns1123Subdomain)
};

/// Webhook configurations bump generation on any change outside metadata.
pub(crate) static WEBHOOK_CONFIGURATIONS: Resource = Resource {
    generation: Generation::AnyField,
    ..Resource::basic(false, NameValidation::Dns1123Subdomain)
};

fn default_storage_class(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        default_field(m, "reclaimPolicy", json!("Delete"));
        default_field(m, "volumeBindingMode", json!("Immediate"));
    }
}

fn validate_storage_class(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let p = str_at(obj, &["provisioner"]);
    if p.is_empty() {
        errs.push(FieldError::required("provisioner", ""));
    } else {
        for m in names::is_qualified_name(&p.to_lowercase()) {
            errs.push(FieldError::invalid("provisioner", p, m));
        }
    }
    errs.extend(validate_enum(
        get(obj, &["reclaimPolicy"]),
        "reclaimPolicy",
        &["Delete", "Retain"],
        false,
    ));
    errs.extend(validate_enum(
        get(obj, &["volumeBindingMode"]),
        "volumeBindingMode",
        &["Immediate", "WaitForFirstConsumer"],
        false,
    ));
    errs
}

fn validate_storage_class_update(new: &Value, old: &Value) -> ErrorList {
    let mut errs = Vec::new();
    for f in ["parameters", "provisioner", "reclaimPolicy"] {
        if get(new, &[f]) != get(old, &[f]) {
            errs.push(FieldError::forbidden(
                f,
                format!("updates to {f} are forbidden."),
            ));
        }
    }
    errs.extend(validate_immutable(
        get(new, &["volumeBindingMode"]),
        get(old, &["volumeBindingMode"]),
        "volumeBindingMode",
    ));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;

    fn msgs(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn rbac_table() {
        let role = json!({"metadata": {"name": "r", "namespace": "d"}, "rules": [
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
            {"apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"]},
            {"verbs": ["get"], "nonResourceURLs": ["/healthz"]},
        ]});
        assert_eq!(
            msgs(&ROLES.validate_create(&role)),
            vec![
                "rules[1].verbs: Required value: verbs must contain at least one value",
                "rules[2].apiGroups: Required value: resource rules must supply at least one api group",
                "rules[2].resources: Required value: resource rules must supply at least one resource",
                "rules[3].nonResourceURLs: Invalid value: [\"/healthz\"]: namespaced rules cannot apply to non-resource URLs",
            ]
        );
        let cr = json!({"metadata": {"name": "system:controller:x"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]});
        assert!(CLUSTER_ROLES.validate_create(&cr).is_empty());

        let mut crb = json!({"metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "default"}, {"kind": "User", "name": "alice"}, {"kind": "Robot", "name": "x"}]});
        CLUSTER_ROLE_BINDINGS.default(&mut crb);
        assert_eq!(crb["roleRef"]["apiGroup"], RBAC_GROUP);
        assert_eq!(crb["subjects"][1]["apiGroup"], RBAC_GROUP);
        assert_eq!(
            msgs(&CLUSTER_ROLE_BINDINGS.validate_create(&crb)),
            vec![
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "subjects[0].namespace: Required value",
                "subjects[2].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
            ]
        );
        let mut changed = crb.clone();
        changed["roleRef"]["name"] = json!("other");
        assert!(msgs(&CLUSTER_ROLE_BINDINGS.validate_update(&changed, &crb))
            .iter()
            .any(|m| m.starts_with("roleRef: Invalid value: ")
                && m.ends_with(": cannot change roleRef")));
    }

    #[test]
    fn priority_class_rules() {
        let mut pc = json!({"metadata": {"name": "high"}, "value": 1000});
        PRIORITY_CLASSES.default(&mut pc);
        assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
        assert!(PRIORITY_CLASSES.validate_create(&pc).is_empty());
        let sys = json!({"metadata": {"name": "system-mine"}, "value": 5});
        assert_eq!(
            msgs(&PRIORITY_CLASSES.validate_create(&sys)),
            vec!["metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class"]
        );
        let mut raised = pc.clone();
        raised["value"] = json!(2000);
        assert_eq!(
            msgs(&PRIORITY_CLASSES.validate_update(&raised, &pc)),
            vec!["value: Forbidden: may not be changed in an update."]
        );
    }

    #[test]
    fn pdb_rules() {
        let pdb = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"minAvailable": 1, "maxUnavailable": "120%", "selector": {"matchLabels": {"a": "b"}}}});
        let got = msgs(&POD_DISRUPTION_BUDGETS.validate_create(&pdb));
        assert!(
            got[0].ends_with("minAvailable and maxUnavailable cannot be both set"),
            "{got:?}"
        );
        assert_eq!(
            got[1],
            "spec.maxUnavailable: Invalid value: \"120%\": must not be greater than 100%"
        );
        assert_eq!(
            super::super::apps::int_or_percent(&json!("50%")),
            Some((50, true))
        );
    }

    #[test]
    fn ingress_table() {
        let ok = json!({"metadata": {"name": "i", "namespace": "d"}, "spec": {"rules": [{"host": "*.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}});
        assert!(
            INGRESSES.validate_create(&ok).is_empty(),
            "{:?}",
            msgs(&INGRESSES.validate_create(&ok))
        );
        let bad = json!({"metadata": {"name": "i", "namespace": "d"}, "spec": {"rules": [{"host": "10.0.0.1", "http": {"paths": [
            {"path": "api", "backend": {"service": {"name": "web", "port": {}}}}]}}]}});
        assert_eq!(
            msgs(&INGRESSES.validate_create(&bad)),
            vec![
                "spec.rules[0].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address",
                "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
                "spec.rules[0].http.paths[0].backend.service.port: Required value: port name or number is required",
            ]
        );
        let empty = json!({"metadata": {"name": "i", "namespace": "d"}, "spec": {}});
        assert_eq!(
            msgs(&INGRESSES.validate_create(&empty)),
            vec!["spec: Invalid value: []: either `defaultBackend` or `rules` must be specified"]
        );
    }

    #[test]
    fn network_policy_defaults() {
        let cases = [
            (json!({"podSelector": {}}), json!(["Ingress"])),
            (
                json!({"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}),
                json!(["Ingress", "Egress"]),
            ),
            (
                json!({"podSelector": {}, "policyTypes": ["Egress"]}),
                json!(["Egress"]),
            ),
        ];
        for (spec, want) in cases {
            let mut np = json!({"metadata": {"name": "n", "namespace": "d"}, "spec": spec});
            NETWORK_POLICIES.default(&mut np);
            assert_eq!(np["spec"]["policyTypes"], want);
            assert!(NETWORK_POLICIES.validate_create(&np).is_empty());
            if let Some(p) = np["spec"]["egress"].get(0) {
                assert_eq!(p["ports"][0]["protocol"], "TCP");
            }
        }
        let bad = json!({"metadata": {"name": "n", "namespace": "d"}, "spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}], "ports": [{"port": 80, "endPort": 70}]}]}});
        assert_eq!(
            msgs(&NETWORK_POLICIES.validate_create(&bad)),
            vec![
                "spec.ingress[0].ports[0].endPort: Invalid value: 70: must be greater than or equal to `port`",
                "spec.ingress[0].from[0].ipBlock.cidr: Invalid value: \"10.0.0.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ]
        );
    }

    #[test]
    fn hpa_defaults_and_validation() {
        let mut h = json!({"metadata": {"name": "h", "namespace": "d"}, "spec": {"maxReplicas": 5, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "behavior": {}}});
        HPAS.default(&mut h);
        assert_eq!(h["spec"]["minReplicas"], 1);
        assert_eq!(
            h["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
        assert_eq!(
            h["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"],
            0
        );
        assert_eq!(
            h["spec"]["behavior"]["scaleDown"]["policies"][0]["type"],
            "Percent"
        );
        assert!(HPAS.validate_create(&h).is_empty());
        h["spec"]["minReplicas"] = json!(10);
        assert_eq!(
            msgs(&HPAS.validate_create(&h)),
            vec!["spec.maxReplicas: Invalid value: 5: must be greater than or equal to `minReplicas`"]
        );
    }

    #[test]
    fn endpoint_slices_leases_storage() {
        let mut es = json!({"metadata": {"name": "e", "namespace": "d"}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["::1"]}, {"addresses": []}], "ports": [{"port": 80}]});
        ENDPOINT_SLICES.default(&mut es);
        assert_eq!(
            es["ports"][0],
            json!({"port": 80, "protocol": "TCP", "name": ""})
        );
        assert_eq!(
            msgs(&ENDPOINT_SLICES.validate_create(&es)),
            vec![
                "endpoints[1].addresses[0]: Invalid value: \"::1\": must be a valid IPv4 address",
                "endpoints[2].addresses: Required value: must contain at least 1 address",
            ]
        );
        let mut old = es.clone();
        old["metadata"]["generation"] = json!(1);
        let mut new = old.clone();
        new["endpoints"] = json!([{"addresses": ["10.0.0.2"]}]);
        ENDPOINT_SLICES.prepare_for_update(&mut new, &old);
        assert_eq!(new["metadata"]["generation"], 2);

        let lease = json!({"metadata": {"name": "l", "namespace": "d"}, "spec": {"leaseDurationSeconds": 0}});
        assert_eq!(
            msgs(&LEASES.validate_create(&lease)),
            vec!["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]
        );

        let mut sc =
            json!({"metadata": {"name": "standard"}, "provisioner": "rancher.io/local-path"});
        STORAGE_CLASSES.default(&mut sc);
        assert_eq!(sc["reclaimPolicy"], "Delete");
        assert_eq!(sc["volumeBindingMode"], "Immediate");
        assert!(STORAGE_CLASSES.validate_create(&sc).is_empty());
        let mut changed = sc.clone();
        changed["parameters"] = json!({"a": "b"});
        assert_eq!(
            msgs(&STORAGE_CLASSES.validate_update(&changed, &sc)),
            vec!["parameters: Forbidden: updates to parameters are forbidden."]
        );
    }
}
