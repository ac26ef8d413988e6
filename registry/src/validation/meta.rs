//! ObjectMeta validation, mirroring upstream `apimachinery/pkg/api/validation/objectmeta.go`
//! (`ValidateObjectMetaAccessor`, `ValidateObjectMetaUpdate`) plus core's finalizer rules.

use super::{names, validate_labels, validate_nonnegative, NameValidation};
use crate::field::{ErrorList, FieldError};
use crate::json::{arr_at, get, str_at};
use serde_json::Value;

/// Upstream's `TotalAnnotationSizeLimitB`.
pub(crate) const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Owners upstream refuses (`BannedOwners`): events may not own objects.
const BANNED_OWNERS: &[(&str, &str)] = &[("", "Event"), ("events.k8s.io", "Event")];

/// `ValidateAnnotations`: keys are qualified names (case-insensitively), total size of keys
/// and values at most 256 KiB.
pub(crate) fn validate_annotations(ann: Option<&Value>, path: &str) -> ErrorList {
    let mut errs = Vec::new();
    let Some(map) = ann.and_then(Value::as_object) else {
        return errs;
    };
    let mut total = 0usize;
    for (k, v) in map {
        for m in names::is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k.as_str(), m));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

fn validate_owner_references(refs: &[Value], path: &str) -> ErrorList {
    let mut errs = Vec::new();
    let mut controllers = Vec::new();
    for r in refs {
        let api_version = str_at(r, &["apiVersion"]);
        let kind = str_at(r, &["kind"]);
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        if version.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.kind"),
                kind,
                "kind must not be empty",
            ));
        }
        if str_at(r, &["name"]).is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.name"),
                "",
                "name must not be empty",
            ));
        }
        if str_at(r, &["uid"]).is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.uid"),
                "",
                "uid must not be empty",
            ));
        }
        if BANNED_OWNERS.contains(&(group, kind)) {
            // upstream prints the GroupVersionKind as "group/version, Kind=kind"
            errs.push(FieldError::invalid(
                path,
                r.clone(),
                format!("{group}/{version}, Kind={kind} is disallowed from being an owner"),
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            controllers.push(format!("{}/{}", kind, str_at(r, &["name"])));
        }
    }
    if controllers.len() > 1 {
        errs.push(FieldError::invalid(
            path,
            Value::Array(refs.to_vec()),
            format!(
                "Only one reference can have Controller set to true. Found \"true\" in references for {} and {}",
                controllers[0], controllers[1]
            ),
        ));
    }
    errs
}

