//! ServiceAccounts controller (upstream pkg/controller/serviceaccount,
//! `serviceaccounts_controller.go`): every active namespace has a ServiceAccount named
//! `default`. Namespace adds/updates and ServiceAccount deletions enqueue the namespace;
//! a sync creates the missing account, ignoring AlreadyExists and namespaces that are
//! gone or terminating (upstream does the same, and runs one worker).

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;

use super::{is_conflict, is_not_found, run_workers, ControllerError, Requeue};
use crate::informer::Notification;
use crate::ControllerContext;

/// The accounts ensured in every namespace (upstream `DefaultServiceAccountsControllerOptions`).
pub const SERVICE_ACCOUNTS: &[&str] = &["default"];

/// Starts the controller with one worker.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("serviceaccount");
    let q = queue.clone();
    let sa_informer = ctx.informers.subscribe::<ServiceAccount>(move |n| {
        // Only deletions matter: a removed `default` account is recreated.
        if let Notification::Deleted(sa) = n {
            if let Some(ns) = sa.metadata.namespace.clone() {
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
    sa_informer.synced().await;
    ns_informer.synced().await;
    let sas = sa_informer.store.clone();
    let nss = ns_informer.store.clone();
    let client = ctx.client.clone();
    run_workers("serviceaccount-controller", queue, 1, move |ns| {
        let (sas, nss, client) = (sas.clone(), nss.clone(), client.clone());
        async move { sync_namespace(&client, &nss, &sas, &ns).await }
    })
    .await;
    drop((sa_informer, ns_informer));
    Ok(())
}

async fn sync_namespace(
    client: &kube::Client,
    namespaces: &Store<Namespace>,
    accounts: &Store<ServiceAccount>,
    ns: &str,
) -> Result<Requeue, kube::Error> {
    let Some(namespace) = namespaces.get(&ObjectRef::new(ns)) else {
        return Ok(Requeue::No);
    };
    let phase = namespace.status.as_ref().and_then(|s| s.phase.as_deref());
    if phase.is_some_and(|p| p != "Active") || namespace.metadata.deletion_timestamp.is_some() {
        return Ok(Requeue::No);
    }
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    for name in SERVICE_ACCOUNTS {
        if accounts.get(&ObjectRef::new(name).within(ns)).is_some() {
            continue;
        }
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some((*name).to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => {}
            Err(e) if is_conflict(&e) || is_not_found(&e) || is_forbidden(&e) => {
                // Already there, namespace gone, or namespace terminating.
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Requeue::No)
}

fn is_forbidden(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403)
}
