//! DefaultBinder: binds through the `pods/binding` subresource (upstream
//! `plugins/defaultbinder`): `POST /api/v1/namespaces/NS/pods/NAME/binding` with a v1
//! Binding naming the pod (with its UID, so a recreated pod is not bound by mistake) and
//! the target node.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};

use crate::framework::{BindPlugin, Plugin, PluginSet, Status};
use crate::registry::{Handle, RegistryError};

/// The plugin's upstream name.
pub const NAME: &str = "DefaultBinder";

/// The plugin.
pub struct DefaultBinder {
    client: kube::Client,
}

impl Plugin for DefaultBinder {
    fn name(&self) -> &'static str {
        NAME
    }
}

/// The v1 Binding body for a pod and node.
pub fn binding_body(pod: &Pod, node: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {
            "name": pod.metadata.name,
            "namespace": pod.metadata.namespace,
            "uid": pod.metadata.uid,
        },
        "target": {"kind": "Node", "name": node},
    })
}

impl BindPlugin for DefaultBinder {
    fn bind<'a>(&'a self, pod: &'a Pod, node: &'a str) -> BoxFuture<'a, Status> {
        async move {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            let name = pod.metadata.name.as_deref().unwrap_or("");
            let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
            let body = binding_body(pod, node);
            match api
                .create_subresource::<_, serde_json::Value>(
                    "binding",
                    name,
                    &PostParams::default(),
                    &body,
                )
                .await
            {
                Ok(_) => Status::success(),
                Err(e) => Status::error(e.to_string()),
            }
        }
        .boxed()
    }
}

/// Builds the plugin; it needs the handle's client.
pub fn factory(_args: Option<&serde_json::Value>, h: &Handle) -> Result<PluginSet, RegistryError> {
    let client = h.client.clone().ok_or(RegistryError::NoClient(NAME))?;
    Ok(PluginSet {
        bind: Some(Arc::new(DefaultBinder { client })),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;
    use serde_json::json;

    #[test]
    fn body() {
        let p = pod(json!({"containers": []}));
        assert_eq!(
            binding_body(&p, "n1"),
            json!({"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": "p", "namespace": "default", "uid": "uid-p"},
                   "target": {"kind": "Node", "name": "n1"}})
        );
    }
}
