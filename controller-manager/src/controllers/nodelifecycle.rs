//! Node lifecycle controller (upstream pkg/controller/nodelifecycle): watches Nodes and
//! their Leases in `kube-node-lease`, and
//! - after `--node-monitor-grace-period` without a heartbeat (a newer Lease `renewTime`
//!   or a changed Ready `lastHeartbeatTime`; `--node-startup-grace-period` for a node whose
//!   kubelet never posted status) sets Ready, MemoryPressure, DiskPressure and PIDPressure
//!   to Unknown (`NodeStatusUnknown`, "Kubelet stopped posting node status."), as upstream
//!   `tryUpdateNodeHealth`;
//! - keeps the NoExecute taints `node.kubernetes.io/not-ready` (Ready=False) and
//!   `node.kubernetes.io/unreachable` (Ready=Unknown), removed when Ready is True
//!   (upstream `processTaintBaseEviction` / `markNodeAsReachable`), and the NoSchedule taints
//!   of upstream `doNoScheduleTaintingPass` (`TaintNodesByCondition`): not-ready,
//!   unreachable, memory-pressure, disk-pressure, pid-pressure, network-unavailable and
//!   unschedulable (from `spec.unschedulable`);
//! - marks the pods of a node that stops being Ready as Ready=False (upstream
//!   `MarkPodsNotReady`), and any pod later seen on a not-ready node too (`processPod`),
//!   recording `NodeNotReady` events.
//!
//! Health is judged on this process's clock at observation time, as upstream does (so
//! skew between kubelet and controller clocks does not matter). Every node is re-checked
//! each `--node-monitor-period`; node, lease and pod changes queue the node at once.
//!
//! NoExecute taints are rate limited per zone as upstream (`processTaintBaseEviction`,
//! `doNoExecuteTaintingPass`, `handleDisruption`; the logic is in [`super::nodezones`]): a
//! node that stops being ready is queued in its zone (`topology.kubernetes.io/region` +
//! `zone`) and a pass every 100 ms taints the queued nodes through the zone's token bucket
//! (`--node-eviction-rate`; in PartialDisruption `--secondary-node-eviction-rate` for zones
//! over `--large-cluster-size-threshold` nodes, else none; a zone in FullDisruption keeps the
//! normal rate). When every zone is fully disrupted the controller enters "master
//! disruption mode": tainting stops and the NoExecute taints are removed from every node
//! (so a single-node cluster's pods are not evicted); leaving it resets the limiters and
//! gives every node a fresh grace period. A not-ready taint is swapped for an unreachable
//! one (and back) at once, without the queue. Nodes labelled
//! `node.kubernetes.io/exclude-disruption` do not count in zone states.
//!
//! Zone states are recomputed whenever a sync sees a node's zone, Ready status or exclusion
//! change, or a node go away (upstream recomputes once per `--node-monitor-period` pass),
//! so the limiter is switched before the node that caused the change is queued.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;
use parking_lot::Mutex;
use serde_json::json;

use super::nodezones::{self, EvictionRates, Transition, Zones};
use super::{is_conflict, is_not_found, run_workers, AbortOnDrop, ControllerError, Requeue};
use crate::events::EventSink;
use crate::informer::{Informer, Notification};
use crate::ControllerContext;

/// Upstream controller name.
pub const NAME: &str = "node-lifecycle-controller";
/// Namespace of the node heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// `v1.TaintNodeNotReady`.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// `v1.TaintNodeUnreachable`.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// `v1.TaintNodeUnschedulable`.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// `v1.TaintNodeMemoryPressure`.
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// `v1.TaintNodeDiskPressure`.
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// `v1.TaintNodePIDPressure`.
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// `v1.TaintNodeNetworkUnavailable`.
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";
/// `v1.TaintNodeOutOfService` (read by podgc).
pub const TAINT_OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

/// Upstream `nodeConditionToTaintKeyStatusMap`: (condition type, status) -> NoSchedule taint.
const CONDITION_TAINTS: &[(&str, &str, &str)] = &[
    ("Ready", "False", TAINT_NOT_READY),
    ("Ready", "Unknown", TAINT_UNREACHABLE),
    ("MemoryPressure", "True", TAINT_MEMORY_PRESSURE),
    ("DiskPressure", "True", TAINT_DISK_PRESSURE),
    ("NetworkUnavailable", "True", TAINT_NETWORK_UNAVAILABLE),
    ("PIDPressure", "True", TAINT_PID_PRESSURE),
];

