//! Job and ttl-after-finished controllers against a real apiserver; cases follow the
//! sig-apps Job conformance descriptions (run to completion, backoffLimit, Indexed
//! completion indexes, suspend/resume, podFailurePolicy, active deadline, TTL deletion).
//! There is no kubelet: `kubelet_finishes_pod` reports pods Succeeded or Failed.

use crate::common::{kubelet_finishes_pod, kubelet_marks_running_ready, wait_for, Cluster};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

const TRACKING: &str = "batch.kubernetes.io/job-tracking";

fn job(name: &str, spec: serde_json::Value) -> Job {
    let mut s = json!({
        "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "registry.k8s.io/e2e-test-images/busybox:1.36"}]}}
    });
    if let serde_json::Value::Object(extra) = spec {
        for (k, v) in extra {
            s[k] = v;
        }
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": s})).unwrap()
}

async fn job_pods(pods: &Api<Pod>, job: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
        .await
        .unwrap()
        .items
}

fn running(ps: Vec<Pod>) -> Vec<Pod> {
    ps.into_iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && !matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded" | "Failed")
                )
        })
        .collect()
}

fn condition(j: &Job, type_: &str) -> Option<(String, String, String)> {
    j.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

async fn wait_condition(jobs: &Api<Job>, name: &str, type_: &str, secs: u64) -> Job {
    wait_for(&format!("job {name} condition {type_}"), secs, || async {
        let j = jobs.get(name).await.ok()?;
        condition(&j, type_)
            .filter(|(s, _, _)| s == "True")
            .map(|_| j)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_runs_to_completion() {
    let cluster = Cluster::start("job").await;
    let ns = "job-complete";
    cluster.namespace(ns).await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let created = jobs
        .create(
            &PostParams::default(),
            &job("pi", json!({"completions": 3, "parallelism": 2})),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();

    // parallelism 2: two pods at a time; each finishes, until three succeeded.
    let first = wait_for("2 active pods", 20, || async {
        let ps = running(job_pods(&pods, "pi").await);
        (ps.len() == 2).then_some(ps)
    })
    .await;
    for p in &first {
        let m = &p.metadata;
        assert!(m.name.as_deref().unwrap().starts_with("pi-"));
        let labels = m.labels.as_ref().unwrap();
        assert_eq!(labels["batch.kubernetes.io/controller-uid"], uid);
        assert_eq!(labels["controller-uid"], uid);
        assert_eq!(labels["job-name"], "pi");
        assert!(m.finalizers.as_ref().unwrap().iter().any(|f| f == TRACKING));
        let r = &m.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (r.kind.as_str(), r.uid.as_str(), r.controller),
            ("Job", uid.as_str(), Some(true))
        );
    }
    kubelet_marks_running_ready(
        &cluster.client,
        ns,
        first[0].metadata.name.as_deref().unwrap(),
    )
    .await;
    wait_for("ready 1", 20, || async {
        let s = jobs.get("pi").await.ok()?.status?;
        (s.ready == Some(1) && s.active == Some(2)).then_some(())
    })
    .await;
    let mut finished = 0;
    while finished < 3 {
        let ps = wait_for("an active pod", 20, || async {
            let ps = running(job_pods(&pods, "pi").await);
            (!ps.is_empty()).then_some(ps)
        })
        .await;
        for p in ps.iter().take(3 - finished) {
            kubelet_finishes_pod(
                &cluster.client,
                ns,
                p.metadata.name.as_deref().unwrap(),
                0,
                &[],
            )
            .await;
            finished += 1;
        }
    }
    let done = wait_condition(&jobs, "pi", "Complete", 20).await;
    let s = done.status.clone().unwrap();
    assert_eq!(s.succeeded, Some(3));
    assert_eq!(s.failed.unwrap_or(0), 0);
    assert_eq!(s.active.unwrap_or(0), 0);
    assert!(s.completion_time.is_some() && s.start_time.is_some());
    let (_, reason, _) = condition(&done, "SuccessCriteriaMet").unwrap();
    assert_eq!(reason, "CompletionsReached");
    // Every pod was counted once and released from the tracking finalizer.
    let ps = job_pods(&pods, "pi").await;
    assert_eq!(ps.len(), 3, "no extra pods were created");
    for p in ps {
        assert!(!p
            .metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .any(|f| f == TRACKING));
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_pods_exceed_backoff_limit() {
    let cluster = Cluster::start("job").await;
    let ns = "job-backoff";
    cluster.namespace(ns).await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    jobs.create(
        &PostParams::default(),
        &job(
            "fail",
            json!({"backoffLimit": 0, "completions": 2, "parallelism": 2}),
        ),
    )
    .await
    .unwrap();
    let ps = wait_for("2 pods", 20, || async {
        let ps = running(job_pods(&pods, "fail").await);
        (ps.len() == 2).then_some(ps)
    })
    .await;
    kubelet_finishes_pod(
        &cluster.client,
        ns,
        ps[0].metadata.name.as_deref().unwrap(),
        1,
        &[],
    )
    .await;
    let failed = wait_condition(&jobs, "fail", "Failed", 20).await;
    let (_, reason, message) = condition(&failed, "Failed").unwrap();
    assert_eq!(reason, "BackoffLimitExceeded");
    assert_eq!(message, "Job has reached the specified backoff limit");
    assert!(condition(&failed, "FailureTarget").is_some());
    let s = failed.status.unwrap();
    // The failed pod, and the running one deleted on failure (as upstream counts it).
    assert_eq!(s.failed, Some(2));
    assert_eq!(s.active.unwrap_or(0), 0);
    assert!(s.completion_time.is_none());
    // The other pod was deleted, and no replacement was made.
    wait_for("other pod gone", 20, || async {
        running(job_pods(&pods, "fail").await)
            .is_empty()
            .then_some(())
    })
    .await;
    assert_eq!(job_pods(&pods, "fail").await.len(), 1);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_job_completion_indexes() {
    let cluster = Cluster::start("job").await;
    let ns = "job-indexed";
    cluster.namespace(ns).await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    jobs.create(
        &PostParams::default(),
        &job(
            "ix",
            json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed"}),
        ),
    )
    .await
    .unwrap();
    let ps = wait_for("3 indexed pods", 20, || async {
        let ps = running(job_pods(&pods, "ix").await);
        (ps.len() == 3).then_some(ps)
    })
    .await;
    let mut seen = Vec::new();
    for p in &ps {
        let ann = p.metadata.annotations.as_ref().unwrap();
        let ix = ann["batch.kubernetes.io/job-completion-index"].clone();
        assert_eq!(
            p.metadata.labels.as_ref().unwrap()["batch.kubernetes.io/job-completion-index"],
            ix
        );
        assert!(p
            .metadata
            .name
            .as_deref()
            .unwrap()
            .starts_with(&format!("ix-{ix}-")));
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some(format!("ix-{ix}").as_str()));
        let env = spec.containers[0].env.as_ref().unwrap();
        assert!(env.iter().any(|e| e.name == "JOB_COMPLETION_INDEX"));
        seen.push(ix);
    }
    seen.sort();
    assert_eq!(seen, vec!["0", "1", "2"]);

    // Index 1 succeeds first: completedIndexes says so.
    let by_ix = |ix: &str| {
        ps.iter()
            .find(|p| {
                p.metadata.annotations.as_ref().unwrap()["batch.kubernetes.io/job-completion-index"]
                    == ix
            })
            .unwrap()
            .metadata
            .name
            .clone()
            .unwrap()
    };
    kubelet_finishes_pod(&cluster.client, ns, &by_ix("1"), 0, &[]).await;
    wait_for("completedIndexes 1", 20, || async {
        let s = jobs.get("ix").await.ok()?.status?;
        (s.completed_indexes.as_deref() == Some("1") && s.succeeded == Some(1)).then_some(())
    })
    .await;
    // Index 0 fails and is retried with a new pod for the same index.
    kubelet_finishes_pod(&cluster.client, ns, &by_ix("0"), 1, &[]).await;
    let retry = wait_for("replacement for index 0", 30, || async {
        running(job_pods(&pods, "ix").await).into_iter().find(|p| {
            p.metadata.annotations.as_ref().unwrap()["batch.kubernetes.io/job-completion-index"]
                == "0"
        })
    })
    .await;
    kubelet_finishes_pod(
        &cluster.client,
        ns,
        retry.metadata.name.as_deref().unwrap(),
        0,
        &[],
    )
    .await;
    kubelet_finishes_pod(&cluster.client, ns, &by_ix("2"), 0, &[]).await;
    let done = wait_condition(&jobs, "ix", "Complete", 20).await;
    let s = done.status.unwrap();
    assert_eq!(s.completed_indexes.as_deref(), Some("0-2"));
    assert_eq!(s.succeeded, Some(3));
    assert_eq!(s.failed, Some(1));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_and_resume() {
    let cluster = Cluster::start("job").await;
    let ns = "job-suspend";
    cluster.namespace(ns).await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    jobs.create(
        &PostParams::default(),
        &job(
            "s",
            json!({"suspend": true, "parallelism": 2, "completions": 4}),
        ),
    )
    .await
    .unwrap();
    let j = wait_condition(&jobs, "s", "Suspended", 20).await;
    let (_, reason, message) = condition(&j, "Suspended").unwrap();
    assert_eq!(
        (reason.as_str(), message.as_str()),
        ("JobSuspended", "Job suspended")
    );
    assert!(j.status.as_ref().unwrap().start_time.is_none());
    assert!(job_pods(&pods, "s").await.is_empty());

    let resume = json!({"spec": {"suspend": false}});
    jobs.patch("s", &PatchParams::default(), &Patch::Merge(&resume))
        .await
        .unwrap();
    wait_for("2 pods after resume", 20, || async {
        (running(job_pods(&pods, "s").await).len() == 2).then_some(())
    })
    .await;
    let j = wait_for("resumed condition", 20, || async {
        let j = jobs.get("s").await.ok()?;
        let (status, reason, _) = condition(&j, "Suspended")?;
        (status == "False" && reason == "JobResumed").then_some(j)
    })
    .await;
    assert!(j.status.unwrap().start_time.is_some());

    let suspend = json!({"spec": {"suspend": true}});
    jobs.patch("s", &PatchParams::default(), &Patch::Merge(&suspend))
        .await
        .unwrap();
    wait_for("pods deleted on suspend", 20, || async {
        job_pods(&pods, "s").await.is_empty().then_some(())
    })
    .await;
    let j = wait_for("suspended with no active pods", 20, || async {
        let j = jobs.get("s").await.ok()?;
        let s = j.status.clone()?;
        (condition(&j, "Suspended")?.0 == "True" && s.active.unwrap_or(0) == 0).then_some(j)
    })
    .await;
    let s = j.status.unwrap();
    assert_eq!(s.failed.unwrap_or(0), 0, "deleted pods are not failures");
    assert!(s.start_time.is_none());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_failure_policy_fail_job_and_ignore() {
    let cluster = Cluster::start("job").await;
    let ns = "job-pfp";
    cluster.namespace(ns).await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    jobs.create(
        &PostParams::default(),
        &job(
            "pfp",
            json!({"backoffLimit": 6, "podFailurePolicy": {"rules": [
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In", "values": [42]}}
            ]}}),
        ),
    )
    .await
    .unwrap();
    let first = wait_for("a pod", 20, || async {
        running(job_pods(&pods, "pfp").await).into_iter().next()
    })
    .await;
    let first_name = first.metadata.name.clone().unwrap();
    // A disrupted pod is ignored: not counted, replaced at once (no backoff).
    kubelet_finishes_pod(
        &cluster.client,
        ns,
        &first_name,
        137,
        &[json!({"type": "DisruptionTarget", "status": "True"})],
    )
    .await;
    let second = wait_for("a replacement pod", 20, || async {
        running(job_pods(&pods, "pfp").await)
            .into_iter()
            .find(|p| p.metadata.name.as_deref() != Some(first_name.as_str()))
    })
    .await;
    let s = jobs.get("pfp").await.unwrap().status.unwrap();
    assert_eq!(s.failed.unwrap_or(0), 0, "ignored failure not counted");
    // Exit code 42 fails the job whatever backoffLimit says.
    let second_name = second.metadata.name.clone().unwrap();
    kubelet_finishes_pod(&cluster.client, ns, &second_name, 42, &[]).await;
    let failed = wait_condition(&jobs, "pfp", "Failed", 20).await;
    let (_, reason, message) = condition(&failed, "Failed").unwrap();
    assert_eq!(reason, "PodFailurePolicy");
    assert_eq!(
        message,
        format!("Container c for pod {ns}/{second_name} failed with exit code 42 matching FailJob rule at index 1")
    );
    assert_eq!(failed.status.unwrap().failed, Some(1));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_deadline_fails_the_job() {
    let cluster = Cluster::start("job").await;
    let ns = "job-deadline";
    cluster.namespace(ns).await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    jobs.create(
        &PostParams::default(),
        &job("dl", json!({"activeDeadlineSeconds": 2})),
    )
    .await
    .unwrap();
    let failed = wait_condition(&jobs, "dl", "Failed", 20).await;
    let (_, reason, message) = condition(&failed, "Failed").unwrap();
    assert_eq!(reason, "DeadlineExceeded");
    assert_eq!(message, "Job was active longer than specified deadline");
    assert_eq!(
        failed.status.unwrap().failed,
        Some(1),
        "the deleted pod counts"
    );
    wait_for("pods deleted", 20, || async {
        job_pods(&pods, "dl").await.is_empty().then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_job_is_deleted_after_ttl() {
    let cluster = Cluster::start("job,ttl-after-finished,garbagecollector").await;
    let ns = "job-ttl";
    cluster.namespace(ns).await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    jobs.create(
        &PostParams::default(),
        &job("ttl", json!({"ttlSecondsAfterFinished": 1})),
    )
    .await
    .unwrap();
    let p = wait_for("a pod", 20, || async {
        running(job_pods(&pods, "ttl").await).into_iter().next()
    })
    .await;
    kubelet_finishes_pod(
        &cluster.client,
        ns,
        p.metadata.name.as_deref().unwrap(),
        0,
        &[],
    )
    .await;
    wait_condition(&jobs, "ttl", "Complete", 20).await;
    // Deleted with its pods once the TTL has passed.
    wait_for("job deleted", 30, || async {
        match jobs.get("ttl").await {
            Err(kube::Error::Api(s)) if s.code == 404 => Some(()),
            _ => None,
        }
    })
    .await;
    wait_for("pods deleted", 30, || async {
        job_pods(&pods, "ttl").await.is_empty().then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_limit_per_index_fails_indexes() {
    let cluster = Cluster::start("job").await;
    let ns = "job-per-index";
    cluster.namespace(ns).await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    jobs.create(
        &PostParams::default(),
        &job(
            "pi",
            json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed",
                   "backoffLimitPerIndex": 0}),
        ),
    )
    .await
    .unwrap();
    let ps = wait_for("3 indexed pods", 20, || async {
        let ps = running(job_pods(&pods, "pi").await);
        (ps.len() == 3).then_some(ps)
    })
    .await;
    for p in &ps {
        let ann = p.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann["batch.kubernetes.io/job-index-failure-count"], "0");
        let ix = &ann["batch.kubernetes.io/job-completion-index"];
        let code = if ix == "1" { 3 } else { 0 };
        kubelet_finishes_pod(
            &cluster.client,
            ns,
            p.metadata.name.as_deref().unwrap(),
            code,
            &[],
        )
        .await;
    }
    let failed = wait_condition(&jobs, "pi", "Failed", 20).await;
    let (_, reason, message) = condition(&failed, "Failed").unwrap();
    assert_eq!(
        (reason.as_str(), message.as_str()),
        ("FailedIndexes", "Job has failed indexes")
    );
    let s = failed.status.unwrap();
    assert_eq!(s.failed_indexes.as_deref(), Some("1"));
    assert_eq!(s.completed_indexes.as_deref(), Some("0,2"));
    assert_eq!((s.succeeded, s.failed), (Some(2), Some(1)));
    assert_eq!(
        job_pods(&pods, "pi").await.len(),
        3,
        "the failed index was not retried"
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopts_matching_orphans_and_releases_non_matching_pods() {
    let cluster = Cluster::start("job").await;
    let ns = "job-adopt";
    cluster.namespace(ns).await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let j = jobs
        .create(
            &PostParams::default(),
            &job("adopt", json!({"parallelism": 2, "completions": 4})),
        )
        .await
        .unwrap();
    let uid = j.metadata.uid.unwrap();
    let ps = wait_for("2 pods", 20, || async {
        let ps = running(job_pods(&pods, "adopt").await);
        (ps.len() == 2).then_some(ps)
    })
    .await;
    let owned_by_job = |p: &Pod| {
        p.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|r| r.uid == uid && r.controller == Some(true))
    };

    // Orphan a pod: the job adopts it back.
    let orphan = ps[0].metadata.name.clone().unwrap();
    pods.patch(
        &orphan,
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"ownerReferences": null}})),
    )
    .await
    .unwrap();
    wait_for("orphan re-adopted", 20, || async {
        let p = pods.get(&orphan).await.ok()?;
        owned_by_job(&p).then_some(())
    })
    .await;

    // Change a pod's labels so the selector no longer matches: the job releases it.
    let released = ps[1].metadata.name.clone().unwrap();
    pods.patch(
        &released,
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"labels": {
            "batch.kubernetes.io/controller-uid": null, "controller-uid": null}}})),
    )
    .await
    .unwrap();
    wait_for("pod released", 20, || async {
        let p = pods.get(&released).await.ok()?;
        (!owned_by_job(&p)).then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_index_rule_fails_the_index_without_restart() {
    let cluster = Cluster::start("job").await;
    let ns = "job-failindex";
    cluster.namespace(ns).await;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    jobs.create(
        &PostParams::default(),
        &job(
            "fi",
            json!({"completions": 2, "parallelism": 2, "completionMode": "Indexed",
                   "backoffLimitPerIndex": 1,
                   "podFailurePolicy": {"rules": [
                       {"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [42]}}]}}),
        ),
    )
    .await
    .unwrap();
    let ps = wait_for("2 indexed pods", 20, || async {
        let ps = running(job_pods(&pods, "fi").await);
        (ps.len() == 2).then_some(ps)
    })
    .await;
    for p in &ps {
        let ix =
            &p.metadata.annotations.as_ref().unwrap()["batch.kubernetes.io/job-completion-index"];
        let code = if ix == "0" { 42 } else { 0 };
        kubelet_finishes_pod(
            &cluster.client,
            ns,
            p.metadata.name.as_deref().unwrap(),
            code,
            &[],
        )
        .await;
    }
    let failed = wait_condition(&jobs, "fi", "Failed", 20).await;
    assert_eq!(condition(&failed, "Failed").unwrap().1, "FailedIndexes");
    let s = failed.status.unwrap();
    assert_eq!(s.failed_indexes.as_deref(), Some("0"));
    assert_eq!(s.completed_indexes.as_deref(), Some("1"));
    assert_eq!(
        job_pods(&pods, "fi").await.len(),
        2,
        "index 0 was not restarted"
    );
    cluster.stop().await;
}
