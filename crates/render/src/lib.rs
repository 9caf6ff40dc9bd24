//! Rendering: a path of a source tree → a [`DesiredSet`].
//!
//! Three renderers, chosen per application ([`RendererSpec`]):
//! - [`directory`]: plain YAML/JSON files;
//! - [`kustomize`]: a native Rust kustomize (no binary needed);
//! - [`plugin`]: an external command (`helm template`, `jsonnet`, ...) whose stdout is a YAML stream.
//!
//! Every renderer reads through [`Tree`], so no path or symlink can leave the repository root,
//! and records the inputs it read ([`Inputs`]) so [`cache::RenderCache`] can tell whether a new
//! commit touched them. Rendering does no network I/O; only the plugin renderer runs a process.

pub mod cache;
pub mod directory;
pub mod edit_yaml;
mod error;
pub mod kustomize;
mod limits;
pub mod local;
pub mod manifest;
pub mod plugin;

use std::collections::BTreeSet;

use driftless_core::DesiredSet;
use driftless_core::source::{SourceTree, Tree};
use serde::{Deserialize, Serialize};

pub use error::RenderError;
pub use limits::RenderLimits;

/// Bumped whenever a renderer's output can change for the same input; part of every cache key.
pub const RENDERER_VERSION: &str = concat!("driftless-render/", env!("CARGO_PKG_VERSION"), "/1");

/// Which renderer to use for an application path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum RendererSpec {
    /// Kustomize when the path holds a kustomization file, a plain directory otherwise.
    Auto,
    Directory(directory::DirectoryOptions),
    Kustomize,
    Plugin(plugin::PluginSpec),
}

/// The renderer an Application's source asks for: `directory` (recurse, include/exclude
/// globs in Argo CD's `{a,b}` form), `kustomize`, `helm` or a named `plugin`; otherwise
/// [`RendererSpec::Auto`].
pub fn spec_for(source: &driftless_core::app::AppSource) -> Result<RendererSpec, String> {
    if let Some(d) = &source.directory {
        let split = |s: &str| -> Vec<String> {
            s.trim_matches(|c| c == '{' || c == '}')
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect()
        };
        return Ok(RendererSpec::Directory(directory::DirectoryOptions {
            recurse: d.recurse,
            include: split(&d.include),
            exclude: split(&d.exclude),
        }));
    }
    if source.kustomize.is_some() {
        return Ok(RendererSpec::Kustomize);
    }
    let plugin = match (&source.helm, &source.plugin) {
        (Some(_), _) => "helm",
        (None, Some(p)) => p.name.as_str(),
        (None, None) => return Ok(RendererSpec::Auto),
    };
    plugin::preset(plugin)
        .map(RendererSpec::Plugin)
        .ok_or_else(|| format!("unknown plugin `{plugin}` (known: helm, kustomize)"))
}

/// Paths (files or directories) a render depended on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs(BTreeSet<String>);

impl Inputs {
    pub fn add(&mut self, path: &str) {
        self.0.insert(path.to_string());
    }

    /// The inputs with every path that lies inside another input removed: a directory's
    /// content id covers everything below it.
    pub fn minimal(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.0 {
            // BTreeSet order puts a directory right before its children.
            let covered = out
                .iter()
                .any(|d| d.is_empty() || p == d || p.starts_with(&format!("{d}/")));
            if !covered {
                out.push(p.clone());
            }
        }
        out
    }
}

/// The result of one render.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub set: DesiredSet,
    /// Things the user probably did not mean (YAML 1.1 scalars, deprecated fields).
    pub warnings: Vec<String>,
    /// Minimal list of paths whose content determines the output.
    pub inputs: Vec<String>,
}

/// Renders `path` of `tree` with `spec`.
pub fn render(
    tree: &dyn SourceTree,
    path: &str,
    spec: &RendererSpec,
    limits: &RenderLimits,
) -> Result<Rendered, RenderError> {
    let tree = Tree::new(tree);
    let path = driftless_core::source::join("", path).map_err(|e| RenderError::source(path, e))?;
    let mut inputs = Inputs::default();
    let mut warnings = Vec::new();
    let spec = match spec {
        RendererSpec::Auto
            if kustomize::find_kustomization(&tree, &path)
                .map_err(|e| RenderError::source(&path, e))?
                .is_some() =>
        {
            &RendererSpec::Kustomize
        }
        RendererSpec::Auto => &RendererSpec::Directory(Default::default()),
        other => other,
    };
    let objects = match spec {
        RendererSpec::Directory(opts) => {
            directory::render(&tree, &path, opts, limits, &mut inputs, &mut warnings)?
        }
        RendererSpec::Kustomize => {
            kustomize::build(&tree, &path, limits, &mut inputs, &mut warnings)?
        }
        RendererSpec::Plugin(p) => plugin::render(&tree, &path, p, limits, &mut inputs)?,
        RendererSpec::Auto => unreachable!("resolved above"),
    };
    if objects.len() > limits.max_objects {
        return Err(RenderError::Cap {
            what: "objects",
            limit: limits.max_objects,
        });
    }
    let set = DesiredSet::from_objects(objects.into_iter().map(|o| (o.object, o.origin))).map_err(
        |e| match e {
            driftless_core::desired::DesiredSetError::Duplicate(d) => RenderError::Duplicate(d),
            driftless_core::desired::DesiredSetError::Unkeyed { origin } => RenderError::invalid(
                &origin,
                None,
                "object has no apiVersion, kind or metadata.name",
            ),
        },
    )?;
    Ok(Rendered {
        set,
        warnings,
        inputs: inputs.minimal(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_inputs_drop_nested_paths() {
        let mut i = Inputs::default();
        for p in [
            "apps/web/overlays/dev",
            "apps/web/base",
            "apps/web/base/deploy.yaml",
            "apps/web/overlays/dev/patch.yaml",
            "apps/webx",
        ] {
            i.add(p);
        }
        assert_eq!(
            i.minimal(),
            vec!["apps/web/base", "apps/web/overlays/dev", "apps/webx"]
        );
    }
}
