//! Managed field sets, as server-side apply tracks them.
//!
//! A field set is a set of paths. Path elements follow `fieldsV1`: `f:<field>`, `k:<json of
//! the list-map keys>` for an element of an associative list (`x-kubernetes-list-map-keys`),
//! `v:<json>` for an element of a set list. Atomic lists and maps (`x-kubernetes-list-type:
//! atomic`, `x-kubernetes-map-type: atomic`, e.g. a LabelSelector) are owned whole, as leaves.
//! Identity fields (apiVersion, kind, metadata.name/namespace) and server-owned metadata are
//! never part of a set, as in the recorded transcripts.

use std::collections::BTreeSet;

use driftless_core::schema::{self, FieldMeta};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pe {
    F(String),
    K(String),
    V(String),
}

pub type Path = Vec<Pe>;
pub type FieldSet = BTreeSet<Path>;

const SERVER_META: [&str; 8] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
];

fn meta(def: Option<&str>, field: &str) -> Option<&'static FieldMeta> {
    schema::builtin().field(def?, field)
}

fn is_atomic_map(def: Option<&str>) -> bool {
    def.is_some_and(|d| {
        schema::builtin()
            .definition(d)
            .is_some_and(|x| x.map_type.as_deref() == Some("atomic"))
    })
}

/// The key element of a list-map item: its key fields as compact JSON, in key order.
pub fn item_key(item: &Value, keys: &[String]) -> Option<String> {
    let mut m = Map::new();
    for k in keys {
        if let Some(v) = item.get(k) {
            m.insert(k.clone(), v.clone());
        }
    }
    if m.is_empty() {
        return None;
    }
    let mut sorted: Vec<(String, Value)> = m.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    Some(Value::Object(sorted.into_iter().collect()).to_string())
}

/// Every path `obj` sets, for an object of definition `def` (None: schemaless, e.g. a CR,
/// where maps are granular and lists atomic).
pub fn field_set(obj: &Value, def: Option<&str>) -> FieldSet {
    field_set_keyed(obj, obj, def)
}

/// Like [`field_set`], with list-map item keys read from `keyed` (the defaulted object): the
/// server keys `ports` items by `containerPort` *and* the defaulted `protocol`, while the
/// applier owns only what it wrote.
pub fn field_set_keyed(obj: &Value, keyed: &Value, def: Option<&str>) -> FieldSet {
    let mut out = FieldSet::new();
    if let Value::Object(m) = obj {
        for (k, v) in m {
            if matches!(k.as_str(), "apiVersion" | "kind" | "status") {
                continue;
            }
            let child = meta(def, k);
            if k == "metadata" {
                if let Value::Object(md) = v {
                    for (mk, mv) in md {
                        if SERVER_META.contains(&mk.as_str()) {
                            continue;
                        }
                        let mdef = Some("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
                        walk(
                            mv,
                            &keyed["metadata"][mk],
                            meta(mdef, mk),
                            vec![Pe::F("metadata".into()), Pe::F(mk.clone())],
                            &mut out,
                        );
                    }
                }
                continue;
            }
            walk(v, &keyed[k], child, vec![Pe::F(k.clone())], &mut out);
        }
    }
    out
}

fn walk(v: &Value, keyed: &Value, fm: Option<&FieldMeta>, path: Path, out: &mut FieldSet) {
    let child_def = fm.and_then(FieldMeta::child_def);
    match v {
        Value::Object(m)
            if !m.is_empty()
                && !is_atomic_map(fm.and_then(|f| f.reference.as_deref()))
                && fm.and_then(|f| f.map_type.as_deref()) != Some("atomic") =>
        {
            for (k, cv) in m {
                let mut p = path.clone();
                p.push(Pe::F(k.clone()));
                // Maps of scalars (labels, data) have no definition: their children are leaves.
                walk(cv, &keyed[k], meta(child_def, k), p, out);
            }
        }
        Value::Array(items) if !items.is_empty() => match fm.and_then(|f| f.list_type.as_deref()) {
            Some("map") => {
                let keys = &fm.expect("list type implies meta").list_keys;
                for (i, item) in items.iter().enumerate() {
                    let keyed_item = keyed.get(i).filter(|x| x.is_object()).unwrap_or(item);
                    let Some(k) = item_key(keyed_item, keys) else {
                        continue;
                    };
                    let mut p = path.clone();
                    p.push(Pe::K(k));
                    out.insert(p.clone());
                    if let Value::Object(im) = item {
                        for (ik, iv) in im {
                            let mut ip = p.clone();
                            ip.push(Pe::F(ik.clone()));
                            walk(
                                iv,
                                &keyed_item[ik],
                                meta(fm.and_then(|f| f.items.as_deref()), ik),
                                ip,
                                out,
                            );
                        }
                    }
                }
            }
            Some("set") => {
                for item in items {
                    let mut p = path.clone();
                    p.push(Pe::V(item.to_string()));
                    out.insert(p);
                }
            }
            _ => {
                out.insert(path);
            }
        },
        _ => {
            out.insert(path);
        }
    }
}

/// `fieldsV1` JSON for a set (list-map items get their `"."` entry), keys in sorted order.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    let mut paths = set.iter().peekable();
    while let Some(path) = paths.next() {
        // A member with members below it is written with a `"."`; list-map items always are.
        // Paths iterate in order, so any below this one come right after it.
        let has_children = paths
            .peek()
            .is_some_and(|next| next.len() > path.len() && next.starts_with(path));
        let mut node = &mut root;
        for (i, pe) in path.iter().enumerate() {
            let key = match pe {
                Pe::F(f) => format!("f:{f}"),
                Pe::K(k) => format!("k:{k}"),
                Pe::V(v) => format!("v:{v}"),
            };
            let child = node.entry(key).or_insert_with(|| Value::Object(Map::new()));
            node = child.as_object_mut().expect("nodes are maps");
            if i == path.len() - 1 && (has_children || matches!(pe, Pe::K(_))) {
                node.insert(".".into(), Value::Object(Map::new()));
            }
        }
    }
    // No sorting needed: the set iterates paths in order, and `Pe`'s order (F < K < V, then
    // by text) is the order of their `f:`/`k:`/`v:` keys; a `"."` is inserted as its node is
    // created, before any longer path, so it comes first as it should.
    Value::Object(root)
}

