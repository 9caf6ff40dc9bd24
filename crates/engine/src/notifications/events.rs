//! From the controller's events to typed notification events, planned and enqueued: a
//! recorded event and its messages in one store transaction ([`Controller::record_event`]),
//! events the controller does not record enqueued on their own with stable ids.

use std::collections::BTreeMap;

use driftless_core::app::Application;
use driftless_notify::{EventKind, NotifyEvent, Operation, PromotionStage};
use serde_json::{Value, json};

pub(crate) use super::mapping::ts;
pub use super::mapping::{app_info, drift_of, notify_kind};
use crate::controller::Controller;
use crate::event_kind::{EventKind as Recorded, Severity};

impl Controller {
    /// Records an application event and the notifications it causes in one transaction.
    /// Without a configuration (or for kinds with no notification) it is a plain event.
    pub(crate) async fn record_event(
        &self,
        app: &str,
        kind: Recorded,
        severity: Severity,
        message: &str,
        data: &Value,
    ) -> Result<i64, driftless_store::StoreError> {
        let mut data = data.clone();
        if kind == Recorded::DriftDetected {
            data["episode"] = json!(self.drift_episode(app, &data).await);
        }
        let loaded = self.notifications.loaded();
        let definition = self.apps.lock().await.get(app).map(|s| s.app.clone());
        let (Some(loaded), Some(definition)) = (loaded, definition) else {
            return self
                .add_plain_event(app, kind, severity, message, &data)
                .await;
        };
        let now = super::now_ms();
        let Some((id, notify)) =
            notify_kind(app, &definition.source.repo_url, kind, message, &data, now)
        else {
            return self
                .add_plain_event(app, kind, severity, message, &data)
                .await;
        };
        let notify = self.with_promotion(notify).await;
        let event = self.notify_event(&definition, id, notify, now).await;
        let mut messages = self.plan(&loaded, &event).await;
        // A user's rollback is a sync of the operation kind `rollback` (its reason opens the
        // message): it is also `on-rollback`, in the same transaction.
        if kind == Recorded::SyncSucceeded && message.starts_with("rollback requested by a user") {
            let from = self
                .apps
                .lock()
                .await
                .get(app)
                .and_then(|s| s.last_good.clone())
                .and_then(|g| g.split_once(':').map(|(rev, _)| rev.to_string()))
                .unwrap_or_default();
            let rollback = EventKind::Rollback {
                from,
                to: data["revision"].as_str().unwrap_or_default().to_string(),
                automatic: false,
                reason: message.to_string(),
            };
            let id = format!("rollback:{app}:op:{}", data["operation"]);
            let event = self.notify_event(&definition, id, rollback, now).await;
            messages.extend(self.plan(&loaded, &event).await);
        }
        let (id, enqueued) = self
            .store
            .add_event_with_notifications(
                app,
                kind.as_str(),
                severity.as_str(),
                message,
                &data,
                &messages,
            )
            .await?;
        if enqueued.inserted > 0 {
            tracing::info!(
                app,
                event = kind.as_str(),
                queued = enqueued.inserted,
                "notifications queued"
            );
            self.notifications.wake();
        }
        Ok(id)
    }

    async fn add_plain_event(
        &self,
        app: &str,
        kind: Recorded,
        severity: Severity,
        message: &str,
        data: &Value,
    ) -> Result<i64, driftless_store::StoreError> {
        self.store
            .add_event(app, kind.as_str(), severity.as_str(), message, data)
            .await
    }

    async fn notify_event(
        &self,
        app: &Application,
        id: String,
        kind: EventKind,
        at_ms: i64,
    ) -> NotifyEvent {
        let status = self.stored_status(&app.name).await.unwrap_or_default();
        NotifyEvent {
            id,
            at: ts(at_ms),
            app: app_info(app, &status),
            kind,
        }
    }

    /// A promotion event with what its record says: stages, revision, who decided.
    async fn with_promotion(&self, kind: EventKind) -> EventKind {
        let EventKind::Promotion {
            stage,
            mut promotion,
        } = kind
        else {
            return kind;
        };
        if let Ok(id) = promotion.id.parse::<i64>()
            && let Ok(Some(p)) = self.promotion(id).await
        {
            promotion.from = p.from;
            promotion.to = p.to;
            promotion.revision = Some(p.source_revision).filter(|r| !r.is_empty());
            promotion.by = match stage {
                PromotionStage::Approved | PromotionStage::Rejected => {
                    p.approvals.last().map(|d| d.user.clone())
                }
                _ => Some(p.requested_by).filter(|r| !r.is_empty()),
            };
        }
        EventKind::Promotion { stage, promotion }
    }

    /// The messages `event` causes; planning problems (an unknown service, a template that
    /// fails) are logged with the subscription they come from and never stop the others.
    async fn plan(
        &self,
        loaded: &super::Loaded,
        event: &NotifyEvent,
    ) -> Vec<driftless_notify::NewMessage> {
        let project = self
            .projects
            .lock()
            .await
            .get(&event.app.project)
            .map(|p| p.annotations.clone())
            .unwrap_or_else(BTreeMap::new);
        let plan = loaded.notifier.plan(event, &project);
        for problem in &plan.problems {
            tracing::warn!(app = %event.app.name, event = event.kind.name(), "notification not planned: {problem}");
        }
        plan.messages
    }

    /// Enqueues the notifications of an event the controller does not record as an event
    /// (its id is stable, so raising it again adds nothing).
    pub(crate) async fn notify(&self, app: &Application, id: String, kind: EventKind) {
        let Some(loaded) = self.notifications.loaded() else {
            return;
        };
        let event = self.notify_event(app, id, kind, super::now_ms()).await;
        let messages = self.plan(&loaded, &event).await;
        if messages.is_empty() {
            return;
        }
        use driftless_notify::Outbox;
        match self.store.notification_outbox().enqueue(&messages).await {
            Ok(n) if n.inserted > 0 => self.notifications.wake(),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(app = %app.name, event = event.kind.name(), error = %e, "could not queue notifications")
            }
        }
    }

    /// An operation began (`on-sync-running`).
    pub(crate) async fn notify_sync_running(&self, name: &str, op: i64, revision: &str) {
        let Some(app) = self.apps.lock().await.get(name).map(|s| s.app.clone()) else {
            return;
        };
        let now = super::now_ms();
        let operation = Operation {
            id: op.to_string(),
            revision: revision.to_string(),
            message: String::new(),
            started_at: ts(now),
            finished_at: None,
            initiated_by: None,
        };
        self.notify(
            &app,
            format!("running:{name}:{op}"),
            EventKind::SyncRunning { operation },
        )
        .await;
    }

    /// An application was added (`on-created`) or removed (`on-deleted`).
    pub(crate) async fn notify_app_lifecycle(&self, app: &Application, created: bool) {
        let (id, kind) = if created {
            (format!("created:{}", app.name), EventKind::AppCreated)
        } else {
            (
                format!("deleted:{}:{}", app.name, super::now_ms()),
                EventKind::AppDeleted,
            )
        };
        self.notify(app, id, kind).await;
    }

    /// Self-heal was paused (`on-heal-paused`).
    pub(crate) async fn notify_heal_paused(&self, name: &str, reason: &str) {
        let Some(app) = self.apps.lock().await.get(name).map(|s| s.app.clone()) else {
            return;
        };
        let id = format!("paused:{name}:{}", super::now_ms());
        self.notify(
            &app,
            id,
            EventKind::HealPaused {
                reason: reason.into(),
            },
        )
        .await;
    }
}
