//! RELIABILITY.md faults 1, 2, 9, 10, 12, 13 and 14, and issue 13 defect 8's retry of a sync
//! the cluster did not answer. Cluster faults are injected by [`Faulty`], a `Cluster` that
//! passes calls to the sandbox until told to fail them as a lost API server (connection
//! errors) or an admission webhook (a denial) would.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use driftless_core::cluster::{ApplyOptions, Cluster, ClusterError, KindScope, Propagation};
use driftless_core::{Gvk, ResourceKey};
use driftless_engine::{OperationPhase, Outcome};
use serde_json::Value;

use crate::common::{self, APP_V1, Env};

/// The sandbox, with faults on demand.
struct Faulty<'a> {
    inner: &'a driftless_kube::KubeCluster,
    /// Writes still allowed before the API server is "lost" (usize::MAX: never).
    writes_left: AtomicUsize,
    /// Names whose deletion an admission webhook denies.
    deny_delete: Mutex<Vec<String>>,
}

impl<'a> Faulty<'a> {
    fn new(inner: &'a driftless_kube::KubeCluster) -> Self {
        Faulty {
            inner,
            writes_left: AtomicUsize::new(usize::MAX),
            deny_delete: Mutex::new(Vec::new()),
        }
    }

    fn lose_after(&self, writes: usize) {
        self.writes_left.store(writes, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.writes_left.store(usize::MAX, Ordering::SeqCst);
        self.deny_delete.lock().unwrap().clear();
    }

    fn write(&self, what: &str) -> Result<(), ClusterError> {
        let left = self.writes_left.load(Ordering::SeqCst);
        if left == 0 {
            return Err(ClusterError::Transient {
                what: what.into(),
                message: "connection refused (the API server is gone)".into(),
            });
        }
        if left != usize::MAX {
            self.writes_left.store(left - 1, Ordering::SeqCst);
        }
        Ok(())
    }
}

impl Cluster for Faulty<'_> {
    async fn resolve(&self, gvk: &Gvk) -> Result<Option<KindScope>, ClusterError> {
        self.inner.resolve(gvk).await
    }
    async fn get(&self, gvk: &Gvk, key: &ResourceKey) -> Result<Option<Value>, ClusterError> {
        self.inner.get(gvk, key).await
    }
    async fn list_tracked(
        &self,
        scope: &KindScope,
        namespace: Option<&str>,
    ) -> Result<Vec<Value>, ClusterError> {
        self.inner.list_tracked(scope, namespace).await
    }
    async fn apply(&self, obj: &Value, opts: &ApplyOptions) -> Result<Value, ClusterError> {
        if !opts.dry_run {
            self.write("apply")?;
        }
        self.inner.apply(obj, opts).await
    }
    async fn create(&self, obj: &Value) -> Result<Value, ClusterError> {
        self.write("create")?;
        self.inner.create(obj).await
    }
    async fn replace(&self, obj: &Value) -> Result<Value, ClusterError> {
        self.write("replace")?;
        self.inner.replace(obj).await
    }
    async fn delete(
        &self,
        gvk: &Gvk,
        key: &ResourceKey,
        propagation: Propagation,
    ) -> Result<bool, ClusterError> {
        if self.deny_delete.lock().unwrap().contains(&key.name) {
            return Err(ClusterError::Rejected {
                key: Box::new(key.clone()),
                code: 400,
                message: "admission webhook \"protect.example.com\" denied the request: protected"
                    .into(),
            });
        }
        self.write("delete")?;
        self.inner.delete(gvk, key, propagation).await
    }
    async fn wait_until(
        &self,
        gvk: &Gvk,
        key: &ResourceKey,
        timeout: Duration,
        done: &(dyn Fn(Option<&Value>) -> bool + Send + Sync),
    ) -> Result<Option<Value>, ClusterError> {
        self.inner.wait_until(gvk, key, timeout, done).await
    }
}

fn quiet(_: &driftless_engine::SyncEvent) {}

async fn sync_with(c: &Faulty<'_>, app: &str, yaml: &str) -> driftless_engine::SyncResult {
    driftless_engine::sync(
        c,
        &common::request(app, common::set(yaml)),
        &driftless_health::Assessor::default(),
        None,
        &quiet,
    )
    .await
    .unwrap()
}

const EXTRA: &str = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: old}\ndata: {k: v}\n";

async fn cm(env: &Env, name: &str) -> Option<Value> {
    common::get(env, "v1", "ConfigMap", "shop", name).await
}

