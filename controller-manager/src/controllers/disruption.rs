//! disruption-controller: keeps PodDisruptionBudget status current, mirroring upstream
//! pkg/controller/disruption.
//!
//! For each PDB: the pods its selector matches; the expected pod count (`minAvailable` as
//! an integer counts the matching pods, a percentage or `maxUnavailable` sums the scale of
//! the pods' controllers); `desiredHealthy` (percentages round up, as upstream's
//! `GetScaledValueFromIntOrPercent(.., true)`); `currentHealthy` (Ready pods that are not
//! being deleted and not recently disrupted); `disruptionsAllowed`; `disruptedPods` entries
//! older than [`DELETION_TIMEOUT`] dropped; `observedGeneration`; and the DisruptionAllowed
//! condition (SufficientPods, InsufficientPods, or SyncFailed with `disruptionsAllowed` 0
//! when the computation fails, upstream's `failSafe`).
//!
//! Controller scale: ReplicaSets and Deployments are read from the shared informers (a
//! ReplicaSet owned by a Deployment counts the Deployment's replicas); any other owner kind
//! known to the API catalog is read through its `scale` subresource. Owners of kinds not in
//! the catalog (custom resources) are reported as "found no controllers" — a known gap.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;
use rudder_api::labels::Selector;

use super::{controller_of, is_conflict, pod_is_ready, run_workers, ControllerError, Requeue};
use crate::events::EventSink;
use crate::informer::{key_of, split_key, Notification};
use crate::ControllerContext;

/// Upstream name.
pub const NAME: &str = "disruption-controller";

/// How long a pod listed in `status.disruptedPods` is expected to take to be deleted after
/// an eviction; past it the entry is dropped (upstream `DeletionTimeout`, 2 minutes).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

/// Condition type and reasons (upstream policy/v1 constants).
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
/// Reason when `disruptionsAllowed > 0`.
pub const SUFFICIENT_PODS: &str = "SufficientPods";
/// Reason when `disruptionsAllowed == 0`.
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
/// Reason when the status could not be computed.
pub const SYNC_FAILED: &str = "SyncFailed";

/// Why a PDB's status could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum DisruptionError {
    /// a matching pod has no controller, so a percentage or maxUnavailable has no scale
    #[error("found no controller ref for pod {0:?}")]
    NoControllerRef(String),
    /// the pod's controller could not be found
    #[error("found no controllers for pod {0:?}")]
    NoControllers(String),
    /// minAvailable/maxUnavailable is neither an integer nor a percentage
    #[error("invalid value for IntOrString: invalid value {0:?}")]
    InvalidIntOrPercent(String),
    /// the selector could not be parsed
    #[error("invalid selector: {0}")]
    Selector(String),
    /// an API call failed
    #[error(transparent)]
    Api(#[from] kube::Error),
}

/// Upstream `GetScaledValueFromIntOrPercent`: an integer as is, a percentage of `total`,
/// rounded up or down.
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> Result<i32, DisruptionError> {
    match v {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| DisruptionError::InvalidIntOrPercent(s.clone()))?;
            let prod = pct * i64::from(total);
            let v = if round_up {
                (prod + 99).div_euclid(100)
            } else {
                prod.div_euclid(100)
            };
            Ok(i32::try_from(v).unwrap_or(i32::MAX))
        }
    }
}

/// The counts a PDB's status is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// `status.expectedPods`.
    pub expected: i32,
    /// `status.desiredHealthy`.
    pub desired_healthy: i32,
}

