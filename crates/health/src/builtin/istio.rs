//! Istio, where it has status. The IstioOperator (`install.istio.io`) reports
//! `status.status` (HEALTHY, RECONCILING, UPDATING, ERROR, ACTION_REQUIRED); the Sail
//! operator's resources (`sailoperator.io`) follow the `Ready` condition convention.
//! Configuration resources (`networking.istio.io`, `security.istio.io`, ...) carry a status
//! only when istiod writes one: `validationMessages` at level ERROR mean the config is
//! broken, and the `Reconciled` condition says whether every proxy has it. Without any of
//! that they have no health.

use serde_json::Value;

use super::conditions::kstatus;
use super::fields::{cond, text};
use crate::{Health, HealthStatus as S};

pub(super) fn check(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    if group == "install.istio.io" && kind == "IstioOperator" {
        return Some(operator(obj));
    }
    if group == "sailoperator.io" {
        return Some(kstatus(obj, cond(obj, "Ready")).unwrap_or_else(|| {
            Health::new(
                S::Progressing,
                format!("Waiting for the operator to reconcile the {kind}"),
            )
        }));
    }
    if !group.ends_with(".istio.io") {
        return None;
    }
    let errors: Vec<&str> = obj
        .pointer("/status/validationMessages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| text(m, "/level") == Some("ERROR"))
        .map(|m| {
            text(m, "/type/code")
                .or(text(m, "/documentation_url"))
                .unwrap_or("ERROR")
        })
        .collect();
    if !errors.is_empty() {
        return Some(Health::new(
            S::Degraded,
            format!("Validation errors: {}", errors.join(", ")),
        ));
    }
    let reconciled = cond(obj, "Reconciled")?;
    Some(if reconciled.is_true() {
        Health::new(S::Healthy, reconciled.text())
    } else {
        Health::new(S::Progressing, reconciled.text())
    })
}

fn operator(obj: &Value) -> Health {
    match text(obj, "/status/status") {
        Some("HEALTHY") => Health::new(S::Healthy, ""),
        Some(s @ ("ERROR" | "ACTION_REQUIRED")) => Health::new(S::Degraded, istio_message(obj, s)),
        Some(s) => Health::new(S::Progressing, istio_message(obj, s)),
        None => Health::new(S::Progressing, "Waiting for the operator to install Istio"),
    }
}

/// The overall state plus the components that are not healthy.
fn istio_message(obj: &Value, state: &str) -> String {
    let bad: Vec<String> = obj
        .pointer("/status/componentStatus")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(name, c)| {
            let s = text(c, "/status")?;
            (s != "HEALTHY").then(|| format!("{name} {s}"))
        })
        .collect();
    if bad.is_empty() {
        state.to_string()
    } else {
        format!("{state}: {}", bad.join(", "))
    }
}
