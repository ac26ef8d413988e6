//! apps/v1 workloads: Deployments, ReplicaSets, StatefulSets, DaemonSets (upstream
//! `pkg/apis/apps/v1/defaults.go`, `pkg/apis/apps/validation/validation.go`,
//! `pkg/registry/apps/*/strategy.go`), plus core ReplicationControllers.

use super::pods::{default_pod_template, validate_pod_template_spec};
use crate::field::{ErrorList, FieldError};
use crate::json::{arr_at, child_obj, default_field, each_obj_in, get, int_at, str_at};
use crate::strategy::{Generation, Resource};
use crate::validation::selector::{self, validate_label_selector};
use crate::validation::{validate_immutable, validate_nonnegative, NameValidation};
use serde_json::{json, Map, Value};

pub(crate) static DEPLOYMENTS: Resource = Resource {
    status: true,
    generation: Generation::SpecOrAnnotations,
    status_keeps_labels: true,
    defaults: default_deployment,
    validate: validate_deployment,
    validate_update: validate_selector_immutable,
    validate_status: validate_replica_status,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

pub(crate) static REPLICA_SETS: Resource = Resource {
    status: true,
    generation: Generation::Spec,
    status_keeps_labels: true,
    defaults: default_replica_set,
    validate: validate_replica_set,
    validate_update: validate_selector_immutable,
    validate_status: validate_replica_status,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

pub(crate) static STATEFUL_SETS: Resource = Resource {
    status: true,
    generation: Generation::Spec,
    status_keeps_labels: true,
    defaults: default_stateful_set,
    validate: validate_stateful_set,
    validate_update: validate_stateful_set_update,
    validate_status: validate_replica_status,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

pub(crate) static DAEMON_SETS: Resource = Resource {
    status: true,
    generation: Generation::Spec,
    status_keeps_labels: true,
    defaults: default_daemon_set,
    prepare_create: prepare_daemon_set_create,
    prepare_update: prepare_daemon_set_update,
    validate: validate_daemon_set,
    validate_update: validate_selector_immutable,
    validate_status: validate_replica_status,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

pub(crate) static REPLICATION_CONTROLLERS: Resource = Resource {
    status: true,
    generation: Generation::Spec,
    status_keeps_labels: true,
    defaults: default_replication_controller,
    validate: validate_replication_controller,
    validate_status: validate_replica_status,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

// ---------------------------------------------------------------- defaulting

fn spec_with_template(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let spec = child_obj(obj, "spec")?;
    if let Some(t) = spec.get_mut("template") {
        default_pod_template(t);
    }
    Some(spec)
}

fn default_deployment(obj: &mut Value) {
    let Some(spec) = spec_with_template(obj) else {
        return;
    };
    default_field(spec, "replicas", json!(1));
    let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
    if let Some(st) = strategy.as_object_mut() {
        default_field(st, "type", json!("RollingUpdate"));
        if st.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            default_field(st, "rollingUpdate", json!({}));
            if let Some(Value::Object(ru)) = st.get_mut("rollingUpdate") {
                default_field(ru, "maxUnavailable", json!("25%"));
                default_field(ru, "maxSurge", json!("25%"));
            }
        }
    }
    default_field(spec, "revisionHistoryLimit", json!(10));
    default_field(spec, "progressDeadlineSeconds", json!(600));
}

fn default_replica_set(obj: &mut Value) {
    if let Some(spec) = spec_with_template(obj) {
        default_field(spec, "replicas", json!(1));
    }
}

/// Upstream SetDefaults_PersistentVolumeClaim{,Spec}: volumeMode Filesystem, phase Pending.
pub(crate) fn default_pvc(pvc: &mut Map<String, Value>) {
    let spec = pvc.entry("spec").or_insert_with(|| json!({}));
    if let Some(s) = spec.as_object_mut() {
        default_field(s, "volumeMode", json!("Filesystem"));
    }
    let status = pvc.entry("status").or_insert_with(|| json!({}));
    if let Some(s) = status.as_object_mut() {
        default_field(s, "phase", json!("Pending"));
    }
}

fn default_stateful_set(obj: &mut Value) {
    let Some(spec) = spec_with_template(obj) else {
        return;
    };
    default_field(spec, "podManagementPolicy", json!("OrderedReady"));
    let us = spec.entry("updateStrategy").or_insert_with(|| json!({}));
    if let Some(us) = us.as_object_mut() {
        if crate::json::is_unset(us, "type") {
            us.insert("type".into(), json!("RollingUpdate"));
            default_field(us, "rollingUpdate", json!({}));
        }
        if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(Value::Object(ru)) = us.get_mut("rollingUpdate") {
                default_field(ru, "partition", json!(0));
            }
        }
    }
    let policy = spec
        .entry("persistentVolumeClaimRetentionPolicy")
        .or_insert_with(|| json!({}));
    if let Some(p) = policy.as_object_mut() {
        default_field(p, "whenDeleted", json!("Retain"));
        default_field(p, "whenScaled", json!("Retain"));
    }
    default_field(spec, "replicas", json!(1));
    default_field(spec, "revisionHistoryLimit", json!(10));
    each_obj_in(spec, "volumeClaimTemplates", default_pvc);
}

fn default_daemon_set(obj: &mut Value) {
    let Some(spec) = spec_with_template(obj) else {
        return;
    };
    let us = spec.entry("updateStrategy").or_insert_with(|| json!({}));
    if let Some(us) = us.as_object_mut() {
        default_field(us, "type", json!("RollingUpdate"));
        if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            default_field(us, "rollingUpdate", json!({}));
            if let Some(Value::Object(ru)) = us.get_mut("rollingUpdate") {
                default_field(ru, "maxUnavailable", json!(1));
                default_field(ru, "maxSurge", json!(0));
            }
        }
    }
    default_field(spec, "revisionHistoryLimit", json!(10));
}

/// The apps/v1 form of the internal `spec.templateGeneration`, which the daemon controller
/// copies into its pods' `pod-template-generation` label.
pub(crate) const DAEMON_SET_TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

fn set_template_generation(obj: &mut Value, generation: i64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        let ann = meta.entry("annotations").or_insert_with(|| json!({}));
        if !ann.is_object() {
            *ann = json!({});
        }
        if let Some(a) = ann.as_object_mut() {
            a.insert(
                DAEMON_SET_TEMPLATE_GENERATION.into(),
                json!(generation.to_string()),
            );
        }
    }
}

fn template_generation(obj: &Value) -> i64 {
    str_at(
        obj,
        &["metadata", "annotations", DAEMON_SET_TEMPLATE_GENERATION],
    )
    .parse()
    .unwrap_or(0)
}

/// Upstream daemonSetStrategy.PrepareForCreate: `spec.templateGeneration = 1`.
fn prepare_daemon_set_create(obj: &mut Value) {
    set_template_generation(obj, 1);
}

/// Upstream daemonSetStrategy.PrepareForUpdate: a changed pod template bumps
/// `templateGeneration`; otherwise the stored value is kept (clients cannot change it).
fn prepare_daemon_set_update(new: &mut Value, old: &Value) {
    let old_gen = template_generation(old);
    let changed = get(new, &["spec", "template"]) != get(old, &["spec", "template"]);
    set_template_generation(new, if changed { old_gen + 1 } else { old_gen });
}

fn default_replication_controller(obj: &mut Value) {
    // SetDefaults_ReplicationController: selector and labels default to the template's labels
    let template_labels = get(obj, &["spec", "template", "metadata", "labels"]).cloned();
    if let Some(labels) = template_labels.filter(|l| l.as_object().is_some_and(|m| !m.is_empty())) {
        if let Some(spec) = child_obj(obj, "spec") {
            if spec
                .get("selector")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
            {
                spec.insert("selector".into(), labels.clone());
            }
        }
        if let Some(meta) = child_obj(obj, "metadata") {
            if meta
                .get("labels")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
            {
                meta.insert("labels".into(), labels);
            }
        }
    }
    if let Some(spec) = spec_with_template(obj) {
        default_field(spec, "replicas", json!(1));
    }
}

// ---------------------------------------------------------------- validation

/// An IntOrString as a number, or a percentage's number; `None` when malformed.
pub(crate) fn int_or_percent(v: &Value) -> Option<(i64, bool)> {
    match v {
        Value::Number(n) => n.as_i64().map(|n| (n, false)),
        Value::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse().ok())
            .map(|n| (n, true)),
        _ => None,
    }
}

