//! Output touches: `buildMetadata: [originAnnotations]` (where each object came from) and
//! the sorted keys kustomize prints.

use driftless_core::object;
use serde_json::Value;

use super::Resource;

/// The origin kustomize records in `config.kubernetes.io/origin`.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A resource file (repository path).
    File(String),
    /// A generator: the file configuring it, its kind and the config's own name.
    Generator {
        configured_in: String,
        kind: String,
        name: Option<String>,
    },
}

/// `path` relative to the directory `from` (both repository paths).
fn relative(from: &str, path: &str) -> String {
    let f: Vec<&str> = from.split('/').filter(|s| !s.is_empty()).collect();
    let p: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let common = f.iter().zip(&p).take_while(|(a, b)| a == b).count();
    let mut out: Vec<&str> = vec![".."; f.len() - common];
    out.extend(&p[common..]);
    out.join("/")
}

/// kustomize's `config.kubernetes.io/origin` annotation, paths relative to the build root.
pub(super) fn annotate_origin(root: &str, r: &mut Resource) {
    let text = match &r.source {
        None => return,
        Some(Source::File(p)) => format!("path: {}\n", relative(root, p)),
        Some(Source::Generator {
            configured_in,
            kind,
            name,
        }) => {
            let mut t = format!(
                "configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n",
                relative(root, configured_in)
            );
            if let Some(n) = name {
                t.push_str(&format!("  name: {n}\n"));
            }
            t
        }
    };
    if let Some(m) = object::ensure_map(&mut r.obj, &["metadata", "annotations"]) {
        m.insert("config.kubernetes.io/origin".into(), Value::String(text));
    }
}

pub(super) fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sort_keys).collect()),
        other => other,
    }
}
