//! Notification configuration: triggers, templates, services, default triggers and default
//! subscriptions, loaded from an `argocd-notifications-cm`-style ConfigMap ([`argocd`]) or a
//! native `driftless.dev/v1alpha1 NotificationConfig` ([`native`]), over the built-in catalog
//! ([`catalog`]).
//!
//! Everything here comes from Git or an operator and is untrusted: every condition and template
//! is compiled at load time and errors name the key at fault.

pub mod argocd;
pub mod catalog;
pub mod native;

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::condition::Condition;
use crate::subscription::Selector;

/// A configuration error: which source and key, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {key}: {message}")]
pub struct ConfigError {
    pub source_name: String,
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(source: &str, key: &str, message: impl Into<String>) -> Self {
        Self {
            source_name: source.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

/// One `when:` of a trigger, with what it sends.
#[derive(Clone, Debug)]
pub struct TriggerCondition {
    pub description: String,
    pub when: Condition,
    pub once_per: Option<Condition>,
    /// Template names.
    pub send: Vec<String>,
}

/// A named trigger: its conditions, and which engine events it listens to.
#[derive(Clone, Debug)]
pub struct Trigger {
    pub name: String,
    /// Event type names (`sync-succeeded`, ...). Empty: every event (a custom Argo trigger).
    pub on: Vec<String>,
    pub conditions: Vec<TriggerCondition>,
}

/// The YAML form of one trigger condition, Argo's fields plus Driftless's `on`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawCondition {
    #[serde(default)]
    description: String,
    when: String,
    #[serde(default)]
    once_per: Option<String>,
    send: Vec<String>,
    #[serde(default)]
    on: Vec<String>,
}

/// A trigger's YAML is a list of conditions (Argo CD) or a single one (older examples).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum RawTrigger {
    Many(Vec<RawCondition>),
    One(RawCondition),
}

impl Trigger {
    pub(crate) fn from_raw(name: &str, raw: RawTrigger) -> Result<Self, String> {
        let raws = match raw {
            RawTrigger::Many(v) => v,
            RawTrigger::One(c) => vec![c],
        };
        if raws.is_empty() {
            return Err("a trigger needs at least one condition".into());
        }
        let mut on: Vec<String> = Vec::new();
        let mut conditions = Vec::new();
        for (i, c) in raws.into_iter().enumerate() {
            if c.send.is_empty() {
                return Err(format!("condition {i}: `send` names no template"));
            }
            for event in &c.on {
                if !crate::event::EVENT_TYPES.contains(&event.as_str()) {
                    return Err(format!(
                        "condition {i}: `on` names unknown event type `{event}`"
                    ));
                }
            }
            on.extend(c.on);
            conditions.push(TriggerCondition {
                description: c.description,
                when: Condition::parse(&c.when).map_err(|e| format!("condition {i}: when: {e}"))?,
                once_per: c
                    .once_per
                    .as_deref()
                    .map(Condition::parse)
                    .transpose()
                    .map_err(|e| format!("condition {i}: oncePer: {e}"))?,
                send: c.send,
            });
        }
        if on.is_empty() {
            on = catalog::implicit_events(name)
                .iter()
                .map(|s| s.to_string())
                .collect();
        }
        on.sort();
        on.dedup();
        Ok(Self {
            name: name.to_owned(),
            on,
            conditions,
        })
    }

    /// Whether this trigger listens to events of type `event_type`.
    pub fn listens_to(&self, event_type: &str) -> bool {
        self.on.is_empty() || self.on.iter().any(|e| e == event_type)
    }
}

/// The kinds of service Driftless can deliver to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServiceKind {
    Slack,
    Teams,
    Webhook,
    Email,
    Github,
    Gitlab,
    Alertmanager,
}

impl ServiceKind {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "slack" => Self::Slack,
            "teams" => Self::Teams,
            "webhook" => Self::Webhook,
            "email" => Self::Email,
            "github" => Self::Github,
            "gitlab" => Self::Gitlab,
            "alertmanager" => Self::Alertmanager,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Teams => "teams",
            Self::Webhook => "webhook",
            Self::Email => "email",
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Alertmanager => "alertmanager",
        }
    }
}

