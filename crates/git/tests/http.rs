//! Fetching over smart HTTP from `git http-backend` on loopback, with basic and bearer auth.
//! Each test asserts what is in the mirror afterwards (refs, file contents), not just `Ok`.

use driftless_core::source::{SourceTree, Tree};
use driftless_git::{Credentials, FetchOptions, GitError, Mirror, Secret, UrlPolicy};
use driftless_testkit::http::{Auth, Fault, GitHttpServer};
use driftless_testkit::repo::TestRepo;

const LOCAL: UrlPolicy = UrlPolicy {
    allow_local: true,
    allow_insecure: false,
};

fn basic(user: &str, pass: &str) -> Credentials {
    Credentials::Basic {
        username: user.into(),
        password: Secret::new(pass),
    }
}

/// An HTTPS server with basic auth (gix, rightly, never sends basic credentials over http).
fn server(repo: &TestRepo) -> GitHttpServer {
    GitHttpServer::start_tls(
        repo.root(),
        Auth::Basic {
            user: "bot".into(),
            password: "s3cr;t $(x)".into(),
        },
    )
}

fn mirror(data: &tempfile::TempDir, srv: &GitHttpServer, repo: &str) -> Mirror {
    let m = Mirror::open(data.path(), &srv.url(repo), LOCAL).unwrap();
    match srv.ca_file() {
        Some(ca) => m.with_ca_file(ca),
        None => m,
    }
}

fn read(mirror: &Mirror, commit: &str, path: &str) -> String {
    let tree = mirror.tree_at(commit).unwrap();
    String::from_utf8(Tree::new(&tree).read(path, 1 << 20).unwrap()).unwrap()
}

#[test]
fn fetch_with_basic_auth_mirrors_branches_and_tags() {
    let repo = TestRepo::new("config");
    let first = repo.commit(&[("apps/web/cm.yaml", Some("a: 1\n"))], "first");
    repo.git(&["tag", "-a", "v1.2.0", "-m", "release"]);
    repo.git(&["push", "-q", "origin", "v1.2.0"]);
    let second = repo.commit(&[("apps/web/cm.yaml", Some("a: 2\n"))], "second");
    let srv = server(&repo);
    let data = tempfile::tempdir().unwrap();
    let mirror = mirror(&data, &srv, &repo.name());
    // Shell metacharacters in the password are used literally.
    let out = mirror
        .fetch(&basic("bot", "s3cr;t $(x)"), &FetchOptions::default())
        .unwrap();
    assert_eq!(out.default_branch.as_deref(), Some("main"));
    assert_eq!(mirror.resolve("HEAD").unwrap(), second);
    assert_eq!(mirror.resolve("main").unwrap(), second);
    assert_eq!(
        mirror.resolve("v1.2.0").unwrap(),
        first,
        "annotated tags resolve to their commit"
    );
    assert_eq!(mirror.resolve(">=1.0 <2").unwrap(), first);
    assert_eq!(mirror.resolve(&second[..8]).unwrap(), second);
    assert_eq!(read(&mirror, &second, "apps/web/cm.yaml"), "a: 2\n");
    assert_eq!(read(&mirror, &first, "apps/web/cm.yaml"), "a: 1\n");
    // The credentials never reached the mirror's config on disk.
    let config = std::fs::read_to_string(mirror.dir().join("config")).unwrap();
    assert!(!config.contains("s3cr"), "{config}");
}

#[test]
fn wrong_password_is_an_auth_error_without_the_password() {
    let repo = TestRepo::new("config");
    repo.commit(&[("a.yaml", Some("a: 1\n"))], "first");
    let srv = server(&repo);
    let data = tempfile::tempdir().unwrap();
    let mirror = mirror(&data, &srv, &repo.name());
    let err = mirror
        .fetch(&basic("bot", "wrong-pass"), &FetchOptions::default())
        .unwrap_err();
    assert!(matches!(err, GitError::Auth { .. }), "{err:?}");
    assert!(!err.to_string().contains("wrong-pass"), "{err}");
    assert!(!err.is_spurious());
}

#[test]
fn bearer_token_authenticates() {
    let repo = TestRepo::new("config");
    let head = repo.commit(&[("a.yaml", Some("a: 1\n"))], "first");
    let srv = GitHttpServer::start_tls(
        repo.root(),
        Auth::Bearer {
            token: "tok-123".into(),
        },
    );
    let data = tempfile::tempdir().unwrap();
    let mirror = mirror(&data, &srv, &repo.name());
    mirror
        .fetch(
            &Credentials::Bearer {
                token: Secret::new("tok-123"),
            },
            &FetchOptions::default(),
        )
        .unwrap();
    assert_eq!(mirror.resolve("main").unwrap(), head);
}

