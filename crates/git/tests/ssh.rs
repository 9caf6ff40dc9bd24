//! Fetching over SSH from OpenSSH `sshd` on loopback with a key-only login. Host keys are
//! always checked against the managed known_hosts.

use std::path::PathBuf;

use driftless_git::{Credentials, FetchOptions, FetchOutcome, GitError, Mirror, UrlPolicy};
use driftless_testkit::repo::TestRepo;
use driftless_testkit::ssh::SshServer;

/// A one-commit repository, a running sshd, and a fetch with the given key files.
struct Setup {
    repo: TestRepo,
    sshd: SshServer,
    _data: tempfile::TempDir,
    mirror: Mirror,
}

impl Setup {
    fn new() -> Self {
        let repo = TestRepo::new("config");
        repo.commit(&[("a.yaml", Some("a: 1\n"))], "first");
        let sshd = SshServer::start();
        let data = tempfile::tempdir().unwrap();
        let policy = UrlPolicy {
            allow_local: true,
            allow_insecure: false,
        };
        let mirror = Mirror::open(data.path(), &sshd.url(&repo.bare), policy).unwrap();
        Setup {
            repo,
            sshd,
            _data: data,
            mirror,
        }
    }

    fn fetch(&self, private_key: PathBuf, known_hosts: PathBuf) -> Result<FetchOutcome, GitError> {
        self.mirror.fetch(
            &Credentials::SshKey {
                private_key,
                known_hosts,
            },
            &FetchOptions::default(),
        )
    }
}

#[test]
fn key_auth_with_known_host_fetches() {
    let s = Setup::new();
    s.fetch(s.sshd.client_key(), s.sshd.known_hosts()).unwrap();
    assert_eq!(s.mirror.resolve("main").unwrap(), s.repo.head());
}

#[test]
fn unknown_host_key_is_refused() {
    let s = Setup::new();
    // A transport failure before the key exchange (CI once saw one: a spurious "handshake
    // failed") says nothing about host keys, so that one case is tried again, at most twice.
    let mut err = s
        .fetch(s.sshd.client_key(), s.sshd.empty_known_hosts())
        .unwrap_err();
    for _ in 0..2 {
        if !err.is_spurious() {
            break;
        }
        eprintln!("spurious transport failure, trying again: {err:?}");
        err = s
            .fetch(s.sshd.client_key(), s.sshd.empty_known_hosts())
            .unwrap_err();
    }
    assert!(matches!(err, GitError::HostKey { .. }), "{err:?}");
    // Nothing was learned behind our back: the managed file is still empty.
    assert_eq!(
        std::fs::read_to_string(s.sshd.empty_known_hosts()).unwrap(),
        ""
    );
}

#[test]
fn wrong_key_is_an_auth_error() {
    let s = Setup::new();
    let err = s
        .fetch(s.sshd.other_key(), s.sshd.known_hosts())
        .unwrap_err();
    assert!(matches!(err, GitError::Auth { .. }), "{err:?}");
}
