//! Pods and pod templates: upstream `pkg/apis/core/v1/defaults.go` (SetDefaults_Pod,
//! SetDefaults_PodSpec, SetDefaults_Container, probes, volumes), `pkg/apis/core/validation`
//! (ValidatePodSpec, ValidatePodUpdate) and `pkg/registry/core/pod/strategy.go`.

use crate::field::{ErrorList, FieldError};
use crate::json::{arr_at, child_obj, default_field, each_obj_in, get, int_at, obj_at, str_at};
use crate::strategy::{Generation, Resource};
use crate::validation::meta::validate_annotations;
use crate::validation::names::{self, inclusive_range_error};
use crate::validation::quantity::{self, QUANTITY_FORMAT_ERR};
use crate::validation::{
    validate_dns_label_field, validate_enum, validate_labels, validate_nonnegative,
    validate_subdomain_opt, NameValidation,
};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};

pub(crate) static PODS: Resource = Resource {
    status: true,
    generation: Generation::Spec,
    status_keeps_owner_refs: true,
    defaults: default_pod,
    prepare_create: prepare_pod_create,
    prepare_update: prepare_pod_update,
    validate: validate_pod,
    validate_update: validate_pod_update,
    validate_status: validate_pod_status_update,
    prepare_status: prepare_pod_status_update,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

pub(crate) static POD_TEMPLATES: Resource = Resource {
    defaults: default_pod_template_object,
    validate: validate_pod_template_object,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

const RESTART_POLICIES: &[&str] = &["Always", "Never", "OnFailure"];
const DNS_POLICIES: &[&str] = &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const TERMINATION_MESSAGE_POLICIES: &[&str] = &["FallbackToLogsOnError", "File"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const TOLERATION_EFFECTS: &[&str] = &["NoExecute", "NoSchedule", "PreferNoSchedule"];
const TOLERATION_OPERATORS: &[&str] = &["Equal", "Exists"];
/// Every volume source field of `v1.VolumeSource`.
const VOLUME_SOURCES: &[&str] = &[
    "emptyDir",
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];
const CONTAINER_LISTS: &[&str] = &["initContainers", "containers", "ephemeralContainers"];

// ---------------------------------------------------------------- defaulting

/// The pull policy upstream's SetDefaults_Container picks: `Always` when the tag is
/// `latest` (or the image has neither tag nor digest, which means `latest`), else
/// `IfNotPresent`.
pub(crate) fn default_pull_policy(image: &str) -> &'static str {
    let (name, has_digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = match last.rsplit_once(':') {
        Some((_, t)) => t,
        None if has_digest => "",
        None => "latest",
    };
    if tag == "latest" {
        "Always"
    } else {
        "IfNotPresent"
    }
}

fn default_http_get(h: &mut Map<String, Value>) {
    default_field(h, "path", json!("/"));
    default_field(h, "scheme", json!("HTTP"));
}

fn default_probe(p: &mut Map<String, Value>) {
    default_field(p, "timeoutSeconds", json!(1));
    default_field(p, "periodSeconds", json!(10));
    default_field(p, "successThreshold", json!(1));
    default_field(p, "failureThreshold", json!(3));
    if let Some(Value::Object(h)) = p.get_mut("httpGet") {
        default_http_get(h);
    }
}

fn default_container(c: &mut Map<String, Value>) {
    if crate::json::is_unset(c, "imagePullPolicy") {
        let policy = default_pull_policy(c.get("image").and_then(Value::as_str).unwrap_or(""));
        c.insert("imagePullPolicy".into(), json!(policy));
    }
    default_field(c, "terminationMessagePath", json!("/dev/termination-log"));
    default_field(c, "terminationMessagePolicy", json!("File"));
    each_obj_in(c, "ports", |p| default_field(p, "protocol", json!("TCP")));
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(Value::Object(p)) = c.get_mut(probe) {
            default_probe(p);
        }
    }
    if let Some(Value::Object(lc)) = c.get_mut("lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(Value::Object(h)) = lc.get_mut(hook) {
                if let Some(Value::Object(g)) = h.get_mut("httpGet") {
                    default_http_get(g);
                }
            }
        }
    }
    each_obj_in(c, "env", |e| {
        if let Some(Value::Object(vf)) = e.get_mut("valueFrom") {
            if let Some(Value::Object(fr)) = vf.get_mut("fieldRef") {
                default_field(fr, "apiVersion", json!("v1"));
            }
        }
    });
}

fn default_volume(v: &mut Map<String, Value>) {
    // SetDefaults_Volume: a volume without any source is an emptyDir.
    if !VOLUME_SOURCES
        .iter()
        .any(|s| v.get(*s).is_some_and(|x| !x.is_null()))
    {
        v.insert("emptyDir".into(), json!({}));
    }
    // 0644, upstream's default for secret, configMap, downwardAPI and projected volumes.
    for src in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(Value::Object(s)) = v.get_mut(src) {
            default_field(s, "defaultMode", json!(420));
        }
    }
    if let Some(Value::Object(h)) = v.get_mut("hostPath") {
        if h.get("type").is_none() {
            h.insert("type".into(), json!(""));
        }
    }
    if let Some(Value::Object(p)) = v.get_mut("projected") {
        each_obj_in(p, "sources", |s| {
            if let Some(Value::Object(t)) = s.get_mut("serviceAccountToken") {
                default_field(t, "expirationSeconds", json!(3600));
            }
        });
    }
    if let Some(Value::Object(d)) = v.get_mut("downwardAPI") {
        each_obj_in(d, "items", |i| {
            if let Some(Value::Object(fr)) = i.get_mut("fieldRef") {
                default_field(fr, "apiVersion", json!("v1"));
            }
        });
    }
}

