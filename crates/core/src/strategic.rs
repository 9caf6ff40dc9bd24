//! Strategic merge patch, as kustomize applies it and as the API server accepts it
//! (`application/strategic-merge-patch+json`).
//!
//! Lists merge or replace according to the real schema's `x-kubernetes-patch-strategy` and
//! `x-kubernetes-patch-merge-key` ([`driftless_core::schema`]); types the schema does not know
//! (custom resources) merge as a JSON merge patch: maps merge, lists are replaced.
//! Directives: `$patch: replace|delete|merge` on maps and list items, `$retainKeys`,
//! `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>`; `null` deletes a field.

use crate::schema::{self, FieldMeta};
use serde_json::{Map, Value};

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError {
    /// Dotted path of the field at fault.
    pub field: String,
    pub message: String,
}

/// What the patch asks of the whole object.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Patched,
    /// The patch is `$patch: delete`: remove the object.
    Delete,
}

/// Applies `patch` to `target`. `def` is the OpenAPI definition of the target's type (from its
/// GVK) or `None` for JSON-merge semantics.
pub fn apply(target: &mut Value, patch: &Value, def: Option<&str>) -> Result<Outcome, MergeError> {
    let Some(p) = patch.as_object() else {
        return Err(MergeError {
            field: String::new(),
            message: "a strategic merge patch must be a mapping".into(),
        });
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("delete") => return Ok(Outcome::Delete),
        Some("replace") => {
            *target = strip(patch);
            return Ok(Outcome::Patched);
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    merge_map(
        target.as_object_mut().expect("made a map"),
        p,
        def,
        &mut String::new(),
    )?;
    Ok(Outcome::Patched)
}

/// The definition of a built-in object from its apiVersion and kind.
pub fn definition_of(obj: &Value) -> Option<&'static str> {
    let gvk = crate::object::gvk(obj)?;
    schema::builtin().definition_name(&gvk)
}

fn field_meta(def: Option<&str>, key: &str) -> Option<&'static FieldMeta> {
    schema::builtin().field(def?, key)
}

fn is_directive(k: &str) -> bool {
    k.starts_with('$')
}

