//! Every documented example (`fixtures/scripts/gitops-lua/`, verbatim) runs unchanged against
//! `driftless up`, its `https://github.com/...` repositories served from loopback through an
//! `insteadOf` rule; fragments get their variables from `--param`. Each run is checked by
//! its effect: applications, objects in the sandbox cluster, audit entries.

use serde_json::Value;

use super::rig::{Rig, config_map, fixture};

fn ex(name: &str) -> std::path::PathBuf {
    fixture("gitops-lua", name)
}

fn value(rig: &Rig, name: &str) -> Option<String> {
    rig.live("configmap", "default", name)
        .map(|c| c["data"]["value"].as_str().unwrap_or_default().to_string())
}

fn synced(rig: &Rig, app: &str) -> Value {
    rig.wait(
        &format!("{app} Synced and Healthy"),
        || rig.get(&format!("/api/v1/applications/{app}")),
        crate::synced_and_healthy,
    )
}

fn seed(rig: &Rig) {
    let cm = |n: &str| config_map(n, "v1");
    rig.commit(
        "company/infrastructure",
        "main",
        &[
            ("cm.yaml", Some(&cm("infrastructure"))),
            (
                "k8s/production/cm.yaml",
                Some(&cm("production-infrastructure")),
            ),
        ],
    );
    rig.commit(
        "company/k8s-dev",
        "develop",
        &[("cm.yaml", Some(&cm("k8s-dev")))],
    );
    rig.commit(
        "company/k8s-staging",
        "staging",
        &[("cm.yaml", Some(&cm("k8s-staging")))],
    );
    rig.commit(
        "company/k8s-prod",
        "main",
        &[("cm.yaml", Some(&cm("k8s-prod")))],
    );
    rig.commit(
        "company/dev-config",
        "main",
        &[("cm.yaml", Some(&cm("dev-config")))],
    );
    rig.commit(
        "company/k8s-manifests",
        "main",
        &[("manifests/production/cm.yaml", Some(&cm("k8s-manifests")))],
    );
    rig.commit("org/repo", "main", &[("cm.yaml", Some(&cm("org-repo")))]);
    for r in ["frontend", "backend", "database"] {
        rig.commit(
            &format!("company/{r}-config"),
            "main",
            &[("cm.yaml", Some(&cm(r)))],
        );
    }
}

