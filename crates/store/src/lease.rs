//! One writer per store: a lease with a fencing token. An engine takes the lease `engine`
//! (shards will take one each) for a time-to-live and renews it; a take-over — only once the
//! lease expired — raises the token by one. On Postgres the store then declares
//! `NAME:TOKEN` on every connection it hands out and a trigger on every table refuses a write
//! whose token is no longer the lease's, so an engine that was paused or cut off past its
//! lease cannot write after another took over, even before it notices.
//!
//! The clock is the database's (`clock_timestamp()` / SQLite's `unixepoch`), so engines on
//! hosts whose clocks disagree still agree on expiry.
//!
//! [`Coordination`] is the small interface the engine (and sharding) use; [`StoreLease`]
//! implements it on the store itself.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sqlx::Row;

use crate::{Backend, Store, StoreError, db};

/// A held lease: whose, which token, until when (database milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub name: String,
    pub holder: String,
    pub token: i64,
    pub expires_ms: i64,
}

impl Fence {
    /// What the store declares on its connections: `NAME:TOKEN`.
    pub fn declaration(&self) -> String {
        format!("{}:{}", self.name, self.token)
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who may write. `try_acquire` takes the lease when it is free or expired; `renew` extends a
/// held one and answers false once it was lost; `holder` names who holds it (for messages).
pub trait Coordination: Send + Sync {
    fn try_acquire(&self) -> BoxFuture<'_, Result<Option<Fence>, StoreError>>;
    fn renew<'a>(&'a self, fence: &'a Fence) -> BoxFuture<'a, Result<Option<Fence>, StoreError>>;
    fn release<'a>(&'a self, fence: &'a Fence) -> BoxFuture<'a, Result<(), StoreError>>;
    fn holder(&self) -> BoxFuture<'_, Result<Option<Fence>, StoreError>>;
    /// How long a lease lasts without renewal.
    fn ttl(&self) -> Duration;
}

/// The lease `name` in `store`, taken as `holder` (unique per engine process).
#[derive(Clone)]
pub struct StoreLease {
    store: Store,
    name: String,
    holder: String,
    ttl: Duration,
}

/// The database's time in milliseconds, as SQL.
fn now_sql(b: Backend) -> &'static str {
    match b {
        Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        Backend::Sqlite => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
    }
}

fn fence_of(row: &sqlx::any::AnyRow) -> Result<Fence, StoreError> {
    Ok(Fence {
        name: row.try_get("name").map_err(db("reading a lease"))?,
        holder: row.try_get("holder").map_err(db("reading a lease"))?,
        token: row.try_get("token").map_err(db("reading a lease"))?,
        expires_ms: row.try_get("expires_ms").map_err(db("reading a lease"))?,
    })
}

impl StoreLease {
    pub fn new(store: Store, name: &str, holder: &str, ttl: Duration) -> StoreLease {
        StoreLease {
            store,
            name: name.to_string(),
            holder: holder.to_string(),
            ttl,
        }
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 4)
    }

    async fn acquire(&self) -> Result<Option<Fence>, StoreError> {
        let now = now_sql(self.store.backend());
        // Insert the first lease, or take an expired one over with the next token.
        let sql = format!(
            "INSERT INTO leases (name, holder, token, expires_ms) VALUES ($1, $2, 1, {now} + $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = leases.token + 1, \
             expires_ms = excluded.expires_ms WHERE leases.expires_ms < {now} \
             RETURNING name, holder, token, expires_ms"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.name)
            .bind(&self.holder)
            .bind(self.ttl_ms())
            .fetch_optional(self.store.pool())
            .await
            .map_err(db(format!("taking the lease {}", self.name)))?;
        let Some(row) = row else { return Ok(None) };
        let fence = fence_of(&row)?;
        self.store.declare_fence(&fence);
        Ok(Some(fence))
    }

