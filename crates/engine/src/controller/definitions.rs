//! The engine's own definitions managed at run time: repositories (`repo add`, kept in the
//! store; or from files and Git, re-read at start) and the app-of-apps, where an
//! application's source declares Applications, Projects and Repositories. Those configure
//! the engine — the engine's configuration is itself GitOps-managed — and never reach the
//! cluster. A child the parent's source stops declaring is removed when the parent prunes.

use std::collections::BTreeSet;

use serde_json::json;

use driftless_core::definitions::Definitions;
use driftless_core::desired::DesiredObject;
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
    ) -> Result<(), String> {
        repo.validate()?;
        let name = repo.name.clone();
        if persist {
            let spec = serde_json::to_value(&repo).map_err(|e| e.to_string())?;
            self.store
                .put_definition(REPOSITORY, &name, &spec)
                .await
                .map_err(|e| e.to_string())?;
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
                .map_err(|e| e.to_string())?;
            self.requeue_covered(&repo).await;
        }
        Ok(())
    }

    /// Forgets a repository definition (and its stored copy); `false` when unknown.
    pub async fn remove_repository(&self, name: &str, actor: &str) -> Result<bool, String> {
        let stored = self
            .store
            .delete_definition(REPOSITORY, name)
            .await
            .map_err(|e| e.to_string())?;
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
                .await
                .map_err(|e| e.to_string())?;
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
    pub async fn load_stored_repositories(&self) -> Result<Vec<String>, String> {
        let mut errors = Vec::new();
        for (name, spec) in self
            .store
            .list_definitions(REPOSITORY)
            .await
            .map_err(|e| e.to_string())?
        {
            let loaded = serde_json::from_value::<Repository>(spec)
                .map_err(|e| e.to_string())
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

    /// Applies what an app-of-apps' source declares. Returns one line per definition that
    /// was refused (the others are applied). Children no longer declared are removed when
    /// `prune`, else reported.
    pub(crate) async fn apply_definitions(
        &self,
        parent: &str,
        declared: &[DesiredObject],
        prune: bool,
    ) -> Result<Vec<String>, String> {
        let mut defs = Definitions::default();
        for d in declared {
            defs.add(&d.object, &format!("{} ({})", d.key, d.origin), false);
        }
        let actor = format!("app-of-apps:{parent}");
        let mut errors = defs.errors.clone();
        for r in defs.repositories {
            let name = r.name.clone();
            if let Err(e) = self.set_repository(r, &actor, false).await {
                errors.push(format!("repository {name}: {e}"));
            }
        }
        for c in defs.clusters {
            let name = c.name.clone();
            if let Err(e) = self.set_cluster(c, &actor, false).await {
                errors.push(format!("cluster {name}: {e}"));
            }
        }
        for p in defs.projects {
            let name = p.name.clone();
            if let Err(e) = self.set_project(p, &actor).await {
                errors.push(format!("project {name}: {e}"));
            }
        }
        let mut children = BTreeSet::new();
        for parsed in defs.apps {
            let mut child = parsed.app;
            let name = child.name.clone();
            if name == parent {
                errors.push(format!("application {name} cannot declare itself"));
                continue;
            }
            let owner = self
                .apps
                .lock()
                .await
                .get(&name)
                .map(|s| s.app.parent.clone());
            if let Some(owner) = owner
                && owner.as_deref() != Some(parent)
            {
                errors.push(format!(
                    "application {name} already exists ({}); it is not taken over — rename one of them",
                    match owner {
                        Some(o) => format!("declared by application {o}"),
                        None => "defined by a file or the API".into(),
                    }
                ));
                continue;
            }
            child.parent = Some(parent.to_string());
            match self.set_app(child, &actor).await {
                Ok(()) => {
                    children.insert(name);
                }
                Err(e) => errors.push(format!("application {name}: {e}")),
            }
        }
        let orphans: Vec<String> = self
            .apps
            .lock()
            .await
            .iter()
            .filter(|(n, s)| s.app.parent.as_deref() == Some(parent) && !children.contains(*n))
            .map(|(n, _)| n.clone())
            .collect();
        for child in orphans {
            if prune {
                self.remove_app(&child, &actor).await?;
                self.event(
                    parent,
                    "ChildPruned",
                    "info",
                    &format!("application {child} is no longer declared by {parent}'s source and was removed (its objects stay in the cluster)"),
                    &json!({"application": child}),
                )
                .await
                .map_err(|e| e.to_string())?;
            } else {
                errors.push(format!(
                    "application {child} is no longer declared; it is kept because {parent} does not prune"
                ));
            }
        }
        Ok(errors)
    }
}
