//! The rig of the replicas test: the fixtures (one repository, 300 Application
//! definitions), starting a replica, and reading the API the way an operator would.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use driftless_testkit::repo::TestRepo;
use serde_json::Value;

use crate::up::{Killed, start_engine};

pub const APPS: usize = 300;

pub fn app_name(i: usize) -> String {
    format!("app-{i:03}")
}

/// Commits every application's ConfigMap with `data.mode` = `mode`; returns the commit.
pub fn commit_mode(repo: &TestRepo, mode: &str) -> String {
    let files: Vec<(String, String)> = (0..APPS)
        .map(|i| {
            let n = app_name(i);
            (
                format!("apps/{n}/cm.yaml"),
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {n}}}\ndata: {{mode: {mode}}}\n"),
            )
        })
        .collect();
    let refs: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), Some(t.as_str())))
        .collect();
    repo.commit(&refs, &format!("every app: mode {mode}"))
}

/// One repository with a ConfigMap per application, and a definitions directory.
pub fn fixtures(root: &Path) -> (TestRepo, std::path::PathBuf) {
    let repo = TestRepo::new("apps");
    commit_mode(&repo, "desired");
    let config = root.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let mut defs = String::new();
    for i in 0..APPS {
        let n = app_name(i);
        defs.push_str(&format!(
            "---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {n}}}\nspec:\n  project: default\n  source: {{repoURL: {}, path: apps/{n}, targetRevision: HEAD}}\n  destination: {{server: \"https://kubernetes.default.svc\", namespace: default}}\n  syncPolicy: {{automated: {{prune: true, selfHeal: true}}}}\n",
            repo.root().join("apps.git").display()
        ));
    }
    std::fs::write(config.join("apps.yaml"), defs).unwrap();
    (repo, config)
}

pub struct Rig {
    pub pg_url: String,
    pub repo_url: String,
    pub kubeconfig: std::path::PathBuf,
    pub config: std::path::PathBuf,
    pub root: std::path::PathBuf,
}

impl Rig {
    /// Starts replica `id` (its own data directory, kept across restarts); returns the
    /// process and its API base URL.
    pub fn start(&self, id: &str) -> (Killed, String) {
        let data = self.root.join(id);
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("api-token"), "shards-test-token").unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftless"));
        cmd.args(["up", "--listen", "127.0.0.1:0", "--allow-local-sources"])
            .args(["--replica-id", id, "--workers", "8"])
            .arg("--store")
            .arg(&self.pg_url)
            .arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&self.config)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .env("RUST_LOG", "warn");
        start_engine(cmd)
    }
}

pub async fn get(http: &reqwest::Client, url: &str) -> Value {
    http.get(url)
        .bearer_auth("shards-test-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every application's stored status, by name.
pub async fn statuses(
    http: &reqwest::Client,
    api: &str,
) -> BTreeMap<String, driftless_engine::AppStatus> {
    let mut out = BTreeMap::new();
    let mut after = String::new();
    loop {
        let page = get(
            http,
            &format!("{api}/api/v1/applications?limit=1000&after={after}"),
        )
        .await;
        for a in page["items"].as_array().unwrap() {
            let a = crate::app_view(a);
            out.insert(a.name, a.status);
        }
        match page["next"].as_str() {
            Some(n) => after = n.to_string(),
            None => return out,
        }
    }
}

/// Owner of each app under a live membership (from any replica's `GET /shards`).
pub async fn live_owners(http: &reqwest::Client, api: &str) -> BTreeMap<String, String> {
    let body = get(http, &format!("{api}/api/v1/shards?apps=true")).await;
    body["owners"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["live"] == true)
        .map(|o| {
            (
                o["app"].as_str().unwrap().to_string(),
                o["replica"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Polls `check` every 200 ms until it returns `Some`, failing after `limit` with `what`.
pub async fn within<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let until = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < until, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
