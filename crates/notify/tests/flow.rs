//! Seed-style flows end to end: event -> plan -> outbox (deduplicated) -> dispatcher -> a real
//! HTTP receiver standing in for Slack.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use driftless_notify::config::argocd;
use driftless_notify::outbox::memory::MemoryOutbox;
use driftless_notify::outbox::{ClaimRequest, ListFilter, Outcome, Status};
use driftless_notify::service::{HttpClient, Services};
use driftless_notify::{
    Dispatcher, DispatcherOptions, Drift, EventKind, Notifier, Outbox, StaticSecrets,
};

use crate::common::{Receiver, SHA, app, crypto, event, operation};

fn configmap(slack_api: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-notifications-cm
data:
  context: |
    argocdUrl: https://cd.example.com
  service.slack: |
    token: $slack-token
    apiURL: {slack_api}
  defaultTriggers: |
    - on-sync-failed
"#
    )
}

struct Setup {
    notifier: Notifier,
    outbox: Arc<MemoryOutbox>,
    dispatcher: Dispatcher,
    slack: Receiver,
}

async fn setup() -> Setup {
    crypto();
    let slack = Receiver::start(200, r#"{"ok":true}"#).await;
    let config =
        argocd::parse_configmap(&configmap(&slack.url), "argocd-notifications-cm").unwrap();
    let secrets = StaticSecrets::new([("slack-token", "xoxb-seed-token")]);
    let http = HttpClient::new(Duration::from_secs(5)).unwrap();
    let services = Services::build(&config, &secrets, &http).unwrap();
    let outbox = Arc::new(MemoryOutbox::new());
    let dispatcher = Dispatcher::new(outbox.clone(), services, DispatcherOptions::default());
    Setup {
        notifier: Notifier::new(config),
        outbox,
        dispatcher,
        slack,
    }
}

const SUBSCRIBE: (&str, &str) = (
    "notifications.argoproj.io/subscribe.on-sync-succeeded.slack",
    "gitops-notifications",
);

#[tokio::test]
async fn one_slack_message_per_synced_revision_even_with_two_replicas() {
    let s = setup().await;
    let ev = event(
        "op-17",
        app("shop", &[SUBSCRIBE]),
        EventKind::SyncSucceeded {
            operation: operation("op-17", SHA),
        },
    );
    let plan = s.notifier.plan(&ev, &BTreeMap::new());
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    assert_eq!(plan.messages.len(), 1);
    // Two replicas (or a retried reconcile) plan and enqueue the same event.
    let first = s.outbox.enqueue(&plan.messages).await.unwrap();
    let again = s
        .outbox
        .enqueue(&s.notifier.plan(&ev, &BTreeMap::new()).messages)
        .await
        .unwrap();
    assert_eq!(
        (first.inserted, again.inserted, again.duplicates),
        (1, 0, 1)
    );

    let round = s.dispatcher.run_once().await.unwrap();
    assert_eq!((round.claimed, round.sent), (1, 1));
    let got = s.slack.next().await;
    assert_eq!(got.path, "/chat.postMessage");
    assert_eq!(got.header("authorization"), "Bearer xoxb-seed-token");
    let body = got.json();
    assert_eq!(body["channel"], "gitops-notifications");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("Application shop has been successfully synced"),
        "{text}"
    );
    assert!(text.contains(SHA), "{text}");
    assert!(
        text.contains("https://cd.example.com/applications/shop"),
        "{text}"
    );
    // Nothing left: a second round sends nothing.
    assert_eq!(s.dispatcher.run_once().await.unwrap().claimed, 0);
    assert!(s.slack.try_next().await.is_none());
    assert_eq!(s.dispatcher.metrics().count("slack", "sent"), 1);
}

#[tokio::test]
async fn deployed_fires_once_per_revision_when_a_pod_is_replaced() {
    let s = setup().await;
    let annotated = app(
        "shop",
        &[(
            "notifications.argoproj.io/subscribe.on-deployed.slack",
            "deploys",
        )],
    );
    let deployed = |id: &str, rev: &str| {
        event(
            id,
            annotated.clone(),
            EventKind::Deployed {
                operation: operation(id, rev),
            },
        )
    };
    let mut keys = Vec::new();
    for ev in [
        deployed("ev-1", SHA),
        deployed("ev-2", SHA),
        deployed("ev-3", "abcdef1"),
    ] {
        let plan = s.notifier.plan(&ev, &BTreeMap::new());
        keys.push(s.outbox.enqueue(&plan.messages).await.unwrap().inserted);
        // A deployed event is not a sync-succeeded one: no other trigger fired.
        assert!(plan.messages.iter().all(|m| m.trigger == "on-deployed"));
    }
    assert_eq!(keys, vec![1, 0, 1]);
    assert_eq!(s.dispatcher.run_once().await.unwrap().sent, 2);
}

