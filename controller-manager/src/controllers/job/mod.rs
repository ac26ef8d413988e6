//! Job controller (upstream pkg/controller/job): runs pods until `completions` succeed or
//! the job fails, and keeps `status` in step.
//!
//! One sync (`sync`) follows upstream `syncJob`:
//! 1. Pod accounting through the `batch.kubernetes.io/job-tracking` finalizer: a finished
//!    pod that still carries it is first recorded in `status.uncountedTerminatedPods`
//!    (and, for Indexed jobs, its index in `completedIndexes`), that status is written,
//!    then the finalizer is removed, and only then are the UIDs moved into
//!    `succeeded`/`failed` — so a pod is counted exactly once even across crashes.
//! 2. Terminal decisions, in upstream order: an earlier FailureTarget/SuccessCriteriaMet,
//!    a podFailurePolicy `FailJob` match, `backoffLimit` exceeded (failures, plus container
//!    restarts for `restartPolicy: OnFailure`), `activeDeadlineSeconds` passed, then
//!    success (successPolicy or completions reached). The interim condition
//!    (`FailureTarget` / `SuccessCriteriaMet`) is written first, active pods are deleted
//!    keeping their finalizer (so, as upstream, they are then counted as failed unless only
//!    Failed pods count), and the terminal `Failed` / `Complete` condition follows once no pod is left running
//!    or terminating and nothing is uncounted (upstream's delayed terminal conditions).
//! 3. Otherwise suspend (Suspended condition, active pods deleted, `startTime` cleared) or
//!    resume (`startTime` reset), or create/delete pods towards
//!    `min(parallelism, completions - succeeded)` active — never before the expectations
//!    of the previous sync are met, and after failures only once the pod-failure backoff
//!    (10 s doubling, capped at 6 min) has passed.
//!
//! `backoffLimitPerIndex` (Indexed): each pod carries
//! `batch.kubernetes.io/job-index-failure-count`; an index whose failures exceed the limit,
//! or that hit a `FailIndex` rule, lands in `status.failedIndexes` and is not retried;
//! replacements wait out a per-index backoff; `maxFailedIndexes` exceeded fails the job
//! (`MaxFailedIndexesExceeded`), and every index finished with some failed fails it with
//! `FailedIndexes`.
//!
//! Orphan pods matching the selector are adopted (with the finalizer) and owned pods that
//! stop matching are released, as upstream `ClaimPods`.
//!
//! Not implemented (gaps): a separate count of ignored failures per index (upstream's
//! `job-index-ignored-failure-count`), `podReplacementPolicy: Failed`
//! waiting for terminating pods before replacing them, and upstream's 1 s batching of pod
//! updates (`syncJobBatchPeriod`).

pub mod indexes;
pub mod policy;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;
use serde_json::json;

use self::policy::FailureAction;
use super::{
    controller_of, is_namespace_terminating, is_not_found, pod_is_ready, run_workers,
    ControllerError, Requeue,
};
use crate::clock::{Clock, SystemClock};
use crate::events::EventSink;
use crate::expectations::Expectations;
use crate::informer::{key_of, split_key, Notification};
use crate::queue::WorkQueue;
use crate::ControllerContext;

/// Controller name used for events.
pub const NAME: &str = "job-controller";
/// The finalizer that keeps finished pods around until they are counted.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// Annotation and label carrying a pod's completion index (Indexed jobs).
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// The env var exposing the completion index to containers.
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// Label keys linking pods to their job (current and legacy spellings).
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// See [`CONTROLLER_UID_LABEL`].
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// Annotation with how many failures of its index preceded a pod (backoffLimitPerIndex).
pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";
/// The `spec.managedBy` value this controller answers to (unset means the same).
pub const MANAGED_BY: &str = "kubernetes.io/job-controller";

/// Errors of one sync; all are retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// an API call failed
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// some pod operations failed
    #[error("{0}")]
    Pods(String),
}

/// Shared state of the workers and handlers.
#[derive(Clone)]
pub struct JobController {
    client: kube::Client,
    job_store: Store<Job>,
    pod_store: Store<Pod>,
    expectations: Expectations,
    events: EventSink,
    clock: Arc<dyn Clock>,
    /// Pods whose tracking finalizer we removed but the informer still shows
    /// (upstream `finalizerExpectations`): they must not be counted twice.
    releasing: Releasing,
    /// The status resourceVersion each job key was last written at; a cache older than
    /// that is not synced on (its update event will come).
    written: Arc<parking_lot::Mutex<std::collections::HashMap<String, u64>>>,
}

/// UIDs of pods released from the tracking finalizer, until the informer shows it.
pub type Releasing = Arc<parking_lot::Mutex<HashSet<String>>>;

/// Starts the informers and `--concurrent-job-syncs` workers.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("job");
    let expectations = Expectations::new();
    let q = queue.clone();
    let e = expectations.clone();
    let job_informer = ctx.informers.subscribe::<Job>(move |n| match n {
        Notification::Added(o) | Notification::Updated { new: o, .. } => q.add(key_of(o.as_ref())),
        Notification::Deleted(o) => {
            let key = key_of(o.as_ref());
            e.delete(&key);
            q.add(key);
        }
    });
    let releasing = Releasing::default();
    let handler = PodHandler {
        job_store: job_informer.store.clone(),
        queue: queue.clone(),
        expectations: expectations.clone(),
        releasing: releasing.clone(),
    };
    let pod_informer = ctx.informers.subscribe::<Pod>(move |n| handler.handle(n));
    job_informer.synced().await;
    pod_informer.synced().await;
    let c = JobController {
        client: ctx.client.clone(),
        job_store: job_informer.store.clone(),
        pod_store: pod_informer.store.clone(),
        expectations,
        events: EventSink::new(ctx.client.clone(), NAME),
        clock: Arc::new(SystemClock),
        releasing,
        written: Arc::default(),
    };
    run_workers(NAME, queue, ctx.options.concurrent_job_syncs, move |key| {
        let c = c.clone();
        async move { c.sync(&key).await }
    })
    .await;
    drop((job_informer, pod_informer));
    Ok(())
}

