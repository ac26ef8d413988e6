//! The probe manager: one worker per container and probe kind.
//!
//! Mirrors upstream `pkg/kubelet/prober` (`worker.go`, `prober_manager.go`):
//! - a worker ticks every `periodSeconds` (first tick at once) and skips ticks until
//!   `initialDelaySeconds` have passed since the container started;
//! - liveness and readiness are skipped until the startup probe has succeeded;
//! - a result is published only after `successThreshold` consecutive successes or
//!   `failureThreshold` consecutive failures, and only when it changes;
//! - readiness starts false, liveness true, started false (true without a startup probe);
//! - a liveness or startup failure puts the worker on hold until the container is
//!   replaced (a new container ID); a startup success ends the startup worker;
//! - every failed attempt records an `Unhealthy` event ("Liveness probe failed: ..."),
//!   warnings a `ProbeWarning` event, errors "... probe errored and resulted in unknown
//!   state: ..." (upstream's wording; not counted).
//!
//! The pod worker consumes [`ProbeNotice`]s from the channel returned by
//! [`ProbeManager::new`], reads [`ProbeManager::status`] when building container statuses,
//! and restarts a container on a liveness/startup failure using the update's grace period.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::{run_probe, ExecRunner, Outcome, ProbeTarget};

/// The three probe kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeType {
    /// livenessProbe.
    Liveness,
    /// readinessProbe.
    Readiness,
    /// startupProbe.
    Startup,
}

impl ProbeType {
    /// The capitalised name used in event messages.
    pub fn title(&self) -> &'static str {
        match self {
            ProbeType::Liveness => "Liveness",
            ProbeType::Readiness => "Readiness",
            ProbeType::Startup => "Startup",
        }
    }
}

/// A probe result that crossed its threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeUpdate {
    /// The pod's UID.
    pub pod_uid: String,
    /// The container's name.
    pub container_name: String,
    /// The CRI container ID probed.
    pub container_id: String,
    /// Which probe.
    pub probe_type: ProbeType,
    /// Success (true) or failure.
    pub success: bool,
    /// For liveness and startup failures: the grace period to kill the container with
    /// (the probe's terminationGracePeriodSeconds, else the pod's, default 30).
    pub kill_grace_period_seconds: Option<i64>,
}

impl ProbeUpdate {
    /// The `Killing` event message upstream records when restarting for this failure.
    pub fn kill_message(&self) -> Option<String> {
        match (self.success, self.probe_type) {
            (false, ProbeType::Liveness) => Some(format!(
                "Container {} failed liveness probe, will be restarted",
                self.container_name
            )),
            (false, ProbeType::Startup) => Some(format!(
                "Container {} failed startup probe, will be restarted",
                self.container_name
            )),
            _ => None,
        }
    }
}

/// An event to record on the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeEvent {
    /// The pod's UID.
    pub pod_uid: String,
    /// The container's name.
    pub container_name: String,
    /// `Unhealthy` or `ProbeWarning` (type Warning).
    pub reason: &'static str,
    /// e.g. "Readiness probe failed: HTTP probe failed with statuscode: 500".
    pub message: String,
}

/// What the manager publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeNotice {
    /// A result changed.
    Update(ProbeUpdate),
    /// An event to record.
    Event(ProbeEvent),
}

/// A container's probe-derived state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeStatus {
    /// `ready`: the readiness result once started (started alone without a readiness
    /// probe).
    pub ready: bool,
    /// `started`: the startup probe succeeded (true without one).
    pub started: bool,
    /// False once liveness (or startup) failed for this container ID.
    pub live: bool,
}

struct Entry {
    /// The pod the container belongs to (events are recorded on it).
    pod: Pod,
    container_id: String,
    has_readiness: bool,
    ready: bool,
    started: bool,
    live: bool,
    workers: Vec<JoinHandle<()>>,
}

