//! The sandbox through HTTP, as clients see it: discovery as recorded, error transcripts
//! replayed byte for byte, CRUD semantics, watches, CRDs and garbage collection.

use std::time::Duration;

use driftless_sandbox::Sandbox;
use serde_json::{Value, json};

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(sb: &Sandbox) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: sb.url(),
            token: sb.token.clone(),
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("content-type", content_type.unwrap_or("application/json"))
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let code = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, None, Some(body)).await
    }

    /// Reads a watch stream until `n` events arrived (or 5 s passed).
    async fn watch(&self, path: &str, n: usize) -> Vec<Value> {
        let mut resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let mut buf = Vec::new();
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while events.len() < n {
            let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
                Ok(Ok(Some(c))) => c,
                _ => break,
            };
            buf.extend_from_slice(&chunk);
            while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                events.push(serde_json::from_slice(&line).unwrap());
            }
        }
        events
    }
}

fn transcript(name: &str) -> Value {
    let path = format!(
        "{}/tests/transcripts/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ns(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

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
        let req = &t["request"];
        let body = req["body"]
            .as_str()
            .map(|b| serde_json::from_str(b).unwrap());
        let got = c
            .send(
                req["method"].as_str().unwrap(),
                req["path"].as_str().unwrap(),
                req["contentType"].as_str(),
                body,
            )
            .await;
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

#[tokio::test]
async fn watches_replay_from_a_version_and_stream_changes() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    c.post("/api/v1/namespaces", ns("shop")).await;
    let (_, created) = c
        .post("/api/v1/namespaces/shop/configmaps", cm("a", json!({})))
        .await;
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    c.send(
        "PATCH",
        "/api/v1/namespaces/shop/configmaps/a",
        Some("application/merge-patch+json"),
        Some(json!({"data": {"k": "2"}})),
    )
    .await;
    c.send("DELETE", "/api/v1/namespaces/shop/configmaps/a", None, None)
        .await;
    let events = c.watch(&format!("/api/v1/namespaces/shop/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=2"), 2).await;
    let kinds: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["object"]["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, vec![("MODIFIED", "a"), ("DELETED", "a")]);
    assert_eq!(events[0]["object"]["kind"], "ConfigMap");

    // From 0: the current state as ADDED (transcript 20), then live changes.
    let watcher = {
        let c = Client::new(&sb);
        tokio::spawn(async move {
            c.watch(
                "/api/v1/namespaces/shop/configmaps?watch=true&resourceVersion=0&timeoutSeconds=3",
                2,
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.post("/api/v1/namespaces/shop/configmaps", cm("live", json!({})))
        .await;
    let events = watcher.await.unwrap();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["object"]["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![("ADDED", "kube-root-ca.crt"), ("ADDED", "live")]
    );
}

#[tokio::test]
async fn too_old_resource_versions_end_the_watch_with_410() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    // The initial namespaces were compacted away: resuming from before them is too old.
    let events = c
        .watch("/api/v1/namespaces?watch=true&resourceVersion=1", 1)
        .await;
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");
}

#[tokio::test]
async fn namespace_deletion_terminates_then_removes_contents() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    c.post("/api/v1/namespaces", ns("shop")).await;
    c.post("/api/v1/namespaces/shop/configmaps", cm("a", json!({})))
        .await;
    let (code, deleting) = c
        .send("DELETE", "/api/v1/namespaces/shop", None, None)
        .await;
    let recorded = &transcript("24-delete-namespace")["response"]["body"];
    assert_eq!(
        (code, deleting["status"].clone(), deleting["spec"].clone()),
        (200, recorded["status"].clone(), recorded["spec"].clone())
    );
    assert!(deleting["metadata"]["deletionTimestamp"].is_string());
    let (code, refused) = c
        .post("/api/v1/namespaces/shop/configmaps", cm("late", json!({})))
        .await;
    if code != 404 {
        assert_eq!(
            (code, refused["reason"].as_str().unwrap()),
            (403, "Forbidden")
        );
    }
    for _ in 0..50 {
        if c.get("/api/v1/namespaces/shop").await.0 == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.get("/api/v1/namespaces/shop").await.0, 404);
    assert_eq!(c.get("/api/v1/namespaces/shop/configmaps/a").await.0, 404);
}

#[tokio::test]
async fn owner_references_drive_foreground_and_background_deletion() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    c.post("/api/v1/namespaces", ns("shop")).await;
    for policy in ["Foreground", "Background"] {
        let (_, owner) = c
            .post("/api/v1/namespaces/shop/configmaps", cm("owner", json!({})))
            .await;
        let mut dep = cm("dependent", json!({}));
        dep["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}]);
        c.post("/api/v1/namespaces/shop/configmaps", dep).await;
        let (code, body) = c
            .send(
                "DELETE",
                &format!("/api/v1/namespaces/shop/configmaps/owner?propagationPolicy={policy}"),
                None,
                None,
            )
            .await;
        assert_eq!(code, 200);
        if policy == "Foreground" {
            assert_eq!(
                body["metadata"]["finalizers"],
                json!(["foregroundDeletion"]),
                "as in transcript 22"
            );
        }
        for _ in 0..50 {
            if c.get("/api/v1/namespaces/shop/configmaps/dependent")
                .await
                .0
                == 404
                && c.get("/api/v1/namespaces/shop/configmaps/owner").await.0 == 404
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            c.get("/api/v1/namespaces/shop/configmaps/dependent")
                .await
                .0,
            404,
            "{policy}"
        );
        assert_eq!(
            c.get("/api/v1/namespaces/shop/configmaps/owner").await.0,
            404,
            "{policy}"
        );
    }
}

#[tokio::test]
async fn crds_serve_their_custom_resources() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    c.post("/api/v1/namespaces", ns("shop")).await;
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}});
    let crd_again = crd.clone();
    assert_eq!(
        c.post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            crd
        )
        .await
        .0,
        201
    );
    let (code, w) = c.post("/apis/example.com/v1/namespaces/shop/widgets", json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 1}})).await;
    assert_eq!((code, w["metadata"]["generation"].as_i64()), (201, Some(1)));
    assert_eq!(
        c.get("/apis/example.com/v1").await.1["resources"][0]["name"],
        "widgets"
    );
    // Custom resources have no strategic-merge schema: refused, as on a real server.
    let (code, _) = c
        .send(
            "PATCH",
            "/apis/example.com/v1/namespaces/shop/widgets/w1",
            Some("application/strategic-merge-patch+json"),
            Some(json!({"spec": {"size": 2}})),
        )
        .await;
    assert_eq!(code, 415);
    assert_eq!(
        c.send(
            "DELETE",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
            None,
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        c.get("/apis/example.com/v1/namespaces/shop/widgets/w1")
            .await
            .1,
        Value::String("404 page not found\n".into())
    );
    // Recreating the CRD does not resurrect the old custom resources.
    c.post(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        crd_again,
    )
    .await;
    assert_eq!(
        c.get("/apis/example.com/v1/namespaces/shop/widgets/w1")
            .await
            .0,
        404
    );
}

