//! EndpointSlice mirroring controller (upstream pkg/controller/endpointslicemirroring):
//! mirrors custom core/v1 Endpoints — those of a Service without a selector, which no
//! controller maintains — into EndpointSlices, so EndpointSlice consumers (kube-proxy, DNS)
//! see them.
//!
//! Mirrored upstream behaviour:
//! - an Endpoints object is mirrored when its Service exists and has no selector, it is not
//!   labelled `endpointslice.kubernetes.io/skip-mirror: "true"` (the endpoints controller
//!   sets that on the objects it writes) and carries no leader-election annotation
//!   (`control-plane.alpha.kubernetes.io/leader`); otherwise, and when the Endpoints or the
//!   Service goes away or the Service gains a selector, its mirrored slices are deleted;
//! - one slice per (address type, subset port set): `addresses` become endpoints with
//!   `ready: true`, `notReadyAddresses` with `ready: false` (only the `ready` condition is
//!   set), hostname, nodeName and targetRef copied; IPs are re-formatted and invalid ones
//!   skipped (`InvalidIPAddress` warning event); at most
//!   `--mirroring-max-endpoints-per-subset` (1000) addresses per subset and per slice are
//!   mirrored (`TooManyAddressesToMirror` warning event for the rest);
//! - slice metadata: `generateName: <endpoints>-`, the Endpoints' labels plus
//!   `kubernetes.io/service-name: <endpoints>` and `endpointslice.kubernetes.io/managed-by:
//!   endpointslicemirroring-controller.k8s.io`, the Endpoints' annotations except
//!   `endpoints.kubernetes.io/last-change-trigger-time` and
//!   `kubectl.kubernetes.io/last-applied-configuration`, and a controller ownerReference
//!   to the Endpoints (v1/Endpoints), so the garbage collector also removes them;
//! - existing slices are reused: extra slices of a port set are deleted, a slice that would
//!   be deleted is recycled (renamed update) instead of creating one of the same address
//!   type; nothing is created while the Endpoints is being deleted;
//! - changes to mirrored slices re-sync their Endpoints after
//!   `--mirroring-endpointslice-updates-batch-period`; a sync that sees its own earlier
//!   writes missing from the informer cache fails and is retried (upstream
//!   `endpointSliceTracker.StaleSlices`).
//!
//! Differences from upstream: a slice is also rewritten when only its labels or
//! annotations differ from the Endpoints' (upstream compares endpoints only, so metadata
//! changes wait for the next address change); the mirroring metrics
//! (`endpoint_slice_mirroring_controller_*`) are not exported; the retry backoff is the
//! crate's queue default (5 ms doubling) rather than upstream's 1 s to 100 s, and keys are
//! retried without upstream's 15-retry limit.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;
use parking_lot::Mutex;

use super::endpoints::LABEL_SKIP_MIRROR;
use super::endpointslice::{LABEL_MANAGED_BY, LABEL_SERVICE_NAME};
use super::{is_namespace_terminating, is_not_found, run_workers, ControllerError, Requeue};
use crate::events::EventSink;
use crate::informer::{key_of, split_key, Notification};
use crate::ControllerContext;

/// Upstream controller name (cmd/kube-controller-manager/names).
pub const NAME: &str = "endpointslice-mirroring-controller";
/// Upstream `controllerName`, written to the managed-by label.
pub const MANAGED_BY: &str = "endpointslicemirroring-controller.k8s.io";
/// Upstream `resourcelock.LeaderElectionRecordAnnotationKey`.
pub const ANNOTATION_LEADER: &str = "control-plane.alpha.kubernetes.io/leader";
/// Upstream `corev1.EndpointsLastChangeTriggerTime`.
pub const ANNOTATION_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// Upstream `corev1.LastAppliedConfigAnnotation`.
pub const ANNOTATION_LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Upstream event source component.
const EVENT_COMPONENT: &str = "endpoint-slice-mirroring-controller";
/// Upper bound of `--mirroring-max-endpoints-per-subset` (upstream options validation).
const MAX_ENDPOINTS_PER_SUBSET_LIMIT: i32 = 1000;

/// Errors of one sync; retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum MirroringError {
    /// an API call failed
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// the EndpointSlice cache has not caught up with this controller's own writes
    #[error("EndpointSlice informer cache is out of date")]
    StaleCache,
}

