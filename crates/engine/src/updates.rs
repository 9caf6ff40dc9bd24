//! What the controller announces as it happens, to the API's event stream, the custom
//! resources' status writer and tests: one typed message per change. Its JSON (tagged by
//! `type`) is what `/api/v1/stream` sends and the web UI reads.

use serde::{Deserialize, Serialize};

use crate::AppStatus;

/// One live update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Update {
    /// An application's new status, as stored.
    Status {
        application: String,
        status: Box<AppStatus>,
    },
    /// An application event was recorded (drift, syncs, errors, promotions).
    Event {
        application: String,
        id: i64,
        kind: crate::EventKind,
        severity: crate::Severity,
        message: String,
    },
    /// A promotion moved to `phase`.
    Promotion {
        id: i64,
        pipeline: String,
        to: String,
        phase: String,
    },
    /// One reconcile of the application ended (`ok`: without an error).
    Reconciled { application: String, ok: bool },
    /// The promotion driver finished a pass over every pipeline.
    PromotionPass,
}

impl Update {
    /// The application it concerns, if any.
    pub fn application(&self) -> Option<&str> {
        match self {
            Update::Status { application, .. }
            | Update::Event { application, .. }
            | Update::Reconciled { application, .. } => Some(application),
            Update::Promotion { .. } | Update::PromotionPass => None,
        }
    }

    /// The engine's own signals (a reconcile or a driver pass ended): not news for a person.
    pub fn is_internal(&self) -> bool {
        matches!(self, Update::Reconciled { .. } | Update::PromotionPass)
    }

    /// The SSE event name: the `type` tag.
    pub fn name(&self) -> &'static str {
        match self {
            Update::Status { .. } => "status",
            Update::Event { .. } => "event",
            Update::Promotion { .. } => "promotion",
            Update::Reconciled { .. } => "reconciled",
            Update::PromotionPass => "promotion-pass",
        }
    }

    /// An event of `kind` for `application` (tests wait on these).
    pub fn is_event(&self, app: &str, of_kind: crate::EventKind) -> bool {
        matches!(self, Update::Event { application, kind, .. } if application == app && *kind == of_kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream's JSON is what the UI reads: tagged by `type`, fields unchanged.
    #[test]
    fn updates_serialize_as_the_stream_sends_them() {
        let u = Update::Event {
            application: "shop".into(),
            id: 3,
            kind: crate::EventKind::DriftDetected,
            severity: crate::Severity::Drift(driftless_diff::Grade::Medium),
            message: "m".into(),
        };
        assert_eq!(
            serde_json::to_value(&u).unwrap(),
            serde_json::json!({"type": "event", "application": "shop", "id": 3,
                "kind": "DriftDetected", "severity": "medium", "message": "m"})
        );
        assert_eq!(
            serde_json::from_value::<Update>(serde_json::to_value(&u).unwrap()).unwrap(),
            u
        );
        assert_eq!(
            serde_json::to_value(Update::PromotionPass).unwrap(),
            serde_json::json!({"type": "promotion-pass"})
        );
        let s = serde_json::to_value(Update::Status {
            application: "shop".into(),
            status: Box::default(),
        })
        .unwrap();
        assert_eq!(s["type"], "status");
        assert_eq!(s["status"]["sync"]["status"], "Unknown");
    }
}
