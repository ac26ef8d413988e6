//! CronJob controller against a real apiserver; cases follow the sig-apps CronJob
//! conformance descriptions (schedule jobs, Forbid and Replace concurrency, history). No
//! test waits for a wall-clock minute: each CronJob starts suspended with a
//! `lastScheduleTime` a few minutes back, so on resume the latest `*/1` time is already
//! due (the timing itself is unit-tested with a fake clock).

use crate::common::{kubelet_finishes_pod, wait_for, Cluster};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

fn cronjob(name: &str, policy: &str) -> CronJob {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "schedule": "*/1 * * * *",
            "suspend": true,
            "concurrencyPolicy": policy,
            "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure",
                "containers": [{"name": "c", "image": "registry.k8s.io/e2e-test-images/busybox:1.36"}]
            }}}}
        }
    }))
    .unwrap()
}

/// Sets `lastScheduleTime` five minutes back (and optionally an active job), then resumes.
async fn make_due(cjs: &Api<CronJob>, name: &str, active: Option<&Job>) {
    let back = Timestamp::now() - SignedDuration::from_mins(5);
    let mut status = json!({"lastScheduleTime": back.to_string()});
    if let Some(j) = active {
        status["active"] = json!([{"kind": "Job", "apiVersion": "batch/v1",
            "name": j.metadata.name, "namespace": j.metadata.namespace, "uid": j.metadata.uid}]);
    }
    cjs.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": status})),
    )
    .await
    .unwrap();
    cjs.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"suspend": false}})),
    )
    .await
    .unwrap();
}

/// A job owned by the CronJob, as if an earlier run had made it (nothing runs it: the job
/// controller is off in these tests).
async fn earlier_job(jobs: &Api<Job>, cj: &CronJob) -> Job {
    let j: Job = serde_json::from_value(json!({
        "metadata": {"name": format!("{}-1", cj.metadata.name.as_deref().unwrap()),
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                "name": cj.metadata.name, "uid": cj.metadata.uid, "controller": true}]},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &j).await.unwrap()
}

async fn scheduled_jobs(jobs: &Api<Job>, cj: &str) -> Vec<Job> {
    jobs.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|j| {
            j.metadata.deletion_timestamp.is_none()
                && j.metadata
                    .name
                    .as_deref()
                    .unwrap()
                    .starts_with(&format!("{cj}-"))
                && j.metadata.name.as_deref() != Some(&format!("{cj}-1"))
        })
        .collect()
}

async fn has_event(client: &kube::Client, ns: &str, reason: &str) -> bool {
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .any(|e| e.reason.as_deref() == Some(reason))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjob_schedules_a_job_that_runs_to_completion() {
    let cluster = Cluster::start("cronjob,job").await;
    let ns = "cj-basic";
    cluster.namespace(ns).await;
    let cjs: Api<CronJob> = Api::namespaced(cluster.client.clone(), ns);
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let cj = cjs
        .create(&PostParams::default(), &cronjob("every", "Allow"))
        .await
        .unwrap();
    make_due(&cjs, "every", None).await;

    let j = wait_for("a scheduled job", 20, || async {
        scheduled_jobs(&jobs, "every").await.into_iter().next()
    })
    .await;
    // Named after the scheduled minute, annotated with it, owned by the CronJob.
    let minutes: i64 = j.metadata.name.as_deref().unwrap()["every-".len()..]
        .parse()
        .unwrap();
    let stamp = &j.metadata.annotations.as_ref().unwrap()
        ["batch.kubernetes.io/cronjob-scheduled-timestamp"];
    let at: Timestamp = stamp.parse().unwrap();
    assert_eq!(at.as_second(), minutes * 60);
    assert!(stamp.ends_with('Z'));
    assert!((Timestamp::now().as_second() - at.as_second()) < 120);
    let r = &j.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (r.kind.as_str(), r.uid.as_str(), r.controller),
        ("CronJob", cj.metadata.uid.as_deref().unwrap(), Some(true))
    );
    let st = wait_for("status.active", 20, || async {
        let st = cjs.get("every").await.ok()?.status?;
        (st.active.as_ref()?.len() == 1).then_some(st)
    })
    .await;
    assert_eq!(st.active.unwrap()[0].name, j.metadata.name);
    assert_eq!(st.last_schedule_time.unwrap().0, at);
    assert!(has_event(&cluster.client, ns, "SuccessfulCreate").await);

    // The job's pod succeeds: the job completes and leaves status.active.
    let pod = wait_for("the job's pod", 20, || async {
        pods.list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .next()
    })
    .await;
    kubelet_finishes_pod(
        &cluster.client,
        ns,
        pod.metadata.name.as_deref().unwrap(),
        0,
        &[],
    )
    .await;
    let st = wait_for("completed job seen", 30, || async {
        let st = cjs.get("every").await.ok()?.status?;
        (st.active.is_none() && st.last_successful_time.is_some()).then_some(st)
    })
    .await;
    assert!(st.last_successful_time.is_some());
    wait_for("SawCompletedJob event", 10, || async {
        has_event(&cluster.client, ns, "SawCompletedJob")
            .await
            .then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbid_skips_while_a_job_runs() {
    let cluster = Cluster::start("cronjob").await;
    let ns = "cj-forbid";
    cluster.namespace(ns).await;
    let cjs: Api<CronJob> = Api::namespaced(cluster.client.clone(), ns);
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let cj = cjs
        .create(&PostParams::default(), &cronjob("forbid", "Forbid"))
        .await
        .unwrap();
    let running = earlier_job(&jobs, &cj).await;
    make_due(&cjs, "forbid", Some(&running)).await;
    wait_for("JobAlreadyActive event", 20, || async {
        has_event(&cluster.client, ns, "JobAlreadyActive")
            .await
            .then_some(())
    })
    .await;
    assert!(scheduled_jobs(&jobs, "forbid").await.is_empty());

    // Once the running job finishes, the due time starts.
    let done = json!({"status": {"startTime": Timestamp::now().to_string(),
        "completionTime": Timestamp::now().to_string(), "succeeded": 1,
        "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}});
    jobs.patch_status("forbid-1", &PatchParams::default(), &Patch::Merge(&done))
        .await
        .unwrap();
    wait_for("a new job after the old one finished", 20, || async {
        (scheduled_jobs(&jobs, "forbid").await.len() == 1).then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_deletes_the_running_job() {
    let cluster = Cluster::start("cronjob").await;
    let ns = "cj-replace";
    cluster.namespace(ns).await;
    let cjs: Api<CronJob> = Api::namespaced(cluster.client.clone(), ns);
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let cj = cjs
        .create(&PostParams::default(), &cronjob("replace", "Replace"))
        .await
        .unwrap();
    let running = earlier_job(&jobs, &cj).await;
    make_due(&cjs, "replace", Some(&running)).await;
    let new = wait_for("the replacing job", 20, || async {
        scheduled_jobs(&jobs, "replace").await.into_iter().next()
    })
    .await;
    wait_for("old job deleted", 20, || async {
        match jobs.get("replace-1").await {
            Err(kube::Error::Api(s)) if s.code == 404 => Some(()),
            Ok(j) if j.metadata.deletion_timestamp.is_some() => Some(()),
            _ => None,
        }
    })
    .await;
    let st = wait_for("only the new job active", 20, || async {
        let st = cjs.get("replace").await.ok()?.status?;
        let a = st.active.clone()?;
        (a.len() == 1 && a[0].name == new.metadata.name).then_some(st)
    })
    .await;
    assert!(st.last_schedule_time.is_some());
    cluster.stop().await;
}
