//! The render cache: a render is reused while none of its inputs changed.
//!
//! An entry remembers, per application, the renderer parameters and the content id (Git tree
//! or blob id) of every input path the render read. A lookup recomputes only those ids at the
//! new commit: a commit that does not touch an app's directory, its bases or its patch files
//! costs a few tree lookups and no render. Keys are compared in full (no hash-only keys), so
//! a collision cannot serve another app's objects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use driftless_core::source::{SourceTree, Tree};

use crate::{RENDERER_VERSION, RenderError, RenderLimits, Rendered, RendererSpec, render};

/// Whether a render came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Miss,
}

struct Entry {
    params: String,
    inputs: Vec<(String, String)>,
    rendered: Arc<Rendered>,
}

#[derive(Default)]
pub struct RenderCache {
    entries: Mutex<HashMap<String, Entry>>,
}

fn params(path: &str, spec: &RendererSpec, limits: &RenderLimits) -> String {
    format!(
        "{RENDERER_VERSION}\n{path}\n{}\n{limits:?}",
        serde_json::to_string(spec).unwrap_or_default()
    )
}

impl RenderCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Renders `path` for application `app`, reusing the last render when its inputs are unchanged.
    pub fn render(
        &self,
        app: &str,
        tree: &dyn SourceTree,
        path: &str,
        spec: &RendererSpec,
        limits: &RenderLimits,
    ) -> Result<(Arc<Rendered>, CacheOutcome), RenderError> {
        let params = params(path, spec, limits);
        let t = Tree::new(tree);
        {
            let entries = self.entries.lock().expect("render cache lock");
            if let Some(e) = entries.get(app).filter(|e| e.params == params) {
                let unchanged = e
                    .inputs
                    .iter()
                    .all(|(p, id)| t.content_id(p).is_ok_and(|now| now == *id));
                if unchanged {
                    return Ok((e.rendered.clone(), CacheOutcome::Hit));
                }
            }
        }
        let rendered = Arc::new(render(tree, path, spec, limits)?);
        // An input that vanished mid-way simply makes the entry unusable next time.
        let inputs = rendered
            .inputs
            .iter()
            .map(|p| (p.clone(), t.content_id(p).unwrap_or_default()))
            .collect();
        self.entries.lock().expect("render cache lock").insert(
            app.to_string(),
            Entry {
                params,
                inputs,
                rendered: rendered.clone(),
            },
        );
        Ok((rendered, CacheOutcome::Miss))
    }

    /// Applications whose recorded inputs overlap `changed` (paths that differ between two
    /// commits): an input equal to a changed path, inside a changed directory, or a directory
    /// containing a changed path. Apps not listed here would be cache hits at the new commit.
    pub fn affected_by(&self, changed: &[String]) -> Vec<String> {
        let overlaps = |input: &str, path: &str| {
            input.is_empty()
                || input == path
                || input.starts_with(&format!("{path}/"))
                || path.starts_with(&format!("{input}/"))
        };
        let entries = self.entries.lock().expect("render cache lock");
        let mut apps: Vec<String> = entries
            .iter()
            .filter(|(_, e)| {
                e.inputs
                    .iter()
                    .any(|(input, _)| changed.iter().any(|c| overlaps(input, c)))
            })
            .map(|(app, _)| app.clone())
            .collect();
        apps.sort();
        apps
    }

    /// Forgets everything (the next render of every app is a miss).
    pub fn clear(&self) {
        self.entries.lock().expect("render cache lock").clear();
    }

    pub fn len(&self) -> usize {
        self.entries.lock().expect("render cache lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
