//! The YAML emitter: values back to text, in the bytes `kustomize build` prints.
//!
//! Kept apart from the loader in [`crate::yaml`] so each can change on its own.

use serde_json::Value;

/// Serializes one value as a YAML document (no leading `---`).
pub fn to_yaml(value: &Value) -> String {
    serde_saphyr::to_string(value).expect("a JSON value always serializes to YAML")
}

/// Serializes values as a `---`-separated stream, the way `kustomize build` prints.
pub fn to_yaml_stream<'a>(values: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_yaml(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stream_output_separates_documents() {
        let out = to_yaml_stream(&[json!({"a": 1}), json!({"b": "yes"})]);
        assert_eq!(out, "a: 1\n---\nb: \"yes\"\n");
    }
}
