//! batch/v1 Jobs and CronJobs (upstream `pkg/apis/batch/v1/defaults.go`,
//! `pkg/apis/batch/validation/validation.go`, `pkg/registry/batch/{job,cronjob}/strategy.go`).

use super::pods::{default_pod_template, validate_pod_template_spec};
use crate::field::{ErrorList, FieldError};
use crate::json::{child_obj, default_field, get, int_at, is_truthy, str_at};
use crate::strategy::{Generation, Resource};
use crate::validation::selector::{self, validate_label_selector};
use crate::validation::{validate_enum, validate_immutable, validate_nonnegative, NameValidation};
use serde_json::{json, Map, Value};

/// Label keys the job strategy puts on generated selectors and pod templates.
pub(crate) const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
pub(crate) const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
const LEGACY_JOB_NAME_LABEL: &str = "job-name";

pub(crate) static JOBS: Resource = Resource {
    status: true,
    generation: Generation::Spec,
    defaults: default_job,
    prepare_create: prepare_job_create,
    validate: validate_job,
    validate_update: validate_job_update,
    validate_status: validate_job_status,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

pub(crate) static CRON_JOBS: Resource = Resource {
    status: true,
    generation: Generation::Spec,
    defaults: default_cron_job,
    validate: validate_cron_job,
    ..Resource::basic(true, NameValidation::Dns1123Subdomain)
};

// ---------------------------------------------------------------- jobs

/// Upstream's jobStrategy `generateSelector`: unless `manualSelector` is true, label the pod
/// template with the job name and uid (new and legacy keys) and select on the uid. Needs
/// `metadata.uid`; without it nothing is generated.
fn generate_selector(obj: &mut Value) {
    if is_truthy(get(obj, &["spec", "manualSelector"])) {
        return;
    }
    let uid = str_at(obj, &["metadata", "uid"]).to_string();
    if uid.is_empty() {
        return;
    }
    let name = str_at(obj, &["metadata", "name"]).to_string();
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    let template = spec.entry("template").or_insert_with(|| json!({}));
    if let Some(labels) = child_obj(template, "metadata").map(|m| {
        let l = m.entry("labels").or_insert_with(|| json!({}));
        if !l.is_object() {
            *l = json!({});
        }
        l
    }) {
        if let Some(l) = labels.as_object_mut() {
            for k in [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL] {
                l.entry(k).or_insert_with(|| json!(name));
            }
            for k in [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL] {
                l.entry(k).or_insert_with(|| json!(uid));
            }
        }
    }
    let sel = spec.entry("selector").or_insert_with(|| json!({}));
    if let Some(sel) = sel.as_object_mut() {
        let ml = sel.entry("matchLabels").or_insert_with(|| json!({}));
        if let Some(ml) = ml.as_object_mut() {
            ml.entry(CONTROLLER_UID_LABEL).or_insert_with(|| json!(uid));
        }
    }
}

/// SetDefaults_Job, with the job strategy's selector generation (idempotent).
fn default_job(obj: &mut Value) {
    generate_selector(obj);
    let template_labels = get(obj, &["spec", "template", "metadata", "labels"]).cloned();
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    if let Some(t) = spec.get_mut("template") {
        default_pod_template(t);
    }
    if crate::json::is_unset(spec, "completions") && crate::json::is_unset(spec, "parallelism") {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    default_field(spec, "parallelism", json!(1));
    if crate::json::is_unset(spec, "backoffLimit") {
        let limit = if crate::json::is_unset(spec, "backoffLimitPerIndex") {
            6
        } else {
            i64::from(i32::MAX)
        };
        spec.insert("backoffLimit".into(), json!(limit));
    }
    default_field(spec, "completionMode", json!("NonIndexed"));
    default_field(spec, "suspend", json!(false));
    default_field(spec, "manualSelector", json!(false));
    let has_failure_policy = !crate::json::is_unset(spec, "podFailurePolicy");
    if let Some(Value::Object(pfp)) = spec.get_mut("podFailurePolicy") {
        crate::json::each_obj_in(pfp, "rules", |r| {
            crate::json::each_obj_in(r, "onPodConditions", |c| {
                default_field(c, "status", json!("True"))
            });
        });
    }
    let replacement = if has_failure_policy {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    default_field(spec, "podReplacementPolicy", json!(replacement));
    // the job's labels default to the template's when it has none
    if let Some(labels) = template_labels {
        if let Some(meta) = child_obj(obj, "metadata") {
            if meta
                .get("labels")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
            {
                meta.insert("labels".into(), labels);
            }
        }
    }
}

fn prepare_job_create(obj: &mut Value) {
    generate_selector(obj);
}

/// Job spec checks shared by Jobs and CronJob job templates (`template` relaxes the
/// selector requirement, as upstream's ValidateJobTemplateSpec does).
fn validate_job_spec(spec: &Value, path: &str, is_template: bool) -> ErrorList {
    let mut errs = Vec::new();
    for f in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ] {
        errs.extend(validate_nonnegative(
            int_at(spec, &[f]),
            &format!("{path}.{f}"),
        ));
    }
    if let Some(ads) = int_at(spec, &["activeDeadlineSeconds"]) {
        if ads == 0 {
            errs.push(FieldError::invalid(
                format!("{path}.activeDeadlineSeconds"),
                ads,
                "must be greater than 0",
            ));
        }
    }
    let sel = get(spec, &["selector"]);
    match sel {
        None if !is_template => errs.push(FieldError::required(format!("{path}.selector"), "")),
        None => {}
        Some(s) => errs.extend(validate_label_selector(s, &format!("{path}.selector"))),
    }
    let template = get(spec, &["template"]);
    if let (Some(s), Some(t)) = (sel, template) {
        let labels = get(t, &["metadata", "labels"]);
        if !selector::is_empty(s) && !selector::matches(s, labels) {
            errs.push(FieldError::invalid(
                format!("{path}.template.metadata.labels"),
                labels.cloned().unwrap_or(Value::Null),
                "`selector` does not match template `labels`",
            ));
        }
    }
    errs.extend(validate_pod_template_spec(
        template,
        &format!("{path}.template"),
    ));
    if let Some(t) = template {
        let rp = get(t, &["spec", "restartPolicy"]);
        if !matches!(rp.and_then(Value::as_str), Some("OnFailure" | "Never")) {
            errs.push(FieldError::not_supported(
                format!("{path}.template.spec.restartPolicy"),
                rp.cloned().unwrap_or(json!("")),
                &["OnFailure", "Never"],
            ));
        }
    }
    if let Some(mode) = get(spec, &["completionMode"]) {
        errs.extend(validate_enum(
            Some(mode),
            &format!("{path}.completionMode"),
            &["NonIndexed", "Indexed"],
            false,
        ));
        if mode.as_str() == Some("Indexed") && get(spec, &["completions"]).is_none() {
            errs.push(FieldError::required(
                format!("{path}.completions"),
                "when completion mode is Indexed",
            ));
        }
    }
    if let Some(p) = get(spec, &["podReplacementPolicy"]) {
        errs.extend(validate_enum(
            Some(p),
            &format!("{path}.podReplacementPolicy"),
            &["Failed", "TerminatingOrFailed"],
            false,
        ));
    }
    errs
}

/// Upstream `validateGeneratedSelector`: unless `manualSelector`, the template must carry
/// the generated labels and the selector must select them.
fn validate_generated_selector(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    if is_truthy(get(obj, &["spec", "manualSelector"])) {
        return errs;
    }
    let uid = str_at(obj, &["metadata", "uid"]);
    if uid.is_empty() {
        errs.push(FieldError::required("metadata.uid", ""));
    }
    let name = str_at(obj, &["metadata", "name"]);
    let labels = get(obj, &["spec", "template", "metadata", "labels"]);
    for (key, want) in [
        (LEGACY_CONTROLLER_UID_LABEL, uid),
        (LEGACY_JOB_NAME_LABEL, name),
    ] {
        let path = format!("spec.template.metadata.labels[{key}]");
        match labels.and_then(|l| l.get(key)).and_then(Value::as_str) {
            None => errs.push(FieldError::required(path, format!("must be '{want}'"))),
            Some(v) if v != want => errs.push(FieldError::invalid(
                path,
                labels.cloned().unwrap_or(Value::Null),
                format!("must be '{want}'"),
            )),
            _ => {}
        }
    }
    let expected = json!({
        LEGACY_CONTROLLER_UID_LABEL: uid,
        LEGACY_JOB_NAME_LABEL: name,
        CONTROLLER_UID_LABEL: uid,
        JOB_NAME_LABEL: name,
    });
    if let Some(sel) = get(obj, &["spec", "selector"]) {
        if !selector::matches(sel, Some(&expected)) {
            errs.push(FieldError::invalid(
                "spec.selector",
                sel.clone(),
                "`selector` not auto-generated",
            ));
        }
    }
    errs
}

fn validate_job(obj: &Value) -> ErrorList {
    let mut errs = validate_job_spec(obj.get("spec").unwrap_or(&Value::Null), "spec", false);
    errs.extend(validate_generated_selector(obj));
    errs
}

fn validate_job_update(new: &Value, old: &Value) -> ErrorList {
    let mut errs = Vec::new();
    for f in ["selector", "completionMode"] {
        errs.extend(validate_immutable(
            get(new, &["spec", f]),
            get(old, &["spec", f]),
            &format!("spec.{f}"),
        ));
    }
    // Upstream lets a suspended, never-started job change scheduling directives of its
    // template; every other template change is rejected.
    let (nt, ot) = (
        get(new, &["spec", "template"]),
        get(old, &["spec", "template"]),
    );
    let suspended_unstarted =
        is_truthy(get(old, &["spec", "suspend"])) && get(old, &["status", "startTime"]).is_none();
    let strip = |t: Option<&Value>| -> Option<Value> {
        let mut t = t.cloned()?;
        if suspended_unstarted {
            if let Some(s) = t.get_mut("spec").and_then(Value::as_object_mut) {
                for f in ["nodeSelector", "tolerations", "affinity", "schedulingGates"] {
                    s.remove(f);
                }
            }
            if let Some(m) = t.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("labels");
                m.remove("annotations");
            }
        }
        Some(t)
    };
    if strip(nt) != strip(ot) {
        errs.push(FieldError::invalid(
            "spec.template",
            nt.cloned().unwrap_or(Value::Null),
            "field is immutable",
        ));
    }
    if str_at(old, &["spec", "completionMode"]) != "Indexed" {
        errs.extend(validate_immutable(
            get(new, &["spec", "completions"]),
            get(old, &["spec", "completions"]),
            "spec.completions",
        ));
    }
    errs
}

fn validate_job_status(new: &Value, _old: &Value) -> ErrorList {
    let mut errs = Vec::new();
    for f in ["active", "succeeded", "failed", "terminating", "ready"] {
        errs.extend(validate_nonnegative(
            int_at(new, &["status", f]),
            &format!("status.{f}"),
        ));
    }
    errs
}

// ---------------------------------------------------------------- cron jobs

fn default_cron_job(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    default_field(spec, "concurrencyPolicy", json!("Allow"));
    default_field(spec, "suspend", json!(false));
    default_field(spec, "successfulJobsHistoryLimit", json!(3));
    default_field(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(Value::Object(jt)) = spec.get_mut("jobTemplate") {
        if let Some(Value::Object(js)) = jt.get_mut("spec") {
            if let Some(t) = js.get_mut("template") {
                default_pod_template(t);
            }
        }
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn cron_value(s: &str, names: &[&str], offset: i64) -> Result<i64, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(i as i64 + offset);
    }
    s.parse::<i64>()
        .ok()
        .filter(|_| !s.starts_with('+') && !s.starts_with('-'))
        .ok_or_else(|| {
            format!("failed to parse int from {s}: strconv.Atoi: parsing {s:?}: invalid syntax")
        })
}

/// Validates one cron field like robfig/cron v3's parser (the library upstream uses), with
/// its error wording.
fn cron_field(field: &str, min: i64, max: i64, names: &[&str], offset: i64) -> Result<(), String> {
    for expr in field.split(',') {
        let (range, step) = match expr.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (expr, None),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (cron_value(a, names, offset)?, cron_value(b, names, offset)?)
        } else {
            let v = cron_value(range, names, offset)?;
            (v, if step.is_some() { max } else { v })
        };
        if let Some(s) = step {
            let n = cron_value(s, &[], 0)?;
            if n == 0 {
                return Err(format!("step of range should be a positive number: {expr}"));
            }
        }
        if lo < min {
            return Err(format!(
                "beginning of range ({lo}) below minimum ({min}): {expr}"
            ));
        }
        if hi > max {
            return Err(format!("end of range ({hi}) above maximum ({max}): {expr}"));
        }
        if lo > hi {
            return Err(format!(
                "beginning of range ({lo}) beyond end of range ({hi}): {expr}"
            ));
        }
    }
    Ok(())
}

/// Validates a CronJob schedule: five standard fields or a `@descriptor`.
pub(crate) fn validate_schedule(s: &str) -> Result<(), String> {
    let s = s.trim();
    if let Some(d) = s.strip_prefix('@') {
        return match d {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            _ if d.starts_with("every ") => Ok(()),
            _ => Err(format!("unrecognized descriptor: {s}")),
        };
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: {s}",
            fields.len()
        ));
    }
    cron_field(fields[0], 0, 59, &[], 0)?;
    cron_field(fields[1], 0, 23, &[], 0)?;
    cron_field(fields[2], 1, 31, &[], 0)?;
    cron_field(fields[3], 1, 12, &MONTHS, 1)?;
    cron_field(fields[4], 0, 6, &DAYS, 0)?;
    Ok(())
}

