//! EndpointSlice controller (upstream pkg/controller/endpointslice and the reconciler in
//! staging/src/k8s.io/endpointslice): for every Service with a selector, EndpointSlices
//! listing the selected pods.
//!
//! Mirrored upstream behaviour:
//! - slices carry `kubernetes.io/service-name`, `endpointslice.kubernetes.io/managed-by:
//!   endpointslice-controller.k8s.io`, the Service's labels, `service.kubernetes.io/headless`
//!   for headless Services, a controller ownerReference to the Service, and
//!   `generateName: <service>-`;
//! - a pod is an endpoint when it has an IP and is not Succeeded/Failed; terminating pods
//!   stay, with `ready: false`, `serving` = pod ready, `terminating: true`
//!   (`publishNotReadyAddresses` makes every endpoint ready);
//! - ports resolve `targetPort` per pod (numbers directly, names through the containers'
//!   named ports; a name a pod lacks leaves that port out for that pod); endpoints with
//!   different port sets go to different slices, at most 100 endpoints per slice
//!   (`--max-endpoints-per-slice` default);
//! - a Service with no endpoints keeps one placeholder slice without endpoints or ports.
//!
//! Differences from upstream: the address type is the Service's first IP family only
//! (default IPv4); node zones, topology hints, and the trigger-time annotation are not set;
//! slices are packed afresh on every sync instead of upstream's minimal-churn packing.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;

use super::{is_not_found, pod_is_ready, run_workers, ControllerError, Requeue};
use crate::informer::{key_of, split_key, Notification};
use crate::ControllerContext;

/// Upstream `discovery.LabelServiceName`.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// Upstream `discovery.LabelManagedBy`.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// Upstream controller name written to the managed-by label.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// Upstream `v1.IsHeadlessService` label.
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// Upstream `--max-endpoints-per-slice` default.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// Errors of one sync; retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum EndpointSliceError {
    /// an API call failed
    #[error("{0}")]
    Api(#[from] kube::Error),
}

#[derive(Clone)]
struct Controller {
    client: kube::Client,
    services: Store<Service>,
    pods: Store<Pod>,
    slices: Store<EndpointSlice>,
}

/// Starts the informers and workers (upstream `--concurrent-service-endpoint-syncs`, 5).
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("endpoint_slice");
    let q = queue.clone();
    let svc_informer = ctx.informers.subscribe::<Service>(move |n| {
        let s = n.object();
        q.add(key_of(s.as_ref()));
    });
    let services = svc_informer.store.clone();
    let q = queue.clone();
    let pod_informer = ctx.informers.subscribe::<Pod>(move |n| {
        let pods: Vec<Arc<Pod>> = match n {
            Notification::Added(p) | Notification::Deleted(p) => vec![p],
            Notification::Updated { old, new } => vec![old, new],
        };
        for p in pods {
            let ns = p.metadata.namespace.as_deref();
            for svc in
                services.state_filter(|s| s.metadata.namespace.as_deref() == ns && selects(s, &p))
            {
                q.add(key_of(svc.as_ref()));
            }
        }
    });
    let q = queue.clone();
    let slice_informer = ctx.informers.subscribe::<EndpointSlice>(move |n| {
        let s = n.object();
        let labels = s.metadata.labels.clone().unwrap_or_default();
        if labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(MANAGED_BY) {
            return;
        }
        if let (Some(ns), Some(svc)) = (&s.metadata.namespace, labels.get(LABEL_SERVICE_NAME)) {
            q.add(format!("{ns}/{svc}"));
        }
    });
    svc_informer.synced().await;
    pod_informer.synced().await;
    slice_informer.synced().await;
    let c = Controller {
        client: ctx.client.clone(),
        services: svc_informer.store.clone(),
        pods: pod_informer.store.clone(),
        slices: slice_informer.store.clone(),
    };
    run_workers("endpointslice-controller", queue, 5, move |key| {
        let c = c.clone();
        async move { c.sync(&key).await }
    })
    .await;
    drop((svc_informer, pod_informer, slice_informer));
    Ok(())
}

/// Whether the Service's (non-empty) selector selects the pod.
fn selects(svc: &Service, pod: &Pod) -> bool {
    let Some(sel) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    if sel.is_empty() {
        return false;
    }
    let labels = pod.metadata.labels.as_ref();
    sel.iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// Upstream `podutil.FindPort`: the container port a target port names on this pod.
fn find_port(pod: &Pod, target: &IntOrString) -> Option<i32> {
    match target {
        IntOrString::Int(p) => Some(*p),
        IntOrString::String(name) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| p.container_port)
        }
    }
}

/// The address type of the Service's slices.
fn address_type(svc: &Service) -> String {
    svc.spec
        .as_ref()
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first().cloned())
        .unwrap_or_else(|| "IPv4".into())
}

