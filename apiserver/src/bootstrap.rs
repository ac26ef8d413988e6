//! What upstream's apiserver ensures at start: the system namespaces, the `kubernetes`
//! Service in `default` with Endpoints and an EndpointSlice pointing at this apiserver, and
//! the built-in PriorityClasses.

use std::sync::Arc;

use serde_json::{json, Value};

use rudder_api::catalog;

use crate::admission::{first_service_ip, SYSTEM_PRIORITY_CLASSES};
use crate::object;
use crate::server::ApiServer;

/// Namespaces every cluster has.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

async fn ensure(
    server: &ApiServer,
    group: &str,
    plural: &str,
    ns: Option<&str>,
    mut obj: Value,
) -> Result<(), String> {
    let res = catalog::lookup(
        group,
        if group.is_empty() {
            "v1"
        } else {
            catalog::preferred_version(group)
        },
        plural,
    )
    .ok_or_else(|| format!("{plural} missing from the catalog"))?;
    let name = object::name(&obj).unwrap_or("").to_string();
    let key = catalog::object_key(res, ns, &name);
    let strategy = rudder_registry::strategy(group, plural);
    {
        let m = object::meta_mut(&mut obj);
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(object::now_rfc3339()));
    }
    strategy.prepare_for_create(&mut obj);
    strategy.default(&mut obj);
    match server.store.get(&key).await {
        Ok(Some(existing)) => {
            // Endpoints follow the apiserver's current address, as upstream's reconciler does.
            if plural == "endpoints" || plural == "endpointslices" {
                let cur: Value =
                    serde_json::from_slice(&existing.value).map_err(|e| e.to_string())?;
                let field = if plural == "endpoints" {
                    "subsets"
                } else {
                    "endpoints"
                };
                if cur.get(field) != obj.get(field) {
                    let mut upd = cur.clone();
                    upd[field] = obj[field].clone();
                    if plural == "endpointslices" {
                        upd["ports"] = obj["ports"].clone();
                    }
                    server
                        .store
                        .update(
                            &key,
                            object::prepare_for_storage(&upd),
                            existing.mod_revision,
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        }
        Ok(None) => match server
            .store
            .create(&key, object::prepare_for_storage(&obj))
            .await
        {
            Ok(_) | Err(rudder_storage::StorageError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    }
}

/// Creates whatever is missing.
pub async fn run(server: &Arc<ApiServer>) -> Result<(), String> {
    for ns in SYSTEM_NAMESPACES {
        ensure(
            server,
            "",
            "namespaces",
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await?;
    }
    let s = &server.settings;
    let ip = first_service_ip(s.service_cidr).to_string();
    ensure(server, "", "services", Some("default"), json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": s.secure_port}],
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
    })).await?;
    let addr = s.advertise_address.to_string();
    ensure(server, "", "endpoints", Some("default"), json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": addr}], "ports": [{"name": "https", "port": s.secure_port, "protocol": "TCP"}]}],
    })).await?;
    ensure(server, "discovery.k8s.io", "endpointslices", Some("default"), json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [addr], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": s.secure_port, "protocol": "TCP"}],
    })).await?;
    for (name, value) in SYSTEM_PRIORITY_CLASSES {
        ensure(server, "scheduling.k8s.io", "priorityclasses", None, json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": "Used for system critical pods that must not be moved from their current node.",
            "preemptionPolicy": "PreemptLowerPriority",
        })).await?;
    }
    Ok(())
}
