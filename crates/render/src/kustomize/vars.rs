//! `vars`: kustomize's deprecated variables. A var names a field of one object
//! (`objref` + `fieldref.fieldPath`); `$(NAME)` in the var-reference fields of every object
//! (container args, commands, env values, labels, annotations... plus `configurations:`
//! `varReference` entries) is replaced by that field's final value, after name references
//! are fixed — the order kustomize uses.
//!
//! As in kustomize, each var is bound to its object by the kustomization that declares it
//! (an ambiguous objref is an error there), names must be unique across the build, and a
//! `$(NAME)` that no var defines is left as written.

use serde_json::Value;

use super::Resource;
use super::nameref::{GvkSel, RefSpec};
use crate::RenderError;

/// One declared var.
#[derive(Debug, Clone)]
pub struct Var {
    pub name: String,
    kind: String,
    obj_name: String,
    api_version: Option<String>,
    namespace: Option<String>,
    field_path: String,
}

/// Reads a key the way Go's JSON decoding does: exact, else case-insensitive.
fn get<'v>(m: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v Value> {
    m.get(key).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn get_str(m: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    get(m, key).and_then(Value::as_str).map(String::from)
}

/// Parses the `vars` field of `kfile`.
pub fn parse(kfile: &str, vars: &Value) -> Result<Vec<Var>, RenderError> {
    let err = |i: usize, msg: &str| {
        RenderError::invalid(kfile, Some(format!("vars[{i}]")), msg.to_string())
    };
    let Value::Array(items) = vars else {
        return Err(RenderError::invalid(
            kfile,
            Some("vars".into()),
            "must be a list",
        ));
    };
    let mut out = Vec::new();
    for (i, v) in items.iter().enumerate() {
        let m = v.as_object().ok_or_else(|| err(i, "must be a map"))?;
        let name = get_str(m, "name").ok_or_else(|| err(i, "`name` is required"))?;
        let objref = get(m, "objref")
            .and_then(Value::as_object)
            .ok_or_else(|| err(i, "`objref` is required"))?;
        let field_path = get(m, "fieldref")
            .and_then(Value::as_object)
            .and_then(|f| get_str(f, "fieldPath"))
            .unwrap_or_else(|| "metadata.name".into());
        out.push(Var {
            name,
            kind: get_str(objref, "kind").unwrap_or_default(),
            obj_name: get_str(objref, "name").unwrap_or_default(),
            api_version: get_str(objref, "apiVersion").or_else(|| {
                // `group` + `version` is the other way to name the objref's API.
                let v = get_str(objref, "version")?;
                Some(match get_str(objref, "group").filter(|g| !g.is_empty()) {
                    Some(g) => format!("{g}/{v}"),
                    None => v,
                })
            }),
            namespace: get_str(objref, "namespace"),
            field_path,
        });
    }
    Ok(out)
}

/// kustomize's built-in var-reference fields.
pub fn builtin_references() -> &'static [RefSpec] {
    static TABLE: std::sync::LazyLock<Vec<RefSpec>> = std::sync::LazyLock::new(|| {
        let v = driftless_core::yaml::parse_one(
            include_str!("varreference.yaml"),
            &driftless_core::yaml::Limits::default(),
        )
        .expect("the built-in table parses");
        serde_json::from_value(v["varReference"].clone())
            .expect("the built-in table is well-formed")
    });
    TABLE.as_slice()
}

fn ns_eq(a: &str, b: &str) -> bool {
    a == b || (a.is_empty() && b == "default") || (b.is_empty() && a == "default")
}

impl Var {
    /// Whether `r` has (or had) the id this var's objref names.
    fn matches(&self, r: &Resource) -> bool {
        let gv_ok = self.api_version.as_deref().is_none_or(|av| {
            let (g, v) = av.split_once('/').unwrap_or(("", av));
            g == r.group() && v == r.version()
        });
        let id_ok = |kind: &str, name: &str, ns: &str| {
            kind == self.kind
                && name == self.obj_name
                && self.namespace.as_deref().is_none_or(|n| ns_eq(n, ns))
        };
        gv_ok
            && (id_ok(r.kind(), r.name(), r.namespace())
                || r.prev_ids.iter().any(|(k, n, ns)| id_ok(k, n, ns)))
    }
}

/// kustomize's `MergeVars`: binds each var of one kustomization to its object.
pub fn merge(
    kfile: &str,
    declared: &mut Vec<Var>,
    incoming: Vec<Var>,
    ra: &mut [Resource],
) -> Result<(), RenderError> {
    for v in incoming {
        let hits: Vec<usize> = (0..ra.len()).filter(|&i| v.matches(&ra[i])).collect();
        if hits.len() > 1 {
            return Err(RenderError::invalid(
                kfile,
                Some("vars".into()),
                format!(
                    "found {} resId matches for var `{}` (unable to disambiguate; add objref.namespace or apiVersion)",
                    hits.len(),
                    v.name
                ),
            ));
        }
        if let [i] = hits.as_slice() {
            ra[*i].ref_vars.push(v.name.clone());
        }
        if declared.iter().any(|d| d.name == v.name) {
            return Err(RenderError::invalid(
                kfile,
                Some("vars".into()),
                format!("var `{}` already encountered", v.name),
            ));
        }
        declared.push(v);
    }
    Ok(())
}

