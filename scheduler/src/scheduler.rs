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
use crate::framework::{CycleState, Framework, QueuedPodInfo};
use crate::queue::{pod_key, SharedQueue};
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
    pub fn on_pod(&self, pod: Pod) {
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
                    q.move_all_to_active_or_backoff(now);
                }
            });
            return;
        }
        if assigned(&pod) {
            self.cache.lock().upsert_pod(Arc::new(pod));
            self.queue.with(|q| q.delete(&key));
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
        self.cache.lock().remove_pod(&key);
        let was_assigned = assigned(pod);
        self.queue.with(|q| {
            q.delete(&key);
            if was_assigned {
                q.move_all_to_active_or_backoff(Instant::now());
            }
        });
    }

    /// A node was added or changed. Unschedulable pods are retried when the node is new or
    /// something scheduling reads changed (upstream `nodeSchedulingPropertiesChange`),
    /// not on heartbeats.
    pub fn on_node(&self, node: Node) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let changed = {
            let mut c = self.cache.lock();
            let old = c.node(&name);
            let changed = old.is_none_or(|o| {
                o.metadata.labels != node.metadata.labels
                    || o.spec.as_ref().map(|s| (&s.taints, s.unschedulable))
                        != node.spec.as_ref().map(|s| (&s.taints, s.unschedulable))
                    || o.status.as_ref().map(|s| &s.allocatable)
                        != node.status.as_ref().map(|s| &s.allocatable)
            });
            c.upsert_node(Arc::new(node));
            changed
        };
        if changed {
            self.queue
                .with(|q| q.move_all_to_active_or_backoff(Instant::now()));
        }
    }

    /// A node was deleted.
    pub fn on_node_delete(&self, node: &Node) {
        if let Some(n) = node.metadata.name.as_deref() {
            self.cache.lock().remove_node(n);
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
}

impl Loop {
    /// Schedules pods until cancelled.
    pub async fn run(self) {
        let this = Arc::new(self);
        let mut next_start = 0usize;
        loop {
            let (qp, cycle) = this.shared.queue.pop().await;
            this.schedule_one(qp, cycle, &mut next_start);
        }
    }

    fn schedule_one(self: &Arc<Self>, mut qp: QueuedPodInfo, cycle: u64, next_start: &mut usize) {
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
        let mut rng = rand::rng();
        let result = {
            let cache = self.shared.cache.lock();
            let nodes = cache.snapshot();
            let r = schedule_pod(
                &fw,
                &mut state,
                &pod,
                &nodes,
                next_start,
                self.percentage,
                &mut rng,
            );
            drop(cache);
            r
        };
        let node = match result {
            Ok(r) => r.node,
            Err(e) => {
                qp.last_failure_was_error = matches!(e, ScheduleError::Internal(_));
                tracing::info!(pod = %key, error = %e, "unable to schedule pod");
                let nominated = match &e {
                    ScheduleError::Fit(f) => f.nominated_node.clone(),
                    _ => None,
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
                this.event(&fw, &pod, "Normal", "Scheduled", "Binding", &note)
                    .await;
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
        let this = self.clone();
        let fw = fw.clone();
        tokio::spawn(async move {
            this.event(&fw, &pod, "Warning", "FailedScheduling", "Scheduling", &msg)
                .await;
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

    async fn event(
        &self,
        fw: &Framework,
        pod: &Pod,
        ty: &str,
        reason: &str,
        action: &str,
        note: &str,
    ) {
        let instance = format!("{}-{}", fw.scheduler_name, self.hostname);
        if let Err(e) = events::record(
            &self.client,
            pod,
            ty,
            reason,
            action,
            note,
            &fw.scheduler_name,
            &instance,
        )
        .await
        {
            tracing::warn!(pod = %pod_key(pod), error = %e, "recording event");
        }
    }
}
