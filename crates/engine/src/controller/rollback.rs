//! Rollback of an application to a deployment of its history: by id, by time, with a
//! reason; the app is pinned to that revision until its branch moves past the head seen
//! when the rollback was asked for (see `reconcile.rs`).

use crate::error::{EngineError, EngineResult};
use serde_json::json;

use super::{Controller, Pin, Reason, format_ms};

impl Controller {
    async fn history(&self, name: &str) -> EngineResult<Vec<driftless_store::HistoryEntry>> {
        self.store
            .list_history(name)
            .await
            .map_err(EngineError::store(format!(
                "reading the history of application {name}"
            )))
    }

    /// Rolls an application back to a deployed revision from its history (`None`: the one
    /// before the current), pinning it there until a newer commit lands on its branch.
    /// Returns the revision. Audited.
    pub async fn rollback(
        &self,
        name: &str,
        history_id: Option<i64>,
        actor: &str,
    ) -> EngineResult<String> {
        self.rollback_because(name, history_id, actor, None).await
    }

    /// [`Controller::rollback`] with the caller's reason, recorded in the audit log.
    pub async fn rollback_because(
        &self,
        name: &str,
        history_id: Option<i64>,
        actor: &str,
        reason: Option<&str>,
    ) -> EngineResult<String> {
        let target = self.rollback_target(name, history_id).await?;
        // Another replica owns the app: it pins and syncs it (see `shards`).
        let asked = serde_json::json!({"historyId": history_id, "reason": reason});
        if self.forward(name, "rollback", actor, asked).await? == Some(true) {
            return Ok(target.revision);
        }
        let status = self.stored_status(name).await?;
        let head = status
            .sync
            .head
            .or(status.sync.revision)
            .unwrap_or_default();
        {
            let mut apps = self.apps.lock().await;
            let s = apps
                .get_mut(name)
                .ok_or_else(|| EngineError::not_found("application", name))?;
            s.pinned = Some(Pin {
                revision: target.revision.clone(),
                head: head.clone(),
                actor: actor.to_string(),
            });
            s.sync_requested = Some(actor.to_string());
        }
        let mut details = json!({"to": target.revision, "historyId": target.id, "from": head});
        if let Some(r) = reason {
            details["reason"] = json!(r);
        }
        self.store
            .audit(
                actor,
                "app.rollback",
                &format!("application/{name}"),
                &details,
            )
            .await?;
        self.queue.enqueue(name, Reason::Definition);
        Ok(target.revision.clone())
    }

    /// The deployment a rollback goes back to: history entry `id`, or the previous one.
    pub(crate) async fn rollback_target(
        &self,
        name: &str,
        history_id: Option<i64>,
    ) -> EngineResult<driftless_store::HistoryEntry> {
        let history = self.history(name).await?;
        let target = match history_id {
            Some(id) => history.iter().find(|h| h.id == id).ok_or_else(|| {
                EngineError::invalid(format!("application {name} has no history entry {id}"))
            })?,
            None => history.get(1).ok_or_else(|| {
                EngineError::conflict(format!(
                    "application {name} has no earlier deployment to roll back to"
                ))
            })?,
        };
        if target.revision.starts_with("local:") {
            return Err(EngineError::invalid(format!(
                "application {name}: its source is a local directory, whose past revisions are not kept"
            )));
        }
        Ok(target.clone())
    }

    /// Rolls back to the deployment that was live at `at_ms` (milliseconds since the epoch):
    /// the newest history entry deployed at or before it. Returns the revision.
    pub async fn rollback_to_time(
        &self,
        name: &str,
        at_ms: i64,
        actor: &str,
    ) -> EngineResult<String> {
        let id = self.history_at_time(name, at_ms).await?;
        self.rollback(name, Some(id), actor).await
    }

    /// The history entry live at `at_ms`.
    pub async fn history_at_time(&self, name: &str, at_ms: i64) -> EngineResult<i64> {
        let history = self.history(name).await?;
        let target = history
            .iter()
            .filter(|h| h.deployed_ms <= at_ms)
            .max_by_key(|h| (h.deployed_ms, h.id))
            .ok_or_else(|| match history.iter().map(|h| h.deployed_ms).min() {
                Some(oldest) => EngineError::invalid(format!(
                    "application {name} has no deployment at or before {}; the oldest kept (revisionHistoryLimit) is from {}",
                    format_ms(at_ms),
                    format_ms(oldest)
                )),
                None => EngineError::invalid(format!("application {name} has no deployment history")),
            })?;
        Ok(target.id)
    }

    /// rollbackOnFailure: a new revision that failed (its sync, or its health afterwards)
    /// goes back to the last good one, through the same hold as a user's rollback (released
    /// by a newer commit), so the failed revision is not synced again.
    pub(super) async fn roll_back_on_failure(
        &self,
        name: &str,
        failed: &str,
        to: &str,
        head: &str,
        why: &str,
    ) -> EngineResult<()> {
        self.update(name, |s| {
            s.pinned = Some(Pin {
                revision: to.to_string(),
                head: head.to_string(),
                actor: "driftless".into(),
            });
            s.sync_requested = Some("driftless".into());
            s.health_watch = None;
        })
        .await;
        let message = format!(
            "revision {} failed ({why}); rolling back to {}",
            super::reconcile::short(failed),
            super::reconcile::short(to)
        );
        self.event(
            name,
            crate::EventKind::RollbackOnFailure,
            crate::Severity::Warning,
            &message,
            &json!({"failed": failed, "to": to}),
        )
        .await?;
        self.store
            .audit(
                "driftless",
                "app.rollback",
                &format!("application/{name}"),
                &json!({"to": to, "from": failed, "reason": "rollbackOnFailure"}),
            )
            .await?;
        Ok(())
    }
}
