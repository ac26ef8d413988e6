//! rudder-protobuf: decodes Kubernetes protobuf request bodies
//! (`Content-Type: application/vnd.kubernetes.protobuf`) into the JSON a Go apiserver would
//! see after decoding them, so the rest of the apiserver only ever handles JSON.
//!
//! Start at [`decode`] (an enveloped body: the `k8s\0` magic, then a `runtime.Unknown`
//! message whose `typeMeta` names the object and whose `raw` field holds the object's
//! message) or [`decode_message`] (a bare message of a named type).
//!
//! How it works: `src/generated.rs` is a static table of every upstream built-in message
//! (core, apps, batch, ..., meta.k8s.io, apiextensions, apiregistration), produced by
//! `gen/gen.py` from upstream's `generated.proto` and Go struct tags. [`decode`] maps
//! apiVersion + kind to a message as upstream's `register.go` files do, and `decode.rs`
//! walks the wire format along the table.
//!
//! Zero values. Upstream's gogo-protobuf marshaller always writes non-pointer scalar
//! fields, even `""`, `0` and `false`, and always writes non-nullable embedded messages.
//! Go's JSON encoder then drops those zero scalars via `omitempty`. This decoder mirrors
//! that JSON view: a zero scalar is dropped unless the Go field is a pointer or its JSON tag
//! lacks `omitempty` (`spec.replicas: 0`, `PriorityClass.value: 0`, `ServicePort.port`
//! stay). Embedded messages are kept even when empty (`"strategy": {}`, `"status": {}`),
//! exactly as Go prints non-pointer structs. Differences from Go's JSON text, on purpose:
//! a zero `metav1.Time` (which Go prints as `null`) and other `null`s of singular fields are
//! left out, and a zero non-pointer IntOrString/Duration (`targetPort: 0`) is left out.
//!
//! Special Go types: `metav1.Time` -> RFC 3339 seconds, `MicroTime` -> RFC 3339 with
//! microseconds, `Duration` -> Go duration string, `Quantity` -> its string (as sent, not
//! canonicalised), `IntOrString` -> number or string, `RawExtension` / `FieldsV1` /
//! apiextensions `JSON` -> the embedded JSON (or a nested protobuf envelope), `bytes` ->
//! base64, maps -> objects, slice wrappers (`Verbs`, `ExtraValue`) -> arrays.

#![forbid(unsafe_code)]

mod decode;
mod error;
// Generated data; kept exactly as gen/gen.py writes it so regeneration diffs stay clean.
#[rustfmt::skip]
mod generated;
mod gofmt;
mod schema;
#[cfg(test)]
mod tests;
mod wire;

pub use error::DecodeError;

/// The prefix of every Kubernetes protobuf body (upstream `protobuf.serializer`'s
/// `protoEncodingPrefix`).
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The media type of Kubernetes protobuf bodies (also what runtime.Unknown.contentType
/// holds when set).
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// True when `body` starts with the Kubernetes protobuf magic.
pub fn is_protobuf(body: &[u8]) -> bool {
    body.starts_with(MAGIC)
}

/// Decodes an enveloped body; the returned object carries apiVersion and kind from the envelope.
pub fn decode(body: &[u8]) -> Result<serde_json::Value, DecodeError> {
    decode::envelope(body, 0, None)
}

/// Like [`decode`], but an envelope with an empty apiVersion or kind takes them from the
/// kind the endpoint serves, as upstream's protobuf serializer does (`copyKindDefaults`).
pub fn decode_with_defaults(
    body: &[u8],
    api_version: &str,
    kind: &str,
) -> Result<serde_json::Value, DecodeError> {
    decode::envelope(body, 0, Some((api_version, kind)))
}

/// Decodes a bare message of the named type (OpenAPI definition name, e.g.
/// `io.k8s.api.core.v1.Pod` or `io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions`).
pub fn decode_message(type_name: &str, bytes: &[u8]) -> Result<serde_json::Value, DecodeError> {
    let index = schema::message_index(type_name)
        .ok_or_else(|| DecodeError::UnknownType(type_name.to_string()))?;
    decode::value(index, bytes, 0)
}

/// The OpenAPI definition name of the message upstream registers for `apiVersion` +
/// `kind`, or `None` when that kind has no protobuf form here.
pub fn message_type(api_version: &str, kind: &str) -> Option<&'static str> {
    schema::kind_index(api_version, kind).map(|i| schema::message(i).name)
}
