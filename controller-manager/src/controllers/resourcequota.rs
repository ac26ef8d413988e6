//! resourcequota-controller: keeps ResourceQuota `status.hard` (= `spec.hard`) and
//! `status.used` current, mirroring upstream pkg/controller/resourcequota.
//!
//! Usage is computed with the evaluators shared with the apiserver's admission
//! ([`rudder_api::quota`]): pods (compute resources, `pods`, honouring the quota's scopes),
//! services (`services`, `services.loadbalancers`, `services.nodeports`), claims
//! (`requests.storage`, `persistentvolumeclaims`), the legacy counts (configmaps, secrets,
//! replicationcontrollers, resourcequotas) and `count/<resource>.<group>` for any resource.
//! Changes of pods, services, configmaps, secrets, claims and replication controllers
//! recalculate the quotas of their namespace (upstream's replenishment); every quota is
//! recalculated every `--resource-quota-sync-period` (upstream's full resync), which is also
//! what catches `count/` resources watched by no informer here.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, ReplicationController, ResourceQuota,
    ResourceQuotaStatus, Secret, Service,
};
use kube::api::PostParams;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;
use rudder_api::quota::{self, Usage};
use serde::Serialize;

use super::{run_workers, AbortOnDrop, ControllerError, Requeue};
use crate::informer::{key_of, split_key, Informer, Notification, SharedInformerFactory};
use crate::queue::WorkQueue;
use crate::ControllerContext;

/// Upstream name.
pub const NAME: &str = "resourcequota-controller";

/// Why a quota could not be recalculated.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// an API call failed
    #[error(transparent)]
    Api(#[from] kube::Error),
    /// an object could not be turned into JSON
    #[error("encoding object: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The caches of the kinds whose usage is computed from informers.
#[derive(Clone)]
struct Caches {
    pods: Store<Pod>,
    services: Store<Service>,
    configmaps: Store<ConfigMap>,
    secrets: Store<Secret>,
    claims: Store<PersistentVolumeClaim>,
    rcs: Store<ReplicationController>,
    quotas: Store<ResourceQuota>,
}

#[derive(Clone)]
struct Controller {
    client: kube::Client,
    caches: Caches,
}

/// Subscribes a handler that recalculates every quota of the namespace when usage there
/// may have dropped: a deletion, or an update that changes the object's usage (a pod
/// turning terminal). Creations are charged by the apiserver's admission, so they are not
/// recalculated here: recomputing from caches that have not seen the new object yet would
/// undo the charge (upstream's replenishment controller reacts to the same two cases).
fn replenish<K>(
    informers: &SharedInformerFactory,
    quotas: Store<ResourceQuota>,
    queue: WorkQueue,
    group: &'static str,
    plural: &'static str,
) -> Informer<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    informers.subscribe::<K>(move |n: Notification<K>| {
        let changed = match &n {
            Notification::Added(_) => false,
            Notification::Deleted(_) => true,
            Notification::Updated { old, new } => {
                let now = chrono::Utc::now().timestamp();
                let u = |o: &K| {
                    serde_json::to_value(o)
                        .map(|v| quota::usage(group, plural, &v, now))
                        .unwrap_or_default()
                };
                u(old) != u(new)
            }
        };
        if !changed {
            return;
        }
        let ns = n.object().meta().namespace.clone();
        for q in quotas.state_filter(|q| q.metadata.namespace == ns) {
            queue.add(key_of(q.as_ref()));
        }
    })
}

/// Upstream's quota update filter: recalculate when the quota is new, its spec.hard
/// changed, or its status.hard disagrees with spec.hard — not on every status write
/// (admission charges would be recomputed away from caches that lag behind).
fn needs_sync(old: Option<&ResourceQuota>, new: &ResourceQuota) -> bool {
    let spec_hard = new.spec.as_ref().and_then(|s| s.hard.clone());
    let status_hard = new.status.as_ref().and_then(|s| s.hard.clone());
    let old_spec = old.and_then(|o| o.spec.as_ref().and_then(|s| s.hard.clone()));
    old.is_none() || old_spec != spec_hard || status_hard != spec_hard
}

