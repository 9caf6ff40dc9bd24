//! From the controller's events to typed notification events, planned and enqueued.
//!
//! [`notify_kind`] is the one mapping from a recorded event (kind + data) to a
//! [`EventKind`] with a stable id: the same sync operation, drift episode or promotion stage
//! always gives the same id, so the outbox's dedupe key holds across retries and restarts. The
//! drift report uses the same mapping over stored events.

use std::collections::BTreeMap;

use driftless_core::app::Application;
use driftless_notify::{
    AppInfo, Destination, Drift, EventKind, NotifyEvent, Operation, Promotion, PromotionStage,
};
use serde_json::{Value, json};

use crate::controller::Controller;

/// The notification event a recorded event stands for, with its id; `None` for kinds nobody
/// subscribes to. `app`/`repo_url` name the application; `message` is the event's text.
pub fn notify_kind(
    app: &str,
    repo_url: &str,
    kind: &str,
    message: &str,
    data: &Value,
    at_ms: i64,
) -> Option<(String, EventKind)> {
    let text = |k: &str| data[k].as_str().unwrap_or_default().to_string();
    let operation = || Operation {
        id: data["operation"].to_string(),
        revision: text("revision"),
        message: message.to_string(),
        started_at: ts(at_ms),
        finished_at: Some(ts(at_ms)),
        initiated_by: None,
    };
    let op_id = format!("op:{app}:{}", data["operation"]);
    Some(match kind {
        "SyncSucceeded" => (
            op_id,
            EventKind::SyncSucceeded {
                operation: operation(),
            },
        ),
        "SyncFailed" => (
            op_id,
            EventKind::SyncFailed {
                operation: operation(),
            },
        ),
        "DriftDetected" => (
            format!("drift:{}", text("episode")),
            EventKind::DriftDetected {
                drift: drift_of(data),
            },
        ),
        "DriftHealed" => (
            format!("healed:{}", text("episode")),
            EventKind::DriftHealed {
                drift: drift_of(data),
                by_self_heal: data["bySelfHeal"].as_bool().unwrap_or(false),
            },
        ),
        "RollbackOnFailure" => (
            format!("rollback:{app}:{}:{}", text("failed"), text("to")),
            EventKind::Rollback {
                from: text("failed"),
                to: text("to"),
                automatic: true,
                reason: message.to_string(),
            },
        ),
        "PolicyDenied" => (
            format!("policy:{app}:{}", text("revision")),
            EventKind::PolicyDenied {
                revision: text("revision"),
                message: message.to_string(),
            },
        ),
        "ComparisonError" if message.contains(": fetching ") => (
            format!("repo:{app}:{at_ms}"),
            EventKind::RepositoryUnreachable {
                repo_url: repo_url.to_string(),
                error: message.to_string(),
            },
        ),
        promotion if promotion.starts_with("Promot") => {
            let stage = promotion_stage(promotion)?;
            let id = data["promotion"].to_string();
            (
                format!("promotion:{id}:{}", stage.as_str()),
                EventKind::Promotion {
                    stage,
                    promotion: Promotion {
                        id,
                        pipeline: text("pipeline"),
                        message: message.to_string(),
                        ..Promotion::default()
                    },
                },
            )
        }
        _ => return None,
    })
}

fn promotion_stage(kind: &str) -> Option<PromotionStage> {
    Some(match kind {
        "PromotionWaitingApproval" => PromotionStage::WaitingForApproval,
        "PromotionApproved" => PromotionStage::Approved,
        "PromotionRejected" => PromotionStage::Rejected,
        "PromotionExpired" => PromotionStage::Expired,
        "PromotionFailed" => PromotionStage::Failed,
        "Promoted" | "PromotionSucceeded" => PromotionStage::Landed,
        _ => return None,
    })
}

