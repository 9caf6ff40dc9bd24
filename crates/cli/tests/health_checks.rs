//! Issue 20: `driftless up` runs the operator's Lua health checks from all three forms a team
//! migrating from Argo CD has them in — a `HealthCheck` definition and an `argocd-cm` ConfigMap
//! in `--config`, and a `resource_customizations/<group>/<Kind>/health.lua` directory — and the
//! API shows each custom resource's health as its check said.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::up::start_engine;

const KINDS: [(&str, &str); 3] = [
    ("Widget", "widgets"),
    ("Gadget", "gadgets"),
    ("Gizmo", "gizmos"),
];

/// A namespaced CRD `<plural>.example.com` with a free-form spec.
fn crd(kind: &str, plural: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: {plural}.example.com}}\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {{kind: {kind}, plural: {plural}, singular: {singular}, listKind: {kind}List}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n---\napiVersion: example.com/v1\nkind: {kind}\nmetadata: {{name: one}}\nspec: {{ready: true}}\n---\n",
        singular = kind.to_lowercase()
    )
}

/// A health script that reads the object (Argo CD's contract: `obj` in, `{status, message}` out)
/// and uses goto, which Argo CD's scripts do and Luau could not run.
fn script(kind: &str) -> String {
    format!(
        "local hs = {{}}\nif obj.spec.ready then goto ready end\nhs.status = \"Progressing\"\nhs.message = \"{kind} not ready\"\ndo return hs end\n::ready::\nhs.status = \"Healthy\"\nhs.message = \"{kind} ready\"\nreturn hs\n"
    )
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .map(|l| format!("{pad}{l}\n"))
        .collect::<String>()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_runs_lua_health_checks_from_all_three_configuration_forms() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src")).unwrap();
    let manifests: String = KINDS.iter().map(|(k, p)| crd(k, p)).collect();
    std::fs::write(d.join("src/all.yaml"), manifests).unwrap();
    std::fs::create_dir_all(d.join("config")).unwrap();
    std::fs::write(
        d.join("config/app.yaml"),
        format!(
            "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: things}}\nspec:\n  source: {{repoURL: {}, path: .}}\n  destination: {{namespace: things}}\n  syncPolicy:\n    automated: {{prune: true}}\n    syncOptions: [CreateNamespace=true]\n",
            d.join("src").display()
        ),
    )
    .unwrap();
    // Form 1: a Driftless HealthCheck definition.
    std::fs::write(
        d.join("config/widget-health.yaml"),
        format!(
            "apiVersion: driftless.dev/v1alpha1\nkind: HealthCheck\nmetadata: {{name: widget}}\nspec:\n  selector: example.com/Widget\n  lua: |\n{}",
            indent(&script("Widget"), 4)
        ),
    )
    .unwrap();
    // Form 2: Argo CD's argocd-cm, as `kubectl get cm argocd-cm -o yaml` prints it.
    std::fs::write(
        d.join("config/argocd-cm.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: argocd-cm, namespace: argocd}}\ndata:\n  resource.customizations.health.example.com_Gadget: |\n{}",
            indent(&script("Gadget"), 4)
        ),
    )
    .unwrap();
    // Form 3: Argo CD's resource_customizations directory.
    let gizmo = d.join("customizations/example.com/Gizmo");
    std::fs::create_dir_all(&gizmo).unwrap();
    std::fs::write(gizmo.join("health.lua"), script("Gizmo")).unwrap();

    let mut up = Command::new(env!("CARGO_BIN_EXE_driftless"));
    up.args([
        "up",
        "--sandbox",
        "--allow-local-sources",
        "--listen",
        "127.0.0.1:0",
    ])
    .arg("--data-dir")
    .arg(d.join("data"))
    .arg("--config")
    .arg(d.join("config"))
    .arg("--resource-customizations")
    .arg(d.join("customizations"));
    let (_engine, api) = start_engine(up);
    let token = std::fs::read_to_string(d.join("data/api-token")).unwrap();
    let http = reqwest::Client::new();

    // Each custom resource's health as its own check says; without the checks a resource
    // with no status has no health at all.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let tree: serde_json::Value = http
            .get(format!("{api}/api/v1/applications/things/resources"))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_default();
        let health_of = |kind: &str| {
            tree["items"].as_array().and_then(|nodes| {
                nodes
                    .iter()
                    .find(|n| n["kind"] == kind && n["name"] == "one")
                    .map(|n| n["health"].clone())
            })
        };
        let healths: Vec<_> = KINDS.iter().map(|(k, _)| health_of(k)).collect();
        if healths
            .iter()
            .all(|h| h.as_ref().is_some_and(|h| h == "Healthy"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "custom resources' health from the Lua checks: {healths:?} in {tree}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let app: serde_json::Value = http
        .get(format!("{api}/api/v1/applications/things"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        crate::app_view(&app).status.health_status(),
        Some(driftless_health::HealthStatus::Healthy),
        "{app}"
    );
}
