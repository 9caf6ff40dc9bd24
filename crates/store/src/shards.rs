//! Several replicas on one store: membership, application ownership and forwarded requests.
//!
//! A replica is a member while it holds the lease `member/REPLICA` (see [`crate::lease`]);
//! its store declares that lease's fence, so once the lease's token moves on, every write it
//! still attempts is refused by the Postgres triggers. An application is owned through one
//! row of `app_owners` naming the replica and the token it was claimed under. A row is only
//! ever taken over when that token is no longer its member's lease token — the member
//! released its membership, or its lease expired and another replica *reaped* it (raised
//! its token, fencing it) — or after the owner deleted it itself on a hand-over. So two
//! replicas never hold one application with both able to write.

use sqlx::Row;

use crate::{Backend, Store, StoreError, db, now_ms};

mod written;
pub use written::{WrittenAudit, WrittenOperation};

/// Lease names of members start with this; the rest is the replica id.
pub const MEMBER_PREFIX: &str = "member/";

/// The lease name of replica `id`.
pub fn member_lease(id: &str) -> String {
    format!("{MEMBER_PREFIX}{id}")
}

/// A replica id is a DNS label-like name (a pod or host name): 1-63 characters of lowercase
/// letters, digits, `-` and `.`. It ends up in lease names and fence declarations
/// (`member/ID:TOKEN`), so `:` and `/` are refused.
pub fn validate_replica_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "replica id {id:?}: expected 1-63 lowercase letters, digits, '-' or '.' (like a pod name)"
        ))
    }
}

/// A member as the store sees it: its lease, and what it last reported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub replica: String,
    pub holder: String,
    pub token: i64,
    /// The lease is live (unexpired, by the database's clock).
    pub live: bool,
    pub expires_ms: i64,
    /// Applications owned under the current token.
    pub owned: i64,
    pub queue_depth: Option<i64>,
    pub renewals: Option<i64>,
    pub handovers: Option<i64>,
    pub started_ms: Option<i64>,
    /// When it last reported (roughly its last renewal).
    pub reported_ms: Option<i64>,
}

/// What a replica reports about itself at each tick.
#[derive(Debug, Clone, Default)]
pub struct MemberReport {
    pub replica: String,
    pub token: i64,
    pub owned: i64,
    pub queue_depth: i64,
    pub renewals: i64,
    pub handovers: i64,
    pub started_ms: i64,
}

/// One ownership row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppOwner {
    pub app: String,
    pub replica: String,
    pub token: i64,
    pub since_ms: i64,
}

/// A request another replica made for an application's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRequest {
    pub id: i64,
    pub app: String,
    pub kind: String,
    pub actor: String,
    /// What the request needs: `{prune}` for a sync, `{seconds, reason}` to pause self-heal.
    pub details: serde_json::Value,
}

/// The database's time in milliseconds, as SQL.
fn now_sql(b: Backend) -> &'static str {
    match b {
        Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        Backend::Sqlite => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
    }
}

impl Store {
    /// Every member lease ever taken (live or not), with its owned count and last report.
    pub async fn members(&self) -> Result<Vec<Member>, StoreError> {
        let now = now_sql(self.backend());
        let sql = format!(
            "SELECT l.name, l.holder, l.token, l.expires_ms, \
             CAST(CASE WHEN l.expires_ms >= {now} THEN 1 ELSE 0 END AS BIGINT) AS live, \
             (SELECT COUNT(*) FROM app_owners o WHERE '{MEMBER_PREFIX}' || o.replica = l.name \
                AND o.token = l.token) AS owned, \
             m.queue_depth, m.renewals, m.handovers, m.started_ms, m.reported_ms \
             FROM leases l LEFT JOIN shard_members m \
               ON '{MEMBER_PREFIX}' || m.replica = l.name AND m.token = l.token \
             WHERE l.name LIKE '{MEMBER_PREFIX}%' ORDER BY l.name"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await
            .map_err(db("listing members"))?;
        let what = || db("reading a member");
        rows.iter()
            .map(|r| {
                let name: String = r.try_get("name").map_err(what())?;
                Ok(Member {
                    replica: name.trim_start_matches(MEMBER_PREFIX).to_string(),
                    holder: r.try_get("holder").map_err(what())?,
                    token: r.try_get("token").map_err(what())?,
                    live: r.try_get::<i64, _>("live").map_err(what())? == 1,
                    expires_ms: r.try_get("expires_ms").map_err(what())?,
                    owned: r.try_get("owned").map_err(what())?,
                    queue_depth: r.try_get("queue_depth").map_err(what())?,
                    renewals: r.try_get("renewals").map_err(what())?,
                    handovers: r.try_get("handovers").map_err(what())?,
                    started_ms: r.try_get("started_ms").map_err(what())?,
                    reported_ms: r.try_get("reported_ms").map_err(what())?,
                })
            })
            .collect()
    }

    /// The replicas whose member lease is live now, sorted.
    pub async fn live_members(&self) -> Result<Vec<String>, StoreError> {
        let now = now_sql(self.backend());
        let sql = format!(
            "SELECT name FROM leases WHERE name LIKE '{MEMBER_PREFIX}%' AND expires_ms >= {now} \
             ORDER BY name"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await
            .map_err(db("listing live members"))?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get("name").map_err(db("reading a member"))?;
                Ok(name.trim_start_matches(MEMBER_PREFIX).to_string())
            })
            .collect()
    }