/// Upstream `getExpectedPodCount`: `matching` is how many pods the selector matches,
/// `scale` computes the sum of their controllers' scale (called only when needed).
pub fn expected_pod_count(
    min_available: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    matching: i32,
    scale: impl FnOnce() -> Result<i32, DisruptionError>,
) -> Result<Budget, DisruptionError> {
    if let Some(max) = max_unavailable {
        let expected = scale()?;
        let max = scaled_value(max, expected, true)?;
        return Ok(Budget {
            expected,
            desired_healthy: (expected - max).max(0),
        });
    }
    match min_available {
        Some(IntOrString::Int(i)) => Ok(Budget {
            expected: matching,
            desired_healthy: *i,
        }),
        Some(v @ IntOrString::String(_)) => {
            let expected = scale()?;
            Ok(Budget {
                expected,
                desired_healthy: scaled_value(v, expected, true)?,
            })
        }
        // Validation requires one of the two; treat neither as "no pods required".
        None => Ok(Budget {
            expected: matching,
            desired_healthy: 0,
        }),
    }
}

/// What [`live_disrupted_pods`] keeps of `status.disruptedPods`.
#[derive(Debug, Default)]
pub struct DisruptedPods {
    /// Entries of pods still expected to be deleted.
    pub live: BTreeMap<String, Time>,
    /// When the earliest live entry expires (to recheck then).
    pub recheck: Option<Timestamp>,
    /// Pods whose entry expired without them being deleted (upstream's `NotDeleted`).
    pub expired: Vec<Arc<Pod>>,
}

/// Upstream `buildDisruptedPodMap`: keeps entries of live, not-deleted pods whose deletion
/// is still expected (the eviction subresource adds them; within [`DELETION_TIMEOUT`] they
/// do not count as healthy); entries of pods gone or being deleted are dropped, and so are
/// expired ones, reported in `expired`.
pub fn live_disrupted_pods(
    disrupted: &BTreeMap<String, Time>,
    pods: &[Arc<Pod>],
    now: Timestamp,
) -> DisruptedPods {
    let mut out = BTreeMap::new();
    let mut recheck: Option<Timestamp> = None;
    let mut expired = Vec::new();
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(t) = pod
            .metadata
            .name
            .as_ref()
            .and_then(|n| disrupted.get(n).map(|t| (n, t)))
        else {
            continue;
        };
        let expires = expiry(&t.1 .0);
        if expires < now {
            expired.push(pod.clone());
            continue;
        }
        recheck = Some(recheck.map_or(expires, |r| r.min(expires)));
        out.insert(t.0.clone(), t.1.clone());
    }
    DisruptedPods {
        live: out,
        recheck,
        expired,
    }
}

fn expiry(t: &Timestamp) -> Timestamp {
    t.checked_add(k8s_openapi::jiff::SignedDuration::from_secs(
        DELETION_TIMEOUT.as_secs() as i64,
    ))
    .unwrap_or(*t)
}

/// Upstream `countHealthyPods`: Ready pods not being deleted and not recently disrupted.
pub fn count_healthy(pods: &[Arc<Pod>], disrupted: &BTreeMap<String, Time>, now: Timestamp) -> i32 {
    let mut n = 0;
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        if disrupted.get(name).is_some_and(|t| expiry(&t.0) > now) {
            continue;
        }
        if pod_is_ready(pod) {
            n += 1;
        }
    }
    n
}

/// Upstream `meta.SetStatusCondition`: replaces the condition of the same type, keeping
/// its lastTransitionTime unless the status changed.
pub fn set_condition(conds: &mut Vec<Condition>, mut c: Condition) {
    if let Some(old) = conds.iter_mut().find(|o| o.type_ == c.type_) {
        if old.status == c.status {
            c.last_transition_time = old.last_transition_time.clone();
        }
        *old = c;
    } else {
        conds.push(c);
    }
}

fn allowed_condition(status: &mut PodDisruptionBudgetStatus, generation: Option<i64>) {
    let (st, reason) = if status.disruptions_allowed > 0 {
        ("True", SUFFICIENT_PODS)
    } else {
        ("False", INSUFFICIENT_PODS)
    };
    set_condition(
        status.conditions.get_or_insert_with(Vec::new),
        Condition {
            type_: DISRUPTION_ALLOWED.into(),
            status: st.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: generation,
            last_transition_time: Time(Timestamp::now()),
        },
    );
}

