//! The engine's one error type: what went wrong, about which object, and what kind of failure it
//! is — so a caller (the HTTP API, the CLI) can answer "your request is wrong" apart from "the
//! store is down" without reading the message. The API maps [`ErrorKind`] to an HTTP status in
//! one place (`driftless_api::error`).

use driftless_core::cluster::ClusterError;
use driftless_store::StoreError;

/// What kind of failure an [`EngineError`] is, for callers that must react differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A named object does not exist.
    NotFound,
    /// The request (or a definition) is refused as it stands.
    Invalid,
    /// The request is valid, but the current state does not allow it.
    Conflict,
    /// The caller may not do this.
    Forbidden,
    /// A dependency (store, Git, cluster) failed; trying again later may work.
    Unavailable,
    /// A bug or a corrupted record.
    Internal,
}

/// An engine failure with the object it concerns.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// `kind` is what was looked for ("application", "pipeline", "promotion", ...).
    #[error("{kind} {name} not found")]
    NotFound { kind: &'static str, name: String },
    /// Refused input; the message names the object and the field.
    #[error("{0}")]
    Invalid(String),
    /// Not possible in the current state (a promotion already decided, nothing to promote).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    /// The store failed while doing `context`.
    #[error("{context}: {source}")]
    Store {
        context: String,
        #[source]
        source: StoreError,
    },
    /// An application's source (Git fetch, render) failed at `revision` (when known).
    #[error("application {app}{}: {message}", revision.as_deref().map(|r| format!(" at {}", &r[..r.len().min(12)])).unwrap_or_default())]
    Source {
        app: String,
        revision: Option<String>,
        message: String,
    },
    /// A repository could not be read (no application involved: a pipeline's write-back, an
    /// image update).
    #[error("{0}")]
    Git(String),
    /// The cluster failed while doing `context`.
    #[error("{context}: {source}")]
    Cluster {
        context: String,
        #[source]
        source: ClusterError,
    },
    /// Another dependency failed (the notification outbox, a notification service).
    #[error("{0}")]
    Unavailable(String),
    /// A stored record that does not parse, a task that died.
    #[error("{0}")]
    Internal(String),
}

impl EngineError {
    pub fn not_found(kind: &'static str, name: impl Into<String>) -> Self {
        EngineError::NotFound {
            kind,
            name: name.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        EngineError::Invalid(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        EngineError::Conflict(message.into())
    }

    /// A store failure, said with what the engine was doing.
    pub fn store(context: impl Into<String>) -> impl FnOnce(StoreError) -> Self {
        let context = context.into();
        move |source| EngineError::Store { context, source }
    }

    /// A cluster failure, said with what the engine was doing.
    pub fn cluster(context: impl Into<String>) -> impl FnOnce(ClusterError) -> Self {
        let context = context.into();
        move |source| EngineError::Cluster { context, source }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::NotFound { .. } => ErrorKind::NotFound,
            EngineError::Invalid(_) => ErrorKind::Invalid,
            EngineError::Conflict(_) => ErrorKind::Conflict,
            EngineError::Forbidden(_) => ErrorKind::Forbidden,
            EngineError::Store { .. }
            | EngineError::Git(_)
            | EngineError::Source { .. }
            | EngineError::Unavailable(_) => ErrorKind::Unavailable,
            EngineError::Cluster { source, .. } => match source {
                ClusterError::Conflict { .. } => ErrorKind::Conflict,
                ClusterError::Rejected { .. } | ClusterError::UnknownKind { .. } => {
                    ErrorKind::Invalid
                }
                _ => ErrorKind::Unavailable,
            },
            EngineError::Internal(_) => ErrorKind::Internal,
        }
    }
}

impl From<StoreError> for EngineError {
    fn from(source: StoreError) -> Self {
        EngineError::Store {
            context: "store".into(),
            source,
        }
    }
}

impl From<tokio::task::JoinError> for EngineError {
    fn from(e: tokio::task::JoinError) -> Self {
        EngineError::Internal(format!("a background task of the engine died: {e}"))
    }
}

impl From<driftless_git::GitError> for EngineError {
    fn from(e: driftless_git::GitError) -> Self {
        EngineError::Git(e.to_string())
    }
}

impl From<driftless_core::source::SourceError> for EngineError {
    fn from(e: driftless_core::source::SourceError) -> Self {
        EngineError::Git(e.to_string())
    }
}

/// A notification configuration that does not load names its document and key.
impl From<driftless_notify::ConfigError> for EngineError {
    fn from(e: driftless_notify::ConfigError) -> Self {
        EngineError::Invalid(e.to_string())
    }
}

impl From<driftless_notify::outbox::OutboxError> for EngineError {
    fn from(e: driftless_notify::outbox::OutboxError) -> Self {
        EngineError::Unavailable(format!("the notification outbox: {e}"))
    }
}

impl From<crate::SyncError> for EngineError {
    fn from(e: crate::SyncError) -> Self {
        match e {
            crate::SyncError::Cluster { app, source } => EngineError::Cluster {
                context: format!("application {app}"),
                source,
            },
            e @ crate::SyncError::Invalid { .. } => EngineError::Invalid(e.to_string()),
        }
    }
}

/// Serializing the engine's own types cannot fail but for a bug; parsing a stored record
/// fails when the record is corrupt. Neither is the caller's fault.
impl From<serde_json::Error> for EngineError {
    fn from(e: serde_json::Error) -> Self {
        EngineError::Internal(format!("a record could not be (de)serialized: {e}"))
    }
}

pub type EngineResult<T> = Result<T, EngineError>;
