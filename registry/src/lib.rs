//! rudder-registry: the per-resource strategies of kube-apiserver — defaulting,
//! create/update preparation and validation — over `serde_json::Value` objects, with
//! upstream semantics and messages (kubernetes `pkg/apis/<group>/v1/defaults.go`,
//! `pkg/apis/<group>/validation/validation.go`, `pkg/registry/<group>/<resource>/strategy.go`).
//!
//! Start with [`strategy`]: it maps `(group, plural)` to a [`Strategy`]. The apiserver calls,
//! in upstream's order: `default` on the decoded (or patched) object, then
//! `prepare_for_create`/`prepare_for_update`, then `validate_create`/`validate_update`, and
//! turns the returned [`FieldError`]s into a 422 `Status` with one cause per error
//! ([`FieldError::reason`], [`FieldError::message`], `field`).
//!
//! Layout: [`field`] (errors), `validation/` (name formats, labels, selectors, quantities,
//! ObjectMeta), `strategy` (the trait and the table-driven implementation), and
//! `resources/` (one module per API group with the resource-specific hooks).
//!
//! Not implemented (validation passes where upstream would reject): pod affinity,
//! seccomp/AppArmor, resize and ephemeral-container subresource rules, most volume-source
//! internals, service clusterIP/family allocation (the apiserver's job), warnings, and
//! feature-gated alpha fields. Unknown resources get ObjectMeta validation only.
#![forbid(unsafe_code)]

pub mod field;
mod json;
mod resources;
mod strategy;
mod validation;

pub use field::{ErrorList, ErrorType, FieldError};
pub use strategy::Strategy;
pub use validation::meta::{validate_object_meta, validate_object_meta_update};
pub use validation::NameValidation;

/// The strategy for `(group, plural)` (group "" is core); a generic one (metadata
/// validation only, scope unchecked) for resources without a specific strategy.
pub fn strategy(group: &str, plural: &str) -> &'static dyn Strategy {
    resources::lookup(group, plural)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dispatch_table() {
        let cases = [
            ("", "pods", true),
            ("apps", "deployments", true),
            ("", "configmaps", false),
            ("", "namespaces", true),
            ("example.com", "widgets", false),
        ];
        for (group, plural, status) in cases {
            assert_eq!(
                strategy(group, plural).has_status_subresource(),
                status,
                "{group}/{plural}"
            );
        }
    }

    #[test]
    fn status_writes_and_crd_names() {
        let ns = strategy("", "namespaces");
        let old = json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
        let mut new =
            json!({"metadata": {"name": "a"}, "spec": {}, "status": {"phase": "Terminating"}});
        ns.prepare_for_status_update(&mut new, &old);
        assert_eq!(new["spec"], old["spec"]);
        let errs: Vec<String> = ns
            .validate_status_update(&new, &old)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errs,
            vec!["status.Phase: Invalid value: \"Terminating\": may only be 'Active' if `deletionTimestamp` is empty"]
        );

        let pods = strategy("", "pods");
        let old = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {}, "status": {"phase": "Pending", "qosClass": "BestEffort"}});
        let mut new = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {}, "status": {"phase": "Running"}});
        pods.prepare_for_status_update(&mut new, &old);
        assert_eq!(
            new["status"],
            json!({"phase": "Running", "qosClass": "BestEffort"})
        );

        let crds = strategy("apiextensions.k8s.io", "customresourcedefinitions");
        let mut crd = json!({"metadata": {"name": "widgets.example.com"}, "spec": {"group": "example.com", "names": {"plural": "widgets"},
            "versions": [{"name": "v1", "storage": true}, {"name": "v1beta1", "storage": false}]}});
        crds.prepare_for_create(&mut crd);
        assert_eq!(crd["status"], json!({"storedVersions": ["v1"]}));
        assert_eq!(crd["metadata"]["generation"], 1);

        let nodes = strategy("", "nodes");
        let mut node = json!({"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "2"}}});
        nodes.prepare_for_create(&mut node);
        assert_eq!(
            node["status"],
            json!({"capacity": {"cpu": "2"}, "allocatable": {"cpu": "2"}})
        );
        assert!(crds.validate_create(&crd).is_empty());
        let bad = json!({"metadata": {"name": "w.example.com"}, "spec": {"group": "example.com", "names": {"plural": "widgets"}}});
        assert_eq!(crds.validate_create(&bad).len(), 1);
    }

    #[test]
    fn generic_strategy_validates_metadata_only() {
        let s = strategy("example.com", "widgets");
        let mut obj = json!({"metadata": {"name": "w"}, "spec": {"anything": 1}});
        let before = obj.clone();
        s.default(&mut obj);
        s.prepare_for_create(&mut obj);
        assert_eq!(obj, before);
        assert!(s.validate_create(&obj).is_empty());
        let bad = json!({"metadata": {"name": "W"}});
        let errs = s.validate_create(&bad);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].reason(), "FieldValueInvalid");
        assert_eq!(errs[0].field, "metadata.name");
    }
}
