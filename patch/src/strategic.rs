//! Strategic merge patch (`application/strategic-merge-patch+json`), mirroring the apply
//! half of k8s.io/apimachinery/pkg/util/strategicpatch (`StrategicMergeMapPatch` with
//! `MergeParallelList` and `IgnoreUnmatchedNulls`).
//!
//! Entry point: [`strategic_merge_patch`]. The walk is `merge_map` -> `merge_slice`, with
//! the directives handled where upstream handles them: `$patch` first in a map,
//! `$retainKeys` next, then `$setElementOrder/<list>`, then every other key, where
//! `$deleteFromPrimitiveList/<list>` is resolved.

use serde_json::{Map, Value};

use crate::error::PatchError;
use crate::gofmt::go_v;
use crate::schema::Ctx;
use crate::SchemaLookup;

const DIRECTIVE_MARKER: &str = "$patch";
const REPLACE: &str = "replace";
const DELETE: &str = "delete";
const MERGE: &str = "merge";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const RETAIN_KEYS_STRATEGY: &str = "retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

// The fixed errors of k8s.io/apimachinery/pkg/util/mergepatch/errors.go.
const ERR_BAD_JSON_DOC: &str = "invalid JSON document";
const ERR_NO_LIST_OF_LISTS: &str = "lists of lists are not supported";
const ERR_BAD_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const ERR_BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const ERR_BAD_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";

/// Applies a strategic merge patch to `doc`, whose schema type is `root_type` (an OpenAPI
/// definition name such as `io.k8s.api.core.v1.Pod`). Types the schema does not know are
/// merged like a JSON merge patch for maps and replaced for lists, as upstream does for
/// fields without patch metadata.
pub fn strategic_merge_patch(
    doc: &Value,
    patch: &Value,
    schema: &dyn SchemaLookup,
    root_type: &str,
) -> Result<Value, PatchError> {
    let Value::Object(original) = doc else {
        return Err(PatchError::BadRequest(ERR_BAD_JSON_DOC.to_string()));
    };
    let Value::Object(patch) = patch else {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            go_type_word(patch)
        )));
    };
    let merger = Merger { schema };
    merger
        .merge_map(original.clone(), patch.clone(), &Ctx::structure(root_type))
        .map(Value::Object)
        .map_err(classify)
}

/// Upstream's `interpretStrategicMergePatchError`: format errors are 400, lists of lists
/// 422, everything else goes back unwrapped (500).
fn classify(msg: String) -> PatchError {
    match msg.as_str() {
        ERR_BAD_JSON_DOC
        | ERR_BAD_PRIMITIVE_LIST
        | ERR_BAD_RETAIN_KEYS
        | ERR_BAD_SET_ELEMENT_ORDER => PatchError::BadRequest(msg),
        ERR_NO_LIST_OF_LISTS => PatchError::Unprocessable(msg),
        _ => PatchError::Internal(msg),
    }
}

fn go_type_word(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Go's `reflect.TypeOf` name of a decoded JSON value, for `ErrBadArgType`.
fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// `mergepatch.ErrBadArgType`.
fn err_bad_arg_type(expected: &str, actual: &Value) -> String {
    format!(
        "expected a {expected}, but received a {}",
        go_type_name(actual)
    )
}

const MAP_TYPE: &str = "map[string]interface {}";
const SLICE_TYPE: &str = "[]interface {}";

/// `mergepatch.ErrNoMergeKey`.
fn err_no_merge_key(m: &Map<String, Value>, key: &str) -> String {
    format!(
        "map: {} does not contain declared merge key: {key}",
        go_v(&Value::Object(m.clone()))
    )
}

/// `mergepatch.ErrBadPatchType`.
fn err_bad_patch_type(t: &Value, m: &Map<String, Value>) -> String {
    format!(
        "unknown patch type: {} in map: {}",
        go_v(t),
        go_v(&Value::Object(m.clone()))
    )
}

/// The Go type of list elements as `sliceElementType` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Scalar(&'static str),
}

struct Merger<'a> {
    schema: &'a dyn SchemaLookup,
}

