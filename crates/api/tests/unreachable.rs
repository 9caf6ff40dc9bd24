//! Issue 13 defect 8: a sync stopped because the cluster did not answer is retried, with
//! backoff, once it answers — the old code recorded the attempt as a failed revision and never
//! tried it again. The engine reaches the sandbox through a proxy that can answer every write
//! with 502 (an API server that is down for writes: reads, dry runs, watches and the cache stay
//! up, so the sync gets as far as applying).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use driftless_engine::controller::ControllerConfig;

#[derive(Clone)]
struct Proxy {
    upstream: String,
    down: Arc<AtomicBool>,
    http: reqwest::Client,
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    // Dry runs (the comparison) change nothing and pass: only real writes fail.
    let dry_run = req.uri().query().is_some_and(|q| q.contains("dryRun"));
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD) && !dry_run;
    if writes && p.down.load(Ordering::SeqCst) {
        return Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .header("content-type", "application/json")
            .body(Body::from(r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"the server is currently unable to handle the request","reason":"InternalError","code":502}"#))
            .unwrap();
    }
    let url = format!(
        "{}{}",
        p.upstream,
        req.uri().path_and_query().map_or("/", |x| x.as_str())
    );
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut out = p.http.request(method, url);
    for (k, v) in req.headers() {
        if k != "host" {
            out = out.header(k.as_str(), v.as_bytes());
        }
    }
    let body = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .unwrap();
    let resp = match out.body(body).send().await {
        Ok(r) => r,
        Err(_) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::empty())
                .unwrap();
        }
    };
    let mut b = Response::builder().status(resp.status().as_u16());
    for (k, v) in resp.headers() {
        if k != "content-length" && k != "transfer-encoding" {
            b = b.header(k.as_str(), v.as_bytes());
        }
    }
    b.body(Body::from_stream(resp.bytes_stream())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_08_sync_stopped_by_an_unreachable_cluster_is_retried_when_it_answers() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sandbox = driftless_sandbox::Sandbox::start(0).await.unwrap();
    let down = Arc::new(AtomicBool::new(false));
    let proxy = Proxy {
        upstream: sandbox.url(),
        down: down.clone(),
        http: reqwest::Client::new(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        sandbox.kubeconfig().replace(&sandbox.url(), &proxy_url),
    )
    .unwrap();
    let client = driftless_kube::connect(&driftless_kube::ClusterSource::Kubeconfig {
        path: kubeconfig,
        context: None,
        allow_exec: false,
    })
    .await
    .unwrap();
    let src = dir.path().join("config");
    std::fs::create_dir_all(src.join("app")).unwrap();
    let cm = |mode: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{mode: {mode}}}\n"
        )
    };
    std::fs::write(src.join("app/cm.yaml"), cm("one")).unwrap();
    let ctl = crate::common::controller(
        dir.path(),
        client,
        "proxied",
        ControllerConfig {
            resync: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await;
    let def = driftless_core::app::parse(
        &format!("apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: shop}}\nspec:\n  source: {{repoURL: \"{}\", path: app}}\n  destination: {{namespace: default}}\n  syncPolicy: {{automated: {{}}, retry: {{limit: 2, backoff: {{duration: 100ms, factor: 2, maxDuration: 200ms}}}}}}\n", src.display()),
        "shop.yaml",
    )
    .unwrap()
    .remove(0)
    .app;
    ctl.set_app(def, "test").await.unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(ctl.clone().run(stopped));
    let live_mode = || async {
        let c = sandbox_cm(&sandbox).await;
        c.map(|v| v["data"]["mode"].as_str().unwrap_or_default().to_string())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while live_mode().await.as_deref() != Some("one") {
        assert!(Instant::now() < deadline, "the first revision never synced");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Writes fail (503) while a new revision arrives: the sync stops as unreachable.
    down.store(true, Ordering::SeqCst);
    std::fs::write(src.join("app/cm.yaml"), cm("two")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let events = ctl.store.list_events("shop", 0, 100).await.unwrap();
        if events.iter().any(|e| e.kind == "ClusterUnreachable") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no ClusterUnreachable event: {events:?}; status {}",
            ctl.store.get_app("shop").await.unwrap().unwrap().status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(live_mode().await.as_deref(), Some("one"));
    // The cluster answers again: the same revision is synced without anyone asking.
    down.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(60);
    while live_mode().await.as_deref() != Some("two") {
        assert!(
            Instant::now() < deadline,
            "the revision was not retried once the cluster answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ConfigMap as the sandbox holds it (read directly, not through the proxy).
async fn sandbox_cm(sandbox: &driftless_sandbox::Sandbox) -> Option<serde_json::Value> {
    let r = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/namespaces/default/configmaps/settings",
            sandbox.url()
        ))
        .bearer_auth(&sandbox.token)
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    r.json().await.ok()
}
