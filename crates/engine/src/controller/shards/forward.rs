//! Requests that need an application's owner (a user's sync or refresh, a webhook's
//! push) made on a replica that does not own it: left in the store as a request row, and
//! picked up by the owner at its next tick. Auditing stays with the replica that was asked.

use super::Ownership;
use crate::controller::{Controller, Reason};

impl Controller {
    /// A user's request for an app another replica owns: left in the store for the owner.
    /// `None` when this replica handles it itself.
    pub(crate) async fn forward(
        &self,
        name: &str,
        kind: &str,
        actor: &str,
        prune: bool,
    ) -> Result<Option<bool>, String> {
        let Some(own) = self.shards.get() else {
            return Ok(None);
        };
        if own.owns(name) {
            return Ok(None);
        }
        if !self.apps.lock().await.contains_key(name) {
            return Ok(Some(false));
        }
        // Audited here, where it was asked and who asked is known, as an owner's would be.
        self.store
            .audit(
                actor,
                &format!("app.{kind}.request"),
                &format!("application/{name}"),
                &serde_json::json!({"prune": prune, "forwarded": true}),
            )
            .await
            .map_err(|e| e.to_string())?;
        self.store
            .forward_request(name, kind, actor, prune)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some(true))
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
            if let Err(e) = store.forward_request(&app, "refresh", "api", false).await {
                tracing::warn!(app = %app, "forwarding a refresh to its owner: {e}");
            }
        });
        true
    }

    /// Requests other replicas left for apps this one owns.
    pub(super) async fn forwarded(&self, own: &Ownership) -> Result<(), String> {
        let e = |e: driftless_store::StoreError| e.to_string();
        for r in self.store.pending_requests().await.map_err(e)? {
            if !own.owns(&r.app) || !self.store.take_request(r.id).await.map_err(e)? {
                continue;
            }
            if r.kind == "sync"
                && let Some(s) = self.apps.lock().await.get_mut(&r.app)
            {
                s.sync_requested = Some(r.actor.clone());
                s.prune_requested = r.prune;
            }
            self.queue.enqueue(&r.app, Reason::User);
        }
        Ok(())
    }
}
