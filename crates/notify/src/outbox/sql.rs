//! The SQL outbox over the store's sqlx pool (schema: the store's `migrations/*/0005_notifications.sql`).
//! The statements are valid for SQLite (3.35+: RETURNING, window functions) and Postgres alike,
//! with `$n` placeholders as sqlx's Any driver takes them. [`SqlOutbox::enqueue_in`] runs inside
//! the store's transaction that records the event, which is what makes "the notification exists
//! if and only if the event does" true.

use futures_util::future::{BoxFuture, FutureExt};
use jiff::Timestamp;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::{
    ClaimRequest, Enqueued, ListFilter, NewMessage, Outbox, OutboxError, OutboxMessage, Outcome,
    Status,
};

/// Enqueue one message; a duplicate `dedupe_key` inserts nothing (rows_affected 0).
/// Binds: dedupe_key, event_id, app, trigger_name, template, service, service_type, recipient,
/// destination, payload (JSON text), created_ms (also the first next_attempt_ms).
pub const ENQUEUE: &str = "INSERT INTO notifications \
    (dedupe_key, event_id, app, trigger_name, template, service, service_type, recipient, destination, payload, created_ms, next_attempt_ms) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
    ON CONFLICT (dedupe_key) DO NOTHING";

/// Claim due messages. Binds: owner, lease_until_ms, now_ms, exclude (JSON array of
/// destinations, text), per_destination, limit. Use [`CLAIM_SQLITE`] or [`CLAIM_POSTGRES`]
/// (they differ only in how the JSON array is read).
///
/// The outer WHERE repeats the due condition on purpose: under Postgres's READ COMMITTED, a
/// concurrent claimer's UPDATE re-checks it against the row it waited for, so a row another
/// replica just claimed is skipped, never claimed twice.
macro_rules! claim {
    ($exclude:literal) => {
        concat!(
            "UPDATE notifications SET status = 'sending', lease_owner = $1, lease_until_ms = $2, claim_token = claim_token + 1 \
             WHERE ((status = 'pending' AND next_attempt_ms <= $3) OR (status = 'sending' AND lease_until_ms <= $3)) \
             AND id IN (SELECT id FROM (\
               SELECT id, next_attempt_ms, ROW_NUMBER() OVER (PARTITION BY destination ORDER BY next_attempt_ms, id) AS rn \
               FROM notifications \
               WHERE ((status = 'pending' AND next_attempt_ms <= $3) OR (status = 'sending' AND lease_until_ms <= $3)) \
               AND destination NOT IN (", $exclude, ")\
             ) due WHERE rn <= $5 ORDER BY next_attempt_ms, id LIMIT $6) \
             RETURNING *"
        )
    };
}

pub const CLAIM_SQLITE: &str = claim!("SELECT value FROM json_each($4)");
pub const CLAIM_POSTGRES: &str = claim!("SELECT jsonb_array_elements_text(CAST($4 AS jsonb))");

/// Record an outcome under the fencing token. Binds: status, attempts_added (0 or 1),
/// next_attempt_ms (NULL keeps it), last_error (NULL keeps it), sent_ms (NULL keeps it), id,
/// claim_token. rows_affected 1: recorded; 0: the claim was lost.
pub const COMPLETE: &str = "UPDATE notifications SET status = $1, attempts = attempts + $2, \
    next_attempt_ms = COALESCE($3, next_attempt_ms), \
    last_error = CASE WHEN $1 = 'sent' THEN NULL ELSE COALESCE($4, last_error) END, \
    sent_ms = COALESCE($5, sent_ms), lease_owner = NULL, lease_until_ms = NULL \
    WHERE id = $6 AND claim_token = $7 AND status = 'sending'";

/// "Send again". Binds: id, now_ms.
pub const RESEND: &str = "UPDATE notifications SET status = 'pending', next_attempt_ms = $2, sent_ms = NULL \
    WHERE id = $1 AND status IN ('sent', 'failed')";

