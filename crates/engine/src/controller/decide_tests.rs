//! Table tests of [`decide`]: no runtime, no cluster, instants made by hand.

use std::time::Duration;

use driftless_core::app::{Application, Automated, DriftPolicy};
use driftless_diff::Grade;
use driftless_health::HealthStatus;
use tokio::time::Instant;

use super::super::operation::Running;
use super::super::{AppState, Pin};
use super::*;
use crate::policy::AppPolicy;

const T: Timing = Timing {
    self_heal_grace: Duration::from_secs(5),
    health_timeout: Duration::from_secs(300),
};

/// An app with automated sync (self-heal as asked), `drift` action and tolerance.
fn state(self_heal: bool, drift: Option<(&str, &str)>) -> AppState {
    let mut app = Application {
        name: "shop".into(),
        ..Default::default()
    };
    app.sync_policy.automated = Some(Automated {
        self_heal,
        ..Default::default()
    });
    app.drift = drift.map(|(action, tolerance)| DriftPolicy {
        action: action.into(),
        tolerance: tolerance.into(),
    });
    let policy = AppPolicy::of(&app, false).unwrap();
    AppState {
        last_attempt: Some("a:1".into()),
        last_good: Some("a:1".into()),
        ..AppState::new(app, policy)
    }
}

fn seen(attempt: &str, in_sync: bool, impact: Grade, health: HealthStatus) -> Observation<'_> {
    let revision = attempt.split_once(':').map_or(attempt, |(r, _)| r);
    Observation {
        head: revision,
        attempt,
        in_sync,
        max_impact: impact,
        health,
    }
}

fn running() -> Running {
    Running {
        id: 7,
        revision: "a".into(),
        attempt: "a:1".into(),
        trigger: Trigger::SelfHeal,
        started_ms: 0,
    }
}

#[test]
fn automated_sync_of_a_new_revision_once() {
    let now = Instant::now();
    let s = state(false, None);
    let d = decide(
        &s,
        &seen("b:2", false, Grade::Low, HealthStatus::Healthy),
        now,
        T,
    );
    assert_eq!(d.sync_trigger(), Some(Trigger::NewRevision));
    // Already attempted (a failed revision is not retried in a loop): nothing.
    let mut failed = state(false, None);
    failed.last_attempt = Some("b:2".into());
    let d = decide(
        &failed,
        &seen("b:2", false, Grade::Low, HealthStatus::Healthy),
        now,
        T,
    );
    assert_eq!(d, Decision::status_only());
    // Not automated: nothing either.
    let mut manual = state(false, None);
    manual.app.sync_policy.automated = None;
    let d = decide(
        &manual,
        &seen("b:2", false, Grade::Low, HealthStatus::Healthy),
        now,
        T,
    );
    assert_eq!(d.sync_trigger(), None);
}

#[test]
fn self_heal_waits_for_the_grace_then_heals() {
    let t0 = Instant::now();
    let mut s = state(true, None);
    let obs = seen("a:1", false, Grade::Medium, HealthStatus::Healthy);
    let d = decide(&s, &obs, t0, T);
    assert_eq!(d.drift_to_record(), Some(None));
    assert_eq!(d.drift_clock(), DriftClock::Start(t0));
    assert_eq!(d.sync_trigger(), None);
    assert_eq!(d.requeue_after(), Some(Duration::from_secs(5)));
    s.drift_since = Some(t0);
    let d = decide(&s, &obs, t0 + Duration::from_secs(2), T);
    assert_eq!(d.sync_trigger(), None);
    assert_eq!(d.requeue_after(), Some(Duration::from_secs(3)));
    let d = decide(&s, &obs, t0 + Duration::from_secs(5), T);
    assert_eq!(d.sync_trigger(), Some(Trigger::SelfHeal));
    // Back in sync: the clock is forgotten.
    let d = decide(
        &s,
        &seen("a:1", true, Grade::None, HealthStatus::Healthy),
        t0,
        T,
    );
    assert_eq!(d.drift_clock(), DriftClock::Clear);
    assert_eq!(d.sync_trigger(), None);
}