/// Reads a dotted field path with `[n]` indexes (`spec.ports[0].port`).
fn field_value<'v>(obj: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = obj;
    for seg in path.split('.') {
        let (key, mut rest) = match seg.find('[') {
            Some(p) => (&seg[..p], &seg[p..]),
            None => (seg, ""),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            cur = cur.get(r[..end].parse::<usize>().ok()?)?;
            rest = &r[end + 1..];
        }
    }
    Some(cur)
}

/// The k8s `$(VAR)` expansion: `$$` escapes, unknown names stay as written, and a string
/// that is exactly one reference takes the value's type.
fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<Value>) -> Value {
    let b = input.as_bytes();
    let mut out = String::new();
    let (mut cursor, mut checkpoint) = (0, 0);
    while cursor < b.len() {
        if b[cursor] == b'$' && cursor + 1 < b.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest.find(')') {
                    Some(end) => {
                        let name = &rest[1..end];
                        match lookup(name) {
                            Some(v) if input == format!("$({name})") => return v,
                            Some(Value::String(s)) => out.push_str(&s),
                            Some(v) => out.push_str(&v.to_string()),
                            None => out.push_str(&format!("$({name})")),
                        }
                        end + 1
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    let c = rest.chars().next().unwrap_or_default();
                    out.push('$');
                    out.push(c);
                    c.len_utf8()
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    if checkpoint < input.len() {
        out.push_str(&input[checkpoint..]);
    }
    Value::String(out)
}

fn expand_node(node: &mut Value, lookup: &dyn Fn(&str) -> Option<Value>) {
    match node {
        Value::String(s) => *node = expand(s, lookup),
        Value::Array(items) => items.iter_mut().for_each(|i| {
            if i.is_string() {
                expand_node(i, lookup);
            }
        }),
        Value::Object(m) => m.values_mut().for_each(|v| {
            if v.is_string() {
                expand_node(v, lookup);
            }
        }),
        _ => {}
    }
}

fn visit(node: &mut Value, segs: &[&str], f: &mut dyn FnMut(&mut Value)) {
    let Some((first, rest)) = segs.split_first() else {
        f(node);
        return;
    };
    match node {
        Value::Array(items) => items.iter_mut().for_each(|i| visit(i, segs, f)),
        Value::Object(m) => {
            if let Some(c) = m.get_mut(*first) {
                visit(c, rest, f);
            }
        }
        _ => {}
    }
}

/// kustomize's `ResolveVars`: replaces `$(NAME)` in every var-reference field.
pub fn resolve(vars: &[Var], refs: &[RefSpec], ra: &mut [Resource]) -> Result<(), RenderError> {
    let mut values: Vec<(String, Value)> = Vec::new();
    for v in vars {
        for r in ra.iter().filter(|r| r.ref_vars.contains(&v.name)) {
            let value = field_value(&r.obj, &v.field_path).ok_or_else(|| {
                RenderError::invalid(
                    &r.origin,
                    None,
                    format!(
                        "field `{}` specified in var `{}` not found in {}",
                        v.field_path,
                        v.name,
                        r.key()
                    ),
                )
            })?;
            values.push((v.name.clone(), value.clone()));
        }
    }
    if values.is_empty() {
        return Ok(());
    }
    let lookup = |n: &str| values.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    for r in ra.iter_mut() {
        let (group, version, kind) = (
            r.group().to_string(),
            r.version().to_string(),
            r.kind().to_string(),
        );
        for fs in refs
            .iter()
            .filter(|fs| sel_ok(&fs.sel, &group, &version, &kind))
        {
            let segs: Vec<&str> = fs
                .path
                .split('/')
                .map(|s| s.trim_end_matches("[]"))
                .filter(|s| !s.is_empty())
                .collect();
            visit(&mut r.obj, &segs, &mut |n| expand_node(n, &lookup));
        }
    }
    Ok(())
}

fn sel_ok(sel: &GvkSel, group: &str, version: &str, kind: &str) -> bool {
    sel.selects(group, version, kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expansion_follows_kubernetes() {
        let look = |n: &str| match n {
            "PORT" => Some(json!(8080)),
            "HOST" => Some(json!("db")),
            _ => None,
        };
        assert_eq!(expand("$(PORT)", &look), json!(8080));
        assert_eq!(
            expand("http://$(HOST):$(PORT)/x", &look),
            json!("http://db:8080/x")
        );
        assert_eq!(
            expand("$$(HOST) $(NOPE) $(", &look),
            json!("$(HOST) $(NOPE) $(")
        );
        assert_eq!(expand("cost $5", &look), json!("cost $5"));
    }

    #[test]
    fn field_paths_take_indexes() {
        let o = json!({"spec": {"ports": [{"port": 1}, {"port": 2}]}});
        assert_eq!(field_value(&o, "spec.ports[1].port"), Some(&json!(2)));
        assert_eq!(field_value(&o, "spec.nope"), None);
    }
}
