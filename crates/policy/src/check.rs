//! [`Validator`]: the per-object checks (deprecations, schema, policies) over a rendered set,
//! on as many threads as the machine offers when the set is large.

use std::sync::Arc;

use serde_json::Value;

use crate::deprecation;
use crate::finding::{Check, Finding, ObjectRef, Severity};
use crate::rego::{Evaluator, PolicySet};
use crate::schema::{Outcome, SchemaSet};

/// Where a finding is: (origin, field path) → (file, line, column).
pub type Locate<'a> =
    &'a (dyn Fn(&str, Option<&str>) -> (String, Option<usize>, Option<usize>) + Sync);

/// Below this many objects one thread does the work (spawning costs more than it saves).
const PARALLEL_THRESHOLD: usize = 512;

/// One rendered object, where it was rendered from (`file#document`) and for which
/// environment or application (empty in the gate).
#[derive(Debug, Clone, Copy)]
pub struct Rendered<'a> {
    pub object: &'a Value,
    pub origin: &'a str,
    pub environment: &'a str,
}

/// Compiled schema, policies and target version; cheap to share (`Clone` copies an `Arc`
/// and the prepared policy engine).
#[derive(Debug, Clone)]
pub struct Validator {
    schemas: Arc<SchemaSet>,
    policies: PolicySet,
    minor: u32,
    /// Custom resources without a schema: skipped when true, a warning otherwise.
    pub ignore_missing_schemas: bool,
}

impl Validator {
    pub fn new(schemas: Arc<SchemaSet>, policies: PolicySet, kube_minor: u32) -> Self {
        Validator {
            schemas,
            policies,
            minor: kube_minor,
            ignore_missing_schemas: false,
        }
    }

    pub fn schemas(&self) -> &Arc<SchemaSet> {
        &self.schemas
    }

    /// Kubernetes minor version checked against (36 for 1.36).
    pub fn kube_minor(&self) -> u32 {
        self.minor
    }

    /// The same validator with other schemas (CRDs found in a rendered set added).
    pub fn with_schemas(&self, schemas: Arc<SchemaSet>) -> Self {
        Validator {
            schemas,
            ..self.clone()
        }
    }

    /// Checks every object; `locate` turns an origin and a field into a position. Findings come in the
    /// objects' order, each with its object's environment.
    pub fn check(&self, objects: &[Rendered<'_>], locate: Locate<'_>) -> Vec<Finding> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8);
        if objects.len() < PARALLEL_THRESHOLD || threads == 1 {
            let mut ev = self.policies.evaluator();
            objects
                .iter()
                .flat_map(|o| self.check_one(o, &mut ev, locate))
                .collect()
        } else {
            let chunk = objects.len().div_ceil(threads);
            std::thread::scope(|s| {
                let handles: Vec<_> = objects
                    .chunks(chunk)
                    .map(|part| {
                        s.spawn(move || {
                            let mut ev = self.policies.evaluator();
                            part.iter()
                                .flat_map(|o| self.check_one(o, &mut ev, locate))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .collect()
            })
        }
    }

    fn check_one(&self, r: &Rendered<'_>, ev: &mut Evaluator, locate: Locate<'_>) -> Vec<Finding> {
        let target = ObjectRef::of(r.object);
        let mut out = Vec::new();
        let deprecated = deprecation::check(&target, self.minor);
        let removed = deprecated.as_ref().is_some_and(Finding::is_error);
        let deprecated_at_target = deprecated.is_some() && !removed;
        out.extend(deprecated);
        // A removed version has no schema left: the removal finding says it, with the replacement.
        if !removed && !target.api_version.starts_with("driftless.dev/") {
            match self.schemas.validate(r.object) {
                Outcome::Checked(issues) => out.extend(issues.into_iter().map(|i| {
                    Finding::error(Check::Schema, i.rule, i.message).on(target.clone()).field(i.path)
                })),
                // The deprecation table knows this version is still served at the target.
                Outcome::NotServed if deprecated_at_target => {}
                Outcome::NotServed => {
                    let label = self.version_label();
                    let message = format!("{} {} is not served by Kubernetes {label}", target.api_version, target.kind);
                    // A schema of another release cannot say what the target serves.
                    let f = if deprecation::parse_minor(&label) == Some(self.minor) {
                        Finding::error(Check::Schema, "schema.not-served", message)
                    } else {
                        Finding::warning(
                            Check::Schema,
                            "schema.not-served",
                            format!("{message} (target 1.{}: give that release's schema with --schema)", self.minor),
                        )
                    };
                    out.push(f.on(target.clone()).field("apiVersion"));
                }
                Outcome::NoSchema if self.ignore_missing_schemas => {}
                Outcome::NoSchema => out.push(
                    Finding::warning(
                        Check::Schema,
                        "schema.missing",
                        format!(
                            "no schema for {} {}: add its CustomResourceDefinition (--crd, spec.schema.crds) or set ignoreMissingSchemas",
                            target.api_version, target.kind
                        ),
                    )
                    .on(target.clone()),
                ),
            }
        }
        out.extend(ev.check(r.object));
        if !out.is_empty() {
            for f in &mut out {
                let (file, line, column) = locate(r.origin, f.field.as_deref());
                f.environment = r.environment.to_string();
                f.file = Some(file);
                f.line = line;
                f.column = column;
                if f.severity == Severity::Error && f.object.is_none() {
                    f.object = Some(target.clone());
                }
            }
        }
        out
    }

    fn version_label(&self) -> String {
        match self.schemas.version() {
            "" => format!("1.{}", self.minor),
            v => v.to_string(),
        }
    }
}
