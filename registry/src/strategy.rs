//! The [`Strategy`] trait the apiserver calls, and [`Resource`], the table-driven
//! implementation every built-in resource uses: common status/generation handling plus
//! per-resource hooks (upstream's `pkg/registry/<group>/<resource>/strategy.go`).

use crate::field::ErrorList;
use crate::json::get;
use crate::validation::meta::{validate_object_meta_scoped, validate_object_meta_update};
use crate::validation::NameValidation;
use serde_json::{Map, Value};

/// Per-resource create/update semantics of kube-apiserver, over JSON objects.
pub trait Strategy: Send + Sync {
    /// Upstream's scheme defaulting (SetDefaults_*), applied to every create/update/patch
    /// result.
    fn default(&self, obj: &mut Value);
    /// PrepareForCreate: clears status where there is a status subresource, sets generation
    /// to 1 where upstream does, and resource-specific initialisation. Applies [`default`]
    /// first (idempotent), as upstream's decode does.
    ///
    /// [`default`]: Strategy::default
    fn prepare_for_create(&self, obj: &mut Value);
    /// PrepareForUpdate: keeps the old status when there is a status subresource, bumps
    /// metadata.generation when the generation-relevant part changed. Applies defaulting to
    /// `new` first (idempotent).
    fn prepare_for_update(&self, new: &mut Value, old: &Value);
    /// For the /status subresource: keeps everything but status (and the metadata upstream
    /// lets status writes change) from old.
    fn prepare_for_status_update(&self, new: &mut Value, old: &Value);
    fn validate_create(&self, obj: &Value) -> ErrorList;
    fn validate_update(&self, new: &Value, old: &Value) -> ErrorList;
    fn validate_status_update(&self, new: &Value, old: &Value) -> ErrorList;
    /// Whether the resource has a status subresource (main-resource writes ignore status).
    fn has_status_subresource(&self) -> bool;
}

/// When `metadata.generation` is maintained (upstream sets it to 1 on create and bumps it
/// in PrepareForUpdate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Generation {
    /// Not maintained by the strategy.
    None,
    /// Bumped when `spec` changes.
    Spec,
    /// Bumped when `spec` or `metadata.annotations` change (deployments: annotations are
    /// copied to replica sets).
    SpecOrAnnotations,
    /// Bumped when anything other than metadata and status changes (resources without a
    /// spec, e.g. PriorityClass has none; used for webhook configurations, RBAC-less kinds).
    AnyField,
}

/// A table-driven strategy: the common behaviour plus per-resource hooks.
pub(crate) struct Resource {
    /// Scope; `None` skips the namespace check (unknown resources).
    pub namespaced: Option<bool>,
    pub names: NameValidation,
    pub status: bool,
    /// Keep a client-sent status on create (nodes: the kubelet registers with its status).
    pub keep_status_on_create: bool,
    pub generation: Generation,
    /// Metadata fields a status write may not change (beyond name/uid/etc.).
    pub status_keeps_labels: bool,
    pub status_keeps_owner_refs: bool,
    pub defaults: fn(&mut Value),
    pub prepare_create: fn(&mut Value),
    pub prepare_update: fn(&mut Value, &Value),
    /// Validation of the object beyond ObjectMeta (create and, on the new object, update).
    pub validate: fn(&Value) -> ErrorList,
    /// Extra update rules (immutable fields...).
    pub validate_update: fn(&Value, &Value) -> ErrorList,
    /// Extra status-update rules.
    pub validate_status: fn(&Value, &Value) -> ErrorList,
    /// Resource-specific status-write preparation, after the common one.
    pub prepare_status: fn(&mut Value, &Value),
}

pub(crate) fn no_defaults(_: &mut Value) {}
pub(crate) fn no_prepare_create(_: &mut Value) {}
pub(crate) fn no_prepare_update(_: &mut Value, _: &Value) {}
pub(crate) fn no_validate(_: &Value) -> ErrorList {
    Vec::new()
}
pub(crate) fn no_validate_update(_: &Value, _: &Value) -> ErrorList {
    Vec::new()
}

