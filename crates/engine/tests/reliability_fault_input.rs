//! RELIABILITY.md faults this module owns (3-8, 16-18), and issue 13's app-of-apps defects
//! (1: definitions from Git trusted like the operator's; 11: children deleted on an empty
//! source, Git definitions never removed), end to end: a controller on a sandbox cluster,
//! Git sources in local repositories. Each asserts what is in the cluster and the store.

use crate::common;

mod app_of_apps;
use crate::common::wait_status;
use crate::reliability_input::app_yaml;

use std::time::{Duration, Instant};

use common::*;
use driftless_engine::controller::{Controller, ControllerConfig, Reason};
use driftless_testkit::repo::TestRepo;

fn cfg() -> ControllerConfig {
    ControllerConfig {
        resync: Duration::from_millis(300),
        self_heal_grace: Duration::from_millis(300),
        ..Default::default()
    }
}

fn cm(name: &str, ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\ndata: {{a: b}}\n"
    )
}

fn file_url(repo: &TestRepo) -> String {
    format!("file://{}/{}", repo.root().display(), repo.name())
}

/// Waits until `app`'s status shows `head` reconciled (synced or not) or an error.
async fn until_seen(ctl: &Controller, app: &str, head: &str) -> driftless_engine::AppStatus {
    wait_status(ctl, app, "reconciled at the new head (or failed)", |s| {
        s.sync.head.as_deref() == Some(head) || s.error.is_some()
    })
    .await
}

async fn until_synced(ctl: &Controller, app: &str, head: &str) {
    wait_status(ctl, app, "Synced at the new head", |s| {
        s.is_synced() && s.sync.head.as_deref() == Some(head)
    })
    .await;
}

