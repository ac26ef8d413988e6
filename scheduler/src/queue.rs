//! The scheduling queue (upstream `internal/queue/scheduling_queue.go`): an active queue
//! ordered by the QueueSort plugin, a backoff queue (initial 1 s doubling up to 10 s per
//! attempt), and the unschedulable pods, which move back on cluster events that may make
//! them schedulable, or after five minutes.
//!
//! [`SchedulingQueue`] is synchronous and takes the current time as an argument so its
//! rules are unit-tested without sleeping; [`SharedQueue`] wraps it for the async loop.

use std::collections::HashMap;
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

enum InFlight {
    /// Being scheduled; holds a newer version if one arrived meanwhile.
    Scheduling(Option<Arc<Pod>>),
    /// Deleted while being scheduled.
    Deleted,
}

/// The queue's state.
pub struct SchedulingQueue {
    active: Vec<QueuedPodInfo>,
    backoff: Vec<QueuedPodInfo>,
    unschedulable: HashMap<String, QueuedPodInfo>,
    in_flight: HashMap<String, InFlight>,
    scheduling_cycle: u64,
    move_request_cycle: u64,
    initial_backoff: Duration,
    max_backoff: Duration,
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
            active: Vec::new(),
            backoff: Vec::new(),
            unschedulable: HashMap::new(),
            in_flight: HashMap::new(),
            scheduling_cycle: 0,
            move_request_cycle: 0,
            initial_backoff,
            max_backoff,
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

    fn remove_everywhere(&mut self, key: &str) -> Option<QueuedPodInfo> {
        if let Some(i) = self.active.iter().position(|p| pod_key(&p.pod) == key) {
            return Some(self.active.remove(i));
        }
        if let Some(i) = self.backoff.iter().position(|p| pod_key(&p.pod) == key) {
            return Some(self.backoff.remove(i));
        }
        self.unschedulable.remove(key)
    }

    /// Puts a pod in active if PreEnqueue allows it, else among the unschedulable.
    fn enqueue_active(&mut self, mut p: QueuedPodInfo) {
        let s = (self.pre_enqueue)(&p.pod);
        if s.is_success() {
            self.active.push(p);
        } else {
            p.unschedulable_plugins = vec![s.plugin];
            self.unschedulable.insert(pod_key(&p.pod), p);
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
                self.backoff.push(p);
            } else {
                self.enqueue_active(p);
            }
            return;
        }
        self.enqueue_active(QueuedPodInfo {
            pod,
            timestamp: now,
            attempts: 0,
            initial_attempt: None,
            unschedulable_plugins: Vec::new(),
            last_failure_was_error: false,
            attempt_started: None,
        });
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
        self.active.retain(|p| keep(&pod_key(&p.pod)));
        self.backoff.retain(|p| keep(&pod_key(&p.pod)));
        self.unschedulable.retain(|k, _| keep(k));
    }

    /// Moves backoff pods whose time is up to active.
    pub fn flush_backoff(&mut self, now: Instant) {
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.backoff)
            .into_iter()
            .partition(|p| self.backoff_expiry(p) <= now);
        self.backoff = wait;
        for p in ready {
            self.enqueue_active(p);
        }
    }

    /// Moves pods unschedulable for longer than five minutes (upstream
    /// `flushUnschedulablePodsLeftover`).
    pub fn flush_unschedulable_leftover(&mut self, now: Instant) {
        let old: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.timestamp) >= MAX_IN_UNSCHEDULABLE)
            .map(|(k, _)| k.clone())
            .collect();
        for k in old {
            if let Some(p) = self.unschedulable.remove(&k) {
                self.requeue(p, now);
            }
        }
    }

    fn requeue(&mut self, p: QueuedPodInfo, now: Instant) {
        if p.attempts > 0 && self.backoff_expiry(&p) > now {
            self.backoff.push(p);
        } else {
            self.enqueue_active(p);
        }
    }

    /// A cluster event that may make unschedulable pods schedulable (node added or changed,
    /// pod deleted): all of them move to backoff or active (upstream
    /// `MoveAllToActiveOrBackoffQueue` without queueing hints).
    pub fn move_all_to_active_or_backoff(&mut self, now: Instant) {
        let pods: Vec<QueuedPodInfo> = self.unschedulable.drain().map(|(_, p)| p).collect();
        for p in pods {
            self.requeue(p, now);
        }
        self.move_request_cycle = self.scheduling_cycle;
    }

    /// Takes the first active pod per QueueSort and starts a scheduling cycle for it.
    /// Returns the pod and the cycle number.
    pub fn pop(&mut self) -> Option<(QueuedPodInfo, u64)> {
        if self.active.is_empty() {
            return None;
        }
        let mut best = 0;
        for i in 1..self.active.len() {
            if self.sort.less(&self.active[i], &self.active[best]) {
                best = i;
            }
        }
        let mut p = self.active.remove(best);
        p.attempts += 1;
        self.scheduling_cycle += 1;
        self.in_flight
            .insert(pod_key(&p.pod), InFlight::Scheduling(None));
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
        if self
            .active
            .iter()
            .chain(self.backoff.iter())
            .any(|q| pod_key(&q.pod) == key)
            || self.unschedulable.contains_key(&key)
        {
            return;
        }
        p.timestamp = now;
        if p.last_failure_was_error || self.move_request_cycle >= cycle {
            self.backoff.push(p);
        } else {
            self.unschedulable.insert(key, p);
        }
    }

    /// When the loop must wake up next to flush backoff or leftovers.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let b = self.backoff.iter().map(|p| self.backoff_expiry(p)).min();
        let u = self
            .unschedulable
            .values()
            .map(|p| p.timestamp + MAX_IN_UNSCHEDULABLE)
            .min();
        match (b, u) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
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
                q.flush_backoff(now);
                q.flush_unschedulable_leftover(now);
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
