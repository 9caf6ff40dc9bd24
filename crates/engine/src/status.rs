//! An application's status, typed: what the engine writes after every reconcile and what the
//! API, the CLI, the promotion driver and rollback read back. The store keeps it as JSON (its
//! shape is the API's, unchanged); nobody outside this module indexes into that JSON.

use serde::{Deserialize, Serialize};

use driftless_diff::{Grade, Summary, SyncStatus};
use driftless_health::Health;

/// The status document of one application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AppStatus {
    pub sync: SyncState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    pub resources: Vec<ResourceStatus>,
    pub operation: OperationMemory,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconciled_at_ms: Option<i64>,
    pub last_sync_at_ms: Option<i64>,
    pub pinned: Option<PinStatus>,
    pub heal_paused: Option<HealPause>,
    /// Why the last reconcile could not compare (render, cluster, project, policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The policy findings that stopped a sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyStatus>,
}

/// Argo CD's sync status of the whole application.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum SyncCode {
    Synced,
    OutOfSync,
    #[default]
    Unknown,
}

impl SyncCode {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncCode::Synced => "Synced",
            SyncCode::OutOfSync => "OutOfSync",
            SyncCode::Unknown => "Unknown",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct SyncState {
    pub status: SyncCode,
    /// The revision compared (the pinned one during a rollback hold).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The branch's head when it was compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
}

/// One tracked resource's comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResourceStatus {
    #[serde(default)]
    pub group: String,
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
    pub status: SyncStatus,
    #[serde(default)]
    pub impact: driftless_diff::Impact,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// What the engine remembers across restarts (the last attempted and last good revision)
/// and the operation running now, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct OperationMemory {
    pub attempt: Option<Revision>,
    pub good: Option<Revision>,
    pub running: Option<RunningOperation>,
}

/// A sync or rollback in flight (the status keeps following the cluster meanwhile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunningOperation {
    pub id: i64,
    pub revision: String,
    /// Why it started: `new-revision`, `self-heal`, `manual`, `rollback`.
    pub trigger: String,
    pub started_at_ms: i64,
}

/// A revision of an application's desired state: the source revision (a commit, or
/// `local:<id>` for a local directory) and the digest of what it rendered to. Stored as
/// `revision:digest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Revision {
    pub commit: String,
    pub digest: String,
}

impl Revision {
    pub fn new(commit: impl Into<String>, digest: impl Into<String>) -> Self {
        Revision {
            commit: commit.into(),
            digest: digest.into(),
        }
    }

    /// Reads `revision:digest`; the digest never holds a colon, the revision may
    /// (`local:<id>`).
    pub fn parse(text: &str) -> Option<Revision> {
        let (commit, digest) = text.rsplit_once(':')?;
        (!commit.is_empty() && !digest.is_empty()).then(|| Revision::new(commit, digest))
    }

    /// A local directory's content, not a Git commit: nothing to roll back to by revision.
    pub fn is_local(&self) -> bool {
        self.commit.starts_with("local:")
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.commit, self.digest)
    }
}

impl Serialize for Revision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Serialized as its `revision:digest` text, so its schema is a string.
impl schemars::JsonSchema for Revision {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Revision".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "`revision:digest`: the source revision (a commit, or `local:<id>`) and the digest of what it rendered to",
        })
    }
}

impl<'de> Deserialize<'de> for Revision {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Revision::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not `revision:digest`")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PinStatus {
    pub revision: String,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealPause {
    pub reason: String,
    pub remaining_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PolicyStatus {
    pub revision: String,
    pub findings: Vec<serde_json::Value>,
}

impl AppStatus {
    /// Reads a stored status; a document this version cannot read counts as "not reconciled
    /// yet" (the next reconcile writes a fresh one) and is logged.
    pub fn from_stored(app: &str, value: serde_json::Value) -> AppStatus {
        if value.as_object().is_none_or(|o| o.is_empty()) {
            return AppStatus::default();
        }
        serde_json::from_value(value).unwrap_or_else(|e| {
            tracing::warn!(app, error = %e, "stored status is not readable; treated as not reconciled yet");
            AppStatus::default()
        })
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a status always serializes")
    }

    pub fn is_synced(&self) -> bool {
        self.sync.status == SyncCode::Synced
    }

    pub fn health_status(&self) -> Option<driftless_health::HealthStatus> {
        self.health.as_ref().map(|h| h.status)
    }

    pub fn synced_and_healthy(&self) -> bool {
        self.is_synced() && self.health_status() == Some(driftless_health::HealthStatus::Healthy)
    }

    /// The highest impact among the differences, none when in sync.
    pub fn max_impact(&self) -> Grade {
        self.sync
            .summary
            .as_ref()
            .map(|s| s.max_impact)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The JSON the engine has always stored (and the API serves) reads and writes back
    /// unchanged.
    #[test]
    fn the_stored_shape_round_trips() {
        let stored = json!({
            "sync": {"status": "OutOfSync", "revision": "abc", "head": "abc",
                     "summary": {"create": 1, "update": 0, "delete": 0, "unchanged": 2,
                                 "conflicts": 0, "warnings": 0, "max_impact": "medium"}},
            "health": {"status": "Progressing", "message": "1 of 2 replicas"},
            "resources": [{"group": "apps", "kind": "Deployment", "namespace": "shop",
                           "name": "web", "status": "OutOfSync",
                           "impact": {"grade": "medium", "reason": "image"}}],
            "operation": {"attempt": "local:0123:feed", "good": "abc:beef",
                          "running": {"id": 7, "revision": "abc", "trigger": "self-heal", "startedAtMs": 3}},
            "reconciledAtMs": 5, "lastSyncAtMs": 4,
            "pinned": {"revision": "abc", "by": "alice"},
            "healPaused": {"reason": "incident", "remainingSeconds": 60},
        });
        let s: AppStatus = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(s.sync.status, SyncCode::OutOfSync);
        assert_eq!(s.max_impact(), Grade::Medium);
        let attempt = s.operation.attempt.clone().unwrap();
        assert_eq!(
            (attempt.commit.as_str(), attempt.digest.as_str()),
            ("local:0123", "feed")
        );
        assert!(attempt.is_local());
        assert!(!s.operation.good.clone().unwrap().is_local());
        assert_eq!(s.operation.running.as_ref().map(|r| r.id), Some(7));
        assert_eq!(s.to_value(), stored);
    }

    #[test]
    fn an_empty_or_unreadable_status_is_not_reconciled_yet() {
        assert_eq!(AppStatus::from_stored("a", json!({})), AppStatus::default());
        assert_eq!(
            AppStatus::from_stored("a", json!({"sync": {"status": "Sideways"}})),
            AppStatus::default()
        );
        assert_eq!(Revision::parse("no-digest"), None);
        assert_eq!(Revision::parse(":x"), None);
    }
}
