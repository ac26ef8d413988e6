//! Cells for apps, batch, autoscaling and policy resources, mirroring the `print*`
//! functions of upstream's pkg/printers/internalversion/printers.go.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::format::{
    age, arr, bool_or, container_cells, format_label_selector, format_labels, get, human_duration,
    int_at, int_or, int_or_string, name, opt_str, selector_string, since, str_at, time_at,
};
use crate::{quantity, PrintError};

type Cells = Result<Vec<Value>, PrintError>;

fn template_containers(obj: &Value) -> (String, String) {
    container_cells(arr(obj, &["spec", "template", "spec", "containers"]))
}

/// Mirrors `printDeployment`; the Selector cell is `selector.String()` (empty for an empty
/// selector, `<invalid>` when it cannot be parsed).
pub(crate) fn deployment(obj: &Value, now: DateTime<Utc>) -> Cells {
    // v1 defaulting sets replicas to 1.
    let desired = int_or(obj, &["spec", "replicas"], 1);
    let ready = int_at(obj, &["status", "readyReplicas"]);
    let selector = match get(obj, &["spec", "selector"]) {
        // LabelSelectorAsSelector(nil) is labels.Nothing(), whose String() is "".
        None => String::new(),
        Some(sel) => selector_string(Some(sel)).unwrap_or_else(|_| "<invalid>".to_string()),
    };
    let (names, images) = template_containers(obj);
    Ok(vec![
        name(obj).into(),
        format!("{ready}/{desired}").into(),
        int_at(obj, &["status", "updatedReplicas"]).into(),
        int_at(obj, &["status", "availableReplicas"]).into(),
        age(obj, now).into(),
        names.into(),
        images.into(),
        selector.into(),
    ])
}

/// Mirrors `printReplicaSet`.
pub(crate) fn replica_set(obj: &Value, now: DateTime<Utc>) -> Cells {
    let (names, images) = template_containers(obj);
    Ok(vec![
        name(obj).into(),
        int_or(obj, &["spec", "replicas"], 1).into(),
        int_at(obj, &["status", "replicas"]).into(),
        int_at(obj, &["status", "readyReplicas"]).into(),
        age(obj, now).into(),
        names.into(),
        images.into(),
        format_label_selector(get(obj, &["spec", "selector"])).into(),
    ])
}

/// Mirrors `printStatefulSet`: Ready is `ready/desired`.
pub(crate) fn stateful_set(obj: &Value, now: DateTime<Utc>) -> Cells {
    let desired = int_or(obj, &["spec", "replicas"], 1);
    let ready = int_at(obj, &["status", "readyReplicas"]);
    let (names, images) = template_containers(obj);
    Ok(vec![
        name(obj).into(),
        format!("{ready}/{desired}").into(),
        age(obj, now).into(),
        names.into(),
        images.into(),
    ])
}

/// Mirrors `printDaemonSet`.
pub(crate) fn daemon_set(obj: &Value, now: DateTime<Utc>) -> Cells {
    let (names, images) = template_containers(obj);
    Ok(vec![
        name(obj).into(),
        int_at(obj, &["status", "desiredNumberScheduled"]).into(),
        int_at(obj, &["status", "currentNumberScheduled"]).into(),
        int_at(obj, &["status", "numberReady"]).into(),
        int_at(obj, &["status", "updatedNumberScheduled"]).into(),
        int_at(obj, &["status", "numberAvailable"]).into(),
        format_labels(get(obj, &["spec", "template", "spec", "nodeSelector"])).into(),
        age(obj, now).into(),
        names.into(),
        images.into(),
        format_label_selector(get(obj, &["spec", "selector"])).into(),
    ])
}

