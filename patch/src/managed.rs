//! Server-side apply and managed-fields tracking, after
//! k8s.io/apimachinery/pkg/util/managedfields and sigs.k8s.io/structured-merge-diff
//! (`merge.Updater.Apply` / `Update`).
//!
//! Flow of [`apply`]: decode `metadata.managedFields` into per-manager [`Set`]s, merge the
//! applied configuration into the live object (`merge_value`), prune what this applier
//! owned before and no longer applies unless someone else owns it (`prune`), compare live
//! and result (`compare`), and report the changed fields other managers own as conflicts
//! (or, with force, take them over). [`update_managed_fields`] does the same bookkeeping
//! for ordinary writes: the writer owns what it changed, everybody else loses it.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::error::{ApplyError, Conflict};
use crate::fieldpath::{canonical_json, key_field, Elem, Set};
use crate::schema::{list_kind, Ctx, ListKind};
use crate::{FieldSchema, SchemaLookup};

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";
/// The manager upstream credits with the fields of objects that had no managedFields.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<String>,
    subresource: Option<String>,
    set: Set,
}

impl Entry {
    /// Upstream's manager identifier (`BuildManagerIdentifier`): appliers are one entry
    /// whatever apiVersion they used, updaters one entry per apiVersion.
    fn same_identity(
        &self,
        manager: &str,
        operation: &str,
        api_version: &str,
        sub: Option<&str>,
    ) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == sub
            && (operation == APPLY || self.api_version == api_version)
    }

    /// How conflicts name the manager (`printManager` in upstream's conflict.go).
    fn printed(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            s = format!("{s} with subresource {sub:?}");
        }
        if self.operation == UPDATE {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), Value::String(self.manager.clone()));
        m.insert("operation".into(), Value::String(self.operation.clone()));
        m.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        if let Some(t) = &self.time {
            m.insert("time".into(), Value::String(t.clone()));
        }
        m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), Value::String(s.clone()));
        }
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Result<Entry, String> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        if !v.is_object() {
            return Err(format!("expected an object, got {v}"));
        }
        let fields_type = s("fieldsType").unwrap_or_default();
        if fields_type != "FieldsV1" {
            return Err(format!("invalid fieldsType {fields_type:?}"));
        }
        let set = match v.get("fieldsV1") {
            Some(f) => Set::from_fields_v1(f)?,
            None => Set::new(),
        };
        Ok(Entry {
            manager: s("manager").unwrap_or_default(),
            operation: s("operation").unwrap_or_default(),
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time"),
            subresource: s("subresource").filter(|s| !s.is_empty()),
            set,
        })
    }
}

fn decode_entries(obj: Option<&Value>) -> Result<Vec<Entry>, String> {
    match obj
        .and_then(|o| o.get("metadata"))
        .and_then(|m| m.get("managedFields"))
    {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(Entry::from_json).collect(),
        Some(other) => Err(format!("expected a list, got {other}")),
    }
}

/// Upstream keeps at most this many `Update` entries (capManagersManager's default).
const MAX_UPDATE_MANAGERS: usize = 10;
/// The per-apiVersion bucket the oldest updaters are merged into.
const ANCIENT_CHANGES: &str = "ancient-changes";

/// Mirrors upstream `capUpdateManagers`: while there are more than
/// [`MAX_UPDATE_MANAGERS`] updater entries, the oldest (by time, then name) is merged into
/// the `ancient-changes` entry of its apiVersion, which keeps the newest time.
fn cap_update_managers(entries: &mut Vec<Entry>) {
    loop {
        let updaters: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].operation != APPLY)
            .collect();
        if updaters.len() <= MAX_UPDATE_MANAGERS {
            return;
        }
        let Some(&oldest) = updaters
            .iter()
            .filter(|&&i| entries[i].manager != ANCIENT_CHANGES)
            .min_by(|&&a, &&b| {
                let (p, q) = (&entries[a], &entries[b]);
                p.time.cmp(&q.time).then_with(|| p.manager.cmp(&q.manager))
            })
        else {
            return;
        };
        let mergee = entries.remove(oldest);
        match entries.iter_mut().find(|e| {
            e.manager == ANCIENT_CHANGES
                && e.operation == UPDATE
                && e.subresource.is_none()
                && e.api_version == mergee.api_version
        }) {
            Some(bucket) => {
                bucket.set.union(&mergee.set);
                if mergee.time > bucket.time {
                    bucket.time = mergee.time;
                }
            }
            None => entries.push(Entry {
                manager: ANCIENT_CHANGES.to_string(),
                operation: UPDATE.to_string(),
                subresource: None,
                ..mergee
            }),
        }
    }
}

/// Upstream's `sortEncodedManagedFields`: appliers first, then by time, manager,
/// apiVersion, subresource.
fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| p.time.cmp(&q.time))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
}

fn write_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    sort_entries(&mut entries);
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    if entries.is_empty() {
        meta.shift_remove("managedFields");
    } else {
        meta.insert(
            "managedFields".into(),
            Value::Array(entries.iter().map(Entry::to_json).collect()),
        );
    }
}

