//! The SQL outbox on a real SQLite database built from the store's `migrations/sqlite/0005_notifications.sql`:
//! dedupe by UNIQUE key inside the event's transaction, concurrent claimers never sharing a
//! message, fencing tokens, retry and resend, and the dispatcher delivering from it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use driftless_notify::outbox::sql::{Dialect, SqlOutbox};
use driftless_notify::outbox::{ClaimRequest, ListFilter, Outcome, Status};
use driftless_notify::{Dispatcher, DispatcherOptions, EventKind, NewMessage, Notifier, Outbox};
use serde_json::json;
use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};

use crate::common::{Receiver, SHA, app, at, crypto, event, operation};

async fn database() -> (tempfile::TempDir, AnyPool) {
    install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("store.db").display()
    );
    let pool = AnyPoolOptions::new()
        .max_connections(4)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(
                    conn,
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000;",
                )
                .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .unwrap();
    // The store's events table, so the test can show "same transaction as the event".
    sqlx::raw_sql("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL, kind TEXT NOT NULL);")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::raw_sql(include_str!(
        "../../store/migrations/sqlite/0005_notifications.sql"
    ))
    .execute(&pool)
    .await
    .unwrap();
    (dir, pool)
}

fn message(n: usize, destination: &str) -> NewMessage {
    NewMessage {
        dedupe_key: format!("key-{n}"),
        event_id: format!("ev-{n}"),
        app: "shop".into(),
        trigger: "on-sync-failed".into(),
        template: "app-sync-failed".into(),
        service: destination.into(),
        service_type: "webhook".into(),
        recipient: "r".into(),
        payload: json!({"message": format!("m{n}")}),
        created_at: at(0),
    }
}

fn claim(owner: &str, now: jiff::Timestamp, limit: usize, per_destination: usize) -> ClaimRequest {
    ClaimRequest {
        owner: owner.into(),
        now,
        lease_until: now.checked_add(Duration::from_secs(60)).unwrap(),
        limit,
        per_destination,
        exclude: vec![],
    }
}

#[tokio::test]
async fn enqueued_with_the_event_in_one_transaction_and_never_twice() {
    let (_dir, pool) = database().await;
    let messages = vec![message(1, "a"), message(2, "a")];
    for _ in 0..2 {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO events (app, kind) VALUES ($1, $2)")
            .bind("shop")
            .bind("sync-failed")
            .execute(&mut *tx)
            .await
            .unwrap();
        SqlOutbox::enqueue_in(&mut tx, &messages).await.unwrap();
        tx.commit().await.unwrap();
    }
    // A rolled-back event leaves no notification behind.
    let mut tx = pool.begin().await.unwrap();
    SqlOutbox::enqueue_in(&mut tx, &[message(3, "a")])
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let outbox = SqlOutbox::new(pool, Dialect::Sqlite);
    let again = outbox.enqueue(&messages).await.unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 2));
    let listed = outbox.list(&ListFilter::default()).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|m| m.message.dedupe_key.as_str())
            .collect::<Vec<_>>(),
        vec!["key-2", "key-1"]
    );
    assert_eq!(listed[0].message, messages[1]);
}

