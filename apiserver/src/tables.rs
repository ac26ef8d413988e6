//! meta.k8s.io/v1 Table and PartialObjectMetadata answers, with the printer columns from
//! rudder-printers (upstream's server-side printers).

use serde_json::{json, Value};

use rudder_api::catalog::ResourceInfo;

/// The PartialObjectMetadata view of an object.
pub fn partial(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A Table of `items`. `include_object` is upstream's includeObject: `None`, `Metadata`
/// (default) or `Object`.
pub fn table(
    res: &ResourceInfo,
    items: &[&Value],
    include_object: &str,
    revision: Option<i64>,
    cont: Option<&str>,
) -> Value {
    let now = chrono::Utc::now();
    let columns: Vec<Value> = rudder_printers::columns(res.group, res.plural)
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.type_,
                "format": c.format,
                "description": c.description,
                "priority": c.priority,
            })
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            let cells = rudder_printers::cells(res.group, res.plural, obj, now);
            let object = match include_object {
                "None" => Value::Null,
                "Object" => (*obj).clone(),
                _ => partial(obj),
            };
            let mut row = json!({"cells": cells, "object": object});
            // Upstream marks rows of finished pods with a Completed condition.
            let conditions = rudder_printers::row_conditions(res.group, res.plural, obj);
            if !conditions.is_empty() {
                row["conditions"] = serde_json::Value::Array(conditions);
            }
            row
        })
        .collect();
    let mut meta = json!({});
    if let Some(rv) = revision {
        meta["resourceVersion"] = json!(rv.to_string());
    }
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}
