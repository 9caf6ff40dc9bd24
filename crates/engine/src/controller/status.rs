//! An application's stored status: written after every reconcile from its comparison and
//! the watch-fed health (so it follows the cluster while an operation runs), or with the
//! error that stopped the comparison; each write is published to live subscribers.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use driftless_core::ResourceKey;
use driftless_diff::Comparison;
use driftless_health::Health;

use super::Controller;
use super::operation::now_ms;

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
        kind: &str,
        message: &str,
    ) -> Result<(), String> {
        let new = self
            .update(name, |s| {
                let new = s.last_error.as_deref() != Some(message);
                s.last_error = Some(message.to_string());
                new
            })
            .await;
        if new {
            self.event(name, kind, "warning", message, &json!({}))
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut status = self
            .store
            .get_app(name)
            .await
            .map_err(|e| e.to_string())?
            .map(|r| r.status)
            .unwrap_or_else(|| json!({}));
        status["error"] = json!(message);
        status["sync"]["status"] = json!("Unknown");
        self.store_status(name, status).await
    }

    /// Stores an app's status and publishes it to live subscribers.
    pub(crate) async fn store_status(&self, name: &str, status: Value) -> Result<(), String> {
        self.store
            .set_app_status(name, &status)
            .await
            .map_err(|e| e.to_string())?;
        self.publish(json!({"type": "status", "application": name, "status": status}));
        Ok(())
    }

    pub(super) async fn save_status(&self, name: &str, seen: &Seen<'_>) -> Result<(), String> {
        let state = self.apps.lock().await.get(name).cloned();
        let now = tokio::time::Instant::now();
        let cmp = seen.cmp;
        let running = state.as_ref().and_then(|s| s.operation.as_ref()).map(|r| {
            json!({"id": r.id, "revision": r.revision, "trigger": r.trigger.label(), "startedAtMs": r.started_ms})
        });
        let status = json!({
            "sync": {"status": if cmp.summary.in_sync() { "Synced" } else { "OutOfSync" }, "revision": seen.revision, "head": seen.head, "summary": cmp.summary},
            "health": seen.health,
            "resources": cmp.resources.iter().map(|r| {
                let mut v = json!({
                    "group": r.key.group, "kind": r.key.kind, "namespace": r.key.namespace, "name": r.key.name,
                    "status": r.status, "impact": r.impact,
                });
                if let Some(h) = seen.healths.get(&r.key) {
                    v["health"] = json!(h);
                }
                v
            }).collect::<Vec<_>>(),
            "operation": {
                "attempt": state.as_ref().and_then(|s| s.last_attempt.clone()),
                "good": state.as_ref().and_then(|s| s.last_good.clone()),
                "running": running,
            },
            "reconciledAtMs": now_ms(),
            "lastSyncAtMs": state.as_ref().and_then(|s| s.last_synced_ms),
            "pinned": state.as_ref().and_then(|s| s.pinned.as_ref()).map(|p| json!({"revision": p.revision, "by": p.actor})),
            "healPaused": state.as_ref().and_then(|s| s.heal_paused.as_ref()).filter(|(until, _)| *until > now).map(|(until, why)| json!({
                "reason": why,
                "remainingSeconds": until.saturating_duration_since(now).as_secs(),
            })),
        });
        self.update(name, |s| s.last_error = None).await;
        self.metrics.app_status(
            name,
            if cmp.summary.in_sync() {
                "Synced"
            } else {
                "OutOfSync"
            },
            seen.health.status.as_str(),
        );
        self.store_status(name, status).await
    }
}
