//! Validation and policy, pure: (rendered objects with their origin, schemas, Rego modules,
//! rules) → [`Finding`]s. Used by `driftless validate` (the whole repository, with reports)
//! and by the engine's sync gate ([`Gate`]).
//!
//! - [`repo`]: the repository's files: structure rules and YAML syntax (file, line, column).
//! - [`schema`]: Kubernetes OpenAPI (embedded v1.36, or another version's) and CRD schemas.
//! - [`rego`]: Rego policies on regorus, with a built-in library switched on by name.
//! - [`deprecation`]: removed and deprecated API versions for the target release.
//! - [`check`]: the per-object checks over a rendered set; [`gate`]: the engine's entry point.
//! - [`report`]: text, JSON, JUnit XML and SARIF 2.1.0.

pub mod check;
pub mod config;
pub mod deprecation;
pub mod finding;
pub mod gate;
pub mod load;
pub mod locate;
pub mod rego;
pub mod repo;
pub mod report;
pub mod schema;

pub use check::{Rendered, Validator};
pub use config::ValidationConfig;
pub use finding::{Check, Finding, ObjectRef, Severity, has_errors};
pub use gate::{Gate, GateConfig, GateError};
pub use rego::{EnabledBuiltin, Module, PolicySet};
pub use schema::SchemaSet;
