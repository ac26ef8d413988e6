//! ControllerRevision history shared by the DaemonSet and StatefulSet controllers
//! (upstream pkg/controller/history and the revision parts of pkg/controller/daemon and
//! pkg/controller/statefulset).
//!
//! A revision stores the owner's pod template as a strategic-merge patch
//! `{"spec":{"template":{..., "$patch":"replace"}}}` (upstream `getPatch` in both
//! controllers), is named `<owner>-<hash>`, carries the owner's template labels plus a
//! hash label, and a monotonically increasing `revision` number. Old revisions no pod
//! uses are deleted beyond `revisionHistoryLimit`.
//!
//! The two controllers hash differently, as upstream does: the StatefulSet controller hashes
//! the revision data with FNV-1 32 plus the collision count as decimal text
//! (`history.HashControllerRevision`, label `controller.kubernetes.io/hash`); the DaemonSet
//! controller uses `controller.ComputeHash` of the template (the Deployment's
//! pod-template-hash function, label `controller-revision-hash`). JSON here is serde's, so
//! hash values differ from upstream's byte for byte; names keep the same shape.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::PostParams;
use kube::Api;
use serde_json::{json, Value};

/// Upstream `history.ControllerRevisionHashLabel`.
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller.kubernetes.io/hash";
/// Upstream `apps.ControllerRevisionHashLabelKey` (also `DefaultDaemonSetUniqueLabelKey`):
/// the label on pods naming the revision they were made from.
pub const POD_REVISION_LABEL: &str = "controller-revision-hash";
/// Upstream caps the name prefix so `<prefix>-<hash>` stays a valid name.
const MAX_PREFIX_LEN: usize = 223;

/// Errors of revision bookkeeping.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// an API call failed
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// a revision's data is not a template patch
    #[error("controller revision {0} does not hold a pod template patch")]
    BadData(String),
}

/// `rand.SafeEncodeString`: maps each byte onto an alphabet without vowels or look-alikes.
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// FNV-1 32 (Go's `fnv.New32`, as `HashControllerRevision` uses, not FNV-1a).
fn fnv1_32(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for part in parts {
        for b in *part {
            h = h.wrapping_mul(0x0100_0193);
            h ^= u32::from(*b);
        }
    }
    h
}

/// Upstream `HashControllerRevision`: FNV-1 of the data, then of the collision count in
/// decimal, safe-encoded.
pub fn hash_revision(data: &Value, collision_count: Option<i32>) -> String {
    let raw = data.to_string();
    let probe = collision_count.map(|c| c.to_string()).unwrap_or_default();
    safe_encode(&fnv1_32(&[raw.as_bytes(), probe.as_bytes()]).to_string())
}

/// Upstream `ControllerRevisionName`.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let mut prefix = prefix;
    if prefix.len() > MAX_PREFIX_LEN {
        let mut end = MAX_PREFIX_LEN;
        while !prefix.is_char_boundary(end) {
            end -= 1;
        }
        prefix = &prefix[..end];
    }
    format!("{prefix}-{hash}")
}

/// The revision data for a pod template (upstream `getPatch`).
pub fn template_patch(template: Option<&PodTemplateSpec>) -> Value {
    let mut t = serde_json::to_value(template.cloned().unwrap_or_default()).unwrap_or_default();
    if let Some(m) = t.as_object_mut() {
        m.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

/// The pod template a revision holds (upstream `ApplyRevision` for the template field).
pub fn template_of(rev: &ControllerRevision) -> Result<PodTemplateSpec, HistoryError> {
    let bad = || HistoryError::BadData(rev.metadata.name.clone().unwrap_or_default());
    let data = rev.data.as_ref().ok_or_else(bad)?;
    let mut t = data
        .0
        .get("spec")
        .and_then(|s| s.get("template"))
        .cloned()
        .ok_or_else(bad)?;
    if let Some(m) = t.as_object_mut() {
        m.remove("$patch");
    }
    serde_json::from_value(t).map_err(|_| bad())
}

/// Upstream `NewControllerRevision` (StatefulSet flavour): template labels plus the hash
/// label, the owner's annotations, a controller reference, named `<owner>-<hash>`.
pub fn new_revision(
    owner: &ObjectMeta,
    owner_ref: OwnerReference,
    template_labels: Option<&BTreeMap<String, String>>,
    data: Value,
    revision: i64,
    collision_count: Option<i32>,
) -> ControllerRevision {
    let hash = hash_revision(&data, collision_count);
    let mut labels = template_labels.cloned().unwrap_or_default();
    labels.insert(CONTROLLER_REVISION_HASH_LABEL.into(), hash.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(
                owner.name.as_deref().unwrap_or_default(),
                &hash,
            )),
            namespace: owner.namespace.clone(),
            labels: Some(labels),
            annotations: owner.annotations.clone(),
            owner_references: Some(vec![owner_ref]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision,
    }
}

/// Upstream `EqualRevision`: same hash label and same data.
pub fn equal_revision(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    let hash = |r: &ControllerRevision| {
        r.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(CONTROLLER_REVISION_HASH_LABEL))
            .cloned()
    };
    let (ha, hb) = (hash(a), hash(b));
    if ha.is_none() || hb.is_none() || ha != hb {
        return false;
    }
    a.data.as_ref().map(|d| &d.0) == b.data.as_ref().map(|d| &d.0)
}

/// Upstream `SortControllerRevisions`: by revision, then creation time, then name.
pub fn sort_revisions(revs: &mut [Arc<ControllerRevision>]) {
    revs.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| {
                let t =
                    |r: &ControllerRevision| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
                t(a).cmp(&t(b))
            })
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// Upstream `nextRevision`/`maxRevision + 1`: one more than the highest revision number.
pub fn next_revision(revs: &[Arc<ControllerRevision>]) -> i64 {
    revs.iter().map(|r| r.revision).max().unwrap_or(0) + 1
}

/// The revisions to delete to keep at most `limit` revisions that are not `live` (upstream
/// `truncateHistory` / `cleanupHistory`): the oldest non-live ones go first.
pub fn revisions_to_prune(
    revs: &[Arc<ControllerRevision>],
    live: &HashSet<String>,
    limit: i32,
) -> Vec<Arc<ControllerRevision>> {
    let mut history: Vec<Arc<ControllerRevision>> = revs
        .iter()
        .filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or_default()))
        .cloned()
        .collect();
    sort_revisions(&mut history);
    let limit = limit.max(0) as usize;
    if history.len() <= limit {
        return Vec::new();
    }
    let n = history.len() - limit;
    history.truncate(n);
    history
}

