//! Promotion end to end on the sandbox and a Git repository: CI's image lands in dev, moves
//! to staging by itself, waits for two approvals before prod, and a prod that fails its
//! health is reverted by a commit. Over a loopback HTTPS Git server: another writer's
//! commit landing between the promotion's read and its push is kept, two concurrent image
//! updates both land, and an approval request that expires promotes nothing.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use driftless_core::pipeline::Pipeline;
use driftless_core::repository::{Repository, SecretValue};
use driftless_core::users::Caller;
use driftless_engine::controller::promotion::{Phase, Promotion};
use driftless_engine::controller::{Controller, ControllerConfig};
use driftless_testkit::http::{Auth, Fault, GitHttpServer};
use driftless_testkit::repo::TestRepo;

const BASE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: shop}]}\n";

/// An overlay with both images pinned; prod adds a `probe` sidecar (the only stage that
/// runs that image, so a broken probe fails prod alone). kustomize puts a container a patch
/// adds before the existing ones (checked against `kubectl kustomize`), so prod runs probe first.
fn overlay(sidecar: bool) -> String {
    let patch = if sidecar {
        "patches:\n- patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: web}\n    spec:\n      template:\n        spec:\n          containers:\n          - {name: probe, image: probe}\n"
    } else {
        ""
    };
    format!(
        "# overlay: tags below are written by Driftless\nresources:\n- ../../base\n{patch}images:\n- name: shop\n  newTag: \"1.0\"\n- name: probe\n  newTag: \"1.0\"\n"
    )
}

fn cfg() -> ControllerConfig {
    ControllerConfig {
        resync: Duration::from_millis(300),
        promotion_interval: Duration::from_millis(200),
        health_timeout: Duration::from_secs(4),
        ..Default::default()
    }
}

fn app(name: &str, url: &str, env: &str) -> driftless_core::app::Application {
    driftless_core::app::parse(
        &format!("apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\nspec:\n  source: {{repoURL: \"{url}\", path: envs/{env}, targetRevision: main}}\n  destination: {{namespace: {name}}}\n  syncPolicy:\n    automated: {{prune: true}}\n    syncOptions: [CreateNamespace=true]\n"),
        "app.yaml",
    )
    .unwrap()
    .remove(0)
    .app
}

fn pipeline(yaml: &str) -> Pipeline {
    let doc = driftless_core::yaml::parse_one(yaml, &Default::default()).unwrap();
    Pipeline::from_doc(&doc, "pipeline.yaml").unwrap()
}

