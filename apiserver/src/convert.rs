//! Conversion between versions that share storage. Upstream stores one internal form and
//! converts on the way in and out; we store the storage version's JSON and convert the
//! kinds whose versions differ in shape.
//!
//! Events: core/v1 `Event` (the storage version) and events.k8s.io/v1 `Event`, mirroring
//! upstream's pkg/apis/events/v1 conversion (regarding <-> involvedObject, note <-> message,
//! reportingController <-> reportingComponent, deprecated* <-> source/firstTimestamp/
//! lastTimestamp/count).

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
    res.plural == "events" && (res.group.is_empty() || res.group == "events.k8s.io")
}

/// The version objects of `res` are stored in.
pub fn storage_api_version(res: &ResourceInfo) -> String {
    match (res.group, res.plural) {
        ("events.k8s.io", "events") => "v1".to_string(),
        _ => res.api_version(),
    }
}

/// Converts a stored or submitted object to `api_version` when the kind has a conversion;
/// `None` when nothing needs to change.
pub fn convert(res: &ResourceInfo, obj: &Value, api_version: &str) -> Option<Value> {
    let have = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if have == api_version || res.plural != "events" {
        return None;
    }
    match (have, api_version) {
        ("v1", "events.k8s.io/v1") => Some(rename(obj, api_version, true)),
        ("events.k8s.io/v1", "v1") => Some(rename(obj, api_version, false)),
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
