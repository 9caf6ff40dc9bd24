//! Promotion notifications from the engine: a promotion waiting for approval and its approval
//! each plan one message for the target application's subscribers, with the promotion's
//! stages, revision and approver from its record (the outbox rows are checked; delivery is
//! proven in the `driftless` package's tests).

use std::time::{Duration, Instant};

use driftless_core::pipeline::Pipeline;
use driftless_core::users::Caller;
use driftless_engine::controller::ControllerConfig;
use driftless_engine::controller::promotion::Phase;
use driftless_notify::Outbox;
use driftless_notify::outbox::ListFilter;
use driftless_testkit::repo::TestRepo;

use crate::common::*;

const BASE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: shop}]}\n";
const OVERLAY: &str = "resources:\n- ../../base\nimages:\n- name: shop\n  newTag: \"1.0\"\n";
const PIPELINE: &str = "apiVersion: driftless.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: shop}\nspec:\n  freight: [{image: shop}]\n  stages:\n  - {name: dev, applications: [n-dev]}\n  - name: prod\n    applications: [n-prod]\n    autoPromote: true\n    approval: {required: 1, role: release, timeout: 1h}\n";

fn app(name: &str, url: &str, env: &str) -> driftless_core::app::Application {
    driftless_core::app::parse(
        &format!("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  annotations:\n    notifications.argoproj.io/subscribe.on-promotion-waiting-for-approval.slack: releases\n    notifications.argoproj.io/subscribe.on-promotion-approved.slack: releases\nspec:\n  source: {{repoURL: \"{url}\", path: envs/{env}, targetRevision: main}}\n  destination: {{namespace: {name}}}\n  syncPolicy:\n    automated: {{prune: true}}\n    syncOptions: [CreateNamespace=true]\n"),
        "app.yaml",
    )
    .unwrap()
    .remove(0)
    .app
}

/// The outbox's messages of `app` for `trigger`, waiting (bounded) until there is one.
async fn messages_for(
    ctl: &driftless_engine::controller::Controller,
    app: &str,
    trigger: &str,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = ctl
            .store
            .notification_outbox()
            .list(&ListFilter {
                app: Some(app.into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let found: Vec<serde_json::Value> = all
            .iter()
            .filter(|m| m.message.trigger == trigger)
            .map(|m| m.message.payload.clone())
            .collect();
        if !found.is_empty() {
            return found;
        }
        assert!(Instant::now() < deadline, "no {trigger} message: {all:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_waiting_for_approval_and_approved_is_announced_once_each() {
    let env = env().await;
    let repo = TestRepo::new("notified");
    repo.commit(
        &[
            ("base/deploy.yaml", Some(BASE)),
            (
                "base/kustomization.yaml",
                Some("resources: [deploy.yaml]\n"),
            ),
            ("envs/dev/kustomization.yaml", Some(OVERLAY)),
            ("envs/prod/kustomization.yaml", Some(OVERLAY)),
        ],
        "two environments",
    );
    let url = format!("file://{}/{}", repo.root().display(), repo.name());
    let cfg = ControllerConfig {
        resync: Duration::from_millis(300),
        promotion_interval: Duration::from_millis(200),
        health_timeout: Duration::from_secs(4),
        ..Default::default()
    };
    let (ctl, _stop, _dir) = running_controller(&env, cfg).await;
    // Slack on a port nothing listens on: the messages stay in the outbox, which is checked.
    let config = driftless_notify::config::native::parse(
        "apiVersion: driftless.dev/v1alpha1\nkind: NotificationConfig\nmetadata: {name: n}\nspec:\n  services:\n    slack: {type: slack, token: xoxb-t, apiURL: \"http://127.0.0.1:9\"}\n",
        "notifications.yaml",
    )
    .unwrap();
    ctl.notifications()
        .configure(config, &driftless_notify::StaticSecrets::default())
        .unwrap();
    ctl.set_app(app("n-dev", &url, "dev"), "test")
        .await
        .unwrap();
    ctl.set_app(app("n-prod", &url, "prod"), "test")
        .await
        .unwrap();
    let doc = driftless_core::yaml::parse_one(PIPELINE, &Default::default()).unwrap();
    ctl.set_pipeline(Pipeline::from_doc(&doc, "p.yaml").unwrap(), "test", false)
        .await
        .unwrap();
    wait_status(&ctl, "n-dev", "Healthy", |s| {
        s.health_status() == Some(driftless_health::HealthStatus::Healthy)
    })
    .await;

    ctl.set_image("n-dev", "shop:1.1", "ci").await.unwrap();
    let waiting = messages_for(&ctl, "n-prod", "on-promotion-waiting-for-approval").await;
    assert_eq!(waiting.len(), 1, "{waiting:#?}");
    let text = waiting[0]["message"].as_str().unwrap();
    assert!(
        text.contains("of pipeline shop from dev to prod waits for approval"),
        "{text}"
    );
    let id = ctl.promotions("shop", 10).await.unwrap()[0].id;
    ctl.decide(
        id,
        &Caller {
            name: "alice".into(),
            roles: vec!["release".into()],
        },
        true,
        "ship it",
    )
    .await
    .unwrap();
    let approved = messages_for(&ctl, "n-prod", "on-promotion-approved").await;
    assert_eq!(approved.len(), 1, "{approved:#?}");
    let text = approved[0]["message"].as_str().unwrap();
    assert!(text.contains("to prod was approved by alice"), "{text}");
    // Still one of each once the promotion has landed (the driver looks again and again).
    let deadline = Instant::now() + Duration::from_secs(60);
    while ctl.promotion(id).await.unwrap().unwrap().phase != Phase::Succeeded {
        assert!(Instant::now() < deadline, "promotion never landed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        messages_for(&ctl, "n-prod", "on-promotion-waiting-for-approval")
            .await
            .len(),
        1
    );
}