#[test]
fn a_paused_heal_records_drift_and_never_heals_until_the_pause_ends() {
    let t0 = Instant::now();
    let mut s = state(true, None);
    s.drift_since = Some(t0);
    s.heal_paused = Some((t0 + Duration::from_secs(60), "incident 42".into()));
    let obs = seen("a:1", false, Grade::High, HealthStatus::Healthy);
    let d = decide(&s, &obs, t0 + Duration::from_secs(30), T);
    assert_eq!(d.drift_to_record(), Some(Some("incident 42")));
    assert_eq!(d.sync_trigger(), None);
    let d = decide(&s, &obs, t0 + Duration::from_secs(61), T);
    assert_eq!(d.sync_trigger(), Some(Trigger::SelfHeal));
}

#[test]
fn drift_below_tolerance_or_ignored_or_alerted_is_never_healed() {
    let now = Instant::now();
    let obs_low = seen("a:1", false, Grade::Low, HealthStatus::Healthy);
    let tolerant = state(true, Some(("heal", "low")));
    assert_eq!(decide(&tolerant, &obs_low, now, T), Decision::status_only());
    let ignore = state(true, Some(("ignore", "")));
    assert_eq!(decide(&ignore, &obs_low, now, T), Decision::status_only());
    let mut alert = state(true, Some(("alert", "")));
    alert.drift_since = Some(now - Duration::from_secs(600));
    let d = decide(&alert, &obs_low, now, T);
    assert_eq!(d.drift_to_record(), Some(None));
    assert_eq!(d.sync_trigger(), None);
}

#[test]
fn a_user_request_syncs_and_a_pinned_request_is_a_rollback() {
    let now = Instant::now();
    let mut s = state(false, None);
    s.sync_requested = Some("alice".into());
    let obs = seen("a:1", true, Grade::None, HealthStatus::Healthy);
    assert_eq!(
        decide(&s, &obs, now, T).sync_trigger(),
        Some(Trigger::Manual)
    );
    s.pinned = Some(Pin {
        revision: "old".into(),
        head: "a".into(),
        actor: "alice".into(),
    });
    let obs = Observation {
        head: "a",
        attempt: "old:9",
        ..obs
    };
    assert_eq!(
        decide(&s, &obs, now, T).sync_trigger(),
        Some(Trigger::Rollback)
    );
    // Once synced to the pin, a request is a plain sync of it.
    s.last_attempt = Some("old:9".into());
    assert_eq!(
        decide(&s, &obs, now, T).sync_trigger(),
        Some(Trigger::Manual)
    );
}

#[test]
fn a_pin_holds_until_the_branch_moves() {
    let now = Instant::now();
    let mut s = state(false, None);
    s.pinned = Some(Pin {
        revision: "old".into(),
        head: "a".into(),
        actor: "alice".into(),
    });
    s.last_attempt = Some("old:9".into());
    s.last_good = Some("old:9".into());
    let held = Observation {
        head: "a",
        attempt: "old:9",
        in_sync: true,
        max_impact: Grade::None,
        health: HealthStatus::Healthy,
    };
    let d = decide(&s, &held, now, T);
    assert!(!d.releases_pin() && d.sync_trigger().is_none(), "{d:?}");
    let moved = Observation { head: "c", ..held };
    assert_eq!(decide(&s, &moved, now, T), Decision::release_pin());
}

#[test]
fn while_an_operation_runs_no_second_one_starts_and_drift_is_still_recorded() {
    let now = Instant::now();
    let mut s = state(true, None);
    s.operation = Some(running());
    s.drift_since = Some(now - Duration::from_secs(600));
    s.sync_requested = Some("alice".into());
    let drift = seen("a:1", false, Grade::High, HealthStatus::Progressing);
    let d = decide(&s, &drift, now, T);
    assert_eq!(d.sync_trigger(), None);
    assert_eq!(d.drift_to_record(), Some(None));
    let new = seen("b:2", false, Grade::High, HealthStatus::Progressing);
    assert_eq!(decide(&s, &new, now, T), Decision::status_only());
}

