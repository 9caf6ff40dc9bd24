//! `ignoreDifferences`, as in Argo CD: per group/kind (and optionally name and namespace),
//! fields named by `jsonPointers` (RFC 6901), `jqPathExpressions`, or owned by
//! `managedFieldsManagers` never count as differences.
//!
//! The jq subset (documented in docs/ARCHITECTURE.md): a pipeline of path segments and
//! `select(PATH == LITERAL)` filters, where a path is `.field`, `."quoted field"`,
//! `["field"]`, `[N]` and `[]` (every item), optionally followed by `?`. For example
//! `.spec.template.spec.containers[] | select(.name == "app") | .image`. Anything else is a
//! parse error that names the expression.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use driftless_core::ResourceKey;

/// One rule, field names as in Argo CD's `spec.ignoreDifferences`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoreRule {
    #[serde(default)]
    pub group: String,
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub json_pointers: Vec<String>,
    #[serde(default)]
    pub jq_path_expressions: Vec<String>,
    #[serde(default)]
    pub managed_fields_managers: Vec<String>,
}

impl IgnoreRule {
    /// Whether the rule concerns this resource (`*` matches any group or kind).
    pub fn matches(&self, key: &ResourceKey) -> bool {
        let eq = |rule: &str, v: &str| rule.is_empty() || rule == "*" || rule == v;
        (self.group == "*" || self.group == key.group)
            && (self.kind == "*" || self.kind == key.kind)
            && eq(&self.name, &key.name)
            && eq(&self.namespace, &key.namespace)
    }

    /// Checks every expression; the error names the rule and the expression.
    pub fn validate(&self) -> Result<(), String> {
        for p in &self.json_pointers {
            if !p.is_empty() && !p.starts_with('/') {
                return Err(format!(
                    "ignoreDifferences {}/{}: jsonPointer `{p}` must start with `/`",
                    self.group, self.kind
                ));
            }
        }
        for e in &self.jq_path_expressions {
            parse_jq(e).map_err(|why| {
                format!(
                    "ignoreDifferences {}/{}: jqPathExpression `{e}`: {why}",
                    self.group, self.kind
                )
            })?;
        }
        Ok(())
    }