/// The conditions upstream sets to Unknown when the kubelet goes silent.
const KUBELET_CONDITIONS: &[&str] = &["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Errors of one sync; retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum NodeLifecycleError {
    /// an API call failed
    #[error("{0}")]
    Api(#[from] kube::Error),
}

/// What the controller last observed of one node's heartbeats (upstream `nodeHealthData`).
#[derive(Debug, Clone)]
struct Health {
    /// When a heartbeat was last seen, on this process's clock.
    probe: Instant,
    /// The Ready condition's lastHeartbeatTime / status as last seen.
    heartbeat: Option<(Option<String>, String)>,
    /// The Lease renewTime last seen.
    lease_renew: Option<String>,
}

/// What the zone computation needs of one node, as last synced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeView {
    zone: String,
    ready: Option<String>,
    excluded: bool,
}

/// Upstream `scheduler.NodeEvictionPeriod`: how often the tainting queues are drained.
const NODE_EVICTION_PERIOD: Duration = Duration::from_millis(100);

#[derive(Clone)]
struct Controller {
    client: kube::Client,
    nodes: Store<Node>,
    leases: Store<Lease>,
    pods: Store<Pod>,
    health: Arc<Mutex<HashMap<String, Health>>>,
    known: Arc<Mutex<HashMap<String, NodeView>>>,
    zones: Arc<Mutex<Zones>>,
    events: EventSink,
    grace: Duration,
    startup_grace: Duration,
    period: Duration,
}

/// Starts the node, lease and pod informers, a ticker queueing every node each
/// `--node-monitor-period`, and one worker per two nodes' worth of work (5 workers).
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("node_lifecycle_controller");
    let q = queue.clone();
    let nodes = ctx.informers.subscribe::<Node>(move |n| match n {
        Notification::Added(o) | Notification::Deleted(o) => q.add(node_name(&o)),
        Notification::Updated { new, .. } => q.add(node_name(&new)),
    });
    let q = queue.clone();
    let leases = Informer::<Lease>::spawn(
        Api::namespaced(ctx.client.clone(), NODE_LEASE_NAMESPACE),
        move |n| {
            if let Notification::Added(o) | Notification::Updated { new: o, .. } = n {
                q.add(o.metadata.name.clone().unwrap_or_default());
            }
        },
    );
    let q = queue.clone();
    let pods = ctx.informers.subscribe::<Pod>(move |n| {
        // Upstream `podUpdated`: a pod newly bound to (or changed on) a node gets the node's
        // readiness applied; only pods whose node changed or that are new matter.
        match n {
            Notification::Added(p) => {
                if let Some(node) = pod_node(&p) {
                    q.add(node.to_string());
                }
            }
            Notification::Updated { old, new } => {
                if pod_node(&old) != pod_node(&new) || ready_of(&old) != ready_of(&new) {
                    if let Some(node) = pod_node(&new) {
                        q.add(node.to_string());
                    }
                }
            }
            Notification::Deleted(_) => {}
        }
    });
    nodes.synced().await;
    leases.synced().await;
    pods.synced().await;
    let opts = &ctx.options;
    let c = Controller {
        client: ctx.client.clone(),
        nodes: nodes.store.clone(),
        leases: leases.store.clone(),
        pods: pods.store.clone(),
        health: Arc::default(),
        known: Arc::default(),
        zones: Arc::new(Mutex::new(Zones::new(EvictionRates {
            normal: opts.node_eviction_rate,
            secondary: opts.secondary_node_eviction_rate,
            large_cluster_threshold: opts.large_cluster_size_threshold,
            unhealthy_zone_threshold: opts.unhealthy_zone_threshold,
        }))),
        events: EventSink::new(ctx.client.clone(), NAME),
        grace: opts.node_monitor_grace_period,
        startup_grace: opts.node_startup_grace_period,
        period: opts.node_monitor_period.max(Duration::from_millis(10)),
    };
    // Upstream's first monitor pass sees every node before judging zones: seed the zone
    // picture from the synced cache so the first node synced is not taken for the whole
    // cluster (which could wrongly enter master disruption mode).
    {
        let now = Instant::now();
        let mut known = c.known.lock();
        let mut zones = c.zones.lock();
        for n in c.nodes.state() {
            let view = node_view(&n);
            zones.ensure_zone(&view.zone, now);
            known.insert(node_name(&n), view);
        }
    }
    if let Err(e) = c.recompute_disruption().await {
        tracing::warn!(error = %e, "initial zone disruption pass failed");
    }
    // Upstream `monitorNodeHealth` runs every --node-monitor-period over all nodes.
    let ticker = {
        let q = queue.clone();
        let store = c.nodes.clone();
        let period = c.period;
        AbortOnDrop(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for n in store.state() {
                    q.add(node_name(&n));
                }
            }
        }))
    };
    // Upstream `doNoExecuteTaintingPass` every NodeEvictionPeriod.
    let tainter = {
        let c = c.clone();
        AbortOnDrop(tokio::spawn(async move {
            let mut tick = tokio::time::interval(NODE_EVICTION_PERIOD);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                c.no_execute_tainting_pass().await;
            }
        }))
    };
    run_workers(NAME, queue, 5, move |key| {
        let c = c.clone();
        async move { c.sync(&key).await }
    })
    .await;
    drop((ticker, tainter, nodes, leases, pods));
    Ok(())
}

