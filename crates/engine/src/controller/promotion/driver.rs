//! The promotion driver: one pass every few seconds (and when woken) that notes which
//! stage applications are Synced and Healthy (for soak times), opens automatic promotions
//! when a source stage runs new values, and moves every open promotion on: gates →
//! commit → verification → Succeeded, or Failed (with a revert commit when the stage asks).

use crate::error::{EngineError, EngineResult};
use serde_json::json;

use driftless_core::app::Application;
use driftless_core::pipeline::{Freight, Pipeline, Stage};

use super::freight::read_values;
use super::{FreightValue, Phase, Promotion, now_ms};
use crate::controller::Controller;
use crate::status::{AppStatus, SyncCode};

/// What a promotion into a stage would move now.
pub(super) enum Candidate {
    /// The values (before/after) and the source revision they were read at.
    Ready(Vec<FreightValue>, String),
    NotReady(String),
    /// The target already has the source's values.
    Same,
}

/// An application's definition and stored status.
pub(super) struct StageApp {
    pub app: Application,
    pub status: AppStatus,
}

impl StageApp {
    pub fn synced_healthy(&self) -> bool {
        self.status.synced_and_healthy()
    }

    pub fn revision(&self) -> Option<String> {
        self.status.sync.revision.clone()
    }

    pub fn head(&self) -> Option<String> {
        self.status.sync.head.clone()
    }

    pub fn describe(&self) -> String {
        let sync = match (self.status.sync.status, &self.status.sync.revision) {
            (SyncCode::Unknown, None) => "not reconciled yet",
            (code, _) => code.as_str(),
        };
        let health = self
            .status
            .health_status()
            .map_or("Unknown", |h| h.as_str());
        format!("{} is {sync}/{health}", self.app.name)
    }
}

pub(super) fn afters(values: &[FreightValue]) -> Vec<Option<String>> {
    values.iter().map(|v| v.after.clone()).collect()
}

impl Controller {
    /// Runs the driver until the controller stops (spawned by [`Controller::run`]).
    pub(crate) async fn promotion_loop(&self) {
        loop {
            self.promotion_pass().await;
            // What waits for "the driver looked again" (a test proving nothing moved).
            self.publish(crate::Update::PromotionPass);
            tokio::select! {
                _ = tokio::time::sleep(self.config.promotion_interval) => {}
                _ = self.promotions.wake.notified() => {}
            }
        }
    }

