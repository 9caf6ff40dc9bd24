//! Promotion from the command line against `driftless up --demo`: a CI image update of the
//! demo's first stage moves to staging by itself; prod waits; the read-only user cannot
//! approve, the approver can; the report comes out as JSON; DORA and metrics follow.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::up::{Killed, all_synced_and_healthy, start_up};

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_is_promoted_to_prod_after_an_approval_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (_guard, api): (Killed, String) = start_up(dir.path());
    let token = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
    let http = reqwest::Client::new();
    all_synced_and_healthy(&http, &api, &token).await;
    let cli = |token: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args(args)
            .env("DRIFTLESS_SERVER", &api)
            .env("DRIFTLESS_TOKEN", token.trim())
            .output()
            .unwrap()
    };
    let admin = token.trim().to_string();
    let viewer = std::fs::read_to_string(dir.path().join("demo/tokens/viewer")).unwrap();
    let approver = std::fs::read_to_string(dir.path().join("demo/tokens/approver")).unwrap();

    let image = "registry.example.com/guestbook:1.2.0";
    let set = json(&cli(
        &admin,
        &["image", "set", "guestbook/dev", image, "-o", "json"],
    ));
    assert_eq!(set["items"][0]["application"], "guestbook-dev");
    assert_eq!(set["items"][0]["previous"], "1.1.0");

    // staging gets it by itself (after a 5s soak of dev); prod waits for an approval.
    let deadline = Instant::now() + Duration::from_secs(90);
    let waiting = loop {
        let list = json(&cli(
            &admin,
            &["promotion", "list", "--pipeline", "guestbook", "-o", "json"],
        ));
        let items = list["items"].as_array().unwrap().clone();
        let staging_done = items
            .iter()
            .any(|p| p["to"] == "staging" && p["phase"] == "Succeeded");
        if let Some(p) = items
            .iter()
            .find(|p| p["to"] == "prod" && p["phase"] == "WaitingApproval")
            && staging_done
        {
            break p.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no prod promotion waiting: {items:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let id = waiting["id"].to_string();
    let view = json(&cli(
        &viewer,
        &["pipeline", "get", "guestbook", "-o", "json"],
    ));
    let values: Vec<&str> = view["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["values"][0]["value"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        values,
        [image, image, "registry.example.com/guestbook:1.1.0"]
    );

    let refused = cli(&viewer, &["approve", &id, "--comment", "me too"]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a read-only user cannot approve"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("viewer (roles: readonly) may only read")
    );
    let approved = json(&cli(
        &approver,
        &["approve", &id, "--comment", "ship it", "-o", "json"],
    ));
    assert_eq!(approved["approvals"][0]["user"], "approver");

    let deadline = Instant::now() + Duration::from_secs(60);
    let report = loop {
        let p = json(&cli(&viewer, &["promotion", "get", &id, "-o", "json"]));
        if p["phase"] == "Succeeded" {
            break p;
        }
        assert!(
            !["Failed", "Expired", "Rejected"].contains(&p["phase"].as_str().unwrap()),
            "{p}"
        );
        assert!(
            Instant::now() < deadline,
            "prod promotion did not succeed: {p}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(
        report["values"][0]["before"],
        "registry.example.com/guestbook:1.1.0"
    );
    assert_eq!(report["values"][0]["after"], image);
    assert_eq!(report["commits"][0]["branch"], "main");
    assert!(report["durations"]["totalSeconds"].as_f64().unwrap() > 0.0);
    let kubeconfig = dir.path().join("sandbox/kubeconfig");
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "get",
            "deployment",
            "guestbook",
            "-n",
            "demo-prod",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), image);
    // The commit is in the demo repository, by Driftless, naming the approver.
    let log = Command::new("git")
        .args(["log", "-1", "--format=%an|%B", "main"])
        .current_dir(dir.path().join("demo/repo"))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.starts_with("Driftless|Promote guestbook from staging to prod")
            && log.contains("Approved by: approver"),
        "{log}"
    );

    // A second approval request rejected: nothing moves.
    let out = cli(&admin, &["promote", "guestbook", "--to", "prod"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing to promote"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dora = json(&cli(
        &viewer,
        &["dora", "--pipeline", "guestbook", "-o", "json"],
    ));
    assert_eq!(dora["stage"], "prod");
    assert!(dora["dora"]["deployments"].as_u64().unwrap() >= 2, "{dora}");
    let text = cli(&viewer, &["dora", "--pipeline", "guestbook"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("lead time for changes:"));
    let metrics = http
        .get(format!("{api}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        r#"driftless_promotions_total{pipeline="guestbook",to="prod",phase="Succeeded"} 1"#,
        r#"driftless_dora{pipeline="guestbook",figure="deployment_frequency_per_day"}"#,
    ] {
        assert!(
            metrics.contains(series),
            "{series} missing from:\n{metrics}"
        );
    }
}
