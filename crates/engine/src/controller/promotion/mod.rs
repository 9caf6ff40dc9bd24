//! Promotion through a pipeline's stages (dev → staging → prod): a promotion reads the
//! values ("freight") the source stage runs, waits for the target stage's gates (soak,
//! time windows, approvals, verification), writes the values into the target stage's
//! files by a write-back commit (pushed with retry on non-fast-forward, never forced), then
//! watches the target applications until they are Synced and Healthy with those values —
//! or marks the promotion Failed and, when the stage says `onFailure: revert`, puts the
//! previous values back with a revert commit.
//!
//! Every promotion is a row in the store, advanced by a driver loop ([`driver`]); approvals
//! and rejections are decisions recorded in it and in the audit log. The record is the
//! promotion report (`driftless promotion get ID -o json`).

mod driver;
mod freight;
mod gates;
mod landing;
mod pipelines;
mod record;
mod verifying;
mod waiting;

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use driftless_core::pipeline::Pipeline;
use driftless_core::users::Caller;

use super::Controller;
use crate::error::{EngineError, EngineResult};

pub use pipelines::{
    PipelineView, StageAppView, StageValue, StageValues, StageView, production_stage,
};
pub use record::{CommitRecord, Decision, FreightValue, GateResult, Phase, Promotion};

/// The store's kind for API-created pipelines.
const PIPELINE: &str = "Pipeline";

/// The controller's promotion state besides the store: pipelines and what the driver
/// observed (in memory: a restart only makes a soak start over, never shortens it).
#[derive(Default)]
pub(crate) struct Promotions {
    pub pipelines: tokio::sync::Mutex<BTreeMap<String, Pipeline>>,
    /// Held while a promotion record is read, changed and written (driver, approvals).
    pub lock: tokio::sync::Mutex<()>,
    /// Application → (revision, since when it is Synced and Healthy on it).
    pub healthy_since: std::sync::Mutex<HashMap<String, (String, i64)>>,
    /// Pipeline/stage → what the last auto-promotion check saw (skip when unchanged).
    pub auto_seen: std::sync::Mutex<HashMap<String, String>>,
    /// Wakes the driver (a promotion was opened or decided).
    pub wake: tokio::sync::Notify,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn parse_row(row: driftless_store::PromotionRow) -> EngineResult<Promotion> {
    let mut p: Promotion = serde_json::from_value(row.record).map_err(|e| {
        EngineError::invalid(format!(
            "promotion {}: stored record is not valid: {e}",
            row.id
        ))
    })?;
    p.id = row.id;
    Ok(p)
}

impl Controller {
    pub async fn promotion(&self, id: i64) -> EngineResult<Option<Promotion>> {
        self.store
            .get_promotion(id)
            .await?
            .map(parse_row)
            .transpose()
    }

    /// The newest promotions first, of one pipeline or all (`""`).
    pub async fn promotions(&self, pipeline: &str, limit: i64) -> EngineResult<Vec<Promotion>> {
        self.store
            .list_promotions(pipeline, limit)
            .await?
            .into_iter()
            .map(parse_row)
            .collect()
    }

