//! Three `driftless up` processes share 300 applications on one Postgres and one sandbox,
//! as replicas in a cluster would: every app owned exactly once; a replica killed with
//! SIGKILL has its apps owned and reconciled by the others within 20 s (a drift made after
//! the kill healed); restarted, it gets some back; and the operations table and the audit
//! log show no application was ever synced by two replicas at once.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use driftless_testkit::postgres::PgServer;

mod forwarded;
mod rig;
use forwarded::forwarded_and_adopted;
use rig::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_300_apps_and_take_over_a_killed_one() {
    let pg = PgServer::start();
    let sandbox = driftless_sandbox::Sandbox::start(0).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sandbox.kubeconfig()).unwrap();
    let (_repo, config) = fixtures(dir.path());
    let rig = Rig {
        pg_url: pg.url(),
        repo_url: _repo.root().join("apps.git").display().to_string(),
        kubeconfig: kubeconfig.clone(),
        config,
        root: dir.path().to_path_buf(),
    };
    let http = reqwest::Client::new();
    let started = Instant::now();
    let (_r1, api1) = rig.start("r1");
    let (r2, _) = rig.start("r2");
    let (mut r3, api3) = rig.start("r3");

    // All Synced, each app owned exactly once (one row per app) by a live replica, and
    // every replica owns some.
    within(
        Duration::from_secs(240),
        "all 300 applications Synced",
        || async {
            let s = statuses(&http, &api1).await;
            (s.len() == APPS && s.values().all(driftless_engine::AppStatus::is_synced))
                .then_some(())
        },
    )
    .await;
    // Replicas that joined after the first one claimed everything get their share as it
    // hands over what the hash gives them (within a few ticks).
    let owners = within(
        Duration::from_secs(30),
        "every app owned by a live replica, each replica holding its share",
        || async {
            let o = live_owners(&http, &api3).await;
            let mut per: BTreeMap<&str, usize> = BTreeMap::new();
            for r in o.values() {
                *per.entry(r.as_str()).or_default() += 1;
            }
            let shared = per.len() == 3 && per.values().all(|n| *n >= 50);
            (o.len() == APPS && shared).then_some(o.clone())
        },
    )
    .await;
    let per: BTreeMap<&str, usize> = owners.values().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.as_str()).or_default() += 1;
        m
    });
    assert_eq!(
        per.keys().copied().collect::<Vec<_>>(),
        ["r1", "r2", "r3"],
        "{per:?}"
    );
    assert!(per.values().all(|n| *n >= 50), "uneven shares: {per:?}");
    eprintln!(
        "cold start: 300 apps Synced and shared {per:?} in {:?}",
        started.elapsed()
    );
    let listed = kubectl(
        &kubeconfig,
        &["get", "configmaps", "-n", "default", "-o", "name"],
    );
    assert_eq!(
        listed
            .lines()
            .filter(|l| l.starts_with("configmap/app-"))
            .count(),
        APPS
    );

    // kill -9 r2, then drift one of its apps: the others own and reconcile all of r2's
    // apps, and heal the drift, within 20 s.
    let r2_apps: BTreeSet<String> = owners
        .iter()
        .filter(|(_, r)| *r == "r2")
        .map(|(a, _)| a.clone())
        .collect();
    let mut r2 = r2;
    r2.0.kill().unwrap();
    r2.0.wait().unwrap();
    let killed = Instant::now();
    let killed_ms = now_ms();
    let drifted = r2_apps.iter().next().unwrap().clone();
    kubectl(
        &kubeconfig,
        &[
            "patch",
            "configmap",
            &drifted,
            "-n",
            "default",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"mode":"drifted"}}"#,
        ],
    );
    within(
        Duration::from_secs(20),
        "r2's apps owned and reconciled by r1/r3",
        || async {
            let o = live_owners(&http, &api1).await;
            let moved = r2_apps.iter().all(|a| o.get(a).is_some_and(|r| r != "r2"));
            let s = statuses(&http, &api3).await;
            let reconciled = r2_apps
                .iter()
                .all(|a| s.get(a).and_then(|s| s.reconciled_at_ms).unwrap_or(0) > killed_ms);
            (moved && reconciled && o.len() == APPS).then_some(())
        },
    )
    .await;
    let taken_over = killed.elapsed();
    within(
        Duration::from_secs(20).saturating_sub(killed.elapsed()),
        "the drift healed",
        || async {
            let cm = kubectl(
                &kubeconfig,
                &[
                    "get",
                    "configmap",
                    &drifted,
                    "-n",
                    "default",
                    "-o",
                    "jsonpath={.data.mode}",
                ],
            );
            (cm == "desired").then_some(())
        },
    )
    .await;
    eprintln!(
        "hand-over after kill -9: {taken_over:?}; drift healed {:?} after the kill",
        killed.elapsed()
    );

    // r2 comes back (a new membership token) while every app syncs a new commit: some apps
    // move back to it — each once its current owner finished syncing it —, the rest stay.
    let v2 = commit_mode(&_repo, "v2");
    for i in 0..APPS {
        let r = http
            .post(format!(
                "{api1}/api/v1/applications/{}/refresh",
                app_name(i)
            ))
            .bearer_auth("shards-test-token")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "refresh: {}", r.status());
    }
    let (_r2, api2) = rig.start("r2");
    let back = within(Duration::from_secs(60), "r2 owns apps again", || async {
        let o = live_owners(&http, &api2).await;
        let n = o.values().filter(|r| *r == "r2").count();
        (o.len() == APPS && n >= 50).then_some(o)
    })
    .await;
    for (app, r) in &back {
        if r == "r2" {
            continue;
        }
        assert_eq!(
            owners.get(app).map(String::as_str).filter(|r| *r != "r2"),
            Some(r.as_str()),
            "{app} moved between replicas that stayed"
        );
    }
    let shards = get(&http, &format!("{api2}/api/v1/shards")).await;
    let live: Vec<&str> = shards["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["live"] == true)
        .map(|m| m["replica"].as_str().unwrap())
        .collect();
    assert_eq!(live, ["r1", "r2", "r3"], "{shards}");
    assert_eq!(shards["unowned"], 0, "{shards}");
    within(
        Duration::from_secs(60),
        "all Synced at the new commit after r2 came back",
        || async {
            let s = statuses(&http, &api1).await;
            s.values()
                .all(|v| v.is_synced() && v.sync.revision.as_deref() == Some(v2.as_str()))
                .then_some(())
        },
    )
    .await;
    forwarded_and_adopted(&http, &back, &api3, &pg.url(), &rig).await;
    let cm = kubectl(
        &kubeconfig,
        &[
            "get",
            "configmap",
            "app-299",
            "-n",
            "default",
            "-o",
            "jsonpath={.data.mode}",
        ],
    );
    assert_eq!(cm, "v2");
    let metrics = http
        .get(format!("{api2}/metrics"))
        .bearer_auth("shards-test-token")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("driftless_shard_owned_apps{replica=\"r2\"}"),
        "{metrics}"
    );
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");

    // `driftless shards`, as an operator runs it against any replica.
    let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(["shards", "--server", &api3])
        .env("DRIFTLESS_TOKEN", "shards-test-token")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .take(3)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows.iter().map(|r| r[0]).collect::<Vec<_>>(),
        ["r1", "r2", "r3"],
        "{text}"
    );
    assert!(
        rows[2].contains(&"(this)") && rows.iter().all(|r| r.contains(&"yes")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{} application(s), 0 without a live owner",
            APPS + 1
        )),
        "{text}"
    );

    // SIGTERM r3: it finishes what it does, hands everything over and exits cleanly; r1
    // and r2 own all its apps at once, not after its lease would have expired.
    let termed = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &r3.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = r3.0.wait().unwrap();
    assert!(exit.success(), "r3 exited with {exit}");
    let o = live_owners(&http, &api1).await;
    let by_r3 = o.values().filter(|r| *r == "r3").count();
    assert_eq!(by_r3, 0, "r3 still owns apps after it left");
    // Well within the 10 s its lease would have taken to expire.
    within(
        Duration::from_secs(5),
        "r3's apps taken over at once",
        || async {
            let o = live_owners(&http, &api1).await;
            (o.len() == APPS + 1).then_some(())
        },
    )
    .await;
    eprintln!("hand-over after SIGTERM: {:?}", termed.elapsed());

    single_writer(&pg.url()).await;
}