/// The path of one annotation.
pub fn annotation_path(name: &str) -> Path {
    vec![
        Pe::F("metadata".into()),
        Pe::F("annotations".into()),
        Pe::F(name.into()),
    ]
}

/// Every path under `obj.status`: what a controller writing the status subresource owns.
pub fn status_field_set(obj: &Value, def: Option<&str>) -> FieldSet {
    let mut out = FieldSet::new();
    if let Some(status) = obj.get("status") {
        walk(
            status,
            status,
            meta(def, "status"),
            vec![Pe::F("status".into())],
            &mut out,
        );
    }
    out
}

/// The containers an Update operation added: lists and free-form maps (labels, data) that
/// `old` lacked. The server makes them members of the manager's set, which `fieldsV1` shows
/// as `".": {}` (the controllers' entries in transcripts 18–22). Structs never are: Go
/// serializes an empty struct, so the server never sees one appear.
pub fn added_containers(
    old: Option<&Value>,
    new: &Value,
    set: &FieldSet,
    def: Option<&str>,
) -> FieldSet {
    let mut out = FieldSet::new();
    for path in set {
        for n in 1..path.len() {
            let prefix = &path[..n];
            if out.contains(prefix) || prefix == [Pe::F("metadata".into())] {
                continue;
            }
            if old.is_some_and(|o| value_at(o, prefix).is_some()) {
                continue;
            }
            let container = match value_at(new, prefix) {
                Some(Value::Array(_)) => true,
                Some(Value::Object(_)) => is_free_form(prefix, def),
                _ => false,
            };
            if container {
                out.insert(prefix.to_vec());
            }
        }
    }
    out
}

/// Whether the object-valued field at `path` is a map of scalars (no definition of its own),
/// e.g. labels or a ConfigMap's data. Only known for built-in kinds.
fn is_free_form(path: &[Pe], def: Option<&str>) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = def;
    for (i, pe) in parents.iter().enumerate() {
        cur = match pe {
            Pe::F(f) if f == "metadata" && i == 0 => {
                Some("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
            }
            Pe::F(f) => meta(cur, f).and_then(FieldMeta::child_def),
            // A list item's definition is the list's `items`, already in `cur`.
            Pe::K(_) | Pe::V(_) => cur,
        };
    }
    let Pe::F(f) = last else { return false };
    // The schema table lists only fields with structure; a field it does not list in a known
    // definition holds plain values.
    cur.is_some() && meta(cur, f).is_none_or(|fm| fm.child_def().is_none())
}

/// Parses `fieldsV1` back into a set.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    fn rec(v: &Value, path: &mut Path, out: &mut FieldSet) {
        let Some(m) = v.as_object() else { return };
        if (m.is_empty() || m.contains_key(".")) && !path.is_empty() {
            out.insert(path.clone());
        }
        for (k, cv) in m {
            let pe = if let Some(f) = k.strip_prefix("f:") {
                Pe::F(f.into())
            } else if let Some(kk) = k.strip_prefix("k:") {
                Pe::K(kk.into())
            } else if let Some(vv) = k.strip_prefix("v:") {
                Pe::V(vv.into())
            } else {
                continue;
            };
            path.push(pe);
            rec(cv, path, out);
            path.pop();
        }
    }
    rec(v, &mut Vec::new(), &mut out);
    out
}

