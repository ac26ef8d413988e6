//! RFC 6902 JSON patch, with the behaviour and error texts of gopkg.in/evanphx/json-patch.v4,
//! the library the apiserver applies `application/json-patch+json` with.
//!
//! Quirks kept on purpose because clients observe them: `replace` of a missing object key
//! adds it (v4 only checks that the parent exists), negative array indices count from the
//! end, and `test` of a missing key passes only when the operation has no `value` at all.

use serde_json::Value;

use crate::error::PatchError;

const ERR_MISSING: &str = "missing value";
const ERR_INVALID_INDEX: &str = "invalid index referenced";
const ERR_TEST_FAILED: &str = "test failed";

/// Applies an RFC 6902 JSON patch (an array of operations) to `doc`.
pub fn json_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = match patch {
        Value::Array(ops) => ops,
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                json_kind(other)
            )))
        }
    };
    for op in ops {
        if !op.is_object() {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                json_kind(op)
            )));
        }
    }
    if !doc.is_object() && !doc.is_array() {
        return Err(PatchError::Unprocessable(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.partialDoc",
            json_kind(doc)
        )));
    }
    let mut out = doc.clone();
    for op in ops {
        apply_op(&mut out, op).map_err(PatchError::Unprocessable)?;
    }
    Ok(out)
}

/// The word encoding/json uses for a value's kind in unmarshal errors.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let kind = op.get("op").and_then(Value::as_str).unwrap_or("unknown");
    let path = op.get("path").and_then(Value::as_str);
    let from = op.get("from").and_then(Value::as_str);
    // A missing "value" and `"value": null` differ for `test` only.
    let value = op.get("value");
    let path_err = || format!("operation missing path field: {ERR_MISSING}");
    let from_err = || format!("operation, missing from field: {ERR_MISSING}");
    match kind {
        "add" => {
            let path =
                path.ok_or_else(|| format!("add operation failed to decode path: {ERR_MISSING}"))?;
            let (con, key) = find_object(doc, path).ok_or_else(|| {
                format!(
                    "add operation does not apply: doc is missing path: \"{path}\": {ERR_MISSING}"
                )
            })?;
            add(con, &key, value.cloned().unwrap_or(Value::Null))
                .map_err(|e| format!("error in add for path: '{path}': {e}"))
        }
        "remove" => {
            let path = path
                .ok_or_else(|| format!("remove operation failed to decode path: {ERR_MISSING}"))?;
            let (con, key) = find_object(doc, path).ok_or_else(|| {
                format!("remove operation does not apply: doc is missing path: \"{path}\": {ERR_MISSING}")
            })?;
            remove(con, &key)
                .map(|_| ())
                .map_err(|e| format!("error in remove for path: '{path}': {e}"))
        }
        "replace" => {
            let path = path.ok_or_else(|| {
                format!("replace operation failed to decode path: {}", path_err())
            })?;
            if path.is_empty() {
                let v = value.cloned().unwrap_or(Value::Null);
                if !v.is_object() && !v.is_array() {
                    // v4 wraps a nil error here, which Go prints as `%!w(<nil>)`.
                    return Err(
                        "replace operation value must be object or array: %!w(<nil>)".to_string(),
                    );
                }
                *doc = v;
                return Ok(());
            }
            let (con, key) = find_object(doc, path).ok_or_else(|| {
                format!(
                    "replace operation does not apply: doc is missing path: {path}: {ERR_MISSING}"
                )
            })?;
            if let Value::Array(a) = con {
                if array_index(a.len(), &key, false).is_err() {
                    return Err(format!(
                        "replace operation does not apply: doc is missing key: {path}: {ERR_MISSING}"
                    ));
                }
            }
            set(con, &key, value.cloned().unwrap_or(Value::Null))
                .map_err(|e| format!("error in remove for path: '{path}': {e}"))
        }
        "move" => {
            let from = from
                .ok_or_else(|| format!("move operation failed to decode from: {}", from_err()))?;
            let (con, key) = find_object(doc, from).ok_or_else(|| {
                format!("move operation does not apply: doc is missing from path: {from}: {ERR_MISSING}")
            })?;
            get(con, &key).map_err(|e| format!("error in move for path: '{key}': {e}"))?;
            let val =
                remove(con, &key).map_err(|e| format!("error in move for path: '{key}': {e}"))?;
            let path = path
                .ok_or_else(|| format!("move operation failed to decode path: {}", path_err()))?;
            let (con, key) = find_object(doc, path).ok_or_else(|| {
                format!(
                    "move operation does not apply: doc is missing destination path: {path}: {ERR_MISSING}"
                )
            })?;
            add(con, &key, val).map_err(|e| format!("error in move for path: '{path}': {e}"))
        }
        "test" => {
            let path = path
                .ok_or_else(|| format!("test operation failed to decode path: {}", path_err()))?;
            let failed = || format!("testing value {path} failed: {ERR_TEST_FAILED}");
            if path.is_empty() {
                return match value {
                    Some(v) if json_equal(doc, v) => Ok(()),
                    _ => Err(failed()),
                };
            }
            let (con, key) = find_object(doc, path).ok_or_else(|| {
                format!("test operation does not apply: is missing path: {path}: {ERR_MISSING}")
            })?;
            let found =
                get(con, &key).map_err(|e| format!("error in test for path: '{path}': {e}"))?;
            match (found, value) {
                (None, None) => Ok(()),
                (Some(a), Some(b)) if json_equal(a, b) => Ok(()),
                _ => Err(failed()),
            }
        }
        "copy" => {
            let from = from
                .ok_or_else(|| format!("copy operation failed to decode from: {}", from_err()))?;
            let (con, key) = find_object(doc, from).ok_or_else(|| {
                format!("copy operation does not apply: doc is missing from path: {from}: {ERR_MISSING}")
            })?;
            let val = get(con, &key)
                .map_err(|e| format!("error in copy for from: '{from}': {e}"))?
                .cloned()
                .unwrap_or(Value::Null);
            let path =
                path.ok_or_else(|| format!("copy operation failed to decode path: {ERR_MISSING}"))?;
            let (con, key) = find_object(doc, path).ok_or_else(|| {
                format!(
                    "copy operation does not apply: doc is missing destination path: {path}: {ERR_MISSING}"
                )
            })?;
            add(con, &key, val).map_err(|e| format!("error while adding value during copy: {e}"))
        }
        other => Err(format!("Unexpected kind: {other}")),
    }
}

