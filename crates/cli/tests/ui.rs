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

mod fleet;
mod flow_tree;

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
