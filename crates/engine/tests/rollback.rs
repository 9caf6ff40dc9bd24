//! Rollback on a real Git repository: back to an earlier deployment, held there while the
//! branch does not move (auto-sync does not undo it), released when a newer commit lands.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use driftless_engine::controller::{Controller, ControllerConfig, Reason};
use driftless_testkit::repo::TestRepo;

const CM: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: MODE}\n";

/// Synced at `rev` with no operation running: its deployment is recorded by then.
async fn until_revision(ctl: &Controller, rev: &str) {
    wait_status(ctl, "shop", &format!("Synced at {rev}"), |s| {
        s.sync.revision.as_deref() == Some(rev) && s.is_synced() && s.operation.running.is_none()
    })
    .await;
}

async fn mode(env: &Env) -> String {
    get(env, "v1", "ConfigMap", "shop", "settings")
        .await
        .unwrap()["data"]["mode"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A controller on `env` with app `shop` syncing `path: shop` of the Git repository at
/// `url` (polled hourly, so only explicit refreshes fetch), running until the sender drops.
async fn git_controller(
    env: &Env,
    url: &str,
    policy: &str,
    extra_spec: &str,
    cfg: ControllerConfig,
) -> (
    Arc<Controller>,
    tokio::sync::watch::Sender<bool>,
    tempfile::TempDir,
) {
    let (ctl, stop, dir) = running_controller(env, cfg).await;
    let yaml = format!(
        "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: shop}}\nspec:\n  source: {{repoURL: \"{url}\", path: shop, targetRevision: main}}\n  destination: {{namespace: shop}}\n{extra_spec}  syncPolicy:\n{policy}    syncOptions: [CreateNamespace=true]\n"
    );
    let app = driftless_core::app::parse(&yaml, "shop.yaml")
        .unwrap()
        .remove(0)
        .app;
    ctl.set_app(app, "alice").await.unwrap();
    (ctl, stop, dir)
}

/// App `shop` on a repository whose first commit sets mode `a`, synced to it.
struct Shop {
    env: Env,
    repo: TestRepo,
    a: String,
    ctl: Arc<Controller>,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

async fn shop_at_a(policy: &str, extra_spec: &str) -> Shop {
    let env = env().await;
    let repo = TestRepo::new("config");
    let a = repo.commit(&[("shop/cm.yaml", Some(&CM.replace("MODE", "a")))], "a");
    let url = format!("file://{}/{}", repo.root().display(), repo.name());
    let cfg = ControllerConfig {
        resync: Duration::from_millis(300),
        self_heal_grace: Duration::from_millis(300),
        ..Default::default()
    };
    let (ctl, _stop, _dir) = git_controller(&env, &url, policy, extra_spec, cfg).await;
    until_revision(&ctl, &a).await;
    Shop {
        env,
        repo,
        a,
        ctl,
        _stop,
        _dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_holds_until_a_newer_commit_lands() {
    let Shop {
        env,
        repo,
        a,
        ctl,
        _stop,
        _dir,
    } = shop_at_a("    automated: {prune: true, selfHeal: true}\n", "").await;
    let e = ctl.rollback("shop", None, "bob").await.unwrap_err();
    assert_eq!(e.kind(), driftless_engine::ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("no earlier deployment"), "{e}");

    let b = repo.commit(&[("shop/cm.yaml", Some(&CM.replace("MODE", "b")))], "b");
    ctl.enqueue("shop", Reason::User);
    until_revision(&ctl, &b).await;
    assert_eq!(mode(&env).await, "b");

    // Back to a: applied, and held through several resyncs despite auto-sync and self-heal.
    assert_eq!(ctl.rollback("shop", None, "bob").await.unwrap(), a);
    until_revision(&ctl, &a).await;
    assert_eq!(mode(&env).await, "a");
    after_reconciles(&ctl, "shop", 4).await;
    assert_eq!(mode(&env).await, "a", "auto-sync does not undo a rollback");
    let status = ctl.stored_status("shop").await.unwrap();
    assert_eq!(status.pinned.map(|p| p.revision), Some(a.clone()));
    assert_eq!(status.sync.head, Some(b.clone()));
    let ops = ctl.store.list_operations("shop", 10).await.unwrap();
    assert_eq!(ops[0].kind, "rollback");
    let audit = ctl
        .store
        .list_audit(&driftless_store::AuditQuery {
            action: Some("app.rollback".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (audit[0].actor.as_str(), audit[0].details["to"].as_str()),
        ("bob", Some(a.as_str()))
    );

    // A newer commit lands: released, synced.
    let c = repo.commit(&[("shop/cm.yaml", Some(&CM.replace("MODE", "c")))], "c");
    ctl.enqueue("shop", Reason::User);
    until_revision(&ctl, &c).await;
    assert_eq!(mode(&env).await, "c");
    let events = ctl.store.list_events("shop", 0, 100).await.unwrap();
    assert!(
        events.iter().any(|e| e.kind == "RollbackReleased"),
        "{events:?}"
    );
}

const WEB: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: \"IMAGE\"}]}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_on_failure_returns_to_the_last_healthy_revision() {
    let env = env().await;
    let repo = TestRepo::new("config");
    let good = repo.commit(
        &[("shop/web.yaml", Some(&WEB.replace("IMAGE", "nginx:1.27")))],
        "good",
    );
    let url = format!("file://{}/{}", repo.root().display(), repo.name());
    let (ctl, _stop, _dir) = git_controller(
        &env,
        &url,
        "    automated: {prune: true}\n    rollbackOnFailure: true\n",
        "",
        ControllerConfig {
            resync: Duration::from_millis(300),
            health_timeout: Duration::from_secs(4),
            ..Default::default()
        },
    )
    .await;
    until_revision(&ctl, &good).await;

    let bad = repo.commit(
        &[("shop/web.yaml", Some(&WEB.replace("IMAGE", "nginx:broken")))],
        "bad",
    );
    ctl.enqueue("shop", Reason::User);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ops = ctl.store.list_operations("shop", 10).await.unwrap();
        if ops.first().is_some_and(|o| {
            o.kind == "rollback" && o.phase == driftless_store::OperationPhase::Succeeded
        }) {
            // Its operation ended once applied (Argo CD's semantics); its health failed it.
            assert!(
                ops.iter()
                    .any(|o| o.revision == bad
                        && o.phase == driftless_store::OperationPhase::Succeeded),
                "{ops:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no rollback: {ops:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    let events = ctl.store.list_events("shop", 0, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "RollbackOnFailure" && e.message.contains("Degraded")),
        "{events:?}"
    );
    // Several resyncs later (300 ms apart): still the one operation of the bad revision.
    after_reconciles(&ctl, "shop", 4).await;
    assert_eq!(
        ctl.store
            .list_operations("shop", 10)
            .await
            .unwrap()
            .iter()
            .filter(|o| o.revision == bad)
            .count(),
        1,
        "the bad revision is not retried"
    );
}

/// A new revision whose rollout stays Progressing past the health timeout (the sandbox
/// holds it): its operation succeeded, its health fails it, rollbackOnFailure goes back,
/// and the held revision is not synced again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_on_failure_acts_on_a_rollout_progressing_past_the_health_timeout() {
    let env = env().await;
    let repo = TestRepo::new("config");
    let good = repo.commit(
        &[("shop/web.yaml", Some(&WEB.replace("IMAGE", "nginx:1.27")))],
        "good",
    );
    let url = format!("file://{}/{}", repo.root().display(), repo.name());
    let (ctl, _stop, _dir) = git_controller(
        &env,
        &url,
        "    automated: {prune: true}\n    rollbackOnFailure: true\n",
        "",
        ControllerConfig {
            resync: Duration::from_secs(3600),
            health_timeout: Duration::from_secs(2),
            ..Default::default()
        },
    )
    .await;
    until_revision(&ctl, &good).await;
    let held = WEB.replace("IMAGE", "nginx:1.28").replace(
        "metadata: {name: web}",
        "metadata: {name: web, annotations: {sandbox.driftless.dev/hold-rollout: forever}}",
    );
    let slow = repo.commit(&[("shop/web.yaml", Some(&held))], "slow");
    let mut rx = ctl.subscribe_updates();
    ctl.enqueue("shop", Reason::User);
    let wait = async {
        loop {
            if let Ok(u) = rx.recv().await
                && let driftless_engine::Update::Event { kind, message, .. } = u
                && kind == driftless_engine::EventKind::RollbackOnFailure
            {
                return message;
            }
        }
    };
    let e = tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("no RollbackOnFailure");
    assert!(e.contains("still Progressing"), "{e}");
    let ops = ctl.store.list_operations("shop", 10).await.unwrap();
    assert!(
        ops.iter()
            .any(|o| o.revision == slow && o.phase == driftless_store::OperationPhase::Succeeded),
        "the held revision's operation ended when applied: {ops:?}"
    );
    until_revision(&ctl, &good).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = get(&env, "apps/v1", "Deployment", "shop", "web")
            .await
            .unwrap();
        if d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27" {
            break;
        }
        assert!(Instant::now() < deadline, "not rolled back: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Rolled back and pinned: the held revision is not synced again.
    while rx.try_recv().is_ok() {}
    ctl.enqueue("shop", Reason::Periodic);
    let next_status = async {
        loop {
            if let Ok(driftless_engine::Update::Status { status, .. }) = rx.recv().await {
                return status;
            }
        }
    };
    let u = tokio::time::timeout(Duration::from_secs(10), next_status)
        .await
        .expect("no status after a reconcile");
    assert_eq!(
        u.pinned.as_ref().map(|p| p.revision.as_str()),
        Some(good.as_str()),
        "{u:?}"
    );
    assert_eq!(u.sync.revision.as_deref(), Some(good.as_str()), "{u:?}");
    let attempts = ctl
        .store
        .list_operations("shop", 10)
        .await
        .unwrap()
        .iter()
        .filter(|o| o.revision == slow)
        .count();
    assert_eq!(attempts, 1);
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_a_time_within_the_apps_own_history_limit() {
    // Keeping only its two newest deployments.
    let Shop {
        env,
        repo,
        ctl,
        _stop,
        _dir,
        ..
    } = shop_at_a(
        "    automated: {prune: true}\n",
        "  revisionHistoryLimit: 2\n",
    )
    .await;
    let while_a = now_ms();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut at = Vec::new();
    for m in ["b", "c"] {
        let rev = repo.commit(&[("shop/cm.yaml", Some(&CM.replace("MODE", m)))], m);
        ctl.enqueue("shop", Reason::User);
        until_revision(&ctl, &rev).await;
        at.push((rev, now_ms()));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let history = ctl.store.list_history("shop").await.unwrap();
    let kept: Vec<&str> = history.iter().map(|h| h.revision.as_str()).collect();
    assert_eq!(kept, vec![at[1].0.as_str(), at[0].0.as_str()], "newest two");

    // a was live then, but its entry is gone: the error says what is still kept.
    let err = ctl
        .rollback_to_time("shop", while_a, "bob")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no deployment at or before") && err.contains("oldest kept"),
        "{err}"
    );
    // While b was live (before c deployed): back to b.
    assert_eq!(
        ctl.rollback_to_time("shop", at[0].1, "bob").await.unwrap(),
        at[0].0
    );
    until_revision(&ctl, &at[0].0).await;
    assert_eq!(mode(&env).await, "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_rollback_commits_the_old_files_so_git_stays_the_source_of_truth() {
    let Shop {
        env,
        repo,
        a,
        ctl,
        _stop,
        _dir,
    } = shop_at_a("    automated: {prune: true}\n", "").await;
    // b changes the app's files and, in the same commit, a file no one renders.
    let extra = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {k: v}\n";
    let b = repo.commit(
        &[
            ("shop/cm.yaml", Some(&CM.replace("MODE", "b"))),
            ("shop/extra.yaml", Some(extra)),
            ("other/notes.txt", Some("kept\n")),
        ],
        "b",
    );
    ctl.enqueue("shop", Reason::User);
    until_revision(&ctl, &b).await;
    assert!(
        get(&env, "v1", "ConfigMap", "shop", "extra")
            .await
            .is_some()
    );

    let r = ctl.rollback_revert("shop", None, "carol").await.unwrap();
    assert_eq!((r.to.as_str(), r.branch.as_str()), (a.as_str(), "main"));
    // The branch moved: the app's files are as of a, the unrelated file is untouched.
    assert_eq!(repo.git_bare(&["rev-parse", "main"]).trim(), r.commit);
    assert_eq!(
        repo.git_bare(&["show", "main:shop/cm.yaml"]).trim(),
        CM.replace("MODE", "a").trim()
    );
    assert_eq!(
        repo.git_bare(&["ls-tree", "--name-only", "main", "shop/"])
            .trim(),
        "shop/cm.yaml"
    );
    assert_eq!(
        repo.git_bare(&["show", "main:other/notes.txt"]).trim(),
        "kept"
    );
    let log = repo.git_bare(&["log", "-1", "--format=%an|%s|%P", "main"]);
    assert!(
        log.starts_with(&format!("Driftless|Revert shop to {}|{b}", &a[..12])),
        "{log}"
    );
    // Synced to the revert commit like any other: mode a, the extra object pruned, no pin.
    until_revision(&ctl, &r.commit).await;
    assert_eq!(mode(&env).await, "a");
    assert!(
        get(&env, "v1", "ConfigMap", "shop", "extra")
            .await
            .is_none()
    );
    let status = ctl.stored_status("shop").await.unwrap();
    assert!(status.pinned.is_none(), "{status:?}");
    let audit = ctl
        .store
        .list_audit(&driftless_store::AuditQuery {
            action: Some("app.rollback".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit[0].actor, "carol");
    assert_eq!(audit[0].details["revertCommit"], r.commit.as_str());
}
