//! Cells for the core ("") group, mirroring the `print*` functions of upstream's
//! pkg/printers/internalversion/printers.go.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::format::{
    age, arr, bool_or, container_cells, format_labels, get, int_at, int_or, join_host_port, len_at,
    name, opt_str, since, str_at, time_at,
};
use crate::{quantity, PrintError};

type Cells = Result<Vec<Value>, PrintError>;

/// `node.NodeUnreachablePodReason`: the pod reason the node lifecycle controller sets.
const NODE_UNREACHABLE_POD_REASON: &str = "NodeLost";

fn is_restartable_init_container(c: Option<&Value>) -> bool {
    // podutil.IsRestartableInitContainer: a sidecar has restartPolicy Always.
    c.is_some_and(|c| str_at(c, &["restartPolicy"]) == "Always")
}

/// Tracks the latest `lastState.terminated.finishedAt`, like `lastRestartDate.Before(...)`.
fn bump_last(last: &mut Option<DateTime<Utc>>, status: &Value) {
    if get(status, &["lastState", "terminated"]).is_some() {
        if let Some(t) = time_at(status, &["lastState", "terminated", "finishedAt"]) {
            if last.is_none_or(|l| l < t) {
                *last = Some(t);
            }
        }
    }
}

fn has_condition_true(conditions: &[Value], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| str_at(c, &["type"]) == type_ && str_at(c, &["status"]) == "True")
}

