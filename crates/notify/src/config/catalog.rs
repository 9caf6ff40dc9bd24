//! The built-in catalog: Argo CD's default trigger names (so annotations written for Argo CD
//! work as they are) and Driftless's own, with one template each.
//!
//! A well-known trigger name also fixes the engine events it listens to (`on-sync-succeeded`
//! listens to `sync-succeeded` only), even when a ConfigMap redefines its condition: that is what
//! keeps a `deployed` event (whose operation also succeeded) from firing `on-sync-succeeded` twice.

use serde_json::{Value, json};

use super::{NotifyConfig, RawTrigger, Trigger};

/// (trigger, events, when, oncePer, template)
const TRIGGERS: &[(&str, &str, &str, Option<&str>, &str)] = &[
    (
        "on-created",
        "app-created",
        "true",
        Some("app.metadata.name"),
        "app-created",
    ),
    (
        "on-deleted",
        "app-deleted",
        "app.metadata.deletionTimestamp != nil",
        Some("app.metadata.name"),
        "app-deleted",
    ),
    (
        "on-deployed",
        "deployed",
        "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Healthy'",
        Some("app.status.operationState?.syncResult?.revision"),
        "app-deployed",
    ),
    (
        "on-health-degraded",
        "health-degraded",
        "app.status.health.status == 'Degraded'",
        None,
        "app-health-degraded",
    ),
    (
        "on-sync-failed",
        "sync-failed",
        "app.status.operationState != nil and app.status.operationState.phase in ['Error', 'Failed']",
        None,
        "app-sync-failed",
    ),
    (
        "on-sync-running",
        "sync-running",
        "app.status.operationState != nil and app.status.operationState.phase in ['Running']",
        None,
        "app-sync-running",
    ),
    (
        "on-sync-status-unknown",
        "sync-status-unknown",
        "app.status.sync.status == 'Unknown'",
        None,
        "app-sync-status-unknown",
    ),
    (
        "on-sync-succeeded",
        "sync-succeeded",
        "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']",
        None,
        "app-sync-succeeded",
    ),
    (
        "on-drift-detected",
        "drift-detected",
        "true",
        Some("event.drift.episode"),
        "drift-detected",
    ),
    (
        "on-drift-healed",
        "drift-healed",
        "true",
        Some("event.drift.episode"),
        "drift-healed",
    ),
    ("on-heal-paused", "heal-paused", "true", None, "heal-paused"),
    ("on-rollback", "rollback", "true", None, "rollback"),
    (
        "on-repository-unreachable",
        "repository-unreachable",
        "true",
        None,
        "repository-unreachable",
    ),
    (
        "on-policy-denied",
        "policy-denied",
        "true",
        Some("event.revision"),
        "policy-denied",
    ),
    (
        "on-promotion-waiting-for-approval",
        "promotion",
        "event.stage == 'waiting-for-approval'",
        Some("event.promotion.id"),
        "promotion-waiting-for-approval",
    ),
    (
        "on-promotion-approved",
        "promotion",
        "event.stage == 'approved'",
        Some("event.promotion.id"),
        "promotion-approved",
    ),
    (
        "on-promotion-rejected",
        "promotion",
        "event.stage == 'rejected'",
        Some("event.promotion.id"),
        "promotion-rejected",
    ),
    (
        "on-promotion-expired",
        "promotion",
        "event.stage == 'expired'",
        Some("event.promotion.id"),
        "promotion-expired",
    ),
    (
        "on-promotion-landed",
        "promotion",
        "event.stage == 'landed'",
        Some("event.promotion.id"),
        "promotion-landed",
    ),
    (
        "on-promotion-failed",
        "promotion",
        "event.stage == 'failed'",
        Some("event.promotion.id"),
        "promotion-failed",
    ),
];

/// The events a well-known trigger name listens to (empty for custom names).
pub fn implicit_events(trigger: &str) -> &'static [&'static str] {
    for (name, event, ..) in TRIGGERS {
        if *name == trigger {
            return std::slice::from_ref(event);
        }
    }
    &[]
}

const APP: &str = "{{.app.metadata.name}}";
const LINK: &str = "{{.context.engineUrl}}/applications/{{.app.metadata.name}}";

