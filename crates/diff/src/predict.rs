//! Client-side prediction of a server-side apply: what the server would store if the desired
//! object were applied over the live one by field manager `driftless`.
//!
//! Used when the server's own answer (a dry-run apply) is not available: in the fallback
//! when dry-run is refused, and for the cheap comparison of a warm live cache. The merge
//! follows the schema of built-in types (`core::schema`): associative lists merge by their
//! `x-kubernetes-list-map-keys`, sets union, other lists and scalars are replaced, maps merge
//! per key. Fields `driftless` applied before and no longer declares are removed unless
//! another manager also owns them — exactly what the server does. Custom resources merge as
//! maps with atomic lists (no schema here).

use driftless_core::schema::{self, FieldMeta};
use driftless_core::{Gvk, object};
use serde_json::Value;

use crate::managed;

/// The field manager Driftless applies as.
pub const FIELD_MANAGER: &str = "driftless";

/// Live merged with desired (already [`crate::normalize::desired`]), with fields `driftless`
/// stopped declaring removed.
pub fn predict(live: &Value, desired: &Value) -> Value {
    let def = object::gvk(desired).and_then(|g| definition(&g));
    let mut out = merge(live, desired, def);
    if let Some(mine) = managed::fields_of(live, FIELD_MANAGER) {
        let others = managed::other_managers(live, FIELD_MANAGER);
        managed::remove_undeclared(&mut out, desired, mine, &others, def);
    }
    out
}

fn definition(gvk: &Gvk) -> Option<&'static str> {
    schema::builtin().definition_name(gvk)
}

pub(crate) fn field_meta(def: Option<&str>, field: &str) -> Option<&'static FieldMeta> {
    schema::builtin().field(def?, field)
}

/// The keys an associative list merges by, when it is one.
pub(crate) fn list_keys(meta: Option<&FieldMeta>) -> Option<Vec<String>> {
    let meta = meta?;
    if !meta.list_keys.is_empty() {
        return Some(meta.list_keys.clone());
    }
    match (&meta.key, meta.list_type.as_deref()) {
        (Some(k), None | Some("map")) if meta.merges() => Some(vec![k.clone()]),
        _ => None,
    }
}

fn merge(live: &Value, desired: &Value, def: Option<&str>) -> Value {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => {
            let mut out = l.clone();
            for (k, dv) in d {
                let meta = field_meta(def, k);
                let merged = match l.get(k) {
                    Some(lv) => merge_field(lv, dv, meta),
                    None => dv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        _ => desired.clone(),
    }
}

fn merge_field(live: &Value, desired: &Value, meta: Option<&FieldMeta>) -> Value {
    match (live, desired) {
        (Value::Array(l), Value::Array(d)) => {
            if let Some(keys) = list_keys(meta) {
                merge_by_keys(l, d, &keys, meta.and_then(|m| m.items.as_deref()))
            } else if meta.and_then(|m| m.list_type.as_deref()) == Some("set") {
                let mut out = l.clone();
                for x in d {
                    if !out.contains(x) {
                        out.push(x.clone());
                    }
                }
                Value::Array(out)
            } else {
                desired.clone()
            }
        }
        (Value::Object(l), Value::Object(d)) => {
            if meta.and_then(|m| m.map_type.as_deref()) == Some("atomic") {
                return desired.clone();
            }
            match meta.and_then(|m| m.values.as_deref()) {
                // A map of objects (e.g. a map whose values have a definition).
                Some(values_def) => {
                    let mut out = l.clone();
                    for (k, dv) in d {
                        let merged = match l.get(k) {
                            Some(lv) => merge(lv, dv, Some(values_def)),
                            None => dv.clone(),
                        };
                        out.insert(k.clone(), merged);
                    }
                    Value::Object(out)
                }
                None => merge(live, desired, meta.and_then(|m| m.reference.as_deref())),
            }
        }
        _ => desired.clone(),
    }
}

/// Whether a live item matches a desired item on the keys the desired item sets (a key left
/// out in the manifest is defaulted by the server, e.g. a port's `protocol`).
pub(crate) fn same_item(live: &Value, desired: &Value, keys: &[String]) -> bool {
    let mut any = false;
    for k in keys {
        if let Some(dv) = desired.get(k) {
            any = true;
            if live.get(k) != Some(dv) {
                return false;
            }
        }
    }
    any
}

fn merge_by_keys(live: &[Value], desired: &[Value], keys: &[String], def: Option<&str>) -> Value {
    let mut out: Vec<Value> = live.to_vec();
    for d in desired {
        match out.iter().position(|l| same_item(l, d, keys)) {
            Some(i) => out[i] = merge(&out[i], d, def),
            None => out.push(d.clone()),
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name_and_keep_server_defaults() {
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "app", "image": "a:1", "imagePullPolicy": "IfNotPresent",
                 "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}}});
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "a:2", "ports": [{"containerPort": 80}]}]}}}});
        let p = predict(&live, &desired);
        let c = &p["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "a:2");
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            c["ports"],
            json!([{"containerPort": 80, "protocol": "TCP"}])
        );
        assert_eq!(p["spec"]["replicas"], 1);
    }

    #[test]
    fn atomic_lists_are_replaced() {
        let live = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "args": ["a", "b"]}]}});
        let desired = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "args": ["b"]}]}});
        assert_eq!(
            predict(&live, &desired)["spec"]["containers"][0]["args"],
            json!(["b"])
        );
    }
}
