//! The sync executor: load → compare → plan → execute, step by step.
//!
//! Each step (a phase and wave) applies its objects in kind order, then waits for all of
//! them to be healthy (applies), complete (hooks) or gone (prunes) before the next step.
//! The first failure stops the sync: SyncFail hooks run, and the result lists every object
//! already applied — nothing is deleted that this sync did not plan to prune.
//!
//! [`sync_loaded`] is the controller's *operation*, with Argo CD's semantics: it ends when
//! the last step is applied, without waiting for that step's health (the controller reports
//! and acts on health apart). [`sync`] is the one-shot command (`driftless sync`), which,
//! like `argocd app sync`, also waits for the last step to become healthy.

mod execute;
mod wait;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use driftless_core::{DesiredSet, Gvk, ResourceKey};
use driftless_diff::{CompareOptions, Impact, Summary};
use driftless_health::{Assessor, Health};
use driftless_plan::{Phase, PlanOptions, plan};

use crate::SyncError;
use crate::compare::{DryRunCache, compare_with_cluster};
use crate::load::{Loaded, load};
use driftless_core::cluster::Cluster;

/// Retries of transient API errors (5xx, 429, connection): exponential backoff.
#[derive(Debug, Clone, Serialize)]
pub struct RetryPolicy {
    pub limit: u32,
    pub backoff: Duration,
    pub factor: u32,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            limit: 5,
            backoff: Duration::from_millis(200),
            factor: 2,
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// Everything one sync needs.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub rendered: DesiredSet,
    pub destination_namespace: Option<String>,
    pub plan: PlanOptions,
    pub compare: CompareOptions,
    /// Plan and report only; change nothing.
    pub dry_run: bool,
    /// Take over fields other field managers changed (server-side apply `force`, as Argo CD
    /// does); when false such a sync fails with the conflict and changes nothing of it.
    pub force_conflicts: bool,
    /// Predict with the server's dry-run apply (falls back per object).
    pub server_side_diff: bool,
    pub health_timeout: Duration,
    pub retry: RetryPolicy,
    /// Kinds the app used before (custom kinds), searched for objects to prune.
    pub extra_kinds: Vec<Gvk>,
}

impl SyncRequest {
    pub fn app(&self) -> &str {
        &self.plan.app
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperationPhase {
    Succeeded,
    Failed,
    /// A guard refused the sync; nothing was changed.
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Applied,
    Replaced,
    Created,
    Pruned,
    HookSucceeded,
    HookFailed,
    /// Dry-run: would be done.
    Planned,
    Skipped,
    Failed,
}

/// What happened to one object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceResult {
    pub key: ResourceKey,
    pub phase: Phase,
    pub wave: i32,
    pub outcome: Outcome,
    pub message: String,
    pub health: Option<Health>,
    pub impact: Impact,
    /// The resourceVersion the server answered the action with (not recorded).
    #[serde(skip)]
    pub resource_version: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncResult {
    pub app: String,
    pub phase: OperationPhase,
    pub message: String,
    /// The comparison before the sync.
    pub summary: Summary,
    pub resources: Vec<ResourceResult>,
    /// The rollback run after a failure, when one was asked for.
    pub rollback: Option<Box<SyncResult>>,
    /// The sync stopped because the cluster did not answer (connection errors, 5xx, 429
    /// outlasting the retries): not a verdict on the revision, which is tried again once the
    /// cluster answers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreachable: bool,
}

/// One entry of an operation's recorded progress: `{"step": {...}}` when a wave or phase
/// starts, `{"resource": {...}}` when an object's outcome is known. What the store keeps and
/// the CLI prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgressEntry {
    Step {
        phase: Phase,
        wave: i32,
        prune: bool,
        tasks: usize,
    },
    Resource(Box<ResourceResult>),
}

impl From<&SyncEvent<'_>> for ProgressEntry {
    fn from(e: &SyncEvent<'_>) -> Self {
        match e {
            SyncEvent::Step {
                phase,
                wave,
                prune,
                tasks,
            } => ProgressEntry::Step {
                phase: *phase,
                wave: *wave,
                prune: *prune,
                tasks: *tasks,
            },
            SyncEvent::Resource(r) => ProgressEntry::Resource(Box::new((*r).clone())),
        }
    }
}

/// Progress, for a display or an operation record.
#[derive(Debug)]
pub enum SyncEvent<'a> {
    Step {
        phase: Phase,
        wave: i32,
        prune: bool,
        tasks: usize,
    },
    Resource(&'a ResourceResult),
}

