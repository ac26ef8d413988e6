//! The scheduling queue (upstream `internal/queue/scheduling_queue.go`): an active queue
//! ordered by the QueueSort plugin, a backoff queue (initial 1 s doubling up to 10 s per
//! attempt), and the unschedulable pods, which move back on the cluster events that may
//! make them schedulable (only the events a rejecting plugin registered for, upstream's
//! `EventsToRegister`), or after five minutes.
//!
//! [`SchedulingQueue`] is synchronous and takes the current time as an argument so its
//! rules are unit-tested without sleeping; [`SharedQueue`] wraps it for the async loop.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use parking_lot::Mutex;

use crate::framework::{QueueSortPlugin, QueuedPodInfo, Status};

/// Upstream `DefaultPodMaxInUnschedulablePodsDuration`.
pub const MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);

/// The namespace/name key of a pod.
pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

/// Whether anything but status and bookkeeping metadata changed.
pub fn pod_updated(old: &Pod, new: &Pod) -> bool {
    let strip = |p: &Pod| {
        let mut p = p.clone();
        p.status = None;
        p.metadata.resource_version = None;
        p.metadata.generation = None;
        p.metadata.managed_fields = None;
        p
    };
    strip(old) != strip(new)
}

/// Runs PreEnqueue for a pod (its profile's plugins).
pub type PreEnqueueFn = Arc<dyn Fn(&Pod) -> Status + Send + Sync>;

/// How often pods that stayed unschedulable too long are checked (upstream runs
/// `flushUnschedulablePodsLeftover` every 30 s).
pub const LEFTOVER_FLUSH_INTERVAL: Duration = Duration::from_secs(30);

/// What changed on a node, for [`ClusterEvent::NodeUpdate`] (upstream `ActionType`s
/// `UpdateNodeLabel`, `UpdateNodeTaint`, `UpdateNodeAllocatable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeChange {
    /// Labels changed.
    pub labels: bool,
    /// Taints or `spec.unschedulable` changed.
    pub taints: bool,
    /// Allocatable resources changed.
    pub allocatable: bool,
}

/// A cluster event that may make unschedulable pods schedulable (upstream
/// `framework.ClusterEvent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterEvent {
    /// A node appeared.
    NodeAdd,
    /// A node changed in a way scheduling reads.
    NodeUpdate(NodeChange),
    /// A node went away.
    NodeDelete,
    /// A pod was bound (or assumed) to a node.
    AssignedPodAdd,
    /// An assigned pod changed (labels).
    AssignedPodUpdate,
    /// An assigned pod was deleted or finished.
    AssignedPodDelete,
    /// Anything else (relists): every unschedulable pod moves.
    Unknown,
}

/// Whether `event` may make a pod that `plugin` rejected schedulable: upstream's
/// `EventsToRegister` of each in-tree plugin, used by `podMatchesEvent` to move only the
/// pods an event can help.
pub fn plugin_interested(plugin: &str, event: ClusterEvent) -> bool {
    use ClusterEvent::*;
    let node_update = |c: NodeChange, labels: bool, taints: bool, alloc: bool| {
        (labels && c.labels) || (taints && c.taints) || (alloc && c.allocatable)
    };
    match plugin {
        "NodeResourcesFit" => match event {
            NodeAdd | AssignedPodDelete => true,
            NodeUpdate(c) => node_update(c, false, false, true),
            _ => false,
        },
        "NodePorts" => matches!(event, NodeAdd | AssignedPodDelete),
        "NodeName" => matches!(event, NodeAdd),
        "NodeAffinity" => match event {
            NodeAdd => true,
            NodeUpdate(c) => node_update(c, true, false, false),
            _ => false,
        },
        "TaintToleration" | "NodeUnschedulable" => match event {
            NodeAdd => true,
            NodeUpdate(c) => node_update(c, false, true, false),
            _ => false,
        },
        "InterPodAffinity" => match event {
            NodeAdd | AssignedPodAdd | AssignedPodUpdate | AssignedPodDelete => true,
            NodeUpdate(c) => node_update(c, true, false, false),
            _ => false,
        },
        "PodTopologySpread" => match event {
            NodeAdd | NodeDelete | AssignedPodAdd | AssignedPodUpdate | AssignedPodDelete => true,
            NodeUpdate(c) => node_update(c, true, true, false),
            _ => false,
        },
        // SchedulingGates waits for the pod's own update, which `add` handles.
        "SchedulingGates" => false,
        // Plugins this table does not know: any event may help.
        _ => true,
    }
}

