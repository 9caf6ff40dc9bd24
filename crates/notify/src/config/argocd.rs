//! Reading an `argocd-notifications-cm` ConfigMap (and its `argocd-notifications-secret`) as
//! Argo CD users already have them.
//!
//! Keys understood: `context`, `defaultTriggers`, `defaultTriggers.<service>`, `service.<type>`,
//! `service.<type>.<name>`, `template.<name>`, `trigger.<name>`, `subscriptions`. Other keys are
//! ignored, as Argo CD does. Definitions are merged over the built-in catalog, so a ConfigMap
//! that redefines `trigger.on-sync-succeeded` (as Argo's catalog install does) replaces it.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use super::{
    ConfigError, DefaultSubscription, NotifyConfig, RawSubscription, RawTrigger, ServiceDef,
    ServiceKind, Trigger, parse_yaml,
};
use crate::secret::StaticSecrets;

/// Parses a ConfigMap manifest (YAML) named `source` in errors.
pub fn parse_configmap(yaml: &str, source: &str) -> Result<NotifyConfig, ConfigError> {
    let manifest = parse_yaml(yaml, source, "(document)")?;
    let data = manifest
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| ConfigError::new(source, "data", "the ConfigMap has no `data` map"))?;
    let mut entries = BTreeMap::new();
    for (key, value) in data {
        let text = value.as_str().ok_or_else(|| {
            ConfigError::new(
                source,
                &format!("data.{key}"),
                "ConfigMap values must be strings",
            )
        })?;
        entries.insert(key.clone(), text.to_owned());
    }
    from_entries(&entries, source)
}

/// Builds the configuration from ConfigMap `data` entries, over the built-in catalog.
pub fn from_entries(
    entries: &BTreeMap<String, String>,
    source: &str,
) -> Result<NotifyConfig, ConfigError> {
    let mut config = NotifyConfig::builtin();
    for (key, text) in entries {
        let err = |m: String| ConfigError::new(source, key, m);
        if key == "context" {
            config.context = serde_json::from_value(parse_yaml(text, source, key)?)
                .map_err(|e| err(format!("expected a map of strings: {e}")))?;
        } else if key == "defaultTriggers" {
            config.default_triggers = string_list(text, source, key)?;
        } else if let Some(service) = key.strip_prefix("defaultTriggers.") {
            config
                .default_triggers_by_service
                .insert(service.into(), string_list(text, source, key)?);
        } else if let Some(rest) = key.strip_prefix("service.") {
            let def = service_def(rest, parse_yaml(text, source, key)?).map_err(err)?;
            config.services.insert(def.name.clone(), def);
        } else if let Some(name) = key.strip_prefix("template.") {
            let def = parse_yaml(text, source, key)?;
            if !def.is_object() {
                return Err(err(
                    "a template is a map (`message`, `slack`, `email`, ...)".into(),
                ));
            }
            crate::template::check_tree(&def, "").map_err(err)?;
            config.templates.insert(name.to_owned(), def);
        } else if let Some(name) = key.strip_prefix("trigger.") {
            let raw: RawTrigger = serde_json::from_value(parse_yaml(text, source, key)?)
                .map_err(|e| err(format!("expected a list of {{when, send, oncePer}}: {e}")))?;
            config
                .triggers
                .insert(name.to_owned(), Trigger::from_raw(name, raw).map_err(err)?);
        } else if key == "subscriptions" {
            let raws: Vec<RawSubscription> = serde_json::from_value(parse_yaml(text, source, key)?)
                .map_err(|e| {
                    err(format!(
                        "expected a list of {{recipients, triggers, selector}}: {e}"
                    ))
                })?;
            for raw in raws {
                config
                    .subscriptions
                    .push(DefaultSubscription::from_raw(raw).map_err(err)?);
            }
        } else {
            tracing::debug!(source, key, "ignoring unknown notifications ConfigMap key");
        }
    }
    config.validate(source)?;
    Ok(config)
}

/// `service.slack` is the service `slack`; `service.webhook.github` is the webhook `github`.
fn service_def(rest: &str, settings: Value) -> Result<ServiceDef, String> {
    let (kind, name) = match rest.split_once('.') {
        Some((kind, name)) => (kind, name),
        None => (rest, rest),
    };
    let kind = ServiceKind::parse(kind).ok_or_else(|| {
        format!("service type `{kind}` is not supported (slack, teams, webhook, email, github, gitlab, alertmanager)")
    })?;
    if !settings.is_object() {
        return Err("service settings must be a map".into());
    }
    Ok(ServiceDef {
        name: name.to_owned(),
        kind,
        settings,
    })
}

fn string_list(text: &str, source: &str, key: &str) -> Result<Vec<String>, ConfigError> {
    serde_json::from_value(parse_yaml(text, source, key)?)
        .map_err(|e| ConfigError::new(source, key, format!("expected a list of names: {e}")))
}

/// Reads an `argocd-notifications-secret` manifest: `data` (base64) and `stringData`.
pub fn parse_secret(yaml: &str, source: &str) -> Result<StaticSecrets, ConfigError> {
    let manifest = parse_yaml(yaml, source, "(document)")?;
    let mut pairs = Vec::new();
    if let Some(data) = manifest.get("data").and_then(Value::as_object) {
        for (key, value) in data {
            let decoded = value
                .as_str()
                .and_then(|v| {
                    base64::engine::general_purpose::STANDARD
                        .decode(v.trim())
                        .ok()
                })
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    ConfigError::new(source, &format!("data.{key}"), "not base64-encoded UTF-8")
                })?;
            pairs.push((key.clone(), decoded));
        }
    }
    if let Some(data) = manifest.get("stringData").and_then(Value::as_object) {
        for (key, value) in data {
            let text = value.as_str().ok_or_else(|| {
                ConfigError::new(source, &format!("stringData.{key}"), "must be a string")
            })?;
            pairs.push((key.clone(), text.to_owned()));
        }
    }
    Ok(StaticSecrets::new(pairs))
}
