//! Cascading delete (`driftless app delete APP --cascade`, Argo CD's resources finalizer):
//! the application's tracked objects are deleted, then the application is forgotten.
//!
//! The deletion is a sync to an empty desired set with prune on, so it goes through the
//! same planner and executor as any prune: reverse kind order by wave, `Delete=false` /
//! `Prune=false` objects kept, each deletion watched until gone. Live objects are listed from
//! the API server, never the cache (no delete decided on a stale view). Deleting a
//! Namespace, PV, PVC or CRD needs `confirm_critical`, as for any sync. When anything fails
//! the application stays managed and the error says what is left.

use crate::error::{EngineError, EngineResult};
use serde_json::json;

use driftless_core::{DesiredSet, Gvk};

use super::Controller;
use crate::sync::{OperationPhase, sync};

impl Controller {
    /// Deletes what application `name` tracks in the cluster, then stops managing it.
    /// Returns how many objects were deleted.
    pub async fn delete_app_cascade(
        &self,
        name: &str,
        actor: &str,
        confirm_critical: bool,
    ) -> EngineResult<usize> {
        // An application a custom resource defines goes when that resource is deleted.
        self.custom_resources.admit_removal(
            super::custom_resources::Noun::Application,
            name,
            actor,
        )?;
        // Only the owner writes an app's objects (several replicas: see `shards`).
        self.must_own(name)?;
        // Out of the work queue's reach while deleting: no reconcile re-creates what goes.
        let state = self
            .apps
            .lock()
            .await
            .remove(name)
            .ok_or_else(|| EngineError::not_found("application", name))?;
        let result = self.cascade(name, &state, confirm_critical).await;
        match result {
            Ok(deleted) => {
                self.forget_app(name, actor, json!({"cascade": true, "deleted": deleted}))
                    .await?;
                Ok(deleted)
            }
            Err(e) => {
                // Still managed: put it back as it was.
                self.apps.lock().await.insert(name.to_string(), state);
                self.event(
                    name,
                    crate::EventKind::DeleteFailed,
                    crate::Severity::Warning,
                    &e.to_string(),
                    &json!({}),
                )
                .await?;
                Err(e)
            }
        }
    }

    async fn cascade(
        &self,
        name: &str,
        state: &super::AppState,
        confirm_critical: bool,
    ) -> EngineResult<usize> {
        let mut req =
            state
                .policy
                .request(&state.app, DesiredSet::new(), self.config.server_side_diff);
        req.plan.prune = true;
        req.plan.allow_empty = true;
        req.plan.prune_guard_percent = 100;
        req.plan.confirm_critical = confirm_critical;
        req.plan.sync_options.create_namespace = Some(false);
        req.health_timeout = self.config.health_timeout;
        // Custom kinds the app had (its last status), so their objects are found too; the
        // version is the server's preferred one.
        let mut kinds: Vec<Gvk> = self
            .stored_status(name)
            .await?
            .resources
            .into_iter()
            .map(|r| Gvk {
                group: r.group,
                version: String::new(),
                kind: r.kind,
            })
            .collect();
        kinds.sort_by(|a, b| (&a.group, &a.kind).cmp(&(&b.group, &b.kind)));
        kinds.dedup_by(|a, b| a.group == b.group && a.kind == b.kind);
        req.extra_kinds = kinds;
        let target = self.target(&state.app)?;
        let result = sync(target.cluster.as_ref(), &req, &self.assessor, None, &|_| {}).await?;
        if result.phase != OperationPhase::Succeeded {
            return Err(EngineError::conflict(format!(
                "application {name}: deleting its objects {}: {} (the application is still managed; nothing else was removed)",
                match result.phase {
                    OperationPhase::Refused => "was refused",
                    _ => "failed",
                },
                result.message
            )));
        }
        Ok(result
            .resources
            .iter()
            .filter(|r| r.outcome == crate::sync::Outcome::Pruned)
            .count())
    }
}