impl Merger<'_> {
    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
        ctx: &Ctx,
    ) -> Result<Map<String, Value>, String> {
        if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
            return handle_directive_in_merge_map(directive.clone(), patch);
        }
        apply_retain_keys_directive(&mut original, &mut patch)?;
        self.merge_set_element_order(&mut original, &mut patch, ctx)?;

        for (key, patch_v) in patch {
            let mut k = key;
            let mut is_delete_list = false;
            if k.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
                k = extract_key(&k, DELETE_FROM_PRIMITIVE_LIST)?;
                is_delete_list = true;
            }
            if patch_v.is_null() {
                original.shift_remove(&k);
                continue;
            }
            let Some(orig_v) = original.get(&k) else {
                if !is_delete_list {
                    set_without_directives(&mut original, k, patch_v);
                }
                continue;
            };
            if go_type_name(orig_v) != go_type_name(&patch_v) {
                if !is_delete_list {
                    set_without_directives(&mut original, k, patch_v);
                }
                continue;
            }
            let orig_v = original.get_mut(&k).map(Value::take).unwrap_or(Value::Null);
            let merged = match (orig_v, patch_v) {
                (Value::Object(o), Value::Object(p)) => {
                    let (child, meta) = ctx.lookup(self.schema, &k);
                    let strategy =
                        extract_retain_keys_patch_strategy(meta.patch_strategy.as_deref())?;
                    if strategy == REPLACE {
                        drop_directive_keys(Value::Object(p))
                    } else {
                        Value::Object(self.merge_map(o, p, &child)?)
                    }
                }
                (Value::Array(o), Value::Array(p)) => {
                    let (child, meta) = ctx.lookup(self.schema, &k);
                    let strategy =
                        extract_retain_keys_patch_strategy(meta.patch_strategy.as_deref())?;
                    Value::Array(self.merge_slice_handler(
                        o,
                        p,
                        &child,
                        &strategy,
                        meta.patch_merge_key.as_deref().unwrap_or(""),
                        is_delete_list,
                    )?)
                }
                (_, p) => match remove_directives(p) {
                    Some(v) => v,
                    None => {
                        original.shift_remove(&k);
                        continue;
                    }
                },
            };
            original.insert(k, merged);
        }
        Ok(original)
    }

    fn merge_slice_handler(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        item_ctx: &Ctx,
        strategy: &str,
        merge_key: &str,
        is_delete_list: bool,
    ) -> Result<Vec<Value>, String> {
        if strategy == MERGE {
            self.merge_slice(original, patch, item_ctx, merge_key, is_delete_list)
        } else {
            Ok(patch.into_iter().map(drop_directive_keys).collect())
        }
    }

    fn merge_slice(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        item_ctx: &Ctx,
        merge_key: &str,
        is_delete_list: bool,
    ) -> Result<Vec<Value>, String> {
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        let kind = slice_element_type(&[&original, &patch])?;
        let (merged, original, patch) = if kind != Kind::Map {
            if is_delete_list {
                return Ok(delete_from_slice(original, &patch));
            }
            let mut both = original.clone();
            both.extend(patch.iter().cloned());
            (dedupe_scalars(both), original, patch)
        } else {
            if merge_key.is_empty() {
                return Err(format!(
                    "cannot merge lists without merge key for {}",
                    item_ctx.name()
                ));
            }
            let (original, patch) = merge_slice_with_special_elements(original, patch, merge_key)?;
            let merged = self.merge_slice_without_special_elements(
                original.clone(),
                &patch,
                merge_key,
                item_ctx,
            )?;
            (merged, original, patch)
        };
        let (patch_items, server_only) = partition_by_present(&merged, &patch, merge_key, kind)?;
        normalize_element_order(patch_items, server_only, &patch, &original, merge_key, kind)
    }

    fn merge_slice_without_special_elements(
        &self,
        mut original: Vec<Value>,
        patch: &[Value],
        merge_key: &str,
        item_ctx: &Ctx,
    ) -> Result<Vec<Value>, String> {
        for v in patch {
            let Value::Object(typed) = v else {
                return Err(err_bad_arg_type(MAP_TYPE, v));
            };
            let Some(merge_value) = typed.get(merge_key) else {
                return Err(err_no_merge_key(typed, merge_key));
            };
            match find_map_in_slice(&original, merge_key, merge_value)? {
                Some(i) => {
                    // find_map_in_slice checked that the item is a map.
                    let Value::Object(o) = original[i].take() else {
                        return Err(format!("value for key {i} is not a map."));
                    };
                    original[i] = Value::Object(self.merge_map(o, typed.clone(), item_ctx)?);
                }
                None => original.push(drop_directive_keys(v.clone())),
            }
        }
        Ok(original)
    }

    /// Upstream `mergePatchIntoOriginal`: merges every list that has a
    /// `$setElementOrder/<list>` directive and orders it by that directive
    /// (precedence: the directive, then the patch list, then the live list).
    fn merge_set_element_order(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
        ctx: &Ctx,
    ) -> Result<(), String> {
        let keys: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
            .cloned()
            .collect();
        for key in keys {
            let order_v = patch.shift_remove(&key).unwrap_or(Value::Null);
            let Value::Array(order) = order_v else {
                return Err(err_bad_arg_type(SLICE_TYPE, &order_v));
            };
            let original_key = extract_key(&key, SET_ELEMENT_ORDER)?;
            let original_list = match original.get(&original_key) {
                None => None,
                Some(Value::Array(a)) => Some(a.clone()),
                Some(other) => return Err(err_bad_arg_type(SLICE_TYPE, other)),
            };
            let patch_list = match patch.get(&original_key) {
                None => None,
                Some(Value::Array(a)) => Some(a.clone()),
                Some(other) => return Err(err_bad_arg_type(SLICE_TYPE, other)),
            };
            let (child, meta) = ctx.lookup(self.schema, &original_key);
            let strategy = extract_retain_keys_patch_strategy(meta.patch_strategy.as_deref())?;
            let merge_key = meta.patch_merge_key.clone().unwrap_or_default();
            validate_patch_with_set_order_list(
                patch_list.as_deref().unwrap_or(&[]),
                &order,
                &merge_key,
            )?;
            let orig_vals = original_list.clone().unwrap_or_default();
            let patch_vals = patch_list.clone().unwrap_or_default();
            let merged = match (original_list, patch_list) {
                (Some(o), None) => o,
                (None, Some(p)) => p,
                (Some(o), Some(p)) => {
                    self.merge_slice_handler(o, p, &child, &strategy, &merge_key, false)?
                }
                (None, None) => continue,
            };
            let kind = slice_element_type(&[&orig_vals, &patch_vals])?;
            let (patch_items, server_only) =
                partition_by_present(&merged, &order, &merge_key, kind)?;
            let both = normalize_element_order(
                patch_items,
                server_only,
                &order,
                &orig_vals,
                &merge_key,
                kind,
            )?;
            original.insert(original_key.clone(), Value::Array(both));
            patch.shift_remove(&original_key);
        }
        Ok(())
    }
}