/// A copy of a patch value with every directive removed (what gets inserted when the target
/// has nothing to merge into).
pub fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !is_directive(k))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|x| x.get("$patch").and_then(Value::as_str) != Some("delete"))
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn merge_map(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    def: Option<&str>,
    path: &mut String,
) -> Result<(), MergeError> {
    for (k, pv) in patch {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(remove)) = (target.get_mut(field), pv.as_array())
            {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        if is_directive(k) {
            continue;
        }
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(k);
        let meta = field_meta(def, k);
        let child_def = meta.and_then(FieldMeta::child_def);
        match pv {
            Value::Null => {
                target.remove(k);
            }
            Value::Object(pm) => match pm.get("$patch").and_then(Value::as_str) {
                Some("delete") => {
                    target.remove(k);
                }
                Some("replace") => {
                    target.insert(k.clone(), strip(pv));
                }
                _ => {
                    let slot = target
                        .entry(k.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !slot.is_object() {
                        *slot = Value::Object(Map::new());
                    }
                    merge_map(slot.as_object_mut().expect("map"), pm, child_def, path)?;
                }
            },
            Value::Array(pl) => {
                let merged = match (target.remove(k), meta) {
                    (Some(Value::Array(tl)), Some(m)) if m.merges() => merge_list(tl, pl, m, path)?,
                    _ => Value::Array(
                        pl.iter()
                            .filter(|x| !is_delete_item(x))
                            .map(strip)
                            .collect(),
                    ),
                };
                target.insert(k.clone(), merged);
                if let Some(Value::Array(order)) = patch.get(&format!("$setElementOrder/{k}")) {
                    reorder(target.get_mut(k).expect("just inserted"), order, meta);
                }
            }
            scalar => {
                target.insert(k.clone(), scalar.clone());
            }
        }
        path.truncate(len);
    }
    if let Some(Value::Array(retain)) = patch.get("$retainKeys") {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        target.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

fn is_delete_item(v: &Value) -> bool {
    v.get("$patch").and_then(Value::as_str) == Some("delete")
}

fn merge_list(
    mut target: Vec<Value>,
    patch: &[Value],
    meta: &FieldMeta,
    path: &str,
) -> Result<Value, MergeError> {
    // `- $patch: replace` as an element replaces the whole list with the other elements.
    if patch
        .iter()
        .any(|x| x.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(Value::Array(
            patch
                .iter()
                .filter(|x| x.get("$patch").is_none())
                .map(strip)
                .collect(),
        ));
    }
    let Some(key) = meta.key.as_deref() else {
        // A merging list of scalars: union, original order first.
        for p in patch {
            if !target.contains(p) {
                target.push(p.clone());
            }
        }
        return Ok(Value::Array(target));
    };
    let item_def = meta.items.as_deref();
    for (i, p) in patch.iter().enumerate() {
        let Some(pm) = p.as_object() else {
            return Err(MergeError {
                field: format!("{path}[{i}]"),
                message: format!("list items must be mappings with the merge key `{key}`"),
            });
        };
        let Some(kv) = pm.get(key) else {
            return Err(MergeError {
                field: format!("{path}[{i}]"),
                message: format!("list item has no merge key `{key}`"),
            });
        };
        let pos = target.iter().position(|t| t.get(key) == Some(kv));
        if is_delete_item(p) {
            target.retain(|t| t.get(key) != Some(kv));
            continue;
        }
        match pos {
            Some(j) => {
                let mut sub = format!("{path}[{key}={}]", scalar_text(kv));
                let slot = target[j].as_object_mut().ok_or_else(|| MergeError {
                    field: sub.clone(),
                    message: "target list item is not a mapping".into(),
                })?;
                if pm.get("$patch").and_then(Value::as_str) == Some("replace") {
                    target[j] = strip(p);
                } else {
                    merge_map(slot, pm, item_def, &mut sub)?;
                }
            }
            None => target.push(strip(p)),
        }
    }
    Ok(Value::Array(target))
}

fn reorder(list: &mut Value, order: &[Value], meta: Option<&FieldMeta>) {
    let Some(items) = list.as_array_mut() else {
        return;
    };
    let key = meta.and_then(|m| m.key.as_deref());
    let rank = |v: &Value| {
        order
            .iter()
            .position(|o| match key {
                Some(k) => o.get(k).is_some() && o.get(k) == v.get(k),
                None => o == v,
            })
            .unwrap_or(usize::MAX)
    };
    items.sort_by_key(|v| rank(v));
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 1, "template": {"spec": {
                "containers": [
                    {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80}]},
                    {"name": "sidecar", "image": "proxy:1"}
                ],
                "volumes": [{"name": "data", "emptyDir": {}}],
                "tolerations": [{"key": "a", "operator": "Exists"}]
            }}}
        })
    }

    fn patch(target: &mut Value, p: Value) -> Outcome {
        let def = definition_of(target);
        apply(target, &p, def).unwrap()
    }

    #[test]
    fn containers_merge_by_name_and_env_by_name() {
        let mut d = deployment();
        patch(
            &mut d,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}]},
                {"name": "new", "image": "new:1"}
            ]}}}}),
        );
        let c = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0]["image"], "app:2");
        assert_eq!(
            c[0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(
            c[0]["ports"],
            json!([{"containerPort": 80}]),
            "untouched fields stay"
        );
        assert_eq!(c[1]["name"], "sidecar");
        assert_eq!(c[2]["name"], "new");
    }

    #[test]
    fn atomic_lists_are_replaced_and_null_deletes() {
        let mut d = deployment();
        patch(
            &mut d,
            json!({"metadata": {"labels": {"app": null, "tier": "web"}}, "spec": {"template": {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}}}),
        );
        assert_eq!(d["metadata"]["labels"], json!({"tier": "web"}));
        assert_eq!(
            d["spec"]["template"]["spec"]["tolerations"],
            json!([{"key": "b", "operator": "Exists"}])
        );
    }

    #[test]
    fn patch_directives_delete_and_replace() {
        let mut d = deployment();
        patch(
            &mut d,
            json!({"spec": {"template": {"spec": {
                "containers": [{"name": "sidecar", "$patch": "delete"}],
                "volumes": [{"$patch": "replace"}, {"name": "cache", "emptyDir": {"medium": "Memory"}}]
            }}}}),
        );
        let spec = &d["spec"]["template"]["spec"];
        assert_eq!(spec["containers"].as_array().unwrap().len(), 1);
        assert_eq!(
            spec["volumes"],
            json!([{"name": "cache", "emptyDir": {"medium": "Memory"}}])
        );
        let mut d = deployment();
        patch(
            &mut d,
            json!({"spec": {"template": {"spec": {"$patch": "replace", "containers": [{"name": "only", "image": "x"}]}}}}),
        );
        assert_eq!(
            d["spec"]["template"]["spec"],
            json!({"containers": [{"name": "only", "image": "x"}]})
        );
        let mut d = deployment();
        assert_eq!(
            patch(
                &mut d,
                json!({"$patch": "delete", "metadata": {"name": "web"}})
            ),
            Outcome::Delete
        );
    }

    #[test]
    fn retain_keys_drops_other_strategy_fields() {
        let mut d = deployment();
        d["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}});
        patch(
            &mut d,
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
        );
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn custom_resources_merge_as_json_merge_patch() {
        let mut cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"items": [{"name": "a"}, {"name": "b"}], "size": 1}});
        patch(&mut cr, json!({"spec": {"items": [{"name": "c"}]}}));
        assert_eq!(cr["spec"], json!({"items": [{"name": "c"}], "size": 1}));
    }

    #[test]
    fn merge_key_missing_is_an_error_naming_the_field() {
        let mut d = deployment();
        let err = apply(
            &mut d,
            &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
            definition_of(&deployment()),
        )
        .unwrap_err();
        assert_eq!(err.field, "spec.template.spec.containers[0]");
    }

    #[test]
    fn primitive_merge_lists_union_and_delete_from_primitive_list() {
        let mut obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["a", "b"]}});
        patch(
            &mut obj,
            json!({"metadata": {"finalizers": ["b", "c"], "$deleteFromPrimitiveList/finalizers": ["a"]}}),
        );
        assert_eq!(obj["metadata"]["finalizers"], json!(["b", "c"]));
    }
}
