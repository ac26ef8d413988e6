//! Validation helpers shared by every strategy: name formats, labels and annotations,
//! label selectors, quantities, and ObjectMeta. These mirror upstream's
//! `apimachinery/pkg/api/validation` and `pkg/apis/core/validation` helpers.

pub(crate) mod meta;
pub(crate) mod names;
pub(crate) mod quantity;
pub(crate) mod selector;

use crate::field::{ErrorList, FieldError};
use serde_json::Value;

/// Which name format a resource's `metadata.name` must have (upstream's `ValidateNameFunc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameValidation {
    /// RFC 1123 subdomain: the default for most resources.
    #[default]
    Dns1123Subdomain,
    /// RFC 1123 label (namespaces).
    Dns1123Label,
    /// RFC 1035 label (services).
    Dns1035Label,
    /// Path segment: not `.`/`..`, no `/` or `%` (rbac, and others upstream lets be free-form).
    PathSegment,
}

impl NameValidation {
    /// Messages for `name` (or a generateName prefix when `prefix`).
    pub(crate) fn check(self, name: &str, prefix: bool) -> Vec<String> {
        let masked;
        let name = if prefix && self != NameValidation::PathSegment {
            masked = names::mask_trailing_dash(name);
            masked.as_str()
        } else {
            name
        };
        match self {
            NameValidation::Dns1123Subdomain => names::is_dns1123_subdomain(name),
            NameValidation::Dns1123Label => names::is_dns1123_label(name),
            NameValidation::Dns1035Label => names::is_dns1035_label(name),
            NameValidation::PathSegment => names::is_path_segment(name, prefix),
        }
    }
}

/// Upstream's `ValidateLabels`: keys must be qualified names, values label values; errors
/// are reported on the map's path, as upstream does.
pub(crate) fn validate_labels(labels: Option<&Value>, path: &str) -> ErrorList {
    let mut errs = Vec::new();
    let Some(map) = labels.and_then(Value::as_object) else {
        return errs;
    };
    for (k, v) in map {
        for m in names::is_qualified_name(k) {
            errs.push(FieldError::invalid(path, k.as_str(), m));
        }
        match v.as_str() {
            Some(s) => {
                for m in names::is_valid_label_value(s) {
                    errs.push(FieldError::invalid(path, s, m));
                }
            }
            None => errs.push(FieldError::invalid(
                format!("{path}[{k}]"),
                v.clone(),
                "must be a string",
            )),
        }
    }
    errs
}

/// Upstream's `ValidateNonnegativeField`.
pub(crate) fn validate_nonnegative(v: Option<i64>, path: &str) -> ErrorList {
    match v {
        Some(n) if n < 0 => vec![FieldError::invalid(
            path,
            n,
            "must be greater than or equal to 0",
        )],
        _ => Vec::new(),
    }
}

/// Upstream's `ValidateImmutableField` ("field is immutable").
pub(crate) fn validate_immutable(
    new: Option<&Value>,
    old: Option<&Value>,
    path: &str,
) -> ErrorList {
    if new == old {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            path,
            new.cloned().unwrap_or(Value::Null),
            "field is immutable",
        )]
    }
}

/// Validates that a field, when set, is one of `supported`; `required` adds a Required error
/// when it is unset.
pub(crate) fn validate_enum(
    v: Option<&Value>,
    path: &str,
    supported: &[&str],
    required: bool,
) -> ErrorList {
    match v {
        None => {
            if required {
                vec![FieldError::required(path, "")]
            } else {
                Vec::new()
            }
        }
        Some(Value::String(s)) if s.is_empty() && required => vec![FieldError::required(path, "")],
        Some(Value::String(s)) if supported.contains(&s.as_str()) => Vec::new(),
        Some(other) => vec![FieldError::not_supported(path, other.clone(), supported)],
    }
}

/// Validates a DNS-1123 label that must be set.
pub(crate) fn validate_dns_label_field(v: &str, path: &str) -> ErrorList {
    if v.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    names::is_dns1123_label(v)
        .into_iter()
        .map(|m| FieldError::invalid(path, v, m))
        .collect()
}

/// Validates a DNS-1123 subdomain that is optional.
pub(crate) fn validate_subdomain_opt(v: &str, path: &str) -> ErrorList {
    if v.is_empty() {
        return Vec::new();
    }
    names::is_dns1123_subdomain(v)
        .into_iter()
        .map(|m| FieldError::invalid(path, v, m))
        .collect()
}
