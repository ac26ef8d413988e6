//! CronJob controller (upstream pkg/controller/cronjob, `ControllerV2`): creates a Job for
//! each scheduled time of a CronJob and keeps `status.active`, `lastScheduleTime` and
//! `lastSuccessfulTime` current.
//!
//! A sync mirrors upstream `syncCronJob`:
//! - finished jobs leave `status.active` (`SawCompletedJob`), succeeded ones advance
//!   `lastSuccessfulTime`; active references whose job is gone are dropped (`MissingJob`);
//! - nothing more while the CronJob is being deleted, has an unknown `timeZone`
//!   (`UnknownTimeZone`), is suspended, or has an unparseable schedule;
//! - the most recent unmet schedule time after `lastScheduleTime` (or creation, or
//!   `now - startingDeadlineSeconds`) is started unless it is past the starting deadline
//!   (`MissSchedule`), already started, or forbidden by `concurrencyPolicy: Forbid`
//!   (`JobAlreadyActive`); `Replace` deletes the active jobs first. More than 100 missed
//!   times raise `TooManyMissedTimes`;
//! - the Job is named `<cronjob>-<scheduled time in minutes since the epoch>`, so a retry
//!   never starts the same time twice, and annotated with
//!   `batch.kubernetes.io/cronjob-scheduled-timestamp`;
//! - finished jobs beyond `successfulJobsHistoryLimit` / `failedJobsHistoryLimit` are
//!   deleted, oldest first;
//! - the key is requeued 100 ms after the next schedule time.
//!
//! Schedules without `spec.timeZone` are read in UTC (upstream uses the
//! kube-controller-manager's local zone, which is UTC in the usual container image).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::api::{DeleteParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::{controller_of, is_conflict, is_not_found, run_workers, ControllerError, Requeue};
use crate::clock::{Clock, SystemClock};
use crate::cron::{load_zone, Schedule};
use crate::events::EventSink;
use crate::informer::{key_of, split_key, Notification};
use crate::ControllerContext;

/// Controller name used for events.
pub const NAME: &str = "cronjob-controller";
/// Annotation with the scheduled time a job was created for (RFC 3339, in the CronJob's
/// zone).
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// Upstream `nextScheduleDelta`: requeue this long after the next schedule time.
pub const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);

/// Errors of one sync; retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum CronJobError {
    /// an API call failed
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// an active job could not be replaced
    #[error("could not replace job {0}")]
    Replace(String),
}

/// One event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// Reason.
    pub reason: &'static str,
    /// Message.
    pub message: String,
}

/// What a sync should do, decided from the CronJob, its jobs and the time.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    /// The status after bookkeeping (before any job is created).
    pub status: CronJobStatus,
    /// Events to record.
    pub events: Vec<PlannedEvent>,
    /// Active jobs to delete first (`Replace`).
    pub replace: Vec<ObjectReference>,
    /// The scheduled time to start a job for.
    pub start: Option<Timestamp>,
    /// When to look again.
    pub requeue: Option<Duration>,
}

fn event(type_: &'static str, reason: &'static str, message: String) -> PlannedEvent {
    PlannedEvent {
        type_,
        reason,
        message,
    }
}

/// Upstream `IsJobFinished` with the finishing condition type.
fn finished_condition(job: &Job) -> Option<&str> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.as_str())
}

/// The zone a CronJob's schedule is read in; `Err` with the message of an unknown zone.
pub fn zone_of(cj: &CronJob) -> Result<TimeZone, String> {
    match cj.spec.as_ref().and_then(|s| s.time_zone.as_deref()) {
        None => Ok(TimeZone::UTC),
        Some(z) => load_zone(z).map_err(|_| format!("unknown time zone {z}")),
    }
}