/// The value at `path` in `obj`, if present.
pub fn value_at<'a>(obj: &'a Value, path: &[Pe]) -> Option<&'a Value> {
    let mut cur = obj;
    for pe in path {
        cur = match pe {
            Pe::F(f) => cur.get(f)?,
            Pe::K(k) => {
                let want: Map<String, Value> = serde_json::from_str(k).ok()?;
                cur.as_array()?
                    .iter()
                    .find(|item| want.iter().all(|(wk, wv)| item.get(wk) == Some(wv)))?
            }
            Pe::V(v) => {
                let want: Value = serde_json::from_str(v).ok()?;
                cur.as_array()?.iter().find(|item| **item == want)?
            }
        };
    }
    Some(cur)
}

/// Removes the field or list element at `path` from `obj`.
pub fn remove_at(obj: &mut Value, path: &[Pe]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for pe in parent {
        let next = match pe {
            Pe::F(f) => cur.get_mut(f),
            Pe::K(k) => {
                let want: Map<String, Value> = match serde_json::from_str(k) {
                    Ok(w) => w,
                    Err(_) => return,
                };
                cur.as_array_mut().and_then(|a| {
                    a.iter_mut()
                        .find(|item| want.iter().all(|(wk, wv)| item.get(wk) == Some(wv)))
                })
            }
            Pe::V(_) => return,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match last {
        Pe::F(f) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(f);
            }
        }
        Pe::K(k) => {
            if let (Ok(want), Some(a)) = (
                serde_json::from_str::<Map<String, Value>>(k),
                cur.as_array_mut(),
            ) {
                a.retain(|item| !want.iter().all(|(wk, wv)| item.get(wk) == Some(wv)));
            }
        }
        Pe::V(v) => {
            if let (Ok(want), Some(a)) = (serde_json::from_str::<Value>(v), cur.as_array_mut()) {
                a.retain(|item| *item != want);
            }
        }
    }
}

/// `.spec.replicas`, `.spec.template.spec.containers[name="web"].image`: how conflicts name paths.
pub fn display(path: &[Pe]) -> String {
    let mut s = String::new();
    for pe in path {
        match pe {
            Pe::F(f) => {
                s.push('.');
                s.push_str(f);
            }
            Pe::K(k) => {
                let m: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                s.push_str(&format!("[{}]", parts.join(",")));
            }
            Pe::V(v) => s.push_str(&format!("[={v}]")),
        }
    }
    s
}

/// Adds every path of `other` to the `fieldsV1` tree `into`.
pub fn union_fields(into: &mut Value, other: &Value) {
    let (Some(into), Some(other)) = (into.as_object_mut(), other.as_object()) else {
        return;
    };
    for (k, v) in other {
        union_fields(
            into.entry(k.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            v,
        );
    }
}

/// Removes from a `fieldsV1` tree the paths `obj` no longer has (`f:` members, `k:` list
/// items by their key fields).
pub fn prune_absent(fields: &mut Value, obj: &Value) {
    let Some(m) = fields.as_object_mut() else {
        return;
    };
    m.retain(|k, sub| {
        let child = if let Some(name) = k.strip_prefix("f:") {
            obj.get(name)
        } else if let Some(key) = k.strip_prefix("k:") {
            let key: Value = serde_json::from_str(key).unwrap_or_default();
            obj.as_array().and_then(|items| {
                items.iter().find(|item| {
                    key.as_object()
                        .is_some_and(|kv| kv.iter().all(|(f, v)| item.get(f) == Some(v)))
                })
            })
        } else {
            return true;
        };
        match child {
            Some(c) => {
                prune_absent(sub, c);
                true
            }
            None => false,
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn applied_deployment_fields_match_the_recorded_managed_fields() {
        let applied = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}, "annotations": {"driftless.dev/tracking-id": "x"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}}});
        let set = field_set(&applied, Some("io.k8s.api.apps.v1.Deployment"));
        let v1 = to_fields_v1(&set);
        // Transcript 02 (with the port's defaulted protocol, as the server keys it).
        let expected = json!({"f:metadata": {"f:annotations": {"f:driftless.dev/tracking-id": {}}, "f:labels": {"f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}, "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}}}}}}}}});
        assert_eq!(v1, expected);
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn values_are_found_and_removed_by_path() {
        let mut obj = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let p = vec![
            Pe::F("spec".into()),
            Pe::F("containers".into()),
            Pe::K("{\"name\":\"b\"}".into()),
            Pe::F("image".into()),
        ];
        assert_eq!(value_at(&obj, &p), Some(&json!("y")));
        assert_eq!(display(&p), ".spec.containers[name=\"b\"].image");
        remove_at(&mut obj, &p[..3]);
        assert_eq!(obj["spec"]["containers"].as_array().unwrap().len(), 1);
    }
}
