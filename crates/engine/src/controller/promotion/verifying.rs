//! After the commit: a pull-request branch waits to be merged; then the target applications
//! must be Synced and Healthy with the promoted values. A failed sync since the commit, or
//! the health timeout, fails the promotion — and with `onFailure: revert` a revert commit
//! puts the previous values back.

use crate::error::EngineResult;
use std::collections::BTreeMap;

use driftless_core::pipeline::{Freight, OnFailure, Pipeline, Stage};

use super::driver::afters;
use super::landing::Edit;
use super::{Phase, Promotion, now_ms};
use crate::controller::Controller;

/// Does a stage whose deployed commit says `now` run the promoted `wanted` values? (A value
/// the source did not set was not written; the revision reads as the deployed commit.)
fn has_promoted(now: &[Option<String>], wanted: &[Option<String>]) -> bool {
    now.iter().zip(wanted).all(|(n, w)| w.is_none() || n == w)
}

impl Controller {
    pub(super) async fn check_merged(
        &self,
        stage: &Stage,
        mut prom: Promotion,
    ) -> EngineResult<()> {
        let target = self.stage_app(&stage.applications[0]).await?;
        let Some(rev) = target.revision() else {
            return Ok(());
        };
        let freight: Vec<Freight> = prom.values.iter().map(|v| v.freight.clone()).collect();
        let now = self.values_at(&target.app, &rev, &freight).await?;
        let wanted = afters(&prom.values);
        let merged = has_promoted(&now, &wanted);
        if merged {
            prom.promoted_ms = Some(now_ms());
            prom.phase = Phase::Verifying;
            prom.message = format!(
                "merged; waiting for {} to be Synced and Healthy",
                stage.applications.join(", ")
            );
            self.save_promotion(&prom).await?;
        }
        Ok(())
    }

    pub(super) async fn check_verified(
        &self,
        p: &Pipeline,
        stage: &Stage,
        mut prom: Promotion,
    ) -> EngineResult<()> {
        let promoted = prom.promoted_ms.unwrap_or(prom.updated_ms);
        let (pending, mut failure) = self.stage_progress(stage, &prom, promoted).await?;
        if failure.is_none() && pending.is_empty() {
            let message = format!(
                "{} runs {} — Synced and Healthy",
                stage.name,
                prom.values_text()
            );
            return self.finish(&mut prom, Phase::Succeeded, message).await;
        }
        let timeout = stage.health_timeout_duration();
        if failure.is_none() && now_ms() - promoted > timeout.as_millis() as i64 {
            failure = Some(format!(
                "not Synced and Healthy within {}s: {}",
                timeout.as_secs(),
                pending.join("; ")
            ));
        }
        let Some(failure) = failure else {
            let message = format!("waiting: {}", pending.join("; "));
            if message != prom.message {
                prom.message = message;
                self.save_promotion(&prom).await?;
            }
            return Ok(());
        };
        if stage.on_failure == OnFailure::Revert {
            return self.revert_promotion(p, stage, prom, failure).await;
        }
        self.finish(&mut prom, Phase::Failed, failure).await
    }

    /// Where the target applications are since the promotion landed: those not yet running
    /// the promoted values Synced and Healthy (described), or the sync that failed.
    async fn stage_progress(
        &self,
        stage: &Stage,
        prom: &Promotion,
        promoted: i64,
    ) -> EngineResult<(Vec<String>, Option<String>)> {
        let freight: Vec<Freight> = prom.values.iter().map(|v| v.freight.clone()).collect();
        let wanted = afters(&prom.values);
        let mut pending = Vec::new();
        for name in &stage.applications {
            let app = self.stage_app(name).await?;
            let failed_op = self.operations(name, 5).await?.into_iter().find(|op| {
                op.started_ms >= promoted && op.phase == driftless_store::OperationPhase::Failed
            });
            if let Some(op) = failed_op {
                let why = op
                    .result
                    .as_ref()
                    .and_then(|r| r.get("message"))
                    .and_then(|m| m.as_str())
                    .unwrap_or("the sync failed")
                    .to_string();
                return Ok((
                    pending,
                    Some(format!("{name}: sync {} failed: {why}", op.id)),
                ));
            }
            let has_values = match app.revision() {
                Some(rev) => {
                    let now = self.values_at(&app.app, &rev, &freight).await?;
                    has_promoted(&now, &wanted)
                }
                None => false,
            };
            if !(has_values && app.synced_healthy()) {
                pending.push(app.describe());
            }
        }
        Ok((pending, None))
    }

    /// `onFailure: revert`: a commit putting the previous values (and files) back, the stage
    /// pinned to them and synced; the promotion ends Failed either way.
    async fn revert_promotion(
        &self,
        p: &Pipeline,
        stage: &Stage,
        mut prom: Promotion,
        failure: String,
    ) -> EngineResult<()> {
        let freight: Vec<Freight> = prom.values.iter().map(|v| v.freight.clone()).collect();
        let back_to = |sep: &str, line: &dyn Fn(&str, &str) -> String| {
            prom.values
                .iter()
                .map(|v| line(&v.label, v.before.as_deref().unwrap_or("(none)")))
                .collect::<Vec<_>>()
                .join(sep)
        };
        let message = format!(
            "Revert promotion {} of {} to {}\n\n{failure}\n\n{}\n",
            prom.id,
            p.name,
            prom.to,
            back_to("\n", &|label, before| format!(
                "- {label}: back to {before}"
            ))
        );
        let reverted = format!(
            "{failure}; reverted to {}",
            back_to(", ", &|label, before| format!("{label} {before}"))
        );
        let befores: Vec<Option<String>> = prom.values.iter().map(|v| v.before.clone()).collect();
        // Files come back as they were before the promotion commit.
        let files = match prom.commits.iter().find(|c| c.purpose == "promote") {
            Some(c) => {
                let app = self.stage_app(&stage.applications[0]).await?.app;
                self.files_at(&app, &format!("{}~1", c.commit), &freight)
                    .await?
            }
            None => BTreeMap::new(),
        };
        let edit = Edit {
            values: befores,
            files,
            purpose: "revert".into(),
            message,
        };
        match self.write_values(p, stage, &prom, edit).await {
            Ok(commits) => {
                prom.commits
                    .extend(commits.into_iter().filter(|c| c.attempts > 0));
                self.pin_revisions(stage, &prom, |v| v.before.clone())
                    .await?;
                self.sync_stage(stage, &format!("promotion {} revert", prom.id))
                    .await?;
                self.finish(&mut prom, Phase::Failed, reverted).await
            }
            Err(e) => {
                let message =
                    format!("{failure}; the revert commit failed too: {e} — revert by hand");
                self.finish(&mut prom, Phase::Failed, message).await
            }
        }
    }
}
