//! What an app-of-apps stops declaring goes away, under the guards described in
//! [`super::app_of_apps`]: the empty-source guard, child Applications only when the parent
//! prunes, and an event on the parent for everything removed.

use std::collections::BTreeSet;

use serde_json::json;

use super::Controller;
use crate::error::{EngineError, EngineResult};

/// Definitions the source declares and that were applied, by kind.
#[derive(Default)]
pub(super) struct Kept {
    pub repositories: BTreeSet<String>,
    pub clusters: BTreeSet<String>,
    pub projects: BTreeSet<String>,
}

/// Definitions an app-of-apps no longer declares, by kind (names).
struct Undeclared {
    orphans: Vec<String>,
    repos: Vec<String>,
    clusters: Vec<String>,
    projects: Vec<String>,
}

impl Controller {
    /// What `parent` declared before and declares no more, by kind.
    async fn undeclared(
        &self,
        parent: &str,
        names: &BTreeSet<String>,
        children: &BTreeSet<String>,
        kept: &Kept,
    ) -> Undeclared {
        let gone = |kind: &str, name: &str, applied: &BTreeSet<String>| {
            !applied.contains(name) && !names.contains(&format!("{kind}/{name}"))
        };
        let orphans: Vec<String> = self
            .apps
            .lock()
            .await
            .iter()
            .filter(|(n, s)| {
                s.app.parent.as_deref() == Some(parent) && gone("Application", n, children)
            })
            .map(|(n, _)| n.clone())
            .collect();
        let repos: Vec<String> = self
            .sources
            .repositories
            .list()
            .into_iter()
            .filter(|r| {
                r.parent.as_deref() == Some(parent)
                    && gone("Repository", &r.name, &kept.repositories)
            })
            .map(|r| r.name)
            .collect();
        let clusters: Vec<String> = self
            .clusters
            .read()
            .expect("clusters lock")
            .values()
            .filter_map(|c| c.definition.as_ref())
            .filter(|c| {
                c.parent.as_deref() == Some(parent) && gone("Cluster", &c.name, &kept.clusters)
            })
            .map(|c| c.name.clone())
            .collect();
        let projects: Vec<String> = self
            .projects
            .lock()
            .await
            .values()
            .filter(|p| {
                p.parent.as_deref() == Some(parent) && gone("Project", &p.name, &kept.projects)
            })
            .map(|p| p.name.clone())
            .collect();
        Undeclared {
            orphans,
            repos,
            clusters,
            projects,
        }
    }

    /// Removes what `parent` declared before and declares no more (see the module doc).
    pub(super) async fn remove_undeclared(
        &self,
        parent: &str,
        names: &BTreeSet<String>,
        children: &BTreeSet<String>,
        kept: &Kept,
        prune: bool,
        errors: &mut Vec<String>,
    ) -> EngineResult<()> {
        let actor = format!("app-of-apps:{parent}");
        let allow_empty = self
            .apps
            .lock()
            .await
            .get(parent)
            .and_then(|s| s.app.sync_policy.automated.as_ref().map(|a| a.allow_empty))
            .unwrap_or(false);
        let Undeclared {
            orphans,
            repos,
            clusters,
            projects,
        } = self.undeclared(parent, names, children, kept).await;
        let total = orphans.len() + repos.len() + clusters.len() + projects.len();
        if total == 0 {
            return Ok(());
        }
        // The empty-render guard: a source that suddenly declares nothing is more likely
        // broken (a wrong path, a bad merge) than meant to remove everything.
        if names.is_empty() && !allow_empty {
            let message = format!(
                "{parent}'s source declares no definition any more; the {total} it declared before are kept (set syncPolicy.automated.allowEmpty to let an empty source remove them)"
            );
            self.event(parent, crate::EventKind::ChildPruneSkipped,
 crate::Severity::Warning, &message, &json!({"applications": orphans, "repositories": repos, "clusters": clusters, "projects": projects}))
                .await
                ?;
            errors.push(message);
            return Ok(());
        }
        for child in orphans {
            if prune {
                self.remove_app(&child, &actor).await?;
                self.event(
                    parent,
                    crate::EventKind::ChildPruned,
 crate::Severity::Info,
                    &format!("application {child} is no longer declared by {parent}'s source and was removed (its objects stay in the cluster)"),
                    &json!({"application": child}),
                )
                .await
                ?;
            } else {
                errors.push(format!(
                    "application {child} is no longer declared; it is kept because {parent} does not prune"
                ));
            }
        }
        for name in repos {
            self.remove_repository(&name, &actor).await?;
            self.removed(parent, "repository", &name).await?;
        }
        for name in clusters {
            self.remove_cluster(&name, &actor).await?;
            self.removed(parent, "cluster", &name).await?;
        }
        for name in projects {
            if self.projects.lock().await.remove(&name).is_some() {
                self.store
                    .audit(
                        &actor,
                        "project.delete",
                        &format!("project/{name}"),
                        &json!({}),
                    )
                    .await?;
                self.requeue_where(|a| a.project == name).await;
                self.removed(parent, "project", &name).await?;
            }
        }
        Ok(())
    }

    async fn removed(&self, parent: &str, kind: &str, name: &str) -> EngineResult<()> {
        self.event(
            parent,
            crate::EventKind::DefinitionRemoved,
            crate::Severity::Info,
            &format!("{kind} {name} is no longer declared by {parent}'s source and was removed"),
            &json!({"kind": kind, "name": name}),
        )
        .await
        .map(|_| ())
        .map_err(EngineError::from)
    }
}

impl Controller {
    /// Whether `name` (an app-of-apps) still has children or definitions it declared:
    /// Applications, Repositories, Clusters or Projects whose parent it is.
    pub(super) async fn declared_anything(&self, name: &str) -> bool {
        let parent = Some(name);
        self.apps
            .lock()
            .await
            .values()
            .any(|s| s.app.parent.as_deref() == parent)
            || self
                .sources
                .repositories
                .list()
                .iter()
                .any(|r| r.parent.as_deref() == parent)
            || self
                .clusters
                .read()
                .expect("clusters lock")
                .values()
                .any(|c| {
                    c.definition
                        .as_ref()
                        .is_some_and(|d| d.parent.as_deref() == parent)
                })
            || self
                .projects
                .lock()
                .await
                .values()
                .any(|p| p.parent.as_deref() == parent)
    }
}
