//! Walking type information: where in the schema a value sits while the algorithms
//! descend into it.

use crate::{FieldSchema, SchemaLookup};

/// The schema type of the value being visited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// No type information: maps merge key by key, lists are atomic.
    Unknown,
    /// An object with named fields, by OpenAPI definition name.
    Struct(String),
    /// A map (`additionalProperties`) whose values are of the given struct type, if any.
    Map(Option<String>),
}

impl Ctx {
    pub(crate) fn structure(name: &str) -> Ctx {
        if name.is_empty() {
            Ctx::Unknown
        } else {
            Ctx::Struct(name.to_string())
        }
    }

    /// The name upstream prints for the type in errors.
    pub(crate) fn name(&self) -> &str {
        match self {
            Ctx::Struct(n) => n,
            Ctx::Map(Some(n)) => n,
            _ => "",
        }
    }

    /// The context of `key`'s value (for lists: of their items) and the field's metadata.
    /// Map values carry no patch metadata.
    pub(crate) fn lookup(&self, schema: &dyn SchemaLookup, key: &str) -> (Ctx, FieldSchema) {
        match self {
            Ctx::Unknown => (Ctx::Unknown, FieldSchema::default()),
            Ctx::Map(value_type) => (
                value_type
                    .as_deref()
                    .map(Ctx::structure)
                    .unwrap_or(Ctx::Unknown),
                FieldSchema::default(),
            ),
            Ctx::Struct(t) => match schema.field(t, key) {
                Some(fs) => (child_ctx(&fs), fs),
                None => (Ctx::Unknown, FieldSchema::default()),
            },
        }
    }
}

fn child_ctx(fs: &FieldSchema) -> Ctx {
    if fs.is_map && !fs.is_list {
        Ctx::Map(fs.type_name.clone())
    } else {
        fs.type_name
            .as_deref()
            .map(Ctx::structure)
            .unwrap_or(Ctx::Unknown)
    }
}

/// How server-side apply treats a list, derived the way upstream derives it from OpenAPI
/// (`x-kubernetes-list-type` first; otherwise `patchStrategy: merge` with a merge key is
/// a map keyed by it, `merge` without a key a set, anything else atomic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListKind {
    Atomic,
    Set,
    Map(Vec<String>),
}

pub(crate) fn list_kind(fs: &FieldSchema) -> ListKind {
    match fs.list_type.as_deref() {
        Some("atomic") => return ListKind::Atomic,
        Some("set") => return ListKind::Set,
        Some("map") => {
            let keys = if fs.list_map_keys.is_empty() {
                fs.patch_merge_key.iter().cloned().collect()
            } else {
                fs.list_map_keys.clone()
            };
            if !keys.is_empty() {
                return ListKind::Map(keys);
            }
            return ListKind::Atomic;
        }
        _ => {}
    }
    let merge = fs
        .patch_strategy
        .as_deref()
        .is_some_and(|s| s.split(',').any(|p| p == "merge"));
    match (&fs.patch_merge_key, merge) {
        (Some(k), true) => ListKind::Map(vec![k.clone()]),
        (None, true) => ListKind::Set,
        _ => ListKind::Atomic,
    }
}
