//! `generators:` and `transformers:` entries: configurations of kustomize's *built-in*
//! plugins (`apiVersion: builtin`, kinds such as `PatchTransformer`, `LabelTransformer`,
//! `ConfigMapGenerator`), inline or from files or kustomization directories. Each one is
//! turned into the kustomization fields it stands for and run through the same code, after
//! the kustomization's own generators/transformers, as kustomize orders them.
//!
//! Anything else is an exec, Go or KRM-function plugin: refused with a pointer to the plugin
//! renderer, never ignored.

use driftless_core::object;
use driftless_core::source::NodeKind;
use serde_json::{Map, Value, json};

use super::fieldspec::{FieldSpec, spec};
use super::spec::{Kustomization, string_map};
use super::{Builder, Resource, generators, join, transforms};
use crate::RenderError;
use crate::manifest::load_file;

/// Loads the plugin configurations an entry list names: inline YAML, files, or kustomization
/// directories (whose output objects are the configurations).
fn configs(
    b: &mut Builder<'_, '_>,
    dir: &str,
    kfile: &str,
    field: &str,
    entries: &Value,
) -> Result<Vec<(String, Value)>, RenderError> {
    let Value::Array(entries) = entries else {
        return Err(RenderError::invalid(
            kfile,
            Some(field.into()),
            "must be a list",
        ));
    };
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Some(entry) = e.as_str() else {
            return Err(RenderError::invalid(kfile, Some(at), "must be a string"));
        };
        if entry.contains('\n') {
            let docs =
                driftless_core::yaml::parse_stream(entry, &b.limits.yaml).map_err(|source| {
                    RenderError::Yaml {
                        file: format!("{kfile} ({at})"),
                        source,
                    }
                })?;
            out.extend(
                docs.into_iter()
                    .map(|d| (format!("{kfile} ({at})"), d.value)),
            );
            continue;
        }
        let path = join(dir, entry).map_err(|e| RenderError::source(kfile, e))?;
        match b
            .tree
            .kind(&path)
            .map_err(|e| RenderError::source(kfile, e))?
        {
            Some(NodeKind::Dir) => {
                for r in b.build_target(&path)? {
                    out.push((r.origin, r.obj));
                }
            }
            Some(_) => {
                b.inputs.add(&path);
                let (objs, _) = load_file(b.tree, &path, b.limits)?;
                out.extend(objs.into_iter().map(|o| (o.origin, o.object)));
            }
            None => {
                return Err(RenderError::invalid(
                    kfile,
                    Some(at),
                    format!("`{entry}` does not exist"),
                ));
            }
        }
    }
    Ok(out)
}

fn refuse(origin: &str, cfg: &Value, field: &str) -> RenderError {
    let kind = object::kind(cfg).unwrap_or("<no kind>");
    let api = object::api_version(cfg).unwrap_or("<no apiVersion>");
    RenderError::invalid(
        origin,
        Some(field.into()),
        format!(
            "{api} {kind} is not a built-in kustomize plugin; exec, Go and KRM-function plugins (and Helm) need the plugin renderer (the `kustomize` or a custom plugin), the native kustomize never runs them"
        ),
    )
}

/// The config without its identity, for copying fields across.
fn body(cfg: &Value) -> Map<String, Value> {
    let mut m = cfg.as_object().cloned().unwrap_or_default();
    for k in ["apiVersion", "kind", "metadata"] {
        m.remove(k);
    }
    m
}