/// Whether the event may help the pod: always when no plugin is on record (an error, or
/// a rejection outside Filter), else when one of the rejecting plugins cares.
fn pod_matches_event(p: &QueuedPodInfo, event: ClusterEvent) -> bool {
    event == ClusterEvent::Unknown
        || p.unschedulable_plugins.is_empty()
        || p.unschedulable_plugins
            .iter()
            .any(|pl| plugin_interested(pl, event))
}

enum InFlight {
    /// Being scheduled; holds a newer version if one arrived meanwhile.
    Scheduling(Option<Arc<Pod>>),
    /// Deleted while being scheduled.
    Deleted,
}

/// The active queue: a binary heap ordered by the QueueSort plugin, indexed by pod key so
/// updates and deletes are O(log n) (upstream `internal/heap`).
#[derive(Default)]
struct ActiveHeap {
    items: Vec<(String, QueuedPodInfo)>,
    index: HashMap<String, usize>,
}

impl ActiveHeap {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.items.swap(a, b);
        self.index.insert(self.items[a].0.clone(), a);
        self.index.insert(self.items[b].0.clone(), b);
    }

    fn up(&mut self, mut i: usize, sort: &dyn QueueSortPlugin) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if !sort.less(&self.items[i].1, &self.items[parent].1) {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn down(&mut self, mut i: usize, sort: &dyn QueueSortPlugin) {
        let n = self.items.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut best = i;
            if l < n && sort.less(&self.items[l].1, &self.items[best].1) {
                best = l;
            }
            if r < n && sort.less(&self.items[r].1, &self.items[best].1) {
                best = r;
            }
            if best == i {
                return;
            }
            self.swap(i, best);
            i = best;
        }
    }

    fn push(&mut self, key: String, p: QueuedPodInfo, sort: &dyn QueueSortPlugin) {
        if let Some(&i) = self.index.get(&key) {
            self.items[i].1 = p;
            self.up(i, sort);
            self.down(i, sort);
            return;
        }
        self.index.insert(key.clone(), self.items.len());
        self.items.push((key, p));
        self.up(self.items.len() - 1, sort);
    }

    fn remove_at(&mut self, i: usize, sort: &dyn QueueSortPlugin) -> (String, QueuedPodInfo) {
        let last = self.items.len() - 1;
        if i != last {
            self.swap(i, last);
        }
        let (k, p) = self.items.pop().expect("non-empty heap");
        self.index.remove(&k);
        if i < self.items.len() {
            self.up(i, sort);
            self.down(i, sort);
        }
        (k, p)
    }

    fn remove(&mut self, key: &str, sort: &dyn QueueSortPlugin) -> Option<QueuedPodInfo> {
        let i = *self.index.get(key)?;
        Some(self.remove_at(i, sort).1)
    }

    fn pop(&mut self, sort: &dyn QueueSortPlugin) -> Option<(String, QueuedPodInfo)> {
        if self.items.is_empty() {
            return None;
        }
        Some(self.remove_at(0, sort))
    }

    fn retain(&mut self, keep: &dyn Fn(&str) -> bool, sort: &dyn QueueSortPlugin) {
        let items = std::mem::take(&mut self.items);
        self.index.clear();
        for (k, p) in items {
            if keep(&k) {
                self.push(k, p, sort);
            }
        }
    }
}

