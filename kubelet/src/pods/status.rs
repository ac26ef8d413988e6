//! status: pure computation of a pod's `status` from what the runtime reports, mirroring
//! upstream's `generateAPIPodStatus`, `getPhase` and the pod condition generators.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// A container as the runtime reports it (one attempt).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attempt {
    pub id: String,
    pub attempt: u32,
    pub state: RunState,
    pub exit_code: i32,
    pub reason: String,
    pub message: String,
    /// Unix nanoseconds; zero when unknown.
    pub created_at: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub image_ref: String,
}

/// CRI container state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunState {
    #[default]
    Created,
    Running,
    Exited,
    Unknown,
}

/// The pod's sandbox as observed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SandboxInfo {
    pub id: String,
    pub ready: bool,
    pub ip: String,
}

/// Everything observed about one pod.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub sandbox: Option<SandboxInfo>,
    /// Per container name, its attempts, newest first.
    pub containers: HashMap<String, Vec<Attempt>>,
}

impl Observed {
    pub fn latest(&self, name: &str) -> Option<&Attempt> {
        self.containers.get(name).and_then(|a| a.first())
    }
}

/// Why a container is waiting, as the worker decided (ErrImagePull, CrashLoopBackOff...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: String,
}

/// Inputs besides the pod and observations.
#[derive(Debug, Clone)]
pub struct StatusContext<'a> {
    pub host_ip: &'a str,
    pub runtime_name: &'a str,
    pub waiting: &'a HashMap<String, Waiting>,
    /// Readiness per container name from probes; a container absent here with no
    /// readiness probe is ready when running.
    pub readiness: &'a HashMap<String, bool>,
    /// `started` per container name from probes; a running container absent here is
    /// started unless it has a startup probe (upstream: started stays false until the
    /// startup probe succeeds).
    pub started: &'a HashMap<String, bool>,
    pub now: Time,
}

fn time_from_nanos(n: i64) -> Option<Time> {
    if n <= 0 {
        return None;
    }
    k8s_openapi::jiff::Timestamp::from_nanosecond(i128::from(n))
        .ok()
        .map(Time)
}

/// Whether an init container is a restartable (sidecar) one.
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn terminated(a: &Attempt, runtime: &str) -> ContainerStateTerminated {
    ContainerStateTerminated {
        exit_code: a.exit_code,
        reason: Some(if a.reason.is_empty() {
            if a.exit_code == 0 {
                "Completed"
            } else {
                "Error"
            }
            .to_string()
        } else {
            a.reason.clone()
        }),
        message: (!a.message.is_empty()).then(|| a.message.clone()),
        started_at: time_from_nanos(a.started_at),
        finished_at: time_from_nanos(a.finished_at),
        container_id: Some(format!("{runtime}://{}", a.id)),
        signal: None,
    }
}