/// The kustomization fragment a built-in generator configuration stands for.
fn generator_fragment(origin: &str, cfg: &Value) -> Result<Value, RenderError> {
    let field = match object::kind(cfg) {
        Some("ConfigMapGenerator") => "configMapGenerator",
        Some("SecretGenerator") => "secretGenerator",
        _ => return Err(refuse(origin, cfg, "generators")),
    };
    // The generated object's name is the config's `name`, else its metadata.name. Like
    // kustomize's (Go) decoding of a plugin config, fields it does not know are skipped.
    const KNOWN: [&str; 9] = [
        "name",
        "namespace",
        "behavior",
        "literals",
        "files",
        "envs",
        "env",
        "type",
        "options",
    ];
    let mut g = body(cfg);
    g.retain(|k, _| KNOWN.contains(&k.as_str()));
    if let Some(n) = object::name(cfg) {
        g.entry("name").or_insert(json!(n));
    }
    if let Some(ns) = object::namespace(cfg) {
        g.entry("namespace").or_insert(json!(ns));
    }
    Ok(json!({ field: [g] }))
}

pub fn generators(
    b: &mut Builder<'_, '_>,
    dir: &str,
    kfile: &str,
    k: &Kustomization,
    ra: &mut Vec<Resource>,
) -> Result<(), RenderError> {
    let Some(entries) = &k.generators else {
        return Ok(());
    };
    for (origin, cfg) in configs(b, dir, kfile, "generators", entries)? {
        if object::api_version(&cfg) != Some("builtin") {
            return Err(refuse(&origin, &cfg, "generators"));
        }
        if object::kind(&cfg) == Some("IAMPolicyGenerator") {
            let sa = iam_policy_service_account(&origin, &cfg)?;
            b.add(ra, Resource::new(sa, origin))?;
            continue;
        }
        let frag = Kustomization::parse(&origin, generator_fragment(&origin, &cfg)?, b.warnings)?;
        // The origin annotation names the file configuring the generator.
        let file = origin.split([' ', '#']).next().unwrap_or(kfile).to_string();
        b.generator_source = Some((file, object::name(&cfg).map(String::from)));
        let result = generators::run(b, dir, kfile, &frag, ra);
        b.generator_source = None;
        result?;
    }
    Ok(())
}

/// kustomize's built-in `IAMPolicyGenerator` (GKE workload identity): a ServiceAccount
/// annotated with the Google service account it acts as.
fn iam_policy_service_account(origin: &str, cfg: &Value) -> Result<Value, RenderError> {
    let get = |path: &[&str]| object::str_at(cfg, path).filter(|s| !s.is_empty());
    let missing = |f: &str| RenderError::invalid(origin, Some(f.into()), "is required");
    match get(&["cloud"]) {
        Some("gke") => {}
        _ => {
            return Err(RenderError::invalid(
                origin,
                Some("cloud".into()),
                "only `gke` is supported (as in kustomize)",
            ));
        }
    }
    let name =
        get(&["kubernetesService", "name"]).ok_or_else(|| missing("kubernetesService.name"))?;
    let gsa = get(&["serviceAccount", "name"]).ok_or_else(|| missing("serviceAccount.name"))?;
    let project =
        get(&["serviceAccount", "projectId"]).ok_or_else(|| missing("serviceAccount.projectId"))?;
    let mut meta = json!({
        "name": name,
        "annotations": {"iam.gke.io/gcp-service-account": format!("{gsa}@{project}.iam.gserviceaccount.com")},
    });
    if let Some(ns) = get(&["kubernetesService", "namespace"]) {
        meta["namespace"] = json!(ns);
    }
    Ok(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}))
}

fn field_specs(origin: &str, cfg: &Value) -> Result<Vec<FieldSpec>, RenderError> {
    let Some(Value::Array(specs)) = cfg.get("fieldSpecs") else {
        return Ok(Vec::new());
    };
    specs
        .iter()
        .map(|s| {
            let get = |k: &str| s.get(k).and_then(Value::as_str);
            let path = get("path").ok_or_else(|| {
                RenderError::invalid(
                    origin,
                    Some("fieldSpecs".into()),
                    "every field spec needs a `path`",
                )
            })?;
            let create = s.get("create").and_then(Value::as_bool).unwrap_or(false);
            Ok(spec(get("group"), get("kind"), path, create))
        })
        .collect()
}

