//! Argo Workflows (`argoproj.io` Workflow, CronWorkflow), from its documented status — the
//! one custom resource gitops-engine itself checks: a Workflow's `status.phase` is Pending,
//! Running, Succeeded, Failed or Error (with `status.message`), and `spec.suspend` pauses
//! it; a CronWorkflow is suspended by `spec.suspend` and reports a `SpecError` condition
//! when its spec is invalid.

use serde_json::Value;

use super::fields::{Cond, cond, flag, text};
use crate::{Health, HealthStatus as S};

pub(super) fn check(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    match (group, kind) {
        ("argoproj.io", "Workflow") => Some(workflow(obj)),
        ("argoproj.io", "CronWorkflow") => Some(cron_workflow(obj)),
        _ => None,
    }
}

fn workflow(obj: &Value) -> Health {
    let message = text(obj, "/status/message").unwrap_or("");
    match text(obj, "/status/phase") {
        Some("Succeeded") => Health::new(S::Healthy, message),
        Some("Failed" | "Error") => Health::new(S::Degraded, message),
        _ if flag(obj, "/spec/suspend") => Health::new(S::Suspended, "Workflow is suspended"),
        _ => Health::new(S::Progressing, message),
    }
}

fn cron_workflow(obj: &Value) -> Health {
    if flag(obj, "/spec/suspend") {
        return Health::new(S::Suspended, "CronWorkflow is suspended");
    }
    if let Some(e) = cond(obj, "SpecError").filter(Cond::is_true) {
        return Health::new(S::Degraded, e.text());
    }
    Health::new(S::Healthy, "")
}