/// RFC 6901 reference token decoding: `~1` to `/` first, then `~0` to `~`.
fn decode_token(t: &str) -> String {
    t.replace("~1", "/").replace("~0", "~")
}

/// Finds the container (object or array) holding the last token of `path`, as v4's
/// `findObject`: `None` when the path is empty or an intermediate step is missing or is
/// not a container.
fn find_object<'a>(doc: &'a mut Value, path: &str) -> Option<(&'a mut Value, String)> {
    let split: Vec<&str> = path.split('/').collect();
    if split.len() < 2 {
        return None;
    }
    let key = decode_token(split[split.len() - 1]);
    let mut cur = doc;
    for part in &split[1..split.len() - 1] {
        let part = decode_token(part);
        let next = match cur {
            Value::Object(m) => m.get_mut(&part)?,
            Value::Array(a) => {
                let idx = array_index(a.len(), &part, false).ok()?;
                &mut a[idx]
            }
            _ => return None,
        };
        if !next.is_object() && !next.is_array() {
            return None;
        }
        cur = next;
    }
    Some((cur, key))
}

/// Go's `strconv.Atoi` error text for `s`.
fn atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing \"{s}\": invalid syntax"));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing \"{s}\": value out of range"))
}

/// Resolves an array index token for an array of `len` items; `for_insert` allows
/// `idx == len`. Negative indices count from the end (v4's `SupportNegativeIndices`).
fn array_index(len: usize, key: &str, for_insert: bool) -> Result<usize, String> {
    let idx = atoi(key)?;
    let bound = if for_insert { len + 1 } else { len } as i64;
    let invalid = || format!("Unable to access invalid index: {idx}: {ERR_INVALID_INDEX}");
    if idx >= bound {
        return Err(invalid());
    }
    if idx < 0 {
        if idx < -bound {
            return Err(invalid());
        }
        return Ok((idx + bound) as usize);
    }
    Ok(idx as usize)
}

fn add(con: &mut Value, key: &str, val: Value) -> Result<(), String> {
    match con {
        Value::Object(m) => {
            m.insert(key.to_string(), val);
            Ok(())
        }
        Value::Array(a) => {
            if key == "-" {
                a.push(val);
                return Ok(());
            }
            let idx = array_index(a.len(), key, true).map_err(|e| {
                if e.starts_with("strconv") {
                    format!("value was not a proper array index: '{key}': {e}")
                } else {
                    e
                }
            })?;
            a.insert(idx, val);
            Ok(())
        }
        _ => Err(ERR_MISSING.to_string()),
    }
}

fn remove(con: &mut Value, key: &str) -> Result<Value, String> {
    match con {
        Value::Object(m) => m
            .shift_remove(key)
            .ok_or_else(|| format!("Unable to remove nonexistent key: {key}: {ERR_MISSING}")),
        Value::Array(a) => {
            let idx = array_index(a.len(), key, false)?;
            Ok(a.remove(idx))
        }
        _ => Err(ERR_MISSING.to_string()),
    }
}

