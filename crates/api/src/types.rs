//! The application API's request and response bodies: one set of types the server answers
//! with and the CLI reads (`driftless_api::types`), so neither indexes into untyped JSON and
//! a renamed field breaks the build, not a user. The JSON is the API's (camelCase where the
//! API always used it), unchanged.
//!
//! They also describe themselves: each derives `schemars::JsonSchema` (as does every engine,
//! store and diff type inside them), and the served OpenAPI document's `components.schemas`
//! is generated from them (`crate::openapi`), so a change here changes the documentation too.
//! Generic wrappers get a name per item type (`AppViewPage`, `OperationItems`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use driftless_diff::{Comparison, Summary};
use driftless_engine::{AppStatus, SyncCode};

pub use driftless_store::{AuditEntry, Event, HistoryEntry, Operation};

/// A list answer: `{"items": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "{T}Items")]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// A page of a keyset-paginated list: `next` is the `after` of the next page.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "{T}Page")]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub next: Option<String>,
}

/// `GET /applications` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ListQuery {
    #[serde(default)]
    pub after: String,
    pub limit: Option<i64>,
    /// One line per application (what a list shows), not its whole record.
    #[serde(default)]
    pub summary: bool,
}

/// One line of the applications list (`?summary=true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppSummary {
    pub name: String,
    #[serde(default)]
    pub project: Value,
    #[serde(default)]
    pub labels: BTreeMap<String, Value>,
    #[serde(default)]
    pub repo: Value,
    #[serde(default)]
    pub path: Value,
    #[serde(default)]
    pub target_revision: Value,
    pub cluster: String,
    #[serde(default)]
    pub namespace: Value,
    pub sync: SyncCode,
    pub health: String,
    pub revision: Option<String>,
    pub last_sync_ms: Option<i64>,
    pub reconciled_at_ms: Option<i64>,
}

/// An application's record: its definition as stored and its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AppView {
    pub name: String,
    pub spec: Value,
    pub status: AppStatus,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl AppView {
    pub fn of(record: driftless_store::AppRecord) -> AppView {
        AppView {
            status: AppStatus::from_stored(&record.name, record.status),
            name: record.name,
            spec: record.spec,
            created_ms: record.created_ms,
            updated_ms: record.updated_ms,
        }
    }
}

/// `POST /applications`: created or replaced, with the fields it did not know.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AppCreated {
    pub application: String,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `DELETE /applications/{name}` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteQuery {
    /// Also delete the application's objects (Argo CD's cascade); default: they stay.
    #[serde(default)]
    pub cascade: bool,
    /// Allow deleting Namespaces, PVs, PVCs and CRDs in a cascade.
    #[serde(default)]
    pub confirm_critical: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppDeleted {
    pub application: String,
    pub deleted: bool,
    pub cascade: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects_deleted: Option<usize>,
}

/// `PATCH /applications/{name}`: the spec after the merge patch.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AppPatched {
    pub application: String,
    pub spec: Value,
}

/// `POST /applications/{name}/sync` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncOptions {
    /// Also delete live objects Git no longer declares, this once.
    #[serde(default)]
    pub prune: bool,
    /// Sync nothing: answer what a sync would change (the comparison and its impact).
    #[serde(default)]
    pub dry_run: bool,
}

/// A sync, refresh or rollback was queued.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Queued {
    pub application: String,
    pub queued: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    /// A rollback's target revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// A rollback by revert commit: the commit and its branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

impl Queued {
    pub fn new(application: &str) -> Queued {
        Queued {
            application: application.to_string(),
            queued: true,
            prune: None,
            revision: None,
            revert_commit: None,
            branch: None,
        }
    }
}

/// `POST /applications/{name}/sync` with `dryRun`: what a sync would change.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    pub application: String,
    pub dry_run: bool,
    pub summary: Summary,
    pub comparison: Comparison,
}

/// `POST /applications/{name}/rollback` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackRequest {
    /// A history entry id; none: the deployment before the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// RFC 3339 time: back to the deployment that was live then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub to_time: Option<String>,
    /// Write a commit restoring that deployment's files onto the branch (Git stays the
    /// source of truth) instead of pinning the application to the old revision.
    #[serde(default)]
    pub revert: bool,
    /// Why (recorded in the audit log with the rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /applications/{name}/pause-heal` body.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PauseHealRequest {
    /// `30m`, `2h`; `0s` resumes.
    pub duration: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealPaused {
    pub application: String,
    pub paused_seconds: u64,
    pub reason: String,
}

/// `GET /applications/{name}/diff` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiffQuery {
    /// What a rollback to this deployment (history id) would change, instead of a sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_to: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DiffView {
    pub application: String,
    pub comparison: Comparison,
}

/// `?after=ID&limit=N` of the events list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct After {
    #[serde(default)]
    pub after: i64,
    pub limit: Option<i64>,
}

/// `POST /images` body: one of `application` or `stage`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SetImageRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// A pipeline's first stage instead: `PIPELINE/STAGE` (or a stage name one pipeline has).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// `NAME:TAG` or `NAME@DIGEST`.
    pub image: String,
}

/// One image update written by a commit.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageSet {
    pub application: String,
    pub image: String,
    pub file: String,
    pub previous: Option<String>,
    pub commit: String,
    pub branch: String,
}

/// `POST /images` for a stage: one update per application.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StageImageSet {
    pub stage: String,
    pub items: Vec<ImageSet>,
}

/// `GET /dora`: the four figures of an application, or of a pipeline's production stage.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DoraAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    pub dora: driftless_engine::dora::Dora,
}
