//! What else moves between stages besides images: a value at a YAML path (the comment on its
//! line kept), a whole file copied from the source's folder, and the Git revision itself
//! (pinned as the target applications' `targetRevision`, no commit).

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use driftless_core::pipeline::Pipeline;
use driftless_engine::controller::promotion::{Phase, Promotion};
use driftless_engine::controller::{Controller, ControllerConfig, Reason};
use driftless_testkit::repo::TestRepo;

const SETTINGS: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata:\n  version: \"1.0\"  # moved by promotions\n  region: REGION\n";
const FEATURES: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: features}\ndata: {checkout: \"off\"}\n";

fn app(name: &str, url: &str, path: &str, revision: &str) -> driftless_core::app::Application {
    driftless_core::app::parse(
        &format!("apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\nspec:\n  source: {{repoURL: \"{url}\", path: {path}, targetRevision: \"{revision}\"}}\n  destination: {{namespace: {name}}}\n  syncPolicy:\n    automated: {{prune: true}}\n    syncOptions: [CreateNamespace=true]\n"),
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

async fn until_data(env: &Env, ns: &str, name: &str, key: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cm = get(env, "v1", "ConfigMap", ns, name).await;
        let got = cm
            .as_ref()
            .and_then(|c| c["data"][key].as_str().map(String::from));
        if got.as_deref() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{ns}/{name}.{key} is {got:?}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn until_promotion(
    ctl: &Controller,
    pipeline: &str,
    check: impl Fn(&Promotion) -> bool,
) -> Promotion {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let newest = ctl
            .promotions(pipeline, 5)
            .await
            .unwrap()
            .into_iter()
            .next();
        if let Some(p) = newest.as_ref().filter(|p| check(p)) {
            return p.clone();
        }
        assert!(
            Instant::now() < deadline,
            "promotion of {pipeline}: {newest:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yaml_value_a_file_and_a_revision_are_promoted() {
    let env = env().await;
    let repo = TestRepo::new("config");
    let first = repo.commit(
        &[
            (
                "envs/dev/settings.yaml",
                Some(&SETTINGS.replace("REGION", "dev-region")),
            ),
            ("envs/dev/features.yaml", Some(FEATURES)),
            (
                "envs/prod/settings.yaml",
                Some(&SETTINGS.replace("REGION", "prod-region")),
            ),
            ("envs/prod/features.yaml", Some(FEATURES)),
        ],
        "two environments",
    );
    let url = format!("file://{}/{}", repo.root().display(), repo.name());
    let cfg = ControllerConfig {
        resync: Duration::from_millis(300),
        promotion_interval: Duration::from_millis(200),
        ..Default::default()
    };
    let (ctl, _stop, _dir) = running_controller(&env, cfg).await;
    ctl.set_app(app("cfg-dev", &url, "envs/dev", "main"), "test")
        .await
        .unwrap();
    ctl.set_app(app("cfg-prod", &url, "envs/prod", "main"), "test")
        .await
        .unwrap();
    ctl.set_app(app("pin-a", &url, "envs/dev", "main"), "test")
        .await
        .unwrap();
    ctl.set_app(app("pin-b", &url, "envs/dev", &first), "test")
        .await
        .unwrap();
    until_data(&env, "cfg-prod", "settings", "version", "1.0").await;
    until_data(&env, "pin-b", "features", "checkout", "off").await;

    // dev changes (a person's commit): the version value and the features file.
    repo.commit(
        &[
            (
                "envs/dev/settings.yaml",
                Some(
                    &SETTINGS
                        .replace("REGION", "dev-region")
                        .replace("\"1.0\"", "\"1.1\""),
                ),
            ),
            (
                "envs/dev/features.yaml",
                Some(&FEATURES.replace("off", "on")),
            ),
        ],
        "dev: 1.1 with checkout on",
    );
    ctl.enqueue("cfg-dev", Reason::User);
    ctl.enqueue("pin-a", Reason::User);
    until_data(&env, "cfg-dev", "settings", "version", "1.1").await;
    ctl.set_pipeline(
        pipeline("apiVersion: driftless.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: cfg}\nspec:\n  freight: [{yamlPath: {file: settings.yaml, path: data.version}}, {file: features.yaml}]\n  stages:\n  - {name: dev, applications: [cfg-dev]}\n  - {name: prod, applications: [cfg-prod], autoPromote: true}\n"),
        "test",
        false,
    )
    .await
    .unwrap();
    let done = until_promotion(&ctl, "cfg", |p| p.phase.is_final()).await;
    assert_eq!(done.phase, Phase::Succeeded, "{done:?}");
    assert_eq!(
        (
            done.values[0].before.as_deref(),
            done.values[0].after.as_deref()
        ),
        (Some("1.0"), Some("1.1"))
    );
    until_data(&env, "cfg-prod", "settings", "version", "1.1").await;
    until_data(&env, "cfg-prod", "features", "checkout", "on").await;
    let prod = repo.git_bare(&["show", "main:envs/prod/settings.yaml"]);
    assert_eq!(
        prod,
        SETTINGS
            .replace("REGION", "prod-region")
            .replace("\"1.0\"", "\"1.1\"")
            .trim(),
        "only the value changed; prod's region and the comment stay"
    );
    assert_eq!(
        repo.git_bare(&["show", "main:envs/prod/features.yaml"]),
        FEATURES.replace("off", "on").trim()
    );

    // The revision: pin-b is pinned to what pin-a runs, with no commit.
    ctl.set_pipeline(
        pipeline("apiVersion: driftless.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: pin}\nspec:\n  freight: [{revision: true}]\n  stages:\n  - {name: a, applications: [pin-a]}\n  - {name: b, applications: [pin-b]}\n"),
        "test",
        false,
    )
    .await
    .unwrap();
    // pin-a runs the branch head (the promotion commit above included).
    let head = repo.git_bare(&["rev-parse", "main"]);
    wait_status(
        &ctl,
        "pin-a",
        "at the branch head, Synced and Healthy",
        |st| st.sync.revision.as_deref() == Some(head.as_str()) && st.synced_and_healthy(),
    )
    .await;
    let a_rev = head.clone();
    let p = ctl.promote("pin", Some("a"), "b", "tester").await.unwrap();
    assert_eq!(p.values[0].after.as_deref(), Some(a_rev.as_str()));
    assert_eq!(p.values[0].before.as_deref(), Some(first.as_str()));
    let done = until_promotion(&ctl, "pin", |p| p.phase.is_final()).await;
    assert_eq!(done.phase, Phase::Succeeded, "{done:?}");
    assert!(done.commits.is_empty(), "a revision is not a commit");
    assert_eq!(repo.git_bare(&["rev-parse", "main"]), head);
    let spec = ctl.store.get_app("pin-b").await.unwrap().unwrap().spec;
    assert_eq!(spec["source"]["targetRevision"], a_rev.as_str());
    until_data(&env, "pin-b", "features", "checkout", "on").await;
    let e = ctl.promote("pin", None, "b", "tester").await.unwrap_err();
    assert_eq!(e.kind(), driftless_engine::ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("nothing to promote"), "{e}");
}
