//! An application's status as a workflow reads it from the engine's API: a typed view of the
//! fields the `gitops` module uses, so no workflow code indexes into the answer's JSON.

use serde_json::Value as Json;

/// The parts of an application's status (as the engine's API answers it) a workflow reads;
/// anything else in it is ignored, anything missing reads as unknown.
#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct StatusView {
    pub sync: SyncView,
    pub health: Option<HealthView>,
    pub error: Option<String>,
    pub reconciled_at_ms: Option<i64>,
    pub pinned: Option<PinView>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct SyncView {
    pub status: Option<String>,
    pub revision: Option<String>,
    pub head: Option<String>,
    pub summary: Option<Json>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct HealthView {
    pub status: Option<String>,
    pub message: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct PinView {
    pub revision: Option<String>,
}

pub(super) fn status_of(app: &Json) -> StatusView {
    app.get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default()
}
