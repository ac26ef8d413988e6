//! ResourceQuota evaluation shared by kube-apiserver's ResourceQuota admission and
//! kube-controller-manager's resourcequota controller, mirroring upstream
//! pkg/quota/v1 (resource list arithmetic) and pkg/quota/v1/evaluator/core (what a pod,
//! service or persistent volume claim uses; scopes; the pod compute constraints).
//!
//! Objects are `serde_json::Value`s, as stored; quantities are kept in milli-units.

use std::collections::{BTreeMap, BTreeSet};

/// Resource name → amount in milli-units (`1` is 1000, `500m` is 500).
pub type Usage = BTreeMap<String, i128>;

/// A quantity that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {0:?}")]
pub struct QuantityError(pub String);

/// Parses a Kubernetes quantity (`100m`, `1.5`, `128Mi`, `1e3`, `2G`) into milli-units,
/// rounding fractions of a milli-unit up, as upstream's `MilliValue` does.
pub fn parse_quantity(s: &str) -> Result<i128, QuantityError> {
    let err = || QuantityError(s.to_string());
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    if num.is_empty() {
        return Err(err());
    }
    let (neg, num) = match num.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, num.strip_prefix('+').unwrap_or(num)),
    };
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    if !int_part.chars().all(|c| c.is_ascii_digit())
        || !frac_part.chars().all(|c| c.is_ascii_digit())
    {
        return Err(err());
    }
    // value = digits / 10^frac_len * multiplier, all as integer math on (num, den).
    let digits: i128 = format!("{int_part}{frac_part}")
        .parse()
        .map_err(|_| err())?;
    let mut num_v: i128 = digits * 1000;
    let mut den: i128 = 10i128.pow(u32::try_from(frac_part.len()).map_err(|_| err())?);
    let pow = |b: i128, e: u32| b.checked_pow(e).ok_or_else(err);
    match suffix {
        "" => {}
        "n" => den *= 1_000_000_000,
        "u" => den *= 1_000_000,
        "m" => den *= 1000,
        "k" => num_v *= 1000,
        "M" => num_v *= pow(1000, 2)?,
        "G" => num_v *= pow(1000, 3)?,
        "T" => num_v *= pow(1000, 4)?,
        "P" => num_v *= pow(1000, 5)?,
        "E" => num_v *= pow(1000, 6)?,
        "Ki" => num_v *= 1024,
        "Mi" => num_v *= pow(1024, 2)?,
        "Gi" => num_v *= pow(1024, 3)?,
        "Ti" => num_v *= pow(1024, 4)?,
        "Pi" => num_v *= pow(1024, 5)?,
        "Ei" => num_v *= pow(1024, 6)?,
        e if e.starts_with(['e', 'E']) => {
            let exp: i32 = e[1..].parse().map_err(|_| err())?;
            if exp >= 0 {
                num_v *= pow(10, exp.unsigned_abs())?;
            } else {
                den *= pow(10, exp.unsigned_abs())?;
            }
        }
        _ => return Err(err()),
    }
    let v = (num_v + den - 1).div_euclid(den);
    Ok(if neg { -v } else { v })
}

/// Formats milli-units canonically: `500m`; whole numbers with the largest exact binary
/// suffix for byte-like resources (`128Mi`), else the largest exact decimal one (`2k`),
/// as upstream `Quantity.String` does for BinarySI/DecimalSI.
pub fn format_quantity(milli: i128, binary: bool) -> String {
    if milli % 1000 != 0 {
        return format!("{milli}m");
    }
    let mut v = milli / 1000;
    if v == 0 {
        return "0".into();
    }
    let (base, suffixes): (i128, &[&str]) = if binary {
        (1024, &["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"])
    } else {
        (1000, &["", "k", "M", "G", "T", "P", "E"])
    };
    let mut i = 0;
    while i + 1 < suffixes.len() && v % base == 0 {
        v /= base;
        i += 1;
    }
    format!("{v}{}", suffixes[i])
}

/// Whether a resource name is byte-like (formatted with binary suffixes).
pub fn is_binary(resource: &str) -> bool {
    resource.contains("memory") || resource.contains("storage")
}

/// Formats one amount of `resource`.
pub fn format_for(resource: &str, milli: i128) -> String {
    format_quantity(milli, is_binary(resource))
}