fn pdb_selector(pdb: &PodDisruptionBudget) -> Result<Selector, DisruptionError> {
    // A missing selector matches nothing; an empty one everything (policy/v1 semantics).
    match pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) {
        None => Ok(Selector::nothing()),
        Some(sel) => {
            let v =
                serde_json::to_value(sel).map_err(|e| DisruptionError::Selector(e.to_string()))?;
            Selector::from_label_selector(&v).map_err(|e| DisruptionError::Selector(e.to_string()))
        }
    }
}

/// The controller state shared by workers and handlers.
#[derive(Clone)]
struct Controller {
    client: kube::Client,
    pdbs: Store<PodDisruptionBudget>,
    pods: Store<Pod>,
    replicasets: Store<ReplicaSet>,
    deployments: Store<Deployment>,
    events: EventSink,
}

/// Starts the informers and workers.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("disruption");
    let q = queue.clone();
    let pdb_informer = ctx.informers.subscribe::<PodDisruptionBudget>(move |n| {
        q.add(key_of(n.object().as_ref()));
    });
    let pdbs = pdb_informer.store.clone();
    let q = queue.clone();
    // Upstream addPod/updatePod/deletePod: the PDBs selecting the pod (before and after a
    // label change) are recomputed.
    let pod_informer = ctx.informers.subscribe::<Pod>(move |n| {
        let pods = match n {
            Notification::Added(p) | Notification::Deleted(p) => vec![p],
            Notification::Updated { old, new } => {
                if old.metadata.labels == new.metadata.labels {
                    vec![new]
                } else {
                    vec![old, new]
                }
            }
        };
        for pod in pods {
            let ns = pod.metadata.namespace.as_deref();
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            for pdb in pdbs.state_filter(|p| {
                p.metadata.namespace.as_deref() == ns
                    && pdb_selector(p).is_ok_and(|s| s.matches(&labels))
            }) {
                q.add(key_of(pdb.as_ref()));
            }
        }
    });
    let replicasets = ctx.informers.subscribe::<ReplicaSet>(|_| {});
    let deployments = ctx.informers.subscribe::<Deployment>(|_| {});
    pdb_informer.synced().await;
    pod_informer.synced().await;
    replicasets.synced().await;
    deployments.synced().await;
    let c = Controller {
        client: ctx.client.clone(),
        pdbs: pdb_informer.store.clone(),
        pods: pod_informer.store.clone(),
        replicasets: replicasets.store.clone(),
        deployments: deployments.store.clone(),
        events: EventSink::new(ctx.client.clone(), NAME),
    };
    run_workers(NAME, queue, 5, move |key| {
        let c = c.clone();
        async move { c.sync(&key).await }
    })
    .await;
    drop((pdb_informer, pod_informer, replicasets, deployments));
    Ok(())
}

impl Controller {
    async fn sync(&self, key: &str) -> Result<Requeue, DisruptionError> {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let Some(pdb) = self.pdbs.get(&ObjectRef::new(name).within(ns)) else {
            return Ok(Requeue::No);
        };
        match self.try_sync(&pdb).await {
            Ok(r) => Ok(r),
            Err(DisruptionError::Api(e)) if is_conflict(&e) => Err(DisruptionError::Api(e)),
            Err(e) => {
                // Upstream failSafe: no disruptions while the budget cannot be computed.
                self.fail_safe(&pdb, &e.to_string()).await?;
                Err(e)
            }
        }
    }