    /// Removes the ignored fields from an object (applied to both sides of a comparison).
    pub fn strip(&self, obj: &mut Value) {
        for p in &self.json_pointers {
            remove_pointer(obj, p);
        }
        for e in &self.jq_path_expressions {
            if let Ok(steps) = parse_jq(e) {
                let mut paths = Vec::new();
                eval(obj, &steps, &mut Vec::new(), &mut paths);
                // Remove deepest and last first so earlier indexes stay valid.
                paths.sort();
                for p in paths.iter().rev() {
                    remove_path(obj, p);
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Field(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Seg(Seg),
    Each,
    Select(Vec<Step>, Value),
}

fn remove_pointer(obj: &mut Value, pointer: &str) {
    if pointer.is_empty() {
        return;
    }
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match obj.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

fn remove_path(obj: &mut Value, path: &[Seg]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for s in parent {
        cur = match (s, cur) {
            (Seg::Field(f), Value::Object(m)) => match m.get_mut(f) {
                Some(v) => v,
                None => return,
            },
            (Seg::Index(i), Value::Array(a)) => match a.get_mut(*i) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match (last, cur) {
        (Seg::Field(f), Value::Object(m)) => {
            m.remove(f);
        }
        (Seg::Index(i), Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

fn eval(v: &Value, steps: &[Step], at: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    let Some((first, rest)) = steps.split_first() else {
        out.push(at.clone());
        return;
    };
    match first {
        Step::Seg(s) => {
            let next = match (s, v) {
                (Seg::Field(f), Value::Object(m)) => m.get(f),
                (Seg::Index(i), Value::Array(a)) => a.get(*i),
                _ => None,
            };
            if let Some(n) = next {
                at.push(s.clone());
                eval(n, rest, at, out);
                at.pop();
            }
        }
        Step::Each => match v {
            Value::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    at.push(Seg::Index(i));
                    eval(item, rest, at, out);
                    at.pop();
                }
            }
            Value::Object(m) => {
                for (k, item) in m {
                    at.push(Seg::Field(k.clone()));
                    eval(item, rest, at, out);
                    at.pop();
                }
            }
            _ => {}
        },
        Step::Select(path, lit) => {
            let mut found = Vec::new();
            eval(v, path, &mut Vec::new(), &mut found);
            let hit = found.iter().any(|p| value_at(v, p) == Some(lit));
            if hit {
                eval(v, rest, at, out);
            }
        }
    }
}

fn value_at<'a>(v: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, s| match (s, cur) {
        (Seg::Field(f), Value::Object(m)) => m.get(f),
        (Seg::Index(i), Value::Array(a)) => a.get(*i),
        _ => None,
    })
}

fn parse_jq(expr: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for part in expr.split('|').map(str::trim) {
        if let Some(inner) = part
            .strip_prefix("select(")
            .and_then(|r| r.strip_suffix(')'))
        {
            let (path, lit) = inner
                .split_once("==")
                .ok_or("select() needs `PATH == LITERAL`")?;
            let lit: Value = serde_json::from_str(lit.trim())
                .map_err(|_| format!("`{}` is not a JSON literal", lit.trim()))?;
            steps.push(Step::Select(parse_path(path.trim())?, lit));
        } else {
            steps.extend(parse_path(part)?);
        }
    }
    if steps.is_empty() {
        return Err("empty expression".into());
    }
    Ok(steps)
}

fn parse_path(p: &str) -> Result<Vec<Step>, String> {
    let b = p.as_bytes();
    if b.first() != Some(&b'.') {
        return Err(format!("path `{p}` must start with `.`"));
    }
    let mut steps = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' if b.get(i + 1) == Some(&b'"') => {
                let end = p[i + 2..].find('"').ok_or("unterminated quoted field")? + i + 2;
                steps.push(Step::Seg(Seg::Field(p[i + 2..end].to_string())));
                i = end + 1;
            }
            b'.' => {
                let end = p[i + 1..].find(['.', '[']).map_or(b.len(), |e| e + i + 1);
                let name = p[i + 1..end].trim_end_matches('?');
                if !name.is_empty() {
                    steps.push(Step::Seg(Seg::Field(name.to_string())));
                } else if end == i + 1 && end == b.len() && steps.is_empty() {
                    // `.` alone: the object itself.
                }
                i = end;
            }
            b'[' => {
                let end = p[i..].find(']').ok_or("unterminated `[`")? + i;
                let inner = p[i + 1..end].trim();
                if inner.is_empty() {
                    steps.push(Step::Each);
                } else if let Ok(n) = inner.parse::<usize>() {
                    steps.push(Step::Seg(Seg::Index(n)));
                } else if let Ok(Value::String(s)) = serde_json::from_str::<Value>(inner) {
                    steps.push(Step::Seg(Seg::Field(s)));
                } else {
                    return Err(format!("unsupported index `[{inner}]`"));
                }
                i = end + 1;
                if b.get(i) == Some(&b'?') {
                    i += 1;
                }
            }
            c => return Err(format!("unexpected `{}` in `{p}`", c as char)),
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(pointers: &[&str], jq: &[&str]) -> IgnoreRule {
        IgnoreRule {
            group: "apps".into(),
            kind: "Deployment".into(),
            json_pointers: pointers.iter().map(|s| s.to_string()).collect(),
            jq_path_expressions: jq.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn deploy() -> Value {
        json!({"metadata": {"annotations": {"a/b": "1", "c": "2"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "app", "image": "x:1", "env": [{"name": "A"}]},
                {"name": "sidecar", "image": "y:1"}]}}}})
    }

    #[test]
    fn json_pointers_remove_fields_with_escapes() {
        let mut d = deploy();
        rule(&["/spec/replicas", "/metadata/annotations/a~1b"], &[]).strip(&mut d);
        assert!(d["spec"].get("replicas").is_none());
        assert_eq!(d["metadata"]["annotations"], json!({"c": "2"}));
    }

    #[test]
    fn jq_select_by_name_removes_only_that_containers_field() {
        let mut d = deploy();
        rule(
            &[],
            &[r#".spec.template.spec.containers[] | select(.name == "sidecar") | .image"#],
        )
        .strip(&mut d);
        let c = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0]["image"], "x:1");
        assert!(c[1].get("image").is_none());
        let mut d = deploy();
        rule(
            &[],
            &[
                r#".metadata.annotations["a/b"]"#,
                ".spec.template.spec.containers[].env",
            ],
        )
        .strip(&mut d);
        assert_eq!(d["metadata"]["annotations"], json!({"c": "2"}));
        assert!(
            d["spec"]["template"]["spec"]["containers"][0]
                .get("env")
                .is_none()
        );
    }

    #[test]
    fn unsupported_jq_is_an_error_naming_the_expression() {
        let err = rule(&[], &[".spec | map(.x)"]).validate().unwrap_err();
        assert!(err.contains("`.spec | map(.x)`"), "{err}");
    }

    #[test]
    fn rules_match_by_group_kind_and_optional_name() {
        let mut r = rule(&[], &[]);
        assert!(r.matches(&ResourceKey::new("apps", "Deployment", "ns", "w")));
        r.name = "other".into();
        assert!(!r.matches(&ResourceKey::new("apps", "Deployment", "ns", "w")));
    }
}