/// (template, subject, message body)
fn templates() -> Vec<(&'static str, String, String)> {
    let op = "{{.app.status.operationState.syncResult.revision}}";
    vec![
        ("app-created", format!("Application {APP} has been created."), format!("Application {APP} has been created.\n{LINK}")),
        ("app-deleted", format!("Application {APP} has been deleted."), format!("Application {APP} has been deleted.")),
        ("app-deployed", format!("New version of {APP} is up and running."), format!("Application {APP} is now running revision {op}.\n{LINK}")),
        ("app-health-degraded", format!("Application {APP} has degraded."), format!("Application {APP} has degraded: {{{{.app.status.health.message}}}}\n{LINK}")),
        ("app-sync-failed", format!("Failed to sync application {APP}."), format!("The sync operation of application {APP} failed at {{{{.app.status.operationState.finishedAt}}}} with the error: {{{{.app.status.operationState.message}}}}\n{LINK}")),
        ("app-sync-running", format!("Start syncing application {APP}."), format!("The sync operation of application {APP} started at {{{{.app.status.operationState.startedAt}}}}.\n{LINK}")),
        ("app-sync-status-unknown", format!("Application {APP} sync status is 'Unknown'"), format!("Application {APP} sync is 'Unknown': {{{{.event.message}}}}\n{LINK}")),
        ("app-sync-succeeded", format!("Application {APP} has been successfully synced."), format!("Application {APP} has been successfully synced at {{{{.app.status.operationState.finishedAt}}}} to revision {op}.\n{LINK}")),
        ("drift-detected", format!("Drift detected in {APP} ({{{{.event.drift.grade}}}})"), format!("Drift ({{{{.event.drift.grade}}}}) detected in application {APP}{{{{with .event.environment}}}} ({{{{.}}}}){{{{end}}}}:\n{{{{range .event.drift.summary}}}}- {{{{.}}}}\n{{{{end}}}}{LINK}")),
        ("drift-healed", format!("Drift healed in {APP}"), format!("Drift in application {APP} has been healed{{{{if .event.bySelfHeal}}}} by self-heal{{{{end}}}}.\n{LINK}")),
        ("heal-paused", format!("Self-heal paused for {APP}"), format!("Self-heal of application {APP} is paused: {{{{.event.reason}}}}\n{LINK}")),
        ("rollback", format!("Application {APP} rolled back"), format!("Application {APP} was rolled back{{{{if .event.automatic}}}} automatically{{{{end}}}} from {{{{.event.from}}}} to {{{{.event.to}}}}: {{{{.event.reason}}}}\n{LINK}")),
        ("repository-unreachable", format!("Repository of {APP} is unreachable"), format!("Repository {{{{.event.repoUrl}}}} of application {APP} is unreachable: {{{{.event.error}}}}")),
        ("policy-denied", format!("Policy gate refused a revision of {APP}"), format!("Revision {{{{.event.revision}}}} of application {APP} was not synced: {{{{.event.message}}}}\n{LINK}")),
        ("promotion-waiting-for-approval", "Promotion {{.event.promotion.id}} waits for approval".into(), "Promotion {{.event.promotion.id}} of pipeline {{.event.promotion.pipeline}} from {{.event.promotion.from}} to {{.event.promotion.to}} waits for approval.".into()),
        ("promotion-approved", "Promotion {{.event.promotion.id}} approved".into(), "Promotion {{.event.promotion.id}} to {{.event.promotion.to}} was approved by {{.event.promotion.by}}.".into()),
        ("promotion-rejected", "Promotion {{.event.promotion.id}} rejected".into(), "Promotion {{.event.promotion.id}} to {{.event.promotion.to}} was rejected by {{.event.promotion.by}}: {{.event.promotion.message}}".into()),
        ("promotion-expired", "Promotion {{.event.promotion.id}} expired".into(), "Promotion {{.event.promotion.id}} to {{.event.promotion.to}} expired without approval.".into()),
        ("promotion-landed", "Promotion {{.event.promotion.id}} landed".into(), "Promotion {{.event.promotion.id}} landed in {{.event.promotion.to}} at revision {{.event.promotion.revision}}.".into()),
        ("promotion-failed", "Promotion {{.event.promotion.id}} failed".into(), "Promotion {{.event.promotion.id}} to {{.event.promotion.to}} failed: {{.event.promotion.message}}".into()),
    ]
}

/// The catalog as a configuration (no services, no default triggers).
pub fn builtin() -> NotifyConfig {
    let mut config = NotifyConfig::default();
    for (name, event, when, once_per, template) in TRIGGERS {
        let mut raw = json!({"when": when, "send": [template], "on": [event]});
        if let Some(once) = once_per {
            raw["oncePer"] = json!(once);
        }
        let raw: RawTrigger = serde_json::from_value(json!([raw])).expect("catalog trigger shape");
        let trigger = Trigger::from_raw(name, raw).expect("catalog triggers compile");
        config.triggers.insert((*name).to_owned(), trigger);
    }
    for (name, subject, message) in templates() {
        let state = match name {
            "app-deployed" | "app-sync-succeeded" => Some("success"),
            "app-sync-running" => Some("pending"),
            "app-sync-failed" => Some("failure"),
            _ => None,
        };
        let mut def: Value = json!({"message": message, "email": {"subject": subject}});
        if let Some(state) = state {
            def["github"] = json!({"status": {"state": state,
                "label": "continuous-delivery/{{.app.metadata.name}}", "targetURL": LINK}});
            def["gitlab"] = json!({"status": {"state": state,
                "name": "continuous-delivery/{{.app.metadata.name}}", "targetURL": LINK}});
        }
        config.templates.insert(name.to_owned(), def);
    }
    config
}

#[cfg(test)]
mod tests {
    #[test]
    fn catalog_is_consistent() {
        let config = super::builtin();
        config.validate("catalog").unwrap();
        for def in config.templates.values() {
            crate::template::check_tree(def, "").unwrap();
        }
        assert_eq!(config.triggers["on-deployed"].on, vec!["deployed"]);
    }
}
