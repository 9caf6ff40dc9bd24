//! [`Finding`]: one thing validation found, with everything a report or a refused sync needs
//! to say where it is (environment, file, line, object, field) and which rule said so.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How bad a finding is: errors fail `driftless validate` (exit 1) and stop the sync gate;
/// warnings are reported only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Which check produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// Repository layout: required directories and files, naming patterns.
    Structure,
    /// YAML syntax, duplicate keys, files that do not render.
    Yaml,
    /// Kubernetes OpenAPI and CRD schemas.
    Schema,
    /// Rego policies (built-in and the team's).
    Policy,
    /// Deprecated or removed API versions.
    Deprecation,
}

impl Check {
    pub const ALL: [Check; 5] = [
        Check::Structure,
        Check::Yaml,
        Check::Schema,
        Check::Policy,
        Check::Deprecation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::Structure => "structure",
            Check::Yaml => "yaml",
            Check::Schema => "schema",
            Check::Policy => "policy",
            Check::Deprecation => "deprecation",
        }
    }
}

/// The object a finding is about, as written in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    /// Reads apiVersion, kind, namespace and name (missing ones empty).
    pub fn of(object: &Value) -> Self {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        let meta = object.get("metadata");
        ObjectRef {
            api_version: s(object.get("apiVersion")),
            kind: s(object.get("kind")),
            namespace: s(meta.and_then(|m| m.get("namespace"))),
            name: s(meta.and_then(|m| m.get("name"))),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    /// `apps/v1 Deployment shop/web`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ", self.api_version, self.kind)?;
        if !self.namespace.is_empty() {
            write!(f, "{}/", self.namespace)?;
        }
        f.write_str(&self.name)
    }
}

/// One result of validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub severity: Severity,
    pub check: Check,
    /// The environment or application the object was rendered for (empty for repository-wide
    /// findings).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub environment: String,
    /// Repository-relative file, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    /// Dotted path of the field at fault (`spec.template.spec.containers[0].image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Stable id of the rule (`schema.unknown-field`, `builtin.no-latest-tag`, `main.deny`).
    pub rule: String,
    pub message: String,
}

impl Finding {
    pub fn new(
        severity: Severity,
        check: Check,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            severity,
            check,
            environment: String::new(),
            file: None,
            line: None,
            column: None,
            object: None,
            field: None,
            rule: rule.into(),
            message: message.into(),
        }
    }

    pub fn error(check: Check, rule: impl Into<String>, message: impl Into<String>) -> Self {
        Finding::new(Severity::Error, check, rule, message)
    }

    pub fn warning(check: Check, rule: impl Into<String>, message: impl Into<String>) -> Self {
        Finding::new(Severity::Warning, check, rule, message)
    }

    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    pub fn at(mut self, line: Option<usize>, column: Option<usize>) -> Self {
        self.line = line;
        self.column = column;
        self
    }

    pub fn on(mut self, object: ObjectRef) -> Self {
        self.object = Some(object);
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        let f = field.into();
        self.field = (!f.is_empty()).then_some(f);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// One line for humans: `error[schema.unknown-field] environments/dev/web.yaml:3:5 apps/v1
    /// Deployment dev/web spec.replica: unknown field`.
    pub fn one_line(&self) -> String {
        let mut out = format!(
            "{}[{}]",
            match self.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            self.rule
        );
        if !self.environment.is_empty() {
            out.push_str(&format!(" ({})", self.environment));
        }
        if let Some(file) = &self.file {
            out.push(' ');
            out.push_str(file);
            if let Some(l) = self.line {
                out.push_str(&format!(":{l}"));
                if let Some(c) = self.column {
                    out.push_str(&format!(":{c}"));
                }
            }
        }
        if let Some(o) = &self.object {
            out.push_str(&format!(" {o}"));
        }
        if let Some(f) = &self.field {
            out.push_str(&format!(" `{f}`"));
        }
        out.push_str(": ");
        out.push_str(&self.message);
        out
    }
}

/// True when any finding is an error (the gate refuses, `validate` exits 1).
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(Finding::is_error)
}
