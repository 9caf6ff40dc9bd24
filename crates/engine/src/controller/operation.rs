//! Sync operations, off the reconcile path: each runs as a task of its own, recorded in the
//! store (operation row, steps, history, events, audit). While it runs, the app's state
//! names it ([`Running`]) and reconciles keep reporting status and drift without starting a
//! second one. When it ends, its verdict is recorded (`rollbackOnFailure` included) and the
//! app is reconciled at once, so the status reflects the operation without waiting in the
//! queue behind the rest of the fleet.

use crate::error::{EngineError, EngineResult};
use std::sync::Arc;

use serde_json::{Value, json};

use driftless_diff::mask;
use driftless_store::{HistoryEntry, OperationPhase};

use super::decide::{AfterOperation, HealthWatch, Trigger, after_operation};
use super::{Controller, Reason};
use crate::sync::{OperationPhase as Phase, SyncEvent, SyncResult, sync_loaded};

/// The operation an application is running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Running {
    /// Its operation row in the store.
    pub id: i64,
    pub revision: String,
    /// `revision:digest` it syncs.
    pub attempt: String,
    pub trigger: Trigger,
    pub started_ms: i64,
}

/// Everything an operation needs, gathered by the reconcile that decided it.
pub(super) struct Order {
    pub target: Arc<super::clusters::ClusterHandle>,
    pub req: crate::SyncRequest,
    pub revision: String,
    pub head: String,
    pub attempt: String,
    pub trigger: Trigger,
    /// Who asked (a user's request), given back when the cluster did not answer.
    pub requested: Option<String>,
}

