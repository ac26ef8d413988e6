//! Conversion between versions that share storage. Upstream stores one internal form and
//! converts on the way in and out; we store the storage version's JSON and convert the
//! kinds whose versions differ in shape.
//!
//! Events: core/v1 `Event` (the storage version) and events.k8s.io/v1 `Event`, mirroring
//! upstream's pkg/apis/events/v1 conversion (regarding <-> involvedObject, note <-> message,
//! reportingController <-> reportingComponent, deprecated* <-> source/firstTimestamp/
//! lastTimestamp/count).
//!
//! HorizontalPodAutoscalers: autoscaling/v2 is the storage version; autoscaling/v1 sees the
//! CPU utilization target and current value as its own fields and, like upstream's
//! conversion, carries everything v1 cannot express (other metrics, behavior, conditions)
//! in `autoscaling.alpha.kubernetes.io/*` annotations so that a v1 round trip loses
//! nothing.

use serde_json::{Map, Value};

use rudder_api::catalog::ResourceInfo;

/// Field renames between core/v1 (left) and events.k8s.io/v1 (right).
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

fn rename(obj: &Value, api_version: &str, to_events_v1: bool) -> Value {
    let Some(map) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        let key = if k == "apiVersion" {
            out.insert(k.clone(), Value::String(api_version.to_string()));
            continue;
        } else if to_events_v1 {
            EVENT_FIELDS
                .iter()
                .find(|(core, _)| core == k)
                .map(|(_, ev)| ev.to_string())
                .unwrap_or_else(|| k.clone())
        } else {
            EVENT_FIELDS
                .iter()
                .find(|(_, ev)| ev == k)
                .map(|(core, _)| core.to_string())
                .unwrap_or_else(|| k.clone())
        };
        out.insert(key, v.clone());
    }
    Value::Object(out)
}

/// Whether objects of `res` may need converting on the way out.
pub fn may_convert(res: &ResourceInfo) -> bool {
    (res.plural == "events" && (res.group.is_empty() || res.group == "events.k8s.io"))
        || (res.plural == "horizontalpodautoscalers" && res.group == "autoscaling")
}

const HPA_METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
const HPA_CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
const HPA_BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";
const HPA_CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";

fn is_cpu_utilization(m: &Value, target_field: &str) -> bool {
    m.get("type").and_then(Value::as_str) == Some("Resource")
        && m.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
        && m.pointer(&format!("/resource/{target_field}/averageUtilization"))
            .is_some()
}

fn set_annotation(obj: &mut Value, key: &str, value: &Value) {
    let meta = obj
        .as_object_mut()
        .expect("object")
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let ann = meta
        .as_object_mut()
        .expect("metadata object")
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(a) = ann.as_object_mut() {
        a.insert(key.into(), Value::String(value.to_string()));
    }
}

fn take_annotation(obj: &mut Value, key: &str) -> Option<Value> {
    let anns = obj.pointer_mut("/metadata/annotations")?.as_object_mut()?;
    let raw = anns.remove(key)?;
    let empty = anns.is_empty();
    if empty {
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("annotations");
        }
    }
    serde_json::from_str(raw.as_str()?).ok()
}

fn hpa_v2_to_v1(obj: &Value) -> Value {
    let mut out = obj.clone();
    out["apiVersion"] = Value::String("autoscaling/v1".into());
    if let Some(spec) = out.get_mut("spec").and_then(Value::as_object_mut) {
        let metrics = spec
            .remove("metrics")
            .and_then(|m| m.as_array().cloned())
            .unwrap_or_default();
        let behavior = spec.remove("behavior");
        let (cpu, rest): (Vec<Value>, Vec<Value>) = metrics
            .into_iter()
            .partition(|m| is_cpu_utilization(m, "target"));
        if let Some(u) = cpu
            .first()
            .and_then(|m| m.pointer("/resource/target/averageUtilization"))
        {
            spec.insert("targetCPUUtilizationPercentage".into(), u.clone());
        }
        if !rest.is_empty() {
            set_annotation(&mut out, HPA_METRICS, &Value::Array(rest));
        }
        if let Some(b) = behavior {
            set_annotation(&mut out, HPA_BEHAVIOR, &b);
        }
    }
    if let Some(status) = out.get_mut("status").and_then(Value::as_object_mut) {
        let current = status
            .remove("currentMetrics")
            .and_then(|m| m.as_array().cloned())
            .unwrap_or_default();
        let conditions = status.remove("conditions");
        let (cpu, rest): (Vec<Value>, Vec<Value>) = current
            .into_iter()
            .partition(|m| is_cpu_utilization(m, "current"));
        if let Some(u) = cpu
            .first()
            .and_then(|m| m.pointer("/resource/current/averageUtilization"))
        {
            status.insert("currentCPUUtilizationPercentage".into(), u.clone());
        }
        if !rest.is_empty() {
            set_annotation(&mut out, HPA_CURRENT_METRICS, &Value::Array(rest));
        }
        if let Some(c) = conditions {
            set_annotation(&mut out, HPA_CONDITIONS, &c);
        }
    }
    out
}

