//! The flow diagram and the resource tree in headless Chromium against `driftless up --demo`:
//! Mermaid draws the live configuration with the seed's groups (and a 100-application one),
//! nodes link to their pages, a Deployment expands to its ReplicaSet and Pod and a Service to
//! its EndpointSlice (made with kubectl as their controllers would), a resource's events, a
//! pod's logs as the API answers them, Secrets masked, the tree as the permission boundary,
//! and a 600-pod tree that stays fluid. Writes `docs/images/` with
//! `DRIFTLESS_DOCS_SCREENSHOTS=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use driftless_testkit::browser::Browser;

use super::{WAIT, kubectl, login};
use crate::up::{all_synced_and_healthy, start_up};

/// The running demo a step works on.
struct Ctx<'a> {
    dir: &'a Path,
    api: &'a str,
    admin: &'a str,
    http: &'a reqwest::Client,
}

/// An owner reference, not a controlling one: the sandbox runs real controllers now (its
/// Deployment and ReplicaSet controllers scale down and replace what they control), and these
/// hand-made objects with fixed names must stay as the test made them. The tree follows every
/// owner reference, controlling or not.
fn owner_ref(kind: &str, api_version: &str, name: &str, uid: &str) -> String {
    format!(
        "ownerReferences: [{{apiVersion: {api_version}, kind: {kind}, name: {name}, uid: {uid}, controller: false, blockOwnerDeletion: true}}]"
    )
}

/// Creates `yaml` with kubectl (objects made the way a controller makes them).
fn kubectl_create(dir: &std::path::Path, name: &str, yaml: &str) -> String {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    kubectl(
        dir,
        &[
            "create",
            "-o",
            "jsonpath={.metadata.uid}",
            "-f",
            file.to_str().unwrap(),
        ],
    )
}

/// Where the screenshots for the README go: `docs/images/` when
/// `DRIFTLESS_DOCS_SCREENSHOTS=1` (see README: anyone can regenerate them), else the test
/// artifacts.
fn screenshot_dir() -> PathBuf {
    if std::env::var("DRIFTLESS_DOCS_SCREENSHOTS").as_deref() == Ok("1") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/images")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flow_diagram_and_the_resource_tree_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let (_guard, api) = start_up(dir.path());
    let admin = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
    let http = reqwest::Client::new();
    all_synced_and_healthy(&http, &api, &admin).await;
    let c = Ctx {
        dir: dir.path(),
        api: &api,
        admin: &admin,
        http: &http,
    };
    let shots = screenshot_dir();
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots/pod-logs.png");
    let rs_uid = seed_controller_objects(&c);
    let b = Browser::start().await;
    login(&b, &api, &admin).await;
    flow_page(&c, &b, &shots).await;
    super::fleet::mermaid_takes_a_fleet(&b).await;
    walk_the_tree(&b, &shots).await;
    pod_logs(&c, &b, &artifacts).await;
    tree_is_the_boundary(&c).await;
    for shot in [
        shots.join("flow.png"),
        shots.join("resource-tree.png"),
        artifacts.clone(),
    ] {
        let png = std::fs::read(&shot).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 5_000,
            "{}",
            shot.display()
        );
    }
    secrets_are_masked(&c).await;
    a_large_tree_stays_fluid(&c, &b, &rs_uid).await;
}

