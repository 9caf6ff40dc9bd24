//! Web UI benchmark: the applications list with 5,000 applications in the store, opened in
//! headless Chromium (Debian's chromium + chromium-driver). Measures the first paint of rows
//! (the page's `driftless:first-rows` mark, in ms since navigation start) and the time until
//! all 5,000 are loaded and filterable, over 5 page loads.
//! Run: `cargo bench -p driftless --bench ui` (`DRIFTLESS_BENCH_APPS=N` for another fleet).

use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_engine::controller::{Controller, ControllerConfig, Sources};
use driftless_testkit::browser::Browser;
use serde_json::json;

fn main() {
    let apps: usize = std::env::var("DRIFTLESS_BENCH_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let sc = driftless_testkit::cluster::sandbox_cluster().await;
        let dir = tempfile::tempdir().unwrap();
        let store = driftless_store::Store::sqlite(&dir.path().join("d.db")).await.unwrap();
        let started = Instant::now();
        for i in 0..apps {
            let name = format!("app-{i:05}");
            let spec = json!({
                "name": name, "project": format!("team-{}", i % 20),
                "source": {"repoURL": "https://git.example.com/platform/config.git", "path": format!("apps/{name}"), "targetRevision": "main"},
                "destination": {"namespace": format!("ns-{}", i % 50)},
            });
            store.put_app(&name, &spec).await.unwrap();
            // A status like the controller's: ten resources each.
            let resources: Vec<_> = (0..10).map(|r| json!({"group": "apps", "kind": "Deployment", "namespace": format!("ns-{}", i % 50), "name": format!("{name}-{r}"), "status": "Synced", "impact": {"grade": "none"}})).collect();
            let status = json!({
                "sync": {"status": if i % 97 == 0 { "OutOfSync" } else { "Synced" }, "revision": "0123456789abcdef0123456789abcdef01234567"},
                "health": {"status": "Healthy"}, "resources": resources, "lastSyncAtMs": 1_763_000_000_000i64, "reconciledAtMs": 1_763_000_000_000i64,
            });
            store.set_app_status(&name, &status).await.unwrap();
        }
        println!("store filled with {apps} applications in {:.1} s", started.elapsed().as_secs_f64());
        let sources = Arc::new(Sources::new(
            dir.path(),
            driftless_git::UrlPolicy { allow_local: true, allow_insecure: false },
            Duration::from_secs(3600),
        ));
        let ctl = Controller::new(
            store,
            Arc::new(driftless_kube::KubeCluster::new(sc.cluster.client().clone(), "sandbox")),
            sources,
            driftless_health::Assessor::default(),
            ControllerConfig::default(),
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = driftless_api::router(driftless_api::ApiState {
            controller: ctl,
            token: Arc::new("bench-token-0123456789".into()),
            webhook_secret: None,
            users: Arc::default(),
        });
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

        let b = Browser::start().await;
        b.goto(&format!("{base}/ui/")).await;
        b.eval("sessionStorage.setItem('driftless-token', 'bench-token-0123456789'); return true;", json!([])).await;
        let mut first = Vec::new();
        let mut all = Vec::new();
        for run in 0..5 {
            b.goto(&format!("{base}/ui/?run={run}#/apps")).await;
            b.wait_for("the first rows", "performance.getEntriesByName('driftless:first-rows').length > 0", Duration::from_secs(60)).await;
            let wanted = format!("document.getElementById('count').textContent === '({apps} of {apps})'");
            b.wait_for("every application loaded", &wanted, Duration::from_secs(120)).await;
            let t = b
                .eval("return [performance.getEntriesByName('driftless:first-rows')[0].startTime, performance.now()];", json!([]))
                .await;
            first.push(t[0].as_f64().unwrap());
            all.push(t[1].as_f64().unwrap());
            let rows = b.eval("return document.querySelectorAll('tr[data-app]').length;", json!([])).await;
            assert_eq!(rows, json!(100), "one page of rows in the DOM");
        }
        first.sort_by(f64::total_cmp);
        all.sort_by(f64::total_cmp);
        println!(
            "applications list, {apps} apps: first rows painted after {:.0} ms (median of 5; min {:.0}, max {:.0}); all loaded within {:.0} ms (median; an upper bound: polled every 100 ms)",
            first[2], first[0], first[4], all[2]
        );
    });
}