/// Upstream `shouldMirror`: not skip-mirror labelled, no leader-election annotation.
pub fn should_mirror(ep: &Endpoints) -> bool {
    let skip = ep
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_SKIP_MIRROR))
        .is_some_and(|v| v == "true");
    let leader = ep
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(ANNOTATION_LEADER));
    !skip && !leader
}

/// Whether the Service has a selector (upstream `Spec.Selector != nil`; an empty selector
/// does not survive the apiserver's encoding upstream, so it counts as none here).
fn has_selector(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|s| !s.is_empty())
}

/// A port set of one address type: the unit that gets one slice.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey {
    address_type: &'static str,
    /// The ports, serialised (upstream hashes them into `addrTypePortMapKey`).
    ports: String,
}

fn group_key(address_type: &'static str, ports: &[EndpointPort]) -> GroupKey {
    // Upstream's key ignores port order: sort a copy by its JSON.
    let mut items: Vec<String> = ports
        .iter()
        .map(|p| serde_json::to_string(p).unwrap_or_default())
        .collect();
    items.sort();
    GroupKey {
        address_type,
        ports: items.join(","),
    }
}

/// Upstream `addressToEndpoint`'s parse: the canonical form and address type, or `None`
/// for an invalid IP. IPv4-mapped IPv6 addresses count as IPv4, as Go's `To4`.
fn parse_ip(ip: &str) -> Option<(String, &'static str)> {
    match ip.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => Some((v4.to_string(), "IPv4")),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Some((v4.to_string(), "IPv4")),
            None => Some((v6.to_string(), "IPv6")),
        },
    }
}

fn to_endpoint(addr: &EndpointAddress, ip: String, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![ip],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: None,
            terminating: None,
        }),
        hostname: addr.hostname.clone().filter(|h| !h.is_empty()),
        node_name: addr.node_name.clone(),
        target_ref: addr.target_ref.clone(),
        ..Default::default()
    }
}

/// The desired state computed from one Endpoints object (upstream `desiredCalc`).
#[derive(Debug, Default)]
pub struct Desired {
    groups: BTreeMap<GroupKey, (Vec<EndpointPort>, Vec<Endpoint>)>,
    /// Addresses that are not valid IPs.
    pub invalid: usize,
    /// Addresses left out: invalid ones plus those over the per-subset limit.
    pub skipped: usize,
}

/// Upstream `reconcile`'s first half: endpoints per (address type, port set), at most
/// `max` per subset; both address types of every subset's port set are registered, so a
/// port set without addresses still makes its old slices go.
pub fn desired(ep: &Endpoints, max: usize) -> Desired {
    let mut d = Desired::default();
    for subset in ep.subsets.iter().flatten() {
        let ports: Vec<EndpointPort> = subset
            .ports
            .iter()
            .flatten()
            .map(|p| EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(p.port),
                // The apiserver defaults an Endpoints port's protocol to TCP.
                protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: p.app_protocol.clone(),
            })
            .collect();
        for t in ["IPv4", "IPv6"] {
            d.groups
                .entry(group_key(t, &ports))
                .or_insert_with(|| (ports.clone(), Vec::new()));
        }
        let total = subset.addresses.as_ref().map_or(0, Vec::len)
            + subset.not_ready_addresses.as_ref().map_or(0, Vec::len);
        let mut added = 0;
        let all = subset.addresses.iter().flatten().map(|a| (a, true)).chain(
            subset
                .not_ready_addresses
                .iter()
                .flatten()
                .map(|a| (a, false)),
        );
        for (addr, ready) in all {
            if added >= max {
                break;
            }
            let Some((ip, t)) = parse_ip(&addr.ip) else {
                d.invalid += 1;
                continue;
            };
            let endpoint = to_endpoint(addr, ip, ready);
            let group = &mut d
                .groups
                .get_mut(&group_key(t, &ports))
                .expect("registered above")
                .1;
            // Upstream keeps a set of endpoints: a duplicate address is mirrored once.
            if !group.contains(&endpoint) {
                group.push(endpoint);
            }
            added += 1;
        }
        d.skipped += total - added;
    }
    d
}