#[tokio::test]
async fn concurrent_claimers_never_share_a_message() {
    let (_dir, pool) = database().await;
    let outbox = Arc::new(SqlOutbox::new(pool, Dialect::Sqlite));
    let all: Vec<NewMessage> = (0..300)
        .map(|n| message(n, &format!("d{}", n % 7)))
        .collect();
    outbox.enqueue(&all).await.unwrap();
    let mut tasks = Vec::new();
    for replica in 0..3 {
        let outbox = outbox.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = outbox
                    .claim(&claim(&format!("replica-{replica}"), at(10), 17, 5))
                    .await
                    .unwrap();
                if got.is_empty() {
                    return mine;
                }
                assert!(
                    got.iter().all(
                        |m| m.lease_owner.as_deref() == Some(&format!("replica-{replica}")[..])
                    )
                );
                mine.extend(got.into_iter().map(|m| m.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(seen.insert(id), "message {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 300);
}

#[tokio::test]
async fn claims_respect_per_destination_exclusions_leases_and_fencing() {
    let (_dir, pool) = database().await;
    let outbox = SqlOutbox::new(pool, Dialect::Sqlite);
    let batch: Vec<NewMessage> = (0..6)
        .map(|n| message(n, if n < 4 { "busy" } else { "quiet" }))
        .collect();
    outbox.enqueue(&batch).await.unwrap();
    let mut request = claim("a", at(10), 10, 2);
    request.exclude = vec!["quiet:r".into()];
    let first = outbox.claim(&request).await.unwrap();
    assert_eq!(
        first
            .iter()
            .map(|m| m.message.dedupe_key.as_str())
            .collect::<Vec<_>>(),
        vec!["key-0", "key-1"]
    );
    // Before the lease ends nobody else gets them; after, another replica does, with a new token.
    let others = outbox.claim(&claim("b", at(20), 10, 10)).await.unwrap();
    assert_eq!(others.len(), 4);
    // a's lease (until 70 s) has run out, b's (until 80 s) not yet.
    let taken_over = outbox.claim(&claim("b", at(75), 10, 10)).await.unwrap();
    assert_eq!(taken_over.len(), 2);
    assert!(
        !outbox
            .complete(
                first[0].id,
                first[0].claim_token,
                Outcome::Sent { at: at(75) }
            )
            .await
            .unwrap()
    );
    let now = taken_over.iter().find(|m| m.id == first[0].id).unwrap();
    assert!(
        outbox
            .complete(
                now.id,
                now.claim_token,
                Outcome::Retry {
                    error: "HTTP 503".into(),
                    next_attempt_at: at(200)
                }
            )
            .await
            .unwrap()
    );
    let retried = outbox
        .list(&ListFilter {
            status: Some(Status::Pending),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (
            retried[0].attempts,
            retried[0].next_attempt_at,
            retried[0].last_error.as_deref()
        ),
        (1, at(200), Some("HTTP 503"))
    );
    let early = outbox.claim(&claim("c", at(150), 10, 10)).await.unwrap();
    assert!(
        early.iter().all(|m| m.id != first[0].id),
        "claimed before its retry time"
    );
    let again = outbox.claim(&claim("c", at(200), 10, 10)).await.unwrap();
    let m = again.iter().find(|m| m.id == first[0].id).unwrap();
    assert!(
        outbox
            .complete(
                m.id,
                m.claim_token,
                Outcome::Failed {
                    error: "gave up".into()
                }
            )
            .await
            .unwrap()
    );
    assert!(outbox.resend(m.id, at(300)).await.unwrap());
    let pending = outbox
        .list(&ListFilter {
            status: Some(Status::Pending),
            app: Some("shop".into()),
            service: Some("busy".into()),
            limit: Some(10),
        })
        .await
        .unwrap();
    assert_eq!(
        (
            pending[0].id,
            pending[0].attempts,
            pending[0].last_error.as_deref()
        ),
        (m.id, 2, Some("gave up"))
    );
}

#[tokio::test]
async fn the_dispatcher_delivers_from_the_sql_outbox_exactly_once() {
    crypto();
    let (_dir, pool) = database().await;
    let hook = Receiver::start(200, "ok").await;
    let cm = format!(
        "data:\n  service.webhook.audit: |\n    url: {}\n  template.app-sync-failed: |\n    message: failed\n    webhook:\n      audit:\n        method: POST\n        body: '{{\"app\": \"{{{{.app.metadata.name}}}}\"}}'\n",
        hook.url
    );
    let config = driftless_notify::config::argocd::parse_configmap(&cm, "cm").unwrap();
    let services = driftless_notify::service::Services::build(
        &config,
        &driftless_notify::StaticSecrets::default(),
        &driftless_notify::service::HttpClient::new(Duration::from_secs(5)).unwrap(),
    )
    .unwrap();
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
    let notifier = Notifier::new(config);
    let outbox = Arc::new(SqlOutbox::new(pool, Dialect::Sqlite));
    // Planned and enqueued by two replicas.
    for _ in 0..2 {
        outbox
            .enqueue(&notifier.plan(&ev, &BTreeMap::new()).messages)
            .await
            .unwrap();
    }
    let d = Dispatcher::new(outbox.clone(), services, DispatcherOptions::default());
    assert_eq!(d.run_once().await.unwrap().sent, 1);
    assert_eq!(hook.next().await.json(), json!({"app": "shop"}));
    assert_eq!(d.run_once().await.unwrap().claimed, 0);
    assert!(hook.try_next().await.is_none());
    let sent = outbox.list(&ListFilter::default()).await.unwrap();
    assert_eq!(
        (
            sent[0].status,
            sent[0].attempts,
            sent[0].lease_owner.clone()
        ),
        (Status::Sent, 1, None)
    );
    assert!(sent[0].sent_at.is_some());
}

#[tokio::test]
async fn a_claim_round_stays_cheap_with_1000_messages_queued_for_one_destination() {
    let (_dir, pool) = database().await;
    let outbox = SqlOutbox::new(pool, Dialect::Sqlite);
    let mut all: Vec<NewMessage> = (0..1000).map(|n| message(n, "dead")).collect();
    all.extend((1000..1010).map(|n| message(n, "live")));
    let started = std::time::Instant::now();
    outbox.enqueue(&all).await.unwrap();
    let enqueue = started.elapsed();
    let started = std::time::Instant::now();
    let claimed = outbox.claim(&claim("a", at(10), 200, 10)).await.unwrap();
    let round = started.elapsed();
    eprintln!(
        "BENCH sql outbox (SQLite file, WAL): enqueue 1010 in one transaction = {enqueue:?}; one claim round over them = {round:?}"
    );
    // Fairness: the dead destination gets its 10, the live one all of its own.
    let live = claimed.iter().filter(|m| m.destination == "live:r").count();
    assert_eq!((claimed.len(), live), (20, 10));
}
