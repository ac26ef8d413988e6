//! Field sets in structured-merge-diff's model (sigs.k8s.io/structured-merge-diff
//! `fieldpath`), and their `FieldsV1` JSON encoding used in `metadata.managedFields`.
//!
//! A set is a tree of path elements; a node flagged `member` is itself in the set. In
//! FieldsV1 a member leaf is `{}` and a member with children carries `".": {}`.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// One step of a field path. The derived order (fields, then keys, then values, then
/// indices) is the order upstream sorts and serializes them in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Elem {
    /// `f:<name>`: a struct field or map key.
    Field(String),
    /// `k:<json object>`: an associative list item, by its key fields (sorted by name).
    Key(String),
    /// `v:<json>`: a set list item, by value.
    Value(String),
    /// `i:<n>`: a list item by position.
    Index(usize),
}

impl Elem {
    fn encode(&self) -> String {
        match self {
            Elem::Field(n) => format!("f:{n}"),
            Elem::Key(k) => format!("k:{k}"),
            Elem::Value(v) => format!("v:{v}"),
            Elem::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(s: &str) -> Result<Elem, String> {
        let (prefix, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("invalid path element {s:?}"))?;
        match prefix {
            "f" => Ok(Elem::Field(rest.to_string())),
            "k" => {
                let v: Value = serde_json::from_str(rest).map_err(|e| e.to_string())?;
                if !v.is_object() {
                    return Err(format!("invalid key path element {s:?}"));
                }
                Ok(Elem::Key(canonical_json(&v)))
            }
            "v" => {
                let v: Value = serde_json::from_str(rest).map_err(|e| e.to_string())?;
                Ok(Elem::Value(canonical_json(&v)))
            }
            "i" => rest
                .parse()
                .map(Elem::Index)
                .map_err(|_| format!("invalid index path element {s:?}")),
            _ => Err(format!("unknown path element prefix {prefix:?} in {s:?}")),
        }
    }

    /// Whether the list item `item` is the one this element names.
    pub(crate) fn matches_item(&self, item: &Value, index: usize) -> bool {
        match self {
            Elem::Key(k) => {
                let Ok(Value::Object(key)) = serde_json::from_str::<Value>(k) else {
                    return false;
                };
                key.iter()
                    .all(|(name, want)| key_field(item, name).as_ref() == Some(want))
            }
            Elem::Value(v) => canonical_json(item) == *v,
            Elem::Index(i) => *i == index,
            Elem::Field(_) => false,
        }
    }
}

/// List-map key fields whose schema default upstream applies when the item omits them
/// (core/v1 `protocol` defaults to `TCP` in ContainerPort, ServicePort, EndpointPort...), so
/// an applied `{containerPort: 80}` names the same item as the defaulted live one.
const KEY_DEFAULTS: &[(&str, &str)] = &[("protocol", "TCP")];

/// The value of key field `name` in a list item, with upstream's key defaults.
pub(crate) fn key_field(item: &Value, name: &str) -> Option<Value> {
    item.get(name).cloned().or_else(|| {
        KEY_DEFAULTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| Value::String((*d).to_string()))
    })
}

/// JSON with object keys sorted, compact: the form keys and values take in FieldsV1.
pub(crate) fn canonical_json(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// A field path, printed as upstream prints it in conflicts: `.spec.containers[name="x"].image`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Path(pub(crate) Vec<Elem>);

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            match e {
                Elem::Field(n) => write!(f, ".{n}")?,
                Elem::Key(k) => {
                    let parts: Vec<String> = match serde_json::from_str::<Value>(k) {
                        Ok(Value::Object(m)) => m.iter().map(|(n, v)| format!("{n}={v}")).collect(),
                        _ => vec![k.clone()],
                    };
                    write!(f, "[{}]", parts.join(","))?
                }
                Elem::Value(v) => write!(f, "[={v}]")?,
                Elem::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A set of field paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Set {
    member: bool,
    children: BTreeMap<Elem, Set>,
}

impl Set {
    pub(crate) fn new() -> Set {
        Set::default()
    }

    pub(crate) fn insert(&mut self, path: &[Elem]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(Set::is_empty)
    }

    fn node(&self, path: &[Elem]) -> Option<&Set> {
        match path.split_first() {
            None => Some(self),
            Some((first, rest)) => self.children.get(first)?.node(rest),
        }
    }

    /// Whether `path` or anything below it is in the set.
    pub(crate) fn has_prefix(&self, path: &[Elem]) -> bool {
        self.node(path).is_some_and(|n| !n.is_empty())
    }

    pub(crate) fn union(&mut self, other: &Set) {
        self.member |= other.member;
        for (k, v) in &other.children {
            self.children.entry(k.clone()).or_default().union(v);
        }
    }

    /// Paths in `self` and not in `other` (exact paths; children are not implied).
    pub(crate) fn difference(&self, other: &Set) -> Set {
        let mut out = Set {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (k, v) in &self.children {
            let d = match other.children.get(k) {
                Some(o) => v.difference(o),
                None => v.clone(),
            };
            if !d.is_empty() {
                out.children.insert(k.clone(), d);
            }
        }
        out
    }

    pub(crate) fn intersection(&self, other: &Set) -> Set {
        let mut out = Set {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (k, v) in &self.children {
            if let Some(o) = other.children.get(k) {
                let i = v.intersection(o);
                if !i.is_empty() {
                    out.children.insert(k.clone(), i);
                }
            }
        }
        out
    }

    /// Removes `path` and everything below it (upstream's `RecursiveDifference` for one
    /// path).
    pub(crate) fn remove_subtree(&mut self, path: &[Elem]) {
        match path.split_first() {
            None => *self = Set::new(),
            Some((first, rest)) => {
                if let Some(c) = self.children.get_mut(first) {
                    c.remove_subtree(rest);
                    if c.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// Removes exactly `path`, keeping its children.
    pub(crate) fn remove(&mut self, path: &[Elem]) {
        match path.split_first() {
            None => self.member = false,
            Some((first, rest)) => {
                if let Some(c) = self.children.get_mut(first) {
                    c.remove(rest);
                    if c.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// Every member path, parents before children, siblings in order.
    pub(crate) fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<Elem>, out: &mut Vec<Path>) {
        if self.member {
            out.push(Path(prefix.clone()));
        }
        for (k, v) in &self.children {
            prefix.push(k.clone());
            v.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The FieldsV1 encoding.
    pub(crate) fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".to_string(), Value::Object(Map::new()));
        }
        for (k, v) in &self.children {
            if !v.is_empty() {
                m.insert(k.encode(), v.to_fields_v1());
            }
        }
        Value::Object(m)
    }

    /// Decodes FieldsV1 (`{}` under a key is a member leaf).
    pub(crate) fn from_fields_v1(v: &Value) -> Result<Set, String> {
        let Value::Object(m) = v else {
            return Err(format!("expected an object in FieldsV1, got {v}"));
        };
        let mut out = Set::new();
        for (k, child) in m {
            if k == "." {
                out.member = true;
                continue;
            }
            let mut c = Set::from_fields_v1(child)?;
            if child.as_object().is_some_and(Map::is_empty) {
                c.member = true;
            }
            out.children.insert(Elem::decode(k)?, c);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trip() {
        let v = json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}},
            "f:finalizers": {"v:\"a\"": {}}
        });
        let s = Set::from_fields_v1(&v).unwrap();
        assert_eq!(s.to_fields_v1(), v);
        let paths: Vec<String> = s.paths().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            paths,
            [
                ".finalizers[=\"a\"]",
                ".metadata.labels.app",
                ".spec.containers[name=\"nginx\"]",
                ".spec.containers[name=\"nginx\"].image",
                ".spec.containers[name=\"nginx\"].name",
            ]
        );
    }

    #[test]
    fn set_algebra() {
        let a = Set::from_fields_v1(&json!({"f:a": {}, "f:b": {"f:c": {}, "f:d": {}}})).unwrap();
        let b = Set::from_fields_v1(&json!({"f:b": {"f:c": {}}, "f:e": {}})).unwrap();
        assert_eq!(
            a.difference(&b).to_fields_v1(),
            json!({"f:a": {}, "f:b": {"f:d": {}}})
        );
        assert_eq!(
            a.intersection(&b).to_fields_v1(),
            json!({"f:b": {"f:c": {}}})
        );
        let mut u = a.clone();
        u.union(&b);
        assert_eq!(u.paths().len(), 4);
        let mut r = a.clone();
        r.remove_subtree(&[Elem::Field("b".into())]);
        assert_eq!(r.to_fields_v1(), json!({"f:a": {}}));
        assert!(a.has_prefix(&[Elem::Field("b".into())]));
        assert!(!a.has_prefix(&[Elem::Field("x".into())]));
    }

    #[test]
    fn key_path_printing() {
        let p = Path(vec![
            Elem::Field("spec".into()),
            Elem::Field("ports".into()),
            Elem::Key(canonical_json(
                &json!({"protocol": "TCP", "containerPort": 80}),
            )),
        ]);
        assert_eq!(
            p.to_string(),
            ".spec.ports[containerPort=80,protocol=\"TCP\"]"
        );
    }

    #[test]
    fn bad_fields_v1() {
        assert!(Set::from_fields_v1(&json!({"x:y": {}})).is_err());
        assert!(Set::from_fields_v1(&json!([])).is_err());
    }
}
