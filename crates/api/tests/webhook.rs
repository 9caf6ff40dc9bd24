//! A signed push webhook makes the engine fetch the repository once and sync the new commit;
//! an unsigned or wrongly signed one changes nothing. A real Git repository (file://), the
//! sandbox cluster, the controller and the API on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_engine::controller::{Controller, ControllerConfig};
use driftless_testkit::repo::TestRepo;
use hmac_sign::sign;

mod hmac_sign {
    /// HMAC-SHA256 as GitHub computes it, through openssl (an implementation other than ours).
    pub fn sign(secret: &str, body: &[u8]) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-hmac", secret])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(body).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap()
            .trim()
            .to_string()
    }
}

const CM: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: MODE}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_push_syncs_the_new_commit_and_a_forged_one_is_refused() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let repo = TestRepo::new("config");
    let first = repo.commit(
        &[("shop/cm.yaml", Some(&CM.replace("MODE", "one")))],
        "first",
    );
    let url = format!("file://{}/{}", repo.root().display(), repo.name());

    let sc = driftless_testkit::cluster::sandbox_cluster().await;
    let dir = tempfile::tempdir().unwrap();
    // Polling once an hour: only the webhook can bring the second commit in.
    let cfg = ControllerConfig {
        resync: Duration::from_millis(300),
        ..Default::default()
    };
    let ctl = crate::common::controller(dir.path(), sc.cluster.client(), "sandbox", cfg).await;
    let app = driftless_core::app::parse(
        &format!("apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: shop}}\nspec:\n  source: {{repoURL: \"{url}\", path: shop, targetRevision: main}}\n  destination: {{namespace: default}}\n  syncPolicy: {{automated: {{prune: true}}}}\n"),
        "shop.yaml",
    )
    .unwrap()
    .remove(0)
    .app;
    ctl.set_app(app, "test").await.unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(ctl.clone().run(stopped));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let router = driftless_api::router(driftless_api::ApiState {
        controller: ctl.clone(),
        token: Arc::new("t".into()),
        webhook_secret: Some(Arc::new("hook-secret".into())),
        users: Arc::new(Vec::new()),
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let revision = |ctl: Arc<Controller>| async move {
        ctl.stored_status("shop").await.unwrap().sync.revision
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while revision(ctl.clone()).await.as_deref() != Some(first.as_str()) {
        assert!(Instant::now() < deadline, "first commit not synced");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = repo.commit(
        &[("shop/cm.yaml", Some(&CM.replace("MODE", "two")))],
        "second",
    );
    let body = serde_json::to_vec(&serde_json::json!({"ref": "refs/heads/main", "after": second, "repository": {"clone_url": url, "html_url": "https://example.invalid/x"}})).unwrap();
    let http = reqwest::Client::new();

    // Forged: wrong secret, or no signature at all. Nothing happens.
    for sig in [Some(format!("sha256={}", sign("guess", &body))), None] {
        let mut req = http
            .post(format!("{api}/api/v1/webhooks/github"))
            .body(body.clone());
        if let Some(s) = sig {
            req = req.header("X-Hub-Signature-256", s);
        }
        assert_eq!(req.send().await.unwrap().status(), 401);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        revision(ctl.clone()).await.as_deref(),
        Some(first.as_str()),
        "no fetch without a valid webhook"
    );

    // Signed: fetched, synced.
    let r = http
        .post(format!("{api}/api/v1/webhooks/github"))
        .header(
            "X-Hub-Signature-256",
            format!("sha256={}", sign("hook-secret", &body)),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(answer["queued"], serde_json::json!(["shop"]));
    let deadline = Instant::now() + Duration::from_secs(20);
    while revision(ctl.clone()).await.as_deref() != Some(second.as_str()) {
        assert!(
            Instant::now() < deadline,
            "second commit not synced after the webhook"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cm = driftless_core::cluster::Cluster::get(
        ctl.live_cluster(),
        &driftless_core::Gvk::from_api_version("v1", "ConfigMap"),
        &driftless_core::ResourceKey::new("", "ConfigMap", "default", "settings"),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(cm["data"]["mode"], "two");

    // A repository with its own webhook secret, created through the API (token-authenticated).
    let def = format!(
        "apiVersion: driftless.dev/v1alpha1\nkind: Repository\nmetadata: {{name: config}}\nspec: {{url: \"{url}\", webhookSecret: repo-hook}}\n"
    );
    let r = http
        .post(format!("{api}/api/v1/repositories"))
        .bearer_auth("t")
        .body(def)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let listed: serde_json::Value = http
        .get(format!("{api}/api/v1/repositories"))
        .bearer_auth("t")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["name"], "config");
    assert_eq!(listed["items"][0]["webhookSecret"], "***", "{listed}");
    let third = repo.commit(
        &[("shop/cm.yaml", Some(&CM.replace("MODE", "three")))],
        "third",
    );
    let hook = |secret: &str, body: &[u8]| {
        http.post(format!("{api}/api/v1/webhooks/github/config"))
            .header(
                "X-Hub-Signature-256",
                format!("sha256={}", sign(secret, body)),
            )
            .body(body.to_vec())
            .send()
    };
    // The engine-wide secret does not open a repository's own endpoint.
    assert_eq!(hook("hook-secret", &body).await.unwrap().status(), 401);
    // Its secret cannot make the engine fetch another repository.
    let other = serde_json::to_vec(
        &serde_json::json!({"repository": {"clone_url": "https://git.example.com/other.git"}}),
    )
    .unwrap();
    assert_eq!(hook("repo-hook", &other).await.unwrap().status(), 400);
    // The push of the third commit names it (a webhook naming a commit the engine already
    // has fetches nothing).
    let pushed_third = serde_json::to_vec(&serde_json::json!({"ref": "refs/heads/main", "after": third, "repository": {"clone_url": url, "html_url": "https://example.invalid/x"}})).unwrap();
    let r = hook("repo-hook", &pushed_third).await.unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while revision(ctl.clone()).await.as_deref() != Some(third.as_str()) {
        assert!(
            Instant::now() < deadline,
            "third commit not synced after the repository's webhook"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = http
        .delete(format!("{api}/api/v1/repositories/config"))
        .bearer_auth("t")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(hook("repo-hook", &body).await.unwrap().status(), 404);
}
