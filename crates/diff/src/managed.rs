//! managedFields (`fieldsV1`) walks: which fields a manager owns, used to predict removals
//! (fields `driftless` stopped declaring) and for `ignoreDifferences.managedFieldsManagers`
//! (fields another controller owns keep their live value).
//!
//! A `fieldsV1` set is a tree: `f:<name>` a field, `k:<json>` a list item by its keys,
//! `v:<json>` a set member, `.` the node itself.

use serde_json::{Map, Value};

use crate::predict::{field_meta, list_keys, same_item};

/// The `fieldsV1` of `manager`'s entries (Apply and Update merged into one view).
pub fn fields_of<'a>(live: &'a Value, manager: &str) -> Option<&'a Value> {
    entries(live)
        .find(|e| e.get("manager").and_then(Value::as_str) == Some(manager))
        .and_then(|e| e.get("fieldsV1"))
}

/// The `fieldsV1` of every manager but `manager`.
pub fn other_managers<'a>(live: &'a Value, manager: &str) -> Vec<&'a Value> {
    entries(live)
        .filter(|e| e.get("manager").and_then(Value::as_str) != Some(manager))
        .filter_map(|e| e.get("fieldsV1"))
        .collect()
}

fn entries(live: &Value) -> impl Iterator<Item = &Value> {
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn children<'a>(nodes: &[&'a Value], key: &str) -> Vec<&'a Value> {
    nodes.iter().filter_map(|n| n.get(key)).collect()
}

/// Removes from `out` what `mine` owns and `desired` no longer declares, unless one of
/// `others` owns it too.
pub fn remove_undeclared(
    out: &mut Value,
    desired: &Value,
    mine: &Value,
    others: &[&Value],
    def: Option<&str>,
) {
    let Some(mine) = mine.as_object() else {
        return;
    };
    for (k, child) in mine {
        if let Some(field) = k.strip_prefix("f:") {
            let Some(obj) = out.as_object_mut() else {
                continue;
            };
            let declared = desired.get(field);
            let others_here = children(others, k);
            match declared {
                None if others_here.is_empty() => {
                    obj.remove(field);
                }
                None => {}
                Some(d) => {
                    if let Some(o) = obj.get_mut(field) {
                        let meta = field_meta(def, field);
                        let child_def = meta.and_then(|m| m.child_def());
                        if o.is_array() {
                            let keys = list_keys(meta).unwrap_or_default();
                            remove_items(o, d, child, &others_here, &keys, child_def);
                        } else {
                            remove_undeclared(o, d, child, &others_here, child_def);
                        }
                    }
                }
            }
        }
    }
}

fn remove_items(
    out: &mut Value,
    desired: &Value,
    mine: &Value,
    others: &[&Value],
    keys: &[String],
    def: Option<&str>,
) {
    let (Some(mine), Some(list)) = (mine.as_object(), out.as_array_mut()) else {
        return;
    };
    let desired_items = desired.as_array().map(Vec::as_slice).unwrap_or_default();
    for (k, child) in mine {
        let others_here = children(others, k);
        if let Some(key_json) = k.strip_prefix("k:") {
            let Ok(item_key) = serde_json::from_str::<Map<String, Value>>(key_json) else {
                continue;
            };
            let item_key = Value::Object(item_key);
            let all_keys: Vec<String> = item_key.as_object().unwrap().keys().cloned().collect();
            let Some(pos) = list.iter().position(|i| same_item(i, &item_key, &all_keys)) else {
                continue;
            };
            match desired_items.iter().find(|d| same_item(&item_key, d, keys)) {
                None if others_here.is_empty() => {
                    list.remove(pos);
                }
                None => {}
                Some(d) => remove_undeclared(&mut list[pos], d, child, &others_here, def),
            }
        } else if let Some(v_json) = k.strip_prefix("v:") {
            let Ok(v) = serde_json::from_str::<Value>(v_json) else {
                continue;
            };
            if !desired_items.contains(&v) && others_here.is_empty() {
                list.retain(|x| x != &v);
            }
        }
    }
}

