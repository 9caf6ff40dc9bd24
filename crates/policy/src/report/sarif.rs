//! SARIF 2.1.0: one run, a rule per rule id seen, a result per finding with its file and
//! line (`physicalLocation`) and the object/field as a logical location.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Report;
use crate::finding::{Finding, Severity};

fn rule_description(id: &str) -> String {
    if let Some(name) = id.strip_prefix("builtin.")
        && let Some(b) = crate::rego::BUILTINS.iter().find(|b| b.name == name)
    {
        return format!("Built-in policy {name}: {}", b.summary);
    }
    match id.split('.').next() {
        Some("schema") => format!("Kubernetes schema: {id}"),
        Some("yaml") => format!("YAML: {id}"),
        Some("structure") => format!("Repository structure: {id}"),
        Some("deprecation") => format!("Deprecated or removed API version: {id}"),
        _ => format!("Policy rule {id}"),
    }
}

fn location(f: &Finding) -> Option<Value> {
    let file = f.file.as_deref()?;
    let mut physical = json!({"artifactLocation": {"uri": file}});
    if let Some(line) = f.line {
        let mut region = json!({"startLine": line});
        if let Some(c) = f.column {
            region["startColumn"] = json!(c);
        }
        physical["region"] = region;
    }
    let mut loc = json!({"physicalLocation": physical});
    if let Some(o) = &f.object {
        let name = match &f.field {
            Some(field) => format!("{o}/{field}"),
            None => o.to_string(),
        };
        loc["logicalLocations"] = json!([{"fullyQualifiedName": name, "kind": "object"}]);
    }
    Some(loc)
}

pub fn sarif(report: &Report) -> Value {
    let mut rules: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &report.findings {
        let n = rules.len();
        rules.entry(f.rule.as_str()).or_insert(n);
    }
    let mut ordered: Vec<(&str, usize)> = rules.iter().map(|(k, v)| (*k, *v)).collect();
    ordered.sort_by_key(|(_, i)| *i);
    let rule_defs: Vec<Value> = ordered
        .iter()
        .map(|(id, _)| json!({"id": id, "name": id, "shortDescription": {"text": rule_description(id)}}))
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut text = f.message.clone();
            if let Some(o) = &f.object {
                text = format!("{o}: {text}");
            }
            if !f.environment.is_empty() {
                text = format!("({}) {text}", f.environment);
            }
            let mut r = json!({
                "ruleId": f.rule,
                "ruleIndex": rules[f.rule.as_str()],
                "level": match f.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "message": {"text": text},
                "properties": {"check": f.check.as_str(), "environment": f.environment, "field": f.field},
            });
            if let Some(loc) = location(f) {
                r["locations"] = json!([loc]);
            }
            r
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "driftless",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/driftless/docs/VALIDATION.md",
                "rules": rule_defs
            }},
            "results": results
        }]
    })
}
