//! Core (v1) resources other than pods and controllers: services, namespaces, configmaps,
//! secrets, service accounts, nodes, events, endpoints, persistent volumes and claims
//! (upstream `pkg/apis/core/v1/defaults.go`, `pkg/apis/core/validation/validation.go`,
//! `pkg/registry/core/<resource>/strategy.go`).

use super::apps::default_pvc;
use super::pods::validate_port_num_or_name;
use crate::field::{ErrorList, FieldError};
use crate::json::{
    arr_at, child_obj, default_field, each_obj_in, get, int_at, is_truthy, obj_at, str_at,
};
use crate::strategy::Resource;
use crate::validation::names::{self, is_config_map_key};
use crate::validation::quantity;
use crate::validation::{validate_enum, validate_immutable, validate_labels, NameValidation};
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// Upstream's `MaxSecretSize` (also the ConfigMap limit).
pub(crate) const MAX_SECRET_SIZE: usize = 1024 * 1024;
const IP_ERR: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

pub(crate) static SERVICES: Resource = Resource {
    status: true,
    defaults: default_service,
    prepare_update: prepare_service_update,
    validate: validate_service,
    validate_update: validate_service_update,
    ..Resource::basic(true, NameValidation::Dns1035Label)
};

pub(crate) static NAMESPACES: Resource = Resource {
    status: true,
    validate_status: validate_namespace_status,
    defaults: default_namespace,
    prepare_create: prepare_namespace_create,
    prepare_update: prepare_namespace_update,
    validate: validate_namespace,
    ..Resource::basic(false, NameValidation::Dns1123Label)
};

