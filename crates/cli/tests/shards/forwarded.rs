//! Requests made through a replica that does not own the application (sync, pause of
//! self-heal, rollback) are carried out by its owner; an application created through a
//! replica that will not own it is adopted by the one that does.

use std::collections::BTreeMap;
use std::time::Duration;

use super::rig::*;

/// A sync asked of a replica that does not own the app is run by its owner; an app created
/// through a replica that will not own it is adopted, owned and synced by the one that does.
pub async fn forwarded_and_adopted(
    http: &reqwest::Client,
    owners: &BTreeMap<String, String>,
    api3: &str,
    pg_url: &str,
    rig: &Rig,
) {
    let store = driftless_store::Store::open(pg_url).await.unwrap();
    let (app, owner) = owners.iter().find(|(_, r)| *r != "r3").unwrap();
    let asked = now_ms();
    let r = http
        .post(format!("{api3}/api/v1/applications/{app}/sync"))
        .bearer_auth("shards-test-token")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let writer = format!("member/{owner}:");
    let asked_by: Vec<String> = store
        .audit_writers("app.sync.request")
        .await
        .unwrap()
        .iter()
        .filter(|e| e.target == format!("application/{app}"))
        .filter_map(|e| e.writer.clone())
        .collect();
    assert!(
        asked_by.iter().any(|w| w.starts_with("member/r3:")),
        "the request was not audited by r3: {asked_by:?}"
    );
    within(
        Duration::from_secs(20),
        "the forwarded sync run by the owner",
        || async {
            let ops = store.operation_writers().await.unwrap();
            ops.iter()
                .any(|o| {
                    o.app == *app
                        && o.started_ms >= asked
                        && o.writer.as_deref().is_some_and(|w| w.starts_with(&writer))
                })
                .then_some(())
        },
    )
    .await;

    // Pausing self-heal through r3 pauses it where the app is reconciled: its owner.
    let r = http
        .post(format!("{api3}/api/v1/applications/{app}/pause-heal"))
        .bearer_auth("shards-test-token")
        .json(&serde_json::json!({"duration": "2m", "reason": "incident 42"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    within(
        Duration::from_secs(10),
        "the pause applied by the owner",
        || async {
            let done = store.audit_writers("app.pause-heal").await.unwrap();
            done.iter()
                .any(|e| {
                    e.target == format!("application/{app}")
                        && e.details["reason"] == "incident 42"
                        && e.writer.as_deref().is_some_and(|w| w.starts_with(&writer))
                })
                .then_some(())
        },
    )
    .await;

    // A rollback asked of r3 is done by the owner: pinned, and the previous commit applied.
    // To its first deployment (mode: desired); the later ones all deployed v2.
    let history = get(http, &format!("{api3}/api/v1/applications/{app}/history")).await;
    let first = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["id"].as_i64())
        .min()
        .unwrap_or_else(|| panic!("no history: {history}"));
    let r = http
        .post(format!("{api3}/api/v1/applications/{app}/rollback"))
        .bearer_auth("shards-test-token")
        .json(&serde_json::json!({"id": first}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    within(
        Duration::from_secs(20),
        "the forwarded rollback applied by the owner",
        || async {
            let s = statuses(http, api3).await;
            let pinned = s
                .get(app.as_str())
                .and_then(|s| s.pinned.as_ref())
                .is_some_and(|p| p.by == "api");
            let cm = kubectl(
                &rig.kubeconfig,
                &[
                    "get",
                    "configmap",
                    app,
                    "-n",
                    "default",
                    "-o",
                    "jsonpath={.data.mode}",
                ],
            );
            (pinned && cm == "desired").then_some(())
        },
    )
    .await;

    // A name the hash gives to another replica than r3, created through r3.
    let members: Vec<String> = ["r1", "r2", "r3"].map(String::from).to_vec();
    let name = (0..)
        .map(|i| format!("late-{i}"))
        .find(|n| driftless_engine::controller::shards::assign::owner(n, &members) != Some("r3"))
        .unwrap();
    let expected = driftless_engine::controller::shards::assign::owner(&name, &members).unwrap();
    let body = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\nspec:\n  project: default\n  source: {{repoURL: {}, path: apps/app-000, targetRevision: HEAD}}\n  destination: {{server: \"https://kubernetes.default.svc\", namespace: late}}\n  syncPolicy: {{automated: {{prune: true}}, syncOptions: [CreateNamespace=true]}}\n",
        rig.repo_url
    );
    let r = http
        .post(format!("{api3}/api/v1/applications"))
        .bearer_auth("shards-test-token")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    within(
        Duration::from_secs(30),
        "the app made through r3 owned by its replica and Synced",
        || async {
            let owned = live_owners(http, api3)
                .await
                .get(&name)
                .is_some_and(|r| r == expected);
            let s = statuses(http, api3).await;
            (owned
                && s.get(&name)
                    .is_some_and(driftless_engine::AppStatus::is_synced))
            .then_some(())
        },
    )
    .await;
}