#[test]
fn missing_repository_is_not_found() {
    let repo = TestRepo::new("config");
    let srv = server(&repo);
    let data = tempfile::tempdir().unwrap();
    let mirror = mirror(&data, &srv, "nope.git");
    let err = mirror
        .fetch(&basic("bot", "s3cr;t $(x)"), &FetchOptions::default())
        .unwrap_err();
    assert!(matches!(err, GitError::NotFound { .. }), "{err:?}");
}

#[test]
fn deleted_branch_is_pruned_and_no_longer_resolves() {
    let repo = TestRepo::new("config");
    repo.commit(&[("a.yaml", Some("a: 1\n"))], "first");
    repo.git(&["push", "-q", "origin", "HEAD:refs/heads/feature"]);
    let srv = server(&repo);
    let data = tempfile::tempdir().unwrap();
    let mirror = mirror(&data, &srv, &repo.name());
    let creds = basic("bot", "s3cr;t $(x)");
    mirror.fetch(&creds, &FetchOptions::default()).unwrap();
    assert!(mirror.resolve("feature").is_ok());
    repo.git(&["push", "-q", "origin", ":refs/heads/feature"]);
    let out = mirror.fetch(&creds, &FetchOptions::default()).unwrap();
    assert_eq!(out.pruned, vec!["refs/heads/feature".to_string()]);
    let err = mirror.resolve("feature").unwrap_err();
    assert!(matches!(err, GitError::RevisionNotFound { .. }), "{err:?}");
}

#[test]
fn force_push_moves_the_branch_and_the_old_commit_does_not_crash_anything() {
    let repo = TestRepo::new("config");
    repo.commit(&[("a.yaml", Some("a: 1\n"))], "first");
    let synced = repo.commit(&[("a.yaml", Some("a: 2\n"))], "second");
    let srv = server(&repo);
    let data = tempfile::tempdir().unwrap();
    let mirror = mirror(&data, &srv, &repo.name());
    let creds = basic("bot", "s3cr;t $(x)");
    mirror.fetch(&creds, &FetchOptions::default()).unwrap();
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    std::fs::write(repo.work_dir().join("a.yaml"), "a: 3\n").unwrap();
    repo.git(&["commit", "-qam", "rewritten"]);
    repo.git(&["push", "-q", "--force", "origin", "HEAD:refs/heads/main"]);
    let rewritten = repo.head();
    repo.git_bare(&["reflog", "expire", "--expire=now", "--all"]);
    repo.git_bare(&["gc", "-q", "--prune=now"]);
    mirror.fetch(&creds, &FetchOptions::default()).unwrap();
    assert_eq!(mirror.resolve("main").unwrap(), rewritten);
    // The old synced commit is still readable from the mirror (kept objects), never a crash.
    match mirror.resolve(&synced) {
        Ok(id) => assert_eq!(read(&mirror, &id, "a.yaml"), "a: 2\n"),
        Err(e) => assert!(matches!(e, GitError::RevisionNotFound { .. }), "{e:?}"),
    }
}

#[test]
fn server_dropping_mid_fetch_keeps_the_last_good_state() {
    let repo = TestRepo::new("config");
    let good = repo.commit(&[("a.yaml", Some("a: 1\n"))], "first");
    let srv = server(&repo);
    let data = tempfile::tempdir().unwrap();
    let mirror = mirror(&data, &srv, &repo.name());
    let creds = basic("bot", "s3cr;t $(x)");
    mirror.fetch(&creds, &FetchOptions::default()).unwrap();
    let big: String = (0..20_000)
        .map(|i| format!("line {i} {}\n", i * 7919))
        .collect();
    repo.commit(&[("big.txt", Some(&big))], "big");
    srv.set_fault(Fault::DropUploadPackAfter(200));
    let err = mirror.fetch(&creds, &FetchOptions::default()).unwrap_err();
    assert!(
        err.is_spurious(),
        "a dropped connection is worth retrying: {err:?}"
    );
    assert_eq!(
        mirror.resolve("main").unwrap(),
        good,
        "refs untouched by the failed fetch"
    );
    srv.set_fault(Fault::None);
    mirror.fetch(&creds, &FetchOptions::default()).unwrap();
    assert_eq!(mirror.resolve("main").unwrap(), repo.head());
}

