//! Fetching over SSH from OpenSSH `sshd` on loopback with a key-only login. Host keys are
//! always checked against the managed known_hosts.

use driftless_git::{Credentials, FetchOptions, GitError, Mirror, UrlPolicy};
use driftless_testkit::repo::TestRepo;
use driftless_testkit::ssh::SshServer;

const LOCAL: UrlPolicy = UrlPolicy {
    allow_local: true,
    allow_insecure: false,
};

#[test]
fn key_auth_with_known_host_fetches() {
    let repo = TestRepo::new("config");
    let head = repo.commit(&[("a.yaml", Some("a: 1\n"))], "first");
    let sshd = SshServer::start();
    let data = tempfile::tempdir().unwrap();
    let mirror = Mirror::open(data.path(), &sshd.url(&repo.bare), LOCAL).unwrap();
    let creds = Credentials::SshKey {
        private_key: sshd.client_key(),
        known_hosts: sshd.known_hosts(),
    };
    mirror.fetch(&creds, &FetchOptions::default()).unwrap();
    assert_eq!(mirror.resolve("main").unwrap(), head);
}

#[test]
fn unknown_host_key_is_refused() {
    let repo = TestRepo::new("config");
    repo.commit(&[("a.yaml", Some("a: 1\n"))], "first");
    let sshd = SshServer::start();
    let data = tempfile::tempdir().unwrap();
    let mirror = Mirror::open(data.path(), &sshd.url(&repo.bare), LOCAL).unwrap();
    let creds = Credentials::SshKey {
        private_key: sshd.client_key(),
        known_hosts: sshd.empty_known_hosts(),
    };
    let err = mirror.fetch(&creds, &FetchOptions::default()).unwrap_err();
    assert!(matches!(err, GitError::HostKey { .. }), "{err:?}");
    // Nothing was learned behind our back: the managed file is still empty.
    assert_eq!(
        std::fs::read_to_string(sshd.empty_known_hosts()).unwrap(),
        ""
    );
}

#[test]
fn wrong_key_is_an_auth_error() {
    let repo = TestRepo::new("config");
    repo.commit(&[("a.yaml", Some("a: 1\n"))], "first");
    let sshd = SshServer::start();
    let data = tempfile::tempdir().unwrap();
    let mirror = Mirror::open(data.path(), &sshd.url(&repo.bare), LOCAL).unwrap();
    let creds = Credentials::SshKey {
        private_key: sshd.other_key(),
        known_hosts: sshd.known_hosts(),
    };
    let err = mirror.fetch(&creds, &FetchOptions::default()).unwrap_err();
    assert!(matches!(err, GitError::Auth { .. }), "{err:?}");
}
