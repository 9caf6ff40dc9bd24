//! Benchmark: comparison of 1,000 applications x 20 resources against a warm live cache, and
//! the memory of that cache for 20,000 tracked objects. Targets (issue 4): <= 100 us per
//! resource, <= 200 MB.
//!
//! `cargo bench -p driftless-engine --bench compare`. The objects are applied to an
//! in-process sandbox by server-side apply (16 in flight), the live cache watches the four
//! kinds, and each application's desired set is compared with its cached live objects
//! (client-side prediction: a warm cache answers without a request).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use driftless_core::cluster::{ApplyOptions, Cluster};
use driftless_core::{DesiredSet, Gvk, ResourceKey};
use driftless_diff::{CompareOptions, SyncStatus, compare, prepare};
use driftless_kube::LiveCache;
use futures_util::StreamExt;
use serde_json::{Value, json};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const APPS: usize = 1_000;
const NAMESPACES: usize = 50;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    kb / 1024.0
}

fn app_objects(i: usize) -> Vec<Value> {
    let ns = format!("ns-{}", i % NAMESPACES);
    let mut out = Vec::new();
    for j in 0..5 {
        let n = format!("app{i}-{j}");
        out.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": ns, "labels": {"app": n}},
            "data": {"settings.yaml": format!("mode: fast\nreplicas: {j}\n"), "LOG_LEVEL": "info"}}));
        out.push(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": n, "namespace": ns},
            "stringData": {"password": format!("pw-{i}-{j}")}}),
        );
        out.push(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": n, "namespace": ns},
            "spec": {"selector": {"app": n}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}));
        out.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": n, "namespace": ns, "labels": {"app": n}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": n}}, "template": {"metadata": {"labels": {"app": n}},
              "spec": {"containers": [{"name": "app", "image": format!("registry.example.com/app{i}:1.{j}"),
                "ports": [{"containerPort": 8080}], "env": [{"name": "MODE", "value": "fast"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}}}));
    }
    out
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let sc = driftless_testkit::cluster::sandbox_cluster().await;
    let (cluster, client) = (&sc.cluster, sc.cluster.client().clone());

    for n in 0..NAMESPACES {
        cluster.apply(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("ns-{n}")}}), &ApplyOptions::default()).await.unwrap();
    }
    let mut sets: Vec<(String, DesiredSet)> = Vec::new();
    let mut applies = Vec::new();
    for i in 0..APPS {
        let app = format!("app{i}");
        let set =
            DesiredSet::from_objects(app_objects(i).into_iter().map(|o| (o, "bench".to_string())))
                .unwrap();
        let opts = CompareOptions {
            app: app.clone(),
            ..Default::default()
        };
        for d in set.iter() {
            applies.push(prepare(&d.object, &d.key, &opts));
        }
        sets.push((app, set));
    }
    let total = applies.len();
    let t = Instant::now();
    let c = cluster;
    futures_util::stream::iter(applies)
        .map(|o| async move { c.apply(&o, &ApplyOptions::default()).await.unwrap() })
        .buffer_unordered(16)
        .for_each(|_| async {})
        .await;
    println!(
        "applied {total} objects in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    // Let the simulator finish the rollouts so the cache lists settled objects.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let before = rss_mib();
    let cache = LiveCache::new(client);
    let t = Instant::now();
    for (v, k) in [
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("apps/v1", "Deployment"),
    ] {
        let scope = cluster
            .resolve(&Gvk::from_api_version(v, k))
            .await
            .unwrap()
            .unwrap();
        cache.watch(&scope, None);
    }
    assert!(cache.wait_synced(Duration::from_secs(120)).await);
    assert_eq!(cache.len(), total);
    let synced = t.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_mib();
    println!(
        "live cache: {} tracked objects listed in {:.2}s; RSS {:.1} -> {:.1} MiB (+{:.1} MiB, target <= 200 MB); object JSON {:.1} MiB",
        cache.len(),
        synced.as_secs_f64(),
        before,
        after,
        after - before,
        cache.json_bytes() as f64 / 1048576.0
    );

    let mut runs = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut synced = 0;
        for (app, set) in &sets {
            let live: BTreeMap<ResourceKey, Value> = cache.tracked_by(app).into_iter().collect();
            let opts = CompareOptions {
                app: app.clone(),
                ..Default::default()
            };
            let cmp = compare(set, &live, &HashMap::new(), &opts);
            synced += cmp
                .resources
                .iter()
                .filter(|r| r.status == SyncStatus::Synced)
                .count();
            if synced == 0 {
                let r = &cmp.resources[0];
                panic!("{} {:?}\n{}", r.key, r.status, r.diff);
            }
        }
        assert_eq!(synced, total, "every resource compares Synced");
        runs.push(t.elapsed());
    }
    for r in &runs {
        println!(
            "compare {APPS} apps x 20 resources (warm cache): {:.0} ms, {:.1} us/resource (target <= 100 us)",
            r.as_secs_f64() * 1e3,
            r.as_secs_f64() * 1e6 / total as f64
        );
    }
}