fn get<'a>(con: &'a Value, key: &str) -> Result<Option<&'a Value>, String> {
    match con {
        Value::Object(m) => Ok(m.get(key)),
        Value::Array(a) => Ok(Some(&a[array_index(a.len(), key, false)?])),
        _ => Err(ERR_MISSING.to_string()),
    }
}

fn set(con: &mut Value, key: &str, val: Value) -> Result<(), String> {
    match con {
        Value::Object(m) => {
            m.insert(key.to_string(), val);
            Ok(())
        }
        Value::Array(a) => {
            let idx = array_index(a.len(), key, false)?;
            a[idx] = val;
            Ok(())
        }
        _ => Err(ERR_MISSING.to_string()),
    }
}

/// Structural equality where numbers compare by value (`1` equals `1.0`), as the Go
/// library compares decoded float64s.
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Cases from RFC 6902 appendix A (and v4's own tests), plus upstream error texts.
    #[test]
    fn rfc6902_table() {
        struct Case {
            name: &'static str,
            doc: Value,
            patch: Value,
            want: Result<Value, &'static str>,
        }
        let cases = vec![
            Case {
                name: "A.1 add object member",
                doc: json!({"foo": "bar"}),
                patch: json!([{"op": "add", "path": "/baz", "value": "qux"}]),
                want: Ok(json!({"foo": "bar", "baz": "qux"})),
            },
            Case {
                name: "A.2 add array element",
                doc: json!({"foo": ["bar", "baz"]}),
                patch: json!([{"op": "add", "path": "/foo/1", "value": "qux"}]),
                want: Ok(json!({"foo": ["bar", "qux", "baz"]})),
            },
            Case {
                name: "A.3 remove object member",
                doc: json!({"baz": "qux", "foo": "bar"}),
                patch: json!([{"op": "remove", "path": "/baz"}]),
                want: Ok(json!({"foo": "bar"})),
            },
            Case {
                name: "A.4 remove array element",
                doc: json!({"foo": ["bar", "qux", "baz"]}),
                patch: json!([{"op": "remove", "path": "/foo/1"}]),
                want: Ok(json!({"foo": ["bar", "baz"]})),
            },
            Case {
                name: "A.5 replace",
                doc: json!({"baz": "qux", "foo": "bar"}),
                patch: json!([{"op": "replace", "path": "/baz", "value": "boo"}]),
                want: Ok(json!({"baz": "boo", "foo": "bar"})),
            },
            Case {
                name: "A.6 move value",
                doc: json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
                patch: json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]),
                want: Ok(json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}})),
            },
            Case {
                name: "A.7 move array element",
                doc: json!({"foo": ["all", "grass", "cows", "eat"]}),
                patch: json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}]),
                want: Ok(json!({"foo": ["all", "cows", "eat", "grass"]})),
            },
            Case {
                name: "A.8 test success",
                doc: json!({"baz": "qux", "foo": ["a", 2, "c"]}),
                patch: json!([
                    {"op": "test", "path": "/baz", "value": "qux"},
                    {"op": "test", "path": "/foo/1", "value": 2}
                ]),
                want: Ok(json!({"baz": "qux", "foo": ["a", 2, "c"]})),
            },
            Case {
                name: "A.9 test failure",
                doc: json!({"baz": "qux"}),
                patch: json!([{"op": "test", "path": "/baz", "value": "bar"}]),
                want: Err("testing value /baz failed: test failed"),
            },
            Case {
                name: "A.10 add nested member object",
                doc: json!({"foo": "bar"}),
                patch: json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}]),
                want: Ok(json!({"foo": "bar", "child": {"grandchild": {}}})),
            },
            Case {
                name: "A.12 add to nonexistent target",
                doc: json!({"foo": "bar"}),
                patch: json!([{"op": "add", "path": "/baz/bat", "value": "qux"}]),
                want: Err("add operation does not apply: doc is missing path: \"/baz/bat\": missing value"),
            },
            Case {
                name: "A.14 escape ordering",
                doc: json!({"/": 9, "~1": 10}),
                patch: json!([{"op": "test", "path": "/~01", "value": 10}]),
                want: Ok(json!({"/": 9, "~1": 10})),
            },
            Case {
                name: "A.15 comparing strings and numbers",
                doc: json!({"/": 9, "~1": 10}),
                patch: json!([{"op": "test", "path": "/~01", "value": "10"}]),
                want: Err("testing value /~01 failed: test failed"),
            },
            Case {
                name: "A.16 add array value",
                doc: json!({"foo": ["bar"]}),
                patch: json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]),
                want: Ok(json!({"foo": ["bar", ["abc", "def"]]})),
            },
            Case {
                name: "escaped slash key",
                doc: json!({"metadata": {"labels": {"a/b": "x"}}}),
                patch: json!([{"op": "replace", "path": "/metadata/labels/a~1b", "value": "y"}]),
                want: Ok(json!({"metadata": {"labels": {"a/b": "y"}}})),
            },
            Case {
                name: "copy",
                doc: json!({"a": {"b": 1}}),
                patch: json!([{"op": "copy", "from": "/a", "path": "/c"}]),
                want: Ok(json!({"a": {"b": 1}, "c": {"b": 1}})),
            },
            Case {
                name: "remove missing key",
                doc: json!({"a": 1}),
                patch: json!([{"op": "remove", "path": "/b"}]),
                want: Err("error in remove for path: '/b': Unable to remove nonexistent key: b: missing value"),
            },
            Case {
                name: "remove out of range",
                doc: json!({"a": [1]}),
                patch: json!([{"op": "remove", "path": "/a/5"}]),
                want: Err("error in remove for path: '/a/5': Unable to access invalid index: 5: invalid index referenced"),
            },
            Case {
                name: "add past the end",
                doc: json!({"a": [1]}),
                patch: json!([{"op": "add", "path": "/a/3", "value": 2}]),
                want: Err("error in add for path: '/a/3': Unable to access invalid index: 3: invalid index referenced"),
            },
            Case {
                name: "add bad index",
                doc: json!({"a": [1]}),
                patch: json!([{"op": "add", "path": "/a/x", "value": 2}]),
                want: Err("error in add for path: '/a/x': value was not a proper array index: 'x': strconv.Atoi: parsing \"x\": invalid syntax"),
            },
            Case {
                name: "replace missing parent",
                doc: json!({"a": 1}),
                patch: json!([{"op": "replace", "path": "/b/c", "value": 2}]),
                want: Err("replace operation does not apply: doc is missing path: /b/c: missing value"),
            },
            Case {
                name: "replace missing array index",
                doc: json!({"a": [1]}),
                patch: json!([{"op": "replace", "path": "/a/1", "value": 2}]),
                want: Err("replace operation does not apply: doc is missing key: /a/1: missing value"),
            },
            Case {
                name: "replace of a missing object key adds it (v4)",
                doc: json!({"a": 1}),
                patch: json!([{"op": "replace", "path": "/b", "value": 2}]),
                want: Ok(json!({"a": 1, "b": 2})),
            },
            Case {
                name: "negative index",
                doc: json!({"a": [1, 2, 3]}),
                patch: json!([{"op": "remove", "path": "/a/-1"}]),
                want: Ok(json!({"a": [1, 2]})),
            },
            Case {
                name: "unknown op",
                doc: json!({}),
                patch: json!([{"op": "frobnicate", "path": "/a"}]),
                want: Err("Unexpected kind: frobnicate"),
            },
            Case {
                name: "missing op",
                doc: json!({}),
                patch: json!([{"path": "/a"}]),
                want: Err("Unexpected kind: unknown"),
            },
            Case {
                name: "move from missing",
                doc: json!({"a": 1}),
                patch: json!([{"op": "move", "from": "/x", "path": "/y"}]),
                want: Err("error in move for path: 'x': Unable to remove nonexistent key: x: missing value"),
            },
            Case {
                name: "test of missing key without value passes",
                doc: json!({"a": 1}),
                patch: json!([{"op": "test", "path": "/b"}]),
                want: Ok(json!({"a": 1})),
            },
            Case {
                name: "failed op leaves the whole patch unapplied",
                doc: json!({"a": 1}),
                patch: json!([{"op": "add", "path": "/b", "value": 1}, {"op": "test", "path": "/a", "value": 2}]),
                want: Err("testing value /a failed: test failed"),
            },
        ];
        for c in cases {
            let got = json_patch(&c.doc, &c.patch);
            match c.want {
                Ok(want) => assert_eq!(got, Ok(want), "{}", c.name),
                Err(msg) => assert_eq!(
                    got.map_err(|e| e.to_string()),
                    Err(msg.to_string()),
                    "{}",
                    c.name
                ),
            }
        }
    }

    #[test]
    fn patch_must_be_an_array() {
        let err = json_patch(&json!({}), &json!({"op": "add"})).unwrap_err();
        assert_eq!(
            err,
            PatchError::BadRequest(
                "json: cannot unmarshal object into Go value of type jsonpatch.Patch".into()
            )
        );
    }
}
