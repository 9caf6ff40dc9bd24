//! kustomize's strategic-merge list order. kustomize merges patches with kyaml's `merge2`
//! and `ListIncreaseDirection: Prepend`: when a patch adds an item to a merge-keyed list (a
//! new env var, port, volume), the list comes out in the patch's order followed by the items
//! only the target had, where the API server's strategic merge (`driftless_core::strategic`)
//! appends new items. This pass reorders after the merge, walking the schema's merge keys.

use driftless_core::schema;
use serde_json::Value;

/// The item of `list` whose `key` equals `want`.
fn find<'a>(list: &[&'a Value], key: &str, want: &Option<Value>) -> Option<&'a Value> {
    want.as_ref()
        .and_then(|w| list.iter().find(|x| x.get(key) == Some(w)).copied())
}

/// Reorders merge-keyed lists of `result` (= `before` patched with `patch`) that the patch
/// added items to: the patch's items first, in its order, then the others.
pub fn prepend_new_items(before: &Value, patch: &Value, result: &mut Value, def: Option<&str>) {
    let (Value::Object(b), Value::Object(p), Value::Object(r)) = (before, patch, result) else {
        return;
    };
    for (k, pv) in p.iter().filter(|(k, _)| !k.starts_with('$')) {
        let Some(rv) = r.get_mut(k) else { continue };
        let meta = def.and_then(|d| schema::builtin().field(d, k));
        let child = meta.and_then(|m| m.child_def());
        let bv = b.get(k).unwrap_or(&Value::Null);
        match (rv, pv) {
            (Value::Object(_), Value::Object(_)) => {
                prepend_new_items(bv, pv, r.get_mut(k).expect("present"), child)
            }
            (Value::Array(items), Value::Array(pitems)) => {
                let Some(key) = meta.filter(|m| m.merges()).and_then(|m| m.key.as_deref()) else {
                    continue;
                };
                let old: Vec<&Value> = bv
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_default();
                let id = |v: &Value| v.get(key).cloned();
                // Recurse into items present before and patched now (containers → env).
                let pl: Vec<&Value> = pitems.iter().collect();
                for it in items.iter_mut() {
                    let i = id(it);
                    if let (Some(bi), Some(pi)) = (find(&old, key, &i), find(&pl, key, &i)) {
                        prepend_new_items(bi, pi, it, child);
                    }
                }
                if !items
                    .iter()
                    .any(|v| id(v).is_some() && find(&old, key, &id(v)).is_none())
                {
                    continue;
                }
                // kyaml rebuilds the list in the patch's order, then the items only the
                // target had, in their order.
                let rank = |v: &Value| {
                    pl.iter()
                        .position(|p| id(v).is_some() && p.get(key) == v.get(key))
                        .unwrap_or(usize::MAX)
                };
                items.sort_by_key(rank);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_core::strategic;
    use serde_json::json;

    #[test]
    fn a_list_a_patch_adds_to_follows_the_patch_order_then_the_rest() {
        let before = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "A", "value": "1"}, {"name": "C", "value": "4"}]}]}}}});
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app",
            "env": [{"name": "B", "value": "3"}, {"name": "A", "value": "2"}]}]}}}});
        let def = strategic::definition_of(&before);
        let mut obj = before.clone();
        strategic::apply(&mut obj, &patch, def).unwrap();
        prepend_new_items(&before, &patch, &mut obj, def);
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"][0]["env"],
            json!([{"name": "B", "value": "3"}, {"name": "A", "value": "2"}, {"name": "C", "value": "4"}])
        );
    }
}
