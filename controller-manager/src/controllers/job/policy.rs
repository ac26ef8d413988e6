//! The pure decisions of the job controller: which podFailurePolicy rule a failed pod
//! matches (upstream `matchPodFailurePolicy`), whether a successPolicy is met (upstream
//! `matchSuccessPolicy`), and how long to wait before replacing failed pods (upstream
//! `backoffRecord.getRemainingTime`).

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{PodFailurePolicy, SuccessPolicy};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::indexes;

/// Upstream `DefaultJobPodFailureBackOff`.
pub const POD_FAILURE_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream `MaxJobPodFailureBackOff`.
pub const MAX_POD_FAILURE_BACKOFF: Duration = Duration::from_secs(360);

/// What a podFailurePolicy rule says about one failed pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureAction {
    /// Fail the whole job with this condition message.
    FailJob(String),
    /// Do not count the failure against backoffLimit.
    Ignore,
    /// Count it (also the answer when no rule matches).
    Count,
    /// Fail the pod's index (needs backoffLimitPerIndex).
    FailIndex,
}

/// Evaluates the rules in order against a failed pod; the first match wins and no match
/// means `Count`. Messages are upstream's.
pub fn match_pod_failure_policy(policy: &PodFailurePolicy, pod: &Pod) -> FailureAction {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    for (i, rule) in policy.rules.iter().enumerate() {
        let message = if let Some(req) = &rule.on_exit_codes {
            let Some((cname, code)) = matching_container(pod, req) else {
                continue;
            };
            format!(
                "Container {cname} for pod {ns}/{name} failed with exit code {code} matching {} rule at index {i}",
                rule.action
            )
        } else if let Some(patterns) = &rule.on_pod_conditions {
            let conditions = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let Some(c) = conditions.iter().find(|c| {
                patterns
                    .iter()
                    .any(|p| p.type_ == c.type_ && p.status == c.status)
            }) else {
                continue;
            };
            format!(
                "Pod {ns}/{name} has condition {} matching {} rule at index {i}",
                c.type_, rule.action
            )
        } else {
            continue;
        };
        return match rule.action.as_str() {
            "FailJob" => FailureAction::FailJob(message),
            "Ignore" => FailureAction::Ignore,
            "FailIndex" => FailureAction::FailIndex,
            _ => FailureAction::Count,
        };
    }
    FailureAction::Count
}

/// The first terminated container (regular containers first, then init containers) with a
/// non-zero exit code satisfying the requirement (upstream `matchOnExitCodes`).
fn matching_container(
    pod: &Pod,
    req: &k8s_openapi::api::batch::v1::PodFailurePolicyOnExitCodesRequirement,
) -> Option<(String, i32)> {
    let status = pod.status.as_ref()?;
    let lists: [&Option<Vec<ContainerStatus>>; 2] =
        [&status.container_statuses, &status.init_container_statuses];
    for cs in lists.into_iter().flatten().flatten() {
        let Some(t) = cs.state.as_ref().and_then(|s| s.terminated.as_ref()) else {
            continue;
        };
        if req.container_name.as_ref().is_some_and(|n| *n != cs.name) || t.exit_code == 0 {
            continue;
        }
        let listed = req.values.contains(&t.exit_code);
        let hit = match req.operator.as_str() {
            "In" => listed,
            "NotIn" => !listed,
            _ => false,
        };
        if hit {
            return Some((cs.name.clone(), t.exit_code));
        }
    }
    None
}

/// The index of the first successPolicy rule met by the succeeded indexes (upstream
/// `matchSuccessPolicy`): every listed index succeeded (`succeededIndexes` alone), at least
/// `succeededCount` succeeded (alone), or at least that many of the listed ones (both).
pub fn match_success_policy(
    policy: &SuccessPolicy,
    completions: i32,
    succeeded: &BTreeSet<i32>,
) -> Option<usize> {
    policy.rules.iter().position(
        |rule| match (&rule.succeeded_indexes, rule.succeeded_count) {
            (Some(ix), count) => {
                let wanted = indexes::parse(ix, completions);
                let hits = wanted.intersection(succeeded).count() as i32;
                match count {
                    Some(n) => hits >= n,
                    None => !wanted.is_empty() && hits == wanted.len() as i32,
                }
            }
            (None, Some(n)) => succeeded.len() as i32 >= n,
            (None, None) => false,
        },
    )
}

