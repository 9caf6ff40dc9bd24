//! Name references: once every name is final, fields that hold another object's name
//! (`configMapRef.name`, `roleRef.name`, `subjects`, `serviceAccountName`, ...) follow that
//! object's renames (prefixes, suffixes, hashes, patches).
//!
//! This is kustomize's `nameReference` transformer: the fields come from its built-in table
//! (`namereference.yaml`, v5.8.1) plus `configurations:` files; a reference is matched against
//! the *previous* ids of the candidates, then narrowed the way kustomize's `selectReferral`
//! narrows (kind, roleRef kind, namespace, then same prefixes/suffixes as the referrer).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::Resource;
use crate::RenderError;

/// A group/version/kind selector: an empty field matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct GvkSel {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl GvkSel {
    pub fn selects(&self, group: &str, version: &str, kind: &str) -> bool {
        (self.group.is_empty() || self.group == group)
            && (self.version.is_empty() || self.version == version)
            && (self.kind.is_empty() || self.kind == kind)
    }
}

/// One `fieldSpecs` entry of a nameReference: where a referrer holds the name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RefSpec {
    #[serde(flatten)]
    pub sel: GvkSel,
    pub path: String,
}

/// One `nameReference` entry: the kind referred to and the fields that refer to it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackRef {
    #[serde(flatten)]
    pub target: GvkSel,
    #[serde(default)]
    pub field_specs: Vec<RefSpec>,
}

/// The merged nameReference configuration of a build: the built-in table, borrowed until a
/// `configurations:` file adds to it (most builds never copy it).
#[derive(Debug, Clone)]
pub struct NameRefConfig(pub Cow<'static, [BackRef]>);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct File {
    #[serde(default)]
    name_reference: Vec<BackRef>,
}

impl NameRefConfig {
    /// kustomize's built-in table.
    pub fn builtin() -> Self {
        static TABLE: std::sync::LazyLock<Vec<BackRef>> = std::sync::LazyLock::new(|| {
            let v = driftless_core::yaml::parse_one(
                include_str!("namereference.yaml"),
                &driftless_core::yaml::Limits::default(),
            )
            .expect("the built-in table parses");
            serde_json::from_value::<File>(v)
                .expect("the built-in table is well-formed")
                .name_reference
        });
        NameRefConfig(Cow::Borrowed(TABLE.as_slice()))
    }

    /// Adds entries (kustomize's `MergeConfig`): field specs of a known target are merged
    /// without duplicates, new targets are appended.
    pub fn merge(&mut self, more: Vec<BackRef>) {
        let table = self.0.to_mut();
        for b in more {
            match table.iter_mut().find(|x| x.target == b.target) {
                Some(x) => {
                    for fs in b.field_specs {
                        if !x.field_specs.contains(&fs) {
                            x.field_specs.push(fs);
                        }
                    }
                }
                None => table.push(b),
            }
        }
    }
}

/// What the selection needs to know about a possible referral.
struct Cand {
    group: String,
    version: String,
    name: String,
    namespace: String,
    kind: String,
    cluster: bool,
    prev: Vec<(String, String, String)>,
    /// (effective namespace) of the original id.
    org_ns: String,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

fn cluster_scoped(group: &str, kind: &str) -> bool {
    driftless_core::schema::builtin().is_namespaced(group, kind) == Some(false)
}

fn ns_eq(a: &str, b: &str) -> bool {
    let eff = |s: &str| if s.is_empty() { "default" } else { s }.to_string();
    eff(a) == eff(b)
}

fn effective_ns(ns: &str, cluster: bool) -> String {
    match (cluster, ns) {
        (true, _) => "_non_namespaceable_".into(),
        (false, "") => "default".into(),
        (false, n) => n.into(),
    }
}

/// kustomize's `SameEndingSubSlice`.
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() > b.len() { (b, a) } else { (a, b) };
    if short.is_empty() {
        return long.is_empty();
    }
    long[long.len() - short.len()..] == *short
}

