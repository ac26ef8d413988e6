//! Error types of the patch and apply algorithms.
//!
//! Messages are the ones upstream prints, so the apiserver can copy them into a
//! `metav1.Status` unchanged.

use crate::fieldpath::Path;

/// Why a JSON or strategic merge patch could not be applied. The variant is the HTTP status
/// upstream's patch handler answers with; the message is upstream's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// 400 BadRequest: the patch document is malformed, e.g. a JSON patch that is not an
    /// array, or a strategic merge patch with a bad `$retainKeys` / `$setElementOrder` /
    /// `$deleteFromPrimitiveList` directive (upstream `interpretStrategicMergePatchError`).
    #[error("{0}")]
    BadRequest(String),
    /// 422 Unprocessable Entity: a JSON patch operation does not apply (messages of
    /// gopkg.in/evanphx/json-patch.v4), or a strategic merge patch has lists of lists.
    #[error("{0}")]
    Unprocessable(String),
    /// 500 Internal Server Error: any other strategic merge patch failure, which upstream
    /// returns unwrapped (e.g. `map: map[a:b] does not contain declared merge key: name`).
    #[error("{0}")]
    Internal(String),
}

/// One field owned by another manager that an apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager, printed as upstream's fieldmanager prints it: `"name"` for an
    /// applier, `"name" using apps/v1` for an updater (optionally
    /// `with subresource "status"`).
    pub manager: String,
    /// The field, printed in structured-merge-diff's path syntax, e.g. `.spec.replicas` or
    /// `.spec.containers[name="nginx"].image`.
    pub field: String,
}

impl Conflict {
    pub(crate) fn new(manager: String, path: &Path) -> Self {
        Conflict {
            manager,
            field: path.to_string(),
        }
    }
}

/// Why a server-side apply failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change (upstream answers 409 Conflict, one
    /// `FieldManagerConflict` cause per field: message `conflict with <manager>`, field
    /// the path).
    #[error("{}", conflict_message(.0))]
    Conflict(Vec<Conflict>),
    /// The applied configuration is not usable (upstream answers 400/422), e.g. it is not
    /// a JSON object or misses apiVersion/kind.
    #[error("{0}")]
    Invalid(String),
    /// The live object's `metadata.managedFields` cannot be decoded (upstream answers 500
    /// with this text in its message).
    #[error("failed to decode managed fields: {0}")]
    BadManagedFields(String),
}

/// Mirrors `getConflictMessage` in k8s.io/apimachinery/pkg/util/managedfields/internal/
/// conflict.go: one conflict on a single line, several grouped by manager (sorted), one
/// `- path` line per field.
fn conflict_message(conflicts: &[Conflict]) -> String {
    if conflicts.len() == 1 {
        let c = &conflicts[0];
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager, c.field
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        for c in conflicts.iter().filter(|c| c.manager == m) {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}
