//! Rego policies on [`regorus`]: the built-in library (embedded, switched on by name) and the
//! team's own modules, compiled once into a [`PolicySet`] and evaluated per object with the
//! object as `input` (conftest's convention: `deny`, `violation` and `warn` rules in any
//! package, each result a message or `{"msg": ..., "field": ...}`).
//!
//! One generated module (`driftless.gate`) gathers every rule's results, so an object costs
//! one evaluation whatever the number of policies. The engine is prepared once and cloned per
//! evaluating thread.

use std::time::Duration;

use serde_json::{Value, json};

use crate::finding::{Check, Finding, ObjectRef, Severity};

/// A built-in policy: its name (what a team enables), Rego package and source.
pub struct Builtin {
    pub name: &'static str,
    pub package: &'static str,
    pub summary: &'static str,
    source: &'static str,
}

macro_rules! builtin {
    ($name:literal, $pkg:literal, $file:literal, $summary:literal) => {
        Builtin {
            name: $name,
            package: concat!("driftless.builtin.", $pkg),
            summary: $summary,
            source: include_str!(concat!("../rego/", $file)),
        }
    };
}

/// The built-in library.
pub const BUILTINS: &[Builtin] = &[
    builtin!(
        "no-latest-tag",
        "no_latest_tag",
        "no_latest_tag.rego",
        "images carry a tag other than `latest`, or a digest"
    ),
    builtin!(
        "resources",
        "resources",
        "resources.rego",
        "containers set resource requests and limits (parameters `requests`, `limits`)"
    ),
    builtin!(
        "no-privileged",
        "no_privileged",
        "no_privileged.rego",
        "no privileged container, no privilege escalation"
    ),
    builtin!(
        "no-host-path",
        "no_host_path",
        "no_host_path.rego",
        "no hostPath volumes"
    ),
    builtin!(
        "no-host-namespaces",
        "no_host_namespaces",
        "no_host_namespaces.rego",
        "no hostNetwork, hostPID or hostIPC"
    ),
    builtin!(
        "run-as-non-root",
        "run_as_non_root",
        "run_as_non_root.rego",
        "containers run as non-root"
    ),
    builtin!(
        "probes",
        "probes",
        "probes.rego",
        "long-running containers have readiness and liveness probes"
    ),
    builtin!(
        "required-labels",
        "required_labels",
        "required_labels.rego",
        "objects carry the required labels (parameter `labels`)"
    ),
    builtin!(
        "no-default-namespace",
        "no_default_namespace",
        "no_default_namespace.rego",
        "nothing in the `default` namespace"
    ),
];

const LIB: &str = include_str!("../rego/lib.rego");

/// Longest a single object's evaluation may run (policies come from Git: untrusted).
const EVAL_LIMIT: Duration = Duration::from_secs(2);

/// A policy that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("unknown built-in policy `{0}` (known: {known})", known = BUILTINS.iter().map(|b| b.name).collect::<Vec<_>>().join(", "))]
    UnknownBuiltin(String),
    #[error("{file}: {message}")]
    Module { file: String, message: String },
}

/// A built-in switched on, with its severity and parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct EnabledBuiltin {
    pub name: String,
    pub severity: Severity,
    pub parameters: Value,
}

/// A team's Rego module: repository path and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub file: String,
    pub text: String,
}

/// Compiled policies, cheap to clone (the engine shares its parsed modules).
#[derive(Clone)]
pub struct PolicySet {
    engine: Option<regorus::Engine>,
}

impl std::fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySet")
            .field("empty", &self.engine.is_none())
            .finish()
    }
}

/// Default parameters of the parameterised built-ins.
fn default_params(name: &str) -> Value {
    match name {
        "resources" => json!({"requests": ["cpu", "memory"], "limits": ["memory"]}),
        "required-labels" => json!({"labels": ["app.kubernetes.io/name"]}),
        _ => json!({}),
    }
}

fn add_module(engine: &mut regorus::Engine, file: &str, text: &str) -> Result<String, PolicyError> {
    match engine.add_policy(file.to_string(), text.to_string()) {
        Ok(pkg) => Ok(pkg),
        Err(v1_error) => {
            // conftest's older policies are Rego v0 (`deny[msg] { ... }`); accept both.
            engine.set_rego_v0(true);
            let v0 = engine.add_policy(file.to_string(), text.to_string());
            engine.set_rego_v0(false);
            v0.map_err(|_| PolicyError::Module {
                file: file.to_string(),
                message: short(&v1_error.to_string()),
            })
        }
    }
}

/// regorus errors carry the offending source line and a caret; a few lines are plenty.
fn short(message: &str) -> String {
    message.lines().take(6).collect::<Vec<_>>().join("\n")
}

impl PolicySet {
    /// No policies: evaluation finds nothing.
    pub fn empty() -> Self {
        PolicySet { engine: None }
    }

