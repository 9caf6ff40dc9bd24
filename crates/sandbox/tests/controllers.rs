//! The controllers a real controller manager runs, as the sandbox runs them: Deployments own
//! ReplicaSets own Pods (revisions, hashes, copied annotations, old ReplicaSets scaled down
//! and pruned), StatefulSets, DaemonSets and Jobs own pods, Services get EndpointSlices,
//! garbage collection follows the owner references, pods have logs; rollouts can be held.

use std::time::Duration;

use crate::common::{Client, eventually, ns};
use driftless_sandbox::Sandbox;
use serde_json::{Value, json};

fn deployment(name: &str, image: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "annotations": {"driftless.dev/tracking-id": format!("shop:apps/Deployment:shop/{name}"), "team": "web"}},
        "spec": {"replicas": replicas, "revisionHistoryLimit": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "web", "image": image, "ports": [{"name": "http", "containerPort": 8080}]}]}}}})
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

fn names(list: &Value) -> Vec<String> {
    items(list)
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// Lists `path` until `check` holds on the items (5 s).
async fn list_until(c: &Client, path: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    items(&eventually(c, path, |l| check(&items(l))).await)
}

fn ready(p: &Value) -> bool {
    p["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

#[tokio::test]
async fn deployments_own_replica_sets_that_own_running_pods() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    c.post("/api/v1/namespaces", ns("shop")).await;
    let (code, d) = c
        .post(
            "/apis/apps/v1/namespaces/shop/deployments",
            deployment("web", "nginx:1.27", 2),
        )
        .await;
    assert_eq!(code, 201, "{d}");
    let d = eventually(&c, "/apis/apps/v1/namespaces/shop/deployments/web", |d| {
        d["status"]["availableReplicas"] == 2
    })
    .await;
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    assert_eq!(
        d["status"]["conditions"][1]["reason"],
        "NewReplicaSetAvailable"
    );

    let (_, rss) = c.get("/apis/apps/v1/namespaces/shop/replicasets").await;
    let rs = &items(&rss)[0];
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(rs["metadata"]["name"], format!("web-{hash}"));
    assert!(
        hash.bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)),
        "{hash}"
    );
    assert_eq!(
        rs["spec"]["selector"]["matchLabels"],
        json!({"app": "web", "pod-template-hash": hash})
    );
    let owner = &rs["metadata"]["ownerReferences"][0];
    assert_eq!(
        (
            owner["kind"].as_str(),
            owner["uid"].as_str(),
            owner["controller"].as_bool()
        ),
        (
            Some("Deployment"),
            d["metadata"]["uid"].as_str(),
            Some(true)
        )
    );
    let a = &rs["metadata"]["annotations"];
    assert_eq!(a["deployment.kubernetes.io/revision"], "1");
    assert_eq!(a["deployment.kubernetes.io/desired-replicas"], "2");
    assert_eq!(a["deployment.kubernetes.io/max-replicas"], "3");
    // The Deployment's annotations are copied, the tracking id too (naming the Deployment,
    // so trackers treat the ReplicaSet as a copy, not as theirs).
    assert_eq!(a["team"], "web");
    assert_eq!(
        a["driftless.dev/tracking-id"],
        "shop:apps/Deployment:shop/web"
    );
    assert_eq!(rs["status"]["readyReplicas"], 2);

    let (_, pods) = c
        .get("/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb")
        .await;
    let pods = items(&pods);
    assert_eq!(pods.len(), 2);
    for p in &pods {
        let name = p["metadata"]["name"].as_str().unwrap();
        assert!(
            name.starts_with(&format!("web-{hash}-"))
                && name.len() == format!("web-{hash}-").len() + 5,
            "{name}"
        );
        assert_eq!(
            p["metadata"]["ownerReferences"][0]["uid"],
            rs["metadata"]["uid"]
        );
        assert_eq!(p["metadata"]["labels"]["pod-template-hash"], hash.as_str());
        assert_eq!(p["status"]["phase"], "Running");
        assert!(ready(p), "{p}");
        assert!(
            p["status"]["podIP"]
                .as_str()
                .unwrap()
                .starts_with("10.244.")
        );
        assert_eq!(p["spec"]["nodeName"], "sandbox-node");
        assert!(
            p["metadata"]["annotations"]
                .get("driftless.dev/tracking-id")
                .is_none(),
            "pods carry no tracking id"
        );
    }
}

