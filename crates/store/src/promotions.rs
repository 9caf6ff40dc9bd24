//! Promotions and deployments: what moved between the stages of a pipeline (one JSON record
//! per promotion, its phase kept as a column for the engine's restart), and one row per
//! deployment of a new revision for the DORA figures.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::records::{int, text};
use crate::{Store, StoreError, db, now_ms, parse_json};

/// A stored promotion: the engine owns the shape of `record`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotionRow {
    pub id: i64,
    pub pipeline: String,
    pub to_stage: String,
    pub phase: String,
    pub record: Value,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// One deployment of a revision to an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub app: String,
    pub revision: String,
    /// When the deployed commit was made (lead time); None when unknown (a local source).
    pub commit_ms: Option<i64>,
    pub deployed_ms: i64,
    pub succeeded: bool,
    /// `new-revision`, `manual`, `rollback`...
    pub kind: String,
}

fn promotion_of(row: &AnyRow) -> Result<PromotionRow, StoreError> {
    let id = int(row, "id", "promotion")?;
    let what = format!("promotion {id}");
    Ok(PromotionRow {
        id,
        pipeline: text(row, "pipeline", &what)?,
        to_stage: text(row, "to_stage", &what)?,
        phase: text(row, "phase", &what)?,
        record: parse_json(&what, &text(row, "record", &what)?)?,
        created_ms: int(row, "created_ms", &what)?,
        updated_ms: int(row, "updated_ms", &what)?,
    })
}

macro_rules! promotion_select {
    ($rest:literal) => {
        concat!(
            "SELECT id, pipeline, to_stage, phase, record, created_ms, updated_ms FROM promotions ",
            $rest
        )
    };
}

impl Store {
    /// Records a new promotion; returns its id.
    pub async fn create_promotion(
        &self,
        pipeline: &str,
        to_stage: &str,
        phase: &str,
        record: &Value,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO promotions (pipeline, to_stage, phase, record, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(pipeline)
        .bind(to_stage)
        .bind(phase)
        .bind(record.to_string())
        .bind(now_ms())
        .fetch_one(self.pool())
        .await
        .map_err(db(format!(
            "recording a promotion of pipeline {pipeline} to {to_stage}"
        )))?;
        int(&row, "id", "promotion")
    }

    /// Replaces a promotion's phase and record.
    pub async fn update_promotion(
        &self,
        id: i64,
        phase: &str,
        record: &Value,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE promotions SET phase = $1, record = $2, updated_ms = $3 WHERE id = $4")
            .bind(phase)
            .bind(record.to_string())
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(db(format!("saving promotion {id}")))?;
        Ok(())
    }

    pub async fn get_promotion(&self, id: i64) -> Result<Option<PromotionRow>, StoreError> {
        sqlx::query(promotion_select!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db(format!("reading promotion {id}")))?
            .as_ref()
            .map(promotion_of)
            .transpose()
    }

    /// The newest promotions first, of one pipeline or all (`""`), at most `limit`.
    pub async fn list_promotions(
        &self,
        pipeline: &str,
        limit: i64,
    ) -> Result<Vec<PromotionRow>, StoreError> {
        let rows = sqlx::query(promotion_select!(
            "WHERE ($1 = '' OR pipeline = $1) ORDER BY id DESC LIMIT $2"
        ))
        .bind(pipeline)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(db("listing promotions"))?;
        rows.iter().map(promotion_of).collect()
    }

    /// Promotions not in one of the five `final_phases`, oldest first (the driver's work,
    /// resumed after a restart); the filter runs in the database, so finished promotions
    /// cost nothing however many there are.
    pub async fn open_promotions(
        &self,
        final_phases: &[&str; 5],
    ) -> Result<Vec<PromotionRow>, StoreError> {
        let mut q = sqlx::query(promotion_select!(
            "WHERE phase NOT IN ($1, $2, $3, $4, $5) ORDER BY id"
        ));
        for p in final_phases {
            q = q.bind(*p);
        }
        let rows = q
            .fetch_all(self.pool())
            .await
            .map_err(db("listing open promotions"))?;
        rows.iter().map(promotion_of).collect()
    }

    /// Records one deployment.
    pub async fn add_deployment(&self, d: &Deployment) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO deployments (app, revision, commit_ms, deployed_ms, succeeded, kind_of) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&d.app)
        .bind(&d.revision)
        .bind(d.commit_ms)
        .bind(d.deployed_ms)
        .bind(i64::from(d.succeeded))
        .bind(&d.kind)
        .execute(self.pool())
        .await
        .map_err(db(format!("recording a deployment of {}", d.app)))?;
        Ok(())
    }

    /// The deployments of `app` since `since_ms`, oldest first.
    pub async fn list_deployments(
        &self,
        app: &str,
        since_ms: i64,
    ) -> Result<Vec<Deployment>, StoreError> {
        let rows = sqlx::query(
            "SELECT app, revision, commit_ms, deployed_ms, succeeded, kind_of FROM deployments \
             WHERE app = $1 AND deployed_ms >= $2 ORDER BY deployed_ms, id",
        )
        .bind(app)
        .bind(since_ms)
        .fetch_all(self.pool())
        .await
        .map_err(db(format!("listing deployments of {app}")))?;
        rows.iter()
            .map(|row| {
                let what = format!("deployment of {app}");
                Ok(Deployment {
                    app: text(row, "app", &what)?,
                    revision: text(row, "revision", &what)?,
                    commit_ms: row
                        .try_get::<Option<i64>, _>("commit_ms")
                        .map_err(db(&what))?,
                    deployed_ms: int(row, "deployed_ms", &what)?,
                    succeeded: int(row, "succeeded", &what)? != 0,
                    kind: text(row, "kind_of", &what)?,
                })
            })
            .collect()
    }
}
