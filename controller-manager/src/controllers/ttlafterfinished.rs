//! TTL-after-finished controller (upstream pkg/controller/ttlafterfinished): deletes a
//! finished Job (`Complete` or `Failed`) once `spec.ttlSecondsAfterFinished` seconds have
//! passed since that condition's `lastTransitionTime`.
//!
//! As upstream `processJob`: the cached Job decides whether to wait (the key is requeued
//! for the time left); before deleting, the Job is read fresh from the apiserver and the
//! TTL checked again (it may have been changed), and the delete carries a UID
//! precondition. Upstream deletes with `propagationPolicy: Foreground`, so the Job is gone
//! only after its pods; that is kept here.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::{DeleteParams, Preconditions, PropagationPolicy};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;

use jiff::Timestamp;

use super::{is_not_found, run_workers, ControllerError, Requeue};
use crate::clock::{Clock, SystemClock};
use crate::informer::{key_of, split_key, Notification};
use crate::ControllerContext;

/// Controller name.
pub const NAME: &str = "ttl-after-finished-controller";

/// Errors of one sync; retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum TtlError {
    /// an API call failed
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// the finished condition has no transition time
    #[error("unable to find the time when the Job {0} finished")]
    NoFinishTime(String),
}

/// Upstream `needsCleanup`: a TTL is set and the job finished.
pub fn needs_cleanup(job: &Job) -> bool {
    job.spec
        .as_ref()
        .is_some_and(|s| s.ttl_seconds_after_finished.is_some())
        && finish_time(job).is_some()
}

/// The `lastTransitionTime` of the True Complete/Failed condition; `Some(None)` when that
/// condition has no time, `None` when the job is not finished.
fn finish_time(job: &Job) -> Option<Option<Timestamp>> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.last_transition_time.as_ref().map(|t| t.0))
}

/// How long until the job expires (zero or less: expired); `Ok(None)` when it needs no
/// cleanup or is already being deleted (upstream `processTTL` / `timeLeft`).
pub fn time_left(job: &Job, now: Timestamp) -> Result<Option<i64>, TtlError> {
    if job.metadata.deletion_timestamp.is_some() || !needs_cleanup(job) {
        return Ok(None);
    }
    let ttl = job
        .spec
        .as_ref()
        .and_then(|s| s.ttl_seconds_after_finished)
        .unwrap_or(0);
    let finished = finish_time(job)
        .flatten()
        .ok_or_else(|| TtlError::NoFinishTime(key_of(job)))?;
    let expire_ms = finished.as_millisecond() + i64::from(ttl) * 1000;
    Ok(Some(expire_ms - now.as_millisecond()))
}

/// Shared state of the workers.
#[derive(Clone)]
pub struct TtlAfterFinishedController {
    client: kube::Client,
    store: Store<Job>,
    clock: Arc<dyn Clock>,
}

/// Starts the job informer and `--concurrent-ttl-after-finished-syncs` workers.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("ttl_jobs_to_delete");
    let q = queue.clone();
    let informer = ctx.informers.subscribe::<Job>(move |n| {
        if let Notification::Added(j) | Notification::Updated { new: j, .. } = n {
            if j.metadata.deletion_timestamp.is_none() && needs_cleanup(&j) {
                q.add(key_of(j.as_ref()));
            }
        }
    });
    informer.synced().await;
    let c = TtlAfterFinishedController {
        client: ctx.client.clone(),
        store: informer.store.clone(),
        clock: Arc::new(SystemClock),
    };
    run_workers(
        NAME,
        queue,
        ctx.options.concurrent_ttl_after_finished_syncs,
        move |key| {
            let c = c.clone();
            async move { c.sync(&key).await }
        },
    )
    .await;
    drop(informer);
    Ok(())
}

fn requeue_for(left_ms: i64) -> Requeue {
    Requeue::After(Duration::from_millis(left_ms.max(1) as u64))
}

impl TtlAfterFinishedController {
    async fn sync(&self, key: &str) -> Result<Requeue, TtlError> {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let Some(job) = self.store.get(&ObjectRef::new(name).within(ns)) else {
            return Ok(Requeue::No);
        };
        match time_left(&job, self.clock.now())? {
            None => return Ok(Requeue::No),
            Some(left) if left > 0 => return Ok(requeue_for(left)),
            Some(_) => {}
        }
        // The cached TTL may be stale: decide again on the fresh object.
        let api: Api<Job> = Api::namespaced(self.client.clone(), ns);
        let fresh = match api.get(name).await {
            Ok(j) => j,
            Err(e) if is_not_found(&e) => return Ok(Requeue::No),
            Err(e) => return Err(e.into()),
        };
        match time_left(&fresh, self.clock.now())? {
            None => return Ok(Requeue::No),
            Some(left) if left > 0 => return Ok(requeue_for(left)),
            Some(_) => {}
        }
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            preconditions: Some(Preconditions {
                uid: fresh.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        tracing::debug!(key, "cleaning up finished job");
        match api.delete(name, &dp).await {
            Ok(_) => Ok(Requeue::No),
            Err(e) if is_not_found(&e) => Ok(Requeue::No),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(ttl: Option<i32>, cond: Option<(&str, &str)>, deleting: bool) -> Job {
        let mut v = json!({"metadata": {"name": "j", "namespace": "ns"}, "spec": {"template": {}}});
        if let Some(t) = ttl {
            v["spec"]["ttlSecondsAfterFinished"] = json!(t);
        }
        if let Some((ty, st)) = cond {
            v["status"] = json!({"conditions": [{"type": ty, "status": st,
                "lastTransitionTime": "2020-01-01T00:00:00Z"}]});
        }
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2020-01-01T00:00:01Z");
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn time_left_table() {
        let now: Timestamp = "2020-01-01T00:00:10Z".parse().unwrap();
        let cases = [
            ("no ttl", job(None, Some(("Complete", "True")), false), None),
            ("not finished", job(Some(5), None, false), None),
            (
                "condition false",
                job(Some(5), Some(("Failed", "False")), false),
                None,
            ),
            (
                "being deleted",
                job(Some(0), Some(("Complete", "True")), true),
                None,
            ),
            (
                "expired",
                job(Some(5), Some(("Complete", "True")), false),
                Some(-5000),
            ),
            (
                "failed, waiting",
                job(Some(100), Some(("Failed", "True")), false),
                Some(90_000),
            ),
            (
                "ttl zero",
                job(Some(0), Some(("Complete", "True")), false),
                Some(-10_000),
            ),
        ];
        for (name, j, want) in cases {
            assert_eq!(time_left(&j, now).unwrap(), want, "{name}");
        }
    }
}
