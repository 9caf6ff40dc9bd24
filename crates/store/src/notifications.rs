//! Notifications in the store: the outbox table (`0005_notifications`) and the one write that
//! makes delivery trustworthy — an application event and the notifications it causes, committed
//! in one transaction. A crash before the commit loses both, after it keeps both: a message is
//! never sent for an event that was not recorded, and never lost for one that was.

use driftless_notify::outbox::sql::{Dialect, SqlOutbox};
use driftless_notify::outbox::{Enqueued, NewMessage};
use serde_json::Value;

use crate::records::int;
use crate::{Backend, Store, StoreError, db, now_ms};

impl Store {
    /// Records an event of `app` and enqueues `messages` in the same transaction. Messages
    /// whose dedupe key is already stored are skipped (counted in [`Enqueued::duplicates`]), so
    /// a replayed event adds its row but never a second notification.
    pub async fn add_event_with_notifications(
        &self,
        app: &str,
        kind: &str,
        severity: &str,
        message: &str,
        data: &Value,
        messages: &[NewMessage],
    ) -> Result<(i64, Enqueued), StoreError> {
        let what = format!("recording an event of {app}");
        let mut tx = self.pool().begin().await.map_err(db(&what))?;
        let row = sqlx::query(
            "INSERT INTO events (app, at_ms, kind, severity, message, data) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(app)
        .bind(now_ms())
        .bind(kind)
        .bind(severity)
        .bind(message)
        .bind(data.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(db(&what))?;
        let id = int(&row, "id", "event")?;
        let enqueued = SqlOutbox::enqueue_in(&mut tx, messages)
            .await
            .map_err(|e| StoreError::Corrupt {
                what: format!("notifications of event {kind} of {app}"),
                message: e.to_string(),
            })?;
        tx.commit().await.map_err(db(&what))?;
        Ok((id, enqueued))
    }

    /// The outbox on this store's pool, for the dispatcher, the API and the CLI.
    pub fn notification_outbox(&self) -> SqlOutbox {
        let dialect = match self.backend() {
            Backend::Sqlite => Dialect::Sqlite,
            Backend::Postgres => Dialect::Postgres,
        };
        SqlOutbox::new(self.pool().clone(), dialect)
    }

    /// Events of the given kinds (every application) recorded at or after `since_ms`, oldest
    /// first, at most `limit`: the drift report's window.
    pub async fn events_of_kinds(
        &self,
        kinds: &[&str],
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<crate::Event>, StoreError> {
        let kinds = serde_json::to_string(kinds).unwrap_or_else(|_| "[]".into());
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT * FROM events WHERE kind IN (SELECT value FROM json_each($1)) AND at_ms >= $2 ORDER BY id LIMIT $3"
            }
            Backend::Postgres => {
                "SELECT * FROM events WHERE kind IN (SELECT jsonb_array_elements_text(CAST($1 AS jsonb))) AND at_ms >= $2 ORDER BY id LIMIT $3"
            }
        };
        let rows = sqlx::query(sql)
            .bind(kinds)
            .bind(since_ms)
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .map_err(db("events by kind"))?;
        rows.iter().map(crate::records::event_of).collect()
    }

    /// The latest event of `app` among `kinds` (whether a drift episode is still open).
    pub async fn last_event_of_kinds(
        &self,
        app: &str,
        kinds: &[&str],
    ) -> Result<Option<crate::Event>, StoreError> {
        let kinds = serde_json::to_string(kinds).unwrap_or_else(|_| "[]".into());
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT * FROM events WHERE app = $1 AND kind IN (SELECT value FROM json_each($2)) ORDER BY id DESC LIMIT 1"
            }
            Backend::Postgres => {
                "SELECT * FROM events WHERE app = $1 AND kind IN (SELECT jsonb_array_elements_text(CAST($2 AS jsonb))) ORDER BY id DESC LIMIT 1"
            }
        };
        let row = sqlx::query(sql)
            .bind(app)
            .bind(kinds)
            .fetch_optional(self.pool())
            .await
            .map_err(db(format!("latest events of {app}")))?;
        row.as_ref().map(crate::records::event_of).transpose()
    }
}
