//! After an operation: the health of what its last wave applied (the operation did not wait
//! for it) is followed on the watch-fed cache, and the app is reconciled the moment it
//! settles, so its status turns Healthy (or Degraded) at once instead of waiting its turn in
//! the queue behind the fleet. Nothing here decides anything: the reconcile does.

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

impl Controller {
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
