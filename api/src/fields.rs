//! Field selectors and the per-resource fields they can select on.
//!
//! Mirrors upstream apimachinery's `pkg/fields` (`ParseSelector`, `EscapeValue`,
//! `UnescapeValue`, `hasTerm`/`notHasTerm`/`andTerm` matching and printing), the per-kind
//! field label conversion functions registered in upstream's scheme (which decide whether a
//! field may be selected on at all, and with which error), and the registries' `GetAttrs`
//! field sets (which decide what value each selectable field has).
//!
//! Start with [`FieldSelector::parse`], then [`FieldSelector::convert`] for the resource being
//! listed (this is where upstream answers 400 `field label not supported: X`), then
//! [`FieldSelector::matches_object`].

use std::fmt;

use serde_json::Value;

use crate::catalog::{self, ResourceInfo};

/// Errors parsing or converting a field selector. Messages are upstream's, word for word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    /// A term has no `=`, `==` or `!=` operator.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    Syntax {
        /// The whole selector string.
        selector: String,
        /// The term that failed.
        term: String,
    },
    /// A value contains a backslash escape other than `\\`, `\,`, `\=`, or ends in `\`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscapeSequence(String),
    /// A value contains an unescaped `,` or `=`; upstream prints the rune's code point as a
    /// decimal number (`61` for `=`), so the variant keeps the code point.
    #[error("invalid field selector: unescaped character in value: {0}")]
    UnescapedRune(u32),
    /// The field is not selectable on a kind with its own field label conversion.
    #[error("field label not supported: {0}")]
    NotSupported(String),
    /// The field is not selectable on batch/v1 Job (upstream's Job-specific message).
    #[error("field label {0:?} not supported for batchv1.Job")]
    NotSupportedForJob(String),
    /// The field is not selectable on a kind that only supports the metadata fields (upstream's
    /// `DefaultMetaV1FieldSelectorConversion` message).
    #[error("{0:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"")]
    NotKnown(String),
}

/// A field selector operator. `==` parses to [`FieldOp::Equals`], as upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOp {
    /// `field=value` or `field==value`
    Equals,
    /// `field!=value`
    NotEquals,
}

/// One `field op value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The field path, e.g. `spec.nodeName`.
    pub field: String,
    /// The operator.
    pub op: FieldOp,
    /// The unescaped value.
    pub value: String,
}

impl FieldRequirement {
    /// Upstream `hasTerm`/`notHasTerm` matching: a missing field reads as "".
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        let have = get(&self.field).unwrap_or_default();
        match self.op {
            FieldOp::Equals => have == self.value,
            FieldOp::NotEquals => have != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            FieldOp::Equals => "=",
            FieldOp::NotEquals => "!=",
        };
        write!(f, "{}{}{}", self.field, op, escape_value(&self.value))
    }
}

/// A field selector: the AND of its terms. The empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    terms: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector matching everything.
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    /// Parses as upstream `fields.ParseSelector`: terms split on unescaped commas and sorted,
    /// empty terms skipped, each term split at the first `!=`, `==` or `=` (keys cannot be
    /// escaped), values unescaped (`\\`, `\,`, `\=`).
    pub fn parse(selector: &str) -> Result<FieldSelector, FieldSelectorError> {
        let mut parts = split_terms(selector);
        parts.sort();
        let mut terms = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((lhs, op, rhs)) = split_term(part) else {
                return Err(FieldSelectorError::Syntax {
                    selector: selector.to_string(),
                    term: part.to_string(),
                });
            };
            terms.push(FieldRequirement {
                field: lhs.to_string(),
                op,
                value: unescape_value(rhs)?,
            });
        }
        Ok(FieldSelector { terms })
    }

    /// The terms, in upstream's (sorted) order.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.terms
    }

    /// True when the selector has no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether every term matches, reading field values through `get` (a missing field reads
    /// as "", as upstream's `fields.Set.Get`).
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|t| t.matches(&get))
    }

    /// Whether an object of the given resource matches, reading values with [`field_value`].
    /// The selector should already be [`convert`](Self::convert)ed for that resource.
    pub fn matches_object(&self, group: &str, plural: &str, obj: &Value) -> bool {
        self.matches(|f| field_value(group, plural, obj, f))
    }

    /// The value the selector pins `field` to with `=`, as upstream `RequiresExactMatch`
    /// (used to narrow storage scans, e.g. pods by `spec.nodeName`).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && t.op == FieldOp::Equals)
            .map(|t| t.value.as_str())
    }

    /// Applies the resource's field label conversion to every term, as the upstream list and
    /// watch handlers do before filtering: unsupported fields fail with upstream's message (the
    /// apiserver answers 400 BadRequest with it), and legacy names are mapped (`spec.host` ->
    /// `spec.nodeName` for pods, `regarding.*` -> `involvedObject.*` for events.k8s.io).
    pub fn convert(&self, group: &str, plural: &str) -> Result<FieldSelector, FieldSelectorError> {
        let mut terms = Vec::with_capacity(self.terms.len());
        for t in &self.terms {
            terms.push(FieldRequirement {
                field: convert_field_label(group, plural, &t.field)?,
                op: t.op,
                value: t.value.clone(),
            });
        }
        Ok(FieldSelector { terms })
    }
}

