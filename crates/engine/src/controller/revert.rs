//! Rollback by revert commit (`driftless app rollback APP --revert`): instead of pinning the
//! application to an old revision, write a commit onto its branch that puts back, as of that
//! revision, every file its render reads — so Git stays the source of truth and auto-sync
//! deploys the rollback like any other commit. Files the application does not read (other
//! apps of a monorepo) are left alone. The commit is pushed with retry on non-fast-forward
//! (re-read, re-apply; never forced).

use crate::error::{EngineError, EngineResult};
use serde_json::json;

use driftless_core::source::{NodeKind, SourceError, SourceTree, Tree};
use driftless_git::writeback::{Author, FileChange, commit_and_push};
use driftless_git::{GitError, GitTree};
use driftless_render::{RenderLimits, RendererSpec};

use super::{Controller, Reason};

/// A revert commit that was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reverted {
    /// The revision whose files were restored.
    pub to: String,
    /// The new commit on the branch (equal to the tip when nothing differed).
    pub commit: String,
    pub branch: String,
}

impl Controller {
    /// Writes and pushes a commit restoring the files of deployment `history_id` (default:
    /// the previous one) onto the application's branch, then syncs it.
    pub async fn rollback_revert(
        &self,
        name: &str,
        history_id: Option<i64>,
        actor: &str,
    ) -> EngineResult<Reverted> {
        let target = self.rollback_target(name, history_id).await?;
        let app = self.app_definition(name).await?;
        let spec = driftless_render::spec_for(&app.source)
            .map_err(|e| EngineError::invalid(format!("application {name}: {e}")))?;
        let sources = self.sources.clone();
        let to = target.revision.clone();
        let who = actor.to_string();
        let (app_name, app_for_git) = (name.to_string(), app.clone());
        let reverted = tokio::task::spawn_blocking(move || {
            sources.with_mirror(&app_for_git.source.repo_url, |mirror, creds| {
                let rev = app_for_git.source.target_revision.as_str();
                let branch = branch_of(mirror, rev)
                    .map_err(|e| EngineError::Git(format!("application {app_name}: {e}")))?;
                let target_tree = mirror.tree_at(&to).map_err(|e| {
                    EngineError::Git(format!("application {app_name}: revision {to}: {e}"))
                })?;
                let message = format!(
                    "Revert {app_name} to {}\n\nRolled back by {who} (driftless app rollback --revert): the files {app_name} renders\nfrom ({}) are restored as of {to}.\n",
                    short(&to),
                    if app_for_git.source.path.is_empty() { "." } else { &app_for_git.source.path }
                );
                let pushed = commit_and_push(mirror, creds, &branch, &author(), &message, 5, |tip| {
                    restore_changes(tip, &target_tree, &app_for_git.source.path, &spec)
                })
                .map_err(|e| {
                    EngineError::Git(format!(
                        "application {app_name}: revert commit on {branch}: {e}"
                    ))
                })?;
                Ok::<_, EngineError>(Reverted {
                    to: to.clone(),
                    commit: pushed.commit,
                    branch,
                })
            })
        })
        .await??;
        // Git now says what to run: no pin; sync the new commit even without auto-sync.
        {
            let mut apps = self.apps.lock().await;
            if let Some(s) = apps.get_mut(name) {
                s.pinned = None;
                s.sync_requested = Some(actor.to_string());
            }
        }
        self.store
            .audit(
                actor,
                "app.rollback",
                &format!("application/{name}"),
                &json!({"to": reverted.to, "historyId": target.id, "revertCommit": reverted.commit, "branch": reverted.branch}),
            )
            .await
            ?;
        self.event(
            name,
            crate::EventKind::RollbackCommitted,
            crate::Severity::Info,
            &format!(
                "{actor} rolled back to {} with revert commit {} on {}",
                short(&reverted.to),
                short(&reverted.commit),
                reverted.branch
            ),
            &json!({"to": reverted.to, "commit": reverted.commit}),
        )
        .await?;
        self.queue.enqueue(name, Reason::Definition);
        Ok(reverted)
    }
}

/// Who the engine's write-back commits are by.
pub(crate) fn author() -> Author {
    Author {
        name: "Driftless".into(),
        email: "driftless@localhost".into(),
    }
}

fn short(rev: &str) -> &str {
    &rev[..rev.len().min(12)]
}