/// Mirrors `printControllerRevision`: the controller as `kind.group/name`, lower-cased.
pub(crate) fn controller_revision(obj: &Value, now: DateTime<Utc>) -> Cells {
    let controller = match arr(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| bool_or(r, &["controller"], false))
    {
        None => "<none>".to_string(),
        Some(r) => {
            let api_version = str_at(r, &["apiVersion"]);
            // schema.ParseGroupVersion: "", "v1", "group/version"; more slashes fail.
            let group = match api_version.split('/').collect::<Vec<_>>().as_slice() {
                [] | [_] => "",
                [g, _] => g,
                _ => return Err(PrintError::InvalidGroupVersion(api_version.to_string())),
            };
            let kind = str_at(r, &["kind"]);
            let ref_name = str_at(r, &["name"]);
            if group.is_empty() && kind.is_empty() {
                ref_name.to_string()
            } else {
                let gk = if group.is_empty() {
                    kind.to_string()
                } else {
                    format!("{kind}.{group}")
                };
                format!("{}/{}", gk.to_lowercase(), ref_name)
            }
        }
    };
    Ok(controller_revision_cells(obj, now, controller))
}

/// ControllerRevision cells with the Controller cell given.
pub(crate) fn controller_revision_cells(
    obj: &Value,
    now: DateTime<Utc>,
    controller: String,
) -> Vec<Value> {
    vec![
        name(obj).into(),
        controller.into(),
        int_at(obj, &["revision"]).into(),
        age(obj, now).into(),
    ]
}

