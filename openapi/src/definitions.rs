//! The OpenAPI definitions (name -> schema) of every built-in type.
//!
//! Schemas come from k8s-openapi's `schemars` impls, run once through a
//! `schemars::SchemaGenerator` whose references point at `#/definitions/<name>` (the v2
//! form). k8s-openapi drops upstream's Kubernetes vendor extensions, so they are added back
//! here: `x-kubernetes-group-version-kind` on kinds and lists, and the field extensions of
//! [`crate::extensions`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use crate::extensions;
use crate::types::{self, KINDS};

/// The v2 reference prefix.
pub const V2_REF_PREFIX: &str = "#/definitions/";
/// The v3 reference prefix.
pub const V3_REF_PREFIX: &str = "#/components/schemas/";

const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
const APIEXTENSIONS_V1: &str = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1";

/// Every definition, keyed by OpenAPI name (`io.k8s.api.core.v1.Pod`), with v2 references.
pub fn definitions() -> &'static BTreeMap<String, Value> {
    static DEFS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    DEFS.get_or_init(build)
}

/// The definition name of a built-in kind or list kind at a group/version, e.g.
/// `("apps", "v1", "Deployment")` -> `io.k8s.api.apps.v1.Deployment` and
/// `("", "v1", "PodList")` -> `io.k8s.api.core.v1.PodList`.
pub fn definition_for(group: &str, version: &str, kind: &str) -> Option<&'static str> {
    static INDEX: OnceLock<BTreeMap<(String, String, String), &'static str>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let defs = definitions();
        let mut index = BTreeMap::new();
        for (name, schema) in defs {
            let Some(gvks) = schema
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
            else {
                continue;
            };
            // DeleteOptions and WatchEvent carry one GVK per group-version like upstream;
            // they are still the right answer for e.g. ("apps", "v1", "DeleteOptions").
            for gvk in gvks {
                let field = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or_default();
                index
                    .entry((
                        field("group").to_string(),
                        field("version").to_string(),
                        field("kind").to_string(),
                    ))
                    .or_insert(name.as_str());
            }
        }
        index
    });
    index
        .get(&(group.to_string(), version.to_string(), kind.to_string()))
        .copied()
}

fn build() -> BTreeMap<String, Value> {
    let settings = SchemaSettings::draft07().with(|s| {
        s.definitions_path = "/definitions".into();
        s.meta_schema = None;
        // Upstream's v2 document keeps `description` next to `$ref`; schemars' draft-07
        // transforms would wrap those in `allOf`, so run none.
        s.transforms = Vec::new();
    });
    let mut generator = settings.into_generator();
    for kind in KINDS {
        (kind.register)(&mut generator);
    }
    types::register_meta(&mut generator);
    let mut defs: BTreeMap<String, Value> = generator.take_definitions(false).into_iter().collect();

    // Every served group-version, for the multi-GVK meta definitions.
    let mut group_versions: Vec<(&str, &str)> = Vec::new();
    for kind in KINDS {
        if !group_versions.contains(&(kind.group, kind.version)) {
            group_versions.push((kind.group, kind.version));
        }
    }

    for kind in KINDS {
        let name = (kind.definition)();
        if let Some(Value::Object(schema)) = defs.get_mut(&name) {
            push_gvk(schema, kind.group, kind.version, kind.kind);
        }
        if kind.listable {
            let list = list_definition(&defs, &name, kind.group, kind.version, kind.kind);
            defs.insert(format!("{name}List"), list);
        }
    }
    for meta in [DELETE_OPTIONS, WATCH_EVENT] {
        if let Some(Value::Object(schema)) = defs.get_mut(meta) {
            let kind = meta.rsplit('.').next().unwrap_or(meta);
            for (group, version) in &group_versions {
                push_gvk(schema, group, version, kind);
            }
        }
    }

    apply_field_extensions(&mut defs);
    upstream_leaf_forms(&mut defs);
    defs
}

