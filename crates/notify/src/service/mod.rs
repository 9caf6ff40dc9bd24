//! Services: where a rendered message goes. Each kind turns an outbox message into one request
//! (Slack, Teams, webhook, GitHub/GitLab commit status, Alertmanager) or one e-mail.
//!
//! Building a service resolves its `$secret` references; from then on secrets live only in
//! [`Secret`](crate::Secret) fields and in the service's [`Scrubber`], which every error
//! message passes through before it is returned (and stored in the outbox, and shown).

mod alertmanager;
mod commit_status;
mod email;
mod http;
mod slack;
mod teams;
mod webhook;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::{ConfigError, NotifyConfig, ServiceDef, ServiceKind};
use crate::outbox::OutboxMessage;
use crate::secret::{Scrubber, SecretResolver, expand};

pub use http::HttpClient;

/// Why a send failed, and whether trying again can help.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    pub retryable: bool,
    /// The receiver's `Retry-After`, when it gave one.
    pub retry_after: Option<Duration>,
}

impl SendError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            retry_after: None,
        }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            retry_after: None,
        }
    }
}

/// A destination kind that can deliver outbox messages.
pub trait Service: Send + Sync {
    /// Delivers `message` to `message.recipient`. Must be safe to call again for the same
    /// message after a crash: services pass `message.dedupe_key` where the receiver supports
    /// idempotency (webhook header, e-mail Message-ID; commit statuses and alerts are idempotent).
    fn send<'a>(&'a self, message: &'a OutboxMessage) -> BoxFuture<'a, Result<(), SendError>>;
}

/// The configured services by name.
#[derive(Clone, Default)]
pub struct Services {
    map: BTreeMap<String, Arc<dyn Service>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.map.keys()).finish()
    }
}

impl Services {
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Service>> {
        self.map.get(name)
    }
    pub fn insert(&mut self, name: impl Into<String>, service: Arc<dyn Service>) {
        self.map.insert(name.into(), service);
    }

    /// Sends `message` now, outside the outbox (`driftless notifications test`).
    pub async fn send_now(&self, message: &crate::outbox::NewMessage) -> Result<(), SendError> {
        let service = self.get(&message.service).ok_or_else(|| {
            SendError::permanent(format!("service `{}` is not configured", message.service))
        })?;
        let stored = OutboxMessage {
            id: 0,
            destination: message.destination(),
            message: message.clone(),
            status: crate::outbox::Status::Sending,
            attempts: 0,
            next_attempt_at: message.created_at,
            last_error: None,
            sent_at: None,
            lease_owner: None,
            lease_until: None,
            claim_token: 0,
        };
        service.send(&stored).await
    }

    /// Builds every service of `config`, resolving secrets through `secrets`.
    pub fn build(
        config: &NotifyConfig,
        secrets: &dyn SecretResolver,
        http: &HttpClient,
    ) -> Result<Self, ConfigError> {
        let mut services = Self::default();
        for def in config.services.values() {
            services.insert(def.name.clone(), build_one(def, secrets, http)?);
        }
        Ok(services)
    }
}

fn build_one(
    def: &ServiceDef,
    secrets: &dyn SecretResolver,
    http: &HttpClient,
) -> Result<Arc<dyn Service>, ConfigError> {
    let key = format!("service.{}.{}", def.kind.as_str(), def.name);
    let err = |m: String| ConfigError::new("notification services", &key, m);
    let mut scrubber = Scrubber::default();
    let settings = expand_tree(&def.settings, secrets, &mut scrubber).map_err(err)?;
    let http = http.clone();
    Ok(match def.kind {
        ServiceKind::Slack => Arc::new(
            slack::Slack::new(
                settings_of(settings, &scrubber).map_err(err)?,
                http,
                scrubber,
            )
            .map_err(err)?,
        ),
        ServiceKind::Teams => Arc::new(teams::Teams::new(
            settings_of(settings, &scrubber).map_err(err)?,
            http,
            scrubber,
        )),
        ServiceKind::Webhook => Arc::new(webhook::Webhook::new(
            settings_of(settings, &scrubber).map_err(err)?,
            http,
            scrubber,
        )),
        ServiceKind::Email => Arc::new(
            email::Email::new(settings_of(settings, &scrubber).map_err(err)?, scrubber)
                .map_err(err)?,
        ),
        ServiceKind::Github => Arc::new(
            commit_status::CommitStatus::github(
                settings_of(settings, &scrubber).map_err(err)?,
                http,
                scrubber,
            )
            .map_err(err)?,
        ),
        ServiceKind::Gitlab => Arc::new(
            commit_status::CommitStatus::gitlab(
                settings_of(settings, &scrubber).map_err(err)?,
                http,
                scrubber,
            )
            .map_err(err)?,
        ),
        ServiceKind::Alertmanager => Arc::new(alertmanager::Alertmanager::new(
            settings_of(settings, &scrubber).map_err(err)?,
            http,
            scrubber,
        )),
    })
}

/// Deserializes settings; serde errors can quote a value, so they are scrubbed.
fn settings_of<T: DeserializeOwned>(settings: Value, scrubber: &Scrubber) -> Result<T, String> {
    serde_json::from_value(settings).map_err(|e| scrubber.scrub(&e.to_string()))
}

fn expand_tree(
    value: &Value,
    secrets: &dyn SecretResolver,
    scrubber: &mut Scrubber,
) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(expand(s, secrets, scrubber)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| expand_tree(v, secrets, scrubber))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), expand_tree(v, secrets, scrubber)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// The rendered `message` of an outbox message.
pub(crate) fn message_text(m: &OutboxMessage) -> &str {
    m.message
        .payload
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The service's own rendered section (`slack`, `webhook`, ...), or null.
pub(crate) fn section<'a>(m: &'a OutboxMessage, kind: &str) -> &'a Value {
    m.message.payload.get(kind).unwrap_or(&Value::Null)
}

/// A section field that Argo CD templates give as a JSON string (`attachments: |` [...]) or YAML.
pub(crate) fn json_field(section: &Value, field: &str) -> Result<Option<Value>, SendError> {
    match section.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|e| {
            SendError::permanent(format!(
                "template field `{field}` is not valid JSON after rendering: {e}"
            ))
        }),
        Some(other) => Ok(Some(other.clone())),
    }
}
