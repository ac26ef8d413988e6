//! The running scheduler: list-watch informers feeding the cache and queue, and the
//! scheduling loop (upstream `scheduler.go`, `eventhandlers.go`, `schedule_one.go`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use parking_lot::Mutex;

use crate::cache::Cache;
use crate::events;
use crate::framework::{CycleState, Framework, QueuedPodInfo, Snapshot};
use crate::queue::{pod_key, ClusterEvent, NodeChange, SharedQueue};
use crate::schedule::{schedule_pod, ScheduleError};

/// The state the informers and the loop share.
pub struct Shared {
    /// Nodes and assigned pods.
    pub cache: Mutex<Cache>,
    /// Pods waiting to be scheduled.
    pub queue: SharedQueue,
    /// Profiles by schedulerName.
    pub profiles: HashMap<String, Arc<Framework>>,
    /// Attempt counters and latencies.
    pub metrics: crate::metrics::Metrics,
    /// Pods nominated to nodes by preemption.
    pub nominator: Mutex<Nominator>,
}

/// Pods nominated to a node by preemption and not yet bound (upstream `nominator`), so
/// later cycles leave the room the preemption freed to them.
#[derive(Default)]
pub struct Nominator {
    by_node: HashMap<String, Vec<(String, Arc<crate::framework::PodInfo>)>>,
    by_pod: HashMap<String, String>,
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

impl Nominator {
    /// Records (or moves) a pod's nomination.
    pub fn add(&mut self, pod: &Arc<Pod>, node: &str) {
        let key = pod_key(pod);
        self.remove(&key);
        self.by_pod.insert(key.clone(), node.to_string());
        self.by_node
            .entry(node.to_string())
            .or_default()
            .push((key, Arc::new(crate::framework::PodInfo::new(pod.clone()))));
    }

    /// Drops a pod's nomination (it was bound, deleted or scheduled elsewhere).
    pub fn remove(&mut self, key: &str) {
        if let Some(node) = self.by_pod.remove(key) {
            if let Some(v) = self.by_node.get_mut(&node) {
                v.retain(|(k, _)| k != key);
                if v.is_empty() {
                    self.by_node.remove(&node);
                }
            }
        }
    }

