//! The scheduling framework: upstream's extension points as traits, the per-cycle state,
//! the node view the plugins read, and a [`Framework`] (one per profile) that runs them.
//!
//! Mirrors upstream `pkg/scheduler/framework` (interface.go, types.go, cycle_state.go): a
//! plugin implements any subset of the extension-point traits and is registered under its
//! upstream name; the [`crate::registry`] builds a [`Framework`] from a profile.

use std::any::Any;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Node, Pod, PodAffinityTerm};
use rudder_api::labels::Selector;

use crate::resources::{self, ResourceList};

/// The highest score a Score plugin may give after normalization (upstream `MaxNodeScore`).
pub const MAX_NODE_SCORE: i64 = 100;
/// The lowest score (upstream `MinNodeScore`).
pub const MIN_NODE_SCORE: i64 = 0;

/// The outcome kinds of a plugin call (upstream `framework.Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The plugin ran and allows the pod.
    Success,
    /// An internal error; the pod is retried with backoff.
    Error,
    /// The pod does not fit now; preemption may help.
    Unschedulable,
    /// The pod does not fit and preemption would not help.
    UnschedulableAndUnresolvable,
    /// A Permit plugin asks to wait.
    Wait,
    /// The plugin has nothing to do for this pod; its later extension points are skipped.
    Skip,
    /// The pod waits for something external (upstream `Pending`).
    Pending,
}

/// A plugin's answer: a code plus human readable reasons (upstream `framework.Status`).
///
/// Reasons are usually upstream's fixed messages and the plugin a `&'static` name, so a
/// rejection (made for most nodes of a large cluster when few fit) allocates only its
/// reason list, not a copy of each string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The outcome.
    pub code: Code,
    /// Reasons, each counted separately in the FailedScheduling message.
    pub reasons: Vec<Cow<'static, str>>,
    /// The plugin that answered (set by the framework; empty until then).
    pub plugin: &'static str,
}

impl Status {
    /// A success.
    pub fn success() -> Status {
        Status::bare(Code::Success)
    }
    fn bare(code: Code) -> Status {
        Status {
            code,
            reasons: Vec::new(),
            plugin: "",
        }
    }
    /// A status with the given code and reasons.
    pub fn new<R: Into<Cow<'static, str>>>(
        code: Code,
        reasons: impl IntoIterator<Item = R>,
    ) -> Status {
        Status {
            code,
            reasons: reasons.into_iter().map(Into::into).collect(),
            plugin: "",
        }
    }
    /// Unschedulable with one reason.
    pub fn unschedulable(reason: impl Into<Cow<'static, str>>) -> Status {
        Status::new(Code::Unschedulable, [reason])
    }
    /// UnschedulableAndUnresolvable with one reason.
    pub fn unresolvable(reason: impl Into<Cow<'static, str>>) -> Status {
        Status::new(Code::UnschedulableAndUnresolvable, [reason])
    }
    /// An internal error.
    pub fn error(msg: impl Into<Cow<'static, str>>) -> Status {
        Status::new(Code::Error, [msg])
    }
    /// Skip.
    pub fn skip() -> Status {
        Status::bare(Code::Skip)
    }
    /// Whether the code is Success.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }
    /// Whether the pod is rejected (either unschedulable code).
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable | Code::Pending
        )
    }
    /// The reasons joined as upstream `Status.Message`.
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }
    fn with_plugin(mut self, name: &'static str) -> Status {
        self.plugin = name;
        self
    }
}

/// A pod (anti-)affinity term with its selector and namespaces resolved against the pod
/// that owns it (upstream `framework.AffinityTerm`), parsed once per pod.
#[derive(Debug, Clone)]
pub struct AffinityTerm {
    /// The label selector, with matchLabelKeys / mismatchLabelKeys applied.
    pub selector: Selector,
    /// The namespaces it covers; None for all.
    pub namespaces: Option<Vec<String>>,
    /// The topology key.
    pub topology_key: String,
}