/// The pod's address of the given family.
fn pod_address(pod: &Pod, family: &str) -> Option<String> {
    let status = pod.status.as_ref()?;
    let mut ips: Vec<String> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|p| p.ip.clone())
        .collect();
    if ips.is_empty() {
        ips.extend(status.pod_ip.clone());
    }
    ips.into_iter()
        .find(|ip| (family == "IPv6") == ip.contains(':'))
}

/// The desired (ports, endpoint) pairs for a Service (upstream reconciler input).
pub fn desired_endpoints(svc: &Service, pods: &[Arc<Pod>]) -> Vec<(Vec<EndpointPort>, Endpoint)> {
    let family = address_type(svc);
    let spec = svc.spec.clone().unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    let svc_name = svc.metadata.name.clone().unwrap_or_default();
    let mut out = Vec::new();
    let mut pods: Vec<&Arc<Pod>> = pods.iter().collect();
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for pod in pods {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded") | Some("Failed")) {
            continue;
        }
        let Some(addr) = pod_address(pod, &family) else {
            continue;
        };
        let mut ports = Vec::new();
        for sp in spec.ports.iter().flatten() {
            let target = sp.target_port.clone().unwrap_or(IntOrString::Int(sp.port));
            if let Some(port) = find_port(pod, &target) {
                ports.push(EndpointPort {
                    name: Some(sp.name.clone().unwrap_or_default()),
                    port: Some(port),
                    protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: sp.app_protocol.clone(),
                });
            }
        }
        let terminating = pod.metadata.deletion_timestamp.is_some();
        let ready = pod_is_ready(pod);
        let pspec = pod.spec.as_ref();
        let hostname = pspec
            .and_then(|s| s.hostname.clone())
            .filter(|_| pspec.and_then(|s| s.subdomain.as_deref()) == Some(svc_name.as_str()));
        out.push((
            ports,
            Endpoint {
                addresses: vec![addr],
                conditions: Some(EndpointConditions {
                    ready: Some(publish_not_ready || (ready && !terminating)),
                    serving: Some(publish_not_ready || ready),
                    terminating: Some(terminating),
                }),
                hostname,
                node_name: pspec.and_then(|s| s.node_name.clone()),
                target_ref: Some(ObjectReference {
                    kind: Some("Pod".into()),
                    namespace: pod.metadata.namespace.clone(),
                    name: pod.metadata.name.clone(),
                    uid: pod.metadata.uid.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ));
    }
    out
}

/// Groups endpoints by port set and packs them into slices of at most `max` endpoints;
/// with no endpoints, one empty placeholder.
pub fn pack(
    endpoints: Vec<(Vec<EndpointPort>, Endpoint)>,
    max: usize,
) -> Vec<(Option<Vec<EndpointPort>>, Vec<Endpoint>)> {
    let mut groups: BTreeMap<String, (Vec<EndpointPort>, Vec<Endpoint>)> = BTreeMap::new();
    for (ports, ep) in endpoints {
        let key = serde_json::to_string(&ports).unwrap_or_default();
        groups
            .entry(key)
            .or_insert_with(|| (ports, Vec::new()))
            .1
            .push(ep);
    }
    let mut out = Vec::new();
    for (_, (ports, eps)) in groups {
        for chunk in eps.chunks(max.max(1)) {
            out.push((Some(ports.clone()), chunk.to_vec()));
        }
    }
    if out.is_empty() {
        out.push((None, Vec::new()));
    }
    out
}

impl Controller {
    async fn sync(&self, key: &str) -> Result<Requeue, EndpointSliceError> {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let Some(svc) = self.services.get(&ObjectRef::new(name).within(ns)) else {
            // The slices are owned by the Service; the garbage collector removes them.
            return Ok(Requeue::No);
        };
        let has_selector = svc
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|s| !s.is_empty());
        if !has_selector || svc.metadata.deletion_timestamp.is_some() {
            // Services without selectors have user-managed slices (upstream skips them).
            return Ok(Requeue::No);
        }
        let pods = self
            .pods
            .state_filter(|p| p.metadata.namespace.as_deref() == Some(ns) && selects(&svc, p));
        let family = address_type(&svc);
        let wanted = pack(desired_endpoints(&svc, &pods), MAX_ENDPOINTS_PER_SLICE);
        let mut existing: Vec<Arc<EndpointSlice>> = self.slices.state_filter(|s| {
            let l = s.metadata.labels.clone().unwrap_or_default();
            s.metadata.namespace.as_deref() == Some(ns)
                && l.get(LABEL_SERVICE_NAME).map(String::as_str) == Some(name)
                && l.get(LABEL_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY)
                && s.address_type == family
        });
        existing.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), ns);
        let labels = slice_labels(&svc);
        for (ports, endpoints) in wanted {
            // Reuse a slice with the same ports if one is left, else create.
            let pos = existing.iter().position(|s| s.ports == ports);
            match pos.map(|i| existing.remove(i)) {
                Some(slice) => {
                    let same = slice.endpoints == endpoints
                        && slice.metadata.labels.as_ref() == Some(&labels);
                    if !same {
                        let mut next = (*slice).clone();
                        next.endpoints = endpoints;
                        next.metadata.labels = Some(labels.clone());
                        api.replace(
                            slice.metadata.name.as_deref().unwrap_or_default(),
                            &PostParams::default(),
                            &next,
                        )
                        .await?;
                    }
                }
                None => {
                    let slice = EndpointSlice {
                        metadata: ObjectMeta {
                            generate_name: Some(generate_name(name)),
                            namespace: Some(ns.to_string()),
                            labels: Some(labels.clone()),
                            owner_references: Some(vec![owner_ref(&svc)]),
                            ..Default::default()
                        },
                        address_type: family.clone(),
                        endpoints,
                        ports,
                    };
                    api.create(&PostParams::default(), &slice).await?;
                }
            }
        }
        for stale in existing {
            match api
                .delete(
                    stale.metadata.name.as_deref().unwrap_or_default(),
                    &DeleteParams::default(),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Requeue::No)
    }
}