    /// Pods nominated per node that a cycle for `pod` must respect: other pods with at
    /// least its priority (upstream `addNominatedPods`).
    pub fn for_pod(&self, pod: &Pod) -> HashMap<String, Vec<Arc<crate::framework::PodInfo>>> {
        let (key, prio) = (pod_key(pod), priority(pod));
        self.by_node
            .iter()
            .filter_map(|(node, pods)| {
                let v: Vec<_> = pods
                    .iter()
                    .filter(|(k, p)| *k != key && priority(&p.pod) >= prio)
                    .map(|(_, p)| p.clone())
                    .collect();
                (!v.is_empty()).then(|| (node.clone(), v))
            })
            .collect()
    }
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

fn assigned(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

impl Shared {
    fn responsible_for(&self, pod: &Pod) -> bool {
        let name = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .unwrap_or(crate::config::DEFAULT_SCHEDULER_NAME);
        self.profiles.contains_key(name)
    }

    /// A pod was added or changed (upstream `addPodToCache` / `addPodToSchedulingQueue` and
    /// their update variants).
    pub fn on_pod(&self, mut pod: Pod) {
        // Upstream's scheduler pod informer drops managedFields ("to improve memory
        // usage"): nothing here reads them, and with one entry per writer they are the
        // bulk of a small pod.
        pod.metadata.managed_fields = None;
        let key = pod_key(&pod);
        let now = Instant::now();
        if is_terminal(&pod) {
            // Upstream's informers exclude terminated pods; their resources are free.
            let was_cached = {
                let mut c = self.cache.lock();
                let had = c.has_pod(&key);
                c.remove_pod(&key);
                had
            };
            self.queue.with(|q| {
                q.delete(&key);
                if was_cached {
                    q.on_event(ClusterEvent::AssignedPodDelete, now);
                }
            });
            return;
        }
        if assigned(&pod) {
            self.nominator.lock().remove(&key);
            // Upstream: a pod newly seen assigned is AssignedPodAdd (pods with affinity to
            // it, or spread over it, may now fit); a label change is AssignedPodUpdate.
            let event = {
                let mut c = self.cache.lock();
                let event = match c.pod(&key) {
                    Some((old, false)) if old.metadata.labels == pod.metadata.labels => None,
                    Some((_, false)) => Some(ClusterEvent::AssignedPodUpdate),
                    _ => Some(ClusterEvent::AssignedPodAdd),
                };
                c.upsert_pod(Arc::new(pod));
                event
            };
            self.queue.with(|q| {
                q.delete(&key);
                if let Some(ev) = event {
                    q.on_event(ev, now);
                }
            });
            return;
        }
        if !self.responsible_for(&pod) {
            return;
        }
        if pod.metadata.deletion_timestamp.is_some() {
            self.queue.with(|q| q.delete(&key));
            return;
        }
        self.queue.with(|q| q.add(Arc::new(pod), now));
    }

    /// A pod was deleted: freed resources may let unschedulable pods fit.
    pub fn on_pod_delete(&self, pod: &Pod) {
        let key = pod_key(pod);
        self.nominator.lock().remove(&key);
        self.cache.lock().remove_pod(&key);
        let was_assigned = assigned(pod);
        self.queue.with(|q| {
            q.delete(&key);
            if was_assigned {
                q.on_event(ClusterEvent::AssignedPodDelete, Instant::now());
            }
        });
    }

    /// A node was added or changed. Unschedulable pods are retried when the node is new or
    /// something scheduling reads changed (upstream `nodeSchedulingPropertiesChange`),
    /// not on heartbeats.
    pub fn on_node(&self, mut node: Node) {
        // As for pods: managedFields are never read here.
        node.metadata.managed_fields = None;
        let name = node.metadata.name.clone().unwrap_or_default();
        let event = {
            let mut c = self.cache.lock();
            let event = match c.node(&name) {
                None => Some(ClusterEvent::NodeAdd),
                Some(o) => {
                    let change = NodeChange {
                        labels: o.metadata.labels != node.metadata.labels,
                        taints: o.spec.as_ref().map(|s| (&s.taints, s.unschedulable))
                            != node.spec.as_ref().map(|s| (&s.taints, s.unschedulable)),
                        allocatable: o.status.as_ref().map(|s| &s.allocatable)
                            != node.status.as_ref().map(|s| &s.allocatable),
                    };
                    (change != NodeChange::default()).then_some(ClusterEvent::NodeUpdate(change))
                }
            };
            c.upsert_node(Arc::new(node));
            event
        };
        if let Some(ev) = event {
            self.queue.with(|q| q.on_event(ev, Instant::now()));
        }
    }

    /// A node was deleted (PodTopologySpread's domains may change).
    pub fn on_node_delete(&self, node: &Node) {
        if let Some(n) = node.metadata.name.as_deref() {
            self.cache.lock().remove_node(n);
            self.queue
                .with(|q| q.on_event(ClusterEvent::NodeDelete, Instant::now()));
        }
    }
}

/// Feeds pod watch events into `shared` until the stream ends. A relist removes what
/// disappeared while the watch was down.
pub async fn run_pod_informer(client: kube::Client, shared: Arc<Shared>) {
    let api: Api<Pod> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut seen: Option<HashSet<String>> = None;
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::Apply(p)) => shared.on_pod(p),
            Ok(watcher::Event::Delete(p)) => shared.on_pod_delete(&p),
            Ok(watcher::Event::Init) => seen = Some(HashSet::new()),
            Ok(watcher::Event::InitApply(p)) => {
                if let Some(s) = seen.as_mut() {
                    s.insert(pod_key(&p));
                }
                shared.on_pod(p);
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(s) = seen.take() {
                    let gone: Vec<String> = shared
                        .cache
                        .lock()
                        .pod_keys()
                        .into_iter()
                        .filter(|k| !s.contains(k))
                        .collect();
                    for k in &gone {
                        shared.cache.lock().remove_pod(k);
                    }
                    shared.queue.with(|q| {
                        q.retain(&|k| s.contains(k));
                        if !gone.is_empty() {
                            q.move_all_to_active_or_backoff(Instant::now());
                        }
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "pod watch failed; retrying"),
        }
    }
}

/// Feeds node watch events into `shared` until the stream ends.
pub async fn run_node_informer(client: kube::Client, shared: Arc<Shared>) {
    let api: Api<Node> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut seen: Option<HashSet<String>> = None;
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::Apply(n)) => shared.on_node(n),
            Ok(watcher::Event::Delete(n)) => shared.on_node_delete(&n),
            Ok(watcher::Event::Init) => seen = Some(HashSet::new()),
            Ok(watcher::Event::InitApply(n)) => {
                if let Some(s) = seen.as_mut() {
                    s.insert(n.metadata.name.clone().unwrap_or_default());
                }
                shared.on_node(n);
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(s) = seen.take() {
                    let mut c = shared.cache.lock();
                    for n in c.node_names() {
                        if !s.contains(&n) {
                            c.remove_node(&n);
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "node watch failed; retrying"),
        }
    }
}

/// Keeps `store` equal to the cluster's PodDisruptionBudgets (a reflector store).
pub async fn run_pdb_informer(
    client: kube::Client,
    store: Arc<parking_lot::RwLock<Vec<k8s_openapi::api::policy::v1::PodDisruptionBudget>>>,
) {
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    let api: Api<PodDisruptionBudget> = Api::all(client);
    let (reader, writer) = kube::runtime::reflector::store();
    let mut stream = kube::runtime::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .boxed();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(_) => {
                *store.write() = reader.state().iter().map(|p| (**p).clone()).collect();
            }
            Err(e) => tracing::warn!(error = %e, "pdb watch failed; retrying"),
        }
    }
}

/// Keeps `lister` equal to the cluster's objects of one kind (a reflector store copied
/// after every event; the copies are `Arc`s).
pub async fn run_lister<K>(client: kube::Client, lister: crate::registry::Lister<K>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let api: Api<K> = Api::all(client);
    let (reader, writer) = kube::runtime::reflector::store();
    let mut stream = kube::runtime::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .boxed();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(_) => *lister.write() = reader.state(),
            Err(e) => tracing::warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying"),
        }
    }
}