/// What a Deployment controller and a ReplicaSet controller make; returns the ReplicaSet's uid.
fn seed_controller_objects(c: &Ctx<'_>) -> String {
    let dir = c.dir;
    // What a Deployment controller and a ReplicaSet controller make: a ReplicaSet owned by
    // the Deployment, a Pod owned by the ReplicaSet, and an Event about the Deployment.
    let ns = ["-n", "demo-prod"];
    let deploy_uid = kubectl(
        dir,
        &[
            ns[0],
            ns[1],
            "get",
            "deployment/guestbook",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
    );
    let rs_uid = kubectl_create(
        dir,
        "rs",
        &format!(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: guestbook-5d8f7c9b4\n  namespace: demo-prod\n  labels: {{app.kubernetes.io/name: guestbook, pod-template-hash: 5d8f7c9b4}}\n  {}\nspec:\n  replicas: 0\n  selector: {{matchLabels: {{app.kubernetes.io/name: guestbook, pod-template-hash: 5d8f7c9b4}}}}\n  template:\n    metadata: {{labels: {{app.kubernetes.io/name: guestbook, pod-template-hash: 5d8f7c9b4}}}}\n    spec: {{containers: [{{name: guestbook, image: registry.example.com/guestbook:1.1.0}}]}}\n",
            owner_ref("Deployment", "apps/v1", "guestbook", &deploy_uid)
        ),
    );
    kubectl_create(
        dir,
        "pod",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: guestbook-5d8f7c9b4-x7k2p\n  namespace: demo-prod\n  labels: {{app.kubernetes.io/name: guestbook, pod-template-hash: 5d8f7c9b4}}\n  {}\nspec: {{containers: [{{name: guestbook, image: registry.example.com/guestbook:1.1.0}}]}}\n",
            owner_ref("ReplicaSet", "apps/v1", "guestbook-5d8f7c9b4", &rs_uid)
        ),
    );
    let svc_uid = kubectl(
        dir,
        &[
            ns[0],
            ns[1],
            "get",
            "service/guestbook",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
    );
    kubectl_create(
        dir,
        "slice",
        &format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: guestbook-abcde\n  namespace: demo-prod\n  labels: {{kubernetes.io/service-name: guestbook}}\n  {}\naddressType: IPv4\nendpoints: [{{addresses: [10.0.0.7], conditions: {{ready: true}}}}]\nports: [{{port: 8080, protocol: TCP}}]\n",
            owner_ref("Service", "v1", "guestbook", &svc_uid)
        ),
    );
    kubectl_create(
        dir,
        "event",
        &format!(
            "apiVersion: v1\nkind: Event\nmetadata: {{name: guestbook.scaled, namespace: demo-prod}}\ninvolvedObject: {{apiVersion: apps/v1, kind: Deployment, name: guestbook, namespace: demo-prod, uid: {deploy_uid}}}\nreason: ScalingReplicaSet\nmessage: Scaled up replica set guestbook-5d8f7c9b4 from 0 to 1\ntype: Normal\ncount: 1\nsource: {{component: deployment-controller}}\nfirstTimestamp: \"2026-12-04T23:00:00Z\"\nlastTimestamp: \"2026-12-04T23:00:00Z\"\n"
        ),
    );

    rs_uid
}

async fn flow_page(c: &Ctx<'_>, b: &Browser, shots: &Path) {
    let (dir, api) = (c.dir, c.api);
    // The flow page: Mermaid draws an SVG with the seed's groups, no parse error.
    b.goto(&format!("{api}/ui/#/graph")).await;
    b.wait_for(
        "the flow diagram drawn",
        "document.querySelector('#flow svg .flow-link[data-name=\"guestbook-prod\"]')",
        Duration::from_secs(60),
    )
    .await;
    let drawn = b
        .eval(
            "const s = document.querySelector('#flow svg'); return {text: s.textContent, \
             clusters: s.querySelectorAll('g.cluster').length, \
             apps: [...s.querySelectorAll('.flow-link[data-kind=application]')].map(e => e.dataset.name).sort(), \
             error: !!document.querySelector('#flow [role=alert]') || s.textContent.includes('Syntax error')};",
            serde_json::json!([]),
        )
        .await;
    let text = drawn["text"].as_str().unwrap();
    for group in [
        "Source control",
        "CI: what triggers a sync",
        "CD: Driftless engine",
        "Platform: clusters and the stages they host",
        "cluster in-cluster",
        "stage prod · pipeline guestbook",
        "policy gate",
        "approval ×1 (release)",
    ] {
        assert!(text.contains(group), "{group:?} not drawn: {text}");
    }
    assert_eq!(drawn["error"], false, "{drawn}");
    assert!(drawn["clusters"].as_u64().unwrap() >= 7, "{drawn}");
    assert_eq!(
        drawn["apps"],
        serde_json::json!(["guestbook-dev", "guestbook-prod", "guestbook-staging"])
    );
    b.screenshot(&shots.join("flow.png")).await;

    // Stages link to their pipeline, clusters to the applications they host.
    let kinds = b
        .eval(
            "return [...document.querySelectorAll('#flow svg .flow-link')].map(e => e.dataset.kind + ':' + e.dataset.name).sort();",
            serde_json::json!([]),
        )
        .await;
    for link in ["cluster:in-cluster", "pipeline:guestbook"] {
        assert!(
            kinds.as_array().unwrap().iter().any(|k| k == link),
            "{link} not a link: {kinds}"
        );
    }
    // The CLI prints the same diagram, scoped.
    let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args([
            "graph",
            "-o",
            "mermaid",
            "--pipeline",
            "guestbook",
            "--data-dir",
        ])
        .arg(dir)
        .env("DRIFTLESS_SERVER", api)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        printed.starts_with("flowchart LR\n")
            && printed.contains("subgraph scm[\"Source control\"]")
            && printed.contains("stage prod · pipeline guestbook"),
        "{printed}"
    );
}

