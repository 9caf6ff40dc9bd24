//! The outcome of validating a repository and its four renderings: human text, JSON (the
//! CI artifact, `gitops-validation-report.json`), JUnit XML (a test suite per environment)
//! and SARIF 2.1.0 (code-scanning annotations with file and line).

mod junit;
mod sarif;
mod text;

use serde::Serialize;
use serde_json::{Value, json};

use crate::finding::{Check, Finding, ObjectRef, Severity};

pub use junit::junit;
pub use sarif::sarif;
pub use text::text;

/// One environment (or application) that was rendered and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentReport {
    pub name: String,
    /// Repository path rendered.
    pub path: String,
    /// Every rendered object with the file it came from.
    pub objects: Vec<(ObjectRef, String)>,
    /// False when rendering failed (the reason is among the findings).
    pub rendered: bool,
}

/// Everything a report shows.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub kubernetes_version: String,
    /// The repository (path or URL, credentials removed) and revision validated.
    pub source: String,
    pub revision: Option<String>,
    pub environments: Vec<EnvironmentReport>,
    pub findings: Vec<Finding>,
}

/// Counts of errors and warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
}

impl Counts {
    fn of<'a>(findings: impl Iterator<Item = &'a Finding>) -> Self {
        let mut c = Counts::default();
        for f in findings {
            match f.severity {
                Severity::Error => c.errors += 1,
                Severity::Warning => c.warnings += 1,
            }
        }
        c
    }

    fn status(self) -> &'static str {
        if self.errors > 0 { "failed" } else { "passed" }
    }
}

impl Report {
    pub fn counts(&self) -> Counts {
        Counts::of(self.findings.iter())
    }

    pub fn objects(&self) -> usize {
        self.environments.iter().map(|e| e.objects.len()).sum()
    }

    /// Findings sorted for reading: by environment, file, line, then rule.
    pub fn sort(&mut self) {
        self.findings.sort_by(|a, b| {
            (&a.environment, &a.file, a.line, &a.rule, &a.message).cmp(&(
                &b.environment,
                &b.file,
                b.line,
                &b.rule,
                &b.message,
            ))
        });
    }

    /// The JSON report.
    pub fn json(&self) -> Value {
        let c = self.counts();
        let checks: Vec<Value> = Check::ALL
            .iter()
            .map(|check| {
                let n = Counts::of(self.findings.iter().filter(|f| f.check == *check));
                json!({"name": check.as_str(), "status": n.status(), "errors": n.errors, "warnings": n.warnings})
            })
            .collect();
        let envs: Vec<Value> = self
            .environments
            .iter()
            .map(|e| {
                let n = Counts::of(self.findings.iter().filter(|f| f.environment == e.name));
                let by_check: serde_json::Map<String, Value> = Check::ALL
                    .iter()
                    .map(|check| {
                        let k = Counts::of(self.findings.iter().filter(|f| f.environment == e.name && f.check == *check));
                        (check.as_str().to_string(), json!({"errors": k.errors, "warnings": k.warnings}))
                    })
                    .collect();
                json!({"name": e.name, "path": e.path, "rendered": e.rendered, "status": if e.rendered { n.status() } else { "failed" },
                       "objects": e.objects.len(), "errors": n.errors, "warnings": n.warnings, "checks": by_check})
            })
            .collect();
        json!({
            "tool": {"name": "driftless", "version": env!("CARGO_PKG_VERSION")},
            "source": self.source,
            "revision": self.revision,
            "kubernetesVersion": self.kubernetes_version,
            "status": c.status(),
            "summary": {"errors": c.errors, "warnings": c.warnings, "environments": self.environments.len(), "objects": self.objects()},
            "checks": checks,
            "environments": envs,
            "findings": self.findings,
        })
    }
}

/// XML text and attribute escaping (JUnit).
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}