/// Waits for an event of `kind` on `app` whose message passes `check`; returns its message.
async fn until_event(
    ctl: &Controller,
    app: &str,
    kind: &str,
    check: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = ctl.store.list_events(app, 0, 200).await.unwrap();
        if let Some(e) = events.iter().find(|e| e.kind == kind && check(&e.message)) {
            return e.message.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} event on {app}: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A synced application `app` of one ConfigMap `app` in namespace `app`; returns the repo.
async fn synced_app(ctl: &Controller, env: &Env, app: &str, sync: &str) -> (TestRepo, String) {
    let repo = TestRepo::new(app);
    let head = repo.commit(&[("app/cm.yaml", Some(&cm(app, app)))], "first");
    ctl.set_app(
        app_yaml(app, "default", &file_url(&repo), "app", app, sync),
        "alice",
    )
    .await
    .unwrap();
    until_synced(ctl, app, &head).await;
    assert!(get(env, "v1", "ConfigMap", app, app).await.is_some());
    (repo, head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_03_one_broken_app_does_not_degrade_the_others() {
    // The sandbox has no conversion webhooks; the nearest real risk is one application
    // whose objects the API server refuses (an unknown kind): only that one fails.
    let env = env().await;
    let (ctl, _stop, _dir) = running_controller(&env, cfg()).await;
    let repo = TestRepo::new("two");
    let head = repo.commit(
        &[
            ("good/cm.yaml", Some(&cm("good", "good"))),
            ("bad/w.yaml", Some("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: bad}\nspec: {size: 1}\n")),
        ],
        "a",
    );
    let url = file_url(&repo);
    ctl.set_app(
        app_yaml("bad", "default", &url, "bad", "bad", "automated: {}"),
        "alice",
    )
    .await
    .unwrap();
    ctl.set_app(
        app_yaml("good", "default", &url, "good", "good", "automated: {}"),
        "alice",
    )
    .await
    .unwrap();
    until_synced(&ctl, "good", &head).await;
    let bad = wait_status(&ctl, "bad", "the expected status", |s| {
        s.error.is_some()
            || (s.operation.attempt.is_some() && s.operation.attempt != s.operation.good)
    })
    .await;
    assert!(!bad.is_synced(), "{bad:?}");
    assert!(get(&env, "v1", "ConfigMap", "good", "good").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_04_git_down_keeps_the_last_good_state() {
    let env = env().await;
    let (ctl, _stop, _dir) = running_controller(&env, cfg()).await;
    let (repo, _) = synced_app(
        &ctl,
        &env,
        "down",
        "automated: {prune: true, selfHeal: true}",
    )
    .await;
    let bare = repo.root().join(repo.name());
    std::fs::rename(&bare, repo.root().join("moved")).unwrap();
    ctl.enqueue("down", Reason::User);
    // An event, not the status: a resync renders the mirror's last fetch again meanwhile.
    let m = until_event(&ctl, "down", "ComparisonError", |_| true).await;
    assert!(m.len() < 2000, "{m}");
    assert!(
        get(&env, "v1", "ConfigMap", "down", "down").await.is_some(),
        "nothing pruned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_05_deleted_branch_is_an_error_without_prune() {
    let env = env().await;
    let (ctl, _stop, _dir) = running_controller(&env, cfg()).await;
    let (repo, _) = synced_app(
        &ctl,
        &env,
        "branch",
        "automated: {prune: true, selfHeal: true}",
    )
    .await;
    repo.git_bare(&["update-ref", "-d", "refs/heads/main"]);
    ctl.enqueue("branch", Reason::User);
    let m = until_event(&ctl, "branch", "ComparisonError", |_| true).await;
    assert!(m.contains("main"), "{m}");
    assert!(
        get(&env, "v1", "ConfigMap", "branch", "branch")
            .await
            .is_some()
    );
    // Auto-sync can still be turned off while the branch is gone.
    let manual = app_yaml(
        "branch",
        "default",
        &file_url(&repo),
        "app",
        "branch",
        "retry: {limit: 1}",
    );
    ctl.set_app(manual, "alice").await.unwrap();
    let rec = ctl.store.get_app("branch").await.unwrap().unwrap();
    assert!(
        rec.spec["syncPolicy"]["automated"].is_null(),
        "{}",
        rec.spec
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_06_force_push_removing_the_synced_sha_does_not_crash() {
    let env = env().await;
    let (ctl, _stop, _dir) = running_controller(&env, cfg()).await;
    let (repo, first) = synced_app(&ctl, &env, "forced", "automated: {prune: true}").await;
    let second = repo.commit(
        &[(
            "app/cm.yaml",
            Some(&cm("forced", "forced").replace("a: b", "a: c")),
        )],
        "second",
    );
    ctl.enqueue("forced", Reason::User);
    until_synced(&ctl, "forced", &second).await;
    // Rewrite history: `second` is gone from the branch (the prune guard is not the point
    // here, so the first object stays).
    repo.git(&["reset", "-q", "--hard", &first]);
    std::fs::write(
        repo.work_dir().join("app/other.yaml"),
        cm("other", "forced"),
    )
    .unwrap();
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "rewritten"]);
    repo.git(&["push", "-q", "-f", "origin", "main"]);
    let third = repo.head();
    ctl.enqueue("forced", Reason::User);
    until_synced(&ctl, "forced", &third).await;
    assert!(
        get(&env, "v1", "ConfigMap", "forced", "other")
            .await
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_07_zero_objects_never_prune_without_allow_empty() {
    let env = env().await;
    let (ctl, _stop, _dir) = running_controller(&env, cfg()).await;
    let (repo, _) = synced_app(
        &ctl,
        &env,
        "emptied",
        "automated: {prune: true, selfHeal: true}",
    )
    .await;
    let head = repo.commit(
        &[("app/cm.yaml", Some("# everything moved elsewhere\n"))],
        "empty",
    );
    ctl.enqueue("emptied", Reason::User);
    until_seen(&ctl, "emptied", &head).await;
    // Several reconciles later it is still there.
    for _ in 0..3 {
        ctl.enqueue("emptied", Reason::User);
        until_seen(&ctl, "emptied", &head).await;
    }
    assert!(
        get(&env, "v1", "ConfigMap", "emptied", "emptied")
            .await
            .is_some()
    );
}

/// An app-of-apps `root` in project `project` over `repo`'s `apps/` directory.
fn root_app(url: &str, project: &str, sync: &str) -> driftless_core::app::Application {
    app_yaml("root", project, url, "apps", "default", sync)
}

fn argo_child(name: &str, url: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\nspec:\n  project: default\n  source: {{repoURL: \"{url}\", path: workloads, targetRevision: main}}\n  destination: {{namespace: {name}}}\n  syncPolicy: {{automated: {{prune: true}}, syncOptions: [CreateNamespace=true]}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_08_generator_with_zero_apps_deletes_nothing() {
    // Also issue 13 defect 11: children used to be deleted at once when the source stopped
    // declaring them, without the empty-render guard objects have.
    let env = env().await;
    let (ctl, _stop, _dir) = running_controller(&env, cfg()).await;
    let repo = TestRepo::new("fleet");
    let url = file_url(&repo);
    repo.commit(
        &[
            ("apps/web.yaml", Some(&argo_child("web", &url))),
            ("workloads/cm.yaml", Some(&cm("w", "web"))),
        ],
        "web",
    );
    ctl.set_app(
        root_app(&url, "default", "automated: {prune: true}"),
        "alice",
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ctl.app_names().await != ["root", "web"] {
        assert!(Instant::now() < deadline, "{:?}", ctl.app_names().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    repo.commit(
        &[
            ("apps/web.yaml", None),
            ("apps/empty.yaml", Some("# nothing today\n")),
        ],
        "empty",
    );
    ctl.source_changed(std::slice::from_ref(&url)).await;
    let m = until_event(&ctl, "root", "ChildPruneSkipped", |_| true).await;
    assert!(m.contains("allowEmpty"), "{m}");
    assert_eq!(ctl.app_names().await, ["root", "web"], "the child was kept");
    assert!(ctl.store.get_app("web").await.unwrap().is_some());
}

/// A controller over `dir` (store `d.db`, mirrors and caches beside it), as `up` starts one.
async fn controller_on(
    env: &Env,
    dir: &std::path::Path,
) -> (std::sync::Arc<Controller>, tokio::sync::watch::Sender<bool>) {
    use driftless_engine::controller::Sources;
    let store = driftless_store::Store::sqlite(&dir.join("d.db"))
        .await
        .unwrap();
    let policy = driftless_git::UrlPolicy {
        allow_local: true,
        allow_insecure: false,
    };
    let sources = std::sync::Arc::new(Sources::new(dir, policy, Duration::from_secs(3600)));
    let cluster = std::sync::Arc::new(driftless_kube::KubeCluster::new(
        env.cluster.client().clone(),
        "sandbox",
    ));
    let ctl = Controller::new(
        store,
        cluster,
        sources,
        driftless_health::Assessor::default(),
        cfg(),
    )
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(ctl.clone().run(stopped));
    (ctl, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_16_wiped_cache_re_renders_without_prune() {
    let env = env().await;
    let dir = tempfile::tempdir().unwrap();
    let (ctl, stop) = controller_on(&env, dir.path()).await;
    let (repo, head) = synced_app(
        &ctl,
        &env,
        "wiped",
        "automated: {prune: true, selfHeal: true}",
    )
    .await;
    drop(stop);
    drop(ctl);
    // Everything but the store is cache: mirrors, keys, rendered output.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if !p.file_name().unwrap().to_string_lossy().starts_with("d.db") {
            if p.is_dir() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
    }
    let (ctl, _stop) = controller_on(&env, dir.path()).await;
    let app = app_yaml(
        "wiped",
        "default",
        &file_url(&repo),
        "app",
        "wiped",
        "automated: {prune: true, selfHeal: true}",
    );
    ctl.set_app(app, "config").await.unwrap();
    until_synced(&ctl, "wiped", &head).await;
    assert!(
        get(&env, "v1", "ConfigMap", "wiped", "wiped")
            .await
            .is_some()
    );
    let events = ctl.store.list_events("wiped", 0, 200).await.unwrap();
    assert!(
        events.iter().all(|e| !e.message.contains("deleted")),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_17_lost_destination_credentials_skip_prune() {
    // Driftless does not impersonate service accounts; the nearest risk is losing the way to
    // the destination (its cluster definition gone): the app errors, nothing is deleted.
    let env = env().await;
    let (ctl, _stop, _dir) = running_controller(&env, cfg()).await;
    let (repo, _) = synced_app(
        &ctl,
        &env,
        "orphan",
        "automated: {prune: true, selfHeal: true}",
    )
    .await;
    let mut moved = app_yaml(
        "orphan",
        "default",
        &file_url(&repo),
        "app",
        "orphan",
        "automated: {prune: true}",
    );
    moved.destination.name = "gone".into();
    ctl.set_app(moved, "alice").await.unwrap();
    let s = wait_status(&ctl, "orphan", "the expected status", |s| {
        s.error.as_deref().is_some_and(|e| e.contains("gone"))
    })
    .await;
    assert!(s.error.as_deref().unwrap().contains("not defined"), "{s:?}");
    assert!(
        get(&env, "v1", "ConfigMap", "orphan", "orphan")
            .await
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_18_namespace_no_longer_rendered_requires_confirmation() {
    let env = env().await;
    let (ctl, _stop, _dir) = running_controller(&env, cfg()).await;
    let repo = TestRepo::new("ns");
    let head = repo.commit(
        &[
            (
                "app/ns.yaml",
                Some("apiVersion: v1\nkind: Namespace\nmetadata: {name: keepme}\n"),
            ),
            ("app/cm.yaml", Some(&cm("c", "keepme"))),
        ],
        "a",
    );
    ctl.set_app(
        app_yaml(
            "ns",
            "default",
            &file_url(&repo),
            "app",
            "keepme",
            "automated: {prune: true}",
        ),
        "alice",
    )
    .await
    .unwrap();
    until_synced(&ctl, "ns", &head).await;
    assert!(get(&env, "v1", "Namespace", "", "keepme").await.is_some());
    repo.commit(&[("app/ns.yaml", None)], "drop the namespace");
    ctl.enqueue("ns", Reason::User);
    let m = until_event(&ctl, "ns", "SyncFailed", |m| m.contains("confirm")).await;
    assert!(m.contains("Namespace"), "{m}");
    assert!(get(&env, "v1", "Namespace", "", "keepme").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_input_07_over_cap_render_keeps_the_previous_state() {
    let env = env().await;
    let (ctl, _stop, _dir) = running_controller(&env, cfg()).await;
    let (repo, _) = synced_app(
        &ctl,
        &env,
        "capped",
        "automated: {prune: true, selfHeal: true}",
    )
    .await;
    // One file over the 4 MiB per-file cap replaces the manifest.
    let huge = format!("# {}\n", "x".repeat(5 * 1024 * 1024));
    repo.commit(&[("app/cm.yaml", Some(&huge))], "too big");
    ctl.enqueue("capped", Reason::User);
    let s = wait_status(&ctl, "capped", "the expected status", |s| s.error.is_some()).await;
    assert!(
        !s.error.as_deref().unwrap().contains("xxxxxxxx"),
        "the error quotes no input"
    );
    assert!(
        get(&env, "v1", "ConfigMap", "capped", "capped")
            .await
            .is_some(),
        "previous state kept"
    );
}
