//! Errors of Git operations. Each names the repository (URL without credentials) and what was
//! asked; [`GitError::is_spurious`] tells a retry loop whether trying again can help.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitError {
    #[error("repository URL `{url}` is refused: {reason}")]
    UrlRefused { url: String, reason: String },
    #[error("`{url}`: authentication failed (check the repository's credentials)")]
    Auth { url: String },
    #[error(
        "`{url}`: the host key is unknown or does not match the managed known_hosts; refusing to connect"
    )]
    HostKey { url: String },
    #[error("`{url}`: repository not found")]
    NotFound { url: String },
    #[error("`{url}`: revision `{revision}` not found{hint}")]
    RevisionNotFound {
        url: String,
        revision: String,
        hint: String,
    },
    #[error("`{url}`: fetch failed: {message}")]
    Fetch {
        url: String,
        message: String,
        spurious: bool,
    },
    #[error("`{url}`: push rejected: {message}")]
    PushRejected { url: String, message: String },
    #[error("`{url}`: push failed: {message}")]
    Push {
        url: String,
        message: String,
        spurious: bool,
    },
    #[error("`{url}` at {commit}: {message}")]
    Read {
        url: String,
        commit: String,
        message: String,
    },
    #[error("mirror {path}: {message}")]
    Mirror { path: String, message: String },
}

impl GitError {
    /// Whether the same call may succeed later (network trouble, server down), as opposed to
    /// a refusal that needs a human (bad credentials, unknown revision, policy).
    pub fn is_spurious(&self) -> bool {
        matches!(
            self,
            GitError::Fetch { spurious: true, .. } | GitError::Push { spurious: true, .. }
        )
    }
}