    /// Fences every other member whose lease expired unreleased: its token moves on, so its
    /// writes are refused from now on and its applications may be claimed. Returns the
    /// replicas reaped. Any member may do this; doing it twice changes nothing. `me` is
    /// never reaped by itself: reaching the store, it renews instead (nobody could claim
    /// its apps meanwhile, and its cluster writes stopped at its local deadline).
    pub async fn reap_expired_members(&self, me: &str) -> Result<Vec<String>, StoreError> {
        let now = now_sql(self.backend());
        let sql = format!(
            "UPDATE leases SET token = token + 1, expires_ms = 0 \
             WHERE name LIKE '{MEMBER_PREFIX}%' AND name <> $1 AND expires_ms <> 0 \
             AND expires_ms < {now} RETURNING name"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(member_lease(me))
            .fetch_all(self.pool())
            .await
            .map_err(db("reaping expired members"))?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get("name").map_err(db("reading a member"))?;
                Ok(name.trim_start_matches(MEMBER_PREFIX).to_string())
            })
            .collect()
    }

    /// Every ownership row.
    pub async fn app_owners(&self) -> Result<Vec<AppOwner>, StoreError> {
        let rows = sqlx::query("SELECT app, replica, token, since_ms FROM app_owners ORDER BY app")
            .fetch_all(self.pool())
            .await
            .map_err(db("listing application owners"))?;
        let what = || db("reading an application owner");
        rows.iter()
            .map(|r| {
                Ok(AppOwner {
                    app: r.try_get("app").map_err(what())?,
                    replica: r.try_get("replica").map_err(what())?,
                    token: r.try_get("token").map_err(what())?,
                    since_ms: r.try_get("since_ms").map_err(what())?,
                })
            })
            .collect()
    }

    /// Claims `app` for `replica` under `token`: succeeds when nobody owns it, or its owner's
    /// token is no longer its member lease's (released or reaped). One statement, so two
    /// claimers racing for one row cannot both win.
    pub async fn claim_app(
        &self,
        app: &str,
        replica: &str,
        token: i64,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "INSERT INTO app_owners (app, replica, token, since_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (app) DO UPDATE SET replica = excluded.replica, token = excluded.token, \
             since_ms = excluded.since_ms \
             WHERE NOT EXISTS (SELECT 1 FROM leases l \
               WHERE l.name = '{MEMBER_PREFIX}' || app_owners.replica AND l.token = app_owners.token) \
             RETURNING app"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(app)
            .bind(replica)
            .bind(token)
            .bind(now_ms())
            .fetch_optional(self.pool())
            .await
            .map_err(db(format!("claiming application {app}")))?;
        Ok(row.is_some())
    }

    /// Gives `app` up (the owner does this when another replica should have it).
    pub async fn release_app(
        &self,
        app: &str,
        replica: &str,
        token: i64,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM app_owners WHERE app = $1 AND replica = $2 AND token = $3")
                .bind(app)
                .bind(replica)
                .bind(token)
                .execute(self.pool())
                .await
                .map_err(db(format!("releasing application {app}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Leaves: gives every application up, then ends the membership and moves its token on,
    /// so nothing this process still attempts can be written. The others take over at once.
    pub async fn leave(&self, replica: &str, token: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM app_owners WHERE replica = $1 AND token = $2")
            .bind(replica)
            .bind(token)
            .execute(self.pool())
            .await
            .map_err(db("releasing this replica's applications"))?;
        sqlx::query("DELETE FROM shard_members WHERE replica = $1 AND token = $2")
            .bind(replica)
            .bind(token)
            .execute(self.pool())
            .await
            .map_err(db("removing this replica's report"))?;
        sqlx::query(
            "UPDATE leases SET expires_ms = 0, token = token + 1 WHERE name = $1 AND token = $2",
        )
        .bind(member_lease(replica))
        .bind(token)
        .execute(self.pool())
        .await
        .map_err(db("ending this replica's membership"))?;
        Ok(())
    }

    /// Records what a replica reports about itself.
    pub async fn report_member(&self, r: &MemberReport) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO shard_members (replica, token, owned, queue_depth, renewals, handovers, \
             started_ms, reported_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (replica) DO UPDATE SET token = excluded.token, owned = excluded.owned, \
             queue_depth = excluded.queue_depth, renewals = excluded.renewals, \
             handovers = excluded.handovers, started_ms = excluded.started_ms, \
             reported_ms = excluded.reported_ms",
        )
        .bind(&r.replica)
        .bind(r.token)
        .bind(r.owned)
        .bind(r.queue_depth)
        .bind(r.renewals)
        .bind(r.handovers)
        .bind(r.started_ms)
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(db("recording this replica's report"))?;
        Ok(())
    }

    /// Leaves a request (`kind`: `sync`, `refresh`, `pause-heal`) for whichever replica
    /// owns `app`.
    pub async fn forward_request(
        &self,
        app: &str,
        kind: &str,
        actor: &str,
        details: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO shard_requests (app, kind, actor, details, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(app)
        .bind(kind)
        .bind(actor)
        .bind(details.to_string())
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(db(format!("forwarding a {kind} of application {app}")))?;
        Ok(())
    }

    /// Every pending request, oldest first.
    pub async fn pending_requests(&self) -> Result<Vec<ShardRequest>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, app, kind, actor, details FROM shard_requests ORDER BY id LIMIT 1000",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db("listing forwarded requests"))?;
        let what = || db("reading a forwarded request");
        rows.iter()
            .map(|r| {
                let details: String = r.try_get("details").map_err(what())?;
                Ok(ShardRequest {
                    id: r.try_get("id").map_err(what())?,
                    app: r.try_get("app").map_err(what())?,
                    kind: r.try_get("kind").map_err(what())?,
                    actor: r.try_get("actor").map_err(what())?,
                    details: crate::parse_json("a forwarded request", &details)?,
                })
            })
            .collect()
    }

    /// Takes request `id` (false: another replica took it first).
    pub async fn take_request(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM shard_requests WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(db("taking a forwarded request"))?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests;