#[tokio::test]
async fn a_rollout_makes_a_new_revision_scales_the_old_down_and_keeps_the_history_limit() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    c.post("/api/v1/namespaces", ns("shop")).await;
    let path = "/apis/apps/v1/namespaces/shop/deployments";
    c.post(path, deployment("web", "nginx:1.27", 2)).await;
    eventually(&c, &format!("{path}/web"), |d| {
        d["status"]["availableReplicas"] == 2
    })
    .await;
    for (i, image) in ["nginx:1.28", "nginx:1.29"].iter().enumerate() {
        let (code, _) = c.send("PATCH", &format!("{path}/web"), Some("application/merge-patch+json"),
            Some(json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}}))).await;
        assert_eq!(code, 200);
        let rev = (i + 2).to_string();
        let d = eventually(&c, &format!("{path}/web"), |d| {
            d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == rev.as_str()
                && d["status"]["updatedReplicas"] == 2
                && d["status"]["replicas"] == 2
                && d["status"]["availableReplicas"] == 2
        })
        .await;
        assert_eq!(
            d["status"]["conditions"][1]["reason"], "NewReplicaSetAvailable",
            "{d}"
        );
    }
    // revisionHistoryLimit 1: the current ReplicaSet and one old one, scaled to 0.
    let rss = list_until(&c, "/apis/apps/v1/namespaces/shop/replicasets", |r| {
        r.len() == 2
    })
    .await;
    let mut revs: Vec<(String, i64)> = rss
        .iter()
        .map(|r| {
            (
                r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                r["spec"]["replicas"].as_i64().unwrap(),
            )
        })
        .collect();
    revs.sort();
    assert_eq!(revs, vec![("2".to_string(), 0), ("3".to_string(), 2)]);
    let pods = list_until(&c, "/api/v1/namespaces/shop/pods", |p| p.len() == 2).await;
    assert!(
        pods.iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "nginx:1.29")
    );
}

#[tokio::test]
async fn statefulsets_daemonsets_and_jobs_own_their_pods() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    c.post("/api/v1/namespaces", ns("data")).await;
    let tmpl = |app: &str| json!({"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": app, "image": "busybox:1.36"}]}});
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": tmpl("db")}});
    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": tmpl("agent")}});
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"}, "spec": {"completions": 2, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox:1.36"}]}}}});
    assert_eq!(
        c.post("/apis/apps/v1/namespaces/data/statefulsets", sts)
            .await
            .0,
        201
    );
    assert_eq!(
        c.post("/apis/apps/v1/namespaces/data/daemonsets", ds)
            .await
            .0,
        201
    );
    assert_eq!(
        c.post("/apis/batch/v1/namespaces/data/jobs", job).await.0,
        201
    );

    let sts = eventually(&c, "/apis/apps/v1/namespaces/data/statefulsets/db", |s| {
        s["status"]["readyReplicas"] == 3
    })
    .await;
    assert_eq!(
        sts["status"]["currentRevision"],
        sts["status"]["updateRevision"]
    );
    let (_, pods) = c
        .get("/api/v1/namespaces/data/pods?labelSelector=app%3Ddb")
        .await;
    let mut got = names(&pods);
    got.sort();
    assert_eq!(got, ["db-0", "db-1", "db-2"]);
    assert_eq!(
        items(&pods)[0]["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
        "db-0"
    );

    let ds = eventually(&c, "/apis/apps/v1/namespaces/data/daemonsets/agent", |d| {
        d["status"]["numberReady"] == 1
    })
    .await;
    assert_eq!(ds["status"]["desiredNumberScheduled"], 1, "one node");

    let job = eventually(&c, "/apis/batch/v1/namespaces/data/jobs/migrate", |j| {
        j["status"]["succeeded"] == 2
    })
    .await;
    assert!(
        job["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Complete")
    );
    let (_, pods) = c
        .get("/api/v1/namespaces/data/pods?labelSelector=job-name%3Dmigrate")
        .await;
    let pods = items(&pods);
    assert_eq!(pods.len(), 2);
    assert!(pods.iter().all(|p| p["status"]["phase"] == "Succeeded"));
}

