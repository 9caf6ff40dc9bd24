//! `driftless diff | sync | status` against a sandbox, as a user runs them: an Argo CD
//! Application file pointing at a local directory; the cluster is read back with kubectl.

use std::path::Path;
use std::process::{Command, Output};

fn driftless(kubeconfig: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("DRIFTLESS_DATA_DIR", dir.join("data"))
        .current_dir(dir)
        .output()
        .unwrap()
}

fn kubectl_json(kubeconfig: &Path, args: &[&str]) -> Option<serde_json::Value> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .args(["-o", "json"])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).unwrap())
}

const APP: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: shop, namespace: argocd}
spec:
  project: default
  source: {repoURL: ., path: manifests, targetRevision: HEAD}
  destination: {server: "https://kubernetes.default.svc", namespace: shop}
  syncPolicy:
    syncOptions: [CreateNamespace=true]
"#;

const MANIFESTS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.27"}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_sync_and_status_work_on_an_argo_cd_application_file() {
    let sandbox = driftless_sandbox::Sandbox::start(0).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, sandbox.kubeconfig()).unwrap();
    std::fs::create_dir(dir.path().join("manifests")).unwrap();
    std::fs::write(dir.path().join("manifests/all.yaml"), MANIFESTS).unwrap();
    std::fs::write(dir.path().join("app.yaml"), APP).unwrap();
    let d = dir.path();

    let out = driftless(&kc, d, &["diff", "app.yaml", "--exit-code"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Deployment.apps shop/web Missing") && text.contains("image: nginx:1.27"),
        "{text}"
    );
    assert!(text.contains("2 to create"), "{text}");

    let out = driftless(&kc, d, &["sync", "app.yaml", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["phase"], "Succeeded");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Deployment.apps shop/web Applied (Healthy)")
    );
    let web =
        kubectl_json(&kc, &["get", "deployment", "web", "-n", "shop"]).expect("deployment exists");
    assert_eq!(
        web["metadata"]["annotations"]["driftless.dev/tracking-id"],
        "shop:apps/Deployment:shop/web"
    );

    let out = driftless(&kc, d, &["diff", "app.yaml", "--exit-code"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = driftless(&kc, d, &["status", "app.yaml", "-o", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["sync"].as_str(), report["health"]["status"].as_str()),
        (Some("Synced"), Some("Healthy"))
    );
    assert_eq!(report["resources"].as_array().unwrap().len(), 2);
    std::fs::write(
        d.join("cm.lua"),
        r#"return { status = "Degraded", message = "mode is " .. obj.data.mode }"#,
    )
    .unwrap();
    let out = driftless(
        &kc,
        d,
        &[
            "status",
            "app.yaml",
            "-o",
            "json",
            "--health-check",
            "/ConfigMap=cm.lua",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["health"]["status"], "Degraded",
        "the Lua check decides ConfigMaps' health"
    );
    assert_eq!(report["health"]["message"], "mode is fast");

    // A new image in Git: the diff grades it, the sync rolls it out.
    std::fs::write(
        d.join("manifests/all.yaml"),
        MANIFESTS.replace("nginx:1.27", "nginx:1.28"),
    )
    .unwrap();
    let out = driftless(&kc, d, &["diff", "app.yaml", "-o", "json"]);
    let cmp: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let changed: Vec<&serde_json::Value> = cmp["comparison"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "OutOfSync")
        .collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["impact"]["grade"], "medium");
    assert_eq!(
        changed[0]["changes"][0]["path"],
        "spec.template.spec.containers[name=web].image"
    );
    let out = driftless(&kc, d, &["sync", "app.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let web = kubectl_json(&kc, &["get", "deployment", "web", "-n", "shop"]).unwrap();
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );

    // Label tracking on request: the instance label joins the annotation.
    let out = driftless(&kc, d, &["sync", "app.yaml", "--instance-label"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let web = kubectl_json(&kc, &["get", "deployment", "web", "-n", "shop"]).unwrap();
    assert_eq!(
        web["metadata"]["labels"]["app.kubernetes.io/instance"],
        "shop"
    );

    // Everything removed from Git: refused whole, nothing deleted.
    std::fs::write(d.join("manifests/all.yaml"), "").unwrap();
    let out = driftless(&kc, d, &["sync", "app.yaml", "--prune"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("render is empty"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(kubectl_json(&kc, &["get", "configmap", "settings", "-n", "shop"]).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.yaml"),
        APP.replace("CreateNamespace=true", "CreateNamspace=true"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("manifests")).unwrap();
    let out = driftless(&dir.path().join("none"), dir.path(), &["diff", "app.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "application shop: syncPolicy.syncOptions: unknown sync option `CreateNamspace`"
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_reports_an_intact_chain_and_names_a_tampered_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = driftless_store::Store::sqlite(&dir.path().join("data/driftless.db"))
        .await
        .unwrap();
    for i in 0..3 {
        store
            .audit(
                "alice",
                "app.sync",
                "app/shop",
                &serde_json::json!({"n": i}),
            )
            .await
            .unwrap();
    }
    let out = driftless(Path::new("/nonexistent"), dir.path(), &["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "audit log intact: 3 entries, hash chain verified"
    );
    store
        .execute_raw("DROP TRIGGER audit_no_update")
        .await
        .unwrap();
    store
        .execute_raw("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
        .await
        .unwrap();
    store.close().await;
    let out = driftless(Path::new("/nonexistent"), dir.path(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("audit log tampered with at entry 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 16: `driftless diff` shows what the repository's policy gate says of the revision,
/// so a reviewer sees a refusal before the engine makes it; `--exit-code` fails on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_shows_the_policy_gate_and_fails_on_a_refusal() {
    let sandbox = driftless_sandbox::Sandbox::start(0).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, sandbox.kubeconfig()).unwrap();
    std::fs::create_dir(dir.path().join("manifests")).unwrap();
    std::fs::write(
        dir.path().join("manifests/all.yaml"),
        MANIFESTS.replace("nginx:1.27", "nginx:latest"),
    )
    .unwrap();
    std::fs::write(dir.path().join("app.yaml"), APP).unwrap();
    std::fs::write(
        dir.path().join("driftless.yaml"),
        "apiVersion: driftless.dev/v1alpha1\nkind: ValidationConfig\nspec:\n  policies:\n    builtin: [no-latest-tag]\n",
    )
    .unwrap();
    let d = dir.path();

    let out = driftless(&kc, d, &["diff", "app.yaml"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no-latest-tag"), "{text}");
    assert!(
        text.contains("would be refused by the policy gate"),
        "{text}"
    );

    let out = driftless(&kc, d, &["diff", "app.yaml", "-o", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["policy"]["refused"], true, "{json}");

    // Compliant and already in sync: exit 0 and the gate passed.
    std::fs::write(dir.path().join("manifests/all.yaml"), MANIFESTS).unwrap();
    let out = driftless(&kc, d, &["sync", "app.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = driftless(&kc, d, &["diff", "app.yaml", "--exit-code"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("policy: passed"), "{text}");
}
