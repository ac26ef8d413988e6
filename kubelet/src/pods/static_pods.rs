//! static_pods: pods from `--pod-manifest-path` (`staticPodPath`), a directory of Pod
//! manifests (YAML or JSON, one Pod per file) or a single manifest file.
//!
//! Mirrors upstream `pkg/kubelet/config/file.go` and `common.go`:
//! - the path is read at start and every `fileCheckFrequency` (20 s); in a directory,
//!   hidden files (`.name`) and subdirectories are skipped, files are read in name order;
//! - each manifest is decoded and defaulted as the apiserver would (scheme defaults),
//!   then `applyDefaults`: the UID is a hash of the defaulted pod plus `host:<node>` and
//!   `file:<path>`, the name gets the suffix `-<nodeName>`, the namespace defaults to
//!   `default`, `spec.nodeName` is this node, annotation `kubernetes.io/config.hash` is
//!   the UID, the toleration `{operator: Exists, effect: NoExecute}` is added and the phase
//!   is Pending; then the pod is validated (an invalid manifest is skipped with an error);
//! - `kubernetes.io/config.source: file` and `kubernetes.io/config.seen` (RFC 3339 with
//!   nanoseconds, the first time this UID was seen) are added as upstream's config merger
//!   does.
//!
//! Upstream hashes with MD5 over Go's deep printing of the object; this hashes the
//! canonical (sorted-key) JSON of the defaulted pod with SHA-256, truncated to 128 bits.
//! The value is stable for a given manifest, node and path but differs from upstream's.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use tokio::sync::watch;

/// The pod came from this source (`file`, `http`, `api`): upstream's ConfigSourceAnnotationKey.
pub const CONFIG_SOURCE_ANNOTATION: &str = "kubernetes.io/config.source";
/// The hash of a static pod (its UID): upstream's ConfigHashAnnotationKey.
pub const CONFIG_HASH_ANNOTATION: &str = "kubernetes.io/config.hash";
/// When the kubelet first saw the pod: upstream's ConfigFirstSeenAnnotationKey.
pub const CONFIG_SEEN_ANNOTATION: &str = "kubernetes.io/config.seen";
/// On a mirror pod: the hash of the static pod it mirrors (ConfigMirrorAnnotationKey).
pub const CONFIG_MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Why a manifest was not turned into a pod.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// the file could not be read
    #[error("reading {path:?}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// the file is neither a YAML nor a JSON Pod
    #[error("{path:?}: could not decode a pod: {message}")]
    Decode { path: PathBuf, message: String },
    /// the pod fails validation
    #[error("{path:?}: invalid pod: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Whether `pod` came from a non-apiserver source (upstream's IsStaticPod).
pub fn is_static(pod: &Pod) -> bool {
    annotation(pod, CONFIG_SOURCE_ANNOTATION).is_some_and(|s| s != "api")
}

/// Whether `pod` is a mirror pod in the apiserver (upstream's IsMirrorPod).
pub fn is_mirror(pod: &Pod) -> bool {
    annotation(pod, CONFIG_MIRROR_ANNOTATION).is_some()
}

