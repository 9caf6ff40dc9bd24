//! The web UI in headless Chromium against `driftless up --demo`: the list renders, a drift
//! made with kubectl appears live, a sync from the UI puts the cluster back, a read-only
//! user sees no action buttons, and an approval from the UI promotes to prod; the flow diagram
//! (Mermaid SVG, links to app pages) and the resource tree (pods, events, logs). Screenshots
//! are kept under the target directory (`tmp/ui-screenshots/`) as test artifacts.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use driftless_testkit::browser::Browser;

use crate::up::{all_synced_and_healthy, start_up};

const WAIT: Duration = Duration::from_secs(40);

fn kubectl(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(dir.join("sandbox/kubeconfig"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Waits until kubectl prints `want`; on timeout the failure shows what the engine said of
/// guestbook-prod (its status and latest events), to tell a slow machine from a lost action.
async fn until_kubectl(dir: &std::path::Path, api: &str, token: &str, args: &[&str], want: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = kubectl(dir, args);
        if got == want {
            return;
        }
        if Instant::now() > deadline {
            let http = reqwest::Client::new();
            let get = |path: &str| {
                let req = http
                    .get(format!("{api}/api/v1/applications/guestbook-prod{path}"))
                    .bearer_auth(token.trim());
                async move { req.send().await.unwrap().text().await.unwrap() }
            };
            let (app, events) = (get("").await, get("/events").await);
            panic!("kubectl {args:?}: {got:?}, expected {want:?}\napp: {app}\nevents: {events}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn login(b: &Browser, api: &str, token: &str) {
    static VISIT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = VISIT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    // Log out (the token lives in the tab's sessionStorage), then load the page afresh.
    b.goto(&format!("{api}/ui/?visit={n}#/apps")).await;
    b.eval(
        "sessionStorage.clear(); return true;",
        serde_json::json!([]),
    )
    .await;
    b.goto(&format!("{api}/ui/?visit={n}-login#/apps")).await;
    b.wait_for("the login form", "document.getElementById('token')", WAIT)
        .await;
    b.type_into("#token", token.trim()).await;
    b.click("#login button[type=submit]").await;
    b.wait_for(
        "the user's name",
        "document.getElementById('who').textContent.length > 0",
        WAIT,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_shows_drift_live_syncs_and_approves_a_promotion() {
    let dir = tempfile::tempdir().unwrap();
    let (_guard, api) = start_up(dir.path());
    let admin = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
    let viewer = std::fs::read_to_string(dir.path().join("demo/tokens/viewer")).unwrap();
    let approver = std::fs::read_to_string(dir.path().join("demo/tokens/approver")).unwrap();
    let http = reqwest::Client::new();
    all_synced_and_healthy(&http, &api, &admin).await;
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    let b = Browser::start().await;

    // `/` leads to the UI, which asks for a token.
    b.goto(&format!("{api}/")).await;
    b.wait_for(
        "the login form behind /",
        "location.pathname === '/ui/' && document.getElementById('token')",
        WAIT,
    )
    .await;

    // The list renders with live status.
    login(&b, &api, &admin).await;
    b.wait_for(
        "three application rows",
        "document.querySelectorAll('tr[data-app]').length === 3",
        WAIT,
    )
    .await;
    b.wait_for(
        "prod Synced",
        "document.querySelector('tr[data-app=\"guestbook-prod\"] .badge.Synced')",
        WAIT,
    )
    .await;
    b.screenshot(&shots.join("1-applications.png")).await;
    // Filters: a label, then a search, narrow the rows.
    b.type_into("#f-label", "env=prod").await;
    b.wait_for("one row for env=prod", "document.querySelectorAll('tr[data-app]').length === 1 && document.querySelector('tr[data-app=\"guestbook-prod\"]')", WAIT).await;
    b.eval("const f = document.getElementById('f-label'); f.value = ''; f.dispatchEvent(new Event('input', {bubbles: true})); return true;", serde_json::json!([])).await;
    b.type_into("#q", "staging").await;
    b.wait_for("one row for the search", "document.querySelectorAll('tr[data-app]').length === 1 && document.querySelector('tr[data-app=\"guestbook-staging\"]')", WAIT).await;
    b.eval("const f = document.getElementById('q'); f.value = ''; f.dispatchEvent(new Event('input', {bubbles: true})); return true;", serde_json::json!([])).await;
    b.wait_for(
        "three rows again",
        "document.querySelectorAll('tr[data-app]').length === 3",
        WAIT,
    )
    .await;

    // A drift made with kubectl appears without a reload (self-heal paused so it stays).
    http.post(format!(
        "{api}/api/v1/applications/guestbook-prod/pause-heal"
    ))
    .bearer_auth(admin.trim())
    .json(&serde_json::json!({"duration": "10m", "reason": "UI test"}))
    .send()
    .await
    .unwrap();
    kubectl(
        dir.path(),
        &[
            "-n",
            "demo-prod",
            "scale",
            "deployment/guestbook",
            "--replicas=7",
        ],
    );
    b.wait_for(
        "prod OutOfSync in the list",
        "document.querySelector('tr[data-app=\"guestbook-prod\"] .badge.OutOfSync')",
        WAIT,
    )
    .await;
    b.screenshot(&shots.join("2-drift-live.png")).await;

    // A sync from the UI, confirmed in a dialog that shows the impact, puts it back.
    b.click("a[href='#/apps/guestbook-prod']").await;
    b.wait_for("the diff of replicas", "document.getElementById('diff') && document.getElementById('diff').textContent.includes('replicas')", WAIT).await;
    b.click("#sync").await;
    b.wait_for("the sync dialog with its impact", "document.getElementById('confirm').open && document.getElementById('confirm-body').textContent.includes('Impact')", WAIT).await;
    b.screenshot(&shots.join("3-sync-dialog.png")).await;
    b.click("#confirm-ok").await;
    until_kubectl(
        dir.path(),
        &api,
        &admin,
        &[
            "-n",
            "demo-prod",
            "get",
            "deployment/guestbook",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
        "3",
    )
    .await;

    // A dry run from the same dialog changes nothing and says so; a rollback asks first,
    // showing what it would change.
    b.click("#sync").await;
    b.wait_for(
        "the sync dialog",
        "document.getElementById('confirm').open",
        WAIT,
    )
    .await;
    b.click("#opt-dry").await;
    b.click("#confirm-ok").await;
    b.wait_for("the dry-run answer", "document.getElementById('confirm').open && document.getElementById('confirm-title').textContent.includes('Dry run')", WAIT).await;
    b.click("#confirm-ok").await;
    b.click("[data-rollback]").await;
    b.wait_for("the rollback dialog with its impact", "document.getElementById('confirm').open && document.getElementById('confirm-title').textContent.includes('Roll guestbook-prod back') && document.getElementById('confirm-body').textContent.includes('Impact')", WAIT).await;
    b.screenshot(&shots.join("3b-rollback-dialog.png")).await;
    b.click("#confirm button[value=cancel]").await;
    assert_eq!(
        kubectl(
            dir.path(),
            &[
                "-n",
                "demo-prod",
                "get",
                "deployment/guestbook",
                "-o",
                "jsonpath={.spec.replicas}"
            ]
        ),
        "3",
        "a dry run and a cancelled rollback change nothing"
    );

    // CI's new image reaches staging by itself; prod waits for an approval.
    http.post(format!("{api}/api/v1/images"))
        .bearer_auth(admin.trim())
        .json(&serde_json::json!({"stage": "guestbook/dev", "image": "registry.example.com/guestbook:1.3.0"}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    // A read-only user sees it all and can act on nothing.
    login(&b, &api, &viewer).await;
    b.goto(&format!("{api}/ui/#/pipelines/guestbook")).await;
    b.wait_for("the pending prod approval", "document.querySelector('[data-promotion]') && document.body.textContent.includes('WaitingApproval')", Duration::from_secs(90)).await;
    assert_eq!(
        b.eval(
            "return document.querySelectorAll('[data-approve], [data-reject]').length;",
            serde_json::json!([])
        )
        .await,
        0
    );
    b.screenshot(&shots.join("4-viewer-pipeline.png")).await;
    b.goto(&format!("{api}/ui/#/apps/guestbook-prod")).await;
    b.wait_for(
        "the read-only notice",
        "document.body.textContent.includes('Read-only')",
        WAIT,
    )
    .await;
    assert_eq!(
        b.eval(
            "return document.querySelectorAll('#sync, #refresh, #pause, [data-rollback]').length;",
            serde_json::json!([])
        )
        .await,
        0
    );

    // The approver approves from the pipeline page: prod runs the new image.
    login(&b, &api, &approver).await;
    b.goto(&format!("{api}/ui/#/pipelines/guestbook")).await;
    b.click("[data-approve]").await;
    b.wait_for(
        "the approval dialog",
        "document.getElementById('confirm').open",
        WAIT,
    )
    .await;
    b.type_into("#decision-comment", "approved in the UI").await;
    b.screenshot(&shots.join("5-approve.png")).await;
    b.click("#confirm-ok").await;
    until_kubectl(
        dir.path(),
        &api,
        &admin,
        &[
            "-n",
            "demo-prod",
            "get",
            "deployment/guestbook",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
        "registry.example.com/guestbook:1.3.0",
    )
    .await;
    b.wait_for(
        "the prod promotion Succeeded on the page",
        "[...document.querySelectorAll('tr')].some(tr => tr.textContent.includes('staging → prod') && tr.querySelector('.badge.Succeeded'))",
        Duration::from_secs(60),
    )
    .await;
    b.screenshot(&shots.join("6-promoted.png")).await;
    let audit: serde_json::Value = http
        .get(format!("{api}/api/v1/audit?action=promotion.approve"))
        .bearer_auth(admin.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit["items"][0]["actor"], "approver");
    assert_eq!(
        audit["items"][0]["details"]["comment"],
        "approved in the UI"
    );
    for shot in [
        "1-applications",
        "2-drift-live",
        "3-sync-dialog",
        "4-viewer-pipeline",
        "5-approve",
        "6-promoted",
    ] {
        let png = std::fs::read(shots.join(format!("{shot}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 5_000,
            "{shot}.png is not a screenshot"
        );
    }
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
    let shots = screenshot_dir();

    // What a Deployment controller and a ReplicaSet controller make: a ReplicaSet owned by
    // the Deployment, a Pod owned by the ReplicaSet, and an Event about the Deployment.
    let ns = ["-n", "demo-prod"];
    let deploy_uid = kubectl(
        dir.path(),
        &[
            ns[0],
            ns[1],
            "get",
            "deployment/guestbook",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
    );
    let owner = |kind: &str, api_version: &str, name: &str, uid: &str| {
        format!(
            "ownerReferences: [{{apiVersion: {api_version}, kind: {kind}, name: {name}, uid: {uid}, controller: true, blockOwnerDeletion: true}}]"
        )
    };
    let rs_uid = kubectl_create(
        dir.path(),
        "rs",
        &format!(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: guestbook-5d8f7c9b4\n  namespace: demo-prod\n  labels: {{app.kubernetes.io/name: guestbook, pod-template-hash: 5d8f7c9b4}}\n  {}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app.kubernetes.io/name: guestbook, pod-template-hash: 5d8f7c9b4}}}}\n  template:\n    metadata: {{labels: {{app.kubernetes.io/name: guestbook, pod-template-hash: 5d8f7c9b4}}}}\n    spec: {{containers: [{{name: guestbook, image: registry.example.com/guestbook:1.1.0}}]}}\n",
            owner("Deployment", "apps/v1", "guestbook", &deploy_uid)
        ),
    );
    kubectl_create(
        dir.path(),
        "pod",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: guestbook-5d8f7c9b4-x7k2p\n  namespace: demo-prod\n  labels: {{app.kubernetes.io/name: guestbook, pod-template-hash: 5d8f7c9b4}}\n  {}\nspec: {{containers: [{{name: guestbook, image: registry.example.com/guestbook:1.1.0}}]}}\n",
            owner("ReplicaSet", "apps/v1", "guestbook-5d8f7c9b4", &rs_uid)
        ),
    );
    let svc_uid = kubectl(
        dir.path(),
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
        dir.path(),
        "slice",
        &format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: guestbook-abcde\n  namespace: demo-prod\n  labels: {{kubernetes.io/service-name: guestbook}}\n  {}\naddressType: IPv4\nendpoints: [{{addresses: [10.0.0.7], conditions: {{ready: true}}}}]\nports: [{{port: 8080, protocol: TCP}}]\n",
            owner("Service", "v1", "guestbook", &svc_uid)
        ),
    );
    kubectl_create(
        dir.path(),
        "event",
        &format!(
            "apiVersion: v1\nkind: Event\nmetadata: {{name: guestbook.scaled, namespace: demo-prod}}\ninvolvedObject: {{apiVersion: apps/v1, kind: Deployment, name: guestbook, namespace: demo-prod, uid: {deploy_uid}}}\nreason: ScalingReplicaSet\nmessage: Scaled up replica set guestbook-5d8f7c9b4 from 0 to 1\ntype: Normal\ncount: 1\nsource: {{component: deployment-controller}}\nfirstTimestamp: \"2026-12-04T23:00:00Z\"\nlastTimestamp: \"2026-12-04T23:00:00Z\"\n"
        ),
    );

    // The flow page: Mermaid draws an SVG with the seed's groups, no parse error.
    let b = Browser::start().await;
    login(&b, &api, &admin).await;
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
        .arg(dir.path())
        .env("DRIFTLESS_SERVER", &api)
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

    // Mermaid's own parser and renderer take the diagram of 100 applications over four
    // clusters (a DR mirror among them), grouped and aggregated, and every scope's.
    let big = big_flow();
    let q = serde_json::to_string(&big).unwrap();
    b.eval(
        &format!("window.bigFlow = null; mermaid.parse({q}).then(() => mermaid.render('big-flow', {q})).then((r) => {{ window.bigFlow = {{ok: true, svg: r.svg}}; }}, (e) => {{ window.bigFlow = {{ok: false, error: String(e.message || e)}}; }}); return true;"),
        serde_json::json!([]),
    )
    .await;
    b.wait_for(
        "Mermaid's answer for 100 applications",
        "window.bigFlow",
        WAIT,
    )
    .await;
    let answer = b
        .eval("return {ok: window.bigFlow.ok, problem: window.bigFlow.error || '', text: window.bigFlow.svg ? new DOMParser().parseFromString(window.bigFlow.svg, 'text/html').body.textContent : ''};", serde_json::json!([]))
        .await;
    assert_eq!(answer["ok"], true, "{answer}");
    let text = answer["text"].as_str().unwrap();
    for part in [
        "96 applications",
        "cluster dr-mirror",
        "Source control",
        "stage prod · pipeline shop",
    ] {
        assert!(text.contains(part), "{part:?} not drawn: {text}");
    }

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

    // The pod's logs, streamed through the API: what the UI shows is what the API answers.
    b.click("li[data-kind='Pod'][data-name='guestbook-5d8f7c9b4-x7k2p'] > button.node")
        .await;
    b.click("#tab-logs").await;
    // The same request as the page's (followed, so a successful answer is read chunk-wise).
    let mut logs = http
        .get(format!(
            "{api}/api/v1/applications/guestbook-prod/pods/demo-prod/guestbook-5d8f7c9b4-x7k2p/log?tailLines=500&follow=true"
        ))
        .bearer_auth(admin.trim())
        .send()
        .await
        .unwrap();
    if logs.status().is_success() {
        let chunk = logs.chunk().await.unwrap().expect("the pod has log lines");
        let text = String::from_utf8_lossy(&chunk).to_string();
        let first = text.lines().next().expect("a log line");
        let q = serde_json::to_string(first).unwrap();
        b.wait_for(
            "the pod's log lines",
            &format!("document.getElementById('log-lines').textContent.includes({q})"),
            WAIT,
        )
        .await;
    } else {
        // A cluster without a log endpoint: the UI says what the API server said.
        let error: serde_json::Value = logs.json().await.unwrap();
        let q = serde_json::to_string(error["error"].as_str().unwrap()).unwrap();
        b.wait_for(
            "the API's answer about the logs",
            &format!("document.getElementById('log-state').textContent === {q}"),
            WAIT,
        )
        .await;
    }
    // Not for the README until the sandbox serves logs: a test artifact only.
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    b.screenshot(&artifacts.join("pod-logs.png")).await;

    // The tree is the boundary: an object outside it, or a pod of another application, is
    // not answered; a read-only user reads what every reader reads.
    let viewer = std::fs::read_to_string(dir.path().join("demo/tokens/viewer")).unwrap();
    let status = |path: String, token: String| {
        let req = http
            .get(format!("{api}/api/v1/applications/{path}"))
            .bearer_auth(token.trim().to_string());
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let outside = "guestbook-prod/resource?version=v1&kind=ConfigMap&namespace=kube-system&name=kube-root-ca.crt";
    assert_eq!(status(outside.into(), admin.clone()).await, 404);
    let other = "guestbook-dev/pods/demo-prod/guestbook-5d8f7c9b4-x7k2p/log?tailLines=1";
    assert_eq!(status(other.into(), admin.clone()).await, 404);
    let pod = "guestbook-prod/resource?version=v1&kind=Pod&namespace=demo-prod&name=guestbook-5d8f7c9b4-x7k2p";
    assert_eq!(status(pod.into(), viewer.clone()).await, 200);
    assert_eq!(
        status(format!("{pod}/../events"), viewer).await,
        404,
        "no path tricks"
    );
    for shot in [
        shots.join("flow.png"),
        shots.join("resource-tree.png"),
        artifacts.join("pod-logs.png"),
    ] {
        let png = std::fs::read(&shot).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 5_000,
            "{}",
            shot.display()
        );
    }

    // A Secret the application declares: its live and desired manifests answer masked.
    let repo = dir.path().join("demo/repo");
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

    // A large application: 600 more pods under the ReplicaSet. Children are listed 200 at a
    // time, the name filter finds one among them, and grouping by kind works on the lot.
    let pods: Vec<String> = (0..600)
        .map(|i| format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: guestbook-5d8f7c9b4-n{i:03}\n  namespace: demo-prod\n  labels: {{app.kubernetes.io/name: guestbook, pod-template-hash: 5d8f7c9b4}}\n  {}\nspec: {{containers: [{{name: guestbook, image: registry.example.com/guestbook:1.1.0}}]}}\n",
            owner("ReplicaSet", "apps/v1", "guestbook-5d8f7c9b4", &rs_uid)
        ))
        .collect();
    let file = dir.path().join("pods.yaml");
    std::fs::write(&file, pods.concat()).unwrap();
    kubectl(dir.path(), &["create", "-f", file.to_str().unwrap()]);
    b.goto(&format!("{api}/ui/?large#/apps/guestbook-prod"))
        .await;
    b.wait_for(
        "601 pods owned by the ReplicaSet (607 objects)",
        "document.getElementById('t-count') && document.getElementById('t-count').textContent === '607 objects'",
        Duration::from_secs(60),
    )
    .await;
    let timing = b
        .eval(
            "const t0 = performance.now(); \
             document.querySelector(\"li[data-kind='Deployment'] > button[data-toggle]\").click(); \
             document.querySelector(\"li[data-kind='ReplicaSet'] > button[data-toggle]\").click(); \
             const expand = performance.now() - t0; \
             const listed = document.querySelectorAll(\"li[data-kind='Pod']\").length; \
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
    eprintln!("resource tree of 607 objects: {timing}");
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

/// The diagram of a fleet: 96 applications in one namespace, a pipeline dev → staging → prod
/// with prod mirrored to a DR cluster, webhooks, projects.
fn big_flow() -> String {
    use driftless_engine::flow::{FlowApp, FlowInput, FlowRepo, Scope, flow};
    let app = |name: &str, cluster: &str, ns: &str| FlowApp {
        name: name.into(),
        repo: "https://git.example.com/org/fleet.git".into(),
        cluster: cluster.into(),
        namespace: ns.into(),
        automated: true,
        self_heal: true,
        sync: Some("Synced".into()),
        health: Some("Healthy".into()),
    };
    let mut apps: Vec<FlowApp> = (0..96)
        .map(|i| app(&format!("svc-{i:02}"), "fleet", "fleet"))
        .collect();
    apps.push(app("shop-dev", "in-cluster", "shop-dev"));
    apps.push(app("shop-staging", "in-cluster", "shop-staging"));
    apps.push(app("shop-prod", "prod", "shop"));
    apps.push(app("shop-dr", "dr-mirror", "shop"));
    let pipeline = serde_json::json!({
        "apiVersion": "driftless.dev/v1alpha1", "kind": "Pipeline", "metadata": {"name": "shop"},
        "spec": {"freight": [{"image": "registry.example.com/shop"}], "stages": [
            {"name": "dev", "applications": ["shop-dev"]},
            {"name": "staging", "applications": ["shop-staging"], "autoPromote": true, "soak": "10m"},
            {"name": "prod", "applications": ["shop-prod", "shop-dr"], "approval": {"required": 2, "role": "release"},
             "windows": [{"days": ["Mon"], "from": "09:00", "to": "17:00"}], "verification": {"command": ["./smoke"]}},
        ]},
    });
    let input = FlowInput {
        apps,
        repositories: vec![FlowRepo {
            name: "fleet".into(),
            url: "https://git.example.com/org/".into(),
            webhook: true,
        }],
        clusters: ["dr-mirror", "fleet", "in-cluster", "prod"]
            .map(String::from)
            .to_vec(),
        pipelines: vec![driftless_core::pipeline::Pipeline::from_doc(&pipeline, "test").unwrap()],
        projects: vec!["fleet".into()],
        resync_secs: 180,
    };
    for scope in [Scope::Pipeline("shop".into()), Scope::App("svc-01".into())] {
        assert!(
            flow(&input, &scope, 8)
                .mermaid
                .contains("subgraph platform")
        );
    }
    flow(&input, &Scope::All, 8).mermaid
}
