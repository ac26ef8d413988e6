//! Built-in admission, in upstream's order for what exists so far: NamespaceLifecycle,
//! ServiceAccount defaulting, Priority, DefaultTolerationSeconds, and the service IP / node
//! port allocators that upstream runs in the service registry.

pub mod quota;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::{json, Value};

use rudder_api::catalog;
use rudder_storage::ListOptions;

use crate::object;
use crate::resources::Ctx;
use crate::status::{from_storage, ApiError, ApiResult};
use crate::watchcache::CachedObject;

/// Namespaces that can never be deleted (upstream's NamespaceLifecycle immortal set).
pub const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// Upstream's built-in priority classes.
pub const SYSTEM_PRIORITY_CLASSES: &[(&str, i64)] = &[
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

/// Admission for creates.
pub async fn admit_create(ctx: &Ctx, obj: &mut Value) -> ApiResult<()> {
    if ctx.res.namespaced {
        namespace_lifecycle(ctx, obj).await?;
    }
    match (ctx.res.group, ctx.res.plural) {
        ("", "services") => allocate_service(ctx, obj, None).await?,
        ("", "pods") => {
            admit_pod(ctx, obj).await?;
            default_toleration_seconds(obj, ctx.server.settings.default_toleration_seconds);
        }
        _ => {}
    }
    quota::admit(ctx, obj, None).await?;
    Ok(())
}

/// Admission for updates.
pub async fn admit_update(ctx: &Ctx, obj: &mut Value, old: &Value) -> ApiResult<()> {
    if (ctx.res.group, ctx.res.plural) == ("", "services") {
        allocate_service(ctx, obj, Some(old)).await?;
    }
    quota::admit(ctx, obj, Some(old)).await?;
    Ok(())
}

/// Admission for deletes.
pub fn admit_delete(ctx: &Ctx, obj: &Value) -> ApiResult<()> {
    if (ctx.res.group, ctx.res.plural) == ("", "namespaces") {
        let name = object::name(obj).unwrap_or("");
        if IMMORTAL_NAMESPACES.contains(&name) {
            return Err(ApiError::forbidden(format!(
                "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
            )));
        }
    }
    Ok(())
}

async fn namespace_lifecycle(ctx: &Ctx, obj: &Value) -> ApiResult<()> {
    let ns = object::namespace(obj).unwrap_or("").to_string();
    let ns_res = catalog::lookup("", "v1", "namespaces").expect("namespaces in catalog");
    let key = catalog::object_key(ns_res, None, &ns);
    // The cache answers almost always; on a miss read storage, since the namespace may have
    // been created an instant ago (upstream does the same live lookup).
    let cached = ctx
        .server
        .cache(ns_res)
        .and_then(|c| c.get(&key).ok())
        .and_then(|(o, _)| o)
        .map(|o| o.object.clone());
    let found = match cached {
        Some(o) => Some(o),
        None => ctx
            .server
            .store
            .get(&key)
            .await
            .map_err(|e| from_storage(e, "", "namespaces", &ns))?
            .and_then(|kv| CachedObject::from_kv(&kv).ok())
            .map(|o| o.object),
    };
    match found {
        None => Err(ApiError::not_found("", "namespaces", &ns)),
        Some(n)
            if object::meta_str(&n, "deletionTimestamp").is_some()
                || n.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") =>
        {
            let mut e = ApiError::forbidden(format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                crate::status::group_resource(ctx.res.group, ctx.res.plural),
                object::name(obj).unwrap_or("")
            ));
            e.causes.push(crate::status::Cause {
                reason: "NamespaceTerminating".into(),
                message: format!("namespace {ns} is being terminated"),
                field: "metadata.namespace".into(),
            });
            Err(e)
        }
        Some(_) => Ok(()),
    }
}