/// `$patch` inside a map: `replace` uses the patch as is, `delete` empties the map.
fn handle_directive_in_merge_map(
    directive: Value,
    mut patch: Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    match directive.as_str() {
        Some(REPLACE) => {
            patch.shift_remove(DIRECTIVE_MARKER);
            Ok(match drop_directive_keys(Value::Object(patch)) {
                Value::Object(m) => m,
                _ => Map::new(),
            })
        }
        Some(DELETE) => Ok(Map::new()),
        _ => Err(err_bad_patch_type(&directive, &patch)),
    }
}

/// `$retainKeys`: drop every key of the original not listed, after checking the patch
/// only sets listed keys (nulls and other directives excepted).
fn apply_retain_keys_directive(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), String> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(list) = retain else {
        return Err(ERR_BAD_RETAIN_KEYS.to_string());
    };
    let keep = |k: &str| list.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !keep(k) {
            return Err(ERR_BAD_RETAIN_KEYS.to_string());
        }
    }
    original.retain(|k, _| keep(k));
    Ok(())
}

/// `extractKey`: `$prefix/<key>` -> `<key>`.
fn extract_key(s: &str, prefix: &str) -> Result<String, String> {
    match s.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_string()),
        _ => Err(match prefix {
            DELETE_FROM_PRIMITIVE_LIST => ERR_BAD_PRIMITIVE_LIST.to_string(),
            SET_ELEMENT_ORDER => ERR_BAD_SET_ELEMENT_ORDER.to_string(),
            _ => format!("fail to find unknown prefix {prefix:?} in {s}\n"),
        }),
    }
}

