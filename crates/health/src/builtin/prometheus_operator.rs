//! Prometheus Operator (`monitoring.coreos.com` Prometheus, PrometheusAgent, Alertmanager,
//! ThanosRuler), from its documented status: `spec.paused` stops reconciliation; the
//! `Available` condition is True when every replica is available, `Degraded` when some
//! are, False when none is; `Reconciled` False when the operator could not apply the
//! spec. ServiceMonitors, PodMonitors and rules carry no health.

use serde_json::Value;

use super::fields::{Cond, behind, cond, flag, generation_message};
use crate::{Health, HealthStatus as S};

pub(super) fn check(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    if group != "monitoring.coreos.com"
        || !matches!(
            kind,
            "Prometheus" | "PrometheusAgent" | "Alertmanager" | "ThanosRuler"
        )
    {
        return None;
    }
    if flag(obj, "/spec/paused") {
        return Some(Health::new(
            S::Suspended,
            format!("{kind} reconciliation is paused"),
        ));
    }
    let available = cond(obj, "Available");
    if behind(obj, available.as_ref()) {
        return Some(Health::new(S::Progressing, generation_message(obj)));
    }
    if let Some(r) = cond(obj, "Reconciled").filter(Cond::is_false) {
        return Some(Health::new(S::Degraded, r.text()));
    }
    Some(match available {
        Some(a) if a.is_true() => Health::new(S::Healthy, a.text()),
        Some(a) if a.status == "Degraded" => Health::new(S::Degraded, a.text()),
        // False: no replica available yet; that is how every rollout starts.
        Some(a) => Health::new(S::Progressing, a.text()),
        None => Health::new(
            S::Progressing,
            format!("Waiting for the operator to reconcile the {kind}"),
        ),
    })
}
