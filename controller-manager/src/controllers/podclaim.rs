//! Pod ownership for the DaemonSet and StatefulSet controllers: upstream
//! `PodControllerRefManager.ClaimPods` (pkg/controller/controller_ref_manager.go) — owned
//! and matching pods stay, matching orphans are adopted (after a fresh read shows the owner
//! alive, upstream `RecheckDeletionTimestamp`), owned pods that stopped matching are released.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Patch, PatchParams};
use kube::Api;
use rudder_api::labels::Selector;
use serde_json::json;

use super::{controller_of, is_not_found};

/// The controller reference an apps/v1 owner puts on what it creates (upstream
/// `metav1.NewControllerRef`).
pub fn controller_ref(kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: kind.into(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The parsed selector of a workload; `None` when it does not parse.
pub fn parse_selector(
    sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> Option<Selector> {
    let v = serde_json::to_value(sel).ok()?;
    Selector::from_label_selector(&v).ok()
}

/// Claims `pods` for the owner `owner` (meta) whose controller reference is `owner_ref`.
/// `recheck` re-reads the owner from the apiserver and says whether it is still the same,
/// undeleted object; it runs at most once, before the first adoption.
pub async fn claim_pods<R>(
    client: &kube::Client,
    owner: &ObjectMeta,
    owner_ref: &OwnerReference,
    selector: &Selector,
    pods: Vec<Arc<Pod>>,
    recheck: impl FnOnce() -> R,
) -> Result<Vec<Arc<Pod>>, kube::Error>
where
    R: Future<Output = Result<bool, kube::Error>>,
{
    let uid = owner.uid.as_deref().unwrap_or_default();
    let ns = owner.namespace.as_deref().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let empty = BTreeMap::new();
    let mut claimed = Vec::new();
    let mut recheck = Some(recheck);
    let mut can_adopt: Option<bool> = None;
    let owner_deleting = owner.deletion_timestamp.is_some();
    for pod in pods {
        let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
        let matches = !selector.is_empty() && selector.matches(labels);
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
        match controller_of(&pod.metadata) {
            Some(r) if r.uid == uid => {
                if matches {
                    claimed.push(pod);
                } else if !owner_deleting {
                    let patch = json!({"metadata": {
                        "ownerReferences": [{"$patch": "delete", "uid": uid}],
                        "uid": pod_uid,
                    }});
                    match api
                        .patch(&pod_name, &PatchParams::default(), &Patch::Strategic(patch))
                        .await
                    {
                        Ok(_) => {}
                        // Gone or replaced by another pod of that name: nothing to release.
                        Err(e) if is_not_found(&e) || is_invalid(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Some(_) => {}
            None => {
                if !matches || owner_deleting || pod.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                if can_adopt.is_none() {
                    let f = recheck.take().expect("recheck runs once");
                    can_adopt = Some(f().await?);
                }
                if can_adopt != Some(true) {
                    continue;
                }
                let patch = json!({"metadata": {
                    "ownerReferences": [owner_ref],
                    "uid": pod_uid,
                }});
                match api
                    .patch(&pod_name, &PatchParams::default(), &Patch::Strategic(patch))
                    .await
                {
                    Ok(p) => claimed.push(Arc::new(p)),
                    Err(e) if is_not_found(&e) || is_invalid(&e) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(claimed)
}

fn is_invalid(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 422)
}
