//! Namespace controller (upstream pkg/controller/namespace): empties a terminating
//! namespace and then removes the `kubernetes` finalizer through
//! `PUT /api/v1/namespaces/NAME/finalize`, after which the apiserver deletes it.
//!
//! A sync mirrors upstream `NamespacedResourcesDeleter.Delete`:
//! 1. nothing to do unless `metadata.deletionTimestamp` is set and `spec.finalizers`
//!    holds `kubernetes`;
//! 2. discover every namespaced resource (preferred version of each group) that supports
//!    `list` and `delete`/`deletecollection`, and delete its objects in the namespace
//!    (DELETE collection where served, else one by one), in the background;
//! 3. list again: what remains, and which finalizers hold it, becomes the upstream status
//!    conditions (`NamespaceDeletionDiscoveryFailure`, `NamespaceDeletionGroupVersionParsingFailure`,
//!    `NamespaceDeletionContentFailure`, `NamespaceContentRemaining`,
//!    `NamespaceFinalizersRemaining`) with upstream reasons and messages;
//! 4. if nothing remains, finalize; otherwise retry after the longest remaining pod grace
//!    period (at least a second), as upstream requeues with its estimate.
//!
//! Pods are deleted first and everything else only once no pod remains, as upstream's
//! OrderedNamespaceDeletion (KEP-5080).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, DynamicObject, ListParams, PostParams};
use kube::discovery::{verbs, ApiCapabilities, ApiResource, Discovery, Scope};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;

use super::{is_not_found, run_workers, ControllerError, Requeue};
use crate::informer::Notification;
use crate::ControllerContext;

/// The finalizer this controller owns (upstream `FinalizerKubernetes`).
pub const FINALIZER: &str = "kubernetes";

/// Errors of one sync; all are retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// an API call failed
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// building the finalize request failed
    #[error("building finalize request: {0}")]
    Request(String),
}

/// Starts the informer and `--concurrent-namespace-syncs` workers.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("namespace");
    let q = queue.clone();
    let informer = ctx.informers.subscribe::<Namespace>(move |n| match n {
        Notification::Added(ns) | Notification::Updated { new: ns, .. } => {
            if ns.metadata.deletion_timestamp.is_some() {
                q.add(ns.metadata.name.clone().unwrap_or_default());
            }
        }
        Notification::Deleted(_) => {}
    });
    informer.synced().await;
    // Upstream resyncs every namespace each --namespace-sync-period, so a terminating
    // namespace is retried even without events.
    let _resync = super::AbortOnDrop({
        let (store, queue, period) = (
            informer.store.clone(),
            queue.clone(),
            ctx.options.namespace_sync_period,
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period.max(Duration::from_secs(1))).await;
                for ns in store.state() {
                    if ns.metadata.deletion_timestamp.is_some() {
                        queue.add(ns.metadata.name.clone().unwrap_or_default());
                    }
                }
            }
        })
    });
    let store = informer.store.clone();
    let client = ctx.client.clone();
    run_workers(
        "namespace-controller",
        queue,
        ctx.options.concurrent_namespace_syncs,
        move |name| {
            let (store, client) = (store.clone(), client.clone());
            async move { sync(&client, &store, &name).await }
        },
    )
    .await;
    drop(informer);
    Ok(())
}

/// What one deletion pass found, per upstream condition.
#[derive(Debug, Default)]
pub struct DeletionOutcome {
    /// Groups whose discovery failed.
    pub discovery_errors: Vec<String>,
    /// Deletion errors.
    pub content_errors: Vec<String>,
    /// `resource.group` -> objects still present.
    pub remaining: BTreeMap<String, usize>,
    /// finalizer -> objects it holds.
    pub finalizers: BTreeMap<String, usize>,
    /// Longest grace period of remaining pods, in seconds.
    pub estimate: i64,
}

