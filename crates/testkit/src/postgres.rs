//! A throwaway PostgreSQL server (Debian's `postgresql` package) on a free loopback port,
//! its data directory in a temporary directory, stopped and removed on drop. As root (CI),
//! the server runs as the `postgres` user, since PostgreSQL refuses to run as root.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PgServer {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    as_user: Option<&'static str>,
    _dir: tempfile::TempDir,
}

/// The directory holding initdb/pg_ctl: Debian keeps them under /usr/lib/postgresql/N/bin.
fn bin_dir() -> PathBuf {
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .collect();
        versions.sort();
        if let Some(v) = versions.pop() {
            return v;
        }
    }
    panic!("PostgreSQL is not installed (Debian package `postgresql`; .ci/run installs it)");
}

fn is_root() -> bool {
    crate::run(Command::new("id").arg("-u")) == "0"
}

impl PgServer {
    pub fn start() -> PgServer {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let as_user = is_root().then_some("postgres");
        if let Some(user) = as_user {
            crate::run(
                Command::new("chown")
                    .arg(format!("{user}:"))
                    .arg(dir.path()),
            );
            crate::run(Command::new("chmod").arg("755").arg(dir.path()));
        }
        let pg = PgServer {
            port: crate::free_port(),
            bin,
            data,
            as_user,
            _dir: dir,
        };
        pg.run(
            &pg.bin.join("initdb"),
            &[
                "-D",
                &pg.data.display().to_string(),
                "-U",
                "driftless",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            pg.port,
            pg.data.display()
        );
        let log = pg.data.join("server.log");
        pg.run(
            &pg.bin.join("pg_ctl"),
            &[
                "-D",
                &pg.data.display().to_string(),
                "-o",
                &opts,
                "-l",
                &log.display().to_string(),
                "-w",
                "start",
            ],
        );
        pg.run(
            &pg.bin.join("createdb"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port.to_string(),
                "-U",
                "driftless",
                "driftless",
            ],
        );
        pg
    }

    fn run(&self, program: &Path, args: &[&str]) -> String {
        let mut cmd = match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.args(args).current_dir("/");
        crate::run(&mut cmd)
    }

    /// A URL for the `driftless` database (trust auth on loopback).
    pub fn url(&self) -> String {
        format!("postgres://driftless@127.0.0.1:{}/driftless", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.run(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &self.data.display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}