#[tokio::test]
async fn drift_on_prod_posts_one_message_with_the_summary_and_one_when_healed() {
    let s = setup().await;
    let prod = app(
        "shop",
        &[
            (
                "notifications.argoproj.io/subscribe.on-drift-detected.slack",
                "drift",
            ),
            (
                "notifications.argoproj.io/subscribe.on-drift-healed.slack",
                "drift",
            ),
        ],
    );
    let drift = Drift {
        episode: "shop-drift-1".into(),
        grade: "major".into(),
        summary: vec!["Deployment/shop/web: spec.replicas 3 -> 5".into()],
        resources: 1,
    };
    let detected = event(
        "ev-d1",
        prod.clone(),
        EventKind::DriftDetected {
            drift: drift.clone(),
        },
    );
    let detected_again = event(
        "ev-d2",
        prod.clone(),
        EventKind::DriftDetected {
            drift: drift.clone(),
        },
    );
    let healed = event(
        "ev-h1",
        prod,
        EventKind::DriftHealed {
            drift,
            by_self_heal: true,
        },
    );
    for ev in [&detected, &detected_again, &healed] {
        s.outbox
            .enqueue(&s.notifier.plan(ev, &BTreeMap::new()).messages)
            .await
            .unwrap();
    }
    assert_eq!(s.dispatcher.run_once().await.unwrap().sent, 2);
    let first = s.slack.next().await.json();
    let second = s.slack.next().await.json();
    let first = first["text"].as_str().unwrap();
    assert!(
        first.contains("Drift (major) detected in application shop (prod)"),
        "{first}"
    );
    assert!(
        first.contains("- Deployment/shop/web: spec.replicas 3 -> 5"),
        "{first}"
    );
    assert!(
        second["text"]
            .as_str()
            .unwrap()
            .contains("has been healed by self-heal")
    );
    assert!(s.slack.try_next().await.is_none());
}

#[tokio::test]
async fn a_crash_between_claim_and_record_sends_once_after_the_lease_expires() {
    let s = setup().await;
    let ev = event(
        "op-1",
        app("shop", &[SUBSCRIBE]),
        EventKind::SyncSucceeded {
            operation: operation("op-1", SHA),
        },
    );
    s.outbox
        .enqueue(&s.notifier.plan(&ev, &BTreeMap::new()).messages)
        .await
        .unwrap();
    // Replica A claims, then dies (kill -9) before sending; its lease ran out.
    let now = s.dispatcher.now();
    let dead = s
        .outbox
        .claim(&ClaimRequest {
            owner: "replica-a".into(),
            now,
            lease_until: now,
            limit: 10,
            per_destination: 10,
            exclude: vec![],
        })
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    // Replica B (this dispatcher) takes it over and sends it.
    assert_eq!(s.dispatcher.run_once().await.unwrap().sent, 1);
    assert_eq!(
        s.slack.next().await.json()["channel"],
        "gitops-notifications"
    );
    // A comes back with its stale claim: the fencing token refuses its outcome.
    let stale = s
        .outbox
        .complete(
            dead[0].id,
            dead[0].claim_token,
            Outcome::Retry {
                error: "x".into(),
                next_attempt_at: now,
            },
        )
        .await
        .unwrap();
    assert!(!stale);
    let listed = s.outbox.list(&ListFilter::default()).await.unwrap();
    assert_eq!(listed[0].status, Status::Sent);
    assert_eq!(s.dispatcher.run_once().await.unwrap().claimed, 0);
    assert!(s.slack.try_next().await.is_none());
}

#[tokio::test]
async fn a_failed_message_can_be_sent_again() {
    let s = setup().await;
    s.slack
        .reply_next(200, r#"{"ok":false,"error":"channel_not_found"}"#);
    let ev = event(
        "op-2",
        app("shop", &[SUBSCRIBE]),
        EventKind::SyncSucceeded {
            operation: operation("op-2", SHA),
        },
    );
    s.outbox
        .enqueue(&s.notifier.plan(&ev, &BTreeMap::new()).messages)
        .await
        .unwrap();
    assert_eq!(s.dispatcher.run_once().await.unwrap().failed, 1);
    s.slack.next().await;
    let failed = s
        .outbox
        .list(&ListFilter {
            status: Some(Status::Failed),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].last_error.as_deref(),
        Some("after 1 attempt(s): slack chat.postMessage: channel_not_found")
    );
    assert!(
        s.outbox
            .resend(failed[0].id, s.dispatcher.now())
            .await
            .unwrap()
    );
    assert_eq!(s.dispatcher.run_once().await.unwrap().sent, 1);
    s.slack.next().await;
    let sent = s.outbox.list(&ListFilter::default()).await.unwrap();
    assert_eq!((sent[0].status, sent[0].attempts), (Status::Sent, 2));
}