/// `isPodInitializedConditionTrue`: the first Initialized condition decides.
fn initialized_condition_true(conditions: &[Value]) -> bool {
    conditions
        .iter()
        .find(|c| str_at(c, &["type"]) == "Initialized")
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

/// Mirrors `printPod`: Ready, the aggregate Status reason, Restarts with the last restart's
/// age, and the wide columns.
pub(crate) fn pod(pod: &Value, now: DateTime<Utc>) -> Cells {
    let spec_containers = arr(pod, &["spec", "containers"]);
    let init_specs = arr(pod, &["spec", "initContainers"]);
    let conditions = arr(pod, &["status", "conditions"]);
    let phase = str_at(pod, &["status", "phase"]);

    let mut restarts: i64 = 0;
    let mut restartable_init_restarts: i64 = 0;
    let mut total = spec_containers.len();
    let mut ready = 0usize;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_restartable_init_restart: Option<DateTime<Utc>> = None;

    let mut reason = phase.to_string();
    let status_reason = str_at(pod, &["status", "reason"]);
    if !status_reason.is_empty() {
        reason = status_reason.to_string();
    }
    for c in conditions {
        if str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated" {
            reason = "SchedulingGated".to_string();
        }
    }

    // Upstream indexes init containers by name in a map, so the last duplicate wins.
    let init_spec = |n: &str| init_specs.iter().rev().find(|c| str_at(c, &["name"]) == n);
    total += init_specs
        .iter()
        .filter(|c| is_restartable_init_container(Some(c)))
        .count();

    let mut initializing = false;
    for (i, cs) in arr(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        restarts += int_at(cs, &["restartCount"]);
        bump_last(&mut last_restart, cs);
        let restartable = is_restartable_init_container(init_spec(str_at(cs, &["name"])));
        if restartable {
            restartable_init_restarts += int_at(cs, &["restartCount"]);
            bump_last(&mut last_restartable_init_restart, cs);
        }
        let terminated = get(cs, &["state", "terminated"]);
        let waiting = get(cs, &["state", "waiting"]);
        if terminated.is_some_and(|t| int_at(t, &["exitCode"]) == 0) {
            continue;
        }
        if restartable && bool_or(cs, &["started"], false) {
            if bool_or(cs, &["ready"], false) {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            // Initialization failed.
            let r = str_at(t, &["reason"]);
            reason = if r.is_empty() {
                let signal = int_at(t, &["signal"]);
                if signal != 0 {
                    format!("Init:Signal:{signal}")
                } else {
                    format!("Init:ExitCode:{}", int_at(t, &["exitCode"]))
                }
            } else {
                format!("Init:{r}")
            };
        } else if let Some(w) = waiting.filter(|w| {
            let r = str_at(w, &["reason"]);
            !r.is_empty() && r != "PodInitializing"
        }) {
            reason = format!("Init:{}", str_at(w, &["reason"]));
        } else {
            reason = format!("Init:{}/{}", i, init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || initialized_condition_true(conditions) {
        restarts = restartable_init_restarts;
        last_restart = last_restartable_init_restart;
        let mut has_running = false;
        for cs in arr(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int_at(cs, &["restartCount"]);
            bump_last(&mut last_restart, cs);
            let waiting = get(cs, &["state", "waiting"]);
            let terminated = get(cs, &["state", "terminated"]);
            if let Some(w) = waiting.filter(|w| !str_at(w, &["reason"]).is_empty()) {
                reason = str_at(w, &["reason"]).to_string();
            } else if let Some(t) = terminated {
                let r = str_at(t, &["reason"]);
                reason = if !r.is_empty() {
                    r.to_string()
                } else if int_at(t, &["signal"]) != 0 {
                    format!("Signal:{}", int_at(t, &["signal"]))
                } else {
                    format!("ExitCode:{}", int_at(t, &["exitCode"]))
                };
            } else if bool_or(cs, &["ready"], false) && get(cs, &["state", "running"]).is_some() {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last container completed but another still runs is shown as running.
        if reason == "Completed" && has_running {
            reason = if has_condition_true(conditions, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    let deleting = get(pod, &["metadata", "deletionTimestamp"]).is_some();
    if deleting && status_reason == NODE_UNREACHABLE_POD_REASON {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };

    // v1 -> internal conversion: status.podIP wins over podIPs[0] when both are set.
    let mut pod_ip = str_at(pod, &["status", "podIP"]).to_string();
    if pod_ip.is_empty() {
        pod_ip = arr(pod, &["status", "podIPs"])
            .first()
            .map(|p| str_at(p, &["ip"]).to_string())
            .unwrap_or_default();
    }
    let or_none = |s: &str| {
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s.to_string()
        }
    };
    let gates = arr(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_count = gates
            .iter()
            .filter(|g| {
                let t = str_at(g, &["conditionType"]);
                conditions
                    .iter()
                    .find(|c| str_at(c, &["type"]) == t)
                    .is_some_and(|c| str_at(c, &["status"]) == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };

    Ok(vec![
        name(pod).into(),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts_text.into(),
        age(pod, now).into(),
        or_none(&pod_ip).into(),
        or_none(str_at(pod, &["spec", "nodeName"])).into(),
        or_none(str_at(pod, &["status", "nominatedNodeName"])).into(),
        readiness_gates.into(),
    ])
}

/// Mirrors `printPodTemplate` (no Age column upstream).
pub(crate) fn pod_template(obj: &Value, _now: DateTime<Utc>) -> Cells {
    let (names, images) = container_cells(arr(obj, &["template", "spec", "containers"]));
    Ok(vec![
        name(obj).into(),
        names.into(),
        images.into(),
        format_labels(get(obj, &["template", "metadata", "labels"])).into(),
    ])
}

/// Mirrors `printReplicationController`.
pub(crate) fn replication_controller(obj: &Value, now: DateTime<Utc>) -> Cells {
    let (names, images) = container_cells(arr(obj, &["spec", "template", "spec", "containers"]));
    Ok(vec![
        name(obj).into(),
        // v1 defaulting sets replicas to 1.
        int_or(obj, &["spec", "replicas"], 1).into(),
        int_at(obj, &["status", "replicas"]).into(),
        int_at(obj, &["status", "readyReplicas"]).into(),
        age(obj, now).into(),
        names.into(),
        images.into(),
        format_labels(get(obj, &["spec", "selector"])).into(),
    ])
}

/// Mirrors `getServiceExternalIP` with `wide` set (the server always prints wide, so load
/// balancer addresses are never clipped).
fn service_external_ip(svc: &Value, svc_type: &str) -> String {
    let external: Vec<&str> = arr(svc, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match svc_type {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_ingress(arr(svc, &["status", "loadBalancer", "ingress"]));
            if !external.is_empty() {
                let mut results: Vec<&str> = Vec::new();
                if !lb.is_empty() {
                    results.extend(lb.split(','));
                }
                results.extend(external);
                return results.join(",");
            }
            if lb.is_empty() {
                "<pending>".to_string()
            } else {
                lb
            }
        }
        "ExternalName" => str_at(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// Mirrors `loadBalancerStatusStringer` (wide): the sorted set of ingress IPs, else
/// hostnames.
pub(crate) fn load_balancer_ingress(ingress: &[Value]) -> String {
    let mut set: Vec<&str> = ingress
        .iter()
        .filter_map(|i| {
            let ip = str_at(i, &["ip"]);
            let host = str_at(i, &["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    set.sort_unstable();
    set.dedup();
    set.join(",")
}

/// Mirrors `makePortString`: `port/PROTO` or `port:nodePort/PROTO`, comma separated.
fn service_ports(ports: &[Value]) -> String {
    ports
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]);
            // v1 defaulting sets protocol TCP.
            let proto = opt_str(p, &["protocol"]).unwrap_or("TCP");
            let node_port = int_at(p, &["nodePort"]);
            if node_port > 0 {
                format!("{port}:{node_port}/{proto}")
            } else {
                format!("{port}/{proto}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Mirrors `printService`.
pub(crate) fn service(svc: &Value, now: DateTime<Utc>) -> Cells {
    // v1 defaulting sets type ClusterIP.
    let svc_type = opt_str(svc, &["spec", "type"]).unwrap_or("ClusterIP");
    // v1 -> internal conversion: clusterIP wins over clusterIPs[0] when both are set.
    let mut internal_ip = str_at(svc, &["spec", "clusterIP"]).to_string();
    if internal_ip.is_empty() {
        internal_ip = arr(svc, &["spec", "clusterIPs"])
            .first()
            .and_then(Value::as_str)
            .unwrap_or("<none>")
            .to_string();
    }
    let mut ports = service_ports(arr(svc, &["spec", "ports"]));
    if ports.is_empty() {
        ports = "<none>".to_string();
    }
    Ok(vec![
        name(svc).into(),
        svc_type.into(),
        internal_ip.into(),
        service_external_ip(svc, svc_type).into(),
        ports.into(),
        age(svc, now).into(),
        format_labels(get(svc, &["spec", "selector"])).into(),
    ])
}

/// Mirrors `formatEndpoints` with all ports: at most three `ip:port`, then ` + N more...`.
fn format_endpoints(ep: &Value) -> String {
    let subsets = arr(ep, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addresses = arr(ss, &["addresses"]);
        let ports = arr(ss, &["ports"]);
        if ports.is_empty() {
            // Headless services may have no ports.
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(str_at(a, &["ip"]).to_string());
            }
            continue;
        }
        for p in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(str_at(a, &["ip"]), int_at(p, &["port"])));
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - MAX)
    } else {
        ret
    }
}

/// Mirrors `printEndpoints`.
pub(crate) fn endpoints(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        format_endpoints(obj).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `findNodeRoles`: `node-role.kubernetes.io/<role>` keys and the
/// `kubernetes.io/role` value, as a sorted set.
fn node_roles(node: &Value) -> Vec<String> {
    let mut roles: Vec<String> = Vec::new();
    if let Some(labels) = get(node, &["metadata", "labels"]).and_then(Value::as_object) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role.to_string());
                }
            } else if k == "kubernetes.io/role" {
                let v = v.as_str().unwrap_or("");
                if !v.is_empty() {
                    roles.push(v.to_string());
                }
            }
        }
    }
    roles.sort();
    roles.dedup();
    roles
}

fn node_address(node: &Value, type_: &str) -> String {
    arr(node, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == type_)
        .map(|a| str_at(a, &["address"]).to_string())
        .unwrap_or_else(|| "<none>".to_string())
}

/// Mirrors `printNode`.
pub(crate) fn node(node: &Value, now: DateTime<Utc>) -> Cells {
    let mut status: Vec<String> = Vec::new();
    // Only the Ready condition is reported; the last one of that type wins (map insert).
    if let Some(c) = arr(node, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| str_at(c, &["type"]) == "Ready")
    {
        if str_at(c, &["status"]) == "True" {
            status.push("Ready".to_string());
        } else {
            status.push("NotReady".to_string());
        }
    }
    if status.is_empty() {
        status.push("Unknown".to_string());
    }
    if bool_or(node, &["spec", "unschedulable"], false) {
        status.push("SchedulingDisabled".to_string());
    }
    let roles = node_roles(node);
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let info = |f: &str| {
        let v = str_at(node, &["status", "nodeInfo", f]);
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v.to_string()
        }
    };
    Ok(vec![
        name(node).into(),
        status.join(",").into(),
        roles.into(),
        age(node, now).into(),
        str_at(node, &["status", "nodeInfo", "kubeletVersion"]).into(),
        node_address(node, "InternalIP").into(),
        node_address(node, "ExternalIP").into(),
        info("osImage").into(),
        info("kernelVersion").into(),
        info("containerRuntimeVersion").into(),
    ])
}

/// Mirrors `printNamespace`.
pub(crate) fn namespace(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        // v1 defaulting sets phase Active.
        opt_str(obj, &["status", "phase"])
            .unwrap_or("Active")
            .into(),
        age(obj, now).into(),
    ])
}

/// An Event read through either served version: core/v1 field names, or events.k8s.io/v1
/// ones (which upstream converts to the same internal Event before printing).
struct EventView<'a> {
    obj: &'a Value,
    new_api: bool,
}

impl<'a> EventView<'a> {
    fn new(obj: &'a Value) -> Self {
        let api_version = str_at(obj, &["apiVersion"]);
        let new_api = api_version.starts_with("events.k8s.io/")
            || (api_version.is_empty()
                && get(obj, &["involvedObject"]).is_none()
                && get(obj, &["regarding"]).is_some());
        EventView { obj, new_api }
    }

    fn field(&self, core: &str, events: &str) -> Option<&'a Value> {
        get(self.obj, &[if self.new_api { events } else { core }])
    }

    fn involved(&self, f: &str) -> &'a str {
        self.field("involvedObject", "regarding")
            .map(|o| str_at(o, &[f]))
            .unwrap_or("")
    }

    fn time(&self, core: &str, events: &str) -> Option<DateTime<Utc>> {
        self.field(core, events)
            .and_then(Value::as_str)
            .and_then(crate::format::parse_time)
    }
}

/// Mirrors `printEvent` (wide cells, the server always prints wide).
pub(crate) fn event(obj: &Value, now: DateTime<Utc>) -> Cells {
    let ev = EventView::new(obj);
    let first_ts = ev.time("firstTimestamp", "deprecatedFirstTimestamp");
    let mut first = since(first_ts, now);
    if first_ts.is_none() {
        first = since(time_at(obj, &["eventTime"]), now);
    }
    let last_ts = ev.time("lastTimestamp", "deprecatedLastTimestamp");
    let mut last = since(last_ts, now);
    if last_ts.is_none() {
        last = first.clone();
    }
    let mut count = ev
        .field("count", "deprecatedCount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if let Some(series) = get(obj, &["series"]) {
        last = since(time_at(series, &["lastObservedTime"]), now);
        count = int_at(series, &["count"]);
    } else if count == 0 {
        // Singleton events don't have a count set in the new API.
        count = 1;
    }
    let kind = ev.involved("kind").to_lowercase();
    let involved_name = ev.involved("name");
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };
    let source = ev.field("source", "deprecatedSource");
    let component = first_non_empty(
        source.map(|s| str_at(s, &["component"])).unwrap_or(""),
        str_at(obj, &["reportingController"]),
    );
    let instance = first_non_empty(
        source.map(|s| str_at(s, &["host"])).unwrap_or(""),
        str_at(obj, &["reportingInstance"]),
    );
    let source_text = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    let message = ev
        .field("message", "note")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    Ok(vec![
        last.into(),
        str_at(obj, &["type"]).into(),
        str_at(obj, &["reason"]).into(),
        target.into(),
        ev.involved("fieldPath").into(),
        source_text.into(),
        message.into(),
        first.into(),
        count.into(),
        name(obj).into(),
    ])
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() {
        b
    } else {
        a
    }
}

/// Mirrors `printSecret`.
pub(crate) fn secret(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        // v1 defaulting sets type Opaque.
        opt_str(obj, &["type"]).unwrap_or("Opaque").into(),
        len_at(obj, &["data"]).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printConfigMap`: data and binaryData entries together.
pub(crate) fn config_map(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        (len_at(obj, &["data"]) + len_at(obj, &["binaryData"])).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printServiceAccount`.
pub(crate) fn service_account(obj: &Value, now: DateTime<Utc>) -> Cells {
    Ok(vec![
        name(obj).into(),
        len_at(obj, &["secrets"]).into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `helper.GetAccessModesAsString`: fixed order, duplicates dropped.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(m, _)| has(m))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The beta storage-class annotation wins over the field (helper.GetPersistentVolumeClass).
const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

fn storage_class_of(obj: &Value) -> String {
    if let Some(class) = get(
        obj,
        &["metadata", "annotations", BETA_STORAGE_CLASS_ANNOTATION],
    )
    .and_then(Value::as_str)
    {
        return class.to_string();
    }
    str_at(obj, &["spec", "storageClassName"]).to_string()
}

/// Mirrors `printPersistentVolume`.
pub(crate) fn persistent_volume(obj: &Value, now: DateTime<Utc>) -> Cells {
    let claim = match get(obj, &["spec", "claimRef"]) {
        Some(c) => format!("{}/{}", str_at(c, &["namespace"]), str_at(c, &["name"])),
        None => String::new(),
    };
    let mut phase = opt_str(obj, &["status", "phase"]).unwrap_or("Pending");
    if get(obj, &["metadata", "deletionTimestamp"]).is_some() {
        phase = "Terminating";
    }
    Ok(vec![
        name(obj).into(),
        quantity::of_value(get(obj, &["spec", "capacity", "storage"])).into(),
        access_modes(arr(obj, &["spec", "accessModes"])).into(),
        opt_str(obj, &["spec", "persistentVolumeReclaimPolicy"])
            .unwrap_or("Retain")
            .into(),
        phase.into(),
        claim.into(),
        storage_class_of(obj).into(),
        opt_str(obj, &["spec", "volumeAttributesClassName"])
            .unwrap_or("<unset>")
            .into(),
        str_at(obj, &["status", "reason"]).into(),
        age(obj, now).into(),
        opt_str(obj, &["spec", "volumeMode"])
            .unwrap_or("Filesystem")
            .into(),
    ])
}

/// Mirrors `printPersistentVolumeClaim`: capacity and access modes only once bound.
pub(crate) fn persistent_volume_claim(obj: &Value, now: DateTime<Utc>) -> Cells {
    let mut phase = opt_str(obj, &["status", "phase"]).unwrap_or("Pending");
    if get(obj, &["metadata", "deletionTimestamp"]).is_some() {
        phase = "Terminating";
    }
    let volume_name = str_at(obj, &["spec", "volumeName"]);
    let (capacity, modes) = if volume_name.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity::of_value(get(obj, &["status", "capacity", "storage"])),
            access_modes(arr(obj, &["status", "accessModes"])),
        )
    };
    let class = match get(
        obj,
        &["metadata", "annotations", BETA_STORAGE_CLASS_ANNOTATION],
    )
    .and_then(Value::as_str)
    {
        Some(c) => c.to_string(),
        None => str_at(obj, &["spec", "storageClassName"]).to_string(),
    };
    Ok(vec![
        name(obj).into(),
        phase.into(),
        volume_name.into(),
        capacity.into(),
        modes.into(),
        class.into(),
        opt_str(obj, &["spec", "volumeAttributesClassName"])
            .unwrap_or("<unset>")
            .into(),
        age(obj, now).into(),
        opt_str(obj, &["spec", "volumeMode"])
            .unwrap_or("Filesystem")
            .into(),
    ])
}

/// Mirrors `printResourceQuota`: `name: used/hard` per resource in `status.hard`, sorted,
/// `limits.*` ones in the Limit column.
pub(crate) fn resource_quota(obj: &Value, now: DateTime<Utc>) -> Cells {
    let mut request: Vec<String> = Vec::new();
    let mut limit: Vec<String> = Vec::new();
    if let Some(hard) = get(obj, &["status", "hard"]).and_then(Value::as_object) {
        let mut names: Vec<&String> = hard.keys().collect();
        names.sort();
        for r in names {
            let used = quantity::of_value(get(obj, &["status", "used", r]));
            let hard_q = quantity::of_value(hard.get(r));
            let entry = format!("{r}: {used}/{hard_q}");
            let pieces: Vec<&str> = r.split('.').collect();
            if pieces.len() > 1 && pieces[0] == "limits" {
                limit.push(entry);
            } else {
                request.push(entry);
            }
        }
    }
    Ok(vec![
        name(obj).into(),
        request.join(", ").into(),
        limit.join(", ").into(),
        age(obj, now).into(),
    ])
}

/// Mirrors `printComponentStatus`: the first Healthy condition decides.
pub(crate) fn component_status(obj: &Value, _now: DateTime<Utc>) -> Cells {
    let (mut status, mut message, mut error) = ("Unknown", "", "");
    if let Some(c) = arr(obj, &["conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Healthy")
    {
        status = if str_at(c, &["status"]) == "True" {
            "Healthy"
        } else {
            "Unhealthy"
        };
        message = str_at(c, &["message"]);
        error = str_at(c, &["error"]);
    }
    Ok(vec![
        name(obj).into(),
        status.into(),
        message.into(),
        error.into(),
    ])
}

#[cfg(test)]
mod tests {
    use crate::testutil::{ago, check};
    use serde_json::{json, Value};

    /// A pod named `name` with `containers` unnamed containers and the given status.
    fn pod(name: &str, containers: usize, status: Value) -> Value {
        json!({
            "metadata": {"name": name},
            "spec": {"containers": vec![json!({"name": ""}); containers]},
            "status": status
        })
    }

    fn row(cells: [&str; 5]) -> Value {
        json!([
            cells[0], cells[1], cells[2], cells[3], cells[4], "<none>", "<none>", "<none>",
            "<none>"
        ])
    }

    #[test]
    fn pod_status_reasons() {
        // Cases mirror upstream's TestPrintPod.
        let running = json!({"running": {}});
        let cases = vec![
            (
                "waiting reason wins",
                pod(
                    "test3",
                    2,
                    json!({"phase": "podPhase", "containerStatuses": [
                {"state": {"waiting": {"reason": "ContainerWaitingReason"}}, "restartCount": 3},
                {"state": {"terminated": {"reason": "ContainerTerminatedReason"}}, "restartCount": 3}]}),
                ),
                row(["test3", "0/2", "ContainerWaitingReason", "6", "<unknown>"]),
            ),
            (
                "ready is not enough for running",
                pod(
                    "test4",
                    2,
                    json!({"phase": "podPhase", "containerStatuses": [
                {"ready": true, "restartCount": 3, "state": running},
                {"ready": true, "restartCount": 3}]}),
                ),
                row(["test4", "1/2", "podPhase", "6", "<unknown>"]),
            ),
            (
                "pod reason",
                pod(
                    "test5",
                    2,
                    json!({"phase": "podPhase", "reason": "podReason", "containerStatuses": [
                {"ready": true, "restartCount": 3, "state": running}, {"ready": true, "restartCount": 3}]}),
                ),
                row(["test5", "1/2", "podReason", "6", "<unknown>"]),
            ),
            (
                "completed + running without Ready",
                pod(
                    "test6",
                    2,
                    json!({"phase": "Running", "containerStatuses": [
                {"ready": true, "restartCount": 3, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
                {"ready": true, "restartCount": 3, "state": running}]}),
                ),
                row(["test6", "1/2", "NotReady", "6", "<unknown>"]),
            ),
            (
                "completed + running with Ready",
                pod(
                    "test6",
                    2,
                    json!({"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [
                {"ready": true, "restartCount": 3, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
                {"ready": true, "restartCount": 3, "state": running}]}),
                ),
                row(["test6", "1/2", "Running", "6", "<unknown>"]),
            ),
            (
                "init restarting",
                json!({"metadata": {"name": "test7"},
                "spec": {"initContainers": [{"name": ""}], "containers": [{"name": ""}]},
                "status": {"phase": "podPhase",
                    "initContainerStatuses": [{"restartCount": 3, "state": running,
                        "lastState": {"terminated": {"finishedAt": ago(10)}}}],
                    "containerStatuses": [{"state": {"waiting": {}}}]}}),
                row(["test7", "0/1", "Init:0/1", "3 (10s ago)", "<unknown>"]),
            ),
            (
                "init 1 done, 2 restarting",
                json!({"metadata": {"name": "test10"},
                "spec": {"initContainers": [{"name": ""}, {"name": ""}], "containers": [{"name": ""}]},
                "status": {"phase": "podPhase", "initContainerStatuses": [
                    {"restartCount": 2, "state": {"terminated": {}},
                     "lastState": {"terminated": {"finishedAt": ago(120)}}},
                    {"restartCount": 3, "state": running,
                     "lastState": {"terminated": {"finishedAt": ago(10)}}}],
                    "containerStatuses": [{"state": {"waiting": {}}}]}}),
                row(["test10", "0/1", "Init:1/2", "5 (10s ago)", "<unknown>"]),
            ),
            (
                "init done, container restarting",
                json!({"metadata": {"name": "test11"},
                "spec": {"initContainers": [{"name": ""}], "containers": [{"name": ""}]},
                "status": {"phase": "Running", "initContainerStatuses": [
                    {"restartCount": 2, "state": {"terminated": {}},
                     "lastState": {"terminated": {"finishedAt": ago(120)}}}],
                    "containerStatuses": [{"restartCount": 4, "state": running,
                     "lastState": {"terminated": {"finishedAt": ago(20)}}}]}}),
                row(["test11", "0/1", "Running", "4 (20s ago)", "<unknown>"]),
            ),
            (
                "restarts days ago",
                pod(
                    "test14",
                    2,
                    json!({"phase": "Running", "containerStatuses": [
                {"ready": true, "restartCount": 6, "state": running,
                 "lastState": {"terminated": {"finishedAt": ago(5 * 86400)}}},
                {"ready": true, "restartCount": 3, "state": running,
                 "lastState": {"terminated": {"finishedAt": ago(20 * 86400)}}}]}),
                ),
                row(["test14", "2/2", "Running", "9 (5d ago)", "<unknown>"]),
            ),
            (
                "scheduling gated",
                pod(
                    "test15",
                    2,
                    json!({"phase": "podPhase", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
                ),
                row(["test15", "0/2", "SchedulingGated", "0", "<unknown>"]),
            ),
            (
                "failed with error",
                pod(
                    "test17",
                    1,
                    json!({"phase": "Failed", "containerStatuses": [
                {"state": {"terminated": {"reason": "Error", "exitCode": 1}}}]}),
                ),
                row(["test17", "0/1", "Error", "0", "<unknown>"]),
            ),
            (
                "exit code without reason",
                pod(
                    "t",
                    1,
                    json!({"phase": "Running", "containerStatuses": [
                {"state": {"terminated": {"exitCode": 2}}}]}),
                ),
                row(["t", "0/1", "ExitCode:2", "0", "<unknown>"]),
            ),
            (
                "signal without reason",
                pod(
                    "t",
                    1,
                    json!({"phase": "Running", "containerStatuses": [
                {"state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
                ),
                row(["t", "0/1", "Signal:9", "0", "<unknown>"]),
            ),
            (
                "crash loop",
                pod(
                    "t",
                    1,
                    json!({"phase": "Running", "containerStatuses": [
                {"restartCount": 5, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"finishedAt": ago(190)}}}]}),
                ),
                row(["t", "0/1", "CrashLoopBackOff", "5 (3m10s ago)", "<unknown>"]),
            ),
            (
                "init failed",
                json!({"metadata": {"name": "t"},
                "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]},
                "status": {"phase": "Pending", "initContainerStatuses": [
                    {"name": "i", "state": {"terminated": {"exitCode": 3}}}]}}),
                row(["t", "0/1", "Init:ExitCode:3", "0", "<unknown>"]),
            ),
            (
                "init crash loop",
                json!({"metadata": {"name": "t"},
                "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]},
                "status": {"phase": "Pending", "initContainerStatuses": [
                    {"name": "i", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}),
                row(["t", "0/1", "Init:CrashLoopBackOff", "0", "<unknown>"]),
            ),
            (
                "succeeded with deletion stays completed",
                json!({"metadata": {"name": "test18",
                "deletionTimestamp": ago(1)}, "spec": {"containers": [{"name": ""}]},
                "status": {"phase": "Succeeded", "containerStatuses": [
                    {"state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}}),
                row(["test18", "0/1", "Completed", "0", "<unknown>"]),
            ),
            (
                "running with deletion",
                json!({"metadata": {"name": "test19", "deletionTimestamp": ago(1)},
                "spec": {"containers": [{"name": ""}]},
                "status": {"phase": "Running", "containerStatuses": [{"state": running}]}}),
                row(["test19", "0/1", "Terminating", "0", "<unknown>"]),
            ),
            (
                "node lost",
                json!({"metadata": {"name": "t", "deletionTimestamp": ago(1)},
                "spec": {"containers": [{"name": ""}]},
                "status": {"phase": "Running", "reason": "NodeLost"}}),
                row(["t", "0/1", "Unknown", "0", "<unknown>"]),
            ),
        ];
        check("", "pods", &cases);
    }

    #[test]
    fn pod_restartable_init_containers() {
        // Cases mirror upstream's TestPrintPodWithRestartableInitContainer.
        let spec = json!({"initContainers": [
            {"name": "restartable-init-1", "restartPolicy": "Always"},
            {"name": "restartable-init-2", "restartPolicy": "Always"}], "containers": [{"name": ""}]});
        let mk = |name: &str, phase: &str, init: Value, cs: Value, initialized: &str| {
            json!({
            "metadata": {"name": name}, "spec": spec.clone(),
            "status": {"phase": phase, "initContainerStatuses": init, "containerStatuses": cs,
                       "conditions": [{"type": "Initialized", "status": initialized}]}})
        };
        let last10 = json!({"terminated": {"finishedAt": ago(10)}});
        let cases = vec![
            (
                "first running not started",
                mk(
                    "test1",
                    "Pending",
                    json!([
                {"name": "restartable-init-1", "restartCount": 3, "state": {"running": {}}, "started": false, "lastState": last10},
                {"name": "restartable-init-2", "state": {"waiting": {}}, "started": false}]),
                    json!([{"state": {"waiting": {}}}]),
                    "False",
                ),
                row(["test1", "0/3", "Init:0/2", "3 (10s ago)", "<unknown>"]),
            ),
            (
                "second running not started",
                mk(
                    "test1",
                    "Pending",
                    json!([
                {"name": "restartable-init-1", "restartCount": 3, "state": {"running": {}}, "started": true, "lastState": last10},
                {"name": "restartable-init-2", "state": {"running": {}}, "started": false}]),
                    json!([{"state": {"waiting": {}}}]),
                    "False",
                ),
                row(["test1", "0/3", "Init:1/2", "3 (10s ago)", "<unknown>"]),
            ),
            (
                "both started, container running",
                mk(
                    "test2",
                    "Running",
                    json!([
                {"name": "restartable-init-1", "restartCount": 3, "state": {"running": {}}, "started": true, "lastState": last10},
                {"name": "restartable-init-2", "state": {"running": {}}, "started": true}]),
                    json!([{"ready": true, "restartCount": 4, "state": {"running": {}},
                        "lastState": {"terminated": {"finishedAt": ago(20)}}}]),
                    "True",
                ),
                row(["test2", "1/3", "Running", "7 (10s ago)", "<unknown>"]),
            ),
            (
                "sidecars failed, container completed",
                mk(
                    "test3",
                    "Succeeded",
                    json!([
                {"name": "restartable-init-1", "restartCount": 3, "state": {"terminated": {"reason": "Error", "exitCode": 137}}, "started": false, "lastState": last10},
                {"name": "restartable-init-2", "state": {"terminated": {"reason": "Error", "exitCode": 137}}, "started": false}]),
                    json!([{"restartCount": 4, "state": {"terminated": {"reason": "Completed", "exitCode": 0}},
                        "lastState": {"terminated": {"finishedAt": ago(20)}}}]),
                    "True",
                ),
                row(["test3", "0/3", "Completed", "7 (10s ago)", "<unknown>"]),
            ),
        ];
        check("", "pods", &cases);
    }

    #[test]
    fn pod_wide_columns() {
        // Mirrors upstream's TestPrintPodwide.
        let obj = json!({"metadata": {"name": "test1", "creationTimestamp": ago(3600 * 30)},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "test1",
                "readinessGates": [{"conditionType": "condition1"}, {"conditionType": "condition2"},
                                   {"conditionType": "condition3"}]},
            "status": {"phase": "podPhase", "podIPs": [{"ip": "1.1.1.1"}, {"ip": "2001:db8::"}],
                "nominatedNodeName": "node1",
                "conditions": [{"type": "condition1", "status": "False"}, {"type": "condition2", "status": "True"}],
                "containerStatuses": [{"ready": true, "restartCount": 3, "state": {"running": {}}},
                                      {"restartCount": 3}]}});
        check(
            "",
            "pods",
            &[(
                "wide",
                obj,
                json!(["test1", "1/2", "podPhase", "6", "30h", "1.1.1.1", "test1", "node1", "1/3"]),
            )],
        );
    }

    #[test]
    fn services() {
        let svc = |spec: Value, status: Value| {
            json!({"metadata": {"name": "svc", "creationTimestamp": ago(45)},
            "spec": spec, "status": status})
        };
        let cases = vec![
            (
                "cluster ip",
                svc(
                    json!({"type": "ClusterIP", "clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"],
                "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                "selector": {"app": "web", "a": "b"}}),
                    json!({}),
                ),
                json!([
                    "svc",
                    "ClusterIP",
                    "10.0.0.1",
                    "<none>",
                    "80/TCP,53/UDP",
                    "45s",
                    "a=b,app=web"
                ]),
            ),
            (
                "node port defaults",
                svc(
                    json!({"type": "NodePort", "clusterIPs": ["10.0.0.2"],
                "externalIPs": ["1.2.3.4"], "ports": [{"port": 443, "nodePort": 30001}]}),
                    json!({}),
                ),
                json!([
                    "svc",
                    "NodePort",
                    "10.0.0.2",
                    "1.2.3.4",
                    "443:30001/TCP",
                    "45s",
                    "<none>"
                ]),
            ),
            (
                "load balancer pending",
                svc(
                    json!({"type": "LoadBalancer", "clusterIP": "10.0.0.3",
                "ports": [{"port": 80, "nodePort": 31000, "protocol": "TCP"}]}),
                    json!({"loadBalancer": {}}),
                ),
                json!([
                    "svc",
                    "LoadBalancer",
                    "10.0.0.3",
                    "<pending>",
                    "80:31000/TCP",
                    "45s",
                    "<none>"
                ]),
            ),
            (
                "load balancer ingress and external ips",
                svc(
                    json!({"type": "LoadBalancer", "clusterIP": "10.0.0.3",
                "externalIPs": ["9.9.9.9"], "ports": []}),
                    json!({"loadBalancer": {"ingress": [{"ip": "5.5.5.5"}, {"hostname": "lb.example.com"}, {"ip": "1.1.1.1"}]}}),
                ),
                json!([
                    "svc",
                    "LoadBalancer",
                    "10.0.0.3",
                    "1.1.1.1,5.5.5.5,lb.example.com,9.9.9.9",
                    "<none>",
                    "45s",
                    "<none>"
                ]),
            ),
            (
                "external name",
                svc(
                    json!({"type": "ExternalName", "externalName": "db.example.com"}),
                    json!({}),
                ),
                json!([
                    "svc",
                    "ExternalName",
                    "<none>",
                    "db.example.com",
                    "<none>",
                    "45s",
                    "<none>"
                ]),
            ),
            (
                "headless",
                svc(
                    json!({"clusterIP": "None", "clusterIPs": ["None"]}),
                    json!({}),
                ),
                json!([
                    "svc",
                    "ClusterIP",
                    "None",
                    "<none>",
                    "<none>",
                    "45s",
                    "<none>"
                ]),
            ),
        ];
        check("", "services", &cases);
    }

    #[test]
    fn endpoints_table() {
        let ep = |subsets: Value| json!({"metadata": {"name": "ep", "creationTimestamp": ago(600)}, "subsets": subsets});
        let cases = vec![
            ("none", ep(json!([])), json!(["ep", "<none>", "10m"])),
            (
                "two ports",
                ep(
                    json!([{"addresses": [{"ip": "10.1.1.1"}, {"ip": "fd00::1"}],
                "ports": [{"port": 8080}]}]),
                ),
                json!(["ep", "10.1.1.1:8080,[fd00::1]:8080", "10m"]),
            ),
            (
                "more",
                ep(json!([{"addresses": [{"ip": "1.1.1.1"}, {"ip": "2.2.2.2"}],
                "ports": [{"port": 80}, {"port": 443}]}])),
                json!(["ep", "1.1.1.1:80,2.2.2.2:80,1.1.1.1:443 + 1 more...", "10m"]),
            ),
            (
                "headless no ports",
                ep(json!([{"addresses": [{"ip": "1.1.1.1"}]}])),
                json!(["ep", "1.1.1.1", "10m"]),
            ),
        ];
        check("", "endpoints", &cases);
    }

    #[test]
    fn nodes() {
        let node = |labels: Value, unschedulable: bool, conditions: Value| {
            json!({
            "metadata": {"name": "n1", "labels": labels, "creationTimestamp": ago(86400 * 3)},
            "spec": {"unschedulable": unschedulable},
            "status": {"conditions": conditions,
                "addresses": [{"type": "InternalIP", "address": "192.168.0.2"}, {"type": "Hostname", "address": "n1"}],
                "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                             "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7.0"}}})
        };
        let info = [
            "192.168.0.2",
            "<none>",
            "Debian GNU/Linux 12 (bookworm)",
            "6.1.0",
            "containerd://1.7.0",
        ];
        let want = |status: &str, roles: &str| {
            let mut v = vec![
                json!("n1"),
                json!(status),
                json!(roles),
                json!("3d"),
                json!("v1.32.0"),
            ];
            v.extend(info.iter().map(|s| json!(s)));
            Value::Array(v)
        };
        let cases = vec![
            (
                "ready control plane",
                node(
                    json!({"node-role.kubernetes.io/control-plane": "",
                "node-role.kubernetes.io/": "", "kubernetes.io/role": "master"}),
                    false,
                    json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]),
                ),
                want("Ready", "control-plane,master"),
            ),
            (
                "cordoned not ready",
                node(
                    json!({}),
                    true,
                    json!([{"type": "Ready", "status": "False"}]),
                ),
                want("NotReady,SchedulingDisabled", "<none>"),
            ),
            (
                "no conditions",
                node(json!({}), false, json!([])),
                want("Unknown", "<none>"),
            ),
        ];
        check("", "nodes", &cases);
        let bare = json!({"metadata": {"name": "n"}});
        check(
            "",
            "nodes",
            &[(
                "bare",
                bare,
                json!([
                    "n",
                    "Unknown",
                    "<none>",
                    "<unknown>",
                    "",
                    "<none>",
                    "<none>",
                    "<unknown>",
                    "<unknown>",
                    "<unknown>"
                ]),
            )],
        );
    }

    #[test]
    fn events_both_apis() {
        let core = json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web.17a", "creationTimestamp": ago(300)},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{web}"},
            "reason": "Pulled", "type": "Normal", "message": "  Container image pulled \n",
            "source": {"component": "kubelet", "host": "node1"},
            "firstTimestamp": ago(300), "lastTimestamp": ago(60), "count": 4});
        let new_api = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.17b"}, "eventTime": "2024-05-01T11:58:00.000000Z",
            "regarding": {"kind": "Deployment", "name": "web"}, "reason": "ScalingReplicaSet",
            "type": "Normal", "note": "Scaled up", "reportingController": "deployment-controller",
            "action": "Scale"});
        let series = json!({"apiVersion": "events.k8s.io/v1", "metadata": {"name": "s"},
            "eventTime": ago(600), "regarding": {"kind": "Node"}, "reason": "R", "type": "Warning",
            "note": "n", "reportingController": "c", "reportingInstance": "i",
            "series": {"count": 7, "lastObservedTime": ago(5)}});
        // Mirrors upstream's TestPrintEvent: reporting fields stand in for an empty source,
        // eventTime for a missing firstTimestamp.
        let reporting = json!({"metadata": {"name": "event2"},
            "involvedObject": {"kind": "Deployment", "name": "Deployment Name", "fieldPath": "spec.containers{foo}"},
            "reason": "Event Reason", "message": "Message Data", "type": "Warning", "count": 6,
            "reportingController": "kubelet", "reportingInstance": "test",
            "firstTimestamp": ago(3 * 86400), "lastTimestamp": ago(2 * 86400)});
        let event_time_only = json!({"metadata": {"name": "event5"},
            "involvedObject": {"kind": "Deployment", "name": "Deployment Name"},
            "source": {"component": "kubelet", "host": "Node1"}, "reason": "Event Reason",
            "message": "Message Data", "type": "Warning", "count": 1,
            "eventTime": "2024-04-28T12:00:00.000000Z", "firstTimestamp": null, "lastTimestamp": null});
        check(
            "",
            "events",
            &[
                (
                    "reporting controller",
                    reporting,
                    json!([
                        "2d",
                        "Warning",
                        "Event Reason",
                        "deployment/Deployment Name",
                        "spec.containers{foo}",
                        "kubelet, test",
                        "Message Data",
                        "3d",
                        6,
                        "event2"
                    ]),
                ),
                (
                    "event time only",
                    event_time_only,
                    json!([
                        "3d",
                        "Warning",
                        "Event Reason",
                        "deployment/Deployment Name",
                        "",
                        "kubelet, Node1",
                        "Message Data",
                        "3d",
                        1,
                        "event5"
                    ]),
                ),
            ],
        );
        check(
            "",
            "events",
            &[(
                "core",
                core,
                json!([
                    "60s",
                    "Normal",
                    "Pulled",
                    "pod/web",
                    "spec.containers{web}",
                    "kubelet, node1",
                    "Container image pulled",
                    "5m",
                    4,
                    "web.17a"
                ]),
            )],
        );
        check(
            "events.k8s.io",
            "events",
            &[
                (
                    "new api singleton",
                    new_api,
                    json!([
                        "2m",
                        "Normal",
                        "ScalingReplicaSet",
                        "deployment/web",
                        "",
                        "deployment-controller",
                        "Scaled up",
                        "2m",
                        1,
                        "web.17b"
                    ]),
                ),
                (
                    "series",
                    series,
                    json!(["5s", "Warning", "R", "node", "", "c, i", "n", "10m", 7, "s"]),
                ),
            ],
        );
    }

    #[test]
    fn config_and_accounts() {
        let meta = json!({"name": "x", "creationTimestamp": ago(11400)});
        check(
            "",
            "secrets",
            &[
                (
                    "tls",
                    json!({"metadata": meta, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
                    json!(["x", "kubernetes.io/tls", 2, "3h10m"]),
                ),
                (
                    "default type",
                    json!({"metadata": meta}),
                    json!(["x", "Opaque", 0, "3h10m"]),
                ),
            ],
        );
        check(
            "",
            "configmaps",
            &[(
                "data + binary",
                json!({"metadata": meta, "data": {"a": "1"},
            "binaryData": {"b": "AA=="}}),
                json!(["x", 2, "3h10m"]),
            )],
        );
        check(
            "",
            "serviceaccounts",
            &[(
                "secrets",
                json!({"metadata": meta, "secrets": [{"name": "t"}]}),
                json!(["x", 1, "3h10m"]),
            )],
        );
        check(
            "",
            "namespaces",
            &[
                (
                    "active",
                    json!({"metadata": meta, "status": {"phase": "Active"}}),
                    json!(["x", "Active", "3h10m"]),
                ),
                (
                    "terminating",
                    json!({"metadata": meta, "status": {"phase": "Terminating"}}),
                    json!(["x", "Terminating", "3h10m"]),
                ),
            ],
        );
        check(
            "",
            "podtemplates",
            &[(
                "template",
                json!({"metadata": meta, "template": {
            "metadata": {"labels": {"run": "x"}},
            "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox"}]}}}),
                json!(["x", "a,b", "nginx,busybox", "run=x"]),
            )],
        );
        check(
            "",
            "replicationcontrollers",
            &[(
                "rc",
                json!({"metadata": meta,
            "spec": {"replicas": 3, "selector": {"app": "x"},
                     "template": {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}},
            "status": {"replicas": 3, "readyReplicas": 2}}),
                json!(["x", 3, 3, 2, "3h10m", "a", "nginx", "app=x"]),
            )],
        );
    }

    #[test]
    fn volumes() {
        let pv = json!({"metadata": {"name": "pv1", "creationTimestamp": ago(60)},
            "spec": {"capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "standard",
                     "claimRef": {"namespace": "default", "name": "data"}},
            "status": {"phase": "Bound"}});
        check(
            "",
            "persistentvolumes",
            &[(
                "bound",
                pv,
                json!([
                    "pv1",
                    "1Gi",
                    "RWO,RWX",
                    "Delete",
                    "Bound",
                    "default/data",
                    "standard",
                    "<unset>",
                    "",
                    "60s",
                    "Filesystem"
                ]),
            )],
        );
        let pending = json!({"metadata": {"name": "data", "creationTimestamp": ago(60),
                "annotations": {"volume.beta.kubernetes.io/storage-class": "beta"}},
            "spec": {"storageClassName": "standard", "resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Pending"}});
        let bound = json!({"metadata": {"name": "data", "creationTimestamp": ago(60), "deletionTimestamp": ago(1)},
            "spec": {"storageClassName": "standard", "volumeName": "pv1", "volumeMode": "Block"},
            "status": {"phase": "Bound", "capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOncePod"]}});
        check(
            "",
            "persistentvolumeclaims",
            &[
                (
                    "pending",
                    pending,
                    json!([
                        "data",
                        "Pending",
                        "",
                        "",
                        "",
                        "beta",
                        "<unset>",
                        "60s",
                        "Filesystem"
                    ]),
                ),
                (
                    "bound, deleting",
                    bound,
                    json!([
                        "data",
                        "Terminating",
                        "pv1",
                        "2Gi",
                        "RWOP",
                        "standard",
                        "<unset>",
                        "60s",
                        "Block"
                    ]),
                ),
            ],
        );
    }

    #[test]
    fn quotas_and_component_status() {
        let rq = json!({"metadata": {"name": "q", "creationTimestamp": ago(60)},
            "status": {"hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi", "limits.cpu": "2000m"},
                       "used": {"pods": "3", "requests.cpu": "500m", "limits.memory": "1024Mi"}}});
        check(
            "",
            "resourcequotas",
            &[(
                "quota",
                rq,
                json!([
                    "q",
                    "pods: 3/10, requests.cpu: 500m/1",
                    "limits.cpu: 0/2, limits.memory: 1Gi/2Gi",
                    "60s"
                ]),
            )],
        );
        check(
            "",
            "componentstatuses",
            &[
                (
                    "healthy",
                    json!({"metadata": {"name": "etcd-0"}, "conditions": [
                {"type": "Healthy", "status": "True", "message": "ok"}]}),
                    json!(["etcd-0", "Healthy", "ok", ""]),
                ),
                (
                    "unhealthy",
                    json!({"metadata": {"name": "scheduler"}, "conditions": [
                {"type": "Healthy", "status": "False", "error": "connection refused"}]}),
                    json!(["scheduler", "Unhealthy", "", "connection refused"]),
                ),
                (
                    "unknown",
                    json!({"metadata": {"name": "x"}}),
                    json!(["x", "Unknown", "", ""]),
                ),
            ],
        );
    }
}
