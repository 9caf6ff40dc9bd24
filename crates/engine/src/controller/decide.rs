//! The reconcile's decision, as a pure function: what an application's policy asks for,
//! given what the controller remembers ([`AppState`]) and what a reconcile just observed
//! (rendered revision, comparison, health), at a given instant. No I/O, no clock, no lock:
//! the table tests below cover every rule without a runtime. The controller gathers the
//! observation and carries the [`Decision`] out (see `reconcile.rs`).
//!
//! Modelled on kube-rs's `Action`: the fields are private, a decision is built by its named
//! constructors and read through accessors, so an impossible combination cannot be made.

use std::time::Duration;

use tokio::time::Instant;

use driftless_diff::Grade;
use driftless_health::HealthStatus;

use super::AppState;
use crate::policy::DriftAction;

/// Why a sync operation starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    Rollback,
    NewRevision,
    SelfHeal,
    Manual,
}

impl Trigger {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Trigger::NewRevision => "new-revision",
            Trigger::SelfHeal => "self-heal",
            Trigger::Manual => "manual",
            Trigger::Rollback => "rollback",
        }
    }

    /// The reason recorded with the operation.
    pub(crate) fn why(self) -> &'static str {
        match self {
            Trigger::NewRevision => "automated sync of a new revision",
            Trigger::SelfHeal => "self-heal of drift",
            Trigger::Manual => "sync requested by a user",
            Trigger::Rollback => "rollback requested by a user",
        }
    }
}

/// A new revision's health still being judged by `rollbackOnFailure` after its operation
/// ended (Argo CD's operation does not wait for health; the rollback rule still does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthWatch {
    /// `revision:digest` whose health is judged.
    pub attempt: String,
    pub revision: String,
    /// When its operation ended: Progressing for longer than the health timeout fails it.
    pub since: Instant,
    /// The last good revision, where a failure goes back to (`rollbackOnFailure`).
    pub rollback_to: Option<String>,
}

/// What a reconcile saw.
#[derive(Debug, Clone)]
pub(crate) struct Observation<'a> {
    /// The commit the app's branch points at (differs from the rendered one when pinned).
    pub head: &'a str,
    /// `revision:digest` of the rendered set.
    pub attempt: &'a str,
    pub in_sync: bool,
    pub max_impact: Grade,
    /// The app's aggregated health (from the watch-fed cache).
    pub health: HealthStatus,
}

/// Durations the decision depends on (the controller's settings).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub self_heal_grace: Duration,
    pub health_timeout: Duration,
}

/// What happens to the drift clock (self-heal's grace counts from the first sighting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DriftClock {
    Keep,
    /// In sync again: the clock and the last recorded drift are forgotten.
    Clear,
    /// Drift seen for the first time now.
    Start(Instant),
}

/// A rollback `rollbackOnFailure` asks for after the health of a new revision failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthRollback {
    pub failed: String,
    pub to: String,
    pub why: String,
}

/// What the controller does after a reconcile's observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    release_pin: bool,
    sync: Option<Trigger>,
    /// Record the drift (one event per distinct drift); `Some(reason)` when heal is paused.
    record_drift: Option<Option<String>>,
    drift_clock: DriftClock,
    requeue_after: Option<Duration>,
    rollback: Option<HealthRollback>,
    /// The health watch is over (healthy, or judged).
    end_health_watch: bool,
    /// The watched deployment's verdict for the DORA figures (`true`: it became healthy).
    deployment_outcome: Option<bool>,
}

impl Decision {
    /// Save the status; nothing else.
    pub(crate) fn status_only() -> Self {
        Decision {
            release_pin: false,
            sync: None,
            record_drift: None,
            drift_clock: DriftClock::Keep,
            requeue_after: None,
            rollback: None,
            end_health_watch: false,
            deployment_outcome: None,
        }
    }

    /// A newer commit landed on a pinned app's branch: the rollback's hold ends.
    pub(crate) fn release_pin() -> Self {
        Decision {
            release_pin: true,
            ..Decision::status_only()
        }
    }

    /// Start a sync operation.
    pub(crate) fn sync(trigger: Trigger) -> Self {
        Decision {
            sync: Some(trigger),
            ..Decision::status_only()
        }
    }

    /// Roll back: the health of a new revision failed.
    pub(crate) fn roll_back(rollback: HealthRollback) -> Self {
        Decision {
            rollback: Some(rollback),
            end_health_watch: true,
            deployment_outcome: Some(false),
            ..Decision::status_only()
        }
    }

    fn with_drift(mut self, paused: Option<String>, clock: DriftClock) -> Self {
        self.record_drift = Some(paused);
        self.drift_clock = clock;
        self
    }

    fn requeue(mut self, after: Duration) -> Self {
        self.requeue_after = Some(self.requeue_after.map_or(after, |a| a.min(after)));
        self
    }

    pub(crate) fn releases_pin(&self) -> bool {
        self.release_pin
    }
    pub(crate) fn sync_trigger(&self) -> Option<Trigger> {
        self.sync
    }
    /// `Some(paused)` when drift is to be recorded (`paused`: why self-heal is paused).
    pub(crate) fn drift_to_record(&self) -> Option<Option<&str>> {
        self.record_drift.as_ref().map(|p| p.as_deref())
    }
    pub(crate) fn drift_clock(&self) -> DriftClock {
        self.drift_clock
    }
    pub(crate) fn requeue_after(&self) -> Option<Duration> {
        self.requeue_after
    }
    pub(crate) fn rollback(&self) -> Option<&HealthRollback> {
        self.rollback.as_ref()
    }
    pub(crate) fn ends_health_watch(&self) -> bool {
        self.end_health_watch
    }
    /// `Some(became_healthy)` when the watched deployment's verdict is in.
    pub(crate) fn deployment_outcome(&self) -> Option<bool> {
        self.deployment_outcome
    }
}

