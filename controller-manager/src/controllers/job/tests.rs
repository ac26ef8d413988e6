use super::*;
use serde_json::json;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn job(spec: serde_json::Value, status: serde_json::Value) -> Job {
    let mut s = json!({
        "parallelism": 1, "completions": 1, "backoffLimit": 6,
        "template": {"metadata": {"labels": {"batch.kubernetes.io/job-name": "pi"}},
                     "spec": {"restartPolicy": "Never",
                              "containers": [{"name": "c", "image": "busybox"}]}}
    });
    if let (Some(base), serde_json::Value::Object(extra)) = (s.as_object_mut(), spec) {
        for (k, v) in extra {
            base.insert(k, v);
        }
    }
    serde_json::from_value(json!({
        "metadata": {"name": "pi", "namespace": "ns", "uid": "job-uid"},
        "spec": s,
        "status": status,
    }))
    .unwrap()
}

fn counts(succeeded: i32, failed: i32, active: i32) -> Counts {
    Counts {
        succeeded,
        failed,
        active,
        ..Default::default()
    }
}

fn reason(o: Option<Outcome>) -> Option<(String, String)> {
    o.map(|o| (o.interim.to_string(), o.reason))
}

#[test]
fn outcome_table() {
    let now = ts("2024-01-01T00:10:00Z");
    let started = json!({"startTime": "2024-01-01T00:00:00Z"});
    type Case = (
        &'static str,
        Job,
        Counts,
        Option<(&'static str, &'static str)>,
    );
    let cases: Vec<Case> = vec![
        (
            "running",
            job(json!({}), started.clone()),
            counts(0, 0, 1),
            None,
        ),
        (
            "completions reached",
            job(json!({"completions": 2}), started.clone()),
            counts(2, 0, 0),
            Some(("SuccessCriteriaMet", "CompletionsReached")),
        ),
        (
            "work queue: success and nothing active",
            serde_json::from_value::<Job>({
                let mut j =
                    serde_json::to_value(job(json!({"parallelism": 2}), started.clone())).unwrap();
                j["spec"].as_object_mut().unwrap().remove("completions");
                j
            })
            .unwrap(),
            counts(1, 0, 0),
            Some(("SuccessCriteriaMet", "CompletionsReached")),
        ),
        (
            "backoff limit not yet exceeded",
            job(json!({"backoffLimit": 2}), started.clone()),
            counts(0, 2, 1),
            None,
        ),
        (
            "backoff limit exceeded",
            job(json!({"backoffLimit": 2}), started.clone()),
            counts(0, 3, 0),
            Some(("FailureTarget", "BackoffLimitExceeded")),
        ),
        (
            "OnFailure restarts count",
            job(
                json!({"backoffLimit": 2, "template": {"spec": {"restartPolicy": "OnFailure", "containers": []}}}),
                started.clone(),
            ),
            Counts {
                restarts: 3,
                active: 1,
                ..Default::default()
            },
            Some(("FailureTarget", "BackoffLimitExceeded")),
        ),
        (
            "deadline exceeded",
            job(json!({"activeDeadlineSeconds": 600}), started.clone()),
            counts(0, 0, 1),
            Some(("FailureTarget", "DeadlineExceeded")),
        ),
        (
            "deadline not reached",
            job(json!({"activeDeadlineSeconds": 601}), started.clone()),
            counts(0, 0, 1),
            None,
        ),
        (
            "pod failure policy wins over backoff limit",
            job(json!({"backoffLimit": 0}), started.clone()),
            Counts {
                failed: 1,
                fail_job: Some("m".into()),
                ..Default::default()
            },
            Some(("FailureTarget", "PodFailurePolicy")),
        ),
        (
            "success policy",
            job(
                json!({"completionMode": "Indexed", "completions": 5,
                       "successPolicy": {"rules": [{"succeededIndexes": "0"}]}}),
                started.clone(),
            ),
            Counts {
                succeeded: 1,
                completed: [0].into(),
                active: 4,
                ..Default::default()
            },
            Some(("SuccessCriteriaMet", "SuccessPolicy")),
        ),
        (
            "failed indexes over maxFailedIndexes",
            job(
                json!({"completionMode": "Indexed", "completions": 5, "backoffLimitPerIndex": 1,
                       "maxFailedIndexes": 1}),
                started.clone(),
            ),
            Counts {
                failed_indexes: [0, 3].into(),
                active: 3,
                ..Default::default()
            },
            Some(("FailureTarget", "MaxFailedIndexesExceeded")),
        ),
        (
            "every index done, some failed",
            job(
                json!({"completionMode": "Indexed", "completions": 3, "backoffLimitPerIndex": 1}),
                started.clone(),
            ),
            Counts {
                succeeded: 2,
                completed: [0, 2].into(),
                failed_indexes: [1].into(),
                ..Default::default()
            },
            Some(("FailureTarget", "FailedIndexes")),
        ),
        (
            "failed index, others still running",
            job(
                json!({"completionMode": "Indexed", "completions": 3, "backoffLimitPerIndex": 1}),
                started.clone(),
            ),
            Counts {
                failed_indexes: [1].into(),
                active: 2,
                ..Default::default()
            },
            None,
        ),
        (
            "earlier FailureTarget sticks",
            job(
                json!({}),
                json!({"startTime": "2024-01-01T00:00:00Z", "conditions": [
                    {"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded", "message": "x"}]}),
            ),
            counts(1, 0, 0),
            Some(("FailureTarget", "DeadlineExceeded")),
        ),
    ];
    for (name, j, c, want) in cases {
        let got = reason(decide_outcome(&j, &c, now));
        let want = want.map(|(a, b)| (a.to_string(), b.to_string()));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn want_active_table() {
    let cases = [
        (json!({"parallelism": 3, "completions": 5}), 0, 0, 3),
        (json!({"parallelism": 3, "completions": 5}), 4, 3, 1),
        (json!({"parallelism": 3, "completions": 5}), 5, 0, 0),
        (json!({"parallelism": 0, "completions": 5}), 0, 2, 0),
    ];
    for (spec, succeeded, active, want) in cases {
        let j = job(spec.clone(), json!({}));
        assert_eq!(want_active(&j, succeeded, active), want, "{spec}");
    }
    // Work queue (no completions): keep what runs after the first success.
    let mut j = job(json!({"parallelism": 4}), json!({}));
    j.spec.as_mut().unwrap().completions = None;
    assert_eq!(want_active(&j, 0, 0), 4);
    assert_eq!(want_active(&j, 1, 2), 2);
}

#[test]
fn indexed_pod_template() {
    let j = job(
        json!({"completionMode": "Indexed", "completions": 3}),
        json!({}),
    );
    let p = pod_for(&j, Some(2));
    assert_eq!(p.metadata.generate_name.as_deref(), Some("pi-2-"));
    assert_eq!(
        p.metadata.annotations.as_ref().unwrap()[COMPLETION_INDEX],
        "2"
    );
    assert_eq!(p.metadata.labels.as_ref().unwrap()[COMPLETION_INDEX], "2");
    assert_eq!(
        p.metadata.labels.as_ref().unwrap()[JOB_NAME_LABEL],
        "pi",
        "template labels kept"
    );
    assert_eq!(
        p.metadata.finalizers.as_deref(),
        Some(&[TRACKING_FINALIZER.to_string()][..])
    );
    let spec = p.spec.unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("pi-2"));
    let env = &spec.containers[0].env.as_ref().unwrap()[0];
    assert_eq!(env.name, COMPLETION_INDEX_ENV);
    assert_eq!(
        env.value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap()
            .field_path,
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    let r = &p.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (r.kind.as_str(), r.uid.as_str(), r.controller),
        ("Job", "job-uid", Some(true))
    );
    let plain = pod_for(&j, None);
    assert_eq!(plain.metadata.generate_name.as_deref(), Some("pi-"));
    assert!(plain.spec.unwrap().hostname.is_none());
}

#[test]
fn conditions_change_in_place() {
    let now = ts("2024-01-01T00:00:00Z");
    let later = ts("2024-01-01T00:01:00Z");
    let mut st = JobStatus::default();
    assert!(!set_condition(
        &mut st,
        "Suspended",
        "False",
        "JobResumed",
        "Job resumed",
        now
    ));
    assert!(st.conditions.as_ref().unwrap().is_empty());
    assert!(set_condition(
        &mut st,
        "Suspended",
        "True",
        "JobSuspended",
        "Job suspended",
        now
    ));
    assert!(!set_condition(
        &mut st,
        "Suspended",
        "True",
        "JobSuspended",
        "Job suspended",
        later
    ));
    assert!(set_condition(
        &mut st,
        "Suspended",
        "False",
        "JobResumed",
        "Job resumed",
        later
    ));
    let c = &st.conditions.as_ref().unwrap()[0];
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref()),
        ("False", Some("JobResumed"))
    );
    assert_eq!(c.last_transition_time.as_ref().unwrap().0, later);
}

