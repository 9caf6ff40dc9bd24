//! Knative (`serving.knative.dev`, `eventing.knative.dev`, `messaging.knative.dev`,
//! `sources.knative.dev`, ...), from its documented status: every resource reports
//! `status.observedGeneration` and a `Ready` condition (True, False with the reason, or
//! Unknown while it reconciles); a Revision also reports `ContainerHealthy` and
//! `ResourcesAvailable`, False when its containers crash or cannot be scheduled.

use serde_json::Value;

use super::fields::{Cond, behind, cond, generation_message};
use crate::{Health, HealthStatus as S};

pub(super) fn check(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    if !group.ends_with(".knative.dev") {
        return None;
    }
    let ready = cond(obj, "Ready");
    if ready.is_none() && obj.get("status").is_none() {
        return Some(Health::new(
            S::Progressing,
            format!("Waiting for Knative to reconcile the {kind}"),
        ));
    }
    if behind(obj, ready.as_ref()) {
        return Some(Health::new(S::Progressing, generation_message(obj)));
    }
    if kind == "Revision" {
        for t in ["ContainerHealthy", "ResourcesAvailable"] {
            if let Some(c) = cond(obj, t).filter(Cond::is_false) {
                return Some(Health::new(S::Degraded, c.text()));
            }
        }
    }
    Some(match ready {
        Some(r) if r.is_true() => Health::new(S::Healthy, r.text()),
        Some(r) if r.is_false() => Health::new(S::Degraded, r.text()),
        Some(r) => Health::new(S::Progressing, r.text()),
        None => Health::new(S::Progressing, "Waiting for the Ready condition"),
    })
}
