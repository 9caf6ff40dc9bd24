//! Fixture repositories made with the `git` CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run;

/// A bare repository (what a server serves) plus a work clone to commit from.
pub struct TestRepo {
    pub bare: PathBuf,
    work: PathBuf,
    _dir: tempfile::TempDir,
}

fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com");
    c
}

impl TestRepo {
    /// A new repository named `name` (`name.git` under a temporary root), default branch `main`.
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("srv").join(format!("{name}.git"));
        let work = dir.path().join("work");
        std::fs::create_dir_all(&bare).unwrap();
        run(git(&bare).args(["init", "-q", "--bare", "-b", "main"]));
        run(git(&bare).args(["config", "http.receivepack", "true"]));
        run(git(dir.path()).args(["init", "-q", "-b", "main", "work"]));
        run(git(&work).args(["remote", "add", "origin", bare.to_str().unwrap()]));
        TestRepo {
            bare,
            work,
            _dir: dir,
        }
    }

    /// The directory that holds the bare repository (a server's project root).
    pub fn root(&self) -> &Path {
        self.bare.parent().unwrap()
    }

    /// The work clone commits are made from.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    pub fn name(&self) -> String {
        self.bare
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// Writes files (None deletes), commits them on the current branch and pushes. Returns the SHA.
    pub fn commit(&self, files: &[(&str, Option<&str>)], message: &str) -> String {
        for (path, content) in files {
            let p = self.work.join(path);
            match content {
                Some(c) => {
                    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                    std::fs::write(&p, c).unwrap();
                }
                None => {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
        run(git(&self.work).args(["add", "-A"]));
        run(git(&self.work).args(["commit", "-q", "--allow-empty", "-m", message]));
        let branch = run(git(&self.work).args(["rev-parse", "--abbrev-ref", "HEAD"]));
        run(git(&self.work).args(["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")]));
        self.head()
    }

    /// Adds a symlink (as Git stores it) and commits.
    pub fn commit_symlink(&self, path: &str, target: &str, message: &str) -> String {
        let p = self.work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, &p).unwrap();
        self.commit(&[], message)
    }

    pub fn head(&self) -> String {
        run(git(&self.work).args(["rev-parse", "HEAD"]))
    }

    /// Runs any git command in the work clone.
    pub fn git(&self, args: &[&str]) -> String {
        run(git(&self.work).args(args))
    }

    /// Runs any git command in the bare repository.
    pub fn git_bare(&self, args: &[&str]) -> String {
        run(git(&self.bare).args(args))
    }

    /// Makes `n` small commits quickly with fast-import (for large-history benchmarks).
    pub fn bulk_commits(&self, n: usize) {
        let mut script = String::new();
        for i in 0..n {
            let body = format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{}\ndata:\n  n: \"{i}\"\n",
                i % 50
            );
            script.push_str(&format!(
                // Commits on the same ref in one stream chain onto each other.
                "commit refs/heads/main\ncommitter Test <test@example.com> {} +0000\ndata {}\nc{i}\nM 100644 inline apps/cm{}.yaml\ndata {}\n{body}\n",
                1_700_000_000 + i,
                format!("c{i}").len(),
                i % 50,
                body.len()
            ));
        }
        let mut child = git(&self.bare)
            .args(["fast-import", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
        run(git(&self.bare).args(["repack", "-adq"]));
    }
}