/// Pod events (upstream `addPod` / `updatePod` / `deletePod`).
struct PodHandler {
    job_store: Store<Job>,
    queue: WorkQueue,
    expectations: Expectations,
    releasing: Releasing,
}

impl PodHandler {
    fn handle(&self, n: Notification<Pod>) {
        let seen = match &n {
            Notification::Added(p) | Notification::Updated { new: p, .. } => {
                (!has_tracking_finalizer(p)).then_some(p)
            }
            Notification::Deleted(p) => Some(p),
        };
        if let Some(uid) = seen.and_then(|p| p.metadata.uid.as_ref()) {
            self.releasing.lock().remove(uid);
        }
        match n {
            Notification::Added(pod) => {
                if let Some(key) = self.job_key(&pod) {
                    if pod.metadata.deletion_timestamp.is_some() {
                        self.expectations
                            .deletion_observed(&key, pod.metadata.uid.as_deref().unwrap_or(""));
                    } else {
                        self.expectations.creation_observed(&key);
                    }
                    self.queue.add(key);
                } else {
                    self.orphan(&pod);
                }
            }
            Notification::Updated { old, new } => {
                if old.metadata.resource_version == new.metadata.resource_version {
                    return;
                }
                if let Some(key) = self.job_key(&new) {
                    if new.metadata.deletion_timestamp.is_some() {
                        self.expectations
                            .deletion_observed(&key, new.metadata.uid.as_deref().unwrap_or(""));
                    }
                    self.queue.add(key);
                } else {
                    self.orphan(&new);
                }
                if controller_of(&old.metadata) != controller_of(&new.metadata) {
                    if let Some(key) = self.job_key(&old) {
                        self.queue.add(key);
                    }
                }
            }
            Notification::Deleted(pod) => {
                if let Some(key) = self.job_key(&pod) {
                    self.expectations
                        .deletion_observed(&key, pod.metadata.uid.as_deref().unwrap_or(""));
                    self.queue.add(key);
                }
            }
        }
    }

    /// The key of the job controlling the pod, if that job (same UID) is known.
    fn job_key(&self, pod: &Pod) -> Option<String> {
        let r = job_owner(pod)?;
        let ns = pod.metadata.namespace.as_deref()?;
        let job = self.job_store.get(&ObjectRef::new(&r.name).within(ns))?;
        (job.metadata.uid.as_deref() == Some(r.uid.as_str())).then(|| key_of(job.as_ref()))
    }

    /// A pod with the tracking finalizer whose job is gone: the sync of that job's key
    /// removes the finalizer (upstream does this for orphan pods too), so the garbage
    /// collector can delete it.
    fn orphan(&self, pod: &Pod) {
        if controller_of(&pod.metadata).is_none() {
            // An orphan: every job whose selector matches may adopt it.
            let ns = pod.metadata.namespace.as_deref();
            let empty = BTreeMap::new();
            let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
            for j in self.job_store.state_filter(|j| {
                j.metadata.namespace.as_deref() == ns
                    && selector_of(j).is_some_and(|s| !s.is_empty() && s.matches(labels))
            }) {
                self.queue.add(key_of(j.as_ref()));
            }
            return;
        }
        if !has_tracking_finalizer(pod) {
            return;
        }
        if let (Some(r), Some(ns)) = (job_owner(pod), pod.metadata.namespace.as_deref()) {
            self.queue.add(format!("{ns}/{}", r.name));
        }
    }
}

/// The job's selector; `None` if it cannot be parsed.
fn selector_of(job: &Job) -> Option<rudder_api::labels::Selector> {
    let sel = job.spec.as_ref()?.selector.as_ref()?;
    let v = serde_json::to_value(sel).ok()?;
    rudder_api::labels::Selector::from_label_selector(&v).ok()
}

fn controller_ref(job: &Job) -> OwnerReference {
    OwnerReference {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        name: job.metadata.name.clone().unwrap_or_default(),
        uid: job.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The resourceVersion as a number (this apiserver's versions are decimal counters).
fn rv_number(meta: &ObjectMeta) -> Option<u64> {
    meta.resource_version.as_deref()?.parse().ok()
}

/// The pod's controller reference if it points at a batch Job.
fn job_owner(pod: &Pod) -> Option<&OwnerReference> {
    controller_of(&pod.metadata).filter(|r| r.kind == "Job" && r.api_version.starts_with("batch/"))
}

fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER))
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Running or pending, not being deleted.
fn is_active(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && pod.metadata.deletion_timestamp.is_none()
}

/// Being deleted but not finished.
fn is_terminating(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && pod.metadata.deletion_timestamp.is_some()
}

/// Upstream `isPodFailed`: Failed, or — unless only failed pods are replaced (a
/// podFailurePolicy or `podReplacementPolicy: Failed`) — deleted before succeeding.
pub fn is_pod_failed(pod: &Pod, job: &Job) -> bool {
    if phase(pod) == "Failed" {
        return true;
    }
    let spec = job.spec.as_ref();
    let only_failed = spec.is_some_and(|s| {
        s.pod_failure_policy.is_some() || s.pod_replacement_policy.as_deref() == Some("Failed")
    });
    !only_failed && pod.metadata.deletion_timestamp.is_some() && phase(pod) != "Succeeded"
}

/// The completion index of an Indexed job's pod (annotation, else label).
pub fn completion_index(pod: &Pod) -> Option<i32> {
    let m = &pod.metadata;
    m.annotations
        .as_ref()
        .and_then(|a| a.get(COMPLETION_INDEX))
        .or_else(|| m.labels.as_ref().and_then(|l| l.get(COMPLETION_INDEX)))
        .and_then(|v| v.parse().ok())
        .filter(|i: &i32| *i >= 0)
}

fn is_indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

/// The condition of this type with status True.
fn true_condition<'a>(status: &'a JobStatus, type_: &str) -> Option<&'a JobCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// Upstream `IsJobFinished`: Complete or Failed is True.
pub fn is_finished(job: &Job) -> bool {
    job.status.as_ref().is_some_and(|s| {
        true_condition(s, "Complete").is_some() || true_condition(s, "Failed").is_some()
    })
}

