//! Renders JSON values the way Go's `fmt` `%v` verb renders the decoded
//! `map[string]interface{}` / `[]interface{}` values, because upstream error messages embed
//! them that way (`map: map[name:a] does not contain declared merge key: name`).

use serde_json::Value;

/// `%v` of a decoded JSON value.
pub(crate) fn go_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_v).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(m) => {
            // Go prints map keys sorted.
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_v(&m[*k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `%v` of a float64 (encoding/json decodes every number to float64): `%g` with the
/// shortest representation, exponent form from 1e21 on.
fn go_number(n: &serde_json::Number) -> String {
    // Every i64/u64 is below 1e21, where Go would switch to exponent form.
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust prints `1e21`, Go prints `1e+21`.
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
            None => s,
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_go() {
        let cases = [
            (json!({"b": 1, "a": "x"}), "map[a:x b:1]"),
            (json!([1, "a", null, true]), "[1 a <nil> true]"),
            (json!(1.5), "1.5"),
            (json!({"m": {"k": [1]}}), "map[m:map[k:[1]]]"),
        ];
        for (v, want) in cases {
            assert_eq!(go_v(&v), want);
        }
    }
}