/// The static pod's hash (its config.hash annotation).
pub fn config_hash(pod: &Pod) -> Option<&str> {
    annotation(pod, CONFIG_HASH_ANNOTATION)
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// Sorts object keys so the hash does not depend on the order of fields in the file.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, Value> =
                m.iter().map(|(k, v)| (k, canonical(v))).collect();
            let mut out = serde_json::Map::new();
            for (k, v) in sorted {
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn hash_uid(pod: &Value, node_name: &str, source: &Path) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(
        serde_json::to_string(&canonical(pod))
            .unwrap_or_default()
            .as_bytes(),
    );
    // Upstream writes the node and the file after the object's hash input.
    ctx.update(format!("host:{node_name}").as_bytes());
    ctx.update(format!("file:{}", source.display()).as_bytes());
    let digest = ctx.finish();
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Decodes one manifest's text into a static pod for `node_name` (without config.seen).
pub fn decode_manifest(text: &str, path: &Path, node_name: &str) -> Result<Pod, ManifestError> {
    let decode = |message: String| ManifestError::Decode {
        path: path.to_path_buf(),
        message,
    };
    // YAML is a superset of JSON, so one decoder reads both.
    let mut obj: Value = serde_yaml::from_str(text).map_err(|e| decode(e.to_string()))?;
    if !obj.is_object() {
        return Err(decode("not an object".into()));
    }
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != "Pod" || api_version != "v1" {
        // Upstream's tryDecodeSinglePod rejects everything but a v1 Pod.
        return Err(decode(format!(
            "invalid pod: expected kind Pod, apiVersion v1, got {kind:?} {api_version:?}"
        )));
    }
    let strategy = rudder_registry::strategy("", "pods");
    strategy.default(&mut obj);
    let has_meta = obj
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})).is_object())
        .unwrap_or(false);
    if !has_meta {
        return Err(decode("metadata is not an object".into()));
    }
    let uid = match obj.pointer("/metadata/uid").and_then(Value::as_str) {
        Some(u) if !u.is_empty() => u.to_string(),
        _ => hash_uid(&obj, node_name, path),
    };
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let m = obj["metadata"].as_object_mut().expect("metadata object");
    m.insert("uid".into(), json!(uid));
    // Upstream's generatePodName: `<name>-<nodeName>`.
    m.insert("name".into(), json!(format!("{name}-{node_name}")));
    if m.get("namespace")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        m.insert("namespace".into(), json!("default"));
    }
    let annotations = m
        .entry("annotations")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| decode("metadata.annotations is not an object".into()))?;
    annotations.insert(CONFIG_HASH_ANNOTATION.into(), json!(uid));
    annotations.insert(CONFIG_SOURCE_ANNOTATION.into(), json!("file"));
    let spec = obj
        .as_object_mut()
        .expect("object")
        .entry("spec")
        .or_insert_with(|| json!({}));
    let spec = spec
        .as_object_mut()
        .ok_or_else(|| decode("spec is not an object".into()))?;
    spec.insert("nodeName".into(), json!(node_name));
    // Static pods tolerate every NoExecute taint so node problems do not evict them
    // (upstream AddOrUpdateTolerationInPod: an identical toleration is not added twice).
    let tol = json!({"operator": "Exists", "effect": "NoExecute"});
    let tols = spec.entry("tolerations").or_insert_with(|| json!([]));
    if let Some(list) = tols.as_array_mut() {
        if !list.contains(&tol) {
            list.push(tol);
        }
    }
    obj["status"] = json!({"phase": "Pending"});
    let errs = strategy.validate_create(&obj);
    if !errs.is_empty() {
        let message = errs
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ManifestError::Invalid {
            path: path.to_path_buf(),
            message,
        });
    }
    serde_json::from_value(obj).map_err(|e| decode(e.to_string()))
}

/// Reads `path` (a directory of manifests or one manifest file). A missing path is no pods.
/// Returns the pods and the errors of the manifests that were skipped.
pub fn read_path(path: &Path, node_name: &str) -> (Vec<Pod>, Vec<ManifestError>) {
    let mut pods = Vec::new();
    let mut errors = Vec::new();
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.path())
                .collect(),
            Err(source) => {
                errors.push(ManifestError::Read {
                    path: path.to_path_buf(),
                    source,
                });
                Vec::new()
            }
        };
        files.sort();
        files
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        Vec::new()
    };
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(source) => {
                errors.push(ManifestError::Read { path: file, source });
                continue;
            }
        };
        match decode_manifest(&text, &file, node_name) {
            Ok(p) => pods.push(p),
            Err(e) => errors.push(e),
        }
    }
    (pods, errors)
}