#[tokio::test]
async fn without_nodes_pods_stay_pending_and_rollouts_progressing() {
    let sb = Sandbox::start(0).await.unwrap();
    sb.with_store(|s| s.schedulable = false);
    let c = Client::new(&sb);
    c.post("/api/v1/namespaces", ns("shop")).await;
    c.post(
        "/apis/apps/v1/namespaces/shop/deployments",
        deployment("web", "nginx:1.27", 2),
    )
    .await;
    let pods = list_until(&c, "/api/v1/namespaces/shop/pods", |p| {
        p.len() == 2 && p.iter().all(|p| p["status"]["conditions"].is_array())
    })
    .await;
    for p in &pods {
        assert_eq!(p["status"]["phase"], "Pending");
        assert_eq!(p["status"]["conditions"][0]["reason"], "Unschedulable");
    }
    let d = eventually(&c, "/apis/apps/v1/namespaces/shop/deployments/web", |d| {
        d["status"]["unavailableReplicas"] == 2
    })
    .await;
    assert_eq!(d["status"]["conditions"][1]["reason"], "ReplicaSetUpdated");
    assert_eq!(d["status"]["conditions"][0]["status"], "False");
    let (code, err) = c
        .get(&format!(
            "/api/v1/namespaces/shop/pods/{}/log",
            pods[0]["metadata"]["name"].as_str().unwrap()
        ))
        .await;
    assert_eq!(code, 400, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("is waiting to start"),
        "{err}"
    );
}

#[tokio::test]
async fn services_get_endpoint_slices_of_their_ready_pods_and_gc_removes_the_tree() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    c.post("/api/v1/namespaces", ns("shop")).await;
    c.post(
        "/apis/apps/v1/namespaces/shop/deployments",
        deployment("web", "nginx:1.27", 2),
    )
    .await;
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"tier": "front"}}, "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}});
    let (_, svc) = c.post("/api/v1/namespaces/shop/services", svc).await;
    let slices = list_until(
        &c,
        "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices",
        |s| {
            s.len() == 1
                && s[0]["endpoints"].as_array().is_some_and(|e| {
                    e.len() == 2 && e.iter().all(|e| e["conditions"]["ready"] == true)
                })
        },
    )
    .await;
    let slice = &slices[0];
    assert!(
        slice["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("web-")
    );
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "web"
    );
    assert_eq!(slice["metadata"]["labels"]["tier"], "front");
    assert_eq!(
        slice["metadata"]["ownerReferences"][0]["uid"],
        svc["metadata"]["uid"]
    );
    assert_eq!(
        slice["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
        "the named target port, resolved"
    );
    assert_eq!(slice["endpoints"][0]["targetRef"]["kind"], "Pod");

    // Deleting the Deployment takes its ReplicaSet and pods; the slice empties.
    assert_eq!(
        c.send(
            "DELETE",
            "/apis/apps/v1/namespaces/shop/deployments/web",
            None,
            None
        )
        .await
        .0,
        200
    );
    list_until(&c, "/api/v1/namespaces/shop/pods", <[Value]>::is_empty).await;
    assert!(items(&c.get("/apis/apps/v1/namespaces/shop/replicasets").await.1).is_empty());
    let slices = list_until(
        &c,
        "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices",
        |s| s[0]["endpoints"] == json!([]),
    )
    .await;
    assert_eq!(slices.len(), 1);
    assert_eq!(
        c.send("DELETE", "/api/v1/namespaces/shop/services/web", None, None)
            .await
            .0,
        200
    );
    list_until(
        &c,
        "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices",
        <[Value]>::is_empty,
    )
    .await;
}

#[tokio::test]
async fn pod_logs_are_generated_tailed_and_followed() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    c.post("/api/v1/namespaces", ns("shop")).await;
    let mut d = deployment("web", "nginx:1.27", 1);
    d["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar", "image": "envoy:1.30"}));
    c.post("/apis/apps/v1/namespaces/shop/deployments", d).await;
    let pods = list_until(&c, "/api/v1/namespaces/shop/pods", |p| {
        p.len() == 1 && ready(&p[0])
    })
    .await;
    let pod = pods[0]["metadata"]["name"].as_str().unwrap().to_string();
    let base = format!("/api/v1/namespaces/shop/pods/{pod}/log");
    let (code, err) = c.get(&base).await;
    assert_eq!(
        (code, err["message"].as_str().unwrap()),
        (
            400,
            format!(
                "a container name must be specified for pod {pod}, choose one of: [web sidecar]"
            )
            .as_str()
        )
    );
    let (code, err) = c.get(&format!("{base}?container=nope")).await;
    assert_eq!(
        (code, err["message"].as_str().unwrap()),
        (
            400,
            format!("container nope is not valid for pod {pod}").as_str()
        )
    );

    let (code, text) = c.get(&format!("{base}?container=web")).await;
    assert_eq!(code, 200);
    let text = text.as_str().unwrap().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "{text}");
    assert_eq!(lines[0], format!("web: starting nginx:1.27 in pod {pod}"));
    assert_eq!(lines[2], "web: listening on 0.0.0.0:8080");
    // Deterministic: read again, the same lines (plus any written since).
    let (_, again) = c.get(&format!("{base}?container=web")).await;
    assert!(again.as_str().unwrap().starts_with(&text));
    let (_, tail) = c
        .get(&format!("{base}?container=web&tailLines=1&timestamps=true"))
        .await;
    let tail = tail.as_str().unwrap();
    assert_eq!(tail.lines().count(), 1);
    assert!(
        tail.split(' ').next().unwrap().ends_with(".000000000Z"),
        "{tail}"
    );

    // follow: the lines so far, then new ones as they are written.
    let mut resp = c
        .http
        .get(format!(
            "{}{base}?container=web&follow=true&tailLines=0",
            sb.url()
        ))
        .bearer_auth(&sb.token)
        .send()
        .await
        .unwrap();
    let chunk = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let c = resp.chunk().await.unwrap().unwrap();
            if !c.is_empty() {
                return c;
            }
        }
    })
    .await
    .unwrap();
    let line = String::from_utf8(chunk.to_vec()).unwrap();
    assert!(line.starts_with("web: GET /"), "{line}");
}