/// The delay before pods replacing failures may be created, after `failures` consecutive
/// failures since the last success: 10 s doubling per failure, at most 6 min.
pub fn pod_failure_backoff(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let exp = (failures - 1).min(16);
    POD_FAILURE_BACKOFF
        .saturating_mul(1u32 << exp)
        .min(MAX_POD_FAILURE_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "status": status
        }))
        .unwrap()
    }

    fn policy(rules: serde_json::Value) -> PodFailurePolicy {
        serde_json::from_value(json!({ "rules": rules })).unwrap()
    }

    fn exited(name: &str, code: i32) -> serde_json::Value {
        json!({"name": name, "image": "i", "imageID": "", "ready": false, "restartCount": 0,
               "state": {"terminated": {"exitCode": code}}})
    }

    #[test]
    fn pod_failure_policy_table() {
        let failed_42 = pod(json!({"phase": "Failed", "containerStatuses": [exited("main", 42)]}));
        let failed_1 = pod(json!({"phase": "Failed", "containerStatuses": [exited("main", 1)]}));
        let disrupted = pod(json!({"phase": "Failed",
            "containerStatuses": [exited("main", 137)],
            "conditions": [{"type": "DisruptionTarget", "status": "True"}]}));
        let init_failed = pod(json!({"phase": "Failed",
            "initContainerStatuses": [exited("setup", 5)]}));
        let zero = pod(json!({"phase": "Failed", "containerStatuses": [exited("main", 0)]}));
        let cases: Vec<(&str, PodFailurePolicy, &Pod, FailureAction)> = vec![
            (
                "exit code In -> FailJob",
                policy(json!([{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}])),
                &failed_42,
                FailureAction::FailJob("Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 0".into()),
            ),
            (
                "exit code not listed -> Count",
                policy(json!([{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}])),
                &failed_1,
                FailureAction::Count,
            ),
            (
                "NotIn matches other codes",
                policy(json!([{"action": "Ignore", "onExitCodes": {"operator": "NotIn", "values": [42]}}])),
                &failed_1,
                FailureAction::Ignore,
            ),
            (
                "exit code 0 never matches",
                policy(json!([{"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [1]}}])),
                &zero,
                FailureAction::Count,
            ),
            (
                "container name filter",
                policy(json!([{"action": "FailJob", "onExitCodes": {"containerName": "side", "operator": "In", "values": [42]}}])),
                &failed_42,
                FailureAction::Count,
            ),
            (
                "init containers are checked",
                policy(json!([{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [5]}}])),
                &init_failed,
                FailureAction::FailJob("Container setup for pod ns/p failed with exit code 5 matching FailJob rule at index 0".into()),
            ),
            (
                "DisruptionTarget -> Ignore, first matching rule wins",
                policy(json!([
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                    {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [137]}}
                ])),
                &disrupted,
                FailureAction::Ignore,
            ),
            (
                "condition FailJob message",
                policy(json!([
                    {"action": "Count", "onExitCodes": {"operator": "In", "values": [1]}},
                    {"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
                ])),
                &disrupted,
                FailureAction::FailJob("Pod ns/p has condition DisruptionTarget matching FailJob rule at index 1".into()),
            ),
            (
                "FailIndex",
                policy(json!([{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [42]}}])),
                &failed_42,
                FailureAction::FailIndex,
            ),
        ];
        for (name, p, pod, want) in cases {
            assert_eq!(match_pod_failure_policy(&p, pod), want, "{name}");
        }
    }

    #[test]
    fn success_policy_table() {
        let sp = |rules: serde_json::Value| -> SuccessPolicy {
            serde_json::from_value(json!({ "rules": rules })).unwrap()
        };
        let set = |v: &[i32]| v.iter().copied().collect::<BTreeSet<i32>>();
        let cases = [
            (
                sp(json!([{"succeededIndexes": "0,2"}])),
                set(&[0, 2]),
                Some(0),
            ),
            (sp(json!([{"succeededIndexes": "0,2"}])), set(&[0, 1]), None),
            (sp(json!([{"succeededCount": 2}])), set(&[3, 4]), Some(0)),
            (sp(json!([{"succeededCount": 3}])), set(&[3, 4]), None),
            (
                sp(json!([{"succeededIndexes": "0-3", "succeededCount": 1}])),
                set(&[4, 2]),
                Some(0),
            ),
            (
                sp(json!([{"succeededCount": 5}, {"succeededIndexes": "4"}])),
                set(&[4]),
                Some(1),
            ),
        ];
        for (i, (p, succeeded, want)) in cases.into_iter().enumerate() {
            assert_eq!(match_success_policy(&p, 5, &succeeded), want, "case {i}");
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let cases = [
            (0, 0),
            (1, 10),
            (2, 20),
            (3, 40),
            (6, 320),
            (7, 360),
            (40, 360),
        ];
        for (failures, secs) in cases {
            assert_eq!(
                pod_failure_backoff(failures),
                Duration::from_secs(secs),
                "failures={failures}"
            );
        }
    }
}
