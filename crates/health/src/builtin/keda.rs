//! KEDA (`keda.sh` ScaledObject, ScaledJob), from its documented status: `Ready` says the
//! scaler works, `Active` whether it currently scales, `Fallback` True when the scaler
//! fails and the fallback replica count is in use, and `Paused` True when the
//! `autoscaling.keda.sh/paused` or `paused-replicas` annotation stopped autoscaling.
//! TriggerAuthentications have no status, hence no health.

use serde_json::Value;

use super::fields::{Cond, annotation, behind, cond, generation_message};
use crate::{Health, HealthStatus as S};

pub(super) fn check(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    if group != "keda.sh" || !matches!(kind, "ScaledObject" | "ScaledJob") {
        return None;
    }
    let paused_by_annotation = annotation(obj, "autoscaling.keda.sh/paused") == Some("true")
        || annotation(obj, "autoscaling.keda.sh/paused-replicas").is_some();
    if let Some(p) = cond(obj, "Paused").filter(Cond::is_true) {
        return Some(Health::new(S::Suspended, p.text()));
    }
    if paused_by_annotation {
        return Some(Health::new(S::Suspended, "Autoscaling is paused"));
    }
    let ready = cond(obj, "Ready");
    if behind(obj, ready.as_ref()) {
        return Some(Health::new(S::Progressing, generation_message(obj)));
    }
    if let Some(f) = cond(obj, "Fallback").filter(Cond::is_true) {
        return Some(Health::new(S::Degraded, f.text()));
    }
    Some(match ready {
        Some(r) if r.is_true() => Health::new(S::Healthy, r.text()),
        Some(r) if r.is_false() => Health::new(S::Degraded, r.text()),
        Some(r) => Health::new(S::Progressing, r.text()),
        None => Health::new(
            S::Progressing,
            format!("Waiting for KEDA to reconcile the {kind}"),
        ),
    })
}
