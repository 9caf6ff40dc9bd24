//! Structural changes between two normalized objects: the paths that differ, named the way
//! a reader finds them (`spec.template.spec.containers[name=app].image`). Values are left
//! out so a Secret's content can never leak through a change list.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::predict::{field_meta, list_keys};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Change {
    pub path: String,
    pub op: ChangeOp,
}

/// The changes turning `from` into `to` (schema-aware for built-in kinds).
pub fn changes(from: &Value, to: &Value, def: Option<&str>) -> Vec<Change> {
    let mut out = Vec::new();
    walk(from, to, def, None, String::new(), &mut out);
    out
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn walk(
    from: &Value,
    to: &Value,
    def: Option<&str>,
    keys: Option<&[String]>,
    path: String,
    out: &mut Vec<Change>,
) {
    if from == to {
        return;
    }
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, av) in a {
                let meta = field_meta(def, k);
                let p = join(&path, k);
                match b.get(k) {
                    None => out.push(Change {
                        path: p,
                        op: ChangeOp::Removed,
                    }),
                    Some(bv) => {
                        let lk = list_keys(meta);
                        walk(
                            av,
                            bv,
                            meta.and_then(|m| m.child_def()),
                            lk.as_deref(),
                            p,
                            out,
                        )
                    }
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(Change {
                    path: join(&path, k),
                    op: ChangeOp::Added,
                });
            }
        }
        (Value::Array(a), Value::Array(b)) => match keys {
            Some(keys) => {
                let id = |item: &Value| -> String {
                    keys.iter()
                        .filter_map(|k| item.get(k).map(|v| format!("{k}={}", scalar(v))))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                for av in a {
                    let p = format!("{path}[{}]", id(av));
                    match b.iter().find(|bv| id(bv) == id(av)) {
                        Some(bv) => walk(av, bv, def, None, p, out),
                        None => out.push(Change {
                            path: p,
                            op: ChangeOp::Removed,
                        }),
                    }
                }
                for bv in b.iter().filter(|bv| !a.iter().any(|av| id(av) == id(bv))) {
                    out.push(Change {
                        path: format!("{path}[{}]", id(bv)),
                        op: ChangeOp::Added,
                    });
                }
            }
            None if a.len() == b.len() => {
                for (i, (av, bv)) in a.iter().zip(b).enumerate() {
                    walk(av, bv, def, None, format!("{path}[{i}]"), out);
                }
            }
            None => out.push(Change {
                path,
                op: ChangeOp::Changed,
            }),
        },
        _ => out.push(Change {
            path,
            op: ChangeOp::Changed,
        }),
    }
}

fn scalar(v: &Value) -> String {
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
    fn container_changes_are_named_by_container() {
        let def = driftless_core::schema::builtin().definition_name(
            &driftless_core::Gvk::from_api_version("apps/v1", "Deployment"),
        );
        let a = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:1"}]}}},
            "metadata": {"labels": {"x": "1"}}});
        let b = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:2"}]}}},
            "metadata": {"labels": {}}});
        let c = changes(&a, &b, def);
        assert_eq!(
            c,
            vec![
                Change {
                    path: "spec.template.spec.containers[name=app].image".into(),
                    op: ChangeOp::Changed
                },
                Change {
                    path: "metadata.labels.x".into(),
                    op: ChangeOp::Removed
                },
            ]
        );
    }
}
