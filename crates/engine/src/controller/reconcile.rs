//! One reconcile of one application: render → load → compare → health → status, then what
//! its policy asks for: auto-sync a new revision (once: a failed revision is not retried in a
//! loop), self-heal drift after a grace period, or record the drift as an alert.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use driftless_diff::{Comparison, SyncStatus, mask};
use driftless_health::{Health, worst};
use driftless_store::{HistoryEntry, OperationPhase};

use super::{Controller, Reason};
use crate::compare_with_cluster;
use crate::policy::DriftAction;
use crate::sync::{OperationPhase as Phase, SyncEvent, SyncResult, sync_loaded};

/// Why a sync starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Rollback,
    NewRevision,
    SelfHeal,
    Manual,
}

impl Trigger {
    fn label(self) -> &'static str {
        match self {
            Trigger::NewRevision => "new-revision",
            Trigger::SelfHeal => "self-heal",
            Trigger::Manual => "manual",
            Trigger::Rollback => "rollback",
        }
    }
}

impl Controller {
    /// Records one deployment for the DORA figures, with its commit's time when the source
    /// is a Git commit (a failure to read it only loses the lead time).
    async fn record_deployment(
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
                sources.read_mirror(&url, |m| m.commit_time_ms(&rev).map_err(|e| e.to_string()))
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

    pub(crate) async fn reconcile(&self, name: &str, reason: Reason) -> Result<(), String> {
        use tracing::Instrument;
        let started = std::time::Instant::now();
        // One span per reconcile: every line logged inside names the app, why it ran and
        // (once rendered) the revision.
        let span = tracing::info_span!(
            "reconcile",
            app = %name,
            reason = ?reason,
            revision = tracing::field::Empty
        );
        let r = self.reconcile_once(name, reason).instrument(span).await;
        tracing::debug!(app = %name, seconds = started.elapsed().as_secs_f64(), ok = r.is_ok(), "reconciled");
        self.metrics
            .reconciled(name, started.elapsed().as_secs_f64());
        r
    }

    async fn reconcile_once(&self, name: &str, reason: Reason) -> Result<(), String> {
        let Some(state) = self.apps.lock().await.get(name).cloned() else {
            return Ok(());
        };
        let app = state.app.clone();
        let target = match self.target(&app) {
            Ok(t) => t,
            Err(e) => return self.record_error(name, "ComparisonError", &e).await,
        };
        let sources = self.sources.clone();
        // A user's refresh always fetches; a webhook marked the mirror stale instead, so the
        // apps of one repository share one fetch.
        let fetch = reason == Reason::User;
        let render_app = app.clone();
        let pin = state.pinned.clone();
        let pinned_rev = pin.as_ref().map(|p| p.revision.clone());
        let rendered = tokio::task::spawn_blocking(move || {
            sources.render(&render_app, fetch, pinned_rev.as_deref())
        })
        .await
        .map_err(|e| e.to_string())?;
        let rendered = match rendered {
            Ok(r) => r,
            Err(e) => return self.record_error(name, "ComparisonError", &e).await,
        };
        tracing::Span::current().record("revision", rendered.revision.as_str());
        self.metrics
            .sourced(name, rendered.fetch_seconds, rendered.render_seconds);
        // A newer commit landed on the branch: the rollback's hold ends.
        if let Some(p) = &pin
            && rendered.head != p.head
        {
            self.update(name, |s| s.pinned = None).await;
            let message = format!(
                "rollback to {} (by {}) released: the branch moved to {}",
                short(&p.revision),
                p.actor,
                short(&rendered.head)
            );
            self.event(
                name,
                "RollbackReleased",
                "info",
                &message,
                &json!({"revision": p.revision, "head": rendered.head}),
            )
            .await
            .map_err(|e| e.to_string())?;
            self.queue.enqueue(name, Reason::AfterSync);
            return Ok(());
        }
        self.apply_declared_definitions(name, &state, &rendered)
            .await?;
        let attempt = format!("{}:{}", rendered.revision, rendered.set.digest());
        let mut req =
            state
                .policy
                .request(&app, rendered.set.clone(), self.config.server_side_diff);
        req.health_timeout = self.config.health_timeout;
        let ns = req.destination_namespace.clone();
        let loaded = match crate::load::load_cached(
            target.cluster.as_ref(),
            &target.cache,
            name,
            &rendered.set,
            ns.as_deref(),
        )
        .await
        {
            Ok((l, from_cache)) => {
                self.metrics.loaded(name, from_cache);
                l
            }
            Err(e) => {
                return self
                    .record_error(name, "ComparisonError", &e.to_string())
                    .await;
            }
        };
        let keys: Vec<driftless_core::ResourceKey> = loaded
            .resources
            .iter()
            .chain(loaded.hooks.iter())
            .map(|d| d.key.clone())
            .collect();
        let violations = self.project_violations(&app, &keys).await;
        if !violations.is_empty() {
            return self
                .record_error(
                    name,
                    "ProjectViolation",
                    &format!("not synced: {}", violations.join("; ")),
                )
                .await;
        }
        let cmp = compare_with_cluster(
            target.cluster.as_ref(),
            &loaded,
            &req.compare,
            req.server_side_diff,
            target.dry_runs(&self.dry_runs),
        )
        .await;
        let healths: Vec<Health> = loaded
            .resources
            .iter()
            .filter_map(|d| self.assessor.assess(loaded.live.get(&d.key)))
            .collect();
        let health = worst(&healths);
        let automated = app.sync_policy.automated.clone();
        let drifted =
            !cmp.summary.in_sync() && state.last_good.as_deref() == Some(attempt.as_str());

        let mut trigger = None;
        let requested = self.update(name, |s| s.sync_requested.take()).await;
        if self
            .update(name, |s| std::mem::take(&mut s.prune_requested))
            .await
            && requested.is_some()
        {
            req.plan.prune = true;
        }
        if requested.is_some() {
            let rolling_back = pin.as_ref().is_some_and(|p| {
                !state
                    .last_attempt
                    .as_deref()
                    .is_some_and(|a| a.starts_with(&format!("{}:", p.revision)))
            });
            trigger = Some(if rolling_back {
                Trigger::Rollback
            } else {
                Trigger::Manual
            });
        } else if cmp.summary.in_sync() {
            self.update(name, |s| {
                s.drift_since = None;
                s.last_drift = None;
            })
            .await;
        } else if drifted
            && state.policy.drift != DriftAction::Ignore
            && cmp.summary.max_impact > state.policy.drift_tolerance
        {
            let paused = state
                .heal_paused
                .as_ref()
                .filter(|(until, _)| *until > tokio::time::Instant::now());
            self.record_drift(
                name,
                &cmp,
                &rendered.revision,
                paused.map(|(_, why)| why.as_str()),
            )
            .await?;
            if state.policy.drift == DriftAction::Heal && paused.is_none() {
                let since = self
                    .update(name, |s| {
                        Some(*s.drift_since.get_or_insert_with(tokio::time::Instant::now))
                    })
                    .await
                    .unwrap_or_else(tokio::time::Instant::now);
                if since.elapsed() >= self.config.self_heal_grace {
                    trigger = Some(Trigger::SelfHeal);
                } else {
                    self.enqueue_after(name, self.config.self_heal_grace - since.elapsed());
                }
            }
        } else if automated.is_some() && state.last_attempt.as_deref() != Some(attempt.as_str()) {
            trigger = Some(Trigger::NewRevision);
        }
        self.notify_status(name, &cmp, &health, &rendered.revision)
            .await?;
        self.save_status(name, &cmp, &health, &rendered.revision, &rendered.head)
            .await?;
        if self
            .policy_gate(name, &rendered, &attempt, trigger.map(Trigger::label))
            .await?
        {
            return Ok(());
        }
        let Some(trigger) = trigger else {
            return Ok(());
        };

        let result = self
            .run_sync(&target, name, &req, &rendered.revision, &attempt, trigger)
            .await?;
        if result.unreachable {
            return self.retry_unreachable(name, requested, &result).await;
        }
        // A change reaching the cluster (not a self-heal of the same revision) counts for
        // the DORA figures, failed or not.
        let last_good_revision = state
            .last_good
            .as_deref()
            .and_then(|g| g.split_once(':'))
            .map(|(rev, _)| rev);
        if trigger != Trigger::SelfHeal && last_good_revision != Some(rendered.revision.as_str()) {
            self.record_deployment(
                &app,
                &rendered.revision,
                result.phase == Phase::Succeeded,
                trigger.label(),
            )
            .await;
        }
        self.update(name, |s| {
            s.last_attempt = Some(attempt.clone());
            s.unreachable_retries = 0;
            s.drift_since = None;
            if result.phase == Phase::Succeeded {
                s.last_good = Some(attempt.clone());
                s.last_synced_ms = Some(now_ms());
                s.last_drift = None;
            }
        })
        .await;
        // rollbackOnFailure: a new revision that failed goes back to the last good one,
        // through the same hold as a user's rollback (released by a newer commit).
        if result.phase != Phase::Succeeded
            && trigger == Trigger::NewRevision
            && app.sync_policy.rollback_on_failure
            && let Some(good) = state
                .last_good
                .as_deref()
                .and_then(|g| g.split_once(':'))
                .map(|(rev, _)| rev.to_string())
            && !good.starts_with("local")
        {
            self.update(name, |s| {
                s.pinned = Some(super::Pin {
                    revision: good.clone(),
                    head: rendered.head.clone(),
                    actor: "driftless".into(),
                });
                s.sync_requested = Some("driftless".into());
            })
            .await;
            let message = format!(
                "revision {} failed; rolling back to {}",
                short(&rendered.revision),
                short(&good)
            );
            self.event(
                name,
                "RollbackOnFailure",
                "warning",
                &message,
                &json!({"failed": rendered.revision, "to": good}),
            )
            .await
            .map_err(|e| e.to_string())?;
            self.store
                .audit(
                    "driftless",
                    "app.rollback",
                    &format!("application/{name}"),
                    &json!({"to": good, "from": rendered.revision, "reason": "rollbackOnFailure"}),
                )
                .await
                .map_err(|e| e.to_string())?;
        }
        // The status after the sync, from a fresh comparison.
        self.queue.enqueue(name, Reason::AfterSync);
        Ok(())
    }

    /// An app-of-apps: applies the definitions its source declares when they changed (or a
    /// user asked for a sync), if the app syncs automatically or was asked to; children no
    /// longer declared are removed when it prunes. Refused definitions become one warning
    /// event per change.
    async fn apply_declared_definitions(
        &self,
        name: &str,
        state: &super::AppState,
        rendered: &super::source::Rendered,
    ) -> Result<(), String> {
        let automated = state.app.sync_policy.automated.as_ref();
        let requested = state.sync_requested.is_some();
        if automated.is_none() && !requested {
            return Ok(());
        }
        // Nothing declared and nothing it declared left to remove: not an app-of-apps.
        if rendered.definitions.is_empty() && !self.declared_anything(name).await {
            return Ok(());
        }
        let mut h = Sha256::new();
        for d in &rendered.definitions {
            let mut buf = Vec::new();
            driftless_core::desired::write_canonical(&d.object, &mut buf);
            h.update(&buf);
        }
        let digest = hex::encode(h.finalize());
        if state.definitions_digest.as_deref() == Some(digest.as_str()) && !requested {
            return Ok(());
        }
        let prune = automated.is_some_and(|a| a.prune);
        let errors = self
            .apply_definitions(name, &rendered.definitions, prune)
            .await?;
        self.update(name, |s| s.definitions_digest = Some(digest.clone()))
            .await;
        if !errors.is_empty() {
            self.event(
                name,
                "DefinitionError",
                "warning",
                &format!(
                    "{} of the definitions this application declares were not applied: {}",
                    errors.len(),
                    errors.join("; ")
                ),
                &json!({"errors": errors, "revision": rendered.revision}),
            )
            .await
            .map_err(|e| e.to_string())?;
        }
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
        result: &crate::sync::SyncResult,
    ) -> Result<(), String> {
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
            "ClusterUnreachable",
            "warning",
            &format!(
                "the sync stopped because the cluster did not answer ({}); retrying in {} s",
                result.message,
                wait.as_secs()
            ),
            &json!({"retryInSeconds": wait.as_secs(), "attempt": n}),
        )
        .await
        .map_err(|e| e.to_string())?;
        self.enqueue_after(name, wait);
        Ok(())
    }

