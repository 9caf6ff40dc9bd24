//! Reading kustomization files as kustomize reads them, and its load restrictor.

use driftless_core::source::{SourceError, Tree, join};
use driftless_core::yaml;
use serde_json::Value;

use super::KUSTOMIZATION_FILES;
use crate::{RenderError, RenderLimits};

/// Every kustomization file of `dir` (kustomize refuses a directory with more than one).
pub(super) fn kustomization_files(tree: &Tree<'_>, dir: &str) -> Result<Vec<String>, SourceError> {
    let mut found = Vec::new();
    for f in KUSTOMIZATION_FILES {
        let p = join(dir, f)?;
        if tree.is_file(&p)? {
            found.push(p);
        }
    }
    Ok(found)
}

/// Parses a kustomization file. Like kustomize, a key given twice keeps its last value.
pub(super) fn parse_kustomization_text(
    text: &str,
    limits: &RenderLimits,
) -> Result<Value, yaml::YamlError> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.yaml.max_depth;
    budget.max_nodes = limits.yaml.max_nodes;
    budget.max_documents = 1;
    let mut opts = serde_saphyr::Options::default();
    opts.budget = Some(budget);
    opts.legacy_octal_numbers = true;
    opts.with_snippet = false;
    opts.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    if text.len() <= limits.yaml.max_bytes
        && let Ok(v) = serde_saphyr::from_str_with_options::<Option<Value>>(text, opts)
    {
        return Ok(v.unwrap_or(Value::Null));
    }
    // The shared loader gives the error its file, document and line.
    yaml::parse_one(text, &limits.yaml)
}

/// kustomize's default load restrictor: a file a kustomization reads (resource, patch,
/// generator input) must lie in or below its directory; only kustomization directories
/// (bases, components) may be elsewhere.
pub(super) fn check_in_root(
    limits: &RenderLimits,
    kfile: &str,
    dir: &str,
    path: &str,
) -> Result<(), RenderError> {
    if limits.kustomize_files_outside_root
        || dir.is_empty()
        || path == dir
        || path.starts_with(&format!("{dir}/"))
    {
        return Ok(());
    }
    Err(RenderError::invalid(
        kfile,
        None,
        format!(
            "security; file '{path}' is not in or below '{dir}' (kustomize's load restrictor; refer to a kustomization directory instead)"
        ),
    ))
}