impl AffinityTerm {
    /// Resolves a term of `owner`.
    pub fn new(owner: &Pod, t: &PodAffinityTerm) -> Result<AffinityTerm, String> {
        let mut sel = serde_json::to_value(&t.label_selector).unwrap_or_default();
        let labels = owner.metadata.labels.clone().unwrap_or_default();
        // matchLabelKeys / mismatchLabelKeys add In / NotIn on the owner's own values.
        let extra = t
            .match_label_keys
            .iter()
            .flatten()
            .map(|k| (k, "In"))
            .chain(t.mismatch_label_keys.iter().flatten().map(|k| (k, "NotIn")));
        for (k, op) in extra {
            if let Some(v) = labels.get(k) {
                if sel.is_null() {
                    sel = serde_json::json!({});
                }
                if let Some(o) = sel.as_object_mut() {
                    let e = o.entry("matchExpressions").or_insert(serde_json::json!([]));
                    if let Some(a) = e.as_array_mut() {
                        a.push(serde_json::json!({"key": k, "operator": op, "values": [v]}));
                    }
                }
            }
        }
        let selector = Selector::from_label_selector(&sel).map_err(|e| e.to_string())?;
        let all_namespaces = t.namespace_selector.as_ref().is_some_and(|s| {
            s.match_labels.as_ref().is_none_or(|m| m.is_empty())
                && s.match_expressions.as_ref().is_none_or(|m| m.is_empty())
        });
        let namespaces = if all_namespaces {
            None
        } else {
            let mut ns = t.namespaces.clone().unwrap_or_default();
            if ns.is_empty() && t.namespace_selector.is_none() {
                ns.push(owner.metadata.namespace.clone().unwrap_or_default());
            }
            Some(ns)
        };
        Ok(AffinityTerm {
            selector,
            namespaces,
            topology_key: t.topology_key.clone(),
        })
    }

    /// Whether the term selects `pod` (namespace and labels).
    pub fn matches(&self, pod: &Pod) -> bool {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        if let Some(list) = &self.namespaces {
            if !list.iter().any(|n| n == ns) {
                return false;
            }
        }
        self.selector.matches_with(|k| {
            pod.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(k))
                .map(String::as_str)
        })
    }
}

/// A pod's own pod (anti-)affinity terms, parsed once when it enters the cache
/// (upstream `PodInfo.RequiredAffinityTerms` and friends). Terms that do not parse are
/// left out, as InterPodAffinity ignored them on existing pods before.
#[derive(Debug, Clone, Default)]
pub struct PodTerms {
    /// requiredDuringScheduling pod affinity.
    pub required_affinity: Vec<AffinityTerm>,
    /// requiredDuringScheduling pod anti-affinity.
    pub required_anti: Vec<AffinityTerm>,
    /// preferred pod affinity with its weight.
    pub preferred_affinity: Vec<(AffinityTerm, i64)>,
    /// preferred pod anti-affinity with its weight negated.
    pub preferred_anti: Vec<(AffinityTerm, i64)>,
}