/// Starts the informers, the periodic full resync and the workers.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("resourcequota_primary");
    let q = queue.clone();
    let quota_informer = ctx.informers.subscribe::<ResourceQuota>(move |n| match &n {
        Notification::Added(rq) => q.add(key_of(rq.as_ref())),
        Notification::Updated { old, new } => {
            if needs_sync(Some(old), new) {
                q.add(key_of(new.as_ref()));
            }
        }
        Notification::Deleted(_) => {}
    });
    let quotas = quota_informer.store.clone();
    let inf = &ctx.informers;
    let pods = replenish::<Pod>(inf, quotas.clone(), queue.clone(), "", "pods");
    let services = replenish::<Service>(inf, quotas.clone(), queue.clone(), "", "services");
    let configmaps = replenish::<ConfigMap>(inf, quotas.clone(), queue.clone(), "", "configmaps");
    let secrets = replenish::<Secret>(inf, quotas.clone(), queue.clone(), "", "secrets");
    let claims = replenish::<PersistentVolumeClaim>(
        inf,
        quotas.clone(),
        queue.clone(),
        "",
        "persistentvolumeclaims",
    );
    let rcs = replenish::<ReplicationController>(
        inf,
        quotas.clone(),
        queue.clone(),
        "",
        "replicationcontrollers",
    );
    quota_informer.synced().await;
    pods.synced().await;
    services.synced().await;
    configmaps.synced().await;
    secrets.synced().await;
    claims.synced().await;
    rcs.synced().await;
    let c = Controller {
        client: ctx.client.clone(),
        caches: Caches {
            pods: pods.store.clone(),
            services: services.store.clone(),
            configmaps: configmaps.store.clone(),
            secrets: secrets.store.clone(),
            claims: claims.store.clone(),
            rcs: rcs.store.clone(),
            quotas: quotas.clone(),
        },
    };
    // Upstream's full resync: every quota, every --resource-quota-sync-period.
    let period = ctx.options.resource_quota_sync_period;
    let (q, all) = (queue.clone(), quotas.clone());
    let _resync = AbortOnDrop(tokio::spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            for rq in all.state() {
                q.add(key_of(rq.as_ref()));
            }
        }
    }));
    run_workers(
        NAME,
        queue,
        ctx.options.concurrent_resource_quota_syncs,
        move |key| {
            let c = c.clone();
            async move { c.sync(&key).await }
        },
    )
    .await;
    drop((
        quota_informer,
        pods,
        services,
        configmaps,
        secrets,
        claims,
        rcs,
    ));
    Ok(())
}

/// Adds the usage of `objs` (of `group/plural`) to `used`, for the quota's hard resources
/// that evaluator covers and the objects its scopes select.
fn add_usage<T: Serialize>(
    used: &mut Usage,
    rq: &serde_json::Value,
    hard: &BTreeSet<String>,
    group: &str,
    plural: &str,
    objs: &[std::sync::Arc<T>],
    now: i64,
) -> Result<(), QuotaError> {
    let covered: Vec<&String> = hard
        .iter()
        .filter(|h| quota::covers(group, plural, h))
        .collect();
    if covered.is_empty() {
        return Ok(());
    }
    for o in objs {
        let v = serde_json::to_value(o.as_ref())?;
        if !quota::scopes_match(rq, group, plural, &v) {
            continue;
        }
        let u = quota::usage(group, plural, &v, now);
        for h in &covered {
            if let Some(x) = u.get(*h) {
                *used.entry((*h).clone()).or_insert(0) += x;
            }
        }
    }
    Ok(())
}