/// Upstream `mostRecentScheduleTime`: (earliest time considered, the most recent schedule
/// time in (earliest, now], whether more than 100 were missed).
pub fn most_recent_schedule_time(
    cj: &CronJob,
    now: Timestamp,
    sched: &Schedule,
    include_deadline: bool,
) -> Result<(Timestamp, Option<Timestamp>, bool), String> {
    let mut earliest = cj
        .status
        .as_ref()
        .and_then(|s| s.last_schedule_time.as_ref())
        .or(cj.metadata.creation_timestamp.as_ref())
        .map(|t| t.0)
        .unwrap_or(now);
    if include_deadline {
        if let Some(d) = cj.spec.as_ref().and_then(|s| s.starting_deadline_seconds) {
            let deadline = Timestamp::from_second(now.as_second() - d).unwrap_or(now);
            if deadline > earliest {
                earliest = deadline;
            }
        }
    }
    let too_close = || "time difference between two schedules is less than 1 second".to_string();
    let Some(t1) = sched.next(earliest) else {
        return Err(too_close());
    };
    if now < t1 {
        return Ok((earliest, None, false));
    }
    let Some(t2) = sched.next(t1) else {
        return Err(too_close());
    };
    if now < t2 {
        return Ok((earliest, Some(t1), false));
    }
    let between = t2.as_second() - t1.as_second();
    if between < 1 {
        return Err(too_close());
    }
    let missed = (now.as_second() - t1.as_second()) / between + 1;
    // Start two intervals before the estimate and let the schedule walk forward, as
    // upstream does, so irregular schedules still land on a real activation.
    let from = Timestamp::from_second(t1.as_second() + (missed - 2) * between).unwrap_or(t1);
    let mut most_recent = None;
    let mut t = sched.next(from);
    while let Some(x) = t.filter(|x| *x <= now) {
        most_recent = Some(x);
        t = sched.next(x);
    }
    Ok((earliest, most_recent, missed > 100))
}

/// Upstream `nextScheduleTimeDuration`: how long until 100 ms after the next activation.
pub fn next_schedule_delay(cj: &CronJob, now: Timestamp, sched: &Schedule) -> Option<Duration> {
    let (earliest, recent, _) = most_recent_schedule_time(cj, now, sched, false).ok()?;
    let base = recent.unwrap_or(earliest);
    let next = sched.next(base)?;
    let ms = next.as_millisecond() - now.as_millisecond();
    Some(Duration::from_millis(ms.max(0) as u64) + NEXT_SCHEDULE_DELTA)
}

/// Upstream `getJobName`: `<cronjob>-<minutes since the epoch>`.
pub fn job_name(cj: &CronJob, scheduled: Timestamp) -> String {
    format!(
        "{}-{}",
        cj.metadata.name.as_deref().unwrap_or_default(),
        scheduled.as_second().div_euclid(60)
    )
}

/// RFC 3339 in the zone, with `Z` for a zero offset (Go's `time.RFC3339`).
fn rfc3339(t: Timestamp, tz: &TimeZone) -> String {
    let z = t.to_zoned(tz.clone());
    if z.offset().seconds() == 0 {
        z.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// Upstream `getJobFromTemplate2`: the job template's labels, annotations (plus the
/// scheduled timestamp) and spec, the derived name and the controller reference.
pub fn job_from_template(cj: &CronJob, scheduled: Timestamp) -> Job {
    let spec = cj.spec.clone().unwrap_or_default();
    let tmeta = spec.job_template.metadata.unwrap_or_default();
    let tz = zone_of(cj).unwrap_or(TimeZone::UTC);
    let mut annotations = tmeta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.into(), rfc3339(scheduled, &tz));
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(cj, scheduled)),
            namespace: cj.metadata.namespace.clone(),
            labels: tmeta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "CronJob".into(),
                name: cj.metadata.name.clone().unwrap_or_default(),
                uid: cj.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: spec.job_template.spec,
        status: None,
    }
}

fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// The scheduling decision (the pure part of upstream `syncCronJob`), given the CronJob
/// with missing active jobs already dropped, its jobs, and the time.
pub fn plan(cj: &CronJob, jobs: &[Arc<Job>], now: Timestamp) -> Plan {
    let mut p = Plan {
        status: cj.status.clone().unwrap_or_default(),
        ..Default::default()
    };
    let in_active = |st: &CronJobStatus, uid: &str| {
        st.active
            .iter()
            .flatten()
            .any(|r| r.uid.as_deref() == Some(uid))
    };
    for j in jobs {
        let uid = j.metadata.uid.as_deref().unwrap_or_default();
        let name = j.metadata.name.as_deref().unwrap_or_default();
        let found = in_active(&p.status, uid);
        let finished = finished_condition(j);
        if !found && finished.is_none() {
            p.events.push(event(
                "Warning",
                "UnexpectedJob",
                format!("Saw a job that the controller did not create or forgot: {name}"),
            ));
        } else if let (true, Some(cond)) = (found, finished) {
            if let Some(a) = p.status.active.as_mut() {
                a.retain(|r| r.uid.as_deref() != Some(uid));
            }
            p.events.push(event(
                "Normal",
                "SawCompletedJob",
                format!("Saw completed job: {name}, condition: {cond}"),
            ));
        }
        if finished == Some("Complete") {
            let done = j.status.as_ref().and_then(|s| s.completion_time.clone());
            if let Some(t) = done {
                if p.status
                    .last_successful_time
                    .as_ref()
                    .is_none_or(|l| t.0 > l.0)
                {
                    p.status.last_successful_time = Some(t);
                }
            }
        }
    }
    if p.status.active.as_ref().is_some_and(Vec::is_empty) {
        p.status.active = None;
    }
    if cj.metadata.deletion_timestamp.is_some() {
        return p;
    }
    let spec = cj.spec.clone().unwrap_or_default();
    let tz = match zone_of(cj) {
        Ok(tz) => tz,
        Err(e) => {
            let z = spec.time_zone.clone().unwrap_or_default();
            p.events.push(event(
                "Warning",
                "UnknownTimeZone",
                format!("invalid timeZone: {z:?}: {e}"),
            ));
            return p;
        }
    };
    if spec.suspend == Some(true) {
        return p;
    }
    if spec.schedule.contains("TZ") && spec.time_zone.is_some() {
        p.events.push(event(
            "Warning",
            "UnsupportedSchedule",
            format!("CRON_TZ or TZ used in schedule {:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", spec.schedule),
        ));
    }
    let sched = match Schedule::parse(&spec.schedule, tz.clone()) {
        Ok(s) => s,
        Err(e) => {
            p.events.push(event(
                "Warning",
                "UnparseableSchedule",
                format!("unparseable schedule: {:?} : {e}", spec.schedule),
            ));
            return p;
        }
    };
    let mut decided = cj.clone();
    decided.status = Some(p.status.clone());
    let scheduled = match most_recent_schedule_time(&decided, now, &sched, true) {
        Err(e) => {
            p.events.push(event(
                "Warning",
                "InvalidSchedule",
                format!("invalid schedule: {} : {e}", spec.schedule),
            ));
            return p;
        }
        Ok((_, None, _)) => {
            p.requeue = next_schedule_delay(&decided, now, &sched);
            return p;
        }
        Ok((_, Some(t), many)) => {
            if many {
                p.events.push(event(
                    "Warning",
                    "TooManyMissedTimes",
                    "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew".into(),
                ));
            }
            t
        }
    };
    p.requeue = next_schedule_delay(&decided, now, &sched);
    if let Some(d) = spec.starting_deadline_seconds {
        if scheduled.as_second() + d < now.as_second() {
            p.events.push(event(
                "Warning",
                "MissSchedule",
                format!(
                    "Missed scheduled time to start a job: {}",
                    scheduled
                        .to_zoned(TimeZone::UTC)
                        .strftime("%a, %d %b %Y %H:%M:%S +0000")
                ),
            ));
            return p;
        }
    }
    let name = job_name(cj, scheduled);
    let already = p
        .status
        .active
        .iter()
        .flatten()
        .any(|r| r.name.as_deref() == Some(name.as_str()))
        || p.status
            .last_schedule_time
            .as_ref()
            .is_some_and(|t| t.0 == scheduled);
    if already {
        return p;
    }
    let active = p.status.active.iter().flatten().count();
    match spec.concurrency_policy.as_deref() {
        Some("Forbid") if active > 0 => {
            p.events.push(event(
                "Normal",
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid".into(),
            ));
            return p;
        }
        Some("Replace") => p.replace = p.status.active.clone().unwrap_or_default(),
        _ => {}
    }
    p.start = Some(scheduled);
    p
}