impl PodTerms {
    fn new(pod: &Pod) -> PodTerms {
        let Some(a) = pod.spec.as_ref().and_then(|s| s.affinity.as_ref()) else {
            return PodTerms::default();
        };
        let req = |ts: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            ts.into_iter()
                .flatten()
                .filter_map(|t| AffinityTerm::new(pod, t).ok())
                .collect()
        };
        let pref = |ts: Option<&Vec<k8s_openapi::api::core::v1::WeightedPodAffinityTerm>>,
                    sign: i64|
         -> Vec<(AffinityTerm, i64)> {
            ts.into_iter()
                .flatten()
                .filter_map(|w| {
                    AffinityTerm::new(pod, &w.pod_affinity_term)
                        .ok()
                        .map(|t| (t, sign * i64::from(w.weight)))
                })
                .collect()
        };
        let (pa, pan) = (a.pod_affinity.as_ref(), a.pod_anti_affinity.as_ref());
        PodTerms {
            required_affinity: req(pa.and_then(|x| {
                x.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            required_anti: req(pan.and_then(|x| {
                x.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_affinity: pref(
                pa.and_then(|x| {
                    x.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
                1,
            ),
            preferred_anti: pref(
                pan.and_then(|x| {
                    x.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
                -1,
            ),
        }
    }
}

/// A pod with what the plugins need precomputed.
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// The pod.
    pub pod: Arc<Pod>,
    /// Effective requests (see [`resources::pod_requests`]).
    pub requests: ResourceList,
    /// cpu/memory requests with upstream's non-zero defaults, for scoring.
    pub non_zero: (i64, i64),
    /// `requests` of the [`resources::CORE`] resources.
    pub requests_core: [i64; 4],
    /// Its pod (anti-)affinity terms, parsed.
    pub terms: Arc<PodTerms>,
}

impl PodInfo {
    /// Precomputes a pod's requests.
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let mut pi = PodInfo {
            requests: resources::pod_requests(&pod),
            non_zero: resources::pod_non_zero_requests(&pod),
            terms: Arc::new(PodTerms::new(&pod)),
            requests_core: [0; 4],
            pod,
        };
        pi.requests_core = resources::core_of(&pi.requests);
        pi
    }
}

/// A host port in use on a node: (hostIP, protocol, hostPort).
pub type HostPort = (String, String, i32);

/// The view of one node the plugins read (upstream `framework.NodeInfo`): the node object,
/// the pods on it (bound or assumed), and their summed requests.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The node.
    pub node: Arc<Node>,
    /// Pods on the node, including assumed ones.
    pub pods: Vec<Arc<PodInfo>>,
    /// Sum of the pods' requests.
    pub requested: ResourceList,
    /// `requested` of the [`resources::CORE`] resources.
    pub requested_core: [i64; 4],
    /// `allocatable` of the [`resources::CORE`] resources.
    pub allocatable_core: [i64; 4],
    /// Sum of the pods' non-zero cpu/memory requests.
    pub non_zero_requested: (i64, i64),
    /// The node's allocatable resources.
    pub allocatable: ResourceList,
    /// Host ports used by the pods.
    pub used_ports: Vec<HostPort>,
    /// Pods with any pod affinity or anti-affinity term (upstream
    /// `PodsWithAffinity`), so InterPodAffinity can skip the other nodes.
    pub pods_with_affinity: usize,
    /// Pods with required anti-affinity (upstream `PodsWithRequiredAntiAffinity`).
    pub pods_with_required_anti_affinity: usize,
    /// The node's images by normalized name (`name:latest` for untagged names) with their
    /// size (upstream `NodeInfo.ImageStates`), computed once per node object so
    /// ImageLocality does not re-parse `status.images` for every pod.
    pub images: HashMap<String, i64>,
    /// `spec.unschedulable` and `spec.taints`, copied here because Filter reads them for
    /// every node it visits: the node object itself is then not touched by the default
    /// filters, which in a 5,000-node cluster means one cache miss fewer per node.
    pub unschedulable: bool,
    /// The node's taints (see `unschedulable`).
    pub taints: Vec<k8s_openapi::api::core::v1::Taint>,
}

impl NodeInfo {
    /// A node with no pods.
    pub fn new(node: Arc<Node>) -> NodeInfo {
        let allocatable =
            resources::to_list(node.status.as_ref().and_then(|s| s.allocatable.as_ref()));
        let mut images = HashMap::new();
        for img in node.status.iter().flat_map(|s| s.images.iter().flatten()) {
            let size = img.size_bytes.unwrap_or(0);
            for name in img.names.iter().flatten() {
                images.insert(normalized_image_name(name), size);
            }
        }
        let spec = node.spec.as_ref();
        NodeInfo {
            images,
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            taints: spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
            node,
            pods: Vec::new(),
            requested: ResourceList::new(),
            requested_core: [0; 4],
            allocatable_core: resources::core_of(&allocatable),
            non_zero_requested: (0, 0),
            allocatable,
            used_ports: Vec::new(),
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
        }
    }
    /// Allocatable amount of a resource (0 when the node does not report it).
    pub fn allocatable_of(&self, name: &str) -> i64 {
        match resources::core_index(name) {
            Some(i) => self.allocatable_core[i],
            None => self.allocatable.get(name).copied().unwrap_or(0),
        }
    }
    /// Requested amount of a resource over the node's pods.
    pub fn requested_of(&self, name: &str) -> i64 {
        match resources::core_index(name) {
            Some(i) => self.requested_core[i],
            None => self.requested.get(name).copied().unwrap_or(0),
        }
    }
    /// The node's name.
    pub fn name(&self) -> &str {
        self.node.metadata.name.as_deref().unwrap_or("")
    }
    /// A copy without the pods `drop` selects (for preemption's what-if runs).
    pub fn without(&self, drop: impl Fn(&PodInfo) -> bool) -> NodeInfo {
        let mut ni = self.empty_copy();
        for p in &self.pods {
            if !drop(p) {
                ni.add_pod(p.clone());
            }
        }
        ni
    }

    /// The same node with no pods; the per-node precomputation (allocatable, images) is
    /// kept rather than recomputed from the node object.
    pub fn empty_copy(&self) -> NodeInfo {
        NodeInfo {
            node: self.node.clone(),
            pods: Vec::new(),
            requested: ResourceList::new(),
            requested_core: [0; 4],
            allocatable_core: self.allocatable_core,
            non_zero_requested: (0, 0),
            allocatable: self.allocatable.clone(),
            used_ports: Vec::new(),
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
            images: self.images.clone(),
            unschedulable: self.unschedulable,
            taints: self.taints.clone(),
        }
    }

    /// Adds a pod and its requests and ports.
    pub fn add_pod(&mut self, p: Arc<PodInfo>) {
        for (k, v) in &p.requests {
            *self.requested.entry(k.clone()).or_insert(0) += v;
        }
        for (r, v) in self.requested_core.iter_mut().zip(p.requests_core) {
            *r += v;
        }
        self.non_zero_requested.0 += p.non_zero.0;
        self.non_zero_requested.1 += p.non_zero.1;
        self.used_ports.extend(host_ports(&p.pod));
        let affinity = p.pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
        if affinity.is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some()) {
            self.pods_with_affinity += 1;
        }
        if affinity
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .is_some_and(|t| !t.is_empty())
        {
            self.pods_with_required_anti_affinity += 1;
        }
        self.pods.push(p);
    }
}

/// Upstream `normalizedImageName`: an image without a tag gets ":latest".
pub fn normalized_image_name(name: &str) -> String {
    let colon = name.rfind(':');
    let slash = name.rfind('/');
    if colon.map(|c| c as i64).unwrap_or(-1) <= slash.map(|s| s as i64).unwrap_or(-1) {
        format!("{name}:latest")
    } else {
        name.to_string()
    }
}

/// The nodes one scheduling cycle sees (upstream `internal/cache.Snapshot`), kept by the
/// scheduling loop and brought up to date from the [`crate::cache::Cache`] at the start
/// of each cycle, copying only the nodes that changed. Node views are shared `Arc`s, so a
/// cycle never copies a node.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every node, in name order.
    pub nodes: Vec<Arc<NodeInfo>>,
    /// Indices into `nodes` of the nodes running a pod with pod (anti-)affinity terms
    /// (upstream `havePodsWithAffinityNodeInfoList`).
    pub with_affinity: std::collections::BTreeSet<usize>,
    /// Indices of the nodes running a pod with required anti-affinity (upstream
    /// `havePodsWithRequiredAntiAffinityNodeInfoList`).
    pub with_required_anti_affinity: std::collections::BTreeSet<usize>,
    /// For each normalized image name, how many nodes have it (upstream
    /// `ImageStateSummary.NumNodes`, kept by the cache).
    pub image_nodes: Arc<HashMap<String, usize>>,
}

impl Snapshot {
    /// A snapshot of the given nodes, with the derived lists computed (tests and
    /// preemption's what-if runs).
    pub fn from_nodes(nodes: Vec<Arc<NodeInfo>>) -> Snapshot {
        let mut s = Snapshot {
            nodes,
            ..Default::default()
        };
        let mut images: HashMap<String, usize> = HashMap::new();
        for i in 0..s.nodes.len() {
            s.index(i);
            for name in s.nodes[i].images.keys() {
                *images.entry(name.clone()).or_insert(0) += 1;
            }
        }
        s.image_nodes = Arc::new(images);
        s
    }

    /// Updates the derived lists for the node at `i` after it changed.
    pub fn index(&mut self, i: usize) {
        let n = &self.nodes[i];
        if n.pods_with_affinity > 0 {
            self.with_affinity.insert(i);
        } else {
            self.with_affinity.remove(&i);
        }
        if n.pods_with_required_anti_affinity > 0 {
            self.with_required_anti_affinity.insert(i);
        } else {
            self.with_required_anti_affinity.remove(&i);
        }
    }

    /// Nodes running pods with pod (anti-)affinity terms.
    pub fn nodes_with_affinity(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.with_affinity.iter().map(|i| &self.nodes[*i])
    }

    /// Nodes running pods with required anti-affinity.
    pub fn nodes_with_required_anti_affinity(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.with_required_anti_affinity
            .iter()
            .map(|i| &self.nodes[*i])
    }
}

/// The host ports a pod asks for (upstream `schedutil.GetHostPorts`), with upstream's
/// defaults: protocol TCP, host IP 0.0.0.0.
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let mut out = Vec::new();
    for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        for p in c.ports.iter().flatten() {
            if let Some(hp) = p.host_port.filter(|hp| *hp > 0) {
                out.push((
                    p.host_ip
                        .clone()
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| "0.0.0.0".into()),
                    p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    hp,
                ));
            }
        }
    }
    out
}

/// Data plugins keep between extension points of one scheduling cycle (upstream
/// `CycleState`), keyed by the plugin's own key. Cloning it is cheap (entries are shared);
/// the PreFilter extensions replace an entry rather than change it in place, so a clone
/// made for a what-if (nominated pods, preemption victims) leaves the original alone.
#[derive(Default, Clone)]
pub struct CycleState {
    /// The cycle's snapshot: every node (PreScore gets only the feasible ones, but
    /// upstream's InterPodAffinity, PodTopologySpread and ImageLocality count over all of
    /// them), shared with the scheduling loop rather than copied.
    pub snapshot: Arc<Snapshot>,
    /// Pods nominated to a node (by preemption) with at least this pod's priority, by
    /// node: Filter counts them as if they ran there (upstream
    /// `RunFilterPluginsWithNominatedPods`).
    /// Shared, so copies of the state made for what-if runs do not copy it.
    pub nominated: Arc<HashMap<String, Vec<Arc<PodInfo>>>>,
    /// The nodes PreFilter plugins narrowed the cycle to (upstream `PreFilterResult`),
    /// None meaning all nodes, with the plugins that narrowed it.
    pub pre_filter_nodes: Option<std::collections::BTreeSet<String>>,
    /// Plugins that returned a PreFilter node set, in order.
    pub pre_filter_node_plugins: Vec<&'static str>,
    /// A handful of entries, read for every node by Filter and Score: a short list
    /// compared by name is cheaper than hashing the key each time.
    data: Vec<(String, Arc<dyn Any + Send + Sync>)>,
    skip_filter: Vec<String>,
    skip_score: Vec<String>,
    /// Per Filter plugin of the framework, whether PreFilter answered Skip; computed once
    /// after PreFilter so the per-node loop compares no names.
    filter_skipped: Vec<bool>,
}

impl CycleState {
    /// Every node of the cycle: the snapshot's, or `fallback` when the state has no
    /// snapshot (plugins run directly in unit tests).
    pub fn all_nodes<'a>(&'a self, fallback: &'a [Arc<NodeInfo>]) -> &'a [Arc<NodeInfo>] {
        if self.snapshot.nodes.is_empty() {
            fallback
        } else {
            &self.snapshot.nodes
        }
    }