/// What a sync does to the API (upstream `slicesByAction`).
#[derive(Debug, Default)]
pub struct Plan {
    /// Slices to create (with `generateName`).
    pub create: Vec<EndpointSlice>,
    /// Slices to replace (with `name` and the existing resourceVersion).
    pub update: Vec<EndpointSlice>,
    /// Names of slices to delete.
    pub delete: Vec<String>,
}

fn non_empty(m: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!m.is_empty()).then_some(m)
}

/// Upstream `newEndpointSlice`'s metadata: labels and annotations from the Endpoints.
fn slice_meta(ep: &Endpoints) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let name = ep.metadata.name.clone().unwrap_or_default();
    let mut labels = ep.metadata.labels.clone().unwrap_or_default();
    labels.insert(LABEL_SERVICE_NAME.into(), name);
    labels.insert(LABEL_MANAGED_BY.into(), MANAGED_BY.into());
    let mut annotations = ep.metadata.annotations.clone().unwrap_or_default();
    annotations.remove(ANNOTATION_TRIGGER_TIME);
    annotations.remove(ANNOTATION_LAST_APPLIED);
    (labels, annotations)
}

fn new_slice(
    ep: &Endpoints,
    address_type: &str,
    ports: &[EndpointPort],
    endpoints: Vec<Endpoint>,
) -> EndpointSlice {
    let name = ep.metadata.name.clone().unwrap_or_default();
    let (labels, annotations) = slice_meta(ep);
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: ep.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: non_empty(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Endpoints".into(),
                name,
                uid: ep.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        address_type: address_type.to_string(),
        endpoints,
        ports: Some(ports.to_vec()),
    }
}

/// Whether `existing` already is what [`new_slice`] would write (endpoints compared as a
/// set, as upstream `totalChanges`).
fn up_to_date(existing: &EndpointSlice, want: &EndpointSlice) -> bool {
    let same_endpoints = existing.endpoints.len() == want.endpoints.len()
        && want
            .endpoints
            .iter()
            .all(|e| existing.endpoints.contains(e));
    let norm = |m: &Option<BTreeMap<String, String>>| m.clone().unwrap_or_default();
    same_endpoints
        && norm(&existing.metadata.labels) == norm(&want.metadata.labels)
        && norm(&existing.metadata.annotations) == norm(&want.metadata.annotations)
}

/// Upstream `reconcile` + `reconcileByPortMapping` + `recycleSlices`: compares the
/// desired endpoints with the mirrored slices that exist.
pub fn plan(ep: &Endpoints, d: &Desired, existing: &[Arc<EndpointSlice>], max: usize) -> Plan {
    let mut by_key: BTreeMap<GroupKey, Vec<&EndpointSlice>> = BTreeMap::new();
    let mut sorted: Vec<&EndpointSlice> = existing.iter().map(Arc::as_ref).collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for s in sorted {
        let t = if s.address_type == "IPv6" {
            "IPv6"
        } else {
            "IPv4"
        };
        by_key
            .entry(group_key(t, s.ports.as_deref().unwrap_or_default()))
            .or_default()
            .push(s);
    }
    let mut plan = Plan::default();
    let mut delete: Vec<&EndpointSlice> = Vec::new();
    for (key, (ports, endpoints)) in &d.groups {
        let have = by_key.remove(key).unwrap_or_default();
        if endpoints.is_empty() {
            delete.extend(have);
            continue;
        }
        let mut want = new_slice(
            ep,
            key.address_type,
            ports,
            endpoints.iter().take(max).cloned().collect(),
        );
        match have.split_first() {
            Some((first, rest)) => {
                delete.extend(rest.iter().copied());
                if !up_to_date(first, &want) {
                    want.metadata.generate_name = None;
                    want.metadata.name = first.metadata.name.clone();
                    want.metadata.resource_version = first.metadata.resource_version.clone();
                    plan.update.push(want);
                }
            }
            None => plan.create.push(want),
        }
    }
    // Port sets no longer present at all.
    delete.extend(by_key.into_values().flatten());
    // Recycle: a creation becomes an update of a slice of the same address type that
    // would be deleted.
    let mut creates = Vec::new();
    for mut c in std::mem::take(&mut plan.create) {
        match delete.iter().position(|s| s.address_type == c.address_type) {
            Some(i) => {
                let old = delete.remove(i);
                c.metadata.generate_name = None;
                c.metadata.name = old.metadata.name.clone();
                c.metadata.resource_version = old.metadata.resource_version.clone();
                plan.update.push(c);
            }
            None => creates.push(c),
        }
    }
    plan.create = creates;
    plan.delete = delete
        .into_iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    plan
}

