//! Applications, operations, history and events: plain rows holding JSON documents.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError, db, now_ms, parse_json};

/// A stored application: its definition and its last known status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    pub name: String,
    pub spec: Value,
    pub status: Value,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum OperationPhase {
    Running,
    Succeeded,
    Failed,
    /// Found Running after a restart and closed: it will not continue by itself.
    Interrupted,
}

impl OperationPhase {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Interrupted => "Interrupted",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Running" => Self::Running,
            "Succeeded" => Self::Succeeded,
            "Failed" => Self::Failed,
            "Interrupted" => Self::Interrupted,
            _ => return None,
        })
    }
}

/// One sync / rollback / promotion run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Operation {
    pub id: i64,
    pub app: String,
    pub kind: String,
    pub revision: String,
    pub phase: OperationPhase,
    pub request: Value,
    /// Steps recorded so far (one JSON value per step).
    pub progress: Value,
    pub result: Option<Value>,
    pub started_ms: i64,
    pub updated_ms: i64,
    pub finished_ms: Option<i64>,
}

/// A deployed revision, with what is needed to go back to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HistoryEntry {
    pub id: i64,
    pub app: String,
    pub revision: String,
    pub digest: String,
    pub operation_id: i64,
    pub deployed_ms: i64,
    pub desired: Value,
    pub live_snapshot: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    pub id: i64,
    pub app: String,
    pub at_ms: i64,
    pub kind: String,
    pub severity: String,
    pub message: String,
    pub data: Value,
}

pub(crate) fn text(row: &AnyRow, col: &str, what: &str) -> Result<String, StoreError> {
    row.try_get::<String, _>(col)
        .map_err(db(format!("{what}: column {col}")))
}

pub(crate) fn int(row: &AnyRow, col: &str, what: &str) -> Result<i64, StoreError> {
    row.try_get::<i64, _>(col)
        .map_err(db(format!("{what}: column {col}")))
}

fn app_of(row: &AnyRow) -> Result<AppRecord, StoreError> {
    let name = text(row, "name", "application")?;
    let what = format!("application {name}");
    Ok(AppRecord {
        spec: parse_json(&what, &text(row, "spec", &what)?)?,
        status: parse_json(&what, &text(row, "status", &what)?)?,
        created_ms: int(row, "created_ms", &what)?,
        updated_ms: int(row, "updated_ms", &what)?,
        name,
    })
}

fn operation_of(row: &AnyRow) -> Result<Operation, StoreError> {
    let id = int(row, "id", "operation")?;
    let what = format!("operation {id}");
    let phase = text(row, "phase", &what)?;
    Ok(Operation {
        id,
        app: text(row, "app", &what)?,
        kind: text(row, "kind", &what)?,
        revision: text(row, "revision", &what)?,
        phase: OperationPhase::parse(&phase).ok_or_else(|| StoreError::Corrupt {
            what: what.clone(),
            message: format!("phase {phase:?}"),
        })?,
        request: parse_json(&what, &text(row, "request", &what)?)?,
        progress: parse_json(&what, &text(row, "progress", &what)?)?,
        result: row
            .try_get::<Option<String>, _>("result")
            .map_err(db(&what))?
            .map(|r| parse_json(&what, &r))
            .transpose()?,
        started_ms: int(row, "started_ms", &what)?,
        updated_ms: int(row, "updated_ms", &what)?,
        finished_ms: row
            .try_get::<Option<i64>, _>("finished_ms")
            .map_err(db(&what))?,
    })
}

fn history_of(row: &AnyRow) -> Result<HistoryEntry, StoreError> {
    let id = int(row, "id", "history")?;
    let what = format!("history entry {id}");
    Ok(HistoryEntry {
        id,
        app: text(row, "app", &what)?,
        revision: text(row, "revision", &what)?,
        digest: text(row, "digest", &what)?,
        operation_id: int(row, "operation_id", &what)?,
        deployed_ms: int(row, "deployed_ms", &what)?,
        desired: parse_json(&what, &text(row, "desired", &what)?)?,
        live_snapshot: parse_json(&what, &text(row, "live_snapshot", &what)?)?,
    })
}