impl Resource {
    /// A resource with metadata validation only.
    pub(crate) const fn basic(namespaced: bool, names: NameValidation) -> Resource {
        Resource {
            namespaced: Some(namespaced),
            names,
            status: false,
            keep_status_on_create: false,
            generation: Generation::None,
            status_keeps_labels: false,
            status_keeps_owner_refs: false,
            defaults: no_defaults,
            prepare_create: no_prepare_create,
            prepare_update: no_prepare_update,
            validate: no_validate,
            validate_update: no_validate_update,
            validate_status: no_validate_update,
            prepare_status: no_prepare_update,
        }
    }

    fn generation_relevant_changed(&self, new: &Value, old: &Value) -> bool {
        match self.generation {
            Generation::None => false,
            Generation::Spec => new.get("spec") != old.get("spec"),
            Generation::SpecOrAnnotations => {
                new.get("spec") != old.get("spec")
                    || get(new, &["metadata", "annotations"])
                        != get(old, &["metadata", "annotations"])
            }
            Generation::AnyField => {
                let strip = |v: &Value| -> Map<String, Value> {
                    let mut m = v.as_object().cloned().unwrap_or_default();
                    for k in ["metadata", "status", "kind", "apiVersion"] {
                        m.remove(k);
                    }
                    m
                };
                strip(new) != strip(old)
            }
        }
    }
}

fn set_generation(obj: &mut Value, g: i64) {
    if let Some(meta) = crate::json::child_obj(obj, "metadata") {
        meta.insert("generation".into(), Value::from(g));
    }
}

impl Strategy for Resource {
    fn default(&self, obj: &mut Value) {
        (self.defaults)(obj);
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        // Upstream defaults at decode, before PrepareForCreate; defaulting is idempotent, so
        // applying it here keeps the result right whichever order the caller uses.
        (self.defaults)(obj);
        if self.status && !self.keep_status_on_create {
            if let Some(m) = obj.as_object_mut() {
                // upstream resets status to its zero struct, which serialises as `{}`
                m.insert("status".into(), Value::Object(Map::new()));
            }
        }
        if self.generation != Generation::None {
            set_generation(obj, 1);
        }
        (self.prepare_create)(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // Default first so that a PUT of an un-defaulted manifest does not look like a spec
        // change (upstream defaults at decode, before PrepareForUpdate).
        (self.defaults)(new);
        if self.status {
            if let Some(m) = new.as_object_mut() {
                match old.get("status") {
                    Some(s) => m.insert("status".into(), s.clone()),
                    None => m.remove("status"),
                };
            }
        }
        if self.generation != Generation::None {
            let old_gen = get(old, &["metadata", "generation"])
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let g = if self.generation_relevant_changed(new, old) {
                old_gen + 1
            } else {
                old_gen
            };
            set_generation(new, g);
        }
        (self.prepare_update)(new, old);
    }

    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        let (Some(n), Some(o)) = (new.as_object_mut(), old.as_object()) else {
            return;
        };
        // Everything but status and metadata comes from the stored object.
        let status = n.remove("status");
        let metadata = n.remove("metadata");
        n.clear();
        for (k, v) in o {
            if k != "status" && k != "metadata" {
                n.insert(k.clone(), v.clone());
            }
        }
        if let Some(s) = status {
            n.insert("status".into(), s);
        }
        let mut meta = metadata
            .and_then(|m| m.as_object().cloned())
            .unwrap_or_default();
        let old_meta = o.get("metadata").and_then(Value::as_object);
        let mut keep = vec![
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ];
        if self.status_keeps_labels {
            keep.push("labels");
        }
        if self.status_keeps_owner_refs {
            keep.push("ownerReferences");
        }
        for k in keep {
            match old_meta.and_then(|m| m.get(k)) {
                Some(v) => meta.insert(k.to_string(), v.clone()),
                None => meta.remove(k),
            };
        }
        n.insert("metadata".into(), Value::Object(meta));
        (self.prepare_status)(new, old);
    }

    fn validate_create(&self, obj: &Value) -> ErrorList {
        let mut errs = validate_object_meta_scoped(obj, self.namespaced, self.names);
        errs.extend((self.validate)(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ErrorList {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend((self.validate)(new));
        errs.extend((self.validate_update)(new, old));
        errs
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> ErrorList {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend((self.validate_status)(new, old));
        errs
    }

    fn has_status_subresource(&self) -> bool {
        self.status
    }
}
