//! Crossplane, from its documented status. Managed resources, composite resources (XRs)
//! and claims report `Synced` (the last reconcile with the external API or the composition
//! worked), `LastAsyncOperation` for providers that create asynchronously, and `Ready` (reasons Available, Creating, Deleting, Unavailable); the
//! `crossplane.io/paused` annotation stops reconciliation. Packages (`pkg.crossplane.io`
//! Provider, Configuration, Function) report `Installed` and `Healthy`; definitions
//! (`apiextensions.crossplane.io` XRDs) report `Established` and `Offered`.
//!
//! Managed resources live in provider groups (`*.crossplane.io`, `*.upbound.io`, ...), XRs
//! and claims in the user's own groups: besides those groups, an object with Crossplane's
//! spec fields (`compositionRef`, `resourceRef`, `crossplane`) is read as one.

use serde_json::Value;

use super::fields::{Cond, annotation, behind, cond, generation_message};
use crate::{Health, HealthStatus as S};

pub(super) fn check(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    if group == "pkg.crossplane.io" {
        return matches!(kind, "Provider" | "Configuration" | "Function").then(|| package(obj));
    }
    if group == "apiextensions.crossplane.io" {
        return (kind == "CompositeResourceDefinition").then(|| definition(obj));
    }
    let provider_group = group.ends_with(".crossplane.io") || group.ends_with(".upbound.io");
    let spec = obj.get("spec");
    let composite = [
        "compositionRef",
        "compositionSelector",
        "resourceRef",
        "crossplane",
    ]
    .iter()
    .any(|f| spec.and_then(|s| s.get(f)).is_some());
    if !(provider_group || composite) || group.starts_with("protection.") {
        return None;
    }
    // ProviderConfigs and the like carry no Synced/Ready: no health.
    if provider_group && !composite && cond(obj, "Synced").is_none() && cond(obj, "Ready").is_none()
    {
        if kind.ends_with("ProviderConfig") || kind.ends_with("ProviderConfigUsage") {
            return None;
        }
        return Some(Health::new(
            S::Progressing,
            "Waiting for the provider to reconcile",
        ));
    }
    Some(resource(obj))
}

fn resource(obj: &Value) -> Health {
    if annotation(obj, "crossplane.io/paused") == Some("true") {
        return Health::new(S::Suspended, "Reconciliation is paused");
    }
    let ready = cond(obj, "Ready");
    if behind(obj, ready.as_ref()) {
        return Health::new(S::Progressing, generation_message(obj));
    }
    // A failed asynchronous create/update/delete with the provider's API.
    for t in ["Synced", "LastAsyncOperation"] {
        if let Some(c) = cond(obj, t).filter(Cond::is_false) {
            return Health::new(S::Degraded, c.text());
        }
    }
    match ready {
        Some(r) if r.is_true() => Health::new(S::Healthy, r.text()),
        Some(r) if r.is_false() && r.reason == "Unavailable" => Health::new(S::Degraded, r.text()),
        Some(r) => Health::new(S::Progressing, r.text()),
        None => Health::new(S::Progressing, "Waiting for the resource to become ready"),
    }
}

fn package(obj: &Value) -> Health {
    let installed = cond(obj, "Installed");
    let healthy = cond(obj, "Healthy");
    if behind(obj, installed.as_ref()) {
        return Health::new(S::Progressing, generation_message(obj));
    }
    match (installed, healthy) {
        (Some(i), Some(h)) if i.is_true() && h.is_true() => Health::new(S::Healthy, h.text()),
        (_, Some(h)) if h.is_false() => Health::new(S::Degraded, h.text()),
        (Some(i), _) if i.is_false() => Health::new(S::Progressing, i.text()),
        (_, Some(h)) => Health::new(S::Progressing, h.text()),
        _ => Health::new(S::Progressing, "Waiting for the package to be installed"),
    }
}

fn definition(obj: &Value) -> Health {
    match (cond(obj, "Established"), cond(obj, "Offered")) {
        (Some(e), _) if e.is_false() => Health::new(S::Degraded, e.text()),
        (_, Some(o)) if o.is_false() => Health::new(S::Degraded, o.text()),
        (Some(e), _) if e.is_true() => Health::new(S::Healthy, e.text()),
        _ => Health::new(
            S::Progressing,
            "Waiting for the definition to be established",
        ),
    }
}