/// Upstream `prettyPrint`: `a=1,b=2` in key order.
pub fn pretty(u: &Usage) -> String {
    u.iter()
        .map(|(k, v)| format!("{k}={}", format_for(k, *v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a `ResourceList` (`{"pods": "2", "requests.cpu": "500m"}`); unparsable entries
/// are skipped (validation rejects them upstream).
pub fn parse_list(v: Option<&serde_json::Value>) -> Usage {
    let mut out = Usage::new();
    if let Some(m) = v.and_then(serde_json::Value::as_object) {
        for (k, q) in m {
            let parsed = match q {
                serde_json::Value::String(s) => parse_quantity(s).ok(),
                serde_json::Value::Number(n) => n.as_f64().map(|f| (f * 1000.0).ceil() as i128),
                _ => None,
            };
            if let Some(p) = parsed {
                out.insert(k.clone(), p);
            }
        }
    }
    out
}

/// Renders usage as a `ResourceList` JSON object.
pub fn to_list(u: &Usage) -> serde_json::Value {
    serde_json::Value::Object(
        u.iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(format_for(k, *v))))
            .collect(),
    )
}

/// `count/<plural>` for the core group, `count/<plural>.<group>` otherwise.
pub fn object_count_name(group: &str, plural: &str) -> String {
    if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    }
}

/// Legacy object-count names upstream still accepts (`pods` aside, which counts only
/// non-terminal pods).
const LEGACY_COUNTS: &[&str] = &[
    "services",
    "configmaps",
    "secrets",
    "persistentvolumeclaims",
    "replicationcontrollers",
    "resourcequotas",
];

/// Compute resources of pods (upstream `podResources` plus `pods`).
const POD_RESOURCES: &[&str] = &[
    "pods",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
];

/// Upstream `validationSet`: quota on these requires every container to state them.
const VALIDATION_SET: &[&str] = &[
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// Whether quota resource `name` is one the evaluator of `group/plural` counts
/// (upstream `MatchingResources`).
pub fn covers(group: &str, plural: &str, name: &str) -> bool {
    if name == object_count_name(group, plural) {
        return true;
    }
    match (group, plural) {
        ("", "pods") => {
            POD_RESOURCES.contains(&name)
                || name.starts_with("requests.hugepages-")
                || (name.starts_with("requests.") && name.contains('/'))
        }
        ("", "services") => matches!(
            name,
            "services" | "services.loadbalancers" | "services.nodeports"
        ),
        ("", "persistentvolumeclaims") => {
            matches!(name, "persistentvolumeclaims" | "requests.storage")
                || name.ends_with(".storageclass.storage.k8s.io/requests.storage")
                || name.ends_with(".storageclass.storage.k8s.io/persistentvolumeclaims")
        }
        ("", p) => LEGACY_COUNTS.contains(&p) && name == p,
        _ => false,
    }
}

fn add(u: &mut Usage, k: &str, v: i128) {
    *u.entry(k.to_string()).or_insert(0) += v;
}

/// Whether a pod still counts against compute quota (upstream `QuotaV1Pod`): not
/// Succeeded/Failed, and not past its deletion grace period.
pub fn pod_counts(pod: &serde_json::Value, now_unix: i64) -> bool {
    let phase = pod
        .pointer("/status/phase")
        .and_then(serde_json::Value::as_str);
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return false;
    }
    if let Some(ts) = pod
        .pointer("/metadata/deletionTimestamp")
        .and_then(serde_json::Value::as_str)
    {
        // deletionTimestamp is already "request time + grace period"; past it the pod
        // no longer counts.
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) {
            if t.timestamp() <= now_unix {
                return false;
            }
        }
    }
    true
}

fn containers<'a>(pod: &'a serde_json::Value, field: &str) -> Vec<&'a serde_json::Value> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// Upstream `podComputeUsageHelper` over one requests/limits pair.
fn compute_usage(requests: &Usage, limits: &Usage) -> Usage {
    let mut u = Usage::new();
    u.insert("pods".into(), 1000);
    for (k, v) in requests {
        match k.as_str() {
            "cpu" | "memory" | "ephemeral-storage" => {
                add(&mut u, k, *v);
                add(&mut u, &format!("requests.{k}"), *v);
            }
            k if k.starts_with("hugepages-") || k.contains('/') => {
                add(&mut u, &format!("requests.{k}"), *v);
            }
            _ => {}
        }
    }
    for (k, v) in limits {
        if matches!(k.as_str(), "cpu" | "memory" | "ephemeral-storage") {
            add(&mut u, &format!("limits.{k}"), *v);
        }
    }
    u
}