/// The queue's state.
pub struct SchedulingQueue {
    active: ActiveHeap,
    /// Backing-off pods by key, with their expiry.
    backoff: HashMap<String, (Instant, QueuedPodInfo)>,
    /// Backing-off pods in expiry order.
    backoff_order: BTreeSet<(Instant, String)>,
    unschedulable: HashMap<String, QueuedPodInfo>,
    in_flight: HashMap<String, InFlight>,
    scheduling_cycle: u64,
    move_request_cycle: u64,
    initial_backoff: Duration,
    max_backoff: Duration,
    last_leftover_flush: Option<Instant>,
    sort: Arc<dyn QueueSortPlugin>,
    pre_enqueue: PreEnqueueFn,
}

impl SchedulingQueue {
    /// An empty queue.
    pub fn new(
        sort: Arc<dyn QueueSortPlugin>,
        pre_enqueue: PreEnqueueFn,
        initial_backoff: Duration,
        max_backoff: Duration,
    ) -> SchedulingQueue {
        SchedulingQueue {
            active: ActiveHeap::default(),
            backoff: HashMap::new(),
            backoff_order: BTreeSet::new(),
            unschedulable: HashMap::new(),
            in_flight: HashMap::new(),
            scheduling_cycle: 0,
            move_request_cycle: 0,
            initial_backoff,
            max_backoff,
            last_leftover_flush: None,
            sort,
            pre_enqueue,
        }
    }

    /// The backoff after `attempts` failed attempts: initial * 2^(attempts-1), capped.
    pub fn backoff_duration(&self, attempts: u32) -> Duration {
        let mut d = self.initial_backoff;
        for _ in 1..attempts {
            d = d.saturating_mul(2);
            if d >= self.max_backoff {
                return self.max_backoff;
            }
        }
        d.min(self.max_backoff)
    }

    fn backoff_expiry(&self, p: &QueuedPodInfo) -> Instant {
        p.timestamp + self.backoff_duration(p.attempts)
    }

    fn push_backoff(&mut self, key: String, p: QueuedPodInfo) {
        let at = self.backoff_expiry(&p);
        if let Some((old, _)) = self.backoff.remove(&key) {
            self.backoff_order.remove(&(old, key.clone()));
        }
        self.backoff_order.insert((at, key.clone()));
        self.backoff.insert(key, (at, p));
    }

    fn remove_backoff(&mut self, key: &str) -> Option<QueuedPodInfo> {
        let (at, p) = self.backoff.remove(key)?;
        self.backoff_order.remove(&(at, key.to_string()));
        Some(p)
    }

    fn remove_everywhere(&mut self, key: &str) -> Option<QueuedPodInfo> {
        if let Some(p) = self.active.remove(key, &*self.sort) {
            return Some(p);
        }
        if let Some(p) = self.remove_backoff(key) {
            return Some(p);
        }
        self.unschedulable.remove(key)
    }

    /// Puts a pod in active if PreEnqueue allows it, else among the unschedulable.
    fn enqueue_active(&mut self, key: String, mut p: QueuedPodInfo) {
        let s = (self.pre_enqueue)(&p.pod);
        if s.is_success() {
            self.active.push(key, p, &*self.sort);
        } else {
            p.unschedulable_plugins = vec![s.plugin.to_string()];
            self.unschedulable.insert(key, p);
        }
    }