pub(crate) fn event_of(row: &AnyRow) -> Result<Event, StoreError> {
    let id = int(row, "id", "event")?;
    let what = format!("event {id}");
    Ok(Event {
        id,
        app: text(row, "app", &what)?,
        at_ms: int(row, "at_ms", &what)?,
        kind: text(row, "kind", &what)?,
        severity: text(row, "severity", &what)?,
        message: text(row, "message", &what)?,
        data: parse_json(&what, &text(row, "data", &what)?)?,
    })
}

impl Store {
    /// Creates or replaces an application's definition (its status is kept).
    pub async fn put_app(&self, name: &str, spec: &Value) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO applications (name, spec, status, created_ms, updated_ms) VALUES ($1, $2, '{}', $3, $3) \
             ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_ms = excluded.updated_ms",
        )
        .bind(name)
        .bind(spec.to_string())
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(db(format!("saving application {name}")))?;
        Ok(())
    }

    pub async fn set_app_status(&self, name: &str, status: &Value) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE applications SET status = $1, updated_ms = $2 WHERE name = $3")
                .bind(status.to_string())
                .bind(now_ms())
                .bind(name)
                .execute(self.pool())
                .await
                .map_err(db(format!("saving status of application {name}")))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn get_app(&self, name: &str) -> Result<Option<AppRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM applications WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(db(format!("reading application {name}")))?;
        row.as_ref().map(app_of).transpose()
    }

    /// Applications in name order, `limit` at a time after `after` (keyset pagination).
    pub async fn list_apps(&self, after: &str, limit: i64) -> Result<Vec<AppRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM applications WHERE name > $1 ORDER BY name LIMIT $2")
            .bind(after)
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .map_err(db("listing applications"))?;
        rows.iter().map(app_of).collect()
    }

    pub async fn delete_app(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM applications WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await
            .map_err(db(format!("deleting application {name}")))?;
        Ok(done.rows_affected() == 1)
    }

    /// Creates or replaces a definition (`kind` is e.g. `Repository`).
    pub async fn put_definition(
        &self,
        kind: &str,
        name: &str,
        spec: &Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO definitions (kind, name, spec, updated_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (kind, name) DO UPDATE SET spec = excluded.spec, updated_ms = excluded.updated_ms",
        )
        .bind(kind)
        .bind(name)
        .bind(spec.to_string())
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(db(format!("saving {kind} {name}")))?;
        Ok(())
    }

    /// Every definition of a kind, by name.
    pub async fn list_definitions(&self, kind: &str) -> Result<Vec<(String, Value)>, StoreError> {
        let rows = sqlx::query("SELECT name, spec FROM definitions WHERE kind = $1 ORDER BY name")
            .bind(kind)
            .fetch_all(self.pool())
            .await
            .map_err(db(format!("listing {kind} definitions")))?;
        rows.iter()
            .map(|row| {
                let what = format!("{kind} definition");
                let name = text(row, "name", &what)?;
                let spec = parse_json(&what, &text(row, "spec", &what)?)?;
                Ok((name, spec))
            })
            .collect()
    }

    pub async fn delete_definition(&self, kind: &str, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM definitions WHERE kind = $1 AND name = $2")
            .bind(kind)
            .bind(name)
            .execute(self.pool())
            .await
            .map_err(db(format!("deleting {kind} {name}")))?;
        Ok(done.rows_affected() == 1)
    }

    /// Records an operation before it acts; returns its id.
    pub async fn begin_operation(
        &self,
        app: &str,
        kind: &str,
        revision: &str,
        request: &Value,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO operations (app, kind, revision, phase, request, progress, started_ms, updated_ms) \
             VALUES ($1, $2, $3, 'Running', $4, '[]', $5, $5) RETURNING id",
        )
        .bind(app)
        .bind(kind)
        .bind(revision)
        .bind(request.to_string())
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map_err(db(format!("recording a {kind} of application {app}")))?;
        int(&row, "id", "operation")
    }

    /// Appends one step's record to an operation in progress.
    pub async fn record_step(&self, id: i64, step: &Value) -> Result<(), StoreError> {
        let op = self
            .get_operation(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                what: format!("operation {id}"),
                message: "not found".into(),
            })?;
        let mut progress = op.progress.as_array().cloned().unwrap_or_default();
        progress.push(step.clone());
        sqlx::query("UPDATE operations SET progress = $1, updated_ms = $2 WHERE id = $3 AND phase = 'Running'")
            .bind(Value::Array(progress).to_string())
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(db(format!("recording a step of operation {id}")))?;
        Ok(())
    }

    pub async fn finish_operation(
        &self,
        id: i64,
        phase: OperationPhase,
        result: &Value,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query("UPDATE operations SET phase = $1, result = $2, updated_ms = $3, finished_ms = $3 WHERE id = $4")
            .bind(phase.as_str())
            .bind(result.to_string())
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(db(format!("finishing operation {id}")))?;
        Ok(())
    }

    pub async fn get_operation(&self, id: i64) -> Result<Option<Operation>, StoreError> {
        let row = sqlx::query("SELECT * FROM operations WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db(format!("reading operation {id}")))?;
        row.as_ref().map(operation_of).transpose()
    }

    /// Operations left Running (by a process that stopped mid-way).
    pub async fn running_operations(&self) -> Result<Vec<Operation>, StoreError> {
        let rows = sqlx::query("SELECT * FROM operations WHERE phase = 'Running' ORDER BY id")
            .fetch_all(self.pool())
            .await
            .map_err(db("listing running operations"))?;
        rows.iter().map(operation_of).collect()
    }

    pub async fn list_operations(
        &self,
        app: &str,
        limit: i64,
    ) -> Result<Vec<Operation>, StoreError> {
        let rows = sqlx::query("SELECT * FROM operations WHERE app = $1 ORDER BY id DESC LIMIT $2")
            .bind(app)
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .map_err(db(format!("listing operations of {app}")))?;
        rows.iter().map(operation_of).collect()
    }

    /// Records a deployed revision and keeps only the newest `keep` entries of the app
    /// (revisionHistoryLimit).
    pub async fn add_history(&self, entry: &HistoryEntry, keep: i64) -> Result<i64, StoreError> {
        let what = format!("history of application {}", entry.app);
        let mut tx = self.pool().begin().await.map_err(db(&what))?;
        let row = sqlx::query(
            "INSERT INTO history (app, revision, digest, operation_id, deployed_ms, desired, live_snapshot) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&entry.app)
        .bind(&entry.revision)
        .bind(&entry.digest)
        .bind(entry.operation_id)
        .bind(entry.deployed_ms)
        .bind(entry.desired.to_string())
        .bind(entry.live_snapshot.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(db(&what))?;
        let id = int(&row, "id", &what)?;
        sqlx::query(
            "DELETE FROM history WHERE app = $1 AND id NOT IN \
             (SELECT id FROM history WHERE app = $1 ORDER BY id DESC LIMIT $2)",
        )
        .bind(&entry.app)
        .bind(keep.max(1))
        .execute(&mut *tx)
        .await
        .map_err(db(&what))?;
        tx.commit().await.map_err(db(&what))?;
        Ok(id)
    }

    /// History of an app, newest first.
    pub async fn list_history(&self, app: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM history WHERE app = $1 ORDER BY id DESC")
            .bind(app)
            .fetch_all(self.pool())
            .await
            .map_err(db(format!("history of application {app}")))?;
        rows.iter().map(history_of).collect()
    }

    pub async fn add_event(
        &self,
        app: &str,
        kind: &str,
        severity: &str,
        message: &str,
        data: &Value,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO events (app, at_ms, kind, severity, message, data) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(app)
        .bind(now_ms())
        .bind(kind)
        .bind(severity)
        .bind(message)
        .bind(data.to_string())
        .fetch_one(self.pool())
        .await
        .map_err(db(format!("recording an event of {app}")))?;
        int(&row, "id", "event")
    }

    /// Events of an app after `after_id`, oldest first.
    pub async fn list_events(
        &self,
        app: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM events WHERE app = $1 AND id > $2 ORDER BY id LIMIT $3")
                .bind(app)
                .bind(after_id)
                .bind(limit)
                .fetch_all(self.pool())
                .await
                .map_err(db(format!("events of {app}")))?;
        rows.iter().map(event_of).collect()
    }
}
