//! The controller: keeps every application in the state its Git source declares.
//!
//! A work queue of application names is fed by definition changes, user requests, the
//! live cache's watches (drift, the moment a tracked object changes) and a jittered
//! periodic resync; a fixed number of workers reconcile (see [`reconcile`]). Everything an
//! operation does is written to the store before and after it acts; on start, operations a
//! previous process left running are closed as Interrupted, never resumed blindly.

use crate::error::{EngineError, EngineResult};
mod app_of_apps;
pub mod clusters;
pub mod custom_resources;
mod decide;
mod definitions;
mod delete;
mod drift;
pub mod gate;
pub mod images;
mod inspect;
mod operation;
pub mod promotion;
mod queue;
mod reconcile;
mod records;
pub mod repositories;
pub mod revert;
mod rollback;
mod settle;
pub mod shards;
pub mod source;
pub mod source_guard;
mod status;
mod undeclared;
pub mod users;
mod views;

pub use inspect::NodeRef;
pub use records::AuditCheck;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{Mutex, watch};

use driftless_core::app::Application;
use driftless_health::Assessor;
use driftless_kube::{KubeCluster, LiveCache};
use driftless_store::{OperationPhase, Store};

use crate::compare::DryRunCache;
use crate::policy::AppPolicy;

pub use queue::{Reason, WorkQueue};
pub use source::Sources;
pub use source_guard::SourceGuard;

/// Controller settings.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Safety-net resync of every app (jittered by up to 10%).
    pub resync: Duration,
    /// How long a drifted app waits before self-heal (an operator's edit gets a moment).
    pub self_heal_grace: Duration,
    /// Applications reconciled at once. A sync holds its worker while it waits for health
    /// (on watches, not CPU), so this bounds syncs in flight more than CPU use.
    pub workers: usize,
    pub server_side_diff: bool,
    /// How long a sync waits for each wave to become healthy.
    pub health_timeout: Duration,
    pub history_limit: i64,
    /// How often the promotion driver looks at pipelines (it is also woken by decisions).
    pub promotion_interval: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            resync: Duration::from_secs(180),
            self_heal_grace: Duration::from_secs(5),
            workers: 16,
            server_side_diff: true,
            health_timeout: Duration::from_secs(300),
            history_limit: 10,
            promotion_interval: Duration::from_secs(2),
        }
    }
}

/// What the controller remembers about an application between reconciles.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub app: Application,
    pub policy: AppPolicy,
    /// `revision:digest` of the last sync attempted (a failed one is not retried in a loop).
    pub last_attempt: Option<String>,
    /// `revision:digest` of the last sync that succeeded.
    pub last_good: Option<String>,
    /// Syncs in a row stopped by an unreachable cluster (their retry backs off).
    pub unreachable_retries: u32,
    /// When drift was first seen since the last sync (self-heal waits for the grace).
    pub drift_since: Option<tokio::time::Instant>,
    /// Fingerprint of the last drift recorded (one event per distinct drift).
    pub last_drift: Option<String>,
    pub last_error: Option<String>,
    /// A user asked for a sync (API or CLI): the next reconcile syncs whatever the status.
    pub sync_requested: Option<String>,
    /// That requested sync also prunes (a user's one-off choice; the policy is unchanged).
    pub prune_requested: bool,
    /// When the last sync succeeded (shown as "last sync").
    pub last_synced_ms: Option<i64>,
    /// Self-heal paused until then, and why (an incident): drift is recorded, not reverted.
    pub heal_paused: Option<(tokio::time::Instant, String)>,
    /// A rollback: the app stays on this revision until its branch moves past `head`.
    pub pinned: Option<Pin>,
    /// An app-of-apps: digest of the definitions its source declared when last applied.
    pub definitions_digest: Option<String>,
    /// The sync operation running now (one per app; reconciles meanwhile only report).
    pub operation: Option<operation::Running>,
    /// A new revision whose health `rollbackOnFailure` still judges after its operation.
    pub health_watch: Option<decide::HealthWatch>,
    /// Held by each reconcile of the app: the queue's and an operation's own (run apart
    /// from the queue) never interleave, so a stale comparison never overwrites a fresh one.
    pub reconciling: Arc<Mutex<()>>,
}

impl AppState {
    /// A newly managed application: nothing attempted, synced or seen yet.
    pub(crate) fn new(app: Application, policy: AppPolicy) -> AppState {
        AppState {
            app,
            policy,
            last_attempt: None,
            last_good: None,
            unreachable_retries: 0,
            drift_since: None,
            last_drift: None,
            last_error: None,
            sync_requested: None,
            prune_requested: false,
            last_synced_ms: None,
            heal_paused: None,
            pinned: None,
            definitions_digest: None,
            operation: None,
            health_watch: None,
            reconciling: Arc::default(),
        }
    }
}

/// A rollback's hold on an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pin {
    pub revision: String,
    /// The commit the branch pointed at when the rollback was asked for.
    pub head: String,
    pub actor: String,
}

