//! The project's own scripts (`fixtures/scripts/own/`) for each documented flow, checked by
//! their effect on the sandbox cluster and in the audit log.

use super::rig::{Rig, config_map, fixture};

fn own(name: &str) -> std::path::PathBuf {
    fixture("own", name)
}

fn value(rig: &Rig, ns: &str, name: &str) -> Option<String> {
    rig.live("configmap", ns, name)
        .map(|c| c["data"]["value"].as_str().unwrap_or_default().to_string())
}

const WEB: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: REPLICAS\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: web:1}]}\n";

/// A Deployment the API server refuses (its selector does not match its template).
const BROKEN: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: broken}\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: b}}\n    spec: {containers: [{name: b, image: b:1}]}\n";

const PVC: &str = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n";

fn simple(rig: &Rig, repo: &str, ns: &str, prune: bool) {
    let url = format!("repo=https://github.com/{repo}");
    let ns = format!("namespace={ns}");
    let prune = format!("auto_prune={prune}");
    rig.run_ok(
        &own("simple.lua"),
        &["--param", &url, "--param", &ns, "--param", &prune],
        0,
    );
}

/// Simple workflow, multi-environment set-up, the high-impact gate, validated sync.
#[test]
fn own_scripts_create_deploy_gate_and_validate() {
    let rig = Rig::start();
    rig.commit(
        "acme/web",
        "main",
        &[("web.yaml", Some(&WEB.replace("REPLICAS", "2")))],
    );
    simple(&rig, "acme/web", "web", false);
    assert_eq!(
        rig.live("deployment", "web", "web").unwrap()["spec"]["replicas"],
        2
    );
    assert_eq!(rig.audit("app.create", "web")[0]["actor"], "api");
    assert_eq!(rig.audit("app.sync.request", "web")[0]["actor"], "api");

    // Scaling to zero is high impact: nobody at the terminal, nothing deployed.
    let c = rig.commit(
        "acme/web",
        "main",
        &[("web.yaml", Some(&WEB.replace("REPLICAS", "0")))],
    );
    rig.refresh_to("web", &c);
    let id = ["--param", "workflow_id=web"];
    let out = rig.run_ok(&own("gate.lua"), &id, 1);
    assert!(
        out.contains("1 high-impact change(s): Deployment.apps web/web"),
        "{out}"
    );
    assert!(
        out.contains("gate.lua:17: io.read: stdin is not a terminal"),
        "{out}"
    );
    assert_eq!(
        rig.live("deployment", "web", "web").unwrap()["spec"]["replicas"],
        2
    );
    rig.run_ok(&own("gate.lua"), &[id[0], id[1], "--yes"], 0);
    assert_eq!(
        rig.live("deployment", "web", "web").unwrap()["spec"]["replicas"],
        0
    );

    let shop = [
        ("envs/dev/cm.yaml", Some(config_map("shop", "dev"))),
        ("envs/staging/cm.yaml", Some(config_map("shop", "staging"))),
        ("envs/prod/cm.yaml", Some(config_map("shop", "prod"))),
    ];
    let files: Vec<(&str, Option<&str>)> = shop.iter().map(|(p, c)| (*p, c.as_deref())).collect();
    rig.commit("acme/shop", "main", &files);
    let out = rig.run_ok(
        &own("multi_env.lua"),
        &["--param", "repo=https://github.com/acme/shop"],
        0,
    );
    assert!(out.contains("✓ release_prod"), "{out}");
    for env in ["dev", "staging", "prod"] {
        assert_eq!(
            value(&rig, &format!("shop-{env}"), "shop").as_deref(),
            Some(env)
        );
    }
    let prod = rig.get("/api/v1/applications/shop-prod");
    assert!(prod["spec"]["syncPolicy"]["automated"].is_null());

    // A deleted volume claim stops the validated sync; without it, it deploys.
    rig.commit(
        "acme/data",
        "main",
        &[
            ("cm.yaml", Some(&config_map("data", "v1"))),
            ("pvc.yaml", Some(PVC)),
        ],
    );
    simple(&rig, "acme/data", "data", true);
    let c = rig.commit(
        "acme/data",
        "main",
        &[
            ("cm.yaml", Some(&config_map("data", "v2"))),
            ("pvc.yaml", None),
        ],
    );
    rig.refresh_to("data", &c);
    let id = ["--param", "workflow_id=data"];
    let out = rig.run_ok(&own("validate.lua"), &id, 1);
    assert!(out.contains("breaking changes detected"), "{out}");
    assert!(rig.live("persistentvolumeclaim", "data", "data").is_some());
    assert_eq!(value(&rig, "data", "data").as_deref(), Some("v1"));
    let c = rig.commit("acme/data", "main", &[("pvc.yaml", Some(PVC))]);
    rig.refresh_to("data", &c);
    let out = rig.run_ok(&own("validate.lua"), &id, 0);
    assert!(out.contains("✓ validated_sync: deployed"), "{out}");
    assert_eq!(value(&rig, "data", "data").as_deref(), Some("v2"));
}

