//! Issue 21's seed flows through `driftless up`: drift on an app posts one message with the
//! diff summary and one when healed (and the drift report says so); a kill -9 between the
//! event and the send delivers exactly once after the restart; a failed deployment sends one
//! e-mail and a successful one another, through a real SMTP server on loopback.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::notifications::{
    Api, Slack, commit_color, commit_manifest, synced_at, up, write_config,
};

fn web(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: web, image: \"{image}\"}}]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_posts_its_summary_once_and_once_more_when_healed() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let slack = Slack::start().await;
    let rev = commit_color(&r.join("repo"), "red");
    write_config(
        &r.join("config"),
        &r.join("repo"),
        &slack.url,
        "    notifications.argoproj.io/subscribe.on-drift-detected.slack: drift\n    notifications.argoproj.io/subscribe.on-drift-healed.slack: drift\n",
    );
    let (_engine, base) = up(r);
    let api = Api::new(r, base);
    api.wait_app("shop synced", |a| synced_at(a, &rev)).await;

    // An operator edits the live object: drift, then self-heal after its grace.
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(r.join("data/sandbox/kubeconfig"))
        .args([
            "-n",
            "shop",
            "patch",
            "configmap",
            "palette",
            "--type=merge",
            "-p",
            r#"{"data":{"color":"green"}}"#,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let got = slack
        .wait_for("drift detected and healed", |m| m.len() >= 2)
        .await;
    let detected = got[0]["text"].as_str().unwrap();
    assert_eq!(got[0]["channel"], "drift");
    assert!(
        detected.contains("Drift") && detected.contains("application shop"),
        "{detected}"
    );
    assert!(
        detected.contains("ConfigMap") && detected.contains("data.color"),
        "the diff summary names the object and field: {detected}"
    );
    // Values never reach a message (a Secret's would be a leak).
    assert!(!detected.contains("green"), "{detected}");
    let healed = got[1]["text"].as_str().unwrap();
    assert!(
        healed.contains("Drift in application shop has been healed by self-heal"),
        "{healed}"
    );
    api.wait_app("healed", |a| synced_at(a, &rev)).await;

    // The drift report a scheduled CI job keeps: found, graded, summarized, healed, alerted.
    let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(["drift", "report", "--app", "shop", "-o", "json", "--server"])
        .arg(&api.base)
        .env("DRIFTLESS_DATA_DIR", r.join("data"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &report["applications"][0];
    assert_eq!(row["app"], "shop", "{report:#}");
    assert_eq!(row["drifted"], false, "{report:#}");
    assert_eq!(row["healed"], true, "{report:#}");
    assert_eq!(row["healedBySelfHeal"], true, "{report:#}");
    assert_eq!(row["episodes"], 1, "{report:#}");
    assert!(
        row["grade"].as_str().is_some_and(|g| !g.is_empty()),
        "{report:#}"
    );
    assert!(
        row["summary"][0]
            .as_str()
            .is_some_and(|s| s.contains("data.color")),
        "{report:#}"
    );
    assert_eq!(
        row["alerted"],
        serde_json::json!(["slack:drift"]),
        "{report:#}"
    );
    assert_eq!(slack.messages().len(), 2, "{:#?}", slack.messages());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_the_event_and_the_send_the_message_goes_out_once_after_restart() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // Slack is down at first: a port nobody listens on (refused).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let rev = commit_color(&r.join("repo"), "red");
    write_config(
        &r.join("config"),
        &r.join("repo"),
        &url,
        "    notifications.argoproj.io/subscribe.on-sync-succeeded.slack: deploys\n",
    );
    let (mut engine, base) = up(r);
    let api = Api::new(r, base);
    // The event is recorded and its message queued; the first attempt failed.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let outbox = api.get("/api/v1/notifications?app=shop").await;
        let first = &outbox["items"][0];
        if first["attempts"].as_u64().unwrap_or(0) >= 1 {
            assert_eq!(first["status"], "pending", "{outbox:#}");
            assert!(
                !first["lastError"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("xoxb"),
                "{outbox:#}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{outbox:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // kill -9, then Slack comes up on that port and the engine starts again.
    engine.0.kill().unwrap();
    engine.0.wait().unwrap();
    let slack = Slack::on(
        tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap(),
    );
    let (_engine, base) = up(r);
    let api = Api::new(r, base);
    let got = slack
        .wait_for("the queued message", |m| !m.is_empty())
        .await;
    assert!(got[0]["text"].as_str().unwrap().contains(&rev), "{got:#?}");
    // A reconcile after the restart queues nothing more; the one message is sent.
    api.wait_app("synced", |a| synced_at(a, &rev)).await;
    let before = crate::app_view(&api.get("/api/v1/applications/shop").await)
        .status
        .reconciled_at_ms
        .unwrap_or(0);
    api.post("/api/v1/applications/shop/refresh").await;
    api.wait_app("reconciled again", |a| {
        crate::app_view(a).status.reconciled_at_ms.unwrap_or(0) > before
    })
    .await;
    let outbox = api.get("/api/v1/notifications?app=shop").await;
    let items = outbox["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{outbox:#}");
    assert_eq!(items[0]["status"], "sent", "{outbox:#}");
    assert_eq!(slack.messages().len(), 1);
}

/// The notify crate's SMTP server (Debian's python3-aiosmtpd) on a free loopback port.
struct Smtp {
    _child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    port: u16,
}

impl Smtp {
    async fn start(password: &str) -> Smtp {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../notify/tests/fixtures/smtp_server.py"
        );
        let mut child = tokio::process::Command::new("/usr/bin/python3")
            .args(["-W", "ignore", script, password])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs (apt-get install python3-aiosmtpd)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = Self::line(&mut lines).await;
        let port = first
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the SMTP server did not start: {first}"));
        Smtp {
            _child: child,
            lines,
            port,
        }
    }

    async fn line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
        tokio::time::timeout(Duration::from_secs(90), lines.next_line())
            .await
            .expect("a mail within 90 s")
            .unwrap()
            .unwrap_or_default()
    }

    async fn next_mail(&mut self) -> Value {
        serde_json::from_str(&Self::line(&mut self.lines).await).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deployment_sends_one_email_and_a_successful_one_another() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let mut smtp = Smtp::start("mail-pass-21").await;
    let repo = r.join("repo");
    // A Deployment the API server refuses (its selector does not match its template's
    // labels): the apply fails, so does the sync. (An image that cannot run is no sync
    // failure: as in Argo CD, the operation ends when applied and health degrades apart.)
    commit_manifest(
        &repo,
        &web("nginx:1.27").replace(
            "metadata: {labels: {app: web}}",
            "metadata: {labels: {app: other}}",
        ),
    );
    let slack = Slack::start().await;
    write_config(
        &r.join("config"),
        &repo,
        &slack.url,
        "    notifications.argoproj.io/subscribe.on-sync-failed.ops: team@example.com\n    notifications.argoproj.io/subscribe.on-sync-succeeded.ops: team@example.com\n",
    );
    // Argo CD's form this time: the ConfigMap (with the Slack config removed) and its Secret.
    std::fs::write(
        r.join("config/notifications.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: argocd-notifications-cm}}\ndata:\n  service.email.ops: |\n    host: 127.0.0.1\n    port: {}\n    tls: none\n    username: driftless\n    password: $smtp-password\n    from: Driftless <cd@example.com>\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: argocd-notifications-secret}}\nstringData: {{smtp-password: mail-pass-21}}\n",
            smtp.port
        ),
    )
    .unwrap();
    let (_engine, base) = up(r);
    let api = Api::new(r, base);

    let failed = smtp.next_mail().await;
    assert_eq!(failed["to"], serde_json::json!(["team@example.com"]));
    assert_eq!(failed["auth"], "driftless");
    let data = failed["data"].as_str().unwrap();
    assert!(
        data.contains("Subject: Failed to sync application shop."),
        "{data}"
    );

    // The fix lands: one more mail, a success.
    let good = commit_manifest(&repo, &web("nginx:1.27"));
    api.post("/api/v1/applications/shop/refresh").await;
    let succeeded = smtp.next_mail().await;
    let data = succeeded["data"].as_str().unwrap();
    assert!(
        data.contains("Subject: Application shop has been successfully synced."),
        "{data}"
    );
    api.wait_app("synced", |a| synced_at(a, &good)).await;
    let outbox = api.get("/api/v1/notifications?app=shop").await;
    let items = outbox["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{outbox:#}");
    assert!(items.iter().all(|m| m["status"] == "sent"), "{outbox:#}");
    assert!(!outbox.to_string().contains("mail-pass-21"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_running_deployed_once_per_revision_and_degraded() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let repo = r.join("repo");
    let good = commit_manifest(&repo, &web("nginx:1.27"));
    let slack = Slack::start().await;
    write_config(
        &r.join("config"),
        &repo,
        &slack.url,
        "    notifications.argoproj.io/subscribe.on-created.slack: life\n    notifications.argoproj.io/subscribe.on-sync-running.slack: life\n    notifications.argoproj.io/subscribe.on-deployed.slack: life\n    notifications.argoproj.io/subscribe.on-health-degraded.slack: life\n",
    );
    let text_of = |m: &Value| m["text"].as_str().unwrap_or_default().to_string();
    let count = |m: &[Value], what: &str| m.iter().filter(|x| text_of(x).contains(what)).count();
    let (engine, base) = up(r);
    let api = Api::new(r, base);
    let got = slack
        .wait_for("created, running and deployed", |m| {
            count(m, "is now running revision") >= 1
        })
        .await;
    assert_eq!(count(&got, "has been created"), 1, "{got:#?}");
    assert_eq!(
        count(&got, "sync operation of application shop started"),
        1,
        "{got:#?}"
    );
    assert!(
        got.iter()
            .any(|m| text_of(m).contains(&format!("is now running revision {good}"))),
        "{got:#?}"
    );
    api.wait_app("synced", |a| synced_at(a, &good)).await;

    // A restart and a refresh: still Synced and Healthy at the same revision, no second
    // "deployed" and no second "created".
    drop(engine);
    let (engine, base) = up(r);
    let api = Api::new(r, base);
    let before = crate::app_view(&api.get("/api/v1/applications/shop").await)
        .status
        .reconciled_at_ms
        .unwrap_or(0);
    api.post("/api/v1/applications/shop/refresh").await;
    api.wait_app("reconciled after the restart", |a| {
        crate::app_view(a).status.reconciled_at_ms.unwrap_or(0) > before && synced_at(a, &good)
    })
    .await;
    let outbox = api.get("/api/v1/notifications?app=shop").await;
    let mut triggers: Vec<&str> = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["trigger"].as_str().unwrap())
        .collect();
    triggers.sort();
    assert_eq!(
        triggers,
        ["on-created", "on-deployed", "on-sync-running"],
        "{outbox:#}"
    );

    // A broken image: the sync runs, health degrades.
    commit_manifest(&repo, &web("nginx:broken"));
    api.post("/api/v1/applications/shop/refresh").await;
    let got = slack
        .wait_for("degraded", |m| count(m, "has degraded") >= 1)
        .await;
    assert_eq!(
        count(&got, "sync operation of application shop started"),
        2,
        "{got:#?}"
    );
    assert_eq!(count(&got, "is now running revision"), 1, "{got:#?}");
    drop(engine);
}