/// Upstream `realHistory.CreateControllerRevision`: creates `rev` named by its hash; on a name
/// clash with different data the collision count goes up and the hash is recomputed.
/// Returns the stored (or identical pre-existing) revision.
pub async fn create_revision(
    api: &Api<ControllerRevision>,
    owner: &ObjectMeta,
    rev: &ControllerRevision,
    collision_count: &mut i32,
) -> Result<ControllerRevision, HistoryError> {
    let data = rev.data.as_ref().map(|d| d.0.clone()).unwrap_or_default();
    loop {
        let hash = hash_revision(&data, Some(*collision_count));
        let mut clone = rev.clone();
        clone.metadata.name = Some(revision_name(
            owner.name.as_deref().unwrap_or_default(),
            &hash,
        ));
        clone
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(CONTROLLER_REVISION_HASH_LABEL.into(), hash);
        match api.create(&PostParams::default(), &clone).await {
            Ok(created) => return Ok(created),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let existing = api
                    .get(clone.metadata.name.as_deref().unwrap_or_default())
                    .await?;
                if equal_revision(&existing, &clone) {
                    return Ok(existing);
                }
                *collision_count += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Orders revisions newest last; used when picking among equal revisions.
pub fn newest(revs: &[Arc<ControllerRevision>]) -> Option<&Arc<ControllerRevision>> {
    revs.iter()
        .max_by(|a, b| match a.revision.cmp(&b.revision) {
            Ordering::Equal => a.metadata.name.cmp(&b.metadata.name),
            o => o,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(name: &str, revision: i64, created: i64) -> Arc<ControllerRevision> {
        Arc::new(ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::from_second(created).unwrap(),
                )),
                ..Default::default()
            },
            data: None,
            revision,
        })
    }

    fn names(revs: &[Arc<ControllerRevision>]) -> Vec<&str> {
        revs.iter()
            .map(|r| r.metadata.name.as_deref().unwrap())
            .collect()
    }

    #[test]
    fn fnv1_matches_reference_vectors() {
        // Reference values of FNV-1 32 (not 1a).
        assert_eq!(fnv1_32(&[b""]), 0x811c_9dc5);
        assert_eq!(fnv1_32(&[b"a"]), 0x050c_5d7e);
        assert_eq!(fnv1_32(&[b"foobar"]), 0x31f0_b262);
        assert_eq!(fnv1_32(&[b"foo", b"bar"]), fnv1_32(&[b"foobar"]));
    }

    #[test]
    fn hash_depends_on_data_and_collisions_and_is_name_safe() {
        let t: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }))
        .unwrap();
        let data = template_patch(Some(&t));
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        let h0 = hash_revision(&data, None);
        assert_eq!(h0, hash_revision(&data, None), "stable");
        assert_ne!(h0, hash_revision(&data, Some(1)));
        let mut t2 = t.clone();
        t2.spec.as_mut().unwrap().containers[0].image = Some("nginx:2".into());
        assert_ne!(h0, hash_revision(&template_patch(Some(&t2)), None));
        assert!(h0
            .chars()
            .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        // The patch round-trips back to the template.
        let r = new_revision(
            &ObjectMeta {
                name: Some("web".into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            OwnerReference::default(),
            t.metadata.as_ref().unwrap().labels.as_ref(),
            data,
            3,
            None,
        );
        assert_eq!(
            r.metadata.name.as_deref(),
            Some(format!("web-{h0}").as_str())
        );
        assert_eq!(r.revision, 3);
        let labels = r.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["app"], "web");
        assert_eq!(labels[CONTROLLER_REVISION_HASH_LABEL], h0);
        assert_eq!(template_of(&r).unwrap(), t);
        assert!(equal_revision(&r, &r.clone()));
    }

    #[test]
    fn long_prefixes_are_truncated() {
        let long = "a".repeat(300);
        let n = revision_name(&long, "abc");
        assert_eq!(n.len(), 223 + 4);
        assert!(n.ends_with("-abc"));
    }

    #[test]
    fn sort_and_prune_keep_live_and_newest() {
        let mut revs = vec![
            rev("c", 3, 1),
            rev("a", 1, 5),
            rev("b", 2, 1),
            rev("a2", 1, 2),
        ];
        sort_revisions(&mut revs);
        assert_eq!(names(&revs), vec!["a2", "a", "b", "c"]);
        assert_eq!(next_revision(&revs), 4);
        assert_eq!(newest(&revs).unwrap().metadata.name.as_deref(), Some("c"));

        let live: HashSet<String> = ["c".to_string(), "a2".to_string()].into();
        // Non-live: a (1), b (2). Limit 1 drops the oldest.
        assert_eq!(names(&revisions_to_prune(&revs, &live, 1)), vec!["a"]);
        assert!(revisions_to_prune(&revs, &live, 2).is_empty());
        assert_eq!(names(&revisions_to_prune(&revs, &live, 0)), vec!["a", "b"]);
    }
}
