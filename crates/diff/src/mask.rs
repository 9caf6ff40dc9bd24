//! Secret masking: Secret values never leave the comparison in clear. As in Argo CD, every
//! distinct value becomes a run of `+` of its own length, so a value that did not change
//! shows as equal on both sides and a changed one visibly differs, without revealing either.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::normalize::is_secret;

/// Masks the `data` and `stringData` values of Secrets among `objects`, consistently across
/// all of them (pass both sides of a diff in one call).
pub fn mask_secrets(objects: &mut [&mut Value]) {
    let mut masks: BTreeMap<String, String> = BTreeMap::new();
    for obj in objects.iter() {
        for v in secret_values(obj) {
            let n = masks.len();
            masks.entry(v).or_insert_with(|| "+".repeat(8 + n));
        }
    }
    for obj in objects.iter_mut() {
        if !is_secret(obj) {
            continue;
        }
        for field in ["data", "stringData"] {
            if let Some(Value::Object(m)) = obj.get_mut(field) {
                for v in m.values_mut() {
                    let key = text(v);
                    *v = Value::String(masks.get(&key).cloned().unwrap_or_default());
                }
            }
        }
        if let Some(Value::Object(ann)) = obj.pointer_mut("/metadata/annotations") {
            ann.remove("kubectl.kubernetes.io/last-applied-configuration");
            // A value copied into an annotation (by a tool, or by hand) is as secret as the
            // data: every occurrence, as given or base64-decoded, is masked there too.
            for v in ann.values_mut() {
                if let Value::String(text) = v {
                    *text = mask_in(text, &masks);
                }
            }
        }
    }
}

/// `text` with every secret value (and the decoded text of base64 ones) replaced by its mask.
/// Values under 4 bytes are left: masking them would mask every short word.
fn mask_in(text: &str, masks: &BTreeMap<String, String>) -> String {
    use base64::Engine;
    let mut out = text.to_string();
    for (value, mask) in masks {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        for needle in std::iter::once(value.as_str()).chain(decoded.as_deref()) {
            if needle.len() >= 4 && out.contains(needle) {
                out = out.replace(needle, mask);
            }
        }
    }
    out
}

/// A masked copy of one object (for logs, errors and API answers about a single object).
pub fn masked(obj: &Value) -> Value {
    let mut out = obj.clone();
    mask_secrets(&mut [&mut out]);
    out
}

fn secret_values(obj: &Value) -> Vec<String> {
    if !is_secret(obj) {
        return Vec::new();
    }
    ["data", "stringData"]
        .iter()
        .filter_map(|f| obj.get(*f)?.as_object())
        .flat_map(|m| m.values().map(text))
        .collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_mask_equal_and_changed_values_differ() {
        let mut live =
            json!({"apiVersion": "v1", "kind": "Secret", "data": {"a": "czE=", "b": "czI="}});
        let mut want =
            json!({"apiVersion": "v1", "kind": "Secret", "data": {"a": "czE=", "b": "czM="}});
        mask_secrets(&mut [&mut live, &mut want]);
        assert_eq!(live["data"]["a"], want["data"]["a"]);
        assert_ne!(live["data"]["b"], want["data"]["b"]);
        let all = format!("{live}{want}");
        assert!(!all.contains("czE=") && !all.contains("czI=") && !all.contains("czM="));
    }

    #[test]
    fn config_maps_are_not_masked() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "x"}});
        assert_eq!(masked(&cm), cm);
    }
}