pub struct Controller {
    pub store: Store,
    pub(crate) cluster: Arc<KubeCluster>,
    pub(crate) cache: LiveCache,
    /// Every cluster apps deploy to, the engine's own (`cluster`, `cache`) included.
    pub(crate) clusters: clusters::Clusters,
    pub(crate) sources: Arc<Sources>,
    pub(crate) apps: Mutex<BTreeMap<String, AppState>>,
    pub(crate) projects: Mutex<BTreeMap<String, driftless_core::project::Project>>,
    pub(crate) queue: Arc<WorkQueue>,
    pub(crate) assessor: Assessor,
    pub(crate) dry_runs: DryRunCache,
    pub(crate) config: ControllerConfig,
    pub metrics: crate::metrics::Metrics,
    /// Live updates for API subscribers (server-sent events): status changes and events.
    pub(crate) updates: tokio::sync::broadcast::Sender<crate::Update>,
    /// Pipelines and the promotion driver's observations.
    pub(crate) promotions: promotion::Promotions,
    /// API users' tokens, replaceable while running (revocation without a restart).
    users: Arc<users::Users>,
    /// Which custom resource defines which application, project, pipeline.
    pub(crate) custom_resources: custom_resources::Registry,
    /// Notification configuration, dispatcher and the transitions seen (`crate::notifications`).
    pub(crate) notifications: crate::notifications::Notifications,
    /// This replica's share when several share the store (unset: everything is ours).
    pub(crate) shards: std::sync::OnceLock<Arc<shards::Ownership>>,
}

impl Controller {
    /// A controller over `cluster`; closes operations a previous process left running.
    pub async fn new(
        store: Store,
        cluster: Arc<KubeCluster>,
        sources: Arc<Sources>,
        assessor: Assessor,
        config: ControllerConfig,
    ) -> EngineResult<Arc<Controller>> {
        // Replicas sharing the store: operations left running may be another replica's;
        // whoever claims their application closes them ([`shards`]).
        let left_running = match store.is_member() {
            true => Vec::new(),
            false => store.running_operations().await?,
        };
        for op in left_running {
            let message = format!(
                "the engine stopped during this {} (revision {}); it was not resumed — the next reconcile compares again and syncs what is still out of sync",
                op.kind, op.revision
            );
            store
                .finish_operation(
                    op.id,
                    OperationPhase::Interrupted,
                    &json!({"message": message}),
                )
                .await?;
            store
                .add_event(
                    &op.app,
                    "OperationInterrupted",
                    "warning",
                    &message,
                    &json!({"operation": op.id}),
                )
                .await?;
        }
        let cache = LiveCache::new(cluster.client().clone());
        Ok(Arc::new(Controller {
            store,
            clusters: clusters::own_cluster(cluster.clone(), cache.clone()),
            cluster,
            cache,
            sources,
            apps: Mutex::new(BTreeMap::new()),
            projects: Mutex::new(BTreeMap::new()),
            queue: Arc::new(WorkQueue::default()),
            assessor,
            dry_runs: DryRunCache::default(),
            config,
            metrics: Default::default(),
            updates: tokio::sync::broadcast::channel(1024).0,
            promotions: Default::default(),
            users: Arc::default(),
            custom_resources: Default::default(),
            notifications: Default::default(),
            shards: std::sync::OnceLock::new(),
        }))
    }

    /// Notifications: configuration, outbox dispatcher, metrics.
    pub fn notifications(&self) -> &crate::notifications::Notifications {
        &self.notifications
    }

