//! The statements of the SQL outbox, for the store's implementation of [`Outbox`](super::Outbox)
//! over `migrations/*/0004_notifications.sql`. They are valid for SQLite (3.35+: RETURNING,
//! window functions) and Postgres alike, with `$n` placeholders as sqlx's Any driver takes them.

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
    next_attempt_ms = COALESCE($3, next_attempt_ms), last_error = COALESCE($4, last_error), \
    sent_ms = COALESCE($5, sent_ms), lease_owner = NULL, lease_until_ms = NULL \
    WHERE id = $6 AND claim_token = $7 AND status = 'sending'";

/// "Send again". Binds: id, now_ms.
pub const RESEND: &str = "UPDATE notifications SET status = 'pending', next_attempt_ms = $2, sent_ms = NULL \
    WHERE id = $1 AND status IN ('sent', 'failed')";

/// List, newest first. Binds: status (NULL: any), app (NULL: any), service (NULL: any), limit.
pub const LIST: &str = "SELECT * FROM notifications \
    WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR app = $2) AND ($3 IS NULL OR service = $3) \
    ORDER BY id DESC LIMIT $4";
