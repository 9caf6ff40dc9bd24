//! Requests that need an application's owner (a user's sync or refresh, a webhook's
//! push) made on a replica that does not own it: left in the store as a request row, and
//! picked up by the owner at its next tick. Auditing stays with the replica that was asked.

use super::Ownership;
use crate::controller::{Controller, Reason};
use crate::error::{EngineError, EngineResult};

impl Controller {
    /// A user's request for an app another replica owns: audited here (`app.KIND.request`,
    /// where who asked is known) and left in the store for the owner. `None` when this
    /// replica handles it itself; `Some(false)` when the app is unknown.
    pub(crate) async fn forward(
        &self,
        name: &str,
        kind: &str,
        actor: &str,
        details: serde_json::Value,
    ) -> EngineResult<Option<bool>> {
        let Some(own) = self.shards.get() else {
            return Ok(None);
        };
        if own.owns(name) {
            return Ok(None);
        }
        if !self.apps.lock().await.contains_key(name) {
            return Ok(Some(false));
        }
        let mut audited = details.clone();
        audited["forwarded"] = serde_json::json!(true);
        self.store
            .audit(
                actor,
                &format!("app.{kind}.request"),
                &format!("application/{name}"),
                &audited,
            )
            .await?;
        self.store
            .forward_request(name, kind, actor, &details)
            .await?;
        Ok(Some(true))
    }

    /// Refuses what only an application's owner may do (a cascade delete writes the app's
    /// objects, and the owner may be syncing them), naming where to ask.
    pub(crate) fn must_own(&self, name: &str) -> EngineResult<()> {
        match self.shards.get() {
            Some(own) if !own.owns(name) => Err(EngineError::conflict(format!(
                "application {name} is reconciled by another replica than {}: ask the replica that owns it (`driftless shards --apps` lists the owners)",
                own.replica()
            ))),
            _ => Ok(()),
        }
    }

    /// A user's refresh of an app another replica owns: left in the store for the owner
    /// (in the background: queuing never waits). False when this replica handles it.
    pub(crate) fn forward_refresh(&self, name: &str) -> bool {
        let Some(own) = self.shards.get() else {
            return false;
        };
        if own.owns(name) {
            return false;
        }
        let (store, app) = (self.store.clone(), name.to_string());
        tokio::spawn(async move {
            if let Err(e) = store
                .forward_request(&app, "refresh", "api", &serde_json::json!({}))
                .await
            {
                tracing::warn!(app = %app, "forwarding a refresh to its owner: {e}");
            }
        });
        true
    }

    /// Requests other replicas left for apps this one owns.
    pub(super) async fn forwarded(&self, own: &Ownership) -> EngineResult<()> {
        for r in self.store.pending_requests().await? {
            if !own.owns(&r.app) || !self.store.take_request(r.id).await? {
                continue;
            }
            match r.kind.as_str() {
                "pause-heal" => {
                    let seconds = r.details["seconds"].as_u64().unwrap_or(0);
                    let reason = r.details["reason"].as_str().unwrap_or("forwarded");
                    let pause = std::time::Duration::from_secs(seconds);
                    if let Err(e) = self.pause_heal(&r.app, pause, reason, &r.actor).await {
                        tracing::warn!(app = %r.app, "a forwarded pause of self-heal: {e}");
                    }
                    continue;
                }
                "rollback" => {
                    let id = r.details["historyId"].as_i64();
                    let reason = r.details["reason"].as_str();
                    if let Err(e) = self.rollback_because(&r.app, id, &r.actor, reason).await {
                        tracing::warn!(app = %r.app, "a forwarded rollback: {e}");
                    }
                    continue;
                }
                "sync" => {
                    if let Some(s) = self.apps.lock().await.get_mut(&r.app) {
                        s.sync_requested = Some(r.actor.clone());
                        s.prune_requested = r.details["prune"] == true;
                    }
                }
                _ => {}
            }
            self.queue.enqueue(&r.app, Reason::User);
        }
        Ok(())
    }
}
