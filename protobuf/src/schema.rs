//! The shape of the generated message table (`generated.rs`) and lookups into it.
//!
//! The table is plain static data so that it costs the compiler almost nothing: one
//! [`Message`] per upstream protobuf message, named by its OpenAPI definition name, with
//! its fields sorted by tag.

use crate::generated::{KINDS, MESSAGES};

/// The protobuf scalar (or message) type of a field; map fields describe their value here
/// (every upstream map has `string` keys). Only the types upstream uses exist; the
/// generator refuses any other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Bytes,
    Bool,
    I32,
    I64,
    F64,
    Msg,
}

/// Messages whose Go type has a custom JSON form instead of an object of its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Special {
    /// An ordinary struct: a JSON object of its fields.
    None,
    /// A Go slice type wrapped in a message with one `items` field (`metav1.Verbs`,
    /// `authentication/v1.ExtraValue`): JSON is the bare array.
    List,
    /// `metav1.Time`: RFC 3339 seconds, `null` when zero.
    Time,
    /// `metav1.MicroTime`: RFC 3339 with microseconds, `null` when zero.
    MicroTime,
    /// `metav1.Duration`: a Go duration string such as `1h2m3s`.
    Duration,
    /// A message holding raw JSON in field 1 (`metav1.FieldsV1`, apiextensions `JSON`).
    RawJson,
    /// `resource.Quantity`: its string form.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `runtime.RawExtension`: the embedded object (raw JSON, or a nested protobuf envelope).
    RawExtension,
    /// apiextensions `JSONSchemaPropsOrArray`.
    SchemaOrArray,
    /// apiextensions `JSONSchemaPropsOrBool`.
    SchemaOrBool,
    /// apiextensions `JSONSchemaPropsOrStringArray`.
    SchemaOrStringArray,
}

/// `repeated` field.
pub(crate) const REPEATED: u8 = 1;
/// `map<string, V>` field (repeated entry messages with key = 1, value = 2).
pub(crate) const MAP: u8 = 2;
/// The Go field is a pointer, or its JSON tag lacks `omitempty`: a zero value is meaningful
/// and must be kept (gogo-protobuf only writes pointer fields when they are set).
pub(crate) const KEEP_ZERO: u8 = 4;
/// An embedded Go struct without a JSON name: its fields are promoted into the parent object.
pub(crate) const INLINE: u8 = 8;
/// `Field::msg` of a scalar field.
pub(crate) const NO_MSG: u16 = u16::MAX;

#[derive(Debug)]
pub(crate) struct Field {
    pub tag: u32,
    pub json: &'static str,
    pub kind: Kind,
    pub flags: u8,
    /// Index into `MESSAGES` when `kind` is `Msg`.
    pub msg: u16,
}

impl Field {
    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Constructor kept short because the generated table calls it tens of thousands of times.
pub(crate) const fn f(tag: u32, json: &'static str, kind: Kind, flags: u8, msg: u16) -> Field {
    Field {
        tag,
        json,
        kind,
        flags,
        msg,
    }
}

#[derive(Debug)]
pub(crate) struct Message {
    pub name: &'static str,
    pub special: Special,
    pub fields: &'static [Field],
}

impl Message {
    pub(crate) fn field(&self, tag: u32) -> Option<(usize, &'static Field)> {
        let fields = self.fields;
        fields
            .binary_search_by_key(&tag, |f| f.tag)
            .ok()
            .map(|i| (i, &fields[i]))
    }
}

pub(crate) fn message(index: u16) -> &'static Message {
    &MESSAGES[usize::from(index)]
}

/// Finds a message by its OpenAPI definition name (`io.k8s.api.core.v1.Pod`).
pub(crate) fn message_index(name: &str) -> Option<u16> {
    MESSAGES
        .binary_search_by(|m| m.name.cmp(name))
        .ok()
        .and_then(|i| u16::try_from(i).ok())
}

/// Kinds registered in every group version by upstream `metav1.AddToGroupVersion`
/// (the option types and `WatchEvent`), plus the unversioned `Status`.
const META_KINDS: &[&str] = &[
    "CreateOptions",
    "DeleteOptions",
    "GetOptions",
    "ListOptions",
    "PatchOptions",
    "Status",
    "UpdateOptions",
    "WatchEvent",
];

/// Kinds served by the `meta.k8s.io/v1` group itself.
const META_GROUP_KINDS: &[&str] = &[
    "PartialObjectMetadata",
    "PartialObjectMetadataList",
    "Table",
    "TableOptions",
];