async fn admit_pod(ctx: &Ctx, obj: &mut Value) -> ApiResult<()> {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    // ServiceAccount admission: default the service account (the token volume needs the
    // TokenRequest API, which is not served yet).
    let sa = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            spec.get("serviceAccount")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .unwrap_or("default")
        .to_string();
    spec.insert("serviceAccountName".into(), json!(sa));
    spec.insert("serviceAccount".into(), json!(sa));
    // Priority admission: resolve priorityClassName to a priority.
    let class = spec
        .get("priorityClassName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let priority =
        match class {
            None => 0,
            Some(c) => match SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _)| *n == c) {
                Some((_, v)) => *v,
                None => {
                    let pc = catalog::lookup("scheduling.k8s.io", "v1", "priorityclasses")
                        .expect("priorityclasses in catalog");
                    let key = catalog::object_key(pc, None, &c);
                    let kv =
                        ctx.server.store.get(&key).await.map_err(|e| {
                            from_storage(e, "scheduling.k8s.io", "priorityclasses", &c)
                        })?;
                    match kv.and_then(|kv| CachedObject::from_kv(&kv).ok()) {
                        Some(o) => {
                            if let Some(p) = o.object.get("preemptionPolicy") {
                                spec.entry("preemptionPolicy").or_insert(p.clone());
                            }
                            o.object.get("value").and_then(Value::as_i64).unwrap_or(0)
                        }
                        None => {
                            return Err(ApiError::forbidden(format!(
                            "pods \"{}\" is forbidden: no PriorityClass with name {c} was found",
                            object::name(obj).unwrap_or("")
                        )))
                        }
                    }
                }
            },
        };
    let spec = obj
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .expect("spec");
    if let Some(given) = spec.get("priority").and_then(Value::as_i64) {
        if given != priority {
            return Err(ApiError::forbidden(format!(
                "pods \"{}\" is forbidden: the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name",
                object::name(obj).unwrap_or("")
            )));
        }
    }
    spec.insert("priority".into(), json!(priority));
    spec.entry("preemptionPolicy")
        .or_insert(json!("PreemptLowerPriority"));
    Ok(())
}

/// The first usable address of the service range, reserved for the `kubernetes` service.
pub fn first_service_ip(cidr: (Ipv4Addr, u8)) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(cidr.0) + 1)
}

fn in_range(ip: Ipv4Addr, cidr: (Ipv4Addr, u8)) -> bool {
    let mask = if cidr.1 == 0 {
        0
    } else {
        u32::MAX << (32 - cidr.1)
    };
    (u32::from(ip) & mask) == (u32::from(cidr.0) & mask)
}

const NODE_PORT_RANGE: std::ops::RangeInclusive<i64> = 30000..=32767;