async fn sync(
    client: &kube::Client,
    store: &Store<Namespace>,
    name: &str,
) -> Result<Requeue, NamespaceError> {
    let Some(cached) = store.get(&ObjectRef::new(name)) else {
        return Ok(Requeue::No);
    };
    if cached.metadata.deletion_timestamp.is_none() {
        return Ok(Requeue::No);
    }
    // Upstream re-reads the namespace before acting on it.
    let api: Api<Namespace> = Api::all(client.clone());
    let Some(ns) = api.get_opt(name).await? else {
        return Ok(Requeue::No);
    };
    let has_finalizer = ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|f| f == FINALIZER));
    if ns.metadata.deletion_timestamp.is_none() || !has_finalizer {
        return Ok(Requeue::No);
    }

    let outcome = delete_all_content(client, name).await;
    let conditions = conditions(&outcome, Timestamp::now());
    update_conditions(&api, &ns, conditions).await?;

    if !outcome.discovery_errors.is_empty() || !outcome.content_errors.is_empty() {
        return Err(NamespaceError::Request(format!(
            "deleting content of namespace {name:?}: {}",
            outcome
                .discovery_errors
                .iter()
                .chain(&outcome.content_errors)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    if !outcome.remaining.is_empty() {
        return Ok(Requeue::After(Duration::from_secs(
            outcome.estimate.max(1) as u64
        )));
    }
    finalize(client, &api, name).await?;
    Ok(Requeue::No)
}

/// Deletes every namespaced object in `ns` and reports what is left.
pub async fn delete_all_content(client: &kube::Client, ns: &str) -> DeletionOutcome {
    let mut out = DeletionOutcome::default();
    let discovery = match Discovery::new(client.clone()).run().await {
        Ok(d) => d,
        Err(e) => {
            out.discovery_errors.push(e.to_string());
            return out;
        }
    };
    let mut resources: Vec<(ApiResource, ApiCapabilities)> = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if caps.scope == Scope::Namespaced
                && caps.supports_operation(verbs::LIST)
                && (caps.supports_operation(verbs::DELETE)
                    || caps.supports_operation(verbs::DELETE_COLLECTION))
            {
                resources.push((ar, caps));
            }
        }
    }
    // OrderedNamespaceDeletion (KEP-5080, on by default since 1.33): pods go first, and
    // nothing else is deleted while any pod remains, so workloads never outlive the
    // objects (secrets, configmaps, service accounts) they use.
    resources.sort_by_key(|(ar, _)| !(ar.group.is_empty() && ar.plural == "pods"));
    for (ar, caps) in &resources {
        let is_pods = ar.group.is_empty() && ar.plural == "pods";
        if !is_pods && out.remaining.contains_key("pods.") {
            break;
        }
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, ar);
        let gr = format!("{}.{}", ar.plural, ar.group);
        let dp = DeleteParams::background();
        if caps.supports_operation(verbs::DELETE_COLLECTION) {
            if let Err(e) = api.delete_collection(&dp, &ListParams::default()).await {
                if !is_not_found(&e) {
                    out.content_errors.push(format!("{gr}: {e}"));
                }
            }
        } else {
            match api.list(&ListParams::default()).await {
                Ok(list) => {
                    for obj in list.items {
                        let n = obj.metadata.name.clone().unwrap_or_default();
                        if let Err(e) = api.delete(&n, &dp).await {
                            if !is_not_found(&e) {
                                out.content_errors.push(format!("{gr}: {e}"));
                            }
                        }
                    }
                }
                Err(e) => out.content_errors.push(format!("{gr}: {e}")),
            }
        }
        // What is left after the deletion request.
        match api.list(&ListParams::default()).await {
            Ok(list) if !list.items.is_empty() => {
                out.remaining.insert(gr.clone(), list.items.len());
                for obj in &list.items {
                    for f in obj.metadata.finalizers.iter().flatten() {
                        *out.finalizers.entry(f.clone()).or_default() += 1;
                    }
                    if ar.plural == "pods" && ar.group.is_empty() {
                        let grace = obj.metadata.deletion_grace_period_seconds.unwrap_or(0);
                        out.estimate = out.estimate.max(grace);
                    }
                }
            }
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => out.content_errors.push(format!("{gr}: {e}")),
        }
    }
    out
}

fn cond(
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    now: Timestamp,
) -> NamespaceCondition {
    NamespaceCondition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: Some(Time(now)),
    }
}