fn watched(since: Instant) -> AppState {
    let mut s = state(true, None);
    s.last_attempt = Some("b:2".into());
    s.last_good = Some("b:2".into());
    s.health_watch = Some(HealthWatch {
        attempt: "b:2".into(),
        revision: "b".into(),
        since,
        rollback_to: Some("a".into()),
    });
    s
}

#[test]
fn rollback_on_failure_acts_on_health_after_the_operation() {
    let t0 = Instant::now();
    let s = watched(t0);
    // Degraded: back at once.
    let d = decide(
        &s,
        &seen("b:2", true, Grade::None, HealthStatus::Degraded),
        t0,
        T,
    );
    let r = d.rollback().expect("rolls back");
    assert_eq!((r.failed.as_str(), r.to.as_str()), ("b", "a"));
    assert!(d.ends_health_watch());
    assert_eq!(d.sync_trigger(), None);
    // Progressing: wait until the timeout, then back.
    let slow = seen("b:2", true, Grade::None, HealthStatus::Progressing);
    let d = decide(&s, &slow, t0 + Duration::from_secs(100), T);
    assert_eq!(d.rollback(), None);
    assert_eq!(d.requeue_after(), Some(Duration::from_secs(200)));
    let d = decide(&s, &slow, t0 + Duration::from_secs(300), T);
    assert!(d.rollback().unwrap().why.contains("still Progressing 300s"));
    assert_eq!(d.deployment_outcome(), Some(false));
    // Healthy: the watch ends, the deployment counts as good, nothing else.
    let d = decide(
        &s,
        &seen("b:2", true, Grade::None, HealthStatus::Healthy),
        t0,
        T,
    );
    assert!(d.ends_health_watch() && d.rollback().is_none() && d.sync_trigger().is_none());
    assert_eq!(d.deployment_outcome(), Some(true));
    // Without rollbackOnFailure a failed health is recorded, never rolled back.
    let mut plain = watched(t0);
    plain.health_watch.as_mut().unwrap().rollback_to = None;
    let d = decide(
        &plain,
        &seen("b:2", true, Grade::None, HealthStatus::Degraded),
        t0,
        T,
    );
    assert!(d.ends_health_watch() && d.rollback().is_none());
    assert_eq!(d.deployment_outcome(), Some(false));
}

#[test]
fn a_slow_rollout_never_switches_self_heal_off() {
    // The new revision is Progressing (watched), and another object drifted: healed.
    let t0 = Instant::now();
    let mut s = watched(t0);
    s.drift_since = Some(t0);
    let d = decide(
        &s,
        &seen("b:2", false, Grade::Medium, HealthStatus::Progressing),
        t0 + Duration::from_secs(6),
        T,
    );
    assert_eq!(d.sync_trigger(), Some(Trigger::SelfHeal));
    assert_eq!(d.rollback(), None);
}

#[test]
fn rollback_on_failure_after_an_apply_failure_and_suppression() {
    use AfterOperation::*;
    let nr = Trigger::NewRevision;
    assert_eq!(
        after_operation(true, nr, false, Some("a:1")),
        RollBack { to: "a".into() }
    );
    assert_eq!(
        after_operation(true, nr, true, Some("a:1")),
        WatchHealth {
            rollback_to: Some("a".into())
        }
    );
    assert_eq!(
        after_operation(false, nr, true, Some("a:1")),
        WatchHealth { rollback_to: None }
    );
    assert_eq!(after_operation(false, nr, false, Some("a:1")), Nothing);
    assert_eq!(
        after_operation(true, Trigger::SelfHeal, false, Some("a:1")),
        Nothing
    );
    assert_eq!(after_operation(true, nr, false, None), Nothing);
    assert_eq!(after_operation(true, nr, false, Some("local:x:1")), Nothing);
    // The failed revision (attempted, not good) is not synced again.
    let mut s = state(true, None);
    s.last_attempt = Some("b:2".into());
    let d = decide(
        &s,
        &seen("b:2", false, Grade::High, HealthStatus::Degraded),
        Instant::now(),
        T,
    );
    assert_eq!(d, Decision::status_only());
}
