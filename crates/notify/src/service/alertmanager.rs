//! Alertmanager: `POST <scheme>://<target><apiPath>` (default `/api/v2/alerts`) to every target,
//! Argo CD's settings (`targets`, `scheme`, `apiPath`, `basicAuth`, `bearerToken`). Alerts with
//! the same labels are one alert in Alertmanager, so a resend is harmless. Delivered when at
//! least one target took it.

use futures_util::future::{BoxFuture, FutureExt};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{HttpClient, Request};
use super::{SendError, Service, message_text, section};
use crate::outbox::OutboxMessage;
use crate::secret::{Scrubber, Secret};

#[derive(Deserialize)]
pub(crate) struct BasicAuth {
    username: String,
    password: Secret,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Settings {
    #[serde(default = "default_targets")]
    targets: Vec<String>,
    #[serde(default = "default_scheme")]
    scheme: String,
    #[serde(default = "default_path")]
    api_path: String,
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
    #[serde(default)]
    bearer_token: Option<Secret>,
}

fn default_targets() -> Vec<String> {
    vec!["127.0.0.1:9093".into()]
}
fn default_scheme() -> String {
    "http".into()
}
fn default_path() -> String {
    "/api/v2/alerts".into()
}

pub(crate) struct Alertmanager {
    settings: Settings,
    http: HttpClient,
    scrubber: Scrubber,
}

impl Alertmanager {
    pub fn new(settings: Settings, http: HttpClient, scrubber: Scrubber) -> Self {
        Self {
            settings,
            http,
            scrubber,
        }
    }

    fn alerts(m: &OutboxMessage) -> Value {
        let sec = section(m, "alertmanager");
        let mut annotations = sec.get("annotations").cloned().unwrap_or(json!({}));
        if let Value::Object(map) = &mut annotations {
            map.entry("message").or_insert(json!(message_text(m)));
        }
        let mut alert = json!({
            "labels": sec.get("labels").cloned().unwrap_or(json!({})),
            "annotations": annotations,
            "startsAt": m.message.created_at.to_string(),
        });
        if let Some(url) = sec
            .get("generatorURL")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
        {
            alert["generatorURL"] = json!(url);
        }
        json!([alert])
    }

    async fn post(&self, m: &OutboxMessage) -> Result<(), SendError> {
        let body = Self::alerts(m);
        let mut errors = Vec::new();
        let mut delivered = false;
        for target in &self.settings.targets {
            let url = format!(
                "{}://{}{}",
                self.settings.scheme, target, self.settings.api_path
            );
            let mut request = Request::new(Method::POST, url).json(&body);
            request.bearer = self.settings.bearer_token.clone();
            request.basic = self
                .settings
                .basic_auth
                .as_ref()
                .map(|b| (b.username.clone(), b.password.clone()));
            match self.http.send(request, &self.scrubber).await {
                Ok(_) => delivered = true,
                Err(e) => errors.push(e),
            }
        }
        if delivered {
            return Ok(());
        }
        let retryable = errors.iter().any(|e| e.retryable);
        let message = errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        Err(SendError {
            message: format!("alertmanager: every target failed: {message}"),
            retryable,
            retry_after: None,
        })
    }
}

impl Service for Alertmanager {
    fn send<'a>(&'a self, m: &'a OutboxMessage) -> BoxFuture<'a, Result<(), SendError>> {
        self.post(m).boxed()
    }
}
