//! The [`Cluster`] trait: every cluster I/O the sync executor and the engine need, so the
//! reconcile logic runs unchanged against kube-rs (crate `kube`) on a real API server or the
//! sandbox. Errors carry the object they concern and say whether retrying can help.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

use crate::{Gvk, ResourceKey};

/// What discovery knows about a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindScope {
    /// The version the server prefers for this group (used when listing).
    pub gvk: Gvk,
    pub plural: String,
    pub namespaced: bool,
}

/// How deletes propagate to dependents (Kubernetes `propagationPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Propagation {
    #[default]
    Foreground,
    Background,
    Orphan,
}

impl Propagation {
    /// Parses Argo CD's `PrunePropagationPolicy=` values (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "foreground" => Some(Self::Foreground),
            "background" => Some(Self::Background),
            "orphan" => Some(Self::Orphan),
            _ => None,
        }
    }
}

/// Options of one server-side apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Take ownership of fields other managers own (`force=true`).
    pub force: bool,
    /// `dryRun=All`: the server answers with what it would store, and stores nothing.
    pub dry_run: bool,
    /// `Validate=false`: unknown fields are ignored instead of refused.
    pub skip_validation: bool,
}

/// A failed cluster call. Every variant names the object; none carries a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("{key}: apply conflict: {message}")]
    Conflict {
        key: Box<ResourceKey>,
        message: String,
    },
    #[error("{key}: rejected by the API server ({code}): {message}")]
    Rejected {
        key: Box<ResourceKey>,
        code: u16,
        message: String,
    },
    #[error(
        "{key}: the API server does not serve {kind}; is its CustomResourceDefinition installed?"
    )]
    UnknownKind { key: Box<ResourceKey>, kind: String },
    #[error("{key}: dry-run refused ({message}); falling back to a client-side comparison")]
    DryRunRefused {
        key: Box<ResourceKey>,
        message: String,
    },
    #[error("{what}: the API server is unavailable or overloaded (retrying may help): {message}")]
    Transient { what: String, message: String },
    #[error("{what}: timed out after {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("{what}: {message}")]
    Other { what: String, message: String },
}

impl ClusterError {
    /// True when the same call may succeed later unchanged (5xx, 429, connection errors).
    pub fn is_transient(&self) -> bool {
        matches!(self, ClusterError::Transient { .. })
    }
}

/// Cluster I/O, implemented on kube-rs by `driftless_kube::KubeCluster`.
pub trait Cluster: Send + Sync {
    /// The scope of a kind; discovery is refreshed once when the kind is unknown (a CRD
    /// applied by an earlier wave). `Ok(None)` when the server still does not serve it.
    fn resolve(
        &self,
        gvk: &Gvk,
    ) -> impl Future<Output = Result<Option<KindScope>, ClusterError>> + Send;

    /// The live object, or `None` when it does not exist.
    fn get(
        &self,
        gvk: &Gvk,
        key: &ResourceKey,
    ) -> impl Future<Output = Result<Option<Value>, ClusterError>> + Send;

    /// Every live object of a kind that carries the tracking annotation (in `namespace`, or
    /// everywhere when `None`).
    fn list_tracked(
        &self,
        scope: &KindScope,
        namespace: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Value>, ClusterError>> + Send;

    /// Server-side apply as field manager `driftless`; returns the object the server stored
    /// (or would store, when dry-run).
    fn apply(
        &self,
        obj: &Value,
        opts: &ApplyOptions,
    ) -> impl Future<Output = Result<Value, ClusterError>> + Send;

    /// Creates an object (hooks with `generateName`); returns it with its name.
    fn create(&self, obj: &Value) -> impl Future<Output = Result<Value, ClusterError>> + Send;

    /// Replaces an object wholesale (`Replace=true`), creating it when missing.
    fn replace(&self, obj: &Value) -> impl Future<Output = Result<Value, ClusterError>> + Send;

    /// Deletes an object; `Ok(false)` when it was already gone.
    fn delete(
        &self,
        gvk: &Gvk,
        key: &ResourceKey,
        propagation: Propagation,
    ) -> impl Future<Output = Result<bool, ClusterError>> + Send;

    /// Watches one object until `done` holds for its state (`None` = absent) or `timeout`
    /// passes; returns the last state seen.
    fn wait_until(
        &self,
        gvk: &Gvk,
        key: &ResourceKey,
        timeout: Duration,
        done: &(dyn Fn(Option<&Value>) -> bool + Send + Sync),
    ) -> impl Future<Output = Result<Option<Value>, ClusterError>> + Send;
}