fn without_managed_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("managedFields");
    }
    v
}

fn field(name: &str) -> Elem {
    Elem::Field(name.to_string())
}

/// Drops what upstream never tracks: the exact paths of `stripMeta` (type and identity
/// metadata the server sets) and, recursively, the fields the subresource resets (`status`
/// for the main resource, `spec` for `/status`).
fn strip_ignored(set: &mut Set, subresource: Option<&str>) {
    for p in [
        vec![field("apiVersion")],
        vec![field("kind")],
        vec![field("metadata")],
    ] {
        set.remove(&p);
    }
    for n in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.remove_subtree(&[field("metadata"), field(n)]);
    }
    match subresource {
        None => set.remove_subtree(&[field("status")]),
        Some("status") => set.remove_subtree(&[field("spec")]),
        Some(_) => {}
    }
}

/// Walks values with their schema.
struct Walker<'a> {
    schema: &'a dyn SchemaLookup,
}

/// The path element naming a list item, or `None` for atomic lists.
fn item_elem(kind: &ListKind, item: &Value, index: usize) -> Elem {
    match kind {
        ListKind::Map(keys) => {
            let mut names = keys.clone();
            names.sort();
            let mut m = Map::new();
            for n in names {
                if let Some(v) = key_field(item, &n) {
                    m.insert(n, v);
                }
            }
            Elem::Key(canonical_json(&Value::Object(m)))
        }
        ListKind::Set => Elem::Value(canonical_json(item)),
        ListKind::Atomic => Elem::Index(index),
    }
}

fn is_atomic_map(fs: &FieldSchema) -> bool {
    fs.map_type.as_deref() == Some("atomic")
}

fn granular_list(fs: &FieldSchema) -> Option<ListKind> {
    match list_kind(fs) {
        ListKind::Atomic => None,
        k => Some(k),
    }
}