struct Inner {
    exec: Arc<dyn ExecRunner>,
    tx: mpsc::UnboundedSender<ProbeNotice>,
    entries: Mutex<HashMap<(String, String), Entry>>,
}

/// Runs the probes of the node's containers.
pub struct ProbeManager {
    inner: Arc<Inner>,
}

impl Drop for ProbeManager {
    fn drop(&mut self) {
        for (_, e) in self.inner.entries.lock().drain() {
            e.workers.iter().for_each(JoinHandle::abort);
        }
    }
}

impl ProbeManager {
    /// A manager and the channel of its notices.
    pub fn new(exec: Arc<dyn ExecRunner>) -> (Self, mpsc::UnboundedReceiver<ProbeNotice>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            exec,
            tx,
            entries: Mutex::default(),
        });
        (ProbeManager { inner }, rx)
    }

    /// Tells the manager a container (re)started with `container_id`; starts its probe
    /// workers (replacing those of a previous container ID). Idempotent per ID. Must be
    /// called within a tokio runtime.
    pub fn container_started(
        &self,
        pod: &Pod,
        container: &Container,
        container_id: &str,
        pod_ip: &str,
    ) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let key = (uid.clone(), container.name.clone());
        let mut entries = self.inner.entries.lock();
        if entries
            .get(&key)
            .is_some_and(|e| e.container_id == container_id)
        {
            return;
        }
        if let Some(old) = entries.remove(&key) {
            old.workers.iter().for_each(JoinHandle::abort);
        }
        let has_startup = container.startup_probe.is_some();
        let (started_tx, started_rx) = watch::channel(!has_startup);
        let started_tx = Arc::new(started_tx);
        let pod_grace = pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30);
        let target = ProbeTarget {
            container_id: container_id.to_string(),
            pod_ip: pod_ip.to_string(),
            container: container.clone(),
        };
        let mut workers = Vec::new();
        for (kind, probe) in [
            (ProbeType::Startup, &container.startup_probe),
            (ProbeType::Liveness, &container.liveness_probe),
            (ProbeType::Readiness, &container.readiness_probe),
        ] {
            let Some(probe) = probe.clone() else { continue };
            let w = Worker {
                inner: self.inner.clone(),
                key: key.clone(),
                kind,
                grace: probe.termination_grace_period_seconds.unwrap_or(pod_grace),
                probe,
                target: target.clone(),
                started_rx: started_rx.clone(),
                started_tx: started_tx.clone(),
            };
            workers.push(tokio::spawn(w.run()));
        }
        entries.insert(
            key,
            Entry {
                pod: pod.clone(),
                container_id: container_id.to_string(),
                has_readiness: container.readiness_probe.is_some(),
                ready: false,
                started: !has_startup,
                live: true,
                workers,
            },
        );
    }

    /// Stops the probes of a container that is no longer running.
    pub fn container_stopped(&self, pod_uid: &str, container_name: &str) {
        if let Some(e) = self
            .inner
            .entries
            .lock()
            .remove(&(pod_uid.to_string(), container_name.to_string()))
        {
            e.workers.iter().for_each(JoinHandle::abort);
        }
    }

    /// Stops every probe of a pod.
    pub fn remove_pod(&self, pod_uid: &str) {
        self.inner.entries.lock().retain(|(uid, _), e| {
            if uid == pod_uid {
                e.workers.iter().for_each(JoinHandle::abort);
                false
            } else {
                true
            }
        });
    }

    /// The pod of a probed container (to record a [`ProbeEvent`] on).
    pub fn pod(&self, pod_uid: &str, container_name: &str) -> Option<Pod> {
        let entries = self.inner.entries.lock();
        entries
            .get(&(pod_uid.to_string(), container_name.to_string()))
            .map(|e| e.pod.clone())
    }

    /// The probe-derived state of a running container (None when not tracked).
    pub fn status(&self, pod_uid: &str, container_name: &str) -> Option<ProbeStatus> {
        let entries = self.inner.entries.lock();
        let e = entries.get(&(pod_uid.to_string(), container_name.to_string()))?;
        Some(ProbeStatus {
            ready: e.started && (!e.has_readiness || e.ready),
            started: e.started,
            live: e.live,
        })
    }
}