impl fmt::Display for FieldSelector {
    /// Upstream `Selector.String`: terms joined by `,`, values escaped, `==` printed as `=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// Splits on commas not preceded by a backslash escape, keeping escapes in the terms.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Splits at the first position where `!=`, `==` or `=` starts (checked in that order, so
/// `a==b` is not read as `a` = `=b`).
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, kind) in [
            ("!=", FieldOp::NotEquals),
            ("==", FieldOp::Equals),
            ("=", FieldOp::Equals),
        ] {
            if let Some(rhs) = rest.strip_prefix(op) {
                return Some((&term[..i], kind, rhs));
            }
        }
    }
    None
}

/// Upstream `fields.EscapeValue`: escapes `\`, `,` and `=` with a backslash.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Upstream `fields.UnescapeValue`.
pub fn unescape_value(s: &str) -> Result<String, FieldSelectorError> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err(FieldSelectorError::InvalidEscapeSequence(format!("\\{c}"))),
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(FieldSelectorError::UnescapedRune(c as u32)),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(FieldSelectorError::InvalidEscapeSequence("\\".into()));
    }
    Ok(out)
}

// ---- per-resource field labels ----

/// Core Pod field labels accepted by upstream's conversion (`status.podIPs` is accepted but not
/// in the pod field set, so it only ever equals "").
const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
];

const CORE_EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];

/// events.k8s.io/v1 names and the core Event field they select on (upstream's events
/// conversion maps them, since both APIs share one storage and one field set).
const EVENTS_V1_FIELD_MAP: &[(&str, &str)] = &[
    ("reason", "reason"),
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    (
        "regarding.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reportingController", "reportingComponent"),
    // Upstream keeps `source` selectable although events.k8s.io has no such field.
    ("source", "source"),
    ("type", "type"),
    ("metadata.namespace", "metadata.namespace"),
    ("metadata.name", "metadata.name"),
];

/// Upstream's field label conversion for a built-in resource: returns the field name to
/// select on, or upstream's error for that kind. Kinds with their own conversion (pods,
/// nodes, replicationcontrollers, events, namespaces, secrets, services, jobs,
/// certificatesigningrequests, events.k8s.io events) answer `field label not supported: X`
/// (Job: `field label "X" not supported for batchv1.Job`); every other kind, and unknown
/// resources, get upstream's default: only `metadata.name` and `metadata.namespace`.
pub fn convert_field_label(
    group: &str,
    plural: &str,
    label: &str,
) -> Result<String, FieldSelectorError> {
    let allowed: &[&str] = match (group, plural) {
        ("", "pods") => {
            if label == "spec.host" {
                // Backwards compatibility with old v1 clients, as upstream.
                return Ok("spec.nodeName".into());
            }
            POD_FIELDS
        }
        ("", "nodes") => &["metadata.name", "spec.unschedulable"],
        ("", "replicationcontrollers") => {
            &["metadata.name", "metadata.namespace", "status.replicas"]
        }
        ("", "events") => CORE_EVENT_FIELDS,
        ("", "namespaces") => &["status.phase", "metadata.name"],
        ("", "secrets") => &["type", "metadata.namespace", "metadata.name"],
        ("", "services") => &[
            "metadata.namespace",
            "metadata.name",
            "spec.clusterIP",
            "spec.type",
        ],
        ("events.k8s.io", "events") => {
            return EVENTS_V1_FIELD_MAP
                .iter()
                .find(|(from, _)| *from == label)
                .map(|(_, to)| to.to_string())
                .ok_or_else(|| FieldSelectorError::NotSupported(label.to_string()));
        }
        ("batch", "jobs") => {
            return match label {
                "metadata.name" | "metadata.namespace" | "status.successful" => Ok(label.into()),
                _ => Err(FieldSelectorError::NotSupportedForJob(label.to_string())),
            };
        }
        ("certificates.k8s.io", "certificatesigningrequests") => {
            &["metadata.name", "spec.signerName"]
        }
        _ => {
            return match label {
                "metadata.name" | "metadata.namespace" => Ok(label.into()),
                _ => Err(FieldSelectorError::NotKnown(label.to_string())),
            };
        }
    };
    if allowed.contains(&label) {
        Ok(label.to_string())
    } else {
        Err(FieldSelectorError::NotSupported(label.to_string()))
    }
}

