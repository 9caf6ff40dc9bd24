//! CloudNativePG (`postgresql.cnpg.io`), from its documented status: a Cluster reports a
//! human-readable `status.phase` ("Cluster in healthy state", "Setting up primary",
//! "Switchover in progress", ..., and failure phases that need a human), a `Ready`
//! condition, and is hibernated by the `cnpg.io/hibernation: "on"` annotation. Backups
//! report `status.phase` (pending, started, running, completed, failed); a
//! ScheduledBackup can be suspended.

use serde_json::Value;

use super::fields::{behind, cond, flag, generation_message, text};
use crate::{Health, HealthStatus as S};

/// Cluster phases that will not resolve without a human (the operator's failure phases).
const STUCK: &[&str] = &[
    "unrecoverable",
    "Waiting for user action",
    "Unable to create required cluster objects",
    "cannot proceed",
    "cannot select an image",
    "cannot execute instance online upgrade",
    "Not enough disk space",
];

pub(super) fn check(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    if group != "postgresql.cnpg.io" {
        return None;
    }
    match kind {
        "Cluster" => Some(cluster(obj)),
        "Backup" => Some(backup(obj)),
        "ScheduledBackup" => flag(obj, "/spec/suspend")
            .then(|| Health::new(S::Suspended, "Scheduled backups are suspended")),
        _ => None,
    }
}

fn cluster(obj: &Value) -> Health {
    let hibernated = cond(obj, "cnpg.io/hibernated").is_some_and(|c| c.is_true());
    if hibernated || super::fields::annotation(obj, "cnpg.io/hibernation") == Some("on") {
        return Health::new(S::Suspended, "Cluster is hibernated");
    }
    if behind(obj, None) {
        return Health::new(S::Progressing, generation_message(obj));
    }
    let phase = text(obj, "/status/phase").unwrap_or("");
    let reason = text(obj, "/status/phaseReason").unwrap_or("");
    let message = if reason.is_empty() {
        phase.to_string()
    } else {
        format!("{phase}: {reason}")
    };
    if phase == "Cluster in healthy state" {
        return Health::new(S::Healthy, message);
    }
    if STUCK.iter().any(|p| phase.contains(p)) {
        return Health::new(S::Degraded, message);
    }
    if phase.is_empty() {
        return Health::new(
            S::Progressing,
            "Waiting for the operator to set up the cluster",
        );
    }
    Health::new(S::Progressing, message)
}

fn backup(obj: &Value) -> Health {
    let error = text(obj, "/status/error").unwrap_or("");
    match text(obj, "/status/phase") {
        Some("completed") => Health::new(S::Healthy, "Backup completed"),
        Some("failed") => Health::new(S::Degraded, format!("Backup failed: {error}")),
        Some(phase) => Health::new(S::Progressing, format!("Backup {phase}")),
        None => Health::new(S::Progressing, "Waiting for the backup to start"),
    }
}