/// Upstream `ValidatePositiveIntOrPercent` plus, when `max100`, `IsNotMoreThan100Percent`.
pub(crate) fn validate_int_or_percent(v: Option<&Value>, path: &str, max100: bool) -> ErrorList {
    let Some(v) = v else { return Vec::new() };
    match int_or_percent(v) {
        None => vec![FieldError::invalid(
            path,
            v.clone(),
            "must be an integer or percentage (e.g '5%')",
        )],
        Some((n, _)) if n < 0 => vec![FieldError::invalid(
            path,
            n,
            "must be greater than or equal to 0",
        )],
        Some((n, true)) if max100 && n > 100 => vec![FieldError::invalid(
            path,
            v.clone(),
            "must not be greater than 100%",
        )],
        _ => Vec::new(),
    }
}

fn int_or_percent_value(v: Option<&Value>) -> i64 {
    v.and_then(int_or_percent).map_or(0, |(n, _)| n)
}

/// Selector + template checks shared by Deployment, ReplicaSet, StatefulSet and DaemonSet.
fn validate_selector_and_template(spec: &Value, kind: &str) -> ErrorList {
    let mut errs = Vec::new();
    let sel = get(spec, &["selector"]);
    match sel {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(s) => {
            errs.extend(validate_label_selector(s, "spec.selector"));
            if selector::is_empty(s) {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    s.clone(),
                    format!("empty selector is invalid for {kind}"),
                ));
            }
        }
    }
    let template = get(spec, &["template"]);
    if let (Some(s), Some(t)) = (sel, template) {
        let labels = get(t, &["metadata", "labels"]);
        if !selector::is_empty(s) && !selector::matches(s, labels) {
            errs.push(FieldError::invalid(
                "spec.template.metadata.labels",
                labels.cloned().unwrap_or(Value::Null),
                "`selector` does not match template `labels`",
            ));
        }
    }
    errs.extend(validate_pod_template_spec(template, "spec.template"));
    if let Some(t) = template {
        if let Some(rp) = get(t, &["spec", "restartPolicy"]) {
            if rp.as_str() != Some("Always") {
                errs.push(FieldError::not_supported(
                    "spec.template.spec.restartPolicy",
                    rp.clone(),
                    &["Always"],
                ));
            }
        }
        if get(t, &["spec", "activeDeadlineSeconds"]).is_some() {
            let shown = match kind {
                "deployment" => "ReplicaSet",
                "statefulset" => "StatefulSet",
                "daemonset" => "DaemonSet",
                _ => "ReplicaSet",
            };
            errs.push(FieldError::forbidden(
                "spec.template.spec.activeDeadlineSeconds",
                format!("activeDeadlineSeconds in {shown} is not Supported"),
            ));
        }
    }
    errs
}

