//! The event and the notifications it causes are one write: both or neither; a replayed event
//! never enqueues a second message. On SQLite and Postgres.

use driftless_notify::outbox::{ClaimRequest, ListFilter, NewMessage, Outbox, Outcome, Status};
use driftless_store::Store;
use serde_json::json;

use super::both;

fn message(key: &str, app: &str) -> NewMessage {
    NewMessage {
        dedupe_key: key.into(),
        event_id: format!("sync:{key}"),
        app: app.into(),
        trigger: "on-sync-succeeded".into(),
        template: "app-sync-succeeded".into(),
        service: "slack".into(),
        service_type: "slack".into(),
        recipient: "chan".into(),
        payload: json!({"message": format!("{app} synced")}),
        created_at: jiff::Timestamp::now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_and_its_notifications_commit_together_once() {
    both(async |s: Store| {
        let (id, n) = s
            .add_event_with_notifications(
                "web",
                "SyncSucceeded",
                "info",
                "synced abc",
                &json!({"revision": "abc"}),
                &[message("k1", "web"), message("k2", "web")],
            )
            .await
            .unwrap();
        assert_eq!((n.inserted, n.duplicates), (2, 0));
        // The same event again (a retried reconcile): a second event row, no second message.
        let (id2, n2) = s
            .add_event_with_notifications(
                "web",
                "SyncSucceeded",
                "info",
                "synced abc",
                &json!({}),
                &[message("k1", "web")],
            )
            .await
            .unwrap();
        assert!(id2 > id);
        assert_eq!((n2.inserted, n2.duplicates), (0, 1));
        let events = s.list_events("web", 0, 10).await.unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].data["revision"], "abc");
        let outbox = s.notification_outbox();
        let all = outbox.list(&ListFilter::default()).await.unwrap();
        let mut keys: Vec<&str> = all.iter().map(|m| m.message.dedupe_key.as_str()).collect();
        keys.sort();
        assert_eq!(keys, ["k1", "k2"]);
        assert!(all.iter().all(|m| m.status == Status::Pending));
        // The dispatcher's cycle on the store's pool: claim, complete, resend.
        let now = jiff::Timestamp::now();
        let claimed = outbox
            .claim(&ClaimRequest {
                owner: "t".into(),
                now,
                lease_until: now + jiff::SignedDuration::from_secs(60),
                limit: 10,
                per_destination: 10,
                exclude: vec![],
            })
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);
        let first = &claimed[0];
        assert!(
            outbox
                .complete(
                    first.id,
                    first.claim_token,
                    Outcome::Failed { error: "no".into() }
                )
                .await
                .unwrap()
        );
        let failed = outbox
            .list(&ListFilter {
                status: Some(Status::Failed),
                app: Some("web".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].last_error.as_deref(), Some("no"));
        assert!(outbox.resend(first.id, now).await.unwrap());
        let by_kind = s
            .events_of_kinds(&["SyncSucceeded", "DriftDetected"], 0, 100)
            .await
            .unwrap();
        assert_eq!(by_kind.len(), 2);
        assert!(
            s.events_of_kinds(&["DriftDetected"], 0, 100)
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_enqueue_records_no_event() {
    both(async |s: Store| {
        s.execute_raw("DROP TABLE notifications").await.unwrap();
        let err = s
            .add_event_with_notifications(
                "web",
                "SyncSucceeded",
                "info",
                "synced",
                &json!({}),
                &[message("k1", "web")],
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("SyncSucceeded of web"), "{err}");
        assert!(s.list_events("web", 0, 10).await.unwrap().is_empty());
    })
    .await;
}
