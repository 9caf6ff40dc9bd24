//! [`Assessor`]: the health of one live object, in Argo CD's order (gitops-engine
//! `GetResourceHealth`): an absent object is Missing and one being deleted is Progressing
//! ("Pending deletion") whatever its kind, unless Argo CD's hook finalizer holds it; then the Lua check for its kind, if any (a
//! failing script makes this object Unknown with the error, nothing more); then the
//! built-in checks. `None` means the kind has no health (a ConfigMap, a Role): Argo CD
//! shows nothing and leaves it out of the application's aggregate.

use serde_json::Value;

use crate::config::HealthChecks;
use crate::lua::LuaCheck;
use crate::{Health, HealthSource, HealthStatus, builtin};

/// Built-in checks plus configured Lua checks.
#[derive(Debug, Clone, Default)]
pub struct Assessor {
    checks: HealthChecks,
}

impl Assessor {
    /// Built-in checks plus `custom`, as native checks in this order.
    pub fn new(custom: Vec<LuaCheck>) -> Self {
        let mut checks = HealthChecks::default();
        checks.add_checks(custom);
        Assessor { checks }
    }

    /// Built-in checks plus Lua checks from any of the configuration forms.
    pub fn with_checks(checks: HealthChecks) -> Self {
        Assessor { checks }
    }

    pub fn checks(&self) -> &HealthChecks {
        &self.checks
    }

    /// Health of a live object (`None` = absent → Missing); `None` for kinds without health.
    /// Every health says which check produced it.
    pub fn assess(&self, live: Option<&Value>) -> Option<Health> {
        let Some(obj) = live else {
            return Some(
                Health::new(HealthStatus::Missing, "not found in the cluster")
                    .from_check(HealthSource::Lifecycle),
            );
        };
        if obj
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null())
            && !has_hook_finalizer(obj)
        {
            return Some(
                Health::new(HealthStatus::Progressing, "Pending deletion")
                    .from_check(HealthSource::Lifecycle),
            );
        }
        let (group, kind) = group_kind(obj);
        if let Some(check) = self.checks.find(group, kind) {
            let source = HealthSource::Lua {
                selector: check.selector.clone(),
                origin: check.origin.clone(),
            };
            return match check.run(obj) {
                Ok(h) => h.map(|h| h.from_check(source)),
                Err(e) => {
                    Some(Health::new(HealthStatus::Unknown, e.to_string()).from_check(source))
                }
            };
        }
        builtin::assess(group, kind, obj)
    }
}

/// A hook Argo CD holds with its finalizer until it has read the outcome: being deleted is
/// not its health (gitops-engine's `HasHookFinalizer`).
fn has_hook_finalizer(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| {
            f.iter()
                .any(|f| f.as_str() == Some("argocd.argoproj.io/hook-finalizer"))
        })
}

fn group_kind(obj: &Value) -> (&str, &str) {
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api.split_once('/').map(|(g, _)| g).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    (group, kind)
}
