//! The Rego policies: built-ins by name, the team's modules (Rego v1 and v0), results naming
//! the object, the rule and the field.

use driftless_policy::rego::{BUILTINS, EnabledBuiltin, Module, PolicySet};
use driftless_policy::{Finding, Severity};
use serde_json::{Value, json};

fn on(names: &[&str]) -> Vec<EnabledBuiltin> {
    names
        .iter()
        .map(|n| EnabledBuiltin {
            name: n.to_string(),
            severity: Severity::Error,
            parameters: Value::Null,
        })
        .collect()
}

fn pod_workload(container: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "shop", "labels": {"app.kubernetes.io/name": "web"}},
           "spec": {"template": {"metadata": {"labels": {"app.kubernetes.io/name": "web"}},
                                 "spec": {"securityContext": {"runAsNonRoot": true}, "containers": [container]}}}})
}

fn good_container() -> Value {
    json!({"name": "web", "image": "nginx:1.27",
           "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
           "readinessProbe": {"tcpSocket": {"port": 80}}, "livenessProbe": {"tcpSocket": {"port": 80}}})
}

fn rules(f: &[Finding]) -> Vec<(String, Option<String>)> {
    let mut r: Vec<_> = f
        .iter()
        .map(|f| (f.rule.clone(), f.field.clone()))
        .collect();
    r.sort();
    r
}

#[test]
fn compliant_workload_passes_every_builtin() {
    let all: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
    let set = PolicySet::new(&on(&all), &[]).unwrap();
    let found = set.evaluator().check(&pod_workload(good_container()));
    assert_eq!(found, vec![]);
}

#[test]
fn each_builtin_denies_with_rule_object_and_field() {
    let all: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
    let set = PolicySet::new(&on(&all), &[]).unwrap();
    let mut ev = set.evaluator();
    let c = "spec.template.spec.containers[0]";
    let mut bad = good_container();
    bad["image"] = json!("nginx");
    bad["securityContext"] = json!({"privileged": true, "runAsUser": 0});
    bad["resources"] = json!({});
    bad.as_object_mut().unwrap().remove("livenessProbe");
    let mut d = pod_workload(bad);
    d["metadata"]["namespace"] = json!("default");
    d["metadata"]["labels"] = json!({});
    d["spec"]["template"]["spec"]["hostNetwork"] = json!(true);
    d["spec"]["template"]["spec"]["volumes"] = json!([{"name": "root", "hostPath": {"path": "/"}}]);
    let found = ev.check(&d);
    let got = rules(&found);
    for (rule, field) in [
        ("builtin.no-latest-tag", format!("{c}.image")),
        (
            "builtin.no-privileged",
            format!("{c}.securityContext.privileged"),
        ),
        (
            "builtin.run-as-non-root",
            format!("{c}.securityContext.runAsUser"),
        ),
        ("builtin.resources", format!("{c}.resources.requests.cpu")),
        ("builtin.resources", format!("{c}.resources.limits.memory")),
        ("builtin.probes", format!("{c}.livenessProbe")),
        (
            "builtin.no-default-namespace",
            "metadata.namespace".to_string(),
        ),
        ("builtin.required-labels", "metadata.labels".to_string()),
        (
            "builtin.no-host-namespaces",
            "spec.template.spec.hostNetwork".to_string(),
        ),
        (
            "builtin.no-host-path",
            "spec.template.spec.volumes[0].hostPath".to_string(),
        ),
    ] {
        assert!(
            got.contains(&(rule.to_string(), Some(field.clone()))),
            "{rule} {field}: {got:#?}"
        );
    }
    let o = found[0].object.as_ref().unwrap();
    assert_eq!(
        (o.kind.as_str(), o.namespace.as_str(), o.name.as_str()),
        ("Deployment", "default", "web")
    );
    // latest tag, and a digest is fine
    let mut latest = good_container();
    latest["image"] = json!("registry:5000/team/app:latest");
    assert_eq!(
        rules(&ev.check(&pod_workload(latest))),
        vec![("builtin.no-latest-tag".into(), Some(format!("{c}.image")))]
    );
    let mut digest = good_container();
    digest["image"] = json!("registry:5000/app@sha256:abc");
    assert_eq!(ev.check(&pod_workload(digest)), vec![]);
}

#[test]
fn parameters_and_severity_override() {
    let builtins = vec![EnabledBuiltin {
        name: "required-labels".into(),
        severity: Severity::Warning,
        parameters: json!({"labels": ["team"]}),
    }];
    let set = PolicySet::new(&builtins, &[]).unwrap();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"app.kubernetes.io/name": "x"}}});
    let found = set.evaluator().check(&cm);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(
        found[0].message.contains("\"team\""),
        "{}",
        found[0].message
    );
    assert!(
        PolicySet::new(&on(&["no-such-policy"]), &[])
            .unwrap_err()
            .to_string()
            .contains("no-latest-tag")
    );
}

#[test]
fn team_modules_v1_and_v0_deny_and_warn() {
    let v1 = Module {
        file: "policies/replicas.rego".into(),
        text: "package main\n\ndeny contains msg if {\n\tinput.kind == \"Deployment\"\n\tinput.spec.replicas < 2\n\tmsg := sprintf(\"%s: at least 2 replicas\", [input.metadata.name])\n}\n\nwarn contains {\"msg\": \"no team label\", \"field\": \"metadata.labels.team\"} if {\n\tnot input.metadata.labels.team\n}\n".into(),
    };
    let v0 = Module {
        file: "policies/legacy.rego".into(),
        text: "package legacy\n\nviolation[msg] {\n\tinput.kind == \"Service\"\n\tinput.spec.type == \"NodePort\"\n\tmsg := \"NodePort services are not allowed\"\n}\n".into(),
    };
    let set = PolicySet::new(&[], &[v1, v0]).unwrap();
    let mut ev = set.evaluator();
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1}});
    let found = ev.check(&d);
    assert_eq!(
        rules(&found),
        vec![
            ("main.deny".into(), None),
            ("main.warn".into(), Some("metadata.labels.team".into()))
        ]
    );
    let deny = found.iter().find(|f| f.rule == "main.deny").unwrap();
    assert_eq!(
        (deny.severity, deny.message.as_str()),
        (Severity::Error, "web: at least 2 replicas")
    );
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"team": "a"}}, "spec": {"type": "NodePort"}});
    assert_eq!(
        rules(&ev.check(&svc)),
        vec![("legacy.violation".into(), None)]
    );
    let broken = Module {
        file: "policies/broken.rego".into(),
        text: "package x\ndeny contains msg if {\n".into(),
    };
    let e = PolicySet::new(&[], &[broken]).unwrap_err().to_string();
    assert!(e.starts_with("policies/broken.rego"), "{e}");
    let reserved = Module {
        file: "policies/r.rego".into(),
        text: "package driftless.gate\nx := 1\n".into(),
    };
    assert!(
        PolicySet::new(&[], &[reserved])
            .unwrap_err()
            .to_string()
            .contains("reserved")
    );
}
