//! `--data` durability: every acknowledged write survives `kill -9`. The sandbox runs in a
//! child process (this test binary again, running only [`durable_child_process_helper`]),
//! is written to over HTTP, killed with SIGKILL, and the directory reopened.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Client, cm, ns};
use driftless_sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};

const CHILD_ENV: &str = "DRIFTLESS_SANDBOX_CHILD_DIR";

/// In the child: serves the data directory until killed, after writing `url token` to
/// `ready`. In a normal run (no env var) it has nothing to do.
#[tokio::test]
async fn durable_child_process_helper() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let sb = Sandbox::start_with(SandboxOptions {
        port: 0,
        data_dir: Some(dir.join("data")),
    })
    .await
    .unwrap();
    let tmp = dir.join("ready.tmp");
    std::fs::write(&tmp, format!("{} {}", sb.url(), sb.token)).unwrap();
    std::fs::rename(tmp, dir.join("ready")).unwrap();
    std::future::pending::<()>().await;
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A client for a sandbox in another process.
fn remote(url: &str, token: &str) -> Client {
    Client::remote(url, token)
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let child = Killed(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "durable::durable_child_process_helper",
                "--nocapture",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ready = dir.path().join("ready");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the child sandbox never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let line = std::fs::read_to_string(&ready).unwrap();
    let (url, token) = line.split_once(' ').unwrap();
    let c = remote(url, token);

    assert_eq!(c.post("/api/v1/namespaces", ns("kept")).await.0, 201);
    let base = "/api/v1/namespaces/kept/configmaps";
    let mut acknowledged: Vec<Value> = Vec::new();
    for i in 0..40 {
        let (code, made) = c
            .post(base, cm(&format!("cm-{i}"), json!({"n": i.to_string()})))
            .await;
        assert_eq!(code, 201, "{made}");
        acknowledged.push(made);
    }
    // Changes and deletions are durable too.
    for (i, slot) in acknowledged.iter_mut().enumerate().take(10) {
        let (code, changed) = c
            .send(
                "PATCH",
                &format!("{base}/cm-{i}"),
                Some("application/merge-patch+json"),
                Some(json!({"data": {"k": "changed"}})),
            )
            .await;
        assert_eq!(code, 200);
        *slot = changed;
    }
    for i in 30..40 {
        assert_eq!(
            c.send("DELETE", &format!("{base}/cm-{i}"), None, None)
                .await
                .0,
            200
        );
    }
    acknowledged.truncate(30);
    let (_, last) = c.get(base).await;
    let last_rv: u64 = last["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // SIGKILL: no shutdown path runs.
    drop(child);

    let sb = Sandbox::start_with(SandboxOptions {
        port: 0,
        data_dir: Some(dir.path().join("data")),
    })
    .await
    .unwrap();
    let c = Client::new(&sb);
    let (_, list) = c.get(base).await;
    let mut items: Vec<Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["metadata"]["name"].as_str().unwrap().starts_with("cm-"))
        .cloned()
        .collect();
    items.sort_by_key(|o| {
        o["metadata"]["name"]
            .as_str()
            .unwrap()
            .trim_start_matches("cm-")
            .parse::<u32>()
            .unwrap()
    });
    let strip = |mut o: Value| {
        if let Some(m) = o.as_object_mut() {
            m.remove("kind");
            m.remove("apiVersion");
        }
        o
    };
    let want: Vec<Value> = acknowledged.into_iter().map(strip).collect();
    assert_eq!(items, want, "every acknowledged object, as acknowledged");
    // Versions keep counting up after the restart.
    let (_, next) = c.post(base, cm("after", json!({}))).await;
    let rv: u64 = next["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv > last_rv, "{rv} <= {last_rv}");
}

/// Measures write latency with and without `--data` (sequential creates over HTTP); run with
/// `--nocapture` to see the figures (docs/PERFORMANCE.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_write_latency_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let mut report = Vec::new();
    for data_dir in [None, Some(dir.path().to_path_buf())] {
        let sb = Sandbox::start_with(SandboxOptions {
            port: 0,
            data_dir: data_dir.clone(),
        })
        .await
        .unwrap();
        let c = Client::new(&sb);
        c.post("/api/v1/namespaces", ns("timed")).await;
        let mut times = Vec::new();
        for i in 0..200 {
            let start = Instant::now();
            let (code, _) = c
                .post(
                    "/api/v1/namespaces/timed/configmaps",
                    cm(&format!("t-{i}"), json!({})),
                )
                .await;
            times.push(start.elapsed());
            assert_eq!(code, 201);
        }
        times.sort();
        report.push(format!(
            "{}: p50 {:?}, p99 {:?}",
            if data_dir.is_some() {
                "--data (fsync per write)"
            } else {
                "in memory"
            },
            times[100],
            times[198]
        ));
    }
    eprintln!(
        "sandbox create latency, 200 sequential ConfigMaps: {}",
        report.join("; ")
    );
    // The durable run's objects are all there after a clean reopen.
    let sb = Sandbox::start_with(SandboxOptions {
        port: 0,
        data_dir: Some(dir.path().to_path_buf()),
    })
    .await
    .unwrap();
    let (_, list) = Client::new(&sb)
        .get("/api/v1/namespaces/timed/configmaps")
        .await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        201,
        "200 plus kube-root-ca.crt"
    );
}

/// A rollout under way when the sandbox stopped goes on after the restart.
#[tokio::test]
async fn a_rollout_interrupted_by_a_restart_completes_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || SandboxOptions {
        port: 0,
        data_dir: Some(dir.path().to_path_buf()),
    };
    let path = "/apis/apps/v1/namespaces/shop/deployments/web";
    {
        let sb = Sandbox::start_with(opts()).await.unwrap();
        sb.with_store(|s| s.rollout_hold = Some(Duration::MAX));
        let c = Client::new(&sb);
        c.post("/api/v1/namespaces", ns("shop")).await;
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}});
        assert_eq!(
            c.post("/apis/apps/v1/namespaces/shop/deployments", d)
                .await
                .0,
            201
        );
        let held =
            crate::common::eventually(&c, path, |d| d["status"]["unavailableReplicas"] == 1).await;
        assert_eq!(
            held["status"]["conditions"][1]["reason"],
            "ReplicaSetUpdated"
        );
    }
    // Restarted without the hold: the controllers pick the rollout up again.
    let sb = Sandbox::start_with(opts()).await.unwrap();
    let c = Client::new(&sb);
    let d = crate::common::eventually(&c, path, |d| d["status"]["availableReplicas"] == 1).await;
    assert_eq!(
        d["status"]["conditions"][1]["reason"], "NewReplicaSetAvailable",
        "{d}"
    );
}
