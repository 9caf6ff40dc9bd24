//! sealed-secrets (`bitnami.com` SealedSecret), from its documented status: the controller
//! records `status.observedGeneration` and a `Synced` condition — True once it unsealed the
//! Secret, False with the reason (no key could decrypt it, the Secret exists and is not
//! managed by it, ...) otherwise.

use serde_json::Value;

use super::fields::{behind, cond, generation_message};
use crate::{Health, HealthStatus as S};

pub(super) fn check(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    if (group, kind) != ("bitnami.com", "SealedSecret") {
        return None;
    }
    let synced = cond(obj, "Synced");
    if behind(obj, synced.as_ref()) {
        return Some(Health::new(S::Progressing, generation_message(obj)));
    }
    Some(match synced {
        Some(s) if s.is_true() => Health::new(S::Healthy, s.text()),
        Some(s) if s.is_false() => Health::new(S::Degraded, s.text()),
        Some(s) => Health::new(S::Progressing, s.text()),
        None => Health::new(
            S::Progressing,
            "Waiting for the controller to unseal the secret",
        ),
    })
}
