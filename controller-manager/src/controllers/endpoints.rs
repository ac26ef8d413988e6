//! Endpoints controller (upstream pkg/controller/endpoint): for every Service with a
//! selector, a core/v1 Endpoints object of the same name listing the selected pods.
//!
//! Mirrored upstream behaviour: ready pods go to `addresses`, others to
//! `notReadyAddresses` (all to `addresses` with `publishNotReadyAddresses`); terminating
//! pods are left out unless `publishNotReadyAddresses`; addresses with the same resolved
//! ports share a subset (upstream `RepackSubsets`), sorted by IP; labels are the Service's
//! plus `endpointslice.kubernetes.io/skip-mirror: "true"` (so the mirroring controller
//! leaves them alone) and `service.kubernetes.io/headless` for headless Services; the
//! Endpoints object is deleted with its Service.
//!
//! Differences from upstream: the over-capacity truncation at 1000 addresses and the
//! last-change-trigger-time annotation are not implemented.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Pod, Service,
};
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;

use super::endpointslice::desired_endpoints;
use super::{is_not_found, run_workers, ControllerError, Requeue};
use crate::informer::{key_of, split_key, Notification};
use crate::ControllerContext;

/// Upstream `discovery.LabelSkipMirror`.
pub const LABEL_SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";

#[derive(Clone)]
struct Controller {
    client: kube::Client,
    services: Store<Service>,
    pods: Store<Pod>,
    endpoints: Store<Endpoints>,
}