pub(crate) static CONFIG_MAPS: Resource = Resource {
    validate: validate_config_map,
    validate_update: validate_config_map_update,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

pub(crate) static SECRETS: Resource = Resource {
    defaults: default_secret,
    validate: validate_secret,
    validate_update: validate_secret_update,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

pub(crate) static SERVICE_ACCOUNTS: Resource =
    Resource::basic(true, NameValidation::Dns1123Subdomain);

pub(crate) static NODES: Resource = Resource {
    status: true,
    // upstream nodeStrategy.PrepareForCreate keeps the status the kubelet registers with
    keep_status_on_create: true,
    defaults: default_node,
    validate: validate_node,
    validate_update: validate_node_update,
    ..Resource::basic(false, NameValidation::Dns1123Subdomain)
};

pub(crate) static EVENTS: Resource = Resource {
    validate: validate_event,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

pub(crate) static ENDPOINTS: Resource = Resource {
    defaults: default_endpoints,
    validate: validate_endpoints,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

pub(crate) static PVCS: Resource = Resource {
    status: true,
    defaults: default_pvc_object,
    prepare_create: prepare_pvc_create,
    validate: validate_pvc,
    validate_update: validate_pvc_update,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

pub(crate) static PVS: Resource = Resource {
    status: true,
    defaults: default_pv,
    prepare_create: prepare_pv_create,
    validate: validate_pv,
    ..Resource::basic(false, NameValidation::PathSegment)
};

pub(crate) static LIMIT_RANGES: Resource = Resource::basic(true, NameValidation::Dns1123Subdomain);

pub(crate) static RESOURCE_QUOTAS: Resource = Resource {
    status: true,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

// ---------------------------------------------------------------- services

fn externally_accessible(spec: &Map<String, Value>) -> bool {
    match spec.get("type").and_then(Value::as_str) {
        Some("LoadBalancer" | "NodePort") => true,
        Some("ClusterIP") => spec
            .get("externalIPs")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty()),
        _ => false,
    }
}

/// SetDefaults_Service, plus the ipFamilyPolicy the service REST layer fills in.
fn default_service(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    default_field(spec, "sessionAffinity", json!("None"));
    match spec.get("sessionAffinity").and_then(Value::as_str) {
        Some("None") => {
            spec.remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            let has_timeout = spec
                .get("sessionAffinityConfig")
                .and_then(|c| c.get("clientIP"))
                .and_then(|c| c.get("timeoutSeconds"))
                .is_some_and(|t| !t.is_null());
            if !has_timeout {
                spec.insert(
                    "sessionAffinityConfig".into(),
                    json!({"clientIP": {"timeoutSeconds": 10800}}),
                );
            }
        }
        _ => {}
    }
    default_field(spec, "type", json!("ClusterIP"));
    each_obj_in(spec, "ports", |p| {
        default_field(p, "protocol", json!("TCP"));
        let unset = match p.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if unset {
            if let Some(port) = p.get("port").cloned() {
                p.insert("targetPort".into(), port);
            }
        }
    });
    if externally_accessible(spec) {
        default_field(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        default_field(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        default_field(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if ty != "ExternalName" {
        default_field(spec, "ipFamilyPolicy", json!("SingleStack"));
    }
}

fn needs_node_port(spec: &Value) -> bool {
    match str_at(spec, &["type"]) {
        "NodePort" => true,
        "LoadBalancer" => {
            get(spec, &["allocateLoadBalancerNodePorts"]).and_then(Value::as_bool) != Some(false)
        }
        _ => false,
    }
}

/// Upstream's service REST `patchAllocatedValues`: an update that omits allocated values
/// (clusterIP(s), ipFamilies, nodePorts, healthCheckNodePort) keeps the stored ones, so
/// `kubectl replace` of the original manifest works.
fn prepare_service_update(new: &mut Value, old: &Value) {
    let empty = json!({});
    let old_spec = old.get("spec").unwrap_or(&empty).clone();
    let Some(spec) = child_obj(new, "spec") else {
        return;
    };
    let new_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if new_type != "ExternalName" && str_at(&old_spec, &["type"]) != "ExternalName" {
        for f in ["clusterIP", "clusterIPs", "ipFamilies"] {
            let unset = match spec.get(f) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                _ => false,
            };
            if unset {
                if let Some(v) = old_spec.get(f) {
                    spec.insert(f.into(), v.clone());
                }
            }
        }
    }
    let new_view = Value::Object(spec.clone());
    if needs_node_port(&old_spec) && needs_node_port(&new_view) {
        let used_in = |ports: &[Value]| -> HashSet<i64> {
            ports
                .iter()
                .filter_map(|p| int_at(p, &["nodePort"]))
                .filter(|n| *n != 0)
                .collect()
        };
        let used: HashSet<i64> = used_in(arr_at(&old_spec, &["ports"]))
            .intersection(&used_in(arr_at(&new_view, &["ports"])))
            .copied()
            .collect();
        let by_name: Vec<(String, i64)> = arr_at(&old_spec, &["ports"])
            .iter()
            .filter_map(|p| Some((str_at(p, &["name"]).to_string(), int_at(p, &["nodePort"])?)))
            .collect();
        each_obj_in(spec, "ports", |p| {
            if p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) == 0 {
                let name = p.get("name").and_then(Value::as_str).unwrap_or("");
                if let Some((_, np)) = by_name.iter().find(|(n, _)| n == name) {
                    if !used.contains(np) {
                        p.insert("nodePort".into(), json!(np));
                    }
                }
            }
        });
    }
    let local = |s: &Value| {
        str_at(s, &["type"]) == "LoadBalancer" && str_at(s, &["externalTrafficPolicy"]) == "Local"
    };
    if local(&old_spec)
        && local(&new_view)
        && int_at(&new_view, &["healthCheckNodePort"]).unwrap_or(0) == 0
    {
        if let Some(h) = old_spec.get("healthCheckNodePort") {
            spec.insert("healthCheckNodePort".into(), h.clone());
        }
    }
}

fn validate_service(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let empty = json!({});
    let spec = obj.get("spec").unwrap_or(&empty);
    let ty = str_at(spec, &["type"]);
    let headless = str_at(spec, &["clusterIP"]) == "None";
    let ports = arr_at(spec, &["ports"]);
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    match ty {
        "ExternalName" => {
            if !str_at(spec, &["clusterIP"]).is_empty() || !arr_at(spec, &["clusterIPs"]).is_empty()
            {
                errs.push(FieldError::forbidden(
                    "spec.clusterIPs",
                    "may not be set for ExternalName services",
                ));
            }
            let cname = str_at(spec, &["externalName"]);
            if cname.is_empty() {
                errs.push(FieldError::required("spec.externalName", ""));
            } else {
                let trimmed = cname.strip_suffix('.').unwrap_or(cname);
                for m in names::is_dns1123_subdomain(trimmed) {
                    errs.push(FieldError::invalid("spec.externalName", cname, m));
                }
            }
        }
        "ClusterIP" | "NodePort" | "LoadBalancer" => {}
        _ => errs.extend(validate_enum(
            get(spec, &["type"]),
            "spec.type",
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
            true,
        )),
    }
    let mut port_names = HashSet::new();
    let mut port_keys = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = format!("spec.ports[{i}]");
        let name = str_at(p, &["name"]);
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(format!("{pp}.name"), ""));
        } else if !name.is_empty() {
            for m in names::is_dns1123_label(name) {
                errs.push(FieldError::invalid(format!("{pp}.name"), name, m));
            }
            if !port_names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(format!("{pp}.name"), name));
            }
        }
        let port = int_at(p, &["port"]).unwrap_or(0);
        for m in names::is_valid_port_num(port) {
            errs.push(FieldError::invalid(format!("{pp}.port"), port, m));
        }
        errs.extend(validate_enum(
            get(p, &["protocol"]),
            &format!("{pp}.protocol"),
            &["SCTP", "TCP", "UDP"],
            true,
        ));
        if let Some(tp) = get(p, &["targetPort"]) {
            errs.extend(validate_port_num_or_name(tp, &format!("{pp}.targetPort")));
        }
        if let Some(np) = int_at(p, &["nodePort"]).filter(|n| *n != 0) {
            if ty == "ClusterIP" {
                errs.push(FieldError::forbidden(
                    format!("{pp}.nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            } else {
                for m in names::is_valid_port_num(np) {
                    errs.push(FieldError::invalid(format!("{pp}.nodePort"), np, m));
                }
            }
        }
        let key = (port, str_at(p, &["protocol"]).to_string());
        if !port_keys.insert(key.clone()) {
            errs.push(FieldError::duplicate(
                pp,
                json!({"port": key.0, "protocol": key.1}),
            ));
        }
        let ap = str_at(p, &["appProtocol"]);
        if !ap.is_empty() {
            for m in names::is_qualified_name(ap) {
                errs.push(FieldError::invalid(
                    format!("spec.ports[{i}].appProtocol"),
                    ap,
                    m,
                ));
            }
        }
    }
    if ty != "ExternalName" {
        errs.extend(validate_labels(get(spec, &["selector"]), "spec.selector"));
    }
    errs.extend(validate_enum(
        get(spec, &["sessionAffinity"]),
        "spec.sessionAffinity",
        &["ClientIP", "None"],
        true,
    ));
    match str_at(spec, &["sessionAffinity"]) {
        "ClientIP" => {
            let t = int_at(
                spec,
                &["sessionAffinityConfig", "clientIP", "timeoutSeconds"],
            );
            if let Some(t) = t.filter(|t| !(1..=86400).contains(t)) {
                errs.push(FieldError::invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    t,
                    "must be greater than 0 and less than 86400",
                ));
            }
        }
        "None" => {
            if let Some(c) = get(spec, &["sessionAffinityConfig"]) {
                errs.push(FieldError::invalid(
                    "spec.sessionAffinityConfig",
                    c.clone(),
                    "must not be set when session affinity is None",
                ));
            }
        }
        _ => {}
    }
    for (i, ip) in arr_at(spec, &["clusterIPs"]).iter().enumerate() {
        let s = ip.as_str().unwrap_or("");
        if !(names::is_ip(s) || (i == 0 && s == "None")) {
            errs.push(FieldError::invalid(
                format!("spec.clusterIPs[{i}]"),
                s,
                IP_ERR,
            ));
        }
    }
    let cip = str_at(spec, &["clusterIP"]);
    if !cip.is_empty() && cip != "None" && !names::is_ip(cip) {
        errs.push(FieldError::invalid("spec.clusterIP", cip, IP_ERR));
    }
    if let Some(first) = arr_at(spec, &["clusterIPs"]).first() {
        if !cip.is_empty() && first.as_str() != Some(cip) {
            errs.push(FieldError::invalid(
                "spec.clusterIPs",
                get(spec, &["clusterIPs"]).cloned().unwrap_or(Value::Null),
                "first value must match `clusterIP`",
            ));
        }
    }
    for (i, ip) in arr_at(spec, &["externalIPs"]).iter().enumerate() {
        let s = ip.as_str().unwrap_or("");
        if !names::is_ip(s) {
            errs.push(FieldError::invalid(
                format!("spec.externalIPs[{i}]"),
                s,
                IP_ERR,
            ));
        }
    }
    let spec_map = spec.as_object().cloned().unwrap_or_default();
    match get(spec, &["externalTrafficPolicy"]) {
        Some(p) if !externally_accessible(&spec_map) => errs.push(FieldError::invalid(
            "spec.externalTrafficPolicy",
            p.clone(),
            "may only be set for externally-accessible services",
        )),
        Some(p) => errs.extend(validate_enum(
            Some(p),
            "spec.externalTrafficPolicy",
            &["Cluster", "Local"],
            true,
        )),
        None if externally_accessible(&spec_map) => {
            errs.push(FieldError::required("spec.externalTrafficPolicy", ""))
        }
        None => {}
    }
    if let Some(p) = get(spec, &["internalTrafficPolicy"]) {
        errs.extend(validate_enum(
            Some(p),
            "spec.internalTrafficPolicy",
            &["Cluster", "Local"],
            true,
        ));
    }
    if let Some(p) = get(spec, &["ipFamilyPolicy"]) {
        errs.extend(validate_enum(
            Some(p),
            "spec.ipFamilyPolicy",
            &["PreferDualStack", "RequireDualStack", "SingleStack"],
            true,
        ));
    }
    for (i, f) in arr_at(spec, &["ipFamilies"]).iter().enumerate() {
        errs.extend(validate_enum(
            Some(f),
            &format!("spec.ipFamilies[{i}]"),
            &["IPv4", "IPv6"],
            true,
        ));
    }
    errs
}

fn validate_service_update(new: &Value, old: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let (nt, ot) = (
        str_at(new, &["spec", "type"]),
        str_at(old, &["spec", "type"]),
    );
    if nt == "ExternalName" || ot == "ExternalName" {
        return errs;
    }
    let old_ips = arr_at(old, &["spec", "clusterIPs"]);
    let new_ips = arr_at(new, &["spec", "clusterIPs"]);
    let new_list = get(new, &["spec", "clusterIPs"])
        .cloned()
        .unwrap_or(json!([]));
    match (old_ips.first(), new_ips.first()) {
        (Some(o), Some(n)) if o != n => {
            errs.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                new_list,
                "may not change once set",
            ));
        }
        (Some(_), None) => {
            errs.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                new_list,
                "primary clusterIP can not be unset",
            ));
        }
        _ => {}
    }
    errs
}

