//! The one mapping from a recorded event (kind + data) to a typed notification event with a
//! stable id: the same sync operation, drift episode or promotion stage always gives the same
//! id, so the outbox's dedupe key holds across retries and restarts. Pure; the drift report
//! uses it over stored events.

use driftless_core::app::Application;
use driftless_notify::{
    AppInfo, Destination, Drift, EventKind, Operation, Promotion, PromotionStage,
};
use serde_json::Value;

use crate::event_kind::EventKind as Recorded;

/// The notification event a recorded event stands for, with its id; `None` for kinds nobody
/// subscribes to. `app`/`repo_url` name the application; `message` is the event's text.
pub fn notify_kind(
    app: &str,
    repo_url: &str,
    kind: Recorded,
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
        Recorded::SyncSucceeded => (
            op_id,
            EventKind::SyncSucceeded {
                operation: operation(),
            },
        ),
        Recorded::SyncFailed => (
            op_id,
            EventKind::SyncFailed {
                operation: operation(),
            },
        ),
        Recorded::DriftDetected => (
            format!("drift:{}", text("episode")),
            EventKind::DriftDetected {
                drift: drift_of(data),
            },
        ),
        Recorded::DriftHealed => (
            format!("healed:{}", text("episode")),
            EventKind::DriftHealed {
                drift: drift_of(data),
                by_self_heal: data["bySelfHeal"].as_bool().unwrap_or(false),
            },
        ),
        Recorded::RollbackOnFailure => (
            format!("rollback:{app}:{}:{}", text("failed"), text("to")),
            EventKind::Rollback {
                from: text("failed"),
                to: text("to"),
                automatic: true,
                reason: message.to_string(),
            },
        ),
        Recorded::PolicyDenied => (
            format!("policy:{app}:{}", text("revision")),
            EventKind::PolicyDenied {
                revision: text("revision"),
                message: message.to_string(),
            },
        ),
        Recorded::ComparisonError if message.contains(": fetching ") => (
            format!("repo:{app}:{at_ms}"),
            EventKind::RepositoryUnreachable {
                repo_url: repo_url.to_string(),
                error: message.to_string(),
            },
        ),
        promotion => {
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
    })
}

/// The notification stage a promotion event announces; `None` for every other kind.
fn promotion_stage(kind: Recorded) -> Option<PromotionStage> {
    Some(match kind {
        Recorded::PromotionWaitingApproval => PromotionStage::WaitingForApproval,
        Recorded::PromotionApproved => PromotionStage::Approved,
        Recorded::PromotionRejected => PromotionStage::Rejected,
        Recorded::PromotionExpired => PromotionStage::Expired,
        Recorded::PromotionFailed => PromotionStage::Failed,
        Recorded::Promoted | Recorded::PromotionSucceeded => PromotionStage::Landed,
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
pub fn app_info(app: &Application, status: &crate::AppStatus) -> AppInfo {
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
        revision: status.sync.revision.clone(),
        repo_url: app.source.repo_url.clone(),
        path: app.source.path.clone(),
        target_revision: app.source.target_revision.clone(),
        sync_status: status.sync.status.as_str().into(),
        health_status: status
            .health_status()
            .map_or("Unknown", |h| h.as_str())
            .into(),
        health_message: status.health.as_ref().map(|h| h.message.clone()),
        destination: Destination {
            server: app.destination.server.clone(),
            namespace: app.destination.namespace.clone(),
            name: app.destination.name.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recorded_events_map_to_notification_events_with_stable_ids() {
        let sync = json!({"operation": 7, "revision": "abc"});
        let (id, kind) = notify_kind("web", "u", Recorded::SyncSucceeded, "ok", &sync, 1).unwrap();
        // The same operation, whenever it is seen again: the same id.
        let (again, _) = notify_kind("web", "u", Recorded::SyncSucceeded, "ok", &sync, 99).unwrap();
        assert_eq!(id, again);
        match kind {
            EventKind::SyncSucceeded { operation } => assert_eq!(operation.revision, "abc"),
            other => panic!("{other:?}"),
        }
        let drift = json!({"episode": "web:5", "impact": "high", "resources": [
            {"key": "apps/Deployment/shop/web", "changes": [{"path": "spec.replicas", "op": "changed"}], "diff": "-  replicas: 3\n+  replicas: 5"},
            {"key": "/ConfigMap/shop/conf", "status": "OutOfSync", "changes": []},
        ]});
        let (id, kind) = notify_kind("web", "u", Recorded::DriftDetected, "m", &drift, 1).unwrap();
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
        let (id, kind) = notify_kind("web", "u", Recorded::DriftHealed, "m", &healed, 2).unwrap();
        assert_eq!(id, "healed:web:5");
        assert!(
            matches!(kind, EventKind::DriftHealed { by_self_heal: true, ref drift } if drift.summary.len() == 2)
        );
        let (_, kind) = notify_kind(
            "web",
            "https://git.example.com/r.git",
            Recorded::ComparisonError,
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
                Recorded::ComparisonError,
                "kustomize: bad",
                &json!({}),
                3
            )
            .is_none()
        );
        let (id, kind) = notify_kind(
            "web",
            "u",
            Recorded::PromotionWaitingApproval,
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
            Recorded::RollbackOnFailure,
            "revision b failed",
            &json!({"failed": "b", "to": "a"}),
            3,
        )
        .unwrap();
        assert!(matches!(kind, EventKind::Rollback { automatic: true, ref to, .. } if to == "a"));
        assert!(
            notify_kind(
                "web",
                "u",
                Recorded::OperationInterrupted,
                "x",
                &json!({}),
                3
            )
            .is_none()
        );
    }
}