impl Walker<'_> {
    fn known_field(&self, ctx: &Ctx, key: &str) -> bool {
        match ctx {
            Ctx::Struct(t) => self.schema.field(t, key).is_some(),
            _ => false,
        }
    }

    /// Upstream `ToFieldSet`: leaves, list items, map entries, and struct fields that are
    /// null or empty objects.
    fn to_set(&self, v: &Value, ctx: &Ctx, fs: &FieldSchema, path: &mut Vec<Elem>, set: &mut Set) {
        match v {
            Value::Object(m) if !is_atomic_map(fs) => {
                for (k, cv) in m {
                    let (cctx, cfs) = ctx.lookup(self.schema, k);
                    path.push(field(k));
                    self.to_set(cv, &cctx, &cfs, path, set);
                    let empty = cv.is_null() || cv.as_object().is_some_and(Map::is_empty);
                    if empty || !self.known_field(ctx, k) {
                        set.insert(path);
                    }
                    path.pop();
                }
            }
            Value::Array(items) => match granular_list(fs) {
                Some(kind) => {
                    // For a list value, `ctx` already describes its items.
                    for (i, item) in items.iter().enumerate() {
                        path.push(item_elem(&kind, item, i));
                        self.to_set(item, ctx, &FieldSchema::default(), path, set);
                        set.insert(path);
                        path.pop();
                    }
                }
                None => set.insert(path),
            },
            _ => set.insert(path),
        }
    }

    /// Upstream's typed merge of an applied configuration into the live object:
    /// granular maps merge, associative and set lists merge item by item, the rest is
    /// replaced by the configuration.
    fn merge(&self, lhs: &Value, rhs: &Value, ctx: &Ctx, fs: &FieldSchema) -> Value {
        match (lhs, rhs) {
            (Value::Object(l), Value::Object(r)) if !is_atomic_map(fs) => {
                let mut out = l.clone();
                for (k, rv) in r {
                    if rv.is_null() {
                        // An explicit null in the configuration leaves the field unset:
                        // upstream's merged value is null, which its typed round trip
                        // drops; objects here are stored as JSON, so drop it now.
                        out.shift_remove(k);
                        continue;
                    }
                    let (cctx, cfs) = ctx.lookup(self.schema, k);
                    let merged = match l.get(k) {
                        Some(lv) => self.merge(lv, rv, &cctx, &cfs),
                        None => rv.clone(),
                    };
                    out.insert(k.clone(), merged);
                }
                Value::Object(out)
            }
            (Value::Array(l), Value::Array(r)) => match granular_list(fs) {
                Some(kind) => Value::Array(self.merge_list(l, r, &kind, ctx)),
                None => rhs.clone(),
            },
            _ => rhs.clone(),
        }
    }

    /// Merges list items by path element. Shared items take the configuration's order;
    /// live-only items keep their place relative to them; new items come where the
    /// configuration has them (structured-merge-diff's `visitListItems`).
    fn merge_list(&self, l: &[Value], r: &[Value], kind: &ListKind, item_ctx: &Ctx) -> Vec<Value> {
        let lpe: Vec<Elem> = l
            .iter()
            .enumerate()
            .map(|(i, v)| item_elem(kind, v, i))
            .collect();
        let rpe: Vec<Elem> = r
            .iter()
            .enumerate()
            .map(|(i, v)| item_elem(kind, v, i))
            .collect();
        let in_l: HashSet<&Elem> = lpe.iter().collect();
        let in_r: HashSet<&Elem> = rpe.iter().collect();
        let shared: Vec<&Elem> = rpe.iter().filter(|pe| in_l.contains(pe)).collect();
        let mut shared_i = 0;
        let mut done: HashSet<&Elem> = HashSet::new();
        let merge_item = |pe: &Elem, rv: &Value| -> Value {
            match lpe.iter().position(|x| x == pe) {
                Some(li) => self.merge(&l[li], rv, item_ctx, &FieldSchema::default()),
                None => rv.clone(),
            }
        };
        let mut out = Vec::with_capacity(l.len().max(r.len()));
        let (mut li, mut ri) = (0, 0);
        while li < l.len() || ri < r.len() {
            if li < l.len() && ri < r.len() {
                if lpe[li] == rpe[ri] {
                    done.insert(&rpe[ri]);
                    out.push(merge_item(&rpe[ri], &r[ri]));
                    li += 1;
                    ri += 1;
                    shared_i += 1;
                    continue;
                }
                let next_shared = shared.get(shared_i);
                if in_r.contains(&lpe[li]) && next_shared.is_some_and(|s| **s != lpe[li]) {
                    // A shared item, but not the next one in the configuration's order.
                    li += 1;
                    continue;
                }
            }
            if li < l.len() {
                if !in_r.contains(&lpe[li]) {
                    out.push(l[li].clone());
                    li += 1;
                    continue;
                } else if done.contains(&lpe[li]) {
                    li += 1;
                }
            }
            if ri < r.len() {
                let pe = &rpe[ri];
                done.insert(pe);
                out.push(merge_item(pe, &r[ri]));
                ri += 1;
                if shared.get(shared_i).is_some_and(|s| *s == pe) {
                    shared_i += 1;
                }
            }
        }
        out
    }

    /// Upstream `Compare`: leaves (scalars, atomic values, empty containers) that differ
    /// are modified; anything present on one side only is added/removed. Struct-typed
    /// fields are not themselves recorded, because upstream's typed objects always carry
    /// them.
    #[allow(clippy::too_many_arguments)]
    fn compare(
        &self,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        ctx: &Ctx,
        fs: &FieldSchema,
        struct_field: bool,
        path: &mut Vec<Elem>,
        cmp: &mut Comparison,
    ) {
        let both_objects = matches!(
            (lhs, rhs),
            (None | Some(Value::Object(_)), None | Some(Value::Object(_)))
        );
        let both_arrays = matches!(
            (lhs, rhs),
            (None | Some(Value::Array(_)), None | Some(Value::Array(_)))
        );
        let empty = |v: Option<&Value>| match v {
            None => true,
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            Some(_) => false,
        };
        let granular = if both_objects {
            !is_atomic_map(fs)
        } else if both_arrays {
            granular_list(fs).is_some()
        } else {
            false
        };
        if !granular || (empty(lhs) && empty(rhs)) {
            match (lhs, rhs) {
                (None, Some(_)) => cmp.added.insert(path),
                (Some(_), None) => cmp.removed.insert(path),
                (Some(a), Some(b)) if a != b => cmp.modified.insert(path),
                _ => {}
            }
            return;
        }
        if both_objects {
            let lm = lhs.and_then(Value::as_object);
            let rm = rhs.and_then(Value::as_object);
            let mut keys: Vec<&String> = lm.map(|m| m.keys().collect()).unwrap_or_default();
            for k in rm.into_iter().flat_map(|m| m.keys()) {
                if !lm.is_some_and(|m| m.contains_key(k)) {
                    keys.push(k);
                }
            }
            for k in keys {
                let (cctx, cfs) = ctx.lookup(self.schema, k);
                let is_struct = self.known_field(ctx, k)
                    && cfs.type_name.is_some()
                    && !cfs.is_list
                    && !cfs.is_map;
                path.push(field(k));
                self.compare(
                    lm.and_then(|m| m.get(k)),
                    rm.and_then(|m| m.get(k)),
                    &cctx,
                    &cfs,
                    is_struct,
                    path,
                    cmp,
                );
                path.pop();
            }
        } else if let Some(kind) = granular_list(fs) {
            let la: &[Value] = lhs
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let ra: &[Value] = rhs
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let lpe: Vec<Elem> = la
                .iter()
                .enumerate()
                .map(|(i, v)| item_elem(&kind, v, i))
                .collect();
            let rpe: Vec<Elem> = ra
                .iter()
                .enumerate()
                .map(|(i, v)| item_elem(&kind, v, i))
                .collect();
            let mut seen: Vec<&Elem> = Vec::new();
            for pe in lpe.iter().chain(rpe.iter()) {
                if seen.contains(&pe) {
                    continue;
                }
                seen.push(pe);
                let lv = lpe.iter().position(|x| x == pe).map(|i| &la[i]);
                let rv = rpe.iter().position(|x| x == pe).map(|i| &ra[i]);
                path.push(pe.clone());
                self.compare(lv, rv, ctx, &FieldSchema::default(), false, path, cmp);
                path.pop();
            }
        }
        if !struct_field && !path.is_empty() {
            match (lhs, rhs) {
                (None, Some(_)) => cmp.added.insert(path),
                (Some(_), None) => cmp.removed.insert(path),
                _ => {}
            }
        }
    }
}

