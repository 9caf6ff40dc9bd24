//! Cluster access for Driftless, on kube-rs: the only crate that knows kube-rs.
//!
//! - [`connect`]: a client from a kubeconfig (context selectable) or the pod's in-cluster
//!   service account. Kubeconfig `exec` credential plugins run arbitrary commands, so they are
//!   refused unless the caller allows them explicitly. [`incluster`]: a pod's service account
//!   (projected token re-read on rotation, CA, the pod's namespace).
//!
//! - [`KubeCluster`]: the `Cluster` trait (discovery, get, list tracked, server-side apply,
//!   dry-run, create, replace, delete, watch-until) on kube-rs.
//!
//! - [`WriteGate`]: the engine's permission to change clusters while it holds its lease;
//!   on a 401 a cluster built `with_source` re-reads its credentials and retries once.
//! - [`LogOptions`] / `KubeCluster::pod_logs`: a pod's log lines, streamed (with follow).
//!
//! - [`LiveCache`]: watches on the kinds applications use, holding tracked objects only.
//! - [`ResourceType`] / `KubeCluster::watch_namespaced`: the engine's own custom resources,
//!   watched in its namespace, with their status written back (`patch_status`).
//!
//! Everything here behaves the same against a real API server and the Driftless sandbox:
//! there are no sandbox-only paths.

mod cache;
mod cluster;
mod connect;
mod custom;
mod error;
mod gate;
pub mod incluster;
mod logs;
mod reload;

pub use cache::{KindState, LiveCache, LiveChange};
pub use cluster::{FIELD_MANAGER, KubeCluster};
pub use connect::{ClusterSource, connect};
pub use custom::{ObjectEvent, ResourceType};
pub use error::KubeError;
pub use gate::WriteGate;
pub use logs::LogOptions;

/// kube-rs's client, re-exported so callers need not depend on kube-rs themselves.
pub use kube::Client;