/// Polls `path` until `check` holds (5 s at most); returns the last body.
async fn eventually(c: &Client, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = c.get(path).await;
        if check(&body) || tokio::time::Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn simulated_status_makes_health_meaningful() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    c.post("/api/v1/namespaces", ns("shop")).await;
    let deploy = |name: &str, image: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": image}]}}}})
    };
    assert_eq!(
        c.post(
            "/apis/apps/v1/namespaces/shop/deployments",
            deploy("good", "nginx:1.27")
        )
        .await
        .0,
        201
    );
    assert_eq!(
        c.post(
            "/apis/apps/v1/namespaces/shop/deployments",
            deploy("bad", "nginx:broken")
        )
        .await
        .0,
        201
    );
    let good = eventually(&c, "/apis/apps/v1/namespaces/shop/deployments/good", |d| {
        d["status"]["availableReplicas"] == 3
    })
    .await;
    assert_eq!(
        good["status"]["observedGeneration"],
        good["metadata"]["generation"]
    );
    assert_eq!(good["status"]["conditions"][0]["type"], "Available");
    assert_eq!(good["status"]["conditions"][0]["status"], "True");
    let bad = eventually(&c, "/apis/apps/v1/namespaces/shop/deployments/bad", |d| {
        d["status"]["conditions"].is_array()
    })
    .await;
    assert_eq!(
        bad["status"]["conditions"][1]["reason"],
        "ProgressDeadlineExceeded"
    );
    assert!(bad["status"].get("availableReplicas").is_none());

    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox"}]}}}});
    assert_eq!(
        c.post("/apis/batch/v1/namespaces/shop/jobs", job).await.0,
        201
    );
    let job = eventually(&c, "/apis/batch/v1/namespaces/shop/jobs/migrate", |j| {
        j["status"]["succeeded"] == 1
    })
    .await;
    assert!(
        job["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Complete" && c["status"] == "True")
    );

    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "selector": {"app": "good"}, "ports": [{"port": 80}]}});
    assert_eq!(c.post("/api/v1/namespaces/shop/services", svc).await.0, 201);
    let svc = eventually(&c, "/api/v1/namespaces/shop/services/lb", |s| {
        s["status"]["loadBalancer"]["ingress"].is_array()
    })
    .await;
    assert!(
        svc["status"]["loadBalancer"]["ingress"][0]["ip"]
            .as_str()
            .unwrap()
            .starts_with("172.18.255.")
    );
    assert_eq!(
        svc["spec"]["ports"][0]["targetPort"], 80,
        "defaulted from port"
    );
}

#[tokio::test]
async fn a_cluster_with_a_data_dir_survives_a_restart() {
    use driftless_sandbox::SandboxOptions;
    let data = tempfile::tempdir().unwrap();
    let opts = SandboxOptions {
        port: 0,
        data_dir: Some(data.path().to_path_buf()),
    };
    let rv_before = {
        let sb = Sandbox::start_with(opts.clone()).await.unwrap();
        let c = Client::new(&sb);
        c.post("/api/v1/namespaces", ns("shop")).await;
        c.post(
            "/api/v1/namespaces/shop/configmaps",
            cm("kept", json!({"app": "web"})),
        )
        .await;
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"}, "versions": [{"name": "v1", "served": true, "storage": true}]}});
        c.post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            crd,
        )
        .await;
        let (code, _) = c.post("/apis/example.com/v1/namespaces/shop/widgets", json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})).await;
        assert_eq!(code, 201);
        c.get("/api/v1/namespaces/shop/configmaps/kept").await.1["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    let sb = Sandbox::start_with(opts).await.unwrap();
    let c = Client::new(&sb);
    let (code, kept) = c.get("/api/v1/namespaces/shop/configmaps/kept").await;
    assert_eq!(
        (code, kept["metadata"]["labels"]["app"].as_str()),
        (200, Some("web"))
    );
    assert_eq!(
        c.get("/apis/example.com/v1/namespaces/shop/widgets/w")
            .await
            .0,
        200,
        "CRD types come back with their objects"
    );
    let (_, fresh) = c
        .post("/api/v1/namespaces/shop/configmaps", cm("new", json!({})))
        .await;
    assert!(
        fresh["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > rv_before,
        "resourceVersions keep growing"
    );
}
