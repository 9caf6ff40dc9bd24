//! Replicas benchmark: three `driftless up` processes share N applications × 10 resources
//! (default 3,000) on one Postgres and one sandbox. Measures the cold start (replicas
//! started → every app Synced and Healthy), the hand-over after `kill -9` of one replica
//! (kill → all its apps owned by the others and reconciled by them), the hand-over after a
//! SIGTERM (the replica leaves and hands over at once), and each replica's RSS.
//! Run: `cargo bench -p driftless --bench shards` (`DRIFTLESS_BENCH_APPS=N` for fewer apps).

use driftless_engine::AppStatus;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use driftless_testkit::postgres::PgServer;
use driftless_testkit::repo::TestRepo;
use serde_json::Value;

mod common;
use common::{Process, free_port, rss_mib, wait_for_file};

const RESOURCES_PER_APP: usize = 10;
const TOKEN: &str = "bench-token";

/// App `i`: a namespace, a ServiceAccount, a Secret, a Service and six ConfigMaps (no
/// Deployment: the sandbox runs no pods, and rollouts are the engine bench's subject).
fn app_files(i: usize) -> Vec<(String, String)> {
    let ns = format!("shard-{i:04}");
    let mut files = vec![
        (
            "namespace.yaml".to_string(),
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
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
        (
            "service.yaml".to_string(),
            format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 80}}]\n"
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
        "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: shard-{i:04}}}\nspec:\n  source: {{repoURL: \"{}\", path: apps/{i:04}}}\n  destination: {{namespace: shard-{i:04}}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n",
        repo.display()
    )
}

struct Rig {
    dir: PathBuf,
    pg_url: String,
    kubeconfig: PathBuf,
    config: PathBuf,
}

