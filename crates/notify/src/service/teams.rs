//! Microsoft Teams incoming webhooks, as Argo CD configures them: `recipientUrls` maps a
//! recipient name to its webhook URL. The body is a MessageCard built from the template's
//! `teams` section (`title`, `text`, `summary`, `themeColor`, `facts`, `sections`,
//! `potentialAction`) with `message` as the default text.

use std::collections::BTreeMap;

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
    recipient_urls: BTreeMap<String, Secret>,
}

pub(crate) struct Teams {
    settings: Settings,
    http: HttpClient,
    scrubber: Scrubber,
}

impl Teams {
    pub fn new(settings: Settings, http: HttpClient, scrubber: Scrubber) -> Self {
        Self {
            settings,
            http,
            scrubber,
        }
    }

    fn card(m: &OutboxMessage) -> Result<Value, SendError> {
        let teams = section(m, "teams");
        let text = teams
            .get("text")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .unwrap_or(message_text(m));
        let title = teams
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let summary = teams
            .get("summary")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let summary = summary.unwrap_or(if title.is_empty() { text } else { title });
        let mut card = json!({
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": summary.chars().take(200).collect::<String>(),
            "text": text,
        });
        if !title.is_empty() {
            card["title"] = json!(title);
        }
        if let Some(color) = teams.get("themeColor").and_then(Value::as_str) {
            card["themeColor"] = json!(color);
        }
        let mut sections = json_field(teams, "sections")?.unwrap_or(json!([]));
        if let (Some(facts), Value::Array(list)) = (json_field(teams, "facts")?, &mut sections) {
            list.push(json!({"facts": facts}));
        }
        if sections.as_array().is_some_and(|s| !s.is_empty()) {
            card["sections"] = sections;
        }
        if let Some(actions) = json_field(teams, "potentialAction")? {
            card["potentialAction"] = actions;
        }
        Ok(card)
    }

    async fn post(&self, m: &OutboxMessage) -> Result<(), SendError> {
        let url = self
            .settings
            .recipient_urls
            .get(&m.message.recipient)
            .ok_or_else(|| {
                SendError::permanent(format!(
                    "teams: recipient `{}` is not in recipientUrls",
                    m.message.recipient
                ))
            })?;
        let request = Request::new(Method::POST, url.expose()).json(&Self::card(m)?);
        self.http.send(request, &self.scrubber).await.map(drop)
    }
}

impl Service for Teams {
    fn send<'a>(&'a self, m: &'a OutboxMessage) -> BoxFuture<'a, Result<(), SendError>> {
        self.post(m).boxed()
    }
}
