//! Label and field selectors of list/watch/deletecollection requests, validated against
//! the fields upstream supports for each resource.

use serde_json::Value;

use rudder_api::catalog::ResourceInfo;
use rudder_api::{fields, labels};

use crate::object;
use crate::status::{ApiError, ApiResult};

/// Parsed selectors of one request.
pub struct Selectors {
    group: &'static str,
    plural: &'static str,
    label: Option<labels::Selector>,
    field: Option<fields::FieldSelector>,
}

impl Selectors {
    /// Parses `labelSelector` and `fieldSelector`; unsupported field labels get upstream's
    /// 400.
    pub fn parse(
        res: &'static ResourceInfo,
        label: Option<&str>,
        field: Option<&str>,
    ) -> ApiResult<Selectors> {
        let label = match label.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => {
                Some(labels::Selector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?)
            }
            None => None,
        };
        let field = match field.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => {
                let sel = fields::FieldSelector::parse(s)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                // Upstream converts each field label per kind and rejects unsupported ones.
                Some(
                    sel.convert(res.group, res.plural)
                        .map_err(|e| ApiError::bad_request(e.to_string()))?,
                )
            }
            None => None,
        };
        Ok(Selectors {
            group: res.group,
            plural: res.plural,
            label,
            field,
        })
    }

    /// No filtering at all.
    pub fn is_empty(&self) -> bool {
        self.label.is_none() && self.field.is_none()
    }

    /// Whether the object passes both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(l) = &self.label {
            if !l.matches(&object::labels(obj)) {
                return false;
            }
        }
        if let Some(f) = &self.field {
            if !f.matches_object(self.group, self.plural, obj) {
                return false;
            }
        }
        true
    }
}
