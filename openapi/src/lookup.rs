//! Schema answers for other code: patch metadata ([`Schemas`]) and strict field validation
//! ([`unknown_fields`]).

use rudder_patch::{FieldSchema, SchemaLookup};
use serde_json::Value;

use crate::definitions::{definitions, ref_target};

/// [`SchemaLookup`] over [`definitions()`](crate::definitions()): what strategic merge patch
/// and server-side apply need to know about a field.
#[derive(Debug, Clone, Copy, Default)]
pub struct Schemas;

impl SchemaLookup for Schemas {
    fn field(&self, type_name: &str, field: &str) -> Option<FieldSchema> {
        let prop = definitions()
            .get(type_name)?
            .get("properties")?
            .get(field)?;
        Some(field_schema(prop))
    }
}

fn field_schema(prop: &Value) -> FieldSchema {
    let ext = |k: &str| prop.get(k).and_then(Value::as_str).map(str::to_string);
    let mut out = FieldSchema {
        patch_strategy: ext("x-kubernetes-patch-strategy"),
        patch_merge_key: ext("x-kubernetes-patch-merge-key"),
        list_type: ext("x-kubernetes-list-type"),
        list_map_keys: prop
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        map_type: ext("x-kubernetes-map-type"),
        ..FieldSchema::default()
    };
    let element = if prop.get("type").and_then(Value::as_str) == Some("array") {
        out.is_list = true;
        prop.get("items")
    } else if let Some(values) = prop.get("additionalProperties").filter(|v| v.is_object()) {
        out.is_map = true;
        Some(values)
    } else {
        Some(prop)
    };
    out.type_name = element.and_then(object_ref).map(str::to_string);
    // A struct-level `x-kubernetes-map-type` (from upstream's `+structType=atomic`, e.g.
    // LocalObjectReference, LabelSelector) applies to every field of that type.
    if out.map_type.is_none() && !out.is_list && !out.is_map {
        if let Some(name) = &out.type_name {
            out.map_type = definitions()
                .get(name)
                .and_then(|d| d.get("x-kubernetes-map-type"))
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    }
    out
}

/// The definition a schema refers to, when that definition is an object with properties.
/// Leaves such as Quantity, IntOrString, Time and RawExtension have none and give `None`:
/// the patch algorithms treat them as opaque values.
fn object_ref(schema: &Value) -> Option<&'static str> {
    let target = ref_target(schema.get("$ref")?.as_str()?);
    let (name, def) = definitions().get_key_value(target)?;
    def.get("properties")?;
    Some(name.as_str())
}

/// Every field of `obj` that the schema of `type_name` does not declare, in document order,
/// as upstream's strict field validation names them: `spec.foo`,
/// `spec.template.spec.containers[0].bar` (the form inside
/// `strict decoding error: unknown field "spec.foo"`; join with [`strict_decoding_error`]).
///
/// Maps (`additionalProperties`: labels, annotations, data, ...) accept any key, and opaque
/// values (RawExtension, `x-kubernetes-preserve-unknown-fields`, leaves) are not looked into.
/// `apiVersion` and `kind` at the top level are always accepted. Values of the wrong JSON
/// type are not reported here (that is a decoding error, not an unknown field). An unknown
/// `type_name` yields no fields.
pub fn unknown_fields(type_name: &str, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_object(type_name, obj, "", &mut out);
    out
}