fn rollback_reasons(rig: &Rig, app: &str) -> Vec<String> {
    let mut reasons: Vec<String> = rig
        .audit("app.rollback", app)
        .iter()
        .filter(|e| e["actor"] == "api")
        .map(|e| {
            e["details"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    reasons.sort();
    reasons
}

/// 01, 02, 04: workflows created, the automated ones synced by the engine.
fn creating_workflows(rig: &Rig) {
    let out = rig.run_ok(&ex("01-simple-gitops-workflow.lua"), &[], 0);
    // log.info goes to the engine's log format (tracing, stderr).
    assert!(
        out.contains("GitOps workflow created: infrastructure"),
        "{out}"
    );
    synced(rig, "infrastructure");
    assert_eq!(value(rig, "infrastructure").as_deref(), Some("v1"));
    assert_eq!(rig.audit("app.create", "infrastructure")[0]["actor"], "api");
    let out = rig.run_ok(&ex("02-advanced-multi-environment-setup.lua"), &[], 0);
    assert!(
        out.contains("Created GitOps workflow for production: production-environment"),
        "{out}"
    );
    for app in ["development-environment", "staging-environment"] {
        synced(rig, app);
    }
    let dev = rig.get("/api/v1/applications/development-environment");
    assert_eq!(dev["spec"]["source"]["targetRevision"], "develop");
    let prod = rig.get("/api/v1/applications/production-environment");
    assert!(
        prod["spec"]["syncPolicy"]["automated"].is_null(),
        "production is manual"
    );
    assert_eq!(
        value(rig, "k8s-prod"),
        None,
        "nothing deploys production by itself"
    );
    rig.run_ok(&ex("04-automatic-synchronization.lua"), &[], 0);
    synced(rig, "dev-config");
}

/// 05, 03, 06, 07: manual deploys of production and a rollback with a reason.
fn deploying_production(rig: &Rig) {
    let p = ["--param", "workflow_id=production-environment"];
    let out = rig.run_ok(&ex("05-manual-synchronization-with-validation.lua"), &p, 0);
    assert!(out.contains("Production deployed successfully"), "{out}");
    assert_eq!(value(rig, "k8s-prod").as_deref(), Some("v1"));
    let c2 = rig.commit(
        "company/k8s-prod",
        "main",
        &[("cm.yaml", Some(&config_map("k8s-prod", "v2")))],
    );
    rig.refresh_to("production-environment", &c2);
    let out = rig.run_ok(
        &ex("03-preview-changes-before-deployment.lua"),
        &[p[0], p[1], "--yes"],
        0,
    );
    assert!(out.contains("Updated: 1"), "{out}");
    assert_eq!(value(rig, "k8s-prod").as_deref(), Some("v2"));
    let out = rig.run_ok(&ex("06-automatic-rollback-on-failure.lua"), &p, 0);
    assert!(out.contains("Deployment successful"), "{out}");
    let out = rig.run_ok(
        &ex("07-manual-rollback.lua"),
        &[p[0], p[1], "--param", "reason=v2 breaks checkout"],
        0,
    );
    assert!(out.contains("Current status: synced"), "{out}");
    assert_eq!(value(rig, "k8s-prod").as_deref(), Some("v1"));
    assert_eq!(
        rollback_reasons(rig, "production-environment"),
        ["v2 breaks checkout"]
    );
}

/// 08, 10, 09, 11, 12, 20: a path-scoped workflow, repositories and detailed workflows.
fn repositories_and_detailed_workflows(rig: &Rig) {
    let out = rig.run_ok(&ex("08-native-kubernetes-workflows.lua"), &[], 0);
    assert!(out.contains("kubernetes_gitops"), "{out}");
    assert_eq!(value(rig, "k8s-manifests").as_deref(), Some("v1"));
    rig.run_ok(&ex("10-repository-management.lua"), &[], 0);
    let repos = rig.get("/api/v1/repositories").to_string();
    assert!(
        repos.contains("company-infrastructure") && !repos.contains("ghp_xxxxx"),
        "{repos}"
    );
    let r = ["--param", "repo_id=company-infrastructure"];
    rig.run_ok(&ex("09-workflow-management.lua"), &r, 0);
    synced(rig, "repo");
    let detailed = rig.get("/api/v1/applications/production-infrastructure");
    assert_eq!(detailed["spec"]["source"]["path"], "k8s/production");
    assert_eq!(
        detailed["spec"]["source"]["repoURL"],
        "https://github.com/company/infrastructure"
    );
    let w = ["--param", "workflow_id=infrastructure"];
    for f in [
        "11-sync-operations.lua",
        "12-diff-and-preview.lua",
        "18-4-monitor-sync-results.lua",
    ] {
        rig.run_ok(&ex(f), &w, 0);
    }
    rig.run_ok(&ex("20-custom-sync-policies.lua"), &r, 0);
    let custom = rig.get("/api/v1/applications/custom-sync-policy");
    assert_eq!(custom["spec"]["syncPolicy"]["retry"]["limit"], 5);
    assert_eq!(
        custom["spec"]["labels"]["gitops.driftless.dev/health-timeout"],
        "10m"
    );
    assert_eq!(
        custom["spec"]["labels"]["gitops.driftless.dev/auto-prune"],
        "true"
    );
}

/// 13, 14, 15, 16, 17, 19: the short fragments.
fn fragments(rig: &Rig) {
    let p = ["--param", "workflow_id=production-environment"];
    rig.run_ok(&ex("13-rollback-operations.lua"), &p, 0);
    assert_eq!(
        value(rig, "k8s-prod").as_deref(),
        Some("v2"),
        "back to the deployment before"
    );
    rig.run_ok(&ex("14-auto-sync-control.lua"), &[], 0);
    let infra = rig.get("/api/v1/applications/infrastructure");
    assert!(
        infra["spec"]["syncPolicy"]["automated"].is_null(),
        "stopped: {infra}"
    );
    rig.run_ok(&ex("15-1-environment-strategy.lua"), &[], 0);
    let c3 = rig.commit(
        "company/k8s-prod",
        "main",
        &[("cm.yaml", Some(&config_map("k8s-prod", "v3")))],
    );
    rig.refresh_to("production-environment", &c3);
    rig.run_ok(
        &ex("16-2-always-preview-in-production.lua"),
        &[p[0], p[1], "--param", "environment=production"],
        0,
    );
    rig.run_ok(&ex("17-3-use-descriptive-rollback-reasons.lua"), &p, 0);
    assert_eq!(
        rollback_reasons(rig, "production-environment"),
        [
            "Health check failed after 5 minutes",
            "Reason for rollback",
            "v2 breaks checkout"
        ]
    );
    rig.run_ok(&ex("19-multi-repository-workflows.lua"), &[], 0);
    let started = |app: &str| {
        let ops = rig.get(&format!("/api/v1/applications/{app}/operations"));
        ops["items"][0]["started_ms"].as_i64().unwrap()
    };
    let (db, be, fe) = (
        started("database-config"),
        started("backend-config"),
        started("frontend-config"),
    );
    assert!(db < be && be < fe, "synced in sequence: {db} {be} {fe}");
    for n in ["frontend", "backend", "database"] {
        assert_eq!(value(rig, n).as_deref(), Some("v1"));
    }
}

#[test]
fn documented_examples_run_unchanged_against_local_mirrors() {
    let rig = Rig::start();
    seed(&rig);
    creating_workflows(&rig);
    deploying_production(&rig);
    repositories_and_detailed_workflows(&rig);
    fragments(&rig);
    let verify = rig.get("/api/v1/audit/verify");
    assert_eq!(verify["intact"], true, "{verify}");
}
