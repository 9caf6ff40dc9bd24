//! An application's stored status: written after every reconcile from its comparison and
//! the watch-fed health (so it follows the cluster while an operation runs), or with the
//! error that stopped the comparison; each write is published to live subscribers.

use crate::error::EngineResult;
use std::collections::BTreeMap;

use serde_json::json;

use driftless_core::ResourceKey;
use driftless_diff::Comparison;
use driftless_health::Health;

use super::Controller;
use super::operation::now_ms;
use crate::status::{
    AppStatus, HealPause, OperationMemory, PinStatus, ResourceStatus, Revision, RunningOperation,
    SyncCode, SyncState,
};

/// What a reconcile observed, for the status.
pub(super) struct Seen<'a> {
    pub cmp: &'a Comparison,
    /// The app's aggregated health.
    pub health: &'a Health,
    /// Each resource's health, with the check that produced it.
    pub healths: &'a BTreeMap<ResourceKey, Health>,
    pub revision: &'a str,
    pub head: &'a str,
}

impl Controller {
    pub(super) async fn record_error(
        &self,
        name: &str,
        kind: crate::EventKind,
        message: &str,
    ) -> EngineResult<()> {
        let new = self
            .update(name, |s| {
                let new = s.last_error.as_deref() != Some(message);
                s.last_error = Some(message.to_string());
                new
            })
            .await;
        if new {
            self.event(name, kind, crate::Severity::Warning, message, &json!({}))
                .await?;
        }
        let mut status = self.stored_status(name).await?;
        status.error = Some(message.to_string());
        status.sync.status = crate::SyncCode::Unknown;
        self.store_status(name, &status).await
    }

    /// Stores an app's status and publishes it to live subscribers.
    pub(crate) async fn store_status(&self, name: &str, status: &AppStatus) -> EngineResult<()> {
        self.store.set_app_status(name, &status.to_value()).await?;
        self.publish(crate::Update::Status {
            application: name.to_string(),
            status: Box::new(status.clone()),
        });
        Ok(())
    }

    pub(super) async fn save_status(&self, name: &str, seen: &Seen<'_>) -> EngineResult<()> {
        let state = self.apps.lock().await.get(name).cloned();
        let now = tokio::time::Instant::now();
        let cmp = seen.cmp;
        let synced = if cmp.summary.in_sync() {
            SyncCode::Synced
        } else {
            SyncCode::OutOfSync
        };
        let status = AppStatus {
            sync: SyncState {
                status: synced,
                revision: Some(seen.revision.to_string()),
                head: Some(seen.head.to_string()),
                summary: Some(cmp.summary.clone()),
            },
            health: Some(seen.health.clone()),
            resources: cmp
                .resources
                .iter()
                .map(|r| ResourceStatus {
                    group: r.key.group.clone(),
                    kind: r.key.kind.clone(),
                    namespace: r.key.namespace.clone(),
                    name: r.key.name.clone(),
                    status: r.status,
                    impact: r.impact.clone(),
                    health: seen.healths.get(&r.key).cloned(),
                })
                .collect(),
            operation: OperationMemory {
                attempt: state
                    .as_ref()
                    .and_then(|s| s.last_attempt.as_deref())
                    .and_then(Revision::parse),
                good: state
                    .as_ref()
                    .and_then(|s| s.last_good.as_deref())
                    .and_then(Revision::parse),
                running: state.as_ref().and_then(|s| s.operation.as_ref()).map(|r| {
                    RunningOperation {
                        id: r.id,
                        revision: r.revision.clone(),
                        trigger: r.trigger.label().to_string(),
                        started_at_ms: r.started_ms,
                    }
                }),
            },
            reconciled_at_ms: Some(now_ms()),
            last_sync_at_ms: state.as_ref().and_then(|s| s.last_synced_ms),
            pinned: state
                .as_ref()
                .and_then(|s| s.pinned.as_ref())
                .map(|p| PinStatus {
                    revision: p.revision.clone(),
                    by: p.actor.clone(),
                }),
            heal_paused: state
                .as_ref()
                .and_then(|s| s.heal_paused.as_ref())
                .filter(|(until, _)| *until > now)
                .map(|(until, why)| HealPause {
                    reason: why.clone(),
                    remaining_seconds: until.saturating_duration_since(now).as_secs(),
                }),
            error: None,
            policy: None,
        };
        self.update(name, |s| s.last_error = None).await;
        self.metrics
            .app_status(name, synced.as_str(), seen.health.status.as_str());
        self.store_status(name, &status).await
    }
}
