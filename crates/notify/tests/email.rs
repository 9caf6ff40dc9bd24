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
        Self::start_with(&[password]).await
    }

    async fn start_with(args: &[&str]) -> Smtp {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp_server.py");
        let mut child = Command::new("/usr/bin/python3")
            .args(["-W", "ignore", script])
            .args(args)
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
    setup_tls(port, password, "none", "")
}

fn setup_tls(port: u16, password: &str, tls: &str, ca: &str) -> (Notifier, Services) {
    let ca_line = if ca.is_empty() {
        ""
    } else {
        "    rootCA: $smtp-ca\n"
    };
    let cm = format!(
        "data:\n  service.email.ops: |\n    host: 127.0.0.1\n    port: {port}\n    tls: {tls}\n{ca_line}    username: driftless\n    password: $smtp-password\n    from: Driftless <cd@example.com>\n  defaultTriggers: |\n    - on-sync-failed\n    - on-sync-succeeded\n"
    );
    let config = argocd::parse_configmap(&cm, "argocd-notifications-cm").unwrap();
    let ca = if ca.is_empty() { None } else { Some(ca) };
    let mut pairs = vec![("smtp-password", password.to_owned())];
    pairs.extend(ca.map(|c| ("smtp-ca", c.to_owned())));
    let secrets = StaticSecrets::new(pairs);
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

/// A private CA and a server certificate for 127.0.0.1 it signed, made by the `openssl` CLI:
/// (dir, server cert path, server key path, CA PEM).
fn certificate() -> (tempfile::TempDir, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let openssl = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl {args:?}");
    };
    let (ca, ca_key, csr, cert, key, ext) = (
        path("ca.pem"),
        path("ca.key"),
        path("server.csr"),
        path("server.pem"),
        path("server.key"),
        path("ext.cnf"),
    );
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Driftless test CA",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &key,
        "-out",
        &csr,
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &ext,
        "-out",
        &cert,
    ]);
    let pem = std::fs::read_to_string(&ca).unwrap();
    (dir, cert, key, pem)
}

async fn send_over(mode: &str, tls: &str) {
    crypto();
    let (_dir, cert, key, pem) = certificate();
    let mut smtp = Smtp::start_with(&["tls-pass-1", mode, &cert, &key]).await;
    let (notifier, services) = setup_tls(smtp.port, "tls-pass-1", tls, &pem);
    let ev = event(
        "op-7",
        app(
            "shop",
            &[(
                "notifications.argoproj.io/subscribe.on-sync-failed.ops",
                "team@example.com",
            )],
        ),
        EventKind::SyncFailed {
            operation: operation("op-7", SHA),
        },
    );
    let outbox = Arc::new(MemoryOutbox::new());
    outbox
        .enqueue(&notifier.plan(&ev, &BTreeMap::new()).messages)
        .await
        .unwrap();
    let d = Dispatcher::new(outbox.clone(), services, DispatcherOptions::default());
    let round = d.run_once().await.unwrap();
    let stored = outbox.list(&ListFilter::default()).await.unwrap();
    assert_eq!(round.sent, 1, "{:?}", stored[0].last_error);
    let mail = smtp.next_mail().await;
    assert_eq!(
        (mail["tls"].as_bool(), mail["auth"].as_str()),
        (Some(true), Some("driftless"))
    );
    assert_eq!(
        header(mail["data"].as_str().unwrap(), "Subject"),
        "Failed to sync application shop."
    );
}

#[tokio::test]
async fn starttls_with_auth_against_a_private_ca() {
    send_over("starttls", "starttls").await;
}

#[tokio::test]
async fn implicit_tls_with_auth_against_a_private_ca() {
    send_over("tls", "tls").await;
}

#[tokio::test]
async fn a_server_without_starttls_is_refused_when_starttls_is_required() {
    crypto();
    let (_dir, _, _, pem) = certificate();
    let smtp = Smtp::start("pw-123456").await;
    let (notifier, services) = setup_tls(smtp.port, "pw-123456", "starttls", &pem);
    let ev = event(
        "op-8",
        app(
            "shop",
            &[(
                "notifications.argoproj.io/subscribe.on-sync-failed.ops",
                "team@example.com",
            )],
        ),
        EventKind::SyncFailed {
            operation: operation("op-8", SHA),
        },
    );
    let outbox = Arc::new(MemoryOutbox::new());
    outbox
        .enqueue(&notifier.plan(&ev, &BTreeMap::new()).messages)
        .await
        .unwrap();
    let d = Dispatcher::new(outbox.clone(), services, DispatcherOptions::default());
    let round = d.run_once().await.unwrap();
    assert_eq!(round.sent, 0);
    let stored = outbox.list(&ListFilter::default()).await.unwrap();
    assert_ne!(stored[0].status, Status::Sent);
    assert!(!stored[0].last_error.clone().unwrap().contains("pw-123456"));
}
