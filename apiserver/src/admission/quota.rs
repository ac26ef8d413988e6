//! ResourceQuota admission, mirroring upstream plugin/pkg/admission/resourcequota: a
//! create (or an update of pods, services and claims, charged by the non-negative delta)
//! that would take any quota of the namespace over its `status.hard` is refused with 403
//! and upstream's message; a compute quota requires every container to state the limited
//! resources. Admitted requests are charged into the quotas' `status.used` with a
//! compare-and-swap on each quota's revision, so concurrent creates cannot overshoot; the
//! resourcequota controller later recomputes `used` from what really exists (a charged
//! request that then failed is corrected there, as upstream).

use std::collections::BTreeSet;

use serde_json::Value;

use rudder_api::catalog;
use rudder_api::quota::{self, Usage};
use rudder_storage::{ListOptions, StorageError};

use crate::object;
use crate::resources::Ctx;
use crate::status::{from_storage, group_resource, ApiError, ApiResult};
use crate::watchcache::CachedObject;

/// How often a charge is retried against a quota that changed meanwhile.
const MAX_CONFLICT_RETRIES: usize = 10;

/// Checks `obj` (with `old` on update) against every quota of its namespace and charges
/// the admitted usage.
pub async fn admit(ctx: &Ctx, obj: &Value, old: Option<&Value>) -> ApiResult<()> {
    let (group, plural) = (ctx.res.group, ctx.res.plural);
    if !ctx.res.namespaced {
        return Ok(());
    }
    if old.is_some()
        && !matches!(
            (group, plural),
            ("", "pods" | "services" | "persistentvolumeclaims")
        )
    {
        // Upstream's object-count evaluator handles creates only.
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp();
    let mut delta = quota::usage(group, plural, obj, now);
    if let Some(old) = old {
        // Charge what grows (upstream SubtractWithNonNegativeResult).
        let prev = quota::usage(group, plural, old, now);
        for (k, v) in delta.iter_mut() {
            *v = (*v - prev.get(k).copied().unwrap_or(0)).max(0);
        }
    }
    if delta.values().all(|v| *v == 0) {
        return Ok(());
    }
    let ns = object::namespace(obj).unwrap_or("").to_string();
    let name = object::name(obj).unwrap_or("").to_string();
    let forbidden = |msg: String| {
        ApiError::forbidden(format!(
            "{} \"{name}\" is forbidden: {msg}",
            group_resource(group, plural)
        ))
    };
    let dry_run = !ctx.query.all("dryRun").is_empty();
    let rq = catalog::lookup("", "v1", "resourcequotas").expect("resourcequotas in catalog");
    let prefix = format!("{}{ns}/", crate::server::resource_prefix(rq));
    let list = ctx
        .server
        .store
        .list(&prefix, &ListOptions::default())
        .await
        .map_err(|e| from_storage(e, "", "resourcequotas", ""))?;
    // First check every quota, then charge them: a refusal by one charges none.
    let mut charges = Vec::new();
    for kv in &list.items {
        let Ok(q) = CachedObject::from_kv(kv) else {
            continue;
        };
        if check(&q.object, group, plural, obj, &delta)
            .map_err(&forbidden)?
            .is_some()
        {
            charges.push(q);
        }
    }
    if dry_run {
        return Ok(());
    }
    for mut q in charges {
        let mut attempts = 0;
        // Re-checked against the latest quota after each conflict.
        while let Some(new_used) =
            check(&q.object, group, plural, obj, &delta).map_err(&forbidden)?
        {
            let mut updated = q.object.clone();
            updated["status"]["used"] = quota::to_list(&new_used);
            let bytes = object::prepare_for_storage(&updated);
            match ctx.server.store.update(&q.key, bytes, q.revision).await {
                Ok(_) => break,
                Err(StorageError::Conflict { .. }) if attempts < MAX_CONFLICT_RETRIES => {
                    attempts += 1;
                    let qname = object::name(&q.object).unwrap_or("").to_string();
                    let Some(kv) = ctx
                        .server
                        .store
                        .get(&q.key)
                        .await
                        .map_err(|e| from_storage(e, "", "resourcequotas", &qname))?
                    else {
                        break;
                    };
                    q = CachedObject::from_kv(&kv).map_err(ApiError::internal)?;
                }
                Err(e) => {
                    let qname = object::name(&q.object).unwrap_or("").to_string();
                    return Err(from_storage(e, "", "resourcequotas", &qname));
                }
            }
        }
    }
    Ok(())
}

/// Checks one quota (upstream `checkRequest` for one quota): `Ok(None)` when it does not
/// constrain this request, `Ok(Some(used))` with the charged usage when it admits it, and
/// `Err(message)` when it refuses.
fn check(
    q: &Value,
    group: &str,
    plural: &str,
    obj: &Value,
    delta: &Usage,
) -> Result<Option<Usage>, String> {
    let qname = object::name(q).unwrap_or("");
    let hard = quota::parse_list(q.pointer("/status/hard"));
    if hard.is_empty() || !quota::scopes_match(q, group, plural, obj) {
        return Ok(None);
    }
    let restricted: BTreeSet<String> = hard
        .keys()
        .filter(|k| quota::covers(group, plural, k))
        .cloned()
        .collect();
    if restricted.is_empty() {
        return Ok(None);
    }
    if (group, plural) == ("", "pods") {
        quota::pod_constraints(&restricted, obj)
            .map_err(|e| format!("failed quota: {qname}: {e}"))?;
    }
    let used = quota::parse_list(q.pointer("/status/used"));
    let unknown: Vec<&str> = restricted
        .iter()
        .filter(|r| !used.contains_key(*r))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "status unknown for quota: {qname}, resources: {}",
            unknown.join(",")
        ));
    }
    let requested: Usage = delta
        .iter()
        .filter(|(k, _)| hard.contains_key(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    if requested.is_empty() {
        return Ok(None);
    }
    let exceeded: BTreeSet<&String> = requested
        .iter()
        .filter(|(k, v)| used.get(*k).copied().unwrap_or(0) + **v > hard[*k])
        .map(|(k, _)| k)
        .collect();
    if !exceeded.is_empty() {
        let mask = |u: &Usage| -> Usage {
            u.iter()
                .filter(|(k, _)| exceeded.contains(k))
                .map(|(k, v)| (k.clone(), *v))
                .collect()
        };
        return Err(format!(
            "exceeded quota: {qname}, requested: {}, used: {}, limited: {}",
            quota::pretty(&mask(&requested)),
            quota::pretty(&mask(&used)),
            quota::pretty(&mask(&hard))
        ));
    }
    let mut new_used = used;
    for (k, v) in requested {
        *new_used.entry(k).or_insert(0) += v;
    }
    Ok(Some(new_used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rq(hard: Value, used: Value) -> Value {
        json!({"metadata": {"name": "compute-resources"}, "spec": {"hard": hard},
            "status": {"hard": hard, "used": used}})
    }

    #[test]
    fn check_table() {
        let pod = json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}}]}});
        let d = quota::usage("", "pods", &pod, 0);
        // Full.
        let q = rq(json!({"pods": "2"}), json!({"pods": "2"}));
        assert_eq!(
            check(&q, "", "pods", &pod, &d).unwrap_err(),
            "exceeded quota: compute-resources, requested: pods=1, used: pods=2, limited: pods=2"
        );
        // Room: charged.
        let q = rq(
            json!({"pods": "2", "requests.cpu": "2"}),
            json!({"pods": "1", "requests.cpu": "500m"}),
        );
        let used = check(&q, "", "pods", &pod, &d).unwrap().unwrap();
        assert_eq!(quota::pretty(&used), "pods=2,requests.cpu=1500m");
        // Not observed yet by the controller: no status.hard, no constraint.
        let q = json!({"metadata": {"name": "x"}, "spec": {"hard": {"pods": "0"}}});
        assert!(check(&q, "", "pods", &pod, &d).unwrap().is_none());
        // Used missing for a constrained resource.
        let q = rq(json!({"pods": "2"}), json!({}));
        assert_eq!(
            check(&q, "", "pods", &pod, &d).unwrap_err(),
            "status unknown for quota: compute-resources, resources: pods"
        );
        // Other kinds are not constrained by pod quotas.
        let cm = quota::usage("", "configmaps", &json!({}), 0);
        let q = rq(json!({"pods": "0"}), json!({"pods": "0"}));
        assert!(check(&q, "", "configmaps", &json!({}), &cm)
            .unwrap()
            .is_none());
        // Compute quota requires limits.
        let bare = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let q = rq(json!({"limits.cpu": "2"}), json!({"limits.cpu": "0"}));
        assert_eq!(
            check(&q, "", "pods", &bare, &quota::usage("", "pods", &bare, 0)).unwrap_err(),
            "failed quota: compute-resources: must specify limits.cpu for: a,b"
        );
    }
}