    /// Stores a value.
    pub fn write<T: Any + Send + Sync>(&mut self, key: &str, v: T) {
        match self.data.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = Arc::new(v),
            None => self.data.push((key.to_string(), Arc::new(v))),
        }
    }
    /// Narrows the cycle to `names` (intersected with earlier narrowing), as a PreFilter
    /// plugin returning a `PreFilterResult` does upstream.
    pub fn restrict_nodes(
        &mut self,
        plugin: &'static str,
        names: std::collections::BTreeSet<String>,
    ) {
        self.pre_filter_node_plugins.push(plugin);
        self.pre_filter_nodes = Some(match self.pre_filter_nodes.take() {
            None => names,
            Some(old) => old.intersection(&names).cloned().collect(),
        });
    }

    /// Reads a value stored by an earlier extension point.
    pub fn read<T: Any + Send + Sync>(&self, key: &str) -> Option<&T> {
        self.data
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, b)| b.as_ref().downcast_ref())
    }
}

/// A pod waiting in the queue with the bookkeeping QueueSort and backoff need.
#[derive(Debug, Clone)]
pub struct QueuedPodInfo {
    /// The pod.
    pub pod: Arc<Pod>,
    /// When it was (re)added to the queue, used by PrioritySort as the tie breaker.
    pub timestamp: std::time::Instant,
    /// Scheduling attempts so far.
    pub attempts: u32,
    /// When it was first added, for the attempts-to-schedule latency.
    pub initial_attempt: Option<std::time::Instant>,
    /// Plugins that rejected it in the last attempt.
    pub unschedulable_plugins: Vec<String>,
    /// Whether the last failure was an error rather than unschedulability.
    pub last_failure_was_error: bool,
    /// When the current attempt started, for the attempt latency metric.
    pub attempt_started: Option<std::time::Instant>,
}

