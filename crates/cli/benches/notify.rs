//! Notifications bench: do 1,000 notifications queued for a dead (hung) endpoint slow the
//! reconciles down? Two runs of `driftless up` on one sandbox, N applications each (default
//! 100, three resources each, every app subscribed to `on-sync-succeeded` on Slack):
//! - **without**: no notification configuration;
//! - **with**: Slack pointed at an endpoint that accepts connections and never answers, and
//!   1,000 messages for it queued in the store before the engine starts (each sync queues one
//!   more).
//!
//! Measured per run: cold start (engine started → every app Synced and Healthy) and a refresh
//! round (every app refreshed → every app reconciled again), as reconciles per second.
//! Run: `cargo bench -p driftless --bench notify` (`DRIFTLESS_BENCH_APPS=N`).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use driftless_notify::{NewMessage, Outbox};
use driftless_testkit::repo::TestRepo;
use serde_json::{Value, json};

mod common;
use common::{Process, cpu_seconds, wait_for_file};

const QUEUED: usize = 1000;
/// Refresh rounds per run (the median is reported: the machine is shared).
const ROUNDS: usize = 5;

/// What one run measured.
struct Run {
    cold: Duration,
    /// Median refresh round.
    round: Duration,
    /// Engine CPU per reconcile over the refresh rounds.
    cpu_ms: f64,
}

/// A "Slack" that accepts every connection and never answers; counts the connections.
fn hung_endpoint() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(conn);
        }
    });
    (url, count)
}

fn application(run: &str, i: usize, repo: &Path) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {run}-{i:04}\n  annotations:\n    notifications.argoproj.io/subscribe.on-sync-succeeded.slack: hung\nspec:\n  source: {{repoURL: \"{}\", path: {run}/{i:04}}}\n  destination: {{namespace: {run}-{i:04}}}\n  syncPolicy:\n    automated: {{prune: true}}\n",
        repo.display()
    )
}

fn files(run: &str, i: usize) -> Vec<(String, String)> {
    let ns = format!("{run}-{i:04}");
    vec![
        (
            format!("{run}/{i:04}/ns.yaml"),
            format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"),
        ),
        (
            format!("{run}/{i:04}/cm.yaml"),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: conf, namespace: {ns}}}\ndata: {{n: \"{i}\"}}\n"
            ),
        ),
        (
            format!("{run}/{i:04}/sa.yaml"),
            format!(
                "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: web, namespace: {ns}}}\n"
            ),
        ),
    ]
}

async fn apps_status(http: &reqwest::Client, api: &str, token: &str) -> Vec<Value> {
    let page: Value = match http
        .get(format!("{api}/api/v1/applications?limit=1000"))
        .bearer_auth(token)
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Value::Null,
    };
    page["items"].as_array().cloned().unwrap_or_default()
}

