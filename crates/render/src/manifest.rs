//! Loading Kubernetes objects from one YAML/JSON file: multi-document streams, `List` kinds
//! flattened, each object checked for `apiVersion`, `kind` and `metadata.name`.

use driftless_core::source::Tree;
use driftless_core::yaml::{self, ScalarWarning};
use serde_json::Value;

use crate::{RenderError, RenderLimits};

/// One object read from a file, with its origin (`path#document`).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedObject {
    pub object: Value,
    pub origin: String,
}

/// Parses `text` (the contents of `file`) into objects.
pub fn parse_objects(
    file: &str,
    text: &str,
    limits: &RenderLimits,
) -> Result<(Vec<LoadedObject>, Vec<ScalarWarning>), RenderError> {
    parse_objects_as(file, text, limits, false)
}

/// [`parse_objects`]; with `kustomize`, number and boolean annotation values become strings
/// first, as kustomize reads them (`port: 8080` → `"8080"`).
fn parse_objects_as(
    file: &str,
    text: &str,
    limits: &RenderLimits,
    kustomize: bool,
) -> Result<(Vec<LoadedObject>, Vec<ScalarWarning>), RenderError> {
    let docs = yaml::parse_stream(text, &limits.yaml).map_err(|source| RenderError::Yaml {
        file: file.to_string(),
        source,
    })?;
    let warnings = yaml::yaml11_warnings(text, &docs, &limits.yaml);
    let mut out = Vec::new();
    for doc in docs {
        let origin = format!("{file}#{}", doc.index);
        let mut value = doc.value;
        if kustomize {
            stringify_annotations(&mut value);
        }
        flatten(&origin, value, &mut out)?;
    }
    Ok((out, warnings))
}

/// Reads and parses a file of the tree.
pub fn load_file(
    tree: &Tree<'_>,
    file: &str,
    limits: &RenderLimits,
) -> Result<(Vec<LoadedObject>, Vec<ScalarWarning>), RenderError> {
    let text = tree
        .read_string(file, limits.max_file_bytes)
        .map_err(|e| RenderError::source(file, e))?;
    parse_objects(file, &text, limits)
}

/// Reads a resource file of a kustomization (see [`parse_objects_as`]).
pub fn load_kustomize_file(
    tree: &Tree<'_>,
    file: &str,
    limits: &RenderLimits,
) -> Result<(Vec<LoadedObject>, Vec<ScalarWarning>), RenderError> {
    let text = tree
        .read_string(file, limits.max_file_bytes)
        .map_err(|e| RenderError::source(file, e))?;
    parse_objects_as(file, &text, limits, true)
}

fn stringify_annotations(v: &mut Value) {
    if let Some(Value::Object(m)) = v.pointer_mut("/metadata/annotations") {
        for val in m.values_mut() {
            match val {
                Value::Number(n) => *val = Value::String(n.to_string()),
                Value::Bool(b) => *val = Value::String(b.to_string()),
                _ => {}
            }
        }
    }
    if let Some(Value::Array(items)) = v.get_mut("items") {
        items.iter_mut().for_each(stringify_annotations);
    }
}

fn flatten(origin: &str, value: Value, out: &mut Vec<LoadedObject>) -> Result<(), RenderError> {
    let Value::Object(map) = &value else {
        return Err(RenderError::invalid(
            origin,
            None,
            "document is not a mapping (expected a Kubernetes object)",
        ));
    };
    let kind = map.get("kind").and_then(Value::as_str);
    // `v1/List` and any `*List` kind with `items` (what `kubectl get -o yaml` writes).
    if kind.is_some_and(|k| k.ends_with("List")) && map.contains_key("items") {
        let Value::Object(mut map) = value else {
            unreachable!()
        };
        let Some(Value::Array(items)) = map.remove("items") else {
            return Err(RenderError::invalid(
                origin,
                Some("items".into()),
                "must be a list",
            ));
        };
        for (i, item) in items.into_iter().enumerate() {
            flatten(&format!("{origin}.items[{i}]"), item, out)?;
        }
        return Ok(());
    }
    check_object(origin, &value)?;
    out.push(LoadedObject {
        object: value,
        origin: origin.to_string(),
    });
    Ok(())
}

/// The fields every object needs, with the field named when one is missing or mistyped.
pub fn check_object(origin: &str, obj: &Value) -> Result<(), RenderError> {
    for field in ["apiVersion", "kind"] {
        match obj.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(_) => {
                return Err(RenderError::invalid(
                    origin,
                    Some(field.into()),
                    "must be a non-empty string",
                ));
            }
            None => {
                return Err(RenderError::invalid(
                    origin,
                    Some(field.into()),
                    "is missing",
                ));
            }
        }
    }
    match obj.get("metadata") {
        Some(Value::Object(meta)) => match meta.get("name") {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(_) => {
                return Err(RenderError::invalid(
                    origin,
                    Some("metadata.name".into()),
                    "must be a non-empty string",
                ));
            }
            None if meta.contains_key("generateName") => {
                return Err(RenderError::invalid(
                    origin,
                    Some("metadata.generateName".into()),
                    "objects with generateName cannot be tracked by GitOps; give the object a metadata.name",
                ));
            }
            None => {
                return Err(RenderError::invalid(
                    origin,
                    Some("metadata.name".into()),
                    "is missing",
                ));
            }
        },
        Some(_) => {
            return Err(RenderError::invalid(
                origin,
                Some("metadata".into()),
                "must be a mapping",
            ));
        }
        None => {
            return Err(RenderError::invalid(
                origin,
                Some("metadata.name".into()),
                "is missing",
            ));
        }
    }
    for field in ["labels", "annotations"] {
        if let Some(map) = obj["metadata"].get(field) {
            let Some(map) = map.as_object() else {
                return Err(RenderError::invalid(
                    origin,
                    Some(format!("metadata.{field}")),
                    "must be a mapping",
                ));
            };
            if let Some((k, _)) = map.iter().find(|(_, v)| !v.is_string()) {
                return Err(RenderError::invalid(
                    origin,
                    Some(format!("metadata.{field}.{k}")),
                    "must be a string (quote numbers and booleans)",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<Vec<LoadedObject>, RenderError> {
        parse_objects("m.yaml", text, &RenderLimits::default()).map(|(o, _)| o)
    }

    #[test]
    fn lists_are_flattened_with_origins() {
        let objs = parse("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n").unwrap();
        let origins: Vec<_> = objs.iter().map(|o| o.origin.as_str()).collect();
        assert_eq!(origins, vec!["m.yaml#0.items[0]", "m.yaml#0.items[1]"]);
    }

    #[test]
    fn missing_fields_are_named_with_document_index() {
        let err = parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n").unwrap_err();
        assert_eq!(err.to_string(), "m.yaml#1: `metadata.name`: is missing");
        let err = parse(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    replicas: 3\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.yaml#0: `metadata.labels.replicas`: must be a string (quote numbers and booleans)"
        );
    }

    #[test]
    fn json_files_parse_too() {
        let objs = parse(r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}"#)
            .unwrap();
        assert_eq!(objs[0].object["metadata"]["name"], json!("x"));
    }
}