// ---------------------------------------------------------------- namespaces

/// SetDefaults_Namespace (the immutable `kubernetes.io/metadata.name` label) and
/// SetDefaults_NamespaceStatus (phase Active).
fn default_namespace(obj: &mut Value) {
    let name = str_at(obj, &["metadata", "name"]).to_string();
    if !name.is_empty() {
        if let Some(meta) = child_obj(obj, "metadata") {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
        }
    }
    if let Some(st) = crate::json::existing_obj(obj, "status") {
        default_field(st, "phase", json!("Active"));
    }
}

fn prepare_namespace_create(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("status".into(), json!({"phase": "Active"}));
    }
    if let Some(spec) = child_obj(obj, "spec") {
        let fins = spec.entry("finalizers").or_insert_with(|| json!([]));
        if let Some(f) = fins.as_array_mut() {
            if !f.iter().any(|x| x == "kubernetes") {
                f.push(json!("kubernetes"));
            }
        }
    }
}

/// Finalizers change only through the /finalize subresource.
fn prepare_namespace_update(new: &mut Value, old: &Value) {
    let fins = get(old, &["spec", "finalizers"]).cloned();
    if let Some(spec) = child_obj(new, "spec") {
        match fins {
            Some(f) => spec.insert("finalizers".into(), f),
            None => spec.remove("finalizers"),
        };
    }
}

