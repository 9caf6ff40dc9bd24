//! Driftless core: the vocabulary every other crate speaks.
//!
//! - [`ResourceKey`] and [`Gvk`] name Kubernetes objects the way the API server does.
//! - [`DesiredSet`] is the output of rendering: objects keyed by group/kind/namespace/name with a
//!   stable digest.
//! - [`yaml`] is the one YAML wrapper of the project (kubectl-compatible scalars, bounded parsing).
//! - [`schema`] holds facts recorded from a real v1.36 API server (merge keys, list types, scope).
//! - [`tracking`] marks the objects an application owns; [`cluster`] is the I/O trait over a
//!   Kubernetes API.
//! - [`source`] is the read-only file tree a renderer works on (a Git commit or a local directory).

pub mod app;
pub mod cluster;
pub mod clusters;
pub mod definitions;
pub mod desired;
pub mod duration;
pub mod key;
pub mod names;
pub mod object;
pub mod pipeline;
pub mod project;
pub mod repository;
pub mod schema;
pub mod selector;
pub mod source;
pub mod strategic;
pub mod tracking;
pub mod trust;
pub mod url_rewrite;
pub mod users;
pub mod wildcard;
pub mod yaml;
pub mod yaml_emit;

pub use desired::{DesiredSet, DuplicateResource};
pub use key::{Gvk, ResourceKey};
