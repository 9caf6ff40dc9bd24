//! `replacements`: copy a field of one resource into fields of others.
//!
//! Field paths are kustomize's: dot-separated keys, `[key=value]` to pick a list element,
//! `[key]` for a key that contains dots, `*` for every element, a number for a list index.
//! `options.delimiter`/`index` replace one part of a delimited value; `options.create` makes
//! missing fields.

use serde_json::{Map, Value};

use super::selector::Matcher;
use super::spec::{Replacement, ReplacementEntry, ReplacementOptions, Selector};
use super::{Builder, Resource};
use crate::RenderError;

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Match(String, String),
    All,
    Index(usize),
}

fn parse_path(file: &str, field: &str, path: &str) -> Result<Vec<Seg>, RenderError> {
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    let mut parts = Vec::new();
    for c in path.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    for p in parts {
        if p.is_empty() {
            return Err(RenderError::invalid(
                file,
                Some(field.into()),
                format!("empty segment in field path `{path}`"),
            ));
        }
        segs.push(
            if let Some(inner) = p.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
                match inner.split_once('=') {
                    Some((k, v)) => Seg::Match(k.into(), v.into()),
                    None => Seg::Key(inner.into()),
                }
            } else if p == "*" {
                Seg::All
            } else if let Ok(i) = p.parse::<usize>() {
                Seg::Index(i)
            } else {
                Seg::Key(p)
            },
        );
    }
    Ok(segs)
}

fn get<'a>(node: &'a Value, segs: &[Seg]) -> Option<&'a Value> {
    let Some((first, rest)) = segs.split_first() else {
        return Some(node);
    };
    let next = match (first, node) {
        (Seg::Key(k), Value::Object(m)) => m.get(k)?,
        (Seg::Index(i), Value::Array(a)) => a.get(*i)?,
        (Seg::Match(k, v), Value::Array(a)) => a
            .iter()
            .find(|x| x.get(k).and_then(scalar) == Some(v.clone()))?,
        _ => return None,
    };
    get(next, rest)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Sets every node at `segs`; returns how many were set.
fn set(node: &mut Value, segs: &[Seg], value: &Value, opts: &ReplacementOptions) -> usize {
    let Some((first, rest)) = segs.split_first() else {
        *node = combine(node, value, opts);
        return 1;
    };
    match (first, node) {
        (Seg::Key(k), Value::Object(m)) => {
            if !m.contains_key(k) {
                if !opts.create {
                    return 0;
                }
                m.insert(
                    k.clone(),
                    if rest.is_empty() {
                        Value::Null
                    } else {
                        Value::Object(Map::new())
                    },
                );
            }
            set(m.get_mut(k).expect("present"), rest, value, opts)
        }
        (Seg::Index(i), Value::Array(a)) => a.get_mut(*i).map_or(0, |x| set(x, rest, value, opts)),
        (Seg::Match(k, v), Value::Array(a)) => a
            .iter_mut()
            .filter(|x| x.get(k).and_then(scalar).as_deref() == Some(v.as_str()))
            .map(|x| set(x, rest, value, opts))
            .sum(),
        (Seg::All, Value::Array(a)) => a.iter_mut().map(|x| set(x, rest, value, opts)).sum(),
        (Seg::Key(_), n @ Value::Null) if opts.create => {
            *n = Value::Object(Map::new());
            set(n, segs, value, opts)
        }
        _ => 0,
    }
}

/// The value written: the whole source value, or one delimited part of the target replaced.
fn combine(old: &Value, value: &Value, opts: &ReplacementOptions) -> Value {
    let Some(delim) = opts.delimiter.as_deref().filter(|d| !d.is_empty()) else {
        return value.clone();
    };
    let old = old.as_str().unwrap_or_default();
    let new = scalar(value).unwrap_or_default();
    let mut parts: Vec<String> = old.split(delim).map(String::from).collect();
    match usize::try_from(opts.index) {
        Ok(i) if i < parts.len() => parts[i] = new,
        Ok(_) => parts.push(new),
        Err(_) => parts.insert(0, new),
    }
    Value::String(parts.join(delim))
}