/// Finished jobs to delete beyond the history limits, oldest start first (upstream
/// `cleanupFinishedJobs` / `removeOldestJobs`).
pub fn jobs_to_clean(cj: &CronJob, jobs: &[Arc<Job>]) -> Vec<Arc<Job>> {
    let spec = cj.spec.clone().unwrap_or_default();
    let mut out = Vec::new();
    for (cond, limit) in [
        ("Complete", spec.successful_jobs_history_limit),
        ("Failed", spec.failed_jobs_history_limit),
    ] {
        let Some(limit) = limit else { continue };
        let mut done: Vec<Arc<Job>> = jobs
            .iter()
            .filter(|j| finished_condition(j) == Some(cond))
            .cloned()
            .collect();
        let limit = limit.max(0) as usize;
        if done.len() <= limit {
            continue;
        }
        // Unstarted jobs sort last, then by start time and name.
        done.sort_by_key(|j| {
            let start = j
                .status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| t.0);
            (
                start.is_none(),
                start,
                j.metadata.name.clone().unwrap_or_default(),
            )
        });
        let n = done.len() - limit;
        out.extend(done.into_iter().take(n));
    }
    out
}

/// Shared state of workers and handlers.
#[derive(Clone)]
pub struct CronJobController {
    client: kube::Client,
    cj_store: Store<CronJob>,
    job_store: Store<Job>,
    events: EventSink,
    clock: Arc<dyn Clock>,
}

/// Starts the informers and `--concurrent-cron-job-syncs` workers.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("cronjob");
    let q = queue.clone();
    let cj_informer = ctx.informers.subscribe::<CronJob>(move |n| {
        if let Notification::Added(o) | Notification::Updated { new: o, .. } = n {
            q.add(key_of(o.as_ref()));
        }
    });
    let q = queue.clone();
    let job_informer = ctx.informers.subscribe::<Job>(move |n| {
        let job = n.object();
        if let (Some(r), Some(ns)) = (
            controller_of(&job.metadata).filter(|r| r.kind == "CronJob"),
            job.metadata.namespace.as_deref(),
        ) {
            q.add(format!("{ns}/{}", r.name));
        }
    });
    cj_informer.synced().await;
    job_informer.synced().await;
    let c = CronJobController {
        client: ctx.client.clone(),
        cj_store: cj_informer.store.clone(),
        job_store: job_informer.store.clone(),
        events: EventSink::new(ctx.client.clone(), NAME),
        clock: Arc::new(SystemClock),
    };
    run_workers(
        NAME,
        queue,
        ctx.options.concurrent_cron_job_syncs,
        move |key| {
            let c = c.clone();
            async move { c.sync(&key).await }
        },
    )
    .await;
    drop((cj_informer, job_informer));
    Ok(())
}