#[test]
fn cross_host_redirect_is_refused_and_no_credentials_follow_it() {
    let repo = TestRepo::new("config");
    repo.commit(&[("a.yaml", Some("a: 1\n"))], "first");
    let elsewhere = GitHttpServer::start_tls(repo.root(), Auth::None);
    let front = server(&repo);
    front.set_fault(Fault::RedirectTo(
        elsewhere.base().replace("127.0.0.1", "localhost"),
    ));
    let data = tempfile::tempdir().unwrap();
    let mirror = mirror(&data, &front, &repo.name());
    assert!(
        mirror
            .fetch(&basic("bot", "s3cr;t $(x)"), &FetchOptions::default())
            .is_err()
    );
    assert!(elsewhere.authorization_headers_seen().is_empty());
    assert_eq!(elsewhere.requests(), 0, "redirects are not followed at all");
}

#[test]
fn shallow_fetch_reads_the_tip() {
    let repo = TestRepo::new("config");
    for i in 0..5 {
        repo.commit(&[("a.yaml", Some(&format!("a: {i}\n")))], "c");
    }
    let srv = server(&repo);
    let data = tempfile::tempdir().unwrap();
    let mirror = mirror(&data, &srv, &repo.name());
    let opts = FetchOptions {
        depth: Some(1.try_into().unwrap()),
    };
    mirror.fetch(&basic("bot", "s3cr;t $(x)"), &opts).unwrap();
    let head = mirror.resolve("main").unwrap();
    assert_eq!(read(&mirror, &head, "a.yaml"), "a: 4\n");
    assert!(mirror.dir().join("shallow").exists());
}

#[test]
fn git_trees_render_and_refuse_escaping_symlinks() {
    use driftless_render::{RenderLimits, RendererSpec, render};
    let repo = TestRepo::new("config");
    repo.commit(
        &[
            ("base/kustomization.yaml", Some("resources: [cm.yaml]\n")),
            (
                "base/cm.yaml",
                Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n"),
            ),
            (
                "dev/kustomization.yaml",
                Some("resources: [../base]\nnamePrefix: dev-\n"),
            ),
        ],
        "app",
    );
    repo.commit_symlink("shared", "base", "in-repo link");
    let head = repo.commit_symlink("evil/passwd.yaml", "../../etc/passwd", "escaping link");
    let srv = server(&repo);
    let data = tempfile::tempdir().unwrap();
    let mirror = mirror(&data, &srv, &repo.name());
    mirror
        .fetch(&basic("bot", "s3cr;t $(x)"), &FetchOptions::default())
        .unwrap();
    let tree = mirror.tree_at(&head).unwrap();
    let out = render(&tree, "dev", &RendererSpec::Auto, &RenderLimits::default()).unwrap();
    assert_eq!(
        out.set.values().next().unwrap()["metadata"]["name"],
        "dev-cfg"
    );
    let linked = render(
        &tree,
        "shared",
        &RendererSpec::Auto,
        &RenderLimits::default(),
    )
    .unwrap();
    assert_eq!(linked.set.len(), 1, "a legitimate in-repo symlink works");
    let err = render(
        &tree,
        "evil",
        &RendererSpec::Directory(Default::default()),
        &RenderLimits::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("points outside the repository"),
        "{err}"
    );
    assert!(tree.describe().contains(&head[..12]));
}

#[test]
fn credentials_are_never_sent_over_plain_http() {
    let repo = TestRepo::new("config");
    repo.commit(&[("a.yaml", Some("a: 1\n"))], "first");
    let srv = GitHttpServer::start(
        repo.root(),
        Auth::Basic {
            user: "bot".into(),
            password: "pw".into(),
        },
    );
    let data = tempfile::tempdir().unwrap();
    let mirror = mirror(&data, &srv, &repo.name());
    for creds in [
        basic("bot", "pw"),
        Credentials::Bearer {
            token: Secret::new("tok"),
        },
    ] {
        let err = mirror.fetch(&creds, &FetchOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("never sent over unencrypted http"),
            "{err}"
        );
    }
    assert!(srv.authorization_headers_seen().is_empty());
    assert_eq!(srv.requests(), 0);
}

#[test]
fn anonymous_plain_http_on_loopback_works_when_local_sources_are_allowed() {
    let repo = TestRepo::new("config");
    let head = repo.commit(&[("a.yaml", Some("a: 1\n"))], "first");
    let srv = GitHttpServer::start(repo.root(), Auth::None);
    let data = tempfile::tempdir().unwrap();
    let mirror = mirror(&data, &srv, &repo.name());
    mirror
        .fetch(&Credentials::None, &FetchOptions::default())
        .unwrap();
    assert_eq!(mirror.resolve("main").unwrap(), head);
    let strict = Mirror::open(data.path(), &srv.url(&repo.name()), UrlPolicy::default());
    assert!(matches!(strict, Err(GitError::UrlRefused { .. })));
}