/// Allocates spec.clusterIP(s) and node ports, keeping what an update leaves unset from the
/// old object (upstream's patchAllocatedValues).
async fn allocate_service(ctx: &Ctx, obj: &mut Value, old: Option<&Value>) -> ApiResult<()> {
    let cidr = ctx.server.settings.service_cidr;
    let name = object::name(obj).unwrap_or("").to_string();
    let ns = object::namespace(obj).unwrap_or("").to_string();
    let typ = obj
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if typ == "ExternalName" {
        return Ok(());
    }
    if let Some(old) = old {
        let old_ip = old.pointer("/spec/clusterIP").cloned();
        let spec = obj.get_mut("spec").and_then(Value::as_object_mut);
        if let (Some(spec), Some(ip)) = (spec, old_ip) {
            let unset = spec
                .get("clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty();
            if unset {
                spec.insert("clusterIP".into(), ip.clone());
                spec.insert("clusterIPs".into(), json!([ip]));
            }
        }
        // Keep node ports the update left out, matching ports by port+protocol.
        let old_ports = old
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut() {
                if p.get("nodePort").is_some() {
                    continue;
                }
                if let Some(op) = old_ports.iter().find(|op| {
                    op.get("port") == p.get("port") && op.get("protocol") == p.get("protocol")
                }) {
                    if let Some(np) = op.get("nodePort") {
                        p["nodePort"] = np.clone();
                    }
                }
            }
        }
    }
    let wants_ip = obj
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let needs_node_ports = typ == "NodePort" || typ == "LoadBalancer";
    let missing_node_port = needs_node_ports
        && obj
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .is_some_and(|ps| ps.iter().any(|p| p.get("nodePort").is_none()));
    if wants_ip == "None" || (!wants_ip.is_empty() && old.is_some() && !missing_node_port) {
        if wants_ip == "None" {
            obj["spec"]["clusterIPs"] = json!(["None"]);
        }
        return Ok(());
    }
    let _guard = ctx.server.allocation_lock.lock().await;
    let svc_res = catalog::lookup("", "v1", "services").expect("services in catalog");
    let all = ctx
        .server
        .store
        .list(
            &crate::server::resource_prefix(svc_res),
            &ListOptions::default(),
        )
        .await
        .map_err(|e| from_storage(e, "", "services", &name))?;
    let mut used_ips = BTreeSet::new();
    let mut used_ports = BTreeSet::new();
    for kv in &all.items {
        let Ok(o) = CachedObject::from_kv(kv) else {
            continue;
        };
        if object::name(&o.object) == Some(name.as_str())
            && object::namespace(&o.object) == Some(ns.as_str())
        {
            continue;
        }
        if let Some(ip) = o.object.pointer("/spec/clusterIP").and_then(Value::as_str) {
            used_ips.insert(ip.to_string());
        }
        for p in o
            .object
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(np) = p.get("nodePort").and_then(Value::as_i64) {
                used_ports.insert(np);
            }
        }
    }
    let invalid = |field: &str, value: &str, msg: &str| {
        ApiError::invalid(
            "",
            "Service",
            &name,
            vec![crate::status::Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {value:?}: {msg}"),
                field: field.into(),
            }],
        )
    };
    if wants_ip.is_empty() {
        let base = u32::from(cidr.0);
        let size: u32 = 1u32 << (32 - cidr.1 as u32);
        // Skip the network address, the reserved first address and the broadcast address.
        let ip = (2..size.saturating_sub(1))
            .map(|i| Ipv4Addr::from(base + i).to_string())
            .find(|ip| !used_ips.contains(ip))
            .ok_or_else(|| ApiError::internal("failed to allocate a serviceIP: range is full"))?;
        obj["spec"]["clusterIP"] = json!(ip);
        obj["spec"]["clusterIPs"] = json!([ip]);
    } else if old.is_none() {
        let ip: Ipv4Addr = wants_ip.parse().map_err(|_| {
            invalid(
                "spec.clusterIPs[0]",
                &wants_ip,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            )
        })?;
        if !in_range(ip, cidr) {
            return Err(invalid("spec.clusterIPs[0]", &wants_ip, &format!("failed to allocate IP {wants_ip}: the provided IP ({wants_ip}) is not in the valid range. The range of valid IPs is {}/{}", cidr.0, cidr.1)));
        }
        if used_ips.contains(&wants_ip) {
            return Err(invalid(
                "spec.clusterIPs[0]",
                &wants_ip,
                &format!("failed to allocate IP {wants_ip}: provided IP is already allocated"),
            ));
        }
        obj["spec"]["clusterIPs"] = json!([wants_ip]);
    }
    if needs_node_ports {
        if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut() {
                match p.get("nodePort").and_then(Value::as_i64) {
                    Some(np) => {
                        if old.is_none() && used_ports.contains(&np) {
                            return Err(invalid(
                                "spec.ports[0].nodePort",
                                &np.to_string(),
                                "provided port is already allocated",
                            ));
                        }
                        used_ports.insert(np);
                    }
                    None => {
                        let start = 30000 + (rand::random::<u32>() % 2768) as i64;
                        let np = NODE_PORT_RANGE
                            .clone()
                            .map(|i| 30000 + (i - 30000 + start - 30000).rem_euclid(2768))
                            .find(|n| !used_ports.contains(n))
                            .ok_or_else(|| {
                                ApiError::internal("failed to allocate a nodePort: range is full")
                            })?;
                        used_ports.insert(np);
                        p["nodePort"] = json!(np);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Taint key of a node whose Ready condition is False (`v1.TaintNodeNotReady`).
pub const TAINT_NODE_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// Taint key of a node whose Ready condition is Unknown (`v1.TaintNodeUnreachable`).
pub const TAINT_NODE_UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// DefaultTolerationSeconds admission (upstream
/// plugin/pkg/admission/defaulttolerationseconds), on pod create: unless the pod already
/// has a toleration covering it (same key or an empty key, with effect NoExecute or an
/// empty effect), add `{key, operator: Exists, effect: NoExecute, tolerationSeconds}` for
/// `node.kubernetes.io/not-ready` and `node.kubernetes.io/unreachable`, so pods ride out a
/// short node outage (`--default-not-ready-toleration-seconds`,
/// `--default-unreachable-toleration-seconds`, 300 each).
pub fn default_toleration_seconds(pod: &mut Value, (not_ready, unreachable): (i64, i64)) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let tols = spec.entry("tolerations").or_insert_with(|| json!([]));
    if tols.is_null() {
        *tols = json!([]);
    }
    let Some(list) = tols.as_array_mut() else {
        return;
    };
    let covers = |t: &Value, key: &str| {
        let k = t.get("key").and_then(Value::as_str).unwrap_or("");
        let e = t.get("effect").and_then(Value::as_str).unwrap_or("");
        (k == key || k.is_empty()) && (e == "NoExecute" || e.is_empty())
    };
    let has_not_ready = list.iter().any(|t| covers(t, TAINT_NODE_NOT_READY));
    let has_unreachable = list.iter().any(|t| covers(t, TAINT_NODE_UNREACHABLE));
    if !has_not_ready {
        list.push(json!({
            "key": TAINT_NODE_NOT_READY,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": not_ready,
        }));
    }
    if !has_unreachable {
        list.push(json!({
            "key": TAINT_NODE_UNREACHABLE,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": unreachable,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_range_math() {
        let cidr: (Ipv4Addr, u8) = ("10.96.0.0".parse().unwrap(), 12);
        assert_eq!(first_service_ip(cidr).to_string(), "10.96.0.1");
        assert!(in_range("10.100.3.4".parse().unwrap(), cidr));
        assert!(!in_range("10.112.0.1".parse().unwrap(), cidr));
    }

    #[test]
    fn default_toleration_seconds_table() {
        let nr = |secs: i64| json!({"key": TAINT_NODE_NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs});
        let un = |secs: i64| json!({"key": TAINT_NODE_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs});
        let other = json!({"key": "example.com/x", "operator": "Exists", "effect": "NoSchedule"});
        let cases: Vec<(Value, Value)> = vec![
            // No tolerations: both added.
            (json!(null), json!([nr(300), un(300)])),
            (json!([]), json!([nr(300), un(300)])),
            // Unrelated toleration kept, both added.
            (
                json!([other.clone()]),
                json!([other.clone(), nr(300), un(300)]),
            ),
            // An existing not-ready toleration (any seconds) is left alone.
            (json!([nr(10)]), json!([nr(10), un(300)])),
            // A key-only toleration with an empty effect covers it.
            (
                json!([{"key": TAINT_NODE_UNREACHABLE, "operator": "Exists"}]),
                json!([{"key": TAINT_NODE_UNREACHABLE, "operator": "Exists"}, nr(300)]),
            ),
            // A NoSchedule toleration of the same key does not.
            (
                json!([{"key": TAINT_NODE_NOT_READY, "operator": "Exists", "effect": "NoSchedule"}]),
                json!([{"key": TAINT_NODE_NOT_READY, "operator": "Exists", "effect": "NoSchedule"}, nr(300), un(300)]),
            ),
            // Tolerate-everything covers both.
            (
                json!([{"operator": "Exists"}]),
                json!([{"operator": "Exists"}]),
            ),
        ];
        for (i, (given, want)) in cases.into_iter().enumerate() {
            let mut pod = json!({"spec": {"containers": []}});
            if !given.is_null() {
                pod["spec"]["tolerations"] = given;
            }
            default_toleration_seconds(&mut pod, (300, 300));
            assert_eq!(pod["spec"]["tolerations"], want, "case {i}");
        }
        let mut pod = json!({"spec": {}});
        default_toleration_seconds(&mut pod, (5, 7));
        assert_eq!(pod["spec"]["tolerations"], json!([nr(5), un(7)]));
    }
}
