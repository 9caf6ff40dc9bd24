//! Where Lua health checks come from, and which one applies to a kind — pure functions, so
//! the engine can load them from anything (a definition, a ConfigMap, a checkout).
//!
//! Three forms, as a team migrating from Argo CD has them:
//! - a native list of `(selector, script)` pairs, or `HealthCheck` definitions
//!   (`apiVersion: driftless.dev/v1alpha1`, `spec.selector`, `spec.lua`);
//! - Argo CD's `argocd-cm` data: `resource.customizations.health.<group>_<Kind>` keys (or
//!   `.<Kind>` for the core group) and the older `resource.customizations` YAML block
//!   (`<group>/<Kind>: {health.lua: ...}`), given as the data map or as the whole ConfigMap;
//! - a directory laid out like Argo CD's `resource_customizations/<group>/<Kind>/health.lua`
//!   (`_` in a directory name stands for `*`, as in Argo CD's `_.crossplane.io/_`), given
//!   as `(relative path, text)` pairs ([`read_directory`] makes them from a real directory).
//!
//! Precedence, as Argo CD's `GetHealthScript`: configured checks (native first, then
//! argocd-cm, where a split key beats the old block) with the exact key, then configured
//! wildcards in configuration order, then the directory's exact key, then its wildcards.
//! Only then do the built-in checks run.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lua::{LuaCheck, LuaError};

/// Where a Lua check was configured, for the API and the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "from", rename_all = "camelCase")]
pub enum LuaOrigin {
    /// Driftless's own configuration (or a `--health-check` flag).
    Native,
    /// A key of Argo CD's `argocd-cm` ConfigMap data.
    ArgoConfigMap { key: String },
    /// A `health.lua` file of a `resource_customizations` directory.
    Directory { path: String },
}

impl std::fmt::Display for LuaOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Native => f.write_str("Driftless configuration"),
            Self::ArgoConfigMap { key } => write!(f, "argocd-cm {key}"),
            Self::Directory { path } => write!(f, "file {path}"),
        }
    }
}

const SPLIT_PREFIX: &str = "resource.customizations.health.";
const BLOCK_KEY: &str = "resource.customizations";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("argocd-cm `{key}`: {message}")]
    ArgoConfigMap { key: String, message: String },
    #[error("{origin}: {message}")]
    Document { origin: String, message: String },
    #[error("cannot read {path}: {message}")]
    Directory { path: String, message: String },
}

/// The Lua checks in effect, in Argo CD's order of precedence.
#[derive(Debug, Clone, Default)]
pub struct HealthChecks {
    /// Native checks: Driftless's own configuration, first among configured checks.
    native: Vec<LuaCheck>,
    /// argocd-cm checks: Argo CD's `ResourceOverrides`.
    argocd_cm: Vec<LuaCheck>,
    /// A `resource_customizations` directory (Argo CD's built-in scripts), by exact key.
    directory: BTreeMap<String, LuaCheck>,
    /// The directory's wildcard scripts (`_` in a directory name), sorted by path.
    directory_wild: Vec<LuaCheck>,
}

