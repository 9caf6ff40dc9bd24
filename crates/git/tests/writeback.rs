//! Write-back commits pushed to a real server: the commit content, author and message land,
//! a racing commit is never lost (fetch, re-apply, push again), and nothing is force-pushed.

use driftless_core::source::Tree;
use driftless_git::writeback::{Author, FileChange, commit_and_push};
use driftless_git::{Credentials, GitError, Mirror, Secret, UrlPolicy};
use driftless_testkit::http::{Auth, GitHttpServer};
use driftless_testkit::repo::TestRepo;

const LOCAL: UrlPolicy = UrlPolicy {
    allow_local: true,
    allow_insecure: false,
};

fn setup() -> (
    TestRepo,
    GitHttpServer,
    tempfile::TempDir,
    Mirror,
    Credentials,
) {
    let repo = TestRepo::new("config");
    repo.commit(
        &[
            ("envs/dev/image.txt", Some("app:1\n")),
            ("envs/prod/image.txt", Some("app:1\n")),
        ],
        "initial",
    );
    let srv = GitHttpServer::start_tls(
        repo.root(),
        Auth::Basic {
            user: "bot".into(),
            password: "pw'\"$x".into(),
        },
    );
    let data = tempfile::tempdir().unwrap();
    let mirror = Mirror::open(data.path(), &srv.url(&repo.name()), LOCAL)
        .unwrap()
        .with_ca_file(srv.ca_file().unwrap());
    let creds = Credentials::Basic {
        username: "bot".into(),
        password: Secret::new("pw'\"$x"),
    };
    (repo, srv, data, mirror, creds)
}

fn author() -> Author {
    Author {
        name: "Driftless".into(),
        email: "driftless@example.com".into(),
    }
}

fn read(tree: &driftless_git::GitTree, path: &str) -> String {
    String::from_utf8(Tree::new(tree).read(path, 1 << 20).unwrap()).unwrap()
}

#[test]
fn commit_lands_on_the_server_with_author_and_message() {
    let (repo, _srv, _data, mirror, creds) = setup();
    let pushed = commit_and_push(
        &mirror,
        &creds,
        "main",
        &author(),
        "promote dev -> prod: app:2",
        3,
        |_| {
            Ok(vec![FileChange::Put {
                path: "envs/dev/image.txt".into(),
                content: b"app:2\n".to_vec(),
            }])
        },
    )
    .unwrap();
    assert_eq!(pushed.attempts, 1);
    assert_eq!(repo.git_bare(&["rev-parse", "main"]), pushed.commit);
    assert_eq!(repo.git_bare(&["show", "main:envs/dev/image.txt"]), "app:2");
    assert_eq!(
        repo.git_bare(&["log", "-1", "--format=%an <%ae>|%s", "main"]),
        "Driftless <driftless@example.com>|promote dev -> prod: app:2"
    );
}

#[test]
fn a_commit_landing_between_read_and_push_is_kept_and_the_change_reapplied() {
    let (repo, _srv, _data, mirror, creds) = setup();
    let mut calls = 0;
    let pushed = commit_and_push(&mirror, &creds, "main", &author(), "bump prod", 5, |tree| {
        calls += 1;
        if calls == 1 {
            // Someone else pushes after we read: our first push is a non-fast-forward.
            repo.commit(
                &[("envs/dev/image.txt", Some("app:9\n"))],
                "concurrent change",
            );
        }
        // The change is computed from the tree it applies to, so a retry sees the new tip.
        let dev = read(tree, "envs/dev/image.txt");
        let promoted = format!("{}-promoted\n", dev.trim());
        Ok(vec![FileChange::Put {
            path: "envs/prod/image.txt".into(),
            content: promoted.into_bytes(),
        }])
    })
    .unwrap();
    assert_eq!(pushed.attempts, 2);
    assert_eq!(calls, 2);
    assert_eq!(
        repo.git_bare(&["show", "main:envs/dev/image.txt"]),
        "app:9",
        "the racing commit is not lost"
    );
    assert_eq!(
        repo.git_bare(&["show", "main:envs/prod/image.txt"]),
        "app:9-promoted",
        "the change was re-applied on the new tip"
    );
    let log = repo.git_bare(&["log", "--format=%s", "main"]);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        vec!["bump prod", "concurrent change", "initial"]
    );
}

#[test]
fn endless_races_fail_loudly_after_the_bound_without_force() {
    let (repo, _srv, _data, mirror, creds) = setup();
    let mut n = 0;
    let err = commit_and_push(&mirror, &creds, "main", &author(), "never lands", 2, |_| {
        n += 1;
        repo.commit(&[("other.txt", Some(&format!("{n}\n")))], "racer");
        Ok(vec![FileChange::Put {
            path: "mine.txt".into(),
            content: b"x\n".to_vec(),
        }])
    })
    .unwrap_err();
    assert!(matches!(err, GitError::PushRejected { .. }), "{err:?}");
    assert_eq!(
        repo.git_bare(&["log", "-1", "--format=%s", "main"]),
        "racer",
        "the server's history was not overwritten"
    );
}

#[test]
fn no_change_means_no_commit() {
    let (repo, _srv, _data, mirror, creds) = setup();
    let before = repo.git_bare(&["rev-parse", "main"]);
    let pushed = commit_and_push(&mirror, &creds, "main", &author(), "noop", 3, |_| {
        Ok(vec![FileChange::Put {
            path: "envs/dev/image.txt".into(),
            content: b"app:1\n".to_vec(),
        }])
    })
    .unwrap();
    assert_eq!(
        (pushed.commit.as_str(), pushed.attempts),
        (before.as_str(), 0)
    );
}

#[test]
fn deleting_files_and_refusing_escaping_paths() {
    let (repo, _srv, _data, mirror, creds) = setup();
    commit_and_push(&mirror, &creds, "main", &author(), "drop prod", 3, |_| {
        Ok(vec![FileChange::Delete {
            path: "envs/prod/image.txt".into(),
        }])
    })
    .unwrap();
    assert_eq!(
        repo.git_bare(&["ls-tree", "-r", "--name-only", "main"]),
        "envs/dev/image.txt"
    );
    let err = commit_and_push(&mirror, &creds, "main", &author(), "escape", 3, |_| {
        Ok(vec![FileChange::Put {
            path: "../outside.txt".into(),
            content: b"x".to_vec(),
        }])
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("leaves the repository root"),
        "{err}"
    );
}