    /// One pass over every pipeline and open promotion.
    pub async fn promotion_pass(&self) {
        let pipelines = self.pipelines().await;
        if pipelines.is_empty() {
            return;
        }
        self.observe_health(&pipelines).await;
        for p in &pipelines {
            match self.dora_for_pipeline(&p.name, 30.0).await {
                Ok((_, d)) => self.metrics.dora(&p.name, &d),
                Err(e) => tracing::debug!(pipeline = %p.name, error = %e, "DORA figures"),
            }
        }
        for p in &pipelines {
            for stage in p.stages.iter().filter(|s| s.auto_promote) {
                if let Err(e) = self.auto_promote(p, stage).await {
                    tracing::warn!(pipeline = %p.name, stage = %stage.name, error = %e, "automatic promotion check failed");
                }
            }
        }
        let open = match self.store.open_promotions(&Phase::FINAL).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list open promotions");
                return;
            }
        };
        for row in open {
            let _guard = self.promotions.lock.lock().await;
            // Read again under the lock: an approval may have changed it.
            let prom = match self.promotion(row.id).await {
                Ok(Some(p)) if !p.phase.is_final() => p,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(promotion = row.id, error = %e, "cannot read promotion");
                    continue;
                }
            };
            if let Err(e) = self.advance(prom).await {
                tracing::warn!(promotion = row.id, error = %e, "promotion step failed; retried at the next pass");
            }
        }
    }

    pub(super) async fn stage_app(&self, name: &str) -> EngineResult<StageApp> {
        let app = self.app_definition(name).await?;
        let status = self.stored_status(name).await?;
        Ok(StageApp { app, status })
    }

    /// Notes since when each stage application is Synced and Healthy on its revision.
    async fn observe_health(&self, pipelines: &[Pipeline]) {
        let now = now_ms();
        let apps: Vec<String> = pipelines
            .iter()
            .flat_map(|p| p.stages.iter())
            .flat_map(|s| s.applications.iter().cloned())
            .collect();
        for app in &apps {
            let state = self.stage_app(app).await.ok();
            let mut since = self.promotions.healthy_since.lock().expect("health lock");
            match state
                .filter(|s| s.synced_healthy())
                .and_then(|s| s.revision())
            {
                Some(rev) => {
                    if since.get(app).is_none_or(|(r, _)| *r != rev) {
                        since.insert(app.clone(), (rev, now));
                    }
                }
                None => {
                    since.remove(app);
                }
            }
        }
    }

    /// Values of `freight` in `app`'s folder at `revision` (a commit its render fetched).
    pub(super) async fn values_at(
        &self,
        app: &Application,
        revision: &str,
        freight: &[Freight],
    ) -> EngineResult<Vec<Option<String>>> {
        let sources = self.sources.clone();
        let (url, dir, rev, freight) = (
            app.source.repo_url.clone(),
            app.source.path.clone(),
            revision.to_string(),
            freight.to_vec(),
        );
        let name = app.name.clone();
        tokio::task::spawn_blocking(move || {
            sources.read_mirror(&url, |m| {
                let tree = m.tree_at(&rev)?;
                read_values(&tree, &dir, &rev, &freight)
            })
        })
        .await?
        .map_err(|e: EngineError| EngineError::Git(format!("application {name}: {e}")))
    }

    pub(super) async fn candidate(&self, p: &Pipeline, stage: &Stage) -> EngineResult<Candidate> {
        let source = p.source_of(&stage.name).ok_or_else(|| {
            EngineError::invalid(format!("stage {} has no source stage", stage.name))
        })?;
        let src = self.stage_app(&source.applications[0]).await?;
        let target = self.stage_app(&stage.applications[0]).await?;
        if !src.synced_healthy() {
            return Ok(Candidate::NotReady(format!(
                "source stage {}: {}",
                source.name,
                src.describe()
            )));
        }
        let (Some(src_rev), Some(target_head)) = (src.revision(), target.head()) else {
            return Ok(Candidate::NotReady(format!(
                "stage {}: {} has not been reconciled yet",
                stage.name, target.app.name
            )));
        };
        let after = self.values_at(&src.app, &src_rev, &p.freight).await?;
        let mut before = self
            .values_at(&target.app, &target_head, &p.freight)
            .await?;
        // The revision a stage runs is its deployed one, not its branch head.
        for (f, b) in p.freight.iter().zip(before.iter_mut()) {
            if matches!(f, Freight::Revision(_)) {
                *b = target.revision();
            }
        }
        // A value the source does not set is not promoted (nothing to write), so it cannot
        // make the stages differ.
        if after
            .iter()
            .zip(&before)
            .all(|(a, b)| a.is_none() || a == b)
        {
            return Ok(Candidate::Same);
        }
        let values = p
            .freight
            .iter()
            .zip(before.into_iter().zip(after))
            .map(|(f, (before, after))| FreightValue {
                freight: f.clone(),
                label: f.label(),
                before,
                after,
            })
            .collect();
        Ok(Candidate::Ready(values, src_rev))
    }

    /// Opens a promotion when the source stage runs values the stage has not had yet and
    /// no promotion of those values exists (a failed, rejected or expired one is not retried
    /// by itself; new values or `driftless promote` start again).
    async fn auto_promote(&self, p: &Pipeline, stage: &Stage) -> EngineResult<()> {
        let _guard = self.promotions.lock.lock().await;
        let key = format!("{}/{}", p.name, stage.name);
        let mut fingerprint = String::new();
        for app in p
            .source_of(&stage.name)
            .map(|s| s.applications[0].as_str())
            .into_iter()
            .chain([stage.applications[0].as_str()])
        {
            let s = self.stage_app(app).await?;
            fingerprint.push_str(&format!(
                "{}|{}|{};",
                s.describe(),
                s.revision().unwrap_or_default(),
                s.head().unwrap_or_default()
            ));
        }
        if self
            .promotions
            .auto_seen
            .lock()
            .expect("seen lock")
            .get(&key)
            == Some(&fingerprint)
        {
            return Ok(());
        }
        let settled = match self.candidate(p, stage).await? {
            Candidate::Same | Candidate::NotReady(_) => true,
            Candidate::Ready(values, source_revision) => {
                let existing: Vec<Promotion> = self
                    .promotions(&p.name, 200)
                    .await?
                    .into_iter()
                    .filter(|x| x.to == stage.name && x.phase != Phase::Superseded)
                    .collect();
                if existing
                    .iter()
                    .any(|x| afters(&x.values) == afters(&values))
                {
                    true
                } else if existing
                    .iter()
                    .any(|x| !x.phase.is_final() && !x.phase.is_waiting())
                {
                    false // one is landing: look again when it is done
                } else {
                    let from = p
                        .source_of(&stage.name)
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    self.open_promotion(
                        p,
                        &from,
                        &stage.name,
                        values,
                        source_revision,
                        "driftless",
                    )
                    .await?;
                    true
                }
            }
        };
        if settled {
            self.promotions
                .auto_seen
                .lock()
                .expect("seen lock")
                .insert(key, fingerprint);
        }
        Ok(())
    }

    /// Records a new promotion (superseding waiting ones to the same stage). Call with the
    /// promotion lock held.
    pub(super) async fn open_promotion(
        &self,
        p: &Pipeline,
        from: &str,
        to: &str,
        values: Vec<FreightValue>,
        source_revision: String,
        actor: &str,
    ) -> EngineResult<Promotion> {
        let open: Vec<Promotion> = self
            .promotions(&p.name, 200)
            .await?
            .into_iter()
            .filter(|x| x.to == to && !x.phase.is_final())
            .collect();
        if let Some(busy) = open.iter().find(|x| !x.phase.is_waiting()) {
            return Err(EngineError::invalid(format!(
                "promotion {} to {to} is {} now; wait for it to finish",
                busy.id,
                busy.phase.as_str()
            )));
        }
        let now = now_ms();
        let mut prom = Promotion {
            id: 0,
            pipeline: p.name.clone(),
            from: from.to_string(),
            to: to.to_string(),
            phase: Phase::WaitingGates,
            requested_by: actor.to_string(),
            created_ms: now,
            updated_ms: now,
            promoted_ms: None,
            finished_ms: None,
            source_revision,
            values,
            gates: Vec::new(),
            approvals: Vec::new(),
            commits: Vec::new(),
            message: "waiting for the gates".into(),
        };
        prom.id = self
            .store
            .create_promotion(
                &p.name,
                to,
                prom.phase.as_str(),
                &serde_json::to_value(&prom)?,
            )
            .await?;
        self.save_promotion(&prom).await?;
        for mut old in open {
            old.phase = Phase::Superseded;
            old.finished_ms = Some(now);
            old.message = format!(
                "superseded by promotion {} ({})",
                prom.id,
                prom.values_text()
            );
            self.save_promotion(&old).await?;
            self.metrics
                .promotion_ended(&old.pipeline, &old.to, old.phase.as_str());
            self.promotion_event(
                &old,
                crate::EventKind::PromotionSuperseded,
                &old.message.clone(),
            )
            .await;
        }
        self.store
            .audit(
                actor,
                "promotion.create",
                &format!("promotion/{}", prom.id),
                &json!({"pipeline": p.name, "from": from, "to": to, "values": prom.values}),
            )
            .await?;
        let message = format!(
            "{actor} opened promotion {} of {} from {from} to {to}: {}",
            prom.id,
            p.name,
            prom.values_text()
        );
        self.promotion_event(&prom, crate::EventKind::PromotionCreated, &message)
            .await;
        self.promotions.wake.notify_one();
        Ok(prom)
    }

    async fn advance(&self, mut prom: Promotion) -> EngineResult<()> {
        let Some(p) = self.pipeline(&prom.pipeline).await else {
            return self
                .finish(&mut prom, Phase::Failed, "its pipeline was removed".into())
                .await;
        };
        let Some(stage) = p.stage(&prom.to).cloned() else {
            let message = format!("pipeline {} has no stage {} any more", p.name, prom.to);
            return self.finish(&mut prom, Phase::Failed, message).await;
        };
        match prom.phase {
            Phase::WaitingGates | Phase::WaitingApproval => {
                self.check_gates(&p, &stage, prom).await
            }
            Phase::Promoting => self.write_promotion(&p, &stage, prom).await,
            Phase::WaitingMerge => self.check_merged(&stage, prom).await,
            Phase::Verifying => self.check_verified(&p, &stage, prom).await,
            _ => Ok(()),
        }
    }

    /// Ends a promotion with `phase` and a message; event and audit.
    pub(super) async fn finish(
        &self,
        prom: &mut Promotion,
        phase: Phase,
        message: String,
    ) -> EngineResult<()> {
        prom.phase = phase;
        prom.finished_ms = Some(now_ms());
        prom.message = message.clone();
        self.save_promotion(prom).await?;
        self.metrics
            .promotion_ended(&prom.pipeline, &prom.to, phase.as_str());
        self.store
            .audit(
                "driftless",
                &format!("promotion.{}", phase.as_str().to_lowercase()),
                &format!("promotion/{}", prom.id),
                &json!({"pipeline": prom.pipeline, "to": prom.to, "message": message}),
            )
            .await?;
        let text = format!(
            "promotion {} of {} to {}: {} — {message}",
            prom.id,
            prom.pipeline,
            prom.to,
            phase.as_str()
        );
        let kind = match phase {
            Phase::Succeeded => crate::EventKind::PromotionSucceeded,
            Phase::Expired => crate::EventKind::PromotionExpired,
            Phase::Rejected => crate::EventKind::PromotionRejected,
            Phase::Superseded => crate::EventKind::PromotionSuperseded,
            _ => crate::EventKind::PromotionFailed,
        };
        self.promotion_event(prom, kind, &text).await;
        Ok(())
    }
}
