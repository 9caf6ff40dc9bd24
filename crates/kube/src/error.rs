//! Errors of cluster access. Each says which cluster (kubeconfig path and context) and what
//! to do about it; none carries a credential.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("cannot read kubeconfig {path}: {message}")]
    Kubeconfig { path: PathBuf, message: String },

    #[error(
        "kubeconfig {path}, context {context}: user {user} gets its credentials from the exec plugin {command:?}, and exec plugins are refused; allow them explicitly (--allow-exec-credentials) if you trust this kubeconfig"
    )]
    ExecRefused {
        path: PathBuf,
        context: String,
        user: String,
        command: String,
    },

    #[error("kubeconfig {path}: context {context} does not exist (known: {known})")]
    UnknownContext {
        path: PathBuf,
        context: String,
        known: String,
    },

    #[error("not running in a cluster, and no kubeconfig was given: {0}")]
    InCluster(String),

    #[error("cannot build a client for {cluster}: {message}")]
    Client { cluster: String, message: String },
}
