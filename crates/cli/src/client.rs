//! The CLI's client of a running engine's API: where it is (`--server`, `$DRIFTLESS_SERVER`,
//! default http://127.0.0.1:8080) and its token (`$DRIFTLESS_TOKEN`, else `api-token` in the
//! data directory). Errors say what to check, never print the token.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;

#[derive(Args, Clone)]
pub struct ServerArgs {
    /// The engine's API.
    #[arg(
        long,
        env = "DRIFTLESS_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// Data directory holding `api-token` (default: $DRIFTLESS_DATA_DIR, else ~/.driftless).
    #[arg(long, env = "DRIFTLESS_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl ServerArgs {
    pub fn client(&self) -> anyhow::Result<Client> {
        let token = match std::env::var("DRIFTLESS_TOKEN") {
            Ok(t) => t,
            Err(_) => {
                let dir = match &self.data_dir {
                    Some(d) => d.clone(),
                    None => PathBuf::from(
                        std::env::var("HOME").context("HOME is not set; pass --data-dir")?,
                    )
                    .join(".driftless"),
                };
                let path = dir.join("api-token");
                std::fs::read_to_string(&path)
                    .with_context(|| format!("no API token: set DRIFTLESS_TOKEN or create {} (written by `driftless up`)", path.display()))?
            }
        };
        Ok(Client {
            base: self.server.trim_end_matches('/').to_string(),
            token: token.trim().to_string(),
            http: reqwest::Client::new(),
        })
    }
}

impl Client {
    async fn answer(
        &self,
        what: &str,
        r: Result<reqwest::Response, reqwest::Error>,
    ) -> anyhow::Result<Value> {
        let r = r.with_context(|| {
            format!(
                "cannot reach the engine at {} (is `driftless up` running?)",
                self.base
            )
        })?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        match status.as_u16() {
            200..=299 => Ok(body),
            401 => bail!("the engine at {} refused the API token", self.base),
            _ => bail!(
                "{what}: {} ({status})",
                body["error"].as_str().unwrap_or("no details")
            ),
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await;
        self.answer(&format!("GET {path}"), r).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await;
        self.answer(&format!("POST {path}"), r).await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let r = self
            .http
            .patch(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await;
        self.answer(&format!("PATCH {path}"), r).await
    }

    pub async fn post_text(&self, path: &str, body: String) -> anyhow::Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .body(body)
            .send()
            .await;
        self.answer(&format!("POST {path}"), r).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await;
        self.answer(&format!("DELETE {path}"), r).await
    }

    pub async fn post(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await;
        self.answer(&format!("POST {path}"), r).await
    }
}

/// Reads an API answer as one of the API's types (`driftless_api::types` and the engine's
/// records); a mismatch means this CLI and the engine are of different versions.
pub fn typed<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> anyhow::Result<T> {
    serde_json::from_value(v).with_context(|| {
        format!("{what}: the engine answered in a shape this CLI does not know (are the CLI and the engine the same version?)")
    })
}
