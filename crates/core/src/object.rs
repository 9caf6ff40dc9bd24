//! Accessors over manifests held as `serde_json::Value`.
//!
//! Rendered objects stay untyped JSON all the way to the API server (server-side apply takes
//! exactly what the user wrote), so these helpers are the only "schema" most code needs.

use serde_json::{Map, Value};

use crate::{Gvk, ResourceKey};

pub fn str_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(obj, path)?.as_str()
}

pub fn get<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, k| v.get(*k))
}

pub fn get_mut<'a>(obj: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(obj, |v, k| v.get_mut(*k))
}

/// The mapping at `path`, created (with every missing parent) when absent. Returns `None` when
/// something other than a mapping (or null) is in the way.
pub fn ensure_map<'a>(obj: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = obj;
    for k in path {
        if cur.is_null() {
            *cur = Value::Object(Map::new());
        }
        cur = cur
            .as_object_mut()?
            .entry(k.to_string())
            .or_insert(Value::Null);
    }
    if cur.is_null() {
        *cur = Value::Object(Map::new());
    }
    cur.as_object_mut()
}

pub fn api_version(obj: &Value) -> Option<&str> {
    str_at(obj, &["apiVersion"])
}

pub fn kind(obj: &Value) -> Option<&str> {
    str_at(obj, &["kind"])
}

pub fn name(obj: &Value) -> Option<&str> {
    str_at(obj, &["metadata", "name"])
}

pub fn namespace(obj: &Value) -> Option<&str> {
    str_at(obj, &["metadata", "namespace"])
}

pub fn gvk(obj: &Value) -> Option<Gvk> {
    Some(Gvk::from_api_version(api_version(obj)?, kind(obj)?))
}

/// The object's key, when it has apiVersion, kind and metadata.name.
pub fn key(obj: &Value) -> Option<ResourceKey> {
    let gvk = gvk(obj)?;
    Some(ResourceKey {
        group: gvk.group,
        kind: gvk.kind,
        namespace: namespace(obj).unwrap_or_default().to_string(),
        name: name(obj)?.to_string(),
    })
}

pub fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    get(obj, &["metadata", "labels"])?.as_object()
}

pub fn annotations(obj: &Value) -> Option<&Map<String, Value>> {
    get(obj, &["metadata", "annotations"])?.as_object()
}

pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    annotations(obj)?.get(key)?.as_str()
}

pub fn set_name(obj: &mut Value, name: &str) {
    if let Some(meta) = ensure_map(obj, &["metadata"]) {
        meta.insert("name".into(), Value::String(name.into()));
    }
}

pub fn set_namespace(obj: &mut Value, ns: &str) {
    if let Some(meta) = ensure_map(obj, &["metadata"]) {
        meta.insert("namespace".into(), Value::String(ns.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_reads_group_kind_namespace_name() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}});
        assert_eq!(
            key(&obj),
            Some(ResourceKey::new("apps", "Deployment", "prod", "web"))
        );
        assert_eq!(key(&json!({"apiVersion": "v1", "kind": "ConfigMap"})), None);
    }

    #[test]
    fn ensure_map_creates_parents_and_refuses_scalars() {
        let mut obj = json!({"metadata": {"name": "x"}});
        ensure_map(&mut obj, &["metadata", "labels"])
            .unwrap()
            .insert("a".into(), json!("b"));
        assert_eq!(obj["metadata"]["labels"]["a"], "b");
        let mut scalar = json!({"metadata": "oops"});
        assert!(ensure_map(&mut scalar, &["metadata", "labels"]).is_none());
    }
}
