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
    pub prune: bool,
}

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

    /// Leaves a request (`kind`: `sync`) for whichever replica owns `app`.
    pub async fn forward_request(
        &self,
        app: &str,
        kind: &str,
        actor: &str,
        prune: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO shard_requests (app, kind, actor, prune, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(app)
        .bind(kind)
        .bind(actor)
        .bind(i64::from(prune))
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(db(format!("forwarding a {kind} of application {app}")))?;
        Ok(())
    }

    /// Every pending request, oldest first.
    pub async fn pending_requests(&self) -> Result<Vec<ShardRequest>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, app, kind, actor, prune FROM shard_requests ORDER BY id LIMIT 1000",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db("listing forwarded requests"))?;
        let what = || db("reading a forwarded request");
        rows.iter()
            .map(|r| {
                Ok(ShardRequest {
                    id: r.try_get("id").map_err(what())?,
                    app: r.try_get("app").map_err(what())?,
                    kind: r.try_get("kind").map_err(what())?,
                    actor: r.try_get("actor").map_err(what())?,
                    prune: r.try_get::<i64, _>("prune").map_err(what())? != 0,
                })
            })
            .collect()
    }

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
mod tests {
    use super::*;
    use crate::{Coordination, StoreLease};
    use std::time::Duration;

    /// Two members on one Postgres: an application has one owner; a live owner's app cannot
    /// be claimed, an expired one's only after it was reaped — which fences its writes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_app_moves_only_from_a_released_or_reaped_owner() {
        let pg = driftless_testkit::postgres::PgServer::start();
        let a = Store::open(&pg.url()).await.unwrap();
        let b = Store::open(&pg.url()).await.unwrap();
        let ttl = Duration::from_millis(300);
        let la = StoreLease::new(a.clone(), &member_lease("a"), "a", ttl);
        let lb = StoreLease::new(b.clone(), &member_lease("b"), "b", Duration::from_secs(60));
        let fa = la.try_acquire().await.unwrap().unwrap();
        let fb = lb.try_acquire().await.unwrap().unwrap();
        assert_eq!(b.live_members().await.unwrap(), ["a", "b"]);

        assert!(a.claim_app("x", "a", fa.token).await.unwrap());
        assert!(
            !b.claim_app("x", "b", fb.token).await.unwrap(),
            "took a live owner's app"
        );
        assert!(b.claim_app("y", "b", fb.token).await.unwrap());
        b.forward_request("x", "sync", "alice", true).await.unwrap();
        // Who wrote an operation and its audit entry is recorded with them.
        let op = a
            .begin_operation("x", "sync", "r1", &serde_json::json!({}))
            .await
            .unwrap();
        a.audit(
            "driftless",
            "app.sync",
            "application/x",
            &serde_json::json!({"operation": op}),
        )
        .await
        .unwrap();
        let ops = b.operation_writers().await.unwrap();
        assert_eq!(
            (ops[0].id, ops[0].writer.as_deref()),
            (op, Some("member/a:1"))
        );
        let audit = b.audit_writers("app.sync").await.unwrap();
        assert_eq!(audit[0].writer.as_deref(), Some("member/a:1"));
        assert_eq!(audit[0].details["operation"], op);

        // A stops renewing. Expired but not reaped: still A's (its writes still pass).
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while b.live_members().await.unwrap() != ["b"] {
            assert!(std::time::Instant::now() < until, "A's lease never expired");
            tokio::task::yield_now().await;
        }
        assert!(
            !b.claim_app("x", "b", fb.token).await.unwrap(),
            "claimed before the reap"
        );
        assert!(
            a.reap_expired_members("a").await.unwrap().is_empty(),
            "reaped itself"
        );
        assert_eq!(b.reap_expired_members("b").await.unwrap(), ["a"]);
        assert!(
            b.reap_expired_members("b").await.unwrap().is_empty(),
            "reaped twice"
        );
        assert!(b.claim_app("x", "b", fb.token).await.unwrap());
        // The reaped member cannot write anything any more, ownership included.
        let e = a.claim_app("z", "a", fa.token).await.unwrap_err();
        assert!(e.to_string().contains("fenced"), "{e}");
        let e = a.put_app("x", &serde_json::json!({})).await.unwrap_err();
        assert!(e.to_string().contains("fenced"), "{e}");
        assert!(
            la.renew(&fa).await.unwrap().is_none(),
            "A renewed a reaped lease"
        );

        let owners = b.app_owners().await.unwrap();
        let owned: Vec<(&str, &str)> = owners
            .iter()
            .map(|o| (o.app.as_str(), o.replica.as_str()))
            .collect();
        assert_eq!(owned, [("x", "b"), ("y", "b")]);
        b.report_member(&MemberReport {
            replica: "b".into(),
            token: fb.token,
            owned: 2,
            queue_depth: 3,
            renewals: 4,
            handovers: 1,
            started_ms: 1,
        })
        .await
        .unwrap();
        let members = a.members().await.unwrap();
        assert_eq!(members.len(), 2);
        assert!(!members[0].live && members[0].owned == 0, "{members:?}");
        assert!(members[1].live && members[1].owned == 2, "{members:?}");
        assert_eq!(members[1].queue_depth, Some(3));

        let reqs = b.pending_requests().await.unwrap();
        assert_eq!(reqs.len(), 1);
        assert_eq!(
            (reqs[0].app.as_str(), reqs[0].actor.as_str(), reqs[0].prune),
            ("x", "alice", true)
        );
        assert!(b.take_request(reqs[0].id).await.unwrap());
        assert!(
            !b.take_request(reqs[0].id).await.unwrap(),
            "a request taken twice"
        );

        // Leaving releases everything and fences the leaver at once.
        assert!(b.release_app("y", "b", fb.token).await.unwrap());
        b.leave("b", fb.token).await.unwrap();
        assert!(b.app_owners().await.unwrap().is_empty());
        assert!(b.live_members().await.unwrap().is_empty());
        let e = b.claim_app("y", "b", fb.token).await.unwrap_err();
        assert!(e.to_string().contains("fenced"), "{e}");
    }

    /// SQLite (one replica) runs the same statements.
    #[tokio::test]
    async fn sqlite_runs_the_same_statements() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::sqlite(&dir.path().join("d.db")).await.unwrap();
        let l = StoreLease::new(
            s.clone(),
            &member_lease("solo"),
            "solo",
            Duration::from_secs(60),
        );
        let f = l.try_acquire().await.unwrap().unwrap();
        assert!(s.claim_app("x", "solo", f.token).await.unwrap());
        assert!(!s.claim_app("x", "other", 1).await.unwrap());
        assert!(s.reap_expired_members("solo").await.unwrap().is_empty());
        let m = s.members().await.unwrap();
        assert_eq!(
            (m[0].replica.as_str(), m[0].live, m[0].owned),
            ("solo", true, 1)
        );
        s.leave("solo", f.token).await.unwrap();
        assert!(
            s.claim_app("x", "other", 1).await.unwrap(),
            "left, yet still owned"
        );
    }

    #[test]
    fn replica_ids_are_pod_names() {
        assert!(validate_replica_id("driftless-7c9f-x2k4q").is_ok());
        assert!(validate_replica_id("node1.example").is_ok());
        for bad in ["", "A", "a:b", "a/b", &"x".repeat(64), "a b"] {
            let e = validate_replica_id(bad).unwrap_err();
            assert!(e.contains("replica id"), "{e}");
        }
    }
}