fn push_gvk(schema: &mut Map<String, Value>, group: &str, version: &str, kind: &str) {
    let entry = json!({"group": group, "kind": kind, "version": version});
    let list = schema
        .entry("x-kubernetes-group-version-kind")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = list {
        if !items.contains(&entry) {
            items.push(entry);
        }
    }
}

/// Builds `<Kind>List` the way upstream's generated lists look: apiVersion, items, kind,
/// metadata (ListMeta), `items` required.
fn list_definition(
    defs: &BTreeMap<String, Value>,
    item: &str,
    group: &str,
    version: &str,
    kind: &str,
) -> Value {
    let item_prop = |p: &str| {
        defs.get(item)
            .and_then(|d| d.pointer(&format!("/properties/{p}")))
            .cloned()
            .unwrap_or_else(|| json!({"type": "string"}))
    };
    let list_kind = format!("{kind}List");
    json!({
        "description": format!("{list_kind} is a list of {kind} objects."),
        "type": "object",
        "properties": {
            "apiVersion": item_prop("apiVersion"),
            "items": {
                "description": format!("List of {kind} objects."),
                "type": "array",
                "items": {"$ref": format!("{V2_REF_PREFIX}{item}")},
            },
            "kind": item_prop("kind"),
            "metadata": {
                "$ref": format!("{V2_REF_PREFIX}{LIST_META}"),
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            },
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": [{"group": group, "kind": list_kind, "version": version}],
    })
}

fn apply_field_extensions(defs: &mut BTreeMap<String, Value>) {
    for ext in extensions::FIELDS {
        let Some(prop) = defs
            .get_mut(ext.definition)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(ext.field))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if let Some(v) = ext.patch_strategy {
            prop.insert("x-kubernetes-patch-strategy".into(), v.into());
        }
        if let Some(v) = ext.patch_merge_key {
            prop.insert("x-kubernetes-patch-merge-key".into(), v.into());
        }
        if let Some(v) = ext.list_type {
            prop.insert("x-kubernetes-list-type".into(), v.into());
        }
        if !ext.list_map_keys.is_empty() {
            prop.insert(
                "x-kubernetes-list-map-keys".into(),
                ext.list_map_keys.iter().map(|k| Value::from(*k)).collect(),
            );
        }
        if let Some(v) = ext.map_type {
            prop.insert("x-kubernetes-map-type".into(), v.into());
        }
    }
    for (definition, map_type) in extensions::STRUCTS {
        if let Some(Value::Object(schema)) = defs.get_mut(*definition) {
            schema.insert("x-kubernetes-map-type".into(), (*map_type).into());
        }
    }
}

/// Puts the opaque leaf types back in upstream's shape where k8s-openapi differs:
/// upstream types Quantity as `string` and IntOrString as `string` with format
/// `int-or-string` (k8s-openapi emits only `x-kubernetes-int-or-string`); apiextensions'
/// JSON and JSONSchemaPropsOr* carry only a description upstream (any JSON value is
/// accepted; `oneOf` is not even valid swagger 2.0).
fn upstream_leaf_forms(defs: &mut BTreeMap<String, Value>) {
    if let Some(Value::Object(q)) = defs.get_mut(QUANTITY) {
        q.remove("x-kubernetes-int-or-string");
        q.insert("type".into(), "string".into());
    }
    if let Some(Value::Object(i)) = defs.get_mut(INT_OR_STRING) {
        i.remove("x-kubernetes-int-or-string");
        i.insert("type".into(), "string".into());
        i.insert("format".into(), "int-or-string".into());
    }
    for suffix in [
        "JSON",
        "JSONSchemaPropsOrArray",
        "JSONSchemaPropsOrBool",
        "JSONSchemaPropsOrStringArray",
    ] {
        let name = format!("{APIEXTENSIONS_V1}.{suffix}");
        if let Some(Value::Object(schema)) = defs.get_mut(&name) {
            schema.retain(|k, _| k == "description");
        }
    }
}

