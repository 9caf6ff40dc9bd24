//! Test kit (dev-dependency only): real parts started by the tests themselves on 127.0.0.1.
//!
//! - [`repo::TestRepo`]: bare repositories filled through the real `git` CLI, the reference
//!   every Git behaviour is checked against.
//! - [`http::GitHttpServer`]: `git http-backend` behind a small HTTP/1.1 server with basic or
//!   bearer auth, and fault modes (drop mid-response, redirect elsewhere).
//! - [`postgres::PgServer`]: a throwaway PostgreSQL server (the HA store's tests).
//! - [`browser::Browser`]: headless Chromium through chromedriver (the web UI tests).
//! - [`ssh::SshServer`]: OpenSSH `sshd` on a free port with a key-only login and its own host key.

pub mod browser;
pub mod cluster;
pub mod http;
pub mod postgres;
pub mod repo;
pub mod ssh;

/// Runs a command, panicking with its output when it fails; returns stdout.
pub fn run(cmd: &mut std::process::Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A free TCP port on loopback (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