    /// The API users' token table (`User` definitions), re-read while the engine runs.
    pub fn users(&self) -> &Arc<users::Users> {
        &self.users
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

    /// Asks for a reconcile (a user's refresh, a webhook).
    pub fn enqueue(&self, name: &str, reason: Reason) {
        if reason == Reason::User && self.forward_refresh(name) {
            return;
        }
        self.queue.enqueue(name, reason);
    }

    pub fn queue_depth(&self) -> usize {
        self.queue.len()
    }

    /// Live updates: `{"type": "status"|"event"|"promotion"|"reconciled", "application": ...}`
    /// as they happen (`reconciled`: one reconcile of the application ended).
    /// A slow subscriber misses updates (and is told so by the channel), never blocks.
    pub fn subscribe_updates(&self) -> tokio::sync::broadcast::Receiver<crate::Update> {
        self.updates.subscribe()
    }

    pub(crate) fn publish(&self, update: crate::Update) {
        let _ = self.updates.send(update);
    }

    /// Records an application event and publishes it to live subscribers.
    pub(crate) async fn event(
        &self,
        app: &str,
        kind: &str,
        severity: &str,
        message: &str,
        data: &serde_json::Value,
    ) -> Result<i64, driftless_store::StoreError> {
        // With the notifications it causes, in one transaction.
        let id = self
            .record_event(app, kind, severity, message, data)
            .await?;
        // Every recorded event is a log line too (messages never carry Secret values: diffs
        // are masked before they reach an event).
        match severity {
            "warning" | "error" => tracing::warn!(app, event = kind, id, "{message}"),
            _ => tracing::info!(app, event = kind, id, "{message}"),
        }
        self.publish(crate::Update::Event {
            application: app.to_string(),
            id,
            kind: kind.to_string(),
            severity: severity.to_string(),
            message: message.to_string(),
        });
        Ok(id)
    }

    /// The cluster this controller manages.
    pub fn live_cluster(&self) -> &KubeCluster {
        &self.cluster
    }

    pub fn live_cache(&self) -> &LiveCache {
        &self.cache
    }

    /// The Prometheus text exposition of the engine's metrics.
    pub fn metrics_text(&self) -> String {
        let text = self.metrics.encode(
            self.queue.len(),
            self.cache.age().map(|a| a.as_secs_f64()),
            self.cache.len(),
        );
        let text = match self.shards.get() {
            Some(own) => shards::with_lines(text, &own.metrics_lines()),
            None => text,
        };
        self.notifications.append_metrics(text)
    }

    /// Runs until `shutdown` turns true: workers, the drift listener, the periodic resync.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        // Delivery beside the workers: it stops on the same signal, finishing the message
        // in hand (never aborted mid-send, so a clean stop leaves nothing to resend).
        let dispatcher = self.notifications.start(&self.store, shutdown.clone());
        let mut tasks = Vec::new();
        for _ in 0..self.config.workers.max(1) {
            let c = self.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let (name, reason) = c.queue.next().await;
                    if let Err(e) = c.reconcile(&name, reason).await {
                        tracing::warn!(app = %name, error = %e, "reconcile failed");
                    }
                    c.queue.done(&name);
                }
            }));
        }
        let c = self.clone();
        tasks.push(tokio::spawn(async move {
            let mut changes = c.cache.subscribe();
            loop {
                match changes.recv().await {
                    Ok(ch) => {
                        if c.apps.lock().await.contains_key(&ch.app) {
                            c.queue.enqueue(&ch.app, Reason::Drift);
                        }
                    }
                    // Missed changes: look at every app again.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        for name in c.apps.lock().await.keys() {
                            c.queue.enqueue(name, Reason::Drift);
                        }
                    }
                    Err(_) => return,
                }
            }
        }));
        let c = self.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let jitter = c.config.resync.mul_f64(rand_fraction() * 0.1);
                tokio::time::sleep(c.config.resync + jitter).await;
                for name in c.apps.lock().await.keys() {
                    c.queue.enqueue(name, Reason::Periodic);
                }
            }
        }));
        let c = self.clone();
        tasks.push(tokio::spawn(async move {
            // Replicas sharing the store: one of them drives promotions.
            match c.shards.get().cloned() {
                Some(own) => c.coordinated_promotion_loop(own).await,
                None => c.promotion_loop().await,
            }
        }));
        let _ = shutdown.wait_for(|stop| *stop).await;
        for t in tasks {
            t.abort();
        }
        if let Some(d) = dispatcher {
            let _ = d.await;
        }
    }
}

/// A fraction in [0, 1) from the clock (jitter needs no cryptographic randomness).
fn rand_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

/// One spelling per repository: `https://Host/org/repo.git`, `git@host:org/repo` and
/// `ssh://git@host/org/repo` all become `host/org/repo`; local paths lose `file://`.
pub fn normalize_repo_url(url: &str) -> String {
    let mut u = url.trim().to_string();
    for scheme in ["https://", "http://", "ssh://", "git://", "file://"] {
        if let Some(rest) = u.strip_prefix(scheme) {
            u = rest.to_string();
            break;
        }
    }
    if let Some((user_host, path)) = u.split_once(':')
        && !user_host.contains('/')
        && !path.starts_with("//")
        && !path.chars().next().is_some_and(|c| c.is_ascii_digit())
    {
        // scp-like `git@host:org/repo`.
        u = format!("{user_host}/{path}");
    }
    if let Some((creds, rest)) = u.split_once('@')
        && !creds.contains('/')
    {
        u = rest.to_string();
    }
    let u = u
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .trim_end_matches('/');
    match u.split_once('/') {
        Some((host, path)) if !host.is_empty() => format!("{}/{path}", host.to_ascii_lowercase()),
        _ => u.to_string(),
    }
}

/// An epoch-milliseconds time as RFC 3339 (UTC), for messages.
pub fn format_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| format!("{ms} ms"))
}

#[cfg(test)]
mod tests {
    use super::normalize_repo_url as n;

    #[test]
    fn one_repository_has_one_spelling() {
        let want = "github.com/org/repo";
        for u in [
            "https://github.com/org/repo.git",
            "https://GitHub.com/org/repo/",
            "git@github.com:org/repo.git",
            "ssh://git@github.com/org/repo",
            "http://user@github.com/org/repo",
        ] {
            assert_eq!(n(u), want, "{u}");
        }
        assert_eq!(n("file:///srv/git/app.git"), "/srv/git/app");
        assert_eq!(n("/srv/git/app.git"), "/srv/git/app");
        assert_eq!(
            n("https://gitlab.example.com:8443/g/r.git"),
            "gitlab.example.com:8443/g/r"
        );
    }
}
