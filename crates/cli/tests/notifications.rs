//! Issue 21 end to end: `driftless up` with a Slack service pointing at an HTTP receiver on
//! loopback, an application subscribed by Argo CD's annotations, a Git repository and the
//! sandbox cluster. Exactly one message per synced revision (none more after a restart), one
//! for drift with its diff summary and one when it is healed; a `kill -9` between the event and
//! the send still delivers exactly once.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::up::{Killed, start_engine};

/// A Slack Web API stand-in on loopback: records every `chat.postMessage` body and answers
/// `{"ok": true}`. Waiting is on a notification per request, never a fixed sleep.
#[derive(Clone)]
pub struct Slack {
    pub url: String,
    got: Arc<Mutex<Vec<(String, Value)>>>,
    arrived: Arc<Notify>,
    /// Answer `{"ok": false, "error": "channel_not_found"}` (a permanent failure) while set.
    pub refuse: Arc<std::sync::atomic::AtomicBool>,
}

impl Slack {
    pub async fn start() -> Slack {
        Self::on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    /// Serves on `listener` (a port chosen earlier, e.g. after a "dead" period).
    pub fn on(listener: tokio::net::TcpListener) -> Slack {
        let slack = Slack {
            url: format!("http://{}", listener.local_addr().unwrap()),
            got: Arc::default(),
            arrived: Arc::default(),
            refuse: Arc::default(),
        };
        let s = slack.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let s = s.clone();
            async move {
                let auth = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if s.refuse.load(std::sync::atomic::Ordering::SeqCst) {
                    return axum::Json(json!({"ok": false, "error": "channel_not_found"}));
                }
                s.got.lock().unwrap().push((auth, body));
                s.arrived.notify_waiters();
                axum::Json(json!({"ok": true}))
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        slack
    }

    pub fn messages(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    pub fn auth_headers(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// Waits (at most 90 s) until `pred` holds over the messages received.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let arrived = self.arrived.notified();
            let got = self.messages();
            if pred(&got) {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; got {got:#?}"
            );
            let _ = tokio::time::timeout(left, arrived).await;
        }
    }
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Commits `cm.yaml` = `manifest` to the Git repository `repo` (created when missing);
/// returns its HEAD.
pub fn commit_manifest(repo: &Path, manifest: &str) -> String {
    if !repo.join(".git").exists() {
        std::fs::create_dir_all(repo).unwrap();
        git(repo, &["init", "-q", "-b", "main"]);
    }
    std::fs::write(repo.join("cm.yaml"), manifest).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "change"]);
    git(repo, &["rev-parse", "HEAD"])
}

/// A Git repository with one ConfigMap (`data.color`), committed; returns its HEAD.
pub fn commit_color(repo: &Path, color: &str) -> String {
    commit_manifest(
        repo,
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: palette}}\ndata: {{color: {color}}}\n"
        ),
    )
}

/// A config directory: the app `shop` (annotated for Slack), a `NotificationConfig` whose
/// Slack service posts to `slack_url` with a bot token from `argocd-notifications-secret`.
pub fn write_config(dir: &Path, repo: &Path, slack_url: &str, annotations: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("app.yaml"),
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: shop\n  annotations:\n{annotations}spec:\n  project: default\n  source: {{repoURL: {}, path: ., targetRevision: main}}\n  destination: {{namespace: shop}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n",
            repo.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("notifications.yaml"),
        format!(
            "apiVersion: driftless.dev/v1alpha1\nkind: NotificationConfig\nmetadata: {{name: default}}\nspec:\n  context: {{engineUrl: https://cd.example.com}}\n  services:\n    slack: {{type: slack, token: $slack-token, apiURL: {slack_url}}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: argocd-notifications-secret}}\nstringData: {{slack-token: xoxb-secret-value}}\n"
        ),
    )
    .unwrap();
}

pub fn up(root: &Path) -> (Killed, String) {
    let mut up = Command::new(env!("CARGO_BIN_EXE_driftless"));
    up.args([
        "up",
        "--sandbox",
        "--allow-local-sources",
        "--listen",
        "127.0.0.1:0",
    ])
    .arg("--data-dir")
    .arg(root.join("data"))
    .arg("--config")
    .arg(root.join("config"));
    start_engine(up)
}

