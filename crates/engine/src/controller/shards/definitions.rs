//! Replicas learn each other's definitions from the store. An application created, changed
//! or deleted through one replica's API is written to the store by that replica only; the
//! others adopt the stored definition into their own state (no store write, so a stale
//! copy never overwrites a newer one) and the hash assignment then gives it an owner.

use crate::error::{EngineError, EngineResult};
use std::collections::BTreeMap;

use driftless_core::app::Application;

use crate::controller::{AppState, Controller, Reason};
use crate::policy::AppPolicy;

impl Controller {
    /// Makes this replica's applications the stored ones: adopts new and changed
    /// definitions, forgets deleted ones (their objects stay; their owner lets them go).
    pub(crate) async fn adopt_stored_definitions(&self) -> EngineResult<()> {
        let stored: BTreeMap<String, serde_json::Value> =
            self.store.app_specs().await?.into_iter().collect();
        let local: BTreeMap<String, serde_json::Value> = self
            .apps
            .lock()
            .await
            .iter()
            .map(|(n, s)| (n.clone(), serde_json::to_value(&s.app).unwrap_or_default()))
            .collect();
        for (name, spec) in &stored {
            if local.get(name) == Some(spec) {
                continue;
            }
            match serde_json::from_value::<Application>(spec.clone()) {
                Ok(app) => {
                    if let Err(e) = self.adopt(app).await {
                        tracing::warn!(app = %name, "stored application not adopted: {e}");
                    }
                }
                Err(e) => tracing::warn!(app = %name, "stored application is not valid: {e}"),
            }
        }
        let gone: Vec<&String> = local.keys().filter(|n| !stored.contains_key(*n)).collect();
        if !gone.is_empty() {
            let mut apps = self.apps.lock().await;
            for name in gone {
                apps.remove(name);
            }
        }
        Ok(())
    }

    /// Takes `app` into this replica's state as stored (validated as `set_app` does).
    async fn adopt(&self, app: Application) -> EngineResult<()> {
        app.validate().map_err(EngineError::invalid)?;
        let policy = AppPolicy::of(&app, false)?;
        let name = app.name.clone();
        let mut apps = self.apps.lock().await;
        match apps.get_mut(&name) {
            Some(s) => {
                s.app = app;
                s.policy = policy;
            }
            None => {
                apps.insert(name.clone(), AppState::new(app, policy));
            }
        }
        drop(apps);
        // Queued only if owned (the queue's filter); a new owner reloads what the store
        // remembers when it claims it.
        self.queue.enqueue(&name, Reason::Definition);
        Ok(())
    }
}