fn container_status(
    c: &Container,
    attempts: &[Attempt],
    ctx: &StatusContext<'_>,
    default_waiting: &str,
) -> ContainerStatus {
    let latest = attempts.first();
    let waiting = ctx.waiting.get(&c.name);
    let mut st = ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_id: latest.map(|a| a.image_ref.clone()).unwrap_or_default(),
        container_id: latest.map(|a| format!("{}://{}", ctx.runtime_name, a.id)),
        restart_count: latest.map(|a| a.attempt as i32).unwrap_or(0),
        ready: false,
        started: Some(false),
        ..Default::default()
    };
    let waiting_state = |reason: &str, message: Option<String>| ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_string()),
            message,
        }),
        ..Default::default()
    };
    match latest {
        None => {
            st.state = Some(match waiting {
                Some(w) => waiting_state(&w.reason, Some(w.message.clone())),
                None => waiting_state(default_waiting, None),
            });
        }
        Some(a) => {
            let previous = attempts.get(1);
            match a.state {
                RunState::Running => {
                    st.state = Some(ContainerState {
                        running: Some(ContainerStateRunning {
                            started_at: time_from_nanos(a.started_at),
                        }),
                        ..Default::default()
                    });
                    let started = ctx
                        .started
                        .get(&c.name)
                        .copied()
                        .unwrap_or(c.startup_probe.is_none());
                    st.started = Some(started);
                    // Not ready before started; then the readiness result, and without
                    // a readiness probe a running container is ready.
                    st.ready = started
                        && ctx
                            .readiness
                            .get(&c.name)
                            .copied()
                            .unwrap_or(c.readiness_probe.is_none());
                    st.last_state = previous.map(|p| ContainerState {
                        terminated: Some(terminated(p, ctx.runtime_name)),
                        ..Default::default()
                    });
                }
                RunState::Exited => {
                    if let Some(w) = waiting {
                        // Waiting to be restarted: the exit becomes lastState.
                        st.state = Some(waiting_state(&w.reason, Some(w.message.clone())));
                        st.last_state = Some(ContainerState {
                            terminated: Some(terminated(a, ctx.runtime_name)),
                            ..Default::default()
                        });
                    } else {
                        st.state = Some(ContainerState {
                            terminated: Some(terminated(a, ctx.runtime_name)),
                            ..Default::default()
                        });
                        st.last_state = previous.map(|p| ContainerState {
                            terminated: Some(terminated(p, ctx.runtime_name)),
                            ..Default::default()
                        });
                    }
                }
                RunState::Created | RunState::Unknown => {
                    st.state = Some(match waiting {
                        Some(w) => waiting_state(&w.reason, Some(w.message.clone())),
                        None => waiting_state("ContainerCreating", None),
                    });
                    st.last_state = previous.map(|p| ContainerState {
                        terminated: Some(terminated(p, ctx.runtime_name)),
                        ..Default::default()
                    });
                }
            }
        }
    }
    if st.last_state.is_none() {
        st.last_state = Some(ContainerState::default());
    }
    st
}

fn state_kind(s: &ContainerStatus) -> (&'static str, Option<i32>) {
    match &s.state {
        Some(ContainerState {
            running: Some(_), ..
        }) => ("running", None),
        Some(ContainerState {
            terminated: Some(t),
            ..
        }) => ("terminated", Some(t.exit_code)),
        _ => ("waiting", None),
    }
}

fn last_terminated_code(s: &ContainerStatus) -> Option<i32> {
    s.last_state
        .as_ref()
        .and_then(|l| l.terminated.as_ref())
        .map(|t| t.exit_code)
}