/// Automatic and manual rollback, the namespace-delete check, ordered multi-repository
/// release, a custom sync policy.
#[test]
fn own_scripts_roll_back_guard_namespaces_order_releases_and_prune() {
    let rig = Rig::start();
    rig.commit(
        "acme/payments",
        "main",
        &[("cm.yaml", Some(&config_map("payments", "v1")))],
    );
    let script = own("rollback.lua");
    rig.run_ok(
        &script,
        &["create", "--param", "repo=https://github.com/acme/payments"],
        0,
    );
    let c2 = rig.commit(
        "acme/payments",
        "main",
        &[("cm.yaml", Some(&config_map("payments", "v2")))],
    );
    rig.refresh_to("payments", &c2);
    rig.wait(
        "payments v2",
        || serde_json::json!(value(&rig, "pay", "payments")),
        |v| v == "v2",
    );
    let c3 = rig.commit(
        "acme/payments",
        "main",
        &[
            ("cm.yaml", Some(&config_map("payments", "v3"))),
            ("broken.yaml", Some(BROKEN)),
        ],
    );
    rig.refresh_to("payments", &c3);
    let id = ["--param", "workflow_id=payments"];
    let out = rig.run_ok(&script, &["auto_rollback_seen", id[0], id[1]], 0);
    assert!(out.contains("rolled back by the engine"), "{out}");
    assert_eq!(value(&rig, "pay", "payments").as_deref(), Some("v2"));
    assert!(rig.live("deployment", "pay", "broken").is_none());
    let auto: Vec<_> = rig.audit("app.rollback", "payments");
    assert!(
        auto.iter()
            .any(|e| e["actor"] == "driftless" && e["details"]["reason"] == "rollbackOnFailure"),
        "{auto:?}"
    );
    rig.run_ok(
        &script,
        &[
            "manual_rollback",
            id[0],
            id[1],
            "--param",
            "reason=v2 double-charges",
        ],
        0,
    );
    assert_eq!(value(&rig, "pay", "payments").as_deref(), Some("v1"));
    let manual = rig.audit("app.rollback", "payments");
    assert!(
        manual
            .iter()
            .any(|e| e["actor"] == "api" && e["details"]["reason"] == "v2 double-charges"),
        "{manual:?}"
    );

    let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n";
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: team, namespace: team-a}\ndata: {value: v1}\n";
    rig.commit(
        "acme/platform",
        "main",
        &[("ns.yaml", Some(ns)), ("cm.yaml", Some(cm))],
    );
    simple(&rig, "acme/platform", "default", true);
    let c = rig.commit("acme/platform", "main", &[("ns.yaml", None)]);
    rig.refresh_to("platform", &c);
    let out = rig.run_ok(
        &own("namespace_check.lua"),
        &["--param", "workflow_id=platform"],
        1,
    );
    assert!(
        out.contains("refusing to sync: it deletes namespace(s) team-a"),
        "{out}"
    );
    assert!(rig.live("namespace", "", "team-a").is_some());

    for layer in ["database", "backend", "frontend"] {
        rig.commit(
            &format!("acme/{layer}-config"),
            "main",
            &[("cm.yaml", Some(&config_map(layer, "v1")))],
        );
    }
    let out = rig.run_ok(
        &own("ordered.lua"),
        &["--param", "base=https://github.com/acme"],
        0,
    );
    assert!(
        out.contains("released database -> backend -> frontend"),
        "{out}"
    );
    let started = |app: &str| {
        rig.get(&format!("/api/v1/applications/{app}/operations"))["items"][0]["started_ms"]
            .as_i64()
            .unwrap()
    };
    assert!(started("database-config") < started("backend-config"));
    assert!(started("backend-config") < started("frontend-config"));

    rig.commit(
        "acme/policy",
        "main",
        &[
            ("a.yaml", Some(&config_map("a", "v1"))),
            ("b.yaml", Some(&config_map("b", "v1"))),
        ],
    );
    rig.run_ok(
        &own("custom_policy.lua"),
        &["--param", "repo=https://github.com/acme/policy"],
        0,
    );
    let app = rig.get("/api/v1/applications/policy-demo");
    assert_eq!(app["spec"]["syncPolicy"]["retry"]["limit"], 3);
    assert_eq!(app["spec"]["syncPolicy"]["retry"]["backoff"]["factor"], 1);
    assert_eq!(app["spec"]["syncPolicy"]["automated"]["prune"], true);
    assert!(rig.live("configmap", "policy", "b").is_some());
    let c = rig.commit("acme/policy", "main", &[("b.yaml", None)]);
    rig.refresh_to("policy-demo", &c);
    rig.wait(
        "b pruned",
        || serde_json::json!(rig.live("configmap", "policy", "b").is_none()),
        |v| v == true,
    );
}
