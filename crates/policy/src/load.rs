//! Reads what validation needs from a repository tree: the `ValidationConfig`, the team's Rego
//! modules, CRD files and other schema files. Used by `driftless validate` and the gate.

use driftless_core::source::{NodeKind, SourceTree, Tree};
use serde_json::Value;

use crate::config::{self, ValidationConfig};
use crate::rego::Module;
use crate::schema::{SchemaError, SchemaSet};

const MAX_FILE: usize = 16 * 1024 * 1024;
const MAX_FILES: usize = 10_000;

/// Why the repository's validation inputs could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

fn read(tree: &Tree, path: &str) -> Result<String, LoadError> {
    tree.read_string(path, MAX_FILE)
        .map_err(|e| LoadError::Read {
            path: path.into(),
            message: e.to_string(),
        })
}

/// The validation inputs of a repository.
#[derive(Debug, Clone, Default)]
pub struct RepoInputs {
    pub config: ValidationConfig,
    /// Where the config came from (`None`: defaults).
    pub config_file: Option<String>,
    pub modules: Vec<Module>,
    /// CustomResourceDefinition objects with their origin.
    pub crds: Vec<(Value, String)>,
}

/// Reads the config (`config_file`, else `driftless.yaml` when present), the modules of its
/// policy directories (missing directories are fine unless named explicitly) and its CRDs.
pub fn load(raw: &dyn SourceTree, config_file: Option<&str>) -> Result<RepoInputs, LoadError> {
    let tree = Tree::new(raw);
    let mut inputs = RepoInputs::default();
    let path = config_file.unwrap_or(config::DEFAULT_FILE);
    let present = tree.is_file(path).unwrap_or(false);
    if present || config_file.is_some() {
        let text = read(&tree, path)?;
        if let Some(c) = config::from_file(&text, path)? {
            inputs.config = c;
            inputs.config_file = Some(path.to_string());
        } else if config_file.is_some() {
            return Err(LoadError::Read {
                path: path.into(),
                message: format!("holds no {} document", config::KIND),
            });
        }
    }
    for dir in inputs.config.policies.directories.clone() {
        if tree.kind(&dir).ok().flatten().is_none() {
            continue;
        }
        inputs.modules.extend(modules(raw, &dir)?);
    }
    for p in inputs.config.schema.crds.clone() {
        inputs.crds.extend(crds(raw, &p)?);
    }
    Ok(inputs)
}

/// Files below `path` (or `path` itself) whose name ends with one of `exts`.
fn files(tree: &Tree, path: &str, exts: &[&str]) -> Result<Vec<String>, LoadError> {
    let err = |p: &str, e: driftless_core::source::SourceError| LoadError::Read {
        path: p.into(),
        message: e.to_string(),
    };
    let mut out = Vec::new();
    let mut stack = vec![path.to_string()];
    while let Some(p) = stack.pop() {
        match tree.kind(&p).map_err(|e| err(&p, e))? {
            Some(NodeKind::Dir) => {
                for (name, child) in tree.list(&p).map_err(|e| err(&p, e))? {
                    if !name.starts_with('.') {
                        stack.push(child);
                    }
                }
            }
            Some(_) if p == path || exts.iter().any(|e| p.ends_with(e)) => out.push(p),
            Some(_) => {}
            None => {
                return Err(LoadError::Read {
                    path: p,
                    message: "not found".into(),
                });
            }
        }
        if out.len() > MAX_FILES {
            return Err(LoadError::Read {
                path: path.into(),
                message: format!("more than {MAX_FILES} files"),
            });
        }
    }
    out.sort();
    Ok(out)
}

/// The `.rego` modules below `dir` (test files `*_test.rego` skipped, as conftest does).
pub fn modules(raw: &dyn SourceTree, dir: &str) -> Result<Vec<Module>, LoadError> {
    let tree = Tree::new(raw);
    files(&tree, dir, &[".rego"])?
        .into_iter()
        .filter(|f| !f.ends_with("_test.rego"))
        .map(|file| {
            Ok(Module {
                text: read(&tree, &file)?,
                file,
            })
        })
        .collect()
}

/// The CustomResourceDefinitions in the YAML/JSON files below `path`.
pub fn crds(raw: &dyn SourceTree, path: &str) -> Result<Vec<(Value, String)>, LoadError> {
    let tree = Tree::new(raw);
    let mut out = Vec::new();
    for file in files(&tree, path, &[".yaml", ".yml", ".json"])? {
        let text = read(&tree, &file)?;
        crds_in_text(&text, &file, &mut out)?;
    }
    Ok(out)
}

/// CRDs of one YAML/JSON stream (other documents ignored).
pub fn crds_in_text(
    text: &str,
    file: &str,
    out: &mut Vec<(Value, String)>,
) -> Result<(), LoadError> {
    let docs = driftless_core::yaml::parse_stream(text, &Default::default()).map_err(|e| {
        LoadError::Read {
            path: file.into(),
            message: e.to_string(),
        }
    })?;
    for d in docs {
        let items = match d.value.get("kind").and_then(Value::as_str) {
            Some("List") | Some("CustomResourceDefinitionList") => d
                .value
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            _ => vec![d.value],
        };
        for item in items {
            if is_crd(&item) {
                out.push((item, format!("{file}#{}", d.index)));
            }
        }
    }
    Ok(())
}

pub fn is_crd(v: &Value) -> bool {
    v.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
        && v.get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|a| a.starts_with("apiextensions.k8s.io/"))
}

/// A schema given as a file: an OpenAPI v2/v3 document (JSON or YAML) or the compact form.
pub fn schema_file(text: &str, origin: &str, into: &mut SchemaSet) -> Result<(), LoadError> {
    let doc: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => driftless_core::yaml::parse_one(text, &Default::default()).map_err(|e| {
            LoadError::Read {
                path: origin.into(),
                message: e.to_string(),
            }
        })?,
    };
    into.add_openapi(&doc, origin)?;
    Ok(())
}
