//! One writer (issue 13 defect 6, RELIABILITY fault 11): a data directory is locked by the
//! engine using it, and on a shared Postgres a lease with a fencing token keeps an engine that
//! lost its lease from writing, before it even notices.

use std::time::{Duration, Instant};

use driftless_store::{Coordination, DataDirLock, LockError, Store, StoreLease};
use driftless_testkit::postgres::PgServer;
use serde_json::json;

/// Defect 6: a second engine on one data directory fails at once, naming the holder; once
/// the holder is gone — even killed, leaving its line behind — the directory is taken over.
#[test]
fn defect_06_second_engine_on_one_data_dir_fails_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let first = DataDirLock::acquire(dir.path()).unwrap();
    let started = Instant::now();
    let err = DataDirLock::acquire(dir.path()).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the second lock waited"
    );
    let LockError::Held { holder, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        holder.contains(&format!("pid {}", std::process::id())),
        "{holder}"
    );
    assert!(
        holder.contains(" on ") && holder.contains("started 20"),
        "{holder}"
    );
    assert!(err.to_string().contains("--data-dir"), "{err}");
    drop(first);
    let again = DataDirLock::acquire(dir.path()).unwrap();
    drop(again);

    // A holder killed with SIGKILL: its lock dies with it, its stale line is replaced.
    let lock_file = dir.path().join("engine.lock");
    std::fs::write(
        &lock_file,
        "pid 1 on gone-host, started 2001-01-01T00:00:00Z\n",
    )
    .unwrap();
    let mut holder = std::process::Command::new("flock")
        // --no-fork: the killed process is the one holding the lock.
        .args(["-x", "--no-fork"])
        .arg(&lock_file)
        .args(["sleep", "600"])
        .spawn()
        .unwrap();
    // Wait until the child holds the lock (our attempt fails), then kill it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while DataDirLock::acquire(dir.path()).is_ok() {
        assert!(Instant::now() < deadline, "the child never took the lock");
        std::thread::yield_now();
    }
    holder.kill().unwrap();
    holder.wait().unwrap();
    let taken = DataDirLock::acquire(dir.path()).unwrap();
    let line = std::fs::read_to_string(taken.path()).unwrap();
    assert!(
        line.starts_with(&format!("pid {} ", std::process::id())),
        "{line}"
    );
}

/// Fault 11: two engines on one Postgres. A holds the lease and writes; A pauses past its
/// lease; B takes over with a higher token; from then on every write of A — all tables — is
/// refused by the database, while B's pass; A's renewal reports the loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_11_two_leaders_only_the_fenced_holder_writes() {
    let pg = PgServer::start();
    let a = Store::open(&pg.url()).await.unwrap();
    let b = Store::open(&pg.url()).await.unwrap();
    let ttl = Duration::from_millis(400);
    let la = StoreLease::new(a.clone(), "engine", "engine-a", ttl);
    let lb = StoreLease::new(b.clone(), "engine", "engine-b", ttl);

    let fa = la
        .try_acquire()
        .await
        .unwrap()
        .expect("A takes the free lease");
    assert_eq!(fa.token, 1);
    assert!(
        lb.try_acquire().await.unwrap().is_none(),
        "B took a held lease"
    );
    assert_eq!(lb.holder().await.unwrap().unwrap().holder, "engine-a");
    a.put_app("shop", &json!({"by": "a"})).await.unwrap();
    let renewed = la
        .renew(&fa)
        .await
        .unwrap()
        .expect("A renews its own lease");
    assert!(renewed.expires_ms >= fa.expires_ms);

    // A stops renewing (paused, partitioned). B takes over as soon as it expires.
    let deadline = Instant::now() + Duration::from_secs(10);
    let fb = loop {
        if let Some(f) = lb.try_acquire().await.unwrap() {
            break f;
        }
        assert!(Instant::now() < deadline, "B never took the expired lease");
        tokio::task::yield_now().await;
    };
    assert_eq!(fb.token, 2, "a take-over raises the token");

    // A wakes up and writes as if nothing happened: refused, on every kind of write.
    let refused = [
        a.put_app("shop", &json!({"by": "a-late"})).await.err(),
        a.delete_app("shop").await.err(),
        a.add_event("shop", "Normal", "Synced", "late", &json!({}))
            .await
            .err(),
        a.put_definition("Repository", "r", &json!({})).await.err(),
    ];
    for (i, e) in refused.iter().enumerate() {
        let e = e
            .as_ref()
            .unwrap_or_else(|| panic!("write {i} of the old leader passed"));
        assert!(format!("{e}").contains("fenced"), "write {i}: {e}");
    }
    assert!(
        la.renew(&fa).await.unwrap().is_none(),
        "A still believes it leads"
    );
    // B writes; the record is B's, never A's late one.
    b.put_app("shop", &json!({"by": "b"})).await.unwrap();
    let rec = b.get_app("shop").await.unwrap().unwrap();
    assert_eq!(rec.spec["by"], "b");
    // Releasing lets the next engine in at once, with the next token.
    lb.release(&fb).await.unwrap();
    let fa2 = la
        .try_acquire()
        .await
        .unwrap()
        .expect("A takes the released lease");
    assert_eq!(fa2.token, 3);
    a.put_app("shop", &json!({"by": "a-again"})).await.unwrap();
    assert!(b.put_app("shop", &json!({"by": "b-late"})).await.is_err());
}