/// Splits a field-spec path on `/`, honouring `\/` escapes; `[]` markers are dropped.
fn split_path(path: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                out.last_mut().expect("non-empty").push('/');
                chars.next();
            }
            '/' => out.push(String::new()),
            c => out.last_mut().expect("non-empty").push(c),
        }
    }
    out.into_iter()
        .map(|s| s.trim_end_matches("[]").to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Calls `f` on the node at `segs`, walking every element of lists met on the way.
fn visit(
    node: &mut Value,
    segs: &[String],
    f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<(), String> {
    let Some((first, rest)) = segs.split_first() else {
        return match node {
            Value::Null => Ok(()),
            Value::Array(items) => items.iter_mut().try_for_each(&mut *f),
            other => f(other),
        };
    };
    match node {
        Value::Array(items) => items.iter_mut().try_for_each(|i| visit(i, segs, f)),
        Value::Object(m) => match m.get_mut(first.as_str()) {
            Some(child) => visit(child, rest, f),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// One referrer being fixed.
struct Referrer<'a> {
    ns: String,
    cluster: bool,
    prefixes: &'a [String],
    suffixes: &'a [String],
    /// roleRef's (apiGroup, kind) when both are set.
    role_ref: Option<(String, String)>,
}

fn candidates_for<'c>(
    cands: &'c [Cand],
    referrer: &Referrer<'_>,
    obj: &Value,
) -> Result<Vec<&'c Cand>, String> {
    if referrer.cluster {
        return Ok(cands.iter().collect());
    }
    // A RoleBinding may name ServiceAccounts of other namespaces in its subjects.
    let mut sa_namespaces = Vec::new();
    if object_kind(obj) == "RoleBinding"
        && let Some(Value::Array(subjects)) = obj.get("subjects")
    {
        for s in subjects {
            if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                && let Some(ns) = s.get("namespace")
            {
                let ns = ns.as_str().ok_or_else(|| {
                    "Invalid Input: namespace is blank for a ServiceAccount subject (give it a value or remove the key)"
                        .to_string()
                })?;
                sa_namespaces.push(ns.to_string());
            }
        }
    }
    Ok(cands
        .iter()
        .filter(|c| {
            c.cluster || ns_eq(&c.namespace, &referrer.ns) || sa_namespaces.contains(&c.namespace)
        })
        .collect())
}

fn object_kind(obj: &Value) -> &str {
    obj.get("kind").and_then(Value::as_str).unwrap_or("")
}

fn prev_selected(c: &Cand, sel: &GvkSel) -> bool {
    c.prev
        .iter()
        .any(|(k, _, _)| sel.selects(&c.group, &c.version, k))
}

/// kustomize's `selectReferral`: narrows the candidates for `old`; `Err` when several
/// different objects remain.
fn select<'c>(
    old: &str,
    pool: &[&'c Cand],
    target: &GvkSel,
    path: &str,
    referrer: &Referrer<'_>,
    with_ns: bool,
) -> Result<Option<&'c Cand>, String> {
    let role_ref = referrer
        .role_ref
        .as_ref()
        .filter(|_| path.ends_with("roleRef/name"))
        .map(|(g, k)| GvkSel {
            group: g.clone(),
            version: String::new(),
            kind: k.clone(),
        });
    let c: Vec<&Cand> = pool
        .iter()
        .copied()
        .filter(|c| c.prev.iter().any(|(_, n, _)| n == old))
        .filter(|c| prev_selected(c, target))
        .filter(|c| role_ref.as_ref().is_none_or(|s| prev_selected(c, s)))
        .filter(|c| {
            referrer.cluster
                || c.cluster
                || c.kind == "ServiceAccount"
                || ns_eq(&referrer.ns, &c.namespace)
        })
        .collect();
    if c.len() == 1 {
        return Ok(Some(c[0]));
    }
    let c: Vec<&Cand> = c
        .into_iter()
        .filter(|c| {
            same_ending(&c.prefixes, referrer.prefixes)
                && same_ending(&c.suffixes, referrer.suffixes)
        })
        .collect();
    match c.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        [first, rest @ ..] => {
            if rest
                .iter()
                .all(|r| r.name == first.name && (!with_ns || r.namespace == first.namespace))
            {
                Ok(Some(*first))
            } else {
                let ids: Vec<String> = c
                    .iter()
                    .map(|c| format!("{}/{} in `{}`", c.kind, c.name, c.namespace))
                    .collect();
                Err(format!(
                    "`{old}` at `{path}` could refer to several objects: {}",
                    ids.join(", ")
                ))
            }
        }
    }
}

