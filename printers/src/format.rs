//! Shared formatting helpers, each mirroring one upstream helper the printers call:
//! `duration.HumanDuration`, `translateTimestampSince`, `labels.FormatLabels`,
//! `metav1.FormatLabelSelector`, `layoutContainerCells`, plus small JSON accessors.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Walks `path` through nested objects; `None` when any step is missing or JSON `null`
/// (a Go pointer that is nil).
pub(crate) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// The string at `path`, `""` when absent (a Go zero-value string).
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or("")
}

/// The optional string at `path` (a Go `*string`).
pub(crate) fn opt_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

/// The integer at `path`, or `default` when absent.
pub(crate) fn int_or(v: &Value, path: &[&str], default: i64) -> i64 {
    get(v, path).and_then(Value::as_i64).unwrap_or(default)
}

/// The integer at `path`, `0` when absent.
pub(crate) fn int_at(v: &Value, path: &[&str]) -> i64 {
    int_or(v, path, 0)
}

/// The boolean at `path`, or `default` when absent.
pub(crate) fn bool_or(v: &Value, path: &[&str], default: bool) -> bool {
    get(v, path).and_then(Value::as_bool).unwrap_or(default)
}

/// The array at `path`, empty when absent.
pub(crate) fn arr<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Number of entries of the object or array at `path` (`len()` of a Go map or slice).
pub(crate) fn len_at(v: &Value, path: &[&str]) -> i64 {
    match get(v, path) {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

/// `metadata.name`.
pub(crate) fn name(obj: &Value) -> String {
    str_at(obj, &["metadata", "name"]).to_string()
}

/// Parses an RFC 3339 timestamp (`metav1.Time` or `metav1.MicroTime`). Go's zero time
/// (`0001-01-01T00:00:00Z`) and unparsable text count as unset, like `Time.IsZero()`.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    (t.timestamp() != ZERO_TIME_UNIX).then_some(t)
}

/// Unix seconds of Go's zero `time.Time`.
const ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// The timestamp at `path`, if set.
pub(crate) fn time_at(v: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    opt_str(v, path).and_then(parse_time)
}

/// Mirrors `duration.HumanDuration` (k8s.io/apimachinery/pkg/util/duration): about two
/// significant figures, `<invalid>` for more than a second in the future.
pub(crate) fn human_duration(d: chrono::TimeDelta) -> String {
    // Go: seconds := int(d.Seconds()) truncates toward zero.
    let nanos = d
        .num_nanoseconds()
        .map(i128::from)
        .unwrap_or_else(|| i128::from(d.num_seconds()) * 1_000_000_000);
    let seconds = nanos / 1_000_000_000;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

/// Mirrors `translateTimestampSince`: `<unknown>` for an unset time, else the human
/// duration from it to `now`.
pub(crate) fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        None => "<unknown>".to_string(),
        Some(t) => human_duration(now - t),
    }
}

/// Age column: `translateTimestampSince(obj.CreationTimestamp)`.
pub(crate) fn age(obj: &Value, now: DateTime<Utc>) -> String {
    since(time_at(obj, &["metadata", "creationTimestamp"]), now)
}

/// Mirrors `labels.FormatLabels`: `k=v` sorted by key, comma separated, `<none>` if empty.
pub(crate) fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<(String, String)> = match map.and_then(Value::as_object) {
        Some(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect(),
        None => Vec::new(),
    };
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Why a label selector cannot be turned into a selector; the printers show it as
/// `<error>` or `<invalid>` like upstream's `LabelSelectorAsSelector` failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SelectorError {
    /// An operator other than In, NotIn, Exists, DoesNotExist.
    #[error("{0:?} is not a valid label selector operator")]
    Operator(String),
    /// Value count does not fit the operator.
    #[error("invalid values for operator {0}")]
    Values(String),
    /// A key or value that is not a valid label key or value.
    #[error("invalid label {0:?}")]
    Label(String),
}

/// Mirrors `metav1.LabelSelectorAsSelector(sel).String()`: `None` (nil selector) and an
/// empty selector both print as `""`; requirements are sorted by key.
pub(crate) fn selector_string(sel: Option<&Value>) -> Result<String, SelectorError> {
    let Some(sel) = sel else {
        return Ok(String::new());
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(m) = get(sel, &["matchLabels"]).and_then(Value::as_object) {
        for (k, v) in m {
            let v = v.as_str().unwrap_or("");
            validate_key(k)?;
            validate_value(v)?;
            reqs.push((k.clone(), format!("{k}={v}")));
        }
    }
    for expr in arr(sel, &["matchExpressions"]) {
        let key = str_at(expr, &["key"]);
        validate_key(key)?;
        let op = str_at(expr, &["operator"]);
        let mut values: Vec<String> = arr(expr, &["values"])
            .iter()
            .map(|v| v.as_str().unwrap_or("").to_string())
            .collect();
        for v in &values {
            validate_value(v)?;
        }
        // Requirement.String() sorts the values it prints.
        values.sort();
        let text = match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    return Err(SelectorError::Values(op.to_string()));
                }
                let word = if op == "In" { "in" } else { "notin" };
                format!("{key} {word} ({})", values.join(","))
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    return Err(SelectorError::Values(op.to_string()));
                }
                if op == "Exists" {
                    key.to_string()
                } else {
                    format!("!{key}")
                }
            }
            other => return Err(SelectorError::Operator(other.to_string())),
        };
        reqs.push((key.to_string(), text));
    }
    // internalSelector.Add sorts requirements by key.
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(","))
}