/// Reads a Deployment straight from the store.
fn read_deployment(sb: &Sandbox, name: &str) -> Value {
    sb.with_store(|s| {
        let t = s
            .registry
            .find("apps", "v1", "deployments")
            .unwrap()
            .clone();
        s.get(&t, "shop", name).unwrap()
    })
}

fn reason(d: &Value) -> (String, String) {
    let c = &d["status"]["conditions"];
    (
        c[0]["status"].as_str().unwrap_or("-").to_string(),
        c[1]["reason"].as_str().unwrap_or("-").to_string(),
    )
}

fn create(sb: &Sandbox, obj: Value) {
    sb.with_store(|s| {
        let (group, plural) = match obj["kind"].as_str().unwrap() {
            "Namespace" => ("", "namespaces"),
            _ => ("apps", "deployments"),
        };
        let t = s.registry.find(group, "v1", plural).unwrap().clone();
        s.create(&t, if group.is_empty() { "" } else { "shop" }, obj, false)
            .unwrap();
    });
}

// A paused clock: minutes pass in milliseconds, and the sandbox's controllers follow it.
#[tokio::test(start_paused = true)]
async fn a_held_rollout_stays_progressing_for_minutes_then_completes() {
    let sb = Sandbox::start(0).await.unwrap();
    sb.with_store(|s| s.rollout_hold = Some(Duration::from_secs(240)));
    create(&sb, ns("shop"));
    create(&sb, deployment("web", "nginx:1.27", 2));
    tokio::time::sleep(Duration::from_secs(200)).await;
    let d = read_deployment(&sb, "web");
    assert_eq!(
        reason(&d),
        ("False".into(), "ReplicaSetUpdated".into()),
        "{d}"
    );
    assert_eq!(d["status"]["unavailableReplicas"], 2);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let d = read_deployment(&sb, "web");
    assert_eq!(
        reason(&d),
        ("True".into(), "NewReplicaSetAvailable".into()),
        "{d}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rollout_held_by_annotation_waits_for_release_or_its_deadline() {
    let sb = Sandbox::start(0).await.unwrap();
    create(&sb, ns("shop"));
    let mut held = deployment("held", "nginx:1.27", 1);
    held["metadata"]["annotations"]["sandbox.driftless.dev/hold-rollout"] = json!("forever");
    create(&sb, held.clone());
    let mut late = held;
    late["metadata"]["name"] = json!("late");
    late["spec"]["progressDeadlineSeconds"] = json!(300);
    create(&sb, late);
    create(&sb, deployment("free", "nginx:1.27", 1));
    tokio::time::sleep(Duration::from_secs(200)).await;
    assert_eq!(
        reason(&read_deployment(&sb, "free")).1,
        "NewReplicaSetAvailable"
    );
    assert_eq!(reason(&read_deployment(&sb, "held")).1, "ReplicaSetUpdated");
    // Released on demand: the rollout completes.
    assert_eq!(
        sb.with_store(|s| s.release_rollouts(Some("shop"), Some("held"))),
        1
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        reason(&read_deployment(&sb, "held")),
        ("True".into(), "NewReplicaSetAvailable".into())
    );
    // Never released: past progressDeadlineSeconds it is reported as a real one would be.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(
        reason(&read_deployment(&sb, "late")),
        ("False".into(), "ProgressDeadlineExceeded".into())
    );
}
