//! The engine's gate: built once, checked per rendered set; errors mean "do not apply".

use driftless_core::DesiredSet;
use driftless_policy::{Check, EnabledBuiltin, Gate, GateConfig, Severity, has_errors};
use serde_json::{Value, json};

fn set(objects: Vec<Value>) -> DesiredSet {
    DesiredSet::from_objects(
        objects
            .into_iter()
            .enumerate()
            .map(|(i, o)| (o, format!("apps/web/all.yaml#{i}"))),
    )
    .unwrap()
}

fn deploy(image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "web", "image": image}]}}}})
}

#[test]
fn gate_refuses_a_violating_set_and_passes_a_compliant_one() {
    let gate = Gate::new(GateConfig {
        builtins: vec![EnabledBuiltin {
            name: "no-latest-tag".into(),
            severity: Severity::Error,
            parameters: Value::Null,
        }],
        ..Default::default()
    })
    .unwrap();
    let bad = gate.check(&set(vec![deploy("nginx:latest")]));
    assert!(has_errors(&bad));
    assert_eq!(bad.len(), 1, "{bad:#?}");
    assert_eq!(bad[0].rule, "builtin.no-latest-tag");
    assert_eq!(bad[0].file.as_deref(), Some("apps/web/all.yaml"));
    assert_eq!(bad[0].object.as_ref().unwrap().name, "web");
    assert_eq!(gate.check(&set(vec![deploy("nginx:1.27")])), vec![]);
    // The same gate, shared across threads.
    let g2 = gate.clone();
    let t = std::thread::spawn(move || g2.check(&set(vec![deploy("nginx")])).len());
    assert_eq!(t.join().unwrap(), 1);
}

#[test]
fn gate_uses_crds_in_the_set_and_reports_removed_apis() {
    let gate = Gate::new(GateConfig::default()).unwrap();
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced",
                 "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object",
                   "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}});
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "shop"}, "spec": {"size": "big"}});
    let found = gate.check(&set(vec![crd, widget]));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        (found[0].check, found[0].field.as_deref()),
        (Check::Schema, Some("spec.size"))
    );
    let old = json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "shop"}});
    let found = gate.check(&set(vec![old]));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        (found[0].check, found[0].rule.as_str()),
        (Check::Deprecation, "deprecation.removed")
    );
    assert!(
        Gate::new(GateConfig {
            kubernetes_version: "2".into(),
            ..Default::default()
        })
        .is_err()
    );
}
