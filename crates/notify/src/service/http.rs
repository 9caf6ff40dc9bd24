//! The HTTP side shared by every HTTP service: one reqwest client (rustls), and one rule for
//! what a response means: 2xx delivered; 408, 429 and 5xx worth retrying (honouring
//! `Retry-After`); other 4xx permanent. URLs never appear in errors (a Slack or Teams webhook
//! URL is itself the secret) and response bodies pass through the scrubber.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use super::SendError;
use crate::secret::{Scrubber, Secret};

/// A shared HTTP client with a per-request timeout.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("driftless-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { client })
    }
}

/// One request.
pub(crate) struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub basic: Option<(String, Secret)>,
    pub bearer: Option<Secret>,
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            basic: None,
            bearer: None,
        }
    }
    pub fn json(mut self, body: &serde_json::Value) -> Self {
        self.headers
            .push(("Content-Type".into(), "application/json".into()));
        self.body = body.to_string().into_bytes();
        self
    }
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A response that was a success.
pub(crate) struct Response {
    pub body: String,
}

impl HttpClient {
    /// Sends `req`; a non-2xx answer is an error classified as above.
    pub(crate) async fn send(
        &self,
        req: Request,
        scrubber: &Scrubber,
    ) -> Result<Response, SendError> {
        let url = reqwest::Url::parse(&req.url)
            .map_err(|_| SendError::permanent("the service URL is not a valid URL"))?;
        let mut builder = self.client.request(req.method, url).body(req.body);
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some((user, password)) = &req.basic {
            builder = builder.basic_auth(user, Some(password.expose()));
        }
        if let Some(token) = &req.bearer {
            builder = builder.bearer_auth(token.expose());
        }
        let response = builder.send().await.map_err(|e| {
            let e = e.without_url();
            SendError::retryable(scrubber.scrub(&format!("request failed: {}", error_chain(&e))))
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(Response { body });
        }
        let shown: String = body.chars().take(300).collect();
        let message = scrubber.scrub(&format!("HTTP {status}: {shown}"));
        let retryable = status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT;
        Err(SendError {
            message,
            retryable,
            retry_after,
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