    /// A new unscheduled pod (or a newer version of one already queued).
    pub fn add(&mut self, pod: Arc<Pod>, now: Instant) {
        let key = pod_key(&pod);
        if let Some(InFlight::Scheduling(newer)) = self.in_flight.get_mut(&key) {
            *newer = Some(pod);
            return;
        }
        if let Some(p) = self.unschedulable.get_mut(&key) {
            // Status-only updates (our own condition patch among them) do not make a pod
            // schedulable; upstream `isPodUpdated` ignores status, resourceVersion,
            // generation and managedFields.
            if !pod_updated(&p.pod, &pod) {
                p.pod = pod;
                return;
            }
        }
        if let Some(mut p) = self.remove_everywhere(&key) {
            p.pod = pod;
            // An update may make a gated or unschedulable pod schedulable: upstream moves it
            // to backoff or active (`Update` with `isPodUpdated`).
            if self.backoff_expiry(&p) > now && p.attempts > 0 {
                self.push_backoff(key, p);
            } else {
                self.enqueue_active(key, p);
            }
            return;
        }
        self.enqueue_active(
            key,
            QueuedPodInfo {
                pod,
                timestamp: now,
                attempts: 0,
                initial_attempt: None,
                unschedulable_plugins: Vec::new(),
                last_failure_was_error: false,
                attempt_started: None,
            },
        );
    }

    /// The pod was deleted or got bound by someone else.
    pub fn delete(&mut self, key: &str) {
        self.remove_everywhere(key);
        if let Some(f) = self.in_flight.get_mut(key) {
            *f = InFlight::Deleted;
        }
    }

    /// Removes pods not in `keep` (after a relist), except those in flight.
    pub fn retain(&mut self, keep: &dyn Fn(&str) -> bool) {
        self.active.retain(keep, &*self.sort);
        let gone: Vec<String> = self.backoff.keys().filter(|k| !keep(k)).cloned().collect();
        for k in gone {
            self.remove_backoff(&k);
        }
        self.unschedulable.retain(|k, _| keep(k));
    }

    /// Moves backoff pods whose time is up to active.
    pub fn flush_backoff(&mut self, now: Instant) {
        while let Some((at, key)) = self.backoff_order.first().cloned() {
            if at > now {
                break;
            }
            self.backoff_order.pop_first();
            if let Some((_, p)) = self.backoff.remove(&key) {
                self.enqueue_active(key, p);
            }
        }
    }