/// No application was synced by two replicas at once: per app, an operation by one member
/// incarnation (`member/R:TOKEN`) always ended before another's began; every `app.sync`
/// audit entry was written by the member that wrote its operation.
async fn single_writer(url: &str) {
    let store = driftless_store::Store::open(url).await.unwrap();
    let ops = store.operation_writers().await.unwrap();
    assert!(ops.len() >= APPS, "only {} operations", ops.len());
    let mut by_app: BTreeMap<&str, Vec<&driftless_store::WrittenOperation>> = BTreeMap::new();
    for op in &ops {
        let w = op
            .writer
            .as_deref()
            .unwrap_or_else(|| panic!("operation {} has no writer", op.id));
        assert!(w.starts_with("member/r"), "operation {}: writer {w}", op.id);
        by_app.entry(op.app.as_str()).or_default().push(op);
    }
    for (app, list) in &by_app {
        for (i, a) in list.iter().enumerate() {
            let a_end = a
                .finished_ms
                .unwrap_or_else(|| panic!("{app}: operation {} never ended ({})", a.id, a.phase));
            for b in &list[i + 1..] {
                let b_end = b.finished_ms.unwrap_or(i64::MAX);
                let overlap = a.started_ms < b_end && b.started_ms < a_end;
                assert!(
                    !overlap || a.writer == b.writer,
                    "{app}: operations {a:?} and {b:?} overlap, by two replicas"
                );
                assert!(!overlap, "{app}: operations {a:?} and {b:?} overlap");
            }
        }
    }
    let writer_of: BTreeMap<i64, &str> = ops
        .iter()
        .map(|o| (o.id, o.writer.as_deref().unwrap()))
        .collect();
    let audit = store.audit_writers("app.sync").await.unwrap();
    assert!(audit.len() >= APPS);
    for e in &audit {
        let op = e.details["operation"].as_i64().unwrap();
        assert_eq!(
            e.writer.as_deref(),
            writer_of.get(&op).copied(),
            "audit entry {} ({})",
            e.seq,
            e.target
        );
    }
    store.verify_audit().await.unwrap();
}
