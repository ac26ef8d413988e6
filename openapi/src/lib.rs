//! rudder-openapi: the OpenAPI documents kube-apiserver serves and the schema facts the
//! rest of Rudder needs, all generated from the project's own types (k8s-openapi).
//!
//! Where to start:
//! - [`definitions()`] / [`definition_for`]: every built-in schema by OpenAPI name
//!   (`io.k8s.api.core.v1.Pod`), with upstream's Kubernetes extensions
//!   (`x-kubernetes-group-version-kind`, patch strategy/merge key, list/map types) restored
//!   from the fact table in [`extensions`].
//! - [`Schemas`]: the `rudder_patch::SchemaLookup` strategic merge patch and apply use.
//! - [`unknown_fields`] / [`strict_decoding_error`]: `fieldValidation=Strict` support.
//! - [`v2()`], [`v3_root`], [`v3_document`], [`v3_hash`]: the bytes of `/openapi/v2` and
//!   `/openapi/v3[/<group-version>]`, derived from `rudder_api::catalog` and built once
//!   ([`prebuild`] builds them all up front).
//!
//! The extension table is regenerated with `hack/gen_extensions.py`; `examples/dump_openapi`
//! writes the documents to disk and `hack/kubectl_stub.py` serves them to a real kubectl.
#![forbid(unsafe_code)]

mod definitions;
mod document;
pub mod extensions;
mod lookup;
mod types;

pub use definitions::{definition_for, definitions, to_v3, V2_REF_PREFIX, V3_REF_PREFIX};
pub use document::{prebuild, v2, v3_document, v3_hash, v3_root, KUBERNETES_VERSION};
pub use lookup::{strict_decoding_error, unknown_fields, Schemas};
