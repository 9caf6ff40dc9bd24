//! Issue 13 defect 12 and RELIABILITY fault 15: a storm of identical webhooks for one
//! repository and commit costs one fetch; webhooks for a commit already fetched cost none.
//! Fetches are counted by the Git HTTP server's request log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_engine::controller::{Controller, ControllerConfig};
use driftless_testkit::http::{Auth, GitHttpServer};
use driftless_testkit::repo::TestRepo;

const SECRET: &str = "storm-secret";
const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: storm}\ndata: {mode: MODE}\n";

struct Rig {
    repo: TestRepo,
    git: GitHttpServer,
    url: String,
    api: String,
    ctl: Arc<Controller>,
    _dir: tempfile::TempDir,
    _sc: driftless_testkit::cluster::SandboxCluster,
    _stop: tokio::sync::watch::Sender<bool>,
}

fn sign(body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

async fn rig() -> Rig {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let repo = TestRepo::new("storm");
    repo.commit(&[("app/cm.yaml", Some(&CM.replace("MODE", "one")))], "one");
    let git = GitHttpServer::start(repo.root(), Auth::None);
    let url = git.url(&repo.name());
    let sc = driftless_testkit::cluster::sandbox_cluster().await;
    let dir = tempfile::tempdir().unwrap();
    // No polling (hourly): only webhooks bring commits in.
    let ctl = crate::common::controller(
        dir.path(),
        sc.cluster.client(),
        "sandbox",
        ControllerConfig {
            resync: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .await;
    let app = driftless_core::app::parse(
        &format!("apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: storm}}\nspec:\n  source: {{repoURL: \"{url}\", path: app}}\n  destination: {{namespace: default}}\n  syncPolicy: {{automated: {{}}}}\n"),
        "storm.yaml",
    )
    .unwrap()
    .remove(0)
    .app;
    ctl.set_app(app, "test").await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(ctl.clone().run(stopped));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let router = driftless_api::router(driftless_api::ApiState {
        controller: ctl.clone(),
        token: Arc::new("admin-token-0123456789".into()),
        webhook_secret: Some(Arc::new(SECRET.into())),
        users: Arc::default(),
    });
    tokio::spawn(driftless_api::serve(
        listener,
        router,
        driftless_api::Limits::default(),
        std::future::pending(),
    ));
    let r = Rig {
        repo,
        git,
        url,
        api,
        ctl,
        _dir: dir,
        _sc: sc,
        _stop: stop,
    };
    let first = r.repo.head();
    r.synced_at(&first).await;
    r
}

impl Rig {
    async fn status(&self) -> serde_json::Value {
        self.ctl
            .store
            .get_app("storm")
            .await
            .unwrap()
            .unwrap()
            .status
    }

    /// Waits until the app is synced at `sha`, then for two more reconciles (any fetch they
    /// would make is counted).
    async fn synced_at(&self, sha: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.status().await["sync"]["revision"].as_str() != Some(sha) {
            assert!(Instant::now() < deadline, "{sha} never synced");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for _ in 0..2 {
            let seen = self.status().await["reconciledAtMs"].clone();
            while self.status().await["reconciledAtMs"] == seen {
                assert!(Instant::now() < deadline, "no reconcile after the sync");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// `n` identical signed GitHub pushes of `sha`, all at once.
    async fn storm(&self, n: usize, sha: &str) {
        let body = serde_json::to_vec(&serde_json::json!({
            "ref": "refs/heads/main", "after": sha,
            "repository": {"clone_url": self.url},
        }))
        .unwrap();
        let http = reqwest::Client::new();
        let sends = (0..n).map(|_| {
            http.post(format!("{}/api/v1/webhooks/github", self.api))
                .header("content-type", "application/json")
                .header("x-hub-signature-256", sign(&body))
                .body(body.clone())
                .send()
        });
        for r in futures_util::future::join_all(sends).await {
            assert_eq!(r.unwrap().status(), 200);
        }
    }

    /// HTTP requests the Git server saw while `f` ran.
    async fn requests_during(&self, f: impl AsyncFnOnce()) -> usize {
        let before = self.git.requests();
        f().await;
        self.git.requests() - before
    }
}

/// Defect 12: fifty identical webhooks for a new commit cost exactly what one fetch costs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_12_webhook_storm_fetches_once_per_repository_and_sha() {
    let r = rig().await;
    // What one webhook (one fetch) costs, measured on this server.
    let second = r
        .repo
        .commit(&[("app/cm.yaml", Some(&CM.replace("MODE", "two")))], "two");
    let one = r
        .requests_during(async || {
            r.storm(1, &second).await;
            r.synced_at(&second).await;
        })
        .await;
    assert!(one > 0, "a webhook made no fetch at all");
    let third = r.repo.commit(
        &[("app/cm.yaml", Some(&CM.replace("MODE", "three")))],
        "three",
    );
    let fifty = r
        .requests_during(async || {
            r.storm(50, &third).await;
            r.synced_at(&third).await;
        })
        .await;
    assert_eq!(
        fifty, one,
        "50 webhooks cost {fifty} requests, one costs {one}"
    );
}

/// Fault 15: webhooks repeating a commit the engine already fetched fetch nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_15_webhook_storm_one_fetch_per_sha() {
    let r = rig().await;
    let head = r.repo.head();
    let extra = r
        .requests_during(async || {
            r.storm(50, &head).await;
            r.synced_at(&head).await;
        })
        .await;
    assert_eq!(
        extra, 0,
        "webhooks for a fetched commit made {extra} requests"
    );
}