/// Sets a condition (upstream `ensureJobConditionStatus` / `addConditionWithTime`): a
/// condition of the same type changes in place (transition time moves only when the
/// status does); a False condition is never added where none exists. Returns whether
/// anything changed.
pub fn set_condition(
    status: &mut JobStatus,
    type_: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    let conds = status.conditions.get_or_insert_with(Vec::new);
    match conds.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status == value
                && c.reason.as_deref() == Some(reason)
                && c.message.as_deref() == Some(message)
            {
                return false;
            }
            if c.status != value {
                c.last_transition_time = Some(Time(now));
            }
            c.status = value.to_string();
            c.reason = Some(reason.to_string());
            c.message = Some(message.to_string());
            c.last_probe_time = Some(Time(now));
            true
        }
        None if value == "False" => false,
        None => {
            conds.push(JobCondition {
                type_: type_.to_string(),
                status: value.to_string(),
                reason: Some(reason.to_string()),
                message: Some(message.to_string()),
                last_probe_time: Some(Time(now)),
                last_transition_time: Some(Time(now)),
            });
            true
        }
    }
}

/// When the pod finished: the latest container `finishedAt`, else the deletion timestamp,
/// else its creation (upstream `getFinishedTime`, which falls back to now).
fn finish_time(pod: &Pod) -> Option<Timestamp> {
    let from_containers = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    from_containers
        .or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The failure-count annotation of a pod (0 when absent).
fn index_failure_count(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INDEX_FAILURE_COUNT))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Failures of index `i` so far (the latest failed pod's count plus one) and when the
/// latest failed (upstream `getNewIndexFailureCounts`).
pub fn index_failures(pods: &[Arc<Pod>], i: i32) -> (i32, Option<Timestamp>) {
    let mut best: (i32, Option<Timestamp>) = (0, None);
    for p in pods
        .iter()
        .filter(|p| phase(p) == "Failed" && completion_index(p) == Some(i))
    {
        let n = index_failure_count(p) + 1;
        let t = finish_time(p);
        if n > best.0 {
            best = (n, t);
        }
    }
    best
}

/// What the pods say about earlier failures, for the replacement backoff: failures since
/// the last success, and when the last one happened (upstream `backoffRecord`).
pub fn failure_backoff_record(job: &Job, pods: &[Arc<Pod>]) -> (u32, Option<Timestamp>) {
    let pfp = job
        .spec
        .as_ref()
        .and_then(|s| s.pod_failure_policy.as_ref());
    let last_success = pods
        .iter()
        .filter(|p| phase(p) == "Succeeded")
        .filter_map(|p| finish_time(p))
        .max();
    let mut failures = 0;
    let mut last_failure = None;
    for p in pods.iter().filter(|p| phase(p) == "Failed") {
        if pfp.is_some_and(|pfp| policy::match_pod_failure_policy(pfp, p) == FailureAction::Ignore)
        {
            continue;
        }
        let Some(t) = finish_time(p) else { continue };
        if last_success.is_some_and(|s| t <= s) {
            continue;
        }
        failures += 1;
        last_failure = last_failure.max(Some(t));
    }
    (failures, last_failure)
}

/// The pod template a job stamps out (upstream `getPodTemplate` plus `GetPodFromTemplate`):
/// the tracking finalizer, the controller reference, and for Indexed jobs the completion
/// index as annotation, label, `JOB_COMPLETION_INDEX` env var (downward API) and hostname
/// `<job>-<index>`.
pub fn pod_for(job: &Job, index: Option<i32>) -> Pod {
    let name = job.metadata.name.clone().unwrap_or_default();
    let PodTemplateSpec { metadata, spec } = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let tmeta = metadata.unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    let mut finalizers = tmeta.finalizers.unwrap_or_default();
    if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
        finalizers.push(TRACKING_FINALIZER.to_string());
    }
    let mut spec = spec.unwrap_or_default();
    let generate_name = match index {
        Some(i) => {
            annotations.insert(COMPLETION_INDEX.into(), i.to_string());
            labels.insert(COMPLETION_INDEX.into(), i.to_string());
            if spec.hostname.is_none() {
                spec.hostname = Some(format!("{name}-{i}"));
            }
            let env = EnvVar {
                name: COMPLETION_INDEX_ENV.into(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: None,
                        field_path: format!("metadata.annotations['{COMPLETION_INDEX}']"),
                    }),
                    ..Default::default()
                }),
            };
            let containers = spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten());
            for c in containers {
                let vars = c.env.get_or_insert_with(Vec::new);
                if !vars.iter().any(|v| v.name == COMPLETION_INDEX_ENV) {
                    vars.push(env.clone());
                }
            }
            format!("{name}-{i}-")
        }
        None => format!("{name}-"),
    };
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: job.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            finalizers: Some(finalizers),
            owner_references: Some(vec![controller_ref(job)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// A terminal outcome decided this sync or earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `Complete` or `Failed`.
    pub terminal: &'static str,
    /// `SuccessCriteriaMet` or `FailureTarget`.
    pub interim: &'static str,
    /// Condition reason.
    pub reason: String,
    /// Condition message.
    pub message: String,
}

impl Outcome {
    fn failed(reason: &str, message: &str) -> Outcome {
        Outcome {
            terminal: "Failed",
            interim: "FailureTarget",
            reason: reason.into(),
            message: message.into(),
        }
    }
    fn complete(reason: &str, message: &str) -> Outcome {
        Outcome {
            terminal: "Complete",
            interim: "SuccessCriteriaMet",
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The counts a terminal decision is made from.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// Succeeded pods, counted or not (NonIndexed), or completed indexes (Indexed).
    pub succeeded: i32,
    /// Failed pods, counted or not.
    pub failed: i32,
    /// Active pods.
    pub active: i32,
    /// Sum of container restarts of active pods (for `restartPolicy: OnFailure`).
    pub restarts: i32,
    /// Completed indexes (Indexed).
    pub completed: BTreeSet<i32>,
    /// The message of a podFailurePolicy `FailJob` match this sync, if any.
    pub fail_job: Option<String>,
    /// Failed indexes (backoffLimitPerIndex).
    pub failed_indexes: BTreeSet<i32>,
}

/// Upstream's order of terminal decisions (see the module docs).
pub fn decide_outcome(job: &Job, c: &Counts, now: Timestamp) -> Option<Outcome> {
    let status = job.status.clone().unwrap_or_default();
    for (interim, ctor) in [
        (
            "FailureTarget",
            Outcome::failed as fn(&str, &str) -> Outcome,
        ),
        ("SuccessCriteriaMet", Outcome::complete),
    ] {
        if let Some(cond) = true_condition(&status, interim) {
            return Some(ctor(
                cond.reason.as_deref().unwrap_or_default(),
                cond.message.as_deref().unwrap_or_default(),
            ));
        }
    }
    let spec = job.spec.clone().unwrap_or_default();
    if let Some(msg) = &c.fail_job {
        return Some(Outcome::failed("PodFailurePolicy", msg));
    }
    let on_failure = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        == Some("OnFailure");
    let limit = spec.backoff_limit.unwrap_or(6);
    let failures = c.failed + if on_failure { c.restarts } else { 0 };
    if failures > limit {
        return Some(Outcome::failed(
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ));
    }
    if let (Some(ads), Some(start)) = (spec.active_deadline_seconds, &status.start_time) {
        if spec.suspend != Some(true) && start.0.as_second() + ads <= now.as_second() {
            return Some(Outcome::failed(
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ));
        }
    }
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    if let (true, Some(_), Some(n)) = (indexed, spec.backoff_limit_per_index, spec.completions) {
        let failed = c.failed_indexes.len() as i32;
        if spec.max_failed_indexes.is_some_and(|m| failed > m) {
            return Some(Outcome::failed(
                "MaxFailedIndexesExceeded",
                "Job has exceeded the specified maximal number of failed indexes",
            ));
        }
        if failed > 0 && failed + c.completed.len() as i32 >= n {
            return Some(Outcome::failed("FailedIndexes", "Job has failed indexes"));
        }
    }
    if let (true, Some(sp), Some(n)) = (indexed, &spec.success_policy, spec.completions) {
        if let Some(i) = policy::match_success_policy(sp, n, &c.completed) {
            return Some(Outcome::complete(
                "SuccessPolicy",
                &format!("Matched rules at index {i}"),
            ));
        }
    }
    let reached = match spec.completions {
        Some(n) => c.succeeded >= n,
        // A work queue: done once something succeeded and nothing runs any more.
        None => c.succeeded > 0 && c.active == 0,
    };
    reached.then(|| {
        Outcome::complete(
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        )
    })
}

/// Upstream's target number of active pods.
pub fn want_active(job: &Job, succeeded: i32, active: i32) -> i32 {
    let spec = job.spec.clone().unwrap_or_default();
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    match spec.completions {
        None if succeeded > 0 => active,
        None => parallelism,
        Some(n) => (n - succeeded).clamp(0, parallelism),
    }
}

/// Deletion order among active pods: not yet scheduled, then pending, then not ready,
/// then newest first (a short form of upstream `ActivePods` ordering).
fn deletion_rank(p: &Pod) -> (bool, bool, bool, std::cmp::Reverse<Option<Timestamp>>) {
    let scheduled = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
    (
        scheduled,
        phase(p) == "Running",
        pod_is_ready(p),
        std::cmp::Reverse(p.metadata.creation_timestamp.as_ref().map(|t| t.0)),
    )
}

impl JobController {
    /// A controller over the given stores (for tests that drive it directly).
    pub fn new(
        client: kube::Client,
        job_store: Store<Job>,
        pod_store: Store<Pod>,
        clock: Arc<dyn Clock>,
    ) -> JobController {
        JobController {
            events: EventSink::new(client.clone(), NAME),
            client,
            job_store,
            pod_store,
            expectations: Expectations::new(),
            clock,
            releasing: Releasing::default(),
            written: Arc::default(),
        }
    }

    /// Syncs one job key.
    pub async fn sync(&self, key: &str) -> Result<Requeue, JobError> {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let Some(job) = self.job_store.get(&ObjectRef::new(name).within(ns)) else {
            self.expectations.delete(key);
            self.written.lock().remove(key);
            self.release_orphans(ns, name).await?;
            return Ok(Requeue::No);
        };
        let spec = job.spec.clone().unwrap_or_default();
        if spec.managed_by.as_deref().is_some_and(|m| m != MANAGED_BY) {
            // Upstream leaves jobs managed by another controller alone.
            return Ok(Requeue::No);
        }
        let cached_rv = rv_number(&job.metadata);
        if let (Some(cached), Some(written)) = (cached_rv, self.written.lock().get(key).copied()) {
            if cached < written {
                // Our own status write is not in the cache yet; its event requeues us.
                return Ok(Requeue::No);
            }
        }
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let releasing = self.releasing.lock().clone();
        // Pods released from the finalizer but still shown with it count as released.
        let pods: Vec<Arc<Pod>> = self
            .pod_store
            .state_filter(|p| {
                p.metadata.namespace.as_deref() == Some(ns)
                    && job_owner(p).is_some_and(|r| r.uid == uid)
            })
            .into_iter()
            .map(|p| {
                if p.metadata
                    .uid
                    .as_ref()
                    .is_some_and(|u| releasing.contains(u))
                {
                    let mut q = (*p).clone();
                    if let Some(f) = q.metadata.finalizers.as_mut() {
                        f.retain(|f| f != TRACKING_FINALIZER);
                    }
                    Arc::new(q)
                } else {
                    p
                }
            })
            .collect();
        let pods = if !is_finished(&job) && job.metadata.deletion_timestamp.is_none() {
            self.claim_pods(&job, pods).await?
        } else {
            pods
        };
        if is_finished(&job) {
            // Only leftover finalizers to clear.
            let leftovers: Vec<Arc<Pod>> = pods
                .iter()
                .filter(|p| has_tracking_finalizer(p))
                .cloned()
                .collect();
            self.remove_finalizers(&leftovers).await?;
            return Ok(Requeue::No);
        }
        let satisfied = self.expectations.satisfied(key);
        let now = self.clock.now();
        let indexed = is_indexed(&job);
        let completions = spec.completions.unwrap_or(0);
        let mut status = job.status.clone().unwrap_or_default();
        let mut uncounted = status.uncounted_terminated_pods.clone().unwrap_or_default();
        let un_s: HashSet<String> = uncounted.succeeded.iter().flatten().cloned().collect();
        let un_f: HashSet<String> = uncounted.failed.iter().flatten().cloned().collect();
        let per_index = indexed && spec.backoff_limit_per_index.is_some();
        let mut failed_ix =
            indexes::parse(status.failed_indexes.as_deref().unwrap_or(""), completions);
        let mut completed = indexes::parse(
            status.completed_indexes.as_deref().unwrap_or(""),
            completions,
        );

        let finishing = job.metadata.deletion_timestamp.is_some()
            || true_condition(&status, "FailureTarget").is_some()
            || true_condition(&status, "SuccessCriteriaMet").is_some();
        // 1. Newly finished pods still carrying the finalizer.
        let mut fail_job = None;
        let mut to_release: Vec<Arc<Pod>> = Vec::new();
        let mut new_s = Vec::new();
        let mut new_f = Vec::new();
        for p in pods.iter().filter(|p| has_tracking_finalizer(p)) {
            let puid = p.metadata.uid.clone().unwrap_or_default();
            if un_s.contains(&puid) || un_f.contains(&puid) {
                to_release.push(p.clone());
                continue;
            }
            if phase(p) == "Succeeded" {
                if indexed {
                    if let Some(i) = completion_index(p).filter(|i| *i < completions) {
                        completed.insert(i);
                    }
                }
                new_s.push(puid);
                to_release.push(p.clone());
            } else if finishing && !is_pod_failed(p, &job) {
                // The job is finishing (or being deleted): terminating pods that will
                // never count are released so they can go (upstream does the same).
                if p.metadata.deletion_timestamp.is_some() {
                    to_release.push(p.clone());
                }
            } else if is_pod_failed(p, &job) {
                let action = match &spec.pod_failure_policy {
                    Some(pfp) if phase(p) == "Failed" => policy::match_pod_failure_policy(pfp, p),
                    _ => FailureAction::Count,
                };
                match &action {
                    FailureAction::Ignore => {}
                    FailureAction::FailJob(msg) => {
                        fail_job.get_or_insert(msg.clone());
                        new_f.push(puid);
                    }
                    FailureAction::Count | FailureAction::FailIndex => new_f.push(puid),
                }
                // backoffLimitPerIndex: the index fails once its failures exceed the limit,
                // or at once on a FailIndex rule (upstream `calculateFailedIndexes`).
                if let (true, Some(i)) = (per_index, completion_index(p)) {
                    let limit = spec.backoff_limit_per_index.unwrap_or(0);
                    let fail_index = matches!(action, FailureAction::FailIndex);
                    let counted = !matches!(action, FailureAction::Ignore);
                    if i < completions
                        && !completed.contains(&i)
                        && (fail_index || (counted && index_failure_count(p) + 1 > limit))
                    {
                        failed_ix.insert(i);
                    }
                }
                to_release.push(p.clone());
            }
        }
        let mut job_now: Job = (*job).clone();
        if !new_s.is_empty() || !new_f.is_empty() {
            uncounted
                .succeeded
                .get_or_insert_with(Vec::new)
                .extend(new_s);
            uncounted.failed.get_or_insert_with(Vec::new).extend(new_f);
            status.uncounted_terminated_pods = Some(uncounted.clone());
            if indexed {
                status.completed_indexes = Some(indexes::format(&completed));
            }
            if per_index {
                status.failed_indexes = Some(indexes::format(&failed_ix));
            }
            if let Some(msg) = &fail_job {
                // Record the failure cause before the finalizers go, as upstream does.
                set_condition(
                    &mut status,
                    "FailureTarget",
                    "True",
                    "PodFailurePolicy",
                    msg,
                    now,
                );
            }
            job_now = self.write_status(key, &job_now, status.clone()).await?;
        }
        // 2. Release the recorded pods, then count them.
        let released = self.remove_finalizers(&to_release).await?;
        let gone: HashSet<String> = {
            let still: HashSet<String> = pods
                .iter()
                .filter(|p| has_tracking_finalizer(p))
                .filter_map(|p| p.metadata.uid.clone())
                .collect();
            uncounted
                .succeeded
                .iter()
                .flatten()
                .chain(uncounted.failed.iter().flatten())
                .filter(|u| !still.contains(*u) || released.contains(*u))
                .cloned()
                .collect()
        };
        let mut moved_s = 0;
        let mut moved_f = 0;
        for (list, n) in [
            (&mut uncounted.succeeded, &mut moved_s),
            (&mut uncounted.failed, &mut moved_f),
        ] {
            if let Some(l) = list.as_mut() {
                let before = l.len();
                l.retain(|u| !gone.contains(u));
                *n = (before - l.len()) as i32;
            }
        }
        status.failed = Some(status.failed.unwrap_or(0) + moved_f);
        status.succeeded = Some(if indexed {
            completed.len() as i32
        } else {
            status.succeeded.unwrap_or(0) + moved_s
        });
        status.uncounted_terminated_pods = Some(UncountedTerminatedPods {
            succeeded: uncounted.succeeded.clone().filter(|l| !l.is_empty()),
            failed: uncounted.failed.clone().filter(|l| !l.is_empty()),
        });
        let uncounted_left = uncounted.succeeded.iter().flatten().count()
            + uncounted.failed.iter().flatten().count();

        // 3. Decide.
        let active: Vec<Arc<Pod>> = pods.iter().filter(|p| is_active(p)).cloned().collect();
        let restarts = active
            .iter()
            .filter_map(|p| p.status.as_ref()?.container_statuses.as_ref())
            .flatten()
            .map(|c| c.restart_count)
            .sum();
        let counts = Counts {
            succeeded: if indexed {
                completed.len() as i32
            } else {
                status.succeeded.unwrap_or(0) + uncounted.succeeded.iter().flatten().count() as i32
            },
            failed: status.failed.unwrap_or(0) + uncounted.failed.iter().flatten().count() as i32,
            active: active.len() as i32,
            restarts,
            completed: completed.clone(),
            failed_indexes: failed_ix.clone(),
            fail_job,
        };
        let suspended = spec.suspend == Some(true);
        if status.start_time.is_none() && !suspended {
            status.start_time = Some(Time(now));
        }
        let mut decide_job = job_now.clone();
        decide_job.status = Some(status.clone());
        let outcome = decide_outcome(&decide_job, &counts, now);
        let mut requeue = Requeue::No;
        let mut pod_err = None;
        let mut active_left = active.clone();
        let mut created = 0;
        if let Some(o) = &outcome {
            if set_condition(&mut status, o.interim, "True", &o.reason, &o.message, now) {
                tracing::debug!(key, reason = %o.reason, "job reached {}", o.interim);
            }
            if satisfied && !active.is_empty() {
                // Upstream `deleteActivePods`: finalizers stay, so the deleted pods are
                // accounted (as failed, unless only Failed pods count) next sync.
                pod_err = self
                    .delete_pods_keeping_finalizers(&job, key, &active)
                    .await
                    .err();
            }
            active_left.clear();
            let terminating = pods.iter().any(|p| is_terminating(p));
            if active.is_empty() && !terminating && uncounted_left == 0 && satisfied {
                set_condition(&mut status, o.terminal, "True", &o.reason, &o.message, now);
                if o.terminal == "Complete" {
                    status.completion_time = Some(Time(now));
                    self.events
                        .normal(&*job, "Completed", "Job completed".into());
                } else {
                    self.events.warning(&*job, &o.reason, o.message.clone());
                }
            } else if !active.is_empty() || terminating {
                // Pods are on their way out; their deletion events requeue the job.
            }
        } else if suspended {
            if set_condition(
                &mut status,
                "Suspended",
                "True",
                "JobSuspended",
                "Job suspended",
                now,
            ) {
                self.events
                    .normal(&*job, "Suspended", "Job suspended".into());
            }
            if satisfied && !active.is_empty() {
                pod_err = self.delete_pods(&job, key, &active).await.err();
            }
            active_left.clear();
            // A suspended job is not running: the deadline restarts on resume.
            status.start_time = None;
        } else {
            if set_condition(
                &mut status,
                "Suspended",
                "False",
                "JobResumed",
                "Job resumed",
                now,
            ) {
                self.events.normal(&*job, "Resumed", "Job resumed".into());
                // Upstream: resuming restarts activeDeadlineSeconds.
                status.start_time = Some(Time(now));
            }
            if satisfied && job.metadata.deletion_timestamp.is_none() {
                match self.manage(&job, key, &active, &counts, &pods, now).await {
                    Ok((left, n, r)) => {
                        active_left = left;
                        created = n;
                        requeue = r;
                    }
                    Err(e) => pod_err = Some(e),
                }
            }
            if let (Some(ads), Some(start)) = (spec.active_deadline_seconds, &status.start_time) {
                let left = start.0.as_second() + ads - now.as_second();
                let d = Duration::from_secs(left.max(0) as u64);
                requeue = match requeue {
                    Requeue::After(r) if r < d => Requeue::After(r),
                    _ => Requeue::After(d),
                };
            }
        }
        status.active = Some((active_left.len() + created) as i32);
        status.ready = Some(active_left.iter().filter(|p| pod_is_ready(p)).count() as i32);
        status.terminating = Some(pods.iter().filter(|p| is_terminating(p)).count() as i32);
        if indexed {
            status.completed_indexes = Some(indexes::format(&completed));
        }
        if per_index {
            status.failed_indexes = Some(indexes::format(&failed_ix));
        }
        if status != job_now.status.clone().unwrap_or_default() {
            self.write_status(key, &job_now, status).await?;
        }
        match pod_err {
            Some(e) => Err(e),
            None => Ok(requeue),
        }
    }

    /// Creates or deletes pods towards the target (upstream `manageJob`); returns the
    /// active pods left and when to look again (pending backoff).
    async fn manage(
        &self,
        job: &Arc<Job>,
        key: &str,
        active: &[Arc<Pod>],
        counts: &Counts,
        all: &[Arc<Pod>],
        now: Timestamp,
    ) -> Result<(Vec<Arc<Pod>>, usize, Requeue), JobError> {
        let spec = job.spec.clone().unwrap_or_default();
        let indexed = is_indexed(job);
        let (completed, succeeded) = (&counts.completed, counts.succeeded);
        let mut keep: Vec<Arc<Pod>> = active.to_vec();
        let mut doomed: Vec<Arc<Pod>> = Vec::new();
        if indexed {
            // Pods of completed or out-of-range indexes, and duplicates, go.
            let completions = spec.completions.unwrap_or(0);
            let mut seen = BTreeSet::new();
            keep.sort_by_key(|p| std::cmp::Reverse(deletion_rank(p)));
            keep.retain(|p| match completion_index(p) {
                Some(i) if i < completions && !completed.contains(&i) && seen.insert(i) => true,
                _ => {
                    doomed.push(p.clone());
                    false
                }
            });
        }
        let want = want_active(job, succeeded, keep.len() as i32) as usize;
        if keep.len() > want {
            keep.sort_by_key(|p| deletion_rank(p));
            let surplus = keep.len() - want;
            doomed.extend(keep.drain(..surplus));
        }
        if !doomed.is_empty() {
            self.delete_pods(job, key, &doomed).await?;
            return Ok((keep, 0, Requeue::No));
        }
        if keep.len() >= want {
            return Ok((keep, 0, Requeue::No));
        }
        let per_index = indexed && spec.backoff_limit_per_index.is_some();
        let (failures, last_failure) = if per_index {
            (0, None)
        } else {
            failure_backoff_record(job, all)
        };
        if let Some(last) = last_failure {
            let wait = policy::pod_failure_backoff(failures);
            let ready_at = last.as_millisecond() + wait.as_millis() as i64;
            let left = ready_at - now.as_millisecond();
            if left > 0 {
                return Ok((keep, 0, Requeue::After(Duration::from_millis(left as u64))));
            }
        }
        let mut n = want - keep.len();
        let mut index_wait: Option<i64> = None;
        let index_list: Vec<Option<i32>> = if indexed {
            let running: BTreeSet<i32> = keep.iter().filter_map(|p| completion_index(p)).collect();
            (0..spec.completions.unwrap_or(0))
                .filter(|i| {
                    !completed.contains(i)
                        && !running.contains(i)
                        && !counts.failed_indexes.contains(i)
                })
                .filter(|i| {
                    // Per-index backoff (upstream `getRemainingTimePerIndex`).
                    if !per_index {
                        return true;
                    }
                    let (failures, last) = index_failures(all, *i);
                    let Some(last) = last else { return true };
                    let wait = policy::pod_failure_backoff(failures as u32);
                    let left =
                        last.as_millisecond() + wait.as_millis() as i64 - now.as_millisecond();
                    if left > 0 {
                        index_wait = Some(index_wait.map_or(left, |w| w.min(left)));
                    }
                    left <= 0
                })
                .take(n)
                .map(Some)
                .collect()
        } else {
            vec![None; n]
        };
        n = index_list.len();
        let later = index_wait.map_or(Requeue::No, |ms| {
            Requeue::After(Duration::from_millis(ms as u64))
        });
        if n == 0 {
            return Ok((keep, 0, later));
        }
        self.expectations.expect_creations(key, n);
        let api: Api<Pod> = Api::namespaced(
            self.client.clone(),
            job.metadata.namespace.as_deref().unwrap_or_default(),
        );
        // Slow start: batches of 1, 2, 4, ... stopping at the first failing batch.
        let mut created = 0;
        let mut first_err = None;
        let mut start = 0;
        let mut batch = 1;
        while start < n && first_err.is_none() {
            let end = (start + batch).min(n);
            let results = futures::future::join_all(index_list[start..end].iter().map(|ix| {
                let api = api.clone();
                let mut pod = pod_for(job, *ix);
                if let (true, Some(i)) = (per_index, *ix) {
                    let (failures, _) = index_failures(all, i);
                    pod.metadata
                        .annotations
                        .get_or_insert_with(Default::default)
                        .insert(INDEX_FAILURE_COUNT.into(), failures.to_string());
                }
                async move { api.create(&PostParams::default(), &pod).await }
            }))
            .await;
            for r in results {
                match r {
                    Ok(p) => {
                        created += 1;
                        self.events.normal(
                            &**job,
                            "SuccessfulCreate",
                            format!("Created pod: {}", p.metadata.name.unwrap_or_default()),
                        );
                    }
                    Err(e) => {
                        // The informer will never see this pod.
                        self.expectations.creation_observed(key);
                        if is_namespace_terminating(&e) {
                            continue;
                        }
                        self.events
                            .warning(&**job, "FailedCreate", format!("Error creating: {e}"));
                        first_err.get_or_insert(e);
                    }
                }
            }
            start = end;
            batch *= 2;
        }
        let attempted = start.min(n);
        if attempted < n {
            // Skipped after a failed batch: never to be observed.
            self.expectations.lower_creations(key, n - attempted);
        }
        match first_err {
            Some(e) => Err(JobError::Pods(e.to_string())),
            // The new pods count as active at once, as upstream adds the created count
            // to `active` before the informer sees them.
            None => Ok((keep, created, later)),
        }
    }

    /// Upstream `ClaimPods` with the tracking finalizer: owned pods that stopped matching
    /// the selector are released, matching orphans (not being deleted) are adopted — after
    /// re-reading the job, so a job being deleted adopts nothing — and get the finalizer.
    async fn claim_pods(&self, job: &Job, owned: Vec<Arc<Pod>>) -> Result<Vec<Arc<Pod>>, JobError> {
        let Some(selector) = selector_of(job).filter(|s| !s.is_empty()) else {
            return Ok(owned);
        };
        let ns = job.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let empty = BTreeMap::new();
        let mut out = Vec::with_capacity(owned.len());
        for p in owned {
            if selector.matches(p.metadata.labels.as_ref().unwrap_or(&empty)) {
                out.push(p);
                continue;
            }
            let refs: Vec<&OwnerReference> = p
                .metadata
                .owner_references
                .iter()
                .flatten()
                .filter(|r| r.uid != uid)
                .collect();
            let patch = json!({"metadata": {
                "resourceVersion": p.metadata.resource_version,
                "ownerReferences": refs,
            }});
            let name = p.metadata.name.as_deref().unwrap_or_default();
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let orphans: Vec<Arc<Pod>> = self.pod_store.state_filter(|p| {
            p.metadata.namespace.as_deref() == Some(ns)
                && p.metadata.deletion_timestamp.is_none()
                && controller_of(&p.metadata).is_none()
                && selector.matches(p.metadata.labels.as_ref().unwrap_or(&empty))
        });
        if orphans.is_empty() {
            return Ok(out);
        }
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), ns);
        let fresh = jobs
            .get(job.metadata.name.as_deref().unwrap_or_default())
            .await?;
        if fresh.metadata.uid.as_deref() != Some(uid.as_str())
            || fresh.metadata.deletion_timestamp.is_some()
        {
            return Ok(out);
        }
        for p in orphans {
            let mut refs = p.metadata.owner_references.clone().unwrap_or_default();
            refs.push(controller_ref(job));
            let mut finalizers = p.metadata.finalizers.clone().unwrap_or_default();
            if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
                finalizers.push(TRACKING_FINALIZER.to_string());
            }
            let patch = json!({"metadata": {
                "resourceVersion": p.metadata.resource_version,
                "ownerReferences": refs,
                "finalizers": finalizers,
            }});
            let name = p.metadata.name.as_deref().unwrap_or_default();
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(adopted) => out.push(Arc::new(adopted)),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// Deletes pods, keeping the tracking finalizer (upstream `deleteActivePods`).
    async fn delete_pods_keeping_finalizers(
        &self,
        job: &Job,
        key: &str,
        pods: &[Arc<Pod>],
    ) -> Result<(), JobError> {
        self.delete_pods_inner(job, key, pods, false).await
    }

    /// Deletes pods of the job, removing the tracking finalizer first so they are not
    /// counted (upstream `deleteJobPods`).
    async fn delete_pods(&self, job: &Job, key: &str, pods: &[Arc<Pod>]) -> Result<(), JobError> {
        self.delete_pods_inner(job, key, pods, true).await
    }

    async fn delete_pods_inner(
        &self,
        job: &Job,
        key: &str,
        pods: &[Arc<Pod>],
        release: bool,
    ) -> Result<(), JobError> {
        let uids: Vec<String> = pods.iter().filter_map(|p| p.metadata.uid.clone()).collect();
        self.expectations.expect_deletions(key, uids);
        if release {
            self.remove_finalizers(pods).await?;
        }
        let api: Api<Pod> = Api::namespaced(
            self.client.clone(),
            job.metadata.namespace.as_deref().unwrap_or_default(),
        );
        let results = futures::future::join_all(pods.iter().map(|p| {
            let api = api.clone();
            async move {
                let name = p.metadata.name.clone().unwrap_or_default();
                let r = api.delete(&name, &DeleteParams::default()).await;
                (p, name, r)
            }
        }))
        .await;
        let mut errs = Vec::new();
        for (p, name, r) in results {
            match r {
                Ok(_) => {
                    self.events
                        .normal(job, "SuccessfulDelete", format!("Deleted pod: {name}"))
                }
                Err(e) => {
                    self.expectations
                        .deletion_observed(key, p.metadata.uid.as_deref().unwrap_or(""));
                    if !is_not_found(&e) {
                        self.events
                            .warning(job, "FailedDelete", format!("Error deleting: {e}"));
                        errs.push(e.to_string());
                    }
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(JobError::Pods(errs.join("; ")))
        }
    }

    /// Removes the tracking finalizer from these pods; returns the UIDs released (or
    /// already gone). A merge patch with the pod's resourceVersion keeps other finalizers
    /// intact against concurrent writers (a conflict retries the sync).
    async fn remove_finalizers(&self, pods: &[Arc<Pod>]) -> Result<HashSet<String>, JobError> {
        let results =
            futures::future::join_all(pods.iter().filter(|p| has_tracking_finalizer(p)).map(
                |p| async move {
                    let api: Api<Pod> = Api::namespaced(
                        self.client.clone(),
                        p.metadata.namespace.as_deref().unwrap_or_default(),
                    );
                    let rest: Vec<&String> = p
                        .metadata
                        .finalizers
                        .iter()
                        .flatten()
                        .filter(|f| *f != TRACKING_FINALIZER)
                        .collect();
                    let patch = json!({"metadata": {
                        "resourceVersion": p.metadata.resource_version,
                        "finalizers": rest,
                    }});
                    let name = p.metadata.name.as_deref().unwrap_or_default();
                    let r = api
                        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await;
                    (p.metadata.uid.clone().unwrap_or_default(), r)
                },
            ))
            .await;
        let mut done = HashSet::new();
        let mut errs = Vec::new();
        for (uid, r) in results {
            match r {
                Ok(_) => {
                    self.releasing.lock().insert(uid.clone());
                    done.insert(uid);
                }
                Err(e) if is_not_found(&e) => {
                    done.insert(uid);
                }
                Err(e) => errs.push(e.to_string()),
            }
        }
        if errs.is_empty() {
            Ok(done)
        } else {
            Err(JobError::Pods(format!(
                "removing tracking finalizers: {}",
                errs.join("; ")
            )))
        }
    }

    /// The job is gone: free its pods of the tracking finalizer so they can be deleted.
    async fn release_orphans(&self, ns: &str, name: &str) -> Result<(), JobError> {
        let orphans: Vec<Arc<Pod>> = self.pod_store.state_filter(|p| {
            p.metadata.namespace.as_deref() == Some(ns)
                && has_tracking_finalizer(p)
                && job_owner(p).is_some_and(|r| r.name == name)
        });
        let live: BTreeMap<String, ()> = self
            .job_store
            .state()
            .iter()
            .filter(|j| j.metadata.namespace.as_deref() == Some(ns))
            .filter_map(|j| j.metadata.uid.clone().map(|u| (u, ())))
            .collect();
        let orphans: Vec<Arc<Pod>> = orphans
            .into_iter()
            .filter(|p| job_owner(p).is_some_and(|r| !live.contains_key(&r.uid)))
            .collect();
        self.remove_finalizers(&orphans).await.map(|_| ())
    }

    async fn write_status(&self, key: &str, job: &Job, status: JobStatus) -> Result<Job, JobError> {
        let api: Api<Job> = Api::namespaced(
            self.client.clone(),
            job.metadata.namespace.as_deref().unwrap_or_default(),
        );
        let mut next = job.clone();
        next.status = Some(status);
        let stored = api
            .replace_status(
                job.metadata.name.as_deref().unwrap_or_default(),
                &PostParams::default(),
                &next,
            )
            .await?;
        if let Some(rv) = rv_number(&stored.metadata) {
            self.written.lock().insert(key.to_string(), rv);
        }
        Ok(stored)
    }
}

#[cfg(test)]
mod tests;
