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

/// POST pods/<name>/eviction: deletes the pod unless a PodDisruptionBudget forbids it.
pub async fn eviction(ctx: &mut Ctx, body: Value) -> ApiResult<Response<Body>> {
    let name = ctx.info.name.clone().unwrap_or_default();
    let ns = ctx.info.namespace.clone().unwrap_or_default();
    let (pod, rev) = ctx.get_object(&name).await?;
    let pod_labels = object::labels(&pod);
    let pdb_res = catalog::lookup("policy", "v1", "poddisruptionbudgets").expect("pdbs in catalog");
    let terminal = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if !terminal {
        let prefix = format!("{}{}/", crate::server::resource_prefix(pdb_res), ns);
        let pdbs = ctx
            .server
            .store
            .list(&prefix, &rudder_storage::ListOptions::default())
            .await
            .map_err(|e| crate::status::from_storage(e, "policy", "poddisruptionbudgets", ""))?;
        let mut matching = Vec::new();
        for kv in &pdbs.items {
            let Ok(o) = crate::watchcache::CachedObject::from_kv(kv) else {
                continue;
            };
            let Some(sel) = o.object.pointer("/spec/selector") else {
                continue;
            };
            let Ok(s) = rudder_api::labels::Selector::from_label_selector(sel) else {
                continue;
            };
            if s.matches(&pod_labels) {
                matching.push(o.object.clone());
            }
        }
        if matching.len() > 1 {
            return Err(ApiError::internal("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."));
        }
        if let Some(pdb) = matching.first() {
            let allowed = pdb
                .pointer("/status/disruptionsAllowed")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if allowed < 1 {
                let mut e = ApiError::too_many_requests();
                e.message =
                    "Cannot evict pod as it would violate the pod's disruption budget.".into();
                e.retry_after = None;
                e.causes.push(crate::status::Cause {
                    reason: "DisruptionBudget".into(),
                    message: format!(
                        "The disruption budget {} needs {} healthy pods and has {} currently",
                        object::name(pdb).unwrap_or(""),
                        pdb.pointer("/status/desiredHealthy")
                            .and_then(Value::as_i64)
                            .unwrap_or(0),
                        pdb.pointer("/status/currentHealthy")
                            .and_then(Value::as_i64)
                            .unwrap_or(0)
                    ),
                    field: String::new(),
                });
                return Err(e);
            }
        }
    }
    let opts = body
        .get("deleteOptions")
        .cloned()
        .unwrap_or_else(|| json!({}));
    ctx.delete_with(pod, rev, &opts).await?;
    Ok(crate::http::json_response(
        201,
        &success("", "pods", &name, None),
    ))
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
