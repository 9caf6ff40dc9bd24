//! One reconcile of one application: gather what is true now (render → load → compare →
//! health), save it as the status, then carry out what [`decide`](super::decide) makes of it:
//! start a sync operation (a new revision, a self-heal after its grace, a user's request,
//! a rollback), record drift, release a rollback's pin, or roll back a new revision whose
//! health failed. Operations run apart (see [`operation`](super::operation)): a reconcile
//! never waits for one, so the status follows the cluster's watches while one runs.

use crate::error::EngineResult;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use sha2::{Digest, Sha256};

use driftless_diff::Comparison;
use driftless_health::{Health, worst};

use super::clusters::ClusterHandle;
use super::decide::{Decision, DriftClock, Observation, Timing, Trigger, decide};
use super::operation::Order;
use super::source::Rendered;
use super::status::Seen;
use super::{AppState, Controller, Reason};
use crate::compare_with_cluster;

/// What one reconcile gathered.
struct Observed {
    target: Arc<ClusterHandle>,
    rendered: Rendered,
    req: crate::SyncRequest,
    /// `revision:digest` of the rendered set.
    attempt: String,
    cmp: Comparison,
    health: Health,
    healths: BTreeMap<driftless_core::ResourceKey, Health>,
}

impl Observed {
    fn observation(&self) -> Observation<'_> {
        Observation {
            head: &self.rendered.head,
            attempt: &self.attempt,
            in_sync: self.cmp.summary.in_sync(),
            max_impact: self.cmp.summary.max_impact,
            health: self.health.status,
        }
    }

    fn seen(&self) -> Seen<'_> {
        Seen {
            cmp: &self.cmp,
            health: &self.health,
            healths: &self.healths,
            revision: &self.rendered.revision,
            head: &self.rendered.head,
        }
    }
}

impl Controller {
    pub(crate) async fn reconcile(
        self: &Arc<Self>,
        name: &str,
        reason: Reason,
    ) -> EngineResult<()> {
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
        // Tests (and anything proving that "nothing happened") wait on this, not on a clock.
        self.publish(crate::Update::Reconciled {
            application: name.to_string(),
            ok: r.is_ok(),
        });
        r
    }

    /// Gathers the observation, decides, carries the decision out.
    async fn reconcile_once(self: &Arc<Self>, name: &str, reason: Reason) -> EngineResult<()> {
        let Some(state) = self.state_of(name).await else {
            return Ok(());
        };
        let lock = state.reconciling.clone();
        let _one_at_a_time = lock.lock().await;
        let Some(state) = self.state_of(name).await else {
            return Ok(());
        };
        let Some(seen) = self.observe(name, &state, reason).await? else {
            return Ok(());
        };
        // Decided on the state as it is now (an operation may have ended meanwhile).
        let Some(state) = self.state_of(name).await else {
            return Ok(());
        };
        let timing = Timing {
            self_heal_grace: self.config.self_heal_grace,
            health_timeout: self.config.health_timeout,
        };
        let decision = decide(
            &state,
            &seen.observation(),
            tokio::time::Instant::now(),
            timing,
        );
        self.carry_out(name, &state, seen, decision).await
    }

    async fn state_of(&self, name: &str) -> Option<AppState> {
        self.apps.lock().await.get(name).cloned()
    }