/// How many binding cycles talk to the apiserver at once. Binding runs beside the
/// scheduling loop (upstream runs each binding cycle in its own goroutine), so the loop
/// never waits for a bind; this only bounds the apiserver connections the binds open.
pub const BIND_CONCURRENCY: usize = 16;
/// Events waiting to be written; more are dropped (upstream's event broadcaster queues
/// `maxQueuedEvents` = 1000 and drops when full).
pub const MAX_QUEUED_EVENTS: usize = 1000;
/// Tasks writing queued events.
const EVENT_WORKERS: usize = 4;

/// One event to write.
struct EventReq {
    pod: Arc<Pod>,
    profile: String,
    ty: &'static str,
    reason: &'static str,
    action: &'static str,
    note: String,
}

/// The scheduling loop's fixed inputs.
pub struct Loop {
    /// Shared state.
    pub shared: Arc<Shared>,
    /// The apiserver client.
    pub client: kube::Client,
    /// Global percentageOfNodesToScore (0: adaptive).
    pub percentage: i32,
    /// This host's name, for the events' reportingInstance.
    pub hostname: String,
    binds: Arc<tokio::sync::Semaphore>,
    events: tokio::sync::mpsc::Sender<EventReq>,
    events_rx: Mutex<Option<tokio::sync::mpsc::Receiver<EventReq>>>,
}

impl Loop {
    /// The loop's inputs.
    pub fn new(
        shared: Arc<Shared>,
        client: kube::Client,
        percentage: i32,
        hostname: String,
    ) -> Loop {
        let (tx, rx) = tokio::sync::mpsc::channel(MAX_QUEUED_EVENTS);
        Loop {
            shared,
            client,
            percentage,
            hostname,
            binds: Arc::new(tokio::sync::Semaphore::new(BIND_CONCURRENCY)),
            events: tx,
            events_rx: Mutex::new(Some(rx)),
        }
    }

    /// Schedules pods until cancelled.
    pub async fn run(self) {
        let this = Arc::new(self);
        let mut workers = tokio::task::JoinSet::new();
        if let Some(rx) = this.events_rx.lock().take() {
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            for _ in 0..EVENT_WORKERS {
                let (rx, this) = (rx.clone(), this.clone());
                workers.spawn(async move {
                    loop {
                        let Some(e) = rx.lock().await.recv().await else {
                            return;
                        };
                        this.write_event(e).await;
                    }
                });
            }
        }
        let mut next_start = 0usize;
        // The loop's own snapshot, updated from the cache at the start of each cycle.
        let mut snapshot = Arc::new(Snapshot::default());
        loop {
            let (qp, cycle) = this.shared.queue.pop().await;
            this.schedule_one(qp, cycle, &mut next_start, &mut snapshot);
        }
    }

