//! The controller on a sandbox cluster and a SQLite store: automated sync of an application
//! whose source is a local directory, drift detected from the watch and healed, a failed
//! revision not retried in a loop, and operations left running by a dead process closed.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use driftless_core::app;
use driftless_engine::AppStatus;
use driftless_engine::controller::{Controller, ControllerConfig, Sources};
use driftless_health::Assessor;
use driftless_store::{OperationPhase, Store};

struct Running {
    ctl: Arc<Controller>,
    stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
    repo: std::path::PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn config() -> ControllerConfig {
    ControllerConfig {
        resync: Duration::from_millis(300),
        self_heal_grace: Duration::from_millis(300),
        workers: 2,
        server_side_diff: true,
        health_timeout: Duration::from_secs(5),
        history_limit: 10,
        promotion_interval: Duration::from_millis(200),
    }
}

async fn start(env: &Env, store: Option<Store>, manifests: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("config");
    std::fs::create_dir_all(repo.join("shop")).unwrap();
    std::fs::write(repo.join("shop/all.yaml"), manifests).unwrap();
    let store = match store {
        Some(s) => s,
        None => Store::sqlite(&dir.path().join("driftless.db"))
            .await
            .unwrap(),
    };
    // The source is a directory on disk: local sources are allowed, as `up
    // --allow-local-sources` does.
    let sources = Arc::new(Sources::new(
        dir.path(),
        driftless_git::UrlPolicy {
            allow_local: true,
            allow_insecure: false,
        },
        Duration::from_secs(60),
    ));
    let cluster = Arc::new(driftless_kube::KubeCluster::new(
        env.cluster.client().clone(),
        "sandbox",
    ));
    let ctl = Controller::new(store, cluster, sources, Assessor::default(), config())
        .await
        .unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(ctl.clone().run(rx));
    Running {
        ctl,
        stop,
        _dir: dir,
        repo,
    }
}

fn shop(repo: &std::path::Path, self_heal: bool) -> app::Application {
    shop_with(repo, self_heal, "")
}

fn shop_with(repo: &std::path::Path, self_heal: bool, extra: &str) -> app::Application {
    let yaml = format!(
        "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: shop}}\nspec:\n  source: {{repoURL: {}, path: shop}}\n  destination: {{namespace: shop}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: {self_heal}}}\n    syncOptions: [CreateNamespace=true]\n{extra}",
        repo.display()
    );
    app::parse(&yaml, "shop.yaml").unwrap().remove(0).app
}

/// Waits (watching the store, bounded) until `check` holds for the app's status.
fn synced_healthy(s: &AppStatus) -> bool {
    s.synced_and_healthy()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automated_app_is_synced_recorded_and_audited() {
    let env = env().await;
    let r = start(&env, None, APP_V1).await;
    r.ctl.set_app(shop(&r.repo, false), "alice").await.unwrap();
    let status = wait_status(&r.ctl, "shop", "Synced and Healthy", synced_healthy).await;
    assert!(
        status
            .sync
            .revision
            .as_deref()
            .unwrap()
            .starts_with("local:")
    );
    assert_eq!(
        get(&env, "apps/v1", "Deployment", "shop", "web")
            .await
            .unwrap()["spec"]["replicas"],
        2
    );
    let ops = r.ctl.store.list_operations("shop", 10).await.unwrap();
    assert_eq!(ops.len(), 1, "one sync for one revision");
    assert_eq!(ops[0].phase, OperationPhase::Succeeded);
    assert!(
        ops[0].progress.as_array().unwrap().len() >= 4,
        "steps recorded: {}",
        ops[0].progress
    );
    let history = r.ctl.store.list_history("shop").await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].operation_id, ops[0].id);
    let audit = r.ctl.store.list_audit(&Default::default()).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .map(|e| (e.actor.as_str(), e.action.as_str()))
            .collect::<Vec<_>>(),
        [("alice", "app.create"), ("driftless", "app.sync")]
    );
    assert_eq!(r.ctl.store.verify_audit().await.unwrap(), 2);

    // A new commit (here: a change on disk) is synced; an unchanged source is not re-synced.
    std::fs::write(
        r.repo.join("shop/all.yaml"),
        APP_V1.replace("nginx:1.27", "nginx:1.28"),
    )
    .unwrap();
    r.ctl
        .enqueue("shop", driftless_engine::controller::Reason::SourceChanged);
    wait_status(&r.ctl, "shop", "the new revision", |s| {
        synced_healthy(s) && s.sync.revision != status.sync.revision
    })
    .await;
    let d = get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    // Three more reconciles (periodic resyncs, 300 ms apart) of the in-sync app.
    after_reconciles(&r.ctl, "shop", 3).await;
    assert_eq!(
        r.ctl.store.list_operations("shop", 10).await.unwrap().len(),
        2,
        "periodic resyncs of an in-sync app sync nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_edit_is_detected_within_a_second_and_healed() {
    let env = env().await;
    let r = start(&env, None, APP_V1).await;
    r.ctl.set_app(shop(&r.repo, true), "alice").await.unwrap();
    wait_status(&r.ctl, "shop", "Synced", synced_healthy).await;
    let edited = Instant::now();
    edit_web_replicas(&env, "kubectl-edit", 7).await;
    let event = loop {
        let events = r.ctl.store.list_events("shop", 0, 100).await.unwrap();
        if let Some(e) = events.into_iter().find(|e| e.kind == "DriftDetected") {
            break e;
        }
        assert!(edited.elapsed() < Duration::from_secs(5), "no drift event");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seen = edited.elapsed();
    assert!(
        seen < Duration::from_secs(1),
        "drift recorded after {seen:?}"
    );
    assert_eq!(
        event.data["resources"][0]["changes"][0]["path"],
        "spec.replicas"
    );
    assert_eq!(event.severity, "medium");
    // Self-heal after the grace: back to Git's 2 replicas, by a recorded operation.
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap()["spec"]["replicas"]
        != 2
    {
        assert!(Instant::now() < deadline, "not healed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ops = r.ctl.store.list_operations("shop", 10).await.unwrap();
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[0].request["reason"], "self-heal of drift");
    // After start-up the live state comes from the watched cache, not from lists.
    let metrics = r.ctl.metrics_text();
    assert!(
        metrics.contains(r#"driftless_live_loads_total{app="shop",source="cache"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"driftless_live_loads_total{app="shop",source="list"}"#),
        "the first reconcile lists: {metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_revision_is_not_retried_in_a_loop() {
    let env = env().await;
    // A Secret the API server refuses (its data is not base64): the operation fails.
    let bad = format!(
        "{APP_V1}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: creds}}\ndata: {{token: \"not base64!\"}}\n"
    );
    let r = start(&env, None, &bad).await;
    r.ctl.set_app(shop(&r.repo, false), "alice").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ops = r.ctl.store.list_operations("shop", 10).await.unwrap();
        if ops
            .first()
            .is_some_and(|o| o.phase == OperationPhase::Failed)
        {
            break;
        }
        assert!(Instant::now() < deadline, "no failed operation: {ops:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Several resyncs later: still one attempt.
    after_reconciles(&r.ctl, "shop", 4).await;
    let ops = r.ctl.store.list_operations("shop", 10).await.unwrap();
    assert_eq!(ops.len(), 1, "{ops:?}");
    let events = r.ctl.store.list_events("shop", 0, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "SyncFailed" && e.message.contains("creds")),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_left_running_by_a_dead_process_are_closed_on_start() {
    let env = env().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::sqlite(&dir.path().join("d.db")).await.unwrap();
    let op = store
        .begin_operation("shop", "sync", "abc", &serde_json::json!({}))
        .await
        .unwrap();
    store
        .record_step(op, &serde_json::json!({"step": 1}))
        .await
        .unwrap();
    let r = start(&env, Some(store), APP_V1).await;
    let closed = r.ctl.store.get_operation(op).await.unwrap().unwrap();
    assert_eq!(closed.phase, OperationPhase::Interrupted);
    assert!(r.ctl.store.running_operations().await.unwrap().is_empty());
    let events = r.ctl.store.list_events("shop", 0, 10).await.unwrap();
    assert_eq!(events[0].kind, "OperationInterrupted");
}

async fn replicas(env: &Env) -> i64 {
    get(env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap()["spec"]["replicas"]
        .as_i64()
        .unwrap()
}

async fn drift_events(store: &Store) -> Vec<driftless_store::Event> {
    store
        .list_events("shop", 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "DriftDetected")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_self_heal_records_drift_without_reverting_it_until_resumed() {
    let env = env().await;
    let r = start(&env, None, APP_V1).await;
    r.ctl.set_app(shop(&r.repo, true), "alice").await.unwrap();
    wait_status(&r.ctl, "shop", "Synced", synced_healthy).await;
    assert!(
        r.ctl
            .pause_heal(
                "shop",
                Duration::from_secs(30),
                "incident 42: scaling by hand",
                "bob"
            )
            .await
            .unwrap()
    );
    assert!(
        r.ctl
            .pause_heal("shop", Duration::from_secs(30), " ", "bob")
            .await
            .is_err(),
        "a reason is required"
    );
    edit_web_replicas(&env, "kubectl-edit", 7).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while drift_events(&r.ctl.store).await.is_empty() {
        assert!(Instant::now() < deadline, "drift not recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drift = drift_events(&r.ctl.store).await;
    assert!(
        drift[0]
            .message
            .contains("self-heal is paused (incident 42: scaling by hand)"),
        "{drift:?}"
    );
    // Four resyncs (300 ms apart): the 300 ms grace has long passed.
    after_reconciles(&r.ctl, "shop", 4).await;
    assert_eq!(
        replicas(&env).await,
        7,
        "not healed while paused (grace is 300 ms)"
    );
    let status = r.ctl.stored_status("shop").await.unwrap();
    assert_eq!(
        status.heal_paused.map(|p| p.reason).as_deref(),
        Some("incident 42: scaling by hand")
    );
    let audit = r
        .ctl
        .store
        .list_audit(&driftless_store::AuditQuery {
            action: Some("app.pause-heal".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (
            audit[0].actor.as_str(),
            audit[0].details["seconds"].as_i64()
        ),
        ("bob", Some(30))
    );

    // Resumed: healed.
    r.ctl
        .pause_heal("shop", Duration::ZERO, "incident over", "bob")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while replicas(&env).await != 2 {
        assert!(Instant::now() < deadline, "not healed after resume");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_policy_alert_records_and_tolerance_ignores() {
    let env = env().await;
    // selfHeal off: drift is an alert, the cluster is left as it is.
    let r = start(&env, None, APP_V1).await;
    r.ctl.set_app(shop(&r.repo, false), "alice").await.unwrap();
    wait_status(&r.ctl, "shop", "Synced", synced_healthy).await;
    edit_web_replicas(&env, "kubectl-edit", 5).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while drift_events(&r.ctl.store).await.is_empty() {
        assert!(Instant::now() < deadline, "drift not recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    after_reconciles(&r.ctl, "shop", 3).await;
    assert_eq!(replicas(&env).await, 5);
    assert_eq!(
        drift_events(&r.ctl.store).await.len(),
        1,
        "one event per distinct drift, however many resyncs"
    );
    drop(r);

    // Tolerance medium: a replica change (medium) is left alone, no event, no heal.
    let env = common::env().await;
    let r = start(&env, None, APP_V1).await;
    r.ctl
        .set_app(
            shop_with(
                &r.repo,
                true,
                "  drift: {action: heal, tolerance: medium}\n",
            ),
            "alice",
        )
        .await
        .unwrap();
    wait_status(&r.ctl, "shop", "Synced", synced_healthy).await;
    edit_web_replicas(&env, "kubectl-edit", 6).await;
    // The edit's own reconcile, then resyncs well past the 300 ms grace.
    after_reconciles(&r.ctl, "shop", 4).await;
    let ops = r.ctl.store.list_operations("shop", 10).await.unwrap();
    assert_eq!(
        replicas(&env).await,
        6,
        "{:?}",
        ops.iter().map(|o| o.request.clone()).collect::<Vec<_>>()
    );
    assert!(drift_events(&r.ctl.store).await.is_empty());
    let status = r.ctl.stored_status("shop").await.unwrap();
    assert_eq!(
        status.sync.status,
        driftless_engine::SyncCode::OutOfSync,
        "tolerated drift still shows in the status"
    );

    let bad = shop_with(&r.repo, true, "  drift: {action: fix}\n");
    let err = r.ctl.set_app(bad, "alice").await.unwrap_err();
    assert_eq!(err.kind(), driftless_engine::ErrorKind::Invalid, "{err}");
    assert!(err.to_string().contains("drift.action `fix`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_keeps_its_apps_inside_their_destinations() {
    let env = env().await;
    let r = start(&env, None, APP_V1).await;
    let team = |namespaces: &str| {
        driftless_core::project::parse(
            &format!("apiVersion: driftless.dev/v1alpha1\nkind: Project\nmetadata: {{name: team-a}}\nspec:\n  sourceRepos: [\"*\"]\n  destinations: [{{namespace: \"{namespaces}\"}}]\n"),
            "team.yaml",
        )
        .unwrap()
        .remove(0)
    };
    r.ctl.set_project(team("team-a-*"), "admin").await.unwrap();
    let mut app = shop(&r.repo, false);
    app.project = "team-a".into();
    r.ctl.set_app(app, "alice").await.unwrap();
    let status = wait_status(&r.ctl, "shop", "refused", |s| {
        s.error
            .as_deref()
            .is_some_and(|e| e.contains("ProjectViolation") || e.contains("does not allow"))
    })
    .await;
    assert!(
        status
            .error
            .as_deref()
            .unwrap()
            .contains("project team-a does not allow the destination namespace shop"),
        "{status:?}"
    );
    assert!(
        get(&env, "apps/v1", "Deployment", "shop", "web")
            .await
            .is_none(),
        "nothing applied"
    );
    assert!(
        r.ctl
            .store
            .list_operations("shop", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The project opens the namespace: the app syncs.
    r.ctl.set_project(team("*"), "admin").await.unwrap();
    wait_status(&r.ctl, "shop", "Synced", synced_healthy).await;
    let audit = r
        .ctl
        .store
        .list_audit(&driftless_store::AuditQuery {
            action: Some("project.set".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cascading_delete_removes_the_apps_objects_and_guards_critical_ones() {
    let env = env().await;
    let pvc = "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n";
    let r = start(&env, None, &format!("{APP_V1}{pvc}")).await;
    r.ctl.set_app(shop(&r.repo, false), "alice").await.unwrap();
    wait_status(&r.ctl, "shop", "Synced", AppStatus::is_synced).await;

    // A PVC is critical: refused without confirmation, nothing deleted, still managed.
    let e = r
        .ctl
        .delete_app_cascade("shop", "alice", false)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("still managed") && e.contains("PersistentVolumeClaim"),
        "{e}"
    );
    assert!(r.ctl.has_app("shop").await);
    assert!(
        get(&env, "apps/v1", "Deployment", "shop", "web")
            .await
            .is_some()
    );
    assert!(
        get(&env, "v1", "PersistentVolumeClaim", "shop", "data")
            .await
            .is_some()
    );

    let deleted = r
        .ctl
        .delete_app_cascade("shop", "alice", true)
        .await
        .unwrap();
    assert_eq!(deleted, 4);
    for (api, kind, name) in [
        ("v1", "ConfigMap", "settings"),
        ("apps/v1", "Deployment", "web"),
        ("v1", "Service", "web"),
        ("v1", "PersistentVolumeClaim", "data"),
    ] {
        assert!(
            get(&env, api, kind, "shop", name).await.is_none(),
            "{kind} {name} left"
        );
    }
    assert!(!r.ctl.has_app("shop").await);
    assert!(r.ctl.store.get_app("shop").await.unwrap().is_none());
    let audit = r.ctl.store.list_audit(&Default::default()).await.unwrap();
    let last = audit.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("app.delete", "alice")
    );
    assert_eq!(last.details["cascade"], true);
    // It stays gone: a reconcile asked for now runs after any that was in flight, and
    // brings nothing back.
    let ended = reconciles(&r.ctl, "shop");
    r.ctl
        .enqueue("shop", driftless_engine::controller::Reason::User);
    ended.wait(1).await;
    assert!(
        get(&env, "apps/v1", "Deployment", "shop", "web")
            .await
            .is_none()
    );
}

/// Issue 16: a repository that declares a `ValidationConfig` gates every sync. A revision
/// that breaks a policy is not applied (nothing reaches the cluster, no operation runs), the
/// app says which object and rule, the refusal is an event and an audit entry; the next
/// compliant revision syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_violating_revision_is_refused_and_the_next_compliant_one_syncs() {
    let env = env().await;
    let r = start(&env, None, &APP_V1.replace("nginx:1.27", "nginx:latest")).await;
    std::fs::write(
        r.repo.join("driftless.yaml"),
        "apiVersion: driftless.dev/v1alpha1\nkind: ValidationConfig\nspec:\n  policies:\n    builtin: [no-latest-tag]\n",
    )
    .unwrap();
    r.ctl.set_app(shop(&r.repo, true), "alice").await.unwrap();
    let status = wait_status(&r.ctl, "shop", "the policy refusal", |s| {
        s.error
            .as_deref()
            .is_some_and(|e| e.contains("refused by the policy gate"))
    })
    .await;
    let error = status.error.as_deref().unwrap();
    assert!(error.contains("no-latest-tag"), "names the rule: {error}");
    assert!(error.contains("Deployment"), "names the object: {error}");
    assert_eq!(status.sync.status, driftless_engine::SyncCode::OutOfSync);
    // The refusal event is what a sync would have been recorded after: nothing was applied.
    let events = r.ctl.store.list_events("shop", 0, 100).await.unwrap();
    let denied: Vec<_> = events.iter().filter(|e| e.kind == "PolicyDenied").collect();
    assert_eq!(denied.len(), 1, "one refusal per revision: {events:?}");
    assert!(
        r.ctl
            .store
            .list_operations("shop", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        get(&env, "v1", "ConfigMap", "shop", "settings")
            .await
            .is_none()
    );
    assert!(
        get(&env, "apps/v1", "Deployment", "shop", "web")
            .await
            .is_none()
    );
    let audit = r.ctl.store.list_audit(&Default::default()).await.unwrap();
    assert!(
        audit.iter().any(|e| e.action == "app.policy-denied"),
        "audited: {audit:?}"
    );

    // The fix lands: the next revision passes the gate and syncs.
    std::fs::write(r.repo.join("shop/all.yaml"), APP_V1).unwrap();
    r.ctl
        .enqueue("shop", driftless_engine::controller::Reason::SourceChanged);
    let status = wait_status(
        &r.ctl,
        "shop",
        "the compliant revision synced",
        synced_healthy,
    )
    .await;
    assert!(status.error.is_none(), "the refusal is gone: {status:?}");
    let d = get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    let ops = r.ctl.store.list_operations("shop", 10).await.unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].phase, OperationPhase::Succeeded);
}