/// Fault 1: the API server is lost after the first write of a sync that also prunes. The
/// sync stops as unreachable (not a verdict on the revision), nothing is deleted, the
/// result lists exactly the objects applied; the retry once it answers finishes the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_01_api_server_lost_mid_apply() {
    let env = common::env().await;
    common::synced(&env, "shop", &format!("{APP_V1}{EXTRA}")).await;
    let faulty = Faulty::new(&env.cluster);
    let v2 = APP_V1
        .replace("mode: fast", "mode: slow")
        .replace("nginx:1.27", "nginx:1.28");
    faulty.lose_after(1);
    let r = sync_with(&faulty, "shop", &v2).await;
    assert_eq!(r.phase, OperationPhase::Failed, "{}", r.message);
    assert!(
        r.unreachable,
        "a lost API server is not a failed revision: {}",
        r.message
    );
    let applied: Vec<&str> = r
        .resources
        .iter()
        .filter(|x| x.outcome == Outcome::Applied)
        .map(|x| x.key.name.as_str())
        .collect();
    assert_eq!(applied, ["settings"], "inventory = what was applied");
    assert_eq!(cm(&env, "settings").await.unwrap()["data"]["mode"], "slow");
    assert!(cm(&env, "old").await.is_some(), "nothing is deleted");
    let web = common::get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap();
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );

    faulty.restore();
    let r = sync_with(&faulty, "shop", &v2).await;
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    assert!(
        cm(&env, "old").await.is_none(),
        "pruned once the server answers"
    );
    let web = common::get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap();
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
}

/// Fault 2: an admission webhook denies one of two prunes. The sync fails naming it, the
/// other is pruned, the survivor keeps its tracking (it is still the app's, reported as
/// extraneous) and is pruned by the next sync once the webhook allows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_02_webhook_denies_some_deletes() {
    let env = common::env().await;
    let two = format!(
        "{APP_V1}{EXTRA}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: keep-me}}\ndata: {{k: v}}\n"
    );
    common::synced(&env, "shop", &two).await;
    let faulty = Faulty::new(&env.cluster);
    faulty.deny_delete.lock().unwrap().push("keep-me".into());
    let r = sync_with(&faulty, "shop", APP_V1).await;
    assert_eq!(r.phase, OperationPhase::Failed, "{}", r.message);
    assert!(r.message.contains("keep-me"), "{}", r.message);
    assert!(!r.unreachable, "a denial is not an outage");
    let survivor = cm(&env, "keep-me")
        .await
        .expect("the denied delete left it");
    assert!(
        survivor["metadata"]["annotations"]
            .get(driftless_core::tracking::TRACKING_ANNOTATION)
            .is_some(),
        "the survivor stays tracked: {survivor}"
    );
    faulty.restore();
    let r = sync_with(&faulty, "shop", APP_V1).await;
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    assert!(cm(&env, "keep-me").await.is_none(), "retried and pruned");
    assert!(cm(&env, "old").await.is_none());
}

/// Fault 10: the engine dies right after a prune's delete went through (no later write
/// lands). Running the same sync again is idempotent: it succeeds, deletes nothing more and
/// applies what was left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_10_killed_mid_prune_is_idempotent() {
    let env = common::env().await;
    let with_two = format!(
        "{APP_V1}{EXTRA}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: old2}}\ndata: {{k: v}}\n"
    );
    common::synced(&env, "shop", &with_two).await;
    let faulty = Faulty::new(&env.cluster);
    // A prune that went through, then the engine died before recording it: the restarted
    // engine runs the same sync again — it succeeds and deletes nothing more.
    for _ in 0..2 {
        let r0 = sync_with(&faulty, "shop", &format!("{APP_V1}{EXTRA}")).await;
        assert_eq!(r0.phase, OperationPhase::Succeeded, "{}", r0.message);
        assert!(cm(&env, "old2").await.is_none());
        assert!(cm(&env, "old").await.is_some());
    }
    // Killed before the next prune's delete landed: nothing of it happened; run again.
    faulty.lose_after(0);
    let r = sync_with(&faulty, "shop", APP_V1).await;
    assert_ne!(r.phase, OperationPhase::Succeeded);
    assert!(
        cm(&env, "old").await.is_some(),
        "the killed prune did not land"
    );
    faulty.restore();
    for _ in 0..2 {
        let r = sync_with(&faulty, "shop", APP_V1).await;
        assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
        assert!(cm(&env, "old").await.is_none());
        assert!(
            cm(&env, "settings").await.is_some(),
            "nothing else was deleted"
        );
    }
}