/// SetDefaults_PodSpec plus the nested container, volume and probe defaults; shared by pods
/// and every pod template.
pub(crate) fn default_pod_spec(spec: &mut Map<String, Value>) {
    default_field(spec, "dnsPolicy", json!("ClusterFirst"));
    default_field(spec, "restartPolicy", json!("Always"));
    default_field(spec, "securityContext", json!({}));
    default_field(spec, "terminationGracePeriodSeconds", json!(30));
    default_field(spec, "schedulerName", json!("default-scheduler"));
    for list in CONTAINER_LISTS {
        each_obj_in(spec, list, default_container);
    }
    each_obj_in(spec, "volumes", default_volume);
}

/// Defaults of a `PodTemplateSpec` (`spec.template` of workloads).
pub(crate) fn default_pod_template(template: &mut Value) {
    if let Some(spec) = child_obj(template, "spec") {
        default_pod_spec(spec);
    }
}

fn default_pod(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    // SetDefaults_Pod: requests default to limits for every resource with a limit but no
    // request (pods only, not templates).
    for list in ["containers", "initContainers"] {
        each_obj_in(spec, list, |c| {
            let Some(Value::Object(res)) = c.get_mut("resources") else {
                return;
            };
            let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() else {
                return;
            };
            let req = res.entry("requests").or_insert_with(|| json!({}));
            if let Some(req) = req.as_object_mut() {
                for (k, v) in limits {
                    req.entry(k).or_insert(v);
                }
            }
        });
    }
    default_field(spec, "enableServiceLinks", json!(true));
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        // with host networking the host port is the container port
        for list in CONTAINER_LISTS {
            each_obj_in(spec, list, |c| {
                each_obj_in(c, "ports", |p| {
                    if p.get("hostPort").and_then(Value::as_i64).unwrap_or(0) == 0 {
                        if let Some(cp) = p.get("containerPort").cloned() {
                            p.insert("hostPort".into(), cp);
                        }
                    }
                })
            });
        }
    }
    default_pod_spec(spec);
}

fn default_pod_template_object(obj: &mut Value) {
    if let Some(t) = obj.get_mut("template") {
        default_pod_template(t);
    }
}

// ---------------------------------------------------------------- create / update

