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

use crate::error::{EngineError, EngineResult};
mod driver;
mod freight;
mod gates;
mod landing;
mod verifying;
mod waiting;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use driftless_core::pipeline::{Freight, Pipeline};
use driftless_core::users::Caller;

use super::Controller;

/// The store's kind for API-created pipelines.
const PIPELINE: &str = "Pipeline";

/// Where a promotion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Soak, time window or verification not passed yet.
    WaitingGates,
    /// Everything else passed; approvals missing.
    WaitingApproval,
    /// Writing and pushing the commit.
    Promoting,
    /// Pushed to a pull-request branch: waiting for a human to merge it.
    WaitingMerge,
    /// Committed: waiting for the target applications to be Synced and Healthy with it.
    Verifying,
    Succeeded,
    Failed,
    Rejected,
    /// The approval timeout passed: nothing was promoted.
    Expired,
    /// Newer values arrived from the source stage before this one was promoted.
    Superseded,
}

impl Phase {
    pub const FINAL: [&'static str; 5] =
        ["Succeeded", "Failed", "Rejected", "Expired", "Superseded"];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::WaitingGates => "WaitingGates",
            Phase::WaitingApproval => "WaitingApproval",
            Phase::Promoting => "Promoting",
            Phase::WaitingMerge => "WaitingMerge",
            Phase::Verifying => "Verifying",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
            Phase::Rejected => "Rejected",
            Phase::Expired => "Expired",
            Phase::Superseded => "Superseded",
        }
    }

    pub fn is_final(self) -> bool {
        Self::FINAL.contains(&self.as_str())
    }

    /// Still waiting for its gates: may be superseded, approved or rejected.
    pub fn is_waiting(self) -> bool {
        matches!(self, Phase::WaitingGates | Phase::WaitingApproval)
    }
}

/// One value that moves, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FreightValue {
    pub freight: Freight,
    pub label: String,
    /// In the target stage before the promotion (None: not set there).
    pub before: Option<String>,
    /// What the source stage runs (what the target receives).
    pub after: Option<String>,
}

/// The last result of one gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateResult {
    /// `soak`, `window`, `approval`, `verification`.
    pub gate: String,
    pub passed: bool,
    pub message: String,
    pub at_ms: i64,
}

/// An approval or a rejection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub user: String,
    pub approved: bool,
    pub comment: String,
    pub at_ms: i64,
}

/// A commit the promotion pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitRecord {
    /// `promote` or `revert`.
    pub purpose: String,
    pub repository: String,
    pub branch: String,
    pub commit: String,
    pub applications: Vec<String>,
    /// Push attempts (more than one: another commit landed first and the change was
    /// re-applied on top of it).
    pub attempts: u32,
    pub at_ms: i64,
}

/// A promotion: its whole record, which is also its report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    pub id: i64,
    pub pipeline: String,
    pub from: String,
    pub to: String,
    pub phase: Phase,
    pub requested_by: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// When the promotion commit landed (the start of verification).
    pub promoted_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    /// The revision the source stage ran when the values were read.
    pub source_revision: String,
    pub values: Vec<FreightValue>,
    pub gates: Vec<GateResult>,
    pub approvals: Vec<Decision>,
    pub commits: Vec<CommitRecord>,
    /// What is happening now, or why it ended.
    pub message: String,
}

