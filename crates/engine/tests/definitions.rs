//! The engine's own definitions at run time: a private repository reached with the
//! credentials of its Repository definition (and never leaking them), and an app-of-apps
//! whose Git source declares the applications (Argo CD format) and repositories the engine
//! runs, pruning a child its source stops declaring.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use driftless_core::repository::{Repository, SecretValue};
use driftless_engine::controller::{Controller, ControllerConfig, Reason};
use driftless_testkit::http::{Auth, GitHttpServer};
use driftless_testkit::repo::TestRepo;

fn cfg() -> ControllerConfig {
    ControllerConfig {
        resync: Duration::from_millis(300),
        self_heal_grace: Duration::from_millis(300),
        ..Default::default()
    }
}

fn config_map(name: &str, mode: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{mode: {mode}}}\n")
}

/// An Argo CD Application, as an app-of-apps repository holds them.
fn argo_app(name: &str, url: &str, path: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}, namespace: argocd}}\nspec:\n  project: default\n  source: {{repoURL: \"{url}\", path: {path}, targetRevision: main}}\n  destination: {{server: \"https://kubernetes.default.svc\", namespace: {name}}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n"
    )
}

fn application(yaml: &str) -> driftless_core::app::Application {
    driftless_core::app::parse(yaml, "test.yaml")
        .unwrap()
        .remove(0)
        .app
}

