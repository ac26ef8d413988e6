//! rudder-patch: the patch and apply algorithms of the Kubernetes API, over `serde_json::Value`.
//!
//! Start with [`SchemaLookup`], the type information strategic merge patch and server-side
//! apply need (merge keys, strategies, list types); the apiserver implements it from the
//! OpenAPI definitions in rudder-openapi. Then:
//! - [`json_patch`] (RFC 6902, `application/json-patch+json`),
//! - [`merge_patch`] (RFC 7386, `application/merge-patch+json`),
//! - [`strategic_merge_patch`] (`application/strategic-merge-patch+json`),
//! - [`apply`] (server-side apply, `application/apply-patch+yaml`) and
//!   [`update_managed_fields`] (ownership tracking for every other write), both keeping
//!   `metadata.managedFields` in upstream's FieldsV1 format.
//!
//! Errors are [`PatchError`] and [`ApplyError`]; their variants say which HTTP status
//! upstream answers with, their messages are upstream's.
#![forbid(unsafe_code)]

mod error;
mod fieldpath;
mod gofmt;
mod json_patch;
mod managed;
mod merge_patch;
mod schema;
mod strategic;

pub use error::{ApplyError, Conflict, PatchError};
pub use json_patch::json_patch;
pub use managed::{apply, update_managed_fields};
pub use merge_patch::merge_patch;
pub use strategic::strategic_merge_patch;

/// What the patch algorithms need to know about one field of one schema type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSchema {
    /// The OpenAPI definition name of the field's value when it is an object (for lists:
    /// of the items; for maps: of the values), e.g. `io.k8s.api.core.v1.Container`.
    pub type_name: Option<String>,
    /// The field is a JSON array.
    pub is_list: bool,
    /// The field is a map (object with `additionalProperties`).
    pub is_map: bool,
    /// `x-kubernetes-patch-strategy`, e.g. `merge`, `replace`, `retainKeys`, `merge,retainKeys`.
    pub patch_strategy: Option<String>,
    /// `x-kubernetes-patch-merge-key`, e.g. `name`, `containerPort`.
    pub patch_merge_key: Option<String>,
    /// `x-kubernetes-list-type`: `atomic`, `set` or `map`.
    pub list_type: Option<String>,
    /// `x-kubernetes-list-map-keys`.
    pub list_map_keys: Vec<String>,
    /// `x-kubernetes-map-type`: `atomic` or `granular`.
    pub map_type: Option<String>,
}

/// Type information for patching, keyed by OpenAPI definition name.
pub trait SchemaLookup: Send + Sync {
    /// Describes `field` of the object type `type_name`; `None` when unknown (the algorithms
    /// then treat the value as an opaque, replaced value, as upstream does for unknown
    /// fields).
    fn field(&self, type_name: &str, field: &str) -> Option<FieldSchema>;
}

#[cfg(test)]
pub(crate) mod testschema;