#[derive(Debug, Default)]
struct Comparison {
    added: Set,
    modified: Set,
    removed: Set,
}

impl Comparison {
    fn changed(&self) -> Set {
        let mut s = self.added.clone();
        s.union(&self.modified);
        s
    }

    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }

    fn strip(&mut self, subresource: Option<&str>) {
        strip_ignored(&mut self.added, subresource);
        strip_ignored(&mut self.modified, subresource);
        strip_ignored(&mut self.removed, subresource);
    }
}

/// Removes the value at `path` from `v`; `false` when it is not there.
fn remove_path(v: &mut Value, path: &[Elem]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    match (v, first) {
        (Value::Object(m), Elem::Field(n)) => {
            if rest.is_empty() {
                m.shift_remove(n).is_some()
            } else {
                m.get_mut(n).is_some_and(|c| remove_path(c, rest))
            }
        }
        (Value::Array(a), pe) => {
            let Some(i) = a
                .iter()
                .enumerate()
                .position(|(i, item)| pe.matches_item(item, i))
            else {
                return false;
            };
            if rest.is_empty() {
                a.remove(i);
                true
            } else {
                remove_path(&mut a[i], rest)
            }
        }
        _ => false,
    }
}

/// Removes from `merged` what the applier owned before (`last`) and no longer applies,
/// keeping anything some manager (the applier's new set included) still owns at or below
/// it (upstream `prune`: `RemoveItems` then `addBackOwnedItems`).
fn prune(merged: &mut Value, last: &Set, owned: &Set) {
    for path in last.paths() {
        if owned.has_prefix(&path.0) || is_key_field_of_kept_item(&path.0) {
            continue;
        }
        remove_path(merged, &path.0);
    }
}

/// A list item's key field: it goes only with its item (removing the whole item is a
/// separate path), since an item without its key is invalid.
fn is_key_field_of_kept_item(path: &[Elem]) -> bool {
    match path {
        [.., Elem::Key(k), Elem::Field(name)] => serde_json::from_str::<Value>(k)
            .ok()
            .is_some_and(|key| key.get(name).is_some()),
        _ => false,
    }
}

/// Server-side apply (`PATCH` with `application/apply-patch+yaml`) of `applied` by
/// `manager` onto `live` (`None`: the object does not exist yet and is created).
///
/// Returns the new object with `metadata.managedFields` updated; the caller still runs
/// defaulting, validation and the strategy's reset of status/spec. `now` is the RFC 3339
/// time written into the applier's entry.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    schema: &dyn SchemaLookup,
    root_type: &str,
    now: &str,
) -> Result<Value, ApplyError> {
    let Value::Object(cfg) = applied else {
        return Err(ApplyError::Invalid(
            "the applied configuration must be a JSON object".to_string(),
        ));
    };
    let api_version = cfg.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if cfg
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        return Err(ApplyError::Invalid("Object 'Kind' is missing".to_string()));
    }
    if api_version.is_empty() {
        return Err(ApplyError::Invalid(
            "Object 'apiVersion' is missing".to_string(),
        ));
    }
    // Mirrors upstream's applyPatcher: an apply may not set managedFields itself.
    if applied
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".to_string(),
        ));
    }
    let mut entries = decode_entries(live).map_err(ApplyError::BadManagedFields)?;
    let live_clean = live
        .map(without_managed_fields)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let walker = Walker { schema };
    let ctx = Ctx::structure(root_type);
    let root_fs = FieldSchema::default();

    // Mirrors upstream's skipNonAppliedManager: an existing object nobody tracked yet is
    // first attributed, field by field, to the updater "before-first-apply", so applying
    // over values set before is a conflict like any other.
    if let (Some(_), true) = (live, entries.is_empty()) {
        let mut cmp = Comparison::default();
        let empty = Value::Object(Map::new());
        walker.compare(
            Some(&empty),
            Some(&live_clean),
            &ctx,
            &root_fs,
            false,
            &mut Vec::new(),
            &mut cmp,
        );
        cmp.strip(None);
        entries.push(Entry {
            manager: BEFORE_FIRST_APPLY.to_string(),
            operation: UPDATE.to_string(),
            api_version: live_clean
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or(api_version)
                .to_string(),
            time: Some(now.to_string()),
            subresource: None,
            set: cmp.changed(),
        });
    }

    let mut new_set = Set::new();
    walker.to_set(applied, &ctx, &root_fs, &mut Vec::new(), &mut new_set);
    strip_ignored(&mut new_set, None);

    let own_idx = entries
        .iter()
        .position(|e| e.same_identity(manager, APPLY, api_version, None));
    let last_set = own_idx.map(|i| entries[i].set.clone()).unwrap_or_default();

    let mut merged = walker.merge(&live_clean, applied, &ctx, &root_fs);
    let mut owned = new_set.clone();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) != own_idx {
            owned.union(&e.set);
        }
    }
    prune(&mut merged, &last_set, &owned);

    let mut cmp = Comparison::default();
    walker.compare(
        Some(&live_clean),
        Some(&merged),
        &ctx,
        &root_fs,
        false,
        &mut Vec::new(),
        &mut cmp,
    );
    cmp.strip(None);
    let changed = cmp.changed();

    let mut conflicts = Vec::new();
    for (i, e) in entries.iter_mut().enumerate() {
        if Some(i) == own_idx {
            continue;
        }
        let c = e.set.intersection(&changed);
        if c.is_empty() {
            continue;
        }
        if force {
            e.set = e.set.difference(&c);
        } else {
            let who = e.printed();
            conflicts.extend(c.paths().iter().map(|p| Conflict::new(who.clone(), p)));
        }
    }
    if !conflicts.is_empty() {
        conflicts.sort_by(|a, b| a.manager.cmp(&b.manager));
        return Err(ApplyError::Conflict(conflicts));
    }
    for (i, e) in entries.iter_mut().enumerate() {
        if Some(i) != own_idx {
            e.set = e.set.difference(&cmp.removed);
        }
    }

    let object_changed = !cmp.is_empty();
    match own_idx {
        Some(i) => {
            let e = &mut entries[i];
            if e.set != new_set || object_changed || e.api_version != api_version {
                e.time = Some(now.to_string());
            }
            e.set = new_set;
            e.api_version = api_version.to_string();
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: APPLY.to_string(),
            api_version: api_version.to_string(),
            time: Some(now.to_string()),
            subresource: None,
            set: new_set,
        }),
    }
    write_entries(&mut merged, entries);
    Ok(merged)
}

