//! The served OpenAPI document against the answers the server really sends: each answer read
//! over HTTP has the fields its path's schema (generated from the API types) lists, and every
//! field the schema requires.

use std::collections::BTreeSet;
use std::sync::Arc;

use driftless_engine::controller::ControllerConfig;
use serde_json::Value;

const ADMIN: &str = "admin-token-0123456789";

const APP: &str = "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {name: web}\nspec:\n  source: {repoURL: \"https://example.invalid/r.git\", path: p}\n  destination: {namespace: default}\n";

/// The schema a `$ref` names (or the schema itself).
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// `answer`'s fields against the object schema `schema`: none the schema does not list,
/// none it requires missing; then the same for each of its `items`.
fn check(doc: &Value, schema: &Value, answer: &Value, what: &str) {
    let schema = resolve(doc, schema);
    let listed: BTreeSet<&str> = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object schema: {schema}"))
        .keys()
        .map(String::as_str)
        .collect();
    let written: BTreeSet<&str> = answer
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {answer}"))
        .keys()
        .map(String::as_str)
        .collect();
    let unknown: Vec<_> = written.difference(&listed).collect();
    assert!(
        unknown.is_empty(),
        "{what}: {unknown:?} not in the schema {listed:?}"
    );
    for r in schema["required"].as_array().into_iter().flatten() {
        let r = r.as_str().unwrap();
        assert!(
            written.contains(r),
            "{what}: required {r} missing: {answer}"
        );
    }
    if let Some(items) = answer["items"].as_array() {
        let item = &schema["properties"]["items"]["items"];
        for (i, x) in items.iter().enumerate() {
            check(doc, item, x, &format!("{what}/items/{i}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_have_the_fields_the_served_schemas_list() {
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
    let app = driftless_core::app::parse(APP, "t.yaml")
        .unwrap()
        .remove(0)
        .app;
    ctl.set_app(app, "test").await.unwrap();
    let op = ctl
        .store
        .begin_operation("web", "sync", "abc", &serde_json::json!({}))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let router = driftless_api::router(driftless_api::ApiState {
        controller: ctl.clone(),
        token: Arc::new(ADMIN.into()),
        webhook_secret: None,
        users: Arc::new(Vec::new()),
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let http = reqwest::Client::new();
    let get = async |path: &str| -> Value {
        let r = http
            .get(format!("{api}{path}"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    };

    let doc = get("/openapi.json").await;
    assert!(
        doc["components"]["schemas"]["AppView"]["properties"].is_object(),
        "the served document has the generated schemas"
    );
    let schema = |path: &str| -> Value {
        doc["paths"][format!("/api/v1{path}")]["get"]["responses"]["200"]["content"]
            ["application/json"]["schema"]
            .clone()
    };
    let one = get("/applications/web").await;
    check(
        &doc,
        &schema("/applications/{name}"),
        &one,
        "GET /applications/web",
    );
    // The list answers one of two pages: the records, or one summary line each.
    let [records, lines] = [0, 1].map(|i| schema("/applications")["oneOf"][i].clone());
    let page = get("/applications").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    check(&doc, &records, &page, "GET /applications");
    let page = get("/applications?summary=true").await;
    check(&doc, &lines, &page, "GET /applications?summary=true");
    let ops = get("/applications/web/operations").await;
    assert_eq!(ops["items"].as_array().map(Vec::len), Some(1));
    check(
        &doc,
        &schema("/applications/{name}/operations"),
        &ops,
        "operations",
    );
    let one = get(&format!("/applications/web/operations/{op}")).await;
    check(
        &doc,
        &schema("/applications/{name}/operations/{id}"),
        &one,
        "operation",
    );
    let audit = get("/audit").await;
    assert!(!audit["items"].as_array().unwrap().is_empty());
    check(&doc, &schema("/audit"), &audit, "audit");
    for path in ["/applications/web/history", "/applications/web/events"] {
        let answer = get(path).await;
        let route = path.replace("/web/", "/{name}/");
        check(&doc, &schema(&route), &answer, path);
    }
}