/// The writes this controller made that the informer cache must show before the next sync
/// of the same Endpoints may trust it (a small form of upstream `endpointSliceTracker`).
#[derive(Default)]
struct Expected {
    /// slice name -> resourceVersion written.
    written: HashMap<String, String>,
    /// slice names deleted.
    deleted: HashSet<String>,
}

fn rv_number(rv: Option<&str>) -> Option<u64> {
    rv?.parse().ok()
}

impl Expected {
    /// Whether the cache lags behind these writes; forgets writes it shows.
    fn stale(&mut self, cached: &[Arc<EndpointSlice>]) -> bool {
        let by_name: HashMap<&str, &EndpointSlice> = cached
            .iter()
            .filter_map(|s| Some((s.metadata.name.as_deref()?, s.as_ref())))
            .collect();
        self.written
            .retain(|name, rv| match by_name.get(name.as_str()) {
                None => true,
                // resourceVersions are opaque upstream; they are numbers here, and anything
                // else is taken as caught up rather than blocking the sync forever.
                Some(s) => match (
                    rv_number(s.metadata.resource_version.as_deref()),
                    rv_number(Some(rv)),
                ) {
                    (Some(have), Some(want)) => have < want,
                    _ => false,
                },
            });
        self.deleted
            .retain(|name| by_name.contains_key(name.as_str()));
        !self.written.is_empty() || !self.deleted.is_empty()
    }
}

#[derive(Clone)]
struct Controller {
    client: kube::Client,
    endpoints: Store<Endpoints>,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    max: usize,
    events: EventSink,
    expected: Arc<Mutex<HashMap<String, Expected>>>,
}

/// Starts the informers and `--mirroring-concurrent-service-endpoint-syncs` workers.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let max = ctx.options.mirroring_max_endpoints_per_subset;
    if !(1..=MAX_ENDPOINTS_PER_SUBSET_LIMIT).contains(&max) {
        return Err(ControllerError::Config(format!(
            "mirroring-max-endpoints-per-subset must be between 1 and {MAX_ENDPOINTS_PER_SUBSET_LIMIT}"
        )));
    }
    let batch = ctx.options.mirroring_endpointslice_updates_batch_period;
    let queue = ctx.work_queue("endpoint_slice_mirroring");

    let q = queue.clone();
    let ep_informer = ctx.informers.subscribe::<Endpoints>(move |n| match n {
        Notification::Added(e) | Notification::Deleted(e) => {
            if should_mirror(&e) {
                q.add(key_of(e.as_ref()));
            }
        }
        Notification::Updated { old, new } => {
            if should_mirror(&old) || should_mirror(&new) {
                q.add(key_of(new.as_ref()));
            }
        }
    });
    let q = queue.clone();
    let svc_informer = ctx.informers.subscribe::<Service>(move |n| match n {
        Notification::Added(s) | Notification::Deleted(s) => {
            if !has_selector(&s) {
                q.add(key_of(s.as_ref()));
            }
        }
        Notification::Updated { old, new } => {
            if has_selector(&old) != has_selector(&new) {
                q.add(key_of(new.as_ref()));
            }
        }
    });
    let q = queue.clone();
    let expected: Arc<Mutex<HashMap<String, Expected>>> = Arc::default();
    let exp = expected.clone();
    let slice_informer = ctx.informers.subscribe::<EndpointSlice>(move |n| {
        // A deleted slice is caught up whatever was written to it (upstream's
        // EndpointSliceTracker.HandleDeletion); otherwise a slice deleted by someone else
        // right after our write would keep the Endpoints "stale" forever.
        if let Notification::Deleted(s) = &n {
            if let Some(name) = s.metadata.name.as_deref() {
                for e in exp.lock().values_mut() {
                    e.written.remove(name);
                }
            }
        }
        let slices = match n {
            Notification::Added(s) | Notification::Deleted(s) => vec![s],
            Notification::Updated { old, new } => vec![old, new],
        };
        for s in slices {
            let labels = s.metadata.labels.as_ref();
            let managed = labels
                .and_then(|l| l.get(LABEL_MANAGED_BY))
                .map(String::as_str)
                == Some(MANAGED_BY);
            let svc = labels.and_then(|l| l.get(LABEL_SERVICE_NAME));
            if let (true, Some(ns), Some(svc)) = (managed, &s.metadata.namespace, svc) {
                q.add_after(format!("{ns}/{svc}"), batch);
            }
        }
    });
    ep_informer.synced().await;
    svc_informer.synced().await;
    slice_informer.synced().await;
    let c = Controller {
        client: ctx.client.clone(),
        endpoints: ep_informer.store.clone(),
        services: svc_informer.store.clone(),
        slices: slice_informer.store.clone(),
        max: usize::try_from(max).unwrap_or(1),
        events: EventSink::new(ctx.client.clone(), EVENT_COMPONENT),
        expected,
    };
    run_workers(
        NAME,
        queue,
        ctx.options.mirroring_concurrent_service_endpoint_syncs,
        move |key| {
            let c = c.clone();
            async move { c.sync(&key).await }
        },
    )
    .await;
    drop((ep_informer, svc_informer, slice_informer));
    Ok(())
}

