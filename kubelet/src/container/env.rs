//! Container environment: `env`, `envFrom`, `valueFrom` and service link variables.
//!
//! Mirrors upstream `kubelet_pods.go` `makeEnvironmentVariables`: `envFrom` sources first
//! (in order, with `prefix`, invalid keys skipped and reported), then `env` in order where a
//! literal `value` is `$(VAR)`-expanded against the variables defined so far and the service
//! variables; `valueFrom` resolves `fieldRef` (`podFieldSelectorRuntimeValue` and
//! `fieldpath.ExtractFieldPathAsString`), `resourceFieldRef` (limits default to the node's
//! allocatable, `ExtractResourceValueByContainerNameAndNodeAllocatable`), `configMapKeyRef`
//! and `secretKeyRef` (with `optional`). Service variables (`envvars.FromServices`) are
//! added last for names the pod did not define.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, EnvVar, ObjectFieldSelector, Pod, ResourceFieldSelector, Secret, Service,
};
use parking_lot::Mutex;

use super::expansion;
use super::resources::{Amount, NodeAllocatable};

/// A failure of the object source itself (not a missing object).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ObjectSourceError(pub String);

/// Where the kubelet reads ConfigMaps and Secrets (kl-core backs this with the apiserver
/// or an informer cache). `Ok(None)` means the object does not exist.
#[async_trait]
pub trait ObjectSource: Send + Sync {
    /// The ConfigMap `namespace/name`, if it exists.
    async fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ConfigMap>, ObjectSourceError>;
    /// The Secret `namespace/name`, if it exists.
    async fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Secret>, ObjectSourceError>;
    /// The Services a pod in `namespace` gets link variables for: those of `namespace`
    /// when `enable_service_links`, and `default/kubernetes` (upstream
    /// getServiceEnvVarMap). The default has none (tests, sources without an apiserver).
    async fn services_for_pod(
        &self,
        _namespace: &str,
        _enable_service_links: bool,
    ) -> Result<Vec<Service>, ObjectSourceError> {
        Ok(Vec::new())
    }
}

/// An in-memory [`ObjectSource`] for tests and static pods.
#[derive(Default)]
pub struct FakeObjects {
    config_maps: Mutex<BTreeMap<(String, String), ConfigMap>>,
    secrets: Mutex<BTreeMap<(String, String), Secret>>,
}

fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

impl FakeObjects {
    /// Adds or replaces a ConfigMap.
    pub fn put_config_map(&self, cm: ConfigMap) {
        self.config_maps.lock().insert(key_of(&cm.metadata), cm);
    }
    /// Adds or replaces a Secret.
    pub fn put_secret(&self, s: Secret) {
        self.secrets.lock().insert(key_of(&s.metadata), s);
    }
    /// Removes a ConfigMap.
    pub fn remove_config_map(&self, namespace: &str, name: &str) {
        self.config_maps
            .lock()
            .remove(&(namespace.to_string(), name.to_string()));
    }
}