impl Controller {
    async fn sync(&self, key: &str) -> Result<Requeue, QuotaError> {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let Some(rq) = self.caches.quotas.get(&ObjectRef::new(name).within(ns)) else {
            return Ok(Requeue::No);
        };
        let rq_json = serde_json::to_value(rq.as_ref())?;
        let hard = quota::parse_list(rq_json.pointer("/spec/hard"));
        let hard_names: BTreeSet<String> = hard.keys().cloned().collect();
        // Every hard resource has a used entry, zero when nothing counts.
        let mut used: Usage = hard_names.iter().map(|h| (h.clone(), 0)).collect();
        let now = chrono::Utc::now().timestamp();
        let in_ns = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            m.namespace.as_deref() == Some(ns)
        };
        let c = &self.caches;
        let h = &hard_names;
        add_usage(
            &mut used,
            &rq_json,
            h,
            "",
            "pods",
            &c.pods.state_filter(|o| in_ns(&o.metadata)),
            now,
        )?;
        add_usage(
            &mut used,
            &rq_json,
            h,
            "",
            "services",
            &c.services.state_filter(|o| in_ns(&o.metadata)),
            now,
        )?;
        add_usage(
            &mut used,
            &rq_json,
            h,
            "",
            "configmaps",
            &c.configmaps.state_filter(|o| in_ns(&o.metadata)),
            now,
        )?;
        add_usage(
            &mut used,
            &rq_json,
            h,
            "",
            "secrets",
            &c.secrets.state_filter(|o| in_ns(&o.metadata)),
            now,
        )?;
        add_usage(
            &mut used,
            &rq_json,
            h,
            "",
            "persistentvolumeclaims",
            &c.claims.state_filter(|o| in_ns(&o.metadata)),
            now,
        )?;
        add_usage(
            &mut used,
            &rq_json,
            h,
            "",
            "replicationcontrollers",
            &c.rcs.state_filter(|o| in_ns(&o.metadata)),
            now,
        )?;
        add_usage(
            &mut used,
            &rq_json,
            h,
            "",
            "resourcequotas",
            &c.quotas.state_filter(|o| in_ns(&o.metadata)),
            now,
        )?;
        // Any other `count/<resource>.<group>`: a live list (upstream uses a generic
        // informer per resource discovered; here the full resync bounds staleness).
        const INFORMED: &[&str] = &[
            "pods",
            "services",
            "configmaps",
            "secrets",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "resourcequotas",
        ];
        for name in &hard_names {
            let Some(res) = name.strip_prefix("count/") else {
                continue;
            };
            let (plural, group) = res.split_once('.').unwrap_or((res, ""));
            if group.is_empty() && INFORMED.contains(&plural) {
                continue;
            }
            let Some(info) = rudder_api::catalog::all()
                .iter()
                .find(|r| r.group == group && r.plural == plural && r.namespaced)
            else {
                continue;
            };
            let base = if group.is_empty() {
                format!("/api/{}", info.version)
            } else {
                format!("/apis/{group}/{}", info.version)
            };
            let req = http::Request::get(format!("{base}/namespaces/{ns}/{plural}"))
                .body(Vec::new())
                .expect("static request");
            let list: serde_json::Value = self.client.request(req).await?;
            let n = list
                .get("items")
                .and_then(serde_json::Value::as_array)
                .map_or(0, Vec::len);
            used.insert(name.clone(), n as i128 * 1000);
        }
        let status = ResourceQuotaStatus {
            hard: serde_json::from_value(quota::to_list(&hard))?,
            used: serde_json::from_value(quota::to_list(&used))?,
        };
        let current = rq.status.clone().unwrap_or_default();
        let same = |a: &Option<
            std::collections::BTreeMap<
                String,
                k8s_openapi::apimachinery::pkg::api::resource::Quantity,
            >,
        >,
                    b: &Usage| {
            quota::parse_list(serde_json::to_value(a).ok().as_ref()) == *b
        };
        if same(&current.hard, &hard) && same(&current.used, &used) {
            return Ok(Requeue::No);
        }
        let mut next = (*rq).clone();
        next.status = Some(status);
        // The resourceVersion travels along: a concurrent admission charge wins, and the
        // conflict requeues this key to recompute from fresher caches.
        Api::<ResourceQuota>::namespaced(self.client.clone(), ns)
            .replace_status(name, &PostParams::default(), &next)
            .await?;
        Ok(Requeue::No)
    }
}
