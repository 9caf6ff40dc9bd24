//! Flux (`*.toolkit.fluxcd.io`: Kustomization, HelmRelease, GitRepository, HelmRepository,
//! OCIRepository, Bucket, HelmChart, image automation and notification objects), from its
//! documented status: every reconciler follows kstatus — `spec.suspend` stops it, `Ready`
//! says whether the last reconciliation succeeded, `Reconciling` True while it works,
//! `Stalled` True when it gave up, and `status.observedGeneration` trails `generation`
//! until the controller has seen a change. A HelmRepository of type `oci` is static and
//! reports no conditions.

use serde_json::Value;

use super::conditions::kstatus;
use super::fields::{cond, flag, has_conditions, text};
use crate::{Health, HealthStatus as S};

pub(super) fn check(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    if !group.ends_with(".toolkit.fluxcd.io") {
        return None;
    }
    if flag(obj, "/spec/suspend") {
        return Some(Health::new(S::Suspended, format!("{kind} is suspended")));
    }
    if kind == "HelmRepository" && text(obj, "/spec/type") == Some("oci") && !has_conditions(obj) {
        return Some(Health::new(S::Healthy, "OCI Helm repository (static)"));
    }
    // Notification Providers and Alerts of recent Flux versions are static: no status.
    if obj.get("status").is_none() && matches!(kind, "Provider" | "Alert") {
        return None;
    }
    Some(
        kstatus(obj, cond(obj, "Ready")).unwrap_or_else(|| {
            Health::new(S::Progressing, "Waiting for the controller to reconcile")
        }),
    )
}