#[async_trait]
impl ObjectSource for FakeObjects {
    async fn config_map(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<ConfigMap>, ObjectSourceError> {
        Ok(self
            .config_maps
            .lock()
            .get(&(ns.to_string(), name.to_string()))
            .cloned())
    }
    async fn secret(&self, ns: &str, name: &str) -> Result<Option<Secret>, ObjectSourceError> {
        Ok(self
            .secrets
            .lock()
            .get(&(ns.to_string(), name.to_string()))
            .cloned())
    }
}

/// Why a container's environment could not be built (the messages are upstream's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A referenced ConfigMap does not exist and is not optional.
    #[error("configmaps \"{0}\" not found")]
    ConfigMapNotFound(String),
    /// A referenced Secret does not exist and is not optional.
    #[error("secrets \"{0}\" not found")]
    SecretNotFound(String),
    /// A non-optional ConfigMap key is missing.
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKey {
        /// The key.
        key: String,
        /// The ConfigMap's namespace.
        namespace: String,
        /// The ConfigMap's name.
        name: String,
    },
    /// A non-optional Secret key is missing.
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKey {
        /// The key.
        key: String,
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
    /// A fieldRef path the kubelet does not know.
    #[error("unsupported fieldPath: {0}")]
    UnsupportedFieldPath(String),
    /// A resourceFieldRef resource the kubelet does not know.
    #[error("unsupported container resource : {0}")]
    UnsupportedResource(String),
    /// resourceFieldRef names a container the pod does not have.
    #[error("container {0} not found")]
    ContainerNotFound(String),
    /// A quantity (divisor or resource) could not be parsed.
    #[error("{0}")]
    Quantity(#[from] super::resources::QuantityError),
    /// The object source failed.
    #[error(transparent)]
    Source(#[from] ObjectSourceError),
}

/// What the kubelet knows about the pod's placement, needed to resolve downward API values.
#[derive(Debug, Clone, Default)]
pub struct PodRuntimeInfo {
    /// The node's name (`spec.nodeName` when the pod has none yet).
    pub node_name: String,
    /// The node's IPs (`status.hostIP(s)`).
    pub host_ips: Vec<String>,
    /// The sandbox's IPs (`status.podIP(s)`); falls back to the pod's status.
    pub pod_ips: Vec<String>,
    /// Node allocatable, the default for unset limits in resourceFieldRef.
    pub allocatable: NodeAllocatable,
}

/// The resolved environment of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerEnv {
    /// Variables in a stable order: first definition order of envFrom/env, then service
    /// variables sorted by service name.
    pub vars: Vec<(String, String)>,
    /// Warning event messages upstream records (reason `InvalidEnvironmentVariableNames`
    /// for skipped envFrom keys).
    pub warnings: Vec<String>,
}

impl ContainerEnv {
    /// The variables as a map, for `$(VAR)` expansion of command, args and subPathExpr.
    pub fn as_map(&self) -> HashMap<String, String> {
        self.vars.iter().cloned().collect()
    }
}

/// An ordered map keeping first-insertion order (upstream uses a Go map and sorts nothing;
/// a stable order keeps container configs reproducible).
#[derive(Default)]
struct OrderedEnv {
    order: Vec<String>,
    values: HashMap<String, String>,
}

impl OrderedEnv {
    fn set(&mut self, k: String, v: String) {
        if !self.values.contains_key(&k) {
            self.order.push(k.clone());
        }
        self.values.insert(k, v);
    }
}

/// Upstream `validation.IsEnvVarName`: `[-._a-zA-Z][-._a-zA-Z0-9]*`, and not `.`, `..`
/// or starting with `..` (`hasChDirPrefix`).
pub fn is_env_var_name(name: &str) -> bool {
    if name == "." || name.starts_with("..") {
        return false;
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || matches!(c, '-' | '.' | '_') => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// Builds the container's environment (upstream `makeEnvironmentVariables`). `services` are
/// the Services visible to the pod (its namespace plus `default/kubernetes`); pass an empty
/// slice to skip service links.
pub async fn make_environment(
    pod: &Pod,
    container: &Container,
    info: &PodRuntimeInfo,
    services: &[Service],
    objects: &dyn ObjectSource,
) -> Result<ContainerEnv, EnvError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let enable_links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let service_env = service_env_vars(&ns, enable_links, services);
    let service_map: HashMap<String, String> = service_env.iter().cloned().collect();
    let mut env = OrderedEnv::default();
    let mut warnings = Vec::new();

    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            let name = r.name.clone();
            match objects.config_map(&ns, &name).await? {
                None if r.optional == Some(true) => continue,
                None => return Err(EnvError::ConfigMapNotFound(name)),
                Some(cm) => {
                    let mut invalid = Vec::new();
                    for (k, v) in cm.data.iter().flatten() {
                        let key = format!("{prefix}{k}");
                        if !is_env_var_name(&key) {
                            invalid.push(key);
                            continue;
                        }
                        env.set(key, v.clone());
                    }
                    if !invalid.is_empty() {
                        invalid.sort();
                        warnings.push(format!(
                            "Keys [{}] from the EnvFrom configMap {ns}/{name} were skipped since they are considered invalid environment variable names.",
                            invalid.join(", ")
                        ));
                    }
                }
            }
        }
        if let Some(r) = &from.secret_ref {
            let name = r.name.clone();
            match objects.secret(&ns, &name).await? {
                None if r.optional == Some(true) => continue,
                None => return Err(EnvError::SecretNotFound(name)),
                Some(s) => {
                    let mut invalid = Vec::new();
                    for (k, v) in s.data.iter().flatten() {
                        let key = format!("{prefix}{k}");
                        if !is_env_var_name(&key) {
                            invalid.push(key);
                            continue;
                        }
                        env.set(key, String::from_utf8_lossy(&v.0).into_owned());
                    }
                    if !invalid.is_empty() {
                        invalid.sort();
                        warnings.push(format!(
                            "Keys [{}] from the EnvFrom secret {ns}/{name} were skipped since they are considered invalid environment variable names.",
                            invalid.join(", ")
                        ));
                    }
                }
            }
        }
    }

    for var in container.env.iter().flatten() {
        if let Some(value) =
            resolve_var(pod, container, var, info, &env, &service_map, objects).await?
        {
            env.set(var.name.clone(), value);
        }
    }

    let mut vars: Vec<(String, String)> = env
        .order
        .iter()
        .map(|k| (k.clone(), env.values[k].clone()))
        .collect();
    for (k, v) in service_env {
        if !env.values.contains_key(&k) {
            vars.push((k, v));
        }
    }
    Ok(ContainerEnv { vars, warnings })
}

async fn resolve_var(
    pod: &Pod,
    container: &Container,
    var: &EnvVar,
    info: &PodRuntimeInfo,
    env: &OrderedEnv,
    service_map: &HashMap<String, String>,
    objects: &dyn ObjectSource,
) -> Result<Option<String>, EnvError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let Some(from) = &var.value_from else {
        let raw = var.value.clone().unwrap_or_default();
        return Ok(Some(expansion::expand_with(
            &raw,
            &[&env.values, service_map],
        )));
    };
    if let Some(f) = &from.field_ref {
        return pod_field_value(pod, info, f).map(Some);
    }
    if let Some(r) = &from.resource_field_ref {
        return container_resource_value(pod, container, r, &info.allocatable).map(Some);
    }
    if let Some(r) = &from.config_map_key_ref {
        let optional = r.optional == Some(true);
        let name = r.name.clone();
        return match objects.config_map(&ns, &name).await? {
            None if optional => Ok(None),
            None => Err(EnvError::ConfigMapNotFound(name)),
            Some(cm) => match cm.data.as_ref().and_then(|d| d.get(&r.key)) {
                Some(v) => Ok(Some(v.clone())),
                None if optional => Ok(None),
                None => Err(EnvError::ConfigMapKey {
                    key: r.key.clone(),
                    namespace: ns,
                    name,
                }),
            },
        };
    }
    if let Some(r) = &from.secret_key_ref {
        let optional = r.optional == Some(true);
        let name = r.name.clone();
        return match objects.secret(&ns, &name).await? {
            None if optional => Ok(None),
            None => Err(EnvError::SecretNotFound(name)),
            Some(s) => match s.data.as_ref().and_then(|d| d.get(&r.key)) {
                Some(v) => Ok(Some(String::from_utf8_lossy(&v.0).into_owned())),
                None if optional => Ok(None),
                None => Err(EnvError::SecretKey {
                    key: r.key.clone(),
                    namespace: ns,
                    name,
                }),
            },
        };
    }
    Ok(Some(String::new()))
}

