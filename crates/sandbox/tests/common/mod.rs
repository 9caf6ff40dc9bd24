//! Helpers shared by the sandbox's HTTP tests: a client with the sandbox's token, recorded
//! transcripts, small fixtures.
#![allow(dead_code)] // each test binary uses its own subset

use std::time::Duration;

use driftless_sandbox::Sandbox;
use serde_json::{Value, json};

pub struct Client {
    pub http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(sb: &Sandbox) -> Self {
        Self::remote(&sb.url(), &sb.token)
    }

    /// A client of a sandbox served elsewhere (another process).
    pub fn remote(url: &str, token: &str) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: url.to_string(),
            token: token.to_string(),
        }
    }

    /// Sends a raw body; answers (status, JSON body or the plain text as a string).
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<String>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("content-type", content_type.unwrap_or("application/json"))
                .body(b);
        }
        let resp = req.send().await.unwrap();
        let code = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.send_raw(method, path, content_type, body.map(|b| b.to_string()))
            .await
    }

    /// Replays a recorded request (its body recorded as a string or as JSON).
    pub async fn replay(&self, name: &str) -> (u16, Value) {
        let t = transcript(name);
        let req = &t["request"];
        let body = match &req["body"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        self.send_raw(
            req["method"].as_str().unwrap(),
            req["path"].as_str().unwrap(),
            req["contentType"].as_str(),
            body,
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, None, Some(body)).await
    }

    /// Reads a watch stream until `n` events arrived (or 5 s passed).
    pub async fn watch(&self, path: &str, n: usize) -> Vec<Value> {
        let mut resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let mut buf = Vec::new();
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while events.len() < n {
            let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
                Ok(Ok(Some(c))) => c,
                _ => break,
            };
            buf.extend_from_slice(&chunk);
            while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                events.push(serde_json::from_slice(&line).unwrap());
            }
        }
        events
    }
}

pub fn transcript(name: &str) -> Value {
    let path = format!(
        "{}/tests/transcripts/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn ns(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

pub fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

/// Polls `path` until `check` holds (5 s at most); returns the last body.
pub async fn eventually(c: &Client, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = c.get(path).await;
        if check(&body) || tokio::time::Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
