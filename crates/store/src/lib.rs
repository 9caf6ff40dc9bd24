//! The Driftless store: applications and their status, operations (written before acting
//! and after each step, so a restarted engine finds what was in flight), sync history with
//! the desired set and live snapshot kept for rollback, events, and an append-only,
//! hash-chained audit log.
//!
//! One code path for both databases through sqlx's `Any` driver with runtime queries
//! (`$1` placeholders work on both); each database has its own embedded migrations
//! (`migrations/sqlite`, `migrations/postgres`). SQLite (WAL, in the data dir) is the
//! default; Postgres behaves the same (the tests run every scenario on both).

mod audit;
pub mod lease;
pub mod lock;
mod notifications;
mod promotions;
mod records;
pub mod shards;

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor};

pub use audit::{AuditEntry, AuditQuery};
pub use lease::{Coordination, Fence, Holding, StoreLease, hold};
pub use lock::{DataDirLock, LockError};
pub use promotions::{Deployment, PromotionRow};
pub use records::{AppRecord, Event, HistoryEntry, Operation, OperationPhase};
pub use shards::{AppOwner, Member, MemberReport, ShardRequest, WrittenAudit, WrittenOperation};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {what}: {source}")]
    Database {
        what: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("store: {what}: stored data is not valid: {message}")]
    Corrupt { what: String, message: String },
    #[error("audit log tampered with at entry {seq}: {message}")]
    Tampered { seq: i64, message: String },
    #[error("store: cannot open {url}: {message}")]
    Open { url: String, message: String },
}

pub(crate) fn db(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Database { what, source }
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool to the store, migrated to the current schema.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// `NAME:TOKEN` of the lease this store writes under (empty: none); declared on every
    /// Postgres connection handed out, where triggers check it (see [`lease`]).
    fence: Arc<RwLock<String>>,
}

macro_rules! migrations {
    ($dir:literal, $($version:literal $name:literal),*) => {
        vec![$(Migration::new(
            $version,
            Cow::Borrowed($name),
            MigrationType::Simple,
            sqlx::SqlStr::from_static(include_str!(concat!("../migrations/", $dir, "/", $name, ".sql"))),
            false,
        )),*]
    };
}

fn migrator(backend: Backend) -> Migrator {
    Migrator::with_migrations(match backend {
        Backend::Sqlite => {
            migrations!("sqlite", 1 "0001_init", 2 "0002_definitions", 3 "0003_promotions", 4 "0004_leases", 5 "0005_notifications", 6 "0006_shards")
        }
        Backend::Postgres => {
            migrations!("postgres", 1 "0001_init", 2 "0002_definitions", 3 "0003_promotions", 4 "0004_leases", 5 "0005_notifications", 6 "0006_shards")
        }
    })
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl Store {
    /// A SQLite store in `path` (created when missing), in WAL mode.
    pub async fn sqlite(path: &std::path::Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                url: path.display().to_string(),
                message: e.to_string(),
            })?;
        }
        Self::open(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Opens `sqlite://PATH?mode=rwc` or `postgres://...` and applies pending migrations.
    /// The URL never appears in errors with its password.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let shown = redact(url);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Open {
                url: shown,
                message: "expected a sqlite:// or postgres:// URL".into(),
            });
        };
        let fence: Arc<RwLock<String>> = Arc::default();
        let (declared, on_connect) = (fence.clone(), fence.clone());
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .before_acquire(move |conn, _| {
                let fence = declared_fence(&declared);
                Box::pin(async move {
                    declare_on(conn, backend, fence).await?;
                    Ok(true)
                })
            })
            .after_connect(move |conn, _| {
                let fence = declared_fence(&on_connect);
                Box::pin(async move {
                    declare_on(conn, backend, fence).await?;
                    if backend == Backend::Sqlite {
                        // WAL: readers never wait for the writer; busy_timeout: writers queue.
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;").await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| StoreError::Open { url: shown.clone(), message: e.to_string() })?;
        migrator(backend)
            .run(&pool)
            .await
            .map_err(|e| StoreError::Open {
                url: shown,
                message: format!("migrations failed: {e}"),
            })?;
        Ok(Store {
            pool,
            backend,
            fence,
        })
    }

    /// Writes from now on happen under `fence` (Postgres refuses them once it is not the
    /// lease's current token).
    pub(crate) fn declare_fence(&self, fence: &lease::Fence) {
        *self
            .fence
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fence.declaration();
    }

    /// Is this store written by one of several replicas (it declared a member lease)?
    pub fn is_member(&self) -> bool {
        declared_fence(&self.fence).starts_with(shards::MEMBER_PREFIX)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Runs one statement as is. For maintenance and tests (the audit tests prove the
    /// database refuses rewrites); the store's own code never builds SQL from input.
    pub async fn execute_raw(&self, sql: &'static str) -> Result<u64, StoreError> {
        sqlx::query(sql)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(db("raw statement"))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn declared_fence(fence: &RwLock<String>) -> String {
    fence
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Once a lease was taken, every connection declares it — a lost one too: its writes must
/// then fail, not pass unchecked. Set on each hand-out, since the token changes at a
/// take-over while pooled connections live on.
async fn declare_on(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    fence: String,
) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres && !fence.is_empty() {
        sqlx::query("SELECT set_config('driftless.fence', $1, false)")
            .bind(fence)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// `scheme://user:password@host` → `scheme://user:***@host`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub(crate) fn parse_json(what: &str, text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: what.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_show_in_urls() {
        assert_eq!(
            super::redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            super::redact("sqlite:///data/d.db?mode=rwc"),
            "sqlite:///data/d.db?mode=rwc"
        );
    }
}