/// One node's score from one plugin or in total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeScore {
    /// The node's position in the list being scored (the feasible nodes). An index rather
    /// than the name: building a name per node per cycle cost more than scoring it.
    pub index: usize,
    /// The score.
    pub score: i64,
}

/// Node name to the status that rejected the pod there.
pub type NodeToStatus = HashMap<String, Status>;

/// Base of every plugin.
pub trait Plugin: Send + Sync {
    /// The plugin's upstream name.
    fn name(&self) -> &'static str;
}

/// Decides whether a pod may enter the active queue at all.
pub trait PreEnqueuePlugin: Plugin {
    /// Success lets the pod in; anything else keeps it among the unschedulable pods.
    fn pre_enqueue(&self, pod: &Pod) -> Status;
}

/// Orders the active queue.
pub trait QueueSortPlugin: Plugin {
    /// Whether `a` should be scheduled before `b`.
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool;
}

/// Runs once per cycle before filtering.
pub trait PreFilterPlugin: Plugin {
    /// May precompute into `state`, reject the pod, or answer Skip to skip this plugin's Filter.
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status;

    /// Upstream `PreFilterExtensions.AddPod` (`delta` 1) and `RemovePod` (`delta` -1):
    /// brings this plugin's PreFilter state up to date with `other` joining or leaving
    /// `node` (`node.pods` already reflects the change), for Filter runs that count
    /// nominated pods and for preemption's dry run without its victims. Both directions
    /// are one update of counts in every plugin here, so they share one method. Plugins
    /// whose PreFilter state does not depend on other pods keep the default.
    fn update_with_pod(
        &self,
        _state: &mut CycleState,
        _pod: &Pod,
        _other: &PodInfo,
        _node: &NodeInfo,
        _delta: i64,
    ) -> Status {
        Status::success()
    }
}

/// Decides whether a pod may run on a node.
pub trait FilterPlugin: Plugin {
    /// Success if the pod fits the node.
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status;
}