/// The decision for one reconcile of `state` after observing `obs` at `now`.
pub(crate) fn decide(state: &AppState, obs: &Observation, now: Instant, t: Timing) -> Decision {
    if state.pinned.as_ref().is_some_and(|p| obs.head != p.head) {
        return Decision::release_pin();
    }
    let mut d = Decision::status_only();
    if state.operation.is_none()
        && let Some(w) = &state.health_watch
    {
        match judge_health(w, obs, now, t) {
            Verdict::Healthy => {
                d.end_health_watch = true;
                d.deployment_outcome = Some(true);
            }
            Verdict::Failed(why) => match &w.rollback_to {
                Some(to) => {
                    return Decision::roll_back(HealthRollback {
                        failed: w.revision.clone(),
                        to: to.clone(),
                        why,
                    });
                }
                None => {
                    d.end_health_watch = true;
                    d.deployment_outcome = Some(false);
                }
            },
            Verdict::Wait(left) => d = d.requeue(left),
        }
    }
    let drifted = !obs.in_sync && state.last_good.as_deref() == Some(obs.attempt);
    let heeded = drifted
        && state.policy.drift != DriftAction::Ignore
        && obs.max_impact > state.policy.drift_tolerance;
    let paused = state
        .heal_paused
        .as_ref()
        .filter(|(until, _)| *until > now)
        .map(|(_, why)| why.clone());
    // One operation at a time: while it runs, reconciles report (status, drift) only.
    if state.operation.is_some() {
        if heeded {
            d = d.with_drift(paused, DriftClock::Keep);
        }
        return d;
    }
    if state.sync_requested.is_some() {
        let rolling_back = state.pinned.as_ref().is_some_and(|p| {
            !state
                .last_attempt
                .as_deref()
                .is_some_and(|a| a.starts_with(&format!("{}:", p.revision)))
        });
        let trigger = if rolling_back {
            Trigger::Rollback
        } else {
            Trigger::Manual
        };
        // The operation's end settles any health watch: its clock need not be kept.
        return Decision::sync(trigger);
    }
    if obs.in_sync {
        d.drift_clock = DriftClock::Clear;
        return d;
    }
    if heeded {
        let heal = state.policy.drift == DriftAction::Heal && paused.is_none();
        // The grace counts while healing is on: a pause's end gives an operator the grace.
        let clock = match state.drift_since {
            None if heal => DriftClock::Start(now),
            _ => DriftClock::Keep,
        };
        d = d.with_drift(paused, clock);
        if heal {
            let waited = now.saturating_duration_since(state.drift_since.unwrap_or(now));
            if waited >= t.self_heal_grace {
                d.sync = Some(Trigger::SelfHeal);
            } else {
                d = d.requeue(t.self_heal_grace - waited);
            }
        }
        return d;
    }
    if state.app.sync_policy.automated.is_some()
        && state.last_attempt.as_deref() != Some(obs.attempt)
    {
        d.sync = Some(Trigger::NewRevision);
    }
    d
}

enum Verdict {
    Healthy,
    Failed(String),
    Wait(Duration),
}

/// A watched revision's health: Degraded fails it at once, Progressing past the timeout
/// fails it, anything settled ends the watch.
fn judge_health(w: &HealthWatch, obs: &Observation, now: Instant, t: Timing) -> Verdict {
    let waited = now.saturating_duration_since(w.since);
    match obs.health {
        HealthStatus::Degraded => Verdict::Failed("its health is Degraded".into()),
        HealthStatus::Progressing | HealthStatus::Missing | HealthStatus::Unknown
            if waited >= t.health_timeout =>
        {
            Verdict::Failed(format!(
                "its health is still {} {}s after its sync ended",
                obs.health,
                waited.as_secs()
            ))
        }
        HealthStatus::Progressing | HealthStatus::Missing | HealthStatus::Unknown => {
            Verdict::Wait(t.health_timeout - waited)
        }
        HealthStatus::Healthy | HealthStatus::Suspended => Verdict::Healthy,
    }
}

/// What an ended operation leaves to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AfterOperation {
    Nothing,
    /// The sync of a new revision failed: back to this revision now (apply failure).
    RollBack {
        to: String,
    },
    /// A new revision's sync succeeded: its health is its verdict (see [`HealthWatch`]),
    /// and `rollbackOnFailure` goes back to `rollback_to` if it fails.
    WatchHealth {
        rollback_to: Option<String>,
    },
}

/// What follows an operation of `trigger` that ended (`succeeded`), `last_good` being the
/// `revision:digest` good before it.
pub(crate) fn after_operation(
    rollback_on_failure: bool,
    trigger: Trigger,
    succeeded: bool,
    last_good: Option<&str>,
) -> AfterOperation {
    if trigger != Trigger::NewRevision {
        return AfterOperation::Nothing;
    }
    // A local directory's past revisions are not kept: nothing to go back to.
    let good = last_good
        .and_then(|g| g.split_once(':'))
        .map(|(rev, _)| rev.to_string())
        .filter(|g| !g.starts_with("local") && rollback_on_failure);
    match (succeeded, good) {
        (true, rollback_to) => AfterOperation::WatchHealth { rollback_to },
        (false, Some(to)) => AfterOperation::RollBack { to },
        (false, None) => AfterOperation::Nothing,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