fn set_node(
    node: &mut Value,
    pool: &[&Cand],
    target: &GvkSel,
    path: &str,
    referrer: &Referrer<'_>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    match node {
        Value::String(old) => {
            if let Some(c) = select(old, pool, target, path, referrer, false)? {
                *old = c.name.clone();
            }
            Ok(())
        }
        Value::Object(m) => {
            let Some(old) = m.get("name").and_then(Value::as_str).map(String::from) else {
                return Err(format!("`{path}` holds a map without a `name` field"));
            };
            let narrowed: Vec<&Cand>;
            let pool = match m.get("namespace").and_then(Value::as_str) {
                None => pool,
                Some(ns) => {
                    let by_org: Vec<&Cand> =
                        pool.iter().copied().filter(|c| c.org_ns == ns).collect();
                    narrowed = if by_org.is_empty() {
                        pool.iter()
                            .copied()
                            .filter(|c| effective_ns(&c.namespace, c.cluster) == ns)
                            .collect()
                    } else {
                        by_org
                    };
                    &narrowed
                }
            };
            let Some(c) = select(&old, pool, target, path, referrer, true)? else {
                return Ok(());
            };
            if c.name == old && c.namespace.is_empty() {
                return Ok(());
            }
            if let Some(kind) = m
                .get("kind")
                .and_then(Value::as_str)
                .filter(|k| *k != c.kind)
            {
                // kustomize matches subjects by name only; say so when a User or Group moves.
                warnings.push(format!(
                    "subject {kind} `{old}` was renamed to `{}` because a {} has that name (kustomize does the same); check the binding grants what you mean",
                    c.name, c.kind
                ));
            }
            m.insert("name".into(), Value::String(c.name.clone()));
            if !c.namespace.is_empty() {
                m.insert("namespace".into(), Value::String(c.namespace.clone()));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Rewrites every name reference of `ra` (kustomize's `FixBackReferences`).
pub fn fix(
    ra: &mut [Resource],
    cfg: &NameRefConfig,
    warnings: &mut Vec<String>,
) -> Result<(), RenderError> {
    let cands: Vec<Cand> = ra
        .iter()
        .map(|r| {
            let cluster = cluster_scoped(r.group(), r.kind());
            Cand {
                group: r.group().into(),
                version: r.version().into(),
                name: r.name().into(),
                namespace: r.namespace().into(),
                kind: r.kind().into(),
                cluster,
                prev: r.prev_ids.clone(),
                org_ns: effective_ns(&r.org_id().2, cluster),
                prefixes: r.prefixes.clone(),
                suffixes: r.suffixes.clone(),
            }
        })
        .collect();
    for r in ra.iter_mut() {
        let (group, version) = (r.group().to_string(), r.version().to_string());
        let org_kind = r.org_id().0;
        let role_ref = r.obj.get("roleRef").and_then(|rr| {
            let g = rr.get("apiGroup")?.as_str()?;
            let k = rr.get("kind")?.as_str()?;
            Some((g.to_string(), k.to_string()))
        });
        let referrer = Referrer {
            ns: r.namespace().to_string(),
            cluster: cluster_scoped(&group, r.kind()),
            prefixes: &r.prefixes,
            suffixes: &r.suffixes,
            role_ref,
        };
        let pool = candidates_for(&cands, &referrer, &r.obj).map_err(|e| {
            RenderError::invalid(
                &r.origin,
                Some("subjects".into()),
                format!("{}: {e}", r.key()),
            )
        })?;
        let mut obj = std::mem::take(&mut r.obj);
        let mut result = Ok(());
        let mut warns = Vec::new();
        'outer: for b in cfg.0.iter() {
            for fs in b
                .field_specs
                .iter()
                .filter(|fs| fs.sel.selects(&group, &version, &org_kind))
            {
                let segs = split_path(&fs.path);
                result = visit(&mut obj, &segs, &mut |n| {
                    set_node(n, &pool, &b.target, &fs.path, &referrer, &mut warns)
                });
                if result.is_err() {
                    break 'outer;
                }
            }
        }
        r.obj = obj;
        warnings.extend(warns.into_iter().map(|w| format!("{}: {w}", r.origin)));
        result.map_err(|e| {
            RenderError::invalid(
                &r.origin,
                None,
                format!("name reference in {}: {e}", r.key()),
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_on_unescaped_slashes() {
        assert_eq!(
            split_path("metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret"),
            vec![
                "metadata",
                "annotations",
                "nginx.ingress.kubernetes.io/auth-secret"
            ]
        );
        assert_eq!(
            split_path("spec/containers[]/image"),
            vec!["spec", "containers", "image"]
        );
    }

    #[test]
    fn same_ending_compares_the_tails() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(same_ending(&v(&["a", "b", "c"]), &v(&["b", "c"])));
        assert!(!same_ending(&v(&["a", "b", "c"]), &v(&["a", "b"])));
        assert!(!same_ending(&v(&[]), &v(&["a"])));
        assert!(same_ending(&v(&[]), &v(&[])));
    }

    #[test]
    fn builtin_table_loads() {
        let t = NameRefConfig::builtin();
        assert!(
            t.0.iter()
                .any(|b| b.target.kind == "ValidatingAdmissionPolicy")
        );
    }
}
