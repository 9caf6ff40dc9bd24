//! kill -9 tests: a real child process (this test binary, re-run as `crash::child`) enqueues
//! and sends through the SQL outbox on a SQLite file and is killed with SIGKILL; the parent then
//! delivers from the same database. Killed after the event: sent exactly once. Killed mid-send:
//! never lost, resent once after the lease with the same delivery key (the documented window).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use driftless_notify::config::argocd;
use driftless_notify::outbox::sql::{Dialect, SqlOutbox};
use driftless_notify::outbox::{ListFilter, Status};
use driftless_notify::service::{HttpClient, Services};
use driftless_notify::{Dispatcher, DispatcherOptions, EventKind, Notifier, Outbox, StaticSecrets};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::common::{Receiver, SHA, app, crypto, event, operation};

const TEMPLATE: &str = "  template.app-sync-failed: |\n    message: failed\n    webhook:\n      audit:\n        method: POST\n        body: '{\"app\": \"{{.app.metadata.name}}\"}'\n";

async fn outbox(db: &str) -> Arc<SqlOutbox> {
    install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(2)
        .connect(&format!("sqlite://{db}?mode=rwc"))
        .await
        .unwrap();
    Arc::new(SqlOutbox::new(pool, Dialect::Sqlite))
}

fn parts(url: &str) -> (Notifier, Services) {
    let cm = format!("data:\n  service.webhook.audit: |\n    url: {url}\n{TEMPLATE}");
    let config = argocd::parse_configmap(&cm, "cm").unwrap();
    let services = Services::build(
        &config,
        &StaticSecrets::default(),
        &HttpClient::new(Duration::from_secs(30)).unwrap(),
    )
    .unwrap();
    (Notifier::new(config), services)
}

/// The child: runs only when the parent sets NOTIFY_CRASH_DB.
#[tokio::test]
async fn child() {
    let (Ok(db), Ok(url), Ok(mode)) = (
        std::env::var("NOTIFY_CRASH_DB"),
        std::env::var("NOTIFY_CRASH_URL"),
        std::env::var("NOTIFY_CRASH_MODE"),
    ) else {
        return;
    };
    crypto();
    let outbox = outbox(&db).await;
    let (notifier, services) = parts(&url);
    let ev = event(
        "op-1",
        app(
            "shop",
            &[(
                "notifications.argoproj.io/subscribe.on-sync-failed.audit",
                "x",
            )],
        ),
        EventKind::SyncFailed {
            operation: operation("op-1", SHA),
        },
    );
    outbox
        .enqueue(&notifier.plan(&ev, &BTreeMap::new()).messages)
        .await
        .unwrap();
    println!("ENQUEUED");
    if mode == "send" {
        let options = DispatcherOptions {
            lease: Duration::from_secs(3),
            send_timeout: Duration::from_secs(2),
            ..Default::default()
        };
        // Hangs in the send: the endpoint never answers; the parent kills us meanwhile.
        let _ = Dispatcher::new(outbox, services, options).run_once().await;
    }
    std::future::pending::<()>().await;
}

/// Starts the child, waits for ENQUEUED (and, when sending, for its connection), kills it -9.
async fn run_and_kill(
    db: &str,
    url: &str,
    mode: &str,
    connected: Option<&mut mpsc::UnboundedReceiver<()>>,
) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash::child", "--nocapture", "--test-threads=1"])
        .env("NOTIFY_CRASH_DB", db)
        .env("NOTIFY_CRASH_URL", url)
        .env("NOTIFY_CRASH_MODE", mode)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let wait = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("ENQUEUED") {
                break;
            }
        }
        if let Some(rx) = connected {
            rx.recv().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the child got that far");
    child.start_kill().unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    assert!(!status.success());
}

#[tokio::test]
async fn killed_between_the_event_and_the_send_it_is_sent_exactly_once_after_restart() {
    crypto();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db").display().to_string();
    sqlx_setup(&db).await;
    let hook = Receiver::start(200, "ok").await;
    run_and_kill(&db, &hook.url, "enqueue", None).await;
    assert!(hook.try_next().await.is_none());
    // "Restart": a new process state on the same database.
    let outbox = outbox(&db).await;
    let (_, services) = parts(&hook.url);
    let d = Dispatcher::new(outbox.clone(), services, DispatcherOptions::default());
    assert_eq!(d.run_once().await.unwrap().sent, 1);
    assert_eq!(hook.next().await.json()["app"], "shop");
    assert_eq!(d.run_once().await.unwrap().claimed, 0);
    assert!(hook.try_next().await.is_none());
}

#[tokio::test]
async fn killed_mid_send_it_is_resent_once_after_the_lease_with_the_same_delivery_key() {
    crypto();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db").display().to_string();
    sqlx_setup(&db).await;
    // The child's endpoint accepts and never answers; we learn when it connected.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung = format!("http://{}", listener.local_addr().unwrap());
    let (tx, mut connected) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            let _ = tx.send(());
        }
    });
    run_and_kill(&db, &hung, "send", Some(&mut connected)).await;
    let outbox = outbox(&db).await;
    let claimed = outbox.list(&ListFilter::default()).await.unwrap();
    assert_eq!(
        (claimed[0].status, claimed[0].attempts),
        (Status::Sending, 0)
    );
    // The restarted engine delivers it once its lease (3 s) is over.
    let hook = Receiver::start(200, "ok").await;
    let (_, services) = parts(&hook.url);
    let options = DispatcherOptions {
        poll: Duration::from_millis(100),
        ..Default::default()
    };
    let d = Dispatcher::new(outbox.clone(), services, options);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = d.clone();
    let task = tokio::spawn(async move {
        runner
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    let got = hook.next().await;
    let _ = stop.send(());
    task.await.unwrap();
    assert_eq!(
        got.header("x-driftless-delivery"),
        claimed[0].message.dedupe_key
    );
    let sent = outbox.list(&ListFilter::default()).await.unwrap();
    assert_eq!((sent[0].status, sent[0].attempts), (Status::Sent, 1));
    assert!(hook.try_next().await.is_none());
}

async fn sqlx_setup(db: &str) {
    install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{db}?mode=rwc"))
        .await
        .unwrap();
    sqlx::raw_sql(include_str!(
        "../../store/migrations/sqlite/0005_notifications.sql"
    ))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}
