//! The three configuration forms and Argo CD's precedence between them.

use super::*;
use serde_json::json;

fn script(status: &str) -> String {
    format!("return {{ status = \"{status}\", message = \"\" }}")
}

fn found(checks: &HealthChecks, group: &str, kind: &str) -> Option<(String, LuaOrigin)> {
    checks
        .find(group, kind)
        .map(|c| (c.selector.clone(), c.origin.clone()))
}

#[test]
fn native_checks_keep_their_order_for_wildcards_and_exact_keys_win() {
    let wild = script("Suspended");
    let exact = script("Healthy");
    let checks = HealthChecks::from_native([
        ("*.example.com/*", wild.as_str()),
        ("db.example.com/Cluster", exact.as_str()),
    ]);
    assert_eq!(
        found(&checks, "db.example.com", "Cluster").unwrap().0,
        "db.example.com/Cluster"
    );
    assert_eq!(
        found(&checks, "db.example.com", "Backup").unwrap().0,
        "*.example.com/*"
    );
    assert_eq!(found(&checks, "apps", "Deployment"), None);
}

#[test]
fn argocd_cm_split_keys_and_the_old_block() {
    let data: BTreeMap<String, String> = [
        (
            "resource.customizations.health.cert-manager.io_Certificate",
            script("Healthy"),
        ),
        (
            "resource.customizations.health.ConfigMap",
            script("Healthy"),
        ),
        (
            "resource.customizations",
            "cert-manager.io/Certificate:\n  health.lua: |\n    return {status = 'Degraded'}\n\
             \"*.crossplane.io/*\":\n  health.lua: |\n    return {status = 'Suspended'}\n  \
             health.lua.useOpenLibs: true\n\
             apps/Deployment:\n  ignoreDifferences: |\n    jsonPointers: [/spec/replicas]\n"
                .to_string(),
        ),
        ("url", "https://argo.example.com".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut checks = HealthChecks::default();
    checks.add_argocd_cm(&data).unwrap();
    // The split key beats the block for the same kind.
    let (sel, origin) = found(&checks, "cert-manager.io", "Certificate").unwrap();
    assert_eq!(sel, "cert-manager.io/Certificate");
    assert_eq!(
        origin,
        LuaOrigin::ArgoConfigMap {
            key: "resource.customizations.health.cert-manager.io_Certificate".into()
        }
    );
    let cert = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate"});
    let h = checks
        .find("cert-manager.io", "Certificate")
        .unwrap()
        .run(&cert)
        .unwrap()
        .unwrap();
    assert_eq!(h.status, crate::HealthStatus::Healthy);
    // Core kinds are keyed by Kind alone.
    assert_eq!(found(&checks, "", "ConfigMap").unwrap().0, "ConfigMap");
    assert_eq!(found(&checks, "apps", "ConfigMap"), None);
    // The block's wildcard applies; an entry without health.lua adds no check.
    let (sel, origin) = found(&checks, "rds.aws.crossplane.io", "Instance").unwrap();
    assert_eq!(sel, "*.crossplane.io/*");
    assert!(
        matches!(origin, LuaOrigin::ArgoConfigMap { key } if key.contains("*.crossplane.io/*"))
    );
    assert_eq!(found(&checks, "apps", "Deployment"), None);
}

#[test]
fn bad_argocd_cm_entries_are_named() {
    let bad_key: BTreeMap<String, String> = [(
        "resource.customizations.health.a_b_c".to_string(),
        script("Healthy"),
    )]
    .into();
    let err = HealthChecks::default().add_argocd_cm(&bad_key).unwrap_err();
    assert!(
        err.to_string()
            .contains("resource.customizations.health.a_b_c"),
        "{err}"
    );
    let bad_block: BTreeMap<String, String> = [(
        "resource.customizations".to_string(),
        "a/B:\n  health.lua: [1]\n".to_string(),
    )]
    .into();
    let err = HealthChecks::default()
        .add_argocd_cm(&bad_block)
        .unwrap_err();
    assert!(
        err.to_string().contains("a/B: health.lua must be a string"),
        "{err}"
    );
}

#[test]
fn a_resource_customizations_directory() {
    let files = [
        ("cert-manager.io/Certificate/health.lua", script("Healthy")),
        (
            "cert-manager.io/Certificate/health_test.yaml",
            "tests: []".into(),
        ),
        (
            "cert-manager.io/Certificate/actions/discovery.lua",
            "return {}".into(),
        ),
        ("_.crossplane.io/_/health.lua", script("Suspended")),
        (
            "pkg.crossplane.io/Provider/health.lua",
            script("Progressing"),
        ),
        ("PersistentVolumeClaim/health.lua", script("Healthy")),
        ("a/b/c/health.lua", script("Healthy")),
    ];
    let mut checks = HealthChecks::default();
    checks.add_directory(files.iter().map(|(p, t)| (*p, t.as_str())));
    assert_eq!(checks.iter().count(), 4);
    assert_eq!(
        found(&checks, "cert-manager.io", "Certificate").unwrap().1,
        LuaOrigin::Directory {
            path: "cert-manager.io/Certificate/health.lua".into()
        }
    );
    // The exact directory beats the wildcard one.
    assert_eq!(
        found(&checks, "pkg.crossplane.io", "Provider").unwrap().0,
        "pkg.crossplane.io/Provider"
    );
    assert_eq!(
        found(&checks, "ec2.aws.crossplane.io", "VPC").unwrap().0,
        "*.crossplane.io/*"
    );
    assert_eq!(
        found(&checks, "", "PersistentVolumeClaim").unwrap().0,
        "PersistentVolumeClaim"
    );
}

#[test]
fn configured_checks_beat_the_directory_even_as_wildcards() {
    let mut checks = HealthChecks::default();
    let dir = script("Healthy");
    checks.add_directory([("cert-manager.io/Certificate/health.lua", dir.as_str())]);
    let data: BTreeMap<String, String> = [(
        "resource.customizations".to_string(),
        "\"cert-manager.io/*\":\n  health.lua: return {status = 'Degraded'}\n".to_string(),
    )]
    .into();
    checks.add_argocd_cm(&data).unwrap();
    let native = script("Suspended");
    checks.add_native([("*/Certificate", native.as_str())]);
    // Native before argocd-cm among configured wildcards, whatever the order of loading;
    // both before the directory's exact key.
    assert_eq!(
        found(&checks, "cert-manager.io", "Certificate").unwrap().0,
        "*/Certificate"
    );
    let argo_only = {
        let mut c = HealthChecks::default();
        c.add_directory([("cert-manager.io/Certificate/health.lua", dir.as_str())]);
        c.add_argocd_cm(&data).unwrap();
        c
    };
    assert_eq!(
        found(&argo_only, "cert-manager.io", "Certificate")
            .unwrap()
            .0,
        "cert-manager.io/*"
    );
    let mut native_first = HealthChecks::from_native([("*/Certificate", native.as_str())]);
    native_first.add_argocd_cm(&data).unwrap();
    assert_eq!(
        found(&native_first, "cert-manager.io", "Certificate")
            .unwrap()
            .0,
        "*/Certificate"
    );
}

#[test]
fn broken_scripts_are_reported_not_fatal() {
    let checks = HealthChecks::from_native([("a.io/B", "if then"), ("a.io/C", "return {}")]);
    let problems: Vec<String> = checks.problems().map(|e| e.to_string()).collect();
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("a.io/B"), "{problems:?}");
    assert!(checks.find("a.io", "C").is_some());
}

#[test]
fn reading_a_real_directory() {
    let root = std::env::temp_dir().join(format!("driftless-health-dir-{}", std::process::id()));
    let kind_dir = root.join("cert-manager.io/Certificate");
    std::fs::create_dir_all(kind_dir.join("testdata")).unwrap();
    std::fs::write(kind_dir.join("health.lua"), "return {status='Healthy'}").unwrap();
    std::fs::write(kind_dir.join("testdata/ok.yaml"), "kind: Certificate").unwrap();
    std::fs::create_dir_all(root.join("Pod")).unwrap();
    std::fs::write(root.join("Pod/health.lua"), "return nil").unwrap();
    let files = read_directory(&root).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(
        files,
        vec![
            ("Pod/health.lua".to_string(), "return nil".to_string()),
            (
                "cert-manager.io/Certificate/health.lua".to_string(),
                "return {status='Healthy'}".to_string()
            ),
        ]
    );
    let err = read_directory(Path::new("/nonexistent/driftless")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/driftless"), "{err}");
}

#[test]
fn definitions_in_a_config_directory() {
    let mut checks = HealthChecks::default();
    let native = json!({"apiVersion": "driftless.dev/v1alpha1", "kind": "HealthCheck",
        "metadata": {"name": "certs"},
        "spec": {"selector": "cert-manager.io/Certificate", "lua": "return {status = 'Healthy'}"}});
    assert!(checks.add_document(&native, "health.yaml#0").unwrap());
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": "argocd"},
        "data": {"resource.customizations.health.ConfigMap": "return {status = 'Degraded'}",
                 "url": "https://argo.example.com"}});
    assert!(checks.add_document(&cm, "argocd-cm.yaml#0").unwrap());
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"}});
    assert!(!checks.add_document(&other, "x.yaml#0").unwrap());
    assert_eq!(
        found(&checks, "cert-manager.io", "Certificate").unwrap().1,
        LuaOrigin::Native
    );
    assert!(matches!(
        found(&checks, "", "ConfigMap").unwrap().1,
        LuaOrigin::ArgoConfigMap { .. }
    ));
    let bad = json!({"apiVersion": "driftless.dev/v1alpha1", "kind": "HealthCheck",
        "metadata": {"name": "x"}, "spec": {"selector": "a/B"}});
    let err = checks
        .add_document(&bad, "health.yaml#1")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "health.yaml#1: HealthCheck needs a non-empty string spec.lua"
    );
}

#[test]
fn empty_scripts_are_no_checks_as_in_argo_cd() {
    let mut checks = HealthChecks::from_native([("apps/Deployment", "")]);
    let data: BTreeMap<String, String> = [(
        "resource.customizations.health.apps_StatefulSet".to_string(),
        String::new(),
    )]
    .into();
    checks.add_argocd_cm(&data).unwrap();
    checks.add_directory([("apps/DaemonSet/health.lua", "")]);
    assert!(checks.is_empty());
}