/// Starts the informers and workers (upstream `--concurrent-endpoint-syncs`, 5).
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let queue = ctx.work_queue("endpoint");
    let q = queue.clone();
    let svc_informer = ctx.informers.subscribe::<Service>(move |n| {
        let s = n.object();
        q.add(key_of(s.as_ref()));
    });
    let services = svc_informer.store.clone();
    let q = queue.clone();
    let pod_informer = ctx.informers.subscribe::<Pod>(move |n| {
        let pods = match n {
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
    let ep_informer = ctx.informers.subscribe::<Endpoints>(move |n| {
        // Repair edits and deletions of objects we manage.
        if let Notification::Updated { new: e, .. } | Notification::Deleted(e) = n {
            q.add(key_of(e.as_ref()));
        }
    });
    svc_informer.synced().await;
    pod_informer.synced().await;
    ep_informer.synced().await;
    let c = Controller {
        client: ctx.client.clone(),
        services: svc_informer.store.clone(),
        pods: pod_informer.store.clone(),
        endpoints: ep_informer.store.clone(),
    };
    run_workers("endpoints-controller", queue, 5, move |key| {
        let c = c.clone();
        async move { c.sync(&key).await }
    })
    .await;
    drop((svc_informer, pod_informer, ep_informer));
    Ok(())
}

fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
}

fn selects(svc: &Service, pod: &Pod) -> bool {
    let Some(sel) = selector(svc) else {
        return false;
    };
    let labels = pod.metadata.labels.as_ref();
    sel.iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The subsets for a Service and its selected pods.
pub fn subsets(svc: &Service, pods: &[std::sync::Arc<Pod>]) -> Vec<EndpointSubset> {
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    // ports JSON -> (ports, ready, not ready)
    type Group = (
        Vec<EndpointPort>,
        Vec<EndpointAddress>,
        Vec<EndpointAddress>,
    );
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for (ports, ep) in desired_endpoints(svc, pods) {
        let cond = ep.conditions.clone().unwrap_or_default();
        if cond.terminating == Some(true) && !publish {
            continue;
        }
        let ports: Vec<EndpointPort> = ports
            .into_iter()
            .map(|p| EndpointPort {
                name: p.name.filter(|n| !n.is_empty()),
                port: p.port.unwrap_or_default(),
                protocol: p.protocol,
                app_protocol: p.app_protocol,
            })
            .collect();
        let key = serde_json::to_string(&ports).unwrap_or_default();
        let addr = EndpointAddress {
            ip: ep.addresses[0].clone(),
            hostname: ep.hostname,
            node_name: ep.node_name,
            target_ref: ep.target_ref,
        };
        let g = groups
            .entry(key)
            .or_insert_with(|| (ports, Vec::new(), Vec::new()));
        if publish || cond.ready == Some(true) {
            g.1.push(addr);
        } else {
            g.2.push(addr);
        }
    }
    groups
        .into_values()
        .map(|(ports, mut ready, mut not_ready)| {
            ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            not_ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect()
}

impl Controller {
    async fn sync(&self, key: &str) -> Result<Requeue, kube::Error> {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let api: Api<Endpoints> = Api::namespaced(self.client.clone(), ns);
        let current = self.endpoints.get(&ObjectRef::new(name).within(ns));
        let Some(svc) = self.services.get(&ObjectRef::new(name).within(ns)) else {
            // Upstream deletes the Endpoints of a deleted Service (they have no owner).
            if current.is_some() {
                match api.delete(name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok(Requeue::No);
        };
        if selector(&svc).is_none() {
            return Ok(Requeue::No);
        }
        let pods = self
            .pods
            .state_filter(|p| p.metadata.namespace.as_deref() == Some(ns) && selects(&svc, p));
        let subsets = subsets(&svc, &pods);
        let mut labels = svc.metadata.labels.clone().unwrap_or_default();
        labels.insert(LABEL_SKIP_MIRROR.into(), "true".into());
        if svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
            labels.insert(super::endpointslice::LABEL_HEADLESS.into(), String::new());
        }
        let want_subsets = (!subsets.is_empty()).then_some(subsets);
        match current {
            Some(cur) => {
                if cur.subsets.clone().filter(|s| !s.is_empty()) == want_subsets
                    && cur.metadata.labels.as_ref() == Some(&labels)
                {
                    return Ok(Requeue::No);
                }
                let mut next = (*cur).clone();
                next.subsets = want_subsets;
                next.metadata.labels = Some(labels);
                api.replace(name, &PostParams::default(), &next).await?;
            }
            None => {
                let ep = Endpoints {
                    metadata: ObjectMeta {
                        name: Some(name.into()),
                        labels: Some(labels),
                        ..Default::default()
                    },
                    subsets: want_subsets,
                };
                // A conflict (created meanwhile) is retried with backoff, by which time
                // the informer shows the object.
                api.create(&PostParams::default(), &ep).await?;
            }
        }
        Ok(Requeue::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn pod(name: &str, ip: &str, ready: bool, terminating: bool) -> Arc<Pod> {
        let mut meta = json!({"name": name, "namespace": "ns", "labels": {"app": "web"}});
        if terminating {
            meta["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        }
        Arc::new(
            serde_json::from_value(json!({
                "metadata": meta,
                "spec": {"containers": [{"name": "c", "image": "i"}]},
                "status": {"phase": "Running", "podIP": ip,
                    "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
            }))
            .unwrap(),
        )
    }

    fn svc(publish: bool) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"selector": {"app": "web"}, "publishNotReadyAddresses": publish,
                "ports": [{"port": 80, "targetPort": 8080}]}
        }))
        .unwrap()
    }

    #[test]
    fn subsets_table() {
        let pods = vec![
            pod("b", "10.0.0.2", true, false),
            pod("a", "10.0.0.1", true, false),
            pod("c", "10.0.0.3", false, false),
            pod("d", "10.0.0.4", true, true),
        ];
        let s = subsets(&svc(false), &pods);
        assert_eq!(s.len(), 1);
        let ips = |v: &Option<Vec<EndpointAddress>>| {
            v.iter().flatten().map(|a| a.ip.clone()).collect::<Vec<_>>()
        };
        assert_eq!(ips(&s[0].addresses), vec!["10.0.0.1", "10.0.0.2"]);
        assert_eq!(ips(&s[0].not_ready_addresses), vec!["10.0.0.3"]);
        let port = &s[0].ports.as_ref().unwrap()[0];
        assert_eq!((port.port, port.name.as_deref()), (8080, None));

        let s = subsets(&svc(true), &pods);
        assert_eq!(
            ips(&s[0].addresses),
            vec!["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
        );
        assert!(subsets(&svc(false), &[]).is_empty());
    }
}
