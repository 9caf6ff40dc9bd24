//! The Driftless controller's core steps over a [`Cluster`](driftless_core::cluster::Cluster):
//!
//! - [`load`]: namespaces defaulted by the kinds' scopes, hooks split off, live objects read;
//! - [`compare`]: server-side (dry-run) or client-side prediction, then the pure comparison;
//! - [`sync`]: the executor — plan, then apply wave by wave, wait for health, prune, run
//!   hooks, and roll back to the last good desired set when asked.
//!
//! The long-running parts (work queue, drift watches, store) arrive with `driftless up`.

pub mod compare;
pub mod controller;
pub mod dora;
pub mod error;
pub mod event_kind;
pub mod flow;
pub mod load;
pub mod metrics;
pub mod notifications;
pub mod policy;
pub mod status;
pub mod sync;
pub mod updates;

use driftless_core::cluster::ClusterError;

pub use compare::{DryRunCache, compare_with_cluster};
pub use driftless_core::app::parse_duration;
pub use error::{EngineError, EngineResult, ErrorKind};
pub use event_kind::{EventKind, Severity};
pub use load::{Loaded, load};
pub use policy::AppPolicy;
pub use status::{AppStatus, Revision, SyncCode};
pub use sync::{
    OperationPhase, Outcome, ProgressEntry, ResourceResult, RetryPolicy, SyncEvent, SyncRequest,
    SyncResult, sync, sync_with_rollback,
};
pub use updates::Update;

/// A sync or comparison that could not start. Failures after the first change to the
/// cluster are reported in a [`SyncResult`] instead, with every object already touched.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("application {app}: {source}")]
    Cluster {
        app: String,
        #[source]
        source: ClusterError,
    },
    #[error("application {app}: {message}")]
    Invalid { app: String, message: String },
}

impl SyncError {
    pub(crate) fn cluster(app: &str, source: ClusterError) -> Self {
        SyncError::Cluster {
            app: app.to_string(),
            source,
        }
    }
}
