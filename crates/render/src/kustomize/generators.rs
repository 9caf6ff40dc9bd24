//! `configMapGenerator` and `secretGenerator`: literals, files and env files; behaviors
//! create/merge/replace; options merged from `generatorOptions`. The content-hash name suffix
//! is added later, once the whole build is done (see `names`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use super::spec::{GeneratorOptions, GeneratorSpec, Kustomization, string_map};
use super::{Builder, Resource};
use crate::RenderError;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    ConfigMap,
    Secret,
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `'quoted'` and `"quoted"` literal values lose their quotes, as in kustomize.
fn unquote(v: &str) -> &str {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

struct Entries {
    /// (key, bytes) in declaration order.
    items: Vec<(String, Vec<u8>)>,
}

impl Entries {
    fn push(
        &mut self,
        kfile: &str,
        field: &str,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), RenderError> {
        if !valid_key(&key) {
            return Err(RenderError::invalid(
                kfile,
                Some(field.into()),
                format!("`{key}` is not a valid key (letters, digits, '-', '_' and '.')"),
            ));
        }
        if self.items.iter().any(|(k, _)| *k == key) {
            return Err(RenderError::invalid(
                kfile,
                Some(field.into()),
                format!("key `{key}` is defined twice"),
            ));
        }
        self.items.push((key, value));
        Ok(())
    }
}

fn collect(
    b: &mut Builder<'_, '_>,
    dir: &str,
    kfile: &str,
    field: &str,
    g: &GeneratorSpec,
) -> Result<Entries, RenderError> {
    let mut e = Entries { items: Vec::new() };
    for (i, lit) in g.literals.iter().enumerate() {
        let f = format!("{field}.literals[{i}]");
        let (k, v) = lit
            .split_once('=')
            .ok_or_else(|| RenderError::invalid(kfile, Some(f.clone()), "must be KEY=VALUE"))?;
        e.push(
            kfile,
            &f,
            k.trim().to_string(),
            unquote(v).as_bytes().to_vec(),
        )?;
    }
    for (i, file) in g.files.iter().enumerate() {
        let f = format!("{field}.files[{i}]");
        let (key, path) = match file.split_once('=') {
            Some((k, p)) => (k.trim().to_string(), p.trim()),
            None => (
                file.rsplit('/').next().unwrap_or(file).to_string(),
                file.as_str(),
            ),
        };
        let (_, bytes) = b.read_bytes(kfile, dir, path)?;
        e.push(kfile, &f, key, bytes)?;
    }
    for (i, env) in g.envs.iter().chain(&g.env).enumerate() {
        let f = format!("{field}.envs[{i}]");
        let (path, text) = b.read_text(kfile, dir, env)?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line.split_once('=').ok_or_else(|| {
                RenderError::invalid(
                    &path,
                    Some(format!("line {}", n + 1)),
                    "must be KEY=VALUE (values are never read from the environment)",
                )
            })?;
            e.push(kfile, &f, k.trim().to_string(), v.as_bytes().to_vec())?;
        }
    }
    Ok(e)
}

fn make_object(
    kind: Kind,
    name: &str,
    g: &GeneratorSpec,
    entries: Entries,
    opts: &GeneratorOptions,
    kfile: &str,
    field: &str,
) -> Result<Value, RenderError> {
    let mut meta = Map::new();
    meta.insert("name".into(), json!(name));
    if let Some(ns) = &g.namespace {
        meta.insert("namespace".into(), json!(ns));
    }
    let labels = string_map(kfile, &format!("{field}.options.labels"), &opts.labels)?;
    if !labels.is_empty() {
        meta.insert(
            "labels".into(),
            Value::Object(labels.into_iter().map(|(k, v)| (k, json!(v))).collect()),
        );
    }
    let annotations = string_map(
        kfile,
        &format!("{field}.options.annotations"),
        &opts.annotations,
    )?;
    if !annotations.is_empty() {
        meta.insert(
            "annotations".into(),
            Value::Object(
                annotations
                    .into_iter()
                    .map(|(k, v)| (k, json!(v)))
                    .collect(),
            ),
        );
    }
    let mut items = entries.items;
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!("v1"));
    match kind {
        Kind::ConfigMap => {
            let (mut data, mut binary) = (Map::new(), Map::new());
            for (k, v) in items {
                match String::from_utf8(v) {
                    Ok(s) => data.insert(k, json!(s)),
                    Err(e) => binary.insert(k, json!(wrapped_base64(&e.into_bytes()))),
                };
            }
            if !binary.is_empty() {
                obj.insert("binaryData".into(), Value::Object(binary));
            }
            if !data.is_empty() {
                obj.insert("data".into(), Value::Object(data));
            }
            obj.insert("kind".into(), json!("ConfigMap"));
        }
        Kind::Secret => {
            let data: Map<String, Value> = items
                .into_iter()
                .map(|(k, v)| (k, json!(wrapped_base64(&v))))
                .collect();
            if !data.is_empty() {
                obj.insert("data".into(), Value::Object(data));
            }
            obj.insert("kind".into(), json!("Secret"));
        }
    }
    if opts.immutable == Some(true) {
        obj.insert("immutable".into(), json!(true));
    }
    obj.insert("metadata".into(), Value::Object(meta));
    if kind == Kind::Secret {
        obj.insert("type".into(), json!(g.kind.as_deref().unwrap_or("Opaque")));
    }
    Ok(Value::Object(obj))
}