/// Upstream `PodRequests`/`PodLimits`: the sum over app containers, raised to the largest
/// init container where that is bigger, plus the pod overhead.
fn pod_totals(pod: &serde_json::Value, field: &str) -> Usage {
    let mut sum = Usage::new();
    for c in containers(pod, "containers") {
        for (k, v) in parse_list(c.pointer(&format!("/resources/{field}"))) {
            add(&mut sum, &k, v);
        }
    }
    for c in containers(pod, "initContainers") {
        for (k, v) in parse_list(c.pointer(&format!("/resources/{field}"))) {
            let e = sum.entry(k).or_insert(0);
            *e = (*e).max(v);
        }
    }
    for (k, v) in parse_list(pod.pointer("/spec/overhead")) {
        add(&mut sum, &k, v);
    }
    sum
}

/// What one object of `group/plural` uses (upstream evaluators' `Usage`).
pub fn usage(group: &str, plural: &str, obj: &serde_json::Value, now_unix: i64) -> Usage {
    let mut u = Usage::new();
    u.insert(object_count_name(group, plural), 1000);
    match (group, plural) {
        // Terminal pods count only as objects (upstream QuotaV1Pod).
        ("", "pods") if pod_counts(obj, now_unix) => {
            let requests = pod_totals(obj, "requests");
            let limits = pod_totals(obj, "limits");
            for (k, v) in compute_usage(&requests, &limits) {
                add(&mut u, &k, v);
            }
        }
        ("", "pods") => {}
        ("", "services") => {
            u.insert("services".into(), 1000);
            let ty = obj
                .pointer("/spec/type")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("ClusterIP");
            let ports = obj
                .pointer("/spec/ports")
                .and_then(serde_json::Value::as_array)
                .map_or(0, Vec::len) as i128;
            match ty {
                "NodePort" => {
                    u.insert("services.nodeports".into(), ports * 1000);
                }
                "LoadBalancer" => {
                    u.insert("services.loadbalancers".into(), 1000);
                    let alloc = obj
                        .pointer("/spec/allocateLoadBalancerNodePorts")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(true);
                    u.insert(
                        "services.nodeports".into(),
                        if alloc { ports * 1000 } else { 0 },
                    );
                }
                _ => {}
            }
        }
        ("", "persistentvolumeclaims") => {
            u.insert("persistentvolumeclaims".into(), 1000);
            let storage = parse_list(obj.pointer("/spec/resources/requests"))
                .get("storage")
                .copied()
                .unwrap_or(0);
            u.insert("requests.storage".into(), storage);
            if let Some(class) = obj
                .pointer("/spec/storageClassName")
                .and_then(serde_json::Value::as_str)
            {
                let p = format!("{class}.storageclass.storage.k8s.io/");
                u.insert(format!("{p}persistentvolumeclaims"), 1000);
                u.insert(format!("{p}requests.storage"), storage);
            }
        }
        ("", p) if LEGACY_COUNTS.contains(&p) => {
            u.insert(p.to_string(), 1000);
        }
        _ => {}
    }
    u
}

/// Upstream QoS BestEffort: no container requests or limits for any resource.
fn is_best_effort(pod: &serde_json::Value) -> bool {
    containers(pod, "containers")
        .into_iter()
        .chain(containers(pod, "initContainers"))
        .all(|c| {
            parse_list(c.pointer("/resources/requests")).is_empty()
                && parse_list(c.pointer("/resources/limits")).is_empty()
        })
}

fn scope_matches(scope: &str, op: &str, values: &[String], pod: &serde_json::Value) -> bool {
    match scope {
        "Terminating" => pod
            .pointer("/spec/activeDeadlineSeconds")
            .and_then(serde_json::Value::as_i64)
            .is_some_and(|d| d >= 0),
        "NotTerminating" => pod
            .pointer("/spec/activeDeadlineSeconds")
            .and_then(serde_json::Value::as_i64)
            .is_none_or(|d| d < 0),
        "BestEffort" => is_best_effort(pod),
        "NotBestEffort" => !is_best_effort(pod),
        "PriorityClass" => {
            let class = pod
                .pointer("/spec/priorityClassName")
                .and_then(serde_json::Value::as_str)
                .filter(|c| !c.is_empty());
            match op {
                "In" => class.is_some_and(|c| values.iter().any(|v| v == c)),
                "NotIn" => class.is_none_or(|c| !values.iter().any(|v| v == c)),
                "Exists" => class.is_some(),
                "DoesNotExist" => class.is_none(),
                _ => false,
            }
        }
        // CrossNamespacePodAffinity and unknown scopes are not evaluated here.
        _ => false,
    }
}

