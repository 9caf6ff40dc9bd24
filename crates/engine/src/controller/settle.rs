//! After an operation: the health of what its last wave applied (the operation did not wait
//! for it) is followed on the watch-fed cache, and the app is reconciled the moment it
//! settles, so its status turns Healthy (or Degraded) at once instead of waiting its turn in
//! the queue behind the fleet. Before the operation's own reconcile, the cache is given the
//! moment it needs to show what the operation wrote (a comparison against the state before
//! the last apply would read as drift). Nothing here decides anything: the reconcile does.

use driftless_core::ResourceKey;
use driftless_health::HealthStatus;
use driftless_kube::LiveCache;
use tokio::sync::broadcast::error::RecvError;

use super::Controller;
use crate::sync::{Outcome, SyncResult};

/// The objects an operation applied without waiting for their health (its last wave).
pub(super) fn unsettled(result: &SyncResult) -> Vec<ResourceKey> {
    result
        .resources
        .iter()
        .filter(|r| {
            r.health.is_none()
                && matches!(
                    r.outcome,
                    Outcome::Applied | Outcome::Replaced | Outcome::Created
                )
        })
        .map(|r| r.key.clone())
        .collect()
}

/// How long the live cache may take to show an operation's writes before the reconcile
/// goes ahead anyway (a watch delivers them in milliseconds; a broken one must not stall).
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether the cached object is at (or past) the version an operation wrote.
fn reached(cached: Option<&serde_json::Value>, written: &str) -> bool {
    let Some(have) = cached.and_then(|o| o["metadata"]["resourceVersion"].as_str()) else {
        return false;
    };
    // Versions are opaque to clients; every server in practice counts up (etcd revisions).
    have == written
        || matches!((have.parse::<u64>(), written.parse::<u64>()), (Ok(h), Ok(w)) if h >= w)
}

impl Controller {
    /// Waits (on the cache's changes, at most [`CATCH_UP`]) until the live cache holds every
    /// object `result` wrote at the version the server answered with.
    pub(super) async fn caught_up(&self, name: &str, cache: &LiveCache, result: &SyncResult) {
        let written: Vec<(&ResourceKey, &str)> = result
            .resources
            .iter()
            // What the app tracks (a namespace created for it is not).
            .filter(|r| matches!(r.outcome, Outcome::Applied | Outcome::Replaced))
            .filter_map(|r| Some((&r.key, r.resource_version.as_deref()?)))
            .collect();
        let mut changes = cache.subscribe();
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        while !written
            .iter()
            .all(|(k, v)| reached(cache.get(k).as_ref(), v))
        {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(c) if c.app != name => {}
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::debug!(app = %name, "the live cache did not show the operation's writes in time");
                    return;
                }
            }
        }
    }

    /// Waits (on the cache's changes, up to the health timeout) until none of `keys` is
    /// Progressing any more; `true` when they settled.
    pub(super) async fn settled(
        &self,
        name: &str,
        cache: &LiveCache,
        keys: &[ResourceKey],
    ) -> bool {
        if keys.is_empty() {
            return false;
        }
        // Subscribed before the first look: a change between the two is not missed.
        let mut changes = cache.subscribe();
        let deadline = tokio::time::Instant::now() + self.config.health_timeout;
        loop {
            if keys.iter().all(|k| self.settled_now(cache, k)) {
                return true;
            }
            loop {
                tokio::select! {
                    change = changes.recv() => match change {
                        Ok(c) if c.app != name => continue,
                        Ok(_) | Err(RecvError::Lagged(_)) => break,
                        Err(RecvError::Closed) => return false,
                    },
                    _ = tokio::time::sleep_until(deadline) => return false,
                }
            }
        }
    }

    /// Whether an object's health, as the cache has it, will not change by waiting.
    fn settled_now(&self, cache: &LiveCache, key: &ResourceKey) -> bool {
        let Some(obj) = cache.get(key) else {
            return false;
        };
        self.assessor
            .assess(Some(&obj))
            .is_none_or(|h| h.status != HealthStatus::Progressing)
    }
}
