//! Generic webhooks, Argo CD's `service.webhook.<name>`: `url`, `headers` (`[{name, value}]`),
//! `basicAuth`; the template's `webhook.<name>` section gives `method`, `path` and `body`.
//!
//! Driftless adds two headers: `X-Driftless-Delivery` (and `Idempotency-Key`) carry the message's
//! deduplication key, so a receiver can drop the one duplicate a crash between send and record
//! can cause; with `hmac: {secret, header}` the body is signed, `sha256=<hex HMAC-SHA256>` in
//! `X-Driftless-Signature` unless another header is named.

use futures_util::future::{BoxFuture, FutureExt};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use super::http::{HttpClient, Request};
use super::{SendError, Service, section};
use crate::outbox::OutboxMessage;
use crate::secret::{Scrubber, Secret};

#[derive(Deserialize)]
pub(crate) struct Header {
    name: String,
    value: Secret,
}

#[derive(Deserialize)]
pub(crate) struct BasicAuth {
    username: String,
    password: Secret,
}

#[derive(Deserialize)]
pub(crate) struct HmacSettings {
    secret: Secret,
    #[serde(default = "default_signature_header")]
    header: String,
}

fn default_signature_header() -> String {
    "X-Driftless-Signature".into()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Settings {
    url: Secret,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
    #[serde(default)]
    hmac: Option<HmacSettings>,
}

pub(crate) struct Webhook {
    settings: Settings,
    http: HttpClient,
    scrubber: Scrubber,
}

/// `sha256=<hex>` of HMAC-SHA256(secret, body): the signature a receiver recomputes.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    pub fn new(settings: Settings, http: HttpClient, scrubber: Scrubber) -> Self {
        Self {
            settings,
            http,
            scrubber,
        }
    }

    async fn post(&self, m: &OutboxMessage) -> Result<(), SendError> {
        let hook = section(m, "webhook");
        let text = |f: &str| {
            hook.get(f)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let method = match text("method").to_ascii_uppercase().as_str() {
            "" | "GET" => Method::GET,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            "DELETE" => Method::DELETE,
            other => {
                return Err(SendError::permanent(format!(
                    "webhook: method `{other}` is not supported"
                )));
            }
        };
        let url = format!(
            "{}{}",
            self.settings.url.expose().trim_end_matches('/'),
            prefixed(&text("path"))
        );
        let body = text("body").into_bytes();
        let mut request = Request::new(method, url)
            .header("X-Driftless-Delivery", &m.message.dedupe_key)
            .header("Idempotency-Key", &m.message.dedupe_key);
        for h in &self.settings.headers {
            request = request.header(&h.name, h.value.expose());
        }
        if let Some(hmac) = &self.settings.hmac {
            request = request.header(
                &hmac.header,
                signature(hmac.secret.expose().as_bytes(), &body),
            );
        }
        if let Some(auth) = &self.settings.basic_auth {
            request.basic = Some((auth.username.clone(), auth.password.clone()));
        }
        request.body = body;
        self.http.send(request, &self.scrubber).await.map(drop)
    }
}

fn prefixed(path: &str) -> String {
    if path.is_empty() || path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

impl Service for Webhook {
    fn send<'a>(&'a self, m: &'a OutboxMessage) -> BoxFuture<'a, Result<(), SendError>> {
        self.post(m).boxed()
    }
}