/// Mirrors `metav1.FormatLabelSelector`: `<none>` when empty, `<error>` when invalid.
pub(crate) fn format_label_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
        Err(_) => "<error>".to_string(),
    }
}

/// A label key: optional DNS-subdomain prefix and `/`, then a qualified name.
fn validate_key(k: &str) -> Result<(), SelectorError> {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            // IsDNS1123Subdomain: dot-separated lowercase alphanumeric runs, 253 at most.
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    });
    if prefix_ok && !name.is_empty() && valid_label_text(name) {
        Ok(())
    } else {
        Err(SelectorError::Label(k.to_string()))
    }
}

fn validate_value(v: &str) -> Result<(), SelectorError> {
    if v.is_empty() || valid_label_text(v) {
        Ok(())
    } else {
        Err(SelectorError::Label(v.to_string()))
    }
}

/// At most 63 characters of `[A-Za-z0-9._-]`, alphanumeric at both ends.
fn valid_label_text(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Mirrors `layoutContainerCells`: container names and images, each comma separated.
pub(crate) fn container_cells(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

/// Mirrors `listWithMoreString`: the first `max` items, then ` + N more...`; `<unset>`
/// for an empty list.
pub(crate) fn list_with_more(list: &[String], count: usize, max: usize) -> String {
    let ret = list.join(",");
    if count > max {
        return format!("{ret} + {} more...", count - max);
    }
    if ret.is_empty() {
        return "<unset>".to_string();
    }
    ret
}

/// `IntOrString.String()`.
pub(crate) fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Go's `net.JoinHostPort`: brackets around hosts containing a colon (IPv6).
pub(crate) fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use serde_json::json;

    #[test]
    fn human_duration_table() {
        // Mirrors upstream duration_test.go TestHumanDuration.
        let s = TimeDelta::seconds;
        let cases = [
            (s(1), "1s"),
            (s(70), "70s"),
            (s(190), "3m10s"),
            (s(70 * 60), "70m"),
            (s(47 * 60 * 60), "47h"),
            (s(49 * 60 * 60), "2d1h"),
            (s((8 * 24 + 2) * 60 * 60), "8d"),
            (s(367 * 24 * 60 * 60), "367d"),
            (s((365 * 2 + 3) * 24 * 60 * 60), "2y3d"),
            (s((365 * 8 + 3) * 24 * 60 * 60), "8y"),
            (s(119), "119s"),
            (s(120), "2m"),
            (s(9 * 60 + 59), "9m59s"),
            (s(10 * 60 + 1), "10m"),
            (s(3 * 60 * 60 - 1), "179m"),
            (s(3 * 60 * 60), "3h"),
            (s(3 * 60 * 60 + 30 * 60), "3h30m"),
            (s(8 * 60 * 60), "8h"),
            (s(0), "0s"),
            (TimeDelta::milliseconds(-1500), "0s"),
            (s(-2), "<invalid>"),
            (s(2 * 365 * 24 * 60 * 60), "2y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "duration {d:?}");
        }
    }

    #[test]
    fn timestamps() {
        let now = parse_time("2024-01-01T01:00:00Z").unwrap();
        assert_eq!(since(None, now), "<unknown>");
        assert_eq!(since(parse_time("0001-01-01T00:00:00Z"), now), "<unknown>");
        assert_eq!(since(parse_time("2024-01-01T00:58:30Z"), now), "90s");
        assert_eq!(since(parse_time("2024-01-01T00:58:30.123456Z"), now), "89s");
    }

    #[test]
    fn labels_and_selectors() {
        assert_eq!(format_labels(None), "<none>");
        assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
        let cases = [
            (json!({}), "<none>"),
            (
                json!({"matchLabels": {"app": "web", "tier": "fe"}}),
                "app=web,tier=fe",
            ),
            (
                json!({"matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                    {"key": "a", "operator": "Exists"},
                    {"key": "z", "operator": "DoesNotExist"},
                    {"key": "m", "operator": "NotIn", "values": ["x"]}
                ]}),
                "a,env in (dev,prod),m notin (x),!z",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}),
                "<error>",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
                "<error>",
            ),
            (json!({"matchLabels": {"bad key": "x"}}), "<error>"),
        ];
        for (sel, want) in cases {
            assert_eq!(format_label_selector(Some(&sel)), want, "selector {sel}");
        }
        assert_eq!(format_label_selector(None), "<none>");
    }

    #[test]
    fn more_lists() {
        let l = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        assert_eq!(list_with_more(&l, 5, 3), "a,b,c + 2 more...");
        assert_eq!(list_with_more(&[], 0, 3), "<unset>");
        assert_eq!(join_host_port("fd00::1", 80), "[fd00::1]:80");
    }
}
