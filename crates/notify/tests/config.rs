//! Argo CD configuration as users bring it: a real-looking `argocd-notifications-cm` (YAML
//! anchors, the catalog's trigger and template shapes, default triggers, default subscriptions)
//! and its secret; and errors that name the key at fault.

use std::collections::BTreeMap;

use driftless_notify::config::argocd;
use driftless_notify::{EventKind, Notifier};

use crate::common::{SHA, app, event, operation};

const CM: &str = r##"apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-notifications-cm
  namespace: argocd
data:
  context: |
    argocdUrl: https://argocd.example.com
    region: eu-west-1
  service.slack: |
    token: $slack-token
    username: Argo CD
    icon: ":rocket:"
  service.email.gmail: |
    username: $email-username
    password: $email-password
    host: smtp.gmail.com
    port: 465
    from: $email-username
  service.webhook.github: |
    url: https://api.github.com
    headers:
    - name: Authorization
      value: token $github-token
  service.teams: |
    recipientUrls:
      channelName: $channel-teams-url
  template.app-deployed: |
    message: &message |
      {{if eq .serviceType "slack"}}:white_check_mark:{{end}} Application {{.app.metadata.name}} is now running new version of deployments manifests.
    email:
      subject: New version of an application {{.app.metadata.name}} is up and running.
    teams:
      title: *message
    slack:
      attachments: |
        [{
          "title": "{{ .app.metadata.name}}",
          "title_link":"{{.context.argocdUrl}}/applications/{{.app.metadata.name}}",
          "color": "#18be52",
          "fields": [{"title": "Revision", "value": "{{.app.status.sync.revision}}", "short": true}]
        }]
    webhook:
      github:
        method: POST
        path: /repos/{{call .repo.FullNameByRepoURL .app.spec.source.repoURL}}/statuses/{{.app.status.operationState.syncResult.revision}}
        body: |
          {"state": "success", "context": "continuous-delivery/{{.app.metadata.name}}"}
  template.app-sync-failed: |
    message: |
      The sync operation of application {{.app.metadata.name}} has failed at {{.app.status.operationState.finishedAt}} with the following error: {{.app.status.operationState.message}}
      Sync operation details are available at: {{.context.argocdUrl}}/applications/{{.app.metadata.name}}?operation=true .
    email:
      subject: Failed to sync application {{.app.metadata.name}}.
  trigger.on-deployed: |
    - description: Application is synced and healthy. Triggered once per commit.
      oncePer: app.status.operationState?.syncResult?.revision
      send:
      - app-deployed
      when: app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Healthy'
  trigger.on-sync-failed: |
    - description: Application syncing has failed
      send:
      - app-sync-failed
      when: app.status.operationState != nil and app.status.operationState.phase in ['Error', 'Failed']
  defaultTriggers: |
    - on-sync-failed
  defaultTriggers.gmail: |
    - on-deployed
    - on-sync-failed
  subscriptions: |
    - recipients:
      - slack:prod-alerts
      triggers:
      - on-sync-failed
      selector: env=prod
    - recipients:
      - slack:staging-only
      selector: env=staging
"##;

#[test]
fn a_real_argocd_notifications_configmap_plans_the_expected_messages() {
    let config = argocd::parse_configmap(CM, "argocd-notifications-cm").unwrap();
    assert_eq!(config.context["argocdUrl"], "https://argocd.example.com");
    assert_eq!(config.services["gmail"].kind.as_str(), "email");
    assert_eq!(config.services["github"].kind.as_str(), "webhook");
    // The catalog's Driftless triggers are still there beside the ConfigMap's.
    assert!(config.triggers.contains_key("on-drift-detected"));

    let notifier = Notifier::new(config);
    let shop = app(
        "shop",
        &[
            ("notifications.argoproj.io/subscribe.slack", "deploys"),
            (
                "notifications.argoproj.io/subscribe.gmail",
                "team@example.com",
            ),
        ],
    );
    let failed = event(
        "op-5",
        shop.clone(),
        EventKind::SyncFailed {
            operation: operation("op-5", SHA),
        },
    );
    let plan = notifier.plan(&failed, &BTreeMap::new());
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    let mut got: Vec<(String, String, String)> = plan
        .messages
        .iter()
        .map(|m| (m.trigger.clone(), m.service.clone(), m.recipient.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "on-sync-failed".into(),
                "gmail".into(),
                "team@example.com".into()
            ),
            ("on-sync-failed".into(), "slack".into(), "deploys".into()),
            // The default subscription for env=prod applications.
            (
                "on-sync-failed".into(),
                "slack".into(),
                "prod-alerts".into()
            ),
        ]
    );
    let text = plan.messages[0].payload["message"].as_str().unwrap();
    assert!(
        text.contains("https://argocd.example.com/applications/shop?operation=true"),
        "{text}"
    );

    let mut shop = shop;
    shop.annotations.insert(
        "notifications.argoproj.io/subscribe.on-deployed.github".into(),
        "x".into(),
    );
    let deployed = event(
        "ev-9",
        shop,
        EventKind::Deployed {
            operation: operation("op-5", SHA),
        },
    );
    let plan = notifier.plan(&deployed, &BTreeMap::new());
    // gmail gets on-deployed through defaultTriggers.gmail. The GitHub webhook's template calls
    // Argo's `repo` helper, which Driftless does not have: that one message is a named problem,
    // the others still go out.
    assert_eq!(plan.messages.len(), 1, "{:?}", plan.messages);
    assert_eq!(plan.problems.len(), 1, "{:?}", plan.problems);
    assert!(
        plan.problems[0].starts_with("template `app-deployed` for github: webhook.path: "),
        "{}",
        plan.problems[0]
    );
    let mail = &plan.messages[0];
    assert_eq!(
        mail.payload["email"]["subject"],
        "New version of an application shop is up and running."
    );
    assert!(
        mail.payload["message"]
            .as_str()
            .unwrap()
            .starts_with(" Application shop is now running")
    );
}