fn user(name: &str, roles: &[&str]) -> Caller {
    Caller {
        name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

async fn images(env: &Env, ns: &str) -> Vec<String> {
    get(env, "apps/v1", "Deployment", ns, "web")
        .await
        .map(|d| {
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c["image"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn until_images(env: &Env, ns: &str, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while images(env, ns).await != want {
        assert!(
            Instant::now() < deadline,
            "{ns} runs {:?}, expected {want:?}",
            images(env, ns).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The newest promotion to `to` once `check` holds for it.
async fn until_promotion(
    ctl: &Controller,
    to: &str,
    what: &str,
    check: impl Fn(&Promotion) -> bool,
) -> Promotion {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let newest = ctl
            .promotions("", 50)
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.to == to);
        if let Some(p) = newest.as_ref().filter(|p| check(p)) {
            return p.clone();
        }
        assert!(
            Instant::now() < deadline,
            "promotion to {to}: timed out waiting for {what}: {newest:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn until_healthy(ctl: &Controller, app: &str) {
    wait_status(
        ctl,
        app,
        "Synced and Healthy",
        driftless_engine::AppStatus::synced_and_healthy,
    )
    .await;
}

const SHOP: &str = "apiVersion: driftless.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: shop}\nspec:\n  freight: [{image: shop}, {image: probe}]\n  stages:\n  - {name: dev, applications: [shop-dev]}\n  - {name: staging, applications: [shop-staging], autoPromote: true}\n  - name: prod\n    applications: [shop-prod]\n    autoPromote: true\n    approval: {required: 2, role: release, timeout: 1h}\n    onFailure: revert\n    healthTimeout: 30s\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_moves_dev_to_staging_to_prod_with_approvals_and_a_failing_prod_is_reverted() {
    let env = env().await;
    let repo = TestRepo::new("config");
    repo.commit(
        &[
            ("base/deploy.yaml", Some(BASE)),
            (
                "base/kustomization.yaml",
                Some("resources: [deploy.yaml]\n"),
            ),
            ("envs/dev/kustomization.yaml", Some(&overlay(false))),
            ("envs/staging/kustomization.yaml", Some(&overlay(false))),
            ("envs/prod/kustomization.yaml", Some(&overlay(true))),
        ],
        "three environments",
    );
    let url = format!("file://{}/{}", repo.root().display(), repo.name());
    let (ctl, _stop, _dir) = running_controller(&env, cfg()).await;
    for (name, e) in [
        ("shop-dev", "dev"),
        ("shop-staging", "staging"),
        ("shop-prod", "prod"),
    ] {
        ctl.set_app(app(name, &url, e), "test").await.unwrap();
    }
    ctl.set_pipeline(pipeline(SHOP), "test", false)
        .await
        .unwrap();
    until_images(&env, "shop-prod", &["probe:1.0", "shop:1.0"]).await;
    for a in ["shop-dev", "shop-staging", "shop-prod"] {
        until_healthy(&ctl, a).await;
    }
    assert!(
        ctl.promotions("shop", 10).await.unwrap().is_empty(),
        "nothing new to promote"
    );

    // CI's new tag: dev deploys it, staging gets it by itself, prod waits for approvals.
    ctl.set_image("shop-dev", "shop:1.1", "ci").await.unwrap();
    until_images(&env, "shop-dev", &["shop:1.1"]).await;
    let staging = until_promotion(&ctl, "staging", "Succeeded", |p| {
        p.phase == Phase::Succeeded
    })
    .await;
    assert_eq!(
        (staging.from.as_str(), staging.requested_by.as_str()),
        ("dev", "driftless")
    );
    assert_eq!(staging.values[0].before.as_deref(), Some("shop:1.0"));
    assert_eq!(staging.values[0].after.as_deref(), Some("shop:1.1"));
    until_images(&env, "shop-staging", &["shop:1.1"]).await;
    let waiting = until_promotion(&ctl, "prod", "WaitingApproval", |p| {
        p.phase == Phase::WaitingApproval
    })
    .await;
    assert_eq!(
        images(&env, "shop-prod").await,
        ["probe:1.0", "shop:1.0"],
        "prod waits"
    );
    assert!(
        waiting.message.contains("0 of 2 approvals (role release)"),
        "{}",
        waiting.message
    );

    // Who may approve, and only once each.
    let e = ctl
        .decide(waiting.id, &user("dave", &["dev"]), true, "lgtm")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), driftless_engine::ErrorKind::Forbidden, "{e}");
    let e = e.to_string();
    assert!(
        e.contains("dave may not approve") && e.contains("role release"),
        "{e}"
    );
    ctl.decide(waiting.id, &user("alice", &["release"]), true, "looks good")
        .await
        .unwrap();
    let e = ctl
        .decide(waiting.id, &user("alice", &["release"]), true, "again")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), driftless_engine::ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("already approved"), "{e}");
    after_promotion_passes(&ctl, Some("shop-prod"), 2).await;
    assert_eq!(
        images(&env, "shop-prod").await,
        ["probe:1.0", "shop:1.0"],
        "one approval of two"
    );
    ctl.decide(waiting.id, &user("bob", &["release"]), true, "ship it")
        .await
        .unwrap();
    let prod = until_promotion(&ctl, "prod", "Succeeded", |p| {
        p.id == waiting.id && p.phase == Phase::Succeeded
    })
    .await;
    until_images(&env, "shop-prod", &["probe:1.0", "shop:1.1"]).await;
    let commit = &prod.commits[0];
    assert_eq!(
        (commit.purpose.as_str(), commit.branch.as_str()),
        ("promote", "main")
    );
    let log = repo.git_bare(&["log", "-1", "--format=%an|%B", &commit.commit]);
    assert!(
        log.starts_with("Driftless|Promote shop from staging to prod"),
        "{log}"
    );
    assert!(
        log.contains("- image shop: shop:1.0 -> shop:1.1")
            && log.contains("Approved by: alice, bob"),
        "{log}"
    );
    let prod_file = repo.git_bare(&["show", "main:envs/prod/kustomization.yaml"]);
    assert_eq!(
        prod_file,
        overlay(true)
            .replace("\"1.0\"\n- name: probe", "\"1.1\"\n- name: probe")
            .trim(),
        "only the tag changed"
    );
    // The report: values, gates, approvals, commits, durations.
    let report = prod.report();
    assert_eq!(report["approvals"].as_array().unwrap().len(), 2);
    assert_eq!(
        report["gates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["gate"] == "approval")
            .unwrap()["passed"],
        true
    );
    assert!(
        report["durations"]["totalSeconds"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    let audit = ctl
        .store
        .list_audit(&driftless_store::AuditQuery {
            action: Some("promotion.approve".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        audit.iter().map(|a| a.actor.as_str()).collect::<Vec<_>>(),
        ["alice", "bob"]
    );

    // A probe that breaks prod: the promotion fails and a revert commit restores 1.0.
    ctl.set_image("shop-dev", "probe:broken", "ci")
        .await
        .unwrap();
    let broken = until_promotion(&ctl, "prod", "a new WaitingApproval", |p| {
        p.id != waiting.id && p.phase == Phase::WaitingApproval
    })
    .await;
    for u in ["alice", "bob"] {
        ctl.decide(broken.id, &user(u, &["release"]), true, "try it")
            .await
            .unwrap();
    }
    let failed = until_promotion(&ctl, "prod", "Failed", |p| {
        p.id == broken.id && p.phase.is_final()
    })
    .await;
    assert_eq!(failed.phase, Phase::Failed, "{failed:?}");
    assert_eq!(
        failed
            .commits
            .iter()
            .map(|c| c.purpose.as_str())
            .collect::<Vec<_>>(),
        ["promote", "revert"]
    );
    assert!(
        failed.message.contains("reverted to") && failed.message.contains("probe probe:1.0"),
        "{}",
        failed.message
    );
    let log = repo.git_bare(&["log", "-1", "--format=%an|%s", "main"]);
    assert_eq!(
        log,
        format!("Driftless|Revert promotion {} of shop to prod", broken.id)
    );
    assert_eq!(
        repo.git_bare(&["show", "main:envs/prod/kustomization.yaml"]),
        prod_file,
        "prod's file is back"
    );
    until_images(&env, "shop-prod", &["probe:1.0", "shop:1.1"]).await;
    until_healthy(&ctl, "shop-prod").await;
    // The failed values are not promoted again by themselves.
    after_promotion_passes(&ctl, None, 3).await;
    let latest = until_promotion(&ctl, "prod", "no new promotion", |_| true).await;
    assert_eq!(latest.id, broken.id);

    // DORA for the pipeline: prod's deployments, one failed and restored.
    let (stage, dora) = ctl.dora_for_pipeline("shop", 1.0).await.unwrap();
    assert_eq!(stage, "prod");
    assert!(
        dora.deployments >= 4 && dora.failed_deployments >= 1,
        "{dora:?}"
    );
    assert!(
        dora.change_failure_rate.unwrap() > 0.0 && dora.mean_time_to_restore_seconds.is_some(),
        "{dora:?}"
    );
    assert!(dora.lead_time_seconds.is_some(), "{dora:?}");
}

const RACE: &str = "apiVersion: driftless.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: race}\nspec:\n  freight: [{image: shop}, {image: probe}]\n  stages:\n  - {name: qa, applications: [race-qa]}\n  - {name: live, applications: [race-live], autoPromote: true}\n  - name: vault\n    applications: [race-vault]\n    autoPromote: true\n    approval: {required: 1, timeout: 1s}\n  - {name: review, from: live, applications: [race-review], autoPromote: true, pullRequestBranch: \"promote/{pipeline}-{stage}-{id}\"}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_landing_before_the_push_is_kept_and_an_expired_approval_promotes_nothing() {
    let env = env().await;
    let repo = TestRepo::new("race");
    repo.commit(
        &[
            ("base/deploy.yaml", Some(BASE)),
            (
                "base/kustomization.yaml",
                Some("resources: [deploy.yaml]\n"),
            ),
            ("envs/qa/kustomization.yaml", Some(&overlay(false))),
            ("envs/live/kustomization.yaml", Some(&overlay(false))),
            ("envs/vault/kustomization.yaml", Some(&overlay(false))),
            ("envs/review/kustomization.yaml", Some(&overlay(false))),
        ],
        "three environments",
    );
    let srv = GitHttpServer::start_tls(
        repo.root(),
        Auth::Basic {
            user: "bot".into(),
            password: "pw".into(),
        },
    );
    let url = srv.url(&repo.name());
    let (ctl, _stop, _dir) = running_controller(&env, cfg()).await;
    let ca = std::fs::read_to_string(srv.ca_file().unwrap()).unwrap();
    let repository = Repository {
        name: "race".into(),
        url: url.clone(),
        username: Some("bot".into()),
        password: Some(SecretValue::Value("pw".into())),
        ca: Some(ca),
        ..Default::default()
    };
    ctl.set_repository(repository, "test", false).await.unwrap();
    for (name, e) in [
        ("race-qa", "qa"),
        ("race-live", "live"),
        ("race-vault", "vault"),
        ("race-review", "review"),
    ] {
        ctl.set_app(app(name, &url, e), "test").await.unwrap();
    }
    until_images(&env, "race-vault", &["shop:1.0"]).await;
    for a in ["race-qa", "race-live", "race-vault", "race-review"] {
        until_healthy(&ctl, a).await;
    }

    // Two image updates at once: both land in qa.
    let (a, b) = tokio::join!(
        ctl.set_image("race-qa", "shop:2.0", "ci-1"),
        ctl.set_image("race-qa", "probe:2.0", "ci-2")
    );
    assert_ne!(a.unwrap().commit, b.unwrap().commit);
    until_images(&env, "race-qa", &["shop:2.0"]).await;
    until_healthy(&ctl, "race-qa").await;
    let qa_file = repo.git_bare(&["show", "main:envs/qa/kustomization.yaml"]);
    assert!(
        qa_file.contains("newTag: \"2.0\"\n- name: probe\n  newTag: \"2.0\""),
        "{qa_file}"
    );

    // Another writer's commit lands when the promotion starts its push.
    let other = repo.root().join("other");
    let bare = repo.root().join(repo.name());
    let land = move || {
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .args(args)
                .current_dir(&other)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        std::fs::create_dir_all(&other).unwrap();
        let dir = other.to_str().unwrap();
        git(&["clone", "-q", bare.to_str().unwrap(), dir]);
        std::fs::write(other.join("NOTES.md"), "written by a human\n").unwrap();
        git(&["add", "NOTES.md"]);
        git(&[
            "-c",
            "user.name=Human",
            "-c",
            "user.email=h@example.com",
            "commit",
            "-q",
            "-m",
            "notes",
        ]);
        git(&["push", "-q", "origin", "HEAD:main"]);
    };
    ctl.set_pipeline(pipeline(RACE), "test", false)
        .await
        .unwrap();
    srv.set_fault(Fault::BeforePush(std::sync::Arc::new(land)));
    let live = until_promotion(&ctl, "live", "Succeeded", |p| p.phase == Phase::Succeeded).await;
    assert_eq!(
        live.commits[0].attempts, 2,
        "rejected once, re-applied on the new tip"
    );
    assert_eq!(
        repo.git_bare(&["show", "main:NOTES.md"]),
        "written by a human",
        "the other commit is kept"
    );
    let parent = repo.git_bare(&[
        "log",
        "-1",
        "--format=%s",
        &format!("{}~1", live.commits[0].commit),
    ]);
    assert_eq!(parent, "notes");
    until_images(&env, "race-live", &["shop:2.0"]).await;

    // vault asks for one approval within 1s; nobody gives it.
    let expired = until_promotion(&ctl, "vault", "Expired", |p| p.phase.is_final()).await;
    assert_eq!(expired.phase, Phase::Expired, "{expired:?}");
    assert!(
        expired.commits.is_empty() && expired.message.contains("0 of 1 approvals"),
        "{expired:?}"
    );
    assert_eq!(
        repo.git_bare(&["show", "main:envs/vault/kustomization.yaml"]),
        overlay(false).trim(),
        "nothing was written"
    );
    let e = ctl
        .decide(expired.id, &Caller::admin("late"), true, "sorry")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), driftless_engine::ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("is Expired"), "{e}");
    after_promotion_passes(&ctl, Some("race-vault"), 2).await;
    assert_eq!(images(&env, "race-vault").await, ["shop:1.0"]);
    assert_eq!(
        until_promotion(&ctl, "vault", "still one", |_| true)
            .await
            .id,
        expired.id,
        "not re-opened"
    );

    // review takes promotions as a branch left for a pull request: main is untouched until
    // a human merges it; then the stage syncs it and the promotion succeeds.
    let pr = until_promotion(&ctl, "review", "WaitingMerge", |p| {
        p.phase == Phase::WaitingMerge
    })
    .await;
    let branch = format!("promote/race-review-{}", pr.id);
    assert_eq!(pr.commits[0].branch, branch);
    assert_eq!(
        repo.git_bare(&["show", "main:envs/review/kustomization.yaml"]),
        overlay(false).trim()
    );
    let on_branch = repo.git_bare(&["show", &format!("{branch}:envs/review/kustomization.yaml")]);
    assert!(on_branch.contains("newTag: \"2.0\""), "{on_branch}");
    after_promotion_passes(&ctl, Some("race-review"), 2).await;
    assert_eq!(
        images(&env, "race-review").await,
        ["shop:1.0"],
        "not merged: not deployed"
    );
    let merged = repo.git_bare(&["rev-parse", &branch]);
    repo.git_bare(&["update-ref", "refs/heads/main", &merged]);
    ctl.enqueue("race-review", driftless_engine::controller::Reason::User);
    let done = until_promotion(&ctl, "review", "Succeeded", |p| {
        p.id == pr.id && p.phase == Phase::Succeeded
    })
    .await;
    assert!(
        done.message.contains("Synced and Healthy"),
        "{}",
        done.message
    );
    until_images(&env, "race-review", &["shop:2.0"]).await;
}