    async fn extend(&self, fence: &Fence) -> Result<Option<Fence>, StoreError> {
        let now = now_sql(self.store.backend());
        let sql = format!(
            "UPDATE leases SET expires_ms = {now} + $1 WHERE name = $2 AND holder = $3 AND token = $4 \
             RETURNING name, holder, token, expires_ms"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.ttl_ms())
            .bind(&fence.name)
            .bind(&fence.holder)
            .bind(fence.token)
            .fetch_optional(self.store.pool())
            .await
            .map_err(db(format!("renewing the lease {}", self.name)))?;
        row.as_ref().map(fence_of).transpose()
    }

    async fn give_up(&self, fence: &Fence) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE leases SET expires_ms = 0 WHERE name = $1 AND holder = $2 AND token = $3",
        )
        .bind(&fence.name)
        .bind(&fence.holder)
        .bind(fence.token)
        .execute(self.store.pool())
        .await
        .map_err(db(format!("releasing the lease {}", self.name)))?;
        Ok(())
    }

    async fn current(&self) -> Result<Option<Fence>, StoreError> {
        let row = sqlx::query("SELECT name, holder, token, expires_ms FROM leases WHERE name = $1")
            .bind(&self.name)
            .fetch_optional(self.store.pool())
            .await
            .map_err(db(format!("reading the lease {}", self.name)))?;
        row.as_ref().map(fence_of).transpose()
    }
}

impl Coordination for StoreLease {
    fn try_acquire(&self) -> BoxFuture<'_, Result<Option<Fence>, StoreError>> {
        Box::pin(self.acquire())
    }
    fn renew<'a>(&'a self, fence: &'a Fence) -> BoxFuture<'a, Result<Option<Fence>, StoreError>> {
        Box::pin(self.extend(fence))
    }
    fn release<'a>(&'a self, fence: &'a Fence) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.give_up(fence))
    }
    fn holder(&self) -> BoxFuture<'_, Result<Option<Fence>, StoreError>> {
        Box::pin(self.current())
    }
    fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// A lease being held: `deadline` is when, on this host's monotonic clock, the lease may have
/// expired without a renewal seen — writes must stop then. `None` once it was lost.
pub struct Holding {
    pub fence: Fence,
    pub deadline: tokio::sync::watch::Receiver<Option<std::time::Instant>>,
}

/// The local deadline of a lease renewed by a call sent at `sent`: its time-to-live less a
/// margin for the round trip and clock rate differences.
fn local_deadline(sent: std::time::Instant, ttl: Duration) -> std::time::Instant {
    sent + ttl.mul_f64(0.8)
}

/// Waits until `coord`'s lease is ours (calling `waiting` with the holder while another
/// engine has it), then renews it every third of its time-to-live in the background.
/// The returned deadline moves on at each renewal and turns `None` once it is lost.
pub async fn hold(
    coord: std::sync::Arc<dyn Coordination>,
    waiting: impl Fn(Option<&Fence>),
) -> Result<Holding, StoreError> {
    let ttl = coord.ttl();
    let (sent, fence) = loop {
        let sent = std::time::Instant::now();
        if let Some(f) = coord.try_acquire().await? {
            break (sent, f);
        }
        waiting(coord.holder().await?.as_ref());
        tokio::time::sleep(ttl / 3).await;
    };
    let (tx, rx) = tokio::sync::watch::channel(Some(local_deadline(sent, ttl)));
    let held = fence.clone();
    tokio::spawn(async move {
        let mut current = held;
        loop {
            tokio::time::sleep(ttl / 3).await;
            let sent = std::time::Instant::now();
            match coord.renew(&current).await {
                Ok(Some(f)) => {
                    current = f;
                    if tx.send(Some(local_deadline(sent, ttl))).is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    let _ = tx.send(None);
                    return;
                }
                // The store is unreachable: the deadline stands; retry.
                Err(e) => tracing::warn!("renewing the write lease: {e}"),
            }
        }
    });
    Ok(Holding {
        fence,
        deadline: rx,
    })
}