/// `hasJobCondition`: the first condition of the type decides.
fn has_job_condition(obj: &Value, type_: &str) -> bool {
    arr(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

/// Mirrors `printJob`.
pub(crate) fn job(obj: &Value, now: DateTime<Utc>) -> Cells {
    let succeeded = int_at(obj, &["status", "succeeded"]);
    let completions = match get(obj, &["spec", "completions"]).and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = int_at(obj, &["spec", "parallelism"]);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let start = time_at(obj, &["status", "startTime"]);
    let completion = time_at(obj, &["status", "completionTime"]);
    let duration = match (start, completion) {
        (None, _) => String::new(),
        (Some(s), None) => human_duration(now - s),
        (Some(s), Some(c)) => human_duration(c - s),
    };
    let status = if has_job_condition(obj, "Complete") {
        "Complete"
    } else if has_job_condition(obj, "Failed") {
        "Failed"
    } else if get(obj, &["metadata", "deletionTimestamp"]).is_some() {
        "Terminating"
    } else if has_job_condition(obj, "Suspended") {
        "Suspended"
    } else if has_job_condition(obj, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = template_containers(obj);
    Ok(vec![
        name(obj).into(),
        status.into(),
        completions.into(),
        duration.into(),
        age(obj, now).into(),
        names.into(),
        images.into(),
        format_label_selector(get(obj, &["spec", "selector"])).into(),
    ])
}

/// Mirrors `printCronJob`.
pub(crate) fn cron_job(obj: &Value, now: DateTime<Utc>) -> Cells {
    let last_schedule = match time_at(obj, &["status", "lastScheduleTime"]) {
        None if get(obj, &["status", "lastScheduleTime"]).is_none() => "<none>".to_string(),
        t => since(t, now),
    };
    // printBoolPtr; v1 defaulting sets suspend to false.
    let suspend = if bool_or(obj, &["spec", "suspend"], false) {
        "True"
    } else {
        "False"
    };
    let job_spec = get(obj, &["spec", "jobTemplate", "spec"]);
    let (names, images) = container_cells(
        job_spec
            .map(|s| arr(s, &["template", "spec", "containers"]))
            .unwrap_or(&[]),
    );
    Ok(vec![
        name(obj).into(),
        str_at(obj, &["spec", "schedule"]).into(),
        opt_str(obj, &["spec", "timeZone"])
            .unwrap_or("<none>")
            .into(),
        suspend.into(),
        (arr(obj, &["status", "active"]).len() as i64).into(),
        last_schedule.into(),
        age(obj, now).into(),
        names.into(),
        images.into(),
        format_label_selector(job_spec.and_then(|s| get(s, &["selector"]))).into(),
    ])
}

/// Mirrors `printPodDisruptionBudget`.
pub(crate) fn pdb(obj: &Value, now: DateTime<Utc>) -> Cells {
    let or_na = |f: &str| {
        get(obj, &["spec", f])
            .map(int_or_string)
            .unwrap_or_else(|| "N/A".to_string())
    };
    Ok(vec![
        name(obj).into(),
        or_na("minAvailable").into(),
        or_na("maxUnavailable").into(),
        int_at(obj, &["status", "disruptionsAllowed"]).into(),
        age(obj, now).into(),
    ])
}

/// `autoscaling.DefaultCPUUtilization`: the CPU target defaulting gives an HPA without
/// metrics.
const DEFAULT_CPU_UTILIZATION: i64 = 80;

fn default_cpu_metric(target: i64) -> Value {
    serde_json::json!({
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}
    })
}

/// Metrics of an HPA in the autoscaling/v2 shape. An autoscaling/v1 object is converted
/// like upstream does: its CPU target becomes a Resource metric, its current CPU the
/// status. Without any metric, the v2 default (CPU at 80%) applies, as upstream's storage
/// round trip through autoscaling/v2 does.
fn hpa_metrics(obj: &Value) -> (Vec<Value>, Vec<Value>) {
    if str_at(obj, &["apiVersion"]) == "autoscaling/v1" {
        let target = get(obj, &["spec", "targetCPUUtilizationPercentage"]).and_then(Value::as_i64);
        let spec = default_cpu_metric(target.unwrap_or(DEFAULT_CPU_UTILIZATION));
        let status = match get(obj, &["status", "currentCPUUtilizationPercentage"])
            .and_then(Value::as_i64)
        {
            Some(cur) => vec![serde_json::json!({
                "type": "Resource",
                "resource": {"name": "cpu", "current": {"averageUtilization": cur}}
            })],
            None => Vec::new(),
        };
        return (vec![spec], status);
    }
    let mut specs = arr(obj, &["spec", "metrics"]).to_vec();
    if specs.is_empty() {
        specs.push(default_cpu_metric(DEFAULT_CPU_UTILIZATION));
    }
    (specs, arr(obj, &["status", "currentMetrics"]).to_vec())
}

/// Mirrors `formatHPAMetrics`: at most two metrics, then ` + N more...`.
fn format_hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".to_string();
    }
    // Metric targets and values are `*Quantity`; a nil one prints as "<nil>".
    let q = |v: Option<&Value>| match v {
        None => "<nil>".to_string(),
        Some(v) => quantity::of_value(Some(v)),
    };
    let status_of = |i: usize, key: &str| statuses.get(i).and_then(|s| get(s, &[key]));
    let mut list: Vec<String> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let text = match str_at(spec, &["type"]) {
            t @ ("External" | "Object") => {
                let key = if t == "External" {
                    "external"
                } else {
                    "object"
                };
                let target = get(spec, &[key, "target"]);
                let st = status_of(i, key);
                if let Some(avg) = target.and_then(|t| get(t, &["averageValue"])) {
                    let current = st
                        .and_then(|s| get(s, &["current", "averageValue"]))
                        .map(|v| q(Some(v)))
                        .unwrap_or_else(|| "<unknown>".to_string());
                    format!("{current}/{} (avg)", q(Some(avg)))
                } else {
                    let current = st
                        .map(|s| q(get(s, &["current", "value"])))
                        .unwrap_or_else(|| "<unknown>".to_string());
                    format!("{current}/{}", q(target.and_then(|t| get(t, &["value"]))))
                }
            }
            "Pods" => {
                let current = status_of(i, "pods")
                    .map(|s| q(get(s, &["current", "averageValue"])))
                    .unwrap_or_else(|| "<unknown>".to_string());
                format!(
                    "{current}/{}",
                    q(get(spec, &["pods", "target", "averageValue"]))
                )
            }
            t @ ("Resource" | "ContainerResource") => {
                let key = if t == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let res_name = str_at(spec, &[key, "name"]);
                let target = get(spec, &[key, "target"]);
                let st = status_of(i, key);
                if let Some(avg) = target.and_then(|t| get(t, &["averageValue"])) {
                    let current = st
                        .map(|s| q(get(s, &["current", "averageValue"])))
                        .unwrap_or_else(|| "<unknown>".to_string());
                    format!("{res_name}: {current}/{}", q(Some(avg)))
                } else {
                    let current = st
                        .and_then(|s| get(s, &["current", "averageUtilization"]))
                        .and_then(Value::as_i64)
                        .map(|u| format!("{u}%"))
                        .unwrap_or_else(|| "<unknown>".to_string());
                    let target = target
                        .and_then(|t| get(t, &["averageUtilization"]))
                        .and_then(Value::as_i64)
                        .map(|u| format!("{u}%"))
                        .unwrap_or_else(|| "<auto>".to_string());
                    format!("{res_name}: {current}/{target}")
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(text);
    }
    const MAX: usize = 2;
    let count = list.len();
    if count > MAX {
        list.truncate(MAX);
        return format!("{} + {} more...", list.join(", "), count - MAX);
    }
    list.join(", ")
}

/// Mirrors `printHorizontalPodAutoscaler`.
pub(crate) fn hpa(obj: &Value, now: DateTime<Utc>) -> Cells {
    let reference = format!(
        "{}/{}",
        str_at(obj, &["spec", "scaleTargetRef", "kind"]),
        str_at(obj, &["spec", "scaleTargetRef", "name"])
    );
    let (specs, statuses) = hpa_metrics(obj);
    // Defaulting sets minReplicas to 1 in every served version, so upstream's "<unset>"
    // cannot occur for a stored object.
    let min_pods = int_or(obj, &["spec", "minReplicas"], 1).to_string();
    Ok(vec![
        name(obj).into(),
        reference.into(),
        format_hpa_metrics(&specs, &statuses).into(),
        min_pods.into(),
        int_at(obj, &["spec", "maxReplicas"]).into(),
        int_at(obj, &["status", "currentReplicas"]).into(),
        age(obj, now).into(),
    ])
}

#[cfg(test)]
mod tests {
    use crate::testutil::{ago, check, now};
    use serde_json::{json, Value};

    fn meta(name: &str) -> Value {
        json!({"name": name, "creationTimestamp": ago(3600 * 50)})
    }

    fn template() -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "web", "image": "nginx:1.27"}, {"name": "side", "image": "busybox"}]}})
    }

    #[test]
    fn deployments() {
        let cases = vec![
            (
                "rolling",
                json!({"metadata": meta("web"), "spec": {"replicas": 3,
                "selector": {"matchLabels": {"app": "web"}}, "template": template()},
                "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}),
                json!([
                    "web",
                    "2/3",
                    3,
                    2,
                    "2d2h",
                    "web,side",
                    "nginx:1.27,busybox",
                    "app=web"
                ]),
            ),
            (
                "defaults, empty selector",
                json!({"metadata": meta("d"), "spec": {"selector": {}}}),
                json!(["d", "0/1", 0, 0, "2d2h", "", "", ""]),
            ),
            (
                "invalid selector",
                json!({"metadata": meta("d"), "spec": {"replicas": 0,
                "selector": {"matchExpressions": [{"key": "a", "operator": "Bad"}]}}}),
                json!(["d", "0/0", 0, 0, "2d2h", "", "", "<invalid>"]),
            ),
        ];
        check("apps", "deployments", &cases);
    }

    #[test]
    fn replica_sets_stateful_sets_daemon_sets() {
        check(
            "apps",
            "replicasets",
            &[(
                "rs",
                json!({"metadata": meta("web-1"), "spec": {"replicas": 2,
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": "1"}}, "template": template()},
            "status": {"replicas": 2, "readyReplicas": 1}}),
                json!([
                    "web-1",
                    2,
                    2,
                    1,
                    "2d2h",
                    "web,side",
                    "nginx:1.27,busybox",
                    "app=web,pod-template-hash=1"
                ]),
            )],
        );
        check(
            "apps",
            "statefulsets",
            &[(
                "sts",
                json!({"metadata": meta("db"), "spec": {"replicas": 3,
            "template": template()}, "status": {"readyReplicas": 3}}),
                json!(["db", "3/3", "2d2h", "web,side", "nginx:1.27,busybox"]),
            )],
        );
        check(
            "apps",
            "daemonsets",
            &[(
                "ds",
                json!({"metadata": meta("agent"), "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                                  "containers": [{"name": "a", "image": "agent:1"}]}}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                       "updatedNumberScheduled": 3, "numberAvailable": 2}}),
                json!([
                    "agent",
                    3,
                    3,
                    2,
                    3,
                    2,
                    "kubernetes.io/os=linux",
                    "2d2h",
                    "a",
                    "agent:1",
                    "app=agent"
                ]),
            )],
        );
    }

    #[test]
    fn controller_revisions() {
        let owned = |api_version: &str| {
            json!({"metadata": {"name": "web-7d", "creationTimestamp": ago(30),
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "controller": false},
                                {"apiVersion": api_version, "kind": "StatefulSet", "name": "web", "controller": true}]},
            "revision": 2})
        };
        check(
            "apps",
            "controllerrevisions",
            &[
                (
                    "apps owner",
                    owned("apps/v1"),
                    json!(["web-7d", "statefulset.apps/web", 2, "30s"]),
                ),
                (
                    "core owner",
                    owned("v1"),
                    json!(["web-7d", "statefulset/web", 2, "30s"]),
                ),
                (
                    "no controller",
                    json!({"metadata": {"name": "r"}, "revision": 1}),
                    json!(["r", "<none>", 1, "<unknown>"]),
                ),
                (
                    "bad group version",
                    owned("a/b/c"),
                    json!(["web-7d", "<invalid>", 2, "30s"]),
                ),
            ],
        );
        let err = crate::try_cells("apps", "controllerrevisions", &owned("a/b/c"), now());
        assert_eq!(
            err,
            Err(crate::PrintError::InvalidGroupVersion("a/b/c".into()))
        );
    }

    #[test]
    fn jobs() {
        let job = |spec: Value, status: Value| {
            json!({"metadata": meta("pi"),
            "spec": spec, "status": status})
        };
        let spec = json!({"completions": 1, "parallelism": 1, "template": {"spec": {"containers": [
            {"name": "pi", "image": "perl"}]}}, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}}});
        let sel = "batch.kubernetes.io/controller-uid=u";
        let cases = vec![
            (
                "complete",
                job(
                    spec.clone(),
                    json!({"succeeded": 1, "startTime": ago(3600), "completionTime": ago(3600 - 75),
                "conditions": [{"type": "Complete", "status": "True"}]}),
                ),
                json!(["pi", "Complete", "1/1", "75s", "2d2h", "pi", "perl", sel]),
            ),
            (
                "running",
                job(spec.clone(), json!({"startTime": ago(190), "active": 1})),
                json!(["pi", "Running", "0/1", "3m10s", "2d2h", "pi", "perl", sel]),
            ),
            (
                "failed",
                job(
                    spec.clone(),
                    json!({"failed": 1, "conditions": [
                {"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]}),
                ),
                json!(["pi", "Failed", "0/1", "", "2d2h", "pi", "perl", sel]),
            ),
            (
                "suspended work queue",
                job(
                    json!({"parallelism": 3}),
                    json!({"succeeded": 2, "conditions": [{"type": "Suspended", "status": "True"}]}),
                ),
                json!(["pi", "Suspended", "2/1 of 3", "", "2d2h", "", "", "<none>"]),
            ),
        ];
        check("batch", "jobs", &cases);
        let deleting = json!({"metadata": {"name": "j", "deletionTimestamp": ago(1)}});
        check(
            "batch",
            "jobs",
            &[(
                "terminating",
                deleting,
                json!(["j", "Terminating", "0/1", "", "<unknown>", "", "", "<none>"]),
            )],
        );
    }

    #[test]
    fn cron_jobs() {
        let cases = vec![
            (
                "scheduled",
                json!({"metadata": meta("hello"), "spec": {"schedule": "*/1 * * * *",
                "timeZone": "Etc/UTC", "suspend": false, "jobTemplate": {"spec": {"template": {"spec": {
                    "containers": [{"name": "hello", "image": "busybox"}]}}}}},
                "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": ago(42)}}),
                json!([
                    "hello",
                    "*/1 * * * *",
                    "Etc/UTC",
                    "False",
                    1,
                    "42s",
                    "2d2h",
                    "hello",
                    "busybox",
                    "<none>"
                ]),
            ),
            (
                "never scheduled, suspended",
                json!({"metadata": meta("c"), "spec": {"schedule": "@daily",
                "suspend": true, "jobTemplate": {"spec": {"selector": {"matchLabels": {"a": "b"}}}}}}),
                json!(["c", "@daily", "<none>", "True", 0, "<none>", "2d2h", "", "", "a=b"]),
            ),
        ];
        check("batch", "cronjobs", &cases);
    }

    #[test]
    fn pod_disruption_budgets() {
        check(
            "policy",
            "poddisruptionbudgets",
            &[
                (
                    "min",
                    json!({"metadata": meta("p"), "spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 1}}),
                    json!(["p", "2", "N/A", 1, "2d2h"]),
                ),
                (
                    "max percent",
                    json!({"metadata": meta("p"), "spec": {"maxUnavailable": "25%"}}),
                    json!(["p", "N/A", "25%", 0, "2d2h"]),
                ),
            ],
        );
    }

    #[test]
    fn horizontal_pod_autoscalers() {
        let hpa = |metrics: Value, current: Value| {
            json!({"apiVersion": "autoscaling/v2",
            "metadata": meta("web"), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                "minReplicas": 2, "maxReplicas": 10, "metrics": metrics},
            "status": {"currentReplicas": 4, "currentMetrics": current}})
        };
        let row = |targets: &str| json!(["web", "Deployment/web", targets, "2", 10, 4, "2d2h"]);
        let cpu = json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}});
        let cases = vec![
            (
                "cpu utilization unknown",
                hpa(json!([cpu]), json!([])),
                row("cpu: <unknown>/80%"),
            ),
            (
                "cpu utilization current",
                hpa(
                    json!([cpu]),
                    json!([
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 50, "averageValue": "100m"}}}]),
                ),
                row("cpu: 50%/80%"),
            ),
            (
                "memory value, pods, three metrics",
                hpa(
                    json!([
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1024Mi"}}},
                {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}},
                {"type": "External", "external": {"metric": {"name": "q"}, "target": {"type": "Value", "value": "2k"}}}]),
                    json!([{"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "512Mi"}}},
                       {"type": "Pods", "pods": {"current": {"averageValue": "1500m"}}}]),
                ),
                row("memory: 512Mi/1Gi, 1500m/10 + 1 more..."),
            ),
            (
                "object avg and external value",
                hpa(
                    json!([
                {"type": "Object", "object": {"target": {"type": "AverageValue", "averageValue": "5"}}},
                {"type": "External", "external": {"target": {"type": "Value", "value": "7"}}}]),
                    json!([{"type": "Object", "object": {"current": {"averageValue": "3"}}},
                       {"type": "External", "external": {"current": {"value": "9"}}}]),
                ),
                row("3/5 (avg), 9/7"),
            ),
            (
                "container resource auto target",
                hpa(
                    json!([
                {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "target": {"type": "Utilization"}}},
                {"type": "Bogus"}]),
                    json!([]),
                ),
                row("cpu: <unknown>/<auto>, <unknown type>"),
            ),
            (
                "defaulted metric",
                hpa(json!([]), json!([])),
                row("cpu: <unknown>/80%"),
            ),
        ];
        check("autoscaling", "horizontalpodautoscalers", &cases);
        let v1 = json!({"apiVersion": "autoscaling/v1", "metadata": meta("old"),
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "old"}, "maxReplicas": 3,
                     "targetCPUUtilizationPercentage": 60},
            "status": {"currentReplicas": 1, "currentCPUUtilizationPercentage": 12}});
        check(
            "autoscaling",
            "horizontalpodautoscalers",
            &[(
                "v1",
                v1,
                json!(["old", "Deployment/old", "cpu: 12%/60%", "1", 3, 1, "2d2h"]),
            )],
        );
    }
}
