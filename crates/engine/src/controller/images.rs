//! Image updates from CI (`driftless image set APP IMAGE:TAG`, `POST /api/v1/images`): the
//! new tag is written into the `images` entry of the application's kustomization by a
//! write-back commit on its branch (author "Driftless", the actor in the message), pushed
//! with retry on non-fast-forward — the edit is re-applied to the new tip, so concurrent
//! updates of the same file all land. The application then fetches and syncs the commit.

use crate::error::{EngineError, EngineResult};
use serde_json::json;

use driftless_git::writeback::{FileChange, commit_and_push};
use driftless_git::{GitError, GitTree};
use driftless_render::kustomize::edit_images::{ImageRef, set_image};

use super::{Controller, Reason};

/// A pushed image update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    pub application: String,
    pub image: String,
    /// The kustomization file changed.
    pub file: String,
    /// Its previous tag or digest (None: a new entry).
    pub previous: Option<String>,
    pub commit: String,
    pub branch: String,
}

const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The kustomization file of `dir` in `tree`.
pub(crate) fn kustomization_in(tree: &GitTree, dir: &str) -> EngineResult<String> {
    use driftless_core::source::SourceTree;
    for f in KUSTOMIZATION_FILES {
        let path = if dir.is_empty() {
            f.to_string()
        } else {
            format!("{}/{f}", dir.trim_end_matches('/'))
        };
        if matches!(
            tree.lstat(&path),
            Ok(Some(driftless_core::source::NodeKind::File))
        ) {
            return Ok(path);
        }
    }
    Err(EngineError::invalid(format!(
        "{} has no kustomization file; image set writes a kustomize `images` entry",
        if dir.is_empty() {
            "the repository root"
        } else {
            dir
        }
    )))
}

impl Controller {
    /// Sets `image` for an application, or for every application of a pipeline's first
    /// stage (`PIPELINE/STAGE`, or a stage name only one pipeline has): the pipeline then
    /// carries it on. Later stages only receive values by promotion.
    pub async fn set_image_for(
        &self,
        target: &str,
        image: &str,
        actor: &str,
    ) -> EngineResult<Vec<ImageSet>> {
        if self.has_app(target).await {
            return Ok(vec![self.set_image(target, image, actor).await?]);
        }
        let pipelines = self.pipelines().await;
        let (pipeline, stage) = match target.split_once('/') {
            Some((p, s)) => (p.to_string(), s.to_string()),
            None => {
                let having: Vec<&str> = pipelines
                    .iter()
                    .filter(|p| p.stage(target).is_some())
                    .map(|p| p.name.as_str())
                    .collect();
                match having.as_slice() {
                    [one] => (one.to_string(), target.to_string()),
                    [] => {
                        return Err(EngineError::invalid(format!(
                            "{target} is neither an application nor a pipeline stage"
                        )));
                    }
                    many => {
                        return Err(EngineError::invalid(format!(
                            "stage {target} is in several pipelines ({}); say PIPELINE/{target}",
                            many.join(", ")
                        )));
                    }
                }
            }
        };
        let p = pipelines
            .iter()
            .find(|p| p.name == pipeline)
            .ok_or_else(|| EngineError::not_found("pipeline", pipeline.clone()))?;
        let first = &p.stages[0];
        if first.name != stage {
            return Err(EngineError::invalid(format!(
                "stage {stage} of pipeline {pipeline} receives values by promotion; image set writes into the first stage ({})",
                first.name
            )));
        }
        let mut done = Vec::new();
        for app in &first.applications {
            done.push(self.set_image(app, image, actor).await?);
        }
        Ok(done)
    }

    /// Sets `image` (`NAME:TAG` or `NAME@DIGEST`) in application `name`'s kustomization.
    pub async fn set_image(&self, name: &str, image: &str, actor: &str) -> EngineResult<ImageSet> {
        let reference = ImageRef::parse(image).map_err(EngineError::invalid)?;
        let app = self.app_definition(name).await?;
        let sources = self.sources.clone();
        let (who, image_text, app_name) = (actor.to_string(), image.to_string(), name.to_string());
        let done = tokio::task::spawn_blocking(move || {
            sources.with_mirror(&app.source.repo_url, |mirror, creds| {
                let err = |e: &dyn std::fmt::Display| {
                    EngineError::Git(format!("application {app_name}: image set: {e}"))
                };
                let branch = super::revert::branch_of(mirror, &app.source.target_revision)
                    .map_err(|e| err(&e))?;
                let mut file = String::new();
                let mut previous = None;
                let message = format!(
                    "Set image {} in {}\n\nBy {who} (driftless image set {app_name} {image_text}).\n",
                    image_text,
                    if app.source.path.is_empty() { "." } else { &app.source.path }
                );
                let pushed = commit_and_push(mirror, creds, &branch, &super::revert::author(), &message, 8, |tip| {
                    let as_git = |m: String| GitError::Read {
                        url: String::new(),
                        commit: tip.commit(),
                        message: m,
                    };
                    file = kustomization_in(tip, &app.source.path).map_err(|e| as_git(e.to_string()))?;
                    let text = driftless_core::source::Tree::new(tip)
                        .read_string(&file, 1 << 20)
                        .map_err(|e| as_git(e.to_string()))?;
                    let (new, old) = set_image(&text, &reference)
                        .map_err(|e| as_git(format!("{file}: {e}")))?;
                    previous = old;
                    Ok(vec![FileChange::Put {
                        path: file.clone(),
                        content: new.into_bytes(),
                    }])
                })
                .map_err(|e| err(&e))?;
                Ok::<_, EngineError>(ImageSet {
                    application: app_name.clone(),
                    image: image_text.clone(),
                    file,
                    previous,
                    commit: pushed.commit,
                    branch,
                })
            })
        })
        .await??;
        self.store
            .audit(
                actor,
                "image.set",
                &format!("application/{name}"),
                &json!({"image": done.image, "file": done.file, "previous": done.previous, "commit": done.commit}),
            )
            .await
            ?;
        self.event(
            name,
            crate::EventKind::ImageSet,
            crate::Severity::Info,
            &format!(
                "{actor} set image {} in {} (was {}), commit {}",
                done.image,
                done.file,
                done.previous.as_deref().unwrap_or("not set"),
                &done.commit[..done.commit.len().min(12)]
            ),
            &json!({"commit": done.commit}),
        )
        .await?;
        // The mirror was marked stale by the write-back: this reconcile fetches the commit.
        self.queue.enqueue(name, Reason::Definition);
        Ok(done)
    }
}
