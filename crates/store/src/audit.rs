//! The audit log: append-only (database triggers refuse UPDATE and DELETE) and hash-chained,
//! so rewriting history with the triggers dropped is still detected: entry n's hash covers
//! entry n-1's hash and all of entry n's fields. `Store::verify_audit` walks the chain.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use driftless_core::desired::write_canonical;

use crate::{Store, StoreError, db, now_ms, parse_json};

/// The hash before the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// Filters for reading the log.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target_prefix: Option<String>,
    pub after_seq: i64,
    pub limit: i64,
}

fn hash_of(
    prev: &str,
    seq: i64,
    at_ms: i64,
    actor: &str,
    action: &str,
    target: &str,
    details: &Value,
) -> String {
    let mut buf = Vec::new();
    write_canonical(
        &json!([seq, at_ms, actor, action, target, details]),
        &mut buf,
    );
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(&buf);
    hex::encode(h.finalize())
}

fn entry_of(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    let seq: i64 = row.try_get("seq").map_err(db("audit entry"))?;
    let what = format!("audit entry {seq}");
    let t = |c: &str| {
        row.try_get::<String, _>(c)
            .map_err(db(format!("{what}: {c}")))
    };
    Ok(AuditEntry {
        seq,
        at_ms: row.try_get("at_ms").map_err(db(&what))?,
        actor: t("actor")?,
        action: t("action")?,
        target: t("target")?,
        details: parse_json(&what, &t("details")?)?,
        prev_hash: t("prev_hash")?,
        hash: t("hash")?,
    })
}

fn is_contention(e: &sqlx::Error) -> bool {
    match e.as_database_error() {
        Some(d) => {
            d.is_unique_violation()
                || d.message().contains("locked")
                || d.message().contains("busy")
        }
        None => false,
    }
}

impl Store {
    /// Appends an entry (concurrent appends each get their own sequence number).
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        details: &Value,
    ) -> Result<AuditEntry, StoreError> {
        let what = format!("audit of {action} on {target} by {actor}");
        let mut attempt = 0;
        loop {
            match self.try_append(actor, action, target, details).await {
                Ok(e) => return Ok(e),
                Err(e) if is_contention(&e) && attempt < 50 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(2 * attempt)).await;
                }
                Err(e) => return Err(StoreError::Database { what, source: e }),
            }
        }
    }

    async fn try_append(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        details: &Value,
    ) -> Result<AuditEntry, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let last = sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        let (seq, prev_hash) = match last {
            Some(r) => (
                r.try_get::<i64, _>("seq")? + 1,
                r.try_get::<String, _>("hash")?,
            ),
            None => (1, GENESIS.to_string()),
        };
        let at_ms = now_ms();
        let hash = hash_of(&prev_hash, seq, at_ms, actor, action, target, details);
        sqlx::query("INSERT INTO audit (seq, at_ms, actor, action, target, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(seq)
            .bind(at_ms)
            .bind(actor)
            .bind(action)
            .bind(target)
            .bind(details.to_string())
            .bind(&prev_hash)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(AuditEntry {
            seq,
            at_ms,
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            details: details.clone(),
            prev_hash,
            hash,
        })
    }

    /// Entries matching `q`, in order.
    pub async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM audit WHERE seq > $1 AND ($2 = '' OR actor = $2) AND ($3 = '' OR action = $3) \
             AND target LIKE $4 ORDER BY seq LIMIT $5",
        )
        .bind(q.after_seq)
        .bind(q.actor.clone().unwrap_or_default())
        .bind(q.action.clone().unwrap_or_default())
        .bind(format!("{}%", q.target_prefix.clone().unwrap_or_default().replace('%', "\\%")))
        .bind(if q.limit > 0 { q.limit } else { 100 })
        .fetch_all(self.pool())
        .await
        .map_err(db("reading the audit log"))?;
        rows.iter().map(entry_of).collect()
    }

    /// Walks the whole chain; returns the number of entries, or where it breaks.
    pub async fn verify_audit(&self) -> Result<i64, StoreError> {
        let mut prev = GENESIS.to_string();
        let mut expected = 1;
        let mut after = 0;
        loop {
            let rows = sqlx::query("SELECT * FROM audit WHERE seq > $1 ORDER BY seq LIMIT 1000")
                .bind(after)
                .fetch_all(self.pool())
                .await
                .map_err(db("verifying the audit log"))?;
            if rows.is_empty() {
                return Ok(expected - 1);
            }
            for row in &rows {
                let e = entry_of(row)?;
                if e.seq != expected {
                    return Err(StoreError::Tampered {
                        seq: expected,
                        message: format!("entry missing (next is {})", e.seq),
                    });
                }
                if e.prev_hash != prev {
                    return Err(StoreError::Tampered {
                        seq: e.seq,
                        message: "it does not follow the previous entry".into(),
                    });
                }
                let h = hash_of(
                    &prev, e.seq, e.at_ms, &e.actor, &e.action, &e.target, &e.details,
                );
                if h != e.hash {
                    return Err(StoreError::Tampered {
                        seq: e.seq,
                        message: "its content does not match its hash".into(),
                    });
                }
                prev = e.hash;
                expected += 1;
                after = e.seq;
            }
        }
    }
}