fn spec_of(obj: &Value) -> &Value {
    obj.get("spec").unwrap_or(&Value::Null)
}

fn validate_deployment(obj: &Value) -> ErrorList {
    let spec = spec_of(obj);
    let mut errs = validate_nonnegative(int_at(spec, &["replicas"]), "spec.replicas");
    // upstream's ReplicaSet message also says "deployment"
    errs.extend(validate_selector_and_template(spec, "deployment"));
    match str_at(spec, &["strategy", "type"]) {
        "Recreate" => {
            if get(spec, &["strategy", "rollingUpdate"]).is_some() {
                errs.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match get(spec, &["strategy", "rollingUpdate"]) {
            None => errs.push(FieldError::required(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let mu = get(ru, &["maxUnavailable"]);
                let ms = get(ru, &["maxSurge"]);
                errs.extend(validate_int_or_percent(
                    mu,
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    false,
                ));
                errs.extend(validate_int_or_percent(
                    ms,
                    "spec.strategy.rollingUpdate.maxSurge",
                    false,
                ));
                if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
                    errs.push(FieldError::invalid(
                        "spec.strategy.rollingUpdate.maxUnavailable",
                        mu.cloned().unwrap_or(json!(0)),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                if let Some(v) = mu {
                    if let Some((n, true)) = int_or_percent(v) {
                        if n > 100 {
                            errs.push(FieldError::invalid(
                                "spec.strategy.rollingUpdate.maxUnavailable",
                                v.clone(),
                                "must not be greater than 100%",
                            ));
                        }
                    }
                }
            }
        },
        _ => errs.push(FieldError::not_supported(
            "spec.strategy",
            get(spec, &["strategy"]).cloned().unwrap_or(Value::Null),
            &["Recreate", "RollingUpdate"],
        )),
    }
    let min_ready = int_at(spec, &["minReadySeconds"]);
    errs.extend(validate_nonnegative(min_ready, "spec.minReadySeconds"));
    errs.extend(validate_nonnegative(
        int_at(spec, &["revisionHistoryLimit"]),
        "spec.revisionHistoryLimit",
    ));
    if let Some(pds) = int_at(spec, &["progressDeadlineSeconds"]) {
        errs.extend(validate_nonnegative(
            Some(pds),
            "spec.progressDeadlineSeconds",
        ));
        if pds <= min_ready.unwrap_or(0) {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                pds,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

fn validate_replica_set(obj: &Value) -> ErrorList {
    let spec = spec_of(obj);
    let mut errs = validate_nonnegative(int_at(spec, &["replicas"]), "spec.replicas");
    errs.extend(validate_nonnegative(
        int_at(spec, &["minReadySeconds"]),
        "spec.minReadySeconds",
    ));
    errs.extend(validate_selector_and_template(spec, "deployment"));
    errs
}

fn validate_stateful_set(obj: &Value) -> ErrorList {
    let spec = spec_of(obj);
    let mut errs = Vec::new();
    match get(spec, &["podManagementPolicy"]) {
        None => errs.push(FieldError::required("spec.podManagementPolicy", "")),
        Some(v) if matches!(v.as_str(), Some("OrderedReady" | "Parallel")) => {}
        Some(v) => errs.push(FieldError::invalid(
            "spec.podManagementPolicy",
            v.clone(),
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    match str_at(spec, &["updateStrategy", "type"]) {
        "RollingUpdate" => {
            errs.extend(validate_nonnegative(
                int_at(spec, &["updateStrategy", "rollingUpdate", "partition"]),
                "spec.updateStrategy.rollingUpdate.partition",
            ));
        }
        "OnDelete" => {
            if let Some(ru) = get(spec, &["updateStrategy", "rollingUpdate"]) {
                errs.push(FieldError::invalid(
                    "spec.updateStrategy.rollingUpdate",
                    ru.clone(),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "" => errs.push(FieldError::required("spec.updateStrategy", "")),
        _ => errs.push(FieldError::invalid(
            "spec.updateStrategy",
            get(spec, &["updateStrategy"])
                .cloned()
                .unwrap_or(Value::Null),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    for f in ["whenDeleted", "whenScaled"] {
        if let Some(v) = get(spec, &["persistentVolumeClaimRetentionPolicy", f]) {
            if !matches!(v.as_str(), Some("Retain" | "Delete")) {
                errs.push(FieldError::not_supported(
                    format!("spec.persistentVolumeClaimRetentionPolicy.{f}"),
                    v.clone(),
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    errs.extend(validate_nonnegative(
        int_at(spec, &["replicas"]),
        "spec.replicas",
    ));
    errs.extend(validate_nonnegative(
        int_at(spec, &["minReadySeconds"]),
        "spec.minReadySeconds",
    ));
    errs.extend(validate_nonnegative(
        int_at(spec, &["revisionHistoryLimit"]),
        "spec.revisionHistoryLimit",
    ));
    let svc = str_at(spec, &["serviceName"]);
    if !svc.is_empty() {
        errs.extend(crate::validation::validate_dns_label_field(
            svc,
            "spec.serviceName",
        ));
    }
    errs.extend(validate_selector_and_template(spec, "statefulset"));
    for (i, t) in arr_at(spec, &["volumeClaimTemplates"]).iter().enumerate() {
        let name = str_at(t, &["metadata", "name"]);
        let p = format!("spec.volumeClaimTemplates[{i}].metadata.name");
        if name.is_empty() {
            errs.push(FieldError::required(p, "name or generateName is required"));
        } else {
            errs.extend(crate::validation::validate_subdomain_opt(name, &p));
        }
    }
    errs
}

/// Upstream `ValidateStatefulSetUpdate`'s message.
const STATEFUL_SET_UPDATE_FORBIDDEN: &str = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

fn validate_stateful_set_update(new: &Value, old: &Value) -> ErrorList {
    let strip = |v: &Value| -> Value {
        let mut s = spec_of(v).clone();
        if let Some(m) = s.as_object_mut() {
            for f in [
                "replicas",
                "ordinals",
                "template",
                "updateStrategy",
                "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds",
            ] {
                m.remove(f);
            }
        }
        s
    };
    if strip(new) != strip(old) {
        vec![FieldError::forbidden("spec", STATEFUL_SET_UPDATE_FORBIDDEN)]
    } else {
        Vec::new()
    }
}

fn validate_daemon_set(obj: &Value) -> ErrorList {
    let spec = spec_of(obj);
    let mut errs = validate_selector_and_template(spec, "daemonset");
    errs.extend(validate_nonnegative(
        int_at(spec, &["minReadySeconds"]),
        "spec.minReadySeconds",
    ));
    errs.extend(validate_nonnegative(
        int_at(spec, &["revisionHistoryLimit"]),
        "spec.revisionHistoryLimit",
    ));
    match str_at(spec, &["updateStrategy", "type"]) {
        "OnDelete" => {}
        "RollingUpdate" => match get(spec, &["updateStrategy", "rollingUpdate"]) {
            None => errs.push(FieldError::required(
                "spec.updateStrategy.rollingUpdate",
                "",
            )),
            Some(ru) => {
                let mu = get(ru, &["maxUnavailable"]);
                let ms = get(ru, &["maxSurge"]);
                let base = "spec.updateStrategy.rollingUpdate";
                errs.extend(validate_int_or_percent(
                    mu,
                    &format!("{base}.maxUnavailable"),
                    true,
                ));
                errs.extend(validate_int_or_percent(
                    ms,
                    &format!("{base}.maxSurge"),
                    true,
                ));
                let (hu, hs) = (int_or_percent_value(mu) != 0, int_or_percent_value(ms) != 0);
                if hu && hs {
                    errs.push(FieldError::invalid(
                        format!("{base}.maxSurge"),
                        ms.cloned().unwrap_or(Value::Null),
                        "may not be set when maxUnavailable is non-zero",
                    ));
                } else if !hu && !hs {
                    errs.push(FieldError::required(
                        format!("{base}.maxUnavailable"),
                        "cannot be 0 when maxSurge is 0",
                    ));
                }
            }
        },
        _ => errs.push(FieldError::not_supported(
            "spec.updateStrategy",
            get(spec, &["updateStrategy"])
                .cloned()
                .unwrap_or(Value::Null),
            &["OnDelete", "RollingUpdate"],
        )),
    }
    errs
}

fn validate_replication_controller(obj: &Value) -> ErrorList {
    let spec = spec_of(obj);
    let mut errs = validate_nonnegative(int_at(spec, &["replicas"]), "spec.replicas");
    errs.extend(validate_nonnegative(
        int_at(spec, &["minReadySeconds"]),
        "spec.minReadySeconds",
    ));
    let sel = get(spec, &["selector"]);
    if sel.and_then(Value::as_object).is_none_or(Map::is_empty) {
        errs.push(FieldError::required("spec.selector", ""));
    } else {
        errs.extend(crate::validation::validate_labels(sel, "spec.selector"));
    }
    match get(spec, &["template"]) {
        None => errs.push(FieldError::required("spec.template", "")),
        Some(t) => {
            let labels = get(t, &["metadata", "labels"]);
            let matches = sel.and_then(Value::as_object).is_some_and(|s| {
                s.iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            });
            if sel.is_some() && !matches {
                errs.push(FieldError::invalid(
                    "spec.template.metadata.labels",
                    labels.cloned().unwrap_or(Value::Null),
                    "`selector` does not match template `labels`",
                ));
            }
            errs.extend(validate_pod_template_spec(Some(t), "spec.template"));
            if let Some(rp) = get(t, &["spec", "restartPolicy"]) {
                if rp.as_str() != Some("Always") {
                    errs.push(FieldError::not_supported(
                        "spec.template.spec.restartPolicy",
                        rp.clone(),
                        &["Always"],
                    ));
                }
            }
        }
    }
    errs
}

/// apps/v1 forbids selector changes on update (upstream strategies' ValidateUpdate).
fn validate_selector_immutable(new: &Value, old: &Value) -> ErrorList {
    validate_immutable(
        get(new, &["spec", "selector"]),
        get(old, &["spec", "selector"]),
        "spec.selector",
    )
}

/// Status counters must be non-negative (upstream Validate*Status).
fn validate_replica_status(new: &Value, _old: &Value) -> ErrorList {
    let mut errs = Vec::new();
    if let Some(st) = new.get("status").and_then(Value::as_object) {
        for (k, v) in st {
            if let Some(n) = v.as_i64() {
                errs.extend(validate_nonnegative(Some(n), &format!("status.{k}")));
            }
        }
        let replicas = st.get("replicas").and_then(Value::as_i64).unwrap_or(0);
        for f in ["readyReplicas", "availableReplicas"] {
            if let Some(n) = st.get(f).and_then(Value::as_i64) {
                if n > replicas {
                    errs.push(FieldError::invalid(
                        format!("status.{f}"),
                        n,
                        "cannot be greater than status.replicas",
                    ));
                }
            }
        }
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

    fn workload(kind: &str, spec: Value) -> Value {
        let mut spec = spec;
        if spec.get("template").is_none() {
            spec["template"] = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        }
        if spec.get("selector").is_none() {
            spec["selector"] = json!({"matchLabels": {"app": "web"}});
        }
        json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn deployment_defaults() {
        let mut d = workload("Deployment", json!({}));
        DEPLOYMENTS.default(&mut d);
        let s = &d["spec"];
        assert_eq!(s["replicas"], 1);
        assert_eq!(
            s["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(s["revisionHistoryLimit"], 10);
        assert_eq!(s["progressDeadlineSeconds"], 600);
        assert_eq!(s["template"]["spec"]["restartPolicy"], "Always");
        assert!(s["template"]["spec"].get("enableServiceLinks").is_none());
        assert_eq!(
            s["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "Always"
        );
        assert!(
            DEPLOYMENTS.validate_create(&d).is_empty(),
            "{:?}",
            msgs(&DEPLOYMENTS.validate_create(&d))
        );

        let mut r = workload("Deployment", json!({"strategy": {"type": "Recreate"}}));
        DEPLOYMENTS.default(&mut r);
        assert_eq!(r["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn deployment_validation_table() {
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (
                json!({"selector": {"matchLabels": {"app": "other"}}}),
                vec!["spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`"],
            ),
            (
                json!({"selector": {}}),
                vec!["spec.selector: Invalid value: {}: empty selector is invalid for deployment"],
            ),
            (json!({"replicas": -1}), vec!["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]),
            (
                json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}}),
                vec!["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"],
            ),
            (
                json!({"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}}),
                vec!["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"],
            ),
            (
                json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "150%"}}}),
                vec!["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"],
            ),
            (
                json!({"progressDeadlineSeconds": 5, "minReadySeconds": 10}),
                vec!["spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds"],
            ),
            (
                json!({"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}),
                vec!["spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""],
            ),
        ];
        for (spec, want) in cases {
            let mut d = workload("Deployment", spec);
            DEPLOYMENTS.default(&mut d);
            assert_eq!(
                msgs(&DEPLOYMENTS.validate_create(&d)),
                want,
                "{}",
                d["spec"]
            );
        }
    }

    #[test]
    fn deployment_generation_and_selector_immutability() {
        let mut old = workload("Deployment", json!({}));
        DEPLOYMENTS.default(&mut old);
        DEPLOYMENTS.prepare_for_create(&mut old);
        assert_eq!(old["metadata"]["generation"], 1);
        assert_eq!(old["status"], json!({}));

        let mut scaled = old.clone();
        scaled["spec"]["replicas"] = json!(3);
        DEPLOYMENTS.prepare_for_update(&mut scaled, &old);
        assert_eq!(scaled["metadata"]["generation"], 2);

        let mut annotated = old.clone();
        annotated["metadata"]["annotations"] = json!({"a": "b"});
        DEPLOYMENTS.prepare_for_update(&mut annotated, &old);
        assert_eq!(annotated["metadata"]["generation"], 2);

        let mut labelled = old.clone();
        labelled["metadata"]["labels"] = json!({"a": "b"});
        DEPLOYMENTS.prepare_for_update(&mut labelled, &old);
        assert_eq!(labelled["metadata"]["generation"], 1);

        let mut resel = old.clone();
        resel["spec"]["selector"] = json!({"matchLabels": {"app": "web", "x": "y"}});
        resel["spec"]["template"]["metadata"]["labels"]["x"] = json!("y");
        assert_eq!(
            msgs(&DEPLOYMENTS.validate_update(&resel, &old)),
            vec!["spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"web\",\"x\":\"y\"}}: field is immutable"]
        );
    }

    #[test]
    fn statefulset_defaults_and_update() {
        let mut s = workload(
            "StatefulSet",
            json!({"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}),
        );
        STATEFUL_SETS.default(&mut s);
        let sp = &s["spec"];
        assert_eq!(sp["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            sp["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            sp["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(sp["replicas"], 1);
        assert_eq!(sp["revisionHistoryLimit"], 10);
        assert_eq!(
            sp["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        assert_eq!(sp["volumeClaimTemplates"][0]["status"]["phase"], "Pending");
        assert!(
            STATEFUL_SETS.validate_create(&s).is_empty(),
            "{:?}",
            msgs(&STATEFUL_SETS.validate_create(&s))
        );

        let mut scaled = s.clone();
        scaled["spec"]["replicas"] = json!(5);
        assert!(STATEFUL_SETS.validate_update(&scaled, &s).is_empty());
        let mut renamed = s.clone();
        renamed["spec"]["serviceName"] = json!("other");
        assert_eq!(
            msgs(&STATEFUL_SETS.validate_update(&renamed, &s)),
            vec![format!("spec: Forbidden: {STATEFUL_SET_UPDATE_FORBIDDEN}")]
        );
    }

    #[test]
    fn daemonset_defaults_and_validation() {
        let mut d = workload("DaemonSet", json!({}));
        DAEMON_SETS.default(&mut d);
        assert_eq!(
            d["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert!(DAEMON_SETS.validate_create(&d).is_empty());
        d["spec"]["updateStrategy"]["rollingUpdate"] = json!({"maxUnavailable": 0, "maxSurge": 0});
        assert_eq!(
            msgs(&DAEMON_SETS.validate_create(&d)),
            vec!["spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"]
        );
        d["spec"]["selector"] = json!({});
        assert!(msgs(&DAEMON_SETS.validate_create(&d)).contains(
            &"spec.selector: Invalid value: {}: empty selector is invalid for daemonset"
                .to_string()
        ));
    }

    #[test]
    fn replicaset_and_rc() {
        let mut rs = workload("ReplicaSet", json!({}));
        REPLICA_SETS.default(&mut rs);
        assert_eq!(rs["spec"]["replicas"], 1);
        assert!(REPLICA_SETS.validate_create(&rs).is_empty());
        let mut rc = json!({"metadata": {"name": "rc", "namespace": "default"}, "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        REPLICATION_CONTROLLERS.default(&mut rc);
        assert_eq!(rc["spec"]["selector"], json!({"app": "x"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "x"}));
        assert!(REPLICATION_CONTROLLERS.validate_create(&rc).is_empty());
    }

    #[test]
    fn status_update_keeps_spec_and_labels() {
        let mut old = workload("Deployment", json!({}));
        old["metadata"]["labels"] = json!({"a": "1"});
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(9);
        new["metadata"]["labels"] = json!({"a": "2"});
        new["status"] = json!({"replicas": 1, "readyReplicas": 2});
        DEPLOYMENTS.prepare_for_status_update(&mut new, &old);
        assert_eq!(new["spec"], old["spec"]);
        assert_eq!(new["metadata"]["labels"], json!({"a": "1"}));
        assert_eq!(
            msgs(&DEPLOYMENTS.validate_status_update(&new, &old)),
            vec!["status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas"]
        );
    }

    #[test]
    fn daemon_set_template_generation() {
        let mut ds = workload("DaemonSet", json!({}));
        (DAEMON_SETS.prepare_create)(&mut ds);
        let at = |v: &Value| template_generation(v);
        assert_eq!(at(&ds), 1);
        // Metadata-only or non-template changes keep it; a template change bumps it.
        let mut same = ds.clone();
        same["metadata"]["annotations"][DAEMON_SET_TEMPLATE_GENERATION] = json!("9");
        (DAEMON_SETS.prepare_update)(&mut same, &ds);
        assert_eq!(at(&same), 1);
        let mut changed = ds.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        (DAEMON_SETS.prepare_update)(&mut changed, &ds);
        assert_eq!(at(&changed), 2);
    }
}
