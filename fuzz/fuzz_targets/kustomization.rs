//! Kustomization files, through driftless_render's public API: the fuzzed bytes are
//! `app/kustomization.yaml` of an in-memory tree that also holds a base, a Deployment, a
//! patch and a values file it may name.
#![no_main]
use std::collections::BTreeMap;

use driftless_core::source::{NodeKind, SourceError, SourceTree};
use driftless_render::{RenderLimits, RendererSpec, render};
use libfuzzer_sys::fuzz_target;

struct MemTree(BTreeMap<String, Vec<u8>>);

impl SourceTree for MemTree {
    fn describe(&self) -> String {
        "fuzz".into()
    }
    fn lstat(&self, path: &str) -> Result<Option<NodeKind>, SourceError> {
        if self.0.contains_key(path) {
            return Ok(Some(NodeKind::File));
        }
        let dir = format!("{path}/");
        Ok((path.is_empty() || self.0.keys().any(|k| k.starts_with(&dir))).then_some(NodeKind::Dir))
    }
    fn read_raw(&self, path: &str, max_bytes: usize) -> Result<Vec<u8>, SourceError> {
        let mut b = self.0.get(path).cloned().unwrap_or_default();
        b.truncate(max_bytes);
        Ok(b)
    }
    fn list_raw(&self, path: &str) -> Result<Vec<String>, SourceError> {
        let prefix = if path.is_empty() { String::new() } else { format!("{path}/") };
        let mut out: Vec<String> = self
            .0
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|k| k.split('/').next().unwrap_or_default().to_string())
            .collect();
        out.dedup();
        Ok(out)
    }
    fn content_id(&self, path: &str) -> Result<String, SourceError> {
        Ok(format!("{path}:{}", self.0.get(path).map_or(0, Vec::len)))
    }
}

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx:1.0}]}\n";

fuzz_target!(|data: &[u8]| {
    let mut files = BTreeMap::new();
    files.insert("app/kustomization.yaml".to_string(), data.to_vec());
    files.insert("app/deploy.yaml".to_string(), DEPLOY.as_bytes().to_vec());
    files.insert("app/patch.yaml".to_string(), b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n".to_vec());
    files.insert("app/values.env".to_string(), b"A=1\nB=2\n".to_vec());
    files.insert("base/kustomization.yaml".to_string(), b"resources: [cm.yaml]\n".to_vec());
    files.insert("base/cm.yaml".to_string(), b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n".to_vec());
    let tree = MemTree(files);
    let limits = RenderLimits {
        max_objects: 500,
        ..RenderLimits::default()
    };
    let _ = render(&tree, "app", &RendererSpec::Kustomize, &limits);
});