/// Fault 12: another field manager changed a field; a sync without force reports the
/// conflict and leaves their value (no silent theft).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_12_field_owned_by_another_manager_is_a_reported_conflict() {
    let env = common::env().await;
    common::synced(&env, "shop", APP_V1).await;
    common::edit_web_replicas(&env, "hpa-controller", 5).await;
    let mut req = common::request(
        "shop",
        common::set(&APP_V1.replace("replicas: 2", "replicas: 3")),
    );
    req.force_conflicts = false;
    let r = driftless_engine::sync(
        &env.cluster,
        &req,
        &driftless_health::Assessor::default(),
        None,
        &quiet,
    )
    .await
    .unwrap();
    assert_eq!(r.phase, OperationPhase::Failed, "{}", r.message);
    assert!(r.message.contains("conflict"), "{}", r.message);
    let web = common::get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap();
    assert_eq!(
        web["spec"]["replicas"], 5,
        "the other manager's value stays"
    );
}

/// A controller on `store` with a local-directory source of `manifests` at `shop/`.
async fn controller_on(
    env: &Env,
    store: driftless_store::Store,
    dir: &std::path::Path,
) -> std::sync::Arc<driftless_engine::controller::Controller> {
    use driftless_engine::controller::{Controller, ControllerConfig, Sources};
    let sources = std::sync::Arc::new(Sources::new(
        dir,
        driftless_git::UrlPolicy {
            allow_local: true,
            allow_insecure: false,
        },
        Duration::from_secs(3600),
    ));
    Controller::new(
        store,
        std::sync::Arc::new(driftless_kube::KubeCluster::new(
            env.cluster.client(),
            "sandbox",
        )),
        sources,
        driftless_health::Assessor::default(),
        ControllerConfig {
            resync: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// Fault 9: the engine was killed mid-sync (its operation left Running in the store). The
/// next engine closes that operation as Interrupted — it is never left Running, never
/// resumed blindly — and syncs the app afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_09_killed_mid_sync_resumes_or_marks_failed_never_stuck() {
    let env = common::env().await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("config");
    std::fs::create_dir_all(src.join("shop")).unwrap();
    std::fs::write(src.join("shop/all.yaml"), APP_V1).unwrap();
    let db = dir.path().join("d.db");
    let store = driftless_store::Store::sqlite(&db).await.unwrap();
    // What the killed engine left: an operation in flight.
    let stale = store
        .begin_operation(
            "shop",
            "sync",
            "local:dead",
            &serde_json::json!({"trigger": "NewRevision"}),
        )
        .await
        .unwrap();
    store
        .record_step(stale, &serde_json::json!({"step": {"wave": 0}}))
        .await
        .unwrap();
    let ctl = controller_on(&env, store, dir.path()).await;
    let app = driftless_core::app::parse(
        &format!("apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: shop}}\nspec:\n  source: {{repoURL: \"{}\", path: shop}}\n  destination: {{namespace: shop}}\n  syncPolicy: {{automated: {{prune: true}}, syncOptions: [CreateNamespace=true]}}\n", src.display()),
        "shop.yaml",
    )
    .unwrap()
    .remove(0)
    .app;
    ctl.set_app(app, "test").await.unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(ctl.clone().run(stopped));
    let op = ctl.store.get_operation(stale).await.unwrap().unwrap();
    assert_eq!(op.phase, driftless_store::OperationPhase::Interrupted);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ops = ctl.store.list_operations("shop", 10).await.unwrap();
        if ops
            .iter()
            .any(|o| o.id != stale && o.phase == driftless_store::OperationPhase::Succeeded)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the app never synced again: {ops:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        ctl.store
            .running_operations()
            .await
            .unwrap()
            .iter()
            .all(|o| o.id != stale)
    );
    assert!(cm(&env, "settings").await.is_some());
}

fn author() -> driftless_git::writeback::Author {
    driftless_git::writeback::Author {
        name: "Driftless".into(),
        email: "driftless@example.com".into(),
    }
}

/// A repository on a Git HTTP server and a mirror of it in its own directory.
fn promotion_repo() -> (
    driftless_testkit::repo::TestRepo,
    driftless_testkit::http::GitHttpServer,
) {
    let repo = driftless_testkit::repo::TestRepo::new("promo");
    repo.commit(&[("envs/prod/image.txt", Some("app:1\n"))], "initial");
    let srv = driftless_testkit::http::GitHttpServer::start(
        repo.root(),
        driftless_testkit::http::Auth::None,
    );
    (repo, srv)
}

fn mirror_of(
    srv: &driftless_testkit::http::GitHttpServer,
    name: &str,
    dir: &std::path::Path,
) -> driftless_git::Mirror {
    driftless_git::Mirror::open(
        dir,
        &srv.url(name),
        driftless_git::UrlPolicy {
            allow_local: true,
            allow_insecure: false,
        },
    )
    .unwrap()
}

/// Fault 13: a promotion's push is rejected as non-fast-forward every time (someone keeps
/// pushing): it re-applies on the new tip and retries up to its bound, then fails loudly;
/// the server's history is never overwritten (no force push).
#[test]
fn reliability_fault_13_non_fast_forward_push_rebases_retries_never_forces() {
    use driftless_git::writeback::{FileChange, commit_and_push};
    let (repo, srv) = promotion_repo();
    let data = tempfile::tempdir().unwrap();
    let mirror = mirror_of(&srv, &repo.name(), data.path());
    let creds = driftless_git::Credentials::None;
    let mut calls = 0;
    let err = commit_and_push(
        &mirror,
        &creds,
        "main",
        &author(),
        "promote app:2",
        3,
        |_| {
            calls += 1;
            repo.commit(&[("racer.txt", Some(&format!("{calls}\n")))], "racer");
            Ok(vec![FileChange::Put {
                path: "envs/prod/image.txt".into(),
                content: b"app:2\n".to_vec(),
            }])
        },
    )
    .unwrap_err();
    assert_eq!(calls, 3, "re-applied on each new tip, up to the bound");
    assert!(
        matches!(err, driftless_git::GitError::PushRejected { .. }),
        "{err:?}"
    );
    let log = repo.git_bare(&["log", "--format=%s", "main"]);
    assert_eq!(
        log.lines().filter(|l| *l == "racer").count(),
        3,
        "no racer commit lost: {log}"
    );
    assert!(!log.contains("promote app:2"));
    // One racer only: the retry lands on top of it.
    let mut once = false;
    let pushed = commit_and_push(
        &mirror,
        &creds,
        "main",
        &author(),
        "promote app:3",
        3,
        |_| {
            if !once {
                once = true;
                repo.commit(&[("racer.txt", Some("last\n"))], "last racer");
            }
            Ok(vec![FileChange::Put {
                path: "envs/prod/image.txt".into(),
                content: b"app:3\n".to_vec(),
            }])
        },
    )
    .unwrap();
    assert_eq!(pushed.attempts, 2);
    assert_eq!(repo.git_bare(&["show", "main:racer.txt"]), "last");
    assert_eq!(
        repo.git_bare(&["show", "main:envs/prod/image.txt"]),
        "app:3"
    );
}

/// Fault 14: two promotions write the same file at the same time, each from its own
/// mirror. Both land (the second re-applied on top of the first) or one fails cleanly;
/// the file ends as one of them, and no commit is lost.
#[test]
fn reliability_fault_14_concurrent_promotions_to_one_file() {
    use driftless_git::writeback::{FileChange, commit_and_push};
    let (repo, srv) = promotion_repo();
    let name = repo.name();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = ["app:2", "app:3"]
            .into_iter()
            .map(|image| {
                let barrier = barrier.clone();
                let (srv, name) = (&srv, &name);
                s.spawn(move || {
                    let data = tempfile::tempdir().unwrap();
                    let mirror = mirror_of(srv, name, data.path());
                    barrier.wait();
                    commit_and_push(
                        &mirror,
                        &driftless_git::Credentials::None,
                        "main",
                        &author(),
                        &format!("promote {image}"),
                        5,
                        |_| {
                            Ok(vec![FileChange::Put {
                                path: "envs/prod/image.txt".into(),
                                content: format!("{image}\n").into_bytes(),
                            }])
                        },
                    )
                    .map(|p| (image, p))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let landed: Vec<&str> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|(i, _)| *i))
        .collect();
    for r in &results {
        // A clean failure: the server refused the push (a non-fast-forward beyond the
        // bound, or its ref lock held by the other push) and said so; nothing half-done.
        if let Err(e) = r {
            let clean = match e {
                driftless_git::GitError::PushRejected { .. } => true,
                driftless_git::GitError::Push { message, .. } => message.contains("rejected"),
                _ => false,
            };
            assert!(clean, "an unclean failure: {e:?}");
        }
    }
    assert!(!landed.is_empty(), "neither promotion landed: {results:?}");
    let log = repo.git_bare(&["log", "--format=%s", "main"]);
    for image in &landed {
        assert!(
            log.contains(&format!("promote {image}")),
            "{image} lost: {log}"
        );
    }
    let file = repo.git_bare(&["show", "main:envs/prod/image.txt"]);
    assert!(
        landed.contains(&file.as_str()),
        "the file is {file}, landed {landed:?}"
    );
    let head_subject = repo.git_bare(&["log", "-1", "--format=%s", "main"]);
    assert_eq!(
        head_subject,
        format!("promote {file}"),
        "the file is the last promotion's"
    );
}