async fn walk_the_tree(b: &Browser, shots: &Path) {
    // A click on an application's node opens its page.
    b.click("#flow svg .flow-link[data-name='guestbook-prod']")
        .await;
    b.wait_for(
        "the app page of guestbook-prod",
        "location.hash === '#/apps/guestbook-prod' && document.querySelector('h1') && document.querySelector('h1').textContent.includes('guestbook-prod')",
        WAIT,
    )
    .await;

    // The tree: Deployment → ReplicaSet → Pod, expanded level by level.
    b.click("li[data-kind='Deployment'] > button[data-toggle]")
        .await;
    b.click("li[data-kind='ReplicaSet'][data-name='guestbook-5d8f7c9b4'] > button[data-toggle]")
        .await;
    b.wait_for(
        "the pod under its ReplicaSet under the Deployment",
        "document.querySelector(\"li[data-kind='Deployment'] li[data-kind='ReplicaSet'] li[data-kind='Pod'][data-name='guestbook-5d8f7c9b4-x7k2p']\")",
        WAIT,
    )
    .await;

    // Service → EndpointSlice.
    b.click("li[data-kind='Service'] > button[data-toggle]")
        .await;
    b.wait_for(
        "the Service's EndpointSlice",
        "document.querySelector(\"li[data-kind='Service'] li[data-kind='EndpointSlice'][data-name='guestbook-abcde']\")",
        WAIT,
    )
    .await;

    // The Deployment's events (the Kubernetes Events about it).
    b.click("li[data-kind='Deployment'] > button.node").await;
    b.click("#tab-events").await;
    b.wait_for(
        "the Deployment's event",
        "document.getElementById('node-events') && document.getElementById('node-events').textContent.includes('Scaled up replica set guestbook-5d8f7c9b4 from 0 to 1')",
        WAIT,
    )
    .await;
    b.screenshot(&shots.join("resource-tree.png")).await;
    // Its live manifest, and the desired one from Git.
    b.click("#tab-desired").await;
    b.wait_for(
        "the desired manifest",
        "document.getElementById('node-body').textContent.includes('registry.example.com/guestbook')",
        WAIT,
    )
    .await;
}