/// List, newest first. Binds: status (NULL: any), app (NULL: any), service (NULL: any), limit.
pub const LIST: &str = "SELECT * FROM notifications \
    WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR app = $2) AND ($3 IS NULL OR service = $3) \
    ORDER BY id DESC LIMIT $4";

/// Which SQL flavour the pool speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// An [`Outbox`] in the store's database.
#[derive(Clone, Debug)]
pub struct SqlOutbox {
    pool: AnyPool,
    dialect: Dialect,
}

fn db(what: &'static str) -> impl Fn(sqlx::Error) -> OutboxError {
    move |e| OutboxError(format!("{what}: {e}"))
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn from_ms(v: i64) -> Timestamp {
    Timestamp::from_millisecond(v).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl SqlOutbox {
    pub fn new(pool: AnyPool, dialect: Dialect) -> Self {
        Self { pool, dialect }
    }

    /// Enqueues inside the caller's transaction (`&mut *tx`), skipping known dedupe keys.
    pub async fn enqueue_in(
        conn: &mut AnyConnection,
        messages: &[NewMessage],
    ) -> Result<Enqueued, OutboxError> {
        let mut count = Enqueued::default();
        for m in messages {
            let done = sqlx::query(ENQUEUE)
                .bind(&m.dedupe_key)
                .bind(&m.event_id)
                .bind(&m.app)
                .bind(&m.trigger)
                .bind(&m.template)
                .bind(&m.service)
                .bind(&m.service_type)
                .bind(&m.recipient)
                .bind(m.destination())
                .bind(m.payload.to_string())
                .bind(ms(m.created_at))
                .execute(&mut *conn)
                .await
                .map_err(db("enqueueing a notification"))?;
            if done.rows_affected() == 1 {
                count.inserted += 1;
            } else {
                count.duplicates += 1;
            }
        }
        Ok(count)
    }

    async fn enqueue_all(&self, messages: &[NewMessage]) -> Result<Enqueued, OutboxError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let count = Self::enqueue_in(&mut tx, messages).await?;
        tx.commit().await.map_err(db("committing notifications"))?;
        Ok(count)
    }

    async fn claim_due(&self, r: &ClaimRequest) -> Result<Vec<OutboxMessage>, OutboxError> {
        let sql = match self.dialect {
            Dialect::Sqlite => CLAIM_SQLITE,
            Dialect::Postgres => CLAIM_POSTGRES,
        };
        let exclude = serde_json::to_string(&r.exclude).unwrap_or_else(|_| "[]".into());
        let rows = sqlx::query(sql)
            .bind(&r.owner)
            .bind(ms(r.lease_until))
            .bind(ms(r.now))
            .bind(exclude)
            .bind(r.per_destination as i64)
            .bind(r.limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db("claiming notifications"))?;
        let mut out = rows.iter().map(message_of).collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|m| (m.next_attempt_at, m.id));
        Ok(out)
    }

    async fn complete_claim(
        &self,
        id: i64,
        token: i64,
        outcome: Outcome,
    ) -> Result<bool, OutboxError> {
        let (status, attempts, next, error, sent): (
            &str,
            i64,
            Option<i64>,
            Option<String>,
            Option<i64>,
        ) = match outcome {
            Outcome::Sent { at } => ("sent", 1, None, None, Some(ms(at))),
            Outcome::Retry {
                error,
                next_attempt_at,
            } => ("pending", 1, Some(ms(next_attempt_at)), Some(error), None),
            Outcome::Failed { error } => ("failed", 1, None, Some(error), None),
            Outcome::Deferred { until } => ("pending", 0, Some(ms(until)), None, None),
        };
        let done = sqlx::query(COMPLETE)
            .bind(status)
            .bind(attempts)
            .bind(next)
            .bind(error)
            .bind(sent)
            .bind(id)
            .bind(token)
            .execute(&self.pool)
            .await
            .map_err(db("recording a notification outcome"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_messages(&self, f: &ListFilter) -> Result<Vec<OutboxMessage>, OutboxError> {
        let rows = sqlx::query(LIST)
            .bind(f.status.map(Status::as_str))
            .bind(f.app.as_deref())
            .bind(f.service.as_deref())
            .bind(f.limit.map_or(i64::MAX, |l| l as i64))
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing notifications"))?;
        rows.iter().map(message_of).collect()
    }

    async fn resend_message(&self, id: i64, now: Timestamp) -> Result<bool, OutboxError> {
        let done = sqlx::query(RESEND)
            .bind(id)
            .bind(ms(now))
            .execute(&self.pool)
            .await
            .map_err(db("resending a notification"))?;
        Ok(done.rows_affected() == 1)
    }
}

fn message_of(row: &AnyRow) -> Result<OutboxMessage, OutboxError> {
    let text = |c: &str| {
        row.try_get::<String, _>(c)
            .map_err(|e| OutboxError(format!("column {c}: {e}")))
    };
    let int = |c: &str| {
        row.try_get::<i64, _>(c)
            .map_err(|e| OutboxError(format!("column {c}: {e}")))
    };
    let opt_int = |c: &str| {
        row.try_get::<Option<i64>, _>(c)
            .map_err(|e| OutboxError(format!("column {c}: {e}")))
    };
    let status = match text("status")?.as_str() {
        "pending" => Status::Pending,
        "sending" => Status::Sending,
        "sent" => Status::Sent,
        "failed" => Status::Failed,
        other => {
            return Err(OutboxError(format!(
                "unknown notification status `{other}`"
            )));
        }
    };
    let payload = serde_json::from_str(&text("payload")?)
        .map_err(|e| OutboxError(format!("payload: {e}")))?;
    Ok(OutboxMessage {
        id: int("id")?,
        message: NewMessage {
            dedupe_key: text("dedupe_key")?,
            event_id: text("event_id")?,
            app: text("app")?,
            trigger: text("trigger_name")?,
            template: text("template")?,
            service: text("service")?,
            service_type: text("service_type")?,
            recipient: text("recipient")?,
            payload,
            created_at: from_ms(int("created_ms")?),
        },
        destination: text("destination")?,
        status,
        attempts: u32::try_from(int("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: from_ms(int("next_attempt_ms")?),
        last_error: row
            .try_get::<Option<String>, _>("last_error")
            .map_err(|e| OutboxError(format!("column last_error: {e}")))?,
        sent_at: opt_int("sent_ms")?.map(from_ms),
        lease_owner: row
            .try_get::<Option<String>, _>("lease_owner")
            .map_err(|e| OutboxError(format!("column lease_owner: {e}")))?,
        lease_until: opt_int("lease_until_ms")?.map(from_ms),
        claim_token: int("claim_token")?,
    })
}

impl Outbox for SqlOutbox {
    fn enqueue<'a>(
        &'a self,
        messages: &'a [NewMessage],
    ) -> BoxFuture<'a, Result<Enqueued, OutboxError>> {
        self.enqueue_all(messages).boxed()
    }
    fn claim<'a>(
        &'a self,
        request: &'a ClaimRequest,
    ) -> BoxFuture<'a, Result<Vec<OutboxMessage>, OutboxError>> {
        self.claim_due(request).boxed()
    }
    fn complete<'a>(
        &'a self,
        id: i64,
        claim_token: i64,
        outcome: Outcome,
    ) -> BoxFuture<'a, Result<bool, OutboxError>> {
        self.complete_claim(id, claim_token, outcome).boxed()
    }
    fn list<'a>(
        &'a self,
        filter: &'a ListFilter,
    ) -> BoxFuture<'a, Result<Vec<OutboxMessage>, OutboxError>> {
        self.list_messages(filter).boxed()
    }
    fn resend<'a>(&'a self, id: i64, now: Timestamp) -> BoxFuture<'a, Result<bool, OutboxError>> {
        self.resend_message(id, now).boxed()
    }
}