    /// Moves pods unschedulable for longer than five minutes (upstream
    /// `flushUnschedulablePodsLeftover`).
    pub fn flush_unschedulable_leftover(&mut self, now: Instant) {
        self.last_leftover_flush = Some(now);
        let old: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.timestamp) >= MAX_IN_UNSCHEDULABLE)
            .map(|(k, _)| k.clone())
            .collect();
        for k in old {
            if let Some(p) = self.unschedulable.remove(&k) {
                self.requeue(k, p, now);
            }
        }
    }

    fn requeue(&mut self, key: String, p: QueuedPodInfo, now: Instant) {
        if p.attempts > 0 && self.backoff_expiry(&p) > now {
            self.push_backoff(key, p);
        } else {
            self.enqueue_active(key, p);
        }
    }

    /// A cluster event: the unschedulable pods it may help move to backoff or active
    /// (upstream `MoveAllToActiveOrBackoffQueue` with `podMatchesEvent`). Pods being
    /// scheduled right now will go to backoff when they fail, so the event is not lost.
    pub fn on_event(&mut self, event: ClusterEvent, now: Instant) {
        let keys: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|(_, p)| pod_matches_event(p, event))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            if let Some(p) = self.unschedulable.remove(&k) {
                self.requeue(k, p, now);
            }
        }
        self.move_request_cycle = self.scheduling_cycle;
    }

    /// Moves every unschedulable pod ([`ClusterEvent::Unknown`]).
    pub fn move_all_to_active_or_backoff(&mut self, now: Instant) {
        self.on_event(ClusterEvent::Unknown, now);
    }

    /// Takes the first active pod per QueueSort and starts a scheduling cycle for it.
    /// Returns the pod and the cycle number.
    pub fn pop(&mut self) -> Option<(QueuedPodInfo, u64)> {
        let (key, mut p) = self.active.pop(&*self.sort)?;
        p.attempts += 1;
        self.scheduling_cycle += 1;
        self.in_flight.insert(key, InFlight::Scheduling(None));
        p.initial_attempt.get_or_insert(p.timestamp);
        Some((p, self.scheduling_cycle))
    }

    /// The cycle of a pod ended in success: it leaves the queue's bookkeeping.
    pub fn done(&mut self, key: &str) {
        self.in_flight.remove(key);
    }

    /// A scheduling attempt failed. The pod goes to backoff if it failed with an error or a
    /// move request arrived during its cycle (so the event is not lost), else among the
    /// unschedulable (upstream `AddUnschedulableIfNotPresent`).
    pub fn add_unschedulable(&mut self, mut p: QueuedPodInfo, cycle: u64, now: Instant) {
        let key = pod_key(&p.pod);
        match self.in_flight.remove(&key) {
            Some(InFlight::Deleted) => return,
            Some(InFlight::Scheduling(Some(newer))) => p.pod = newer,
            _ => {}
        }
        if self.active.contains(&key)
            || self.backoff.contains_key(&key)
            || self.unschedulable.contains_key(&key)
        {
            return;
        }
        p.timestamp = now;
        if p.last_failure_was_error || self.move_request_cycle >= cycle {
            self.push_backoff(key, p);
        } else {
            self.unschedulable.insert(key, p);
        }
    }

    /// When the loop must wake up next to flush backoff or leftovers.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let b = self.backoff_order.first().map(|(at, _)| *at);
        let u = (!self.unschedulable.is_empty()).then(|| {
            self.last_leftover_flush
                .map_or_else(Instant::now, |t| t + LEFTOVER_FLUSH_INTERVAL)
        });
        match (b, u) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Flushes backoff, and the unschedulable leftovers when their interval has passed.
    pub fn flush(&mut self, now: Instant) {
        self.flush_backoff(now);
        if self
            .last_leftover_flush
            .is_none_or(|t| now >= t + LEFTOVER_FLUSH_INTERVAL)
        {
            self.flush_unschedulable_leftover(now);
        }
    }

    /// Counts of (active, backoff, unschedulable) pods.
    pub fn lens(&self) -> (usize, usize, usize) {
        (
            self.active.len(),
            self.backoff.len(),
            self.unschedulable.len(),
        )
    }

    /// Whether the pod is among the unschedulable ones.
    pub fn is_unschedulable(&self, key: &str) -> bool {
        self.unschedulable.contains_key(key)
    }
}

/// The queue shared between the informers and the scheduling loop.
pub struct SharedQueue {
    inner: Mutex<SchedulingQueue>,
    notify: tokio::sync::Notify,
}

impl SharedQueue {
    /// Wraps a queue.
    pub fn new(q: SchedulingQueue) -> SharedQueue {
        SharedQueue {
            inner: Mutex::new(q),
            notify: tokio::sync::Notify::new(),
        }
    }

    /// Runs `f` on the queue and wakes the loop.
    pub fn with<R>(&self, f: impl FnOnce(&mut SchedulingQueue) -> R) -> R {
        let r = f(&mut self.inner.lock());
        self.notify.notify_one();
        r
    }