/// Whether upstream lets `field` be used in a field selector on this resource.
pub fn supported_field(group: &str, plural: &str, field: &str) -> bool {
    convert_field_label(group, plural, field).is_ok()
}

/// Upstream's field label conversion for custom resources: `metadata.name`, `metadata.namespace`
/// when the resource is namespaced, and the CRD's `selectableFields` (JSON paths without the
/// leading dot, e.g. `spec.color`); anything else is `field label not supported: X`.
pub fn convert_custom_resource_field_label(
    namespaced: bool,
    selectable_fields: &[&str],
    label: &str,
) -> Result<String, FieldSelectorError> {
    if label == "metadata.name"
        || (namespaced && label == "metadata.namespace")
        || selectable_fields.contains(&label)
    {
        Ok(label.to_string())
    } else {
        Err(FieldSelectorError::NotSupported(label.to_string()))
    }
}

fn str_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(obj, |v, k| v.get(*k))
        .and_then(Value::as_str)
}

fn string_at(obj: &Value, path: &[&str]) -> String {
    str_at(obj, path).unwrap_or_default().to_string()
}

fn int_at(obj: &Value, path: &[&str]) -> String {
    path.iter()
        .try_fold(obj, |v, k| v.get(*k))
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .to_string()
}

fn bool_at(obj: &Value, path: &[&str]) -> String {
    path.iter()
        .try_fold(obj, |v, k| v.get(*k))
        .and_then(Value::as_bool)
        .unwrap_or(false)
        .to_string()
}

/// Reads a selectable field from an object's JSON the way upstream's registries build their
/// field sets (`GetAttrs`/`ToSelectableFields`): `None` when the field is not in the resource's
/// set (matching treats that as ""), otherwise the value as upstream formats it (unset strings
/// as "", booleans as `true`/`false`, counts as decimal integers).
///
/// `field` is the converted label (see [`FieldSelector::convert`]). Events are read from
/// either shape (core `involvedObject`/`source`/`reportingComponent` or events.k8s.io
/// `regarding`/`deprecatedSource`/`reportingController`), since upstream stores both APIs'
/// events as one kind.
pub fn field_value(group: &str, plural: &str, obj: &Value, field: &str) -> Option<String> {
    let info: Option<&ResourceInfo> = catalog::RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural);
    match field {
        "metadata.name" => return Some(string_at(obj, &["metadata", "name"])),
        // Cluster-scoped resources have no metadata.namespace in their field set; unknown
        // resources are assumed namespaced when the object carries a namespace.
        "metadata.namespace" => {
            let namespaced = info
                .map(|r| r.namespaced)
                .unwrap_or_else(|| str_at(obj, &["metadata", "namespace"]).is_some());
            return namespaced.then(|| string_at(obj, &["metadata", "namespace"]));
        }
        _ => {}
    }
    match (group, plural, field) {
        ("", "pods", "spec.nodeName") => Some(string_at(obj, &["spec", "nodeName"])),
        ("", "pods", "spec.restartPolicy") => Some(string_at(obj, &["spec", "restartPolicy"])),
        ("", "pods", "spec.schedulerName") => Some(string_at(obj, &["spec", "schedulerName"])),
        ("", "pods", "spec.serviceAccountName") => {
            Some(string_at(obj, &["spec", "serviceAccountName"]))
        }
        ("", "pods", "spec.hostNetwork") => Some(bool_at(obj, &["spec", "hostNetwork"])),
        ("", "pods", "status.phase") => Some(string_at(obj, &["status", "phase"])),
        ("", "pods", "status.podIP") => {
            // Upstream reads podIPs[0]; v1 objects written by old clients may only carry podIP.
            let first = obj
                .pointer("/status/podIPs/0/ip")
                .and_then(Value::as_str)
                .or_else(|| str_at(obj, &["status", "podIP"]));
            Some(first.unwrap_or_default().to_string())
        }
        ("", "pods", "status.nominatedNodeName") => {
            Some(string_at(obj, &["status", "nominatedNodeName"]))
        }
        ("", "nodes", "spec.unschedulable") => Some(bool_at(obj, &["spec", "unschedulable"])),
        ("", "namespaces", "status.phase") => Some(string_at(obj, &["status", "phase"])),
        ("", "secrets", "type") => Some(string_at(obj, &["type"])),
        ("", "replicationcontrollers", "status.replicas") => {
            Some(int_at(obj, &["status", "replicas"]))
        }
        ("", "services", "spec.clusterIP") => Some(string_at(obj, &["spec", "clusterIP"])),
        ("", "services", "spec.type") => Some(string_at(obj, &["spec", "type"])),
        ("batch", "jobs", "status.successful") => Some(int_at(obj, &["status", "succeeded"])),
        ("certificates.k8s.io", "certificatesigningrequests", "spec.signerName") => {
            Some(string_at(obj, &["spec", "signerName"]))
        }
        ("", "events", f) | ("events.k8s.io", "events", f) => event_field(obj, f),
        _ => None,
    }
}

