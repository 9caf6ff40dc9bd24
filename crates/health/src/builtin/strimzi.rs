//! Strimzi (`kafka.strimzi.io`, `core.strimzi.io`), from its documented status: every
//! custom resource reports `status.observedGeneration` and one of `Ready` True or
//! `NotReady` True (reason `Creating` while it comes up, otherwise the error's name and
//! message); `ReconciliationPaused` True when the `strimzi.io/pause-reconciliation`
//! annotation stopped the operator. A KafkaConnector can be paused or stopped through
//! `spec.state`; a KafkaRebalance's condition type is its state (PendingProposal,
//! ProposalReady, Rebalancing, Ready, NotReady, Stopped).

use serde_json::Value;

use super::fields::{Cond, annotation, behind, cond, generation_message, text};
use crate::{Health, HealthStatus as S};

pub(super) fn check(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    if group != "kafka.strimzi.io" && group != "core.strimzi.io" {
        return None;
    }
    if let Some(p) = cond(obj, "ReconciliationPaused").filter(Cond::is_true) {
        return Some(Health::new(S::Suspended, p.text()));
    }
    if annotation(obj, "strimzi.io/pause-reconciliation") == Some("true") {
        return Some(Health::new(S::Suspended, "Reconciliation is paused"));
    }
    if kind == "KafkaConnector"
        && (matches!(text(obj, "/spec/state"), Some("paused" | "stopped"))
            || super::fields::flag(obj, "/spec/pause"))
    {
        return Some(Health::new(S::Suspended, "Connector is paused or stopped"));
    }
    if behind(obj, None) {
        return Some(Health::new(S::Progressing, generation_message(obj)));
    }
    if kind == "KafkaRebalance" {
        return Some(rebalance(obj));
    }
    if let Some(r) = cond(obj, "Ready") {
        return Some(if r.is_true() {
            Health::new(S::Healthy, r.text())
        } else if r.is_false() {
            Health::new(S::Degraded, r.text())
        } else {
            Health::new(S::Progressing, r.text())
        });
    }
    Some(match cond(obj, "NotReady").filter(Cond::is_true) {
        Some(n) if n.reason == "Creating" || n.reason.is_empty() => {
            Health::new(S::Progressing, n.text())
        }
        Some(n) => Health::new(S::Degraded, format!("{}: {}", n.reason, n.message)),
        None => Health::new(
            S::Progressing,
            format!("Waiting for Strimzi to reconcile the {kind}"),
        ),
    })
}

fn rebalance(obj: &Value) -> Health {
    let state = |t: &str| cond(obj, t).filter(Cond::is_true);
    if let Some(c) = state("Ready") {
        return Health::new(S::Healthy, c.text());
    }
    if let Some(c) = state("NotReady") {
        return Health::new(S::Degraded, c.text());
    }
    if state("ProposalReady").is_some() {
        return Health::new(
            S::Suspended,
            "Optimization proposal ready: waiting for approval",
        );
    }
    if state("Stopped").is_some() {
        return Health::new(S::Suspended, "Rebalance stopped");
    }
    Health::new(S::Progressing, "Rebalance in progress")
}