fn validate_cron_job(obj: &Value) -> ErrorList {
    let mut errs = Vec::new();
    let name = str_at(obj, &["metadata", "name"]);
    // job names get an 11-character suffix and must stay within 63
    if name.len() > 52 {
        errs.push(FieldError::invalid(
            "metadata.name",
            name,
            "must be no more than 52 characters",
        ));
    }
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let schedule = str_at(spec, &["schedule"]);
    if schedule.is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    } else if schedule.contains("TZ") {
        errs.push(FieldError::invalid(
            "spec.schedule",
            schedule,
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ));
    } else if let Err(e) = validate_schedule(schedule) {
        errs.push(FieldError::invalid("spec.schedule", schedule, e));
    }
    errs.extend(validate_nonnegative(
        int_at(spec, &["startingDeadlineSeconds"]),
        "spec.startingDeadlineSeconds",
    ));
    errs.extend(validate_enum(
        get(spec, &["concurrencyPolicy"]),
        "spec.concurrencyPolicy",
        &["Allow", "Forbid", "Replace"],
        true,
    ));
    errs.extend(validate_nonnegative(
        int_at(spec, &["successfulJobsHistoryLimit"]),
        "spec.successfulJobsHistoryLimit",
    ));
    errs.extend(validate_nonnegative(
        int_at(spec, &["failedJobsHistoryLimit"]),
        "spec.failedJobsHistoryLimit",
    ));
    match get(spec, &["jobTemplate"]) {
        None => errs.push(FieldError::required("spec.jobTemplate", "")),
        Some(jt) => {
            errs.extend(crate::validation::validate_labels(
                get(jt, &["metadata", "labels"]),
                "spec.jobTemplate.metadata.labels",
            ));
            errs.extend(validate_job_spec(
                jt.get("spec").unwrap_or(&Value::Null),
                "spec.jobTemplate.spec",
                true,
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    type Mutation = Box<dyn Fn(&mut Value)>;
    use crate::strategy::Strategy;

    fn msgs(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    fn job() -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "default", "uid": "u-1"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}}})
    }

    #[test]
    fn job_defaults_and_generated_selector() {
        let mut j = job();
        JOBS.default(&mut j);
        JOBS.prepare_for_create(&mut j);
        let s = &j["spec"];
        assert_eq!(s["completions"], 1);
        assert_eq!(s["parallelism"], 1);
        assert_eq!(s["backoffLimit"], 6);
        assert_eq!(s["completionMode"], "NonIndexed");
        assert_eq!(s["suspend"], false);
        assert_eq!(s["manualSelector"], false);
        assert_eq!(s["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(
            s["selector"],
            json!({"matchLabels": {CONTROLLER_UID_LABEL: "u-1"}})
        );
        assert_eq!(
            s["template"]["metadata"]["labels"],
            json!({"job-name": "pi", JOB_NAME_LABEL: "pi", "controller-uid": "u-1", CONTROLLER_UID_LABEL: "u-1"})
        );
        assert_eq!(j["metadata"]["labels"], s["template"]["metadata"]["labels"]);
        assert_eq!(j["metadata"]["generation"], 1);
        assert!(
            JOBS.validate_create(&j).is_empty(),
            "{:?}",
            msgs(&JOBS.validate_create(&j))
        );
    }

    #[test]
    fn job_validation_table() {
        let cases: Vec<(Mutation, Vec<&str>)> = vec![
            (
                Box::new(|j| j["spec"]["template"]["spec"]["restartPolicy"] = json!("Always")),
                vec!["spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""],
            ),
            (
                Box::new(|j| j["spec"]["parallelism"] = json!(-1)),
                vec!["spec.parallelism: Invalid value: -1: must be greater than or equal to 0"],
            ),
            (
                Box::new(|j| {
                    j["spec"]["completionMode"] = json!("Indexed");
                    j["spec"].as_object_mut().unwrap().remove("completions");
                }),
                vec!["spec.completions: Required value: when completion mode is Indexed"],
            ),
            (
                Box::new(|j| j["spec"]["selector"] = json!({"matchLabels": {CONTROLLER_UID_LABEL: "other"}})),
                vec![],
            ),
        ];
        for (i, (mutate, want)) in cases.into_iter().enumerate() {
            let mut j = job();
            JOBS.default(&mut j);
            mutate(&mut j);
            let got = msgs(&JOBS.validate_create(&j));
            if i == 3 {
                assert!(
                    got[0].ends_with("`selector` does not match template `labels`"),
                    "{got:?}"
                );
                assert!(got[1].ends_with("`selector` not auto-generated"), "{got:?}");
            } else {
                assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn manual_selector_skips_generation() {
        let mut j = job();
        j["spec"]["manualSelector"] = json!(true);
        j["spec"]["selector"] = json!({"matchLabels": {"app": "pi"}});
        j["spec"]["template"]["metadata"] = json!({"labels": {"app": "pi"}});
        JOBS.prepare_for_create(&mut j);
        assert_eq!(j["spec"]["selector"], json!({"matchLabels": {"app": "pi"}}));
        assert_eq!(
            j["spec"]["template"]["metadata"]["labels"],
            json!({"app": "pi"})
        );
        assert!(
            JOBS.validate_create(&j).is_empty(),
            "{:?}",
            msgs(&JOBS.validate_create(&j))
        );
        let mut auto = job();
        JOBS.prepare_for_create(&mut auto);
        auto["spec"]["template"]["metadata"]["labels"]["job-name"] = json!("other");
        let got = msgs(&JOBS.validate_create(&auto));
        assert!(
            got.iter().any(|m| m
                .starts_with("spec.template.metadata.labels[job-name]: Invalid value: ")
                && m.ends_with(": must be 'pi'")),
            "{got:?}"
        );
    }

    #[test]
    fn job_update_template_immutable() {
        let mut old = job();
        JOBS.default(&mut old);
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:2");
        let got = msgs(&JOBS.validate_update(&new, &old));
        assert_eq!(got.len(), 1);
        assert!(
            got[0].starts_with("spec.template: Invalid value: ")
                && got[0].ends_with(": field is immutable")
        );
        let mut suspended = old.clone();
        suspended["spec"]["suspend"] = json!(true);
        let mut resched = suspended.clone();
        resched["spec"]["template"]["spec"]["nodeSelector"] = json!({"zone": "a"});
        assert!(JOBS.validate_update(&resched, &suspended).is_empty());
    }

    #[test]
    fn cron_job_defaults_and_validation() {
        let mut c = json!({"metadata": {"name": "hello", "namespace": "default"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}});
        CRON_JOBS.default(&mut c);
        assert_eq!(c["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(c["spec"]["suspend"], false);
        assert_eq!(c["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(c["spec"]["failedJobsHistoryLimit"], 1);
        assert!(c["spec"]["jobTemplate"]["spec"]
            .get("backoffLimit")
            .is_none());
        assert!(
            CRON_JOBS.validate_create(&c).is_empty(),
            "{:?}",
            msgs(&CRON_JOBS.validate_create(&c))
        );

        let table = [
            ("0 0 * * *", None),
            ("@hourly", None),
            ("0 9 * JAN-MAR mon-fri", None),
            ("* * *", Some("spec.schedule: Invalid value: \"* * *\": expected exactly 5 fields, found 3: * * *")),
            ("60 * * * *", Some("spec.schedule: Invalid value: \"60 * * * *\": end of range (60) above maximum (59): 60")),
            ("CRON_TZ=UTC 0 * * * *", Some("spec.schedule: Invalid value: \"CRON_TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead")),
        ];
        for (sched, want) in table {
            let mut x = c.clone();
            x["spec"]["schedule"] = json!(sched);
            let got = msgs(&CRON_JOBS.validate_create(&x));
            assert_eq!(
                got,
                want.into_iter().map(String::from).collect::<Vec<_>>(),
                "{sched}"
            );
        }
    }
}