/// Upstream `podFieldSelectorRuntimeValue` + `fieldpath.ExtractFieldPathAsString`.
pub fn pod_field_value(
    pod: &Pod,
    info: &PodRuntimeInfo,
    sel: &ObjectFieldSelector,
) -> Result<String, EnvError> {
    let status = pod.status.as_ref();
    let spec = pod.spec.as_ref();
    let pod_ips: Vec<String> = if info.pod_ips.is_empty() {
        status
            .and_then(|s| s.pod_ips.as_ref())
            .map(|ips| ips.iter().map(|ip| ip.ip.clone()).collect())
            .unwrap_or_default()
    } else {
        info.pod_ips.clone()
    };
    match sel.field_path.as_str() {
        "spec.nodeName" => Ok(spec
            .and_then(|s| s.node_name.clone())
            .unwrap_or_else(|| info.node_name.clone())),
        "spec.serviceAccountName" => Ok(spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default()),
        "status.hostIP" => Ok(info.host_ips.first().cloned().unwrap_or_default()),
        "status.hostIPs" => Ok(info.host_ips.join(",")),
        "status.podIP" => Ok(pod_ips.first().cloned().unwrap_or_default()),
        "status.podIPs" => Ok(pod_ips.join(",")),
        other => metadata_field_value(pod, other),
    }
}