fn event_field(obj: &Value, field: &str) -> Option<String> {
    let either = |core: &[&str], v1: &[&str]| -> String {
        str_at(obj, core)
            .or_else(|| str_at(obj, v1))
            .unwrap_or_default()
            .to_string()
    };
    if let Some(sub) = field.strip_prefix("involvedObject.") {
        if !matches!(
            sub,
            "kind" | "namespace" | "name" | "uid" | "apiVersion" | "resourceVersion" | "fieldPath"
        ) {
            return None;
        }
        return Some(either(&["involvedObject", sub], &["regarding", sub]));
    }
    Some(match field {
        "reason" => string_at(obj, &["reason"]),
        "type" => string_at(obj, &["type"]),
        "reportingComponent" => either(&["reportingComponent"], &["reportingController"]),
        "source" => either(&["source", "component"], &["deprecatedSource", "component"]),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_good_strings_round_trip() {
        // Mirrors upstream fields TestSelectorParse: (input, String()).
        let cases = [
            ("", ""),
            ("x=a,y=b,z=c", "x=a,y=b,z=c"),
            ("z=c,x=a", "x=a,z=c"),
            ("x!=a,y=b", "x!=a,y=b"),
            ("x==a", "x=a"),
            (r"x=a||y\=b", r"x=a||y\=b"),
            (r"x=a\=\=b", r"x=a\=\=b"),
            (r"x=a\,b", r"x=a\,b"),
            (r"x=a\\b", r"x=a\\b"),
            ("x=", "x="),
            ("a=b,,c=d", "a=b,c=d"),
            (
                "spec.nodeName=,status.phase!=Running",
                "spec.nodeName=,status.phase!=Running",
            ),
        ];
        for (input, want) in cases {
            let s = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(s.to_string(), want, "{input:?}");
        }
        let s = FieldSelector::parse(r"a=x\,y\=z\\").unwrap();
        assert_eq!(s.requirements()[0].value, r"x,y=z\");
    }

    #[test]
    fn parse_bad_strings_with_upstream_messages() {
        let cases = [
            (
                "x=a||y=b",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                "x==a==b",
                "invalid field selector: unescaped character in value: 61",
            ),
            ("x=a,b", "invalid selector: 'x=a,b'; can't understand 'b'"),
            (
                "x in (a)",
                "invalid selector: 'x in (a)'; can't understand 'x in (a)'",
            ),
            ("x", "invalid selector: 'x'; can't understand 'x'"),
            (
                r"x=a\b",
                r"invalid field selector: invalid escape sequence: \b",
            ),
            (
                r"x=a\",
                r"invalid field selector: invalid escape sequence: \",
            ),
        ];
        for (input, want) in cases {
            let err = FieldSelector::parse(input).unwrap_err();
            assert_eq!(err.to_string(), want, "{input:?}");
        }
    }

    #[test]
    fn split_and_escape_helpers() {
        // Mirrors upstream TestSplitTerms / TestSplitTerm / TestEscapeValue.
        assert_eq!(split_terms(""), Vec::<&str>::new());
        assert_eq!(split_terms("a"), vec!["a"]);
        assert_eq!(split_terms("a,b"), vec!["a", "b"]);
        assert_eq!(split_terms(",a,"), vec!["", "a", ""]);
        assert_eq!(split_terms(r"a\,b,c"), vec![r"a\,b", "c"]);
        assert_eq!(split_terms(r"a\\,b"), vec![r"a\\", "b"]);
        assert_eq!(split_term("a=b"), Some(("a", FieldOp::Equals, "b")));
        assert_eq!(split_term("a==b"), Some(("a", FieldOp::Equals, "b")));
        assert_eq!(split_term("a!=b"), Some(("a", FieldOp::NotEquals, "b")));
        assert_eq!(split_term("a=!b"), Some(("a", FieldOp::Equals, "!b")));
        assert_eq!(split_term("=b"), Some(("", FieldOp::Equals, "b")));
        assert_eq!(split_term("ab"), None);
        for (raw, escaped) in [
            ("", ""),
            ("a", "a"),
            ("=", r"\="),
            (",", r"\,"),
            (r"\", r"\\"),
            (r"\=\,\", r"\\\=\\\,\\"),
        ] {
            assert_eq!(escape_value(raw), escaped);
            assert_eq!(unescape_value(escaped).unwrap(), raw);
        }
    }

    #[test]
    fn matching_treats_missing_fields_as_empty() {
        let get = |f: &str| match f {
            "a" => Some("1".to_string()),
            _ => None,
        };
        let cases = [
            ("", true),
            ("a=1", true),
            ("a==1", true),
            ("a!=1", false),
            ("a=2", false),
            ("b=", true),
            ("b!=", false),
            ("b!=x", true),
            ("a=1,b=x", false),
        ];
        for (sel, want) in cases {
            assert_eq!(
                FieldSelector::parse(sel).unwrap().matches(get),
                want,
                "{sel:?}"
            );
        }
        let s = FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed").unwrap();
        assert_eq!(s.requires_exact_match("spec.nodeName"), Some("n1"));
        assert_eq!(s.requires_exact_match("status.phase"), None);
    }

    #[test]
    fn field_label_conversion_per_resource() {
        // (group, plural, label, Ok(converted) or Err(message))
        let cases: &[(&str, &str, &str, Result<&str, &str>)] = &[
            ("", "pods", "spec.nodeName", Ok("spec.nodeName")),
            ("", "pods", "spec.host", Ok("spec.nodeName")),
            ("", "pods", "status.podIPs", Ok("status.podIPs")),
            ("", "pods", "spec.hostNetwork", Ok("spec.hostNetwork")),
            ("", "pods", "spec.containers", Err("field label not supported: spec.containers")),
            ("", "nodes", "spec.unschedulable", Ok("spec.unschedulable")),
            ("", "nodes", "metadata.namespace", Err("field label not supported: metadata.namespace")),
            ("", "namespaces", "status.phase", Ok("status.phase")),
            ("", "secrets", "type", Ok("type")),
            ("", "services", "spec.clusterIP", Ok("spec.clusterIP")),
            ("", "replicationcontrollers", "status.replicas", Ok("status.replicas")),
            ("", "events", "involvedObject.uid", Ok("involvedObject.uid")),
            ("", "events", "regarding.uid", Err("field label not supported: regarding.uid")),
            ("events.k8s.io", "events", "regarding.name", Ok("involvedObject.name")),
            ("events.k8s.io", "events", "reportingController", Ok("reportingComponent")),
            ("events.k8s.io", "events", "source", Ok("source")),
            ("events.k8s.io", "events", "involvedObject.name", Err("field label not supported: involvedObject.name")),
            ("batch", "jobs", "status.successful", Ok("status.successful")),
            ("batch", "jobs", "status.succeeded", Err("field label \"status.succeeded\" not supported for batchv1.Job")),
            ("certificates.k8s.io", "certificatesigningrequests", "spec.signerName", Ok("spec.signerName")),
            ("", "configmaps", "metadata.namespace", Ok("metadata.namespace")),
            ("apps", "replicasets", "status.replicas", Err("\"status.replicas\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"")),
            ("networking.k8s.io", "ingresses", "foo.bar", Err("\"foo.bar\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"")),
        ];
        for (g, p, label, want) in cases {
            let got = convert_field_label(g, p, label).map_err(|e| e.to_string());
            assert_eq!(
                got.as_deref().map_err(String::as_str),
                *want,
                "{g}/{p} {label}"
            );
            assert_eq!(supported_field(g, p, label), want.is_ok());
        }
        let sel = FieldSelector::parse("spec.host=n1").unwrap();
        assert_eq!(
            sel.convert("", "pods").unwrap().to_string(),
            "spec.nodeName=n1"
        );
        assert_eq!(
            FieldSelector::parse("foo=bar")
                .unwrap()
                .convert("", "pods")
                .unwrap_err()
                .to_string(),
            "field label not supported: foo"
        );

        assert!(convert_custom_resource_field_label(true, &["spec.color"], "spec.color").is_ok());
        assert!(convert_custom_resource_field_label(true, &[], "metadata.namespace").is_ok());
        assert_eq!(
            convert_custom_resource_field_label(false, &[], "metadata.namespace")
                .unwrap_err()
                .to_string(),
            "field label not supported: metadata.namespace"
        );
    }

    #[test]
    fn field_values_from_objects() {
        let pod = json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always", "hostNetwork": true},
            "status": {"phase": "Running", "podIP": "10.0.0.9", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}
        });
        let cases: &[(&str, &str, &Value, &str, Option<&str>)] = &[
            ("", "pods", &pod, "metadata.name", Some("web")),
            ("", "pods", &pod, "metadata.namespace", Some("default")),
            ("", "pods", &pod, "spec.nodeName", Some("n1")),
            ("", "pods", &pod, "spec.schedulerName", Some("")),
            ("", "pods", &pod, "spec.hostNetwork", Some("true")),
            ("", "pods", &pod, "status.podIP", Some("10.0.0.1")),
            ("", "pods", &pod, "status.podIPs", None),
            ("", "pods", &pod, "status.phase", Some("Running")),
        ];
        for (g, p, obj, f, want) in cases {
            assert_eq!(field_value(g, p, obj, f).as_deref(), *want, "{p} {f}");
        }
        let node = json!({"metadata": {"name": "n1"}, "spec": {}});
        assert_eq!(
            field_value("", "nodes", &node, "spec.unschedulable").as_deref(),
            Some("false")
        );
        assert_eq!(field_value("", "nodes", &node, "metadata.namespace"), None);
        let rc = json!({"metadata": {"name": "r", "namespace": "d"}, "status": {"replicas": 3}});
        assert_eq!(
            field_value("", "replicationcontrollers", &rc, "status.replicas").as_deref(),
            Some("3")
        );
        let job = json!({"metadata": {"name": "j", "namespace": "d"}, "status": {}});
        assert_eq!(
            field_value("batch", "jobs", &job, "status.successful").as_deref(),
            Some("0")
        );
        let secret =
            json!({"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls"});
        assert_eq!(
            field_value("", "secrets", &secret, "type").as_deref(),
            Some("kubernetes.io/tls")
        );

        let core_event = json!({
            "metadata": {"name": "e", "namespace": "d"},
            "involvedObject": {"kind": "Pod", "name": "web", "uid": "u1"},
            "reason": "Started", "type": "Normal", "source": {"component": "kubelet"},
            "reportingComponent": "kubelet"
        });
        let v1_event = json!({
            "metadata": {"name": "e", "namespace": "d"},
            "regarding": {"kind": "Pod", "name": "web", "uid": "u1"},
            "reason": "Started", "type": "Normal", "deprecatedSource": {"component": "kubelet"},
            "reportingController": "kubelet"
        });
        for obj in [&core_event, &v1_event] {
            for (f, want) in [
                ("involvedObject.kind", "Pod"),
                ("involvedObject.name", "web"),
                ("involvedObject.uid", "u1"),
                ("involvedObject.namespace", ""),
                ("reason", "Started"),
                ("type", "Normal"),
                ("source", "kubelet"),
                ("reportingComponent", "kubelet"),
            ] {
                assert_eq!(
                    field_value("", "events", obj, f).as_deref(),
                    Some(want),
                    "{f} in {obj}"
                );
                assert_eq!(
                    field_value("events.k8s.io", "events", obj, f).as_deref(),
                    Some(want),
                    "{f}"
                );
            }
        }

        let sel = FieldSelector::parse("regarding.name=web,type!=Warning")
            .unwrap()
            .convert("events.k8s.io", "events")
            .unwrap();
        assert!(sel.matches_object("events.k8s.io", "events", &v1_event));
        let sel = FieldSelector::parse("spec.nodeName=n2").unwrap();
        assert!(!sel.matches_object("", "pods", &pod));
        let sel = FieldSelector::parse("metadata.namespace=default,status.phase=Running").unwrap();
        assert!(sel.matches_object("", "pods", &pod));
    }
}
