//! Writes to the apiserver other than binding: events.k8s.io/v1 Events and the
//! `PodScheduled` condition through `pods/status` (upstream `schedule_one.go`
//! `handleSchedulingFailure` and `util.PatchPodStatus`).

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, Patch, PatchParams, PostParams};

/// Errors talking to the apiserver.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The request failed.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// The object could not be built.
    #[error("building {0}: {1}")]
    Build(&'static str, serde_json::Error),
}

fn micro_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// The events.k8s.io/v1 Event the scheduler writes about a pod: named
/// `<pod>.<hex nanoseconds>` like client-go's recorder, reporting controller = the
/// profile's schedulerName, reporting instance = `<schedulerName>-<hostname>`.
pub fn build_event(
    pod: &Pod,
    event_type: &str,
    reason: &str,
    action: &str,
    note: &str,
    controller: &str,
    instance: &str,
) -> serde_json::Value {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or("");
    serde_json::json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            "name": format!("{name}.{nanos:x}"),
            "namespace": pod.metadata.namespace,
        },
        "eventTime": micro_now(),
        "reportingController": controller,
        "reportingInstance": instance,
        "action": action,
        "reason": reason,
        "type": event_type,
        // The apiserver limits notes to 1 kB.
        "note": truncate(note, 1024),
        "regarding": {
            "kind": "Pod",
            "apiVersion": "v1",
            "namespace": pod.metadata.namespace,
            "name": name,
            "uid": pod.metadata.uid,
            "resourceVersion": pod.metadata.resource_version,
        },
    })
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Creates an event.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    client: &kube::Client,
    pod: &Pod,
    event_type: &str,
    reason: &str,
    action: &str,
    note: &str,
    controller: &str,
    instance: &str,
) -> Result<(), WriteError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let ev: Event = serde_json::from_value(build_event(
        pod, event_type, reason, action, note, controller, instance,
    ))
    .map_err(|e| WriteError::Build("event", e))?;
    Api::<Event>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &ev)
        .await?;
    Ok(())
}

/// The strategic merge patch setting `PodScheduled=False` with the given reason and
/// message, or None when the pod already carries exactly that condition (upstream only
/// patches when `UpdatePodCondition` reports a change). lastTransitionTime moves only when
/// the status changes.
pub fn pod_scheduled_patch(
    pod: &Pod,
    reason: &str,
    message: &str,
    nominated: Option<&str>,
) -> Option<serde_json::Value> {
    let current_nominated = pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref());
    let existing = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
    if let Some(c) = existing {
        if c.status == "False"
            && (nominated.is_none() || nominated == current_nominated)
            && c.reason.as_deref() == Some(reason)
            && c.message.as_deref() == Some(message)
        {
            return None;
        }
    }
    let transition = match existing {
        Some(c) if c.status == "False" => c
            .last_transition_time
            .as_ref()
            .map(|t| serde_json::to_value(t).unwrap_or_default())
            .unwrap_or_else(|| serde_json::json!(now_seconds())),
        _ => serde_json::json!(now_seconds()),
    };
    let mut patch = serde_json::json!({
        "status": {
            "conditions": [{
                "type": "PodScheduled",
                "status": "False",
                "reason": reason,
                "message": message,
                "lastProbeTime": null,
                "lastTransitionTime": transition,
            }]
        }
    });
    // Preemption nominates a node; upstream records it in status.nominatedNodeName.
    if let Some(n) = nominated {
        patch["status"]["nominatedNodeName"] = serde_json::json!(n);
    }
    Some(patch)
}

fn now_seconds() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Patches the PodScheduled condition through pods/status if it changed.
pub async fn set_unschedulable(
    client: &kube::Client,
    pod: &Pod,
    reason: &str,
    message: &str,
    nominated: Option<&str>,
) -> Result<(), WriteError> {
    let Some(patch) = pod_scheduled_patch(pod, reason, message, nominated) else {
        return Ok(());
    };
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    Api::<Pod>::namespaced(client.clone(), ns)
        .patch_status(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_shape() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u", "resourceVersion": "7"}})).unwrap();
        let e = build_event(
            &pod,
            "Normal",
            "Scheduled",
            "Binding",
            "Successfully assigned ns/p to n1",
            "default-scheduler",
            "default-scheduler-h",
        );
        assert!(e["metadata"]["name"].as_str().unwrap().starts_with("p."));
        assert_eq!(
            e["regarding"],
            json!({"kind": "Pod", "apiVersion": "v1", "namespace": "ns", "name": "p", "uid": "u", "resourceVersion": "7"})
        );
        assert_eq!(e["note"], "Successfully assigned ns/p to n1");
        // It decodes as a typed Event (eventTime is a MicroTime).
        let _: Event = serde_json::from_value(e).unwrap();
    }

    #[test]
    fn condition_patch_only_on_change() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "status": {"conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "m", "lastTransitionTime": "2024-01-01T00:00:00Z"}
        ]}})).unwrap();
        assert_eq!(pod_scheduled_patch(&pod, "Unschedulable", "m", None), None);
        let p = pod_scheduled_patch(&pod, "Unschedulable", "m2", None).unwrap();
        let c = &p["status"]["conditions"][0];
        assert_eq!(c["message"], "m2");
        assert_eq!(c["lastTransitionTime"], "2024-01-01T00:00:00Z");
        let fresh: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap();
        assert!(pod_scheduled_patch(&fresh, "Unschedulable", "m", None).is_some());
        let n = pod_scheduled_patch(&pod, "Unschedulable", "m", Some("n1")).unwrap();
        assert_eq!(n["status"]["nominatedNodeName"], "n1");
    }
}