/// Upstream `getEndpointSlicePrefix`: the service name, shortened so generated names fit
/// 63 characters, plus `-`.
fn generate_name(svc: &str) -> String {
    let mut prefix = format!("{svc}-");
    if prefix.len() > 58 {
        prefix.truncate(58);
    }
    prefix
}

fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    labels.remove(LABEL_HEADLESS);
    labels.insert(
        LABEL_SERVICE_NAME.into(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(LABEL_MANAGED_BY.into(), MANAGED_BY.into());
    let headless = svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None");
    if headless {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    }
    labels
}

fn owner_ref(svc: &Service) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: svc.metadata.name.clone().unwrap_or_default(),
        uid: svc.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(target: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": target}]}
        }))
        .unwrap()
    }

    fn pod(
        name: &str,
        ip: Option<&str>,
        ready: bool,
        phase: &str,
        named_port: Option<i32>,
    ) -> Arc<Pod> {
        let mut ports = Vec::new();
        if let Some(p) = named_port {
            ports.push(json!({"name": "web", "containerPort": p}));
        }
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "i", "ports": ports}]},
                "status": {
                    "phase": phase,
                    "podIP": ip,
                    "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]
                }
            }))
            .unwrap(),
        )
    }

    #[test]
    fn endpoints_table() {
        let pods = vec![
            pod("a", Some("10.0.0.1"), true, "Running", Some(8080)),
            pod("b", Some("10.0.0.2"), false, "Running", Some(8080)),
            pod("c", None, false, "Pending", Some(8080)),
            pod("d", Some("10.0.0.4"), true, "Succeeded", Some(8080)),
            pod("e", Some("10.0.0.5"), true, "Running", None),
        ];
        let eps = desired_endpoints(&svc(json!("web")), &pods);
        let got: Vec<(&str, Option<bool>, Vec<i32>)> = eps
            .iter()
            .map(|(ports, e)| {
                (
                    e.addresses[0].as_str(),
                    e.conditions.as_ref().unwrap().ready,
                    ports.iter().filter_map(|p| p.port).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("10.0.0.1", Some(true), vec![8080]),
                ("10.0.0.2", Some(false), vec![8080]),
                // No container port named "web": the port is left out for this pod.
                ("10.0.0.5", Some(true), vec![]),
            ]
        );
        let slices = pack(eps, 100);
        assert_eq!(slices.len(), 2, "two port sets, two slices");
    }

    #[test]
    fn packing_limits_and_placeholder() {
        let pods: Vec<Arc<Pod>> = (0..250)
            .map(|i| {
                pod(
                    &format!("p{i:03}"),
                    Some(&format!("10.0.{}.{}", i / 200, i % 200)),
                    true,
                    "Running",
                    None,
                )
            })
            .collect();
        let slices = pack(desired_endpoints(&svc(json!(8080)), &pods), 100);
        let sizes: Vec<usize> = slices.iter().map(|(_, e)| e.len()).collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        let empty = pack(Vec::new(), 100);
        assert_eq!(empty.len(), 1);
        assert!(empty[0].0.is_none() && empty[0].1.is_empty());
    }

    #[test]
    fn labels_and_names() {
        let mut s = svc(json!(80));
        s.spec.as_mut().unwrap().cluster_ip = Some("None".into());
        let l = slice_labels(&s);
        assert_eq!(l[LABEL_SERVICE_NAME], "web");
        assert_eq!(l[LABEL_MANAGED_BY], MANAGED_BY);
        assert!(l.contains_key(LABEL_HEADLESS));
        assert_eq!(generate_name("web"), "web-");
        assert_eq!(generate_name(&"x".repeat(70)).len(), 58);
    }
}