/// Upstream `ValidateNamespaceStatusUpdate`: the phase follows deletionTimestamp.
fn validate_namespace_status(new: &Value, _old: &Value) -> ErrorList {
    let phase = str_at(new, &["status", "phase"]);
    let deleting = get(new, &["metadata", "deletionTimestamp"]).is_some();
    match (deleting, phase) {
        (false, p) if p != "Active" => vec![FieldError::invalid(
            "status.Phase",
            p,
            "may only be 'Active' if `deletionTimestamp` is empty",
        )],
        (true, p) if p != "Terminating" => vec![FieldError::invalid(
            "status.Phase",
            p,
            "may only be 'Terminating' if `deletionTimestamp` is not empty",
        )],
        _ => Vec::new(),
    }
}

fn validate_namespace(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    for f in arr_at(obj, &["spec", "finalizers"]) {
        let s = f.as_str().unwrap_or("");
        for m in names::is_qualified_name(s) {
            errs.push(FieldError::invalid("spec.finalizers", s, m));
        }
        if !s.contains('/') && !matches!(s, "kubernetes" | "orphan" | "foregroundDeletion") {
            errs.push(FieldError::invalid(
                "spec.finalizers",
                s,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    errs
}

// ---------------------------------------------------------------- configmaps, secrets

fn validate_config_map(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let mut total = 0usize;
    let binary = obj_at(obj, &["binaryData"]);
    if let Some(data) = obj_at(obj, &["data"]) {
        for (k, v) in data {
            for m in is_config_map_key(k) {
                errs.push(FieldError::invalid(format!("data[{k}]"), k.as_str(), m));
            }
            if binary.is_some_and(|b| b.contains_key(k)) {
                errs.push(FieldError::invalid(
                    format!("data[{k}]"),
                    k.as_str(),
                    "duplicate of key present in binaryData",
                ));
            }
            total += v.as_str().map_or(0, str::len);
        }
    }
    if let Some(bin) = binary {
        for (k, v) in bin {
            for m in is_config_map_key(k) {
                errs.push(FieldError::invalid(
                    format!("binaryData[{k}]"),
                    k.as_str(),
                    m,
                ));
            }
            total += decoded_len(v);
        }
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("", MAX_SECRET_SIZE));
    }
    errs
}

fn decoded_len(v: &Value) -> usize {
    v.as_str()
        .map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_or(s.len(), |d| d.len())
        })
        .unwrap_or(0)
}

/// ConfigMaps and Secrets with `immutable: true` reject data changes and un-setting it.
fn validate_immutable_data(new: &Value, old: &Value, fields: &[&str]) -> ErrorList {
    let mut errs = Vec::new();
    if !is_truthy(get(old, &["immutable"])) {
        return errs;
    }
    if !is_truthy(get(new, &["immutable"])) {
        errs.push(FieldError::forbidden(
            "immutable",
            "field is immutable when `immutable` is set",
        ));
    }
    for f in fields {
        if get(new, &[f]) != get(old, &[f]) {
            errs.push(FieldError::forbidden(
                *f,
                "field is immutable when `immutable` is set",
            ));
        }
    }
    errs
}

fn validate_config_map_update(new: &Value, old: &Value) -> ErrorList {
    validate_immutable_data(new, old, &["data", "binaryData"])
}

/// SetDefaults_Secret (type Opaque) plus the v1 conversion that merges `stringData` into
/// `data` (stringData wins) and drops it, which upstream does on every decode.
fn default_secret(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    default_field(m, "type", json!("Opaque"));
    if let Some(Value::Object(sd)) = m.remove("stringData") {
        let data = m.entry("data").or_insert_with(|| json!({}));
        if !data.is_object() {
            *data = json!({});
        }
        if let Some(d) = data.as_object_mut() {
            for (k, v) in sd {
                let enc = base64::engine::general_purpose::STANDARD
                    .encode(v.as_str().unwrap_or("").as_bytes());
                d.insert(k, json!(enc));
            }
        }
    }
}

fn validate_secret(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let data = obj_at(obj, &["data"]);
    let mut total = 0usize;
    if let Some(d) = data {
        for (k, v) in d {
            for m in is_config_map_key(k) {
                errs.push(FieldError::invalid(format!("data[{k}]"), k.as_str(), m));
            }
            total += decoded_len(v);
        }
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("data", MAX_SECRET_SIZE));
    }
    let has = |k: &str| {
        data.and_then(|d| d.get(k))
            .is_some_and(|v| decoded_len(v) > 0)
    };
    let require = |k: &str, errs: &mut ErrorList| {
        if data.and_then(|d| d.get(k)).is_none() {
            errs.push(FieldError::required(format!("data[{k}]"), ""));
        }
    };
    let json_key = |k: &str, errs: &mut ErrorList| {
        if let Some(v) = data.and_then(|d| d.get(k)).and_then(Value::as_str) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v)
                .unwrap_or_default();
            if let Err(e) = serde_json::from_slice::<Value>(&bytes) {
                errs.push(FieldError::invalid(
                    format!("data[{k}]"),
                    "<secret contents redacted>",
                    e.to_string(),
                ));
            }
        }
    };
    match str_at(obj, &["type"]) {
        "kubernetes.io/service-account-token"
            if str_at(
                obj,
                &[
                    "metadata",
                    "annotations",
                    "kubernetes.io/service-account.name",
                ],
            )
            .is_empty() =>
        {
            errs.push(FieldError::required(
                "metadata.annotations[kubernetes.io/service-account.name]",
                "",
            ));
        }
        "kubernetes.io/dockercfg" => {
            require(".dockercfg", &mut errs);
            json_key(".dockercfg", &mut errs);
        }
        "kubernetes.io/dockerconfigjson" => {
            require(".dockerconfigjson", &mut errs);
            json_key(".dockerconfigjson", &mut errs);
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(FieldError::required("data[username]", ""));
            errs.push(FieldError::required("data[password]", ""));
        }
        "kubernetes.io/ssh-auth" if !has("ssh-privatekey") => {
            errs.push(FieldError::required("data[ssh-privatekey]", ""));
        }
        "kubernetes.io/tls" => {
            require("tls.key", &mut errs);
            require("tls.crt", &mut errs);
        }
        _ => {}
    }
    errs
}