/// A configured service instance. `settings` may hold `$secret` references (and, if an operator
/// inlined one, a secret), so `Debug` shows only the name and kind.
#[derive(Clone)]
pub struct ServiceDef {
    pub name: String,
    pub kind: ServiceKind,
    pub settings: Value,
}

impl fmt::Debug for ServiceDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceDef({} {})", self.kind.as_str(), self.name)
    }
}

/// A default subscription (Argo's `subscriptions` key): recipients `service:recipient`, the
/// triggers (empty: the default triggers) and a label selector.
#[derive(Clone, Debug)]
pub struct DefaultSubscription {
    pub recipients: Vec<(String, String)>,
    pub triggers: Vec<String>,
    pub selector: Selector,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSubscription {
    recipients: Vec<String>,
    #[serde(default)]
    triggers: Vec<String>,
    #[serde(default)]
    selector: String,
}

impl DefaultSubscription {
    pub(crate) fn from_raw(raw: RawSubscription) -> Result<Self, String> {
        let recipients = raw
            .recipients
            .iter()
            .map(|r| match r.split_once(':') {
                Some((s, to)) if !s.is_empty() && !to.is_empty() => {
                    Ok((s.trim().to_owned(), to.trim().to_owned()))
                }
                _ => Err(format!("recipient `{r}` is not `service:recipient`")),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            recipients,
            triggers: raw.triggers,
            selector: Selector::parse(&raw.selector)?,
        })
    }
}

/// The whole configuration.
#[derive(Clone, Debug, Default)]
pub struct NotifyConfig {
    /// `.context` in templates (`engineUrl`/`argocdUrl`, anything else).
    pub context: BTreeMap<String, String>,
    pub triggers: BTreeMap<String, Trigger>,
    /// Template name -> definition (`message`, `slack`, `email`, `webhook`, ...).
    pub templates: BTreeMap<String, Value>,
    pub services: BTreeMap<String, ServiceDef>,
    /// Triggers used by subscriptions that name none (`subscribe.<service>`).
    pub default_triggers: Vec<String>,
    /// `defaultTriggers.<service>`: per service, overriding `default_triggers`.
    pub default_triggers_by_service: BTreeMap<String, Vec<String>>,
    pub subscriptions: Vec<DefaultSubscription>,
}

impl NotifyConfig {
    /// The built-in catalog: Argo CD's trigger names and Driftless's, with their templates.
    pub fn builtin() -> Self {
        catalog::builtin()
    }

    /// Checks that every trigger's templates exist; called by the loaders after merging.
    pub(crate) fn validate(&self, source: &str) -> Result<(), ConfigError> {
        for trigger in self.triggers.values() {
            for c in &trigger.conditions {
                for t in &c.send {
                    if !self.templates.contains_key(t) {
                        return Err(ConfigError::new(
                            source,
                            &format!("trigger.{}", trigger.name),
                            format!("sends template `{t}`, which is not defined"),
                        ));
                    }
                }
            }
        }
        let all_defaults =
            self.default_triggers
                .iter()
                .map(|t| ("defaultTriggers".to_owned(), t))
                .chain(self.default_triggers_by_service.iter().flat_map(|(s, ts)| {
                    ts.iter().map(move |t| (format!("defaultTriggers.{s}"), t))
                }));
        for (key, t) in all_defaults {
            if !self.triggers.contains_key(t) {
                return Err(ConfigError::new(
                    source,
                    &key,
                    format!("trigger `{t}` is not defined"),
                ));
            }
        }
        Ok(())
    }
}

/// Parses a YAML (or JSON) text into a JSON value through the workspace's one bounded YAML
/// reader, naming `source` and `key` on error (never quoting the text: it may hold a secret).
pub(crate) fn parse_yaml(text: &str, source: &str, key: &str) -> Result<Value, ConfigError> {
    driftless_core::yaml::parse_one(text, &driftless_core::yaml::Limits::default())
        .map_err(|e| ConfigError::new(source, key, format!("invalid YAML: {e}")))
}