/// The drift an event's data describes: grade, and one line per drifted resource naming the
/// changed paths (never values: a Secret's content cannot reach a message).
pub fn drift_of(data: &Value) -> Drift {
    if let Some(summary) = data["summary"].as_array() {
        // A DriftHealed event carries the detection's drift as it was.
        return Drift {
            episode: data["episode"].as_str().unwrap_or_default().into(),
            grade: data["grade"].as_str().unwrap_or_default().into(),
            summary: summary
                .iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect(),
            resources: data["resources"].as_u64().unwrap_or(0) as u32,
        };
    }
    let resources = data["resources"].as_array().cloned().unwrap_or_default();
    let summary = resources
        .iter()
        .map(|r| {
            let changes: Vec<String> = r["changes"]
                .as_array()
                .map(|cs| {
                    cs.iter()
                        .map(|c| {
                            format!(
                                "{} {}",
                                c["op"].as_str().unwrap_or("changed"),
                                c["path"].as_str().unwrap_or_default()
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let key = r["key"].as_str().unwrap_or_default();
            if changes.is_empty() {
                format!("{key}: {}", r["status"].as_str().unwrap_or("OutOfSync"))
            } else {
                format!("{key}: {}", changes.join(", "))
            }
        })
        .collect();
    Drift {
        episode: data["episode"].as_str().unwrap_or_default().into(),
        grade: data["impact"].as_str().unwrap_or_default().into(),
        summary,
        resources: resources.len() as u32,
    }
}

pub(crate) fn ts(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// The application as notifications see it, from its definition and a stored status.
pub fn app_info(app: &Application, status: &Value) -> AppInfo {
    let environment = app
        .labels
        .get("environment")
        .or_else(|| app.labels.get("env"))
        .cloned();
    AppInfo {
        name: app.name.clone(),
        namespace: None,
        project: if app.project.is_empty() {
            "default".into()
        } else {
            app.project.clone()
        },
        environment,
        labels: app.labels.clone(),
        annotations: app.annotations.clone(),
        revision: status["sync"]["revision"].as_str().map(String::from),
        repo_url: app.source.repo_url.clone(),
        path: app.source.path.clone(),
        target_revision: app.source.target_revision.clone(),
        sync_status: status["sync"]["status"]
            .as_str()
            .unwrap_or("Unknown")
            .into(),
        health_status: status["health"]["status"]
            .as_str()
            .unwrap_or("Unknown")
            .into(),
        health_message: status["health"]["message"].as_str().map(String::from),
        destination: Destination {
            server: app.destination.server.clone(),
            namespace: app.destination.namespace.clone(),
            name: app.destination.name.clone(),
        },
    }
}

impl Controller {
    /// Records an application event and the notifications it causes in one transaction.
    /// Without a configuration (or for kinds with no notification) it is a plain event.
    pub(crate) async fn record_event(
        &self,
        app: &str,
        kind: &str,
        severity: &str,
        message: &str,
        data: &Value,
    ) -> Result<i64, driftless_store::StoreError> {
        let mut data = data.clone();
        if kind == "DriftDetected" {
            data["episode"] = json!(self.drift_episode(app, &data).await);
        }
        let loaded = self.notifications.loaded();
        let definition = self.apps.lock().await.get(app).map(|s| s.app.clone());
        let (Some(loaded), Some(definition)) = (loaded, definition) else {
            return self
                .store
                .add_event(app, kind, severity, message, &data)
                .await;
        };
        let now = super::now_ms();
        let Some((id, notify)) =
            notify_kind(app, &definition.source.repo_url, kind, message, &data, now)
        else {
            return self
                .store
                .add_event(app, kind, severity, message, &data)
                .await;
        };
        let notify = self.with_promotion(notify).await;
        let event = self.notify_event(&definition, id, notify, now).await;
        let messages = self.plan(&loaded, &event).await;
        let (id, enqueued) = self
            .store
            .add_event_with_notifications(app, kind, severity, message, &data, &messages)
            .await?;
        if enqueued.inserted > 0 {
            tracing::info!(
                app,
                event = kind,
                queued = enqueued.inserted,
                "notifications queued"
            );
            self.notifications.wake();
        }
        Ok(id)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_events_map_to_notification_events_with_stable_ids() {
        let sync = json!({"operation": 7, "revision": "abc"});
        let (id, kind) = notify_kind("web", "u", "SyncSucceeded", "ok", &sync, 1).unwrap();
        // The same operation, whenever it is seen again: the same id.
        let (again, _) = notify_kind("web", "u", "SyncSucceeded", "ok", &sync, 99).unwrap();
        assert_eq!(id, again);
        match kind {
            EventKind::SyncSucceeded { operation } => assert_eq!(operation.revision, "abc"),
            other => panic!("{other:?}"),
        }
        let drift = json!({"episode": "web:5", "impact": "high", "resources": [
            {"key": "apps/Deployment/shop/web", "changes": [{"path": "spec.replicas", "op": "changed"}], "diff": "-  replicas: 3\n+  replicas: 5"},
            {"key": "/ConfigMap/shop/conf", "status": "OutOfSync", "changes": []},
        ]});
        let (id, kind) = notify_kind("web", "u", "DriftDetected", "m", &drift, 1).unwrap();
        assert_eq!(id, "drift:web:5");
        let EventKind::DriftDetected { drift: d } = kind else {
            panic!("not a drift")
        };
        assert_eq!(d.grade, "high");
        assert_eq!(d.resources, 2);
        assert_eq!(
            d.summary,
            [
                "apps/Deployment/shop/web: changed spec.replicas",
                "/ConfigMap/shop/conf: OutOfSync"
            ]
        );
        // The healed event carries the detection's summary as it was.
        let healed = json!({"episode": "web:5", "grade": "high", "summary": d.summary, "resources": 2, "bySelfHeal": true});
        let (id, kind) = notify_kind("web", "u", "DriftHealed", "m", &healed, 2).unwrap();
        assert_eq!(id, "healed:web:5");
        assert!(
            matches!(kind, EventKind::DriftHealed { by_self_heal: true, ref drift } if drift.summary.len() == 2)
        );
        let (_, kind) = notify_kind(
            "web",
            "https://git.example.com/r.git",
            "ComparisonError",
            "application web: fetching https://git.example.com/r.git: connection refused",
            &json!({}),
            3,
        )
        .unwrap();
        assert!(
            matches!(kind, EventKind::RepositoryUnreachable { ref repo_url, .. } if repo_url == "https://git.example.com/r.git")
        );
        // A render error is not an unreachable repository.
        assert!(
            notify_kind(
                "web",
                "u",
                "ComparisonError",
                "kustomize: bad",
                &json!({}),
                3
            )
            .is_none()
        );
        let (id, kind) = notify_kind(
            "web",
            "u",
            "PromotionWaitingApproval",
            "waits",
            &json!({"promotion": 4, "pipeline": "shop"}),
            3,
        )
        .unwrap();
        assert_eq!(id, "promotion:4:waiting-for-approval");
        assert!(matches!(
            kind,
            EventKind::Promotion {
                stage: PromotionStage::WaitingForApproval,
                ..
            }
        ));
        let (_, kind) = notify_kind(
            "web",
            "u",
            "RollbackOnFailure",
            "revision b failed",
            &json!({"failed": "b", "to": "a"}),
            3,
        )
        .unwrap();
        assert!(matches!(kind, EventKind::Rollback { automatic: true, ref to, .. } if to == "a"));
        assert!(notify_kind("web", "u", "OperationInterrupted", "x", &json!({}), 3).is_none());
    }
}
