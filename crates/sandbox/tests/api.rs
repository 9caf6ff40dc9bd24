//! The sandbox through HTTP, as clients see it: discovery as recorded, auth, error transcripts
//! replayed byte for byte, CRUD and list semantics.

use crate::common;

use common::{Client, cm, ns, transcript};
use driftless_sandbox::Sandbox;
use serde_json::{Value, json};

#[tokio::test]
async fn discovery_and_openapi_are_served_as_recorded() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    let recorded = |f: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/assets/v1.36/discovery/{f}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(c.get("/api").await, (200, recorded("api.json")));
    assert_eq!(c.get("/api/v1").await, (200, recorded("api_v1.json")));
    assert_eq!(
        c.get("/apis/apps/v1").await,
        (200, recorded("apis_apps_v1.json"))
    );
    assert_eq!(c.get("/apis").await, (200, recorded("apis.json")));
    let (code, v2) = c.get("/openapi/v2").await;
    assert_eq!(code, 200);
    assert!(v2["definitions"]["io.k8s.api.apps.v1.Deployment"].is_object());
    assert_eq!(c.get("/version").await.1["minor"], "36");
    let agg = c
        .http
        .get(format!("{}/apis", sb.url()))
        .bearer_auth(&sb.token)
        .header(
            "accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        )
        .send()
        .await
        .unwrap();
    assert!(
        agg.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("as=APIGroupDiscoveryList")
    );
    let agg: Value = agg.json().await.unwrap();
    let apps = agg["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "apps")
        .unwrap();
    assert!(
        apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resource"] == "deployments" && r["scope"] == "Namespaced")
    );
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized_and_loopback_allows_anonymous() {
    let sb = Sandbox::start(0).await.unwrap();
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/namespaces", sb.url()))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (body["reason"].as_str(), body["code"].as_u64()),
        (Some("Unauthorized"), Some(401))
    );
    // kubectl sends no bearer token over plain HTTP; the sandbox binds loopback only.
    assert!(sb.addr.ip().is_loopback());
    assert_eq!(
        reqwest::get(format!("{}/api/v1/namespaces", sb.url()))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn error_transcripts_replay_exactly() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    c.post("/api/v1/namespaces", ns("shop")).await;
    for name in [
        "14-get-missing",
        "15-apply-unknown-kind",
        "23-delete-missing",
    ] {
        let t = transcript(name);
        let got = c.replay(name).await;
        assert_eq!(
            got,
            (
                t["response"]["status"].as_u64().unwrap() as u16,
                t["response"]["body"].clone()
            ),
            "{name}"
        );
    }
}

#[tokio::test]
async fn namespaces_are_created_with_the_recorded_defaults_and_seeded() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    let (code, created) = c.post("/api/v1/namespaces", ns("shop")).await;
    assert_eq!(code, 201);
    let recorded = &transcript("01-create-namespace")["response"]["body"];
    assert_eq!(
        created["metadata"]["labels"],
        recorded["metadata"]["labels"]
    );
    assert_eq!(created["spec"], recorded["spec"]);
    assert_eq!(created["status"], recorded["status"]);
    assert_eq!(created["metadata"]["uid"].as_str().unwrap().len(), 36);
    // The controllers' seed objects, as on a real cluster.
    assert_eq!(
        c.get("/api/v1/namespaces/shop/configmaps/kube-root-ca.crt")
            .await
            .0,
        200
    );
    assert_eq!(
        c.get("/api/v1/namespaces/shop/serviceaccounts/default")
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn create_update_patch_conflicts_and_errors() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    let (code, body) = c
        .post("/api/v1/namespaces/nowhere/configmaps", cm("a", json!({})))
        .await;
    assert_eq!(
        (code, body["message"].as_str().unwrap()),
        (404, "namespaces \"nowhere\" not found")
    );
    c.post("/api/v1/namespaces", ns("shop")).await;
    let (code, first) = c
        .post(
            "/api/v1/namespaces/shop/configmaps",
            cm("a", json!({"app": "web"})),
        )
        .await;
    assert_eq!(code, 201);
    assert!(
        first["metadata"].get("generation").is_none(),
        "ConfigMaps have no generation (transcript 09)"
    );
    let (code, dup) = c
        .post("/api/v1/namespaces/shop/configmaps", cm("a", json!({})))
        .await;
    assert_eq!(
        (
            code,
            dup["reason"].as_str().unwrap(),
            dup["message"].as_str().unwrap()
        ),
        (409, "AlreadyExists", "configmaps \"a\" already exists")
    );

    let mut update = first.clone();
    update["data"]["k"] = json!("v2");
    let (code, updated) = c
        .send(
            "PUT",
            "/api/v1/namespaces/shop/configmaps/a",
            None,
            Some(update.clone()),
        )
        .await;
    assert_eq!((code, updated["data"]["k"].as_str().unwrap()), (200, "v2"));
    assert_ne!(
        updated["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );
    // The same stale resourceVersion again: the object has moved on.
    let (code, stale) = c
        .send(
            "PUT",
            "/api/v1/namespaces/shop/configmaps/a",
            None,
            Some(update),
        )
        .await;
    assert_eq!(code, 409);
    assert_eq!(
        stale["message"],
        "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );

    let (code, patched) = c
        .send(
            "PATCH",
            "/api/v1/namespaces/shop/configmaps/a",
            Some("application/merge-patch+json"),
            Some(json!({"data": {"extra": "1", "k": null}})),
        )
        .await;
    assert_eq!(
        (code, patched["data"].clone()),
        (200, json!({"extra": "1"}))
    );
    let ops = json!([{"op": "add", "path": "/metadata/labels/tier", "value": "db"}]);
    let (code, patched) = c
        .send(
            "PATCH",
            "/api/v1/namespaces/shop/configmaps/a",
            Some("application/json-patch+json"),
            Some(ops),
        )
        .await;
    assert_eq!(
        (
            code,
            patched["metadata"]["labels"]["tier"].as_str().unwrap()
        ),
        (200, "db")
    );
    let (code, apply) = c
        .send(
            "PATCH",
            "/api/v1/namespaces/shop/configmaps/a?fieldManager=x",
            Some("application/apply-patch+yaml"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        code, 400,
        "an apply body without apiVersion is refused: {apply}"
    );
    assert_eq!(
        apply["message"],
        "the API version in the data () does not match the expected API version (v1)"
    );

    let (code, dry) = c
        .post(
            "/api/v1/namespaces/shop/configmaps?dryRun=All",
            cm("dry", json!({})),
        )
        .await;
    assert_eq!(
        (code, dry["metadata"]["name"].as_str().unwrap()),
        (201, "dry")
    );
    assert_eq!(
        c.get("/api/v1/namespaces/shop/configmaps/dry").await.0,
        404,
        "dry run stores nothing"
    );
    let (code, deploy) = c.post("/apis/apps/v1/namespaces/shop/deployments", json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})).await;
    assert_eq!(
        (code, deploy["metadata"]["generation"].as_i64()),
        (201, Some(1))
    );
    let (_, bumped) = c
        .send(
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/web",
            Some("application/merge-patch+json"),
            Some(json!({"spec": {"replicas": 3}})),
        )
        .await;
    assert_eq!(bumped["metadata"]["generation"], 2);
}

#[tokio::test]
async fn lists_filter_and_paginate_like_the_real_server() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    c.post("/api/v1/namespaces", ns("shop")).await;
    for (n, app) in [("a", "web"), ("b", "db"), ("c", "web")] {
        c.post(
            "/api/v1/namespaces/shop/configmaps",
            cm(n, json!({"app": app})),
        )
        .await;
    }
    let (_, web) = c
        .get("/api/v1/namespaces/shop/configmaps?labelSelector=app%3Dweb")
        .await;
    let names: Vec<_> = web["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["a", "c"]);
    assert_eq!(web["kind"], "ConfigMapList");
    assert!(
        web["items"][0].get("kind").is_none(),
        "list items carry no kind (transcript 18)"
    );
    let (_, by_name) = c
        .get("/api/v1/configmaps?fieldSelector=metadata.name%3Db")
        .await;
    assert_eq!(by_name["items"].as_array().unwrap().len(), 1);

    // Page through every ConfigMap of every namespace two at a time.
    let (_, all) = c.get("/api/v1/configmaps").await;
    let total = all["items"].as_array().unwrap().len();
    let mut seen = Vec::new();
    let mut path = "/api/v1/configmaps?limit=2".to_string();
    loop {
        let (_, page) = c.get(&path).await;
        seen.extend(page["items"].as_array().unwrap().iter().map(|i| {
            format!(
                "{}/{}",
                i["metadata"]["namespace"].as_str().unwrap(),
                i["metadata"]["name"].as_str().unwrap()
            )
        }));
        match page["metadata"]["continue"].as_str() {
            Some(tok) => {
                assert_eq!(
                    page["metadata"]["remainingItemCount"].as_u64().unwrap() as usize,
                    total - seen.len()
                );
                path = format!("/api/v1/configmaps?limit=2&continue={tok}");
            }
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!((seen.len(), seen.clone()), (total, sorted));
}