    /// Waits for the next pod to schedule.
    pub async fn pop(&self) -> (QueuedPodInfo, u64) {
        loop {
            let wake = {
                let mut q = self.inner.lock();
                let now = Instant::now();
                q.flush(now);
                if let Some(p) = q.pop() {
                    return p;
                }
                q.next_wakeup()
            };
            // notify_one keeps a permit when nobody waits, so a push between the unlock
            // and this await is not lost.
            match wake {
                Some(at) => {
                    tokio::select! {
                        _ = self.notify.notified() => {}
                        _ = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => self.notify.notified().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::priority_sort::PrioritySort;
    use serde_json::json;

    fn pod(name: &str, prio: i32, gated: bool) -> Arc<Pod> {
        let mut spec = json!({"containers": [], "priority": prio});
        if gated {
            spec["schedulingGates"] = json!([{"name": "g"}]);
        }
        Arc::new(
            serde_json::from_value(
                json!({"metadata": {"name": name, "namespace": "ns"}, "spec": spec}),
            )
            .unwrap(),
        )
    }

    fn queue() -> SchedulingQueue {
        let gates = crate::plugins::scheduling_gates::SchedulingGates;
        SchedulingQueue::new(
            Arc::new(PrioritySort),
            Arc::new(move |p: &Pod| crate::framework::PreEnqueuePlugin::pre_enqueue(&gates, p)),
            Duration::from_secs(1),
            Duration::from_secs(10),
        )
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let q = queue();
        let got: Vec<u64> = (1..=6).map(|a| q.backoff_duration(a).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn pops_by_priority_then_time() {
        let mut q = queue();
        let t = Instant::now();
        q.add(pod("low", 1, false), t);
        q.add(pod("high", 10, false), t + Duration::from_millis(1));
        q.add(pod("low2", 1, false), t + Duration::from_millis(2));
        let order: Vec<String> =
            std::iter::from_fn(|| q.pop().map(|(p, _)| pod_key(&p.pod))).collect();
        assert_eq!(order, vec!["ns/high", "ns/low", "ns/low2"]);
    }

    #[test]
    fn gated_pods_wait_until_updated() {
        let mut q = queue();
        let t = Instant::now();
        q.add(pod("g", 0, true), t);
        assert!(q.pop().is_none());
        assert!(q.is_unschedulable("ns/g"));
        q.add(pod("g", 0, false), t);
        assert_eq!(
            q.pop().map(|(p, _)| pod_key(&p.pod)).as_deref(),
            Some("ns/g")
        );
    }

    #[test]
    fn unschedulable_moves_on_event_into_backoff_then_active() {
        let mut q = queue();
        let t = Instant::now();
        q.add(pod("a", 0, false), t);
        let (p, cycle) = q.pop().unwrap();
        q.add_unschedulable(p, cycle, t);
        assert_eq!(q.lens(), (0, 0, 1));
        q.move_all_to_active_or_backoff(t);
        assert_eq!(q.lens(), (0, 1, 0), "still backing off");
        q.flush_backoff(t + Duration::from_millis(999));
        assert_eq!(q.lens(), (0, 1, 0));
        assert_eq!(q.next_wakeup(), Some(t + Duration::from_secs(1)));
        q.flush_backoff(t + Duration::from_secs(1));
        assert_eq!(q.lens(), (1, 0, 0));
    }

    #[test]
    fn status_updates_do_not_requeue() {
        let mut q = queue();
        let t = Instant::now();
        q.add(pod("a", 0, false), t);
        let (p, cycle) = q.pop().unwrap();
        q.add_unschedulable(p, cycle, t);
        let mut st = (*pod("a", 0, false)).clone();
        st.status = Some(Default::default());
        st.metadata.resource_version = Some("9".into());
        q.add(Arc::new(st), t);
        assert_eq!(q.lens(), (0, 0, 1));
        let mut labelled = (*pod("a", 0, false)).clone();
        labelled.metadata.labels = Some([("x".to_string(), "y".to_string())].into());
        q.add(Arc::new(labelled), t);
        assert_eq!(q.lens(), (0, 1, 0));
    }

    #[test]
    fn move_request_during_cycle_goes_to_backoff() {
        let mut q = queue();
        let t = Instant::now();
        q.add(pod("a", 0, false), t);
        let (p, cycle) = q.pop().unwrap();
        // A node was added while the pod was being scheduled.
        q.move_all_to_active_or_backoff(t);
        q.add_unschedulable(p, cycle, t);
        assert_eq!(q.lens(), (0, 1, 0));
    }

    #[test]
    fn deleted_in_flight_is_dropped_and_leftovers_flush() {
        let mut q = queue();
        let t = Instant::now();
        q.add(pod("a", 0, false), t);
        let (p, cycle) = q.pop().unwrap();
        q.delete("ns/a");
        q.add_unschedulable(p, cycle, t);
        assert_eq!(q.lens(), (0, 0, 0));

        q.add(pod("b", 0, false), t);
        let (p, cycle) = q.pop().unwrap();
        q.add_unschedulable(p, cycle, t);
        q.flush_unschedulable_leftover(t + Duration::from_secs(299));
        assert_eq!(q.lens(), (0, 0, 1));
        q.flush_unschedulable_leftover(t + MAX_IN_UNSCHEDULABLE);
        assert_eq!(q.lens(), (1, 0, 0));
    }

    #[test]
    fn heap_orders_many_and_removes_from_the_middle() {
        let mut q = queue();
        let t = Instant::now();
        for i in 0..200 {
            q.add(
                pod(&format!("p{i:03}"), i % 7, false),
                t + Duration::from_millis(i as u64),
            );
        }
        for i in (0..200).step_by(3) {
            q.delete(&format!("ns/p{i:03}"));
        }
        let mut got = Vec::new();
        while let Some((p, _)) = q.pop() {
            got.push((-p.pod.spec.as_ref().unwrap().priority.unwrap(), p.timestamp));
        }
        let mut want = got.clone();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(got.len(), 200 - 67);
    }

    #[test]
    fn events_move_only_pods_they_can_help() {
        // Mirrors upstream TestPodMatchesEvent / movePodsToActiveOrBackoffQueue: a pod
        // rejected by NodeResourcesFit moves on pod deletion but not on a label change;
        // one rejected by NodeAffinity the other way round; one without plugins on any.
        let mut q = queue();
        let t = Instant::now();
        let fail = |q: &mut SchedulingQueue, name: &str, plugins: &[&str]| {
            q.add(pod(name, 0, false), t);
            let (mut p, cycle) = q.pop().unwrap();
            p.unschedulable_plugins = plugins.iter().map(|s| s.to_string()).collect();
            q.add_unschedulable(p, cycle, t);
        };
        fail(&mut q, "fit", &["NodeResourcesFit"]);
        fail(&mut q, "aff", &["NodeAffinity"]);
        fail(&mut q, "spread", &["PodTopologySpread", "TaintToleration"]);
        fail(&mut q, "none", &[]);
        assert_eq!(q.lens(), (0, 0, 4));
        let labels = ClusterEvent::NodeUpdate(NodeChange {
            labels: true,
            ..Default::default()
        });
        q.on_event(labels, t);
        assert!(q.is_unschedulable("ns/fit"));
        assert!(!q.is_unschedulable("ns/aff"));
        assert!(!q.is_unschedulable("ns/spread"));
        assert!(!q.is_unschedulable("ns/none"));
        let cases = [
            ("NodeResourcesFit", ClusterEvent::AssignedPodDelete, true),
            ("NodeResourcesFit", ClusterEvent::AssignedPodAdd, false),
            ("NodeResourcesFit", ClusterEvent::NodeAdd, true),
            (
                "TaintToleration",
                ClusterEvent::NodeUpdate(NodeChange {
                    taints: true,
                    ..Default::default()
                }),
                true,
            ),
            ("TaintToleration", ClusterEvent::AssignedPodDelete, false),
            ("InterPodAffinity", ClusterEvent::AssignedPodAdd, true),
            ("PodTopologySpread", ClusterEvent::NodeDelete, true),
            ("NodeAffinity", ClusterEvent::NodeDelete, false),
            ("SchedulingGates", ClusterEvent::NodeAdd, false),
        ];
        for (plugin, ev, want) in cases {
            assert_eq!(plugin_interested(plugin, ev), want, "{plugin} {ev:?}");
        }
    }

    #[tokio::test]
    async fn shared_pop_wakes_on_add() {
        let q = Arc::new(SharedQueue::new(queue()));
        let q2 = q.clone();
        let h = tokio::spawn(async move { q2.pop().await });
        q.with(|q| q.add(pod("a", 0, false), Instant::now()));
        let (p, _) = tokio::time::timeout(Duration::from_secs(5), h)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pod_key(&p.pod), "ns/a");
    }
}
