//! The repository checks on an in-memory tree: structure rules, naming, YAML positions,
//! document lines for rendered objects, and the gate's configuration read from the tree.

use std::collections::BTreeMap;

use driftless_core::source::{NodeKind, SourceError, SourceTree};
use driftless_policy::config::ValidationConfig;
use driftless_policy::repo::{check_structure, scan};
use driftless_policy::{Gate, GateConfig};

/// Files by path; directories are implied by their files.
struct MemTree(BTreeMap<String, String>);

impl MemTree {
    fn new(files: &[(&str, &str)]) -> Self {
        MemTree(
            files
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
        )
    }
}

impl SourceTree for MemTree {
    fn describe(&self) -> String {
        "memory".into()
    }
    fn lstat(&self, path: &str) -> Result<Option<NodeKind>, SourceError> {
        if self.0.contains_key(path) {
            return Ok(Some(NodeKind::File));
        }
        let dir = format!("{path}/");
        Ok(
            (path.is_empty() || self.0.keys().any(|k| k.starts_with(&dir)))
                .then_some(NodeKind::Dir),
        )
    }
    fn read_raw(&self, path: &str, _max: usize) -> Result<Vec<u8>, SourceError> {
        self.0
            .get(path)
            .map(|t| t.as_bytes().to_vec())
            .ok_or(SourceError::NotFound { path: path.into() })
    }
    fn list_raw(&self, path: &str) -> Result<Vec<String>, SourceError> {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut names: Vec<String> = self
            .0
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap().to_string())
            .collect();
        names.dedup();
        Ok(names)
    }
    fn content_id(&self, path: &str) -> Result<String, SourceError> {
        Ok(path.into())
    }
}

const CONFIG: &str = r#"apiVersion: driftless.dev/v1alpha1
kind: ValidationConfig
metadata: {name: t}
spec:
  structure:
    requiredDirectories: [applications, clusters]
    requiredFiles: ["README.md|README"]
    environments: {names: [dev, prod]}
    naming:
      - files: "applications/*"
        pattern: "^[a-z-]+\\.yaml$"
  policies:
    builtin: [no-latest-tag]
"#;

#[test]
fn structure_rules_report_each_missing_piece() {
    let tree = MemTree::new(&[
        ("driftless.yaml", CONFIG),
        ("applications/Web_App.yaml", "kind: ConfigMap\n"),
        ("environments/dev/kustomization.yaml", "resources: []\n"),
        ("environments/qa/notes.txt", "x"),
    ]);
    let inputs = driftless_policy::load::load(&tree, None).unwrap();
    let (inv, yaml) = scan(&tree);
    assert_eq!(yaml, vec![]);
    let mut found: Vec<(String, String)> = check_structure(&inv, &inputs.config)
        .into_iter()
        .map(|f| (f.rule, f.file.unwrap_or_default()))
        .collect();
    found.sort();
    let expect = [
        ("structure.environment", "environments/prod"),
        ("structure.environment-file", "environments/qa"),
        ("structure.naming", "applications/Web_App.yaml"),
        ("structure.required-directory", "clusters"),
        ("structure.required-file", "README.md|README"),
    ];
    assert_eq!(found, expect.map(|(a, b)| (a.to_string(), b.to_string())));
    // Without a config only the environments' kustomizations are required.
    let defaults = check_structure(&inv, &ValidationConfig::default());
    assert_eq!(defaults.len(), 1, "{defaults:#?}");
}

#[test]
fn yaml_positions_and_object_lines() {
    let tree = MemTree::new(&[
        (
            "a.yaml",
            "# c\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {enabled: yes}\n",
        ),
        ("b.yaml", "x:\n  y: 1\n  y: 2\n"),
        ("chart/Chart.yaml", "name: c\n"),
        ("chart/templates/d.yaml", "{{ if .Values.x }}\n"),
        (".github/workflows/ci.yaml", "on: [push\n"),
    ]);
    let (inv, found) = scan(&tree);
    assert_eq!(inv.locate("a.yaml#1"), ("a.yaml".to_string(), Some(6)));
    assert_eq!(
        inv.locate("a.yaml#0.items[2]"),
        ("a.yaml".to_string(), Some(2))
    );
    let dup = found
        .iter()
        .find(|f| f.rule == "yaml.duplicate-key")
        .expect("duplicate");
    assert_eq!(
        (dup.file.as_deref(), dup.line, dup.column),
        (Some("b.yaml"), Some(3), Some(3))
    );
    let ambiguous = found
        .iter()
        .find(|f| f.rule == "yaml.ambiguous-scalar")
        .expect("yes");
    assert_eq!(
        (ambiguous.line, ambiguous.column, ambiguous.field.as_deref()),
        // `data: {enabled: yes}`: the flow mapping's key is as deep as the scanner goes.
        (Some(9), Some(1), Some("data.enabled"))
    );
    // Helm templates and dot-directories are not YAML to check.
    assert_eq!(found.len(), 2, "{found:#?}");
}

#[test]
fn gate_config_from_the_repository() {
    let tree = MemTree::new(&[
        ("driftless.yaml", CONFIG),
        (
            "policies/ns.rego",
            "package team\n\ndeny contains \"no kube-system\" if input.metadata.namespace == \"kube-system\"\n",
        ),
        ("policies/ns_test.rego", "package team_test\n"),
    ]);
    let config = GateConfig::from_tree(&tree).unwrap();
    assert_eq!(config.modules.len(), 1);
    assert_eq!(config.builtins[0].name, "no-latest-tag");
    let gate = Gate::new(config).unwrap();
    let set = driftless_core::DesiredSet::from_objects([(
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "kube-system"}}),
        "x.yaml#0".to_string(),
    )])
    .unwrap();
    let found = gate.check(&set);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        (found[0].rule.as_str(), found[0].message.as_str()),
        ("team.deny", "no kube-system")
    );
    let bad = MemTree::new(&[(
        "driftless.yaml",
        "apiVersion: driftless.dev/v1alpha1\nkind: ValidationConfig\nspec: {policies: {builtin: [nope]}}\n",
    )]);
    let e = Gate::new(GateConfig::from_tree(&bad).unwrap()).unwrap_err();
    assert!(
        e.to_string().contains("unknown built-in policy `nope`"),
        "{e}"
    );
}
