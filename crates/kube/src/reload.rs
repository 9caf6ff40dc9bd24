//! Credentials that change while the engine runs: a kubeconfig rewritten with a rotated
//! token, a token file replaced, a pod's projected service-account token (rotated hourly).
//! A cluster built with its [`ClusterSource`] answers a `401 Unauthorized` by building its
//! client again from that source — re-reading the files — and retrying the call once.
//! Concurrent 401s share one rebuild, and rebuilds are at most one a second.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use driftless_core::cluster::ClusterError;

use crate::{ClusterSource, connect};

/// The client in use and how to build it again.
pub(crate) struct Credentials {
    client: RwLock<kube::Client>,
    source: Option<ClusterSource>,
    /// When the client was last rebuilt (guards the rebuild, too).
    rebuilt: tokio::sync::Mutex<Option<Instant>>,
}

/// Did the API server refuse the credentials?
pub(crate) fn is_unauthorized(e: &ClusterError) -> bool {
    match e {
        ClusterError::Rejected { code, .. } => *code == 401,
        ClusterError::Other { message, .. } => message.starts_with("401:"),
        _ => false,
    }
}

impl Credentials {
    pub fn new(client: kube::Client) -> Credentials {
        Credentials {
            client: RwLock::new(client),
            source: None,
            rebuilt: tokio::sync::Mutex::new(None),
        }
    }

    pub fn set_source(&mut self, source: ClusterSource) {
        self.source = Some(source);
    }

    pub fn client(&self) -> kube::Client {
        self.client
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Builds the client again from its source; true when a new client is in place (the
    /// caller then retries once). `seen` is the client that got the 401: when another call
    /// rebuilt it meanwhile, that newer client is used without another rebuild.
    pub async fn rebuild(&self, cluster: &str, seen_at: Instant) -> bool {
        let Some(source) = &self.source else {
            return false;
        };
        let mut last = self.rebuilt.lock().await;
        if last.is_some_and(|t| t > seen_at) {
            return true;
        }
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return false;
        }
        *last = Some(Instant::now());
        match connect(source).await {
            Ok(c) => {
                *self
                    .client
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = c;
                tracing::info!(cluster, "cluster credentials re-read after a 401");
                true
            }
            Err(e) => {
                tracing::warn!(cluster, "re-reading the cluster credentials failed: {e}");
                false
            }
        }
    }
}