impl CronJobController {
    async fn sync(&self, key: &str) -> Result<Requeue, CronJobError> {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let Some(cj) = self.cj_store.get(&ObjectRef::new(name).within(ns)) else {
            return Ok(Requeue::No);
        };
        let uid = cj.metadata.uid.clone().unwrap_or_default();
        let jobs: Vec<Arc<Job>> = self.job_store.state_filter(|j| {
            j.metadata.namespace.as_deref() == Some(ns)
                && controller_of(&j.metadata).is_some_and(|r| r.uid == uid)
        });
        let job_api: Api<Job> = Api::namespaced(self.client.clone(), ns);
        let mut cj_now: CronJob = (*cj).clone();
        // Active references to jobs the informer does not know: ask the apiserver before
        // dropping them, a slow watch may simply not have delivered them yet.
        let mut status = cj_now.status.clone().unwrap_or_default();
        let known: Vec<String> = jobs.iter().filter_map(|j| j.metadata.uid.clone()).collect();
        let mut kept = Vec::new();
        for r in status.active.take().unwrap_or_default() {
            if r.uid.as_ref().is_some_and(|u| known.contains(u)) {
                kept.push(r);
                continue;
            }
            match job_api.get(r.name.as_deref().unwrap_or_default()).await {
                Err(e) if is_not_found(&e) => self.events.normal(
                    &*cj,
                    "MissingJob",
                    format!(
                        "Active job went missing: {}",
                        r.name.as_deref().unwrap_or("")
                    ),
                ),
                Err(e) => return Err(e.into()),
                Ok(_) => kept.push(r),
            }
        }
        status.active = (!kept.is_empty()).then_some(kept);
        cj_now.status = Some(status);

        let now = self.clock.now();
        let p = plan(&cj_now, &jobs, now);
        for e in &p.events {
            if e.type_ == "Warning" {
                self.events.warning(&*cj, e.reason, e.message.clone());
            } else {
                self.events.normal(&*cj, e.reason, e.message.clone());
            }
        }
        let mut status = p.status.clone();
        let mut result: Result<(), CronJobError> = Ok(());
        for r in &p.replace {
            let jname = r.name.clone().unwrap_or_default();
            match job_api.delete(&jname, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    self.events
                        .warning(&*cj, "FailedDelete", format!("Deleted job: {e}"));
                    return Err(CronJobError::Replace(format!("{ns}/{jname}")));
                }
            }
            // Upstream `deleteJob`: delete in the background, drop it from active.
            if let Some(a) = status.active.as_mut() {
                a.retain(|x| x.uid != r.uid);
            }
            self.events
                .normal(&*cj, "SuccessfulDelete", format!("Deleted job {jname}"));
        }
        if let Some(t) = p.start {
            let req = job_from_template(&cj_now, t);
            let jname = req.metadata.name.clone().unwrap_or_default();
            match job_api.create(&PostParams::default(), &req).await {
                Ok(created) => {
                    self.events
                        .normal(&*cj, "SuccessfulCreate", format!("Created job {jname}"));
                    status
                        .active
                        .get_or_insert_with(Vec::new)
                        .push(job_ref(&created));
                    status.last_schedule_time = Some(Time(t));
                }
                Err(e) if is_conflict(&e) => {
                    // Already there: ours (adopt into the status) or someone else's.
                    let existing = job_api.get(&jname).await?;
                    let ours = controller_of(&existing.metadata).is_some_and(|r| r.uid == uid);
                    let listed = status
                        .active
                        .iter()
                        .flatten()
                        .any(|r| r.uid == existing.metadata.uid);
                    if ours && !listed {
                        status
                            .active
                            .get_or_insert_with(Vec::new)
                            .push(job_ref(&existing));
                        status.last_schedule_time = Some(Time(t));
                    }
                }
                Err(e) => {
                    if !super::is_namespace_terminating(&e) {
                        self.events.warning(
                            &*cj,
                            "FailedCreate",
                            format!("Error creating job: {e}"),
                        );
                    }
                    result = Err(e.into());
                }
            }
        }
        // History limits.
        for j in jobs_to_clean(&cj_now, &jobs) {
            let jname = j.metadata.name.clone().unwrap_or_default();
            match job_api.delete(&jname, &DeleteParams::background()).await {
                Ok(_) => {
                    if let Some(a) = status.active.as_mut() {
                        a.retain(|x| x.uid != j.metadata.uid);
                    }
                    self.events
                        .normal(&*cj, "SuccessfulDelete", format!("Deleted job {jname}"));
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    self.events
                        .warning(&*cj, "FailedDelete", format!("Deleted job: {e}"));
                }
            }
        }
        if status.active.as_ref().is_some_and(Vec::is_empty) {
            status.active = None;
        }
        if Some(&status) != cj.status.as_ref() {
            let api: Api<CronJob> = Api::namespaced(self.client.clone(), ns);
            let mut next = (*cj).clone();
            next.status = Some(status);
            api.replace_status(name, &PostParams::default(), &next)
                .await?;
        }
        result?;
        Ok(match p.requeue {
            Some(d) => Requeue::After(d),
            None => Requeue::No,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use jiff::SignedDuration;
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cronjob(extra: serde_json::Value) -> CronJob {
        let mut v = json!({
            "metadata": {"name": "cj", "namespace": "ns", "uid": "cj-uid",
                         "creationTimestamp": "2016-05-19T09:00:00Z"},
            "spec": {"schedule": "0 * * * *", "concurrencyPolicy": "Allow",
                     "jobTemplate": {"metadata": {"labels": {"a": "b"}},
                                     "spec": {"template": {"spec": {"containers": []}}}}},
        });
        merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    fn job(name: &str, uid: &str, cond: Option<&str>) -> Arc<Job> {
        let mut v = json!({"metadata": {"name": name, "namespace": "ns", "uid": uid}});
        if let Some(c) = cond {
            v["status"] = json!({"conditions": [{"type": c, "status": "True"}],
                                 "completionTime": "2016-05-19T09:30:00Z",
                                 "startTime": "2016-05-19T09:00:00Z"});
        }
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn active(name: &str, uid: &str) -> serde_json::Value {
        json!({"kind": "Job", "name": name, "namespace": "ns", "uid": uid})
    }

    fn reasons(p: &Plan) -> Vec<&str> {
        p.events.iter().map(|e| e.reason).collect()
    }

    /// Mirrors upstream TestControllerV2SyncCronJob's table: (name, cronjob overrides,
    /// jobs, now, want start, want event reasons, want replaced count).
    #[test]
    fn plan_table() {
        let on_time = ts("2016-05-19T10:00:00Z");
        let just_after = ts("2016-05-19T10:00:30Z");
        let long_after = ts("2016-05-19T10:30:00Z");
        type Case = (
            &'static str,
            serde_json::Value,
            Vec<Arc<Job>>,
            Timestamp,
            Option<&'static str>,
            Vec<&'static str>,
            usize,
        );
        let cases: Vec<Case> = vec![
            (
                "never ran, not time",
                json!({}),
                vec![],
                ts("2016-05-19T09:59:00Z"),
                None,
                vec![],
                0,
            ),
            (
                "never ran, on time",
                json!({}),
                vec![],
                on_time,
                Some("2016-05-19T10:00:00Z"),
                vec![],
                0,
            ),
            (
                "never ran, late, no deadline",
                json!({}),
                vec![],
                long_after,
                Some("2016-05-19T10:00:00Z"),
                vec![],
                0,
            ),
            (
                "never ran, too late for the deadline",
                json!({"spec": {"startingDeadlineSeconds": 10}}),
                vec![],
                long_after,
                None,
                vec![],
                0,
            ),
            (
                "deadline still open",
                json!({"spec": {"startingDeadlineSeconds": 60}}),
                vec![],
                just_after,
                Some("2016-05-19T10:00:00Z"),
                vec![],
                0,
            ),
            (
                "suspended",
                json!({"spec": {"suspend": true}}),
                vec![],
                on_time,
                None,
                vec![],
                0,
            ),
            (
                "already started this time",
                json!({"status": {"lastScheduleTime": "2016-05-19T10:00:00Z"}}),
                vec![],
                just_after,
                None,
                vec![],
                0,
            ),
            (
                "forbid with an active job",
                json!({"spec": {"concurrencyPolicy": "Forbid"},
                       "status": {"lastScheduleTime": "2016-05-19T09:00:00Z",
                                  "active": [active("cj-27", "j1")]}}),
                vec![job("cj-27", "j1", None)],
                on_time,
                None,
                vec!["JobAlreadyActive"],
                0,
            ),
            (
                "forbid after the active job finished",
                json!({"spec": {"concurrencyPolicy": "Forbid"},
                       "status": {"lastScheduleTime": "2016-05-19T09:00:00Z",
                                  "active": [active("cj-27", "j1")]}}),
                vec![job("cj-27", "j1", Some("Complete"))],
                on_time,
                Some("2016-05-19T10:00:00Z"),
                vec!["SawCompletedJob"],
                0,
            ),
            (
                "replace deletes the active job",
                json!({"spec": {"concurrencyPolicy": "Replace"},
                       "status": {"lastScheduleTime": "2016-05-19T09:00:00Z",
                                  "active": [active("cj-27", "j1")]}}),
                vec![job("cj-27", "j1", None)],
                on_time,
                Some("2016-05-19T10:00:00Z"),
                vec![],
                1,
            ),
            (
                "allow runs alongside",
                json!({"status": {"lastScheduleTime": "2016-05-19T09:00:00Z",
                                  "active": [active("cj-27", "j1")]}}),
                vec![job("cj-27", "j1", None)],
                on_time,
                Some("2016-05-19T10:00:00Z"),
                vec![],
                0,
            ),
            (
                "unexpected job",
                json!({}),
                vec![job("other", "j9", None)],
                ts("2016-05-19T09:30:00Z"),
                None,
                vec!["UnexpectedJob"],
                0,
            ),
            (
                "many missed",
                json!({"metadata": {"creationTimestamp": "2016-01-01T00:00:00Z"}}),
                vec![],
                on_time,
                Some("2016-05-19T10:00:00Z"),
                vec!["TooManyMissedTimes"],
                0,
            ),
            (
                "unknown time zone",
                json!({"spec": {"timeZone": "Mars/Olympus"}}),
                vec![],
                on_time,
                None,
                vec!["UnknownTimeZone"],
                0,
            ),
            (
                "unparseable schedule",
                json!({"spec": {"schedule": "61 * * * *"}}),
                vec![],
                on_time,
                None,
                vec!["UnparseableSchedule"],
                0,
            ),
            (
                "time zone shifts the schedule",
                json!({"spec": {"schedule": "0 12 * * *", "timeZone": "Europe/Berlin"}}),
                vec![],
                ts("2016-05-19T10:00:30Z"),
                Some("2016-05-19T10:00:00Z"),
                vec![],
                0,
            ),
        ];
        for (name, extra, jobs, now, want_start, want_events, want_replace) in cases {
            let cj = cronjob(extra);
            let p = plan(&cj, &jobs, now);
            assert_eq!(p.start, want_start.map(ts), "{name}: start");
            assert_eq!(reasons(&p), want_events, "{name}: events");
            assert_eq!(p.replace.len(), want_replace, "{name}: replace");
        }
    }

    #[test]
    fn missed_schedule_event_with_deadline() {
        let cj = cronjob(json!({"spec": {"startingDeadlineSeconds": 10},
                                "status": {"lastScheduleTime": "2016-05-19T09:00:00Z"}}));
        // The deadline moves the window: 10:00 is more than 10 s ago, so nothing is due
        // and no event; right at 10:00:05 it is due.
        let p = plan(&cj, &[], ts("2016-05-19T10:00:05Z"));
        assert_eq!(p.start, Some(ts("2016-05-19T10:00:00Z")));
        let p = plan(&cj, &[], ts("2016-05-19T10:00:30Z"));
        assert_eq!(p.start, None);
    }

    #[test]
    fn every_minute_with_a_fake_clock() {
        // `*/1 * * * *`: each minute the clock moves, exactly one new time is due, and the
        // requeue lands 100 ms after the next minute.
        let clock = FakeClock::new(ts("2016-05-19T10:00:00Z"));
        let mut cj = cronjob(json!({"spec": {"schedule": "*/1 * * * *"},
                                    "metadata": {"creationTimestamp": "2016-05-19T09:59:30Z"}}));
        let mut started = Vec::new();
        for _ in 0..3 {
            let p = plan(&cj, &[], clock.now());
            let t = p.start.expect("due");
            started.push(job_name(&cj, t));
            assert_eq!(
                p.requeue,
                Some(Duration::from_secs(60) + NEXT_SCHEDULE_DELTA),
                "requeue"
            );
            let mut st = p.status.clone();
            st.last_schedule_time = Some(Time(t));
            cj.status = Some(st);
            // Nothing more is due within the same minute.
            clock.step(SignedDuration::from_secs(30));
            assert_eq!(plan(&cj, &[], clock.now()).start, None);
            clock.step(SignedDuration::from_secs(30));
        }
        assert_eq!(started, vec!["cj-24394200", "cj-24394201", "cj-24394202"]);
    }

    #[test]
    fn job_template_copy() {
        let cj = cronjob(json!({"spec": {"timeZone": "Europe/Berlin"}}));
        let j = job_from_template(&cj, ts("2016-05-19T10:00:00Z"));
        assert_eq!(j.metadata.name.as_deref(), Some("cj-24394200"));
        assert_eq!(j.metadata.labels.unwrap()["a"], "b");
        assert_eq!(
            j.metadata.annotations.unwrap()[SCHEDULED_TIMESTAMP],
            "2016-05-19T12:00:00+02:00"
        );
        let r = &j.metadata.owner_references.unwrap()[0];
        assert_eq!((r.kind.as_str(), r.controller), ("CronJob", Some(true)));
        let utc = job_from_template(&cronjob(json!({})), ts("2016-05-19T10:00:00Z"));
        assert_eq!(
            utc.metadata.annotations.unwrap()[SCHEDULED_TIMESTAMP],
            "2016-05-19T10:00:00Z"
        );
    }

    #[test]
    fn history_limits() {
        let cj = cronjob(
            json!({"spec": {"successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 0}}),
        );
        let mut a = (*job("a", "1", Some("Complete"))).clone();
        a.status.as_mut().unwrap().start_time = Some(Time(ts("2016-05-19T08:00:00Z")));
        let jobs = vec![
            Arc::new(a),
            job("b", "2", Some("Complete")),
            job("c", "3", Some("Failed")),
            job("d", "4", None),
        ];
        let names: Vec<String> = jobs_to_clean(&cj, &jobs)
            .iter()
            .map(|j| j.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, vec!["a", "c"]);
    }
}
