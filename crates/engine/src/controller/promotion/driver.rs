//! The promotion driver: one pass every few seconds (and when woken) that notes which
//! stage applications are Synced and Healthy (for soak times), opens automatic promotions
//! when a source stage runs new values, and moves every open promotion on: gates →
//! commit → verification → Succeeded, or Failed (with a revert commit when the stage asks).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use driftless_core::app::Application;
use driftless_core::pipeline::{Freight, OnFailure, Pipeline, Stage};
use driftless_git::GitError;
use driftless_git::writeback::commit_and_push_from;

use super::freight::{file_content, join, read_values, write_changes};
use super::{CommitRecord, FreightValue, Phase, Promotion, gates, now_ms};
use crate::controller::Controller;
use crate::controller::revert::{author, branch_of};

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
    pub status: Value,
}

impl StageApp {
    fn synced_healthy(&self) -> bool {
        self.status["sync"]["status"] == "Synced" && self.status["health"]["status"] == "Healthy"
    }

    pub fn revision(&self) -> Option<String> {
        self.status["sync"]["revision"].as_str().map(String::from)
    }

    fn describe(&self) -> String {
        format!(
            "{} is {}/{}",
            self.app.name,
            self.status["sync"]["status"]
                .as_str()
                .unwrap_or("not reconciled yet"),
            self.status["health"]["status"]
                .as_str()
                .unwrap_or("Unknown")
        )
    }
}

/// What a commit writes into a stage: the values, file freights' contents (None deletes),
/// why (`promote`, `revert`) and the commit message.
struct Edit {
    values: Vec<Option<String>>,
    files: BTreeMap<String, Option<Vec<u8>>>,
    purpose: String,
    message: String,
}

/// Does a stage whose deployed commit says `now` run the promoted `wanted` values? (A value
/// the source did not set was not written; the revision reads as the deployed commit.)
fn has_promoted(now: &[Option<String>], wanted: &[Option<String>]) -> bool {
    now.iter().zip(wanted).all(|(n, w)| w.is_none() || n == w)
}

fn afters(values: &[FreightValue]) -> Vec<Option<String>> {
    values.iter().map(|v| v.after.clone()).collect()
}