/// Upstream's error text for the fields [`unknown_fields`] found, e.g.
/// `strict decoding error: unknown field "spec.foo", unknown field "spec.bar"`.
pub fn strict_decoding_error(fields: &[String]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    format!("strict decoding error: {}", parts.join(", "))
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn walk_object(type_name: &str, value: &Value, path: &str, out: &mut Vec<String>) {
    let Some(def) = definitions().get(type_name) else {
        return;
    };
    if def.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    let Some(props) = def.get("properties").and_then(Value::as_object) else {
        return;
    };
    let Value::Object(map) = value else {
        return;
    };
    for (key, child) in map {
        // TypeMeta is decoded before the schema at the top level, so it is always known
        // there, even on types whose schema does not list it.
        if path.is_empty() && (key == "apiVersion" || key == "kind") {
            continue;
        }
        let child_path = join(path, key);
        match props.get(key) {
            None => out.push(child_path),
            Some(schema) => walk_value(schema, child, &child_path, out),
        }
    }
}

fn walk_value(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        walk_object(ref_target(r), value, path, out);
        return;
    }
    if let Some(items) = schema.get("items") {
        if let Value::Array(elements) = value {
            for (i, element) in elements.iter().enumerate() {
                walk_value(items, element, &format!("{path}[{i}]"), out);
            }
        }
        return;
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        if let Value::Object(map) = value {
            for (key, element) in map {
                walk_value(values, element, &join(path, key), out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_spec_containers() {
        let f = Schemas
            .field("io.k8s.api.core.v1.PodSpec", "containers")
            .expect("containers");
        assert_eq!(f.type_name.as_deref(), Some("io.k8s.api.core.v1.Container"));
        assert!(f.is_list);
        assert!(!f.is_map);
        assert_eq!(f.patch_strategy.as_deref(), Some("merge"));
        assert_eq!(f.patch_merge_key.as_deref(), Some("name"));
        assert_eq!(f.list_type.as_deref(), Some("map"));
        assert_eq!(f.list_map_keys, vec!["name".to_string()]);
    }

    #[test]
    fn field_shapes() {
        // (type, field, child type, is_list, is_map, map_type)
        type Row = (
            &'static str,
            &'static str,
            Option<&'static str>,
            bool,
            bool,
            Option<&'static str>,
        );
        let cases: &[Row] = &[
            (
                "io.k8s.api.core.v1.Pod",
                "spec",
                Some("io.k8s.api.core.v1.PodSpec"),
                false,
                false,
                None,
            ),
            (
                "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                "labels",
                None,
                false,
                true,
                None,
            ),
            (
                "io.k8s.api.core.v1.ResourceRequirements",
                "limits",
                None,
                false,
                true,
                None,
            ),
            (
                "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                "creationTimestamp",
                None,
                false,
                false,
                None,
            ),
            (
                "io.k8s.api.apps.v1.DeploymentSpec",
                "selector",
                Some("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"),
                false,
                false,
                Some("atomic"),
            ),
            (
                "io.k8s.api.core.v1.PodSpec",
                "nodeSelector",
                None,
                false,
                true,
                Some("atomic"),
            ),
            (
                "io.k8s.api.core.v1.ContainerPort",
                "containerPort",
                None,
                false,
                false,
                None,
            ),
        ];
        for (ty, field, child, is_list, is_map, map_type) in cases {
            let f = Schemas
                .field(ty, field)
                .unwrap_or_else(|| panic!("{ty}.{field}"));
            assert_eq!(f.type_name.as_deref(), *child, "{ty}.{field}");
            assert_eq!(f.is_list, *is_list, "{ty}.{field}");
            assert_eq!(f.is_map, *is_map, "{ty}.{field}");
            assert_eq!(f.map_type.as_deref(), *map_type, "{ty}.{field}");
        }
        assert!(Schemas
            .field("io.k8s.api.core.v1.PodSpec", "nope")
            .is_none());
        assert!(Schemas.field("no.such.Type", "x").is_none());
    }

    #[test]
    fn unknown_fields_cases() {
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            (
                "io.k8s.api.core.v1.Pod",
                json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "p", "labels": {"any.key/x": "v"},
                                 "annotations": {"foo": "bar"}},
                    "spec": {"foo": 1, "containers": [
                        {"name": "a", "image": "i"},
                        {"name": "b", "image": "i", "bar": true,
                         "resources": {"limits": {"cpu": "1"}},
                         "ports": [{"containerPort": 80, "nope": 1}]}
                    ]}
                }),
                vec![
                    "spec.foo",
                    "spec.containers[1].bar",
                    "spec.containers[1].ports[0].nope",
                ],
            ),
            (
                "io.k8s.api.apps.v1.Deployment",
                json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "d"},
                    "spec": {"selector": {"matchLabels": {"app": "x"}},
                             "template": {"metadata": {"labels": {"app": "x"}},
                                          "spec": {"containers": [{"name": "c", "imagePullPolice": "x"}]}}}
                }),
                vec!["spec.template.spec.containers[0].imagePullPolice"],
            ),
            (
                "io.k8s.api.core.v1.ConfigMap",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                       "data": {"k": "v"}, "binaryData": {}}),
                vec![],
            ),
            (
                "io.k8s.api.apps.v1.ControllerRevision",
                json!({"metadata": {"name": "r"}, "revision": 1,
                       "data": {"anything": {"goes": true}}}),
                vec![],
            ),
            (
                "io.k8s.api.core.v1.Pod",
                json!({"metadata": {"name": "p", "extra": 1}, "status": {"phase": "Running", "x": 1}}),
                vec!["metadata.extra", "status.x"],
            ),
        ];
        for (ty, obj, want) in cases {
            assert_eq!(unknown_fields(ty, &obj), want, "{ty}: {obj}");
        }
    }

    #[test]
    fn strict_decoding_error_text() {
        let fields = vec!["spec.foo".to_string(), "spec.bar".to_string()];
        assert_eq!(
            strict_decoding_error(&fields),
            "strict decoding error: unknown field \"spec.foo\", unknown field \"spec.bar\""
        );
    }
}
