//! Each service against a real HTTP receiver on loopback: bodies, headers, signatures; and
//! secrets that never leak into errors, the outbox or Debug output.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use driftless_notify::config::native;
use driftless_notify::outbox::memory::MemoryOutbox;
use driftless_notify::outbox::{ListFilter, Status};
use driftless_notify::service::{HttpClient, Services};
use driftless_notify::{
    Dispatcher, DispatcherOptions, EventKind, Notifier, NotifyConfig, NotifyEvent, Outbox,
    StaticSecrets,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::common::{Receiver, SHA, app, crypto, event, operation};

fn secrets() -> StaticSecrets {
    StaticSecrets::new([
        ("hook-key", "hmac-key-0123"),
        ("hook-password", "pa55word-xyz"),
        ("slack-hook", "T000/B000/XXXXsecretpath"),
        ("teams-url", "teams-secret-path"),
        ("gh-token", "ghp_secret_token_1"),
        ("gl-token", "glpat-secret-2"),
        ("am-token", "am-bearer-3"),
    ])
}

fn config(url: &str, host: &str) -> NotifyConfig {
    let yaml = format!(
        r##"apiVersion: driftless.dev/v1alpha1
kind: NotificationConfig
metadata: {{name: default}}
spec:
  context: {{engineUrl: "https://cd.example.com"}}
  services:
    audit:
      type: webhook
      url: {url}/hooks
      headers: [{{name: X-Team, value: platform}}]
      basicAuth: {{username: cd, password: $hook-password}}
      hmac: {{secret: $hook-key}}
    slack-hook: {{type: slack, webhookURL: "{url}/services/$slack-hook"}}
    teams: {{type: teams, recipientUrls: {{ops: "{url}/teams/$teams-url"}}}}
    github: {{type: github, token: $gh-token, apiURL: "{url}/gh"}}
    gitlab: {{type: gitlab, token: $gl-token, apiURL: "{url}/gl"}}
    alertmanager: {{type: alertmanager, targets: ["{host}"], bearerToken: $am-token}}
  templates:
    app-sync-failed:
      message: "Sync of {{{{.app.metadata.name}}}} failed: {{{{.app.status.operationState.message}}}}"
      email: {{subject: "Failed: {{{{.app.metadata.name}}}}"}}
      slack:
        attachments: |
          [{{"title": "{{{{.app.metadata.name}}}}", "color": "#E96D76"}}]
      teams: {{title: "Sync failed", themeColor: "#E96D76", facts: '[{{"name": "Revision", "value": "{{{{.app.status.sync.revision}}}}"}}]'}}
      webhook:
        audit:
          method: POST
          path: /{{{{.app.metadata.name}}}}/failed
          body: '{{"app": "{{{{.app.metadata.name}}}}", "phase": "{{{{.app.status.operationState.phase}}}}"}}'
      github: {{status: {{state: failure, label: "cd/{{{{.app.metadata.name}}}}", targetURL: "{{{{.context.argocdUrl}}}}/applications/{{{{.app.metadata.name}}}}"}}}}
      gitlab: {{status: {{state: failure, name: "cd/{{{{.app.metadata.name}}}}"}}}}
      alertmanager: {{labels: {{severity: critical}}, generatorURL: "{{{{.context.engineUrl}}}}"}}
"##
    );
    native::parse(&yaml, "notifications.yaml").unwrap()
}

async fn deliver(service: &str, recipient: &str) -> (Receiver, Arc<MemoryOutbox>, Services) {
    crypto();
    let receiver = Receiver::start(200, "1").await;
    let host = receiver.url.trim_start_matches("http://").to_owned();
    let config = config(&receiver.url, &host);
    let services = Services::build(
        &config,
        &secrets(),
        &HttpClient::new(Duration::from_secs(5)).unwrap(),
    )
    .unwrap();
    let outbox = Arc::new(MemoryOutbox::new());
    let key = format!("notifications.argoproj.io/subscribe.on-sync-failed.{service}");
    let mut op = operation("op-9", SHA);
    op.message = "one or more objects failed to apply".into();
    let ev: NotifyEvent = event(
        "op-9",
        app("shop", &[(key.as_str(), recipient)]),
        EventKind::SyncFailed { operation: op },
    );
    let plan = Notifier::new(config).plan(&ev, &BTreeMap::new());
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    assert_eq!(plan.messages.len(), 1);
    outbox.enqueue(&plan.messages).await.unwrap();
    let dispatcher = Dispatcher::new(
        outbox.clone(),
        services.clone(),
        DispatcherOptions::default(),
    );
    dispatcher.run_once().await.unwrap();
    (receiver, outbox, services)
}

#[tokio::test]
async fn webhook_signs_the_body_and_sends_headers_and_idempotency_key() {
    let (rx, outbox, _) = deliver("audit", "any").await;
    let got = rx.next().await;
    assert_eq!(
        (got.method.as_str(), got.path.as_str()),
        ("POST", "/hooks/shop/failed")
    );
    assert_eq!(
        String::from_utf8(got.body.clone()).unwrap(),
        r#"{"app": "shop", "phase": "Failed"}"#
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(b"hmac-key-0123").unwrap();
    mac.update(&got.body);
    assert_eq!(
        got.header("x-driftless-signature"),
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
    assert_eq!(got.header("x-team"), "platform");
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("cd:pa55word-xyz");
    assert_eq!(got.header("authorization"), format!("Basic {basic}"));
    let sent = outbox.list(&ListFilter::default()).await.unwrap();
    assert_eq!(
        got.header("x-driftless-delivery"),
        sent[0].message.dedupe_key
    );
    assert_eq!(got.header("idempotency-key"), sent[0].message.dedupe_key);
    assert_eq!(sent[0].status, Status::Sent);
}

#[tokio::test]
async fn slack_incoming_webhook_with_attachments() {
    let (rx, _, _) = deliver("slack-hook", "ignored").await;
    let got = rx.next().await;
    assert_eq!(got.path, "/services/T000/B000/XXXXsecretpath");
    let body = got.json();
    assert_eq!(
        body["text"],
        "Sync of shop failed: one or more objects failed to apply"
    );
    assert_eq!(body["attachments"][0]["title"], "shop");
    assert_eq!(body["attachments"][0]["color"], "#E96D76");
    assert!(body.get("channel").is_none());
}

#[tokio::test]
async fn teams_message_card() {
    let (rx, _, _) = deliver("teams", "ops").await;
    let got = rx.next().await;
    assert_eq!(got.path, "/teams/teams-secret-path");
    let card = got.json();
    assert_eq!(card["@type"], "MessageCard");
    assert_eq!(card["title"], "Sync failed");
    assert_eq!(card["themeColor"], "#E96D76");
    assert_eq!(
        card["text"],
        "Sync of shop failed: one or more objects failed to apply"
    );
    assert_eq!(card["sections"][0]["facts"][0]["value"], SHA);
}

#[tokio::test]
async fn github_commit_status_on_the_deployed_commit() {
    let (rx, _, _) = deliver("github", "ignored").await;
    let got = rx.next().await;
    assert_eq!(got.path, format!("/gh/repos/acme/shop/statuses/{SHA}"));
    assert_eq!(got.header("authorization"), "Bearer ghp_secret_token_1");
    let body = got.json();
    assert_eq!(body["state"], "failure");
    assert_eq!(body["context"], "cd/shop");
    assert_eq!(
        body["target_url"],
        "https://cd.example.com/applications/shop"
    );
    assert_eq!(
        body["description"],
        "Sync of shop failed: one or more objects failed to apply"
    );
}

#[tokio::test]
async fn gitlab_commit_status() {
    let (rx, _, _) = deliver("gitlab", "ignored").await;
    let got = rx.next().await;
    assert_eq!(got.path, format!("/gl/projects/acme%2Fshop/statuses/{SHA}"));
    assert_eq!(got.header("private-token"), "glpat-secret-2");
    let body = got.json();
    assert_eq!(
        (body["state"].as_str(), body["name"].as_str()),
        (Some("failed"), Some("cd/shop"))
    );
}

#[tokio::test]
async fn alertmanager_alert() {
    let (rx, _, _) = deliver("alertmanager", "ignored").await;
    let got = rx.next().await;
    assert_eq!(
        (got.method.as_str(), got.path.as_str()),
        ("POST", "/api/v2/alerts")
    );
    assert_eq!(got.header("authorization"), "Bearer am-bearer-3");
    let alerts = got.json();
    assert_eq!(alerts[0]["labels"]["alertname"], "on-sync-failed");
    assert_eq!(alerts[0]["labels"]["app"], "shop");
    assert_eq!(alerts[0]["labels"]["severity"], "critical");
    assert_eq!(
        alerts[0]["annotations"]["message"],
        "Sync of shop failed: one or more objects failed to apply"
    );
    assert_eq!(alerts[0]["generatorURL"], "https://cd.example.com");
}

#[tokio::test]
async fn secrets_never_reach_errors_the_outbox_or_debug_output() {
    crypto();
    let receiver = Receiver::start(200, "ok").await;
    // The receiver echoes what it was sent, secrets included, in a 500.
    receiver.reply_next(500, "bad gateway for T000/B000/XXXXsecretpath");
    let host = receiver.url.trim_start_matches("http://").to_owned();
    let config = config(&receiver.url, &host);
    let services = Services::build(
        &config,
        &secrets(),
        &HttpClient::new(Duration::from_secs(5)).unwrap(),
    )
    .unwrap();
    let ev = event(
        "op-3",
        app(
            "shop",
            &[(
                "notifications.argoproj.io/subscribe.on-sync-failed.slack-hook",
                "x",
            )],
        ),
        EventKind::SyncFailed {
            operation: operation("op-3", SHA),
        },
    );
    let outbox = Arc::new(MemoryOutbox::new());
    outbox
        .enqueue(
            &Notifier::new(config.clone())
                .plan(&ev, &BTreeMap::new())
                .messages,
        )
        .await
        .unwrap();
    let report = Dispatcher::new(
        outbox.clone(),
        services.clone(),
        DispatcherOptions::default(),
    )
    .run_once()
    .await
    .unwrap();
    assert_eq!(report.retried, 1);
    let stored = outbox.list(&ListFilter::default()).await.unwrap();
    let error = stored[0].last_error.clone().unwrap();
    assert_eq!(error, "HTTP 500 Internal Server Error: bad gateway for ***");
    let everything = format!("{config:?} {services:?} {stored:?} {:?}", secrets());
    for secret in [
        "XXXXsecretpath",
        "hmac-key-0123",
        "pa55word-xyz",
        "ghp_secret_token_1",
        "teams-secret-path",
    ] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    // An unknown reference is named, and no value is shown.
    let mut broken = config;
    broken.services.get_mut("github").unwrap().settings["token"] = serde_json::json!("$missing");
    let err = Services::build(
        &broken,
        &secrets(),
        &HttpClient::new(Duration::from_secs(5)).unwrap(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "notification services: service.github.github: secret `$missing` is not defined"
    );
}

#[tokio::test]
async fn notifications_test_sends_a_test_message_to_one_destination() {
    crypto();
    let receiver = Receiver::start(200, "ok").await;
    let host = receiver.url.trim_start_matches("http://").to_owned();
    let config = config(&receiver.url, &host);
    let services = Services::build(
        &config,
        &secrets(),
        &HttpClient::new(Duration::from_secs(5)).unwrap(),
    )
    .unwrap();
    let notifier = Notifier::new(config);
    let message = notifier
        .test_message("audit", "anyone", crate::common::at(0))
        .unwrap();
    services.send_now(&message).await.unwrap();
    let got = receiver.next().await;
    assert_eq!(got.path, "/hooks");
    assert!(
        got.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("Test notification from Driftless")
    );
    assert_eq!(
        notifier
            .test_message("github", "x", crate::common::at(0))
            .unwrap_err(),
        "service `github` sets commit statuses and needs a commit: it has no test message"
    );
}
