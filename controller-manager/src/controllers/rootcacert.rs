//! Root CA certificate publisher (upstream pkg/controller/certificates/rootcacertpublisher):
//! every namespace has a ConfigMap `kube-root-ca.crt` whose `ca.crt` is the cluster CA, with
//! the upstream `kubernetes.io/description` annotation. Namespace adds/updates and changes
//! or deletions of that ConfigMap enqueue the namespace; a sync creates the ConfigMap or
//! rewrites its data and annotation if they drifted.
//!
//! The CA comes from `--root-ca-file`, else from the kubeconfig's certificate authority,
//! as upstream (which falls back to the client's CA data). Without either, the controller
//! fails to start instead of publishing nothing.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;

use super::{is_namespace_terminating, is_not_found, run_workers, ControllerError, Requeue};
use crate::informer::Notification;
use crate::ControllerContext;

/// Upstream `RootCACertConfigMapName`.
pub const CONFIG_MAP_NAME: &str = "kube-root-ca.crt";
/// Upstream `DescriptionAnnotation`.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
/// Upstream `Description`.
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// Starts the publisher with one worker (as upstream).
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let Some(ca) = ctx.root_ca.clone() else {
        return Err(ControllerError::Config(
            "no root CA: pass --root-ca-file or a kubeconfig with certificate-authority data"
                .into(),
        ));
    };
    let queue = ctx.work_queue("root_ca_cert_publisher");
    let q = queue.clone();
    let cm_informer = ctx.informers.subscribe::<ConfigMap>(move |n| {
        // Creation is ours; edits and deletions by others are repaired.
        let cm = match &n {
            Notification::Added(_) => return,
            Notification::Updated { new, .. } => new,
            Notification::Deleted(old) => old,
        };
        if cm.metadata.name.as_deref() == Some(CONFIG_MAP_NAME) {
            if let Some(ns) = cm.metadata.namespace.clone() {
                q.add(ns);
            }
        }
    });
    let q = queue.clone();
    let ns_informer = ctx.informers.subscribe::<Namespace>(move |n| match n {
        Notification::Added(ns) | Notification::Updated { new: ns, .. } => {
            q.add(ns.metadata.name.clone().unwrap_or_default());
        }
        Notification::Deleted(_) => {}
    });
    cm_informer.synced().await;
    ns_informer.synced().await;
    let cms = cm_informer.store.clone();
    let client = ctx.client.clone();
    run_workers(
        "root-ca-certificate-publisher-controller",
        queue,
        1,
        move |ns| {
            let (cms, client, ca) = (cms.clone(), client.clone(), ca.clone());
            async move { sync_namespace(&client, &cms, &ca, &ns).await }
        },
    )
    .await;
    drop((cm_informer, ns_informer));
    Ok(())
}

/// The data every namespace's ConfigMap must hold.
pub fn desired_data(ca: &str) -> BTreeMap<String, String> {
    [("ca.crt".to_string(), ca.to_string())].into()
}

async fn sync_namespace(
    client: &kube::Client,
    configmaps: &Store<ConfigMap>,
    ca: &str,
    ns: &str,
) -> Result<Requeue, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let data = desired_data(ca);
    let Some(cm) = configmaps.get(&ObjectRef::new(CONFIG_MAP_NAME).within(ns)) else {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(CONFIG_MAP_NAME.into()),
                annotations: Some(
                    [(DESCRIPTION_ANNOTATION.to_string(), DESCRIPTION.to_string())].into(),
                ),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        return match api.create(&PostParams::default(), &cm).await {
            Ok(_) => Ok(Requeue::No),
            // Upstream does not retry when the namespace is gone or terminating.
            Err(e) if is_not_found(&e) || is_namespace_terminating(&e) => Ok(Requeue::No),
            Err(e) => Err(e),
        };
    };
    let has_description = cm
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DESCRIPTION_ANNOTATION))
        .is_some_and(|d| !d.is_empty());
    if cm.data.as_ref() == Some(&data) && has_description {
        return Ok(Requeue::No);
    }
    let mut cm = (*cm).clone();
    cm.data = Some(data);
    cm.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(DESCRIPTION_ANNOTATION.into(), DESCRIPTION.into());
    api.replace(CONFIG_MAP_NAME, &PostParams::default(), &cm)
        .await?;
    Ok(Requeue::No)
}