/// Runs when no node fits (preemption).
pub trait PostFilterPlugin: Plugin {
    /// May answer a nominated node name; the status message is appended to the failure.
    fn post_filter(
        &self,
        fw: &Framework,
        state: &CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        statuses: &NodeToStatus,
    ) -> (Option<String>, Status);
}

/// Runs once per cycle before scoring.
pub trait PreScorePlugin: Plugin {
    /// May precompute into `state`; Skip skips this plugin's Score.
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status;
}

/// Ranks feasible nodes.
pub trait ScorePlugin: Plugin {
    /// The raw score of one node.
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status>;
    /// Maps raw scores into [0, MAX_NODE_SCORE] (upstream `ScoreExtensions.NormalizeScore`);
    /// the default keeps them.
    fn normalize(&self, _state: &CycleState, _pod: &Pod, _scores: &mut [NodeScore]) -> Status {
        Status::success()
    }
}

/// Reserves node-local state for a pod once a node is chosen.
pub trait ReservePlugin: Plugin {
    /// Reserves.
    fn reserve(&self, state: &CycleState, pod: &Pod, node: &str) -> Status;
    /// Undoes `reserve` when a later step fails.
    fn unreserve(&self, state: &CycleState, pod: &Pod, node: &str);
}

/// Approves or rejects the binding.
pub trait PermitPlugin: Plugin {
    /// Success or a rejection; Wait is not supported by this framework and is treated as an
    /// error.
    fn permit(&self, state: &CycleState, pod: &Pod, node: &str) -> Status;
}

/// Runs before binding, off the scheduling path.
pub trait PreBindPlugin: Plugin {
    /// Prepares the binding.
    fn pre_bind<'a>(&'a self, pod: &'a Pod, node: &'a str) -> BoxFuture<'a, Status>;
}

/// Binds the pod; Skip passes to the next Bind plugin.
pub trait BindPlugin: Plugin {
    /// Binds.
    fn bind<'a>(&'a self, pod: &'a Pod, node: &'a str) -> BoxFuture<'a, Status>;
}

/// The extension points one plugin instance takes part in.
#[derive(Default, Clone)]
pub struct PluginSet {
    /// PreEnqueue.
    pub pre_enqueue: Option<Arc<dyn PreEnqueuePlugin>>,
    /// QueueSort.
    pub queue_sort: Option<Arc<dyn QueueSortPlugin>>,
    /// PreFilter.
    pub pre_filter: Option<Arc<dyn PreFilterPlugin>>,
    /// Filter.
    pub filter: Option<Arc<dyn FilterPlugin>>,
    /// PostFilter.
    pub post_filter: Option<Arc<dyn PostFilterPlugin>>,
    /// PreScore.
    pub pre_score: Option<Arc<dyn PreScorePlugin>>,
    /// Score (with NormalizeScore).
    pub score: Option<Arc<dyn ScorePlugin>>,
    /// Reserve.
    pub reserve: Option<Arc<dyn ReservePlugin>>,
    /// Permit.
    pub permit: Option<Arc<dyn PermitPlugin>>,
    /// PreBind.
    pub pre_bind: Option<Arc<dyn PreBindPlugin>>,
    /// Bind.
    pub bind: Option<Arc<dyn BindPlugin>>,
}

/// One profile's plugins per extension point, in upstream order.
#[derive(Clone, Default)]
pub struct Framework {
    /// The profile's schedulerName.
    pub scheduler_name: String,
    /// The profile's percentageOfNodesToScore, overriding the global one.
    pub percentage_of_nodes_to_score: Option<i32>,
    /// PreEnqueue plugins.
    pub pre_enqueue: Vec<Arc<dyn PreEnqueuePlugin>>,
    /// The QueueSort plugin.
    pub queue_sort: Option<Arc<dyn QueueSortPlugin>>,
    /// PreFilter plugins.
    pub pre_filter: Vec<Arc<dyn PreFilterPlugin>>,
    /// Filter plugins.
    pub filter: Vec<Arc<dyn FilterPlugin>>,
    /// PostFilter plugins.
    pub post_filter: Vec<Arc<dyn PostFilterPlugin>>,
    /// PreScore plugins.
    pub pre_score: Vec<Arc<dyn PreScorePlugin>>,
    /// Score plugins with their weights.
    pub score: Vec<(Arc<dyn ScorePlugin>, i64)>,
    /// Reserve plugins.
    pub reserve: Vec<Arc<dyn ReservePlugin>>,
    /// Permit plugins.
    pub permit: Vec<Arc<dyn PermitPlugin>>,
    /// PreBind plugins.
    pub pre_bind: Vec<Arc<dyn PreBindPlugin>>,
    /// Bind plugins.
    pub bind: Vec<Arc<dyn BindPlugin>>,
}