    /// Starts a promotion of what `from` (default: the stage before `to`) runs into `to`; it
    /// waits for `to`'s gates like an automatic one.
    pub async fn promote(
        &self,
        pipeline: &str,
        from: Option<&str>,
        to: &str,
        actor: &str,
    ) -> EngineResult<Promotion> {
        let p = self
            .pipeline(pipeline)
            .await
            .ok_or_else(|| EngineError::not_found("pipeline", pipeline))?;
        let stage = p
            .stage(to)
            .ok_or_else(|| {
                format!(
                    "pipeline {pipeline} has no stage {to} (stages: {})",
                    p.stages
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .map_err(EngineError::invalid)?;
        let source = p
            .source_of(to)
            .ok_or_else(|| format!("stage {to} is the first of pipeline {pipeline}: it receives image updates (driftless image set), not promotions")).map_err(EngineError::invalid)?;
        if let Some(f) = from
            && f != source.name
        {
            return Err(EngineError::invalid(format!(
                "stage {to} of pipeline {pipeline} is promoted from {}, not {f}",
                source.name
            )));
        }
        let _guard = self.promotions.lock.lock().await;
        let candidate = self.candidate(&p, stage).await?;
        match candidate {
            driver::Candidate::Ready(values, source_revision) => {
                self.open_promotion(&p, &source.name, to, values, source_revision, actor)
                    .await
            }
            driver::Candidate::NotReady(why) => Err(EngineError::conflict(format!(
                "cannot promote {pipeline} to {to}: {why}"
            ))),
            driver::Candidate::Same => Err(EngineError::conflict(format!(
                "nothing to promote: {to} already has what {} runs",
                source.name
            ))),
        }
    }

    /// Approves (`approved`) or rejects a waiting promotion as `caller`, with a comment;
    /// audited. The stage's approval role decides who may.
    pub async fn decide(
        &self,
        id: i64,
        caller: &Caller,
        approved: bool,
        comment: &str,
    ) -> EngineResult<Promotion> {
        let _guard = self.promotions.lock.lock().await;
        let mut prom = self
            .promotion(id)
            .await?
            .ok_or_else(|| EngineError::not_found("promotion", id.to_string()))?;
        let verb = if approved { "approve" } else { "reject" };
        if !prom.phase.is_waiting() {
            return Err(EngineError::conflict(format!(
                "promotion {id} is {}: only a waiting promotion can be {verb}d",
                prom.phase.as_str()
            )));
        }
        let pipeline = self.pipeline(&prom.pipeline).await;
        let role = pipeline
            .as_ref()
            .and_then(|p| p.stage(&prom.to))
            .and_then(|s| s.approval.as_ref())
            .and_then(|a| a.role.clone());
        if !caller.may_approve(role.as_deref()) {
            return Err(EngineError::Forbidden(format!(
                "{} may not {verb} promotions to {} of pipeline {} (needs role {})",
                caller.name,
                prom.to,
                prom.pipeline,
                role.as_deref().unwrap_or("any but readonly")
            )));
        }
        if approved && prom.approvals_from().contains(&caller.name.as_str()) {
            return Err(EngineError::conflict(format!(
                "{} has already approved promotion {id}",
                caller.name
            )));
        }
        prom.approvals.push(Decision {
            user: caller.name.clone(),
            approved,
            comment: comment.to_string(),
            at_ms: now_ms(),
        });
        if !approved {
            prom.phase = Phase::Rejected;
            prom.finished_ms = Some(now_ms());
            prom.message = format!("rejected by {}: {comment}", caller.name);
        }
        self.save_promotion(&prom).await?;
        if !approved {
            self.metrics
                .promotion_ended(&prom.pipeline, &prom.to, prom.phase.as_str());
        }
        self.store
            .audit(
                &caller.name,
                &format!("promotion.{verb}"),
                &format!("promotion/{id}"),
                &json!({"pipeline": prom.pipeline, "to": prom.to, "comment": comment}),
            )
            .await?;
        self.promotions.wake.notify_one();
        self.promotion_event(
            &prom,
            if approved {
                crate::EventKind::PromotionApproved
            } else {
                crate::EventKind::PromotionRejected
            },
            &format!(
                "{} {verb}d promotion {id} of {} to {}: {comment}",
                caller.name, prom.pipeline, prom.to
            ),
        )
        .await;
        Ok(prom)
    }

    pub(crate) async fn save_promotion(&self, p: &Promotion) -> EngineResult<()> {
        let mut record = p.clone();
        record.updated_ms = now_ms();
        self.store
            .update_promotion(p.id, p.phase.as_str(), &serde_json::to_value(&record)?)
            .await?;
        self.publish(crate::Update::Promotion {
            id: p.id,
            pipeline: p.pipeline.clone(),
            to: p.to.clone(),
            phase: p.phase.as_str().to_string(),
        });
        Ok(())
    }

    /// An event on each target application (events belong to applications).
    pub(crate) async fn promotion_event(
        &self,
        p: &Promotion,
        kind: crate::EventKind,
        message: &str,
    ) {
        let apps = self
            .pipeline(&p.pipeline)
            .await
            .and_then(|pl| pl.stage(&p.to).map(|s| s.applications.clone()))
            .unwrap_or_default();
        let severity = if matches!(p.phase, Phase::Failed | Phase::Expired | Phase::Rejected) {
            crate::Severity::Warning
        } else {
            crate::Severity::Info
        };
        for app in apps {
            if let Err(e) = self
                .event(
                    &app,
                    kind,
                    severity,
                    message,
                    &json!({"promotion": p.id, "pipeline": p.pipeline}),
                )
                .await
            {
                tracing::warn!(promotion = p.id, error = %e, "could not record a promotion event");
            }
        }
    }
}