/// `extractRetainKeysPatchStrategy`: the strategy other than `retainKeys`.
fn extract_retain_keys_patch_strategy(strategy: Option<&str>) -> Result<String, String> {
    let parts: Vec<&str> = strategy
        .map(|s| s.split(',').filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    match parts.as_slice() {
        [] => Ok(String::new()),
        [one] if *one == RETAIN_KEYS_STRATEGY => Ok(String::new()),
        [one] => Ok((*one).to_string()),
        [a, b] if *a == RETAIN_KEYS_STRATEGY => Ok((*b).to_string()),
        [a, b] if *b == RETAIN_KEYS_STRATEGY => Ok((*a).to_string()),
        _ => Err(format!("unexpected patch strategy: [{}]", parts.join(" "))),
    }
}

/// Sets `original[k]` to the patch value with nulls and directive-bearing maps removed,
/// as upstream does for values that are not merged (`discardNullValuesFromPatch` +
/// `removeDirectives`).
fn set_without_directives(original: &mut Map<String, Value>, k: String, mut v: Value) {
    discard_null_values(&mut v);
    match remove_directives(v) {
        Some(v) => {
            original.insert(k, drop_directive_keys(v));
        }
        None => {
            original.shift_remove(&k);
        }
    }
}

fn discard_null_values(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_null_values);
        }
        Value::Array(a) => a.iter_mut().for_each(discard_null_values),
        _ => {}
    }
}

/// Removes directive keys and nulls from content the patch supplies verbatim (new keys,
/// appended list items, replaced values). Upstream keeps them in the patched map but
/// drops them when it converts the result back to the typed object; objects here are
/// stored as JSON, so they are dropped right away.
fn drop_directive_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, v)| {
                    !v.is_null()
                        && k != DIRECTIVE_MARKER
                        && k != RETAIN_KEYS_DIRECTIVE
                        && !k.starts_with(SET_ELEMENT_ORDER)
                        && !k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
                })
                .map(|(k, v)| (k, drop_directive_keys(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(drop_directive_keys).collect()),
        other => other,
    }
}