    fn schedule_one(
        self: &Arc<Self>,
        mut qp: QueuedPodInfo,
        cycle: u64,
        next_start: &mut usize,
        snapshot: &mut Arc<Snapshot>,
    ) {
        let pod = qp.pod.clone();
        let key = pod_key(&pod);
        let name = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.clone())
            .unwrap_or_else(|| crate::config::DEFAULT_SCHEDULER_NAME.into());
        let Some(fw) = self.shared.profiles.get(&name).cloned() else {
            self.shared.queue.with(|q| q.done(&key));
            return;
        };
        qp.attempt_started = Some(Instant::now());
        let mut state = CycleState::default();
        state.nominated = Arc::new(self.shared.nominator.lock().for_pod(&pod));
        let mut rng = rand::rng();
        // The cache lock is held only to copy the changed nodes; the informers keep
        // running while the cycle filters and scores. The previous cycle's state is gone,
        // so the snapshot is not shared and `make_mut` copies nothing.
        self.shared
            .cache
            .lock()
            .update_snapshot(Arc::make_mut(snapshot));
        state.snapshot = snapshot.clone();
        let result = schedule_pod(
            &fw,
            &mut state,
            &pod,
            &snapshot.nodes,
            next_start,
            self.percentage,
            &mut rng,
        );
        let node = match result {
            Ok(r) => r.node,
            Err(e) => {
                qp.last_failure_was_error = matches!(e, ScheduleError::Internal(_));
                tracing::info!(pod = %key, error = %e, "unable to schedule pod");
                let nominated = match &e {
                    ScheduleError::Fit(f) => f.nominated_node.clone(),
                    _ => None,
                };
                if let Some(n) = &nominated {
                    self.shared.nominator.lock().add(&pod, n);
                }
                // The plugins that rejected the pod decide which cluster events retry it.
                qp.unschedulable_plugins = match &e {
                    ScheduleError::Fit(f) => f.unschedulable_plugins(),
                    _ => Vec::new(),
                };
                let rejected = !matches!(e, ScheduleError::Internal(_));
                self.fail_nominated(&fw, qp, cycle, e.to_string(), rejected, nominated);
                return;
            }
        };
        // Assume, so the next cycle counts this pod without waiting for the watch.
        if let Err(e) = self.shared.cache.lock().assume(&pod, &node) {
            qp.last_failure_was_error = true;
            self.fail(&fw, qp, cycle, e.to_string(), false);
            return;
        }
        // Placed: its nomination (if preemption made one) is spent (upstream
        // `DeleteNominatedPodIfExists` on assume).
        self.shared.nominator.lock().remove(&key);
        let s = fw.run_reserve(&state, &pod, &node);
        if !s.is_success() {
            self.shared.cache.lock().forget(&key);
            qp.last_failure_was_error = !s.is_rejected();
            self.fail(&fw, qp, cycle, s.message(), s.is_rejected());
            return;
        }
        let s = fw.run_permit(&state, &pod, &node);
        if !s.is_success() {
            fw.run_unreserve(&state, &pod, &node);
            self.shared.cache.lock().forget(&key);
            qp.last_failure_was_error = !s.is_rejected();
            self.fail(&fw, qp, cycle, s.message(), s.is_rejected());
            return;
        }
        // The binding cycle runs beside the next scheduling cycles, as upstream.
        let this = self.clone();
        tokio::spawn(async move {
            let Ok(_permit) = this.binds.clone().acquire_owned().await else {
                return;
            };
            let mut s = fw.run_pre_bind(&pod, &node).await;
            if s.is_success() {
                s = fw.run_bind(&pod, &node).await;
            }
            if s.is_success() {
                this.shared.queue.with(|q| q.done(&key));
                let took = qp.attempt_started.map(|t| t.elapsed()).unwrap_or_default();
                this.shared
                    .metrics
                    .observe(&fw.scheduler_name, crate::metrics::SCHEDULED, took);
                let note = format!(
                    "Successfully assigned {}/{} to {}",
                    pod.metadata.namespace.as_deref().unwrap_or(""),
                    pod.metadata.name.as_deref().unwrap_or(""),
                    node
                );
                this.event(&fw, &pod, "Normal", "Scheduled", "Binding", note);
                return;
            }
            tracing::warn!(pod = %key, node = %node, error = %s.message(), "binding failed");
            fw.run_unreserve(&CycleState::default(), &pod, &node);
            this.shared.cache.lock().forget(&key);
            qp.last_failure_was_error = true;
            let msg = format!(
                "Binding rejected: running Bind plugin {:?}: {}",
                s.plugin,
                s.message()
            );
            this.fail(&fw, qp, cycle, msg, false);
        });
    }

    /// Requeues the pod and reports the failure (upstream `handleSchedulingFailure`):
    /// a FailedScheduling event and the PodScheduled=False condition with reason
    /// Unschedulable for rejections, SchedulerError for errors.
    fn fail(
        self: &Arc<Self>,
        fw: &Arc<Framework>,
        qp: QueuedPodInfo,
        cycle: u64,
        msg: String,
        rejected: bool,
    ) {
        self.fail_nominated(fw, qp, cycle, msg, rejected, None)
    }

    fn fail_nominated(
        self: &Arc<Self>,
        fw: &Arc<Framework>,
        qp: QueuedPodInfo,
        cycle: u64,
        msg: String,
        rejected: bool,
        nominated: Option<String>,
    ) {
        let pod = qp.pod.clone();
        let result = if rejected {
            crate::metrics::UNSCHEDULABLE
        } else {
            crate::metrics::ERROR
        };
        let took = qp.attempt_started.map(|t| t.elapsed()).unwrap_or_default();
        self.shared
            .metrics
            .observe(&fw.scheduler_name, result, took);
        self.shared
            .queue
            .with(|q| q.add_unschedulable(qp, cycle, Instant::now()));
        self.event(
            fw,
            &pod,
            "Warning",
            "FailedScheduling",
            "Scheduling",
            msg.clone(),
        );
        let this = self.clone();
        tokio::spawn(async move {
            let reason = if rejected {
                "Unschedulable"
            } else {
                "SchedulerError"
            };
            if let Err(e) =
                events::set_unschedulable(&this.client, &pod, reason, &msg, nominated.as_deref())
                    .await
            {
                tracing::warn!(pod = %pod_key(&pod), error = %e, "updating PodScheduled condition");
            }
        });
    }

    /// Queues an event; when [`MAX_QUEUED_EVENTS`] are already waiting it is dropped,
    /// as upstream's broadcaster does.
    fn event(
        &self,
        fw: &Framework,
        pod: &Arc<Pod>,
        ty: &'static str,
        reason: &'static str,
        action: &'static str,
        note: String,
    ) {
        let req = EventReq {
            pod: pod.clone(),
            profile: fw.scheduler_name.clone(),
            ty,
            reason,
            action,
            note,
        };
        if self.events.try_send(req).is_err() {
            tracing::warn!(pod = %pod_key(pod), reason, "event queue full; dropping the event");
        }
    }

    async fn write_event(&self, e: EventReq) {
        let instance = format!("{}-{}", e.profile, self.hostname);
        if let Err(err) = events::record(
            &self.client,
            &e.pod,
            e.ty,
            e.reason,
            e.action,
            &e.note,
            &e.profile,
            &instance,
        )
        .await
        {
            tracing::warn!(pod = %pod_key(&e.pod), error = %err, "recording event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, prio: i32) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "ns"},
                "spec": {"containers": [], "priority": prio}}))
            .unwrap(),
        )
    }

    #[test]
    fn nominator_tracks_and_filters_by_priority() {
        let mut n = Nominator::default();
        n.add(&pod("hi", 100), "a");
        n.add(&pod("lo", 1), "a");
        n.add(&pod("mid", 50), "b");
        let names = |m: &HashMap<String, Vec<Arc<crate::framework::PodInfo>>>, node: &str| {
            let mut v: Vec<String> = m
                .get(node)
                .into_iter()
                .flatten()
                .map(|p| p.pod.metadata.name.clone().unwrap())
                .collect();
            v.sort();
            v
        };
        let m = n.for_pod(&pod("x", 50));
        assert_eq!(names(&m, "a"), vec!["hi"]);
        assert_eq!(names(&m, "b"), vec!["mid"]);
        // A pod never counts its own nomination; re-nomination moves it.
        n.add(&pod("mid", 50), "a");
        let m = n.for_pod(&pod("mid", 50));
        assert_eq!(names(&m, "a"), vec!["hi"]);
        assert!(!m.contains_key("b"));
        n.remove("ns/hi");
        n.remove("ns/mid");
        assert!(n
            .for_pod(&pod("x", 0))
            .get("a")
            .is_some_and(|v| v.len() == 1));
    }
}