async fn until_apps(ctl: &Controller, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let names = ctl.app_names().await;
        if names == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "applications {names:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_is_fetched_with_its_definitions_credentials() {
    let env = env().await;
    let repo = TestRepo::new("private");
    repo.commit(&[("shop/cm.yaml", Some(&config_map("settings", "a")))], "a");
    let srv = GitHttpServer::start_tls(
        repo.root(),
        Auth::Basic {
            user: "bot".into(),
            password: "s3cret-pw".into(),
        },
    );
    let url = srv.url(&repo.name());
    let (ctl, _stop, dir) = running_controller(&env, cfg()).await;
    let app = application(&format!(
        "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: shop}}\nspec:\n  source: {{repoURL: \"{url}\", path: shop, targetRevision: main}}\n  destination: {{namespace: shop}}\n  syncPolicy:\n    automated: {{}}\n    syncOptions: [CreateNamespace=true]\n"
    ));
    ctl.set_app(app, "alice").await.unwrap();
    let ca = std::fs::read_to_string(srv.ca_file().unwrap()).unwrap();
    // A definition with the server's CA but no credentials yet: the fetch fails with an
    // error that says what to check.
    let without = Repository {
        name: "private".into(),
        url: url.clone(),
        ca: Some(ca.clone()),
        ..Repository::default()
    };
    ctl.set_repository(without, "alice", true).await.unwrap();
    wait_status(&ctl, "shop", "an authentication error", |s| {
        s.error
            .as_deref()
            .is_some_and(|e| e.contains("authentication failed"))
    })
    .await;
    // The password lives in a file the engine reads at each fetch.
    let secret_file = dir.path().join("repo-password");
    std::fs::write(&secret_file, "s3cret-pw\n").unwrap();
    ctl.set_repository(
        Repository {
            name: "private".into(),
            url: url.clone(),
            username: Some("bot".into()),
            password: Some(SecretValue::File {
                file: secret_file.display().to_string(),
            }),
            ca: Some(ca),
            ..Repository::default()
        },
        "alice",
        true,
    )
    .await
    .unwrap();
    ctl.enqueue("shop", Reason::User);
    wait_status(&ctl, "shop", "Synced", |s| s.is_synced()).await;
    assert_eq!(
        get(&env, "v1", "ConfigMap", "shop", "settings")
            .await
            .unwrap()["data"]["mode"],
        "a"
    );
    assert!(
        srv.authorization_headers_seen()
            .iter()
            .any(|h| h.starts_with("Basic ")),
        "credentials were sent"
    );
    // Kept in the store for the next start; never in the audit log or events.
    let stored = ctl.store.list_definitions("Repository").await.unwrap();
    assert_eq!(stored.len(), 1);
    let audit = ctl.store.list_audit(&Default::default()).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "repository.create" && a.actor == "alice")
    );
    let events = ctl.store.list_events("shop", 0, 100).await.unwrap();
    let everything = format!("{:?}{:?}{:?}", audit, events, ctl.repositories());
    assert!(!everything.contains("s3cret-pw"), "a secret leaked");
    // Removed: the next fetch goes without the definition (and fails: the CA is unknown),
    // and the app stays at what was deployed.
    assert!(ctl.remove_repository("private", "alice").await.unwrap());
    assert!(
        ctl.store
            .list_definitions("Repository")
            .await
            .unwrap()
            .is_empty()
    );
    repo.commit(&[("shop/cm.yaml", Some(&config_map("settings", "b")))], "b");
    ctl.enqueue("shop", Reason::User);
    wait_status(&ctl, "shop", "a fetch error", |s| {
        s.error.as_deref().is_some_and(|e| e.contains("fetching"))
    })
    .await;
    assert_eq!(
        get(&env, "v1", "ConfigMap", "shop", "settings")
            .await
            .unwrap()["data"]["mode"],
        "a"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_of_apps_declares_the_engines_applications_and_prunes_them() {
    let env = env().await;
    let repo = TestRepo::new("fleet");
    let url = format!("file://{}/{}", repo.root().display(), repo.name());
    // A Git repository definition names no file or variable of the engine's host; its
    // project (the operator's) lets it declare Repositories (see the trust model).
    let repo_def = "apiVersion: driftless.dev/v1alpha1\nkind: Repository\nmetadata: {name: charts}\nspec: {url: \"https://git.example.com/charts.git\", bearerToken: t0ken}\n";
    repo.commit(
        &[
            (
                "apps/web.yaml",
                Some(&argo_app("web", &url, "workloads/web")),
            ),
            ("apps/repositories.yaml", Some(repo_def)),
            ("workloads/web/cm.yaml", Some(&config_map("web", "enabled"))),
            ("workloads/api/cm.yaml", Some(&config_map("api", "enabled"))),
        ],
        "web",
    );
    let (ctl, _stop, _dir) = running_controller(&env, cfg()).await;
    let fleet = driftless_core::project::parse(
        "apiVersion: driftless.dev/v1alpha1\nkind: Project\nmetadata: {name: fleet}\nspec:\n  sourceRepos: [\"*\"]\n  destinations: [{namespace: \"*\"}]\n  childProjects: [default]\n  childKinds: [Repository]\n",
        "fleet.yaml",
    )
    .unwrap()
    .remove(0);
    ctl.set_project(fleet, "alice").await.unwrap();
    let root = application(&format!(
        "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: root}}\nspec:\n  project: fleet\n  source: {{repoURL: \"{url}\", path: apps, targetRevision: main}}\n  destination: {{namespace: default}}\n  syncPolicy:\n    automated: {{prune: true}}\n"
    ));
    ctl.set_app(root, "alice").await.unwrap();
    until_apps(&ctl, &["root", "web"]).await;
    wait_status(&ctl, "web", "Synced", |s| s.is_synced()).await;
    assert_eq!(
        get(&env, "v1", "ConfigMap", "web", "web").await.unwrap()["data"]["mode"],
        "enabled"
    );
    // The child records its parent; the parent applied nothing to the cluster itself.
    let web = ctl.store.get_app("web").await.unwrap().unwrap();
    assert_eq!(web.spec["parent"], "root");
    assert_eq!(web.spec["destination"]["namespace"], "web");
    wait_status(&ctl, "root", "Synced", |s| s.is_synced()).await;
    let repos = ctl.repositories();
    assert_eq!(repos.len(), 1);
    assert_eq!(repos[0].name, "charts");
    assert!(
        ctl.store
            .list_definitions("Repository")
            .await
            .unwrap()
            .is_empty(),
        "definitions from Git are not stored: Git is their source"
    );

    // Git now declares api instead of web: api appears, web is pruned (its objects stay).
    repo.commit(
        &[
            ("apps/web.yaml", None),
            (
                "apps/api.yaml",
                Some(&argo_app("api", &url, "workloads/api")),
            ),
        ],
        "swap",
    );
    ctl.source_changed(std::slice::from_ref(&url)).await;
    until_apps(&ctl, &["api", "root"]).await;
    wait_status(&ctl, "api", "Synced", |s| s.is_synced()).await;
    assert!(ctl.store.get_app("web").await.unwrap().is_none());
    let events = ctl.store.list_events("root", 0, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "ChildPruned" && e.message.contains("application web")),
        "{events:?}"
    );
    assert!(get(&env, "v1", "ConfigMap", "web", "web").await.is_some());

    // A declared application that clashes with one defined elsewhere is refused, with a
    // reason, and the rest of the source still applies.
    let other = application(&format!(
        "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: ops}}\nspec:\n  source: {{repoURL: \"{url}\", path: workloads/web}}\n  destination: {{namespace: ops}}\n"
    ));
    ctl.set_app(other, "alice").await.unwrap();
    repo.commit(
        &[(
            "apps/ops.yaml",
            Some(&argo_app("ops", &url, "workloads/api")),
        )],
        "clash",
    );
    ctl.source_changed(std::slice::from_ref(&url)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = ctl.store.list_events("root", 0, 100).await.unwrap();
        if let Some(e) = events.iter().find(|e| e.kind == "DefinitionError") {
            assert!(
                e.message.contains("application ops already exists")
                    && e.message.contains("defined by a file or the API"),
                "{}",
                e.message
            );
            break;
        }
        assert!(Instant::now() < deadline, "no DefinitionError: {events:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ops = ctl.store.get_app("ops").await.unwrap().unwrap();
    assert_eq!(
        ops.spec["source"]["path"], "workloads/web",
        "not taken over"
    );
    assert!(ops.spec.get("parent").is_none());
    assert_eq!(ctl.app_names().await, ["api", "ops", "root"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_deploys_to_the_cluster_its_destination_names() {
    use driftless_core::cluster::{Cluster, Propagation};
    use driftless_core::clusters::ClusterDefinition;
    let env = env().await; // the engine's own cluster
    let prod = driftless_testkit::cluster::sandbox_cluster().await;
    let repo = TestRepo::new("far");
    repo.commit(
        &[("far/cm.yaml", Some(&config_map("far", "remote")))],
        "far",
    );
    let url = format!("file://{}/{}", repo.root().display(), repo.name());
    let (ctl, _stop, _dir) = running_controller(&env, cfg()).await;
    ctl.set_app(
        application(&format!("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: far}}\nspec:\n  source: {{repoURL: \"{url}\", path: far, targetRevision: main}}\n  destination: {{name: prod, namespace: far}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n")),
        "alice",
    )
    .await
    .unwrap();
    // Not defined yet: an error on the app, nothing deployed to the engine's own cluster.
    wait_status(&ctl, "far", "an unknown-destination error", |s| {
        s.error
            .as_deref()
            .is_some_and(|e| e.contains("destination cluster prod is not defined"))
    })
    .await;

    let kubeconfig = prod.sandbox.kubeconfig();
    ctl.set_cluster(
        ClusterDefinition {
            name: "prod".into(),
            kubeconfig: Some(SecretValue::Value(kubeconfig.clone())),
            ..ClusterDefinition::default()
        },
        "alice",
        true,
    )
    .await
    .unwrap();
    wait_status(&ctl, "far", "Synced", |s| s.is_synced()).await;
    assert_eq!(
        get(&prod, "v1", "ConfigMap", "far", "far").await.unwrap()["data"]["mode"],
        "remote"
    );
    assert!(get(&env, "v1", "ConfigMap", "far", "far").await.is_none());

    // Drift in that cluster is seen by its own watch and healed there.
    let gvk = driftless_core::Gvk::from_api_version("v1", "ConfigMap");
    let key = driftless_core::ResourceKey::new("", "ConfigMap", "far", "far");
    assert!(
        prod.cluster
            .delete(&gvk, &key, Propagation::Background)
            .await
            .unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(&prod, "v1", "ConfigMap", "far", "far").await.is_none() {
        assert!(Instant::now() < deadline, "not healed in the prod cluster");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let listed = ctl.clusters();
    let names: Vec<&str> = listed.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["in-cluster", "prod"]);
    assert_eq!(listed[1]["server"], prod.sandbox.url().as_str());
    // Stored for the next start; the kubeconfig's token is in no answer and no audit entry.
    assert_eq!(
        ctl.store.list_definitions("Cluster").await.unwrap().len(),
        1
    );
    let token = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .expect("the sandbox kubeconfig has a token")
        .trim_matches('"')
        .to_string();
    let audit = ctl.store.list_audit(&Default::default()).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "cluster.set"));
    let shown = format!("{audit:?}{}", serde_json::to_string(&listed).unwrap());
    assert!(!shown.contains(&token), "the cluster token leaked");
    assert!(ctl.remove_cluster("in-cluster", "alice").await.is_err());
}