/// Upstream `qos.GetPodQOS`: Guaranteed when every container sets cpu and memory limits
/// equal to requests, BestEffort when none sets any cpu/memory request or limit.
pub(crate) fn pod_qos(spec: &Value) -> &'static str {
    let mut requests: BTreeMap<&str, i128> = BTreeMap::new();
    let mut limits: BTreeMap<&str, i128> = BTreeMap::new();
    let mut guaranteed = true;
    for list in ["containers", "initContainers"] {
        for c in arr_at(spec, &[list]) {
            let mut has_limit = HashSet::new();
            for (kind, acc) in [("requests", &mut requests), ("limits", &mut limits)] {
                for name in ["cpu", "memory"] {
                    if let Some(q) =
                        get(c, &["resources", kind, name]).and_then(quantity::parse_value)
                    {
                        if q.0 != 0 {
                            *acc.entry(name).or_insert(0) += q.0;
                            if kind == "limits" {
                                has_limit.insert(name);
                            }
                        }
                    }
                }
            }
            if has_limit.len() != 2 {
                guaranteed = false;
            }
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed
        && requests.iter().all(|(k, v)| limits.get(k) == Some(v))
        && requests.len() == limits.len()
    {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn prepare_pod_create(obj: &mut Value) {
    let qos = pod_qos(obj.get("spec").unwrap_or(&Value::Null));
    if let Some(m) = obj.as_object_mut() {
        m.insert(
            "status".into(),
            json!({"phase": "Pending", "qosClass": qos}),
        );
    }
}

fn prepare_pod_update(_new: &mut Value, _old: &Value) {}

/// The QoS class is immutable; old kubelets dropped it, so it is backfilled (upstream
/// podStatusStrategy.PrepareForUpdate), as is status.observedGeneration.
fn prepare_pod_status_update(new: &mut Value, old: &Value) {
    for f in ["qosClass", "observedGeneration"] {
        let missing = get(new, &["status", f])
            .is_none_or(|v| v.as_str() == Some("") || v.as_i64() == Some(0));
        if let (true, Some(v)) = (missing, get(old, &["status", f])) {
            if let Some(st) = child_obj(new, "status") {
                st.insert(f.into(), v.clone());
            }
        }
    }
}

// ---------------------------------------------------------------- validation

fn validate_resources(res: Option<&Value>, path: &str) -> ErrorList {
    let mut errs = Vec::new();
    let Some(res) = res else {
        return errs;
    };
    let lim = obj_at(res, &["limits"]);
    let check_name = |name: &str, p: &str, errs: &mut ErrorList| {
        if name.contains('/') {
            for m in names::is_qualified_name(name) {
                errs.push(FieldError::invalid(p, name, m));
            }
        } else if !matches!(name, "cpu" | "memory" | "ephemeral-storage")
            && !name.starts_with("hugepages-")
        {
            errs.push(FieldError::invalid(
                p,
                name,
                "must be a standard resource for containers",
            ));
        }
    };
    // native (unprefixed or kubernetes.io/) resources other than hugepages may be overcommitted
    let overcommit = |name: &str| {
        (!name.contains('/') || name.starts_with("kubernetes.io/"))
            && !name.starts_with("hugepages-")
    };
    let parse_checked = |kind: &str, name: &str, v: &Value, errs: &mut ErrorList| {
        let p = format!("{path}.{kind}[{name}]");
        check_name(name, &p, errs);
        match quantity::parse_value(v) {
            None => {
                errs.push(FieldError::invalid(&p, v.clone(), QUANTITY_FORMAT_ERR));
                None
            }
            Some(q) if q.0 < 0 => {
                errs.push(FieldError::invalid(
                    &p,
                    v.clone(),
                    "must be greater than or equal to 0",
                ));
                Some(q)
            }
            Some(q) => Some(q),
        }
    };
    if let Some(lim) = lim {
        for (k, v) in lim {
            parse_checked("limits", k, v, &mut errs);
        }
    }
    if let Some(req) = obj_at(res, &["requests"]) {
        for (k, v) in req {
            let Some(rq) = parse_checked("requests", k, v, &mut errs) else {
                continue;
            };
            // upstream prints Quantity.String(), the canonical form
            let rs = quantity::canonical(
                &v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            );
            match lim.and_then(|l| l.get(k)) {
                Some(lv) => {
                    let ls = quantity::canonical(
                        &lv.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| lv.to_string()),
                    );
                    if let Some(lq) = quantity::parse_value(lv) {
                        if rq != lq && !overcommit(k) {
                            errs.push(FieldError::invalid(
                                format!("{path}.requests"),
                                rs,
                                format!("must be equal to {k} limit of {ls}"),
                            ));
                        } else if rq > lq {
                            errs.push(FieldError::invalid(
                                format!("{path}.requests"),
                                rs,
                                format!("must be less than or equal to {k} limit of {ls}"),
                            ));
                        }
                    }
                }
                None if !overcommit(k) => errs.push(FieldError::required(
                    format!("{path}.limits"),
                    "Limit must be set for non overcommitable resources",
                )),
                None => {}
            }
        }
    }
    errs
}

fn validate_probe(probe: &Value, path: &str, must_succeed_once: bool) -> ErrorList {
    let mut errs = Vec::new();
    let handlers = ["exec", "httpGet", "tcpSocket", "grpc"];
    let set: Vec<&str> = handlers
        .iter()
        .copied()
        .filter(|h| get(probe, &[h]).is_some())
        .collect();
    if set.is_empty() {
        errs.push(FieldError::required(path, "must specify a handler type"));
    } else if set.len() > 1 {
        errs.push(FieldError::forbidden(
            format!("{path}.{}", set[1]),
            "may not specify more than 1 handler type",
        ));
    }
    for f in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        errs.extend(validate_nonnegative(
            int_at(probe, &[f]),
            &format!("{path}.{f}"),
        ));
    }
    if must_succeed_once {
        if let Some(s) = int_at(probe, &["successThreshold"]) {
            if s != 1 {
                errs.push(FieldError::invalid(
                    format!("{path}.successThreshold"),
                    s,
                    "must be 1",
                ));
            }
        }
    }
    for (h, port_path) in [("httpGet", "port"), ("tcpSocket", "port")] {
        if let Some(port) = get(probe, &[h, port_path]) {
            errs.extend(validate_port_num_or_name(port, &format!("{path}.{h}.port")));
        }
    }
    errs
}

/// Upstream `ValidatePortNumOrName`.
pub(crate) fn validate_port_num_or_name(port: &Value, path: &str) -> ErrorList {
    match port {
        Value::Number(n) => names::is_valid_port_num(n.as_i64().unwrap_or(0))
            .into_iter()
            .map(|m| FieldError::invalid(path, port.clone(), m))
            .collect(),
        Value::String(s) if s.is_empty() => vec![FieldError::required(path, "")],
        Value::String(s) => names::is_valid_port_name(s)
            .into_iter()
            .map(|m| FieldError::invalid(path, s.as_str(), m))
            .collect(),
        other => vec![FieldError::invalid(
            path,
            other.clone(),
            "must be an integer or a string",
        )],
    }
}

fn validate_container(
    c: &Value,
    path: &str,
    volumes: &HashSet<String>,
    names_seen: &mut HashSet<String>,
    init: bool,
) -> ErrorList {
    let mut errs = Vec::new();
    let name = str_at(c, &["name"]);
    errs.extend(validate_dns_label_field(name, &format!("{path}.name")));
    if !name.is_empty() && !names_seen.insert(name.to_string()) {
        errs.push(FieldError::duplicate(format!("{path}.name"), name));
    }
    let image = str_at(c, &["image"]);
    if image.is_empty() {
        errs.push(FieldError::required(format!("{path}.image"), ""));
    } else if image.trim() != image {
        errs.push(FieldError::invalid(
            format!("{path}.image"),
            image,
            "must not have leading or trailing whitespace",
        ));
    }
    errs.extend(validate_enum(
        get(c, &["imagePullPolicy"]),
        &format!("{path}.imagePullPolicy"),
        PULL_POLICIES,
        true,
    ));
    errs.extend(validate_enum(
        get(c, &["terminationMessagePolicy"]),
        &format!("{path}.terminationMessagePolicy"),
        TERMINATION_MESSAGE_POLICIES,
        true,
    ));
    let mut port_names = HashSet::new();
    for (i, p) in arr_at(c, &["ports"]).iter().enumerate() {
        let pp = format!("{path}.ports[{i}]");
        let pname = str_at(p, &["name"]);
        if !pname.is_empty() {
            let msgs = names::is_valid_port_name(pname);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(FieldError::invalid(format!("{pp}.name"), pname, m));
                }
            } else if !port_names.insert(pname.to_string()) {
                errs.push(FieldError::duplicate(format!("{pp}.name"), pname));
            }
        }
        match int_at(p, &["containerPort"]) {
            None | Some(0) => errs.push(FieldError::required(format!("{pp}.containerPort"), "")),
            Some(n) => {
                for m in names::is_valid_port_num(n) {
                    errs.push(FieldError::invalid(format!("{pp}.containerPort"), n, m));
                }
            }
        }
        if let Some(h) = int_at(p, &["hostPort"]).filter(|h| *h != 0) {
            for m in names::is_valid_port_num(h) {
                errs.push(FieldError::invalid(format!("{pp}.hostPort"), h, m));
            }
        }
        errs.extend(validate_enum(
            get(p, &["protocol"]),
            &format!("{pp}.protocol"),
            PROTOCOLS,
            true,
        ));
    }
    for (i, e) in arr_at(c, &["env"]).iter().enumerate() {
        let ep = format!("{path}.env[{i}].name");
        let n = str_at(e, &["name"]);
        if n.is_empty() {
            errs.push(FieldError::required(ep, ""));
        } else {
            for m in names::is_env_var_name(n) {
                errs.push(FieldError::invalid(&ep, n, m));
            }
        }
        if let Some(vf) = get(e, &["valueFrom"]) {
            let vp = format!("{path}.env[{i}].valueFrom");
            let sources = [
                "fieldRef",
                "resourceFieldRef",
                "configMapKeyRef",
                "secretKeyRef",
                "fileKeyRef",
            ];
            let set: Vec<&str> = sources
                .iter()
                .copied()
                .filter(|s| get(vf, &[s]).is_some())
                .collect();
            match set.as_slice() {
                [] => errs.push(FieldError::invalid(
                    &vp,
                    "",
                    "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                )),
                [one] => {
                    if matches!(*one, "configMapKeyRef" | "secretKeyRef") && str_at(vf, &[one, "key"]).is_empty() {
                        errs.push(FieldError::required(format!("{vp}.{one}.key"), ""));
                    }
                    if *one == "fieldRef" && str_at(vf, &[one, "fieldPath"]).is_empty() {
                        errs.push(FieldError::required(format!("{vp}.fieldRef.fieldPath"), ""));
                    }
                }
                _ => errs.push(FieldError::invalid(&vp, "", "may not have more than one field specified at a time")),
            }
            if !str_at(e, &["value"]).is_empty() {
                errs.push(FieldError::invalid(
                    &vp,
                    "",
                    "may not be specified when `value` is not empty",
                ));
            }
        }
    }
    errs.extend(validate_security_context_ids(
        get(c, &["securityContext"]),
        &format!("{path}.securityContext"),
    ));
    errs.extend(validate_resources(
        get(c, &["resources"]),
        &format!("{path}.resources"),
    ));
    let mut mount_paths = HashSet::new();
    for (i, m) in arr_at(c, &["volumeMounts"]).iter().enumerate() {
        let mp = format!("{path}.volumeMounts[{i}]");
        let n = str_at(m, &["name"]);
        if n.is_empty() {
            errs.push(FieldError::required(format!("{mp}.name"), ""));
        } else if !volumes.contains(n) {
            errs.push(FieldError::not_found(format!("{mp}.name"), n));
        }
        let path_s = str_at(m, &["mountPath"]);
        if path_s.is_empty() {
            errs.push(FieldError::required(format!("{mp}.mountPath"), ""));
        } else if !mount_paths.insert(path_s.to_string()) {
            errs.push(FieldError::invalid(
                format!("{mp}.mountPath"),
                path_s,
                "must be unique",
            ));
        }
    }
    let sidecar = init && str_at(c, &["restartPolicy"]) == "Always";
    if init {
        if let Some(rp) = get(c, &["restartPolicy"]) {
            if rp.as_str() != Some("Always") {
                errs.push(FieldError::not_supported(
                    format!("{path}.restartPolicy"),
                    rp.clone(),
                    &["Always"],
                ));
            }
        }
    } else if get(c, &["restartPolicy"]).is_some() {
        errs.push(FieldError::forbidden(
            format!("{path}.restartPolicy"),
            "may not be set for non-init containers",
        ));
    }
    for (probe, once) in [
        ("livenessProbe", true),
        ("readinessProbe", false),
        ("startupProbe", true),
    ] {
        if let Some(p) = get(c, &[probe]) {
            if init && !sidecar {
                errs.push(FieldError::forbidden(
                    format!("{path}.{probe}"),
                    "may not be set for init containers without restartPolicy=Always",
                ));
            } else {
                errs.extend(validate_probe(p, &format!("{path}.{probe}"), once));
            }
        }
    }
    errs
}

fn validate_volumes(spec: &Value, path: &str) -> (ErrorList, HashSet<String>) {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    for (i, v) in arr_at(spec, &["volumes"]).iter().enumerate() {
        let vp = format!("{path}[{i}]");
        let n = str_at(v, &["name"]);
        errs.extend(validate_dns_label_field(n, &format!("{vp}.name")));
        if !n.is_empty() && !seen.insert(n.to_string()) {
            errs.push(FieldError::duplicate(format!("{vp}.name"), n));
        }
        let sources: Vec<&str> = VOLUME_SOURCES
            .iter()
            .copied()
            .filter(|s| get(v, &[s]).is_some())
            .collect();
        match sources.as_slice() {
            [] => errs.push(FieldError::required(&vp, "must specify a volume type")),
            [one] => {
                let sp = format!("{vp}.{one}");
                match *one {
                    "persistentVolumeClaim" if str_at(v, &[one, "claimName"]).is_empty() => {
                        errs.push(FieldError::required(format!("{sp}.claimName"), ""));
                    }
                    "hostPath" if str_at(v, &[one, "path"]).is_empty() => {
                        errs.push(FieldError::required(format!("{sp}.path"), ""));
                    }
                    "secret" | "configMap" => {
                        if let Some(mode) = int_at(v, &[one, "defaultMode"]) {
                            if !(0..=0o777).contains(&mode) {
                                errs.push(FieldError::invalid(
                                    format!("{sp}.defaultMode"),
                                    mode,
                                    "must be a number between 0 and 0777 (octal), both inclusive",
                                ));
                            }
                        }
                    }
                    _ => {}
                }
            }
            [_, second, ..] => {
                errs.push(FieldError::forbidden(
                    format!("{vp}.{second}"),
                    "may not specify more than 1 volume type",
                ));
            }
        }
    }
    (errs, seen)
}

fn validate_tolerations(tols: &[Value], path: &str) -> ErrorList {
    let mut errs = Vec::new();
    for (i, t) in tols.iter().enumerate() {
        let tp = format!("{path}[{i}]");
        let key = str_at(t, &["key"]);
        if !key.is_empty() {
            for m in names::is_qualified_name(key) {
                errs.push(FieldError::invalid(format!("{tp}.key"), key, m));
            }
        }
        let op = str_at(t, &["operator"]);
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                format!("{tp}.operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        let effect = str_at(t, &["effect"]);
        if get(t, &["tolerationSeconds"]).is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                format!("{tp}.effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "" | "Equal" => {
                let v = str_at(t, &["value"]);
                for m in names::is_valid_label_value(v) {
                    errs.push(FieldError::invalid(format!("{tp}.operator"), v, m));
                }
            }
            "Exists" => {
                let v = str_at(t, &["value"]);
                if !v.is_empty() {
                    errs.push(FieldError::invalid(
                        format!("{tp}.operator"),
                        t.clone(),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                format!("{tp}.operator"),
                other,
                TOLERATION_OPERATORS,
            )),
        }
        if !effect.is_empty() {
            errs.extend(validate_enum(
                get(t, &["effect"]),
                &format!("{tp}.effect"),
                TOLERATION_EFFECTS,
                false,
            ));
        }
    }
    errs
}

/// Upstream `ValidatePodSpec` (the commonly hit subset; see the crate docs for gaps).
/// runAsUser/runAsGroup/fsGroup ranges (upstream `IsValidUserID`/`IsValidGroupID`).
fn validate_security_context_ids(sc: Option<&Value>, path: &str) -> ErrorList {
    let mut errs = Vec::new();
    let Some(sc) = sc else { return errs };
    for f in ["runAsUser", "runAsGroup", "fsGroup"] {
        if let Some(id) = int_at(sc, &[f]) {
            if !(0..=i64::from(i32::MAX)).contains(&id) {
                errs.push(FieldError::invalid(
                    format!("{path}.{f}"),
                    id,
                    inclusive_range_error(0, i64::from(i32::MAX)),
                ));
            }
        }
    }
    errs
}

fn validate_topology_spread(spec: &Value, path: &str) -> ErrorList {
    let mut errs = Vec::new();
    for (i, c) in arr_at(spec, &["topologySpreadConstraints"])
        .iter()
        .enumerate()
    {
        let p = format!("{path}[{i}]");
        let skew = int_at(c, &["maxSkew"]).unwrap_or(0);
        if skew <= 0 {
            errs.push(FieldError::invalid(
                format!("{p}.maxSkew"),
                skew,
                "must be greater than zero",
            ));
        }
        if str_at(c, &["topologyKey"]).is_empty() {
            errs.push(FieldError::required(
                format!("{p}.topologyKey"),
                "can not be empty",
            ));
        }
        errs.extend(validate_enum(
            get(c, &["whenUnsatisfiable"]),
            &format!("{p}.whenUnsatisfiable"),
            &["DoNotSchedule", "ScheduleAnyway"],
            true,
        ));
        if let Some(s) = get(c, &["labelSelector"]) {
            errs.extend(crate::validation::selector::validate_label_selector(
                s,
                &format!("{p}.labelSelector"),
            ));
        }
    }
    errs
}

/// With host networking a declared hostPort must equal the containerPort (upstream
/// `validateHostNetwork`; an unset hostPort is defaulted for pods and allowed in templates).
fn validate_host_network(spec: &Value, path: &str) -> ErrorList {
    let mut errs = Vec::new();
    if get(spec, &["hostNetwork"]).and_then(Value::as_bool) != Some(true) {
        return errs;
    }
    for list in ["initContainers", "containers"] {
        for (i, c) in arr_at(spec, &[list]).iter().enumerate() {
            for (j, p) in arr_at(c, &["ports"]).iter().enumerate() {
                let hp = int_at(p, &["hostPort"]).unwrap_or(0);
                if hp != 0 && Some(hp) != int_at(p, &["containerPort"]) {
                    errs.push(FieldError::invalid(
                        format!("{path}.{list}[{i}].ports[{j}].hostPort"),
                        hp,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    errs
}

pub(crate) fn validate_pod_spec(spec: &Value, path: &str) -> ErrorList {
    let (mut errs, volumes) = validate_volumes(spec, &format!("{path}.volumes"));
    errs.extend(validate_host_network(spec, path));
    errs.extend(validate_security_context_ids(
        get(spec, &["securityContext"]),
        &format!("{path}.securityContext"),
    ));
    errs.extend(validate_topology_spread(
        spec,
        &format!("{path}.topologySpreadConstraints"),
    ));
    let mut names_seen = HashSet::new();
    if arr_at(spec, &["containers"]).is_empty() {
        errs.push(FieldError::required(format!("{path}.containers"), ""));
    }
    for (list, init) in [("initContainers", true), ("containers", false)] {
        for (i, c) in arr_at(spec, &[list]).iter().enumerate() {
            errs.extend(validate_container(
                c,
                &format!("{path}.{list}[{i}]"),
                &volumes,
                &mut names_seen,
                init,
            ));
        }
    }
    errs.extend(validate_enum(
        get(spec, &["restartPolicy"]),
        &format!("{path}.restartPolicy"),
        RESTART_POLICIES,
        true,
    ));
    errs.extend(validate_enum(
        get(spec, &["dnsPolicy"]),
        &format!("{path}.dnsPolicy"),
        DNS_POLICIES,
        true,
    ));
    errs.extend(validate_labels(
        get(spec, &["nodeSelector"]),
        &format!("{path}.nodeSelector"),
    ));
    errs.extend(validate_subdomain_opt(
        str_at(spec, &["serviceAccountName"]),
        &format!("{path}.serviceAccountName"),
    ));
    errs.extend(validate_subdomain_opt(
        str_at(spec, &["nodeName"]),
        &format!("{path}.nodeName"),
    ));
    for f in ["hostname", "subdomain"] {
        let v = str_at(spec, &[f]);
        if !v.is_empty() {
            errs.extend(validate_dns_label_field(v, &format!("{path}.{f}")));
        }
    }
    if let Some(ads) = int_at(spec, &["activeDeadlineSeconds"]) {
        if !(1..=i64::from(i32::MAX)).contains(&ads) {
            errs.push(FieldError::invalid(
                format!("{path}.activeDeadlineSeconds"),
                ads,
                inclusive_range_error(1, i64::from(i32::MAX)),
            ));
        }
    }
    errs.extend(validate_tolerations(
        arr_at(spec, &["tolerations"]),
        &format!("{path}.tolerations"),
    ));
    if str_at(spec, &["dnsPolicy"]) == "None" && get(spec, &["dnsConfig"]).is_none() {
        errs.push(FieldError::required(
            format!("{path}.dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        ));
    }
    errs
}

/// Upstream `ValidatePodTemplateSpec`: template labels/annotations plus the pod spec.
pub(crate) fn validate_pod_template_spec(template: Option<&Value>, path: &str) -> ErrorList {
    let Some(t) = template else {
        return vec![FieldError::required(path, "")];
    };
    let mut errs = validate_labels(
        get(t, &["metadata", "labels"]),
        &format!("{path}.metadata.labels"),
    );
    errs.extend(validate_annotations(
        get(t, &["metadata", "annotations"]),
        &format!("{path}.metadata.annotations"),
    ));
    errs.extend(validate_pod_spec(
        t.get("spec").unwrap_or(&Value::Null),
        &format!("{path}.spec"),
    ));
    if !arr_at(t, &["spec", "ephemeralContainers"]).is_empty() {
        errs.push(FieldError::forbidden(
            format!("{path}.spec.ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

fn validate_pod_template_object(obj: &Value) -> ErrorList {
    validate_pod_template_spec(obj.get("template"), "template")
}

fn validate_pod(obj: &Value) -> ErrorList {
    validate_pod_spec(obj.get("spec").unwrap_or(&Value::Null), "spec")
}

/// Upstream's pod update rule message (ValidatePodUpdate).
pub(crate) const POD_UPDATE_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

fn without_toleration_seconds(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(m) = t.as_object_mut() {
        m.remove("tolerationSeconds");
    }
    t
}

fn validate_pod_update(new: &Value, old: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let empty = json!({});
    let new_spec = new.get("spec").unwrap_or(&empty);
    let old_spec = old.get("spec").unwrap_or(&empty);
    for list in ["containers", "initContainers"] {
        if arr_at(new_spec, &[list]).len() != arr_at(old_spec, &[list]).len() {
            errs.push(FieldError::forbidden(
                format!("spec.{list}"),
                "pod updates may not add or remove containers",
            ));
            return errs;
        }
    }
    // activeDeadlineSeconds may only be set from nil or decreased
    match (
        int_at(new_spec, &["activeDeadlineSeconds"]),
        int_at(old_spec, &["activeDeadlineSeconds"]),
    ) {
        (Some(n), _) if n < 0 || n > i64::from(i32::MAX) => {
            errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                n,
                inclusive_range_error(0, i64::from(i32::MAX)),
            ));
            return errs;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                n,
                "must be less than or equal to previous value",
            ));
            return errs;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            "spec.activeDeadlineSeconds",
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    // existing tolerations may only gain (NoExecute) tolerationSeconds changes
    let new_tols: Vec<Value> = arr_at(new_spec, &["tolerations"])
        .iter()
        .map(without_toleration_seconds)
        .collect();
    for t in arr_at(old_spec, &["tolerations"]) {
        if !new_tols.contains(&without_toleration_seconds(t)) {
            errs.push(FieldError::forbidden(
                "spec.tolerations",
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            break;
        }
    }
    // Munge the mutable fields of new into old's values; anything still different is a
    // forbidden change.
    let mut munged = new_spec.clone();
    if let Some(m) = munged.as_object_mut() {
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = m.get_mut(list) {
                for (i, c) in cs.iter_mut().enumerate() {
                    if let Some(c) = c.as_object_mut() {
                        match get(old_spec, &[list])
                            .and_then(|l| l.get(i))
                            .and_then(|o| o.get("image"))
                        {
                            Some(img) => c.insert("image".into(), img.clone()),
                            None => c.remove("image"),
                        };
                    }
                }
            }
        }
        for f in ["activeDeadlineSeconds", "tolerations"] {
            match old_spec.get(f) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
        let old_tgps = int_at(old_spec, &["terminationGracePeriodSeconds"]);
        if old_tgps.is_some_and(|o| o < 0)
            && int_at(new_spec, &["terminationGracePeriodSeconds"]) == Some(1)
        {
            m.insert("terminationGracePeriodSeconds".into(), json!(old_tgps));
        }
    }
    if &munged != old_spec {
        let mut diff = String::new();
        let keys: std::collections::BTreeSet<&String> = munged
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
            .chain(old_spec.as_object().into_iter().flat_map(|m| m.keys()))
            .collect();
        for k in keys {
            let (o, n) = (old_spec.get(k), munged.get(k));
            if o != n {
                diff.push_str(&format!(
                    "\n-  {k}: {}\n+  {k}: {}",
                    o.map_or("null".to_string(), Value::to_string),
                    n.map_or("null".to_string(), Value::to_string)
                ));
            }
        }
        errs.push(FieldError::forbidden(
            "spec",
            format!("{POD_UPDATE_FORBIDDEN}{diff}"),
        ));
    }
    errs
}

fn validate_pod_status_update(new: &Value, _old: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let phases = ["Failed", "Pending", "Running", "Succeeded", "Unknown"];
    if let Some(p) = get(new, &["status", "phase"]) {
        errs.extend(validate_enum(Some(p), "status.phase", &phases, false));
    }
    let node = str_at(new, &["spec", "nodeName"]);
    if !node.is_empty() && get(new, &["status", "nominatedNodeName"]).is_some() {
        // upstream only validates the nominated node name's format
        errs.extend(validate_subdomain_opt(
            str_at(new, &["status", "nominatedNodeName"]),
            "status.nominatedNodeName",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    type Mutation = Box<dyn Fn(&mut Value)>;
    use crate::strategy::Strategy;

    fn msgs(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn pull_policy_table() {
        for (image, want) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("localhost:5000/nginx", "Always"),
            ("localhost:5000/nginx:v1", "IfNotPresent"),
            ("nginx@sha256:abcd", "IfNotPresent"),
            ("nginx:latest@sha256:abcd", "Always"),
        ] {
            assert_eq!(default_pull_policy(image), want, "{image}");
        }
    }

    #[test]
    fn pod_defaults() {
        let mut p = pod(json!({
            "containers": [{"name": "c", "image": "nginx",
                "ports": [{"containerPort": 80}],
                "resources": {"limits": {"cpu": "1"}},
                "livenessProbe": {"httpGet": {"port": 80}},
                "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}],
            "volumes": [{"name": "a"}, {"name": "b", "secret": {"secretName": "s"}}, {"name": "c", "configMap": {"name": "m"}}]
        }));
        PODS.default(&mut p);
        let s = &p["spec"];
        assert_eq!(s["restartPolicy"], "Always");
        assert_eq!(s["dnsPolicy"], "ClusterFirst");
        assert_eq!(s["terminationGracePeriodSeconds"], 30);
        assert_eq!(s["schedulerName"], "default-scheduler");
        assert_eq!(s["securityContext"], json!({}));
        assert_eq!(s["enableServiceLinks"], true);
        let c = &s["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(c["resources"]["requests"]["cpu"], "1");
        assert_eq!(
            c["livenessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(s["volumes"][0]["emptyDir"], json!({}));
        assert_eq!(s["volumes"][1]["secret"]["defaultMode"], 420);
        assert_eq!(s["volumes"][2]["configMap"]["defaultMode"], 420);
        assert!(
            PODS.validate_create(&p).is_empty(),
            "{:?}",
            msgs(&PODS.validate_create(&p))
        );
    }

    #[test]
    fn pod_prepare_create_sets_phase_qos_generation() {
        let cases = [
            (
                json!({"containers": [{"name": "c", "image": "i"}]}),
                "BestEffort",
            ),
            (
                json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "1"}}}]}),
                "Burstable",
            ),
            (
                json!({"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}),
                "Guaranteed",
            ),
            (
                json!({"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}}]}),
                "Burstable",
            ),
        ];
        for (spec, want) in cases {
            let mut p = pod(spec);
            p["status"] = json!({"phase": "Running"});
            PODS.default(&mut p);
            PODS.prepare_for_create(&mut p);
            assert_eq!(p["status"], json!({"phase": "Pending", "qosClass": want}));
            assert_eq!(p["metadata"]["generation"], 1);
        }
    }

    #[test]
    fn qos_and_generation_independent_of_call_order() {
        // the apiserver may call prepare_for_create before default
        let mut p = pod(
            json!({"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}),
        );
        PODS.prepare_for_create(&mut p);
        assert_eq!(p["status"]["qosClass"], "Guaranteed");
        let stored = p.clone();
        let mut replaced = pod(
            json!({"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}),
        );
        PODS.prepare_for_update(&mut replaced, &stored);
        assert_eq!(replaced["metadata"]["generation"], 1);
        assert!(PODS.validate_update(&replaced, &stored).is_empty());
    }

    #[test]
    fn pod_validation_table() {
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (json!({"containers": []}), vec!["spec.containers: Required value"]),
            (
                json!({"containers": [{"name": "c"}, {"name": "c", "image": "x"}]}),
                vec!["spec.containers[0].image: Required value", "spec.containers[1].name: Duplicate value: \"c\""],
            ),
            (
                json!({"containers": [{"name": "C_1", "image": "x"}]}),
                vec!["spec.containers[0].name: Invalid value: \"C_1\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"],
            ),
            (
                json!({"restartPolicy": "Sometimes", "containers": [{"name": "c", "image": "x"}]}),
                vec!["spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\", \"OnFailure\""],
            ),
            (
                json!({"containers": [{"name": "c", "image": "x", "imagePullPolicy": "Sometimes"}]}),
                vec!["spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""],
            ),
            (
                json!({"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 70000}, {"containerPort": 80, "protocol": "HTTP"}]}]}),
                vec![
                    "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                    "spec.containers[0].ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                ],
            ),
            (
                json!({"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "2000m"}, "limits": {"cpu": "1"}}}]}),
                vec!["spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"],
            ),
            (
                json!({"containers": [{"name": "c", "image": "x", "volumeMounts": [{"name": "missing", "mountPath": "/a"}]}]}),
                vec!["spec.containers[0].volumeMounts[0].name: Not found: \"missing\""],
            ),
            (
                json!({"volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}], "containers": [{"name": "c", "image": "x"}]}),
                vec!["spec.volumes[1].name: Duplicate value: \"v\""],
            ),
            (
                json!({"volumes": [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/"}}], "containers": [{"name": "c", "image": "x"}]}),
                vec!["spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type"],
            ),
            (
                json!({"containers": [{"name": "c", "image": "x", "livenessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2}}]}),
                vec!["spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"],
            ),
            (
                json!({"activeDeadlineSeconds": 0, "containers": [{"name": "c", "image": "x"}]}),
                vec!["spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"],
            ),
        ];
        for (spec, want) in cases {
            let mut p = pod(spec);
            PODS.default(&mut p);
            assert_eq!(msgs(&PODS.validate_create(&p)), want, "{}", p["spec"]);
        }
    }

    #[test]
    fn pod_spec_extra_rules() {
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (
                json!({"hostNetwork": true, "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 80, "hostPort": 81}]}]}),
                vec!["spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort` when `hostNetwork` is true"],
            ),
            (
                json!({"securityContext": {"runAsUser": -1}, "containers": [{"name": "c", "image": "x"}]}),
                vec!["spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive"],
            ),
            (
                json!({"containers": [{"name": "c", "image": "x", "env": [{"name": "A", "value": "v", "valueFrom": {"secretKeyRef": {"name": "s"}}}]}]}),
                vec![
                    "spec.containers[0].env[0].valueFrom.secretKeyRef.key: Required value",
                    "spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
                ],
            ),
            (
                json!({"topologySpreadConstraints": [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "Maybe"}], "containers": [{"name": "c", "image": "x"}]}),
                vec![
                    "spec.topologySpreadConstraints[0].maxSkew: Invalid value: 0: must be greater than zero",
                    "spec.topologySpreadConstraints[0].whenUnsatisfiable: Unsupported value: \"Maybe\": supported values: \"DoNotSchedule\", \"ScheduleAnyway\"",
                ],
            ),
        ];
        for (spec, want) in cases {
            let mut p = pod(spec);
            PODS.default(&mut p);
            assert_eq!(msgs(&PODS.validate_create(&p)), want, "{}", p["spec"]);
        }
    }

    #[test]
    fn pod_update_rules() {
        let mut old = pod(
            json!({"containers": [{"name": "c", "image": "nginx:1"}], "tolerations": [{"key": "a", "operator": "Exists"}]}),
        );
        PODS.default(&mut old);
        let cases: Vec<(Mutation, Vec<String>)> = vec![
            (Box::new(|p| p["spec"]["containers"][0]["image"] = json!("nginx:2")), vec![]),
            (Box::new(|p| p["spec"]["activeDeadlineSeconds"] = json!(100)), vec![]),
            (
                Box::new(|p| p["spec"]["tolerations"].as_array_mut().unwrap().push(json!({"key": "b", "operator": "Exists"}))),
                vec![],
            ),
            (
                Box::new(|p| p["spec"]["tolerations"] = json!([])),
                vec!["spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds".to_string()],
            ),
            (
                Box::new(|p| p["spec"]["containers"].as_array_mut().unwrap().push(json!({"name": "d", "image": "x", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}))),
                vec!["spec.containers: Forbidden: pod updates may not add or remove containers".to_string()],
            ),
            (
                Box::new(|p| p["spec"]["restartPolicy"] = json!("Never")),
                vec![format!("spec: Forbidden: {POD_UPDATE_FORBIDDEN}\n-  restartPolicy: \"Always\"\n+  restartPolicy: \"Never\"")],
            ),
        ];
        for (mutate, want) in cases {
            let mut new = old.clone();
            mutate(&mut new);
            assert_eq!(msgs(&PODS.validate_update(&new, &old)), want);
        }
        let mut with_deadline = old.clone();
        with_deadline["spec"]["activeDeadlineSeconds"] = json!(10);
        let mut raised = with_deadline.clone();
        raised["spec"]["activeDeadlineSeconds"] = json!(20);
        assert_eq!(
            msgs(&PODS.validate_update(&raised, &with_deadline)),
            vec!["spec.activeDeadlineSeconds: Invalid value: 20: must be less than or equal to previous value"]
        );
    }

    #[test]
    fn pod_update_and_status_preparation() {
        let mut old = pod(json!({"containers": [{"name": "c", "image": "nginx:1"}]}));
        old["metadata"]["generation"] = json!(1);
        old["status"] = json!({"phase": "Running"});
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("nginx:2");
        new["status"] = json!({"phase": "Failed"});
        PODS.prepare_for_update(&mut new, &old);
        assert_eq!(new["status"]["phase"], "Running");
        assert_eq!(new["metadata"]["generation"], 2);

        let mut st = old.clone();
        st["spec"]["containers"][0]["image"] = json!("evil");
        st["status"] = json!({"phase": "Succeeded"});
        st["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "1"}]);
        st["metadata"]["labels"] = json!({"a": "b"});
        PODS.prepare_for_status_update(&mut st, &old);
        assert_eq!(st["spec"], old["spec"]);
        assert_eq!(st["status"]["phase"], "Succeeded");
        assert!(st["metadata"].get("ownerReferences").is_none());
        assert_eq!(st["metadata"]["labels"], json!({"a": "b"}));
    }
}