/// The branch a revert commit goes to: the target revision when it names a branch, the
/// remote's default branch for `HEAD`/empty; a tag or commit cannot take a commit.
pub(crate) fn branch_of(mirror: &driftless_git::Mirror, rev: &str) -> EngineResult<String> {
    let refs = mirror.refs()?;
    let heads: Vec<&str> = refs
        .iter()
        .filter_map(|r| r.name.strip_prefix("refs/heads/"))
        .collect();
    let rev = rev.strip_prefix("refs/heads/").unwrap_or(rev);
    if heads.contains(&rev) {
        return Ok(rev.to_string());
    }
    if rev.is_empty() || rev == "HEAD" {
        let head = mirror.resolve("HEAD")?;
        let on_head: Vec<&str> = refs
            .iter()
            .filter(|r| r.id == head)
            .filter_map(|r| r.name.strip_prefix("refs/heads/"))
            .collect();
        for preferred in ["main", "master"] {
            if on_head.contains(&preferred) {
                return Ok(preferred.into());
            }
        }
        if let Some(b) = on_head.first() {
            return Ok(b.to_string());
        }
    }
    Err(EngineError::invalid(format!(
        "targetRevision `{rev}` is not a branch; --revert writes a commit onto a branch (roll back without --revert to pin the revision instead)"
    )))
}

/// The file changes that make `tip` equal `target` on every path the application reads:
/// the inputs of its render at the target (and at the tip, when the tip still renders),
/// and its own path.
pub(crate) fn restore_changes(
    tip: &GitTree,
    target: &GitTree,
    app_path: &str,
    spec: &RendererSpec,
) -> Result<Vec<FileChange>, GitError> {
    let err = |e: String| GitError::Read {
        url: String::new(),
        commit: target.commit(),
        message: e,
    };
    let limits = RenderLimits::default();
    let mut inputs: Vec<String> = driftless_render::render(target, app_path, spec, &limits)
        .map_err(|e| {
            err(format!(
                "rendering {app_path} at the rollback revision: {e}"
            ))
        })?
        .inputs;
    // The tip may be the broken commit being rolled back: its inputs count when it renders.
    if let Ok(r) = driftless_render::render(tip, app_path, spec, &limits) {
        inputs.extend(r.inputs);
    }
    inputs.push(app_path.to_string());
    inputs.sort();
    inputs.dedup();
    let mut out = Vec::new();
    for input in &inputs {
        restore(tip, target, input.trim_matches('/'), &mut out).map_err(|e| err(e.to_string()))?;
    }
    Ok(out)
}

/// Appends the changes that make `path` in `tip` equal to `path` in `target`.
fn restore(
    tip: &GitTree,
    target: &GitTree,
    path: &str,
    out: &mut Vec<FileChange>,
) -> Result<(), SourceError> {
    let (kt, kp) = (target.lstat(path)?, tip.lstat(path)?);
    if kt.is_some() && kt == kp && target.content_id(path)? == tip.content_id(path)? {
        return Ok(()); // unchanged (a whole subtree at once)
    }
    match kt {
        None => {
            if kp.is_some() {
                out.push(FileChange::Delete { path: path.into() });
            }
        }
        Some(NodeKind::File) => {
            if kp == Some(NodeKind::Dir) {
                out.push(FileChange::Delete { path: path.into() });
            }
            let content = Tree::new(target).read(path, 64 << 20)?;
            out.push(FileChange::Put {
                path: path.into(),
                content,
            });
        }
        Some(NodeKind::Dir) => {
            if kp.is_some() && kp != Some(NodeKind::Dir) {
                out.push(FileChange::Delete { path: path.into() });
            }
            let join = |n: &str| {
                if path.is_empty() {
                    n.to_string()
                } else {
                    format!("{path}/{n}")
                }
            };
            let mut names = target.list_raw(path)?;
            if kp == Some(NodeKind::Dir) {
                names.extend(tip.list_raw(path)?);
            }
            names.sort();
            names.dedup();
            for n in names {
                restore(tip, target, &join(&n), out)?;
            }
        }
        Some(NodeKind::Symlink(_)) => {
            return Err(SourceError::Io {
                path: path.into(),
                message: "is a symbolic link, which a revert commit does not restore; roll back without --revert".into(),
            });
        }
    }
    Ok(())
}