/// Records field ownership for a write that is not an apply (create, update, patch):
/// `manager` (with `operation`, normally `Update`, and the subresource written, if any)
/// now owns every field it added or changed, other managers lose those fields, and
/// removed fields leave every set. Writes the result into `new`'s
/// `metadata.managedFields`.
///
/// Which entries start the bookkeeping follows upstream: managedFields sent in `new`
/// (when they decode) replace the stored ones, an explicit empty list clears them, and an
/// absent field keeps `old`'s.
#[allow(clippy::too_many_arguments)]
pub fn update_managed_fields(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    operation: &str,
    subresource: Option<&str>,
    now: &str,
    schema: &dyn SchemaLookup,
    root_type: &str,
) {
    let sent = new
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .cloned();
    let mut entries = match &sent {
        Some(Value::Array(a)) if a.is_empty() => Vec::new(),
        Some(Value::Array(_)) => decode_entries(Some(new))
            .or_else(|_| decode_entries(old))
            .unwrap_or_default(),
        _ => decode_entries(old).unwrap_or_default(),
    };
    let old_clean = old
        .map(without_managed_fields)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let new_clean = without_managed_fields(new);
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let walker = Walker { schema };
    let ctx = Ctx::structure(root_type);
    let mut cmp = Comparison::default();
    walker.compare(
        Some(&old_clean),
        Some(&new_clean),
        &ctx,
        &FieldSchema::default(),
        false,
        &mut Vec::new(),
        &mut cmp,
    );
    cmp.strip(subresource);
    if !cmp.is_empty() {
        let changed = cmp.changed();
        let own_idx = entries
            .iter()
            .position(|e| e.same_identity(manager, operation, &api_version, subresource));
        for (i, e) in entries.iter_mut().enumerate() {
            if Some(i) != own_idx {
                e.set = e.set.difference(&changed).difference(&cmp.removed);
            }
        }
        let mut own = match own_idx {
            Some(i) => entries.remove(i),
            None => Entry {
                manager: manager.to_string(),
                operation: operation.to_string(),
                api_version: api_version.clone(),
                time: None,
                subresource: subresource.map(str::to_string),
                set: Set::new(),
            },
        };
        let mut set = own.set.difference(&cmp.removed);
        set.union(&changed);
        own.set = set;
        own.time = Some(now.to_string());
        entries.push(own);
        cap_update_managers(&mut entries);
    }
    write_entries(new, entries);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testschema::{FakeSchema, CONFIG_MAP, DEPLOYMENT, POD};
    use serde_json::json;

    const T1: &str = "2026-01-01T00:00:00Z";
    const T2: &str = "2026-01-02T00:00:00Z";

    fn deployment(replicas: Option<i64>, labels: Value, containers: Value) -> Value {
        let mut spec = json!({
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}
        });
        if let Some(r) = replicas {
            spec["replicas"] = json!(r);
        }
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": labels},
            "spec": spec
        })
    }

    fn entries(obj: &Value) -> Vec<Value> {
        obj["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn entry<'a>(obj: &'a Value, manager: &str) -> Option<&'a Value> {
        obj["metadata"]["managedFields"]
            .as_array()?
            .iter()
            .find(|e| e["manager"] == manager)
    }

    fn strip_mf(v: &Value) -> Value {
        without_managed_fields(v)
    }

    #[test]
    fn apply_creates_and_records_fields_v1() {
        let s = FakeSchema::new();
        let cfg = deployment(
            Some(2),
            json!({"app": "web"}),
            json!([{"name": "nginx", "image": "nginx:1", "ports": [{"containerPort": 80}]}]),
        );
        let out = apply(None, &cfg, "kubectl", false, &s, DEPLOYMENT, T1).unwrap();
        assert_eq!(strip_mf(&out), cfg);
        let mf = entries(&out);
        assert_eq!(mf.len(), 1);
        assert_eq!(
            mf[0],
            json!({
                "manager": "kubectl",
                "operation": "Apply",
                "apiVersion": "apps/v1",
                "time": T1,
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:replicas": {},
                        "f:selector": {"f:matchLabels": {"f:app": {}}},
                        "f:template": {
                            "f:metadata": {"f:labels": {"f:app": {}}},
                            "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                                ".": {},
                                "f:image": {},
                                "f:name": {},
                                "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                    ".": {},
                                    "f:containerPort": {}
                                }}
                            }}}
                        }
                    }
                }
            })
        );
    }

    #[test]
    fn reapply_removes_fields_no_longer_applied() {
        let s = FakeSchema::new();
        let c1 = deployment(
            Some(2),
            json!({"app": "web", "tier": "fe"}),
            json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]),
        );
        let live = apply(None, &c1, "kubectl", false, &s, DEPLOYMENT, T1).unwrap();
        let c2 = deployment(
            None,
            json!({"app": "web"}),
            json!([{"name": "a", "image": "a:2"}]),
        );
        let out = apply(Some(&live), &c2, "kubectl", false, &s, DEPLOYMENT, T2).unwrap();
        assert_eq!(strip_mf(&out), c2);
        let e = entry(&out, "kubectl").unwrap();
        assert_eq!(e["time"], T2);
        assert!(e["fieldsV1"]["f:spec"].get("f:replicas").is_none());
        assert!(e["fieldsV1"]["f:metadata"]["f:labels"]
            .get("f:tier")
            .is_none());
    }

    #[test]
    fn null_in_config_unsets_and_is_owned() {
        let s = FakeSchema::new();
        let c1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "1", "b": "2"}});
        let live = apply(None, &c1, "m", false, &s, CONFIG_MAP, T1).unwrap();
        let c2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": null, "b": "2"}});
        let out = apply(Some(&live), &c2, "m", false, &s, CONFIG_MAP, T2).unwrap();
        assert_eq!(out["data"], json!({"b": "2"}));
        assert_eq!(
            entry(&out, "m").unwrap()["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}}})
        );
    }

    #[test]
    fn noop_reapply_keeps_time() {
        let s = FakeSchema::new();
        let c = deployment(
            Some(1),
            json!({"app": "web"}),
            json!([{"name": "a", "image": "a:1"}]),
        );
        let live = apply(None, &c, "kubectl", false, &s, DEPLOYMENT, T1).unwrap();
        let out = apply(Some(&live), &c, "kubectl", false, &s, DEPLOYMENT, T2).unwrap();
        assert_eq!(out, live);
    }

    fn created_by_update(manager: &str, obj: &Value) -> Value {
        let s = FakeSchema::new();
        let mut new = obj.clone();
        update_managed_fields(None, &mut new, manager, "Update", None, T1, &s, DEPLOYMENT);
        new
    }

    #[test]
    fn conflict_with_an_updater() {
        let s = FakeSchema::new();
        let live = created_by_update(
            "kubectl-client-side-apply",
            &deployment(
                Some(3),
                json!({"app": "web"}),
                json!([{"name": "a", "image": "a:1"}]),
            ),
        );
        let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}, "spec": {"replicas": 5}});
        let err = apply(Some(&live), &cfg, "kubectl", false, &s, DEPLOYMENT, T2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        assert_eq!(
            err,
            ApplyError::Conflict(vec![Conflict {
                manager: "\"kubectl-client-side-apply\" using apps/v1".into(),
                field: ".spec.replicas".into()
            }])
        );
        // Applying the value already there is no conflict: both managers own it.
        let same = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}, "spec": {"replicas": 3}});
        let out = apply(Some(&live), &same, "kubectl", false, &s, DEPLOYMENT, T2).unwrap();
        assert!(entry(&out, "kubectl").unwrap()["fieldsV1"]["f:spec"]
            .get("f:replicas")
            .is_some());
        assert!(
            entry(&out, "kubectl-client-side-apply").unwrap()["fieldsV1"]["f:spec"]
                .get("f:replicas")
                .is_some()
        );
    }

    #[test]
    fn untracked_object_is_owned_by_before_first_apply() {
        let s = FakeSchema::new();
        let live = deployment(
            Some(3),
            json!({"app": "web"}),
            json!([{"name": "a", "image": "a:1"}]),
        );
        let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}, "spec": {"replicas": 5}});
        let err = apply(Some(&live), &cfg, "kubectl", false, &s, DEPLOYMENT, T2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
        );
        let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"new": "x"}}});
        let out = apply(Some(&live), &cfg, "kubectl", false, &s, DEPLOYMENT, T2).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"app": "web", "new": "x"}));
        assert_eq!(entries(&out).len(), 2);
        assert!(entry(&out, "before-first-apply").is_some());
    }

    #[test]
    fn several_conflicts_are_grouped_by_manager() {
        let s = FakeSchema::new();
        let live = created_by_update(
            "kube-controller-manager",
            &deployment(
                Some(3),
                json!({"app": "web"}),
                json!([{"name": "a", "image": "a:1"}]),
            ),
        );
        let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "a", "image": "a:2"}]}}}});
        let err = apply(Some(&live), &cfg, "kubectl", false, &s, DEPLOYMENT, T2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 2 conflicts: conflicts with \"kube-controller-manager\" using apps/v1:\n\
             - .spec.replicas\n\
             - .spec.template.spec.containers[name=\"a\"].image"
        );
    }

    #[test]
    fn force_moves_ownership() {
        let s = FakeSchema::new();
        let live = created_by_update(
            "kubectl-client-side-apply",
            &deployment(
                Some(3),
                json!({"app": "web"}),
                json!([{"name": "a", "image": "a:1"}]),
            ),
        );
        let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}, "spec": {"replicas": 5}});
        let out = apply(Some(&live), &cfg, "kubectl", true, &s, DEPLOYMENT, T2).unwrap();
        assert_eq!(out["spec"]["replicas"], 5);
        let other = entry(&out, "kubectl-client-side-apply").unwrap();
        assert!(other["fieldsV1"]["f:spec"].get("f:replicas").is_none());
        assert!(other["fieldsV1"]["f:spec"].get("f:template").is_some());
        let mine = entry(&out, "kubectl").unwrap();
        assert_eq!(mine["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
        // Apply entries sort before Update entries.
        assert_eq!(entries(&out)[0]["operation"], "Apply");
    }

    #[test]
    fn conflict_between_appliers_prints_bare_name() {
        let s = FakeSchema::new();
        let c = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "1"}});
        let live = apply(None, &c, "alice", false, &s, CONFIG_MAP, T1).unwrap();
        let c2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "2"}});
        let err = apply(Some(&live), &c2, "bob", false, &s, CONFIG_MAP, T2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"alice\": .data.k"
        );
    }

    #[test]
    fn shared_field_survives_one_owner_leaving() {
        let s = FakeSchema::new();
        let base = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
        let mut ca = base.clone();
        ca["data"] = json!({"shared": "v", "a": "1"});
        let mut cb = base.clone();
        cb["data"] = json!({"shared": "v"});
        let live = apply(None, &ca, "a", false, &s, CONFIG_MAP, T1).unwrap();
        let live = apply(Some(&live), &cb, "b", false, &s, CONFIG_MAP, T1).unwrap();
        // a stops applying everything: "a" goes, "shared" stays because b owns it.
        let out = apply(Some(&live), &base, "a", false, &s, CONFIG_MAP, T2).unwrap();
        assert_eq!(out["data"], json!({"shared": "v"}));
        assert!(entry(&out, "a").is_none(), "empty entries are dropped");
        assert_eq!(
            entry(&out, "b").unwrap()["fieldsV1"],
            json!({"f:data": {"f:shared": {}}})
        );
    }

    #[test]
    fn prune_keeps_what_others_own_inside_an_item() {
        let s = FakeSchema::new();
        let c1 = deployment(
            None,
            json!({"app": "web"}),
            json!([{"name": "a", "image": "a:1"}]),
        );
        let live = apply(None, &c1, "kubectl", false, &s, DEPLOYMENT, T1).unwrap();
        // Another writer adds an env var to the container.
        let mut edited = live.clone();
        edited["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "X", "value": "1"}]);
        update_managed_fields(
            Some(&live),
            &mut edited,
            "editor",
            "Update",
            None,
            T1,
            &s,
            DEPLOYMENT,
        );
        let c2 = deployment(None, json!({"app": "web"}), json!([]));
        let out = apply(Some(&edited), &c2, "kubectl", false, &s, DEPLOYMENT, T2).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "env": [{"name": "X", "value": "1"}]}])
        );
    }

    #[test]
    fn update_tracks_changes_and_takes_fields_from_others() {
        let s = FakeSchema::new();
        let obj = deployment(
            Some(1),
            json!({"app": "web"}),
            json!([{"name": "a", "image": "a:1"}]),
        );
        let created = created_by_update("kubectl-create", &obj);
        let e = entry(&created, "kubectl-create").unwrap();
        assert_eq!(e["operation"], "Update");
        assert_eq!(e["apiVersion"], "apps/v1");
        let f = &e["fieldsV1"];
        // Maps, lists and list items are members themselves; identity metadata is not
        // tracked.
        assert_eq!(f["f:metadata"], json!({"f:labels": {".": {}, "f:app": {}}}));
        assert_eq!(
            f["f:spec"]["f:template"]["f:spec"]["f:containers"],
            json!({".": {}, "k:{\"name\":\"a\"}": {".": {}, "f:image": {}, "f:name": {}}})
        );

        let mut next = created.clone();
        next["spec"]["template"]["spec"]["containers"][0]["image"] = json!("a:2");
        next["metadata"]["resourceVersion"] = json!("7");
        update_managed_fields(
            Some(&created),
            &mut next,
            "ctrl",
            "Update",
            None,
            T2,
            &s,
            DEPLOYMENT,
        );
        let ctrl = entry(&next, "ctrl").unwrap();
        assert_eq!(
            ctrl["fieldsV1"],
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {"f:image": {}}}}}}})
        );
        assert_eq!(ctrl["time"], T2);
        let creator = entry(&next, "kubectl-create").unwrap();
        assert!(
            creator["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
                ["k:{\"name\":\"a\"}"]
                .get("f:image")
                .is_none()
        );
        assert_eq!(entries(&next).len(), 2);
    }

    #[test]
    fn update_ignores_status_on_main_resource_and_spec_on_status() {
        let s = FakeSchema::new();
        let old = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"restartPolicy": "Always"}, "status": {"phase": "Pending"}});
        let mut new = old.clone();
        new["status"]["phase"] = json!("Running");
        update_managed_fields(
            Some(&old),
            &mut new,
            "kubelet",
            "Update",
            Some("status"),
            T1,
            &s,
            POD,
        );
        let e = entry(&new, "kubelet").unwrap();
        assert_eq!(e["subresource"], "status");
        assert_eq!(e["fieldsV1"], json!({"f:status": {"f:phase": {}}}));

        let mut main = old.clone();
        main["status"]["phase"] = json!("Failed");
        main["spec"]["restartPolicy"] = json!("Never");
        update_managed_fields(Some(&old), &mut main, "user", "Update", None, T1, &s, POD);
        assert_eq!(
            entry(&main, "user").unwrap()["fieldsV1"],
            json!({"f:spec": {"f:restartPolicy": {}}})
        );
    }

    #[test]
    fn updaters_are_capped_into_ancient_changes() {
        let s = FakeSchema::new();
        let mut obj =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}});
        for i in 0..12 {
            let old = obj.clone();
            obj["data"][format!("k{i}")] = json!("v");
            let now = format!("2026-01-01T00:00:{i:02}Z");
            update_managed_fields(
                Some(&old),
                &mut obj,
                &format!("m{i:02}"),
                "Update",
                None,
                &now,
                &s,
                CONFIG_MAP,
            );
        }
        let mf = entries(&obj);
        assert_eq!(mf.len(), 10);
        let bucket = entry(&obj, "ancient-changes").unwrap();
        assert_eq!(
            bucket["fieldsV1"],
            json!({"f:data": {"f:k0": {}, "f:k1": {}, "f:k2": {}}})
        );
        assert_eq!(bucket["time"], "2026-01-01T00:00:02Z");
        assert!(entry(&obj, "m02").is_none());
        assert!(entry(&obj, "m03").is_some());
    }

    #[test]
    fn noop_update_leaves_managed_fields_alone() {
        let s = FakeSchema::new();
        let obj = deployment(Some(1), json!({"app": "web"}), json!([]));
        let created = created_by_update("kubectl-create", &obj);
        let mut same = created.clone();
        update_managed_fields(
            Some(&created),
            &mut same,
            "other",
            "Update",
            None,
            T2,
            &s,
            DEPLOYMENT,
        );
        assert_eq!(same, created);
    }

    #[test]
    fn apply_rejects_bad_configs() {
        let s = FakeSchema::new();
        let cases = [
            (json!([]), "the applied configuration must be a JSON object"),
            (json!({"apiVersion": "v1"}), "Object 'Kind' is missing"),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"managedFields": []}}),
                "metadata.managedFields must be nil",
            ),
        ];
        for (cfg, msg) in cases {
            let err = apply(None, &cfg, "m", false, &s, CONFIG_MAP, T1).unwrap_err();
            assert_eq!(err, ApplyError::Invalid(msg.into()));
        }
        let bad_live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"managedFields": [{"manager": "x", "fieldsType": "FieldsV2"}]}});
        let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        assert!(matches!(
            apply(Some(&bad_live), &cfg, "m", false, &s, CONFIG_MAP, T1),
            Err(ApplyError::BadManagedFields(_))
        ));
    }

    #[test]
    fn apply_merges_lists_by_key_keeping_live_only_items() {
        let s = FakeSchema::new();
        let live = created_by_update(
            "kubectl-create",
            &deployment(
                None,
                json!({}),
                json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]),
            ),
        );
        let cfg = deployment(
            None,
            json!({}),
            json!([{"name": "c", "image": "c:1"}, {"name": "b", "image": "b:1"}]),
        );
        let out = apply(Some(&live), &cfg, "kubectl", false, &s, DEPLOYMENT, T2).unwrap();
        let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "c", "b"]);
    }
}
