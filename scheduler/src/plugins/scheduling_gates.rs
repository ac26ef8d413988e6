//! SchedulingGates: keeps pods with `spec.schedulingGates` out of the active queue
//! (upstream `plugins/schedulinggates`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{Code, Plugin, PluginSet, PreEnqueuePlugin, Status};
use crate::registry::{Handle, RegistryError};

/// The plugin's upstream name.
pub const NAME: &str = "SchedulingGates";

/// The plugin.
pub struct SchedulingGates;

impl Plugin for SchedulingGates {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreEnqueuePlugin for SchedulingGates {
    fn pre_enqueue(&self, pod: &Pod) -> Status {
        let gates: Vec<&str> = pod
            .spec
            .iter()
            .flat_map(|s| s.scheduling_gates.iter().flatten())
            .map(|g| g.name.as_str())
            .collect();
        if gates.is_empty() {
            return Status::success();
        }
        // Upstream formats the gate names with Go's %v of a []string: "[a b]".
        Status::new(
            Code::UnschedulableAndUnresolvable,
            vec![format!(
                "waiting for scheduling gates: [{}]",
                gates.join(" ")
            )],
        )
    }
}

/// Builds the plugin; it takes no args.
pub fn factory(_args: Option<&serde_json::Value>, _h: &Handle) -> Result<PluginSet, RegistryError> {
    Ok(PluginSet {
        pre_enqueue: Some(Arc::new(SchedulingGates)),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;
    use serde_json::json;

    #[test]
    fn pre_enqueue_table() {
        let cases = [
            (json!({"containers": []}), None),
            (
                json!({"containers": [], "schedulingGates": [{"name": "foo"}, {"name": "bar"}]}),
                Some("waiting for scheduling gates: [foo bar]"),
            ),
        ];
        for (spec, want) in cases {
            let s = SchedulingGates.pre_enqueue(&pod(spec));
            match want {
                None => assert!(s.is_success()),
                Some(m) => {
                    assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
                    assert_eq!(s.message(), m);
                }
            }
        }
    }
}
