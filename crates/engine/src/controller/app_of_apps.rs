//! The app-of-apps: an application whose source declares the engine's own definitions
//! (Applications, Projects, Repositories, Clusters). Those configure the engine and never
//! reach the cluster.
//!
//! Everything here comes from Git, so every definition is checked against the trust model
//! ([`driftless_core::trust`]) with what the operator configured: each refusal is an event
//! on the parent naming the document and the field, and the rest still applies.
//!
//! What the source stops declaring goes away under the same guards as a prune of objects:
//! nothing is removed when the source declares no definition at all unless the parent
//! allows empty (`automated.allowEmpty`); a render that failed never gets here. Child
//! Applications are removed only when the parent prunes; Repositories, Clusters and Projects
//! declared by Git are removed when no longer declared (they are configuration, no object is
//! deleted). A definition whose document is still there but invalid is kept as it was.

use crate::error::EngineResult;
use std::collections::BTreeSet;

use serde_json::json;

use driftless_core::clusters::ClusterDefinition;
use driftless_core::definitions::Definitions;
use driftless_core::desired::DesiredObject;
use driftless_core::project::Project;
use driftless_core::repository::Repository;
use driftless_core::trust::{self, Context, Origin, Refusal};

use super::Controller;
use super::undeclared::Kept;

/// What the operator configured, as the trust checks see it (owned copies).
struct Configured {
    parent_project: Option<Project>,
    repositories: Vec<Repository>,
    clusters: Vec<ClusterDefinition>,
    projects: Vec<Project>,
}

impl Configured {
    fn context(&self) -> Context<'_> {
        Context {
            parent_project: self.parent_project.as_ref(),
            repositories: &self.repositories,
            clusters: &self.clusters,
            projects: &self.projects,
        }
    }
}

/// The definitions of one source, each with the origin it is judged by.
#[derive(Default)]
struct Declared {
    apps: Vec<(Origin, driftless_core::app::Application)>,
    projects: Vec<(Origin, Project)>,
    repositories: Vec<(Origin, Repository)>,
    clusters: Vec<(Origin, ClusterDefinition)>,
    /// `Kind/name` of every definition document, valid or not (an invalid one keeps what it
    /// declared before rather than having it removed).
    names: BTreeSet<String>,
    errors: Vec<String>,
    refusals: Vec<Refusal>,
}

fn declared_kind(doc: &serde_json::Value) -> Option<&'static str> {
    use driftless_core::{clusters, pipeline, project, repository, users};
    if project::is_definition(doc) {
        Some("Project")
    } else if repository::Repository::is_definition(doc) {
        Some("Repository")
    } else if clusters::ClusterDefinition::is_definition(doc) {
        Some("Cluster")
    } else if pipeline::Pipeline::is_definition(doc) {
        Some("Pipeline")
    } else if users::User::is_definition(doc) {
        Some("User")
    } else if driftless_core::definitions::is_definition(doc) {
        Some("Application")
    } else {
        None
    }
}

fn collect(parent: &str, declared: &[DesiredObject]) -> Declared {
    let mut out = Declared::default();
    for d in declared {
        let Some(kind) = declared_kind(&d.object) else {
            continue;
        };
        let document = format!("{} ({})", d.key, d.origin);
        let origin = Origin::Git {
            parent: parent.to_string(),
            document: document.clone(),
        };
        let name = driftless_core::object::name(&d.object).unwrap_or_default();
        out.names.insert(format!("{kind}/{name}"));
        let mut defs = Definitions::default();
        defs.add(&d.object, &document, false);
        out.errors.extend(defs.errors);
        for p in defs.apps {
            out.apps.push((origin.clone(), p.app));
        }
        for p in defs.projects {
            out.projects.push((origin.clone(), p));
        }
        for r in defs.repositories {
            out.repositories.push((origin.clone(), r));
        }
        for c in defs.clusters {
            out.clusters.push((origin.clone(), c));
        }
        for p in defs.pipelines {
            out.refusals
                .extend(trust::refuse_kind(&origin, "Pipeline", &p.name));
        }
        for u in defs.users {
            out.refusals
                .extend(trust::refuse_kind(&origin, "User", &u.name));
        }
    }
    out
}

