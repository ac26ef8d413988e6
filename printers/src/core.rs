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

    let init_spec = |n: &str| init_specs.iter().find(|c| str_at(c, &["name"]) == n);
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