    async fn try_sync(&self, pdb: &PodDisruptionBudget) -> Result<Requeue, DisruptionError> {
        let ns = pdb.metadata.namespace.as_deref().unwrap_or_default();
        let sel = pdb_selector(pdb)?;
        let pods = self.pods.state_filter(|p| {
            p.metadata.namespace.as_deref() == Some(ns)
                && sel.matches(&p.metadata.labels.clone().unwrap_or_default())
        });
        if pods.is_empty() {
            self.events
                .normal(pdb, "NoPods", "No matching pods found".to_string());
        }
        let spec = pdb.spec.clone().unwrap_or_default();
        let matching = i32::try_from(pods.len()).unwrap_or(i32::MAX);
        // Upstream needs the controllers' scale unless minAvailable is an integer.
        let needs_scale = spec.max_unavailable.is_some()
            || matches!(spec.min_available, Some(IntOrString::String(_)));
        let scale = if needs_scale {
            match self.expected_scale(pdb, &pods).await {
                Ok(s) => s,
                Err(e) => {
                    self.events.warning(
                        pdb,
                        "CalculateExpectedPodCountFailed",
                        format!("Failed to calculate the number of expected pods: {e}"),
                    );
                    return Err(e);
                }
            }
        } else {
            matching
        };
        let budget = expected_pod_count(
            spec.min_available.as_ref(),
            spec.max_unavailable.as_ref(),
            matching,
            || Ok(scale),
        )?;
        let now = Timestamp::now();
        let old = pdb.status.clone().unwrap_or_default();
        let DisruptedPods {
            live: disrupted,
            recheck,
            expired,
        } = live_disrupted_pods(&old.disrupted_pods.clone().unwrap_or_default(), &pods, now);
        for pod in &expired {
            self.events.warning(
                pod.as_ref(),
                "NotDeleted",
                format!(
                    "Pod was expected by PDB {ns}/{} to be deleted but it wasn't",
                    pdb.metadata.name.as_deref().unwrap_or_default()
                ),
            );
        }
        let healthy = count_healthy(&pods, &disrupted, now);
        let mut allowed = healthy - budget.desired_healthy;
        if budget.expected <= 0 || allowed <= 0 {
            allowed = 0;
        }
        let mut status = old.clone();
        status.current_healthy = healthy;
        status.desired_healthy = budget.desired_healthy;
        status.expected_pods = budget.expected;
        status.disruptions_allowed = allowed;
        status.disrupted_pods = (!disrupted.is_empty()).then_some(disrupted);
        status.observed_generation = pdb.metadata.generation;
        allowed_condition(&mut status, pdb.metadata.generation);
        if status != old {
            self.write_status(pdb, status).await?;
        }
        Ok(match recheck {
            Some(t) => Requeue::After(Duration::from_millis(
                t.duration_since(now).as_millis().max(0) as u64 + 1,
            )),
            None => Requeue::No,
        })
    }

    async fn fail_safe(
        &self,
        pdb: &PodDisruptionBudget,
        message: &str,
    ) -> Result<(), DisruptionError> {
        let mut status = pdb.status.clone().unwrap_or_default();
        status.disruptions_allowed = 0;
        let gen = status.observed_generation;
        set_condition(
            status.conditions.get_or_insert_with(Vec::new),
            Condition {
                type_: DISRUPTION_ALLOWED.into(),
                status: "False".into(),
                reason: SYNC_FAILED.into(),
                message: message.to_string(),
                observed_generation: gen,
                last_transition_time: Time(Timestamp::now()),
            },
        );
        if Some(&status) != pdb.status.as_ref() {
            self.write_status(pdb, status).await?;
        }
        Ok(())
    }

    async fn write_status(
        &self,
        pdb: &PodDisruptionBudget,
        status: PodDisruptionBudgetStatus,
    ) -> Result<(), DisruptionError> {
        let ns = pdb.metadata.namespace.as_deref().unwrap_or_default();
        let name = pdb.metadata.name.as_deref().unwrap_or_default();
        let mut next = pdb.clone();
        next.status = Some(status);
        // resourceVersion travels along: a concurrent eviction's update wins and we retry.
        Api::<PodDisruptionBudget>::namespaced(self.client.clone(), ns)
            .replace_status(name, &PostParams::default(), &next)
            .await?;
        Ok(())
    }