/// Rewrites a v2 schema into its OpenAPI 3.0 form: references point into
/// `#/components/schemas/`, and a `$ref` with sibling keys becomes `allOf: [{$ref}]` plus
/// the siblings, as upstream's v3 documents do (OpenAPI 3.0 ignores `$ref` siblings).
pub fn to_v3(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            let mut reference = None;
            for (k, v) in map {
                if k == "$ref" {
                    if let Some(r) = v.as_str() {
                        let target = r.strip_prefix(V2_REF_PREFIX).unwrap_or(r);
                        reference = Some(format!("{V3_REF_PREFIX}{target}"));
                        continue;
                    }
                }
                out.insert(k.clone(), to_v3(v));
            }
            match reference {
                Some(r) if out.is_empty() => {
                    out.insert("$ref".into(), r.into());
                }
                Some(r) => {
                    out.insert("allOf".into(), json!([{"$ref": r}]));
                }
                None => {}
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_v3).collect()),
        other => other.clone(),
    }
}

/// The definition name a `$ref` (v2 or v3 form) points at.
pub fn ref_target(reference: &str) -> &str {
    reference
        .strip_prefix(V2_REF_PREFIX)
        .or_else(|| reference.strip_prefix(V3_REF_PREFIX))
        .unwrap_or(reference)
}

/// Adds `name` and every definition it references, transitively, to `out`.
pub fn collect_reachable(name: &str, out: &mut std::collections::BTreeSet<String>) {
    let defs = definitions();
    let mut stack = vec![name.to_string()];
    while let Some(next) = stack.pop() {
        if !out.insert(next.clone()) {
            continue;
        }
        if let Some(schema) = defs.get(&next) {
            refs_in(schema, &mut stack);
        }
    }
}

