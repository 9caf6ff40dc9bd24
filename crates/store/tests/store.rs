//! Every store scenario runs on SQLite and on a real PostgreSQL started for the test.

mod coordination;
mod notifications;

use driftless_store::{AuditQuery, HistoryEntry, OperationPhase, Store, StoreError};
use driftless_testkit::postgres::PgServer;
use serde_json::json;

pub(crate) async fn both(scenario: impl AsyncFn(Store)) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::sqlite(&dir.path().join("driftless.db"))
        .await
        .unwrap();
    scenario(sqlite).await;
    let pg = PgServer::start();
    let postgres = Store::open(&pg.url()).await.unwrap();
    scenario(postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_round_trip_and_page() {
    both(async |s: Store| {
        for name in ["c", "a", "b"] {
            s.put_app(name, &json!({"source": {"path": name}}))
                .await
                .unwrap();
        }
        s.put_app("a", &json!({"source": {"path": "a2"}}))
            .await
            .unwrap();
        assert!(
            s.set_app_status("a", &json!({"sync": "Synced"}))
                .await
                .unwrap()
        );
        assert!(!s.set_app_status("zzz", &json!({})).await.unwrap());
        let a = s.get_app("a").await.unwrap().unwrap();
        assert_eq!(a.spec["source"]["path"], "a2");
        assert_eq!(a.status["sync"], "Synced");
        let page1 = s.list_apps("", 2).await.unwrap();
        assert_eq!(
            page1.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let page2 = s.list_apps(&page1[1].name, 2).await.unwrap();
        assert_eq!(
            page2.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
            ["c"]
        );
        assert!(s.delete_app("b").await.unwrap());
        assert!(s.get_app("b").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_are_kept_per_kind_and_name() {
    both(async |s: Store| {
        let spec = json!({"url": "https://git.example.com/a.git", "username": "bot"});
        s.put_definition("Repository", "a", &spec).await.unwrap();
        s.put_definition("Repository", "b", &json!({"url": "u"}))
            .await
            .unwrap();
        s.put_definition("Cluster", "a", &json!({"server": "s"}))
            .await
            .unwrap();
        s.put_definition("Repository", "b", &json!({"url": "u2"}))
            .await
            .unwrap();
        let repos = s.list_definitions("Repository").await.unwrap();
        assert_eq!(
            repos,
            vec![
                ("a".to_string(), spec),
                ("b".to_string(), json!({"url": "u2"}))
            ]
        );
        assert!(s.delete_definition("Repository", "a").await.unwrap());
        assert!(!s.delete_definition("Repository", "a").await.unwrap());
        assert_eq!(s.list_definitions("Repository").await.unwrap().len(), 1);
        assert_eq!(s.list_definitions("Cluster").await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_is_recorded_before_acting_and_after_each_step() {
    both(async |s: Store| {
        let id = s
            .begin_operation("shop", "sync", "abc123", &json!({"prune": true}))
            .await
            .unwrap();
        s.record_step(id, &json!({"wave": 0, "applied": 3}))
            .await
            .unwrap();
        s.record_step(id, &json!({"wave": 1, "applied": 1}))
            .await
            .unwrap();
        // A restart now finds it in flight, with its steps.
        let running = s.running_operations().await.unwrap();
        assert_eq!(running.len(), 1);
        assert_eq!(
            running[0].progress,
            json!([{"wave": 0, "applied": 3}, {"wave": 1, "applied": 1}])
        );
        s.finish_operation(
            id,
            OperationPhase::Interrupted,
            &json!({"message": "engine restarted mid-sync"}),
        )
        .await
        .unwrap();
        assert!(s.running_operations().await.unwrap().is_empty());
        let op = s.get_operation(id).await.unwrap().unwrap();
        assert_eq!(op.phase, OperationPhase::Interrupted);
        assert!(op.finished_ms.is_some());
        assert_eq!(s.list_operations("shop", 10).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_keeps_the_newest_entries_per_app() {
    both(async |s: Store| {
        for i in 0..5 {
            let e = HistoryEntry {
                id: 0,
                app: "shop".into(),
                revision: format!("rev{i}"),
                digest: format!("d{i}"),
                operation_id: i,
                deployed_ms: 1000 + i,
                desired: json!([{"kind": "ConfigMap", "n": i}]),
                live_snapshot: json!([]),
            };
            s.add_history(&e, 3).await.unwrap();
        }
        s.add_history(
            &HistoryEntry {
                app: "other".into(),
                revision: "x".into(),
                digest: "x".into(),
                id: 0,
                operation_id: 9,
                deployed_ms: 1,
                desired: json!([]),
                live_snapshot: json!([]),
            },
            3,
        )
        .await
        .unwrap();
        let h = s.list_history("shop").await.unwrap();
        assert_eq!(
            h.iter().map(|e| e.revision.as_str()).collect::<Vec<_>>(),
            ["rev4", "rev3", "rev2"]
        );
        assert_eq!(h[0].desired, json!([{"kind": "ConfigMap", "n": 4}]));
        assert_eq!(s.list_history("other").await.unwrap().len(), 1);
        let e1 = s
            .add_event(
                "shop",
                "DriftDetected",
                "medium",
                "Deployment shop/web: spec.replicas",
                &json!({"diff": "-1\n+2"}),
            )
            .await
            .unwrap();
        s.add_event("shop", "SyncSucceeded", "info", "synced", &json!({}))
            .await
            .unwrap();
        let after = s.list_events("shop", e1, 10).await.unwrap();
        assert_eq!(
            after.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            ["SyncSucceeded"]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_append_only_and_tampering_is_detected() {
    both(async |s: Store| {
        // Concurrent appends each get their own place in the chain.
        let mut tasks = Vec::new();
        for i in 0..20 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.audit(
                    &format!("user{}", i % 3),
                    "app.sync",
                    &format!("app/shop{i}"),
                    &json!({"n": i}),
                )
                .await
                .unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(s.verify_audit().await.unwrap(), 20);
        let by_user = s
            .list_audit(&AuditQuery {
                actor: Some("user1".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(by_user.len(), 7);
        let pref = s
            .list_audit(&AuditQuery {
                target_prefix: Some("app/shop1".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(pref.len(), 11, "shop1 and shop10..19");

        // The database refuses rewrites...
        let refused = sqlx_exec(&s, "UPDATE audit SET actor = 'mallory' WHERE seq = 5").await;
        assert!(refused.unwrap_err().contains("append-only"));
        // ...and with the guard removed, the chain still tells.
        let drop = match s.backend() {
            driftless_store::Backend::Sqlite => "DROP TRIGGER audit_no_update",
            driftless_store::Backend::Postgres => "DROP TRIGGER audit_no_update ON audit",
        };
        sqlx_exec(&s, drop).await.unwrap();
        sqlx_exec(
            &s,
            "UPDATE audit SET details = '{\"n\": 999}' WHERE seq = 5",
        )
        .await
        .unwrap();
        match s.verify_audit().await {
            Err(StoreError::Tampered { seq: 5, message }) => {
                assert!(message.contains("does not match"), "{message}")
            }
            other => panic!("tampering not detected: {other:?}"),
        }
    })
    .await;
}

async fn sqlx_exec(s: &Store, sql: &'static str) -> Result<(), String> {
    s.execute_raw(sql)
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotions_and_deployments_round_trip() {
    use driftless_store::Deployment;
    both(async |s: Store| {
        let a = s
            .create_promotion("shop", "staging", "Waiting", &json!({"values": ["v1"]}))
            .await
            .unwrap();
        let b = s
            .create_promotion("shop", "prod", "Waiting", &json!({}))
            .await
            .unwrap();
        s.create_promotion("other", "prod", "Succeeded", &json!({}))
            .await
            .unwrap();
        s.update_promotion(a, "Succeeded", &json!({"values": ["v2"]}))
            .await
            .unwrap();
        let got = s.get_promotion(a).await.unwrap().unwrap();
        assert_eq!(
            (got.phase.as_str(), got.record["values"][0].as_str()),
            ("Succeeded", Some("v2"))
        );
        assert_eq!(got.to_stage, "staging");
        let shop: Vec<i64> = s
            .list_promotions("shop", 10)
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(shop, vec![b, a], "newest first, one pipeline");
        assert_eq!(s.list_promotions("", 10).await.unwrap().len(), 3);
        let open: Vec<i64> = s
            .open_promotions(&["Succeeded", "Failed", "Rejected", "Expired", "Superseded"])
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(open, vec![b]);
        assert!(s.get_promotion(999).await.unwrap().is_none());

        for (i, ok) in [true, false, true].into_iter().enumerate() {
            s.add_deployment(&Deployment {
                app: "web".into(),
                revision: format!("r{i}"),
                commit_ms: (i != 1).then_some(1000 * i as i64),
                deployed_ms: 5000 + i as i64,
                succeeded: ok,
                kind: "new-revision".into(),
            })
            .await
            .unwrap();
        }
        let ds = s.list_deployments("web", 5001).await.unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!((ds[0].succeeded, ds[0].commit_ms), (false, None));
        assert_eq!(
            (ds[1].revision.as_str(), ds[1].commit_ms),
            ("r2", Some(2000))
        );
        assert!(s.list_deployments("other", 0).await.unwrap().is_empty());
    })
    .await;
}