#[test]
fn project_annotations_subscribe_every_application_of_the_project() {
    let config = argocd::parse_configmap(CM, "argocd-notifications-cm").unwrap();
    let project = BTreeMap::from([(
        "notifications.argoproj.io/subscribe.on-deployed.teams".to_owned(),
        "channelName".to_owned(),
    )]);
    let deployed = event(
        "ev-1",
        app("cart", &[]),
        EventKind::Deployed {
            operation: operation("op-1", SHA),
        },
    );
    let plan = Notifier::new(config).plan(&deployed, &project);
    assert_eq!(plan.messages.len(), 1);
    assert_eq!(plan.messages[0].recipient, "channelName");
    assert!(
        plan.messages[0].payload["teams"]["title"]
            .as_str()
            .unwrap()
            .contains("Application cart is now running")
    );
}

#[test]
fn errors_name_the_key_at_fault() {
    let bad = |key: &str, value: &str| {
        let cm = format!("data:\n  {key}: |\n    {}\n", value.replace('\n', "\n    "));
        argocd::parse_configmap(&cm, "argocd-notifications-cm")
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        bad(
            "trigger.on-slow",
            "- when: time.Now().Sub(time.Parse(app.status.operationState.startedAt)).Minutes() >= 5\n  send: [app-deployed]"
        ),
        "argocd-notifications-cm: trigger.on-slow: condition 0: when: expression `time.Now().Sub(time.Parse(app.status.operationState.startedAt)).Minutes() >= 5` uses Argo CD's `time` functions, which Driftless does not provide"
    );
    assert_eq!(
        bad("trigger.on-x", "- when: 'true'\n  send: [no-such-template]"),
        "argocd-notifications-cm: trigger.on-x: sends template `no-such-template`, which is not defined"
    );
    assert_eq!(
        bad("service.pagerduty", "token: x"),
        "argocd-notifications-cm: service.pagerduty: service type `pagerduty` is not supported (slack, teams, webhook, email, github, gitlab, alertmanager)"
    );
    assert!(
        bad("template.broken", "message: '{{if .app}}'")
            .starts_with("argocd-notifications-cm: template.broken: message: ")
    );
    assert_eq!(
        bad("defaultTriggers", "- on-nothing"),
        "argocd-notifications-cm: defaultTriggers: trigger `on-nothing` is not defined"
    );
}

#[test]
fn the_notifications_secret_is_read_from_data_and_string_data() {
    use driftless_notify::SecretResolver;
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: argocd-notifications-secret}\ndata:\n  slack-token: eG94Yi0xMjM=\nstringData:\n  email-password: hunter22\n";
    let secrets = argocd::parse_secret(secret, "argocd-notifications-secret").unwrap();
    assert_eq!(secrets.resolve("slack-token").unwrap().expose(), "xoxb-123");
    assert_eq!(
        secrets.resolve("email-password").unwrap().expose(),
        "hunter22"
    );
    assert_eq!(
        format!("{secrets:?}"),
        r#"["email-password", "slack-token"]"#
    );
}

/// Issue 16's gate has its trigger: `on-policy-denied` sends once per refused revision.
#[test]
fn a_policy_refusal_has_its_trigger_once_per_revision() {
    let config = argocd::parse_configmap(CM, "argocd-notifications-cm").unwrap();
    let subscribed = app(
        "cart",
        &[(
            "notifications.argoproj.io/subscribe.on-policy-denied.teams",
            "channelName",
        )],
    );
    let denied = |id: &str| {
        event(
            id,
            subscribed.clone(),
            EventKind::PolicyDenied {
                revision: SHA.into(),
                message: "1 policy error(s): error[no-latest-tag] Deployment cart/web".into(),
            },
        )
    };
    let notifier = Notifier::new(config);
    let first = notifier.plan(&denied("ev-1"), &BTreeMap::new());
    assert_eq!(first.messages.len(), 1, "{:?}", first.problems);
    let body = first.messages[0].payload.to_string();
    assert!(
        body.contains("was not synced") && body.contains("no-latest-tag"),
        "{body}"
    );
    // Another event about the same revision dedupes on it (oncePer: event.revision).
    let again = notifier.plan(&denied("ev-2"), &BTreeMap::new());
    assert_eq!(again.messages[0].dedupe_key, first.messages[0].dedupe_key);
}
