//! The assessor's order: lifecycle, then Lua, then built-in; and the aggregate.

use driftless_health::{
    Assessor, Health, HealthChecks, HealthSource, HealthStatus, LuaCheck, LuaOrigin, worst,
};
use serde_json::json;

#[test]
fn an_absent_object_is_missing() {
    let h = Assessor::default().assess(None).unwrap();
    assert_eq!(h.status, HealthStatus::Missing);
    assert_eq!(h.source, Some(HealthSource::Lifecycle));
}

#[test]
fn a_custom_check_overrides_the_builtin_for_its_kinds_only() {
    let check = LuaCheck::new(
        "apps/Deployment",
        r#"return { status = "Suspended", message = "custom " .. obj.metadata.name }"#,
    )
    .unwrap();
    let a = Assessor::new(vec![check]);
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
    let h = a.assess(Some(&d)).unwrap();
    assert_eq!(h.message, "custom web");
    assert_eq!(
        h.source,
        Some(HealthSource::Lua {
            selector: "apps/Deployment".into(),
            origin: LuaOrigin::Native
        })
    );
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}});
    let h = a.assess(Some(&ns)).unwrap();
    assert_eq!(h.status, HealthStatus::Healthy);
    assert_eq!(
        h.source,
        Some(HealthSource::BuiltinKind {
            kind: "Namespace".into()
        })
    );
}

#[test]
fn pending_deletion_comes_before_any_check() {
    let a = Assessor::with_checks(HealthChecks::from_native([(
        "example.com/*",
        "return {status = 'Degraded'}",
    )]));
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
    let h = a.assess(Some(&obj)).unwrap();
    assert_eq!(
        (h.status, h.message.as_str()),
        (HealthStatus::Progressing, "Pending deletion")
    );
    // A hook held by Argo CD's finalizer is assessed as usual.
    let hook = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "deletionTimestamp": "2026-01-01T00:00:00Z",
            "finalizers": ["argocd.argoproj.io/hook-finalizer"]},
        "status": {"conditions": [{"type": "Complete", "status": "True"}]}});
    assert_eq!(a.assess(Some(&hook)).unwrap().status, HealthStatus::Healthy);
}

#[test]
fn a_broken_script_makes_its_kind_unknown_and_nothing_else() {
    let checks = HealthChecks::from_native([
        ("example.com/Widget", "if then end"),
        (
            "example.com/Gadget",
            "return {status = 'Healthy', message = 'fine'}",
        ),
    ]);
    let a = Assessor::with_checks(checks);
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget"});
    let h = a.assess(Some(&widget)).unwrap();
    assert_eq!(h.status, HealthStatus::Unknown);
    assert!(h.message.contains("does not compile"), "{}", h.message);
    let gadget = json!({"apiVersion": "example.com/v1", "kind": "Gadget"});
    assert_eq!(a.assess(Some(&gadget)).unwrap().message, "fine");
    let runtime = Assessor::with_checks(HealthChecks::from_native([(
        "example.com/Widget",
        "return obj.status.phase.name",
    )]));
    let h = runtime.assess(Some(&widget)).unwrap();
    assert_eq!(h.status, HealthStatus::Unknown);
    assert!(h.message.contains("example.com/Widget"), "{}", h.message);
}

#[test]
fn a_script_returning_nothing_means_no_health_not_the_builtin() {
    let a = Assessor::with_checks(HealthChecks::from_native([(
        "apps/Deployment",
        "return nil",
    )]));
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"paused": true}});
    assert_eq!(a.assess(Some(&d)), None);
}

#[test]
fn kinds_without_health_have_none() {
    let a = Assessor::default();
    for (api, kind) in [
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "ServiceAccount"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("policy/v1", "PodDisruptionBudget"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("tekton.dev/v1", "Pipeline"),
        ("example.com/v1", "Thing"),
    ] {
        let obj = json!({"apiVersion": api, "kind": kind, "metadata": {"name": "x"},
            "status": {"conditions": [{"type": "DisruptionAllowed", "status": "True"}]}});
        assert_eq!(a.assess(Some(&obj)), None, "{kind}");
    }
}

#[test]
fn the_aggregate_is_the_worst_with_unknown_worst_of_all() {
    let all = [
        Health::new(HealthStatus::Healthy, ""),
        Health::new(HealthStatus::Degraded, "d"),
        Health::new(HealthStatus::Unknown, "u"),
        Health::new(HealthStatus::Progressing, "p"),
    ];
    assert_eq!(worst(&all).status, HealthStatus::Unknown);
    assert_eq!(worst(&all[..2]).status, HealthStatus::Degraded);
    assert_eq!(worst([].iter()).status, HealthStatus::Healthy);
}

#[test]
fn the_source_is_serialized_for_the_api() {
    let h = Health::new(HealthStatus::Degraded, "bad").from_check(HealthSource::BuiltinFamily {
        family: "cert-manager".into(),
        kind: "cert-manager.io/Certificate".into(),
    });
    let v = serde_json::to_value(&h).unwrap();
    assert_eq!(
        v,
        json!({"status": "Degraded", "message": "bad", "source": {"check": "builtinFamily",
            "family": "cert-manager", "kind": "cert-manager.io/Certificate"}})
    );
    let lua = HealthSource::Lua {
        selector: "*.crossplane.io/*".into(),
        origin: LuaOrigin::ArgoConfigMap {
            key: "resource.customizations".into(),
        },
    };
    assert_eq!(
        lua.to_string(),
        "Lua check *.crossplane.io/* (argocd-cm resource.customizations)"
    );
    let plain = serde_json::to_value(Health::new(HealthStatus::Healthy, "")).unwrap();
    assert_eq!(plain, json!({"status": "Healthy", "message": ""}));
}
