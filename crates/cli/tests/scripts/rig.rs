//! What the script tests share: `driftless up --demo` (engine, API, sandbox cluster), a Git
//! server on loopback holding the repositories the scripts name, and one `insteadOf` rule
//! (a Repository definition) sending `https://github.com/` to that server, so scripts written
//! for public hosts run unchanged against local repositories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use driftless_testkit::http::{Auth, GitHttpServer};
use serde_json::{Value, json};

use crate::up::{Killed, start_up};

pub struct Rig {
    pub dir: tempfile::TempDir,
    _up: Killed,
    pub api: String,
    pub token: String,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    _git: GitHttpServer,
}

fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"]);
    c
}

impl Rig {
    pub fn start() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let (up, api) = start_up(dir.path());
        let token = std::fs::read_to_string(dir.path().join("api-token"))
            .unwrap()
            .trim()
            .to_string();
        std::fs::create_dir_all(dir.path().join("srv")).unwrap();
        let git = GitHttpServer::start(dir.path().join("srv"), Auth::None);
        let rig = Rig {
            _up: up,
            api,
            token,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: reqwest::Client::new(),
            _git: git,
            dir,
        };
        let mirror = json!({
            "apiVersion": "driftless.dev/v1alpha1", "kind": "Repository",
            "metadata": {"name": "github-mirror"},
            "spec": {"url": format!("{}/", rig._git.base()), "prefix": true, "insteadOf": ["https://github.com/"]},
        });
        rig.post("/api/v1/repositories", &mirror);
        rig
    }

    fn work(&self, repo: &str) -> PathBuf {
        self.dir.path().join("work").join(repo)
    }

    /// Commits `files` (None deletes) to `repo` (`owner/name`, served as
    /// `https://github.com/owner/name` through the mirror rule) on `branch` and pushes;
    /// the repository is created on first use. Returns the commit.
    pub fn commit(&self, repo: &str, branch: &str, files: &[(&str, Option<&str>)]) -> String {
        let work = self.work(repo);
        if !work.exists() {
            let bare = self.dir.path().join("srv").join(format!("{repo}.git"));
            std::fs::create_dir_all(&bare).unwrap();
            driftless_testkit::run(git(&bare).args(["init", "-q", "--bare", "-b", "main"]));
            std::fs::create_dir_all(&work).unwrap();
            driftless_testkit::run(git(&work).args(["init", "-q", "-b", "main"]));
            driftless_testkit::run(git(&work).args([
                "remote",
                "add",
                "origin",
                bare.to_str().unwrap(),
            ]));
        }
        driftless_testkit::run(git(&work).args(["checkout", "-q", "-B", branch]));
        for (path, content) in files {
            let p = work.join(path);
            match content {
                Some(c) => {
                    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                    std::fs::write(&p, c).unwrap();
                }
                None => std::fs::remove_file(&p).unwrap(),
            }
        }
        driftless_testkit::run(git(&work).args(["add", "-A"]));
        driftless_testkit::run(git(&work).args(["commit", "-q", "--allow-empty", "-m", "change"]));
        driftless_testkit::run(git(&work).args(["push", "-q", "origin", branch]));
        driftless_testkit::run(git(&work).args(["rev-parse", "HEAD"]))
    }

    /// `driftless run SCRIPT ARGS...` with a user's token; stdin is not a terminal.
    pub fn run_as(&self, token: &str, script: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_driftless"))
            .arg("run")
            .arg(script)
            .args(args)
            .env("DRIFTLESS_SERVER", &self.api)
            .env("DRIFTLESS_TOKEN", token.trim())
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs as the admin and asserts the exit code; returns stdout and stderr together.
    pub fn run_ok(&self, script: &Path, args: &[&str], code: i32) -> String {
        self.run_ok_as(&self.token, script, args, code)
    }

    pub fn run_ok_as(&self, token: &str, script: &Path, args: &[&str], code: i32) -> String {
        let out = self.run_as(token, script, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "{} {args:?}:\n{text}",
            script.display()
        );
        text
    }

    pub fn get(&self, path: &str) -> Value {
        self.rt.block_on(async {
            let r = self
                .http
                .get(format!("{}{path}", self.api))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap();
            r.json().await.unwrap()
        })
    }

    pub fn post(&self, path: &str, body: &Value) -> Value {
        self.rt.block_on(async {
            let r = self
                .http
                .post(format!("{}{path}", self.api))
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            assert!(status.is_success(), "POST {path}: {status} {v}");
            v
        })
    }

    /// Polls `what` until `done` holds (bounded); returns the last value.
    pub fn wait(
        &self,
        what: &str,
        mut probe: impl FnMut() -> Value,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let v = probe();
            if done(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "{what}: {v}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Fetches now (a user's refresh) and waits until the application saw `commit`.
    pub fn refresh_to(&self, app: &str, commit: &str) {
        self.post(&format!("/api/v1/applications/{app}/refresh"), &json!({}));
        self.wait(
            &format!("{app} at {commit}"),
            || self.get(&format!("/api/v1/applications/{app}")),
            |a| crate::app_view(a).status.sync.head.as_deref() == Some(commit),
        );
    }

    /// The live object (`kubectl get -o json`), or None when it does not exist.
    pub fn live(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig")
            .arg(self.dir.path().join("sandbox/kubeconfig"));
        c.args(["get", kind, name, "-o", "json"]);
        if !ns.is_empty() {
            c.args(["-n", ns]);
        }
        let out = c.output().unwrap();
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    /// Audit entries of `action` on `application/APP`.
    pub fn audit(&self, action: &str, app: &str) -> Vec<Value> {
        let v = self.get(&format!(
            "/api/v1/audit?action={action}&target=application/{app}&limit=1000"
        ));
        v["items"].as_array().cloned().unwrap_or_default()
    }
}

/// A ConfigMap manifest (no namespace: the workflow's destination decides).
pub fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{value: \"{value}\"}}\n"
    )
}

/// A fixture script of the project's own (`fixtures/scripts/own/NAME`) or a documented
/// example (`fixtures/scripts/gitops-lua/NAME`).
pub fn fixture(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scripts")
        .join(dir)
        .join(name)
}