impl Framework {
    /// Runs PreEnqueue plugins; the first non-success is returned.
    pub fn run_pre_enqueue(&self, pod: &Pod) -> Status {
        for p in &self.pre_enqueue {
            let s = p.pre_enqueue(pod);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs PreFilter plugins; a rejection ends the cycle for every node.
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> Status {
        for p in &self.pre_filter {
            let s = p.pre_filter(state, pod, nodes);
            match s.code {
                Code::Success => {}
                Code::Skip => state.skip_filter.push(p.name().to_string()),
                _ => return s.with_plugin(p.name()),
            }
            // Upstream `RunPreFilterPlugins`: node sets that no node satisfies together end
            // the cycle.
            if state
                .pre_filter_nodes
                .as_ref()
                .is_some_and(|n| n.is_empty())
            {
                let plugins = &state.pre_filter_node_plugins;
                let msg = if plugins.len() == 1 {
                    format!("node(s) didn't satisfy plugin {}", plugins[0])
                } else {
                    format!(
                        "node(s) didn't satisfy plugin(s) [{}] simultaneously",
                        plugins.join(" ")
                    )
                };
                return Status::unresolvable(msg).with_plugin(p.name());
            }
        }
        state.filter_skipped = self
            .filter
            .iter()
            .map(|f| state.skip_filter.iter().any(|n| n == f.name()))
            .collect();
        Status::success()
    }

    /// Runs Filter plugins on one node with the pods nominated to it added (when there are
    /// any), then without them; the pod must pass both (upstream
    /// `RunFilterPluginsWithNominatedPods`: the second pass keeps affinity that a nominated
    /// pod would satisfy from being taken for granted).
    pub fn run_filter_with_nominated(
        &self,
        state: &CycleState,
        pod: &Pod,
        node: &NodeInfo,
    ) -> Status {
        // The map is empty unless preemption nominated pods; skip hashing the name then.
        let extra = if state.nominated.is_empty() {
            None
        } else {
            state.nominated.get(node.name()).filter(|v| !v.is_empty())
        };
        if let Some(extra) = extra {
            // Upstream `addGENominatedPods`: each nominated pod joins the node and the
            // PreFilter state (spread and affinity counts) of a copy of the cycle state.
            let mut st = state.clone();
            let mut ni = node.clone();
            for p in extra {
                ni.add_pod(p.clone());
                let s = self.run_pre_filter_extension_add_pod(&mut st, pod, p, &ni);
                if !s.is_success() {
                    return s;
                }
            }
            let s = self.run_filter(&st, pod, &ni);
            if !s.is_success() {
                return s;
            }
        }
        self.run_filter(state, pod, node)
    }

    /// Runs every PreFilter plugin's AddPod extension, except those whose PreFilter
    /// answered Skip (upstream `RunPreFilterExtensionAddPod`).
    pub fn run_pre_filter_extension_add_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        added: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        self.run_pre_filter_extension(state, pod, added, node, 1)
    }

    /// Runs every PreFilter plugin's RemovePod extension, except those whose PreFilter
    /// answered Skip (upstream `RunPreFilterExtensionRemovePod`).
    pub fn run_pre_filter_extension_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        removed: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        self.run_pre_filter_extension(state, pod, removed, node, -1)
    }