struct Worker {
    inner: Arc<Inner>,
    key: (String, String),
    kind: ProbeType,
    probe: Probe,
    grace: i64,
    target: ProbeTarget,
    started_rx: watch::Receiver<bool>,
    started_tx: Arc<watch::Sender<bool>>,
}

impl Worker {
    fn event(&self, reason: &'static str, message: String) {
        let _ = self.inner.tx.send(ProbeNotice::Event(ProbeEvent {
            pod_uid: self.key.0.clone(),
            container_name: self.key.1.clone(),
            reason,
            message,
        }));
    }

    async fn run(self) {
        let start = Instant::now();
        let p = &self.probe;
        let period = Duration::from_secs(p.period_seconds.unwrap_or(10).max(1) as u64);
        let initial_delay = Duration::from_secs(p.initial_delay_seconds.unwrap_or(0).max(0) as u64);
        let success_threshold = p.success_threshold.unwrap_or(1).max(1);
        let failure_threshold = p.failure_threshold.unwrap_or(3).max(1);
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last: Option<bool> = None;
        let mut run = 0;
        let mut published: Option<bool> = None;
        let title = self.kind.title();
        loop {
            ticker.tick().await;
            if start.elapsed() < initial_delay {
                continue;
            }
            if self.kind != ProbeType::Startup && !*self.started_rx.borrow() {
                continue;
            }
            let success = match run_probe(p, &self.target, self.inner.exec.as_ref()).await {
                Err(e) => {
                    self.event(
                        "Unhealthy",
                        format!("{title} probe errored and resulted in unknown state: {e}"),
                    );
                    continue;
                }
                Ok(r) => match r.outcome {
                    Outcome::Success => true,
                    Outcome::Warning => {
                        self.event(
                            "ProbeWarning",
                            format!("{title} probe warning: {}", r.output),
                        );
                        true
                    }
                    Outcome::Failure => {
                        self.event("Unhealthy", format!("{title} probe failed: {}", r.output));
                        false
                    }
                },
            };
            if last == Some(success) {
                run += 1;
            } else {
                last = Some(success);
                run = 1;
            }
            if (!success && run < failure_threshold) || (success && run < success_threshold) {
                continue;
            }
            let restart = !success && self.kind != ProbeType::Readiness;
            if published != Some(success) {
                published = Some(success);
                if !self.record(success) {
                    return; // the container was replaced meanwhile
                }
                let _ = self.inner.tx.send(ProbeNotice::Update(ProbeUpdate {
                    pod_uid: self.key.0.clone(),
                    container_name: self.key.1.clone(),
                    container_id: self.target.container_id.clone(),
                    probe_type: self.kind,
                    success,
                    kill_grace_period_seconds: restart.then_some(self.grace),
                }));
            }
            if restart {
                // On hold until a new container ID starts new workers.
                return;
            }
            if success && self.kind == ProbeType::Startup {
                let _ = self.started_tx.send(true);
                return;
            }
        }
    }

    /// Stores the result in the container's entry; false if the entry is gone or belongs
    /// to another container ID.
    fn record(&self, success: bool) -> bool {
        let mut entries = self.inner.entries.lock();
        let Some(e) = entries.get_mut(&self.key) else {
            return false;
        };
        if e.container_id != self.target.container_id {
            return false;
        }
        match self.kind {
            ProbeType::Readiness => e.ready = success,
            ProbeType::Startup => {
                e.started = success;
                if !success {
                    e.live = false;
                }
            }
            ProbeType::Liveness => e.live = success,
        }
        true
    }
}
