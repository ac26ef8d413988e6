//! metav1.LabelSelector validation and matching (upstream
//! `apimachinery/pkg/apis/meta/v1/validation.ValidateLabelSelector` and
//! `metav1.LabelSelectorAsSelector`).

use super::names;
use super::validate_labels;
use crate::field::{ErrorList, FieldError};
use crate::json::{arr_at, obj_at, str_at};
use serde_json::Value;

/// Validates `matchLabels` and `matchExpressions`.
pub(crate) fn validate_label_selector(sel: &Value, path: &str) -> ErrorList {
    let mut errs = validate_labels(sel.get("matchLabels"), &format!("{path}.matchLabels"));
    for (i, expr) in arr_at(sel, &["matchExpressions"]).iter().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        let op = str_at(expr, &["operator"]);
        let values = arr_at(expr, &["values"]);
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        format!("{p}.values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        format!("{p}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            _ => errs.push(FieldError::invalid(
                format!("{p}.operator"),
                op,
                "not a valid selector operator",
            )),
        }
        let key = str_at(expr, &["key"]);
        for m in names::is_qualified_name(key) {
            errs.push(FieldError::invalid(format!("{p}.key"), key, m));
        }
        for (j, v) in values.iter().enumerate() {
            let s = v.as_str().unwrap_or("");
            for m in names::is_valid_label_value(s) {
                errs.push(FieldError::invalid(format!("{p}.values[{j}]"), s, m));
            }
        }
    }
    errs
}

/// Whether the selector has no requirements (it then matches everything; upstream's
/// `selector.Empty()`).
pub(crate) fn is_empty(sel: &Value) -> bool {
    obj_at(sel, &["matchLabels"]).is_none_or(|m| m.is_empty())
        && arr_at(sel, &["matchExpressions"]).is_empty()
}

/// Whether `labels` satisfy `sel`. A malformed requirement never matches.
pub(crate) fn matches(sel: &Value, labels: Option<&Value>) -> bool {
    let empty = serde_json::Map::new();
    let labels = labels.and_then(Value::as_object).unwrap_or(&empty);
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    if let Some(ml) = obj_at(sel, &["matchLabels"]) {
        for (k, v) in ml {
            if get(k) != v.as_str() {
                return false;
            }
        }
    }
    for expr in arr_at(sel, &["matchExpressions"]) {
        let key = str_at(expr, &["key"]);
        let values: Vec<&str> = arr_at(expr, &["values"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let ok = match str_at(expr, &["operator"]) {
            "In" => get(key).is_some_and(|v| values.contains(&v)),
            "NotIn" => get(key).is_none_or(|v| !values.contains(&v)),
            "Exists" => get(key).is_some(),
            "DoesNotExist" => get(key).is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matching_table() {
        let labels = json!({"app": "web", "tier": "fe"});
        let cases = [
            (json!({"matchLabels": {"app": "web"}}), true),
            (json!({"matchLabels": {"app": "db"}}), false),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["fe"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "x", "operator": "Exists"}]}),
                false,
            ),
            (json!({}), true),
        ];
        for (sel, want) in cases {
            assert_eq!(matches(&sel, Some(&labels)), want, "{sel}");
        }
    }

    #[test]
    fn validation_messages() {
        let errs = validate_label_selector(
            &json!({"matchExpressions": [{"key": "a", "operator": "In"}, {"key": "b", "operator": "Exists", "values": ["x"]}, {"key": "c", "operator": "Bad"}]}),
            "spec.selector",
        );
        let got: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                "spec.selector.matchExpressions[2].operator: Invalid value: \"Bad\": not a valid selector operator",
            ]
        );
    }
}