/// `removeDirectives`: `None` when the value itself is a directive map.
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            let m = m
                .into_iter()
                .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                .collect();
            Some(Value::Object(m))
        }
        Value::Array(a) => Some(Value::Array(
            a.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// `sliceElementType`: all elements of all slices must share one type, not a list.
fn slice_element_type(slices: &[&Vec<Value>]) -> Result<Kind, String> {
    let mut prev: Option<&'static str> = None;
    for s in slices {
        for v in s.iter() {
            let t = go_type_name(v);
            match prev {
                None => {
                    if v.is_array() {
                        return Err(ERR_NO_LIST_OF_LISTS.to_string());
                    }
                    prev = Some(t);
                }
                Some(p) if p != t => {
                    let all: Vec<Value> =
                        slices.iter().map(|s| Value::Array((*s).clone())).collect();
                    return Err(format!(
                        "list element types are not identical: {}",
                        go_v(&Value::Array(all))
                    ));
                }
                Some(_) => {}
            }
        }
    }
    match prev {
        None => Err("no elements in any of the given slices".to_string()),
        Some(MAP_TYPE) => Ok(Kind::Map),
        Some(t) => Ok(Kind::Scalar(t)),
    }
}

fn delete_from_slice(current: Vec<Value>, to_delete: &[Value]) -> Vec<Value> {
    current
        .into_iter()
        .filter(|v| !to_delete.contains(v))
        .collect()
}

fn dedupe_scalars(both: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(both.len());
    for v in both {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// `mergeSliceWithSpecialElements`: applies `$patch: delete` items (by merge key) and
/// `$patch: replace` (the list becomes the non-directive items of the patch).
fn merge_slice_with_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let mut without = Vec::new();
    let mut replace = false;
    for v in patch {
        let Value::Object(typed) = &v else {
            return Err(err_bad_arg_type(MAP_TYPE, &v));
        };
        match typed.get(DIRECTIVE_MARKER) {
            None => without.push(v),
            Some(d) => match d.as_str() {
                Some(DELETE) => {
                    let Some(mv) = typed.get(merge_key) else {
                        return Err(err_no_merge_key(typed, merge_key));
                    };
                    while let Some(i) = find_map_in_slice(&original, merge_key, mv)? {
                        original.remove(i);
                    }
                }
                Some(REPLACE) => replace = true,
                Some(MERGE) => {
                    return Err("merging lists cannot yet be specified in the patch".to_string())
                }
                _ => return Err(err_bad_patch_type(d, typed)),
            },
        }
    }
    if replace {
        Ok((
            without.into_iter().map(drop_directive_keys).collect(),
            Vec::new(),
        ))
    } else {
        Ok((original, without))
    }
}

/// `findMapInSliceBasedOnKeyValue`.
fn find_map_in_slice(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>, String> {
    for (i, v) in list.iter().enumerate() {
        let Value::Object(m) = v else {
            return Err(format!("value for key {i} is not a map."));
        };
        if m.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Splits `merged` into items present in `by` (compared by merge key for maps) and the
/// others, keeping order (`partitionMapsByPresentInList` / `partitionPrimitivesByPresentInList`).
fn partition_by_present(
    merged: &[Value],
    by: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let mut present = Vec::new();
    let mut others = Vec::new();
    for v in merged {
        let found = if merge_key.is_empty() {
            by.contains(v)
        } else {
            let _ = kind;
            let Value::Object(m) = v else {
                return Err(err_bad_arg_type(MAP_TYPE, v));
            };
            let Some(mv) = m.get(merge_key) else {
                return Err(err_no_merge_key(m, merge_key));
            };
            find_map_in_slice(by, merge_key, mv)?.is_some()
        };
        if found {
            present.push(v.clone());
        } else {
            others.push(v.clone());
        }
    }
    Ok((present, others))
}

/// `normalizeElementOrder`: patch items in patch order, server-only items in live order,
/// then merged so that a server-only item goes first only when both are in the live list
/// and it comes earlier there (new items therefore lead).
fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>, String> {
    let patch = normalize_slice_order(patch, patch_order, merge_key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, kind)?;
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(patch.len() + server_only.len());
    while i < server_only.len() || j < patch.len() {
        if i >= server_only.len() {
            out.push(patch[j].clone());
            j += 1;
        } else if j >= patch.len() {
            out.push(server_only[i].clone());
            i += 1;
        } else {
            let li = index_of(server_order, &server_only[i], merge_key, kind);
            let ri = index_of(server_order, &patch[j], merge_key, kind);
            match (li, ri) {
                (Some(l), Some(r)) if l < r => {
                    out.push(server_only[i].clone());
                    i += 1;
                }
                _ => {
                    out.push(patch[j].clone());
                    j += 1;
                }
            }
        }
    }
    Ok(out)
}

/// `normalizeSliceOrder`: stable sort by position in `order`; `$patch: delete` items go
/// last. Items missing from `order` sort after the others.
fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>, String> {
    let mut to_delete = Vec::new();
    let mut to_sort = to_sort;
    if kind == Kind::Map {
        for item in to_sort.iter().chain(order) {
            let Value::Object(m) = item else {
                return Err(err_bad_arg_type(MAP_TYPE, item));
            };
            if !m.contains_key(merge_key) {
                return Err(err_no_merge_key(m, merge_key));
            }
        }
        let (keep, del): (Vec<Value>, Vec<Value>) = to_sort
            .into_iter()
            .partition(|v| v.get(DIRECTIVE_MARKER).and_then(Value::as_str) != Some(DELETE));
        to_sort = keep;
        to_delete = del;
    }
    to_sort.sort_by_key(|v| index_of(order, v, merge_key, kind).unwrap_or(usize::MAX));
    to_sort.extend(to_delete);
    Ok(to_sort)
}

/// Position of `v` in `list`, by merge key value for maps.
fn index_of(list: &[Value], v: &Value, merge_key: &str, kind: Kind) -> Option<usize> {
    if kind == Kind::Map {
        let want = v.get(merge_key);
        list.iter().position(|x| x.get(merge_key) == want)
    } else {
        list.iter().position(|x| x == v)
    }
}

/// `validatePatchWithSetOrderList`: the patch list (deletions aside) must be a
/// subsequence of the `$setElementOrder` list.
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<(), String> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete: Vec<&Value> = if merge_key.is_empty() {
        patch_list.iter().collect()
    } else {
        let mut v = Vec::new();
        for item in patch_list {
            let Value::Object(m) = item else {
                return Err(err_bad_arg_type(MAP_TYPE, item));
            };
            if m.get(DIRECTIVE_MARKER).and_then(Value::as_str) != Some(DELETE) {
                v.push(item);
            }
        }
        v
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < non_delete.len() && oi < order.len() {
        let item = non_delete[pi];
        if item.get(DIRECTIVE_MARKER).is_some() && item.is_object() {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(item, &order[oi], merge_key)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < non_delete.len() && oi >= order.len() {
        return Err(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            go_v(&Value::Array(patch_list.to_vec())),
            go_v(&Value::Array(order.to_vec()))
        ));
    }
    Ok(())
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool, String> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let Value::Object(l) = left else {
        return Err(err_bad_arg_type(MAP_TYPE, left));
    };
    let Value::Object(r) = right else {
        return Err(err_bad_arg_type(MAP_TYPE, right));
    };
    let lv = l
        .get(merge_key)
        .ok_or_else(|| err_no_merge_key(l, merge_key))?;
    let rv = r
        .get(merge_key)
        .ok_or_else(|| err_no_merge_key(r, merge_key))?;
    Ok(lv == rv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testschema::{FakeSchema, DEPLOYMENT, POD};
    use serde_json::json;

    struct Case {
        name: &'static str,
        root: &'static str,
        original: Value,
        patch: Value,
        want: Result<Value, PatchError>,
    }

    fn ok(name: &'static str, original: Value, patch: Value, want: Value) -> Case {
        Case {
            name,
            root: POD,
            original,
            patch,
            want: Ok(want),
        }
    }

    fn containers(c: Value) -> Value {
        json!({"spec": {"containers": c}})
    }

    /// Mirrors the shape of upstream strategicpatch's table tests (patch_test.go), on the
    /// real core/v1 metadata.
    #[test]
    fn strategic_merge_table() {
        let cases = vec![
            ok(
                "merge containers by name",
                containers(json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}])),
                containers(json!([{"name": "b", "image": "b:2"}])),
                containers(json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}])),
            ),
            ok(
                "new list item goes first (mergeSortedSlice)",
                containers(json!([{"name": "a", "image": "a:1"}])),
                containers(json!([{"name": "b", "image": "b:1"}])),
                containers(json!([{"name": "b", "image": "b:1"}, {"name": "a", "image": "a:1"}])),
            ),
            ok(
                "$patch delete list item",
                containers(json!([{"name": "a"}, {"name": "b"}, {"name": "a"}])),
                containers(json!([{"name": "a", "$patch": "delete"}])),
                containers(json!([{"name": "b"}])),
            ),
            ok(
                "$patch replace list",
                containers(json!([{"name": "a"}, {"name": "b"}])),
                containers(json!([{"$patch": "replace"}, {"name": "c", "image": "c:1"}])),
                containers(json!([{"name": "c", "image": "c:1"}])),
            ),
            ok(
                "ports merge by containerPort",
                containers(json!([{"name": "a", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}]}])),
                containers(json!([{"name": "a", "ports": [{"containerPort": 80, "name": "web"}]}])),
                containers(json!([{"name": "a", "ports": [{"containerPort": 80, "name": "web"}, {"containerPort": 443}]}])),
            ),
            ok(
                "env merge by name, null deletes a field of an item",
                containers(json!([{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}])),
                containers(json!([{"name": "a", "env": [{"name": "X", "value": null}, {"name": "Z", "value": "3"}]}])),
                containers(json!([{"name": "a", "env": [{"name": "X"}, {"name": "Z", "value": "3"}, {"name": "Y", "value": "2"}]}])),
            ),
            ok(
                "atomic list replaced",
                json!({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}}),
                json!({"spec": {"tolerations": [{"key": "c"}]}}),
                json!({"spec": {"tolerations": [{"key": "c"}]}}),
            ),
            ok(
                "command replaced",
                containers(json!([{"name": "a", "command": ["x", "y"]}])),
                containers(json!([{"name": "a", "command": ["z"]}])),
                containers(json!([{"name": "a", "command": ["z"]}])),
            ),
            ok(
                "maps merge, null deletes",
                json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
                json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
                json!({"metadata": {"labels": {"b": "2", "c": "3"}}}),
            ),
            ok(
                "null for an absent key is dropped",
                json!({"metadata": {}}),
                json!({"metadata": {"labels": {"a": null}, "annotations": null}}),
                json!({"metadata": {"labels": {}}}),
            ),
            ok(
                "$patch replace map",
                json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
                json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
                json!({"metadata": {"labels": {"c": "3"}}}),
            ),
            ok(
                "$patch delete map",
                json!({"metadata": {"labels": {"a": "1"}, "name": "x"}}),
                json!({"metadata": {"labels": {"$patch": "delete"}}}),
                json!({"metadata": {"labels": {}, "name": "x"}}),
            ),
            ok(
                "directive in a new value is removed",
                json!({"metadata": {}}),
                json!({"metadata": {"labels": {"$patch": "delete"}, "annotations": {"a": "1", "b": null}}}),
                json!({"metadata": {"annotations": {"a": "1"}}}),
            ),
            ok(
                "primitive merge list is a set",
                json!({"metadata": {"finalizers": ["a", "b"]}}),
                json!({"metadata": {"finalizers": ["b", "c"]}}),
                json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            ),
            ok(
                "$deleteFromPrimitiveList",
                json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
                json!({"metadata": {"finalizers": ["a", "c"]}}),
            ),
            ok(
                "$deleteFromPrimitiveList on an absent list does nothing",
                json!({"metadata": {}}),
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
                json!({"metadata": {}}),
            ),
            ok(
                "$setElementOrder orders the merged list",
                containers(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}])),
                json!({"spec": {
                    "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
                    "containers": [{"name": "a", "image": "new"}]
                }}),
                containers(json!([{"name": "c"}, {"name": "a", "image": "new"}, {"name": "b"}])),
            ),
            ok(
                "$setElementOrder with a new item and server-only items",
                containers(json!([{"name": "a"}, {"name": "b"}])),
                json!({"spec": {
                    "$setElementOrder/containers": [{"name": "b"}, {"name": "n"}],
                    "containers": [{"name": "n", "image": "n:1"}]
                }}),
                containers(json!([{"name": "a"}, {"name": "b"}, {"name": "n", "image": "n:1"}])),
            ),
            ok(
                "$setElementOrder for primitives",
                json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
                json!({"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"]}}),
                json!({"metadata": {"finalizers": ["c", "b", "a"]}}),
            ),
            ok(
                "directives in appended items and replaced values are dropped",
                json!({"spec": {"volumes": [{"name": "a", "emptyDir": {}}]}}),
                json!({"spec": {"volumes": [
                    {"name": "v", "$retainKeys": ["hostPath", "name"], "hostPath": {"path": "/x", "type": null}}
                ]}}),
                json!({"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x"}}, {"name": "a", "emptyDir": {}}]}}),
            ),
            ok(
                "$retainKeys on a volume (merge,retainKeys)",
                json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
                json!({"spec": {"volumes": [{"name": "v", "$retainKeys": ["hostPath", "name"], "hostPath": {"path": "/x"}}]}}),
                json!({"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x"}}]}}),
            ),
            Case {
                name: "$retainKeys on the deployment strategy",
                root: DEPLOYMENT,
                original: json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
                patch: json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}),
                want: Ok(json!({"spec": {"strategy": {"type": "Recreate"}}})),
            },
            Case {
                name: "unknown types merge maps and replace lists",
                root: "",
                original: json!({"spec": {"a": {"b": 1, "c": 2}, "l": [{"name": "x"}]}}),
                patch: json!({"spec": {"a": {"b": null, "d": 3}, "l": [{"name": "y"}]}}),
                want: Ok(json!({"spec": {"a": {"c": 2, "d": 3}, "l": [{"name": "y"}]}})),
            },
            Case {
                name: "type change replaces",
                root: POD,
                original: json!({"spec": {"x": {"a": 1}}}),
                patch: json!({"spec": {"x": "s"}}),
                want: Ok(json!({"spec": {"x": "s"}})),
            },
            Case {
                name: "missing merge key",
                root: POD,
                original: containers(json!([{"name": "a"}])),
                patch: containers(json!([{"image": "x"}])),
                want: Err(PatchError::Internal(
                    "map: map[image:x] does not contain declared merge key: name".into(),
                )),
            },
            Case {
                name: "unknown patch type in map",
                root: POD,
                original: json!({"metadata": {"labels": {"a": "1"}}}),
                patch: json!({"metadata": {"labels": {"$patch": "foo"}}}),
                want: Err(PatchError::Internal(
                    "unknown patch type: foo in map: map[$patch:foo]".into(),
                )),
            },
            Case {
                name: "unknown patch type in list",
                root: POD,
                original: containers(json!([{"name": "a"}])),
                patch: containers(json!([{"name": "a", "$patch": "bogus"}])),
                want: Err(PatchError::Internal(
                    "unknown patch type: bogus in map: map[$patch:bogus name:a]".into(),
                )),
            },
            Case {
                name: "$patch merge in list",
                root: POD,
                original: containers(json!([{"name": "a"}])),
                patch: containers(json!([{"$patch": "merge"}])),
                want: Err(PatchError::Internal(
                    "merging lists cannot yet be specified in the patch".into(),
                )),
            },
            Case {
                name: "$retainKeys not a list",
                root: DEPLOYMENT,
                original: json!({"spec": {"strategy": {"type": "Recreate"}}}),
                patch: json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
                want: Err(PatchError::BadRequest("invalid patch format of retainKeys".into())),
            },
            Case {
                name: "$retainKeys does not list a patched key",
                root: DEPLOYMENT,
                original: json!({"spec": {"strategy": {"type": "Recreate"}}}),
                patch: json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}),
                want: Err(PatchError::BadRequest("invalid patch format of retainKeys".into())),
            },
            Case {
                name: "$setElementOrder does not match the patch list",
                root: POD,
                original: containers(json!([{"name": "a"}, {"name": "b"}])),
                patch: json!({"spec": {
                    "$setElementOrder/containers": [{"name": "a"}],
                    "containers": [{"name": "b"}]
                }}),
                want: Err(PatchError::Internal(
                    "The order in patch list:\n[map[name:b]]\n doesn't match $setElementOrder list:\n[map[name:a]]\n".into(),
                )),
            },
            Case {
                name: "lists of lists",
                root: POD,
                original: json!({"metadata": {"finalizers": [["a"]]}}),
                patch: json!({"metadata": {"finalizers": [["b"]]}}),
                want: Err(PatchError::Unprocessable("lists of lists are not supported".into())),
            },
            Case {
                name: "bad $deleteFromPrimitiveList key",
                root: POD,
                original: json!({"metadata": {}}),
                patch: json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}),
                want: Err(PatchError::BadRequest("invalid patch format of primitive list".into())),
            },
        ];
        let schema = FakeSchema::new();
        for c in cases {
            let got = strategic_merge_patch(&c.original, &c.patch, &schema, c.root);
            assert_eq!(got, c.want, "{}", c.name);
        }
    }

    #[test]
    fn preserves_key_order_of_the_original() {
        let schema = FakeSchema::new();
        let got = strategic_merge_patch(
            &json!({"a": 1, "b": 2, "c": 3}),
            &json!({"b": 5, "d": 4}),
            &schema,
            POD,
        )
        .unwrap();
        let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "b", "c", "d"]);
    }
}
