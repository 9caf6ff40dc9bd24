//! Ownership on Postgres (racing claims, reaping, fencing) and SQLite.

use super::*;
use crate::{Coordination, StoreLease};
use std::time::Duration;

/// Two members on one Postgres: an application has one owner; a live owner's app cannot
/// be claimed, an expired one's only after it was reaped — which fences its writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_moves_only_from_a_released_or_reaped_owner() {
    let pg = driftless_testkit::postgres::PgServer::start();
    let a = Store::open(&pg.url()).await.unwrap();
    let b = Store::open(&pg.url()).await.unwrap();
    let ttl = Duration::from_millis(300);
    let la = StoreLease::new(a.clone(), &member_lease("a"), "a", ttl);
    let lb = StoreLease::new(b.clone(), &member_lease("b"), "b", Duration::from_secs(60));
    let fa = la.try_acquire().await.unwrap().unwrap();
    let fb = lb.try_acquire().await.unwrap().unwrap();
    assert_eq!(b.live_members().await.unwrap(), ["a", "b"]);

    assert!(a.claim_app("x", "a", fa.token).await.unwrap());
    assert!(
        !b.claim_app("x", "b", fb.token).await.unwrap(),
        "took a live owner's app"
    );
    assert!(b.claim_app("y", "b", fb.token).await.unwrap());
    b.forward_request("x", "sync", "alice", &serde_json::json!({"prune": true}))
        .await
        .unwrap();
    // Who wrote an operation and its audit entry is recorded with them.
    let op = a
        .begin_operation("x", "sync", "r1", &serde_json::json!({}))
        .await
        .unwrap();
    a.audit(
        "driftless",
        "app.sync",
        "application/x",
        &serde_json::json!({"operation": op}),
    )
    .await
    .unwrap();
    let ops = b.operation_writers().await.unwrap();
    assert_eq!(
        (ops[0].id, ops[0].writer.as_deref()),
        (op, Some("member/a:1"))
    );
    let audit = b.audit_writers("app.sync").await.unwrap();
    assert_eq!(audit[0].writer.as_deref(), Some("member/a:1"));
    assert_eq!(audit[0].details["operation"], op);

    // A stops renewing. Expired but not reaped: still A's (its writes still pass).
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while b.live_members().await.unwrap() != ["b"] {
        assert!(std::time::Instant::now() < until, "A's lease never expired");
        tokio::task::yield_now().await;
    }
    assert!(
        !b.claim_app("x", "b", fb.token).await.unwrap(),
        "claimed before the reap"
    );
    assert!(
        a.reap_expired_members("a").await.unwrap().is_empty(),
        "reaped itself"
    );
    assert_eq!(b.reap_expired_members("b").await.unwrap(), ["a"]);
    assert!(
        b.reap_expired_members("b").await.unwrap().is_empty(),
        "reaped twice"
    );
    assert!(b.claim_app("x", "b", fb.token).await.unwrap());
    // The reaped member cannot write anything any more, ownership included.
    let e = a.claim_app("z", "a", fa.token).await.unwrap_err();
    assert!(e.to_string().contains("fenced"), "{e}");
    let e = a.put_app("x", &serde_json::json!({})).await.unwrap_err();
    assert!(e.to_string().contains("fenced"), "{e}");
    assert!(
        la.renew(&fa).await.unwrap().is_none(),
        "A renewed a reaped lease"
    );

    let owners = b.app_owners().await.unwrap();
    let owned: Vec<(&str, &str)> = owners
        .iter()
        .map(|o| (o.app.as_str(), o.replica.as_str()))
        .collect();
    assert_eq!(owned, [("x", "b"), ("y", "b")]);
    b.report_member(&MemberReport {
        replica: "b".into(),
        token: fb.token,
        owned: 2,
        queue_depth: 3,
        renewals: 4,
        handovers: 1,
        started_ms: 1,
    })
    .await
    .unwrap();
    let members = a.members().await.unwrap();
    assert_eq!(members.len(), 2);
    assert!(!members[0].live && members[0].owned == 0, "{members:?}");
    assert!(members[1].live && members[1].owned == 2, "{members:?}");
    assert_eq!(members[1].queue_depth, Some(3));

    let reqs = b.pending_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (
            reqs[0].app.as_str(),
            reqs[0].actor.as_str(),
            &reqs[0].details
        ),
        ("x", "alice", &serde_json::json!({"prune": true}))
    );
    assert!(b.take_request(reqs[0].id).await.unwrap());
    assert!(
        !b.take_request(reqs[0].id).await.unwrap(),
        "a request taken twice"
    );

    // Leaving releases everything and fences the leaver at once.
    assert!(b.release_app("y", "b", fb.token).await.unwrap());
    b.leave("b", fb.token).await.unwrap();
    assert!(b.app_owners().await.unwrap().is_empty());
    assert!(b.live_members().await.unwrap().is_empty());
    let e = b.claim_app("y", "b", fb.token).await.unwrap_err();
    assert!(e.to_string().contains("fenced"), "{e}");
}

/// Two members claiming the same 200 free apps at the same moment: each app goes to
/// exactly one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_claims_give_each_app_one_owner() {
    let pg = driftless_testkit::postgres::PgServer::start();
    let mut tasks = Vec::new();
    for id in ["a", "b"] {
        let s = Store::open(&pg.url()).await.unwrap();
        let l = StoreLease::new(s.clone(), &member_lease(id), id, Duration::from_secs(60));
        let f = l.try_acquire().await.unwrap().unwrap();
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for i in 0..200 {
                let app = format!("app-{i}");
                if s.claim_app(&app, id, f.token).await.unwrap() {
                    won.push(app);
                }
            }
            won
        }));
    }
    let a = tasks.remove(0).await.unwrap();
    let b = tasks.remove(0).await.unwrap();
    assert_eq!(a.len() + b.len(), 200, "a {} + b {}", a.len(), b.len());
    assert!(a.iter().all(|x| !b.contains(x)), "an app won twice");
    let s = Store::open(&pg.url()).await.unwrap();
    assert_eq!(s.app_owners().await.unwrap().len(), 200);
}

/// SQLite (one replica) runs the same statements.
#[tokio::test]
async fn sqlite_runs_the_same_statements() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::sqlite(&dir.path().join("d.db")).await.unwrap();
    let l = StoreLease::new(
        s.clone(),
        &member_lease("solo"),
        "solo",
        Duration::from_secs(60),
    );
    let f = l.try_acquire().await.unwrap().unwrap();
    assert!(s.claim_app("x", "solo", f.token).await.unwrap());
    assert!(!s.claim_app("x", "other", 1).await.unwrap());
    assert!(s.reap_expired_members("solo").await.unwrap().is_empty());
    let m = s.members().await.unwrap();
    assert_eq!(
        (m[0].replica.as_str(), m[0].live, m[0].owned),
        ("solo", true, 1)
    );
    s.leave("solo", f.token).await.unwrap();
    assert!(
        s.claim_app("x", "other", 1).await.unwrap(),
        "left, yet still owned"
    );
}

#[test]
fn replica_ids_are_pod_names() {
    assert!(validate_replica_id("driftless-7c9f-x2k4q").is_ok());
    assert!(validate_replica_id("node1.example").is_ok());
    for bad in ["", "A", "a:b", "a/b", &"x".repeat(64), "a b"] {
        let e = validate_replica_id(bad).unwrap_err();
        assert!(e.contains("replica id"), "{e}");
    }
}