/// Re-reads the manifest path every `period` and publishes the current static pods (with
/// `kubernetes.io/config.seen` from the first time each UID was seen) on `tx` when they
/// change. The first read happens at once.
pub async fn run(
    path: PathBuf,
    node_name: String,
    period: Duration,
    tx: watch::Sender<Option<Vec<Pod>>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut last_errors: Vec<String> = Vec::new();
    loop {
        let (p, n) = (path.clone(), node_name.clone());
        let read = tokio::task::spawn_blocking(move || read_path(&p, &n)).await;
        if let Ok((mut pods, errors)) = read {
            let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            if msgs != last_errors {
                for m in &msgs {
                    tracing::error!(error = %m, "could not process static pod manifest");
                }
                last_errors = msgs;
            }
            let now = k8s_openapi::jiff::Timestamp::now();
            seen.retain(|uid, _| pods.iter().any(|p| p.metadata.uid.as_deref() == Some(uid)));
            for p in &mut pods {
                let uid = p.metadata.uid.clone().unwrap_or_default();
                let ts = seen
                    .entry(uid)
                    .or_insert_with(|| format!("{now:.9}"))
                    .clone();
                p.metadata
                    .annotations
                    .get_or_insert_with(Default::default)
                    .insert(CONFIG_SEEN_ANNOTATION.into(), ts);
            }
            tx.send_if_modified(|cur| {
                if cur.as_ref() == Some(&pods) {
                    false
                } else {
                    *cur = Some(pods);
                    true
                }
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = "node-1";

    fn decode(text: &str) -> Result<Pod, ManifestError> {
        decode_manifest(text, Path::new("/etc/kubernetes/manifests/web.yaml"), NODE)
    }

    #[test]
    fn defaults_as_upstream_apply_defaults() {
        let p = decode(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
        )
        .unwrap();
        assert_eq!(p.metadata.name.as_deref(), Some("web-node-1"));
        assert_eq!(p.metadata.namespace.as_deref(), Some("default"));
        let uid = p.metadata.uid.clone().unwrap();
        assert_eq!(uid.len(), 32);
        let ann = p.metadata.annotations.clone().unwrap();
        assert_eq!(ann[CONFIG_HASH_ANNOTATION], uid);
        assert_eq!(ann[CONFIG_SOURCE_ANNOTATION], "file");
        assert!(is_static(&p));
        assert!(!is_mirror(&p));
        let spec = p.spec.unwrap();
        assert_eq!(spec.node_name.as_deref(), Some(NODE));
        assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
        assert_eq!(spec.termination_grace_period_seconds, Some(30));
        assert_eq!(spec.enable_service_links, Some(true));
        let tol = &spec.tolerations.unwrap()[0];
        assert_eq!(
            (
                tol.operator.as_deref(),
                tol.effect.as_deref(),
                tol.key.as_deref()
            ),
            (Some("Exists"), Some("NoExecute"), None)
        );
        let c = &spec.containers[0];
        assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
        assert_eq!(
            c.termination_message_path.as_deref(),
            Some("/dev/termination-log")
        );
        assert_eq!(p.status.unwrap().phase.as_deref(), Some("Pending"));
    }

    #[test]
    fn uid_depends_on_content_node_and_path_not_field_order() {
        let a = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":\"kube-system\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}";
        let b = "kind: Pod\napiVersion: v1\nspec:\n  containers:\n  - image: busybox\n    name: c\nmetadata:\n  namespace: kube-system\n  name: web\n";
        let ua = decode(a).unwrap().metadata.uid;
        assert_eq!(
            ua,
            decode(b).unwrap().metadata.uid,
            "JSON and YAML, any order"
        );
        let changed = b.replace("busybox", "busybox:1");
        assert_ne!(ua, decode(&changed).unwrap().metadata.uid);
        let other_node = decode_manifest(b, Path::new("/etc/kubernetes/manifests/web.yaml"), "n2")
            .unwrap()
            .metadata
            .uid;
        assert_ne!(ua, other_node);
        let other_path = decode_manifest(b, Path::new("/tmp/web.yaml"), NODE)
            .unwrap()
            .metadata
            .uid;
        assert_ne!(ua, other_path);
        // An explicit uid is kept, as upstream does.
        let with_uid = b.replace("  name: web\n", "  name: web\n  uid: fixed\n");
        assert_eq!(
            decode(&with_uid).unwrap().metadata.uid.as_deref(),
            Some("fixed")
        );
    }

    #[test]
    fn rejects_other_kinds_and_invalid_pods() {
        let cases = [
            (
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n",
                "expected kind Pod",
            ),
            ("- a\n- b\n", "not an object"),
            (
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers: []\n",
                "invalid pod",
            ),
            ("apiVersion: v1\nkind: Pod\n: [\n", "could not decode"),
        ];
        for (text, want) in cases {
            let err = decode(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn reads_a_directory_skipping_hidden_files_and_subdirectories() {
        let dir = tempfile::tempdir().unwrap();
        let pod = |name: &str| {
            format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: busybox\n")
        };
        std::fs::write(dir.path().join("b.yaml"), pod("b")).unwrap();
        std::fs::write(dir.path().join("a.json"), pod("a")).unwrap();
        std::fs::write(dir.path().join(".hidden.yaml"), pod("h")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/c.yaml"), pod("c")).unwrap();
        std::fs::write(dir.path().join("bad.yaml"), "kind: Pod\n").unwrap();
        let (pods, errors) = read_path(dir.path(), NODE);
        let names: Vec<_> = pods
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["a-node-1", "b-node-1"]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        // One file, and a missing path.
        let (pods, _) = read_path(&dir.path().join("b.yaml"), NODE);
        assert_eq!(pods.len(), 1);
        let (pods, errors) = read_path(&dir.path().join("absent"), NODE);
        assert!(pods.is_empty() && errors.is_empty());
    }

    #[tokio::test]
    async fn run_publishes_changes_and_keeps_first_seen() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n  - name: c\n    image: busybox\n";
        std::fs::write(dir.path().join("a.yaml"), manifest).unwrap();
        let (tx, mut rx) = watch::channel(None);
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(
            dir.path().to_path_buf(),
            NODE.into(),
            Duration::from_millis(20),
            tx,
            stop_rx,
        ));
        rx.changed().await.unwrap();
        let first = rx.borrow_and_update().clone().unwrap();
        assert_eq!(first.len(), 1);
        let seen = first[0].metadata.annotations.as_ref().unwrap()[CONFIG_SEEN_ANNOTATION].clone();
        assert!(seen.ends_with('Z') && seen.contains('.'), "{seen}");
        std::fs::remove_file(dir.path().join("a.yaml")).unwrap();
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow_and_update().clone().unwrap().len(), 0);
        let _ = stop_tx.send(true);
        task.await.unwrap();
    }
}
