//! What replicas read of each other's records: stored definitions, and which member wrote
//! each operation and audit entry (the `writer` columns, from the fence a session declared),
//! so one writer per application can be proven afterwards.

use sqlx::Row;

use crate::{Store, StoreError, db};

/// Which member wrote an operation (from its `writer` column: the fence it declared,
/// `member/REPLICA:TOKEN`; `None` for a single engine or rows older than sharing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenOperation {
    pub id: i64,
    pub app: String,
    pub kind: String,
    pub phase: String,
    pub writer: Option<String>,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
}

/// Which member wrote an audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenAudit {
    pub seq: i64,
    pub action: String,
    pub target: String,
    pub details: serde_json::Value,
    pub writer: Option<String>,
}

impl Store {
    /// Every application's definition as stored (replicas pick up what others defined).
    pub async fn app_specs(&self) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let rows = sqlx::query("SELECT name, spec FROM applications ORDER BY name")
            .fetch_all(self.pool())
            .await
            .map_err(db("listing application definitions"))?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get("name").map_err(db("reading a definition"))?;
                let spec: String = r.try_get("spec").map_err(db("reading a definition"))?;
                let spec = crate::parse_json(&format!("application {name}"), &spec)?;
                Ok((name, spec))
            })
            .collect()
    }

    /// Every operation with the member that wrote it, by id (proves one writer per app).
    pub async fn operation_writers(&self) -> Result<Vec<WrittenOperation>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, app, kind, phase, writer, started_ms, finished_ms FROM operations ORDER BY id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db("listing operation writers"))?;
        let what = || db("reading an operation writer");
        rows.iter()
            .map(|r| {
                Ok(WrittenOperation {
                    id: r.try_get("id").map_err(what())?,
                    app: r.try_get("app").map_err(what())?,
                    kind: r.try_get("kind").map_err(what())?,
                    phase: r.try_get("phase").map_err(what())?,
                    writer: r.try_get("writer").map_err(what())?,
                    started_ms: r.try_get("started_ms").map_err(what())?,
                    finished_ms: r.try_get("finished_ms").map_err(what())?,
                })
            })
            .collect()
    }

    /// Every audit entry of `action` with the member that wrote it, by sequence.
    pub async fn audit_writers(&self, action: &str) -> Result<Vec<WrittenAudit>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, action, target, details, writer FROM audit WHERE action = $1 ORDER BY seq",
        )
        .bind(action)
        .fetch_all(self.pool())
        .await
        .map_err(db("listing audit writers"))?;
        let what = || db("reading an audit writer");
        rows.iter()
            .map(|r| {
                let details: String = r.try_get("details").map_err(what())?;
                Ok(WrittenAudit {
                    seq: r.try_get("seq").map_err(what())?,
                    action: r.try_get("action").map_err(what())?,
                    target: r.try_get("target").map_err(what())?,
                    details: crate::parse_json("audit entry details", &details)?,
                    writer: r.try_get("writer").map_err(what())?,
                })
            })
            .collect()
    }
}
