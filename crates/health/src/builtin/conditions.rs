//! The generic rule for custom resources that follow the Kubernetes API conventions for
//! `status.conditions` (and kstatus, which Flux, Crossplane and most operators use):
//! `Stalled` True is Degraded; a spec the controller has not observed yet
//! (`observedGeneration` behind `generation`) or `Reconciling` True is Progressing; then the
//! first of `Ready`, `Available`, `Succeeded`, `Healthy` decides: True is Healthy, False is
//! Degraded (Progressing when its reason says work is under way), Unknown is Progressing.
//! `spec.suspend`/`spec.paused` set to true is Suspended. A custom resource with none of
//! these has no health, as in Argo CD.

use serde_json::Value;

use super::fields::{Cond, behind, cond, flag, generation_message, has_conditions};
use crate::{Health, HealthStatus as S};

/// The condition types that say "this object works", most telling first.
const POSITIVE: &[&str] = &["Ready", "Available", "Succeeded", "Healthy"];

/// Reasons on a False condition that mean "not yet" rather than "failed".
const UNDER_WAY: &[&str] = &[
    "Progressing",
    "Reconciling",
    "Creating",
    "Pending",
    "Provisioning",
    "Initializing",
    "Waiting",
    "InProgress",
    "Deploying",
    "Updating",
    "Running",
    "Started",
    "Starting",
    "Deleting",
];

/// The generic rule; `None` when the object follows none of the conventions.
pub(super) fn assess(obj: &Value) -> Option<Health> {
    if flag(obj, "/spec/suspend") || flag(obj, "/spec/paused") {
        return Some(Health::new(S::Suspended, "Reconciliation is suspended"));
    }
    if !has_conditions(obj) {
        return behind(obj, None).then(|| Health::new(S::Progressing, generation_message(obj)));
    }
    let decisive = POSITIVE.iter().find_map(|t| cond(obj, t));
    if let Some(h) = kstatus(obj, decisive) {
        return Some(h);
    }
    ["Failed", "Degraded"]
        .iter()
        .find_map(|t| cond(obj, t).filter(Cond::is_true))
        .map(|c| Health::new(S::Degraded, c.text()))
}

/// kstatus reading with `decisive` as the readiness condition; `None` when neither the
/// abnormal-true conditions nor `decisive` say anything.
pub(crate) fn kstatus(obj: &Value, decisive: Option<Cond<'_>>) -> Option<Health> {
    if let Some(stalled) = cond(obj, "Stalled").filter(Cond::is_true) {
        return Some(Health::new(S::Degraded, stalled.text()));
    }
    if behind(obj, decisive.as_ref()) {
        return Some(Health::new(S::Progressing, generation_message(obj)));
    }
    if let Some(reconciling) = cond(obj, "Reconciling").filter(Cond::is_true) {
        return Some(Health::new(S::Progressing, reconciling.text()));
    }
    let c = decisive?;
    Some(readiness(&c))
}

/// A readiness condition's verdict.
pub(crate) fn readiness(c: &Cond<'_>) -> Health {
    if c.is_true() {
        Health::new(S::Healthy, c.text())
    } else if c.is_false() && !UNDER_WAY.contains(&c.reason) {
        Health::new(S::Degraded, c.text())
    } else {
        Health::new(S::Progressing, c.text())
    }
}
