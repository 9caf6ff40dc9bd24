//! Rollback of an application to a deployment of its history: by id, by time, with a
//! reason; the app is pinned to that revision until its branch moves past the head seen
//! when the rollback was asked for (see `reconcile.rs`).

use serde_json::json;

use super::{Controller, Pin, Reason, format_ms};

impl Controller {
    async fn history(&self, name: &str) -> Result<Vec<driftless_store::HistoryEntry>, String> {
        self.store
            .list_history(name)
            .await
            .map_err(|e| format!("reading the history of application {name}: {e}"))
    }

    /// Rolls an application back to a deployed revision from its history (`None`: the one
    /// before the current), pinning it there until a newer commit lands on its branch.
    /// Returns the revision. Audited.
    pub async fn rollback(
        &self,
        name: &str,
        history_id: Option<i64>,
        actor: &str,
    ) -> Result<String, String> {
        self.rollback_because(name, history_id, actor, None).await
    }

    /// [`Controller::rollback`] with the caller's reason, recorded in the audit log.
    pub async fn rollback_because(
        &self,
        name: &str,
        history_id: Option<i64>,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<String, String> {
        let target = self.rollback_target(name, history_id).await?;
        // Another replica owns the app: it pins and syncs it (see `shards`).
        let asked = serde_json::json!({"historyId": history_id, "reason": reason});
        if self.forward(name, "rollback", actor, asked).await? == Some(true) {
            return Ok(target.revision);
        }
        let status = self
            .store
            .get_app(name)
            .await
            .map_err(|e| e.to_string())?
            .map(|a| a.status)
            .unwrap_or_default();
        let head = status["sync"]["head"]
            .as_str()
            .or(status["sync"]["revision"].as_str())
            .unwrap_or_default()
            .to_string();
        {
            let mut apps = self.apps.lock().await;
            let s = apps
                .get_mut(name)
                .ok_or_else(|| format!("application {name} not found"))?;
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
            .await
            .map_err(|e| e.to_string())?;
        self.queue.enqueue(name, Reason::Definition);
        Ok(target.revision.clone())
    }

    /// The deployment a rollback goes back to: history entry `id`, or the previous one.
    pub(crate) async fn rollback_target(
        &self,
        name: &str,
        history_id: Option<i64>,
    ) -> Result<driftless_store::HistoryEntry, String> {
        let history = self.history(name).await?;
        let target = match history_id {
            Some(id) => history
                .iter()
                .find(|h| h.id == id)
                .ok_or_else(|| format!("application {name} has no history entry {id}"))?,
            None => history.get(1).ok_or_else(|| {
                format!("application {name} has no earlier deployment to roll back to")
            })?,
        };
        if target.revision.starts_with("local:") {
            return Err(format!(
                "application {name}: its source is a local directory, whose past revisions are not kept"
            ));
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
    ) -> Result<String, String> {
        let id = self.history_at_time(name, at_ms).await?;
        self.rollback(name, Some(id), actor).await
    }

    /// The history entry live at `at_ms`.
    pub async fn history_at_time(&self, name: &str, at_ms: i64) -> Result<i64, String> {
        let history = self.history(name).await?;
        let target = history
            .iter()
            .filter(|h| h.deployed_ms <= at_ms)
            .max_by_key(|h| (h.deployed_ms, h.id))
            .ok_or_else(|| match history.iter().map(|h| h.deployed_ms).min() {
                Some(oldest) => format!(
                    "application {name} has no deployment at or before {}; the oldest kept (revisionHistoryLimit) is from {}",
                    format_ms(at_ms),
                    format_ms(oldest)
                ),
                None => format!("application {name} has no deployment history"),
            })?;
        Ok(target.id)
    }
}
