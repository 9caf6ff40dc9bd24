//! The controller: keeps every application in the state its Git source declares.
//!
//! A work queue of application names is fed by definition changes, user requests, the
//! live cache's watches (drift, the moment a tracked object changes) and a jittered
//! periodic resync; a fixed number of workers reconcile (see [`reconcile`]). Everything an
//! operation does is written to the store before and after it acts; on start, operations a
//! previous process left running are closed as Interrupted, never resumed blindly.

use crate::error::EngineResult;
mod app_of_apps;
mod applications;
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
mod workers;

pub use inspect::NodeRef;
pub use records::AuditCheck;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Mutex;

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
    /// Applications reconciled at once, and sync operations in flight at once (operations
    /// run as tasks of their own, `operation.rs`: a reconcile never waits for one).
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
    /// Sync operations in flight at once (`config.workers`).
    pub(crate) operation_slots: Arc<tokio::sync::Semaphore>,
    /// The operations' tasks, aborted when the controller stops (what they left Running is
    /// closed as Interrupted by the next start).
    pub(crate) operation_tasks: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
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
                    crate::EventKind::OperationInterrupted.as_str(),
                    crate::Severity::Warning.as_str(),
                    &message,
                    &json!({"operation": op.id}),
                )
                .await?;
        }
        let cache = LiveCache::new(cluster.client().clone());
        let slots = config.workers.max(1);
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
            operation_slots: Arc::new(tokio::sync::Semaphore::new(slots)),
            operation_tasks: Default::default(),
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
        kind: crate::EventKind,
        severity: crate::Severity,
        message: &str,
        data: &serde_json::Value,
    ) -> Result<i64, driftless_store::StoreError> {
        // With the notifications it causes, in one transaction.
        let id = self
            .record_event(app, kind, severity, message, data)
            .await?;
        // Every recorded event is a log line too (messages never carry Secret values: diffs
        // are masked before they reach an event).
        let event = kind.as_str();
        match severity.is_warning() {
            true => tracing::warn!(app, event, id, "{message}"),
            false => tracing::info!(app, event, id, "{message}"),
        }
        self.publish(crate::Update::Event {
            application: app.to_string(),
            id,
            kind,
            severity,
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
