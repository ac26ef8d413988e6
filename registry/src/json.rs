//! Small helpers for reading and defaulting fields of `serde_json::Value` objects.

use serde_json::{Map, Value};

/// Follows `path` through nested objects.
pub(crate) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.as_object()?.get(*p)?;
    }
    if cur.is_null() {
        None
    } else {
        Some(cur)
    }
}

/// The string at `path`, or "" when absent (Go's zero value).
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `path`.
pub(crate) fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    get(v, path).and_then(Value::as_i64)
}

/// The array at `path`, or an empty slice.
pub(crate) fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The object at `path`.
pub(crate) fn obj_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    get(v, path).and_then(Value::as_object)
}

/// The object stored under `key` of `v`, created (replacing null or a non-object) if needed.
/// Returns `None` when `v` itself is not an object.
pub(crate) fn child_obj<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    let m = v.as_object_mut()?;
    let e = m
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !e.is_object() {
        *e = Value::Object(Map::new());
    }
    e.as_object_mut()
}

/// The object under `key` when it exists and is an object (never creates it).
pub(crate) fn existing_obj<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    v.as_object_mut()?.get_mut(key)?.as_object_mut()
}

/// Whether a field counts as unset for defaulting: absent, null or "" (Go zero string).
pub(crate) fn is_unset(m: &Map<String, Value>, key: &str) -> bool {
    match m.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// Sets `key` to `value` when unset (see [`is_unset`]).
pub(crate) fn default_field(m: &mut Map<String, Value>, key: &str, value: Value) {
    if is_unset(m, key) {
        m.insert(key.to_string(), value);
    }
}

/// Applies `f` to every object element of the array under `key`.
pub(crate) fn each_obj_in(
    m: &mut Map<String, Value>,
    key: &str,
    mut f: impl FnMut(&mut Map<String, Value>),
) {
    if let Some(Value::Array(items)) = m.get_mut(key) {
        for it in items.iter_mut() {
            if let Some(o) = it.as_object_mut() {
                f(o);
            }
        }
    }
}

/// Whether an optional value is JSON `true` (Go `*bool` set to true).
pub(crate) fn is_truthy(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
}
