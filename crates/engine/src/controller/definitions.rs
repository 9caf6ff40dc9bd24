//! The engine's own definitions managed at run time: repositories (`repo add`, kept in the
//! store; or from files and Git, re-read at start). What an app-of-apps declares is applied
//! by [`super::app_of_apps`], under the trust model.

use crate::error::{EngineError, EngineResult};
use serde_json::json;

use driftless_core::repository::Repository;

use super::Controller;

/// The store's kind for repository definitions.
const REPOSITORY: &str = "Repository";

impl Controller {
    /// Adds or replaces a repository definition (validated first); `persist` keeps it in the
    /// store (API/CLI-created ones, which nothing else would re-read at start). Audited
    /// without its secrets; the applications it covers are re-queued.
    pub async fn set_repository(
        &self,
        repo: Repository,
        actor: &str,
        persist: bool,
    ) -> EngineResult<()> {
        repo.validate().map_err(EngineError::invalid)?;
        let name = repo.name.clone();
        if persist {
            let spec = serde_json::to_value(&repo)?;
            self.store.put_definition(REPOSITORY, &name, &spec).await?;
        }
        let old = self.sources.set_repository(repo.clone())?;
        if old.as_ref() != Some(&repo) {
            let shown = repo.redacted();
            self.store
                .audit(
                    actor,
                    if old.is_some() {
                        "repository.update"
                    } else {
                        "repository.create"
                    },
                    &format!("repository/{name}"),
                    &json!({"url": driftless_git::url::redact(&shown.url), "prefix": shown.prefix, "insecure": shown.insecure}),
                )
                .await
                ?;
            self.requeue_covered(&repo).await;
        }
        Ok(())
    }

    /// Forgets a repository definition (and its stored copy); `false` when unknown.
    pub async fn remove_repository(&self, name: &str, actor: &str) -> EngineResult<bool> {
        let stored = self.store.delete_definition(REPOSITORY, name).await?;
        let old = self.sources.remove_repository(name);
        if let Some(r) = &old {
            self.requeue_covered(r).await;
        }
        if stored || old.is_some() {
            self.store
                .audit(
                    actor,
                    "repository.delete",
                    &format!("repository/{name}"),
                    &json!({}),
                )
                .await?;
        }
        Ok(stored || old.is_some())
    }

    /// Repository definitions, inline secrets masked.
    pub fn repositories(&self) -> Vec<Repository> {
        self.sources
            .repositories
            .list()
            .iter()
            .map(Repository::redacted)
            .collect()
    }

    /// A repository definition with its secrets (webhook verification).
    pub fn repository(&self, name: &str) -> Option<Repository> {
        self.sources.repositories.get(name)
    }

    /// Loads the repositories created through the API in an earlier run.
    pub async fn load_stored_repositories(&self) -> EngineResult<Vec<String>> {
        let mut errors = Vec::new();
        for (name, spec) in self.store.list_definitions(REPOSITORY).await? {
            let loaded = serde_json::from_value::<Repository>(spec)
                .map_err(EngineError::from)
                .and_then(|r| self.sources.set_repository(r).map(|_| ()));
            if let Err(e) = loaded {
                errors.push(format!("stored repository {name}: {e}"));
            }
        }
        Ok(errors)
    }

    async fn requeue_covered(&self, repo: &Repository) {
        self.requeue_where(|a| super::repositories::Repositories::covers(repo, &a.source.repo_url))
            .await;
    }
}