fn validate_finalizers(fins: &[Value], path: &str) -> ErrorList {
    let mut errs = Vec::new();
    let mut has_orphan = false;
    let mut has_foreground = false;
    for f in fins {
        let s = f.as_str().unwrap_or("");
        for m in names::is_qualified_name(s) {
            errs.push(FieldError::invalid(path, s, m));
        }
        has_orphan |= s == "orphan";
        has_foreground |= s == "foregroundDeletion";
    }
    if has_orphan && has_foreground {
        errs.push(FieldError::invalid(
            path,
            Value::Array(fins.to_vec()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// ObjectMeta validation shared by all strategies (upstream `ValidateObjectMetaAccessor`):
/// name/generateName format, namespace presence per scope, generation, labels, annotations,
/// ownerReferences and finalizers.
pub fn validate_object_meta(
    obj: &Value,
    namespaced: bool,
    name_validation: NameValidation,
) -> ErrorList {
    validate_object_meta_scoped(obj, Some(namespaced), name_validation)
}

/// Like [`validate_object_meta`]; `namespaced: None` skips the namespace-scope check (used
/// for resources this crate does not know the scope of).
pub(crate) fn validate_object_meta_scoped(
    obj: &Value,
    namespaced: Option<bool>,
    name_validation: NameValidation,
) -> ErrorList {
    let mut errs = Vec::new();
    let generate_name = str_at(obj, &["metadata", "generateName"]);
    if !generate_name.is_empty() {
        for m in name_validation.check(generate_name, true) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                generate_name,
                m,
            ));
        }
    }
    let name = str_at(obj, &["metadata", "name"]);
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for m in name_validation.check(name, false) {
            errs.push(FieldError::invalid("metadata.name", name, m));
        }
    }
    let ns = str_at(obj, &["metadata", "namespace"]);
    match namespaced {
        Some(true) => {
            if ns.is_empty() {
                errs.push(FieldError::required("metadata.namespace", ""));
            } else {
                for m in names::is_dns1123_label(ns) {
                    errs.push(FieldError::invalid("metadata.namespace", ns, m));
                }
            }
        }
        Some(false) if !ns.is_empty() => {
            errs.push(FieldError::forbidden(
                "metadata.namespace",
                "not allowed on this type",
            ));
        }
        _ => {}
    }
    errs.extend(validate_nonnegative(
        get(obj, &["metadata", "generation"]).and_then(Value::as_i64),
        "metadata.generation",
    ));
    errs.extend(validate_labels(
        get(obj, &["metadata", "labels"]),
        "metadata.labels",
    ));
    errs.extend(validate_annotations(
        get(obj, &["metadata", "annotations"]),
        "metadata.annotations",
    ));
    errs.extend(validate_owner_references(
        arr_at(obj, &["metadata", "ownerReferences"]),
        "metadata.ownerReferences",
    ));
    errs.extend(validate_finalizers(
        arr_at(obj, &["metadata", "finalizers"]),
        "metadata.finalizers",
    ));
    errs
}

/// ObjectMeta update validation (upstream `ValidateObjectMetaUpdate`): name, namespace, uid
/// and creationTimestamp immutable, generation never decremented, no new finalizers while
/// deleting, plus the create-time checks on labels, annotations, ownerReferences and
/// finalizers of the new object.
pub fn validate_object_meta_update(new: &Value, old: &Value) -> ErrorList {
    let mut errs = Vec::new();
    for field in ["name", "namespace", "uid", "creationTimestamp"] {
        let n = get(new, &["metadata", field]);
        let o = get(old, &["metadata", field]);
        if n != o {
            errs.push(FieldError::invalid(
                format!("metadata.{field}"),
                n.cloned().unwrap_or(Value::String(String::new())),
                "field is immutable",
            ));
        }
    }
    let ng = get(new, &["metadata", "generation"])
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let og = get(old, &["metadata", "generation"])
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if ng < og {
        errs.push(FieldError::invalid(
            "metadata.generation",
            ng,
            "must not be decremented",
        ));
    }
    if get(old, &["metadata", "deletionTimestamp"]).is_some() {
        let old_f = arr_at(old, &["metadata", "finalizers"]);
        let added: Vec<Value> = arr_at(new, &["metadata", "finalizers"])
            .iter()
            .filter(|f| !old_f.contains(f))
            .cloned()
            .collect();
        if !added.is_empty() {
            let list: Vec<String> = added.iter().map(|v| v.to_string()).collect();
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    list.join(", ")
                ),
            ));
        }
    }
    errs.extend(validate_nonnegative(Some(ng), "metadata.generation"));
    errs.extend(validate_labels(
        get(new, &["metadata", "labels"]),
        "metadata.labels",
    ));
    errs.extend(validate_annotations(
        get(new, &["metadata", "annotations"]),
        "metadata.annotations",
    ));
    errs.extend(validate_owner_references(
        arr_at(new, &["metadata", "ownerReferences"]),
        "metadata.ownerReferences",
    ));
    errs.extend(validate_finalizers(
        arr_at(new, &["metadata", "finalizers"]),
        "metadata.finalizers",
    ));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn object_meta_table() {
        let cases: Vec<(Value, bool, NameValidation, Vec<&str>)> = vec![
            (json!({"metadata": {"name": "ok", "namespace": "default"}}), true, NameValidation::Dns1123Subdomain, vec![]),
            (
                json!({"metadata": {"namespace": "default"}}),
                true,
                NameValidation::Dns1123Subdomain,
                vec!["metadata.name: Required value: name or generateName is required"],
            ),
            (
                json!({"metadata": {"name": "ok"}}),
                true,
                NameValidation::Dns1123Subdomain,
                vec!["metadata.namespace: Required value"],
            ),
            (
                json!({"metadata": {"name": "ok", "namespace": "x"}}),
                false,
                NameValidation::Dns1123Subdomain,
                vec!["metadata.namespace: Forbidden: not allowed on this type"],
            ),
            (json!({"metadata": {"generateName": "web-", "name": "web-abc"}}), false, NameValidation::Dns1123Label, vec![]),
            (
                json!({"metadata": {"name": "a.b"}}),
                false,
                NameValidation::Dns1123Label,
                // Upstream's IsDNS1123Label says only this for a valid subdomain with dots.
                vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"],
            ),
            (json!({"metadata": {"name": "system:admin"}}), false, NameValidation::PathSegment, vec![]),
            (
                json!({"metadata": {"name": "a/b"}}),
                false,
                NameValidation::PathSegment,
                vec!["metadata.name: Invalid value: \"a/b\": may not contain '/'"],
            ),
            (
                json!({"metadata": {"name": "x", "labels": {"a": "-b"}}}),
                false,
                NameValidation::Dns1123Subdomain,
                vec!["metadata.labels: Invalid value: \"-b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"],
            ),
            (
                json!({"metadata": {"name": "x", "annotations": {"k": "v".repeat(262144)}}}),
                false,
                NameValidation::Dns1123Subdomain,
                vec!["metadata.annotations: Too long: may not be more than 262144 bytes"],
            ),
            (
                json!({"metadata": {"name": "x", "ownerReferences": [{"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "1"}]}}),
                false,
                NameValidation::Dns1123Subdomain,
                vec!["metadata.ownerReferences: Invalid value: {\"apiVersion\":\"v1\",\"kind\":\"Event\",\"name\":\"e\",\"uid\":\"1\"}: /v1, Kind=Event is disallowed from being an owner"],
            ),
            (
                json!({"metadata": {"name": "x", "ownerReferences": [{"apiVersion": "", "kind": "", "name": "", "uid": ""}]}}),
                false,
                NameValidation::Dns1123Subdomain,
                vec![
                    "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty",
                    "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty",
                    "metadata.ownerReferences.name: Invalid value: \"\": name must not be empty",
                    "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty",
                ],
            ),
            (
                json!({"metadata": {"name": "x", "finalizers": ["orphan", "foregroundDeletion"]}}),
                false,
                NameValidation::Dns1123Subdomain,
                vec!["metadata.finalizers: Invalid value: [\"orphan\",\"foregroundDeletion\"]: finalizer orphan and foregroundDeletion cannot be both set"],
            ),
        ];
        for (obj, namespaced, nv, want) in cases {
            assert_eq!(
                msgs(&validate_object_meta(&obj, namespaced, nv)),
                want,
                "{obj}"
            );
        }
    }

    #[test]
    fn object_meta_update_table() {
        let old =
            json!({"metadata": {"name": "a", "namespace": "ns", "uid": "u1", "generation": 3}});
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (
                json!({"metadata": {"name": "a", "namespace": "ns", "uid": "u1", "generation": 3, "labels": {"x": "y"}}}),
                vec![],
            ),
            (
                json!({"metadata": {"name": "b", "namespace": "ns", "uid": "u1", "generation": 3}}),
                vec!["metadata.name: Invalid value: \"b\": field is immutable"],
            ),
            (
                json!({"metadata": {"name": "a", "namespace": "ns", "uid": "u1", "generation": 2}}),
                vec!["metadata.generation: Invalid value: 2: must not be decremented"],
            ),
        ];
        for (new, want) in cases {
            assert_eq!(
                msgs(&validate_object_meta_update(&new, &old)),
                want,
                "{new}"
            );
        }
        let deleting = json!({"metadata": {"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a.io/x"]}});
        let added = json!({"metadata": {"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a.io/x", "b.io/y"]}});
        assert_eq!(
            msgs(&validate_object_meta_update(&added, &deleting)),
            vec!["metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b.io/y\"}"]
        );
    }
}