    /// Upstream `getExpectedScale`: the sum of the scale of every distinct controller of
    /// the matching pods.
    async fn expected_scale(
        &self,
        pdb: &PodDisruptionBudget,
        pods: &[Arc<Pod>],
    ) -> Result<i32, DisruptionError> {
        let mut scales: HashMap<String, i32> = HashMap::new();
        for pod in pods {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let Some(r) = controller_of(&pod.metadata) else {
                let e = DisruptionError::NoControllerRef(pod_name);
                self.events.warning(pdb, "NoControllerRef", e.to_string());
                return Err(e);
            };
            if scales.contains_key(&r.uid) {
                continue;
            }
            let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
            match self.scale_of(r, ns).await? {
                Some((uid, n)) => {
                    scales.insert(uid, n);
                }
                None => {
                    let e = DisruptionError::NoControllers(pod_name);
                    self.events.warning(pdb, "NoControllers", e.to_string());
                    return Err(e);
                }
            }
        }
        Ok(scales.values().sum())
    }

    /// The (uid, scale) of the controller `r` points at, if it exists with that uid.
    async fn scale_of(
        &self,
        r: &OwnerReference,
        ns: &str,
    ) -> Result<Option<(String, i32)>, DisruptionError> {
        let (group, version) = match r.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", r.api_version.as_str()),
        };
        if group == "apps" && r.kind == "ReplicaSet" {
            let Some(rs) = self.replicasets.get(&ObjectRef::new(&r.name).within(ns)) else {
                return Ok(None);
            };
            if rs.metadata.uid.as_deref() != Some(r.uid.as_str()) {
                return Ok(None);
            }
            // Upstream getPodReplicaSet defers to the Deployment finder for owned sets.
            if let Some(d_ref) = controller_of(&rs.metadata).filter(|d| d.kind == "Deployment") {
                let Some(d) = self
                    .deployments
                    .get(&ObjectRef::new(&d_ref.name).within(ns))
                else {
                    return Ok(None);
                };
                if d.metadata.uid.as_deref() != Some(d_ref.uid.as_str()) {
                    return Ok(None);
                }
                let n = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                return Ok(Some((d_ref.uid.clone(), n)));
            }
            let n = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            return Ok(Some((r.uid.clone(), n)));
        }
        // Everything else: the scale subresource (upstream getScaleController).
        let Some(info) = rudder_api::catalog::by_kind(group, version, &r.kind) else {
            return Ok(None);
        };
        if info.subresource("scale").is_none() {
            return Ok(None);
        }
        let prefix = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let url = format!("{prefix}/namespaces/{ns}/{}/{}/scale", info.plural, r.name);
        let req = http::Request::get(url)
            .body(Vec::new())
            .map_err(|e| DisruptionError::Selector(e.to_string()))?;
        let scale: serde_json::Value = match self.client.request(req).await {
            Ok(v) => v,
            Err(e) if super::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if scale.pointer("/metadata/uid").and_then(|u| u.as_str()) != Some(r.uid.as_str()) {
            return Ok(None);
        }
        let n = scale
            .pointer("/spec/replicas")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        Ok(Some((r.uid.clone(), i32::try_from(n).unwrap_or(i32::MAX))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(i: i32) -> IntOrString {
        IntOrString::Int(i)
    }
    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn scaled_value_table() {
        let cases = [
            (int(3), 10, true, 3),
            (pct("50%"), 10, true, 5),
            (pct("50%"), 5, true, 3),
            (pct("50%"), 5, false, 2),
            (pct("34%"), 3, true, 2),
            (pct("0%"), 7, true, 0),
            (pct("100%"), 7, true, 7),
            (pct("1%"), 1, true, 1),
        ];
        for (v, total, up, want) in cases {
            assert_eq!(
                scaled_value(&v, total, up).unwrap(),
                want,
                "{v:?} of {total}"
            );
        }
        assert!(scaled_value(&pct("x%"), 3, true).is_err());
        assert!(scaled_value(&pct("50"), 3, true).is_err());
    }

    #[test]
    fn expected_pod_count_table() {
        // (minAvailable, maxUnavailable, matching pods, controller scale) -> (expected, desired)
        type Case = (
            Option<IntOrString>,
            Option<IntOrString>,
            i32,
            i32,
            (i32, i32),
        );
        let cases: Vec<Case> = vec![
            // Integer minAvailable counts the matching pods, not the controllers' scale.
            (Some(int(2)), None, 3, 10, (3, 2)),
            (Some(int(5)), None, 0, 10, (0, 5)),
            // Percentages scale by the controllers and round up.
            (Some(pct("50%")), None, 3, 5, (5, 3)),
            (Some(pct("100%")), None, 3, 3, (3, 3)),
            // maxUnavailable: expected minus the (rounded-up) unavailable, never negative.
            (None, Some(int(1)), 3, 3, (3, 2)),
            (None, Some(int(5)), 3, 3, (3, 0)),
            (None, Some(pct("30%")), 3, 10, (10, 7)),
            (None, Some(pct("25%")), 3, 3, (3, 2)),
            (None, Some(int(0)), 2, 2, (2, 2)),
        ];
        for (min, max, matching, scale, (expected, desired)) in cases {
            let got =
                expected_pod_count(min.as_ref(), max.as_ref(), matching, || Ok(scale)).unwrap();
            assert_eq!(
                got,
                Budget {
                    expected,
                    desired_healthy: desired
                },
                "min={min:?} max={max:?}"
            );
        }
        // The scale is not looked up for an integer minAvailable.
        expected_pod_count(Some(&int(1)), None, 1, || panic!("scale needed")).unwrap();
    }

    fn pod(name: &str, ready: bool, deleting: bool) -> Arc<Pod> {
        let mut p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "ns"},
            "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
        .unwrap();
        if deleting {
            p.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        }
        Arc::new(p)
    }

    #[test]
    fn healthy_and_disrupted_pods() {
        let now = Timestamp::now();
        let recent = Time(now - k8s_openapi::jiff::SignedDuration::from_secs(10));
        let stale = Time(now - k8s_openapi::jiff::SignedDuration::from_secs(300));
        let pods = vec![
            pod("a", true, false),
            pod("b", true, false),
            pod("c", true, true),
            pod("d", false, false),
            pod("e", true, false),
        ];
        let disrupted: BTreeMap<String, Time> = [
            ("b".to_string(), recent.clone()),
            ("e".to_string(), stale),
            ("gone".to_string(), recent.clone()),
        ]
        .into();
        let DisruptedPods {
            live,
            recheck,
            expired,
        } = live_disrupted_pods(&disrupted, &pods, now);
        // Expired (e) and vanished (gone) entries are dropped; b stays until its timeout.
        assert_eq!(live.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(recheck, Some(expiry(&recent.0)));
        assert_eq!(
            expired
                .iter()
                .map(|p| p.metadata.name.as_deref().unwrap())
                .collect::<Vec<_>>(),
            ["e"]
        );
        // a and e are healthy: b is being disrupted, c deleted, d not ready.
        assert_eq!(count_healthy(&pods, &live, now), 2);
    }

    #[test]
    fn condition_keeps_transition_time_when_status_unchanged() {
        let mut st = PodDisruptionBudgetStatus {
            disruptions_allowed: 1,
            ..Default::default()
        };
        allowed_condition(&mut st, Some(1));
        let c = &st.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", SUFFICIENT_PODS)
        );
        let t0 = c.last_transition_time.clone();
        st.disruptions_allowed = 2;
        allowed_condition(&mut st, Some(2));
        let c = &st.conditions.as_ref().unwrap()[0];
        assert_eq!(c.last_transition_time, t0);
        assert_eq!(c.observed_generation, Some(2));
        st.disruptions_allowed = 0;
        allowed_condition(&mut st, Some(2));
        let c = &st.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", INSUFFICIENT_PODS)
        );
        assert_eq!(st.conditions.as_ref().unwrap().len(), 1);
    }
}