    /// Compiles the enabled built-ins and the team's modules.
    pub fn new(builtins: &[EnabledBuiltin], modules: &[Module]) -> Result<Self, PolicyError> {
        if builtins.is_empty() && modules.is_empty() {
            return Ok(Self::empty());
        }
        let mut engine = regorus::Engine::new();
        engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
            limit: EVAL_LIMIT,
            check_interval: std::num::NonZeroU32::new(1000).expect("non-zero"),
        });
        add_module(&mut engine, "builtin/lib.rego", LIB)?;
        let mut gather = Vec::new();
        let mut params = serde_json::Map::new();
        for b in builtins {
            let def = BUILTINS
                .iter()
                .find(|d| d.name == b.name)
                .ok_or_else(|| PolicyError::UnknownBuiltin(b.name.clone()))?;
            add_module(
                &mut engine,
                &format!("builtin/{}.rego", def.name),
                def.source,
            )?;
            let mut p = default_params(def.name);
            if let (Some(p), Some(given)) = (p.as_object_mut(), b.parameters.as_object()) {
                p.extend(given.clone());
            }
            params.insert(def.name.to_string(), p);
            gather.push((
                format!("data.{}.deny", def.package),
                format!("builtin.{}", def.name),
                b.severity,
            ));
        }
        for m in modules {
            let pkg = add_module(&mut engine, &m.file, &m.text)?;
            let short = pkg.trim_start_matches("data.").to_string();
            if short.starts_with("driftless.") {
                return Err(PolicyError::Module {
                    file: m.file.clone(),
                    message: format!("package `{short}` is reserved for the built-in policies"),
                });
            }
            for (rule, sev) in [
                ("deny", Severity::Error),
                ("violation", Severity::Error),
                ("warn", Severity::Warning),
            ] {
                gather.push((format!("{pkg}.{rule}"), format!("{short}.{rule}"), sev));
            }
        }
        gather.sort();
        gather.dedup();
        engine
            .add_data(regorus::Value::from(
                json!({"driftless": {"params": params}}),
            ))
            .map_err(|e| PolicyError::Module {
                file: "parameters".into(),
                message: e.to_string(),
            })?;
        add_module(&mut engine, "builtin/gate.rego", &gate_module(&gather))?;
        // Prepare (analyse, schedule) once; clones start prepared.
        engine.set_input(regorus::Value::from(json!({})));
        engine
            .eval_rule("data.driftless.gate.results".into())
            .map_err(|e| PolicyError::Module {
                file: "builtin/gate.rego".into(),
                message: e.to_string(),
            })?;
        Ok(PolicySet {
            engine: Some(engine),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.engine.is_none()
    }

    /// A fresh evaluator (one per thread).
    pub fn evaluator(&self) -> Evaluator {
        Evaluator {
            engine: self.engine.clone(),
        }
    }
}

/// The generated module that gathers every rule's results into one set.
fn gate_module(rules: &[(String, String, Severity)]) -> String {
    let mut out = String::from("package driftless.gate\n\n");
    for (path, id, sev) in rules {
        let sev = match sev {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!(
            "results contains {{\"rule\": {id:?}, \"severity\": {sev:?}, \"result\": r}} if {{\n\tsome r in {path}\n}}\n\n"
        ));
    }
    if rules.is_empty() {
        out.push_str("results := set()\n");
    }
    out
}

/// Evaluates objects; owns its engine clone.
pub struct Evaluator {
    engine: Option<regorus::Engine>,
}

impl Evaluator {
    /// The findings of every policy for one object. A policy that fails to evaluate (a
    /// runtime error, the time limit) is itself an error finding, never a silent pass.
    pub fn check(&mut self, object: &Value) -> Vec<Finding> {
        let Some(engine) = &mut self.engine else {
            return Vec::new();
        };
        let target = ObjectRef::of(object);
        engine.set_input(regorus::Value::from(object.clone()));
        let results = match engine.eval_rule("data.driftless.gate.results".into()) {
            Ok(v) => serde_json::to_value(&v).unwrap_or(Value::Null),
            Err(e) => {
                let msg = e.to_string();
                return vec![
                    Finding::error(
                        Check::Policy,
                        "policy.evaluation",
                        format!(
                            "policy evaluation failed: {}",
                            msg.lines().next().unwrap_or_default()
                        ),
                    )
                    .on(target),
                ];
            }
        };
        let mut out = Vec::new();
        for r in results.as_array().into_iter().flatten() {
            let rule = r.get("rule").and_then(Value::as_str).unwrap_or_default();
            let severity = match r.get("severity").and_then(Value::as_str) {
                Some("warning") => Severity::Warning,
                _ => Severity::Error,
            };
            let (message, field) = match r.get("result") {
                Some(Value::String(s)) => (s.clone(), None),
                Some(o @ Value::Object(_)) => (
                    o.get("msg")
                        .or_else(|| o.get("message"))
                        .and_then(Value::as_str)
                        .map(String::from)
                        .unwrap_or_else(|| o.to_string()),
                    o.get("field").and_then(Value::as_str).map(String::from),
                ),
                Some(other) => (other.to_string(), None),
                None => continue,
            };
            let mut f = Finding::new(severity, Check::Policy, rule, message).on(target.clone());
            if let Some(field) = field {
                f = f.field(field);
            }
            out.push(f);
        }
        out
    }
}