/// Pushes the targets of all `$ref`s inside `schema`.
pub fn refs_in(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(ref_target(r).to_string()),
                    _ => refs_in(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs_in(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_has_gvk_extension() {
        let pod = &definitions()["io.k8s.api.core.v1.Pod"];
        assert_eq!(
            pod["x-kubernetes-group-version-kind"],
            json!([{"group": "", "kind": "Pod", "version": "v1"}])
        );
        let list = &definitions()["io.k8s.api.core.v1.PodList"];
        assert_eq!(
            list["x-kubernetes-group-version-kind"],
            json!([{"group": "", "kind": "PodList", "version": "v1"}])
        );
        assert_eq!(
            list["properties"]["items"]["items"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.Pod"
        );
    }

    #[test]
    fn field_extensions_table() {
        // (definition, field, strategy, merge key, list type, map keys)
        type Row = (
            &'static str,
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            &'static [&'static str],
        );
        let cases: &[Row] = &[
            (
                "io.k8s.api.core.v1.Container",
                "ports",
                Some("merge"),
                Some("containerPort"),
                Some("map"),
                &["containerPort", "protocol"],
            ),
            (
                "io.k8s.api.core.v1.Container",
                "env",
                Some("merge"),
                Some("name"),
                Some("map"),
                &["name"],
            ),
            (
                "io.k8s.api.core.v1.PodSpec",
                "containers",
                Some("merge"),
                Some("name"),
                Some("map"),
                &["name"],
            ),
            (
                "io.k8s.api.core.v1.PodSpec",
                "volumes",
                Some("merge,retainKeys"),
                Some("name"),
                Some("map"),
                &["name"],
            ),
            (
                "io.k8s.api.core.v1.PodSpec",
                "tolerations",
                None,
                None,
                Some("atomic"),
                &[],
            ),
            (
                "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                "ownerReferences",
                Some("merge"),
                Some("uid"),
                Some("map"),
                &["uid"],
            ),
            (
                "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                "finalizers",
                Some("merge"),
                None,
                Some("set"),
                &[],
            ),
            (
                "io.k8s.api.apps.v1.DeploymentSpec",
                "strategy",
                Some("retainKeys"),
                None,
                None,
                &[],
            ),
            (
                "io.k8s.api.apps.v1.DeploymentStatus",
                "conditions",
                Some("merge"),
                Some("type"),
                Some("map"),
                &["type"],
            ),
            (
                "io.k8s.api.core.v1.EphemeralContainer",
                "ports",
                Some("merge"),
                Some("containerPort"),
                Some("map"),
                &["containerPort", "protocol"],
            ),
            // Fields embedded through a cross-package alias (v1beta1 -> v1 RuleWithOperations).
            (
                "io.k8s.api.admissionregistration.v1beta1.NamedRuleWithOperations",
                "apiGroups",
                None,
                None,
                Some("atomic"),
                &[],
            ),
            (
                "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus",
                "conditions",
                None,
                None,
                Some("map"),
                &["type"],
            ),
            (
                "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceStatus",
                "conditions",
                Some("merge"),
                Some("type"),
                Some("map"),
                &["type"],
            ),
        ];
        for (def, field, strategy, key, list_type, keys) in cases {
            let prop = &definitions()[*def]["properties"][*field];
            assert_eq!(
                prop.get("x-kubernetes-patch-strategy")
                    .and_then(Value::as_str),
                *strategy,
                "{def}.{field} strategy"
            );
            assert_eq!(
                prop.get("x-kubernetes-patch-merge-key")
                    .and_then(Value::as_str),
                *key,
                "{def}.{field} merge key"
            );
            assert_eq!(
                prop.get("x-kubernetes-list-type").and_then(Value::as_str),
                *list_type,
                "{def}.{field} list type"
            );
            let got: Vec<&str> = prop
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            assert_eq!(&got, keys, "{def}.{field} list map keys");
        }
    }

    #[test]
    fn atomic_structs_and_leaf_forms() {
        assert_eq!(
            definitions()["io.k8s.api.core.v1.LocalObjectReference"]["x-kubernetes-map-type"],
            "atomic"
        );
        assert_eq!(definitions()[QUANTITY]["type"], "string");
        assert_eq!(definitions()[INT_OR_STRING]["format"], "int-or-string");
        let or_bool = &definitions()[&format!("{APIEXTENSIONS_V1}.JSONSchemaPropsOrBool")];
        assert!(or_bool.get("oneOf").is_none());
        assert!(definitions()[&format!("{APIEXTENSIONS_V1}.JSON")]
            .get("type")
            .is_none());
    }

    #[test]
    fn definition_for_kinds_lists_and_subresource_kinds() {
        let cases = [
            ("", "v1", "Pod", Some("io.k8s.api.core.v1.Pod")),
            ("", "v1", "PodList", Some("io.k8s.api.core.v1.PodList")),
            (
                "apps",
                "v1",
                "Deployment",
                Some("io.k8s.api.apps.v1.Deployment"),
            ),
            (
                "autoscaling",
                "v1",
                "Scale",
                Some("io.k8s.api.autoscaling.v1.Scale"),
            ),
            (
                "policy",
                "v1",
                "Eviction",
                Some("io.k8s.api.policy.v1.Eviction"),
            ),
            ("", "v1", "Binding", Some("io.k8s.api.core.v1.Binding")),
            (
                "authentication.k8s.io",
                "v1",
                "TokenRequest",
                Some("io.k8s.api.authentication.v1.TokenRequest"),
            ),
            (
                "apps",
                "v1",
                "DeleteOptions",
                Some("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"),
            ),
            ("apps", "v1", "Nope", None),
        ];
        for (g, v, k, want) in cases {
            assert_eq!(definition_for(g, v, k), want, "{g}/{v} {k}");
        }
    }

    #[test]
    fn every_reference_resolves() {
        let defs = definitions();
        for (name, schema) in defs {
            let mut refs = Vec::new();
            refs_in(schema, &mut refs);
            for r in refs {
                assert!(defs.contains_key(&r), "{name} refers to missing {r}");
            }
        }
        assert!(KINDS.len() > 90);
    }

    #[test]
    fn v3_form_wraps_refs_with_siblings() {
        let v2 = json!({"$ref": "#/definitions/a.B", "description": "d"});
        assert_eq!(
            to_v3(&v2),
            json!({"description": "d", "allOf": [{"$ref": "#/components/schemas/a.B"}]})
        );
        assert_eq!(
            to_v3(&json!({"$ref": "#/definitions/a.B"})),
            json!({"$ref": "#/components/schemas/a.B"})
        );
    }
}
