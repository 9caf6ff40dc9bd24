//! The render cache over real commits: a commit that does not touch an app's inputs (its
//! directory, its bases, its patch files) is a cache hit; touching any input re-renders.

use driftless_git::{Credentials, FetchOptions, Mirror, UrlPolicy};
use driftless_render::cache::{CacheOutcome, RenderCache};
use driftless_render::{RenderLimits, RendererSpec};
use driftless_testkit::repo::TestRepo;

fn fixture() -> TestRepo {
    let repo = TestRepo::new("mono");
    repo.commit(
        &[
            ("base/kustomization.yaml", Some("resources: [cm.yaml]\n")),
            (
                "base/cm.yaml",
                Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {v: \"1\"}\n"),
            ),
            (
                "apps/a/kustomization.yaml",
                Some("resources: [../../base]\nnamePrefix: a-\n"),
            ),
            (
                "apps/b/kustomization.yaml",
                Some("resources: [../../base, ../../extra]\nnamePrefix: b-\n"),
            ),
            ("extra/kustomization.yaml", Some("resources: [b.yaml]\n")),
            (
                "extra/b.yaml",
                Some(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {b: \"1\"}\n",
                ),
            ),
            ("README.md", Some("hello\n")),
        ],
        "initial",
    );
    repo
}

struct Env {
    repo: TestRepo,
    _data: tempfile::TempDir,
    mirror: Mirror,
    cache: RenderCache,
}

impl Env {
    fn new() -> Self {
        let repo = fixture();
        let data = tempfile::tempdir().unwrap();
        let mirror = Mirror::open(
            data.path(),
            repo.bare.to_str().unwrap(),
            UrlPolicy {
                allow_local: true,
                allow_insecure: false,
            },
        )
        .unwrap();
        Env {
            repo,
            _data: data,
            mirror,
            cache: RenderCache::new(),
        }
    }

    fn render(&self, app: &str) -> (CacheOutcome, String) {
        self.mirror
            .fetch(&Credentials::None, &FetchOptions::default())
            .unwrap();
        let tree = self
            .mirror
            .tree_at(&self.mirror.resolve("main").unwrap())
            .unwrap();
        let (out, outcome) = self
            .cache
            .render(
                app,
                &tree,
                &format!("apps/{app}"),
                &RendererSpec::Auto,
                &RenderLimits::default(),
            )
            .unwrap();
        (outcome, out.set.digest())
    }
}

#[test]
fn unrelated_commits_hit_and_input_changes_miss() {
    let env = Env::new();
    assert_eq!(env.render("a").0, CacheOutcome::Miss);
    assert_eq!(env.render("b").0, CacheOutcome::Miss);
    env.repo
        .commit(&[("README.md", Some("changed\n"))], "docs only");
    assert_eq!(env.render("a").0, CacheOutcome::Hit);
    assert_eq!(env.render("b").0, CacheOutcome::Hit);

    // A file outside b's directory (a kustomization b uses; kustomize's load restrictor refuses
    // loose files) is one of b's inputs, not a's.
    let (_, b_before) = env.render("b");
    env.repo.commit(
        &[(
            "extra/b.yaml",
            Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {b: \"2\"}\n"),
        )],
        "patch b",
    );
    assert_eq!(env.render("a").0, CacheOutcome::Hit);
    let (outcome, b_after) = env.render("b");
    assert_eq!(outcome, CacheOutcome::Miss);
    assert_ne!(b_before, b_after);

    // The shared base is an input of both.
    env.repo.commit(
        &[(
            "base/cm.yaml",
            Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {v: \"2\"}\n"),
        )],
        "base",
    );
    assert_eq!(env.render("a").0, CacheOutcome::Miss);
    assert_eq!(env.render("b").0, CacheOutcome::Miss);
}

#[test]
fn a_wiped_cache_re_renders_the_same_set() {
    let env = Env::new();
    let (_, digest) = env.render("a");
    env.cache.clear();
    let (outcome, again) = env.render("a");
    assert_eq!((outcome, again), (CacheOutcome::Miss, digest));
}

#[test]
fn entries_are_keyed_by_app_path_and_renderer() {
    let env = Env::new();
    env.render("a");
    env.mirror
        .fetch(&Credentials::None, &FetchOptions::default())
        .unwrap();
    let tree = env
        .mirror
        .tree_at(&env.mirror.resolve("main").unwrap())
        .unwrap();
    // Same app name, other path or other renderer: never served from the old entry.
    let (out, outcome) = env
        .cache
        .render(
            "a",
            &tree,
            "apps/b",
            &RendererSpec::Auto,
            &RenderLimits::default(),
        )
        .unwrap();
    assert_eq!(outcome, CacheOutcome::Miss);
    assert_eq!(
        out.set.values().next().unwrap()["metadata"]["name"],
        "b-cfg"
    );
    let (_, outcome) = env
        .cache
        .render(
            "a",
            &tree,
            "apps/b",
            &RendererSpec::Kustomize,
            &RenderLimits::default(),
        )
        .unwrap();
    assert_eq!(outcome, CacheOutcome::Miss);
}

#[test]
fn a_tree_diff_names_exactly_the_apps_whose_inputs_changed() {
    let env = Env::new();
    env.render("a");
    env.render("b");
    let old = env
        .mirror
        .tree_at(&env.mirror.resolve("main").unwrap())
        .unwrap();
    env.repo.commit(
        &[
            (
                "extra/b.yaml",
                Some(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {b: \"3\"}\n",
                ),
            ),
            ("README.md", Some("x\n")),
        ],
        "b and docs",
    );
    env.mirror
        .fetch(&Credentials::None, &FetchOptions::default())
        .unwrap();
    let new = env
        .mirror
        .tree_at(&env.mirror.resolve("main").unwrap())
        .unwrap();
    let changed = new.changed_paths(&old).unwrap();
    assert_eq!(
        changed,
        vec!["README.md".to_string(), "extra/b.yaml".to_string()]
    );
    assert_eq!(env.cache.affected_by(&changed), vec!["b".to_string()]);
    env.repo
        .commit(&[("base/new.yaml", Some("x: 1\n"))], "base dir");
    env.mirror
        .fetch(&Credentials::None, &FetchOptions::default())
        .unwrap();
    let newer = env
        .mirror
        .tree_at(&env.mirror.resolve("main").unwrap())
        .unwrap();
    assert_eq!(
        env.cache.affected_by(&newer.changed_paths(&new).unwrap()),
        vec!["a".to_string(), "b".to_string()]
    );
}

#[test]
fn file_urls_are_mirrored_only_with_local_sources_allowed() {
    let repo = fixture();
    let data = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.bare.display());
    assert!(Mirror::open(data.path(), &url, UrlPolicy::default()).is_err());
    let mirror = Mirror::open(
        data.path(),
        &url,
        UrlPolicy {
            allow_local: true,
            allow_insecure: false,
        },
    )
    .unwrap();
    mirror
        .fetch(&Credentials::None, &FetchOptions::default())
        .unwrap();
    assert_eq!(mirror.resolve("HEAD").unwrap(), repo.head());
}