/// The quota's scopes as (scope, operator, values): `spec.scopes` (operator Exists) plus
/// `spec.scopeSelector.matchExpressions`.
fn scopes(quota: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    if let Some(a) = quota
        .pointer("/spec/scopes")
        .and_then(serde_json::Value::as_array)
    {
        for s in a.iter().filter_map(serde_json::Value::as_str) {
            out.push((s.to_string(), "Exists".to_string(), Vec::new()));
        }
    }
    if let Some(a) = quota
        .pointer("/spec/scopeSelector/matchExpressions")
        .and_then(serde_json::Value::as_array)
    {
        for e in a {
            let s = e
                .get("scopeName")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            let op = e
                .get("operator")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            let vals = e
                .get("values")
                .and_then(serde_json::Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            out.push((s.to_string(), op.to_string(), vals));
        }
    }
    out
}

/// Whether the quota's scopes select this object (upstream `MatchesScope` for every
/// scope): scoped quotas apply to pods only.
pub fn scopes_match(
    quota: &serde_json::Value,
    group: &str,
    plural: &str,
    obj: &serde_json::Value,
) -> bool {
    let sc = scopes(quota);
    if sc.is_empty() {
        return true;
    }
    if (group, plural) != ("", "pods") {
        return false;
    }
    sc.iter()
        .all(|(s, op, vals)| scope_matches(s, op, vals, obj))
}

/// Upstream pod evaluator `Constraints`: when the quota limits cpu/memory requests or
/// limits, every container must state them. `required` are the quota's matching
/// resources. Returns upstream's message on failure.
pub fn pod_constraints(required: &BTreeSet<String>, pod: &serde_json::Value) -> Result<(), String> {
    let required: BTreeSet<&str> = required
        .iter()
        .map(String::as_str)
        .filter(|r| VALIDATION_SET.contains(r))
        .collect();
    if required.is_empty() {
        return Ok(());
    }
    let mut missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for c in containers(pod, "containers")
        .into_iter()
        .chain(containers(pod, "initContainers"))
    {
        let have = compute_usage(
            &parse_list(c.pointer("/resources/requests")),
            &parse_list(c.pointer("/resources/limits")),
        );
        let name = c
            .get("name")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        for r in &required {
            if !have.contains_key(*r) {
                missing.entry(r).or_default().insert(name.to_string());
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = missing
        .iter()
        .map(|(r, names)| {
            format!(
                "{r} for: {}",
                names.iter().cloned().collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    Err(format!("must specify {}", parts.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantity_table() {
        let cases = [
            ("1", 1000),
            ("500m", 500),
            ("1.5", 1500),
            ("0.1", 100),
            ("128Mi", 128 * 1024 * 1024 * 1000),
            ("1Gi", 1024 * 1024 * 1024 * 1000),
            ("2k", 2_000_000),
            ("1e3", 1_000_000),
            ("100n", 1),
            ("-1", -1000),
        ];
        for (s, want) in cases {
            assert_eq!(parse_quantity(s).unwrap(), want, "{s}");
        }
        assert!(parse_quantity("abc").is_err());
        assert!(parse_quantity("1Zi").is_err());
        assert_eq!(format_quantity(2000, false), "2");
        assert_eq!(format_quantity(500, false), "500m");
        assert_eq!(format_quantity(2_000_000, false), "2k");
        assert_eq!(format_quantity(256 * 1024 * 1024 * 1000, true), "256Mi");
        assert_eq!(format_quantity(0, true), "0");
    }

    #[test]
    fn pod_usage_sums_containers_and_init_max() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m"}}},
                {"name": "b", "resources": {"requests": {"cpu": "300m"}}}
            ],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1"}}}]
        }});
        let u = usage("", "pods", &pod, 0);
        assert_eq!(u["pods"], 1000);
        assert_eq!(u["count/pods"], 1000);
        assert_eq!(u["requests.cpu"], 1000, "init container max wins");
        assert_eq!(u["cpu"], 1000);
        assert_eq!(u["requests.memory"], 64 * 1024 * 1024 * 1000);
        assert_eq!(u["limits.cpu"], 200);
        assert!(!u.contains_key("limits.memory"));
        // Terminal pods count only as objects.
        let done = json!({"spec": pod["spec"], "status": {"phase": "Succeeded"}});
        let u = usage("", "pods", &done, 0);
        assert_eq!(u.keys().collect::<Vec<_>>(), ["count/pods"]);
    }

    #[test]
    fn service_and_claim_usage() {
        let np = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}});
        let u = usage("", "services", &np, 0);
        assert_eq!(
            (
                u["services"],
                u["services.nodeports"],
                u.get("services.loadbalancers")
            ),
            (1000, 2000, None)
        );
        let lb = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}});
        let u = usage("", "services", &lb, 0);
        assert_eq!(
            (u["services.loadbalancers"], u["services.nodeports"]),
            (1000, 1000)
        );
        let pvc = json!({"spec": {"storageClassName": "gold", "resources": {"requests": {"storage": "1Gi"}}}});
        let u = usage("", "persistentvolumeclaims", &pvc, 0);
        assert_eq!(u["requests.storage"], 1024 * 1024 * 1024 * 1000);
        assert_eq!(
            u["gold.storageclass.storage.k8s.io/persistentvolumeclaims"],
            1000
        );
        let u = usage("apps", "deployments", &json!({}), 0);
        assert_eq!(u.keys().collect::<Vec<_>>(), ["count/deployments.apps"]);
        let u = usage("", "configmaps", &json!({}), 0);
        assert_eq!(
            u.keys().collect::<Vec<_>>(),
            ["configmaps", "count/configmaps"]
        );
    }

    #[test]
    fn covers_table() {
        let cases = [
            ("", "pods", "pods", true),
            ("", "pods", "requests.cpu", true),
            ("", "pods", "count/pods", true),
            ("", "pods", "services", false),
            ("", "services", "services.nodeports", true),
            ("", "configmaps", "configmaps", true),
            ("", "configmaps", "secrets", false),
            ("apps", "deployments", "count/deployments.apps", true),
            ("apps", "deployments", "pods", false),
            ("", "persistentvolumeclaims", "requests.storage", true),
        ];
        for (g, p, name, want) in cases {
            assert_eq!(covers(g, p, name), want, "{g}/{p} {name}");
        }
    }

    #[test]
    fn scopes_table() {
        let best_effort = json!({"spec": {"containers": [{"name": "a"}]}});
        let burstable = json!({"spec": {"activeDeadlineSeconds": 30, "priorityClassName": "high",
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}});
        let q = |spec: serde_json::Value| json!({"spec": spec});
        let cases = [
            (q(json!({"scopes": ["BestEffort"]})), &best_effort, true),
            (q(json!({"scopes": ["BestEffort"]})), &burstable, false),
            (
                q(json!({"scopes": ["NotBestEffort", "Terminating"]})),
                &burstable,
                true,
            ),
            (q(json!({"scopes": ["NotTerminating"]})), &burstable, false),
            (q(json!({"scopes": ["NotTerminating"]})), &best_effort, true),
            (
                q(
                    json!({"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}),
                ),
                &burstable,
                true,
            ),
            (
                q(
                    json!({"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}),
                ),
                &best_effort,
                false,
            ),
            (
                q(
                    json!({"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "DoesNotExist"}]}}),
                ),
                &best_effort,
                true,
            ),
            (q(json!({})), &best_effort, true),
        ];
        for (i, (quota, pod, want)) in cases.iter().enumerate() {
            assert_eq!(scopes_match(quota, "", "pods", pod), *want, "case {i}");
        }
        // Scoped quotas never apply to other kinds.
        assert!(!scopes_match(
            &q(json!({"scopes": ["BestEffort"]})),
            "",
            "services",
            &json!({})
        ));
    }

    #[test]
    fn constraints_name_the_containers() {
        let pod = json!({"spec": {"containers": [
            {"name": "a", "resources": {"limits": {"cpu": "1"}}},
            {"name": "b"},
            {"name": "c"}
        ]}});
        let req: BTreeSet<String> = ["limits.cpu", "limits.memory", "pods"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            pod_constraints(&req, &pod).unwrap_err(),
            "must specify limits.cpu for: b,c; limits.memory for: a,b,c"
        );
        let req: BTreeSet<String> = ["pods".to_string()].into();
        assert!(pod_constraints(&req, &pod).is_ok());
    }

    #[test]
    fn pretty_print() {
        let u: Usage = [
            ("pods".to_string(), 2000),
            ("requests.memory".to_string(), 512 * 1024 * 1024 * 1000),
        ]
        .into();
        assert_eq!(pretty(&u), "pods=2,requests.memory=512Mi");
    }
}
