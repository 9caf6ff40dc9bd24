//! The README's first command: `driftless up --demo` brings up a sandbox cluster, the store,
//! the controller and the API, and its three demo applications become Synced and Healthy.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_demo_syncs_three_applications_behind_an_authenticated_api() {
    let dir = tempfile::tempdir().unwrap();
    let (_guard, api) = start_up(dir.path());
    let token = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{api}/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let anonymous = http
        .get(format!("{api}/api/v1/applications"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let apps = all_synced_and_healthy(&http, &api, &token).await;
    let names: Vec<&str> = apps.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["guestbook-dev", "guestbook-prod", "guestbook-staging"]
    );

    // The cluster holds what Git declares: prod runs 3 replicas of the base image.
    let kubeconfig = dir.path().join("sandbox/kubeconfig");
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "get",
            "deployment",
            "guestbook",
            "-n",
            "demo-prod",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(
        d["metadata"]["annotations"]["driftless.dev/tracking-id"],
        "guestbook-prod:apps/Deployment:demo-prod/guestbook"
    );

    // Prometheus metrics, without a token.
    let metrics = http
        .get(format!("{api}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        r#"driftless_syncs_total{app="guestbook-prod",trigger="new-revision",result="Succeeded"} 1"#,
        r#"driftless_app_info{app="guestbook-prod",sync="Synced",health="Healthy"} 1"#,
        "driftless_reconcile_duration_seconds_count{app=\"guestbook-dev\"}",
        "driftless_render_duration_seconds_count{app=\"guestbook-dev\"}",
        "driftless_queue_depth ",
        "driftless_live_cache_objects ",
    ] {
        assert!(
            metrics.contains(series),
            "{series} missing from:\n{metrics}"
        );
    }

    // Live updates: a subscriber sees the status of a synced app arrive.
    let mut sse = http
        .get(format!("{api}/api/v1/stream"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    http.post(format!("{api}/api/v1/applications/guestbook-prod/refresh"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(seen.contains("event: status") && seen.contains("\"application\":\"guestbook-prod\"")) {
        assert!(Instant::now() < deadline, "no status event: {seen}");
        let chunk = tokio::time::timeout(Duration::from_secs(20), sse.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(sse);

    // A sync through the API is queued, run, recorded and audited.
    let r = http
        .post(format!("{api}/api/v1/applications/guestbook-dev/sync"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ops: serde_json::Value = http
            .get(format!(
                "{api}/api/v1/applications/guestbook-dev/operations"
            ))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ops["items"].as_array().unwrap().iter().any(|o| {
            o["request"]["reason"] == "sync requested by a user" && o["phase"] == "Succeeded"
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "manual sync not run: {ops}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let audit: serde_json::Value = http
        .get(format!("{api}/api/v1/audit?action=app.sync.request"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit["items"][0]["target"], "application/guestbook-dev");
    let verify: serde_json::Value = http
        .get(format!("{api}/api/v1/audit/verify"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verify["intact"], true);
    // The CLI client: list and a waited sync.
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args(args)
            .env("DRIFTLESS_SERVER", &api)
            .env("DRIFTLESS_DATA_DIR", dir.path())
            .output()
            .unwrap()
    };
    let out = cli(&["app", "list", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    let out = cli(&[
        "app",
        "sync",
        "guestbook-staging",
        "--wait",
        "--timeout",
        "30s",
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("guestbook-staging: Succeeded"));
    // That sync, step by step: the wave, each resource with its outcome and health, the result.
    let out = cli(&["app", "logs-of-operation", "guestbook-staging"]);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{log}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        log.starts_with("operation ")
            && log.contains("== Sync wave 0")
            && log.contains("Applied    apps/Deployment demo-staging/guestbook")
            && log.contains("\nSucceeded: "),
        "{log}"
    );
    // The operation ended once its last wave was applied; health is waited for apart.
    let out = cli(&[
        "app",
        "wait",
        "guestbook-staging",
        "--health",
        "--timeout",
        "30s",
    ]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Healthy"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["app", "logs-of-operation", "guestbook-staging", "999999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("operation 999999 of application guestbook-staging"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["app", "wait", "guestbook-prod", "--timeout", "30s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["app", "diff", "guestbook-prod", "--exit-code"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("0 to create, 0 to update, 0 to delete, 3 unchanged"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = cli(&["app", "get", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("application nope not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Applications created and deleted through the API (CLI), validated first.
    let extra = dir.path().join("extra.yaml");
    std::fs::write(&extra, format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: extra}}\nspec:\n  source: {{repoURL: \"{}\", path: envs/dev}}\n  destination: {{namespace: extra}}\n  syncPolicy: {{automated: {{}}, syncOptions: [CreateNamespace=true]}}\n",
        dir.path().join("demo/repo").display()
    )).unwrap();
    let out = cli(&["app", "create", "-f", extra.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a: serde_json::Value = http
            .get(format!("{api}/api/v1/applications/extra"))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if crate::synced_and_healthy(&a) {
            break;
        }
        assert!(Instant::now() < deadline, "created app not synced: {a}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::fs::write(
        &extra,
        std::fs::read_to_string(&extra)
            .unwrap()
            .replace("spec:\n", "spec:\n  drift: {action: fix}\n"),
    )
    .unwrap();
    let out = cli(&["app", "create", "-f", extra.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("drift.action `fix`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `app set` changes one field and keeps the rest; audited.
    let out = cli(&[
        "app",
        "set",
        "extra",
        "--path",
        "envs/staging",
        "--self-heal",
        "true",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: serde_json::Value =
        serde_json::from_slice(&cli(&["app", "get", "extra", "-o", "json"]).stdout).unwrap();
    let spec = &a["spec"];
    assert_eq!(spec["source"]["path"], "envs/staging", "{a}");
    assert_eq!(spec["syncPolicy"]["automated"]["selfHeal"], true, "{a}");
    assert_eq!(spec["destination"]["namespace"], "extra", "{a}");

    // Repositories and their credentials: the password goes in on stdin, never comes out.
    let mut add = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args([
            "repo",
            "add",
            "https://git.example.com/team/private.git",
            "--username",
            "bot",
            "--password-stdin",
        ])
        .env("DRIFTLESS_SERVER", &api)
        .env("DRIFTLESS_DATA_DIR", dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        add.stdin
            .take()
            .unwrap()
            .write_all(b"pw-from-stdin\n")
            .unwrap();
    }
    let out = add.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["repo", "list"]);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        listed.contains("private")
            && listed.contains("password")
            && listed.contains("https://git.example.com/team/private.git"),
        "{listed}"
    );
    let out = cli(&["repo", "list", "-o", "json"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("pw-from-stdin"));
    assert!(cli(&["repo", "remove", "private"]).status.success());
    assert!(!String::from_utf8_lossy(&cli(&["repo", "list"]).stdout).contains("private"));

    // Deleted with its objects (cascade).
    let out = cli(&["app", "delete", "extra", "--cascade"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.contains("deleted with its") && !said.contains("its 0 object"),
        "{said}"
    );
    let listed: serde_json::Value =
        serde_json::from_slice(&cli(&["app", "list", "-o", "json"]).stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);

    let missing = http
        .post(format!("{api}/api/v1/applications/nope/sync"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// Starts `driftless up --demo` on `dir`; returns the process and its API base URL.
pub fn start_up(dir: &std::path::Path) -> (Killed, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftless"));
    cmd.args(["up", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir);
    start_engine(cmd)
}

/// Spawns an `up` command (which must listen on a free port) and waits for the API address
/// it prints; returns the process (killed on drop) and that address.
pub fn start_engine(mut cmd: Command) -> (Killed, String) {
    // Owned by the guard from the start, so a failed wait still kills it.
    let mut child = Killed(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("`up` printed its API address");
        if let Some(rest) = line.strip_prefix("api: ") {
            return (child, rest.split_whitespace().next().unwrap().to_string());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_sync_the_engine_restarts_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // SIGKILL right after start-up: the first syncs are in flight (or just done).
    let (mut first, _) = start_up(dir.path());
    std::thread::sleep(Duration::from_millis(150));
    first.0.kill().unwrap();
    first.0.wait().unwrap();

    let (_second, api) = start_up(dir.path());
    let token = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
    let http = reqwest::Client::new();
    all_synced_and_healthy(&http, &api, &token).await;
    for app in ["guestbook-dev", "guestbook-staging", "guestbook-prod"] {
        let ops: serde_json::Value = http
            .get(format!("{api}/api/v1/applications/{app}/operations"))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for op in ops["items"].as_array().unwrap() {
            assert_ne!(
                op["phase"], "Running",
                "{app}: an operation left running: {op}"
            );
        }
    }
    let verify: serde_json::Value = http
        .get(format!("{api}/api/v1/audit/verify"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verify["intact"], true, "{verify}");
}

/// Waits (bounded) until the three demo applications are Synced and Healthy.
pub async fn all_synced_and_healthy(
    http: &reqwest::Client,
    api: &str,
    token: &str,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list: serde_json::Value = http
            .get(format!("{api}/api/v1/applications"))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = list["items"].as_array().unwrap().clone();
        let ready = items.len() == 3 && items.iter().all(crate::synced_and_healthy);
        if ready {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "demo apps not Synced+Healthy: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
