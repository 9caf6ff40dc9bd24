//! The typed input: what the engine tells this crate happened to an application.
//!
//! An [`NotifyEvent`] is a fact with an identity (`id`, unique per occurrence, e.g. the sync
//! operation or the drift episode) and the application as it was at that moment. Templates and
//! trigger conditions never see these Rust types: [`NotifyEvent::context`] renders them into the
//! JSON shape Argo CD users already write against (`.app.metadata.name`,
//! `.app.status.operationState.phase`, ...), plus Driftless's own `.event` object.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The application as the engine saw it when the event happened.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub name: String,
    /// Namespace of the Application definition (Argo's `metadata.namespace`), if any.
    #[serde(default)]
    pub namespace: Option<String>,
    pub project: String,
    /// The environment (pipeline stage) the application belongs to, if any.
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The Git commit the application is (being) synced to.
    #[serde(default)]
    pub revision: Option<String>,
    #[serde(default)]
    pub repo_url: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub target_revision: String,
    /// `Synced`, `OutOfSync` or `Unknown`.
    #[serde(default)]
    pub sync_status: String,
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    #[serde(default)]
    pub health_status: String,
    #[serde(default)]
    pub health_message: Option<String>,
    #[serde(default)]
    pub destination: Destination,
}

/// Where the application is deployed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    #[serde(default)]
    pub server: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
}

/// A sync operation, as Argo CD's `status.operationState`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// The operation's identity (the store's sync record id).
    pub id: String,
    pub revision: String,
    #[serde(default)]
    pub message: String,
    pub started_at: Timestamp,
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
    /// Who asked for it: a user name, or `None` when automated.
    #[serde(default)]
    pub initiated_by: Option<String>,
}

/// What drift was found (or healed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// The episode's identity: drift of one application from its first detection to its healing.
    pub episode: String,
    /// The drift grade the engine assigned (e.g. `minor`, `major`, `critical`).
    pub grade: String,
    /// One line per drifted resource, e.g. `Deployment/shop/web: spec.replicas 3 -> 5`.
    #[serde(default)]
    pub summary: Vec<String>,
    #[serde(default)]
    pub resources: u32,
}

/// How a promotion moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromotionStage {
    WaitingForApproval,
    Approved,
    Rejected,
    Expired,
    Landed,
    Failed,
}

impl PromotionStage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitingForApproval => "waiting-for-approval",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Landed => "landed",
            Self::Failed => "failed",
        }
    }
}

/// A promotion of freight from one environment to the next.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    pub id: String,
    pub pipeline: String,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub revision: Option<String>,
    /// Who approved or rejected, or why it failed/expired.
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub message: String,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum EventKind {
    AppCreated,
    AppDeleted,
    SyncRunning {
        operation: Operation,
    },
    SyncSucceeded {
        operation: Operation,
    },
    SyncFailed {
        operation: Operation,
    },
    /// The comparison could not be made (Argo's `sync.status == Unknown`).
    SyncStatusUnknown {
        message: String,
    },
    /// Synced and healthy at `revision`; raised once per revision by the engine, and triggers
    /// deduplicate on the revision as well.
    Deployed {
        operation: Operation,
    },
    HealthDegraded {
        message: String,
    },
    DriftDetected {
        drift: Drift,
    },
    DriftHealed {
        drift: Drift,
        by_self_heal: bool,
    },
    HealPaused {
        reason: String,
    },
    Rollback {
        from: String,
        to: String,
        automatic: bool,
        reason: String,
    },
    Promotion {
        stage: PromotionStage,
        promotion: Promotion,
    },
    RepositoryUnreachable {
        repo_url: String,
        error: String,
    },
    /// The policy gate refused a revision (`message` names the objects and rules).
    PolicyDenied {
        revision: String,
        message: String,
    },
}

impl EventKind {
    /// The stable name of the event type (`sync-succeeded`, `promotion`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::AppCreated => "app-created",
            Self::AppDeleted => "app-deleted",
            Self::SyncRunning { .. } => "sync-running",
            Self::SyncSucceeded { .. } => "sync-succeeded",
            Self::SyncFailed { .. } => "sync-failed",
            Self::SyncStatusUnknown { .. } => "sync-status-unknown",
            Self::Deployed { .. } => "deployed",
            Self::HealthDegraded { .. } => "health-degraded",
            Self::DriftDetected { .. } => "drift-detected",
            Self::DriftHealed { .. } => "drift-healed",
            Self::HealPaused { .. } => "heal-paused",
            Self::Rollback { .. } => "rollback",
            Self::Promotion { .. } => "promotion",
            Self::RepositoryUnreachable { .. } => "repository-unreachable",
            Self::PolicyDenied { .. } => "policy-denied",
        }
    }

    fn operation(&self) -> Option<(&Operation, &'static str)> {
        match self {
            Self::SyncRunning { operation } => Some((operation, "Running")),
            Self::SyncSucceeded { operation } | Self::Deployed { operation } => {
                Some((operation, "Succeeded"))
            }
            Self::SyncFailed { operation } => Some((operation, "Failed")),
            _ => None,
        }
    }
}