impl Promotion {
    /// The report: the record plus durations in seconds.
    pub fn report(&self) -> Value {
        let secs = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => json!((b - a) as f64 / 1000.0),
            _ => Value::Null,
        };
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["durations"] = json!({
            "waitingSeconds": secs(Some(self.created_ms), self.promoted_ms),
            "verifyingSeconds": secs(self.promoted_ms, self.finished_ms),
            "totalSeconds": secs(Some(self.created_ms), self.finished_ms),
        });
        v
    }

    fn approvals_from(&self) -> Vec<&str> {
        let mut users: Vec<&str> = self
            .approvals
            .iter()
            .filter(|d| d.approved)
            .map(|d| d.user.as_str())
            .collect();
        users.sort();
        users.dedup();
        users
    }

    fn values_text(&self) -> String {
        self.values
            .iter()
            .map(|v| {
                format!(
                    "{}: {} → {}",
                    v.label,
                    v.before.as_deref().unwrap_or("(none)"),
                    v.after.as_deref().unwrap_or("(none)")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn set_gate(&mut self, gate: &str, passed: bool, message: String) -> bool {
        let now = now_ms();
        match self.gates.iter_mut().find(|g| g.gate == gate) {
            Some(g) if g.passed == passed && g.message == message => false,
            Some(g) => {
                (g.passed, g.message, g.at_ms) = (passed, message, now);
                true
            }
            None => {
                self.gates.push(GateResult {
                    gate: gate.into(),
                    passed,
                    message,
                    at_ms: now,
                });
                true
            }
        }
    }
}

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
    /// Adds or replaces a pipeline; `persist` keeps it in the store (API-created). Audited.
    pub async fn set_pipeline(
        &self,
        pipeline: Pipeline,
        actor: &str,
        persist: bool,
    ) -> EngineResult<()> {
        pipeline
            .validate()
            .map_err(|e| EngineError::invalid(format!("pipeline {}: {e}", pipeline.name)))?;
        let name = pipeline.name.clone();
        if persist {
            let spec = serde_json::to_value(&pipeline)?;
            self.store.put_definition(PIPELINE, &name, &spec).await?;
        }
        let old = self
            .promotions
            .pipelines
            .lock()
            .await
            .insert(name.clone(), pipeline.clone());
        if old.as_ref() != Some(&pipeline) {
            let stages: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
            self.store
                .audit(
                    actor,
                    if old.is_some() {
                        "pipeline.update"
                    } else {
                        "pipeline.create"
                    },
                    &format!("pipeline/{name}"),
                    &json!({"stages": stages}),
                )
                .await?;
        }
        Ok(())
    }

    /// Forgets a pipeline (promotions in flight end Failed at the next driver pass).
    pub async fn remove_pipeline(&self, name: &str, actor: &str) -> EngineResult<bool> {
        let had = self
            .promotions
            .pipelines
            .lock()
            .await
            .remove(name)
            .is_some();
        let stored = self.store.delete_definition(PIPELINE, name).await?;
        if had || stored {
            self.store
                .audit(
                    actor,
                    "pipeline.delete",
                    &format!("pipeline/{name}"),
                    &json!({}),
                )
                .await?;
        }
        Ok(had || stored)
    }

    /// Pipelines created through the API in an earlier run.
    pub async fn load_stored_pipelines(&self) -> EngineResult<Vec<String>> {
        let mut names = Vec::new();
        for (name, spec) in self.store.list_definitions(PIPELINE).await? {
            let p: Pipeline = serde_json::from_value(spec).map_err(|e| {
                EngineError::invalid(format!("stored pipeline {name} is not valid: {e}"))
            })?;
            self.promotions
                .pipelines
                .lock()
                .await
                .insert(name.clone(), p);
            names.push(name);
        }
        Ok(names)
    }

    pub async fn pipelines(&self) -> Vec<Pipeline> {
        self.promotions
            .pipelines
            .lock()
            .await
            .values()
            .cloned()
            .collect()
    }

    pub async fn pipeline(&self, name: &str) -> Option<Pipeline> {
        self.promotions.pipelines.lock().await.get(name).cloned()
    }

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
                "PromotionApproved"
            } else {
                "PromotionRejected"
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
        self.publish(json!({"type": "promotion", "id": p.id, "pipeline": p.pipeline, "to": p.to, "phase": p.phase.as_str()}));
        Ok(())
    }

    /// An event on each target application (events belong to applications).
    pub(crate) async fn promotion_event(&self, p: &Promotion, kind: &str, message: &str) {
        let apps = self
            .pipeline(&p.pipeline)
            .await
            .and_then(|pl| pl.stage(&p.to).map(|s| s.applications.clone()))
            .unwrap_or_default();
        let severity = if matches!(p.phase, Phase::Failed | Phase::Expired | Phase::Rejected) {
            "warning"
        } else {
            "info"
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

    /// What each stage of a pipeline runs: its applications' sync, health and revision, and
    /// the freight values at the first application's deployed revision.
    pub async fn pipeline_view(&self, name: &str) -> EngineResult<Value> {
        let p = self
            .pipeline(name)
            .await
            .ok_or_else(|| EngineError::not_found("pipeline", name))?;
        let mut stages = Vec::new();
        for stage in &p.stages {
            let mut apps = Vec::new();
            let mut values = Value::Null;
            for (i, a) in stage.applications.iter().enumerate() {
                let Ok(sa) = self.stage_app(a).await else {
                    apps.push(json!({"name": a, "missing": true}));
                    continue;
                };
                let rev = sa.revision();
                if i == 0
                    && let Some(rev) = &rev
                {
                    values = match self.values_at(&sa.app, rev, &p.freight).await {
                        Ok(vs) => Value::Array(
                            p.freight
                                .iter()
                                .zip(vs)
                                .map(|(f, v)| json!({"freight": f.label(), "value": v}))
                                .collect(),
                        ),
                        Err(e) => json!({"error": e.to_string()}),
                    };
                }
                apps.push(json!({
                    "name": a,
                    "sync": sa.status.sync.status,
                    "health": sa.status.health_status(),
                    "revision": rev,
                }));
            }
            stages.push(json!({
                "name": stage.name,
                "from": p.source_of(&stage.name).map(|s| s.name.clone()),
                "autoPromote": stage.auto_promote,
                "approval": stage.approval,
                "applications": apps,
                "values": values,
            }));
        }
        Ok(json!({"name": p.name, "freight": p.freight, "stages": stages, "definition": p}))
    }

    /// The DORA figures of one application over the last `days`.
    pub async fn dora_for_app(&self, app: &str, days: f64) -> EngineResult<crate::dora::Dora> {
        let since = now_ms() - (days * 86_400_000.0) as i64;
        let ds = self.store.list_deployments(app, since).await?;
        Ok(crate::dora::dora(&ds, days))
    }

    /// The DORA figures of a pipeline: its production stage's applications (the last stage
    /// that is not a mirror of another).
    pub async fn dora_for_pipeline(
        &self,
        pipeline: &str,
        days: f64,
    ) -> EngineResult<(String, crate::dora::Dora)> {
        let p = self
            .pipeline(pipeline)
            .await
            .ok_or_else(|| EngineError::not_found("pipeline", pipeline))?;
        let prod = production_stage(&p);
        let since = now_ms() - (days * 86_400_000.0) as i64;
        let mut ds = Vec::new();
        for app in &prod.applications {
            ds.extend(self.store.list_deployments(app, since).await?);
        }
        let (promoted_from, times) = self.lead_time_record(&p, since).await?;
        crate::dora::trace_origins(&mut ds, &promoted_from, &times);
        Ok((prod.name.clone(), crate::dora::dora(&ds, days)))
    }

    /// For lead times: each promotion commit → the revision its source stage ran, and the
    /// commit time of every revision the pipeline's applications deployed.
    async fn lead_time_record(
        &self,
        p: &Pipeline,
        since: i64,
    ) -> EngineResult<(BTreeMap<String, String>, BTreeMap<String, i64>)> {
        let mut promoted_from = BTreeMap::new();
        for row in self.store.list_promotions(&p.name, 10_000).await? {
            let Ok(prom) = serde_json::from_value::<Promotion>(row.record) else {
                continue;
            };
            for c in prom.commits.iter().filter(|c| c.purpose == "promote") {
                promoted_from.insert(c.commit.clone(), prom.source_revision.clone());
            }
        }
        let mut times = BTreeMap::new();
        for app in p.stages.iter().flat_map(|s| &s.applications) {
            for d in self.store.list_deployments(app, since - 86_400_000).await? {
                if let Some(t) = d.commit_ms {
                    times.insert(d.revision, t);
                }
            }
        }
        Ok((promoted_from, times))
    }
}

/// A pipeline's production stage: the last one not fed by an explicit `from` (a disaster-
/// recovery mirror), or the last one.
pub fn production_stage(p: &Pipeline) -> &driftless_core::pipeline::Stage {
    p.stages
        .iter()
        .rev()
        .find(|s| s.from.is_none())
        .unwrap_or_else(|| p.stages.last().expect("a valid pipeline has stages"))
}