/// Maps apiVersion + kind to the message index of the type upstream registers for it.
pub(crate) fn kind_index(api_version: &str, kind: &str) -> Option<u16> {
    if let Ok(i) = KINDS.binary_search_by(|(av, k, _)| (*av, *k).cmp(&(api_version, kind))) {
        return Some(KINDS[i].2);
    }
    let known_group_version = KINDS.iter().any(|(av, _, _)| *av == api_version);
    let meta = (META_KINDS.contains(&kind)
        && (known_group_version || api_version == "meta.k8s.io/v1"))
        || (api_version == "meta.k8s.io/v1" && META_GROUP_KINDS.contains(&kind));
    if meta {
        return message_index(&format!("io.k8s.apimachinery.pkg.apis.meta.v1.{kind}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_consistent() {
        for pair in MESSAGES.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} >= {}",
                pair[0].name,
                pair[1].name
            );
        }
        for pair in KINDS.windows(2) {
            assert!((pair[0].0, pair[0].1) < (pair[1].0, pair[1].1), "{pair:?}");
        }
        for m in MESSAGES.iter() {
            for pair in m.fields.windows(2) {
                assert!(pair[0].tag < pair[1].tag, "{}: tags out of order", m.name);
            }
            for f in m.fields {
                assert_eq!(
                    f.kind == Kind::Msg,
                    f.msg != NO_MSG,
                    "{}.{}",
                    m.name,
                    f.json
                );
                if f.kind == Kind::Msg {
                    assert!(usize::from(f.msg) < MESSAGES.len(), "{}.{}", m.name, f.json);
                }
                assert!(!(f.has(MAP) && f.has(REPEATED)), "{}.{}", m.name, f.json);
            }
        }
        for (av, kind, index) in KINDS.iter() {
            let name = message(*index).name;
            assert!(name.ends_with(&format!(".{kind}")), "{av} {kind} -> {name}");
        }
    }

    #[test]
    fn lookups() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("v1", "Pod", Some("io.k8s.api.core.v1.Pod")),
            (
                "apps/v1",
                "Deployment",
                Some("io.k8s.api.apps.v1.Deployment"),
            ),
            (
                "v1",
                "Status",
                Some("io.k8s.apimachinery.pkg.apis.meta.v1.Status"),
            ),
            (
                "batch/v1",
                "ListOptions",
                Some("io.k8s.apimachinery.pkg.apis.meta.v1.ListOptions"),
            ),
            (
                "meta.k8s.io/v1",
                "PartialObjectMetadata",
                Some("io.k8s.apimachinery.pkg.apis.meta.v1.PartialObjectMetadata"),
            ),
            ("apps/v1", "Pod", None),
            ("v2", "Pod", None),
            ("example.com/v1", "Status", None),
        ];
        for (av, kind, want) in cases {
            assert_eq!(
                kind_index(av, kind).map(|i| message(i).name),
                *want,
                "{av} {kind}"
            );
        }
        assert!(message_index("io.k8s.api.core.v1.Container").is_some());
        assert!(message_index("io.k8s.api.core.v1.container").is_none());
    }

    #[test]
    fn keep_zero_flags_follow_go_types() {
        // Pointers and JSON tags without omitempty keep their zero values; plain omitempty
        // scalars do not. Expectations read from upstream types.go.
        let cases: &[(&str, &str, bool)] = &[
            ("io.k8s.api.apps.v1.DeploymentSpec", "replicas", true),
            (
                "io.k8s.api.apps.v1.DeploymentSpec",
                "minReadySeconds",
                false,
            ),
            ("io.k8s.api.apps.v1.DeploymentSpec", "paused", false),
            ("io.k8s.api.batch.v1.JobSpec", "backoffLimit", true),
            (
                "io.k8s.api.batch.v1.CronJobSpec",
                "startingDeadlineSeconds",
                true,
            ),
            ("io.k8s.api.core.v1.PodSpec", "dnsPolicy", false),
            (
                "io.k8s.api.core.v1.PodSpec",
                "terminationGracePeriodSeconds",
                true,
            ),
            ("io.k8s.api.core.v1.PodSpec", "enableServiceLinks", true),
            ("io.k8s.api.core.v1.NamespaceStatus", "phase", false),
            ("io.k8s.api.core.v1.ServicePort", "port", true),
            ("io.k8s.api.core.v1.ContainerPort", "containerPort", true),
            ("io.k8s.api.core.v1.WeightedPodAffinityTerm", "weight", true),
            ("io.k8s.api.core.v1.SecretVolumeSource", "defaultMode", true),
            (
                "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
                "storageClassName",
                true,
            ),
            ("io.k8s.api.core.v1.SecurityContext", "runAsUser", true),
            ("io.k8s.api.scheduling.v1.PriorityClass", "value", true),
            (
                "io.k8s.api.scheduling.v1.PriorityClass",
                "globalDefault",
                false,
            ),
            (
                "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                "generation",
                false,
            ),
        ];
        for (ty, field, keep) in cases {
            let m = message(message_index(ty).unwrap());
            let f = m.fields.iter().find(|f| f.json == *field).unwrap();
            assert_eq!(f.has(KEEP_ZERO), *keep, "{ty}.{field}");
        }
    }
}
