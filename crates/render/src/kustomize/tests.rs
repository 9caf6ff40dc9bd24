//! End-to-end kustomize builds over small fixture repositories. Expected outputs are written by
//! hand from the kustomize documentation; generated-name hashes were computed independently
//! (Python hashlib over kustomize's documented encoding) and two are the documentation's own.

use serde_json::{Value, json};

use crate::local::LocalTree;
use crate::{RenderError, RenderLimits, RendererSpec, render};

/// Writes `//- path` blocks into a temporary directory (rust-analyzer's fixture format).
pub(crate) fn fixture(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut current: Option<(String, String)> = None;
    let flush = |c: Option<(String, String)>| {
        if let Some((path, body)) = c {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
    };
    for line in text.lines() {
        if let Some(path) = line.strip_prefix("//- ") {
            flush(current.take());
            current = Some((path.trim().to_string(), String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    flush(current);
    dir
}

fn build(dir: &tempfile::TempDir, path: &str) -> Result<Vec<Value>, RenderError> {
    let tree = LocalTree::new(dir.path()).unwrap();
    let r = render(
        &tree,
        path,
        &RendererSpec::Kustomize,
        &RenderLimits::default(),
    )?;
    Ok(r.set.values().cloned().collect())
}

fn yaml_docs(text: &str) -> Vec<Value> {
    driftless_core::yaml::parse_stream(text, &Default::default())
        .unwrap()
        .into_iter()
        .map(|d| d.value)
        .collect()
}

const BASE: &str = r#"
//- base/kustomization.yaml
resources:
- deployment.yaml
- service.yaml
configMapGenerator:
- name: web-config
  literals:
  - LOG_LEVEL=info
//- base/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
//- base/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
"#;

#[test]
fn overlay_with_prefix_namespace_labels_images_replicas_generator_merge_and_patch() {
    let dir = fixture(&format!(
        "{BASE}{}",
        r#"
//- overlays/prod/kustomization.yaml
resources:
- ../../base
namespace: prod
namePrefix: prod-
commonLabels:
  env: prod
images:
- name: nginx
  newTag: "1.27"
replicas:
- name: web
  count: 3
configMapGenerator:
- name: web-config
  behavior: merge
  literals:
  - LOG_LEVEL=warn
patches:
- path: resources.yaml
//- overlays/prod/resources.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        resources:
          limits:
            memory: 512Mi
"#
    ));
    let expected = yaml_docs(
        r#"
apiVersion: v1
data:
  LOG_LEVEL: warn
kind: ConfigMap
metadata:
  labels:
    env: prod
  name: prod-web-config-dfk4bdbtkk
  namespace: prod
---
apiVersion: v1
kind: Service
metadata:
  labels:
    env: prod
  name: prod-web
  namespace: prod
spec:
  ports:
  - port: 80
  selector:
    app: web
    env: prod
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    env: prod
  name: prod-web
  namespace: prod
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
      env: prod
  template:
    metadata:
      labels:
        app: web
        env: prod
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: prod-web-config-dfk4bdbtkk
        image: nginx:1.27
        name: web
        resources:
          limits:
            memory: 512Mi
"#,
    );
    let out = build(&dir, "overlays/prod").unwrap();
    assert_eq!(out, expected);
    // Byte for byte what `kubectl kustomize` (kustomize v5.5.0) prints: keys sorted.
    let bytes = driftless_core::yaml::to_yaml_stream(&out);
    assert!(bytes.starts_with("apiVersion: v1\ndata:\n  LOG_LEVEL: warn\nkind: ConfigMap\nmetadata:\n  labels:\n    env: prod\n  name: prod-web-config-dfk4bdbtkk\n  namespace: prod\n---\n"), "{bytes}");
    assert!(bytes.contains("      - envFrom:\n        - configMapRef:\n            name: prod-web-config-dfk4bdbtkk\n        image: nginx:1.27\n        name: web\n"), "{bytes}");
}

#[test]
fn generated_secret_name_matches_the_kubernetes_documentation() {
    let dir = fixture(
        "//- k/kustomization.yaml\nsecretGenerator:\n- name: example-secret-1\n  files:\n  - password.txt\n//- k/password.txt\nusername=admin\npassword=secret\n",
    );
    let out = build(&dir, "k").unwrap();
    assert_eq!(out[0]["metadata"]["name"], "example-secret-1-2kdd8ckcc7");
    assert_eq!(out[0]["type"], "Opaque");
    assert_eq!(
        out[0]["data"]["password.txt"],
        "dXNlcm5hbWU9YWRtaW4KcGFzc3dvcmQ9c2VjcmV0Cg=="
    );
}

#[test]
fn generator_options_env_files_and_disabled_hash() {
    let dir = fixture(
        "//- k/kustomization.yaml\ngeneratorOptions:\n  disableNameSuffixHash: true\n  labels:\n    generated: \"true\"\nconfigMapGenerator:\n- name: app\n  envs:\n  - app.env\n  files:\n  - conf=settings.ini\n//- k/app.env\n# comment\nA=1\nB=two words\n//- k/settings.ini\n[main]\nx=1\n",
    );
    let out = build(&dir, "k").unwrap();
    assert_eq!(
        out[0],
        json!({"apiVersion": "v1", "data": {"A": "1", "B": "two words", "conf": "[main]\nx=1\n"}, "kind": "ConfigMap", "metadata": {"labels": {"generated": "true"}, "name": "app"}})
    );
}

#[test]
fn components_add_resources_and_patch_the_parent() {
    let dir = fixture(&format!(
        "{BASE}{}",
        r#"
//- overlays/dev/kustomization.yaml
resources:
- ../../base
components:
- ../../components/debug
//- components/debug/kustomization.yaml
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources:
- debug-cm.yaml
patches:
- target:
    kind: Deployment
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/args
      value: ["--debug"]
//- components/debug/debug-cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: debug
data:
  enabled: "true"
"#
    ));
    let out = build(&dir, "overlays/dev").unwrap();
    let names: Vec<_> = out
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            "ConfigMap/debug",
            "ConfigMap/web-config-hf678c7m2b",
            "Service/web",
            "Deployment/web"
        ]
    );
    assert_eq!(
        out[3]["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["--debug"])
    );
}

#[test]
fn label_and_annotation_targets_select_patches() {
    let dir = fixture(
        r#"
//- k/kustomization.yaml
resources:
- all.yaml
commonAnnotations:
  team: payments
patches:
- target:
    kind: Deployment
    labelSelector: tier=backend
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: ignored
    spec:
      replicas: 5
//- k/all.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, labels: {tier: backend}}
spec: {template: {spec: {containers: [{name: a, image: a}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ui, labels: {tier: frontend}}
spec: {template: {spec: {containers: [{name: u, image: u}]}}}
"#,
    );
    let out = build(&dir, "k").unwrap();
    assert_eq!(out[0]["metadata"]["name"], "api");
    assert_eq!(out[0]["spec"]["replicas"], 5);
    assert!(out[1]["spec"].get("replicas").is_none());
    assert_eq!(
        out[1]["metadata"]["annotations"],
        json!({"team": "payments"})
    );
    assert_eq!(
        out[1]["spec"]["template"]["metadata"]["annotations"],
        json!({"team": "payments"})
    );
}

#[test]
fn replacements_copy_a_field_into_targets() {
    let dir = fixture(
        r#"
//- k/kustomization.yaml
resources:
- r.yaml
replacements:
- source:
    kind: Service
    name: db
    fieldPath: metadata.name
  targets:
  - select:
      kind: Deployment
    fieldPaths:
    - spec.template.spec.containers.[name=app].env.[name=DB_HOST].value
    - spec.template.metadata.annotations.[example.com/db]
    options:
      create: true
//- k/r.yaml
apiVersion: v1
kind: Service
metadata: {name: db}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  template:
    spec:
      containers:
      - name: app
        image: app
        env:
        - {name: DB_HOST, value: placeholder}
"#,
    );
    let out = build(&dir, "k").unwrap();
    let d = &out[1];
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "db"
    );
    assert_eq!(
        d["spec"]["template"]["metadata"]["annotations"]["example.com/db"],
        "db"
    );
}

#[test]
fn legacy_order_puts_namespaces_and_crds_first_and_webhooks_last() {
    let dir = fixture(
        r#"
//- k/kustomization.yaml
resources:
- r.yaml
//- k/r.yaml
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: w}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: b}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
---
apiVersion: v1
kind: Namespace
metadata: {name: ns}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: a}
"#,
    );
    let out = build(&dir, "k").unwrap();
    let names: Vec<_> = out
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["ns", "widgets.example.com", "d", "a", "b", "w"]);
}

#[test]
fn cyclic_bases_report_the_cycle() {
    let dir = fixture(
        "//- a/kustomization.yaml\nresources:\n- ../b\n//- b/kustomization.yaml\nresources:\n- ../a\n",
    );
    let err = build(&dir, "a").unwrap_err();
    assert_eq!(err.to_string(), "cyclic kustomization bases: a -> b -> a");
}

#[test]
fn escaping_and_missing_paths_name_the_kustomization() {
    let dir = fixture("//- app/kustomization.yaml\nresources:\n- ../../etc/passwd\n");
    let err = build(&dir, "app").unwrap_err();
    assert_eq!(
        err.to_string(),
        "app/kustomization.yaml: path `../../etc/passwd` leaves the repository root"
    );
    let dir = fixture("//- app/kustomization.yaml\nresources:\n- missing.yaml\n");
    let err = build(&dir, "app").unwrap_err();
    assert_eq!(
        err.to_string(),
        "app/kustomization.yaml: `resources[0]`: `missing.yaml` does not exist"
    );
}

#[test]
fn unknown_and_unsupported_fields_are_reported() {
    // kustomize (Go's JSON decoding) skips unknown top-level fields and matches names
    // case-insensitively; we do the same and warn about each skipped field.
    let dir = fixture(
        "//- app/kustomization.yaml\nresources: [c.yaml]\nnamePrefx: x-\nnameprefix: p-\n//- app/c.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    let tree = LocalTree::new(dir.path()).unwrap();
    let out = render(
        &tree,
        "app",
        &RendererSpec::Kustomize,
        &RenderLimits::default(),
    )
    .unwrap();
    assert!(
        out.warnings.iter().any(|w| w
            == "app/kustomization.yaml: unknown field `namePrefx` ignored (as kustomize does)"),
        "{:?}",
        out.warnings
    );
    assert_eq!(out.set.values().next().unwrap()["metadata"]["name"], "p-c");
    let dir = fixture("//- app/kustomization.yaml\nhelmCharts:\n- name: redis\n");
    let err = build(&dir, "app").unwrap_err().to_string();
    assert!(err.contains("plugin renderer"), "{err}");
    let dir = fixture(
        "//- app/kustomization.yaml\npatches:\n- target: {kind: Deployment}\n  patch: x\n  extra: 1\n",
    );
    let err = build(&dir, "app").unwrap_err().to_string();
    assert!(err.contains("patches[0]"), "{err}");
}

#[test]
fn json6902_failure_names_the_operation_without_values() {
    let dir = fixture(
        "//- k/kustomization.yaml\nresources: [s.yaml]\npatchesJson6902:\n- target: {version: v1, kind: Secret, name: s}\n  patch: '[{\"op\": \"remove\", \"path\": \"/data/missing\"}]'\n//- k/s.yaml\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {password: aHVudGVyMg==}\n",
    );
    let err = build(&dir, "k").unwrap_err().to_string();
    assert!(err.contains("operation 0"), "{err}");
    assert!(
        !err.contains("aHVudGVyMg") && !err.contains("c2VjcmV0"),
        "{err}"
    );
}

#[test]
fn rbac_references_follow_prefixes_and_namespaces() {
    let dir = fixture(
        r#"
//- k/kustomization.yaml
namespace: team
namePrefix: t-
resources:
- rbac.yaml
//- k/rbac.yaml
apiVersion: v1
kind: ServiceAccount
metadata: {name: runner}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bind}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
- {kind: ServiceAccount, name: runner, namespace: default}
- {kind: User, name: runner}
"#,
    );
    let out = build(&dir, "k").unwrap();
    let rb = out.iter().find(|o| o["kind"] == "RoleBinding").unwrap();
    assert_eq!(rb["roleRef"]["name"], "t-reader");
    assert_eq!(
        rb["subjects"][0],
        json!({"kind": "ServiceAccount", "name": "t-runner", "namespace": "team"})
    );
    // kustomize v5.5 renames a User named like the ServiceAccount too: same output, plus a warning.
    assert_eq!(
        rb["subjects"][1],
        json!({"kind": "User", "name": "t-runner", "namespace": "team"})
    );
}

#[test]
fn renaming_a_non_service_account_subject_is_warned_about() {
    let dir = fixture(
        "//- k/kustomization.yaml\nnamePrefix: t-\nresources: [r.yaml]\n//- k/r.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ops}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects:\n- {kind: User, name: ops}\n",
    );
    let tree = LocalTree::new(dir.path()).unwrap();
    let out = render(
        &tree,
        "k",
        &RendererSpec::Kustomize,
        &RenderLimits::default(),
    )
    .unwrap();
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("subject User `ops` was renamed to `t-ops`")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn json6902_replace_of_a_missing_key_adds_it_like_kustomize() {
    let dir = fixture(
        "//- k/kustomization.yaml\nresources: [c.yaml]\npatches:\n- target: {kind: ConfigMap}\n  patch: '[{\"op\": \"replace\", \"path\": \"/data/new\", \"value\": \"x\"}]'\n//- k/c.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
    );
    assert_eq!(
        build(&dir, "k").unwrap()[0]["data"],
        json!({"a": "b", "new": "x"})
    );
    let dir = fixture(
        "//- k/kustomization.yaml\nresources: [c.yaml]\npatches:\n- target: {kind: ConfigMap}\n  patch: '[{\"op\": \"replace\", \"path\": \"/data/list/3\", \"value\": \"x\"}]'\n//- k/c.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {list: [a]}\n",
    );
    assert!(
        build(&dir, "k").is_err(),
        "list indexes out of range still fail"
    );
}

#[test]
fn statefulset_claim_templates_and_cluster_scoped_kinds() {
    let dir = fixture(
        r#"
//- k/kustomization.yaml
namespace: data
namePrefix: p-
labels:
- pairs: {app: db}
  includeSelectors: true
resources: [r.yaml]
//- k/r.yaml
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {x: z}}
  template: {metadata: {labels: {x: z}}, spec: {containers: [{name: db, image: pg}]}}
  volumeClaimTemplates:
  - metadata: {name: data}
---
apiVersion: v1
kind: Service
metadata: {name: db}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: viewer}
---
apiVersion: v1
kind: Namespace
metadata: {name: data}
"#,
    );
    let out = build(&dir, "k").unwrap();
    let by = |k: &str| out.iter().find(|o| o["kind"] == k).unwrap();
    assert!(by("ClusterRole")["metadata"].get("namespace").is_none());
    assert_eq!(by("ClusterRole")["metadata"]["name"], "p-viewer");
    assert_eq!(
        by("Namespace")["metadata"]["name"],
        "data",
        "namespaces are never prefixed"
    );
    let sts = by("StatefulSet");
    assert_eq!(sts["spec"]["serviceName"], "p-db");
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"],
        json!({"app": "db"})
    );
    assert_eq!(
        sts["spec"]["selector"]["matchLabels"],
        json!({"x": "z", "app": "db"})
    );
}

#[test]
fn duplicate_resources_are_an_error_naming_both_files() {
    let dir = fixture(
        "//- k/kustomization.yaml\nresources: [a.yaml, b.yaml]\n//- k/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n//- k/b.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    );
    let err = build(&dir, "k").unwrap_err().to_string();
    assert_eq!(
        err,
        "ConfigMap x is rendered twice: first from k/a.yaml#0, again from k/b.yaml#0"
    );
}