/// Upstream `fieldpath.ExtractFieldPathAsString` for the metadata fields the downward API
/// volume and env share.
pub fn metadata_field_value(pod: &Pod, path: &str) -> Result<String, EnvError> {
    let meta = &pod.metadata;
    if let Some((base, key)) = split_subscript(path) {
        return match base {
            "metadata.annotations" => Ok(meta
                .annotations
                .as_ref()
                .and_then(|m| m.get(key).cloned())
                .unwrap_or_default()),
            "metadata.labels" => Ok(meta
                .labels
                .as_ref()
                .and_then(|m| m.get(key).cloned())
                .unwrap_or_default()),
            _ => Err(EnvError::UnsupportedFieldPath(path.to_string())),
        };
    }
    match path {
        "metadata.annotations" => Ok(format_map(meta.annotations.as_ref())),
        "metadata.labels" => Ok(format_map(meta.labels.as_ref())),
        "metadata.name" => Ok(meta.name.clone().unwrap_or_default()),
        "metadata.namespace" => Ok(meta.namespace.clone().unwrap_or_default()),
        "metadata.uid" => Ok(meta.uid.clone().unwrap_or_default()),
        _ => Err(EnvError::UnsupportedFieldPath(path.to_string())),
    }
}

/// `metadata.labels['key']` → (`metadata.labels`, `key`).
fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_suffix("']")?;
    let (base, key) = rest.split_once("['")?;
    Some((base, key))
}

/// Upstream `fieldpath.FormatMap`: sorted `key="value"` lines (Go `%q` quoting), no
/// trailing newline.
pub fn format_map(m: Option<&BTreeMap<String, String>>) -> String {
    m.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Go's `strconv.Quote` for the characters labels and annotations can hold.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Upstream `ExtractResourceValueByContainerNameAndNodeAllocatable`: the value of a
/// container's request or limit divided by the divisor (default 1) and rounded up; unset
/// cpu, memory and ephemeral-storage limits default to the node's allocatable.
pub fn container_resource_value(
    pod: &Pod,
    container: &Container,
    sel: &ResourceFieldSelector,
    allocatable: &NodeAllocatable,
) -> Result<String, EnvError> {
    let target = match sel.container_name.as_deref() {
        None | Some("") => container.clone(),
        Some(name) => pod
            .spec
            .as_ref()
            .and_then(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
                    .find(|c| c.name == name)
            })
            .cloned()
            .ok_or_else(|| EnvError::ContainerNotFound(name.to_string()))?,
    };
    let divisor = match &sel.divisor {
        Some(q) => Amount::parse(&q.0)?,
        None => Amount::ZERO,
    };
    let divisor = if divisor.is_zero() {
        Amount::parse("1")?
    } else {
        divisor
    };
    let res = target.resources.as_ref();
    let get = |list: &str, name: &str| -> Option<Amount> {
        let l = match list {
            "limits" => res.and_then(|r| r.limits.as_ref()),
            _ => res.and_then(|r| r.requests.as_ref()),
        };
        l.and_then(|l| l.get(name))
            .and_then(|q| Amount::parse(&q.0).ok())
            .filter(|a| !a.is_zero())
    };
    let (list, name) = sel
        .resource
        .split_once('.')
        .ok_or_else(|| EnvError::UnsupportedResource(sel.resource.clone()))?;
    if list != "limits" && list != "requests" {
        return Err(EnvError::UnsupportedResource(sel.resource.clone()));
    }
    let value = match (list, name) {
        ("limits", "cpu") => {
            get(list, name).unwrap_or(Amount::parse(&format!("{}m", allocatable.cpu_millis))?)
        }
        ("limits", "memory") => {
            get(list, name).unwrap_or(Amount::parse(&allocatable.memory_bytes.to_string())?)
        }
        ("limits", "ephemeral-storage") => get(list, name).unwrap_or(Amount::parse(
            &allocatable.ephemeral_storage_bytes.to_string(),
        )?),
        (_, "cpu" | "memory" | "ephemeral-storage") => get(list, name).unwrap_or(Amount::ZERO),
        (_, n) if n.starts_with("hugepages-") => get(list, name).unwrap_or(Amount::ZERO),
        _ => return Err(EnvError::UnsupportedResource(sel.resource.clone())),
    };
    let out = if name == "cpu" {
        ceil_ratio(value.milli_value(), divisor.milli_value())
    } else {
        ceil_ratio(value.value(), divisor.value())
    };
    Ok(out.to_string())
}