impl Controller {
    /// What the trust checks for `parent`'s definitions compare against.
    async fn configured(&self, parent: &str) -> Configured {
        let project_name = self
            .apps
            .lock()
            .await
            .get(parent)
            .map(|s| s.app.project.clone())
            .unwrap_or_default();
        let project_name = if project_name.is_empty() {
            "default".to_string()
        } else {
            project_name
        };
        let projects: Vec<Project> = self.projects.lock().await.values().cloned().collect();
        // Only a project the operator defined delegates anything.
        let parent_project = match projects.iter().find(|p| p.name == project_name) {
            Some(p) if p.parent.is_none() => Some(p.clone()),
            Some(_) => None,
            None if project_name == "default" => Some(Project::default_project()),
            None => None,
        };
        let clusters = self
            .clusters
            .read()
            .expect("clusters lock")
            .values()
            .filter_map(|c| c.definition.clone())
            .collect();
        Configured {
            parent_project,
            repositories: self.sources.repositories.list(),
            clusters,
            projects,
        }
    }

    /// Applies what an app-of-apps' source declares. Returns one line per definition that
    /// was refused (the others are applied); each refusal by the trust model is also an
    /// event on `parent`. Children no longer declared are removed when `prune`, else reported.
    pub(crate) async fn apply_definitions(
        &self,
        parent: &str,
        declared: &[DesiredObject],
        prune: bool,
    ) -> EngineResult<Vec<String>> {
        let configured = self.configured(parent).await;
        let ctx = configured.context();
        let mut d = collect(parent, declared);
        let actor = format!("app-of-apps:{parent}");
        let mut errors = std::mem::take(&mut d.errors);
        let mut kept = Kept::default();
        for (origin, mut r) in std::mem::take(&mut d.repositories) {
            let name = r.name.clone();
            if let Err(x) = trust::check_repository(&origin, &ctx, &r) {
                d.refusals.push(x);
                continue;
            }
            r.parent = Some(parent.to_string());
            match self.set_repository(r, &actor, false).await {
                Ok(()) => {
                    kept.repositories.insert(name);
                }
                Err(e) => errors.push(format!("repository {name}: {e}")),
            }
        }
        for (origin, mut c) in std::mem::take(&mut d.clusters) {
            let name = c.name.clone();
            if let Err(x) = trust::check_cluster(&origin, &ctx, &c) {
                d.refusals.push(x);
                continue;
            }
            c.parent = Some(parent.to_string());
            match self.set_cluster(c, &actor, false).await {
                Ok(()) => {
                    kept.clusters.insert(name);
                }
                Err(e) => errors.push(format!("cluster {name}: {e}")),
            }
        }
        for (origin, mut p) in std::mem::take(&mut d.projects) {
            let name = p.name.clone();
            if let Err(x) = trust::check_project(&origin, &ctx, &p) {
                d.refusals.push(x);
                continue;
            }
            p.parent = Some(parent.to_string());
            match self.set_project(p, &actor).await {
                Ok(()) => {
                    kept.projects.insert(name);
                }
                Err(e) => errors.push(format!("project {name}: {e}")),
            }
        }
        let children = self
            .apply_children(
                parent,
                &ctx,
                std::mem::take(&mut d.apps),
                &mut d.refusals,
                &mut errors,
            )
            .await;
        for r in &d.refusals {
            self.event(
                parent,
                crate::EventKind::DefinitionRefused,
                crate::Severity::Warning,
                &r.to_string(),
                &json!({"document": r.document, "kind": r.kind, "name": r.name, "field": r.field}),
            )
            .await?;
        }
        errors.extend(d.refusals.iter().map(Refusal::to_string));
        self.remove_undeclared(parent, &d.names, &children, &kept, prune, &mut errors)
            .await?;
        Ok(errors)
    }

    /// Applies the child Applications the trust model allows; returns their names.
    async fn apply_children(
        &self,
        parent: &str,
        ctx: &Context<'_>,
        apps: Vec<(Origin, driftless_core::app::Application)>,
        refusals: &mut Vec<Refusal>,
        errors: &mut Vec<String>,
    ) -> BTreeSet<String> {
        let actor = format!("app-of-apps:{parent}");
        let mut children = BTreeSet::new();
        for (origin, mut child) in apps {
            let name = child.name.clone();
            if name == parent {
                errors.push(format!("application {name} cannot declare itself"));
                continue;
            }
            if let Err(x) = trust::check_application(&origin, ctx, &child) {
                refusals.push(x);
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
        children
    }
}
