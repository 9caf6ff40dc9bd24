//! The native definition, for `--config`:
//!
//! ```yaml
//! apiVersion: driftless.dev/v1alpha1
//! kind: NotificationConfig
//! metadata: {name: default}
//! spec:
//!   context: {engineUrl: https://cd.example.com}
//!   services:
//!     slack: {type: slack, token: $slack-token}
//!     audit: {type: webhook, url: https://audit.example.com, hmac: {secret: $audit-key}}
//!   templates: {my-template: {message: "..."}}
//!   triggers: {on-my-trigger: [{when: "true", send: [my-template]}]}
//!   defaultTriggers: [on-sync-failed]
//!   subscriptions: [{recipients: ["slack:ops"], triggers: [on-sync-failed], selector: "env=prod"}]
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{
    ConfigError, DefaultSubscription, NotifyConfig, RawSubscription, RawTrigger, ServiceDef,
    ServiceKind, Trigger, parse_yaml,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    context: BTreeMap<String, String>,
    #[serde(default)]
    services: BTreeMap<String, Value>,
    #[serde(default)]
    templates: BTreeMap<String, Value>,
    #[serde(default)]
    triggers: BTreeMap<String, Value>,
    #[serde(default)]
    default_triggers: Vec<String>,
    #[serde(default)]
    default_triggers_by_service: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    subscriptions: Vec<RawSubscription>,
}

/// Parses a `NotificationConfig` document, over the built-in catalog.
pub fn parse(yaml: &str, source: &str) -> Result<NotifyConfig, ConfigError> {
    let doc = parse_yaml(yaml, source, "(document)")?;
    let api = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    if api != "driftless.dev/v1alpha1" || kind != "NotificationConfig" {
        return Err(ConfigError::new(
            source,
            "apiVersion/kind",
            format!("expected driftless.dev/v1alpha1 NotificationConfig, found {api} {kind}"),
        ));
    }
    let spec: Spec = serde_json::from_value(doc.get("spec").cloned().unwrap_or(Value::Null))
        .map_err(|e| ConfigError::new(source, "spec", e.to_string()))?;
    let mut config = NotifyConfig::builtin();
    config.context = spec.context;
    for (name, mut settings) in spec.services {
        let key = format!("spec.services.{name}");
        let kind = settings
            .as_object_mut()
            .and_then(|m| m.remove("type"))
            .and_then(|t| t.as_str().and_then(ServiceKind::parse))
            .ok_or_else(|| {
                ConfigError::new(source, &key, "`type` must be one of slack, teams, webhook, email, github, gitlab, alertmanager")
            })?;
        config.services.insert(
            name.clone(),
            ServiceDef {
                name,
                kind,
                settings,
            },
        );
    }
    for (name, def) in spec.templates {
        let key = format!("spec.templates.{name}");
        if !def.is_object() {
            return Err(ConfigError::new(source, &key, "a template is a map"));
        }
        crate::template::check_tree(&def, "").map_err(|e| ConfigError::new(source, &key, e))?;
        config.templates.insert(name, def);
    }
    for (name, raw) in spec.triggers {
        let key = format!("spec.triggers.{name}");
        let raw: RawTrigger = serde_json::from_value(raw)
            .map_err(|e| ConfigError::new(source, &key, e.to_string()))?;
        let trigger =
            Trigger::from_raw(&name, raw).map_err(|e| ConfigError::new(source, &key, e))?;
        config.triggers.insert(name, trigger);
    }
    config.default_triggers = spec.default_triggers;
    config.default_triggers_by_service = spec.default_triggers_by_service;
    for (i, raw) in spec.subscriptions.into_iter().enumerate() {
        let sub = DefaultSubscription::from_raw(raw)
            .map_err(|e| ConfigError::new(source, &format!("spec.subscriptions[{i}]"), e))?;
        config.subscriptions.push(sub);
    }
    config.validate(source)?;
    Ok(config)
}
