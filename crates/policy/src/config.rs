//! The team's validation rules: a `ValidationConfig` definition kept in the repository
//! (`driftless.yaml` at the root by default; other documents in that file are ignored, so it
//! can share the file with other definitions).
//!
//! ```yaml
//! apiVersion: driftless.dev/v1alpha1
//! kind: ValidationConfig
//! metadata: {name: shop}
//! spec:
//!   kubernetesVersion: "1.36"
//!   structure:
//!     requiredDirectories: [applications, environments, clusters, policies]
//!     environments:
//!       directory: environments
//!       requiredFiles: ["kustomization.yaml|kustomization.yml|Kustomization"]
//!       names: [dev, staging, prod]
//!     naming:
//!       - files: "applications/*"
//!         pattern: "^[a-z0-9-]+\\.ya?ml$"
//!   schema: {crds: [crds], files: [], ignoreMissingSchemas: false}
//!   policies:
//!     directories: [policies]
//!     builtin: [no-latest-tag, {name: required-labels, parameters: {labels: [team]}}]
//! ```

use serde::Deserialize;
use serde_json::Value;

use crate::finding::Severity;
use crate::rego::EnabledBuiltin;

pub const API_VERSION: &str = "driftless.dev/v1alpha1";
pub const KIND: &str = "ValidationConfig";
/// Where the definition is looked for when none is named.
pub const DEFAULT_FILE: &str = "driftless.yaml";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidationConfig {
    /// Target Kubernetes version (`1.36`): schema and deprecations.
    #[serde(default = "default_version")]
    pub kubernetes_version: String,
    #[serde(default)]
    pub structure: Structure,
    /// What to render; empty: the repository's Applications, else each environment directory.
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default)]
    pub schema: SchemaConfig,
    #[serde(default)]
    pub policies: PolicyConfig,
}

fn default_version() -> String {
    crate::schema::EMBEDDED_VERSION.to_string()
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            kubernetes_version: default_version(),
            structure: Structure::default(),
            targets: Vec::new(),
            schema: SchemaConfig::default(),
            policies: PolicyConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Structure {
    #[serde(default)]
    pub required_directories: Vec<String>,
    #[serde(default)]
    pub required_files: Vec<String>,
    #[serde(default)]
    pub environments: Environments,
    #[serde(default)]
    pub naming: Vec<NamingRule>,
}

/// Each subdirectory of `directory` is an environment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Environments {
    #[serde(default = "default_env_dir")]
    pub directory: String,
    /// Files every environment must hold; `a|b` accepts either.
    #[serde(default = "default_env_files")]
    pub required_files: Vec<String>,
    /// Environments that must exist.
    #[serde(default)]
    pub names: Vec<String>,
}

fn default_env_dir() -> String {
    "environments".into()
}

fn default_env_files() -> Vec<String> {
    vec!["kustomization.yaml|kustomization.yml|Kustomization".into()]
}

impl Default for Environments {
    fn default() -> Self {
        Environments {
            directory: default_env_dir(),
            required_files: default_env_files(),
            names: Vec::new(),
        }
    }
}

/// Files matching the glob `files` must have a base name matching the regex `pattern`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamingRule {
    pub files: String,
    pub pattern: String,
    #[serde(default)]
    pub message: Option<String>,
}

/// One thing to render: a name (the environment or application) and a repository path.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchemaConfig {
    /// Another Kubernetes version's OpenAPI documents (replace the embedded v1.36 schema).
    #[serde(default)]
    pub files: Vec<String>,
    /// Files or directories holding CustomResourceDefinitions.
    #[serde(default)]
    pub crds: Vec<String>,
    /// Custom resources without a CRD are skipped instead of reported.
    #[serde(default)]
    pub ignore_missing_schemas: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyConfig {
    /// Directories of the team's `.rego` modules.
    #[serde(default = "default_policy_dirs")]
    pub directories: Vec<String>,
    #[serde(default)]
    pub builtin: Vec<BuiltinEntry>,
}

fn default_policy_dirs() -> Vec<String> {
    vec!["policies".into()]
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            directories: default_policy_dirs(),
            builtin: Vec::new(),
        }
    }
}

/// A built-in switched on: its name, or the name with a severity and parameters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum BuiltinEntry {
    Name(String),
    Full {
        name: String,
        #[serde(default)]
        severity: Option<Severity>,
        #[serde(default)]
        parameters: Option<Value>,
    },
}

impl BuiltinEntry {
    pub fn enabled(&self) -> EnabledBuiltin {
        match self {
            BuiltinEntry::Name(n) => EnabledBuiltin {
                name: n.clone(),
                severity: Severity::Error,
                parameters: Value::Null,
            },
            BuiltinEntry::Full {
                name,
                severity,
                parameters,
            } => EnabledBuiltin {
                name: name.clone(),
                severity: severity.unwrap_or(Severity::Error),
                parameters: parameters.clone().unwrap_or(Value::Null),
            },
        }
    }
}

/// A definition that is not a valid `ValidationConfig`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    pub origin: String,
    pub message: String,
}

/// Finds the `ValidationConfig` among the documents of a file. `Ok(None)`: the file holds
/// none.
pub fn from_file(text: &str, origin: &str) -> Result<Option<ValidationConfig>, ConfigError> {
    let err = |message: String| ConfigError {
        origin: origin.to_string(),
        message,
    };
    let docs = driftless_core::yaml::parse_stream(text, &Default::default())
        .map_err(|e| err(e.to_string()))?;
    let mut found = None;
    for d in docs {
        if d.value.get("kind").and_then(Value::as_str) != Some(KIND) {
            continue;
        }
        let api = d
            .value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if api != API_VERSION {
            return Err(err(format!(
                "document {}: `apiVersion` must be {API_VERSION}, found {api:?}",
                d.index
            )));
        }
        if found.is_some() {
            return Err(err(format!(
                "document {}: a second ValidationConfig",
                d.index
            )));
        }
        let spec = d
            .value
            .get("spec")
            .cloned()
            .unwrap_or(Value::Object(Default::default()));
        let config: ValidationConfig = serde_json::from_value(spec)
            .map_err(|e| err(format!("document {}: `spec`: {e}", d.index)))?;
        if crate::deprecation::parse_minor(&config.kubernetes_version).is_none() {
            return Err(err(format!(
                "document {}: `spec.kubernetesVersion` must look like 1.36, found {:?}",
                d.index, config.kubernetes_version
            )));
        }
        found = Some(config);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_shape_and_errors_named() {
        let text = r#"
apiVersion: driftless.dev/v1alpha1
kind: Application
metadata: {name: other}
---
apiVersion: driftless.dev/v1alpha1
kind: ValidationConfig
metadata: {name: shop}
spec:
  kubernetesVersion: "1.30"
  structure:
    requiredDirectories: [applications]
    environments: {names: [dev]}
  policies:
    builtin: [no-latest-tag, {name: probes, severity: warning}]
"#;
        let c = from_file(text, "driftless.yaml").unwrap().unwrap();
        assert_eq!(c.kubernetes_version, "1.30");
        assert_eq!(c.structure.environments.directory, "environments");
        assert_eq!(c.policies.directories, vec!["policies"]);
        let probes = c.policies.builtin[1].enabled();
        assert_eq!(
            (probes.name.as_str(), probes.severity),
            ("probes", Severity::Warning)
        );
        let bad = text.replace("requiredDirectories", "requiredDirs");
        let e = from_file(&bad, "driftless.yaml").unwrap_err();
        assert!(e.to_string().contains("requiredDirs"), "{e}");
        assert!(from_file("kind: ConfigMap\n", "x").unwrap().is_none());
    }
}