fn hpa_v1_to_v2(obj: &Value) -> Value {
    let mut out = obj.clone();
    out["apiVersion"] = Value::String("autoscaling/v2".into());
    let mut metrics = take_annotation(&mut out, HPA_METRICS)
        .and_then(|m| m.as_array().cloned())
        .unwrap_or_default();
    let behavior = take_annotation(&mut out, HPA_BEHAVIOR);
    let mut current = take_annotation(&mut out, HPA_CURRENT_METRICS)
        .and_then(|m| m.as_array().cloned())
        .unwrap_or_default();
    let conditions = take_annotation(&mut out, HPA_CONDITIONS);
    if let Some(spec) = out.get_mut("spec").and_then(Value::as_object_mut) {
        if let Some(u) = spec.remove("targetCPUUtilizationPercentage") {
            metrics.insert(0, serde_json::json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": u}}}));
        }
        if !metrics.is_empty() {
            spec.insert("metrics".into(), Value::Array(metrics));
        }
        if let Some(b) = behavior {
            spec.insert("behavior".into(), b);
        }
    }
    if let Some(status) = out.get_mut("status").and_then(Value::as_object_mut) {
        if let Some(u) = status.remove("currentCPUUtilizationPercentage") {
            current.insert(0, serde_json::json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": u}}}));
        }
        if !current.is_empty() {
            status.insert("currentMetrics".into(), Value::Array(current));
        }
        if let Some(c) = conditions {
            status.insert("conditions".into(), c);
        }
    }
    out
}

/// The version objects of `res` are stored in.
pub fn storage_api_version(res: &ResourceInfo) -> String {
    match (res.group, res.plural) {
        ("events.k8s.io", "events") => "v1".to_string(),
        ("autoscaling", "horizontalpodautoscalers") => "autoscaling/v2".to_string(),
        _ => res.api_version(),
    }
}

/// Converts a stored or submitted object to `api_version` when the kind has a conversion;
/// `None` when nothing needs to change.
pub fn convert(res: &ResourceInfo, obj: &Value, api_version: &str) -> Option<Value> {
    let have = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if have == api_version || !may_convert(res) {
        return None;
    }
    match (have, api_version) {
        ("v1", "events.k8s.io/v1") => Some(rename(obj, api_version, true)),
        ("events.k8s.io/v1", "v1") => Some(rename(obj, api_version, false)),
        ("autoscaling/v2", "autoscaling/v1") => Some(hpa_v2_to_v1(obj)),
        ("autoscaling/v1", "autoscaling/v2") => Some(hpa_v1_to_v2(obj)),
        _ => None,
    }
}

/// The object in the version `res` serves.
pub fn for_response(res: &ResourceInfo, obj: Value) -> Value {
    match convert(res, &obj, &res.api_version()) {
        Some(c) => c,
        None => obj,
    }
}

/// The object in its storage version.
pub fn for_storage(res: &ResourceInfo, obj: &Value) -> Option<Value> {
    convert(res, obj, &storage_api_version(res))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hpa_round_trips_through_v1() {
        let v2res =
            rudder_api::catalog::lookup("autoscaling", "v2", "horizontalpodautoscalers").unwrap();
        let v1res =
            rudder_api::catalog::lookup("autoscaling", "v1", "horizontalpodautoscalers").unwrap();
        let v2 = json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1, "maxReplicas": 5,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}}},
                ],
            },
        });
        let v1 = convert(v1res, &v2, "autoscaling/v1").unwrap();
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 60);
        assert!(v1["spec"].get("metrics").is_none());
        assert!(v1["metadata"]["annotations"][HPA_METRICS]
            .as_str()
            .unwrap()
            .contains("memory"));
        let back = convert(v2res, &v1, "autoscaling/v2").unwrap();
        assert_eq!(back, v2);
    }

    #[test]
    fn events_round_trip_between_versions() {
        let ev_res = rudder_api::catalog::lookup("events.k8s.io", "v1", "events").unwrap();
        let core = json!({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "message": "hi", "reason": "Scheduled",
            "source": {"component": "sched"}, "count": 2, "type": "Normal",
        });
        let v1 = convert(ev_res, &core, "events.k8s.io/v1").unwrap();
        assert_eq!(v1["regarding"]["name"], "p");
        assert_eq!(v1["note"], "hi");
        assert_eq!(v1["deprecatedCount"], 2);
        assert_eq!(v1["reason"], "Scheduled");
        assert!(v1.get("involvedObject").is_none());
        assert_eq!(convert(ev_res, &v1, "v1").unwrap(), core);
        assert!(convert(ev_res, &core, "v1").is_none());
    }
}
