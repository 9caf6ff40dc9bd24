//! Name suffix hashes of generated objects (references to them follow in `nameref`).
//!
//! The hash follows kustomize v5 byte for byte: sha256 over Go's `json.Marshal` (HTML-escaped)
//! of `{kind, name: "", data[, binaryData]}` (ConfigMap) or `{kind, name: "", type, data}`
//! (Secret), first ten hex digits with `0 1 3 a e` swapped for `g h k m t`. The name is hashed
//! empty: kustomize v5 hashes the generated object before naming it (older kustomize hashed the
//! name too, which is why the Kubernetes documentation shows other suffixes). Verified against
//! `kubectl kustomize` (kustomize v5.5.0).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::Resource;

/// Go's `json.Marshal` for a string: HTML-safe escaping included.
fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `json.Marshal` of a map[string]string (keys sorted).
fn go_json_map(m: Option<&Map<String, Value>>, out: &mut String) {
    out.push('{');
    let mut keys: Vec<&String> = m.map(|m| m.keys().collect()).unwrap_or_default();
    keys.sort();
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_json_string(k, out);
        out.push(':');
        go_json_string(m.and_then(|m| m[k].as_str()).unwrap_or_default(), out);
    }
    out.push('}');
}

/// The kustomize content hash of a generated ConfigMap or Secret.
pub fn content_hash(obj: &Value) -> String {
    let kind = driftless_core::object::kind(obj).unwrap_or_default();
    let name = "";
    let mut enc = String::new();
    enc.push('{');
    let binary = obj
        .get("binaryData")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty());
    if kind == "ConfigMap" && binary.is_some() {
        enc.push_str("\"binaryData\":");
        go_json_map(binary, &mut enc);
        enc.push(',');
    }
    enc.push_str("\"data\":");
    // kustomize's hasher writes an absent or empty data map as an empty string.
    match obj.get("data").and_then(Value::as_object) {
        Some(d) if !d.is_empty() => go_json_map(Some(d), &mut enc),
        _ => enc.push_str("\"\""),
    }
    enc.push_str(",\"kind\":");
    go_json_string(kind, &mut enc);
    enc.push_str(",\"name\":");
    go_json_string(name, &mut enc);
    if kind == "Secret" {
        enc.push_str(",\"type\":");
        go_json_string(
            obj.get("type").and_then(Value::as_str).unwrap_or_default(),
            &mut enc,
        );
    }
    enc.push('}');
    let hex = hex::encode(Sha256::digest(enc.as_bytes()));
    hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

pub fn add_hash_suffixes(ra: &mut [Resource]) {
    for r in ra.iter_mut().filter(|r| r.needs_hash) {
        let new = format!("{}-{}", r.name(), content_hash(&r.obj));
        r.rename(&new);
        r.needs_hash = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Expected suffixes are what `kubectl kustomize` (kustomize v5.5.0) printed for the same
    /// generators, including Go's HTML escaping of `&`, `<` and `>`.
    #[test]
    fn hashes_match_kustomize_v5() {
        let cm = |name: &str, data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data});
        assert_eq!(
            content_hash(&cm("example-configmap-2", json!({"FOO": "Bar"}))),
            "42cfbf598f"
        );
        assert_eq!(
            content_hash(&cm("web-config", json!({"LOG_LEVEL": "warn"}))),
            "dfk4bdbtkk"
        );
        assert_eq!(content_hash(&cm("c", json!({"K": "a&b<c>"}))), "tf48ft7fgk");
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "kubernetes.io/tls", "data": {"a": "Yg=="}});
        assert_eq!(content_hash(&secret), "92982c4m8f");
    }
}
