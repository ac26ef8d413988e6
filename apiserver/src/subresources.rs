//! Subresources with their own semantics: scale (autoscaling/v1 Scale), pods/binding,
//! pods/eviction, namespaces/finalize. The kubelet-proxied subresources (log, exec, attach,
//! portforward, proxy) live in [`crate::kubelet_proxy`].

use http::{Method, Response};
use hyper::body::Incoming;
use serde_json::{json, Value};

use rudder_api::catalog;

use crate::http::{read_body, Body};
use crate::object;
use crate::resources::Ctx;
use crate::status::{success, ApiError, ApiResult};

/// The label selector of a workload as the string Scale.status.selector carries
/// (upstream's metav1.FormatLabelSelector; replication controllers have a plain map).
fn selector_string(obj: &Value) -> String {
    let sel = obj.pointer("/spec/selector");
    let mut parts = Vec::new();
    let match_labels = sel.and_then(|s| s.get("matchLabels")).or_else(|| {
        sel.filter(|s| s.get("matchExpressions").is_none() && s.get("matchLabels").is_none())
    });
    if let Some(m) = match_labels.and_then(Value::as_object) {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    for e in sel
        .and_then(|s| s.get("matchExpressions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match e.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => parts.push(format!("{key} in ({})", values.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    parts.join(",")
}

fn scale_of(obj: &Value) -> Value {
    let meta = object::meta(obj).cloned().unwrap_or_default();
    let mut m = serde_json::Map::new();
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(f) {
            m.insert(f.into(), v.clone());
        }
    }
    let mut status =
        json!({"replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0)});
    let sel = selector_string(obj);
    if !sel.is_empty() {
        status["selector"] = json!(sel);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": m,
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": status,
    })
}

/// GET/PUT/PATCH `<workload>/scale`.
pub async fn scale(ctx: &mut Ctx, method: &Method, body: Incoming) -> ApiResult<Response<Body>> {
    let name = ctx.info.name.clone().unwrap_or_default();
    let (obj, _) = ctx.get_object(&name).await?;
    if *method == Method::GET {
        return Ok(crate::http::json_response(200, &scale_of(&obj)));
    }
    let raw = read_body(body).await?;
    let ct = ctx
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let input: Value = match ct.as_str() {
        "application/apply-patch+yaml" => crate::http::decode_yaml(&raw)?,
        _ => crate::http::decode_body(&ctx.headers, &raw)?,
    };
    let is_put = *method == Method::PUT;
    let precondition = if is_put {
        input
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string)
    } else {
        None
    };
    let resp = ctx
        .update_parent(
            &name,
            |_ctx, current| {
                if let Some(p) = &precondition {
                    if object::resource_version(current) != Some(p.as_str()) {
                        return Err(ApiError::conflict(
                            _ctx.res.group,
                            _ctx.res.plural,
                            &name,
                            ApiError::MODIFIED,
                        ));
                    }
                }
                let scale = scale_of(current);
                let new_scale = if is_put {
                    input.clone()
                } else {
                    match ct.as_str() {
                        "application/json-patch+json" => {
                            rudder_patch::json_patch(&scale, &input)
                                .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?
                        }
                        _ => rudder_patch::merge_patch(&scale, &input),
                    }
                };
                let Some(replicas) = new_scale.pointer("/spec/replicas").and_then(Value::as_i64)
                else {
                    return Err(ApiError::invalid(
                        "autoscaling",
                        "Scale",
                        &name,
                        vec![crate::status::Cause {
                            reason: "FieldValueRequired".into(),
                            message: "Required value".into(),
                            field: "spec.replicas".into(),
                        }],
                    ));
                };
                if replicas < 0 {
                    return Err(ApiError::invalid(
                        "autoscaling",
                        "Scale",
                        &name,
                        vec![crate::status::Cause {
                            reason: "FieldValueInvalid".into(),
                            message: format!(
                                "Invalid value: {replicas}: must be greater than or equal to 0"
                            ),
                            field: "spec.replicas".into(),
                        }],
                    ));
                }
                let mut out = current.clone();
                out["spec"]["replicas"] = json!(replicas);
                Ok(Some(out))
            },
            None,
        )
        .await?;
    // Answer with the Scale of the updated object.
    let (updated, _) = ctx.get_object(&name).await?;
    let code = resp.status().as_u16();
    Ok(crate::http::json_response(code, &scale_of(&updated)))
}

/// POST pods/<name>/binding: assigns the pod to a node once, as upstream's BindingREST.
pub async fn binding(ctx: &mut Ctx, body: Value) -> ApiResult<Response<Body>> {
    let name = ctx.info.name.clone().unwrap_or_default();
    if let Some(n) = object::name(&body) {
        if n != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    let node = body
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if node.is_empty() {
        return Err(ApiError::invalid(
            "",
            "Binding",
            &name,
            vec![crate::status::Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value".into(),
                field: "target.name".into(),
            }],
        ));
    }
    let uid_pre = body
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(str::to_string);
    ctx.update_parent(
        &name,
        |ctx, current| {
            if object::meta_str(current, "deletionTimestamp").is_some() {
                return Err(ApiError::conflict("", "pods", &name, &format!("pod {name} is being deleted, cannot be assigned to a host")));
            }
            if let Some(u) = &uid_pre {
                if object::uid(current) != Some(u.as_str()) {
                    return Err(ApiError::conflict("", "pods", &name, "Precondition failed: UID in precondition does not match"));
                }
            }
            let assigned = current.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
            if !assigned.is_empty() {
                return Err(ApiError::conflict("", "pods", &name, &format!("pod {name} is already assigned to node {assigned:?}")));
            }
            let _ = ctx;
            let mut out = current.clone();
            out["spec"]["nodeName"] = json!(node);
            // Upstream sets PodScheduled=True as part of the binding.
            let conds = out["status"]["conditions"].as_array().cloned().unwrap_or_default();
            let mut conds: Vec<Value> = conds.into_iter().filter(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled")).collect();
            conds.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": object::now_rfc3339()}));
            out["status"]["conditions"] = json!(conds);
            Ok(Some(out))
        },
        Some("binding"),
    )
    .await?;
    Ok(crate::http::json_response(
        201,
        &success("", "pods", &name, None),
    ))
}

/// Upstream `MaxDisruptedPodSize`: evictions are refused while a budget lists more pods as
/// being disrupted than this (the disruption controller has fallen behind).
pub const MAX_DISRUPTED_POD_SIZE: usize = 2000;

/// Upstream `EvictionsRetry`: 20 attempts, 500 ms apart, on conflicts.
const EVICTIONS_RETRY_STEPS: usize = 20;
const EVICTIONS_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

/// The `deleteOptions` of an Eviction, with the request's `dryRun` merged in (upstream
/// `propagateDryRun`).
#[derive(Debug, Clone)]
struct EvictionOptions {
    raw: Value,
}

impl EvictionOptions {
    fn dry_run(&self) -> bool {
        self.raw
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    }

    fn rv_precondition(&self) -> Option<String> {
        self.raw
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    fn uid_precondition(&self) -> Option<String> {
        self.raw
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// A copy with `preconditions.resourceVersion` set (`setPreconditionsResourceVersion`).
    fn with_rv(&self, rv: &str) -> EvictionOptions {
        let mut raw = self.raw.clone();
        if !raw.get("preconditions").is_some_and(Value::is_object) {
            raw["preconditions"] = json!({});
        }
        raw["preconditions"]["resourceVersion"] = json!(rv);
        EvictionOptions { raw }
    }
}

/// Upstream `canIgnorePDB`: terminal, pending and already-terminating pods are deleted
/// without consulting budgets.
fn can_ignore_pdb(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed" | "Pending")
    ) || object::meta_str(pod, "deletionTimestamp").is_some()
}

/// Upstream `shouldEnforceResourceVersion`: every pod but terminal or terminating ones is
/// deleted only at the version read, so it cannot have become ready in between.
fn should_enforce_resource_version(pod: &Value) -> bool {
    !(matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    ) || object::meta_str(pod, "deletionTimestamp").is_some())
}

/// Upstream `podutil.IsPodReady` (the eviction's notion of healthy).
fn pod_is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("type").and_then(Value::as_str) == Some("Ready")
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
}

fn status_i64(pdb: &Value, field: &str) -> i64 {
    pdb.pointer(&format!("/status/{field}"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Upstream `createTooManyRequestsError`: the budget is not yet computed for its current
/// generation, or the pod changed under an unhealthy-pod eviction.
fn budget_being_processed(pdb_name: &str) -> ApiError {
    let mut e = ApiError::new(
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
    );
    e.retry_after = Some(10);
    e.causes.push(crate::status::Cause {
        reason: "DisruptionBudget".into(),
        message: format!(
            "The disruption budget {pdb_name} is still being processed by the server."
        ),
        field: String::new(),
    });
    e
}

/// 403 `poddisruptionbudget.policy "<name>" is forbidden: <why>` (upstream NewForbidden
/// with `policy.Resource("poddisruptionbudget")`).
fn pdb_forbidden(pdb_name: &str, why: &str) -> ApiError {
    let mut e = ApiError::forbidden(format!(
        "poddisruptionbudget.policy \"{pdb_name}\" is forbidden: {why}"
    ));
    e.group = Some("policy".into());
    e.kind = Some("poddisruptionbudget".into());
    e.name = Some(pdb_name.to_string());
    e
}

/// Upstream `checkAndDecrement`: refuses the eviction (429/403) or returns the budget with
/// `disruptionsAllowed` decremented, the DisruptionAllowed condition updated when it
/// reaches 0, and the pod added to `disruptedPods` at `now`; `None` for a dry run, which
/// must not write the budget.
pub fn check_and_decrement(
    pdb: &Value,
    pod_name: &str,
    dry_run: bool,
    now: &str,
) -> ApiResult<Option<Value>> {
    let name = object::name(pdb).unwrap_or("");
    let generation = pdb
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if status_i64(pdb, "observedGeneration") < generation {
        return Err(budget_being_processed(name));
    }
    let allowed = status_i64(pdb, "disruptionsAllowed");
    if allowed < 0 {
        return Err(pdb_forbidden(name, "pdb disruptions allowed is negative"));
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .map_or(0, serde_json::Map::len);
    if disrupted > MAX_DISRUPTED_POD_SIZE {
        return Err(pdb_forbidden(
            name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        let mut e = ApiError::new(
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
        );
        e.causes.push(crate::status::Cause {
            reason: "DisruptionBudget".into(),
            message: format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                status_i64(pdb, "desiredHealthy"),
                status_i64(pdb, "currentHealthy")
            ),
            field: String::new(),
        });
        return Err(e);
    }
    let mut out = pdb.clone();
    out["status"]["disruptionsAllowed"] = json!(allowed - 1);
    if allowed - 1 == 0 {
        // Upstream pdbhelper.UpdateDisruptionAllowedCondition via meta.SetStatusCondition.
        let observed = status_i64(pdb, "observedGeneration");
        let mut conds: Vec<Value> = out
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let new = json!({
            "type": "DisruptionAllowed",
            "status": "False",
            "reason": "InsufficientPods",
            "message": "",
            "observedGeneration": observed,
            "lastTransitionTime": now,
        });
        set_condition(&mut conds, new);
        out["status"]["conditions"] = json!(conds);
    }
    if dry_run {
        return Ok(None);
    }
    if !out["status"]
        .get("disruptedPods")
        .is_some_and(Value::is_object)
    {
        out["status"]["disruptedPods"] = json!({});
    }
    out["status"]["disruptedPods"][pod_name] = json!(now);
    Ok(Some(out))
}

/// The budgets of the pod's namespace whose (non-empty, valid) selector matches it
/// (upstream `getPodDisruptionBudgets`), with their storage revisions.
async fn matching_budgets(ctx: &Ctx, ns: &str, pod: &Value) -> ApiResult<Vec<(Value, i64)>> {
    let pdb_res = catalog::lookup("policy", "v1", "poddisruptionbudgets").expect("pdbs in catalog");
    let prefix = format!("{}{}/", crate::server::resource_prefix(pdb_res), ns);
    let pdbs = ctx
        .server
        .store
        .list(&prefix, &rudder_storage::ListOptions::default())
        .await
        .map_err(|e| crate::status::from_storage(e, "policy", "poddisruptionbudgets", ""))?;
    let pod_labels = object::labels(pod);
    let mut matching = Vec::new();
    for kv in &pdbs.items {
        let Ok(o) = crate::watchcache::CachedObject::from_kv(kv) else {
            continue;
        };
        let Some(sel) = o.object.pointer("/spec/selector") else {
            continue;
        };
        let empty = |f: &str| match sel.get(f) {
            None | Some(Value::Null) => true,
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            Some(_) => false,
        };
        // A nil or empty selector matches nothing here (unlike the disruption controller).
        if empty("matchLabels") && empty("matchExpressions") {
            continue;
        }
        let Ok(s) = rudder_api::labels::Selector::from_label_selector(sel) else {
            continue;
        };
        if s.matches(&pod_labels) {
            matching.push((o.object.clone(), kv.mod_revision));
        }
    }
    Ok(matching)
}

/// Upstream `addConditionAndDeletePod`: unless dry-running, first records the
/// `DisruptionTarget` condition (`EvictionByEvictionAPI`, "Eviction API: evicting") on the
/// latest pod, checking the preconditions against it and moving a resourceVersion
/// precondition to the version written; then deletes the pod with the options.
async fn add_condition_and_delete_pod(
    ctx: &mut Ctx,
    name: &str,
    opts: &EvictionOptions,
) -> ApiResult<()> {
    let mut opts = opts.clone();
    let (mut pod, mut rev) = ctx.get_object(name).await?;
    if !opts.dry_run() {
        loop {
            if let Some(uid) = opts.uid_precondition() {
                let have = object::uid(&pod).unwrap_or("");
                if uid != have {
                    return Err(ApiError::conflict("", "Pod", name, &format!("the UID in the precondition ({uid}) does not match the UID in record ({have}). The object might have been deleted and then recreated")));
                }
            }
            if let Some(rv) = opts.rv_precondition().filter(|r| !r.is_empty()) {
                if rv != rev.to_string() {
                    return Err(ApiError::conflict("", "Pod", name, &format!("the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({rev}). The object might have been modified")));
                }
            }
            let mut updated = pod.clone();
            if !set_disruption_target(&mut updated) {
                break;
            }
            let key = catalog::object_key(ctx.res, ctx.info.namespace.as_deref(), name);
            match ctx
                .server
                .store
                .update(&key, object::prepare_for_storage(&updated), rev)
                .await
            {
                Ok(new_rev) => {
                    if opts.rv_precondition().is_some() {
                        opts = opts.with_rv(&new_rev.to_string());
                    }
                    object::set_resource_version(&mut updated, new_rev);
                    pod = updated;
                    rev = new_rev;
                    break;
                }
                // Someone else wrote the pod: re-read and apply to the latest, as
                // upstream's GuaranteedUpdate does.
                Err(rudder_storage::StorageError::Conflict { .. }) => {
                    (pod, rev) = ctx.get_object(name).await?;
                }
                Err(e) => return Err(crate::status::from_storage(e, "", "pods", name)),
            }
        }
    }
    // The delete itself: without a resourceVersion precondition a concurrent write is
    // retried on the latest pod (upstream's store.Delete re-reads under GuaranteedUpdate).
    for attempt in 0.. {
        match ctx.delete_with(pod.clone(), rev, &opts.raw).await {
            Err(e)
                if e.code == 409
                    && opts.rv_precondition().is_none()
                    && e.message.contains(ApiError::MODIFIED)
                    && attempt < 16 =>
            {
                (pod, rev) = ctx.get_object(name).await?;
            }
            Err(e) => return Err(e),
            Ok(_) => return Ok(()),
        }
    }
    Ok(())
}

/// Puts `new` in place of the condition of its type, keeping the old
/// `lastTransitionTime` when the status did not change (upstream
/// `meta.SetStatusCondition` / `podutil.UpdatePodCondition`), or appends it.
fn set_condition(conds: &mut Vec<Value>, new: Value) {
    let kind = new.get("type").cloned();
    match conds.iter_mut().find(|c| c.get("type") == kind.as_ref()) {
        Some(c) => {
            let kept = (c.get("status") == new.get("status"))
                .then(|| c.get("lastTransitionTime").cloned())
                .flatten();
            *c = new;
            if let Some(t) = kept {
                c["lastTransitionTime"] = t;
            }
        }
        None => conds.push(new),
    }
}

/// Upstream `podutil.UpdatePodCondition` with the eviction's DisruptionTarget condition;
/// false when the pod already has it unchanged.
fn set_disruption_target(pod: &mut Value) -> bool {
    let now = object::now_rfc3339();
    let new = json!({
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "EvictionByEvictionAPI",
        "message": "Eviction API: evicting",
        "lastProbeTime": null,
        "lastTransitionTime": now,
    });
    let mut conds: Vec<Value> = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let unchanged = conds
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("DisruptionTarget"))
        .is_some_and(|c| {
            ["status", "reason", "message"]
                .iter()
                .all(|f| c.get(*f) == new.get(*f))
        });
    if unchanged {
        return false;
    }
    set_condition(&mut conds, new);
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    pod["status"]["conditions"] = json!(conds);
    true
}

/// The Status upstream's create handler answers a successful eviction with.
fn eviction_success() -> Response<Body> {
    crate::http::json_response(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

/// POST pods/<name>/eviction (policy/v1 or policy/v1beta1 Eviction), as upstream's
/// EvictionREST.Create: pods that can ignore budgets (terminal, Pending, terminating) are
/// deleted directly; otherwise the one matching PodDisruptionBudget must allow a
/// disruption, which is taken (disruptionsAllowed - 1, the pod in disruptedPods) in one
/// compare-and-swap of the budget before the pod is deleted with the Eviction's
/// deleteOptions. Unready pods follow the budget's `unhealthyPodEvictionPolicy`.
pub async fn eviction(ctx: &mut Ctx, body: Value) -> ApiResult<Response<Body>> {
    let name = ctx.info.name.clone().unwrap_or_default();
    let ns = ctx.info.namespace.clone().unwrap_or_default();
    match body.get("apiVersion").and_then(Value::as_str) {
        None | Some("policy/v1" | "policy/v1beta1") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "not a Eviction object: {other}, Kind={}",
                body.get("kind").and_then(Value::as_str).unwrap_or("")
            )))
        }
    }
    if object::name(&body).unwrap_or("") != name {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let mut raw = match body.get("deleteOptions") {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => json!({}),
    };
    // propagateDryRun: the request's dryRun fills in an Eviction without one.
    let query_dry_run = ctx.query.all("dryRun");
    for v in &query_dry_run {
        if *v != "All" {
            return Err(ApiError::bad_request(format!(
                "Invalid dry run value: {v:?}. Valid values are: \"All\""
            )));
        }
    }
    let body_dry_run: Vec<String> = raw
        .get("dryRun")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if body_dry_run.is_empty() && !query_dry_run.is_empty() {
        raw["dryRun"] = json!(query_dry_run);
    } else if !body_dry_run.is_empty()
        && !query_dry_run.is_empty()
        && body_dry_run
            .iter()
            .map(String::as_str)
            .ne(query_dry_run.iter().copied())
    {
        return Err(ApiError::internal(format!(
            "Non-matching dry-run options in request and content: {query_dry_run:?} and {body_dry_run:?}"
        )));
    }
    let original = EvictionOptions { raw };
    let dry_run = original.dry_run();

    // Pods that can ignore budgets are deleted right away (retrying conflicts unless the
    // client gave a resourceVersion precondition).
    let mut pod;
    let mut attempt = 0;
    loop {
        (pod, _) = ctx.get_object(&name).await?;
        if !can_ignore_pdb(&pod) {
            break;
        }
        let opts = if should_enforce_resource_version(&pod) && original.rv_precondition().is_none()
        {
            original.with_rv(object::resource_version(&pod).unwrap_or(""))
        } else {
            original.clone()
        };
        match add_condition_and_delete_pod(ctx, &name, &opts).await {
            Ok(()) => return Ok(eviction_success()),
            Err(e)
                if e.code == 409
                    && original.rv_precondition().is_none()
                    && attempt + 1 < EVICTIONS_RETRY_STEPS =>
            {
                attempt += 1;
                tokio::time::sleep(EVICTIONS_RETRY_DELAY).await;
            }
            Err(e) => return Err(e),
        }
    }

    let budgets = matching_budgets(ctx, &ns, &pod).await?;
    if budgets.len() > 1 {
        let mut e = ApiError::new(
            500,
            "",
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        );
        e.retry_after = None;
        return Err(e);
    }
    let mut pdb_name = String::new();
    let mut update_deletion_options = false;
    if let Some((pdb, pdb_rev)) = budgets.into_iter().next() {
        pdb_name = object::name(&pdb).unwrap_or("").to_string();
        let mut take_budget = true;
        if !pod_is_ready(&pod) {
            let policy = pdb
                .pointer("/spec/unhealthyPodEvictionPolicy")
                .and_then(Value::as_str);
            if policy == Some("AlwaysAllow")
                || (status_i64(&pdb, "currentHealthy") >= status_i64(&pdb, "desiredHealthy")
                    && status_i64(&pdb, "desiredHealthy") > 0)
            {
                // An unready pod does not count as healthy: deleting it does not use the
                // budget (IfHealthyBudget needs the budget to be met; AlwaysAllow not).
                update_deletion_options = true;
                take_budget = false;
            }
        }
        if take_budget {
            take_disruption(ctx, &ns, &name, pdb, pdb_rev, dry_run).await?;
        }
    }
    let opts = if update_deletion_options {
        original.with_rv(object::resource_version(&pod).unwrap_or(""))
    } else {
        original.clone()
    };
    match add_condition_and_delete_pod(ctx, &name, &opts).await {
        Ok(()) => Ok(eviction_success()),
        Err(e)
            if e.code == 409 && update_deletion_options && original.rv_precondition().is_none() =>
        {
            // The unready pod changed (maybe became ready): the client should retry.
            Err(budget_being_processed(&pdb_name))
        }
        Err(e) => Err(e),
    }
}

/// The verify-and-decrement of one budget as one compare-and-swap on its stored revision,
/// re-read and retried on conflicts (upstream `RetryOnConflict(EvictionsRetry, ...)`).
async fn take_disruption(
    ctx: &Ctx,
    ns: &str,
    pod_name: &str,
    mut pdb: Value,
    mut rev: i64,
    dry_run: bool,
) -> ApiResult<()> {
    let pdb_res = catalog::lookup("policy", "v1", "poddisruptionbudgets").expect("pdbs in catalog");
    let pdb_name = object::name(&pdb).unwrap_or("").to_string();
    let key = catalog::object_key(pdb_res, Some(ns), &pdb_name);
    for attempt in 0..EVICTIONS_RETRY_STEPS {
        if attempt > 0 {
            tokio::time::sleep(EVICTIONS_RETRY_DELAY).await;
            let kv = ctx
                .server
                .store
                .get(&key)
                .await
                .map_err(|e| {
                    crate::status::from_storage(e, "policy", "poddisruptionbudgets", &pdb_name)
                })?
                .ok_or_else(|| ApiError::not_found("policy", "poddisruptionbudgets", &pdb_name))?;
            pdb = crate::watchcache::CachedObject::from_kv(&kv)
                .map_err(|e| ApiError::internal(e.to_string()))?
                .object
                .clone();
            rev = kv.mod_revision;
        }
        let Some(updated) = check_and_decrement(&pdb, pod_name, dry_run, &object::now_rfc3339())?
        else {
            return Ok(());
        };
        match ctx
            .server
            .store
            .update(&key, object::prepare_for_storage(&updated), rev)
            .await
        {
            Ok(_) => return Ok(()),
            Err(rudder_storage::StorageError::Conflict { .. }) => continue,
            Err(e) => {
                return Err(crate::status::from_storage(
                    e,
                    "policy",
                    "poddisruptionbudgets",
                    &pdb_name,
                ))
            }
        }
    }
    let mut e = ApiError::timeout(format!(
        "Timeout: couldn't update PodDisruptionBudget {pdb_name:?} due to conflicts"
    ));
    e.retry_after = Some(10);
    Err(e)
}

/// PUT namespaces/<name>/finalize: replaces spec.finalizers; an empty set completes the
/// deletion of a terminating namespace.
pub async fn finalize(ctx: &mut Ctx, body: Value) -> ApiResult<Response<Body>> {
    let name = ctx.info.name.clone().unwrap_or_default();
    let finalizers = body
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or_else(|| json!([]));
    ctx.update_parent(
        &name,
        |_ctx, current| {
            let mut out = current.clone();
            out["spec"]["finalizers"] = finalizers.clone();
            Ok(Some(out))
        },
        Some("finalize"),
    )
    .await
}
