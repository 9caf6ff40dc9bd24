//! The sandbox over time: watches, deletion and garbage collection, CRDs, simulated status,
//! persistence across restarts.

use crate::common;

use std::time::Duration;

use common::{Client, cm, eventually, ns, transcript};
use driftless_sandbox::Sandbox;
use serde_json::{Value, json};

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
    sb.with_store(|s| s.history_limit = 3);
    let c = Client::new(&sb);
    for name in ["a", "b", "c", "d"] {
        c.post("/api/v1/namespaces/default/configmaps", cm(name, json!({})))
            .await;
    }
    // Only the last three events are kept: resuming from before them is too old.
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