impl Rig {
    /// Starts replica `id`; returns the process and its API.
    fn start(&self, id: &str) -> (Process, String) {
        let data = self.dir.join(id);
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("api-token"), TOKEN).unwrap();
        let port = free_port();
        let log = std::fs::File::create(self.dir.join(format!("{id}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args(["up", "--allow-local-sources", "--replica-id", id])
            .arg("--store")
            .arg(&self.pg_url)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        (Process(child), format!("http://127.0.0.1:{port}"))
    }
}

async fn get(http: &reqwest::Client, url: &str) -> Option<Value> {
    http.get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Every app's status by name (empty while the API is not up yet).
async fn statuses(http: &reqwest::Client, api: &str) -> BTreeMap<String, AppStatus> {
    let (mut out, mut after) = (BTreeMap::new(), String::new());
    loop {
        let Some(page) = get(
            http,
            &format!("{api}/api/v1/applications?limit=1000&after={after}"),
        )
        .await
        else {
            return BTreeMap::new();
        };
        for a in page["items"].as_array().into_iter().flatten() {
            if let Ok(a) = serde_json::from_value::<driftless_api::types::AppView>(a.clone()) {
                out.insert(a.name, a.status);
            }
        }
        match page["next"].as_str() {
            Some(n) if !n.is_empty() => after = n.to_string(),
            _ => return out,
        }
    }
}

/// Owner of every app under a live membership.
async fn live_owners(http: &reqwest::Client, api: &str) -> BTreeMap<String, String> {
    let Some(body) = get(http, &format!("{api}/api/v1/shards?apps=true")).await else {
        return BTreeMap::new();
    };
    body["owners"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["live"] == true)
        .map(|o| {
            (
                o["app"].as_str().unwrap_or("").to_string(),
                o["replica"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Waits (polling every 250 ms, bounded) until `leaver`'s apps are all owned by others
/// and reconciled since `since_ms`; returns how long that took from `from`.
async fn handed_over(
    http: &reqwest::Client,
    api: &str,
    leaver: &str,
    apps: &[String],
    since_ms: i64,
    from: Instant,
) -> Duration {
    loop {
        let o = live_owners(http, api).await;
        let s = statuses(http, api).await;
        let done = apps.iter().all(|a| {
            o.get(a).is_some_and(|r| r != leaver)
                && s.get(a).and_then(|v| v.reconciled_at_ms).unwrap_or(0) > since_ms
        });
        if done {
            return from.elapsed();
        }
        assert!(
            from.elapsed() < Duration::from_secs(600),
            "{leaver}'s apps never handed over"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::main]
async fn main() {
    let apps: usize = std::env::var("DRIFTLESS_BENCH_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let pg = PgServer::start();
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
    let repo = TestRepo::new("shards");
    let files: Vec<(String, String)> = (0..apps)
        .flat_map(|i| {
            app_files(i)
                .into_iter()
                .map(move |(n, b)| (format!("apps/{i:04}/{n}"), b))
        })
        .collect();
    let refs: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, b)| (p.as_str(), Some(b.as_str())))
        .collect();
    repo.commit(&refs, "the fleet");
    let config = dir.path().join("apps");
    std::fs::create_dir_all(&config).unwrap();
    let bare = repo.root().join("shards.git");
    for i in 0..apps {
        std::fs::write(
            config.join(format!("shard-{i:04}.yaml")),
            application(i, &bare),
        )
        .unwrap();
    }
    let rig = Rig {
        dir: dir.path().to_path_buf(),
        pg_url: pg.url(),
        kubeconfig,
        config,
    };
    let http = reqwest::Client::new();

    let started = Instant::now();
    let mut replicas: BTreeMap<&str, (Process, String)> = ["r1", "r2", "r3"]
        .into_iter()
        .map(|id| (id, rig.start(id)))
        .collect();
    let api1 = replicas["r1"].1.clone();
    let mut report = Instant::now();
    let cold = loop {
        let s = statuses(&http, &api1).await;
        let ready = s.values().filter(|v| v.synced_and_healthy()).count();
        if s.len() == apps && ready == apps {
            break started.elapsed();
        }
        if report.elapsed() > Duration::from_secs(10) {
            let rss: Vec<String> = replicas
                .iter()
                .map(|(id, (p, _))| format!("{id} {:.0} MiB", rss_mib(p.0.id(), "VmRSS:")))
                .collect();
            eprintln!(
                "  {:>6.1} s: {ready}/{apps} Synced+Healthy; RSS {}",
                started.elapsed().as_secs_f64(),
                rss.join(", ")
            );
            report = Instant::now();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "not all Synced+Healthy in 30 minutes ({ready}/{apps})"
        );
        tokio::time::sleep(Duration::from_millis(1000)).await;
    };
    let owners = live_owners(&http, &api1).await;
    let share = |who: &str| owners.values().filter(|r| *r == who).count();
    let rss: Vec<String> = replicas
        .iter()
        .map(|(id, (p, _))| {
            format!(
                "{id} {:.0} MiB (peak {:.0}, owns {})",
                rss_mib(p.0.id(), "VmRSS:"),
                rss_mib(p.0.id(), "VmHWM:"),
                share(id)
            )
        })
        .collect();

    // kill -9 r2: its apps wait for its lease to expire (10 s), then the others take them.
    let r2_apps: Vec<String> = owners
        .iter()
        .filter(|(_, r)| *r == "r2")
        .map(|(a, _)| a.clone())
        .collect();
    let (mut r2, _) = replicas.remove("r2").unwrap();
    let (killed_ms, killed) = (now_ms(), Instant::now());
    r2.0.kill().unwrap();
    r2.0.wait().unwrap();
    let after_kill = handed_over(&http, &api1, "r2", &r2_apps, killed_ms, killed).await;

    // SIGTERM r3: it finishes what it is doing and hands everything over at once.
    let owners = live_owners(&http, &api1).await;
    let r3_apps: Vec<String> = owners
        .iter()
        .filter(|(_, r)| *r == "r3")
        .map(|(a, _)| a.clone())
        .collect();
    let (r3, _) = replicas.remove("r3").unwrap();
    let (term_ms, termed) = (now_ms(), Instant::now());
    Command::new("kill")
        .args(["-TERM", &r3.0.id().to_string()])
        .status()
        .unwrap();
    let after_term = handed_over(&http, &api1, "r3", &r3_apps, term_ms, termed).await;
    let r1_rss = rss_mib(replicas["r1"].0.0.id(), "VmRSS:");
    drop(r3);

    println!(
        "replicas: 3 × `driftless up` on one Postgres, {apps} apps × {RESOURCES_PER_APP} resources ({} objects)",
        apps * RESOURCES_PER_APP
    );
    println!(
        "  cold start to all Synced+Healthy: {:.1} s",
        cold.as_secs_f64()
    );
    println!("  RSS after cold start: {}", rss.join("; "));
    println!(
        "  kill -9 of r2 ({} apps) → all owned and reconciled by r1/r3: {:.1} s",
        r2_apps.len(),
        after_kill.as_secs_f64()
    );
    println!(
        "  SIGTERM of r3 ({} apps) → all owned and reconciled by r1: {:.1} s; r1 then owns all, RSS {r1_rss:.0} MiB",
        r3_apps.len(),
        after_term.as_secs_f64()
    );
}