fn validate_secret_update(new: &Value, old: &Value) -> ErrorList {
    let mut errs = validate_immutable(get(new, &["type"]), get(old, &["type"]), "type");
    errs.extend(validate_immutable_data(new, old, &["data"]));
    errs
}

// ---------------------------------------------------------------- nodes

/// SetDefaults_NodeStatus: allocatable defaults to capacity.
fn default_node(obj: &mut Value) {
    if let Some(st) = crate::json::existing_obj(obj, "status") {
        if crate::json::is_unset(st, "allocatable") {
            if let Some(c) = st.get("capacity").cloned() {
                st.insert("allocatable".into(), c);
            }
        }
    }
}

fn validate_taints(taints: &[Value], path: &str) -> ErrorList {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    for (i, t) in taints.iter().enumerate() {
        let tp = format!("{path}[{i}]");
        let key = str_at(t, &["key"]);
        for m in names::is_qualified_name(key) {
            errs.push(FieldError::invalid(format!("{tp}.key"), key, m));
        }
        let value = str_at(t, &["value"]);
        for m in names::is_valid_label_value(value) {
            errs.push(FieldError::invalid(format!("{tp}.value"), value, m));
        }
        let effect = str_at(t, &["effect"]);
        errs.extend(validate_enum(
            get(t, &["effect"]),
            &format!("{tp}.effect"),
            &["NoExecute", "NoSchedule", "PreferNoSchedule"],
            true,
        ));
        if !seen.insert((key.to_string(), effect.to_string())) {
            errs.push(FieldError::duplicate(&tp, t.clone()));
        }
    }
    errs
}