fn ceil_ratio(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    (a as f64 / b as f64).ceil() as i64
}

/// Upstream `makeEnvVariableName`: upper case, `-` → `_`.
fn env_name(s: &str) -> String {
    s.to_uppercase().replace('-', "_")
}

/// Service link variables (upstream `getServiceEnvVarMap` + `envvars.FromServices`):
/// `default/kubernetes` always, the pod's namespace's services when links are enabled;
/// services without a cluster IP are skipped.
pub fn service_env_vars(
    namespace: &str,
    enable_service_links: bool,
    services: &[Service],
) -> Vec<(String, String)> {
    let mut chosen: BTreeMap<String, &Service> = BTreeMap::new();
    for svc in services {
        let name = svc.metadata.name.clone().unwrap_or_default();
        let svc_ns = svc.metadata.namespace.as_deref().unwrap_or("");
        let ip = svc
            .spec
            .as_ref()
            .and_then(|s| s.cluster_ip.as_deref())
            .unwrap_or("");
        if ip.is_empty() || ip == "None" {
            continue;
        }
        if svc_ns == "default" && name == "kubernetes" {
            chosen.entry(name).or_insert(svc);
        } else if svc_ns == namespace && enable_service_links {
            chosen.insert(name, svc);
        }
    }
    let mut out = Vec::new();
    for (name, svc) in chosen {
        let spec = svc.spec.as_ref().expect("checked above");
        let ip = spec.cluster_ip.clone().unwrap_or_default();
        let ports = spec.ports.clone().unwrap_or_default();
        let Some(first) = ports.first() else {
            continue;
        };
        let prefix = env_name(&name);
        out.push((format!("{prefix}_SERVICE_HOST"), ip.clone()));
        let port_var = format!("{prefix}_SERVICE_PORT");
        out.push((port_var.clone(), first.port.to_string()));
        for p in &ports {
            if let Some(pn) = p.name.as_deref().filter(|n| !n.is_empty()) {
                out.push((format!("{port_var}_{}", env_name(pn)), p.port.to_string()));
            }
        }
        for (i, p) in ports.iter().enumerate() {
            let proto = p.protocol.clone().unwrap_or_else(|| "TCP".to_string());
            let lower = proto.to_lowercase();
            let host_port = if ip.contains(':') {
                format!("[{ip}]:{}", p.port)
            } else {
                format!("{ip}:{}", p.port)
            };
            if i == 0 {
                out.push((format!("{prefix}_PORT"), format!("{lower}://{host_port}")));
            }
            let pp = format!("{prefix}_PORT_{}_{}", p.port, proto.to_uppercase());
            out.push((pp.clone(), format!("{lower}://{host_port}")));
            out.push((format!("{pp}_PROTO"), lower.clone()));
            out.push((format!("{pp}_PORT"), p.port.to_string()));
            out.push((format!("{pp}_ADDR"), ip.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ConfigMapEnvSource, ConfigMapKeySelector, EnvFromSource, EnvVarSource, PodIP, PodSpec,
        PodStatus, ResourceRequirements, SecretEnvSource, SecretKeySelector, ServicePort,
        ServiceSpec,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::ByteString;

    fn meta(ns: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            ..Default::default()
        }
    }

    fn cm(name: &str, data: &[(&str, &str)]) -> ConfigMap {
        ConfigMap {
            metadata: meta("ns", name),
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: meta("ns", name),
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn val(name: &str, v: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: Some(v.into()),
            ..Default::default()
        }
    }

    fn field(name: &str, path: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: path.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn res(name: &str, resource: &str, divisor: Option<&str>) -> EnvVar {
        EnvVar {
            name: name.into(),
            value_from: Some(EnvVarSource {
                resource_field_ref: Some(ResourceFieldSelector {
                    resource: resource.into(),
                    divisor: divisor.map(|d| Quantity(d.into())),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(container: Container) -> Pod {
        Pod {
            metadata: ObjectMeta {
                namespace: Some("ns".into()),
                name: Some("web".into()),
                uid: Some("uid-1".into()),
                labels: Some([("app".to_string(), "web".to_string())].into()),
                annotations: Some(
                    [
                        ("a".to_string(), "x\"y".to_string()),
                        ("b".to_string(), "two\nlines".to_string()),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("node-1".into()),
                service_account_name: Some("sa".into()),
                containers: vec![container],
                ..Default::default()
            }),
            status: Some(PodStatus {
                pod_ips: Some(vec![PodIP {
                    ip: "10.0.0.9".into(),
                }]),
                ..Default::default()
            }),
        }
    }

    fn info() -> PodRuntimeInfo {
        PodRuntimeInfo {
            node_name: "node-1".into(),
            host_ips: vec!["192.168.1.2".into(), "fd00::2".into()],
            pod_ips: vec!["10.1.0.5".into(), "fd01::5".into()],
            allocatable: NodeAllocatable {
                cpu_millis: 4000,
                memory_bytes: 8 << 30,
                ephemeral_storage_bytes: 100 << 30,
            },
        }
    }

    fn objects() -> FakeObjects {
        let o = FakeObjects::default();
        o.put_config_map(cm(
            "cfg",
            &[("KEY", "cfgval"), ("bad key", "x"), ("1x", "y")],
        ));
        o.put_secret(secret("sec", &[("PASSWORD", "hunter2")]));
        o
    }

    async fn run(c: Container) -> Result<ContainerEnv, EnvError> {
        let p = pod(c.clone());
        make_environment(&p, &c, &info(), &[], &objects()).await
    }

    fn container(env: Vec<EnvVar>) -> Container {
        Container {
            name: "c".into(),
            env: Some(env),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn env_table() {
        type Case = (Vec<EnvVar>, Vec<(&'static str, &'static str)>);
        let cases: Vec<Case> = vec![
            (vec![val("A", "a")], vec![("A", "a")]),
            // Expansion sees earlier variables only; unresolved refs stay; $$ escapes.
            (
                vec![
                    val("B", "$(A)-b"),
                    val("A", "a"),
                    val("C", "$(A)-c"),
                    val("D", "$$(A)"),
                ],
                vec![("B", "$(A)-b"), ("A", "a"), ("C", "a-c"), ("D", "$(A)")],
            ),
            // Redefinition keeps the first position and the last value.
            (vec![val("A", "1"), val("A", "2")], vec![("A", "2")]),
            (
                vec![
                    field("NAME", "metadata.name"),
                    field("NS", "metadata.namespace"),
                    field("UID", "metadata.uid"),
                    field("APP", "metadata.labels['app']"),
                    field("ANN", "metadata.annotations['a']"),
                    field("MISSING", "metadata.labels['nope']"),
                    field("NODE", "spec.nodeName"),
                    field("SA", "spec.serviceAccountName"),
                    field("HOST", "status.hostIP"),
                    field("HOSTS", "status.hostIPs"),
                    field("IP", "status.podIP"),
                    field("IPS", "status.podIPs"),
                ],
                vec![
                    ("NAME", "web"),
                    ("NS", "ns"),
                    ("UID", "uid-1"),
                    ("APP", "web"),
                    ("ANN", "x\"y"),
                    ("MISSING", ""),
                    ("NODE", "node-1"),
                    ("SA", "sa"),
                    ("HOST", "192.168.1.2"),
                    ("HOSTS", "192.168.1.2,fd00::2"),
                    ("IP", "10.1.0.5"),
                    ("IPS", "10.1.0.5,fd01::5"),
                ],
            ),
            (
                vec![
                    field("LABELS", "metadata.labels"),
                    field("ANNS", "metadata.annotations"),
                ],
                vec![
                    ("LABELS", "app=\"web\""),
                    ("ANNS", "a=\"x\\\"y\"\nb=\"two\\nlines\""),
                ],
            ),
        ];
        for (i, (env, want)) in cases.into_iter().enumerate() {
            let got = run(container(env)).await.unwrap();
            let want: Vec<(String, String)> = want
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(got.vars, want, "case {i}");
        }
    }

    #[tokio::test]
    async fn resource_field_refs() {
        let mut c = container(vec![
            res("CPU_LIMIT", "limits.cpu", None),
            res("CPU_LIMIT_M", "limits.cpu", Some("1m")),
            res("CPU_REQ", "requests.cpu", Some("1m")),
            res("MEM_LIMIT_MI", "limits.memory", Some("1Mi")),
            res("MEM_REQ", "requests.memory", None),
            res("EPH", "limits.ephemeral-storage", Some("1Gi")),
        ]);
        c.resources = Some(ResourceRequirements {
            requests: Some(
                [
                    ("cpu".to_string(), Quantity("250m".into())),
                    ("memory".to_string(), Quantity("100Mi".into())),
                ]
                .into(),
            ),
            limits: Some([("cpu".to_string(), Quantity("1500m".into()))].into()),
            ..Default::default()
        });
        let got = run(c).await.unwrap();
        let want = vec![
            ("CPU_LIMIT", "2"),
            ("CPU_LIMIT_M", "1500"),
            ("CPU_REQ", "250"),
            ("MEM_LIMIT_MI", "8192"),
            ("MEM_REQ", "104857600"),
            ("EPH", "100"),
        ];
        let want: Vec<(String, String)> = want
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got.vars, want);
        let err = run(container(vec![res("X", "limits.gpu", None)]))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported container resource : limits.gpu"
        );
    }

    fn cm_key(name: &str, cm: &str, key: &str, optional: Option<bool>) -> EnvVar {
        EnvVar {
            name: name.into(),
            value_from: Some(EnvVarSource {
                config_map_key_ref: Some(ConfigMapKeySelector {
                    name: cm.into(),
                    key: key.into(),
                    optional,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn secret_key(name: &str, s: &str, key: &str, optional: Option<bool>) -> EnvVar {
        EnvVar {
            name: name.into(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: s.into(),
                    key: key.into(),
                    optional,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn key_refs() {
        let ok = run(container(vec![
            cm_key("K", "cfg", "KEY", None),
            secret_key("P", "sec", "PASSWORD", None),
            cm_key("OPT_KEY", "cfg", "nope", Some(true)),
            cm_key("OPT_CM", "nope", "x", Some(true)),
            secret_key("OPT_S", "nope", "x", Some(true)),
        ]))
        .await
        .unwrap();
        assert_eq!(
            ok.vars,
            vec![
                ("K".to_string(), "cfgval".to_string()),
                ("P".to_string(), "hunter2".to_string())
            ]
        );
        let errs = vec![
            (
                cm_key("X", "cfg", "nope", None),
                "couldn't find key nope in ConfigMap ns/cfg",
            ),
            (
                cm_key("X", "nope", "k", Some(false)),
                "configmaps \"nope\" not found",
            ),
            (
                secret_key("X", "sec", "nope", None),
                "couldn't find key nope in Secret ns/sec",
            ),
            (
                secret_key("X", "nope", "k", None),
                "secrets \"nope\" not found",
            ),
            (
                field("X", "spec.bogus"),
                "unsupported fieldPath: spec.bogus",
            ),
        ];
        for (var, msg) in errs {
            assert_eq!(
                run(container(vec![var])).await.unwrap_err().to_string(),
                msg
            );
        }
    }

    #[tokio::test]
    async fn env_from_prefix_and_invalid_keys() {
        let mut c = container(vec![val("AFTER", "$(P_KEY)!"), val("P_KEY", "override")]);
        c.env_from = Some(vec![
            EnvFromSource {
                prefix: Some("P_".into()),
                config_map_ref: Some(ConfigMapEnvSource {
                    name: "cfg".into(),
                    optional: None,
                }),
                ..Default::default()
            },
            EnvFromSource {
                secret_ref: Some(SecretEnvSource {
                    name: "sec".into(),
                    optional: None,
                }),
                ..Default::default()
            },
            EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name: "missing".into(),
                    optional: Some(true),
                }),
                ..Default::default()
            },
        ]);
        let got = run(c.clone()).await.unwrap();
        assert_eq!(
            got.vars,
            vec![
                ("P_1x".to_string(), "y".to_string()),
                ("P_KEY".to_string(), "override".to_string()),
                ("PASSWORD".to_string(), "hunter2".to_string()),
                ("AFTER".to_string(), "cfgval!".to_string()),
            ]
        );
        assert_eq!(
            got.warnings,
            vec!["Keys [P_bad key] from the EnvFrom configMap ns/cfg were skipped since they are considered invalid environment variable names.".to_string()]
        );
        // Without a prefix "1x" is not a valid name either.
        c.env_from.as_mut().unwrap()[0].prefix = None;
        let got = run(c.clone()).await.unwrap();
        assert!(
            got.warnings[0].starts_with("Keys [1x, bad key]"),
            "{:?}",
            got.warnings
        );
        c.env_from.as_mut().unwrap()[2]
            .config_map_ref
            .as_mut()
            .unwrap()
            .optional = None;
        assert_eq!(
            run(c).await.unwrap_err().to_string(),
            "configmaps \"missing\" not found"
        );
    }

    #[test]
    fn env_var_names() {
        for ok in ["A", "a_b", "_x", ".x", "-x", "A1.b-c"] {
            assert!(is_env_var_name(ok), "{ok}");
        }
        for bad in ["", "1A", "a b", "a=b", "ä", ".", "..", "..x"] {
            assert!(!is_env_var_name(bad), "{bad}");
        }
    }

    fn svc(ns: &str, name: &str, ip: &str, ports: Vec<(Option<&str>, i32)>) -> Service {
        Service {
            metadata: meta(ns, name),
            spec: Some(ServiceSpec {
                cluster_ip: Some(ip.into()),
                ports: Some(
                    ports
                        .into_iter()
                        .map(|(n, p)| ServicePort {
                            name: n.map(Into::into),
                            port: p,
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn service_links() {
        let services = vec![
            svc(
                "default",
                "kubernetes",
                "10.96.0.1",
                vec![(Some("https"), 443)],
            ),
            svc("ns", "my-db", "10.96.0.7", vec![(None, 5432)]),
            svc("ns", "headless", "None", vec![(None, 80)]),
            svc("other", "elsewhere", "10.96.0.8", vec![(None, 80)]),
        ];
        let vars = service_env_vars("ns", true, &services);
        let m: HashMap<_, _> = vars.iter().cloned().collect();
        assert_eq!(m["KUBERNETES_SERVICE_HOST"], "10.96.0.1");
        assert_eq!(m["KUBERNETES_SERVICE_PORT"], "443");
        assert_eq!(m["KUBERNETES_SERVICE_PORT_HTTPS"], "443");
        assert_eq!(m["KUBERNETES_PORT"], "tcp://10.96.0.1:443");
        assert_eq!(m["KUBERNETES_PORT_443_TCP"], "tcp://10.96.0.1:443");
        assert_eq!(m["KUBERNETES_PORT_443_TCP_PROTO"], "tcp");
        assert_eq!(m["KUBERNETES_PORT_443_TCP_PORT"], "443");
        assert_eq!(m["KUBERNETES_PORT_443_TCP_ADDR"], "10.96.0.1");
        assert_eq!(m["MY_DB_SERVICE_HOST"], "10.96.0.7");
        assert!(!m
            .keys()
            .any(|k| k.starts_with("HEADLESS") || k.starts_with("ELSEWHERE")));
        let vars = service_env_vars("ns", false, &services);
        assert!(vars.iter().all(|(k, _)| k.starts_with("KUBERNETES_")));
        assert!(!vars.is_empty());
    }
}