/// Upstream's `getPhase` for the given statuses.
pub fn phase(pod: &Pod, init: &[ContainerStatus], app: &[ContainerStatus]) -> &'static str {
    let spec = pod.spec.as_ref();
    let restart = spec
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always");
    let init_specs = spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or(&[]);
    let mut pending_init = 0;
    let mut failed_init = 0;
    for (c, s) in init_specs.iter().zip(init) {
        if is_sidecar(c) {
            if s.started != Some(true) {
                pending_init += 1;
            }
            continue;
        }
        match state_kind(s) {
            ("terminated", Some(0)) => {}
            ("terminated", _) => failed_init += 1,
            ("running", _) => pending_init += 1,
            _ => {
                if last_terminated_code(s).is_some_and(|c| c != 0) {
                    failed_init += 1
                } else {
                    pending_init += 1
                }
            }
        }
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in app {
        match state_kind(s) {
            ("running", _) => running += 1,
            ("terminated", code) => {
                stopped += 1;
                if code == Some(0) {
                    succeeded += 1;
                }
            }
            _ => {
                if last_terminated_code(s).is_some() {
                    stopped += 1;
                } else {
                    waiting += 1;
                }
            }
        }
    }
    if failed_init > 0 && restart == "Never" {
        return "Failed";
    }
    if pending_init > 0 || failed_init > 0 || waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        if restart == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if restart == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

/// Upstream's QoS class: Guaranteed when every container has cpu and memory limits equal
/// to its requests, BestEffort when none has any, Burstable otherwise.
pub fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "BestEffort";
    };
    let all = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    let mut any = false;
    let mut guaranteed = true;
    for c in all {
        let r = c.resources.clone().unwrap_or_default();
        let limits = r.limits.unwrap_or_default();
        let requests = r.requests.unwrap_or_default();
        for res in ["cpu", "memory"] {
            let l = limits.get(res);
            let q = requests.get(res).or(l);
            if l.is_some() || q.is_some() {
                any = true;
            }
            if l.is_none() || l != q {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn condition(
    type_: &str,
    ok: bool,
    reason: Option<String>,
    message: Option<String>,
) -> PodCondition {
    PodCondition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: if ok { None } else { reason },
        message: if ok { None } else { message },
        ..Default::default()
    }
}

/// Computes the full status. `previous` supplies startTime, PodScheduled and transition
/// times of conditions whose status did not change.
pub fn compute(pod: &Pod, observed: &Observed, ctx: &StatusContext<'_>) -> PodStatus {
    let spec = pod.spec.clone().unwrap_or_default();
    let previous = pod.status.clone().unwrap_or_default();
    let host_network = spec.host_network == Some(true);
    let init_specs = spec.init_containers.clone().unwrap_or_default();
    let empty = Vec::new();
    let init: Vec<ContainerStatus> = init_specs
        .iter()
        .map(|c| {
            container_status(
                c,
                observed.containers.get(&c.name).unwrap_or(&empty),
                ctx,
                "PodInitializing",
            )
        })
        .collect();
    let init_done = init_specs.iter().zip(&init).all(|(c, s)| {
        if is_sidecar(c) {
            s.started == Some(true)
        } else {
            state_kind(s) == ("terminated", Some(0))
        }
    });
    let app_default = if init_done {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let app: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| {
            container_status(
                c,
                observed.containers.get(&c.name).unwrap_or(&empty),
                ctx,
                app_default,
            )
        })
        .collect();
    let phase = phase(pod, &init, &app);

    // Conditions (pkg/kubelet/status/generate.go).
    let sandbox_ready = observed
        .sandbox
        .as_ref()
        .is_some_and(|s| s.ready && (host_network || !s.ip.is_empty()));
    let incomplete: Vec<&str> = init_specs
        .iter()
        .zip(&init)
        .filter(|(c, s)| {
            if is_sidecar(c) {
                s.started != Some(true)
            } else {
                state_kind(s) != ("terminated", Some(0))
            }
        })
        .map(|(c, _)| c.name.as_str())
        .collect();
    let mut unready: Vec<&str> = init_specs
        .iter()
        .zip(&init)
        .filter(|(c, s)| is_sidecar(c) && !s.ready)
        .map(|(c, _)| c.name.as_str())
        .collect();
    unready.extend(app.iter().filter(|s| !s.ready).map(|s| s.name.as_str()));
    let completed = phase == "Succeeded";
    let reason = |r: &str| Some(if completed { "PodCompleted" } else { r }.to_string());
    let initialized = condition(
        "Initialized",
        incomplete.is_empty() || completed,
        reason("ContainersNotInitialized"),
        Some(format!(
            "containers with incomplete status: [{}]",
            incomplete.join(" ")
        )),
    );
    let unready_msg = if incomplete.is_empty() {
        format!("containers with unready status: [{}]", unready.join(" "))
    } else {
        format!(
            "containers with incomplete status: [{}]",
            incomplete.join(" ")
        )
    };
    let containers_ready = condition(
        "ContainersReady",
        unready.is_empty() && incomplete.is_empty() && !completed,
        reason(if incomplete.is_empty() {
            "ContainersNotReady"
        } else {
            "ContainersNotInitialized"
        }),
        Some(unready_msg.clone()),
    );
    let mut ready = containers_ready.clone();
    ready.type_ = "Ready".into();
    let mut conditions = vec![
        condition("PodReadyToStartContainers", sandbox_ready, None, None),
        initialized,
        ready,
        containers_ready,
    ];
    let prev_conds = previous.conditions.clone().unwrap_or_default();
    if let Some(sched) = prev_conds.iter().find(|c| c.type_ == "PodScheduled") {
        conditions.push(sched.clone());
    }
    for c in conditions.iter_mut() {
        if c.type_ == "PodScheduled" {
            continue;
        }
        c.last_transition_time = match prev_conds.iter().find(|p| p.type_ == c.type_) {
            Some(p) if p.status == c.status => p.last_transition_time.clone(),
            _ => Some(ctx.now.clone()),
        };
    }
    let pod_ip = observed
        .sandbox
        .as_ref()
        .map(|s| {
            if host_network {
                ctx.host_ip.to_string()
            } else {
                s.ip.clone()
            }
        })
        .filter(|ip| !ip.is_empty());
    PodStatus {
        phase: Some(phase.to_string()),
        conditions: Some(conditions),
        host_ip: Some(ctx.host_ip.to_string()),
        host_ips: Some(vec![HostIP {
            ip: ctx.host_ip.to_string(),
        }]),
        pod_ip: pod_ip.clone(),
        pod_ips: pod_ip.map(|ip| vec![PodIP { ip }]),
        start_time: previous.start_time.clone().or(Some(ctx.now.clone())),
        qos_class: Some(qos_class(pod).to_string()),
        init_container_statuses: (!init.is_empty()).then_some(init),
        container_statuses: Some(app),
        nominated_node_name: previous.nominated_node_name.clone(),
        ..Default::default()
    }
}

/// Whether two statuses differ (the worker patches only then).
pub fn changed(old: Option<&PodStatus>, new: &PodStatus) -> bool {
    old != Some(new)
}

/// `name_namespace(uid)`: upstream's `format.Pod`, used in event and back-off messages.
pub fn pod_desc(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

/// Labels upstream puts on every sandbox and container of a pod.
pub fn pod_labels(pod: &Pod) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "io.kubernetes.pod.name".to_string(),
            pod.metadata.name.clone().unwrap_or_default(),
        ),
        (
            "io.kubernetes.pod.namespace".to_string(),
            pod.metadata.namespace.clone().unwrap_or_default(),
        ),
        (
            "io.kubernetes.pod.uid".to_string(),
            pod.metadata.uid.clone().unwrap_or_default(),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(restart: &str, init: &[(&str, bool)], app: &[&str]) -> Pod {
        let init: Vec<serde_json::Value> = init
            .iter()
            .map(|(n, sidecar)| {
                if *sidecar {
                    serde_json::json!({"name": n, "image": "i", "restartPolicy": "Always"})
                } else {
                    serde_json::json!({"name": n, "image": "i"})
                }
            })
            .collect();
        let app: Vec<serde_json::Value> = app
            .iter()
            .map(|n| serde_json::json!({"name": n, "image": "i"}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {"restartPolicy": restart, "initContainers": init, "containers": app},
            "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}
        }))
        .unwrap()
    }

    fn att(state: RunState, code: i32, attempt: u32) -> Attempt {
        Attempt {
            id: format!("id{attempt}"),
            attempt,
            state,
            exit_code: code,
            started_at: 1_000_000_000,
            finished_at: if state == RunState::Exited {
                2_000_000_000
            } else {
                0
            },
            ..Default::default()
        }
    }

    fn obs(entries: &[(&str, Vec<Attempt>)]) -> Observed {
        Observed {
            sandbox: Some(SandboxInfo {
                id: "sb".into(),
                ready: true,
                ip: "10.88.0.2".into(),
            }),
            containers: entries
                .iter()
                .map(|(n, a)| (n.to_string(), a.clone()))
                .collect(),
        }
    }

    fn run(p: &Pod, o: &Observed, waiting: &[(&str, &str)]) -> PodStatus {
        let waiting: HashMap<String, Waiting> = waiting
            .iter()
            .map(|(n, r)| {
                (
                    n.to_string(),
                    Waiting {
                        reason: r.to_string(),
                        message: String::new(),
                    },
                )
            })
            .collect();
        let readiness = HashMap::new();
        let started = HashMap::new();
        let ctx = StatusContext {
            host_ip: "192.168.1.2",
            runtime_name: "containerd",
            waiting: &waiting,
            readiness: &readiness,
            started: &started,
            now: Time(k8s_openapi::jiff::Timestamp::from_second(100).unwrap()),
        };
        compute(p, o, &ctx)
    }

    fn cond<'a>(s: &'a PodStatus, t: &str) -> &'a PodCondition {
        s.conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == t)
            .unwrap()
    }

    type PhaseCase = (
        &'static str,
        Pod,
        Observed,
        Vec<(&'static str, &'static str)>,
        &'static str,
    );

    #[test]
    fn phase_table() {
        use RunState::*;
        let cases: Vec<PhaseCase> = vec![
            (
                "nothing yet",
                pod("Always", &[], &["a"]),
                obs(&[]),
                vec![],
                "Pending",
            ),
            (
                "running",
                pod("Always", &[], &["a"]),
                obs(&[("a", vec![att(Running, 0, 0)])]),
                vec![],
                "Running",
            ),
            (
                "succeeded never",
                pod("Never", &[], &["a"]),
                obs(&[("a", vec![att(Exited, 0, 0)])]),
                vec![],
                "Succeeded",
            ),
            (
                "failed never",
                pod("Never", &[], &["a"]),
                obs(&[("a", vec![att(Exited, 1, 0)])]),
                vec![],
                "Failed",
            ),
            (
                "failed onfailure restarting",
                pod("OnFailure", &[], &["a"]),
                obs(&[("a", vec![att(Exited, 1, 0)])]),
                vec![("a", "CrashLoopBackOff")],
                "Running",
            ),
            (
                "always exited 0 restarting",
                pod("Always", &[], &["a"]),
                obs(&[("a", vec![att(Exited, 0, 0)])]),
                vec![("a", "CrashLoopBackOff")],
                "Running",
            ),
            (
                "init running",
                pod("Always", &[("i", false)], &["a"]),
                obs(&[("i", vec![att(Running, 0, 0)])]),
                vec![],
                "Pending",
            ),
            (
                "init failed never",
                pod("Never", &[("i", false)], &["a"]),
                obs(&[("i", vec![att(Exited, 2, 0)])]),
                vec![],
                "Failed",
            ),
            (
                "init failed always",
                pod("Always", &[("i", false)], &["a"]),
                obs(&[("i", vec![att(Exited, 2, 0)])]),
                vec![("i", "CrashLoopBackOff")],
                "Pending",
            ),
            (
                "sidecar started, app running",
                pod("Never", &[("s", true)], &["a"]),
                obs(&[
                    ("s", vec![att(Running, 0, 0)]),
                    ("a", vec![att(Running, 0, 0)]),
                ]),
                vec![],
                "Running",
            ),
            (
                "image pull error",
                pod("Always", &[], &["a"]),
                obs(&[]),
                vec![("a", "ErrImagePull")],
                "Pending",
            ),
        ];
        for (name, p, o, w, want) in cases {
            let st = run(&p, &o, &w);
            assert_eq!(st.phase.as_deref(), Some(want), "{name}");
        }
    }

    #[test]
    fn conditions_and_container_statuses() {
        use RunState::*;
        let p = pod("Always", &[("i", false)], &["a", "b"]);
        let st = run(&p, &obs(&[("i", vec![att(Running, 0, 0)])]), &[]);
        assert_eq!(cond(&st, "Initialized").status, "False");
        assert_eq!(
            cond(&st, "Initialized").message.as_deref(),
            Some("containers with incomplete status: [i]")
        );
        assert_eq!(cond(&st, "PodReadyToStartContainers").status, "True");
        assert_eq!(cond(&st, "PodScheduled").status, "True");
        let a = &st.container_statuses.as_ref().unwrap()[0];
        assert_eq!(
            a.state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("PodInitializing")
        );

        let st = run(
            &p,
            &obs(&[
                ("i", vec![att(Exited, 0, 0)]),
                ("a", vec![att(Running, 0, 1), att(Exited, 1, 0)]),
                ("b", vec![att(Exited, 1, 3)]),
            ]),
            &[("b", "CrashLoopBackOff")],
        );
        assert_eq!(cond(&st, "Initialized").status, "True");
        assert_eq!(cond(&st, "Ready").status, "False");
        assert_eq!(
            cond(&st, "ContainersReady").message.as_deref(),
            Some("containers with unready status: [b]")
        );
        let cs = st.container_statuses.as_ref().unwrap();
        assert!(cs[0].ready && cs[0].restart_count == 1);
        let last = cs[0]
            .last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap();
        assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
        assert_eq!(cs[0].container_id.as_deref(), Some("containerd://id1"));
        assert_eq!(cs[1].restart_count, 3);
        assert_eq!(
            cs[1]
                .state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("CrashLoopBackOff")
        );
        assert_eq!(st.pod_ip.as_deref(), Some("10.88.0.2"));
        assert_eq!(st.qos_class.as_deref(), Some("BestEffort"));

        let st = run(
            &pod("Never", &[], &["a"]),
            &obs(&[("a", vec![att(Exited, 0, 0)])]),
            &[],
        );
        assert_eq!(cond(&st, "Ready").reason.as_deref(), Some("PodCompleted"));
    }

    #[test]
    fn started_waits_for_the_startup_probe() {
        use RunState::*;
        let mut p = pod("Always", &[], &["a"]);
        p.spec.as_mut().unwrap().containers[0].startup_probe = Some(
            serde_json::from_value(serde_json::json!({"exec": {"command": ["true"]}})).unwrap(),
        );
        let o = obs(&[("a", vec![att(Running, 0, 0)])]);
        let waiting = HashMap::new();
        // (started from probes, readiness from probes) -> (started, ready)
        let cases = [
            (None, None, false, false),
            (Some(false), None, false, false),
            (Some(false), Some(true), false, false),
            (Some(true), None, true, true),
            (Some(true), Some(false), true, false),
        ];
        for (probe_started, probe_ready, want_started, want_ready) in cases {
            let started: HashMap<String, bool> = probe_started
                .map(|v| ("a".to_string(), v))
                .into_iter()
                .collect();
            let readiness: HashMap<String, bool> = probe_ready
                .map(|v| ("a".to_string(), v))
                .into_iter()
                .collect();
            let ctx = StatusContext {
                host_ip: "192.168.1.2",
                runtime_name: "containerd",
                waiting: &waiting,
                readiness: &readiness,
                started: &started,
                now: Time(k8s_openapi::jiff::Timestamp::from_second(100).unwrap()),
            };
            let st = compute(&p, &o, &ctx);
            let cs = &st.container_statuses.unwrap()[0];
            assert_eq!(
                (cs.started, cs.ready),
                (Some(want_started), want_ready),
                "{probe_started:?} {probe_ready:?}"
            );
        }
    }

    #[test]
    fn transition_times_kept_when_unchanged() {
        use RunState::*;
        let mut p = pod("Always", &[], &["a"]);
        let first = run(&p, &obs(&[("a", vec![att(Running, 0, 0)])]), &[]);
        p.status = Some(first.clone());
        let second = run(&p, &obs(&[("a", vec![att(Running, 0, 0)])]), &[]);
        assert!(!changed(Some(&first), &second));
    }

    #[test]
    fn qos_classes() {
        let mk = |res: serde_json::Value| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "a", "resources": res}]}
            }))
            .unwrap()
        };
        assert_eq!(qos_class(&mk(serde_json::json!({}))), "BestEffort");
        assert_eq!(
            qos_class(&mk(
                serde_json::json!({"limits": {"cpu": "1", "memory": "1Gi"}})
            )),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&mk(serde_json::json!({"requests": {"cpu": "1"}}))),
            "Burstable"
        );
    }
}
