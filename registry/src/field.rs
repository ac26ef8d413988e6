//! Field errors: the typed form of upstream's `k8s.io/apimachinery/pkg/util/validation/field`
//! `Error`, which the apiserver turns into `Status.details.causes`.

use serde_json::Value;
use std::fmt;

/// The kind of a field error; mirrors upstream's `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Required,
    Invalid,
    NotSupported,
    Forbidden,
    Duplicate,
    TooLong,
    TooMany,
    NotFound,
    InternalError,
}

impl ErrorType {
    /// The human string upstream's `ErrorType.String()` returns.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Required => "Required value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::NotFound => "Not found",
            ErrorType::InternalError => "Internal error",
        }
    }

    /// The `Status` cause reason (upstream's `metav1.CauseType` values).
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::InternalError => "InternalError",
        }
    }
}

/// One validation failure on one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub type_: ErrorType,
    /// Upstream field path syntax, e.g. `spec.containers[0].image`, `metadata.labels[app]`.
    pub field: String,
    /// The offending value; `None` where upstream omits it from the message.
    pub bad_value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    fn new(
        type_: ErrorType,
        field: impl Into<String>,
        bad_value: Option<Value>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError {
            type_,
            field: field.into(),
            bad_value,
            detail: detail.into(),
        }
    }

    /// `field.Required`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Required, field, None, detail)
    }

    /// `field.Invalid`.
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(ErrorType::Invalid, field, Some(value.into()), detail)
    }

    /// `field.NotSupported`: detail lists the quoted supported values, as upstream does.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        supported: &[&str],
    ) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(ErrorType::NotSupported, field, Some(value.into()), detail)
    }

    /// `field.Forbidden`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Forbidden, field, None, detail)
    }

    /// `field.Duplicate`.
    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(ErrorType::Duplicate, field, Some(value.into()), "")
    }

    /// `field.NotFound`.
    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(ErrorType::NotFound, field, Some(value.into()), "")
    }

    /// `field.TooLong` with upstream's "may not be more than N bytes" detail.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        let unit = if max == 1 { "byte" } else { "bytes" };
        Self::new(
            ErrorType::TooLong,
            field,
            None,
            format!("may not be more than {max} {unit}"),
        )
    }

    /// `field.TooMany` with upstream's "must have at most N items" detail.
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        let unit = if max == 1 { "item" } else { "items" };
        Self::new(
            ErrorType::TooMany,
            field,
            Some(Value::from(actual)),
            format!("must have at most {max} {unit}"),
        )
    }

    /// `field.InternalError`.
    pub fn internal(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::InternalError, field, None, detail)
    }

    /// The `Status` cause reason, e.g. `FieldValueRequired`.
    pub fn reason(&self) -> &'static str {
        self.type_.reason()
    }

    /// The cause message, as upstream's `field.Error.ErrorBody()`: types whose value is never
    /// shown (Required, Forbidden, TooLong, InternalError) print only the type; strings are
    /// quoted; other values print as JSON (upstream marshals complex bad values to JSON).
    pub fn message(&self) -> String {
        let mut s = match (&self.type_, &self.bad_value) {
            (
                ErrorType::Required
                | ErrorType::Forbidden
                | ErrorType::TooLong
                | ErrorType::InternalError,
                _,
            )
            | (_, None) => self.type_.as_str().to_string(),
            (t, Some(v)) => format!("{}: {}", t.as_str(), render_value(v)),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    /// Upstream's `field.Error.Error()`: `<field>: <body>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message())
    }
}

impl std::error::Error for FieldError {}

/// Renders a bad value the way upstream's ErrorBody does: `%q` for strings, `%v` for numbers
/// and booleans, `null` for nil, JSON (Go's encoding/json sorts map keys) for the rest.
fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Null => "null".to_string(),
        Value::Bool(_) | Value::Number(_) => v.to_string(),
        other => sorted(other).to_string(),
    }
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// A list of field errors, as upstream's `field.ErrorList`.
pub type ErrorList = Vec<FieldError>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_match_upstream_error_body() {
        let cases: Vec<(FieldError, &str, &str)> = vec![
            (
                FieldError::required("spec.containers", ""),
                "FieldValueRequired",
                "spec.containers: Required value",
            ),
            (
                FieldError::invalid("metadata.name", "Foo", "bad"),
                "FieldValueInvalid",
                "metadata.name: Invalid value: \"Foo\": bad",
            ),
            (
                FieldError::not_supported("spec.restartPolicy", "X", &["Always", "Never", "OnFailure"]),
                "FieldValueNotSupported",
                "spec.restartPolicy: Unsupported value: \"X\": supported values: \"Always\", \"Never\", \"OnFailure\"",
            ),
            (
                FieldError::forbidden("spec", "nope"),
                "FieldValueForbidden",
                "spec: Forbidden: nope",
            ),
            (
                FieldError::duplicate("spec.containers[1].name", "a"),
                "FieldValueDuplicate",
                "spec.containers[1].name: Duplicate value: \"a\"",
            ),
            (
                FieldError::too_long("metadata.annotations", 262144),
                "FieldValueTooLong",
                "metadata.annotations: Too long: may not be more than 262144 bytes",
            ),
            (
                FieldError::too_many("spec.x", 5, 3),
                "FieldValueTooMany",
                "spec.x: Too many: 5: must have at most 3 items",
            ),
            (
                FieldError::not_found("spec.containers[0].volumeMounts[0].name", "v"),
                "FieldValueNotFound",
                "spec.containers[0].volumeMounts[0].name: Not found: \"v\"",
            ),
            (
                FieldError::invalid("spec.replicas", -1, "must be greater than or equal to 0"),
                "FieldValueInvalid",
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            ),
            (
                FieldError::invalid("spec.clusterIPs[0]", json!(["None"]), "may not change once set"),
                "FieldValueInvalid",
                "spec.clusterIPs[0]: Invalid value: [\"None\"]: may not change once set",
            ),
            (
                FieldError::invalid("x", json!({"b": "1", "a": "2"}), "d"),
                "FieldValueInvalid",
                "x: Invalid value: {\"a\":\"2\",\"b\":\"1\"}: d",
            ),
        ];
        for (err, reason, text) in cases {
            assert_eq!(err.reason(), reason);
            assert_eq!(err.to_string(), text);
        }
    }
}
