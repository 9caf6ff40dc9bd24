//! The pure half: an event in, the messages to enqueue out.
//!
//! [`Notifier::plan`] gathers subscriptions (application and project annotations, default
//! subscriptions), keeps the triggers that listen to the event and whose condition holds,
//! renders each template for each destination and gives every message its deduplication key.
//! Nothing here does I/O, so the engine can call it inside the transaction that records the event.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::{NotifyConfig, ServiceKind, Trigger};
use crate::event::NotifyEvent;
use crate::outbox::NewMessage;
use crate::subscription::{self, Subscription};
use crate::template;

/// What `plan` produced: messages, and problems (bad subscription, failing template) that did
/// not stop the other messages. Problems name the subscription or template; they hold no secret.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub messages: Vec<NewMessage>,
    pub problems: Vec<String>,
}

/// Plans notifications for events under one configuration.
#[derive(Clone, Debug)]
pub struct Notifier {
    config: NotifyConfig,
}

impl Notifier {
    pub fn new(config: NotifyConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &NotifyConfig {
        &self.config
    }

    /// The messages `event` causes. `project_annotations` are the annotations of the
    /// application's project (project-level subscriptions).
    pub fn plan(
        &self,
        event: &NotifyEvent,
        project_annotations: &BTreeMap<String, String>,
    ) -> Plan {
        let mut plan = Plan::default();
        for (trigger, service, recipient) in
            self.destinations(event, project_annotations, &mut plan)
        {
            let Some(def) = self.config.services.get(&service) else {
                plan.problems.push(format!(
                    "service `{service}` (subscribed to {trigger}) is not configured"
                ));
                continue;
            };
            let Some(t) = self.config.triggers.get(&trigger) else {
                plan.problems.push(format!(
                    "trigger `{trigger}` (subscribed for {service}) is not defined"
                ));
                continue;
            };
            if t.listens_to(event.kind.name()) {
                self.plan_trigger(event, t, (&service, def.kind), &recipient, &mut plan);
            }
        }
        plan
    }

    /// Every (trigger, service, recipient) subscribed for the event's application, once.
    fn destinations(
        &self,
        event: &NotifyEvent,
        project_annotations: &BTreeMap<String, String>,
        plan: &mut Plan,
    ) -> BTreeSet<(String, String, String)> {
        let app = &event.app;
        let mut subs =
            subscription::from_annotations(&app.annotations, &format!("application {}", app.name));
        subs.extend(subscription::from_annotations(
            project_annotations,
            &format!("project {}", app.project),
        ));
        for (i, d) in self.config.subscriptions.iter().enumerate() {
            if !d.selector.matches(&app.labels) {
                continue;
            }
            for (service, recipient) in &d.recipients {
                let triggers: Vec<Option<String>> = if d.triggers.is_empty() {
                    vec![None]
                } else {
                    d.triggers.iter().cloned().map(Some).collect()
                };
                for trigger in triggers {
                    subs.push(Subscription {
                        trigger,
                        service: service.clone(),
                        recipients: vec![recipient.clone()],
                        origin: format!("subscriptions[{i}]"),
                    });
                }
            }
        }
        let mut out = BTreeSet::new();
        for sub in subs {
            let triggers = match &sub.trigger {
                Some(t) => vec![t.clone()],
                None => self.default_triggers(&sub.service),
            };
            if triggers.is_empty() {
                plan.problems.push(format!(
                    "{}: names no trigger and no default triggers are configured",
                    sub.origin
                ));
            }
            for trigger in triggers {
                for recipient in &sub.recipients {
                    out.insert((trigger.clone(), sub.service.clone(), recipient.clone()));
                }
            }
        }
        out
    }

    fn default_triggers(&self, service: &str) -> Vec<String> {
        self.config
            .default_triggers_by_service
            .get(service)
            .unwrap_or(&self.config.default_triggers)
            .clone()
    }

    fn plan_trigger(
        &self,
        event: &NotifyEvent,
        trigger: &Trigger,
        (service, kind): (&str, ServiceKind),
        recipient: &str,
        plan: &mut Plan,
    ) {
        let vars = event.context(
            &self.config.context,
            &trigger.name,
            kind.as_str(),
            recipient,
        );
        for (index, condition) in trigger.conditions.iter().enumerate() {
            let fired = condition.when.matches(&vars).and_then(|fired| {
                if !fired {
                    return Ok(None);
                }
                match &condition.once_per {
                    Some(once) => once.value(&vars).map(Some),
                    None => Ok(Some(event.id.clone())),
                }
            });
            let once = match fired {
                Ok(Some(once)) => once,
                Ok(None) => continue,
                Err(e) => {
                    plan.problems
                        .push(format!("trigger `{}`: {e}", trigger.name));
                    continue;
                }
            };
            for name in &condition.send {
                let key = dedupe_key(&[
                    &event.app.project,
                    &event.app.name,
                    &trigger.name,
                    &index.to_string(),
                    name,
                    &once,
                    service,
                    recipient,
                ]);
                match self.render(name, (service, kind), &vars) {
                    Ok(Some(payload)) => plan.messages.push(NewMessage {
                        dedupe_key: key,
                        event_id: event.id.clone(),
                        app: event.app.name.clone(),
                        trigger: trigger.name.clone(),
                        template: name.clone(),
                        service: service.to_owned(),
                        service_type: kind.as_str().to_owned(),
                        recipient: recipient.to_owned(),
                        payload,
                        created_at: event.at,
                    }),
                    Ok(None) => {}
                    Err(e) => plan
                        .problems
                        .push(format!("template `{name}` for {service}: {e}")),
                }
            }
        }
    }

    /// Renders template `name` for one service: `message` plus the service's section.
    /// `None` when the template has nothing for a service that needs its own section.
    fn render(
        &self,
        name: &str,
        (service, kind): (&str, ServiceKind),
        vars: &Value,
    ) -> Result<Option<Value>, String> {
        let def = self
            .config
            .templates
            .get(name)
            .ok_or("template is not defined")?;
        let message = match def.get("message") {
            Some(Value::String(m)) => {
                template::render(m, vars).map_err(|e| format!("message: {e}"))?
            }
            _ => String::new(),
        };
        let section = match kind {
            ServiceKind::Webhook => def.get("webhook").and_then(|w| w.get(service)).cloned(),
            _ => def.get(kind.as_str()).cloned(),
        };
        let section = match (kind, section) {
            (ServiceKind::Webhook | ServiceKind::Github | ServiceKind::Gitlab, None) => {
                return Ok(None);
            }
            (ServiceKind::Github | ServiceKind::Gitlab, Some(s)) => Some(with_commit_defaults(s)),
            (ServiceKind::Alertmanager, s) => Some(with_alert_defaults(s)),
            (_, s) => s,
        };
        let mut payload = json!({"message": message});
        if let Some(section) = section {
            payload[kind.as_str()] = template::render_tree(&section, vars, kind.as_str())?;
        }
        Ok(Some(payload))
    }

    /// A message for `driftless notifications test <service> <recipient>`.
    pub fn test_message(
        &self,
        service: &str,
        recipient: &str,
        now: Timestamp,
    ) -> Result<NewMessage, String> {
        let def = self
            .config
            .services
            .get(service)
            .ok_or_else(|| format!("service `{service}` is not configured"))?;
        let text = "Test notification from Driftless: this destination is configured correctly.";
        let mut payload =
            json!({"message": text, "email": {"subject": "Driftless test notification"}});
        match def.kind {
            ServiceKind::Webhook => {
                payload["webhook"] =
                    json!({"method": "POST", "body": json!({"message": text}).to_string()})
            }
            ServiceKind::Alertmanager => {
                payload["alertmanager"] = json!({"labels": {"alertname": "DriftlessTest"}, "annotations": {"message": text}})
            }
            ServiceKind::Github | ServiceKind::Gitlab => {
                return Err(format!(
                    "service `{service}` sets commit statuses and needs a commit: it has no test message"
                ));
            }
            _ => {}
        }
        Ok(NewMessage {
            dedupe_key: dedupe_key(&["test", service, recipient, &now.to_string()]),
            event_id: format!("test-{now}"),
            app: String::new(),
            trigger: "test".into(),
            template: "test".into(),
            service: service.into(),
            service_type: def.kind.as_str().into(),
            recipient: recipient.into(),
            payload,
            created_at: now,
        })
    }
}

fn with_commit_defaults(mut section: Value) -> Value {
    if let Value::Object(map) = &mut section {
        map.entry("repoURLPath")
            .or_insert(json!("{{.app.spec.source.repoURL}}"));
        map.entry("revisionPath").or_insert(json!(
            "{{with .app.status.operationState}}{{.syncResult.revision}}{{else}}{{.app.status.sync.revision}}{{end}}"
        ));
    }
    section
}

fn with_alert_defaults(section: Option<Value>) -> Value {
    let mut section = section.unwrap_or_else(|| json!({}));
    if let Value::Object(map) = &mut section {
        let labels = map.entry("labels").or_insert(json!({}));
        if let Value::Object(labels) = labels {
            labels
                .entry("alertname")
                .or_insert(json!("{{.notificationType}}"));
            labels
                .entry("app")
                .or_insert(json!("{{.app.metadata.name}}"));
        }
    }
    section
}

/// sha256 over the parts, each length-prefixed so no two part lists collide.
pub fn dedupe_key(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}