fn node_name(n: &Node) -> String {
    n.metadata.name.clone().unwrap_or_default()
}

/// The node's zone, Ready status and disruption exclusion.
fn node_view(node: &Node) -> NodeView {
    let labels = node.metadata.labels.as_ref();
    NodeView {
        zone: nodezones::zone_key(labels),
        ready: condition(node, "Ready").map(|c| c.status.clone()),
        excluded: labels.is_some_and(|l| l.contains_key(nodezones::LABEL_EXCLUDE_DISRUPTION)),
    }
}

fn pod_node(p: &Pod) -> Option<&str> {
    p.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|s| !s.is_empty())
}

fn ready_of(p: &Pod) -> Option<String> {
    super::ready_condition(p).map(|c| c.status.clone())
}

/// The node's condition of type `t`.
pub fn condition<'a>(node: &'a Node, t: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t)
}

/// Whether the node's Ready condition is True (upstream `IsNodeReady`).
pub fn node_is_ready(node: &Node) -> bool {
    condition(node, "Ready").is_some_and(|c| c.status == "True")
}

/// Upstream `tryUpdateNodeHealth`'s rewrite of a silent node's conditions: Ready and the
/// pressure conditions become Unknown with `NodeStatusUnknown` (or, when the kubelet never
/// posted them, are added with `NodeStatusNeverUpdated`); already-Unknown ones are kept.
/// Returns `None` when nothing changes.
pub fn conditions_for_silent_node(
    conditions: &[NodeCondition],
    now: Timestamp,
) -> Option<Vec<NodeCondition>> {
    let mut out = conditions.to_vec();
    let mut changed = false;
    for t in KUBELET_CONDITIONS {
        match out.iter_mut().find(|c| c.type_ == *t) {
            None => {
                out.push(NodeCondition {
                    type_: (*t).to_string(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: None,
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
            Some(c) if c.status != "Unknown" => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            Some(_) => {}
        }
    }
    changed.then_some(out)
}

/// Whether a taint is one this controller owns (key and effect).
fn managed(t: &Taint) -> bool {
    match t.effect.as_str() {
        "NoExecute" => t.key == TAINT_NOT_READY || t.key == TAINT_UNREACHABLE,
        "NoSchedule" => {
            t.key == TAINT_UNSCHEDULABLE || CONDITION_TAINTS.iter().any(|(_, _, k)| *k == t.key)
        }
        _ => false,
    }
}

/// Whether the node carries the NoExecute taint `key`.
fn has_no_execute(node: &Node, key: &str) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|ts| ts.iter().any(|t| t.key == key && t.effect == "NoExecute"))
}

/// The NoExecute taint matching a Ready status (upstream `NotReadyTaintTemplate` /
/// `UnreachableTaintTemplate`) and its opposite.
fn no_execute_taint_for(ready: Option<&str>) -> Option<(&'static str, &'static str)> {
    match ready {
        Some("False") => Some((TAINT_NOT_READY, TAINT_UNREACHABLE)),
        Some("Unknown") => Some((TAINT_UNREACHABLE, TAINT_NOT_READY)),
        _ => None,
    }
}

/// The taints the node should carry outside the rate-limited queue: its foreign taints
/// unchanged, the managed NoSchedule taints from conditions and `spec.unschedulable`
/// (upstream `doNoScheduleTaintingPass`), and of the NoExecute ones (upstream
/// `processTaintBaseEviction`): none when Ready is True; the one matching Ready=False/Unknown
/// kept, or swapped in at once when the node carries the opposite one; untouched without a
/// Ready condition. Adding a NoExecute taint to an untainted node is the zone queue's job
/// ([`with_no_execute_taint`]). Managed taints already present keep their `timeAdded`;
/// new NoExecute taints get `timeAdded = now` as upstream's `AddOrUpdateTaintOnNode`.
pub fn desired_taints(node: &Node, now: Timestamp) -> Vec<Taint> {
    let existing: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let mut want: Vec<(&str, &str)> = Vec::new();
    for (t, status, key) in CONDITION_TAINTS {
        if condition(node, t).is_some_and(|c| c.status == *status) {
            want.push((key, "NoSchedule"));
        }
    }
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        want.push((TAINT_UNSCHEDULABLE, "NoSchedule"));
    }
    match condition(node, "Ready").map(|c| c.status.as_str()) {
        Some("True") => {}
        ready @ (Some("False") | Some("Unknown")) => {
            let (add, opposite) = no_execute_taint_for(ready).expect("false or unknown");
            if has_no_execute(node, add) || has_no_execute(node, opposite) {
                want.push((add, "NoExecute"));
            }
        }
        // No (or an odd) Ready condition: upstream skips the node's NoExecute handling.
        _ => {
            for key in [TAINT_NOT_READY, TAINT_UNREACHABLE] {
                if has_no_execute(node, key) {
                    want.push((key, "NoExecute"));
                }
            }
        }
    }
    merge_managed(&existing, &want, now)
}

/// `existing` without the managed taints not in `want`, plus the missing ones of `want`.
fn merge_managed(existing: &[Taint], want: &[(&str, &str)], now: Timestamp) -> Vec<Taint> {
    let mut out: Vec<Taint> = existing
        .iter()
        .filter(|t| !managed(t) || want.contains(&(t.key.as_str(), t.effect.as_str())))
        .cloned()
        .collect();
    for (key, effect) in want {
        if !out.iter().any(|t| t.key == *key && t.effect == *effect) {
            out.push(Taint {
                key: key.to_string(),
                effect: effect.to_string(),
                value: None,
                time_added: (*effect == "NoExecute").then_some(Time(now)),
            });
        }
    }
    out
}

/// Upstream `SwapNodeControllerTaint` as the tainting queue applies it: the NoExecute
/// taint matching the node's Ready status added and the opposite one removed; `None` when
/// Ready is True or missing (nothing to taint).
pub fn with_no_execute_taint(node: &Node, now: Timestamp) -> Option<Vec<Taint>> {
    let ready = condition(node, "Ready").map(|c| c.status.as_str());
    let (add, opposite) = no_execute_taint_for(ready)?;
    let existing: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let mut out: Vec<Taint> = existing
        .into_iter()
        .filter(|t| !(t.key == opposite && t.effect == "NoExecute"))
        .collect();
    if !out.iter().any(|t| t.key == add && t.effect == "NoExecute") {
        out.push(Taint {
            key: add.to_string(),
            effect: "NoExecute".into(),
            value: None,
            time_added: Some(Time(now)),
        });
    }
    Some(out)
}

/// Whether a heartbeat last seen at `probe` is older than `grace` at `now`.
pub fn heartbeat_expired(probe: Instant, grace: Duration, now: Instant) -> bool {
    now.saturating_duration_since(probe) > grace
}

impl Controller {
    /// Upstream `tryUpdateNodeHealth` + `processTaintBaseEviction` +
    /// `doNoScheduleTaintingPass` for one node.
    async fn sync(&self, name: &str) -> Result<Requeue, NodeLifecycleError> {
        let Some(node) = self.nodes.get(&ObjectRef::new(name)) else {
            self.health.lock().remove(name);
            if self.known.lock().remove(name).is_some() {
                self.recompute_disruption().await?;
            }
            return Ok(Requeue::No);
        };
        let mut node = (*node).clone();
        let was_ready = condition(&node, "Ready").map(|c| c.status.clone());

        if let Some(conds) = self.silent_node_conditions(&node) {
            let api: Api<Node> = Api::all(self.client.clone());
            let patch = json!({
                "metadata": {"resourceVersion": node.metadata.resource_version},
                "status": {"conditions": conds},
            });
            match api
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(n) => node = n,
                Err(e) if is_not_found(&e) => return Ok(Requeue::No),
                Err(e) => return Err(e.into()),
            }
            tracing::info!(node = name, "node stopped posting status; marked Unknown");
        }
        let now_ready = condition(&node, "Ready").map(|c| c.status.clone());

        // Zone bookkeeping (upstream `addPodEvictorForNewZone` + the zone conditions of
        // `monitorNodeHealth`), then `handleDisruption` if this node changed its zone's
        // picture, before the node is queued for tainting below.
        let view = node_view(&node);
        self.zones.lock().ensure_zone(&view.zone, Instant::now());
        let previous = self.known.lock().insert(name.to_string(), view.clone());
        if previous.as_ref() != Some(&view) {
            if let Some(prev) = previous.filter(|p| p.zone != view.zone) {
                self.zones.lock().mark_reachable(&prev.zone, name);
            }
            self.recompute_disruption().await?;
        }

        // Taints.
        let want = desired_taints(&node, Timestamp::now());
        let have = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        if !same_taints(&want, &have) {
            let api: Api<Node> = Api::all(self.client.clone());
            let patch = json!({
                "metadata": {"resourceVersion": node.metadata.resource_version},
                "spec": {"taints": if want.is_empty() { serde_json::Value::Null } else { json!(want) }},
            });
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(n) => node = n,
                Err(e) if is_not_found(&e) => return Ok(Requeue::No),
                Err(e) => return Err(e.into()),
            }
        }
        // Upstream `processTaintBaseEviction`'s queue side: a not-ready node goes to its
        // zone's rate-limited queue, a ready one leaves it.
        match no_execute_taint_for(now_ready.as_deref()) {
            Some((key, _)) => {
                let tainted = has_no_execute(&node, key);
                self.zones
                    .lock()
                    .mark_for_tainting(&view.zone, name, tainted, Instant::now());
            }
            None if now_ready.as_deref() == Some("True") => {
                self.zones.lock().mark_reachable(&view.zone, name);
            }
            None => {}
        }

        // Upstream records NodeNotReady on the node and marks its pods not ready once, when
        // Ready leaves True; pods seen later on a not-ready node are marked by `processPod`.
        if was_ready.as_deref() == Some("True") && now_ready.as_deref() != Some("True") {
            self.events.normal(
                &node,
                "NodeNotReady",
                format!("Node {name} status is now: NodeNotReady"),
            );
        }
        if now_ready.is_some() && now_ready.as_deref() != Some("True") {
            self.mark_pods_not_ready(name).await?;
        }
        Ok(Requeue::No)
    }

    /// Updates the heartbeat bookkeeping and returns the rewritten conditions when the
    /// node has been silent past its grace period.
    fn silent_node_conditions(&self, node: &Node) -> Option<Vec<NodeCondition>> {
        let name = node_name(node);
        let now = Instant::now();
        let ready = condition(node, "Ready");
        let seen = ready.map(|c| {
            (
                c.last_heartbeat_time.as_ref().map(|t| t.0.to_string()),
                c.status.clone(),
            )
        });
        let lease_renew = self
            .leases
            .get(&ObjectRef::new(&name).within(NODE_LEASE_NAMESPACE))
            .and_then(|l| l.spec.as_ref()?.renew_time.as_ref().map(|t| t.0));
        let mut health = self.health.lock();
        let h = health.entry(name).or_insert_with(|| Health {
            probe: now,
            heartbeat: seen.clone(),
            lease_renew: lease_renew.map(|t| t.to_string()),
        });
        // A changed Ready condition (heartbeat or status) is a heartbeat.
        if ready.is_some() && h.heartbeat != seen {
            h.heartbeat = seen;
            h.probe = now;
        }
        // So is a Lease renewed later than the last one seen.
        if let Some(renew) = lease_renew {
            let newer = match h.lease_renew.as_deref() {
                None => true,
                Some(prev) => prev.parse::<Timestamp>().map_or(true, |prev| renew > prev),
            };
            if newer {
                h.lease_renew = Some(renew.to_string());
                h.probe = now;
            }
        }
        let expired = match ready {
            Some(_) => heartbeat_expired(h.probe, self.grace, now),
            None => {
                // Never posted: the startup grace counts from creation (upstream uses
                // node.CreationTimestamp as the probe time), unless a lease was seen since.
                let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
                let since_creation = created
                    .map(|c| {
                        Duration::from_secs(
                            (Timestamp::now().as_second() - c.as_second()).max(0) as u64
                        )
                    })
                    .unwrap_or_default();
                since_creation > self.startup_grace
                    && heartbeat_expired(h.probe, self.startup_grace, now)
            }
        };
        drop(health);
        if !expired {
            return None;
        }
        let conds = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        conditions_for_silent_node(&conds, Timestamp::now())
    }

    /// Upstream `handleDisruption` over the nodes as last synced, and what its transition
    /// asks for: entering master disruption mode removes every node's NoExecute
    /// not-ready/unreachable taints; leaving it gives every node a fresh grace period.
    async fn recompute_disruption(&self) -> Result<(), NodeLifecycleError> {
        let transition = {
            let known = self.known.lock();
            let mut by_zone: HashMap<String, Vec<Option<&str>>> = HashMap::new();
            for v in known.values().filter(|v| !v.excluded) {
                by_zone
                    .entry(v.zone.clone())
                    .or_default()
                    .push(v.ready.as_deref());
            }
            self.zones
                .lock()
                .handle_disruption(&by_zone, Instant::now())
        };
        match transition {
            Transition::None => {}
            Transition::EnterMasterDisruption => {
                for node in self.nodes.state() {
                    let name = node_name(&node);
                    // A fresh read per node (not the cache): a taint the queue added a
                    // moment ago must go too. Rare, so the reads are affordable.
                    // Upstream handleDisruption logs a failure and goes on with the
                    // other nodes: stopping here would leave their taints (the zone states
                    // are already FullDisruption, so no later pass would retry).
                    if let Err(e) = self.mark_node_as_reachable(&name).await {
                        tracing::error!(node = %name, error = %e, "removing NoExecute taints in master disruption mode");
                    }
                    let zone = nodezones::zone_key(node.metadata.labels.as_ref());
                    self.zones.lock().mark_reachable(&zone, &name);
                }
            }
            Transition::ExitMasterDisruption => {
                let now = Instant::now();
                for h in self.health.lock().values_mut() {
                    h.probe = now;
                }
            }
        }
        Ok(())
    }

    /// Upstream `markNodeAsReachable`'s API side: removes the NoExecute not-ready and
    /// unreachable taints, re-reading the node on conflicts (`RemoveTaintOffNode`).
    async fn mark_node_as_reachable(&self, name: &str) -> Result<(), NodeLifecycleError> {
        let api: Api<Node> = Api::all(self.client.clone());
        for attempt in 0.. {
            let node = match api.get_opt(name).await? {
                Some(n) => n,
                None => return Ok(()),
            };
            let have = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default();
            let want: Vec<Taint> = have
                .iter()
                .filter(|t| {
                    !(t.effect == "NoExecute"
                        && (t.key == TAINT_NOT_READY || t.key == TAINT_UNREACHABLE))
                })
                .cloned()
                .collect();
            if want.len() == have.len() {
                return Ok(());
            }
            let patch = json!({
                "metadata": {"resourceVersion": node.metadata.resource_version},
                "spec": {"taints": if want.is_empty() { serde_json::Value::Null } else { json!(want) }},
            });
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) if is_conflict(&e) && attempt < 5 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Upstream `doNoExecuteTaintingPass`: drains every zone's queue through its limiter.
    async fn no_execute_tainting_pass(&self) {
        let zones = self.zones.lock().zones();
        for zone in zones {
            loop {
                let now = Instant::now();
                let Some(name) = self
                    .zones
                    .lock()
                    .tainter(&zone)
                    .and_then(|q| q.next_due(now))
                else {
                    break;
                };
                let (done, wait) = self.taint_queued_node(&name).await;
                let mut z = self.zones.lock();
                if let Some(q) = z.tainter(&zone) {
                    if done {
                        q.done(&name);
                    } else {
                        q.retry(&name, Instant::now(), wait);
                    }
                }
            }
        }
    }

    /// Taints one queued node as its Ready status says; `(true, _)` when nothing is left
    /// to do, `(false, wait)` to try again after `wait` (upstream's `Try` callback).
    async fn taint_queued_node(&self, name: &str) -> (bool, Duration) {
        let Some(node) = self.nodes.get(&ObjectRef::new(name)) else {
            return (true, Duration::ZERO);
        };
        if condition(&node, "Ready").is_none() {
            return (false, Duration::from_millis(50));
        }
        // Ready again: nothing to taint.
        let Some(want) = with_no_execute_taint(&node, Timestamp::now()) else {
            return (true, Duration::ZERO);
        };
        let have = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        if same_taints(&want, &have) {
            return (true, Duration::ZERO);
        }
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = json!({
            "metadata": {"resourceVersion": node.metadata.resource_version},
            "spec": {"taints": want},
        });
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                tracing::info!(node = name, "tainted node with NoExecute taint");
                (true, Duration::ZERO)
            }
            Err(e) if is_not_found(&e) => (true, Duration::ZERO),
            Err(e) => {
                tracing::debug!(node = name, error = %e, "tainting failed; retrying");
                (false, Duration::ZERO)
            }
        }
    }

    /// Upstream `MarkPodsNotReady`: sets the Ready condition of the node's pods to False.
    async fn mark_pods_not_ready(&self, node: &str) -> Result<(), NodeLifecycleError> {
        let pods = self
            .pods
            .state_filter(|p| pod_node(p) == Some(node) && ready_of(p).as_deref() == Some("True"));
        for pod in pods {
            let Some(conds) = pod.status.as_ref().and_then(|s| s.conditions.clone()) else {
                continue;
            };
            let now = Time(Timestamp::now());
            let conds: Vec<_> = conds
                .into_iter()
                .map(|mut c| {
                    if c.type_ == "Ready" {
                        c.status = "False".into();
                        c.last_transition_time = Some(now.clone());
                    }
                    c
                })
                .collect();
            let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
            let pname = pod.metadata.name.as_deref().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
            let patch = json!({
                "metadata": {"resourceVersion": pod.metadata.resource_version},
                "status": {"conditions": conds},
            });
            match api
                .patch_status(pname, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.events
                        .warning(pod.as_ref(), "NodeNotReady", "Node is not ready".into());
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// Taint lists equal as sets of (key, effect, value).
fn same_taints(a: &[Taint], b: &[Taint]) -> bool {
    let set = |v: &[Taint]| -> BTreeMap<(String, String), Option<String>> {
        v.iter()
            .map(|t| ((t.key.clone(), t.effect.clone()), t.value.clone()))
            .collect()
    };
    a.len() == b.len() && set(a) == set(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(conds: &[(&str, &str)], unschedulable: bool, taints: &[(&str, &str)]) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n"},
            "spec": {
                "unschedulable": unschedulable,
                "taints": taints.iter().map(|(k, e)| json!({"key": k, "effect": e})).collect::<Vec<_>>(),
            },
            "status": {"conditions": conds.iter().map(|(t, s)| json!({"type": t, "status": s})).collect::<Vec<_>>()},
        }))
        .unwrap()
    }

    fn keys(ts: &[Taint]) -> Vec<(String, String)> {
        let mut v: Vec<_> = ts
            .iter()
            .map(|t| (t.key.clone(), t.effect.clone()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn desired_taints_table() {
        let cases: Vec<(Node, Vec<(&str, &str)>)> = vec![
            (node(&[("Ready", "True")], false, &[]), vec![]),
            // Not ready and untainted: the NoExecute taint is the zone queue's job.
            (
                node(&[("Ready", "False")], false, &[]),
                vec![(TAINT_NOT_READY, "NoSchedule")],
            ),
            // Already tainted: kept.
            (
                node(
                    &[("Ready", "False")],
                    false,
                    &[(TAINT_NOT_READY, "NoExecute")],
                ),
                vec![
                    (TAINT_NOT_READY, "NoExecute"),
                    (TAINT_NOT_READY, "NoSchedule"),
                ],
            ),
            (
                node(
                    &[("Ready", "Unknown")],
                    false,
                    &[(TAINT_NOT_READY, "NoExecute")],
                ),
                vec![
                    (TAINT_UNREACHABLE, "NoExecute"),
                    (TAINT_UNREACHABLE, "NoSchedule"),
                ],
            ),
            (
                node(
                    &[
                        ("Ready", "True"),
                        ("MemoryPressure", "True"),
                        ("DiskPressure", "True"),
                        ("PIDPressure", "True"),
                        ("NetworkUnavailable", "True"),
                    ],
                    true,
                    &[],
                ),
                vec![
                    (TAINT_DISK_PRESSURE, "NoSchedule"),
                    (TAINT_MEMORY_PRESSURE, "NoSchedule"),
                    (TAINT_NETWORK_UNAVAILABLE, "NoSchedule"),
                    (TAINT_PID_PRESSURE, "NoSchedule"),
                    (TAINT_UNSCHEDULABLE, "NoSchedule"),
                ],
            ),
            // Recovery removes managed taints but keeps foreign ones.
            (
                node(
                    &[("Ready", "True")],
                    false,
                    &[
                        (TAINT_UNREACHABLE, "NoExecute"),
                        (TAINT_UNREACHABLE, "NoSchedule"),
                        ("example.com/x", "NoExecute"),
                        (TAINT_NOT_READY, "PreferNoSchedule"),
                    ],
                ),
                vec![
                    ("example.com/x", "NoExecute"),
                    (TAINT_NOT_READY, "PreferNoSchedule"),
                ],
            ),
            // No Ready condition at all: nothing yet, and NoExecute taints left alone.
            (node(&[], false, &[]), vec![]),
            (
                node(&[], false, &[(TAINT_UNREACHABLE, "NoExecute")]),
                vec![(TAINT_UNREACHABLE, "NoExecute")],
            ),
        ];
        for (i, (n, want)) in cases.into_iter().enumerate() {
            let mut want: Vec<(String, String)> = want
                .into_iter()
                .map(|(k, e)| (k.to_string(), e.to_string()))
                .collect();
            want.sort();
            assert_eq!(
                keys(&desired_taints(&n, Timestamp::now())),
                want,
                "case {i}"
            );
        }
    }

    #[test]
    fn new_noexecute_taints_get_time_added_and_keep_it() {
        let now = Timestamp::now();
        let n = node(&[("Ready", "Unknown")], false, &[]);
        assert!(desired_taints(&n, now)
            .iter()
            .all(|t| t.effect == "NoSchedule" && t.time_added.is_none()));
        // The queue adds it with timeAdded.
        let t = with_no_execute_taint(&n, now).unwrap();
        let ne = t.iter().find(|t| t.effect == "NoExecute").unwrap();
        assert_eq!(ne.key, TAINT_UNREACHABLE);
        assert_eq!(ne.time_added, Some(Time(now)));
        let mut n2 = n.clone();
        n2.spec.as_mut().unwrap().taints = Some(desired_taints(&n, now));
        n2.spec
            .as_mut()
            .unwrap()
            .taints
            .as_mut()
            .unwrap()
            .push(ne.clone());
        let later = Timestamp::from_second(now.as_second() + 100).unwrap();
        let kept = desired_taints(&n2, later);
        assert_eq!(
            kept.iter()
                .find(|t| t.effect == "NoExecute")
                .unwrap()
                .time_added,
            Some(Time(now))
        );
        // Ready=False now: swapped at once for not-ready, with a new timeAdded.
        let mut n3 = n2.clone();
        n3.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "False".into();
        let swapped = desired_taints(&n3, later);
        let ne = swapped.iter().find(|t| t.effect == "NoExecute").unwrap();
        assert_eq!(
            (ne.key.as_str(), ne.time_added.clone()),
            (TAINT_NOT_READY, Some(Time(later)))
        );
        // Ready: no queue work.
        let ok = node(&[("Ready", "True")], false, &[]);
        assert!(with_no_execute_taint(&ok, now).is_none());
    }

    #[test]
    fn silent_node_conditions_rewrite() {
        let now = Timestamp::now();
        let n = node(
            &[("Ready", "True"), ("MemoryPressure", "False")],
            false,
            &[],
        );
        let conds = n.status.unwrap().conditions.unwrap();
        let out = conditions_for_silent_node(&conds, now).unwrap();
        let ready = out.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        let disk = out.iter().find(|c| c.type_ == "DiskPressure").unwrap();
        assert_eq!(disk.reason.as_deref(), Some("NodeStatusNeverUpdated"));
        assert_eq!(out.len(), 4);
        // Already Unknown everywhere: no rewrite.
        assert!(conditions_for_silent_node(&out, now).is_none());
    }

    #[test]
    fn heartbeat_expiry() {
        let t0 = Instant::now();
        let g = Duration::from_secs(50);
        assert!(!heartbeat_expired(t0, g, t0 + Duration::from_secs(50)));
        assert!(heartbeat_expired(t0, g, t0 + Duration::from_secs(51)));
        assert!(!heartbeat_expired(t0 + Duration::from_secs(5), g, t0));
    }
}
