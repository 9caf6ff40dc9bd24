//! The sync gate: the same checks `driftless validate` runs, on one application's rendered
//! set, before the engine applies it. Built once per configuration (schemas parsed, policies
//! compiled and prepared) and shared; each [`Gate::check`] clones the prepared engine.
//! An error finding means "do not apply this revision".

use std::sync::{Arc, LazyLock};

use driftless_core::DesiredSet;
use driftless_core::source::SourceTree;
use serde_json::Value;

use crate::check::{Rendered, Validator};
use crate::deprecation::parse_minor;
use crate::finding::Finding;
use crate::load::{self, LoadError};
use crate::rego::{EnabledBuiltin, Module, PolicyError, PolicySet};
use crate::schema::{SchemaError, SchemaSet};

static EMBEDDED: LazyLock<Arc<SchemaSet>> = LazyLock::new(|| Arc::new(SchemaSet::embedded()));

/// The embedded Kubernetes v1.36 schema, parsed once per process.
pub fn embedded_schema() -> Arc<SchemaSet> {
    EMBEDDED.clone()
}

/// What a gate checks.
#[derive(Debug, Clone, Default)]
pub struct GateConfig {
    /// `1.36`; empty: the embedded schema's version.
    pub kubernetes_version: String,
    /// Another version's schema; `None`: the embedded v1.36 one.
    pub schema: Option<Arc<SchemaSet>>,
    /// CustomResourceDefinition objects (with origin) whose schemas apply.
    pub crds: Vec<(Value, String)>,
    pub builtins: Vec<EnabledBuiltin>,
    pub modules: Vec<Module>,
    pub ignore_missing_schemas: bool,
}

impl GateConfig {
    /// The configuration a repository declares (its `ValidationConfig` in `driftless.yaml`,
    /// policy directories and CRDs), read from the tree of the revision being synced.
    pub fn from_tree(tree: &dyn SourceTree) -> Result<Self, GateError> {
        let inputs = load::load(tree, None)?;
        let c = &inputs.config;
        let mut schema = None;
        if !c.schema.files.is_empty() {
            let mut set = SchemaSet::default();
            let t = driftless_core::source::Tree::new(tree);
            for f in &c.schema.files {
                let text = t
                    .read_string(f, 64 * 1024 * 1024)
                    .map_err(|e| LoadError::Read {
                        path: f.clone(),
                        message: e.to_string(),
                    })?;
                load::schema_file(&text, f, &mut set)?;
            }
            schema = Some(Arc::new(set));
        }
        Ok(GateConfig {
            kubernetes_version: c.kubernetes_version.clone(),
            schema,
            crds: inputs.crds,
            builtins: c.policies.builtin.iter().map(|b| b.enabled()).collect(),
            modules: inputs.modules,
            ignore_missing_schemas: c.schema.ignore_missing_schemas,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    #[error("kubernetes version {0:?} is not of the form 1.N")]
    Version(String),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// Pre-compiled validation for the engine.
#[derive(Debug, Clone)]
pub struct Gate {
    validator: Validator,
}

impl Gate {
    pub fn new(config: GateConfig) -> Result<Self, GateError> {
        let mut schemas = config.schema.unwrap_or_else(embedded_schema);
        if !config.crds.is_empty() {
            let mut s = (*schemas).clone();
            for (crd, origin) in &config.crds {
                s.add_crd(crd, origin)?;
            }
            schemas = Arc::new(s);
        }
        let version = if config.kubernetes_version.is_empty() {
            schemas.version().to_string()
        } else {
            config.kubernetes_version.clone()
        };
        let minor = parse_minor(&version).ok_or(GateError::Version(version))?;
        let policies = PolicySet::new(&config.builtins, &config.modules)?;
        let mut validator = Validator::new(schemas, policies, minor);
        validator.ignore_missing_schemas = config.ignore_missing_schemas;
        Ok(Gate { validator })
    }

    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// Every finding for one application's rendered set (CRDs in the set apply to its custom
    /// resources). Any error finding means the set must not be applied.
    pub fn check(&self, set: &DesiredSet) -> Vec<Finding> {
        let validator = match with_crds_of(&self.validator, set.values()) {
            Ok(v) => v,
            Err(f) => return vec![*f],
        };
        let objects: Vec<Rendered> = set
            .iter()
            .map(|o| Rendered {
                object: &o.object,
                origin: &o.origin,
                environment: "",
            })
            .collect();
        validator.check(&objects, &|origin: &str, _field: Option<&str>| {
            let file = origin.split_once('#').map_or(origin, |(f, _)| f);
            (file.to_string(), None, None)
        })
    }
}

/// The validator with the schemas of the CRDs among `objects` added (unchanged when none).
pub fn with_crds_of<'a>(
    v: &Validator,
    objects: impl Iterator<Item = &'a Value>,
) -> Result<Validator, Box<Finding>> {
    let crds: Vec<&Value> = objects.filter(|o| load::is_crd(o)).collect();
    if crds.is_empty() {
        return Ok(v.clone());
    }
    let mut s = (**v.schemas()).clone();
    for crd in crds {
        let name = crate::finding::ObjectRef::of(crd);
        s.add_crd(crd, &name.to_string()).map_err(|e| {
            Box::new(
                Finding::error(crate::finding::Check::Schema, "schema.crd", e.to_string()).on(name),
            )
        })?;
    }
    Ok(v.with_schemas(Arc::new(s)))
}

// The engine shares one gate between its workers.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Gate>();
};
