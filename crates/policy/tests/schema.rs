//! Schema validation against the embedded v1.36 OpenAPI and CRDs.

use driftless_policy::schema::{Outcome, SchemaIssue, SchemaSet};
use serde_json::{Value, json};

fn issues(set: &SchemaSet, obj: &Value) -> Vec<SchemaIssue> {
    match set.validate(obj) {
        Outcome::Checked(i) => i,
        other => panic!("not checked: {other:?}"),
    }
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web", "image": "nginx:1.27",
                    "ports": [{"containerPort": 80}],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}}
                }]}
            }
        }
    })
}

fn has(issues: &[SchemaIssue], rule: &str, path: &str) -> bool {
    issues.iter().any(|i| i.rule == rule && i.path == path)
}

#[test]
fn valid_deployment_has_no_issues() {
    let set = SchemaSet::embedded();
    assert_eq!(set.version(), "1.36");
    assert_eq!(issues(&set, &deployment()), vec![]);
}

#[test]
fn each_kind_of_violation_names_its_field() {
    let set = SchemaSet::embedded();
    let mut d = deployment();
    d["spec"]["replica"] = json!(3);
    d["spec"]["replicas"] = json!("two");
    let c = &mut d["spec"]["template"]["spec"]["containers"][0];
    c["imagePullPolicy"] = json!("Sometimes");
    c["resources"]["limits"] = json!({"memory": "lots"});
    c["ports"] = json!([{"containerPort": 80}, {"containerPort": 80}]);
    c["readinessProbe"]["httpGet"]["port"] = json!(true);
    d["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("name");
    let found = issues(&set, &d);
    let c0 = "spec.template.spec.containers[0]";
    assert!(
        has(&found, "schema.unknown-field", "spec.replica"),
        "{found:#?}"
    );
    assert!(has(&found, "schema.type", "spec.replicas"), "{found:#?}");
    assert!(
        has(&found, "schema.enum", &format!("{c0}.imagePullPolicy")),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "schema.format",
            &format!("{c0}.resources.limits.memory")
        ),
        "{found:#?}"
    );
    assert!(
        has(&found, "schema.duplicate-key", &format!("{c0}.ports[1]")),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "schema.type",
            &format!("{c0}.readinessProbe.httpGet.port")
        ),
        "{found:#?}"
    );
    assert!(
        has(&found, "schema.required", &format!("{c0}.name")),
        "{found:#?}"
    );
    assert_eq!(found.len(), 7, "{found:#?}");
}

#[test]
fn secret_data_must_be_base64_and_labels_strings() {
    let set = SchemaSet::embedded();
    let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "labels": {"n": 1}}, "data": {"k": "not base64!"}});
    let found = issues(&set, &s);
    assert!(has(&found, "schema.format", "data.k"), "{found:#?}");
    assert!(
        has(&found, "schema.type", "metadata.labels.n"),
        "{found:#?}"
    );
}

#[test]
fn unserved_versions_and_custom_resources_without_crd() {
    let set = SchemaSet::embedded();
    let old = json!({"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": "x"}});
    assert_eq!(set.validate(&old), Outcome::NotServed);
    let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}});
    assert_eq!(set.validate(&cr), Outcome::NoSchema);
}

fn crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced",
          "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
            "type": "object",
            "properties": {
              "spec": {"type": "object", "required": ["size"], "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "color": {"type": "string", "enum": ["red", "blue"]},
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8},
                "port": {"x-kubernetes-int-or-string": true},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
                "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"],
                          "items": {"type": "object", "properties": {"id": {"type": "string"}}}}
              }}
            }}}}]}
    })
}

#[test]
fn crd_schema_checks_bounds_patterns_and_keys() {
    let mut set = SchemaSet::embedded();
    assert_eq!(set.add_crd(&crd(), "crds/widget.yaml#0").unwrap(), 1);
    let good = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"size": 3, "color": "red", "name": "abc", "port": "http", "extra": {"anything": [1]},
                 "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}},
                 "items": [{"id": "a"}, {"id": "b"}]}});
    assert_eq!(issues(&set, &good), vec![]);
    let bad = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "labelz": {}},
        "spec": {"size": 11, "color": "green", "name": "ABCDEFGHIJ", "port": 1.5, "unknown": 1,
                 "template": {"spec": {}}, "items": [{"id": "a"}, {"id": "a"}]}});
    let found = issues(&set, &bad);
    for (rule, path) in [
        ("schema.unknown-field", "metadata.labelz"),
        ("schema.bounds", "spec.size"),
        ("schema.enum", "spec.color"),
        ("schema.pattern", "spec.name"),
        ("schema.bounds", "spec.name"),
        ("schema.type", "spec.port"),
        ("schema.unknown-field", "spec.unknown"),
        ("schema.required", "spec.template"),
        ("schema.duplicate-key", "spec.items[1]"),
    ] {
        assert!(has(&found, rule, path), "{rule} at {path}: {found:#?}");
    }
    let missing = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}});
    assert!(has(&issues(&set, &missing), "schema.required", "spec.size"));
}

#[test]
fn another_version_from_an_openapi_v2_document() {
    let doc = json!({
        "swagger": "2.0", "info": {"version": "v1.20.0"},
        "definitions": {
            "io.k8s.api.batch.v1beta1.CronJob": {
                "type": "object",
                "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                               "metadata": {"type": "object"}, "spec": {"$ref": "#/definitions/io.k8s.api.batch.v1beta1.CronJobSpec"}},
                "x-kubernetes-group-version-kind": [{"group": "batch", "version": "v1beta1", "kind": "CronJob"}]
            },
            "io.k8s.api.batch.v1beta1.CronJobSpec": {"type": "object", "required": ["schedule"], "properties": {"schedule": {"type": "string"}}}
        }
    });
    let set = SchemaSet::from_openapi(&doc, "k8s-1.20.json").unwrap();
    assert_eq!(set.version(), "1.20.0");
    let cj = json!({"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": "x"}, "spec": {"schedul": "* * * * *"}});
    let found = issues(&set, &cj);
    assert!(
        has(&found, "schema.required", "spec.schedule"),
        "{found:#?}"
    );
    assert!(
        has(&found, "schema.unknown-field", "spec.schedul"),
        "{found:#?}"
    );
    assert!(SchemaSet::from_openapi(&json!({"x": 1}), "bad.json").is_err());
}