/// Label and annotation transformers write exactly where their field specs say.
fn pairs_transformer(
    origin: &str,
    cfg: &Value,
    key: &str,
    ra: &mut [Resource],
) -> Result<(), RenderError> {
    let pairs = cfg
        .get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let pairs = string_map(origin, key, &pairs)?;
    transforms::apply_pairs(&field_specs(origin, cfg)?, &pairs, ra);
    Ok(())
}

/// The kustomization fragment a built-in transformer configuration stands for.
fn transformer_fragment(origin: &str, cfg: &Value) -> Result<Value, RenderError> {
    let m = body(cfg);
    let get = |k: &str| m.get(k).cloned().unwrap_or(Value::Null);
    Ok(match object::kind(cfg).unwrap_or("") {
        "PatchTransformer" => {
            let mut p = Map::new();
            for k in ["path", "patch", "target", "options"] {
                if let Some(v) = m.get(k) {
                    p.insert(k.into(), v.clone());
                }
            }
            json!({"patches": [p]})
        }
        "PatchStrategicMergeTransformer" => {
            let mut list: Vec<Value> = m
                .get("paths")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if let Some(Value::String(p)) = m.get("patches") {
                list.push(json!(p));
            }
            json!({"patchesStrategicMerge": list})
        }
        "PatchJson6902Transformer" => {
            let mut p = Map::new();
            p.insert("target".into(), get("target"));
            if let Some(v) = m.get("path") {
                p.insert("path".into(), v.clone());
            }
            if let Some(v) = m.get("jsonOp") {
                p.insert("patch".into(), v.clone());
            }
            json!({"patchesJson6902": [p]})
        }
        "NamespaceTransformer" => json!({"namespace": object::namespace(cfg).unwrap_or("")}),
        "PrefixSuffixTransformer" => {
            json!({"namePrefix": get("prefix"), "nameSuffix": get("suffix")})
        }
        "PrefixTransformer" => json!({"namePrefix": get("prefix")}),
        "SuffixTransformer" => json!({"nameSuffix": get("suffix")}),
        "ImageTagTransformer" => json!({"images": [get("imageTag")]}),
        "ReplicaCountTransformer" => json!({"replicas": [get("replica")]}),
        "ReplacementTransformer" => json!({"replacements": get("replacements")}),
        _ => return Err(refuse(origin, cfg, "transformers")),
    })
}

pub fn transformers(
    b: &mut Builder<'_, '_>,
    dir: &str,
    kfile: &str,
    k: &Kustomization,
    ra: &mut Vec<Resource>,
) -> Result<(), RenderError> {
    let Some(entries) = &k.transformers else {
        return Ok(());
    };
    for (origin, cfg) in configs(b, dir, kfile, "transformers", entries)? {
        if object::api_version(&cfg) != Some("builtin") {
            return Err(refuse(&origin, &cfg, "transformers"));
        }
        match object::kind(&cfg) {
            Some("PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer")
                if cfg.get("fieldSpecs").is_some() =>
            {
                // Only the kinds the field specs name (with path metadata/name) are renamed.
                let specs: Vec<FieldSpec> = field_specs(&origin, &cfg)?
                    .into_iter()
                    .filter(|s| s.path == "metadata/name")
                    .collect();
                let text = |k: &str| cfg.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                transforms::prefix_suffix_where(&text("prefix"), &text("suffix"), ra, &|r| {
                    specs.iter().any(|s| s.applies_to(r.group(), r.kind()))
                });
            }
            Some("LabelTransformer") => pairs_transformer(&origin, &cfg, "labels", ra)?,
            Some("AnnotationsTransformer") => pairs_transformer(&origin, &cfg, "annotations", ra)?,
            _ => {
                let frag = transformer_fragment(&origin, &cfg)?;
                let frag = Kustomization::parse(&origin, strip_nulls(frag), b.warnings)?;
                b.transform(dir, kfile, &frag, ra)?;
            }
        }
    }
    Ok(())
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}