fn source_value(
    kfile: &str,
    field: &str,
    rep: &Replacement,
    ra: &[Resource],
) -> Result<Value, RenderError> {
    let s = &rep.source;
    let sel = Selector {
        group: s.group.clone(),
        version: s.version.clone(),
        kind: s.kind.clone(),
        name: s.name.as_deref().map(regex::escape),
        namespace: s.namespace.as_deref().map(regex::escape),
        ..Default::default()
    };
    let m = Matcher::new(kfile, &format!("{field}.source"), &sel)?;
    let hits: Vec<&Resource> = ra.iter().filter(|r| m.matches(r)).collect();
    let r = match hits.as_slice() {
        [one] => *one,
        [] => {
            return Err(RenderError::invalid(
                kfile,
                Some(format!("{field}.source")),
                "matches no resource",
            ));
        }
        _ => {
            return Err(RenderError::invalid(
                kfile,
                Some(format!("{field}.source")),
                format!(
                    "matches {} resources; it must select exactly one",
                    hits.len()
                ),
            ));
        }
    };
    let path = s.field_path.as_deref().unwrap_or("metadata.name");
    let segs = parse_path(kfile, &format!("{field}.source.fieldPath"), path)?;
    let v = get(&r.obj, &segs).ok_or_else(|| {
        RenderError::invalid(
            kfile,
            Some(format!("{field}.source.fieldPath")),
            format!("`{path}` is not set in {}", r.key()),
        )
    })?;
    match s.options.as_ref().and_then(|o| {
        o.delimiter
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(|d| (d, o.index))
    }) {
        Some((d, i)) => {
            let text = scalar(v).unwrap_or_default();
            let part = usize::try_from(i).ok().and_then(|i| text.split(d).nth(i));
            part.map(|p| Value::String(p.into())).ok_or_else(|| {
                RenderError::invalid(
                    kfile,
                    Some(format!("{field}.source.options.index")),
                    "is out of range of the delimited value",
                )
            })
        }
        None => Ok(v.clone()),
    }
}

pub fn run(
    b: &mut Builder<'_, '_>,
    dir: &str,
    kfile: &str,
    entries: &[ReplacementEntry],
    ra: &mut [Resource],
) -> Result<(), RenderError> {
    let mut reps: Vec<(String, Replacement)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        match e {
            ReplacementEntry::Inline(r) => reps.push((format!("replacements[{i}]"), r.clone())),
            ReplacementEntry::Path { path } => {
                let (file, text) = b.read_text(kfile, dir, path)?;
                let docs = driftless_core::yaml::parse_stream(&text, &b.limits.yaml).map_err(
                    |source| RenderError::Yaml {
                        file: file.clone(),
                        source,
                    },
                )?;
                for d in docs {
                    let list = if d.value.is_array() {
                        d.value
                    } else {
                        Value::Array(vec![d.value])
                    };
                    let parsed: Vec<Replacement> =
                        serde_path_to_error::deserialize(list).map_err(|e| {
                            RenderError::invalid(
                                &file,
                                Some(e.path().to_string()),
                                e.into_inner().to_string(),
                            )
                        })?;
                    reps.extend(
                        parsed
                            .into_iter()
                            .map(|r| (format!("replacements[{i}] ({file})"), r)),
                    );
                }
            }
        }
    }
    for (field, rep) in &reps {
        let value = source_value(kfile, field, rep, ra)?;
        for (t, target) in rep.targets.iter().enumerate() {
            let tfield = format!("{field}.targets[{t}]");
            let select = target.select.as_ref().ok_or_else(|| {
                RenderError::invalid(kfile, Some(format!("{tfield}.select")), "is required")
            })?;
            let m = Matcher::new(kfile, &format!("{tfield}.select"), select)?;
            let rejects = target
                .reject
                .iter()
                .enumerate()
                .map(|(j, s)| Matcher::new(kfile, &format!("{tfield}.reject[{j}]"), s))
                .collect::<Result<Vec<_>, _>>()?;
            let opts = target.options.clone().unwrap_or_default();
            for r in ra
                .iter_mut()
                .filter(|r| m.matches(r) && !rejects.iter().any(|x| x.matches(r)))
            {
                for (p, path) in target.field_paths.iter().enumerate() {
                    let segs = parse_path(kfile, &format!("{tfield}.fieldPaths[{p}]"), path)?;
                    let n = set(&mut r.obj, &segs, &value, &opts);
                    if n == 0 && !opts.create {
                        return Err(RenderError::invalid(
                            kfile,
                            Some(format!("{tfield}.fieldPaths[{p}]")),
                            format!(
                                "`{path}` not found in {}; set options.create: true to create it",
                                r.key()
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_paths_select_list_elements_and_dotted_keys() {
        let segs = parse_path(
            "k",
            "f",
            "spec.template.spec.containers.[name=app].env.[name=DB].value",
        )
        .unwrap();
        assert_eq!(segs[3], Seg::Key("containers".into()));
        assert_eq!(segs[4], Seg::Match("name".into(), "app".into()));
        let segs = parse_path("k", "f", "metadata.annotations.[example.com/x]").unwrap();
        assert_eq!(segs[2], Seg::Key("example.com/x".into()));
    }

    #[test]
    fn delimited_replacement_changes_one_part() {
        let opts = ReplacementOptions {
            delimiter: Some(":".into()),
            index: 1,
            create: false,
        };
        assert_eq!(
            combine(&json!("nginx:1.0"), &json!("2.0"), &opts),
            json!("nginx:2.0")
        );
    }
}
