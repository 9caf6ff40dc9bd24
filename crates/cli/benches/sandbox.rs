//! Sandbox benchmark: 10,000 Deployments applied with server-side apply (16 in flight) while a
//! watch over all Deployments is open, then 1,000 image updates one at a time on that full
//! cluster. Reports apply throughput; watch event latency (request sent → event received)
//! for the updates, which is the watch's own delay, and for the bulk load, where it also
//! holds the queueing of 16 requests in flight; and the sandbox process's RSS.
//! The sandbox runs as its own process (`driftless sandbox`), so RSS is the server's alone.
//! Run: `cargo bench -p driftless --bench sandbox`.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const N: usize = 10_000;
const IN_FLIGHT: usize = 16;
const UPDATES: usize = 1_000;

/// Just what the watcher needs of an event: parsing whole objects in the client would steal
/// the cores the server is measured on.
#[derive(serde::Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    object: EventObject,
}
#[derive(serde::Deserialize)]
struct EventObject {
    metadata: EventMeta,
}
#[derive(serde::Deserialize)]
struct EventMeta {
    name: String,
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn deployment(i: usize, image: &str) -> String {
    format!(
        r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"web-{i}","namespace":"default","labels":{{"app":"web-{i}"}},"annotations":{{"driftless.dev/tracking-id":"bench:apps/Deployment:default/web-{i}"}}}},"spec":{{"replicas":2,"selector":{{"matchLabels":{{"app":"web-{i}"}}}},"template":{{"metadata":{{"labels":{{"app":"web-{i}"}}}},"spec":{{"containers":[{{"name":"web","image":"{image}","ports":[{{"containerPort":80}}]}}]}}}}}}}}"#
    )
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut server = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(["sandbox", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    while !kubeconfig.exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    let base = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap()
        .to_string();
    let rss_idle = rss_mib(server.id());

    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let updated: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let update_latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let http = reqwest::Client::new();
    let rv = http
        .get(format!("{base}/apis/apps/v1/deployments?limit=1"))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let watcher = {
        let (sent, latencies, http, base) =
            (sent.clone(), latencies.clone(), http.clone(), base.clone());
        let (updated, update_latencies) = (updated.clone(), update_latencies.clone());
        tokio::spawn(async move {
            let mut resp = http.get(format!("{base}/apis/apps/v1/deployments?watch=true&resourceVersion={rv}&timeoutSeconds=300")).send().await.unwrap();
            let mut buf = Vec::new();
            let (mut added, mut modified) = (0, 0);
            while added < N || modified < UPDATES {
                let Ok(Some(chunk)) = resp.chunk().await else {
                    break;
                };
                let now = Instant::now();
                buf.extend_from_slice(&chunk);
                while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=i).collect();
                    let ev: Event = serde_json::from_slice(&line).unwrap();
                    let name = ev.object.metadata.name;
                    if ev.kind == "ADDED" {
                        if let Some(t) = sent.lock().unwrap().get(&name) {
                            latencies.lock().unwrap().push(now - *t);
                        }
                        added += 1;
                    } else if ev.kind == "MODIFIED"
                        && let Some(t) = updated.lock().unwrap().remove(&name)
                    {
                        update_latencies.lock().unwrap().push(now - t);
                        modified += 1;
                    }
                }
            }
            (added, modified)
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;

    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (http, base, sent, next) = (http.clone(), base.clone(), sent.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= N {
                        return;
                    }
                    let name = format!("web-{i}");
                    sent.lock().unwrap().insert(name.clone(), Instant::now());
                    let r = http
                        .patch(format!("{base}/apis/apps/v1/namespaces/default/deployments/{name}?fieldManager=bench&force=true"))
                        .header("content-type", "application/apply-patch+yaml")
                        .body(deployment(i, "nginx:1.27"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap_or_default());
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = start.elapsed();

    // Watch latency on the full cluster: one update at a time, each a new image (so a new
    // generation), while the status simulator works through the rollouts it causes.
    for j in 0..UPDATES {
        let i = (j * 7919) % N;
        let name = format!("web-{i}");
        updated.lock().unwrap().insert(name.clone(), Instant::now());
        let r = http
            .patch(format!("{base}/apis/apps/v1/namespaces/default/deployments/{name}?fieldManager=bench&force=true"))
            .header("content-type", "application/apply-patch+yaml")
            .body(deployment(i, "nginx:1.28"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            200,
            "{}",
            r.text().await.unwrap_or_default()
        );
        // Wait for the event, so each measurement sees an idle server, as an edit would.
        while updated.lock().unwrap().contains_key(&name) {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    let (added, modified) = tokio::time::timeout(Duration::from_secs(60), watcher)
        .await
        .unwrap()
        .unwrap();
    // Let the simulated rollouts settle before measuring memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = rss_mib(server.id());
    let _ = server.kill();
    let _ = server.wait();

    let pct = |l: &[Duration], p: f64| {
        l[((l.len() as f64 * p) as usize).min(l.len() - 1)].as_secs_f64() * 1e3
    };
    let mut bulk = latencies.lock().unwrap().clone();
    bulk.sort();
    let mut single = update_latencies.lock().unwrap().clone();
    single.sort();
    println!(
        "sandbox: {N} Deployments by server-side apply, {IN_FLIGHT} in flight, one watch over all"
    );
    println!(
        "  apply throughput  : {:>8.0} applies/s ({:.2} s total; target >= 5000/s)",
        N as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "  watch latency     : p50 {:.2} ms, p99 {:.2} ms over {modified} updates of a full cluster (target p99 <= 10 ms)",
        pct(&single, 0.50),
        pct(&single, 0.99)
    );
    println!(
        "  under bulk load   : p50 {:.2} ms, p99 {:.2} ms over {added} ADDED events (includes queueing behind {IN_FLIGHT} requests in flight)",
        pct(&bulk, 0.50),
        pct(&bulk, 0.99)
    );
    println!(
        "  sandbox RSS       : {rss:.0} MiB with {N} Deployments ({rss_idle:.0} MiB idle; target <= 150 MB)"
    );
}