    pub(crate) async fn update<T>(&self, name: &str, f: impl FnOnce(&mut super::AppState) -> T) -> T
    where
        T: Default,
    {
        match self.apps.lock().await.get_mut(name) {
            Some(s) => f(s),
            None => T::default(),
        }
    }

    /// Re-queues the app after `wait` (self-heal grace).
    fn enqueue_after(&self, name: &str, wait: std::time::Duration) {
        let name = name.to_string();
        let queue = self.queue.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            queue.enqueue(&name, Reason::Drift);
        });
    }

    async fn record_error(&self, name: &str, kind: &str, message: &str) -> Result<(), String> {
        let new = self
            .update(name, |s| {
                let new = s.last_error.as_deref() != Some(message);
                s.last_error = Some(message.to_string());
                new
            })
            .await;
        if new {
            self.event(name, kind, "warning", message, &json!({}))
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut status = self
            .store
            .get_app(name)
            .await
            .map_err(|e| e.to_string())?
            .map(|r| r.status)
            .unwrap_or_else(|| json!({}));
        status["error"] = json!(message);
        status["sync"]["status"] = json!("Unknown");
        self.store_status(name, status).await
    }

    /// Stores an app's status and publishes it to live subscribers.
    pub(crate) async fn store_status(&self, name: &str, status: Value) -> Result<(), String> {
        self.store
            .set_app_status(name, &status)
            .await
            .map_err(|e| e.to_string())?;
        self.publish(json!({"type": "status", "application": name, "status": status}));
        Ok(())
    }

    async fn record_drift(
        &self,
        name: &str,
        cmp: &Comparison,
        revision: &str,
        heal_paused: Option<&str>,
    ) -> Result<(), String> {
        let drifted: Vec<&driftless_diff::ResourceDiff> = cmp
            .resources
            .iter()
            .filter(|r| r.status != SyncStatus::Synced)
            .collect();
        let mut h = Sha256::new();
        for r in &drifted {
            h.update(r.key.to_string());
            h.update(&r.diff);
        }
        let fingerprint = hex::encode(h.finalize());
        let new = self
            .update(name, |s| {
                let new = s.last_drift.as_deref() != Some(fingerprint.as_str());
                s.last_drift = Some(fingerprint.clone());
                new
            })
            .await;
        if !new {
            return Ok(());
        }
        let grade = cmp.summary.max_impact;
        let changed: usize = drifted.iter().map(|r| r.changes.len().max(1)).sum();
        let mut message = format!(
            "live state drifted from revision {}: {} resource(s), {changed} change(s), impact {grade}",
            short(revision),
            drifted.len()
        );
        if let Some(why) = heal_paused {
            message.push_str(&format!("; self-heal is paused ({why})"));
        }
        let data = json!({
            "revision": revision,
            "impact": grade,
            "resources": drifted.iter().map(|r| json!({"key": r.key.to_string(), "status": r.status, "changes": r.changes, "impact": r.impact, "diff": r.diff})).collect::<Vec<_>>(),
        });
        self.event(name, "DriftDetected", &grade.to_string(), &message, &data)
            .await
            .map_err(|e| e.to_string())?;
        self.metrics.drifted(name, &grade.to_string());
        Ok(())
    }

    async fn save_status(
        &self,
        name: &str,
        cmp: &Comparison,
        health: &Health,
        revision: &str,
        head: &str,
    ) -> Result<(), String> {
        let state = self.apps.lock().await.get(name).cloned();
        let status = json!({
            "sync": {"status": if cmp.summary.in_sync() { "Synced" } else { "OutOfSync" }, "revision": revision, "head": head, "summary": cmp.summary},
            "health": health,
            "resources": cmp.resources.iter().map(|r| json!({
                "group": r.key.group, "kind": r.key.kind, "namespace": r.key.namespace, "name": r.key.name,
                "status": r.status, "impact": r.impact,
            })).collect::<Vec<_>>(),
            "operation": {
                "attempt": state.as_ref().and_then(|s| s.last_attempt.clone()),
                "good": state.as_ref().and_then(|s| s.last_good.clone()),
            },
            "reconciledAtMs": now_ms(),
            "lastSyncAtMs": state.as_ref().and_then(|s| s.last_synced_ms),
            "pinned": state.as_ref().and_then(|s| s.pinned.as_ref()).map(|p| json!({"revision": p.revision, "by": p.actor})),
            "healPaused": state.as_ref().and_then(|s| s.heal_paused.as_ref()).filter(|(until, _)| *until > tokio::time::Instant::now()).map(|(until, why)| json!({
                "reason": why,
                "remainingSeconds": until.saturating_duration_since(tokio::time::Instant::now()).as_secs(),
            })),
        });
        self.update(name, |s| s.last_error = None).await;
        self.metrics.app_status(
            name,
            status["sync"]["status"].as_str().unwrap_or_default(),
            health.status.as_str(),
        );
        self.store_status(name, status).await
    }

    async fn run_sync(
        &self,
        target: &super::clusters::ClusterHandle,
        name: &str,
        req: &crate::SyncRequest,
        revision: &str,
        attempt: &str,
        trigger: Trigger,
    ) -> Result<SyncResult, String> {
        let why = match trigger {
            Trigger::NewRevision => "automated sync of a new revision",
            Trigger::SelfHeal => "self-heal of drift",
            Trigger::Manual => "sync requested by a user",
            Trigger::Rollback => "rollback requested by a user",
        };
        let kind = if trigger == Trigger::Rollback {
            "rollback"
        } else {
            "sync"
        };
        let request = json!({"reason": why, "revision": revision, "attempt": attempt, "prune": req.plan.prune});
        let op = self
            .store
            .begin_operation(name, kind, revision, &request)
            .await
            .map_err(|e| e.to_string())?;
        self.store
            .audit(
                "driftless",
                "app.sync",
                &format!("application/{name}"),
                &json!({"operation": op, "reason": why, "revision": revision}),
            )
            .await
            .map_err(|e| e.to_string())?;
        self.notify_sync_running(name, op, revision).await;
        // Steps are recorded as they happen, from a task of their own (the executor's
        // progress callback cannot wait on the database).
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
        let store = self.store.clone();
        let recorder = tokio::spawn(async move {
            while let Some(step) = rx.recv().await {
                let _ = store.record_step(op, &step).await;
            }
        });
        let on_event = move |e: &SyncEvent| {
            let step = match e {
                SyncEvent::Step {
                    phase,
                    wave,
                    prune,
                    tasks,
                } => {
                    json!({"step": {"phase": phase, "wave": wave, "prune": prune, "tasks": tasks}})
                }
                SyncEvent::Resource(r) => json!({"resource": r}),
            };
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
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                let message = e.to_string();
                self.store
                    .finish_operation(op, OperationPhase::Failed, &json!({"message": message}))
                    .await
                    .map_err(|e| e.to_string())?;
                self.event(
                    name,
                    "SyncFailed",
                    "warning",
                    &message,
                    &json!({"operation": op}),
                )
                .await
                .map_err(|e| e.to_string())?;
                return Err(message);
            }
        };
        let phase = if result.phase == Phase::Succeeded {
            OperationPhase::Succeeded
        } else {
            OperationPhase::Failed
        };
        self.metrics
            .synced(name, trigger.label(), &format!("{:?}", result.phase));
        let result_json = serde_json::to_value(&result).unwrap_or_default();
        self.store
            .finish_operation(op, phase, &result_json)
            .await
            .map_err(|e| e.to_string())?;
        if result.phase == Phase::Succeeded {
            let app_history_limit = self
                .apps
                .lock()
                .await
                .get(name)
                .and_then(|s| s.app.revision_history_limit);
            let live = snapshot(&target.cache, name);
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
                .await
                .map_err(|e| e.to_string())?;
            self.event(
                name,
                "SyncSucceeded",
                "info",
                &format!("{why}: {}", result.message),
                &json!({"operation": op, "revision": revision}),
            )
            .await
            .map_err(|e| e.to_string())?;
        } else {
            self.event(
                name,
                "SyncFailed",
                "warning",
                &format!("{why} failed: {}", result.message),
                &json!({"operation": op, "revision": revision}),
            )
            .await
            .map_err(|e| e.to_string())?;
        }
        Ok(result)
    }
}

/// The app's tracked live objects, Secret values masked (kept with the history).
fn snapshot(cache: &driftless_kube::LiveCache, name: &str) -> Vec<Value> {
    cache
        .tracked_by(name)
        .into_iter()
        .map(|(_, v)| mask::masked(&driftless_diff::normalize::live(&v)))
        .collect()
}

pub(crate) fn short(revision: &str) -> &str {
    &revision[..revision.len().min(12)]
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
