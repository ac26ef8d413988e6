//! Payloads of the content volumes: configMap, secret, downwardAPI and projected.
//!
//! Mirrors upstream `pkg/volume/configmap.MakePayload`, `pkg/volume/secret.MakePayload`,
//! `pkg/volume/downwardapi.CollectData` and `pkg/volume/projected.collectData`: all keys
//! when `items` is empty, else only the listed keys at their paths; per-item `mode` over
//! `defaultMode` (0644); a missing object or key is an error unless `optional`.

use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapProjection, DownwardAPIVolumeFile, KeyToPath, Pod, ProjectedVolumeSource,
    Secret,
};

use super::atomic_writer::{FileProjection, Payload};
use crate::container::env::{self, ObjectSource, PodRuntimeInfo};

/// Upstream's default file mode for configMap, secret, downwardAPI and projected volumes.
pub const DEFAULT_MODE: i32 = 0o644;

/// Why a payload could not be built (upstream messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The ConfigMap does not exist and is not optional.
    #[error("configmaps \"{0}\" not found")]
    ConfigMapNotFound(String),
    /// The Secret does not exist and is not optional.
    #[error("secrets \"{0}\" not found")]
    SecretNotFound(String),
    /// An item names a ConfigMap key that does not exist.
    #[error("configmap references non-existent config key: {0}")]
    ConfigMapKey(String),
    /// An item names a Secret key that does not exist.
    #[error("references non-existent secret key: {0}")]
    SecretKey(String),
    /// A downward API item failed.
    #[error("{0}")]
    DownwardApi(String),
    /// A projected serviceAccountToken source: the apiserver has no TokenRequest yet.
    #[error(
        "serviceAccountToken projection is not supported: the apiserver does not serve the TokenRequest API (serviceaccounts/token) yet"
    )]
    ServiceAccountTokenUnsupported,
    /// A projected clusterTrustBundle source.
    #[error("clusterTrustBundle projection is not supported by this kubelet")]
    ClusterTrustBundleUnsupported,
    /// The object source failed.
    #[error(transparent)]
    Source(#[from] env::ObjectSourceError),
}

fn mode_of(item_mode: Option<i32>, default_mode: Option<i32>) -> u32 {
    item_mode.or(default_mode).unwrap_or(DEFAULT_MODE) as u32 & 0o7777
}

/// Key → path projection shared by configMap and secret: all keys, or the listed items.
fn project_keys(
    data: Vec<(String, Vec<u8>)>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
    missing: impl Fn(&str) -> PayloadError,
) -> Result<Payload, PayloadError> {
    let mut out = Payload::new();
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (k, v) in data {
                out.insert(
                    k,
                    FileProjection {
                        data: v,
                        mode: mode_of(None, default_mode),
                    },
                );
            }
        }
        Some(items) => {
            for item in items {
                match data.iter().find(|(k, _)| *k == item.key) {
                    Some((_, v)) => {
                        out.insert(
                            item.path.clone(),
                            FileProjection {
                                data: v.clone(),
                                mode: mode_of(item.mode, default_mode),
                            },
                        );
                    }
                    None if optional => continue,
                    None => return Err(missing(&item.key)),
                }
            }
        }
    }
    Ok(out)
}

fn config_map_data(cm: &ConfigMap) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    v.extend(
        cm.binary_data
            .iter()
            .flatten()
            .map(|(k, b)| (k.clone(), b.0.clone())),
    );
    v
}

fn secret_data(s: &Secret) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = s
        .data
        .iter()
        .flatten()
        .map(|(k, b)| (k.clone(), b.0.clone()))
        .collect();
    // stringData is write-only at the apiserver; honour it if a static pod's object has it.
    v.extend(
        s.string_data
            .iter()
            .flatten()
            .map(|(k, s)| (k.clone(), s.clone().into_bytes())),
    );
    v
}

/// The payload of a configMap volume or projection.
pub async fn config_map_payload(
    objects: &dyn ObjectSource,
    namespace: &str,
    name: &str,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Payload, PayloadError> {
    let data = match objects.config_map(namespace, name).await? {
        Some(cm) => config_map_data(&cm),
        None if optional => vec![],
        None => return Err(PayloadError::ConfigMapNotFound(name.to_string())),
    };
    project_keys(data, items, default_mode, optional, |k| {
        PayloadError::ConfigMapKey(k.to_string())
    })
}

/// The payload of a secret volume or projection.
pub async fn secret_payload(
    objects: &dyn ObjectSource,
    namespace: &str,
    name: &str,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Payload, PayloadError> {
    let data = match objects.secret(namespace, name).await? {
        Some(s) => secret_data(&s),
        None if optional => vec![],
        None => return Err(PayloadError::SecretNotFound(name.to_string())),
    };
    project_keys(data, items, default_mode, optional, |k| {
        PayloadError::SecretKey(k.to_string())
    })
}

/// The payload of a downwardAPI volume or projection.
pub fn downward_api_payload(
    pod: &Pod,
    info: &PodRuntimeInfo,
    items: Option<&Vec<DownwardAPIVolumeFile>>,
    default_mode: Option<i32>,
) -> Result<Payload, PayloadError> {
    let mut out = Payload::new();
    for item in items.into_iter().flatten() {
        let value = if let Some(f) = &item.field_ref {
            env::metadata_field_value(pod, &f.field_path)
                .map_err(|e| PayloadError::DownwardApi(e.to_string()))?
        } else if let Some(r) = &item.resource_field_ref {
            let cname = r.container_name.clone().unwrap_or_default();
            let container = pod
                .spec
                .as_ref()
                .and_then(|s| {
                    s.containers
                        .iter()
                        .chain(s.init_containers.iter().flatten())
                        .find(|c| c.name == cname)
                })
                .ok_or_else(|| PayloadError::DownwardApi(format!("container {cname} not found")))?;
            env::container_resource_value(pod, container, r, &info.allocatable)
                .map_err(|e| PayloadError::DownwardApi(e.to_string()))?
        } else {
            String::new()
        };
        out.insert(
            item.path.clone(),
            FileProjection {
                data: value.into_bytes(),
                mode: mode_of(item.mode, default_mode),
            },
        );
    }
    Ok(out)
}

/// The payload of a projected volume: every source's files merged in order.
pub async fn projected_payload(
    pod: &Pod,
    info: &PodRuntimeInfo,
    objects: &dyn ObjectSource,
    src: &ProjectedVolumeSource,
) -> Result<Payload, PayloadError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let default_mode = src.default_mode;
    let mut out = Payload::new();
    for s in src.sources.iter().flatten() {
        let part = if let Some(ConfigMapProjection {
            name,
            items,
            optional,
        }) = &s.config_map
        {
            config_map_payload(
                objects,
                &ns,
                name,
                items.as_ref(),
                default_mode,
                optional.unwrap_or(false),
            )
            .await?
        } else if let Some(sp) = &s.secret {
            secret_payload(
                objects,
                &ns,
                &sp.name,
                sp.items.as_ref(),
                default_mode,
                sp.optional.unwrap_or(false),
            )
            .await?
        } else if let Some(d) = &s.downward_api {
            downward_api_payload(pod, info, d.items.as_ref(), default_mode)?
        } else if s.service_account_token.is_some() {
            return Err(PayloadError::ServiceAccountTokenUnsupported);
        } else if s.cluster_trust_bundle.is_some() {
            return Err(PayloadError::ClusterTrustBundleUnsupported);
        } else {
            Payload::new()
        };
        out.extend(part);
    }
    Ok(out)
}
