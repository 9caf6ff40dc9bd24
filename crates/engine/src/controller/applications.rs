//! The applications the controller manages: defining and removing them (each definition
//! validated whatever its path — file, Git, API, custom resource — and audited), projects,
//! a user's sync and self-heal pause requests, pushes that queue the apps of a repository,
//! and reading an application's definition and stored status.

use std::time::Duration;

use serde_json::json;

use driftless_core::app::Application;

use super::{AppState, Controller, Reason, custom_resources, normalize_repo_url};
use crate::error::{EngineError, EngineResult};
use crate::policy::AppPolicy;

impl Controller {
    /// Loads the applications kept in the store (those created through the API or the CLI
    /// survive a restart). One that no longer parses or validates is skipped, never the
    /// others: the answer lists each skipped app with the reason, for the operator.
    pub async fn restore_stored_apps(&self) -> EngineResult<Vec<(String, String)>> {
        let mut skipped = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.store.list_apps(&after, 500).await?;
            let Some(last) = page.last() else { break };
            after = last.name.clone();
            for rec in page {
                let restored = match serde_json::from_value::<Application>(rec.spec) {
                    Ok(app) => self.set_app(app, "store").await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(why) = restored {
                    skipped.push((rec.name, why));
                }
            }
        }
        Ok(skipped)
    }

    /// Adds or replaces an application; an invalid one is refused with the reason, and
    /// never affects the others.
    pub async fn set_app(&self, app: Application, actor: &str) -> EngineResult<()> {
        // Name, durations and numbers, whatever the path (file, Git, API body or patch).
        app.validate().map_err(EngineError::invalid)?;
        // One source of truth: an application a custom resource defines is changed there.
        self.custom_resources
            .admit(custom_resources::Noun::Application, &app.name, actor)?;
        let policy = AppPolicy::of(&app, false)?;
        // Local paths, the engine's own files and API: refused before anything is stored.
        self.sources.admit(&app.source.repo_url).map_err(|e| {
            EngineError::invalid(format!("application {}: source.repoURL: {e}", app.name))
        })?;
        let spec = serde_json::to_value(&app)?;
        let existed = self.store.get_app(&app.name).await?;
        self.store.put_app(&app.name, &spec).await?;
        let changed = existed.as_ref().is_none_or(|r| r.spec != spec);
        if existed.is_none() {
            self.notify_app_lifecycle(&app, true).await;
        }
        if changed {
            let action = if existed.is_some() {
                "app.update"
            } else {
                "app.create"
            };
            self.store
                .audit(
                    actor,
                    action,
                    &format!("application/{}", app.name),
                    &json!({"source": spec["source"], "destination": spec["destination"]}),
                )
                .await?;
        }
        // What the last process attempted survives a restart: no retry loop across restarts.
        let last = existed
            .map(|r| crate::AppStatus::from_stored(&app.name, r.status))
            .unwrap_or_default();
        let name = app.name.clone();
        let mut apps = self.apps.lock().await;
        let state = apps.entry(name.clone()).or_insert_with(|| AppState {
            last_attempt: last.operation.attempt.as_ref().map(|r| r.to_string()),
            last_good: last.operation.good.as_ref().map(|r| r.to_string()),
            last_synced_ms: last.last_sync_at_ms,
            ..AppState::new(app.clone(), policy.clone())
        });
        state.app = app;
        state.policy = policy;
        drop(apps);
        self.queue.enqueue(&name, Reason::Definition);
        Ok(())
    }

    /// Adds or replaces a project (what its applications may use); audited.
    pub async fn set_project(
        &self,
        project: driftless_core::project::Project,
        actor: &str,
    ) -> EngineResult<()> {
        let name = project.name.clone();
        self.custom_resources
            .admit(custom_resources::Noun::Project, &name, actor)?;
        let details = serde_json::to_value(&project)?;
        let changed = self
            .projects
            .lock()
            .await
            .insert(name.clone(), project.clone())
            != Some(project);
        if changed {
            self.store
                .audit(actor, "project.set", &format!("project/{name}"), &details)
                .await?;
            self.requeue_where(|a| a.project == name).await;
        }
        Ok(())
    }

    /// Re-queues the applications `pred` selects (a definition they depend on changed).
    pub(crate) async fn requeue_where(&self, pred: impl Fn(&Application) -> bool) {
        let apps: Vec<String> = self
            .apps
            .lock()
            .await
            .iter()
            .filter(|(_, s)| pred(&s.app))
            .map(|(n, _)| n.clone())
            .collect();
        for a in apps {
            self.queue.enqueue(&a, Reason::Definition);
        }
    }

    /// What the app's project does not allow of these objects (empty: allowed).
    pub(crate) async fn project_violations(
        &self,
        app: &Application,
        objects: &[driftless_core::ResourceKey],
    ) -> Vec<String> {
        let name = if app.project.is_empty() {
            "default"
        } else {
            app.project.as_str()
        };
        let projects = self.projects.lock().await;
        let project = match projects.get(name) {
            Some(p) => p.clone(),
            None if name == "default" => driftless_core::project::Project::default_project(),
            None => return vec![format!("project {name} does not exist")],
        };
        // The server the destination resolves to, so a project listing servers can judge an
        // application that names its cluster.
        let server = self.target(app).ok().map(|t| t.server.clone());
        project.violations(
            &app.source.repo_url,
            &app.destination,
            server.as_deref(),
            objects,
        )
    }