/// Base64 the way kustomize writes generated data (kyaml's `encodeBase64`): once the text
/// reaches 70 characters it is cut into 70-character lines, each ending in a newline.
fn wrapped_base64(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let enc = B64.encode(bytes);
    if enc.len() < LINE {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / LINE + 1);
    for chunk in enc.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Per-generator options override the kustomization's `generatorOptions` key by key.
fn merged_options(
    global: Option<&GeneratorOptions>,
    local: Option<&GeneratorOptions>,
) -> GeneratorOptions {
    let mut o = global.cloned().unwrap_or_default();
    if let Some(l) = local {
        o.labels.extend(l.labels.clone());
        o.annotations.extend(l.annotations.clone());
        if l.disable_name_suffix_hash.is_some() {
            o.disable_name_suffix_hash = l.disable_name_suffix_hash;
        }
        if l.immutable.is_some() {
            o.immutable = l.immutable;
        }
    }
    o
}

fn merge_into(existing: &mut Resource, new: Value, replace: bool) {
    for field in ["data", "binaryData"] {
        match (replace, new.get(field)) {
            (true, v) => {
                let o = existing.obj.as_object_mut().expect("object");
                match v {
                    Some(v) => o.insert(field.into(), v.clone()),
                    None => o.remove(field),
                };
            }
            (false, Some(Value::Object(m))) => {
                if let Some(target) =
                    driftless_core::object::ensure_map(&mut existing.obj, &[field])
                {
                    target.extend(m.clone());
                }
            }
            _ => {}
        }
    }
    for field in ["labels", "annotations"] {
        if let Some(Value::Object(m)) = new["metadata"].get(field)
            && let Some(target) =
                driftless_core::object::ensure_map(&mut existing.obj, &["metadata", field])
        {
            target.extend(m.clone());
        }
    }
}

pub fn run(
    b: &mut Builder<'_, '_>,
    dir: &str,
    kfile: &str,
    k: &Kustomization,
    ra: &mut Vec<Resource>,
) -> Result<(), RenderError> {
    let gens = k
        .config_map_generator
        .iter()
        .enumerate()
        .map(|(i, g)| (Kind::ConfigMap, format!("configMapGenerator[{i}]"), g))
        .chain(
            k.secret_generator
                .iter()
                .enumerate()
                .map(|(i, g)| (Kind::Secret, format!("secretGenerator[{i}]"), g)),
        );
    for (kind, field, g) in gens {
        let name = g.name.as_deref().filter(|n| !n.is_empty()).ok_or_else(|| {
            RenderError::invalid(kfile, Some(format!("{field}.name")), "is required")
        })?;
        let opts = merged_options(k.generator_options.as_ref(), g.options.as_ref());
        let entries = collect(b, dir, kfile, &field, g)?;
        let obj = make_object(kind, name, g, entries, &opts, kfile, &field)?;
        let kind_name = if kind == Kind::ConfigMap {
            "ConfigMap"
        } else {
            "Secret"
        };
        let existing = ra.iter().position(|r| {
            r.group().is_empty()
                && r.kind() == kind_name
                && r.had_name(name)
                && g.namespace
                    .as_deref()
                    .is_none_or(|ns| r.namespaces.iter().any(|x| x == ns))
        });
        let needs_hash = opts.disable_name_suffix_hash != Some(true);
        let (configured_in, cfg_name) = b
            .generator_source
            .clone()
            .unwrap_or_else(|| (kfile.to_string(), None));
        let source = super::Source::Generator {
            configured_in,
            kind: format!("{kind_name}Generator"),
            name: cfg_name,
        };
        match (g.behavior.as_deref().unwrap_or("create"), existing) {
            ("create", None) => {
                let mut r = Resource::new(obj, format!("{kfile} ({field})"));
                r.needs_hash = needs_hash;
                r.source = Some(source);
                ra.push(r);
            }
            ("create", Some(_)) => {
                return Err(RenderError::invalid(
                    kfile,
                    Some(format!("{field}.name")),
                    format!(
                        "{kind_name} `{name}` already exists; use `behavior: merge` or `behavior: replace`"
                    ),
                ));
            }
            (b @ ("merge" | "replace"), Some(i)) => {
                merge_into(&mut ra[i], obj, b == "replace");
                if b == "replace" {
                    ra[i].source = Some(source);
                }
                // A plain ConfigMap/Secret from resources stays unhashed, as in kustomize.
                ra[i].needs_hash = ra[i].needs_hash && needs_hash;
            }
            ("merge" | "replace", None) => {
                return Err(RenderError::invalid(
                    kfile,
                    Some(format!("{field}.behavior")),
                    format!("no {kind_name} `{name}` from a base to merge into"),
                ));
            }
            (other, _) => {
                return Err(RenderError::invalid(
                    kfile,
                    Some(format!("{field}.behavior")),
                    format!("`{other}` is not one of create, merge, replace"),
                ));
            }
        }
    }
    Ok(())
}
