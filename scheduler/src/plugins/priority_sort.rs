//! PrioritySort: the default QueueSort, higher `spec.priority` first, then earlier
//! enqueue time (upstream `plugins/queuesort`).

use std::sync::Arc;

use crate::framework::{Plugin, PluginSet, QueueSortPlugin, QueuedPodInfo};
use crate::registry::{Handle, RegistryError};

/// The plugin's upstream name.
pub const NAME: &str = "PrioritySort";

/// The plugin.
pub struct PrioritySort;

/// A pod's priority; pods without one count as 0 (upstream `corev1helpers.PodPriority`).
pub fn priority(pod: &k8s_openapi::api::core::v1::Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

impl Plugin for PrioritySort {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl QueueSortPlugin for PrioritySort {
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        let (pa, pb) = (priority(&a.pod), priority(&b.pod));
        pa > pb || (pa == pb && a.timestamp < b.timestamp)
    }
}

/// Builds the plugin; it takes no args.
pub fn factory(_args: Option<&serde_json::Value>, _h: &Handle) -> Result<PluginSet, RegistryError> {
    Ok(PluginSet {
        queue_sort: Some(Arc::new(PrioritySort)),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;
    use serde_json::json;
    use std::time::{Duration, Instant};

    fn qp(prio: i32, at: Instant) -> QueuedPodInfo {
        QueuedPodInfo {
            pod: Arc::new(pod(json!({"containers": [], "priority": prio}))),
            timestamp: at,
            attempts: 0,
            initial_attempt: None,
            unschedulable_plugins: vec![],
            last_failure_was_error: false,
            attempt_started: None,
        }
    }

    #[test]
    fn less_table() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let cases = [
            (qp(100, t1), qp(10, t0), true),
            (qp(10, t0), qp(100, t1), false),
            (qp(10, t0), qp(10, t1), true),
            (qp(10, t1), qp(10, t0), false),
        ];
        for (i, (a, b, want)) in cases.iter().enumerate() {
            assert_eq!(PrioritySort.less(a, b), *want, "case {i}");
        }
    }
}
