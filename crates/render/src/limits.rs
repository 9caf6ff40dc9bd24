//! Caps applied to one render, whatever the renderer.

use driftless_core::yaml;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    /// Largest single input file.
    pub max_file_bytes: usize,
    /// Most objects in one render.
    pub max_objects: usize,
    /// Largest total size of everything read or produced (plugin stdout included).
    pub max_total_bytes: usize,
    /// Bounds on each YAML stream.
    pub yaml: yaml::Limits,
    /// kustomize's `--load-restrictor LoadRestrictionsNone`: a kustomization may read files
    /// (patches, generator inputs, resource files) outside its own directory. Off by default,
    /// as in kustomize; the repository root is never left either way.
    pub kustomize_files_outside_root: bool,
}

impl Default for RenderLimits {
    fn default() -> Self {
        RenderLimits {
            max_file_bytes: 4 * 1024 * 1024,
            max_objects: 20_000,
            max_total_bytes: 64 * 1024 * 1024,
            yaml: yaml::Limits::default(),
            kustomize_files_outside_root: false,
        }
    }
}
