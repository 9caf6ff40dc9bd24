//! external-secrets (`external-secrets.io`), from its documented status: ExternalSecret,
//! ClusterExternalSecret, PushSecret, SecretStore and ClusterSecretStore report a `Ready`
//! condition (reasons such as SecretSynced / SecretSyncedError, Valid / InvalidProviderConfig,
//! ValidationFailed); a store or secret without it has not been reconciled yet. An
//! ExternalSecret whose `refreshInterval` is `0` syncs once and is then left alone.

use serde_json::Value;

use super::fields::{behind, cond, generation_message};
use crate::{Health, HealthStatus as S};

pub(super) fn check(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    if group != "external-secrets.io" && group != "generators.external-secrets.io" {
        return None;
    }
    if !matches!(
        kind,
        "ExternalSecret"
            | "ClusterExternalSecret"
            | "PushSecret"
            | "SecretStore"
            | "ClusterSecretStore"
    ) {
        return None;
    }
    let ready = cond(obj, "Ready");
    if behind(obj, ready.as_ref()) {
        return Some(Health::new(S::Progressing, generation_message(obj)));
    }
    Some(match ready {
        Some(r) if r.is_true() => Health::new(S::Healthy, r.text()),
        Some(r) if r.is_false() => Health::new(S::Degraded, r.text()),
        Some(r) => Health::new(S::Progressing, r.text()),
        None => Health::new(
            S::Progressing,
            format!("Waiting for the {kind} to be reconciled"),
        ),
    })
}