    /// Renders, loads and compares; `None` when an error stopped it (recorded as the
    /// status and one event).
    async fn observe(
        &self,
        name: &str,
        state: &AppState,
        reason: Reason,
    ) -> EngineResult<Option<Observed>> {
        let app = &state.app;
        let target = match self.target(app) {
            Ok(t) => t,
            Err(e) => {
                return self
                    .record_error(name, crate::EventKind::ComparisonError, &e.to_string())
                    .await
                    .map(|_| None);
            }
        };
        let Some(rendered) = self.render(name, state, reason).await? else {
            return Ok(None);
        };
        let attempt = format!("{}:{}", rendered.revision, rendered.set.digest());
        let mut req = state
            .policy
            .request(app, rendered.set.clone(), self.config.server_side_diff);
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
                let message = e.to_string();
                return self
                    .record_error(name, crate::EventKind::ComparisonError, &message)
                    .await
                    .map(|_| None);
            }
        };
        let keys: Vec<driftless_core::ResourceKey> = loaded
            .resources
            .iter()
            .chain(loaded.hooks.iter())
            .map(|d| d.key.clone())
            .collect();
        let violations = self.project_violations(app, &keys).await;
        if !violations.is_empty() {
            let message = format!("not synced: {}", violations.join("; "));
            return self
                .record_error(name, crate::EventKind::ProjectViolation, &message)
                .await
                .map(|_| None);
        }
        let cmp = compare_with_cluster(
            target.cluster.as_ref(),
            &loaded,
            &req.compare,
            req.server_side_diff,
            target.dry_runs(&self.dry_runs),
        )
        .await;
        // Health from the watch-fed cache, per resource (with the check that produced it).
        let healths: BTreeMap<_, _> = loaded
            .resources
            .iter()
            .filter_map(|d| {
                Some((
                    d.key.clone(),
                    self.assessor.assess(loaded.live.get(&d.key))?,
                ))
            })
            .collect();
        let health = worst(&healths.values().cloned().collect::<Vec<_>>());
        Ok(Some(Observed {
            target,
            rendered,
            req,
            attempt,
            cmp,
            health,
            healths,
        }))
    }

    /// The app's source at its revision (or its pin); `None` when rendering failed.
    async fn render(
        &self,
        name: &str,
        state: &AppState,
        reason: Reason,
    ) -> EngineResult<Option<Rendered>> {
        let sources = self.sources.clone();
        // A user's refresh always fetches; a webhook marked the mirror stale instead, so the
        // apps of one repository share one fetch.
        let fetch = reason == Reason::User;
        let render_app = state.app.clone();
        let pinned_rev = state.pinned.as_ref().map(|p| p.revision.clone());
        let rendered = tokio::task::spawn_blocking(move || {
            sources.render(&render_app, fetch, pinned_rev.as_deref())
        })
        .await?;
        let rendered = match rendered {
            Ok(r) => r,
            Err(e) => {
                return self
                    .record_error(name, crate::EventKind::ComparisonError, &e.to_string())
                    .await
                    .map(|_| None);
            }
        };
        tracing::Span::current().record("revision", rendered.revision.as_str());
        self.metrics
            .sourced(name, rendered.fetch_seconds, rendered.render_seconds);
        Ok(Some(rendered))
    }

    /// Does what `decision` says, the status saved first.
    async fn carry_out(
        self: &Arc<Self>,
        name: &str,
        state: &AppState,
        seen: Observed,
        decision: Decision,
    ) -> EngineResult<()> {
        if decision.releases_pin() {
            return self.release_pin(name, state, &seen.rendered.head).await;
        }
        self.apply_declared_definitions(name, state, &seen.rendered)
            .await?;
        match decision.drift_clock() {
            DriftClock::Keep => {}
            DriftClock::Clear => {
                self.update(name, |s| {
                    s.drift_since = None;
                    s.last_drift = None;
                })
                .await
            }
            DriftClock::Start(at) => {
                self.update(name, |s| {
                    s.drift_since.get_or_insert(at);
                })
                .await
            }
        }
        if let Some(paused) = decision.drift_to_record() {
            self.record_drift(name, &seen.cmp, &seen.rendered.revision, paused)
                .await?;
        }
        if decision.ends_health_watch() {
            self.update(name, |s| s.health_watch = None).await;
        }
        if let (Some(ok), Some(w)) = (decision.deployment_outcome(), &state.health_watch) {
            self.record_deployment(&state.app, &w.revision, ok, Trigger::NewRevision.label())
                .await;
        }
        if let Some(after) = decision.requeue_after() {
            self.enqueue_after(name, after);
        }
        self.notify_status(name, &seen.cmp, &seen.health, &seen.rendered.revision)
            .await?;
        self.save_status(name, &seen.seen()).await?;
        if let Some(r) = decision.rollback() {
            self.roll_back_on_failure(name, &r.failed, &r.to, &seen.rendered.head, &r.why)
                .await?;
            self.queue.enqueue(name, Reason::AfterSync);
            return Ok(());
        }
        let trigger = decision.sync_trigger();
        if self
            .policy_gate(
                name,
                &seen.rendered,
                &seen.attempt,
                trigger.map(Trigger::label),
            )
            .await?
        {
            // A refused request is answered (by the gate's event), not kept for later.
            self.update(name, |s| s.sync_requested = None).await;
            return Ok(());
        }
        let Some(trigger) = trigger else {
            return Ok(());
        };
        let order = Order {
            target: seen.target,
            req: seen.req,
            revision: seen.rendered.revision,
            head: seen.rendered.head,
            attempt: seen.attempt,
            trigger,
            requested: None,
        };
        self.start_operation(name, order).await.map(|_| ())
    }

    /// A newer commit landed on the branch: the rollback's hold ends.
    async fn release_pin(&self, name: &str, state: &AppState, head: &str) -> EngineResult<()> {
        let Some(p) = &state.pinned else {
            return Ok(());
        };
        self.update(name, |s| s.pinned = None).await;
        let message = format!(
            "rollback to {} (by {}) released: the branch moved to {}",
            short(&p.revision),
            p.actor,
            short(head)
        );
        self.event(
            name,
            crate::EventKind::RollbackReleased,
            crate::Severity::Info,
            &message,
            &json!({"revision": p.revision, "head": head}),
        )
        .await?;
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
    ) -> EngineResult<()> {
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
                crate::EventKind::DefinitionError,
                crate::Severity::Warning,
                &format!(
                    "{} of the definitions this application declares were not applied: {}",
                    errors.len(),
                    errors.join("; ")
                ),
                &json!({"errors": errors, "revision": rendered.revision}),
            )
            .await?;
        }
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

    /// Re-queues the app after `wait` (self-heal grace, a health deadline, a retry).
    pub(super) fn enqueue_after(&self, name: &str, wait: std::time::Duration) {
        let name = name.to_string();
        let queue = self.queue.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            queue.enqueue(&name, Reason::Drift);
        });
    }
}

pub(crate) fn short(revision: &str) -> &str {
    &revision[..revision.len().min(12)]
}
