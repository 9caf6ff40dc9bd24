//! Normalization: the parts of an object that are the server's, not the user's, never show
//! as differences.
//!
//! The live object loses server-written metadata (managedFields, resourceVersion, uid,
//! generation, timestamps, kubectl's last-applied annotation, the Deployment revision) and
//! its status. The desired object loses nulls (no opinion under server-side apply), status
//! (the main resource ignores it) and has Secret `stringData` folded into `data` the way the
//! API server stores it. Server defaults need no stripping: the comparison is against the
//! *predicted* object (live merged with desired, see [`crate::predict`]), which keeps them.

use base64::Engine;
use serde_json::{Map, Value};

/// Metadata fields the server writes.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Annotations written by tools and controllers, not by the user's manifests.
const SERVER_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
];

/// A live (or predicted) object without server-owned fields.
pub fn live(obj: &Value) -> Value {
    let mut out = obj.clone();
    strip_server_fields(&mut out);
    out
}

/// Removes server-owned fields in place.
pub fn strip_server_fields(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    map.remove("status");
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        for f in SERVER_METADATA {
            meta.remove(*f);
        }
        let empty = if let Some(Value::Object(ann)) = meta.get_mut("annotations") {
            for a in SERVER_ANNOTATIONS {
                ann.remove(*a);
            }
            ann.is_empty()
        } else {
            false
        };
        if empty {
            meta.remove("annotations");
        }
    }
}

/// A desired object as it is applied: nulls dropped (no opinion under server-side apply),
/// status and server metadata dropped. Secret `stringData` stays as written (the server
/// records the applier's ownership of it); [`as_stored`] folds it for comparisons.
pub fn desired(obj: &Value) -> Value {
    let mut out = drop_nulls(obj);
    strip_server_fields(&mut out);
    out
}

/// An applied object as the server stores it: Secret `stringData` folded into `data`.
pub fn as_stored(mut obj: Value) -> Value {
    if is_secret(&obj) {
        fold_string_data(&mut obj);
    }
    obj
}

pub fn is_secret(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Secret")
        && obj.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

fn drop_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), drop_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(drop_nulls).collect()),
        other => other.clone(),
    }
}

/// `stringData` wins over `data` for the same key, as on the server.
fn fold_string_data(secret: &mut Value) {
    let Some(map) = secret.as_object_mut() else {
        return;
    };
    let Some(Value::Object(string_data)) = map.remove("stringData") else {
        return;
    };
    let data = map
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(data) = data.as_object_mut() {
        for (k, v) in string_data {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            data.insert(
                k,
                Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_data_becomes_base64_data() {
        let s = as_stored(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"a": "eA=="}, "stringData": {"b": "hello", "a": "y"}}),
        );
        assert_eq!(s["data"], json!({"a": "eQ==", "b": "aGVsbG8="}));
        assert!(s.get("stringData").is_none());
    }

    #[test]
    fn server_metadata_and_status_are_dropped() {
        let l = live(
            &json!({"metadata": {"name": "a", "uid": "u", "resourceVersion": "4",
            "annotations": {"deployment.kubernetes.io/revision": "2"}}, "status": {"x": 1}}),
        );
        assert_eq!(l, json!({"metadata": {"name": "a"}}));
    }
}
