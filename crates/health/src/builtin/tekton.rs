//! Tekton (`tekton.dev` PipelineRun, TaskRun, CustomRun), from its documented status: a run
//! reports a `Succeeded` condition — Unknown while it runs (reasons Started, Running,
//! Pending), True when it succeeded, False when it failed, timed out or was cancelled. A
//! PipelineRun created with `spec.status: PipelineRunPending` waits to be started.
//! Tasks and Pipelines are definitions without health.

use serde_json::Value;

use super::fields::{cond, text};
use crate::{Health, HealthStatus as S};

pub(super) fn check(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    if group != "tekton.dev" || !matches!(kind, "PipelineRun" | "TaskRun" | "CustomRun") {
        return None;
    }
    let pending = matches!(
        text(obj, "/spec/status"),
        Some("PipelineRunPending" | "TaskRunPending")
    );
    let succeeded = cond(obj, "Succeeded");
    Some(match succeeded {
        Some(c) if c.is_true() => Health::new(S::Healthy, c.text()),
        Some(c) if c.is_false() => Health::new(S::Degraded, format!("{}: {}", c.reason, c.message)),
        _ if pending => Health::new(
            S::Suspended,
            format!("{kind} is pending: start it by clearing spec.status"),
        ),
        Some(c) => Health::new(S::Progressing, c.text()),
        None => Health::new(S::Progressing, format!("Waiting for the {kind} to start")),
    })
}