fn pod(phase: &str, finished: &str, deleting: bool) -> Arc<Pod> {
    let mut v = json!({
        "metadata": {"name": "p", "namespace": "ns", "creationTimestamp": "2024-01-01T00:00:00Z"},
        "status": {"phase": phase, "containerStatuses": [{
            "name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": if phase == "Failed" { 1 } else { 0 },
                                     "finishedAt": finished}}}]}
    });
    if deleting {
        v["metadata"]["deletionTimestamp"] = json!(finished);
    }
    Arc::new(serde_json::from_value(v).unwrap())
}

#[test]
fn failed_pods_and_backoff_record() {
    let j = job(json!({}), json!({}));
    assert!(is_pod_failed(
        &pod("Failed", "2024-01-01T00:00:01Z", false),
        &j
    ));
    assert!(!is_pod_failed(
        &pod("Succeeded", "2024-01-01T00:00:01Z", true),
        &j
    ));
    assert!(is_pod_failed(
        &pod("Running", "2024-01-01T00:00:01Z", true),
        &j
    ));
    // With a podFailurePolicy only the Failed phase counts.
    let pfp = job(json!({"podFailurePolicy": {"rules": []}}), json!({}));
    assert!(!is_pod_failed(
        &pod("Running", "2024-01-01T00:00:01Z", true),
        &pfp
    ));

    let pods = vec![
        pod("Failed", "2024-01-01T00:00:01Z", false),
        pod("Succeeded", "2024-01-01T00:00:02Z", false),
        pod("Failed", "2024-01-01T00:00:03Z", false),
        pod("Failed", "2024-01-01T00:00:04Z", false),
    ];
    let (n, last) = failure_backoff_record(&j, &pods);
    assert_eq!(n, 2, "failures after the last success");
    assert_eq!(last, Some(ts("2024-01-01T00:00:04Z")));
    assert_eq!(policy::pod_failure_backoff(n), Duration::from_secs(20));
}

#[test]
fn index_failure_counts() {
    let mut a = (*pod("Failed", "2024-01-01T00:00:01Z", false)).clone();
    a.metadata.annotations = Some(
        [
            (COMPLETION_INDEX.to_string(), "1".to_string()),
            (INDEX_FAILURE_COUNT.to_string(), "0".to_string()),
        ]
        .into(),
    );
    let mut b = a.clone();
    b.metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert(INDEX_FAILURE_COUNT.into(), "1".into());
    b.status
        .as_mut()
        .unwrap()
        .container_statuses
        .as_mut()
        .unwrap()[0]
        .state
        .as_mut()
        .unwrap()
        .terminated
        .as_mut()
        .unwrap()
        .finished_at = Some(Time(ts("2024-01-01T00:00:09Z")));
    let pods = vec![Arc::new(a), Arc::new(b)];
    assert_eq!(
        index_failures(&pods, 1),
        (2, Some(ts("2024-01-01T00:00:09Z")))
    );
    assert_eq!(index_failures(&pods, 0), (0, None));
}