/// Copies into `out` the live value of every field `owned` covers (for
/// `managedFieldsManagers`): those fields then never differ.
pub fn copy_owned(out: &mut Value, live: &Value, owned: &Value) {
    let Some(owned) = owned.as_object() else {
        return;
    };
    for (k, child) in owned {
        if let Some(field) = k.strip_prefix("f:") {
            let leaf = child.as_object().is_none_or(|c| c.keys().all(|k| k == "."));
            let Some(obj) = out.as_object_mut() else {
                return;
            };
            match (live.get(field), leaf) {
                (None, _) => {
                    obj.remove(field);
                }
                (Some(lv), true) => {
                    obj.insert(field.to_string(), lv.clone());
                }
                (Some(lv), false) => {
                    let slot = obj.entry(field.to_string()).or_insert_with(|| match lv {
                        Value::Array(_) => Value::Array(Vec::new()),
                        _ => Value::Object(Map::new()),
                    });
                    if slot.is_array() {
                        copy_owned_items(slot, lv, child);
                    } else {
                        copy_owned(slot, lv, child);
                    }
                }
            }
        }
    }
}

fn copy_owned_items(out: &mut Value, live: &Value, owned: &Value) {
    let (Some(owned), Some(live_items), Some(list)) =
        (owned.as_object(), live.as_array(), out.as_array_mut())
    else {
        return;
    };
    for (k, child) in owned {
        let Some(key_json) = k.strip_prefix("k:") else {
            continue;
        };
        let Ok(Value::Object(key)) = serde_json::from_str::<Value>(key_json) else {
            continue;
        };
        let keys: Vec<String> = key.keys().cloned().collect();
        let key = Value::Object(key);
        let Some(lv) = live_items.iter().find(|i| same_item(i, &key, &keys)) else {
            continue;
        };
        match list.iter().position(|i| same_item(i, &key, &keys)) {
            Some(pos) => copy_owned(&mut list[pos], lv, child),
            None => list.push(lv.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::predict;
    use serde_json::json;

    fn live_with(managed: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"a": "1", "b": "2"}, "managedFields": managed},
            "data": {"x": "1", "y": "2"}})
    }

    #[test]
    fn a_field_driftless_stopped_declaring_is_removed_unless_shared() {
        let live = live_with(json!([
            {"manager": "driftless", "operation": "Apply", "fieldsV1":
                {"f:metadata": {"f:labels": {"f:a": {}, "f:b": {}}}, "f:data": {"f:x": {}, "f:y": {}}}},
            {"manager": "kubectl-edit", "operation": "Update", "fieldsV1":
                {"f:data": {"f:y": {}}}}
        ]));
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"x": "1"}});
        let p = predict(&live, &desired);
        assert_eq!(p["metadata"]["labels"], json!({"a": "1"}));
        assert_eq!(
            p["data"],
            json!({"x": "1", "y": "2"}),
            "y is also kubectl-edit's"
        );
    }

    #[test]
    fn a_container_no_longer_declared_is_removed() {
        let live = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p",
            "managedFields": [{"manager": "driftless", "operation": "Apply", "fieldsV1":
              {"f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {".": {}, "f:name": {}},
                                          "k:{\"name\":\"b\"}": {".": {}, "f:name": {}}}}}}]},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let desired = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}]}});
        assert_eq!(
            predict(&live, &desired)["spec"]["containers"],
            json!([{"name": "a"}])
        );
    }

    #[test]
    fn owned_fields_are_copied_from_live() {
        let live = json!({"spec": {"replicas": 5, "template": {"x": 1}}});
        let mut out = json!({"spec": {"replicas": 2, "template": {"x": 1}}});
        copy_owned(&mut out, &live, &json!({"f:spec": {"f:replicas": {}}}));
        assert_eq!(out["spec"]["replicas"], 5);
    }
}
