//! The outbox: notifications written to the store in the same transaction as the event that
//! caused them, then claimed, delivered and marked by the dispatcher.
//!
//! Architecture invariant: a message is identified by its `dedupe_key` (application, trigger,
//! condition, template, oncePer value, service, recipient); the store enforces it with a UNIQUE
//! constraint, so a second replica, a retried reconcile or a restart can never enqueue it twice.
//! Claims carry a lease and a fencing token (`claim_token`): only the holder of the current token
//! can complete a message, so a worker whose lease expired cannot overwrite a newer outcome.

pub mod memory;
pub mod sql;

use futures_util::future::BoxFuture;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A message to enqueue (rendered, ready to send).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewMessage {
    pub dedupe_key: String,
    pub event_id: String,
    pub app: String,
    pub trigger: String,
    pub template: String,
    /// The configured service name (`slack`, `github`, a webhook's name).
    pub service: String,
    pub service_type: String,
    pub recipient: String,
    /// The rendered notification: `message` plus the service's own section.
    pub payload: Value,
    pub created_at: Timestamp,
}

impl NewMessage {
    /// The rate-limit and fairness unit: one service and recipient.
    pub fn destination(&self) -> String {
        format!("{}:{}", self.service, self.recipient)
    }
}

/// Where a message is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a dispatcher whose lease has not expired.
    Sending,
    Sent,
    /// Gave up: permanent error or attempts exhausted. `resend` makes it pending again.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxMessage {
    pub id: i64,
    #[serde(flatten)]
    pub message: NewMessage,
    pub destination: String,
    pub status: Status,
    /// Attempts made (completed with an outcome).
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    /// Increases at every claim; the fencing token.
    pub claim_token: i64,
}

/// What to claim.
#[derive(Clone, Debug)]
pub struct ClaimRequest {
    pub owner: String,
    pub now: Timestamp,
    pub lease_until: Timestamp,
    pub limit: usize,
    /// At most this many per destination, so one busy destination cannot fill a batch.
    pub per_destination: usize,
    /// Destinations this dispatcher is already sending to.
    pub exclude: Vec<String>,
}

/// The result of one attempt.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Sent {
        at: Timestamp,
    },
    /// Try again at `next_attempt_at`; counts as an attempt.
    Retry {
        error: String,
        next_attempt_at: Timestamp,
    },
    /// Give up; counts as an attempt.
    Failed {
        error: String,
    },
    /// Not attempted (destination paused or rate limited): back to pending, attempts unchanged.
    Deferred {
        until: Timestamp,
    },
}

/// Filters for `list`.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub app: Option<String>,
    pub service: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
#[error("notification outbox: {0}")]
pub struct OutboxError(pub String);

/// How many messages `enqueue` stored and how many it skipped as duplicates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Enqueued {
    pub inserted: usize,
    pub duplicates: usize,
}

/// The store side of notifications. The SQL implementation lives in the store
/// (its schema is the store's `migrations/*/0005_notifications.sql`); [`memory::MemoryOutbox`] is the in-process one.
pub trait Outbox: Send + Sync {
    /// Stores messages whose `dedupe_key` is new; others are counted as duplicates.
    /// The store also offers this inside the transaction that records the event.
    fn enqueue<'a>(
        &'a self,
        messages: &'a [NewMessage],
    ) -> BoxFuture<'a, Result<Enqueued, OutboxError>>;

    /// Atomically takes due messages (pending with `next_attempt_at <= now`, or sending with an
    /// expired lease), oldest first, sets them `sending` with the lease and a new claim token.
    fn claim<'a>(
        &'a self,
        request: &'a ClaimRequest,
    ) -> BoxFuture<'a, Result<Vec<OutboxMessage>, OutboxError>>;

    /// Records an outcome if (`id`, `claim_token`) is still the current claim; false otherwise.
    fn complete<'a>(
        &'a self,
        id: i64,
        claim_token: i64,
        outcome: Outcome,
    ) -> BoxFuture<'a, Result<bool, OutboxError>>;

    /// Messages, newest first.
    fn list<'a>(
        &'a self,
        filter: &'a ListFilter,
    ) -> BoxFuture<'a, Result<Vec<OutboxMessage>, OutboxError>>;

    /// "Send again": a sent or failed message becomes pending now (attempts are kept).
    fn resend<'a>(&'a self, id: i64, now: Timestamp) -> BoxFuture<'a, Result<bool, OutboxError>>;
}