async fn pod_logs(c: &Ctx<'_>, b: &Browser, artifacts: &Path) {
    let (api, admin, http) = (c.api, c.admin, c.http);
    // The pod's logs, streamed through the API: what the UI shows is what the API answers.
    b.click("li[data-kind='Pod'][data-name='guestbook-5d8f7c9b4-x7k2p'] > button.node")
        .await;
    b.click("#tab-logs").await;
    // The same request as the page's (followed, so a successful answer is read chunk-wise),
    // once the pod's container has started (the sandbox's kubelet runs it after a moment, and
    // until then answers as a real one does: 400, waiting to start).
    let deadline = std::time::Instant::now() + WAIT;
    let mut logs = loop {
        let r = http
            .get(format!(
                "{api}/api/v1/applications/guestbook-prod/pods/demo-prod/guestbook-5d8f7c9b4-x7k2p/log?tailLines=500&follow=true"
            ))
            .bearer_auth(admin.trim())
            .send()
            .await
            .unwrap();
        if r.status().is_success() {
            break r;
        }
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        assert!(
            std::time::Instant::now() < deadline,
            "the pod's logs: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let chunk = logs.chunk().await.unwrap().expect("the pod has log lines");
    let text = String::from_utf8_lossy(&chunk).to_string();
    let first = text.lines().next().expect("a log line");
    let q = serde_json::to_string(first).unwrap();
    // The page opened the logs before the container started: follow it again.
    b.click("#tab-logs").await;
    b.wait_for(
        "the pod's log lines",
        &format!("document.getElementById('log-lines').textContent.includes({q})"),
        WAIT,
    )
    .await;
    // A test artifact (the README shows the flow and the tree).
    b.screenshot(artifacts).await;
}

async fn tree_is_the_boundary(c: &Ctx<'_>) {
    let (dir, api, admin, http) = (c.dir, c.api, c.admin, c.http);
    // The tree is the boundary: an object outside it, or a pod of another application, is
    // not answered; a read-only user reads what every reader reads.
    let viewer = std::fs::read_to_string(dir.join("demo/tokens/viewer")).unwrap();
    let status = |path: String, token: String| {
        let req = http
            .get(format!("{api}/api/v1/applications/{path}"))
            .bearer_auth(token.trim().to_string());
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let outside = "guestbook-prod/resource?version=v1&kind=ConfigMap&namespace=kube-system&name=kube-root-ca.crt";
    assert_eq!(status(outside.into(), admin.to_string()).await, 404);
    let other = "guestbook-dev/pods/demo-prod/guestbook-5d8f7c9b4-x7k2p/log?tailLines=1";
    assert_eq!(status(other.into(), admin.to_string()).await, 404);
    let pod = "guestbook-prod/resource?version=v1&kind=Pod&namespace=demo-prod&name=guestbook-5d8f7c9b4-x7k2p";
    assert_eq!(status(pod.into(), viewer.clone()).await, 200);
    assert_eq!(
        status(format!("{pod}/../events"), viewer).await,
        404,
        "no path tricks"
    );
}

async fn secrets_are_masked(c: &Ctx<'_>) {
    let (dir, api, admin, http) = (c.dir, c.api, c.admin, c.http);
    // A Secret the application declares: its live and desired manifests answer masked.
    let repo = dir.join("demo/repo");
    std::fs::write(
        repo.join("envs/prod/secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: guestbook-db}\nstringData: {password: hunter2-correct-horse}\n",
    )
    .unwrap();
    let kustomization = repo.join("envs/prod/kustomization.yaml");
    let k = std::fs::read_to_string(&kustomization).unwrap();
    std::fs::write(
        &kustomization,
        k.replace(
            "resources: [../../base]",
            "resources: [../../base, secret.yaml]",
        ),
    )
    .unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=Test", "-c", "user.email=test@localhost"])
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["add", "-A"]);
    git(&["commit", "-qm", "prod: a database password"]);
    http.post(format!("{api}/api/v1/applications/guestbook-prod/refresh"))
        .bearer_auth(admin.trim())
        .send()
        .await
        .unwrap();
    let secret =
        "guestbook-prod/resource?version=v1&kind=Secret&namespace=demo-prod&name=guestbook-db";
    let deadline = Instant::now() + Duration::from_secs(60);
    let detail = loop {
        let r = http
            .get(format!("{api}/api/v1/applications/{secret}"))
            .bearer_auth(admin.trim())
            .send()
            .await
            .unwrap();
        if r.status().is_success() {
            let body = r.text().await.unwrap();
            if body.contains("\"live\":{") && body.contains("\"desired\":{") {
                break body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the Secret never reached the tree"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        !detail.contains("hunter2"),
        "a Secret value answered: {detail}"
    );
    let encoded = "aHVudGVyMi1jb3JyZWN0LWhvcnNl"; // base64 of the value
    assert!(
        !detail.contains(encoded),
        "a Secret value answered: {detail}"
    );
    let d: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert!(
        d["live"]["data"]["password"].is_string(),
        "the key stays visible: {d}"
    );
}

async fn a_large_tree_stays_fluid(c: &Ctx<'_>, b: &Browser, rs_uid: &str) {
    let (dir, api) = (c.dir, c.api);
    // A large application: 600 more pods under the ReplicaSet. Children are listed 200 at a
    // time, the name filter finds one among them, and grouping by kind works on the lot.
    let pods: Vec<String> = (0..600)
        .map(|i| format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: guestbook-5d8f7c9b4-n{i:03}\n  namespace: demo-prod\n  labels: {{app.kubernetes.io/name: guestbook, pod-template-hash: 5d8f7c9b4}}\n  {}\nspec: {{containers: [{{name: guestbook, image: registry.example.com/guestbook:1.1.0}}]}}\n",
            owner_ref("ReplicaSet", "apps/v1", "guestbook-5d8f7c9b4", rs_uid)
        ))
        .collect();
    let file = dir.join("pods.yaml");
    std::fs::write(&file, pods.concat()).unwrap();
    kubectl(dir, &["create", "-f", file.to_str().unwrap()]);
    // The whole tree as the API answers it (the sandbox's own ReplicaSet, Pods and
    // EndpointSlice included), once all 601 hand-made pods are in it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let total = loop {
        let tree: serde_json::Value = c
            .http
            .get(format!(
                "{api}/api/v1/applications/guestbook-prod/resources"
            ))
            .bearer_auth(c.admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_default();
        let items = tree["items"].as_array().cloned().unwrap_or_default();
        let ours = items
            .iter()
            .filter(|n| n["kind"] == "Pod" && n["owners"][0] == rs_uid)
            .count();
        if ours == 601 {
            break items.len();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{ours} of 601 pods in the API's tree"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    b.goto(&format!("{api}/ui/?large#/apps/guestbook-prod"))
        .await;
    b.wait_for(
        &format!("601 pods owned by the ReplicaSet ({total} objects)"),
        &format!("document.getElementById('t-count') && document.getElementById('t-count').textContent === '{total} objects'"),
        Duration::from_secs(60),
    )
    .await;
    let timing = b
        .eval(
            "const t0 = performance.now(); \
             document.querySelector(\"li[data-kind='Deployment'] > button[data-toggle]\").click(); \
             document.querySelector(\"li[data-kind='ReplicaSet'][data-name='guestbook-5d8f7c9b4'] > button[data-toggle]\").click(); \
             const expand = performance.now() - t0; \
             const listed = document.querySelectorAll(\"li[data-kind='ReplicaSet'][data-name='guestbook-5d8f7c9b4'] li[data-kind='Pod']\").length; \
             const more = document.querySelector('[data-more]').textContent; \
             const q = document.getElementById('t-q'); q.value = 'n599'; \
             const t1 = performance.now(); q.dispatchEvent(new Event('input', {bubbles: true})); \
             const filter = performance.now() - t1; \
             const found = [...document.querySelectorAll(\"li[data-kind='Pod']\")].map(l => l.dataset.name); \
             q.value = ''; const g = document.getElementById('t-group'); g.checked = true; \
             const t2 = performance.now(); g.dispatchEvent(new Event('input', {bubbles: true})); \
             const group = performance.now() - t2; \
             const groups = [...document.querySelectorAll('#tree-list details summary')].map(s => s.textContent.trim()); \
             return {expand, listed, more, filter, found, group, groups};",
            serde_json::json!([]),
        )
        .await;
    eprintln!("resource tree of {total} objects: {timing}");
    assert_eq!(timing["listed"], 200, "{timing}");
    assert_eq!(timing["more"], "Show 200 more of 401", "{timing}");
    assert_eq!(
        timing["found"],
        serde_json::json!(["guestbook-5d8f7c9b4-n599"]),
        "{timing}"
    );
    assert_eq!(
        timing["groups"],
        serde_json::json!([
            "ConfigMap (1)",
            "Deployment (1)",
            "Secret (1)",
            "Service (1)"
        ]),
        "{timing}"
    );
}
