//! Shared test parts: a real HTTP receiver on loopback standing in for Slack, Teams, webhooks,
//! GitHub, GitLab and Alertmanager, and event builders.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use driftless_notify::{AppInfo, EventKind, NotifyEvent, Operation};
use jiff::Timestamp;
use tokio::sync::mpsc;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[derive(Clone)]
struct Shared {
    tx: mpsc::UnboundedSender<Received>,
    replies: Arc<Mutex<VecDeque<(u16, String)>>>,
    default: (u16, String),
}

/// An HTTP server on 127.0.0.1 that records every request and answers with queued replies
/// (then the default one).
pub struct Receiver {
    pub url: String,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
    replies: Arc<Mutex<VecDeque<(u16, String)>>>,
}

impl Receiver {
    pub async fn start(default_status: u16, default_body: &str) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let replies = Arc::new(Mutex::new(VecDeque::new()));
        let shared = Shared {
            tx,
            replies: replies.clone(),
            default: (default_status, default_body.to_owned()),
        };
        let app = axum::Router::new().fallback(record).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            rx: tokio::sync::Mutex::new(rx),
            replies,
        }
    }

    /// Answers the next request with `status` and `body`.
    pub fn reply_next(&self, status: u16, body: &str) {
        self.replies
            .lock()
            .unwrap()
            .push_back((status, body.to_owned()));
    }

    /// The next request; fails the test when none comes within 10 s.
    pub async fn next(&self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.rx.lock().await.recv())
            .await
            .expect("the receiver got a request within 10 s")
            .expect("receiver running")
    }

    /// A request already received, if any (no waiting).
    pub async fn try_next(&self) -> Option<Received> {
        self.rx.lock().await.try_recv().ok()
    }
}

async fn record(State(shared): State<Shared>, request: Request) -> impl IntoResponse {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap_or_default().to_vec();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let _ = shared.tx.send(Received {
        method: parts.method.to_string(),
        path,
        headers: parts.headers,
        body,
    });
    let (status, body) = shared
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| shared.default.clone());
    (StatusCode::from_u16(status).unwrap(), body)
}

pub const SHA: &str = "4f1c2a9e0b7d3c5a6e8f9a0b1c2d3e4f5a6b7c8d";

pub fn app(name: &str, annotations: &[(&str, &str)]) -> AppInfo {
    AppInfo {
        name: name.into(),
        namespace: Some("driftless".into()),
        project: "shop".into(),
        environment: Some("prod".into()),
        labels: BTreeMap::from([("env".to_owned(), "prod".to_owned())]),
        annotations: annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        revision: Some(SHA.into()),
        repo_url: "https://github.com/acme/shop.git".into(),
        path: "deploy/prod".into(),
        target_revision: "main".into(),
        sync_status: "Synced".into(),
        health_status: "Healthy".into(),
        health_message: None,
        destination: driftless_notify::Destination {
            server: "https://kubernetes.default.svc".into(),
            namespace: "shop".into(),
            name: "in-cluster".into(),
        },
    }
}

pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_764_892_800 + seconds).unwrap()
}

pub fn operation(id: &str, revision: &str) -> Operation {
    Operation {
        id: id.into(),
        revision: revision.into(),
        message: "successfully synced (all tasks run)".into(),
        started_at: at(0),
        finished_at: Some(at(5)),
        initiated_by: None,
    }
}

pub fn event(id: &str, app: AppInfo, kind: EventKind) -> NotifyEvent {
    NotifyEvent {
        id: id.into(),
        at: at(10),
        app,
        kind,
    }
}

pub fn crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
