//! Slack: `chat.postMessage` with a bot token (`token`, Argo CD's way; the recipient is the
//! channel), or an incoming webhook (`webhookURL`; the webhook decides the channel).
//! The template's `slack` section may carry `attachments` and `blocks` (JSON, as in Argo CD).

use futures_util::future::{BoxFuture, FutureExt};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{HttpClient, Request};
use super::{SendError, Service, json_field, message_text, section};
use crate::outbox::OutboxMessage;
use crate::secret::{Scrubber, Secret};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Settings {
    #[serde(default)]
    token: Option<Secret>,
    #[serde(default, alias = "webhookUrl", alias = "webhookURL")]
    webhook_url: Option<Secret>,
    #[serde(default = "default_api", alias = "apiURL")]
    api_url: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    icon: Option<String>,
}

fn default_api() -> String {
    "https://slack.com/api".into()
}

pub(crate) struct Slack {
    settings: Settings,
    http: HttpClient,
    scrubber: Scrubber,
}

impl Slack {
    pub fn new(settings: Settings, http: HttpClient, scrubber: Scrubber) -> Result<Self, String> {
        if settings.token.is_none() && settings.webhook_url.is_none() {
            return Err("set `token` (chat.postMessage) or `webhookURL` (incoming webhook)".into());
        }
        Ok(Self {
            settings,
            http,
            scrubber,
        })
    }

    fn body(&self, m: &OutboxMessage) -> Result<Value, SendError> {
        let slack = section(m, "slack");
        let mut body = json!({"text": message_text(m)});
        if let Some(a) = json_field(slack, "attachments")? {
            body["attachments"] = a;
        }
        if let Some(b) = json_field(slack, "blocks")? {
            body["blocks"] = b;
        }
        if let Some(user) = &self.settings.username {
            body["username"] = json!(user);
        }
        match &self.settings.icon {
            Some(icon) if icon.starts_with("http") => body["icon_url"] = json!(icon),
            Some(icon) => body["icon_emoji"] = json!(icon),
            None => {}
        }
        Ok(body)
    }

    async fn post(&self, m: &OutboxMessage) -> Result<(), SendError> {
        let mut body = self.body(m)?;
        let request = match (&self.settings.token, &self.settings.webhook_url) {
            (Some(token), _) => {
                body["channel"] = json!(m.message.recipient);
                let url = format!(
                    "{}/chat.postMessage",
                    self.settings.api_url.trim_end_matches('/')
                );
                let mut r = Request::new(Method::POST, url).json(&body);
                r.headers[0].1 = "application/json; charset=utf-8".into();
                r.bearer = Some(token.clone());
                r
            }
            (None, Some(url)) => Request::new(Method::POST, url.expose()).json(&body),
            (None, None) => return Err(SendError::permanent("slack: no token and no webhook URL")),
        };
        let response = self.http.send(request, &self.scrubber).await?;
        if self.settings.token.is_some() {
            // The Web API answers 200 with {"ok": false, "error": ...} for most failures.
            let answer: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
            if answer.get("ok") != Some(&Value::Bool(true)) {
                let error = answer
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("unexpected answer");
                let retryable = matches!(
                    error,
                    "ratelimited"
                        | "service_unavailable"
                        | "internal_error"
                        | "fatal_error"
                        | "request_timeout"
                );
                let message = self
                    .scrubber
                    .scrub(&format!("slack chat.postMessage: {error}"));
                return Err(SendError {
                    message,
                    retryable,
                    retry_after: None,
                });
            }
        }
        Ok(())
    }
}

impl Service for Slack {
    fn send<'a>(&'a self, m: &'a OutboxMessage) -> BoxFuture<'a, Result<(), SendError>> {
        self.post(m).boxed()
    }
}
