//! Transitions the controller sees in an application's status, each raised once:
//! - **deployed**: synced and healthy at the revision the last successful sync applied, once
//!   per revision (a replaced pod going Progressing → Healthy again raises nothing);
//! - **health degraded**: health turns Degraded;
//! - **drift healed**: in sync again after a drift episode (recorded as a `DriftHealed` event,
//!   which the drift report reads).
//!
//! What a previous process saw is read from the store once per application (its stored
//! status, its last drift events), so a restart raises nothing again.

use crate::error::EngineResult;
use driftless_diff::Comparison;
use driftless_health::Health;
use driftless_notify::{EventKind, Operation};
use serde_json::{Value, json};

use super::Seen;
use super::events::ts;
use crate::controller::Controller;

impl Controller {
    /// This process's view of `name`, initialized from the store on first use.
    async fn seen(&self, name: &str) -> Seen {
        let known = self
            .notifications
            .seen
            .lock()
            .ok()
            .and_then(|m| m.get(name).cloned());
        if let Some(s) = known.filter(|s| s.initialized) {
            return s;
        }
        let status = self.stored_status(name).await.unwrap_or_default();
        let last = self
            .store
            .last_event_of_kinds(
                name,
                &[
                    crate::EventKind::DriftDetected.as_str(),
                    crate::EventKind::DriftHealed.as_str(),
                ],
            )
            .await
            .ok()
            .flatten();
        let episode = last
            .filter(|e| crate::EventKind::of(&e.kind) == crate::EventKind::DriftDetected)
            .and_then(|e| Some((e.data["episode"].as_str()?.to_string(), e.data)));
        let seen = Seen {
            initialized: true,
            health: status
                .health_status()
                .map(|h| h.as_str().to_string())
                .unwrap_or_default(),
            deployed: None,
            episode,
        };
        self.set_seen(name, |s| *s = seen.clone());
        seen
    }

    fn set_seen(&self, name: &str, f: impl FnOnce(&mut Seen)) {
        if let Ok(mut m) = self.notifications.seen.lock() {
            f(m.entry(name.to_string()).or_default());
        }
    }

    /// The drift episode a detection belongs to: the open one, else a new one (recorded with
    /// the detection, so after a restart the same episode continues).
    pub(crate) async fn drift_episode(&self, name: &str, data: &Value) -> String {
        if let Some((id, _)) = self.seen(name).await.episode {
            return id;
        }
        let id = format!("{name}:{}", super::now_ms());
        let mut detected = data.clone();
        detected["episode"] = json!(id);
        self.set_seen(name, |s| s.episode = Some((id.clone(), detected)));
        id
    }

    /// Looks at the status a reconcile is about to store (called just before it is).
    pub(crate) async fn notify_status(
        &self,
        name: &str,
        cmp: &Comparison,
        health: &Health,
        revision: &str,
    ) -> EngineResult<()> {
        let seen = self.seen(name).await;
        let health_now = health.status.as_str().to_string();
        let Some(state) = self.apps.lock().await.get(name).cloned() else {
            return Ok(());
        };
        let in_sync = cmp.summary.in_sync();
        if let Some((episode, detected)) = seen.episode.filter(|_| in_sync) {
            self.set_seen(name, |s| s.episode = None);
            let drift = super::events::drift_of(&detected);
            let by_self_heal = state.policy.drift == crate::policy::DriftAction::Heal;
            let data = json!({
                "episode": episode,
                "grade": drift.grade,
                "summary": drift.summary,
                "resources": drift.resources,
                "bySelfHeal": by_self_heal,
                "revision": revision,
            });
            let how = if by_self_heal {
                "healed by self-heal"
            } else {
                "back in sync"
            };
            self.event(
                name,
                crate::EventKind::DriftHealed,
                crate::Severity::Info,
                &format!(
                    "drift of revision {} {how}",
                    &revision[..revision.len().min(12)]
                ),
                &data,
            )
            .await?;
        }
        if health_now == "Degraded" && seen.health != "Degraded" {
            let id = format!("degraded:{name}:{}", super::now_ms());
            let kind = EventKind::HealthDegraded {
                message: health.message.clone(),
            };
            self.notify(&state.app, id, kind).await;
        }
        self.set_seen(name, |s| s.health = health_now.clone());
        let synced_good = state
            .last_good
            .as_deref()
            .is_some_and(|g| g.starts_with(&format!("{revision}:")));
        if in_sync
            && health_now == "Healthy"
            && synced_good
            && seen.deployed.as_deref() != Some(revision)
        {
            self.set_seen(name, |s| s.deployed = Some(revision.to_string()));
            let now = super::now_ms();
            let operation = Operation {
                id: format!("deployed:{revision}"),
                revision: revision.to_string(),
                message: format!("{revision} is synced and healthy"),
                started_at: state.last_synced_ms.map_or(ts(now), ts),
                finished_at: Some(ts(now)),
                initiated_by: None,
            };
            let id = format!("deployed:{name}:{revision}");
            self.notify(&state.app, id, EventKind::Deployed { operation })
                .await;
        }
        Ok(())
    }
}