fn validate_node(obj: &Value) -> ErrorList {
    let mut errs = validate_taints(arr_at(obj, &["spec", "taints"]), "spec.taints");
    for (i, c) in arr_at(obj, &["spec", "podCIDRs"]).iter().enumerate() {
        let s = c.as_str().unwrap_or("");
        let ok = s
            .split_once('/')
            .is_some_and(|(ip, len)| names::is_ip(ip) && len.parse::<u8>().is_ok());
        if !ok {
            errs.push(FieldError::invalid(
                format!("spec.podCIDRs[{i}]"),
                s,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    errs
}

fn validate_node_update(new: &Value, old: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let old_cidrs = arr_at(old, &["spec", "podCIDRs"]);
    if !old_cidrs.is_empty() && arr_at(new, &["spec", "podCIDRs"]) != old_cidrs {
        errs.push(FieldError::forbidden(
            "spec.podCIDRs",
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    let old_pid = str_at(old, &["spec", "providerID"]);
    if !old_pid.is_empty() && str_at(new, &["spec", "providerID"]) != old_pid {
        errs.push(FieldError::forbidden(
            "spec.providerID",
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
    errs
}

// ---------------------------------------------------------------- events, endpoints

fn validate_event(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let ns = str_at(obj, &["metadata", "namespace"]);
    let ins = str_at(obj, &["involvedObject", "namespace"]);
    // upstream: the involved object's namespace must match unless it is cluster-scoped
    if !ins.is_empty() && ins != ns {
        errs.push(FieldError::invalid(
            "involvedObject.namespace",
            ins,
            "does not match event.namespace",
        ));
    }
    if let Some(t) = get(obj, &["type"]) {
        if !str_at(obj, &["reportingComponent"]).is_empty() {
            errs.extend(validate_enum(Some(t), "type", &["Normal", "Warning"], true));
        }
    }
    errs
}

fn default_endpoints(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    each_obj_in(m, "subsets", |s| {
        each_obj_in(s, "ports", |p| default_field(p, "protocol", json!("TCP")))
    });
}

fn validate_endpoints(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    for (i, s) in arr_at(obj, &["subsets"]).iter().enumerate() {
        for list in ["addresses", "notReadyAddresses"] {
            for (j, a) in arr_at(s, &[list]).iter().enumerate() {
                let ip = str_at(a, &["ip"]);
                if !names::is_ip(ip) {
                    errs.push(FieldError::invalid(
                        format!("subsets[{i}].{list}[{j}].ip"),
                        ip,
                        IP_ERR,
                    ));
                }
            }
        }
        let ports = arr_at(s, &["ports"]);
        for (j, p) in ports.iter().enumerate() {
            let pp = format!("subsets[{i}].ports[{j}]");
            let name = str_at(p, &["name"]);
            if ports.len() > 1 && name.is_empty() {
                errs.push(FieldError::required(format!("{pp}.name"), ""));
            }
            let port = int_at(p, &["port"]).unwrap_or(0);
            for m in names::is_valid_port_num(port) {
                errs.push(FieldError::invalid(format!("{pp}.port"), port, m));
            }
            errs.extend(validate_enum(
                get(p, &["protocol"]),
                &format!("{pp}.protocol"),
                &["SCTP", "TCP", "UDP"],
                true,
            ));
        }
    }
    errs
}

// ---------------------------------------------------------------- volumes

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

fn default_pvc_object(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        default_pvc(m);
    }
}

fn prepare_pvc_create(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("status".into(), json!({"phase": "Pending"}));
    }
}

fn validate_access_modes(spec: &Value, path: &str) -> ErrorList {
    let modes = arr_at(spec, &["accessModes"]);
    let mut errs = Vec::new();
    if modes.is_empty() {
        errs.push(FieldError::required(
            path,
            "at least 1 access mode is required",
        ));
    }
    for m in modes {
        if !m.as_str().is_some_and(|s| ACCESS_MODES.contains(&s)) {
            errs.push(FieldError::not_supported(path, m.clone(), ACCESS_MODES));
        }
    }
    errs
}

fn validate_pvc(obj: &Value) -> ErrorList {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let mut errs = validate_access_modes(spec, "spec.accessModes");
    match get(spec, &["resources", "requests", "storage"]) {
        None => errs.push(FieldError::required("spec.resources[storage]", "")),
        Some(q) => match quantity::parse_value(q) {
            Some(v) if v.0 > 0 => {}
            _ => errs.push(FieldError::invalid(
                "spec.resources[storage]",
                q.clone(),
                "must be greater than zero",
            )),
        },
    }
    if let Some(vm) = get(spec, &["volumeMode"]) {
        errs.extend(validate_enum(
            Some(vm),
            "spec.volumeMode",
            &["Block", "Filesystem"],
            false,
        ));
    }
    errs
}

fn validate_pvc_update(new: &Value, old: &Value) -> ErrorList {
    let strip = |v: &Value| -> Value {
        let mut s = v.get("spec").cloned().unwrap_or(Value::Null);
        if let Some(m) = s.as_object_mut() {
            if let Some(Value::Object(r)) = m.get_mut("resources") {
                r.remove("requests");
            }
            m.remove("volumeAttributesClassName");
            // binding fills volumeName in once
            if old.get("spec").and_then(|s| s.get("volumeName")).is_none() {
                m.remove("volumeName");
            }
        }
        s
    };
    if strip(new) != strip(old) {
        return vec![FieldError::forbidden(
            "spec",
            "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
        )];
    }
    Vec::new()
}

fn default_pv(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    default_field(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
    default_field(spec, "volumeMode", json!("Filesystem"));
}

fn prepare_pv_create(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("status".into(), json!({"phase": "Pending"}));
    }
}

fn validate_pv(obj: &Value) -> ErrorList {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let mut errs = validate_access_modes(spec, "spec.accessModes");
    if get(spec, &["capacity", "storage"]).is_none() {
        errs.push(FieldError::required("spec.capacity", ""));
    }
    errs.extend(validate_enum(
        get(spec, &["persistentVolumeReclaimPolicy"]),
        "spec.persistentVolumeReclaimPolicy",
        &["Delete", "Recycle", "Retain"],
        false,
    ));
    let sources = [
        "hostPath",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "nfs",
        "iscsi",
        "glusterfs",
        "rbd",
        "flexVolume",
        "cinder",
        "cephfs",
        "flocker",
        "fc",
        "azureFile",
        "vsphereVolume",
        "quobyte",
        "azureDisk",
        "photonPersistentDisk",
        "portworxVolume",
        "scaleIO",
        "storageos",
        "csi",
        "local",
    ];
    let set: Vec<&str> = sources
        .iter()
        .copied()
        .filter(|s| get(spec, &[s]).is_some())
        .collect();
    match set.as_slice() {
        [] => errs.push(FieldError::required("spec", "must specify a volume type")),
        [_] => {}
        [_, second, ..] => errs.push(FieldError::forbidden(
            format!("spec.{second}"),
            "may not specify more than 1 volume type",
        )),
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;

    fn msgs(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    fn svc(spec: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn service_defaults_table() {
        let cases = [
            (
                json!({"ports": [{"port": 80}]}),
                json!({"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}], "sessionAffinity": "None", "type": "ClusterIP", "internalTrafficPolicy": "Cluster", "ipFamilyPolicy": "SingleStack"}),
            ),
            (
                json!({"type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}]}),
                json!({"type": "NodePort", "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}], "sessionAffinity": "None", "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster", "ipFamilyPolicy": "SingleStack"}),
            ),
            (
                json!({"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 443}]}),
                json!({"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 443, "protocol": "TCP", "targetPort": 443}], "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}, "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster", "allocateLoadBalancerNodePorts": true, "ipFamilyPolicy": "SingleStack"}),
            ),
            (
                json!({"type": "ExternalName", "externalName": "example.com"}),
                json!({"type": "ExternalName", "externalName": "example.com", "sessionAffinity": "None"}),
            ),
        ];
        for (spec, want) in cases {
            let mut s = svc(spec);
            SERVICES.default(&mut s);
            assert_eq!(s["spec"], want);
            assert!(
                SERVICES.validate_create(&s).is_empty(),
                "{:?}",
                msgs(&SERVICES.validate_create(&s))
            );
        }
    }

    #[test]
    fn service_validation_table() {
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (json!({}), vec!["spec.ports: Required value"]),
            (json!({"clusterIP": "None"}), vec![]),
            (
                json!({"ports": [{"port": 80}, {"port": 81}]}),
                vec!["spec.ports[0].name: Required value", "spec.ports[1].name: Required value"],
            ),
            (
                json!({"ports": [{"port": 0}]}),
                vec![
                    "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                    "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
                ],
            ),
            (
                json!({"ports": [{"port": 80, "nodePort": 30000}]}),
                vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
            ),
            (
                json!({"type": "Weird", "ports": [{"port": 80}]}),
                vec!["spec.type: Unsupported value: \"Weird\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""],
            ),
            (
                json!({"type": "ExternalName"}),
                vec!["spec.externalName: Required value"],
            ),
            (
                json!({"ports": [{"port": 80}], "selector": {"app": "-x"}}),
                vec!["spec.selector: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"],
            ),
        ];
        for (spec, want) in cases {
            let mut s = svc(spec);
            SERVICES.default(&mut s);
            assert_eq!(msgs(&SERVICES.validate_create(&s)), want, "{}", s["spec"]);
        }
        let bad = json!({"metadata": {"name": "1web", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}});
        assert!(msgs(&SERVICES.validate_create(&bad))[0]
            .starts_with("metadata.name: Invalid value: \"1web\": a DNS-1035 label"));
    }

    #[test]
    fn service_cluster_ip_update() {
        let old = svc(
            json!({"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": [{"port": 80}]}),
        );
        let mut new = old.clone();
        new["spec"]["clusterIP"] = json!("None");
        new["spec"]["clusterIPs"] = json!(["None"]);
        assert_eq!(
            msgs(&validate_service_update(&new, &old)),
            vec!["spec.clusterIPs[0]: Invalid value: [\"None\"]: may not change once set"]
        );
    }

    #[test]
    fn service_replace_keeps_allocated_values() {
        let mut old = svc(
            json!({"type": "NodePort", "clusterIP": "10.0.0.9", "clusterIPs": ["10.0.0.9"], "ipFamilies": ["IPv4"],
            "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}),
        );
        SERVICES.default(&mut old);
        let mut new = svc(json!({"type": "NodePort", "ports": [{"name": "http", "port": 80}]}));
        SERVICES.prepare_for_update(&mut new, &old);
        assert_eq!(new["spec"]["clusterIP"], "10.0.0.9");
        assert_eq!(new["spec"]["clusterIPs"], json!(["10.0.0.9"]));
        assert_eq!(new["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
        assert!(
            SERVICES.validate_update(&new, &old).is_empty(),
            "{:?}",
            msgs(&SERVICES.validate_update(&new, &old))
        );
    }

    #[test]
    fn namespace_lifecycle() {
        let mut ns = json!({"metadata": {"name": "team-a"}});
        NAMESPACES.default(&mut ns);
        NAMESPACES.prepare_for_create(&mut ns);
        assert_eq!(
            ns["metadata"]["labels"],
            json!({"kubernetes.io/metadata.name": "team-a"})
        );
        assert_eq!(ns["status"], json!({"phase": "Active"}));
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert!(NAMESPACES.validate_create(&ns).is_empty());

        let mut upd = ns.clone();
        upd["spec"]["finalizers"] = json!([]);
        upd["status"] = json!({"phase": "Terminating"});
        NAMESPACES.prepare_for_update(&mut upd, &ns);
        assert_eq!(upd["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(upd["status"]["phase"], "Active");

        let bad = json!({"metadata": {"name": "a.b"}, "spec": {"finalizers": ["custom"]}});
        let got = msgs(&NAMESPACES.validate_create(&bad));
        assert!(got[0] == "metadata.name: Invalid value: \"a.b\": must not contain dots");
        assert_eq!(got[1], "spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified");
    }

    #[test]
    fn config_map_and_secret_rules() {
        let cm = json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"a b": "x", "ok": "y"}, "binaryData": {"ok": "eQ=="}});
        assert_eq!(
            msgs(&CONFIG_MAPS.validate_create(&cm)),
            vec![
                "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                "data[ok]: Invalid value: \"ok\": duplicate of key present in binaryData",
            ]
        );
        let big = json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"k": "x".repeat(MAX_SECRET_SIZE + 1)}});
        assert_eq!(
            msgs(&CONFIG_MAPS.validate_create(&big)),
            vec![": Too long: may not be more than 1048576 bytes"]
        );

        let old = json!({"metadata": {"name": "c", "namespace": "d"}, "immutable": true, "data": {"k": "v"}});
        let mut new = old.clone();
        new["data"]["k"] = json!("w");
        assert_eq!(
            msgs(&CONFIG_MAPS.validate_update(&new, &old)),
            vec!["data: Forbidden: field is immutable when `immutable` is set"]
        );

        let mut s =
            json!({"metadata": {"name": "s", "namespace": "d"}, "stringData": {"user": "admin"}});
        SECRETS.default(&mut s);
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["data"]["user"], "YWRtaW4=");
        assert!(s.get("stringData").is_none());
        let mut tls = json!({"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "YQ=="}});
        SECRETS.default(&mut tls);
        assert_eq!(
            msgs(&SECRETS.validate_create(&tls)),
            vec!["data[tls.key]: Required value"]
        );
        let mut retyped = s.clone();
        retyped["type"] = json!("kubernetes.io/basic-auth");
        assert_eq!(
            msgs(&SECRETS.validate_update(&retyped, &s)),
            vec![
                "data[username]: Required value",
                "data[password]: Required value",
                "type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable"
            ]
        );
    }

    #[test]
    fn pvc_and_pv() {
        let mut pvc = json!({"metadata": {"name": "data", "namespace": "d"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        PVCS.default(&mut pvc);
        PVCS.prepare_for_create(&mut pvc);
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pvc["status"]["phase"], "Pending");
        assert!(PVCS.validate_create(&pvc).is_empty());
        let mut grown = pvc.clone();
        grown["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        assert!(PVCS.validate_update(&grown, &pvc).is_empty());
        let mut remoded = pvc.clone();
        remoded["spec"]["accessModes"] = json!(["ReadWriteMany"]);
        assert_eq!(msgs(&PVCS.validate_update(&remoded, &pvc)).len(), 1);
        let empty = json!({"metadata": {"name": "data", "namespace": "d"}, "spec": {}});
        assert_eq!(
            msgs(&PVCS.validate_create(&empty)),
            vec![
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value"
            ]
        );
        let mut pv = json!({"metadata": {"name": "pv1"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"}}});
        PVS.default(&mut pv);
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert!(
            PVS.validate_create(&pv).is_empty(),
            "{:?}",
            msgs(&PVS.validate_create(&pv))
        );
    }

    #[test]
    fn node_rules() {
        let mut n = json!({"metadata": {"name": "n1"}, "spec": {"podCIDRs": ["10.0.0.0/24"], "taints": [{"key": "k", "effect": "Bogus"}]}, "status": {"capacity": {"cpu": "2"}}});
        NODES.default(&mut n);
        assert_eq!(n["status"]["allocatable"], json!({"cpu": "2"}));
        assert_eq!(
            msgs(&NODES.validate_create(&n)),
            vec!["spec.taints[0].effect: Unsupported value: \"Bogus\": supported values: \"NoExecute\", \"NoSchedule\", \"PreferNoSchedule\""]
        );
        let mut moved = n.clone();
        moved["spec"]["taints"] = json!([]);
        moved["spec"]["podCIDRs"] = json!(["10.0.1.0/24"]);
        assert_eq!(
            msgs(&NODES.validate_update(&moved, &n)),
            vec!["spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid"]
        );
    }
}
