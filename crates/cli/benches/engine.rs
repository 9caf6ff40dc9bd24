//! Engine benchmark: 1,000 applications × 10 resources each, from one Git repository, synced
//! by `driftless up` into the sandbox. Measures the cold start (engine started → every app
//! Synced and Healthy), the status lag (for each app, from its SyncSucceeded event to the
//! first status reading Synced after it, both read from the live-update stream; the worst
//! is reported), the engine's CPU with nothing changing (over a window that holds a full
//! periodic resync of every app), and its RSS.
//! The sandbox and the engine run as their own processes (`driftless sandbox`, `driftless
//! up`), so CPU and RSS are the engine's alone.
//! Run: `cargo bench -p driftless --bench engine` (`DRIFTLESS_BENCH_APPS=N` for a smaller fleet).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use driftless_engine::Update;
use driftless_testkit::repo::TestRepo;
use serde_json::json;

mod common;
use common::{Process, cpu_seconds, free_port, proc_field, wait_for_file};

const RESOURCES_PER_APP: usize = 10;
/// Long enough to hold every app's periodic resync (3 min, jittered up to 10%): steady state
/// is that work spread over time, not a quiet minute between two resyncs.
const IDLE_WINDOW: Duration = Duration::from_secs(200);

/// The stream's `lagged` event: how many updates were missed.
#[derive(serde::Deserialize)]
struct Missed {
    missed: u64,
}

/// The ten resources of app `i`: its namespace, a Deployment, a Service, a ServiceAccount,
/// a Secret and five ConfigMaps.
fn app_files(i: usize) -> Vec<(String, String)> {
    let ns = format!("fleet-{i:04}");
    let mut files = vec![
        (
            "namespace.yaml".to_string(),
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
        ),
        (
            "deployment.yaml".to_string(),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        ports: [{{containerPort: 80}}]\n        resources: {{requests: {{cpu: 10m, memory: 16Mi}}}}\n"
            ),
        ),
        (
            "service.yaml".to_string(),
            format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 80}}]\n"
            ),
        ),
        (
            "serviceaccount.yaml".to_string(),
            format!(
                "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n  namespace: {ns}\n"
            ),
        ),
        (
            "secret.yaml".to_string(),
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web\n  namespace: {ns}\nstringData:\n  password: bench-{i}\n"
            ),
        ),
    ];
    for c in 0..RESOURCES_PER_APP - files.len() {
        files.push((
            format!("config-{c}.yaml"),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{c}\n  namespace: {ns}\ndata:\n  app: \"{i}\"\n  key: value-{c}\n"
            ),
        ));
    }
    files
}

fn application(i: usize, repo: &Path) -> String {
    format!(
        "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: fleet-{i:04}}}\nspec:\n  source: {{repoURL: \"{}\", path: apps/{i:04}}}\n  destination: {{namespace: fleet-{i:04}}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n",
        repo.display()
    )
}

/// (apps listed, apps Synced and Healthy, the status of one that is not).
async fn census(
    http: &reqwest::Client,
    api: &str,
    token: &str,
) -> (usize, usize, serde_json::Value) {
    let (mut seen, mut ready, mut after) = (0, 0, String::new());
    let mut laggard = serde_json::Value::Null;
    loop {
        let Ok(resp) = http
            .get(format!(
                "{api}/api/v1/applications?limit=1000&after={after}"
            ))
            .bearer_auth(token)
            .send()
            .await
        else {
            return (0, 0, serde_json::Value::Null);
        };
        let page: serde_json::Value = resp.json().await.unwrap_or_default();
        let items = page["items"].as_array().cloned().unwrap_or_default();
        seen += items.len();
        for a in &items {
            let Ok(a) = serde_json::from_value::<driftless_api::types::AppView>(a.clone()) else {
                continue;
            };
            if a.status.synced_and_healthy() {
                ready += 1;
            } else if laggard.is_null() {
                laggard = json!({"name": a.name, "sync": a.status.sync.status,
                    "health": a.status.health, "error": a.status.error});
            }
        }
        match page["next"].as_str() {
            Some(n) if !n.is_empty() => after = n.to_string(),
            _ => return (seen, ready, laggard),
        }
    }
}

/// Per app: when its (first) SyncSucceeded event arrived, and the lag until its status
/// next read Synced.
#[derive(Default)]
struct Lags {
    succeeded: std::collections::HashMap<String, Instant>,
    lag: std::collections::HashMap<String, Duration>,
    /// Updates the stream said this subscriber missed (it fell behind).
    missed: u64,
}