/// Polls the API until `pred` holds for all `n` apps; returns the time it took from `since`.
async fn until_all(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    n: usize,
    since: Instant,
    pred: impl Fn(&Value) -> bool,
) -> Duration {
    loop {
        let apps = apps_status(http, api, token).await;
        if apps.len() == n && apps.iter().all(&pred) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(600),
            "not done in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Queues `QUEUED` messages for the hung destination in the store of `data`.
async fn queue_for_hung(data: &Path) {
    let store = driftless_store::Store::sqlite(&data.join("driftless.db"))
        .await
        .unwrap();
    let now = jiff::Timestamp::now();
    let messages: Vec<NewMessage> = (0..QUEUED)
        .map(|i| NewMessage {
            dedupe_key: format!("bench-{i}"),
            event_id: format!("bench-{i}"),
            app: "earlier".into(),
            trigger: "on-sync-succeeded".into(),
            template: "app-sync-succeeded".into(),
            service: "slack".into(),
            service_type: "slack".into(),
            recipient: "hung".into(),
            payload: json!({"message": format!("queued {i}")}),
            created_at: now,
        })
        .collect();
    let n = store
        .notification_outbox()
        .enqueue(&messages)
        .await
        .unwrap();
    assert_eq!(n.inserted, QUEUED);
    store.close().await;
}

/// One run of `n` apps: cold start, then `ROUNDS` refresh rounds.
async fn run(root: &Path, kubeconfig: &Path, name: &str, n: usize, slack: Option<&str>) -> Run {
    let repo = TestRepo::new(name);
    let all: Vec<(String, String)> = (0..n).flat_map(|i| files(name, i)).collect();
    let refs: Vec<(&str, Option<&str>)> = all
        .iter()
        .map(|(p, b)| (p.as_str(), Some(b.as_str())))
        .collect();
    repo.commit(&refs, name);
    let config = root.join(format!("{name}-config"));
    std::fs::create_dir_all(&config).unwrap();
    for i in 0..n {
        std::fs::write(
            config.join(format!("{i:04}.yaml")),
            application(name, i, &repo.bare),
        )
        .unwrap();
    }
    let data = root.join(format!("{name}-data"));
    if let Some(url) = slack {
        std::fs::write(
            config.join("notifications.yaml"),
            format!("apiVersion: driftless.dev/v1alpha1\nkind: NotificationConfig\nmetadata: {{name: n}}\nspec:\n  services:\n    slack: {{type: slack, token: xoxb-bench, apiURL: \"{url}\"}}\n"),
        )
        .unwrap();
        queue_for_hung(&data).await;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let engine = Process(
        Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args(["up", "--allow-local-sources", "--kubeconfig"])
            .arg(kubeconfig)
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let token = wait_for_file(&data.join("api-token"), "the API token");
    let http = reqwest::Client::new();
    let ready = |a: &Value| {
        serde_json::from_value::<driftless_api::types::AppView>(a.clone())
            .is_ok_and(|a| a.status.synced_and_healthy())
    };
    let cold = until_all(&http, &api, &token, n, started, ready).await;
    let cpu_before = cpu_seconds(engine.0.id());
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let t0 = jiff::Timestamp::now().as_millisecond();
        let round = Instant::now();
        for i in 0..n {
            http.post(format!("{api}/api/v1/applications/{name}-{i:04}/refresh"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
        }
        let took = until_all(&http, &api, &token, n, round, |a| {
            serde_json::from_value::<driftless_api::types::AppView>(a.clone())
                .is_ok_and(|a| a.status.reconciled_at_ms.unwrap_or(0) > t0)
        })
        .await;
        rounds.push(took);
    }
    let cpu_ms = 1000.0 * (cpu_seconds(engine.0.id()) - cpu_before) / (ROUNDS * n) as f64;
    rounds.sort();
    if slack.is_some() {
        let pending: Value = http
            .get(format!(
                "{api}/api/v1/notifications?status=pending&limit=1000"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        println!(
            "  {name}: notifications still pending for the hung endpoint: {}+ (listed up to 1000)",
            pending["items"].as_array().map_or(0, Vec::len)
        );
    }
    Run {
        cold,
        round: rounds[ROUNDS / 2],
        cpu_ms,
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let n: usize = std::env::var("DRIFTLESS_BENCH_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let _sandbox = Process(
        Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args(["sandbox", "--kubeconfig"])
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_file(&kubeconfig, "the sandbox kubeconfig");
    let (hung, connections) = hung_endpoint();
    println!("notify bench: {n} apps × 3 resources, runs interleaved");
    for k in 0..2 {
        for (what, slack) in [("plain", None), ("queued", Some(hung.as_str()))] {
            let r = run(dir.path(), &kubeconfig, &format!("{what}{k}"), n, slack).await;
            let label = if slack.is_some() {
                format!("with {QUEUED} queued for a hung endpoint")
            } else {
                "without notifications".to_string()
            };
            println!(
                "  {label}: cold start {:.2} s; refresh round (median of {ROUNDS}) {:.2} s = {:.0} reconciles/s; engine CPU {:.2} ms per reconcile",
                r.cold.as_secs_f64(),
                r.round.as_secs_f64(),
                n as f64 / r.round.as_secs_f64(),
                r.cpu_ms
            );
        }
    }
    println!(
        "  the hung endpoint got {} connection(s) in all",
        connections.load(std::sync::atomic::Ordering::SeqCst)
    );
}