    fn run_pre_filter_extension(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        other: &PodInfo,
        node: &NodeInfo,
        delta: i64,
    ) -> Status {
        for p in &self.pre_filter {
            if state.skip_filter.iter().any(|n| n == p.name()) {
                continue;
            }
            let s = p.update_with_pod(state, pod, other, node, delta);
            if !s.is_success() {
                let which = if delta > 0 { "AddPod" } else { "RemovePod" };
                return Status::error(format!(
                    "running {which} on PreFilter plugin {:?}: {}",
                    p.name(),
                    s.message()
                ))
                .with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs Filter plugins on one node, stopping at the first rejection as upstream does.
    pub fn run_filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        for (i, p) in self.filter.iter().enumerate() {
            let skipped = match state.filter_skipped.get(i) {
                Some(s) => *s,
                // PreFilter did not run through this framework (unit tests).
                None => state.skip_filter.iter().any(|n| n == p.name()),
            };
            if skipped {
                continue;
            }
            let s = p.filter(state, pod, node);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs PreScore plugins.
    pub fn run_pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> Status {
        for p in &self.pre_score {
            let s = p.pre_score(state, pod, nodes);
            match s.code {
                Code::Success => {}
                Code::Skip => state.skip_score.push(p.name().to_string()),
                _ => return s.with_plugin(p.name()),
            }
        }
        Status::success()
    }

    /// Runs Score and NormalizeScore, applies weights, and sums per node (upstream
    /// `RunScorePlugins` followed by the summing in `prioritizeNodes`).
    pub fn run_score(
        &self,
        state: &CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> Result<Vec<NodeScore>, Status> {
        // One name per node for the whole cycle: every plugin's raw scores reuse `scores`,
        // and the weighted sums go to `total`.
        let mut scores: Vec<NodeScore> = (0..nodes.len())
            .map(|index| NodeScore { index, score: 0 })
            .collect();
        let mut total = vec![0i64; nodes.len()];
        for (p, weight) in &self.score {
            if state.skip_score.iter().any(|n| n == p.name()) {
                continue;
            }
            for (s, n) in scores.iter_mut().zip(nodes) {
                s.score = p
                    .score(state, pod, n)
                    .map_err(|s| s.with_plugin(p.name()))?;
            }
            let s = p.normalize(state, pod, &mut scores);
            if !s.is_success() {
                return Err(s.with_plugin(p.name()));
            }
            for (t, s) in total.iter_mut().zip(&scores) {
                if !(MIN_NODE_SCORE..=MAX_NODE_SCORE).contains(&s.score) {
                    return Err(Status::error(format!(
                        "plugin {:?} returns an invalid score {}, it should in the range of [{}, {}] after normalizing",
                        p.name(),
                        s.score,
                        MIN_NODE_SCORE,
                        MAX_NODE_SCORE
                    )));
                }
                *t += s.score * weight;
            }
        }
        for (s, t) in scores.iter_mut().zip(total) {
            s.score = t;
        }
        Ok(scores)
    }

    /// Runs Reserve plugins; on failure the ones already run are unreserved in reverse.
    pub fn run_reserve(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        for (i, p) in self.reserve.iter().enumerate() {
            let s = p.reserve(state, pod, node);
            if !s.is_success() {
                for q in self.reserve[..=i].iter().rev() {
                    q.unreserve(state, pod, node);
                }
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs Unreserve of every Reserve plugin in reverse order.
    pub fn run_unreserve(&self, state: &CycleState, pod: &Pod, node: &str) {
        for p in self.reserve.iter().rev() {
            p.unreserve(state, pod, node);
        }
    }

    /// Runs Permit plugins. Wait is reported as an error: waiting pods are not supported.
    pub fn run_permit(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        for p in &self.permit {
            let s = p.permit(state, pod, node);
            match s.code {
                Code::Success => {}
                Code::Wait => {
                    return Status::error(format!(
                        "plugin {} asked the pod to wait; waiting pods are not supported",
                        p.name()
                    ))
                    .with_plugin(p.name())
                }
                _ => return s.with_plugin(p.name()),
            }
        }
        Status::success()
    }

    /// Runs PreBind plugins.
    pub async fn run_pre_bind(&self, pod: &Pod, node: &str) -> Status {
        for p in &self.pre_bind {
            let s = p.pre_bind(pod, node).await;
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs Bind plugins until one does not Skip.
    pub async fn run_bind(&self, pod: &Pod, node: &str) -> Status {
        for p in &self.bind {
            let s = p.bind(pod, node).await;
            if s.code != Code::Skip {
                return s.with_plugin(p.name());
            }
        }
        Status::error("no bind plugin bound the pod")
    }
}

/// Upstream `helper.DefaultNormalizeScore`: scales scores so the highest becomes
/// `max_priority`, reversed if asked; all-zero scores stay zero (or all max when reversed).
pub fn default_normalize_score(max_priority: i64, reverse: bool, scores: &mut [NodeScore]) {
    let max = scores.iter().map(|s| s.score).max().unwrap_or(0).max(0);
    if max == 0 {
        if reverse {
            for s in scores.iter_mut() {
                s.score = max_priority;
            }
        }
        return;
    }
    for s in scores.iter_mut() {
        let mut v = max_priority * s.score / max;
        if reverse {
            v = max_priority - v;
        }
        s.score = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_table() {
        // Mirrors upstream helper/normalize_score_test.go.
        let cases: &[(&[i64], bool, &[i64])] = &[
            (&[10, 20, 30, 40], false, &[25, 50, 75, 100]),
            (&[10, 20, 30, 40], true, &[75, 50, 25, 0]),
            (&[0, 0, 0], false, &[0, 0, 0]),
            (&[0, 0, 0], true, &[100, 100, 100]),
            (&[1000, 1, 500], false, &[100, 0, 50]),
        ];
        for (input, reverse, want) in cases {
            let mut s: Vec<NodeScore> = input
                .iter()
                .enumerate()
                .map(|(i, v)| NodeScore {
                    index: i,
                    score: *v,
                })
                .collect();
            default_normalize_score(MAX_NODE_SCORE, *reverse, &mut s);
            let got: Vec<i64> = s.iter().map(|s| s.score).collect();
            assert_eq!(&got, want, "{input:?} reverse={reverse}");
        }
    }
}