/// Follows the API's live updates (`/api/v1/stream`, server-sent events) into `lags`.
async fn follow_lags(api: String, token: String, lags: std::sync::Arc<std::sync::Mutex<Lags>>) {
    let http = reqwest::Client::new();
    let mut resp = loop {
        match http
            .get(format!("{api}/api/v1/stream"))
            .bearer_auth(&token)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => break r,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let mut buf = String::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let now = Instant::now();
            let data: String = frame
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            let mut l = lags.lock().unwrap();
            // `lagged` carries how many updates this subscriber missed.
            if let Ok(m) = serde_json::from_str::<Missed>(&data) {
                l.missed += m.missed;
                continue;
            }
            let Ok(u) = serde_json::from_str::<Update>(&data) else {
                continue;
            };
            let app = u.application().unwrap_or_default().to_string();
            if u.is_event(&app, driftless_engine::EventKind::SyncSucceeded) {
                l.succeeded.entry(app).or_insert(now);
            } else if let Update::Status { status, .. } = &u
                && status.is_synced()
                && let Some(at) = l.succeeded.get(&app).copied()
                && !l.lag.contains_key(&app)
            {
                l.lag.insert(app, now - at);
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let apps: usize = std::env::var("DRIFTLESS_BENCH_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let sandbox = Process(
        Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args(["sandbox", "--kubeconfig"])
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_file(&kubeconfig, "the sandbox kubeconfig");

    // One repository, one directory per application, one commit.
    let repo = TestRepo::new("fleet");
    let mut files = Vec::new();
    for i in 0..apps {
        for (name, body) in app_files(i) {
            files.push((format!("apps/{i:04}/{name}"), body));
        }
    }
    let refs: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, b)| (p.as_str(), Some(b.as_str())))
        .collect();
    repo.commit(&refs, "the fleet");
    let config: PathBuf = dir.path().join("apps");
    std::fs::create_dir_all(&config).unwrap();
    for i in 0..apps {
        std::fs::write(
            config.join(format!("fleet-{i:04}.yaml")),
            application(i, &repo.bare),
        )
        .unwrap();
    }

    let data = dir.path().join("data");
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(dir.path().join("engine.log")).unwrap();
    let started = Instant::now();
    let engine = Process(
        Command::new(env!("CARGO_BIN_EXE_driftless"))
            .arg("up")
            // The fleet's repository is a local bare repository.
            .arg("--allow-local-sources")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(
                std::env::var("DRIFTLESS_BENCH_WORKERS")
                    .map(|w| vec!["--workers".to_string(), w])
                    .unwrap_or_default(),
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let pid = engine.0.id();
    let token = wait_for_file(&data.join("api-token"), "the API token");
    let lags = std::sync::Arc::new(std::sync::Mutex::new(Lags::default()));
    tokio::spawn(follow_lags(api.clone(), token.clone(), lags.clone()));
    let http = reqwest::Client::new();
    let mut last_report = Instant::now();
    let cold = loop {
        let (seen, ready, laggard) = census(&http, &api, &token).await;
        if seen == apps && ready == apps {
            break started.elapsed();
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "  {:>5.1} s: {ready}/{apps} Synced+Healthy ({seen} listed), engine RSS {:.0} MiB; waiting on {laggard}",
                started.elapsed().as_secs_f64(),
                proc_field(pid, "VmRSS:") / 1024.0
            );
            last_report = Instant::now();
        }
        if started.elapsed() > Duration::from_secs(900) {
            let log = std::fs::read_to_string(dir.path().join("engine.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "not every app became Synced+Healthy in 15 minutes ({ready}/{apps}); the engine's log ends with:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
    };
    let (worst_lag, lag_apps, missed) = {
        let l = lags.lock().unwrap();
        let worst = l
            .lag
            .iter()
            .max_by_key(|(_, d)| **d)
            .map(|(a, d)| (a.clone(), *d));
        let mut all: Vec<Duration> = l.lag.values().copied().collect();
        all.sort();
        let median = all.get(all.len() / 2).copied().unwrap_or_default();
        (worst.map(|(a, w)| (a, w, median)), l.lag.len(), l.missed)
    };
    let rss_cold = proc_field(pid, "VmRSS:") / 1024.0;
    let cpu_cold = cpu_seconds(pid);
    let sandbox_cpu_cold = cpu_seconds(sandbox.0.id());

    // Nothing changes from here: what the engine spends is its steady-state cost (watches,
    // the jittered resync of every app, metrics).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cpu_before = cpu_seconds(pid);
    // `DRIFTLESS_BENCH_IDLE_SECONDS` shortens the window (the idle figure then misses part
    // of the resync) when only the cold start and the lag are wanted.
    let idle_window = std::env::var("DRIFTLESS_BENCH_IDLE_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(IDLE_WINDOW, Duration::from_secs);
    tokio::time::sleep(idle_window).await;
    let idle_cpu = cpu_seconds(pid) - cpu_before;
    let rss_idle = proc_field(pid, "VmRSS:") / 1024.0;
    let hwm = proc_field(pid, "VmHWM:") / 1024.0;
    let (_, ready, _) = census(&http, &api, &token).await;

    println!(
        "engine: {apps} apps × {RESOURCES_PER_APP} resources ({} objects)",
        apps * RESOURCES_PER_APP
    );
    println!(
        "  cold start to all Synced+Healthy: {:.1} s (engine CPU {:.1} s, sandbox CPU {:.1} s)",
        cold.as_secs_f64(),
        cpu_cold,
        sandbox_cpu_cold
    );
    match worst_lag {
        Some((app, lag, median)) => println!(
            "  status lag, SyncSucceeded → status Synced: worst {:.3} s ({app}), median {:.3} s, over {lag_apps} apps seen syncing{}",
            lag.as_secs_f64(),
            median.as_secs_f64(),
            if missed > 0 {
                format!(" ({missed} live updates missed)")
            } else {
                String::new()
            }
        ),
        None => println!("  status lag: no SyncSucceeded seen on the live stream"),
    }
    println!(
        "  idle: {:.2} CPU-s over {} s (every app resynced once) = {:.2} CPU-s per minute = {:.2}% of a core; {ready}/{apps} still Synced+Healthy",
        idle_cpu,
        idle_window.as_secs(),
        60.0 * idle_cpu / idle_window.as_secs_f64(),
        100.0 * idle_cpu / idle_window.as_secs_f64()
    );
    println!(
        "  RSS: {rss_cold:.0} MiB after cold start, {rss_idle:.0} MiB idle, peak {hwm:.0} MiB"
    );
}
