//! A release script drives the demo pipeline: after a CI image update reaches staging by
//! itself, the script checks staging and approves the waiting prod promotion as the
//! approver; a read-only user's run of the same script is refused by the API.

use serde_json::json;

use super::rig::{Rig, fixture};

#[test]
fn a_release_script_checks_staging_then_approves_prod() {
    let rig = Rig::start();
    let image = "registry.example.com/guestbook:1.2.0";
    rig.wait(
        "demo Synced and Healthy",
        || rig.get("/api/v1/applications?summary=true"),
        |l| {
            let items = l["items"].as_array().cloned().unwrap_or_default();
            items.len() == 3
                && items
                    .iter()
                    .all(|a| a["sync"] == "Synced" && a["health"] == "Healthy")
        },
    );
    rig.post(
        "/api/v1/images",
        &json!({"stage": "guestbook/dev", "image": image}),
    );
    let list = rig.wait(
        "a prod promotion waiting for approval",
        || rig.get("/api/v1/promotions?pipeline=guestbook"),
        |l| {
            l["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|p| p["to"] == "prod" && p["phase"] == "WaitingApproval")
            })
        },
    );
    let waiting = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["to"] == "prod" && p["phase"] == "WaitingApproval")
        .unwrap()
        .clone();
    let param = format!("promotion_id={}", waiting["id"]);
    let script = fixture("own", "approve.lua");
    let tokens = rig.dir.path().join("demo/tokens");
    let viewer = std::fs::read_to_string(tokens.join("viewer")).unwrap();
    let out = rig.run_ok_as(&viewer, &script, &["--param", &param], 1);
    assert!(out.contains("may only read"), "{out}");
    let approver = std::fs::read_to_string(tokens.join("approver")).unwrap();
    let out = rig.run_ok_as(&approver, &script, &["--param", &param], 0);
    assert!(
        out.contains("✓ approve_prod: prod promotion Succeeded"),
        "{out}"
    );
    let report = rig.get(&format!("/api/v1/promotions/{}", waiting["id"]));
    assert_eq!(report["approvals"][0]["user"], "approver");
    assert!(
        report["approvals"][0]["comment"]
            .as_str()
            .unwrap()
            .starts_with("staging healthy at ")
    );
    let prod = rig.live("deployment", "demo-prod", "guestbook").unwrap();
    assert_eq!(
        prod["spec"]["template"]["spec"]["containers"][0]["image"],
        image
    );
}
