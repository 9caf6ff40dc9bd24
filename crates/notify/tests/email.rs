//! E-mail through a real SMTP server on loopback (Debian's python3-aiosmtpd, started and stopped
//! by the test): a failed sync sends one e-mail, a successful one another, with AUTH.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use driftless_notify::config::argocd;
use driftless_notify::outbox::memory::MemoryOutbox;
use driftless_notify::outbox::{ListFilter, Status};
use driftless_notify::service::{HttpClient, Services};
use driftless_notify::{Dispatcher, DispatcherOptions, EventKind, Notifier, Outbox, StaticSecrets};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::common::{SHA, app, crypto, event, operation};

/// The SMTP server process; killed when dropped.
struct Smtp {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    port: u16,
}

impl Smtp {
    async fn start(password: &str) -> Smtp {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp_server.py");
        let mut child = Command::new("/usr/bin/python3")
            .args(["-W", "ignore", script])
            .arg(password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs (apt-get install python3-aiosmtpd)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = next_line(&mut lines).await;
        let port = first
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!("the SMTP server did not start (is python3-aiosmtpd installed?): {first}")
            });
        Smtp {
            _child: child,
            lines,
            port,
        }
    }

    async fn next_mail(&mut self) -> Value {
        serde_json::from_str(&next_line(&mut self.lines).await).unwrap()
    }
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the SMTP server answered within 20 s")
        .unwrap()
        .unwrap_or_default()
}

fn setup(port: u16, password: &str) -> (Notifier, Services) {
    let cm = format!(
        "data:\n  service.email.ops: |\n    host: 127.0.0.1\n    port: {port}\n    tls: none\n    username: driftless\n    password: $smtp-password\n    from: Driftless <cd@example.com>\n  defaultTriggers: |\n    - on-sync-failed\n    - on-sync-succeeded\n"
    );
    let config = argocd::parse_configmap(&cm, "argocd-notifications-cm").unwrap();
    let secrets = StaticSecrets::new([("smtp-password", password)]);
    let services = Services::build(
        &config,
        &secrets,
        &HttpClient::new(Duration::from_secs(5)).unwrap(),
    )
    .unwrap();
    (Notifier::new(config), services)
}

fn header<'a>(mail: &'a str, name: &str) -> &'a str {
    mail.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} header in {mail}"))
}

#[tokio::test]
async fn a_failed_sync_sends_one_email_and_a_successful_one_another() {
    crypto();
    let mut smtp = Smtp::start("mail-pass-77").await;
    let (notifier, services) = setup(smtp.port, "mail-pass-77");
    let annotated = app(
        "shop",
        &[(
            "notifications.argoproj.io/subscribe.ops",
            "team@example.com",
        )],
    );
    let mut failed_op = operation("op-1", SHA);
    failed_op.message = "Deployment/web: field is immutable".into();
    let failed = event(
        "op-1",
        annotated.clone(),
        EventKind::SyncFailed {
            operation: failed_op,
        },
    );
    let succeeded = event(
        "op-2",
        annotated,
        EventKind::SyncSucceeded {
            operation: operation("op-2", SHA),
        },
    );
    let outbox = Arc::new(MemoryOutbox::new());
    for ev in [&failed, &succeeded, &failed] {
        outbox
            .enqueue(&notifier.plan(ev, &BTreeMap::new()).messages)
            .await
            .unwrap();
    }
    let d = Dispatcher::new(outbox.clone(), services, DispatcherOptions::default());
    assert_eq!(d.run_once().await.unwrap().sent, 2);

    let first = smtp.next_mail().await;
    assert_eq!(first["from"], "cd@example.com");
    assert_eq!(first["to"], serde_json::json!(["team@example.com"]));
    assert_eq!(first["auth"], "driftless");
    let data = first["data"].as_str().unwrap();
    assert_eq!(header(data, "Subject"), "Failed to sync application shop.");
    assert!(
        data.contains("Deployment/web: field is immutable"),
        "{data}"
    );
    let stored = outbox.list(&ListFilter::default()).await.unwrap();
    let failed_key = &stored
        .iter()
        .find(|m| m.message.trigger == "on-sync-failed")
        .unwrap()
        .message
        .dedupe_key;
    assert_eq!(
        header(data, "Message-ID"),
        format!("<{failed_key}@driftless.notify>")
    );

    let second = smtp.next_mail().await;
    let data = second["data"].as_str().unwrap();
    assert_eq!(
        header(data, "Subject"),
        "Application shop has been successfully synced."
    );
    assert!(data.contains(SHA), "{data}");
}

#[tokio::test]
async fn a_wrong_password_is_a_permanent_failure_that_names_no_secret() {
    crypto();
    let smtp = Smtp::start("right-password").await;
    let (notifier, services) = setup(smtp.port, "wrong-password");
    let ev = event(
        "op-3",
        app(
            "shop",
            &[(
                "notifications.argoproj.io/subscribe.on-sync-failed.ops",
                "team@example.com",
            )],
        ),
        EventKind::SyncFailed {
            operation: operation("op-3", SHA),
        },
    );
    let outbox = Arc::new(MemoryOutbox::new());
    outbox
        .enqueue(&notifier.plan(&ev, &BTreeMap::new()).messages)
        .await
        .unwrap();
    let d = Dispatcher::new(outbox.clone(), services, DispatcherOptions::default());
    assert_eq!(d.run_once().await.unwrap().failed, 1);
    let stored = outbox.list(&ListFilter::default()).await.unwrap();
    assert_eq!(stored[0].status, Status::Failed);
    let error = stored[0].last_error.clone().unwrap();
    assert!(error.contains("535"), "{error}");
    assert!(!error.contains("wrong-password"), "{error}");
}