impl HealthChecks {
    /// Checks from a native list of `(selector, script)` pairs, in order.
    pub fn from_native<'a>(list: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut checks = Self::default();
        checks.add_native(list);
        checks
    }

    /// Adds native checks (after the native ones already there, before any argocd-cm one).
    pub fn add_native<'a>(&mut self, list: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (selector, script) in list {
            // As in Argo CD, an empty script is no check: the built-in one applies.
            if !script.is_empty() {
                self.native
                    .push(LuaCheck::parse(selector, script, LuaOrigin::Native));
            }
        }
    }

    /// Adds already built checks as configured ones (the CLI's `--health-check` flags).
    pub fn add_checks(&mut self, checks: impl IntoIterator<Item = LuaCheck>) {
        self.native.extend(checks);
    }

    /// Adds the health checks of an `argocd-cm` ConfigMap's `data`. Other keys are ignored,
    /// as Argo CD's other settings are no business of health.
    pub fn add_argocd_cm(&mut self, data: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        let mut found: Vec<LuaCheck> = Vec::new();
        for (key, script) in data {
            let Some(group_kind) = key.strip_prefix(SPLIT_PREFIX) else {
                continue;
            };
            if script.is_empty() {
                continue;
            }
            let selector = split_key_selector(group_kind).ok_or_else(|| {
                ConfigError::ArgoConfigMap {
                    key: key.clone(),
                    message: format!(
                        "expected resource.customizations.health.<group>_<Kind> or .<Kind>, got `{group_kind}`"
                    ),
                }
            })?;
            let origin = LuaOrigin::ArgoConfigMap { key: key.clone() };
            found.push(LuaCheck::parse(&selector, script, origin));
        }
        if let Some(block) = data.get(BLOCK_KEY) {
            for (selector, script) in parse_block(block)? {
                // A split key for the same kind wins over the old block, as in Argo CD.
                if found.iter().any(|c| c.selector == selector) {
                    continue;
                }
                let origin = LuaOrigin::ArgoConfigMap {
                    key: format!("{BLOCK_KEY}[{selector}]"),
                };
                found.push(LuaCheck::parse(&selector, &script, origin));
            }
        }
        self.argocd_cm.extend(found);
        Ok(())
    }

    /// Adds a `resource_customizations` directory, given as `(relative path, text)` pairs;
    /// only `<group>/<Kind>/health.lua` and `<Kind>/health.lua` files count (tests, actions
    /// and fixtures beside them are skipped).
    pub fn add_directory<'a>(&mut self, files: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut found: Vec<LuaCheck> = files
            .into_iter()
            .filter_map(|(path, text)| {
                let selector = directory_selector(path).filter(|_| !text.is_empty())?;
                let origin = LuaOrigin::Directory {
                    path: path.to_string(),
                };
                Some(LuaCheck::parse(&selector, text, origin))
            })
            .collect();
        found.sort_by(|a, b| a.selector.cmp(&b.selector));
        for check in found {
            if !check.is_exact() {
                self.directory_wild.push(check);
            } else if !self.directory.contains_key(check.key()) {
                self.directory.insert(check.key().to_string(), check);
            }
        }
    }

    /// Adds the checks a configuration document holds: Driftless's `HealthCheck` definition
    /// (`spec.selector`, `spec.lua`) or Argo CD's `argocd-cm` ConfigMap. `Ok(false)` for any
    /// other document; errors name `origin` (`file#document`) and the field at fault.
    pub fn add_document(&mut self, doc: &Value, origin: &str) -> Result<bool, ConfigError> {
        let err = |message: String| ConfigError::Document {
            origin: origin.to_string(),
            message,
        };
        if is_argocd_cm(doc) {
            let mut data = BTreeMap::new();
            for (k, v) in doc
                .get("data")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let v = v
                    .as_str()
                    .ok_or_else(|| err(format!("data.{k} must be a string")))?;
                data.insert(k.clone(), v.to_string());
            }
            self.add_argocd_cm(&data).map_err(|e| err(e.to_string()))?;
            return Ok(true);
        }
        if !is_native_definition(doc) {
            return Ok(false);
        }
        let field = |name: &str| {
            doc.pointer(&format!("/spec/{name}"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| err(format!("HealthCheck needs a non-empty string spec.{name}")))
        };
        let (selector, script) = (field("selector")?, field("lua")?);
        self.add_native([(selector, script)]);
        Ok(true)
    }

    /// The check for a kind, by Argo CD's precedence.
    pub fn find(&self, group: &str, kind: &str) -> Option<&LuaCheck> {
        let key = crate::lua::argo_key(group, kind);
        let core = group.is_empty();
        let exact = |c: &&LuaCheck| c.is_exact() && c.applies_to_key(&key, core);
        let wild = |c: &&LuaCheck| !c.is_exact() && c.applies_to_key(&key, core);
        let configured = || self.native.iter().chain(&self.argocd_cm);
        configured()
            .find(exact)
            .or_else(|| configured().find(wild))
            .or_else(|| self.directory.get(&key))
            .or_else(|| self.directory_wild.iter().find(wild))
    }

    /// Every check, configured ones first.
    pub fn iter(&self) -> impl Iterator<Item = &LuaCheck> {
        self.native
            .iter()
            .chain(&self.argocd_cm)
            .chain(self.directory.values())
            .chain(&self.directory_wild)
    }

    /// Scripts that do not compile: worth a warning at start-up (their kinds read Unknown).
    pub fn problems(&self) -> impl Iterator<Item = &LuaError> {
        self.iter().filter_map(LuaCheck::compile_error)
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// Argo CD's settings ConfigMap, as `kubectl get cm argocd-cm -o yaml` prints it.
pub fn is_argocd_cm(doc: &Value) -> bool {
    doc.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && doc.get("kind").and_then(Value::as_str) == Some("ConfigMap")
        && doc.pointer("/metadata/name").and_then(Value::as_str) == Some("argocd-cm")
}

/// `apiVersion: driftless.dev/v1alpha1`, `kind: HealthCheck`.
pub fn is_native_definition(doc: &Value) -> bool {
    doc.get("apiVersion").and_then(Value::as_str) == Some("driftless.dev/v1alpha1")
        && doc.get("kind").and_then(Value::as_str) == Some("HealthCheck")
}

/// `cert-manager.io_Certificate` → `cert-manager.io/Certificate`; `Pod` → `Pod`.
fn split_key_selector(group_kind: &str) -> Option<String> {
    match group_kind.split('_').collect::<Vec<_>>().as_slice() {
        [kind] if !kind.is_empty() => Some(kind.to_string()),
        [group, kind] if !group.is_empty() && !kind.is_empty() => Some(format!("{group}/{kind}")),
        _ => None,
    }
}

/// The old block: a YAML map from `group/Kind` to `{health.lua: script, ...}`.
fn parse_block(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let err = |message: String| ConfigError::ArgoConfigMap {
        key: BLOCK_KEY.into(),
        message,
    };
    let limits = driftless_core::yaml::Limits::default();
    let value = driftless_core::yaml::parse_one(text, &limits).map_err(|e| err(e.to_string()))?;
    let map = match value {
        Value::Object(map) => map,
        Value::Null => return Ok(Vec::new()),
        other => return Err(err(format!("expected a map of group/Kind, got {other}"))),
    };
    let mut out = Vec::new();
    for (selector, entry) in map {
        match entry.get("health.lua") {
            None | Some(Value::Null) => {}
            Some(Value::String(script)) if script.is_empty() => {}
            Some(Value::String(script)) => out.push((selector, script.clone())),
            Some(other) => {
                return Err(err(format!(
                    "{selector}: health.lua must be a string, got {other}"
                )));
            }
        }
    }
    Ok(out)
}

/// `cert-manager.io/Certificate/health.lua` → `cert-manager.io/Certificate`;
/// `_.crossplane.io/_/health.lua` → `*.crossplane.io/*`; `Pod/health.lua` → `Pod`.
fn directory_selector(path: &str) -> Option<String> {
    let path = path.replace('\\', "/");
    let parts: Vec<&str> = path
        .trim_start_matches("./")
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let (file, dirs) = parts.split_last()?;
    if *file != "health.lua" || dirs.is_empty() || dirs.len() > 2 {
        return None;
    }
    Some(dirs.join("/").replace('_', "*"))
}

/// Reads every `health.lua` under a `resource_customizations` directory as the
/// `(relative path, text)` pairs [`HealthChecks::add_directory`] takes.
pub fn read_directory(root: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    let mut pending = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = pending.pop() {
        let err = |e: std::io::Error| ConfigError::Directory {
            path: dir.display().to_string(),
            message: e.to_string(),
        };
        for entry in std::fs::read_dir(&dir).map_err(err)? {
            let path = entry.map_err(err)?.path();
            // `<group>/<Kind>/health.lua` is as deep as a check lives.
            if path.is_dir() && depth < 2 {
                pending.push((path, depth + 1));
            } else if path.file_name().is_some_and(|n| n == "health.lua") {
                let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Directory {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                let rel = path.strip_prefix(root).unwrap_or(&path);
                out.push((rel.to_string_lossy().replace('\\', "/"), text));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests;
