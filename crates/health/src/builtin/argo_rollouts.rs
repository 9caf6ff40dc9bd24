//! Argo Rollouts (`argoproj.io`), from its documented status: a Rollout reports
//! `status.phase` (Healthy, Progressing, Paused, Degraded) with `status.message` once the
//! controller has observed its spec (`status.observedGeneration`, a string in older
//! versions); `spec.paused` or `status.pauseConditions` pause it, `status.abort` aborts it.
//! AnalysisRuns and Experiments report `status.phase` (Pending, Running, Successful,
//! Failed, Error, Inconclusive).

use serde_json::Value;

use super::fields::{flag, int, text};
use crate::{Health, HealthStatus as S};

pub(super) fn check(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    match (group, kind) {
        ("argoproj.io", "Rollout") => Some(rollout(obj)),
        ("argoproj.io", "AnalysisRun" | "Experiment") => Some(run(obj)),
        _ => None,
    }
}

fn observed(obj: &Value) -> Option<i64> {
    match obj.pointer("/status/observedGeneration")? {
        Value::String(s) => s.parse().ok(),
        v => v.as_i64(),
    }
}

fn rollout(obj: &Value) -> Health {
    let message = text(obj, "/status/message").unwrap_or("");
    if observed(obj).is_none_or(|g| g < int(obj, "/metadata/generation")) {
        return Health::new(
            S::Progressing,
            "Waiting for rollout spec update to be observed",
        );
    }
    if flag(obj, "/status/abort") {
        return Health::new(S::Degraded, format!("Rollout aborted: {message}"));
    }
    let pause_conditions = obj
        .pointer("/status/pauseConditions")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if flag(obj, "/spec/paused") || pause_conditions {
        return Health::new(
            S::Suspended,
            if message.is_empty() {
                "Rollout is paused"
            } else {
                message
            },
        );
    }
    match text(obj, "/status/phase") {
        Some("Healthy") => Health::new(S::Healthy, message),
        Some("Paused") => Health::new(S::Suspended, message),
        Some("Degraded") => Health::new(S::Degraded, message),
        Some(_) => Health::new(S::Progressing, message),
        None => Health::new(
            S::Progressing,
            "Waiting for the rollout to report its phase",
        ),
    }
}

fn run(obj: &Value) -> Health {
    let message = text(obj, "/status/message").unwrap_or("");
    match text(obj, "/status/phase") {
        Some("Successful") => Health::new(S::Healthy, message),
        Some("Failed" | "Error") => Health::new(S::Degraded, message),
        // Inconclusive waits for a human to decide, as a paused rollout does.
        Some("Inconclusive") => Health::new(S::Suspended, format!("Inconclusive: {message}")),
        _ => Health::new(S::Progressing, message),
    }
}