impl Controller {
    /// Runs the driver until the controller stops (spawned by [`Controller::run`]).
    pub(crate) async fn promotion_loop(&self) {
        loop {
            self.promotion_pass().await;
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

    pub(super) async fn stage_app(&self, name: &str) -> Result<StageApp, String> {
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
    ) -> Result<Vec<Option<String>>, String> {
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
                let tree = m.tree_at(&rev).map_err(|e| e.to_string())?;
                read_values(&tree, &dir, &rev, &freight)
            })
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("application {name}: {e}"))
    }

    pub(super) async fn candidate(&self, p: &Pipeline, stage: &Stage) -> Result<Candidate, String> {
        let source = p
            .source_of(&stage.name)
            .ok_or_else(|| format!("stage {} has no source stage", stage.name))?;
        let src = self.stage_app(&source.applications[0]).await?;
        let target = self.stage_app(&stage.applications[0]).await?;
        if !src.synced_healthy() {
            return Ok(Candidate::NotReady(format!(
                "source stage {}: {}",
                source.name,
                src.describe()
            )));
        }
        let (Some(src_rev), Some(target_head)) = (
            src.revision(),
            target.status["sync"]["head"].as_str().map(String::from),
        ) else {
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
    async fn auto_promote(&self, p: &Pipeline, stage: &Stage) -> Result<(), String> {
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
                s.status["sync"]["head"]
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
    ) -> Result<Promotion, String> {
        let open: Vec<Promotion> = self
            .promotions(&p.name, 200)
            .await?
            .into_iter()
            .filter(|x| x.to == to && !x.phase.is_final())
            .collect();
        if let Some(busy) = open.iter().find(|x| !x.phase.is_waiting()) {
            return Err(format!(
                "promotion {} to {to} is {} now; wait for it to finish",
                busy.id,
                busy.phase.as_str()
            ));
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
                &serde_json::to_value(&prom).map_err(|e| e.to_string())?,
            )
            .await
            .map_err(|e| e.to_string())?;
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
            self.promotion_event(&old, "PromotionSuperseded", &old.message.clone())
                .await;
        }
        self.store
            .audit(
                actor,
                "promotion.create",
                &format!("promotion/{}", prom.id),
                &json!({"pipeline": p.name, "from": from, "to": to, "values": prom.values}),
            )
            .await
            .map_err(|e| e.to_string())?;
        let message = format!(
            "{actor} opened promotion {} of {} from {from} to {to}: {}",
            prom.id,
            p.name,
            prom.values_text()
        );
        self.promotion_event(&prom, "PromotionCreated", &message)
            .await;
        self.promotions.wake.notify_one();
        Ok(prom)
    }

    async fn advance(&self, mut prom: Promotion) -> Result<(), String> {
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
    async fn finish(
        &self,
        prom: &mut Promotion,
        phase: Phase,
        message: String,
    ) -> Result<(), String> {
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
            .await
            .map_err(|e| e.to_string())?;
        let text = format!(
            "promotion {} of {} to {}: {} — {message}",
            prom.id,
            prom.pipeline,
            prom.to,
            phase.as_str()
        );
        self.promotion_event(prom, &format!("Promotion{}", phase.as_str()), &text)
            .await;
        Ok(())
    }

    async fn check_gates(
        &self,
        p: &Pipeline,
        stage: &Stage,
        mut prom: Promotion,
    ) -> Result<(), String> {
        let now = now_ms();
        let approvers = prom.approvals_from().len();
        if let Some(a) = &stage.approval
            && approvers < a.required as usize
            && let Some(timeout) = stage.approval_timeout()
            && now - prom.created_ms > timeout.as_millis() as i64
        {
            let message = format!(
                "the approval request expired after {}: {approvers} of {} approvals; nothing was promoted",
                a.timeout.as_deref().unwrap_or_default(),
                a.required
            );
            return self.finish(&mut prom, Phase::Expired, message).await;
        }
        let mut changed = false;
        let mut waiting: Vec<String> = Vec::new();
        // Soak: every source application Synced and Healthy for the soak time.
        if let Some(source) = p.source_of(&stage.name) {
            let soak = stage.soak_duration().as_millis() as i64;
            let mut problems = Vec::new();
            for app in &source.applications {
                let since = self
                    .promotions
                    .healthy_since
                    .lock()
                    .expect("health lock")
                    .get(app)
                    .cloned();
                match since {
                    None => problems.push(format!("{app} is not Synced and Healthy")),
                    Some((_, t)) if now - t < soak => problems.push(format!(
                        "{app} Synced and Healthy for {}s of {}s",
                        (now - t) / 1000,
                        soak / 1000
                    )),
                    Some(_) => {}
                }
            }
            let ok = problems.is_empty();
            let message = if ok {
                format!(
                    "source stage {} Synced and Healthy{}",
                    source.name,
                    stage
                        .soak
                        .as_ref()
                        .map(|s| format!(" for {s}"))
                        .unwrap_or_default()
                )
            } else {
                problems.join("; ")
            };
            if !ok {
                waiting.push(message.clone());
            }
            changed |= prom.set_gate("soak", ok, message);
        }
        if !stage.windows.is_empty() {
            let w = gates::in_window(&stage.windows, jiff::Timestamp::now());
            if let Err(e) = &w {
                waiting.push(e.clone());
            }
            changed |= prom.set_gate(
                "window",
                w.is_ok(),
                w.err()
                    .unwrap_or_else(|| "inside a promotion window".into()),
            );
        }
        let mut approved = true;
        if let Some(a) = &stage.approval {
            approved = approvers >= a.required as usize;
            let message = format!(
                "{approvers} of {} approvals{}",
                a.required,
                a.role
                    .as_ref()
                    .map(|r| format!(" (role {r})"))
                    .unwrap_or_default()
            );
            changed |= prom.set_gate("approval", approved, message.clone());
            if !approved {
                waiting.push(format!("waiting for approval: {message}"));
            }
        }
        if !waiting.is_empty() {
            let phase = if waiting.len() == 1 && !approved {
                Phase::WaitingApproval
            } else {
                Phase::WaitingGates
            };
            let message = waiting.join("; ");
            if changed || phase != prom.phase || message != prom.message {
                let newly_waiting_approval = phase == Phase::WaitingApproval && prom.phase != phase;
                prom.phase = phase;
                prom.message = message;
                self.save_promotion(&prom).await?;
                if newly_waiting_approval {
                    let text = format!(
                        "promotion {} of {} to {} waits for approval: {}",
                        prom.id,
                        p.name,
                        prom.to,
                        prom.values_text()
                    );
                    self.promotion_event(&prom, "PromotionWaitingApproval", &text)
                        .await;
                }
            }
            return Ok(());
        }
        if let Some(v) = &stage.verification {
            let env = [
                ("DRIFTLESS_PIPELINE", p.name.clone()),
                ("DRIFTLESS_PROMOTION", prom.id.to_string()),
                ("DRIFTLESS_FROM", prom.from.clone()),
                ("DRIFTLESS_TO", prom.to.clone()),
                ("DRIFTLESS_REVISION", prom.source_revision.clone()),
                (
                    "DRIFTLESS_VALUES",
                    serde_json::to_string(&prom.values).unwrap_or_default(),
                ),
            ];
            match gates::verify(v, &env).await {
                Ok(summary) => {
                    prom.set_gate("verification", true, summary);
                }
                Err(e) => {
                    prom.set_gate("verification", false, e.clone());
                    return self
                        .finish(
                            &mut prom,
                            Phase::Failed,
                            format!("verification failed: {e}"),
                        )
                        .await;
                }
            }
        }
        prom.phase = Phase::Promoting;
        prom.message = "writing the promotion commit".into();
        self.save_promotion(&prom).await?;
        self.write_promotion(p, stage, prom).await
    }

    /// The applications of a stage, by name.
    async fn stage_apps(&self, stage: &Stage) -> Result<Vec<Application>, String> {
        let apps = self.apps.lock().await;
        stage
            .applications
            .iter()
            .map(|a| {
                apps.get(a).map(|s| s.app.clone()).ok_or_else(|| {
                    format!("application {a} of stage {} does not exist", stage.name)
                })
            })
            .collect()
    }

    /// Writes `values` into the stage's applications: one commit per repository and branch.
    async fn write_values(
        &self,
        p: &Pipeline,
        stage: &Stage,
        prom: &Promotion,
        edit: Edit,
    ) -> Result<Vec<CommitRecord>, String> {
        let Edit {
            values,
            files,
            purpose,
            message,
        } = edit;
        let purpose = purpose.as_str();
        let freight: Vec<Freight> = prom.values.iter().map(|v| v.freight.clone()).collect();
        let mut groups: BTreeMap<(String, String), Vec<Application>> = BTreeMap::new();
        for app in self.stage_apps(stage).await? {
            groups
                .entry((
                    app.source.repo_url.clone(),
                    app.source.target_revision.clone(),
                ))
                .or_default()
                .push(app);
        }
        let pr_branch = stage
            .pull_request_branch
            .as_ref()
            .filter(|_| purpose == "promote")
            .map(|t| {
                t.replace("{pipeline}", &p.name)
                    .replace("{stage}", &stage.name)
                    .replace("{id}", &prom.id.to_string())
            });
        let mut commits = Vec::new();
        // A revision is pinned on the applications, not written into files.
        if freight.iter().all(|f| matches!(f, Freight::Revision(_))) {
            return Ok(commits);
        }
        for ((url, rev), apps) in groups {
            let sources = self.sources.clone();
            let (freight, values, files, message, pr_branch) = (
                freight.clone(),
                values.clone(),
                files.clone(),
                message.clone(),
                pr_branch.clone(),
            );
            let purpose = purpose.to_string();
            let record = tokio::task::spawn_blocking(move || {
                sources.with_mirror(&url, |mirror, creds| {
                    let base = branch_of(mirror, &rev)?;
                    let branch = pr_branch.unwrap_or_else(|| base.clone());
                    let pushed = commit_and_push_from(
                        mirror,
                        creds,
                        &base,
                        &branch,
                        &author(),
                        &message,
                        8,
                        |tip| {
                            let mut changes = Vec::new();
                            for app in &apps {
                                changes.extend(
                                    write_changes(tip, &app.source.path, &freight, &values, &files)
                                        .map_err(|m| GitError::Read {
                                            url: String::new(),
                                            commit: tip.commit(),
                                            message: format!("application {}: {m}", app.name),
                                        })?,
                                );
                            }
                            Ok(changes)
                        },
                    )
                    .map_err(|e| format!("commit to {branch}: {e}"))?;
                    Ok(CommitRecord {
                        purpose,
                        repository: driftless_git::url::redact(&url),
                        branch,
                        commit: pushed.commit,
                        applications: apps.iter().map(|a| a.name.clone()).collect(),
                        attempts: pushed.attempts,
                        at_ms: now_ms(),
                    })
                })
            })
            .await
            .map_err(|e| e.to_string())??;
            commits.push(record);
        }
        Ok(commits)
    }

    /// File freights' contents in `app`'s folder at `revision`.
    async fn files_at(
        &self,
        app: &Application,
        revision: &str,
        freight: &[Freight],
    ) -> Result<BTreeMap<String, Option<Vec<u8>>>, String> {
        let names: Vec<String> = freight
            .iter()
            .filter_map(|f| match f {
                Freight::File(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let sources = self.sources.clone();
        let (url, dir, rev) = (
            app.source.repo_url.clone(),
            app.source.path.clone(),
            revision.to_string(),
        );
        tokio::task::spawn_blocking(move || {
            sources.read_mirror(&url, |m| {
                let tree = m.tree_at(&rev).map_err(|e| e.to_string())?;
                names
                    .into_iter()
                    .map(|n| Ok((n.clone(), file_content(&tree, &join(&dir, &n))?)))
                    .collect()
            })
        })
        .await
        .map_err(|e| e.to_string())?
    }

    async fn write_promotion(
        &self,
        p: &Pipeline,
        stage: &Stage,
        mut prom: Promotion,
    ) -> Result<(), String> {
        let freight: Vec<Freight> = prom.values.iter().map(|v| v.freight.clone()).collect();
        let source = p.source_of(&stage.name).ok_or("no source stage")?;
        let src_app = self.stage_app(&source.applications[0]).await?.app;
        let files = self
            .files_at(&src_app, &prom.source_revision, &freight)
            .await?;
        let approvers = prom.approvals_from().join(", ");
        let message = format!(
            "Promote {} from {} to {}\n\n{}\n\nPromotion: {}\nRequested by: {}\nApproved by: {}\nSource revision: {}\n",
            p.name,
            prom.from,
            prom.to,
            prom.values
                .iter()
                .map(|v| format!(
                    "- {}: {} -> {}",
                    v.label,
                    v.before.as_deref().unwrap_or("(none)"),
                    v.after.as_deref().unwrap_or("(none)")
                ))
                .collect::<Vec<_>>()
                .join("\n"),
            prom.id,
            prom.requested_by,
            if approvers.is_empty() {
                "(no approval required)".to_string()
            } else {
                approvers
            },
            prom.source_revision
        );
        let values: Vec<Option<String>> = prom.values.iter().map(|v| v.after.clone()).collect();
        // Verification counts from before the push: a sync may start the moment it lands.
        let started = now_ms();
        match self
            .write_values(
                p,
                stage,
                &prom,
                Edit {
                    values,
                    files,
                    purpose: "promote".into(),
                    message,
                },
            )
            .await
        {
            Ok(commits) => prom
                .commits
                .extend(commits.into_iter().filter(|c| c.attempts > 0)),
            Err(e) => {
                return self
                    .finish(
                        &mut prom,
                        Phase::Failed,
                        format!("the promotion commit failed: {e}"),
                    )
                    .await;
            }
        }
        let pull_request = stage.pull_request_branch.is_some();
        if !pull_request {
            self.pin_revisions(stage, &prom, |v| v.after.clone())
                .await?;
        }
        prom.promoted_ms = Some(started);
        prom.phase = if pull_request {
            Phase::WaitingMerge
        } else {
            Phase::Verifying
        };
        prom.message = if pull_request {
            format!(
                "pushed to {} for review: merge it and {} will sync it",
                prom.commits
                    .iter()
                    .map(|c| c.branch.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                stage.name
            )
        } else {
            format!(
                "committed; waiting for {} to be Synced and Healthy",
                stage.applications.join(", ")
            )
        };
        self.save_promotion(&prom).await?;
        let text = format!(
            "promotion {} of {} from {} to {} committed ({}): {}",
            prom.id,
            p.name,
            prom.from,
            prom.to,
            prom.commits
                .iter()
                .map(|c| format!("{} on {}", &c.commit[..c.commit.len().min(12)], c.branch))
                .collect::<Vec<_>>()
                .join(", "),
            prom.values_text()
        );
        self.promotion_event(&prom, "Promoted", &text).await;
        if !pull_request {
            self.sync_stage(stage, &format!("promotion {}", prom.id))
                .await?;
        }
        Ok(())
    }

    /// Gets the stage's applications to the new commit: automated ones fetch and sync it by
    /// themselves (a user-reason reconcile fetches now); the others are asked to sync.
    async fn sync_stage(&self, stage: &Stage, actor: &str) -> Result<(), String> {
        for app in self.stage_apps(stage).await? {
            if app.sync_policy.automated.is_some() {
                self.enqueue(&app.name, crate::controller::Reason::User);
            } else {
                self.request_sync(&app.name, actor).await?;
            }
        }
        Ok(())
    }

    /// A revision freight: the stage's applications are pinned to `value` (their
    /// `targetRevision`), since a revision is not a file.
    async fn pin_revisions(
        &self,
        stage: &Stage,
        prom: &Promotion,
        value: impl Fn(&FreightValue) -> Option<String>,
    ) -> Result<(), String> {
        let Some(rev) = prom
            .values
            .iter()
            .find(|v| matches!(v.freight, Freight::Revision(_)))
            .and_then(value)
        else {
            return Ok(());
        };
        for mut app in self.stage_apps(stage).await? {
            if app.source.target_revision != rev {
                app.source.target_revision = rev.clone();
                self.set_app(app, &format!("promotion {}", prom.id)).await?;
            }
        }
        Ok(())
    }

    async fn check_merged(&self, stage: &Stage, mut prom: Promotion) -> Result<(), String> {
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

    async fn check_verified(
        &self,
        p: &Pipeline,
        stage: &Stage,
        mut prom: Promotion,
    ) -> Result<(), String> {
        let promoted = prom.promoted_ms.unwrap_or(prom.updated_ms);
        let freight: Vec<Freight> = prom.values.iter().map(|v| v.freight.clone()).collect();
        let wanted = afters(&prom.values);
        let mut pending = Vec::new();
        let mut failure = None;
        for name in &stage.applications {
            let app = self.stage_app(name).await?;
            let failed_op = self
                .store
                .list_operations(name, 5)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|op| {
                    op.started_ms >= promoted && op.phase == driftless_store::OperationPhase::Failed
                });
            if let Some(op) = failed_op {
                let why = op
                    .result
                    .as_ref()
                    .and_then(|r| r["message"].as_str())
                    .unwrap_or("the sync failed")
                    .to_string();
                failure = Some(format!("{name}: sync {} failed: {why}", op.id));
                break;
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
            let mut message = format!(
                "Revert promotion {} of {} to {}\n\n{failure}\n\n",
                prom.id, p.name, prom.to
            );
            message.push_str(
                &prom
                    .values
                    .iter()
                    .map(|v| {
                        format!(
                            "- {}: back to {}",
                            v.label,
                            v.before.as_deref().unwrap_or("(none)")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            message.push('\n');
            let befores: Vec<Option<String>> =
                prom.values.iter().map(|v| v.before.clone()).collect();
            // Files come back as they were before the promotion commit.
            let files = match prom.commits.iter().find(|c| c.purpose == "promote") {
                Some(c) => {
                    let app = self.stage_app(&stage.applications[0]).await?.app;
                    self.files_at(&app, &format!("{}~1", c.commit), &freight)
                        .await?
                }
                None => BTreeMap::new(),
            };
            match self
                .write_values(
                    p,
                    stage,
                    &prom,
                    Edit {
                        values: befores,
                        files,
                        purpose: "revert".into(),
                        message,
                    },
                )
                .await
            {
                Ok(commits) => {
                    prom.commits
                        .extend(commits.into_iter().filter(|c| c.attempts > 0));
                    self.pin_revisions(stage, &prom, |v| v.before.clone())
                        .await?;
                    self.sync_stage(stage, &format!("promotion {} revert", prom.id))
                        .await?;
                    let reverted = format!(
                        "{failure}; reverted to {}",
                        prom.values
                            .iter()
                            .map(|v| format!(
                                "{} {}",
                                v.label,
                                v.before.as_deref().unwrap_or("(none)")
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    return self.finish(&mut prom, Phase::Failed, reverted).await;
                }
                Err(e) => {
                    return self
                        .finish(
                            &mut prom,
                            Phase::Failed,
                            format!(
                                "{failure}; the revert commit failed too: {e} — revert by hand"
                            ),
                        )
                        .await;
                }
            }
        }
        self.finish(&mut prom, Phase::Failed, failure).await
    }
}
