//! Landing a promotion: the values written into the target stage's folders by one
//! write-back commit per repository and branch (or onto a pull-request branch), a revision
//! pinned on the applications, and the stage's applications told to sync.

use crate::error::{EngineError, EngineResult};
use std::collections::BTreeMap;

use driftless_core::app::Application;
use driftless_core::pipeline::{Freight, Pipeline, Stage};
use driftless_git::GitError;
use driftless_git::writeback::commit_and_push_from;

use super::freight::{file_content, join, write_changes};
use super::{CommitRecord, FreightValue, Phase, Promotion, now_ms};
use crate::controller::Controller;
use crate::controller::revert::{author, branch_of};

/// What a commit writes into a stage: the values, file freights' contents (None deletes),
/// why (`promote`, `revert`) and the commit message.
pub(super) struct Edit {
    pub values: Vec<Option<String>>,
    pub files: BTreeMap<String, Option<Vec<u8>>>,
    pub purpose: String,
    pub message: String,
}

impl Controller {
    /// The applications of a stage, by name.
    pub(super) async fn stage_apps(&self, stage: &Stage) -> EngineResult<Vec<Application>> {
        let apps = self.apps.lock().await;
        stage
            .applications
            .iter()
            .map(|a| {
                apps.get(a).map(|s| s.app.clone()).ok_or_else(|| {
                    EngineError::invalid(format!(
                        "application {a} of stage {} does not exist",
                        stage.name
                    ))
                })
            })
            .collect()
    }

    /// Writes `values` into the stage's applications: one commit per repository and branch.
    pub(super) async fn write_values(
        &self,
        p: &Pipeline,
        stage: &Stage,
        prom: &Promotion,
        edit: Edit,
    ) -> EngineResult<Vec<CommitRecord>> {
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
                    .map_err(|e| EngineError::Git(format!("commit to {branch}: {e}")))?;
                    Ok::<_, EngineError>(CommitRecord {
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
            .await??;
            commits.push(record);
        }
        Ok(commits)
    }

    /// File freights' contents in `app`'s folder at `revision`.
    pub(super) async fn files_at(
        &self,
        app: &Application,
        revision: &str,
        freight: &[Freight],
    ) -> EngineResult<BTreeMap<String, Option<Vec<u8>>>> {
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
                let tree = m.tree_at(&rev)?;
                names
                    .into_iter()
                    .map(|n| Ok((n.clone(), file_content(&tree, &join(&dir, &n))?)))
                    .collect::<EngineResult<_>>()
            })
        })
        .await?
    }

    pub(super) async fn write_promotion(
        &self,
        p: &Pipeline,
        stage: &Stage,
        mut prom: Promotion,
    ) -> EngineResult<()> {
        let freight: Vec<Freight> = prom.values.iter().map(|v| v.freight.clone()).collect();
        let source = p.source_of(&stage.name).ok_or_else(|| {
            EngineError::invalid(format!("stage {} has no source stage", stage.name))
        })?;
        let src_app = self.stage_app(&source.applications[0]).await?.app;
        let files = self
            .files_at(&src_app, &prom.source_revision, &freight)
            .await?;
        let message = promotion_message(p, &prom);
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
        (prom.phase, prom.message) = landed(stage, &prom);
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
        self.promotion_event(&prom, crate::EventKind::Promoted, &text)
            .await;
        if !pull_request {
            self.sync_stage(stage, &format!("promotion {}", prom.id))
                .await?;
        }
        Ok(())
    }

    /// Gets the stage's applications to the new commit: automated ones fetch and sync it by
    /// themselves (a user-reason reconcile fetches now); the others are asked to sync.
    pub(super) async fn sync_stage(&self, stage: &Stage, actor: &str) -> EngineResult<()> {
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
    pub(super) async fn pin_revisions(
        &self,
        stage: &Stage,
        prom: &Promotion,
        value: impl Fn(&FreightValue) -> Option<String>,
    ) -> EngineResult<()> {
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
}

/// The promotion commit's message: what moves, who asked, who approved, from which revision.
fn promotion_message(p: &Pipeline, prom: &Promotion) -> String {
    let approvers = prom.approvals_from().join(", ");
    let values = prom
        .values
        .iter()
        .map(|v| {
            format!(
                "- {}: {} -> {}",
                v.label,
                v.before.as_deref().unwrap_or("(none)"),
                v.after.as_deref().unwrap_or("(none)")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "Promote {} from {} to {}\n\n{values}\n\nPromotion: {}\nRequested by: {}\nApproved by: {}\nSource revision: {}\n",
        p.name,
        prom.from,
        prom.to,
        prom.id,
        prom.requested_by,
        if approvers.is_empty() {
            "(no approval required)".to_string()
        } else {
            approvers
        },
        prom.source_revision
    )
}

/// Where a promotion stands once its commit is pushed: waiting for the review branch to be
/// merged, or verifying the stage.
fn landed(stage: &Stage, prom: &Promotion) -> (Phase, String) {
    if stage.pull_request_branch.is_some() {
        let branches = prom
            .commits
            .iter()
            .map(|c| c.branch.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        (
            Phase::WaitingMerge,
            format!(
                "pushed to {branches} for review: merge it and {} will sync it",
                stage.name
            ),
        )
    } else {
        (
            Phase::Verifying,
            format!(
                "committed; waiting for {} to be Synced and Healthy",
                stage.applications.join(", ")
            ),
        )
    }
}
