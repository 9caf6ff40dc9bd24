//! Users and roles on the API: the engine's token is admin, a `readonly` user only reads,
//! an approver reads and may approve promotions; pipelines, promotions and DORA figures are
//! served. The controller runs on the sandbox; the API on loopback.

use std::sync::Arc;

use driftless_core::users::Caller;
use driftless_engine::controller::ControllerConfig;
use reqwest::StatusCode;
use serde_json::Value;

const PIPELINE: &str = "apiVersion: driftless.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: shop}\nspec:\n  freight: [{image: shop}]\n  stages:\n  - {name: dev, applications: [shop-dev]}\n  - {name: prod, applications: [shop-prod], approval: {required: 1, role: release}}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_who_may_act_and_pipelines_are_served() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sc = driftless_testkit::cluster::sandbox_cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let ctl = crate::common::controller(
        dir.path(),
        sc.cluster.client(),
        "sandbox",
        ControllerConfig::default(),
    )
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let user = |name: &str, role: &str| Caller {
        name: name.into(),
        roles: vec![role.into()],
    };
    let router = driftless_api::router(driftless_api::ApiState {
        controller: ctl.clone(),
        token: Arc::new("admin-token-0123456789".into()),
        webhook_secret: None,
        users: Arc::new(vec![
            ("alice-token-0123456789".into(), user("alice", "release")),
            ("rita-token-0123456789".into(), user("rita", "readonly")),
        ]),
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, token: &str| {
        http.request(method, format!("{api}{path}"))
            .bearer_auth(token)
    };
    let status = |r: reqwest::Response| r.status();
    use reqwest::Method as M;
    const ADMIN: &str = "admin-token-0123456789";
    const ALICE: &str = "alice-token-0123456789";
    const RITA: &str = "rita-token-0123456789";

    let me: Value = call(M::GET, "/whoami", ALICE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["name"].as_str(), me["admin"].as_bool()),
        (Some("alice"), Some(false))
    );
    assert_eq!(
        status(
            call(M::GET, "/whoami", "nope-0123456789")
                .send()
                .await
                .unwrap()
        ),
        StatusCode::UNAUTHORIZED
    );
    let me: Value = call(M::GET, "/whoami", ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["name"].as_str(), me["admin"].as_bool()),
        (Some("api"), Some(true))
    );

    // Creating a pipeline needs admin.
    let r = call(M::POST, "/pipelines", ALICE)
        .body(PIPELINE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("alice (roles: release) may only read and approve"),
        "{body}"
    );
    assert_eq!(
        status(
            call(M::POST, "/pipelines", ADMIN)
                .body(PIPELINE)
                .send()
                .await
                .unwrap()
        ),
        StatusCode::CREATED
    );
    let stored = ctl.store.list_definitions("Pipeline").await.unwrap();
    assert_eq!(stored.len(), 1, "API-created pipelines are kept");
    let view: Value = call(M::GET, "/pipelines/shop", RITA)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stages: Vec<&str> = view["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["dev", "prod"]);
    assert_eq!(view["stages"][1]["from"], "dev");

    // Reads for everyone; actions for admin; approvals for approvers only.
    assert_eq!(
        status(
            call(M::POST, "/applications/x/sync", RITA)
                .send()
                .await
                .unwrap()
        ),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(
            call(M::POST, "/applications/x/sync", ALICE)
                .send()
                .await
                .unwrap()
        ),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(
            call(M::POST, "/promotions/7/approve", RITA)
                .send()
                .await
                .unwrap()
        ),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(
            call(M::POST, "/promotions/7/approve", ALICE)
                .send()
                .await
                .unwrap()
        ),
        StatusCode::NOT_FOUND
    );
    let r = call(M::POST, "/pipelines/shop/promote", ADMIN)
        .json(&serde_json::json!({"to": "dev"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("first of pipeline shop"),
        "{body}"
    );
    let list: Value = call(M::GET, "/promotions?pipeline=shop", RITA)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"], serde_json::json!([]));
    let dora: Value = call(M::GET, "/dora?pipeline=shop&days=7", RITA)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (dora["stage"].as_str(), dora["dora"]["deployments"].as_u64()),
        (Some("prod"), Some(0))
    );
    assert_eq!(
        status(call(M::GET, "/dora", RITA).send().await.unwrap()),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(
            call(M::DELETE, "/pipelines/shop", ADMIN)
                .send()
                .await
                .unwrap()
        ),
        StatusCode::OK
    );
    assert!(
        ctl.store
            .list_definitions("Pipeline")
            .await
            .unwrap()
            .is_empty()
    );
    let audit = ctl.store.list_audit(&Default::default()).await.unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|a| (a.actor.as_str(), a.action.as_str()))
        .collect();
    assert!(
        actions.contains(&("api", "pipeline.create"))
            && actions.contains(&("api", "pipeline.delete")),
        "{actions:?}"
    );
}