pub struct Api {
    pub base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(root: &Path, base: String) -> Api {
        Api {
            token: std::fs::read_to_string(root.join("data/api-token"))
                .unwrap()
                .trim()
                .to_string(),
            base,
            http: reqwest::Client::new(),
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_default()
    }

    pub async fn post(&self, path: &str) -> Value {
        self.post_json(path, &json!({})).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Value {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_default()
    }

    /// Waits (at most 90 s) until the app's stored status satisfies `pred`.
    pub async fn wait_app(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let app = self.get("/api/v1/applications/shop").await;
            if pred(&app) {
                return app;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {app}"
            );
            // Polling the engine's API (its answer is the event); no fixed wait for an outcome.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

pub fn synced_at(app: &Value, revision: &str) -> bool {
    let s = crate::app_view(app).status;
    s.synced_and_healthy() && s.sync.revision.as_deref() == Some(revision)
}

const SYNC_SUCCEEDED: &str = "    notifications.argoproj.io/subscribe.on-sync-succeeded.slack: deploys\n    notifications.argoproj.io/subscribe.on-rollback.slack: deploys\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slack_message_per_synced_revision_and_none_after_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let slack = Slack::start().await;
    let first = commit_color(&r.join("repo"), "red");
    write_config(
        &r.join("config"),
        &r.join("repo"),
        &slack.url,
        SYNC_SUCCEEDED,
    );
    let (engine, base) = up(r);
    let api = Api::new(r, base);

    let got = slack
        .wait_for("the first sync's message", |m| !m.is_empty())
        .await;
    assert_eq!(got[0]["channel"], "deploys", "{got:#?}");
    let text = got[0]["text"].as_str().unwrap();
    assert!(
        text.contains("Application shop has been successfully synced") && text.contains(&first),
        "{text}"
    );
    // The token reached Slack as a bearer token and nowhere else.
    assert_eq!(slack.auth_headers()[0], "Bearer xoxb-secret-value");
    api.wait_app("shop synced at the first commit", |a| synced_at(a, &first))
        .await;

    // A second commit: one more message, naming it.
    let second = commit_color(&r.join("repo"), "blue");
    api.post("/api/v1/applications/shop/refresh").await;
    let got = slack
        .wait_for("the second sync's message", |m| m.len() >= 2)
        .await;
    assert!(
        got[1]["text"].as_str().unwrap().contains(&second),
        "{got:#?}"
    );
    api.wait_app("shop synced at the second commit", |a| {
        synced_at(a, &second)
    })
    .await;

    // The metric counts the deliveries.
    let metrics = reqwest::get(format!("{}/metrics", api.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("driftless_notifications_total{")
                && l.contains("service=\"slack\"")
                && l.contains("outcome=\"sent\"")),
        "{metrics}"
    );

    // A restart and a refresh: reconciled again, nothing more to send.
    drop(engine);
    let (_engine, base) = up(r);
    let api = Api::new(r, base);
    let before = crate::app_view(&api.get("/api/v1/applications/shop").await)
        .status
        .reconciled_at_ms
        .unwrap_or(0);
    api.post("/api/v1/applications/shop/refresh").await;
    api.wait_app("a reconcile after the restart", |a| {
        crate::app_view(a).status.reconciled_at_ms.unwrap_or(0) > before && synced_at(a, &second)
    })
    .await;
    // The outbox is the truth of what will be sent: two messages, both sent, none waiting.
    let outbox = api.get("/api/v1/notifications?app=shop").await;
    let items = outbox["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{outbox:#}");
    assert!(items.iter().all(|m| m["status"] == "sent"), "{outbox:#}");
    assert_eq!(slack.messages().len(), 2, "{:#?}", slack.messages());
    // The API never shows the secret.
    assert!(!outbox.to_string().contains("xoxb-secret-value"));

    // The CLI: list, send again (a user's explicit act), and a test message.
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args(["notifications", "--server", &api.base])
            .args(args)
            .env("DRIFTLESS_DATA_DIR", r.join("data"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let listed: Value =
        serde_json::from_str(&cli(&["list", "--app", "shop", "-o", "json"])).unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed:#}");
    let first_id = listed["items"][1]["id"].as_i64().unwrap();
    cli(&["resend", &first_id.to_string()]);
    let got = slack.wait_for("the resent message", |m| m.len() >= 3).await;
    assert_eq!(got[2]["text"], got[0]["text"], "{got:#?}");
    cli(&["test", "slack", "ops"]);
    let got = slack.wait_for("the test message", |m| m.len() >= 4).await;
    assert_eq!(got[3]["channel"], "ops", "{got:#?}");
    assert!(
        got[3]["text"]
            .as_str()
            .unwrap()
            .contains("Test notification"),
        "{got:#?}"
    );
    assert!(cli(&["list", "--status", "sent"]).contains("slack:deploys"));

    // A user's rollback to the first revision: its sync, and the rollback itself.
    let answer = api
        .post_json(
            "/api/v1/applications/shop/rollback",
            &json!({"reason": "blue is wrong"}),
        )
        .await;
    assert!(answer.get("error").is_none(), "{answer}");
    let got = slack
        .wait_for("the rollback", |m| {
            m.iter().any(|x| {
                x["text"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("rolled back")
            })
        })
        .await;
    let rollback = got
        .iter()
        .find(|x| x["text"].as_str().unwrap().contains("rolled back"))
        .unwrap();
    assert!(
        rollback["text"]
            .as_str()
            .unwrap()
            .contains(&format!("was rolled back from {second} to {first}")),
        "{got:#?}"
    );
}