impl Controller {
    /// The slices this controller mirrored for `ns/name`.
    fn mirrored(&self, ns: &str, name: &str) -> Vec<Arc<EndpointSlice>> {
        self.slices.state_filter(|s| {
            let l = s.metadata.labels.as_ref();
            s.metadata.namespace.as_deref() == Some(ns)
                && l.and_then(|l| l.get(LABEL_SERVICE_NAME))
                    .map(String::as_str)
                    == Some(name)
                && l.and_then(|l| l.get(LABEL_MANAGED_BY)).map(String::as_str) == Some(MANAGED_BY)
        })
    }

    async fn sync(&self, key: &str) -> Result<Requeue, MirroringError> {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let r = ObjectRef::new(name).within(ns);
        let Some(ep) = self.endpoints.get(&r).filter(|e| should_mirror(e)) else {
            return self.delete_mirrored(key, ns, name).await;
        };
        match self.services.get(&ObjectRef::new(name).within(ns)) {
            Some(svc) if !has_selector(&svc) => {}
            // No Service, or one with a selector (whose slices the endpointslice
            // controller makes): nothing to mirror.
            _ => return self.delete_mirrored(key, ns, name).await,
        }
        let existing = self.mirrored(ns, name);
        {
            let mut exp = self.expected.lock();
            if let Some(e) = exp.get_mut(key) {
                if e.stale(&existing) {
                    return Err(MirroringError::StaleCache);
                }
                exp.remove(key);
            }
        }
        let d = desired(&ep, self.max);
        if d.invalid > 0 {
            self.events.warning(
                ep.as_ref(),
                "InvalidIPAddress",
                format!(
                    "Skipped {} invalid IP addresses when mirroring to EndpointSlices",
                    d.invalid
                ),
            );
        }
        if d.skipped > d.invalid {
            self.events.warning(
                ep.as_ref(),
                "TooManyAddressesToMirror",
                format!(
                    "A max of {} addresses can be mirrored to EndpointSlices per Endpoints subset. {} addresses were skipped",
                    self.max, d.skipped
                ),
            );
        }
        let plan = plan(&ep, &d, &existing, self.max);
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), ns);
        // Upstream: no new slices for an Endpoints being deleted.
        if ep.metadata.deletion_timestamp.is_none() {
            for s in &plan.create {
                match api.create(&PostParams::default(), s).await {
                    Ok(created) => self.wrote(key, &created),
                    // Creates keep failing in a terminating namespace: drop the key.
                    Err(e) if is_namespace_terminating(&e) => return Ok(Requeue::No),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for s in &plan.update {
            let n = s.metadata.name.as_deref().unwrap_or_default();
            let updated = api.replace(n, &PostParams::default(), s).await?;
            self.wrote(key, &updated);
        }
        self.delete(key, &api, &plan.delete).await?;
        Ok(Requeue::No)
    }

    fn wrote(&self, key: &str, s: &EndpointSlice) {
        if let (Some(n), Some(rv)) = (&s.metadata.name, &s.metadata.resource_version) {
            let mut exp = self.expected.lock();
            let e = exp.entry(key.to_string()).or_default();
            e.deleted.remove(n);
            e.written.insert(n.clone(), rv.clone());
        }
    }

    async fn delete(
        &self,
        key: &str,
        api: &Api<EndpointSlice>,
        names: &[String],
    ) -> Result<(), MirroringError> {
        for n in names {
            match api.delete(n, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
            let mut exp = self.expected.lock();
            let e = exp.entry(key.to_string()).or_default();
            e.written.remove(n);
            e.deleted.insert(n.clone());
        }
        Ok(())
    }

    /// Upstream `deleteMirroredSlices`.
    async fn delete_mirrored(
        &self,
        key: &str,
        ns: &str,
        name: &str,
    ) -> Result<Requeue, MirroringError> {
        let names: Vec<String> = self
            .mirrored(ns, name)
            .iter()
            .filter_map(|s| s.metadata.name.clone())
            .collect();
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), ns);
        self.delete(key, &api, &names).await?;
        // Nothing of this key needs tracking any more (upstream `DeleteService`).
        self.expected.lock().remove(key);
        Ok(Requeue::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn endpoints(v: serde_json::Value) -> Endpoints {
        let mut e: Endpoints = serde_json::from_value(v).unwrap();
        e.metadata.name = Some("ext".into());
        e.metadata.namespace = Some("ns".into());
        e.metadata.uid = Some("ep-uid".into());
        e
    }

    /// (address type, ports, [(address, ready)]) of each non-empty group.
    type Summary = Vec<(&'static str, Vec<i32>, Vec<(String, bool)>)>;

    fn summary(d: &Desired) -> Summary {
        d.groups
            .iter()
            .filter(|(_, (_, e))| !e.is_empty())
            .map(|(k, (ports, eps))| {
                (
                    k.address_type,
                    ports.iter().filter_map(|p| p.port).collect(),
                    eps.iter()
                        .map(|e| {
                            (
                                e.addresses[0].clone(),
                                e.conditions.as_ref().unwrap().ready.unwrap(),
                            )
                        })
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn should_mirror_table() {
        let cases = [
            (json!({}), true),
            (
                json!({"metadata": {"labels": {LABEL_SKIP_MIRROR: "true"}}}),
                false,
            ),
            (
                json!({"metadata": {"labels": {LABEL_SKIP_MIRROR: "false"}}}),
                true,
            ),
            (
                json!({"metadata": {"annotations": {ANNOTATION_LEADER: "{}"}}}),
                false,
            ),
        ];
        for (v, want) in cases {
            assert_eq!(should_mirror(&endpoints(v.clone())), want, "{v}");
        }
    }

    #[test]
    fn desired_table() {
        let ep = endpoints(json!({"subsets": [
            {
                "addresses": [{"ip": "10.0.0.1", "hostname": "a", "nodeName": "n1"}, {"ip": "fd00::1"}, {"ip": "bogus"}],
                "notReadyAddresses": [{"ip": "10.0.0.2"}, {"ip": "::ffff:10.0.0.3"}],
                "ports": [{"name": "http", "port": 80}]
            },
            {
                "addresses": [{"ip": "10.0.0.9"}],
                "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]
            }
        ]}));
        let d = desired(&ep, 1000);
        assert_eq!(d.invalid, 1);
        assert_eq!(d.skipped, 1);
        assert_eq!(
            summary(&d),
            vec![
                (
                    "IPv4",
                    vec![80],
                    vec![
                        ("10.0.0.1".to_string(), true),
                        ("10.0.0.2".to_string(), false),
                        ("10.0.0.3".to_string(), false)
                    ]
                ),
                ("IPv4", vec![443], vec![("10.0.0.9".to_string(), true)]),
                ("IPv6", vec![80], vec![("fd00::1".to_string(), true)]),
            ]
        );
        let first = &d
            .groups
            .values()
            .find(|(p, _)| p[0].port == Some(80))
            .unwrap()
            .1[0];
        assert_eq!(first.hostname.as_deref(), Some("a"));
        assert_eq!(first.node_name.as_deref(), Some("n1"));
        assert_eq!(
            first.conditions.as_ref().unwrap().serving,
            None,
            "only ready is set"
        );
    }

    #[test]
    fn max_per_subset_counts_ready_then_not_ready() {
        let ep = endpoints(json!({"subsets": [{
            "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
            "notReadyAddresses": [{"ip": "10.0.0.3"}],
            "ports": [{"port": 80}]
        }]}));
        let d = desired(&ep, 2);
        assert_eq!(d.skipped, 1);
        assert_eq!(d.invalid, 0);
        let s = summary(&d);
        assert_eq!(s[0].2.len(), 2);
        assert!(s[0].2.iter().all(|(_, ready)| *ready));
    }

    fn existing(name: &str, port: i32, ips: &[&str]) -> Arc<EndpointSlice> {
        let ep = endpoints(json!({}));
        let mut s = new_slice(
            &ep,
            "IPv4",
            &[EndpointPort {
                name: Some(String::new()),
                port: Some(port),
                protocol: Some("TCP".into()),
                app_protocol: None,
            }],
            ips.iter()
                .map(|ip| to_endpoint(&EndpointAddress::default(), ip.to_string(), true))
                .collect(),
        );
        s.metadata.generate_name = None;
        s.metadata.name = Some(name.into());
        s.metadata.resource_version = Some("7".into());
        Arc::new(s)
    }

    #[test]
    fn plan_table() {
        let ep = endpoints(json!({
            "metadata": {
                "labels": {"team": "a"},
                "annotations": {"note": "x", ANNOTATION_TRIGGER_TIME: "t", ANNOTATION_LAST_APPLIED: "{}"}
            },
            "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]
        }));
        let d = desired(&ep, 1000);

        // Nothing exists: one create with upstream's metadata.
        let p = plan(&ep, &d, &[], 1000);
        assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (1, 0, 0));
        let s = &p.create[0];
        assert_eq!(s.metadata.generate_name.as_deref(), Some("ext-"));
        let labels = s.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_MANAGED_BY], MANAGED_BY);
        assert_eq!(labels[LABEL_SERVICE_NAME], "ext");
        assert_eq!(labels["team"], "a");
        let ann = s.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann.len(), 1, "trigger time and last-applied are not copied");
        let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.controller),
            ("Endpoints", "ext", Some(true))
        );

        // Up to date: nothing to do.
        let p1 = plan(&ep, &d, &[Arc::new(s.clone())], 1000);
        assert_eq!(
            (p1.create.len(), p1.update.len(), p1.delete.len()),
            (0, 0, 0)
        );

        // Same ports, other address, plus a duplicate: update the first, delete the other.
        let p = plan(
            &ep,
            &d,
            &[
                existing("ext-b", 80, &["10.0.0.7"]),
                existing("ext-a", 80, &["10.0.0.8"]),
            ],
            1000,
        );
        assert_eq!(p.update.len(), 1);
        assert_eq!(p.update[0].metadata.name.as_deref(), Some("ext-a"));
        assert_eq!(p.update[0].metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(p.delete, vec!["ext-b".to_string()]);

        // Ports changed: the old slice is recycled instead of create + delete.
        let p = plan(&ep, &d, &[existing("ext-old", 81, &["10.0.0.1"])], 1000);
        assert_eq!((p.create.len(), p.delete.len()), (0, 0));
        assert_eq!(p.update[0].metadata.name.as_deref(), Some("ext-old"));
        assert_eq!(p.update[0].ports.as_ref().unwrap()[0].port, Some(80));

        // No addresses left: the slice goes.
        let empty = endpoints(json!({"subsets": [{"ports": [{"port": 80}]}]}));
        let p = plan(
            &empty,
            &desired(&empty, 1000),
            &[existing("ext-a", 80, &["10.0.0.1"])],
            1000,
        );
        assert_eq!((p.create.len(), p.update.len()), (0, 0));
        assert_eq!(p.delete, vec!["ext-a".to_string()]);
    }

    #[test]
    fn stale_cache_tracking() {
        let mut e = Expected::default();
        e.written.insert("ext-a".into(), "9".into());
        e.deleted.insert("ext-b".into());
        let a7 = existing("ext-a", 80, &[]);
        let b = existing("ext-b", 80, &[]);
        assert!(e.stale(&[a7.clone(), b.clone()]));
        let mut a9 = (*a7).clone();
        a9.metadata.resource_version = Some("9".into());
        assert!(
            e.stale(&[Arc::new(a9.clone()), b]),
            "deleted slice still cached"
        );
        assert!(!e.stale(&[Arc::new(a9)]));
    }
}
