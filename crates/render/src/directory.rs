//! The directory renderer (Argo CD's `directory` source type): every `.yaml`, `.yml` and `.json`
//! file under the app path, optionally recursive, filtered by include/exclude globs matched
//! against the path relative to the app directory. Files in path order, documents in file order.

use driftless_core::source::{NodeKind, Tree};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::manifest::{LoadedObject, load_file};
use crate::{Inputs, RenderError, RenderLimits};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectoryOptions {
    #[serde(default)]
    pub recurse: bool,
    /// Globs (`*.yaml`, `{a,b}.yaml`, `apps/**`); empty means every manifest file.
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

fn globs(patterns: &[String], field: &str, app: &str) -> Result<Option<GlobSet>, RenderError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        // Argo CD accepts a brace list as one pattern; globset does too.
        let g = Glob::new(p).map_err(|e| {
            RenderError::invalid(
                app,
                Some(format!("directory.{field}[{i}]")),
                e.kind().to_string(),
            )
        })?;
        b.add(g);
    }
    Ok(Some(b.build().map_err(|e| {
        RenderError::invalid(app, Some(format!("directory.{field}")), e.to_string())
    })?))
}

pub(crate) fn render(
    tree: &Tree<'_>,
    app: &str,
    opts: &DirectoryOptions,
    limits: &RenderLimits,
    inputs: &mut Inputs,
    warnings: &mut Vec<String>,
) -> Result<Vec<LoadedObject>, RenderError> {
    let include = globs(&opts.include, "include", app)?;
    let exclude = globs(&opts.exclude, "exclude", app)?;
    if !tree.is_dir(app).map_err(|e| RenderError::source(app, e))? {
        return Err(RenderError::source(
            app,
            driftless_core::source::SourceError::NotADirectory { path: app.into() },
        ));
    }
    inputs.add(app);
    let mut files = Vec::new();
    walk(tree, app, "", opts.recurse, &mut files)?;
    let mut out = Vec::new();
    for rel in files {
        let lower = rel.to_ascii_lowercase();
        if !(lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json")) {
            continue;
        }
        if include.as_ref().is_some_and(|g| !g.is_match(&rel))
            || exclude.as_ref().is_some_and(|g| g.is_match(&rel))
        {
            continue;
        }
        let path = if app.is_empty() {
            rel.clone()
        } else {
            format!("{app}/{rel}")
        };
        let (objs, warns) = load_file(tree, &path, limits)?;
        warnings.extend(
            warns
                .into_iter()
                .map(|w| format!("{path}#{}{}: {}", w.document, w.pointer, w.message)),
        );
        out.extend(objs);
        if out.len() > limits.max_objects {
            return Err(RenderError::Cap {
                what: "objects",
                limit: limits.max_objects,
            });
        }
    }
    Ok(out)
}

fn walk(
    tree: &Tree<'_>,
    app: &str,
    rel: &str,
    recurse: bool,
    out: &mut Vec<String>,
) -> Result<(), RenderError> {
    let dir = match (app.is_empty(), rel.is_empty()) {
        (_, true) => app.to_string(),
        (true, false) => rel.to_string(),
        (false, false) => format!("{app}/{rel}"),
    };
    for (name, path) in tree.list(&dir).map_err(|e| RenderError::source(&dir, e))? {
        if name.starts_with('.') {
            continue; // .git, .github, editor droppings: never manifests
        }
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        match tree
            .kind(&path)
            .map_err(|e| RenderError::source(&path, e))?
        {
            Some(NodeKind::Dir) if recurse => walk(tree, app, &child_rel, recurse, out)?,
            Some(NodeKind::File) => out.push(child_rel),
            _ => {}
        }
    }
    Ok(())
}