/// Runs one sync, loading the app's live objects with lists from the API server, and waits
/// for every step's health, the last one's included (a command's answer, not an operation).
pub async fn sync<C: Cluster>(
    cluster: &C,
    req: &SyncRequest,
    assessor: &Assessor,
    cache: Option<&DryRunCache>,
    on_event: &(dyn Fn(&SyncEvent) + Sync),
) -> Result<SyncResult, SyncError> {
    let loaded = load(
        cluster,
        req.app(),
        &req.rendered,
        req.destination_namespace.as_deref(),
        &req.extra_kinds,
    )
    .await?;
    run(cluster, req, &loaded, assessor, cache, on_event, true).await
}

/// Runs one sync operation on state already loaded for `req.rendered` (the controller's live
/// cache serves it: listing every kind cluster-wide for each sync would cost O(fleet) per
/// app). It ends once the last step is applied; that step's health is not awaited.
pub async fn sync_loaded<C: Cluster>(
    cluster: &C,
    req: &SyncRequest,
    loaded: &Loaded,
    assessor: &Assessor,
    cache: Option<&DryRunCache>,
    on_event: &(dyn Fn(&SyncEvent) + Sync),
) -> Result<SyncResult, SyncError> {
    run(cluster, req, loaded, assessor, cache, on_event, false).await
}

/// Plans and executes; `await_last`: wait for the last step's health as for the others.
async fn run<C: Cluster>(
    cluster: &C,
    req: &SyncRequest,
    loaded: &Loaded,
    assessor: &Assessor,
    cache: Option<&DryRunCache>,
    on_event: &(dyn Fn(&SyncEvent) + Sync),
    await_last: bool,
) -> Result<SyncResult, SyncError> {
    let app = req.app().to_string();
    let comparison =
        compare_with_cluster(cluster, loaded, &req.compare, req.server_side_diff, cache).await;
    let mut result = SyncResult {
        app: app.clone(),
        phase: OperationPhase::Succeeded,
        message: String::new(),
        summary: comparison.summary.clone(),
        resources: Vec::new(),
        rollback: None,
        unreachable: false,
    };
    let planned = match plan(
        &loaded.resources,
        &loaded.hooks,
        &comparison,
        &loaded.live,
        &req.plan,
    ) {
        Ok(p) => p,
        Err(e) => {
            result.phase = OperationPhase::Refused;
            result.message = e.to_string();
            return Ok(result);
        }
    };
    for s in &planned.skipped {
        let r = ResourceResult {
            key: s.key.clone(),
            phase: Phase::Sync,
            wave: 0,
            outcome: Outcome::Skipped,
            message: s.reason.clone(),
            health: None,
            impact: Impact::default(),
            resource_version: None,
        };
        on_event(&SyncEvent::Resource(&r));
        result.resources.push(r);
    }
    let exec = execute::Executor {
        cluster,
        req,
        assessor,
        live: &loaded.live,
        pending: &loaded.pending_kinds,
        await_last,
        cache,
    };
    exec.run(&planned, &mut result, on_event).await;
    Ok(result)
}

/// Runs a sync and, when it fails after changing the cluster, re-applies `previous` (the
/// last desired set that synced and became healthy).
pub async fn sync_with_rollback<C: Cluster>(
    cluster: &C,
    req: &SyncRequest,
    previous: Option<&DesiredSet>,
    assessor: &Assessor,
    cache: Option<&DryRunCache>,
    on_event: &(dyn Fn(&SyncEvent) + Sync),
) -> Result<SyncResult, SyncError> {
    let mut result = sync(cluster, req, assessor, cache, on_event).await?;
    let changed = result.resources.iter().any(|r| {
        matches!(
            r.outcome,
            Outcome::Applied | Outcome::Replaced | Outcome::Created | Outcome::Pruned
        )
    });
    if result.phase == OperationPhase::Failed
        && changed
        && !req.dry_run
        && let Some(previous) = previous
    {
        let mut back = req.clone();
        back.rendered = previous.clone();
        back.plan.prune = true;
        let rb = sync(cluster, &back, assessor, cache, on_event).await?;
        result.message = format!(
            "{}; rolled back to the last healthy desired set: {:?}",
            result.message, rb.phase
        );
        result.rollback = Some(Box::new(rb));
    }
    Ok(result)
}