impl Controller {
    /// Starts `order` as the app's operation unless one already runs (then `false`: the
    /// claim is atomic, so two reconciles never start two operations). The user's request
    /// is consumed by the claim.
    pub(super) async fn start_operation(
        self: &Arc<Self>,
        name: &str,
        mut order: Order,
    ) -> EngineResult<bool> {
        let claimed = self
            .update(name, |s| {
                if s.operation.is_some() {
                    return None;
                }
                // A placeholder until the store gives the row's id (below, same task).
                s.operation = Some(Running {
                    id: 0,
                    revision: order.revision.clone(),
                    attempt: order.attempt.clone(),
                    trigger: order.trigger,
                    started_ms: now_ms(),
                });
                let requested = s.sync_requested.take();
                let prune = std::mem::take(&mut s.prune_requested);
                Some((requested, prune))
            })
            .await;
        let Some((requested, prune)) = claimed else {
            return Ok(false);
        };
        if requested.is_some() && prune {
            order.req.plan.prune = true;
        }
        order.requested = requested;
        let op = match self.begin(name, &order).await {
            Ok(op) => op,
            Err(e) => {
                self.update(name, |s| s.operation = None).await;
                return Err(e);
            }
        };
        self.update(name, |s| {
            if let Some(r) = s.operation.as_mut() {
                r.id = op;
            }
        })
        .await;
        let c = self.clone();
        let name = name.to_string();
        let slots = self.operation_slots.clone();
        let task = tokio::spawn(async move {
            // At most `workers` operations apply at once; the rest wait their turn here (the
            // wait for health afterwards holds no slot).
            let slot = slots.acquire_owned().await;
            let cache = order.target.cache.clone();
            let result = match c.operate(&name, op, &order).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(app = %name, operation = op, error = %e, "sync operation failed");
                    None
                }
            };
            drop(slot);
            // The rendered set and the loaded state are not needed to follow health: a fleet's
            // worth of them, held through each rollout, was most of a cold start's memory.
            drop(order);
            c.update(&name, |s| s.operation = None).await;
            // The status after the operation, from a fresh comparison, now.
            reconcile_now(c.clone(), name.clone()).await;
            // And again the moment what the last wave applied settles.
            let follow = result
                .as_ref()
                .map(super::settle::unsettled)
                .unwrap_or_default();
            drop(result);
            if c.settled(&name, &cache, &follow).await {
                reconcile_now(c, name).await;
            }
        });
        let mut tasks = self.operation_tasks.lock().expect("operation tasks lock");
        tasks.retain(|t| !t.is_finished());
        tasks.push(task.abort_handle());
        Ok(true)
    }

    /// The operation's row and audit record; returns its id.
    async fn begin(&self, name: &str, order: &Order) -> EngineResult<i64> {
        let why = order.trigger.why();
        let kind = if order.trigger == Trigger::Rollback {
            "rollback"
        } else {
            "sync"
        };
        let request = json!({"reason": why, "revision": order.revision, "attempt": order.attempt, "prune": order.req.plan.prune, "trigger": order.trigger.label()});
        let op = self
            .store
            .begin_operation(name, kind, &order.revision, &request)
            .await?;
        self.store
            .audit(
                "driftless",
                "app.sync",
                &format!("application/{name}"),
                &json!({"operation": op, "reason": why, "revision": order.revision}),
            )
            .await?;
        self.notify_sync_running(name, op, &order.revision).await;
        Ok(op)
    }

    /// Runs the operation and records its verdict; returns its result when the cluster
    /// answered it.
    async fn operate(
        &self,
        name: &str,
        op: i64,
        order: &Order,
    ) -> EngineResult<Option<SyncResult>> {
        let before = self.apps.lock().await.get(name).cloned();
        let Some(before) = before else {
            return Ok(None);
        };
        let result = self.run_sync(name, op, order).await?;
        if result.unreachable {
            self.retry_unreachable(name, order.requested.clone(), &result)
                .await?;
            return Ok(None);
        }
        let succeeded = result.phase == Phase::Succeeded;
        // The revision becomes the last good one only once the live cache shows what the
        // operation wrote: a reconcile meanwhile, reading a cache a watch event behind, must
        // not take the operation's own writes for drift from a good revision.
        self.caught_up(name, &order.target.cache, &result).await;
        // A change reaching the cluster (not a self-heal of the same revision) counts for
        // the DORA figures, failed or not.
        let last_good_revision = before
            .last_good
            .as_deref()
            .and_then(|g| g.split_once(':'))
            .map(|(rev, _)| rev);
        let after = after_operation(
            before.app.sync_policy.rollback_on_failure,
            order.trigger,
            succeeded,
            before.last_good.as_deref(),
        );
        // A new revision that synced is judged by its health (recorded when it settles).
        let judged_later = matches!(after, AfterOperation::WatchHealth { .. });
        if order.trigger != Trigger::SelfHeal
            && last_good_revision != Some(order.revision.as_str())
            && !judged_later
        {
            self.record_deployment(
                &before.app,
                &order.revision,
                succeeded,
                order.trigger.label(),
            )
            .await;
        }
        self.update(name, |s| {
            s.last_attempt = Some(order.attempt.clone());
            s.unreachable_retries = 0;
            s.drift_since = None;
            if succeeded {
                s.last_good = Some(order.attempt.clone());
                s.last_synced_ms = Some(now_ms());
                s.last_drift = None;
            }
            s.health_watch = match &after {
                AfterOperation::WatchHealth { rollback_to } => Some(HealthWatch {
                    attempt: order.attempt.clone(),
                    revision: order.revision.clone(),
                    since: tokio::time::Instant::now(),
                    rollback_to: rollback_to.clone(),
                }),
                // A self-heal during a rollout re-applies the same revision: the new
                // revision's health is still being judged.
                _ if order.trigger == Trigger::SelfHeal => s.health_watch.take(),
                _ => None,
            };
        })
        .await;
        if let AfterOperation::RollBack { to } = after {
            let why = format!("its sync failed: {}", result.message);
            self.roll_back_on_failure(name, &order.revision, &to, &order.head, &why)
                .await?;
        }
        Ok(Some(result))
    }

    /// Executes the sync, recording each step as it happens, then the operation's end
    /// (history entry and SyncSucceeded, or SyncFailed).
    async fn run_sync(&self, name: &str, op: i64, order: &Order) -> EngineResult<SyncResult> {
        let (target, req) = (&order.target, &order.req);
        // Steps are recorded from a task of their own (the executor's progress callback
        // cannot wait on the database).
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
        let store = self.store.clone();
        let recorder = tokio::spawn(async move {
            while let Some(step) = rx.recv().await {
                let _ = store.record_step(op, &step).await;
            }
        });
        let on_event = move |e: &SyncEvent| {
            let step = json!(crate::sync::ProgressEntry::from(e));
            let _ = tx.send(step);
        };
        // Loaded again, just before acting: the cache is watch-fed and costs nothing to ask,
        // and it falls back to the server's lists whenever one of the kinds is not synced.
        let result = match crate::load::load_cached(
            target.cluster.as_ref(),
            &target.cache,
            name,
            &req.rendered,
            req.destination_namespace.as_deref(),
        )
        .await
        {
            Ok((loaded, _)) => {
                sync_loaded(
                    target.cluster.as_ref(),
                    req,
                    &loaded,
                    &self.assessor,
                    target.dry_runs(&self.dry_runs),
                    &on_event,
                )
                .await
            }
            Err(e) => Err(e),
        };
        drop(on_event);
        let _ = recorder.await;
        match result {
            Ok(r) => {
                self.close_operation(name, op, order, &r).await?;
                Ok(r)
            }
            Err(e) => {
                let message = e.to_string();
                self.store
                    .finish_operation(op, OperationPhase::Failed, &json!({"message": message}))
                    .await?;
                self.event(
                    name,
                    crate::EventKind::SyncFailed,
                    crate::Severity::Warning,
                    &message,
                    &json!({"operation": op}),
                )
                .await?;
                Err(e.into())
            }
        }
    }

    /// Closes the operation row; a success is kept in the history.
    async fn close_operation(
        &self,
        name: &str,
        op: i64,
        order: &Order,
        result: &SyncResult,
    ) -> EngineResult<()> {
        let (req, revision, why) = (&order.req, &order.revision, order.trigger.why());
        let phase = if result.phase == Phase::Succeeded {
            OperationPhase::Succeeded
        } else {
            OperationPhase::Failed
        };
        self.metrics
            .synced(name, order.trigger.label(), &format!("{:?}", result.phase));
        let result_json = serde_json::to_value(result).unwrap_or_default();
        self.store.finish_operation(op, phase, &result_json).await?;
        if result.phase != Phase::Succeeded {
            self.event(
                name,
                crate::EventKind::SyncFailed,
                crate::Severity::Warning,
                &format!("{why} failed: {}", result.message),
                &json!({"operation": op, "revision": revision}),
            )
            .await?;
            return Ok(());
        }
        let app_history_limit = self
            .apps
            .lock()
            .await
            .get(name)
            .and_then(|s| s.app.revision_history_limit);
        let live = snapshot(&order.target.cache, name);
        let desired: Vec<Value> = req.rendered.values().map(mask::masked).collect();
        let entry = HistoryEntry {
            id: 0,
            app: name.to_string(),
            revision: revision.to_string(),
            digest: req.rendered.digest(),
            operation_id: op,
            deployed_ms: now_ms(),
            desired: Value::Array(desired),
            live_snapshot: Value::Array(live),
        };
        self.store
            .add_history(
                &entry,
                app_history_limit.map_or(self.config.history_limit, i64::from),
            )
            .await?;
        self.event(
            name,
            crate::EventKind::SyncSucceeded,
            crate::Severity::Info,
            &format!("{why}: {}", result.message),
            &json!({"operation": op, "revision": revision}),
        )
        .await?;
        Ok(())
    }

    /// A sync the cluster did not answer is no verdict on the revision: the attempt is not
    /// recorded (so the same revision is synced again, and objects it had not reached yet are
    /// applied then), a user's request is kept, and the app is queued again with a backoff
    /// (2 s doubling to 5 min) until the cluster answers.
    async fn retry_unreachable(
        &self,
        name: &str,
        requested: Option<String>,
        result: &SyncResult,
    ) -> EngineResult<()> {
        let n = self
            .update(name, |s| {
                s.unreachable_retries = s.unreachable_retries.saturating_add(1);
                if s.sync_requested.is_none() {
                    s.sync_requested = requested.clone();
                }
                s.unreachable_retries
            })
            .await;
        let wait = std::time::Duration::from_secs(2)
            .saturating_mul(1 << n.saturating_sub(1).min(8))
            .min(std::time::Duration::from_secs(300));
        self.event(
            name,
            crate::EventKind::ClusterUnreachable,
            crate::Severity::Warning,
            &format!(
                "the sync stopped because the cluster did not answer ({}); retrying in {} s",
                result.message,
                wait.as_secs()
            ),
            &json!({"retryInSeconds": wait.as_secs(), "attempt": n}),
        )
        .await?;
        self.enqueue_after(name, wait);
        Ok(())
    }

    /// Records one deployment for the DORA figures, with its commit's time when the source
    /// is a Git commit (a failure to read it only loses the lead time).
    pub(super) async fn record_deployment(
        &self,
        app: &driftless_core::app::Application,
        revision: &str,
        succeeded: bool,
        kind: &str,
    ) {
        let sources = self.sources.clone();
        let (url, rev) = (app.source.repo_url.clone(), revision.to_string());
        let commit_ms = if revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()) {
            tokio::task::spawn_blocking(move || {
                sources.read_mirror(&url, |m| m.commit_time_ms(&rev).map_err(EngineError::from))
            })
            .await
            .ok()
            .and_then(Result::ok)
        } else {
            None
        };
        let d = driftless_store::Deployment {
            app: app.name.clone(),
            revision: revision.to_string(),
            commit_ms,
            deployed_ms: now_ms(),
            succeeded,
            kind: kind.to_string(),
        };
        if let Err(e) = self.store.add_deployment(&d).await {
            tracing::warn!(app = %app.name, error = %e, "could not record the deployment for the DORA figures");
        }
    }
}

/// Reconciles `name` outside the queue. Boxed with its `Send` bound spelled out: a
/// reconcile may start an operation, whose task reconciles again, and the compiler cannot
/// prove an opaque recursive future `Send`.
fn reconcile_now(c: Arc<Controller>, name: String) -> futures_util::future::BoxFuture<'static, ()> {
    Box::pin(async move {
        if let Err(e) = c.reconcile(&name, Reason::AfterSync).await {
            tracing::warn!(app = %name, error = %e, "reconcile after the operation failed");
        }
    })
}

/// The app's tracked live objects, Secret values masked (kept with the history).
fn snapshot(cache: &driftless_kube::LiveCache, name: &str) -> Vec<Value> {
    cache
        .tracked_by(name)
        .into_iter()
        .map(|(_, v)| mask::masked(&driftless_diff::normalize::live(&v)))
        .collect()
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
