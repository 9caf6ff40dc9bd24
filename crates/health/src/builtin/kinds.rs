//! The other core kinds: Job, CronJob, Service, Ingress, PVC, HPA, APIService, CRD and
//! Namespace, with gitops-engine's semantics where it has them.

use serde_json::Value;

use super::fields::{cond_is, cond_message, condition, text};
use crate::{Health, HealthStatus as S};

pub(super) fn job(j: &Value) -> Health {
    if cond_is(j, "Failed", "True") {
        return Health::new(S::Degraded, cond_message(j, "Failed"));
    }
    if cond_is(j, "Complete", "True") {
        return Health::new(S::Healthy, cond_message(j, "Complete"));
    }
    if j.pointer("/spec/suspend") == Some(&Value::Bool(true)) {
        return Health::new(S::Suspended, "Job is suspended");
    }
    Health::new(S::Progressing, "Job is running")
}

pub(super) fn cron_job(c: &Value) -> Health {
    if c.pointer("/spec/suspend") == Some(&Value::Bool(true)) {
        return Health::new(S::Suspended, "CronJob is suspended");
    }
    Health::healthy()
}

fn has_ingress(obj: &Value) -> bool {
    obj.pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

pub(super) fn service(s: &Value) -> Health {
    if text(s, "/spec/type") == Some("LoadBalancer") && !has_ingress(s) {
        return Health::new(
            S::Progressing,
            "Waiting for the load balancer to get an address",
        );
    }
    Health::healthy()
}

pub(super) fn ingress(i: &Value) -> Health {
    if !has_ingress(i) {
        return Health::new(
            S::Progressing,
            "Waiting for the ingress controller to publish an address",
        );
    }
    Health::healthy()
}

pub(super) fn pvc(p: &Value) -> Health {
    match text(p, "/status/phase") {
        Some("Bound") => Health::healthy(),
        Some("Lost") => Health::new(S::Degraded, "the claim lost its volume"),
        _ => Health::new(S::Progressing, "Waiting for the claim to be bound"),
    }
}

pub(super) fn hpa(h: &Value) -> Health {
    for (kind, bad) in [("AbleToScale", "False"), ("ScalingActive", "False")] {
        if let Some(c) = condition(h, kind)
            && c.get("status").and_then(Value::as_str) == Some(bad)
        {
            let reason = c.get("reason").and_then(Value::as_str).unwrap_or("");
            // ScalingDisabled is a choice (replicas 0), not a failure.
            if reason != "ScalingDisabled" {
                return Health::new(S::Degraded, cond_message(h, kind));
            }
        }
    }
    if h.get("status").is_none() {
        return Health::new(S::Progressing, "Waiting to autoscale");
    }
    Health::healthy()
}

pub(super) fn api_service(a: &Value) -> Health {
    if cond_is(a, "Available", "True") {
        return Health::healthy();
    }
    Health::new(S::Progressing, cond_message(a, "Available"))
}

pub(super) fn crd(c: &Value) -> Health {
    if cond_is(c, "NamesAccepted", "False") {
        return Health::new(S::Degraded, cond_message(c, "NamesAccepted"));
    }
    if cond_is(c, "Established", "True") {
        return Health::healthy();
    }
    Health::new(S::Progressing, "Waiting for the CRD to be established")
}

pub(super) fn namespace(n: &Value) -> Health {
    match text(n, "/status/phase") {
        Some("Terminating") => Health::new(S::Progressing, "Namespace is terminating"),
        _ => Health::healthy(),
    }
}