/// The five upstream deletion conditions for an outcome (upstream
/// `namespaceConditionUpdater`; reasons and messages as upstream).
pub fn conditions(o: &DeletionOutcome, now: Timestamp) -> Vec<NamespaceCondition> {
    let mut v = Vec::new();
    v.push(if o.discovery_errors.is_empty() {
        cond(
            "NamespaceDeletionDiscoveryFailure",
            false,
            "ResourcesDiscovered",
            "All resources successfully discovered".into(),
            now,
        )
    } else {
        cond(
            "NamespaceDeletionDiscoveryFailure",
            true,
            "DiscoveryFailed",
            format!(
                "Discovery failed for some groups: {}",
                o.discovery_errors.join(", ")
            ),
            now,
        )
    });
    v.push(cond(
        "NamespaceDeletionGroupVersionParsingFailure",
        false,
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed".into(),
        now,
    ));
    v.push(if o.content_errors.is_empty() {
        cond(
            "NamespaceDeletionContentFailure",
            false,
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization".into(),
            now,
        )
    } else {
        cond(
            "NamespaceDeletionContentFailure",
            true,
            "ContentDeletionFailed",
            format!(
                "Failed to delete all resource types, {} remaining: {}",
                o.content_errors.len(),
                o.content_errors.join(", ")
            ),
            now,
        )
    });
    v.push(if o.remaining.is_empty() {
        cond(
            "NamespaceContentRemaining",
            false,
            "ContentRemoved",
            "All content successfully removed".into(),
            now,
        )
    } else {
        let items: Vec<String> = o
            .remaining
            .iter()
            .map(|(gr, n)| format!("{gr} has {n} resource instances"))
            .collect();
        cond(
            "NamespaceContentRemaining",
            true,
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", items.join(", ")),
            now,
        )
    });
    v.push(if o.finalizers.is_empty() {
        cond(
            "NamespaceFinalizersRemaining",
            false,
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished".into(),
            now,
        )
    } else {
        let items: Vec<String> = o
            .finalizers
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        cond(
            "NamespaceFinalizersRemaining",
            true,
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                items.join(", ")
            ),
            now,
        )
    });
    v
}

/// Writes the conditions through namespaces/status when they changed, keeping
/// lastTransitionTime of conditions whose status did not change.
async fn update_conditions(
    api: &Api<Namespace>,
    ns: &Namespace,
    mut wanted: Vec<NamespaceCondition>,
) -> Result<(), kube::Error> {
    let current = ns
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut changed = false;
    for w in &mut wanted {
        match current.iter().find(|c| c.type_ == w.type_) {
            Some(c) if c.status == w.status => {
                w.last_transition_time = c.last_transition_time.clone();
                if c.reason != w.reason || c.message != w.message {
                    changed = true;
                }
            }
            _ => changed = true,
        }
    }
    if !changed {
        return Ok(());
    }
    let mut next = ns.clone();
    let status = next.status.get_or_insert_with(Default::default);
    let mut conds: Vec<NamespaceCondition> = current
        .into_iter()
        .filter(|c| !wanted.iter().any(|w| w.type_ == c.type_))
        .collect();
    conds.extend(wanted);
    status.conditions = Some(conds);
    match api
        .replace_status(
            ns.metadata.name.as_deref().unwrap_or_default(),
            &PostParams::default(),
            &next,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes the `kubernetes` finalizer via the finalize subresource (upstream
/// `finalizeNamespace`), re-reading on conflict.
async fn finalize(
    client: &kube::Client,
    api: &Api<Namespace>,
    name: &str,
) -> Result<(), NamespaceError> {
    let Some(mut ns) = api.get_opt(name).await? else {
        return Ok(());
    };
    let spec = ns.spec.get_or_insert_with(Default::default);
    let finalizers: Vec<String> = spec
        .finalizers
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f != FINALIZER)
        .collect();
    spec.finalizers = Some(finalizers);
    let body = serde_json::to_vec(&ns).map_err(|e| NamespaceError::Request(e.to_string()))?;
    let req = http::Request::put(format!("/api/v1/namespaces/{name}/finalize"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| NamespaceError::Request(e.to_string()))?;
    match client.request::<Namespace>(req).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_table() {
        let now = Timestamp::from_second(0).unwrap();
        let clean = conditions(&DeletionOutcome::default(), now);
        let got: Vec<(&str, &str, &str)> = clean
            .iter()
            .map(|c| {
                (
                    c.type_.as_str(),
                    c.status.as_str(),
                    c.reason.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "NamespaceDeletionDiscoveryFailure",
                    "False",
                    "ResourcesDiscovered"
                ),
                (
                    "NamespaceDeletionGroupVersionParsingFailure",
                    "False",
                    "ParsedGroupVersions"
                ),
                ("NamespaceDeletionContentFailure", "False", "ContentDeleted"),
                ("NamespaceContentRemaining", "False", "ContentRemoved"),
                (
                    "NamespaceFinalizersRemaining",
                    "False",
                    "ContentHasNoFinalizers"
                ),
            ]
        );

        let o = DeletionOutcome {
            remaining: [("pods.".to_string(), 2), ("configmaps.".to_string(), 1)].into(),
            finalizers: [("example.com/hold".to_string(), 1)].into(),
            ..Default::default()
        };
        let c = conditions(&o, now);
        assert_eq!(
            c[3].message.as_deref(),
            Some("Some resources are remaining: configmaps. has 1 resource instances, pods. has 2 resource instances")
        );
        assert_eq!(c[3].reason.as_deref(), Some("SomeResourcesRemain"));
        assert_eq!(
            c[4].message.as_deref(),
            Some("Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
        );
    }
}
