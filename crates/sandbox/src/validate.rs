//! Validation with the server's error shapes: scalar type mismatches (what server-side apply
//! reports as "failed to create typed patch object", transcript 12) and the semantic checks of
//! workloads (422 with causes, transcript 13).

use driftless_core::schema::{self, FieldMeta};
use serde_json::Value;

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "numeric",
        Value::Bool(_) => "boolean",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
        Value::Null => "null",
    }
}

/// The first scalar of `obj` whose JSON type contradicts the schema, as
/// `.spec.replicas: expected numeric (int or float), got string`.
pub fn type_error(obj: &Value, def: Option<&str>) -> Option<String> {
    walk(obj, def, &mut String::new())
}

fn walk(v: &Value, def: Option<&str>, path: &mut String) -> Option<String> {
    let Value::Object(m) = v else { return None };
    for (k, cv) in m {
        let fm: Option<&FieldMeta> = if k == "metadata" && path.is_empty() {
            None
        } else {
            schema::builtin().field(def?, k)
        };
        let len = path.len();
        path.push('.');
        path.push_str(k);
        let child_def = if k == "metadata" && len == 0 {
            Some("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
        } else {
            fm.and_then(FieldMeta::child_def)
        };
        let expected = fm.and_then(|f| f.scalar.as_deref());
        let bad = match (expected, cv) {
            (_, Value::Null) => None,
            (Some("integer" | "number"), v) if !v.is_number() => Some("numeric (int or float)"),
            (Some("string"), v) if !v.is_string() => Some("string"),
            (Some("boolean"), v) if !v.is_boolean() => Some("boolean"),
            _ => None,
        };
        if let Some(want) = bad {
            return Some(format!("{path}: expected {want}, got {}", kind_of(cv)));
        }
        let found = match cv {
            Value::Object(_) => walk(cv, child_def, path),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let l = path.len();
                path.push_str(&format!("[{i}]"));
                let r = walk(item, fm.and_then(|f| f.items.as_deref()), path);
                path.truncate(l);
                r
            }),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
        path.truncate(len);
    }
    None
}

/// One cause of an Invalid (422) answer: (reason, field, message).
pub type Cause = (String, String, String);

/// The semantic checks the server makes on workloads: a selector that matches the template's
/// labels, and at least one container.
pub fn causes(group: &str, kind: &str, obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let template = match (group, kind) {
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            &obj["spec"]["template"]
        }
        ("batch", "Job") => &obj["spec"]["template"],
        _ => return out,
    };
    if group == "apps" {
        let selector = &obj["spec"]["selector"];
        if selector.is_null() {
            out.push((
                "FieldValueRequired".into(),
                "spec.selector".into(),
                "Required value".into(),
            ));
        } else if let Some(want) = selector["matchLabels"].as_object() {
            let labels = &template["metadata"]["labels"];
            let ok = want.iter().all(|(k, v)| labels.get(k) == Some(v));
            if !ok {
                let shown = if labels.is_null() {
                    "map[string]string(nil)".to_string()
                } else {
                    labels.to_string()
                };
                out.push((
                    "FieldValueInvalid".into(),
                    "spec.template.metadata.labels".into(),
                    format!("Invalid value: {shown}: `selector` does not match template `labels`"),
                ));
            }
        }
    }
    if template["spec"]["containers"]
        .as_array()
        .is_none_or(|c| c.is_empty())
    {
        out.push((
            "FieldValueRequired".into(),
            "spec.template.spec.containers".into(),
            "Required value".into(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_errors_name_the_field_like_the_server() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"}, "spec": {"replicas": "two"}});
        assert_eq!(
            type_error(&d, Some("io.k8s.api.apps.v1.Deployment")).unwrap(),
            ".spec.replicas: expected numeric (int or float), got string"
        );
        let ok = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        assert_eq!(type_error(&ok, Some("io.k8s.api.apps.v1.Deployment")), None);
    }
}