/// Every event type name, as `on:` in a trigger names them.
pub const EVENT_TYPES: &[&str] = &[
    "app-created",
    "app-deleted",
    "sync-running",
    "sync-succeeded",
    "sync-failed",
    "sync-status-unknown",
    "deployed",
    "health-degraded",
    "drift-detected",
    "drift-healed",
    "heal-paused",
    "rollback",
    "promotion",
    "repository-unreachable",
    "policy-denied",
];

/// One occurrence the engine reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotifyEvent {
    /// Unique per occurrence (store event id, or operation/episode/promotion id + stage). Used as
    /// the deduplication value of triggers without `oncePer`.
    pub id: String,
    pub at: Timestamp,
    pub app: AppInfo,
    pub kind: EventKind,
}

impl NotifyEvent {
    /// The Argo CD-shaped `Application` object (`.app` in templates, `app` in conditions).
    pub fn app_object(&self) -> Value {
        let app = &self.app;
        let mut metadata = json!({
            "name": app.name,
            "labels": app.labels,
            "annotations": app.annotations,
        });
        if let Some(ns) = &app.namespace {
            metadata["namespace"] = json!(ns);
        }
        if matches!(self.kind, EventKind::AppDeleted) {
            metadata["deletionTimestamp"] = json!(self.at.to_string());
        }
        // Events that state a status make it so, whatever the caller filled in: the built-in
        // conditions test these fields.
        let (sync, health) = match self.kind {
            EventKind::SyncStatusUnknown { .. } => ("Unknown", app.health_status.as_str()),
            EventKind::Deployed { .. } => ("Synced", "Healthy"),
            EventKind::HealthDegraded { .. } => (app.sync_status.as_str(), "Degraded"),
            _ => (app.sync_status.as_str(), app.health_status.as_str()),
        };
        let health_message = match &self.kind {
            EventKind::HealthDegraded { message } if app.health_message.is_none() => {
                message.clone()
            }
            _ => app.health_message.clone().unwrap_or_default(),
        };
        let mut status = json!({
            "sync": {"status": sync, "revision": app.revision.clone().unwrap_or_default()},
            "health": {"status": health, "message": health_message},
        });
        if let Some((op, phase)) = self.kind.operation() {
            status["operationState"] = operation_state(op, phase);
        }
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": metadata,
            "spec": {
                "project": app.project,
                "source": {"repoURL": app.repo_url, "path": app.path, "targetRevision": app.target_revision},
                "destination": app.destination,
            },
            "status": status,
        })
    }

    /// The whole template/condition context for one destination.
    pub fn context(
        &self,
        user_context: &BTreeMap<String, String>,
        trigger: &str,
        service_type: &str,
        recipient: &str,
    ) -> Value {
        let mut context: Map<String, Value> = user_context
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        // One URL, two names: Argo's templates say argocdUrl, ours say engineUrl.
        let url = context
            .get("engineUrl")
            .or_else(|| context.get("argocdUrl"))
            .cloned();
        if let Some(url) = url {
            context.entry("engineUrl").or_insert(url.clone());
            context.entry("argocdUrl").or_insert(url);
        }
        json!({
            "app": self.app_object(),
            "context": context,
            "notificationType": trigger,
            "serviceType": service_type,
            "recipient": recipient,
            "event": self.event_object(),
        })
    }

    /// Driftless's own view of the event (`.event` in templates and conditions).
    pub fn event_object(&self) -> Value {
        let mut value = serde_json::to_value(&self.kind).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.insert("id".into(), json!(self.id));
            map.insert("at".into(), json!(self.at.to_string()));
            if let Some(env) = &self.app.environment {
                map.insert("environment".into(), json!(env));
            }
        }
        value
    }
}

fn operation_state(op: &Operation, phase: &str) -> Value {
    let mut state = json!({
        "phase": phase,
        "message": op.message,
        "startedAt": op.started_at.to_string(),
        "syncResult": {"revision": op.revision},
        "operation": {"initiatedBy": match &op.initiated_by {
            Some(user) => json!({"username": user}),
            None => json!({"automated": true}),
        }},
    });
    if let Some(done) = op.finished_at {
        state["finishedAt"] = json!(done.to_string());
    }
    state
}