    /// Removes an application from management (its objects stay in the cluster).
    pub async fn remove_app(&self, name: &str, actor: &str) -> EngineResult<bool> {
        self.custom_resources
            .admit_removal(custom_resources::Noun::Application, name, actor)?;
        let removed = self.apps.lock().await.remove(name);
        let had = removed.is_some();
        if let Some(state) = removed {
            self.notify_app_lifecycle(&state.app, false).await;
            self.forget_app(name, actor, json!({})).await?;
        }
        Ok(had)
    }

    /// Deletes an application's record and audits it (`details`: how it was deleted); the
    /// caller has taken it off the work queue's map.
    pub(crate) async fn forget_app(
        &self,
        name: &str,
        actor: &str,
        details: serde_json::Value,
    ) -> EngineResult<()> {
        self.store.delete_app(name).await?;
        self.store
            .audit(
                actor,
                "app.delete",
                &format!("application/{name}"),
                &details,
            )
            .await?;
        Ok(())
    }

    /// Asks for a sync now (a user's request, audited with who asked); `false` when the app
    /// is unknown.
    pub async fn request_sync(&self, name: &str, actor: &str) -> EngineResult<bool> {
        self.request_sync_with(name, actor, false).await
    }

    /// Asks for a sync now that also prunes (`prune`) when the policy does not.
    pub async fn request_sync_with(
        &self,
        name: &str,
        actor: &str,
        prune: bool,
    ) -> EngineResult<bool> {
        if let Some(forwarded) = self
            .forward(name, "sync", actor, json!({"prune": prune}))
            .await?
        {
            return Ok(forwarded);
        }
        let known = match self.apps.lock().await.get_mut(name) {
            Some(s) => {
                s.sync_requested = Some(actor.to_string());
                s.prune_requested = prune;
                true
            }
            None => false,
        };
        if known {
            self.store
                .audit(
                    actor,
                    "app.sync.request",
                    &format!("application/{name}"),
                    &json!({"prune": prune}),
                )
                .await?;
            self.queue.enqueue(name, Reason::User);
        }
        Ok(known)
    }

    /// Pauses self-heal of an application for `duration` (audited with who and why);
    /// `false` when the app is unknown. A zero duration resumes it.
    pub async fn pause_heal(
        &self,
        name: &str,
        duration: Duration,
        reason: &str,
        actor: &str,
    ) -> EngineResult<bool> {
        if reason.trim().is_empty() {
            return Err(EngineError::invalid(
                "a reason is required to pause self-heal",
            ));
        }
        let asked = json!({"seconds": duration.as_secs(), "reason": reason});
        if let Some(forwarded) = self.forward(name, "pause-heal", actor, asked).await? {
            return Ok(forwarded);
        }
        let known = match self.apps.lock().await.get_mut(name) {
            Some(s) => {
                s.heal_paused = (!duration.is_zero())
                    .then(|| (tokio::time::Instant::now() + duration, reason.to_string()));
                true
            }
            None => false,
        };
        if known {
            let action = if duration.is_zero() {
                "app.resume-heal"
            } else {
                "app.pause-heal"
            };
            self.store
                .audit(
                    actor,
                    action,
                    &format!("application/{name}"),
                    &json!({"seconds": duration.as_secs(), "reason": reason}),
                )
                .await?;
            if !duration.is_zero() {
                self.notify_heal_paused(name, reason).await;
            }
            // When the pause ends, look again (drift seen meanwhile gets healed then).
            let queue = self.queue.clone();
            let app = name.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(duration).await;
                queue.enqueue(&app, Reason::Drift);
            });
        }
        Ok(known)
    }

    /// A push to a repository (a webhook): its mirror is marked stale and every app using
    /// it is queued. Returns the apps queued.
    pub async fn source_changed(&self, repo_urls: &[String]) -> Vec<String> {
        self.source_pushed(repo_urls, None).await
    }

    /// [`Controller::source_changed`] for a push of commit `sha`: however many webhooks name
    /// it, the repository is fetched once, and not at all when that commit is already here.
    pub async fn source_pushed(&self, repo_urls: &[String], sha: Option<&str>) -> Vec<String> {
        let wanted: Vec<String> = repo_urls.iter().map(|u| normalize_repo_url(u)).collect();
        let apps = self.apps.lock().await;
        let mut queued = Vec::new();
        for (name, s) in apps.iter() {
            if wanted.contains(&normalize_repo_url(&s.app.source.repo_url)) {
                self.sources.pushed(&s.app.source.repo_url, sha);
                if !self.forward_refresh(name) {
                    self.queue.enqueue(name, Reason::SourceChanged);
                }
                queued.push(name.clone());
            }
        }
        queued
    }

    /// An application's definition, or an error naming it.
    pub(crate) async fn app_definition(&self, name: &str) -> EngineResult<Application> {
        self.apps
            .lock()
            .await
            .get(name)
            .map(|s| s.app.clone())
            .ok_or_else(|| EngineError::not_found("application", name))
    }

    /// The status last stored for an application (the default before its first reconcile).
    pub async fn stored_status(&self, name: &str) -> EngineResult<crate::AppStatus> {
        Ok(self
            .store
            .get_app(name)
            .await?
            .map(|r| crate::AppStatus::from_stored(name, r.status))
            .unwrap_or_default())
    }

    /// Whether `name` is a managed application.
    pub async fn has_app(&self, name: &str) -> bool {
        self.apps.lock().await.contains_key(name)
    }

    /// The names of the managed applications.
    pub async fn app_names(&self) -> Vec<String> {
        self.apps.lock().await.keys().cloned().collect()
    }
}
