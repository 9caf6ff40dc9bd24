//! `driftless validate` through the real binary on a repository laid out like the seed's
//! (tests/fixtures/validate/seed): clean as committed, then one defect at a time, each
//! caught with its file and field; every report format parsed; exit codes 0 / 1 / 2.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod errors;
mod reports;

pub(crate) fn seed() -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/validate/seed");
    let dir = tempfile::tempdir().unwrap();
    copy(&src, dir.path());
    dir
}

fn copy(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

pub(crate) fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let p = dir.join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{file} lacks {from:?}");
    std::fs::write(p, text.replacen(from, to, 1)).unwrap();
}

pub(crate) fn validate(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftless"))
        .arg("validate")
        .arg(dir)
        .args(extra)
        .env("HOME", dir)
        .output()
        .unwrap()
}

/// Runs with `-o json`, checks the exit code, returns the report.
fn json_report(dir: &Path, code: i32) -> Value {
    let out = validate(dir, &["-o", "json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn findings<'a>(report: &'a Value, rule: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .collect()
}

#[test]
fn seed_repository_validates_clean() {
    let dir = seed();
    let out = validate(dir.path(), &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text,
        "OK: 0 error(s), 0 warning(s) in 3 environment(s), 9 object(s) (Kubernetes 1.36)\n"
    );
    let r = json_report(dir.path(), 0);
    assert_eq!(r["status"], "passed");
    assert_eq!(
        r["summary"],
        serde_json::json!({"errors": 0, "warnings": 0, "environments": 3, "objects": 9})
    );
    let envs: Vec<&str> = r["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["shop-dev", "shop-prod", "shop-staging"]);
    let checks: Vec<&str> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        ["structure", "yaml", "schema", "policy", "deprecation"]
    );
}

#[test]
fn missing_environment_kustomization_is_a_structure_error() {
    let dir = seed();
    std::fs::remove_file(dir.path().join("environments/staging/kustomization.yaml")).unwrap();
    std::fs::remove_dir_all(dir.path().join("policies")).unwrap();
    let r = json_report(dir.path(), 1);
    let f = findings(&r, "structure.environment-file");
    assert_eq!(f.len(), 1, "{r:#}");
    assert_eq!(f[0]["file"], "environments/staging");
    assert_eq!(f[0]["check"], "structure");
    assert!(
        f[0]["message"]
            .as_str()
            .unwrap()
            .contains("kustomization.yaml")
    );
    let d = findings(&r, "structure.required-directory");
    assert_eq!(d.len(), 1, "{r:#}");
    assert_eq!(d[0]["file"], "policies");
}

#[test]
fn bad_yaml_is_reported_with_line_and_column() {
    let dir = seed();
    std::fs::write(
        dir.path().join("clusters/eu-1/extra.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("clusters/eu-1/broken.yaml"),
        "# header\nkey: [1, 2\nother: 3\n",
    )
    .unwrap();
    let r = json_report(dir.path(), 1);
    let dup = findings(&r, "yaml.duplicate-key");
    assert_eq!(dup.len(), 1, "{r:#}");
    assert_eq!(
        (
            dup[0]["file"].as_str(),
            dup[0]["line"].as_u64(),
            dup[0]["column"].as_u64()
        ),
        (Some("clusters/eu-1/extra.yaml"), Some(5), Some(3))
    );
    assert!(
        dup[0]["message"]
            .as_str()
            .unwrap()
            .contains("duplicate mapping key: name"),
        "{}",
        dup[0]["message"]
    );
    let syn = findings(&r, "yaml.syntax");
    assert_eq!(syn.len(), 1, "{r:#}");
    assert_eq!(
        (syn[0]["file"].as_str(), syn[0]["line"].as_u64()),
        (Some("clusters/eu-1/broken.yaml"), Some(3))
    );
}

#[test]
fn schema_violation_names_object_file_and_field() {
    let dir = seed();
    edit(
        dir.path(),
        "applications/shop/deployment.yaml",
        "  replicas: 1\n",
        "  replicas: 1\n  replica: 2\n",
    );
    edit(
        dir.path(),
        "applications/shop/service.yaml",
        "port: 80",
        "port: eighty",
    );
    let r = json_report(dir.path(), 1);
    let unknown = findings(&r, "schema.unknown-field");
    assert_eq!(unknown.len(), 3, "one per environment: {r:#}");
    for f in &unknown {
        assert_eq!(f["file"], "applications/shop/deployment.yaml");
        assert_eq!(f["field"], "spec.replica");
        // The line the field is written on, not just the object's.
        assert_eq!(
            (f["line"].as_u64(), f["column"].as_u64()),
            (Some(7), Some(3))
        );
        assert_eq!(f["object"]["kind"], "Deployment");
        assert_eq!(f["object"]["name"], "shop");
    }
    let ns: Vec<&str> = unknown
        .iter()
        .map(|f| f["object"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(ns, ["shop-dev", "shop-prod", "shop-staging"]);
    let ty = findings(&r, "schema.type");
    assert_eq!(ty.len(), 3, "{r:#}");
    assert_eq!(ty[0]["field"], "spec.ports[0].port");
    assert_eq!(r["summary"]["errors"], 6);
    let schema = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "schema")
        .unwrap();
    assert_eq!(
        (schema["status"].as_str(), schema["errors"].as_u64()),
        (Some("failed"), Some(6))
    );
}

#[test]
fn denied_policies_name_the_rule_and_the_object() {
    let dir = seed();
    edit(
        dir.path(),
        "applications/shop/deployment.yaml",
        "web:1.4.2",
        "web:latest",
    );
    edit(
        dir.path(),
        "environments/prod/kustomization.yaml",
        "count: 3",
        "count: 1",
    );
    let r = json_report(dir.path(), 1);
    let latest = findings(&r, "builtin.no-latest-tag");
    assert_eq!(latest.len(), 3, "{r:#}");
    assert_eq!(latest[0]["field"], "spec.template.spec.containers[0].image");
    assert_eq!(
        (latest[0]["line"].as_u64(), latest[0]["column"].as_u64()),
        (Some(20), Some(11))
    );
    // The base's `replicas:` line, which the prod overlay's replicas override replaced.
    assert_eq!(team_line(&r), Some(6));
    assert_eq!(latest[0]["object"]["name"], "shop");
    let team = findings(&r, "shop.replicas.deny");
    assert_eq!(team.len(), 1, "{r:#}");
    assert_eq!(team[0]["environment"], "shop-prod");
    assert_eq!(team[0]["object"]["namespace"], "shop-prod");
    assert_eq!(team[0]["field"], "spec.replicas");
    assert!(
        team[0]["message"]
            .as_str()
            .unwrap()
            .contains("runs 1 replica(s) in production")
    );
}

fn team_line(r: &Value) -> Option<u64> {
    findings(r, "shop.replicas.deny").first()?["line"].as_u64()
}

#[test]
fn removed_api_version_is_an_error_with_the_replacement() {
    let dir = seed();
    std::fs::write(
        dir.path().join("applications/shop/report.yaml"),
        "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: report\nspec:\n  schedule: \"@daily\"\n  jobTemplate: {}\n",
    )
    .unwrap();
    edit(
        dir.path(),
        "applications/shop/kustomization.yaml",
        "  - configmap.yaml\n",
        "  - configmap.yaml\n  - report.yaml\n",
    );
    let r = json_report(dir.path(), 1);
    let removed = findings(&r, "deprecation.removed");
    assert_eq!(removed.len(), 3, "{r:#}");
    assert_eq!(removed[0]["file"], "applications/shop/report.yaml");
    assert_eq!(removed[0]["field"], "apiVersion");
    assert!(
        removed[0]["message"]
            .as_str()
            .unwrap()
            .contains("removed in Kubernetes 1.25 (target 1.36); use batch/v1")
    );
    // Against 1.24 it is only deprecated: warnings, exit 0.
    let out = validate(dir.path(), &["-o", "json", "--kube-version", "1.24"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(findings(&r, "deprecation.deprecated").len(), 3);
    assert_eq!(r["summary"]["errors"], 0);
}

#[test]
fn warnings_only_exit_zero_and_usage_errors_exit_two() {
    let dir = seed();
    edit(
        dir.path(),
        "applications/shop/deployment.yaml",
        "          livenessProbe:\n            httpGet:\n              path: /live\n              port: http\n",
        "",
    );
    let r = json_report(dir.path(), 0);
    assert_eq!(r["summary"]["warnings"], 3, "{r:#}");
    assert_eq!(findings(&r, "builtin.probes")[0]["severity"], "warning");
    assert_eq!(
        validate(dir.path(), &["--kube-version", "banana"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        validate(dir.path(), &["--enable", "no-such-policy"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        validate(&dir.path().join("missing"), &[]).status.code(),
        Some(2)
    );
    assert_eq!(validate(dir.path(), &["-o", "xml"]).status.code(), Some(2));
    // Without a ValidationConfig nothing is switched on; --enable does it from the command
    // line (probes at its default severity, error) and --env narrows the targets.
    std::fs::remove_file(dir.path().join("driftless.yaml")).unwrap();
    let r = json_report(dir.path(), 0);
    assert_eq!(r["summary"]["warnings"], 0, "{r:#}");
    let out = validate(
        dir.path(),
        &["--env", "shop-dev", "--enable", "probes", "-o", "json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["summary"]["environments"], 1);
    assert_eq!(findings(&r, "builtin.probes")[0]["severity"], "error");
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer, maximum: 10}
";

#[test]
fn custom_resources_use_crds_from_the_repository_or_the_command_line() {
    let dir = seed();
    std::fs::write(
        dir.path().join("applications/shop/widget.yaml"),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 11\n",
    )
    .unwrap();
    edit(
        dir.path(),
        "applications/shop/kustomization.yaml",
        "  - configmap.yaml\n",
        "  - configmap.yaml\n  - widget.yaml\n",
    );
    // No CRD anywhere: a warning per environment, exit 0.
    let r = json_report(dir.path(), 0);
    assert_eq!(findings(&r, "schema.missing").len(), 3, "{r:#}");
    // The CRD given on the command line (outside the repository).
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("widget-crd.yaml"), WIDGET_CRD).unwrap();
    let crd = outside.path().join("widget-crd.yaml");
    let out = validate(dir.path(), &["-o", "json", "--crd", crd.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bounds = findings(&r, "schema.bounds");
    assert_eq!(bounds.len(), 3, "{r:#}");
    assert_eq!(
        (
            bounds[0]["file"].as_str(),
            bounds[0]["field"].as_str(),
            bounds[0]["line"].as_u64()
        ),
        (
            Some("applications/shop/widget.yaml"),
            Some("spec.size"),
            Some(6)
        )
    );
    // The same CRD kept anywhere in the repository is found there.
    std::fs::create_dir_all(dir.path().join("clusters/eu-1/crds")).unwrap();
    std::fs::write(
        dir.path().join("clusters/eu-1/crds/widget.yaml"),
        WIDGET_CRD,
    )
    .unwrap();
    let r = json_report(dir.path(), 1);
    assert_eq!(findings(&r, "schema.bounds").len(), 3, "{r:#}");
    // A local policy directory adds the team's rules.
    std::fs::write(
        outside.path().join("widgets.rego"),
        "package widgets\n\nwarn contains \"widgets are experimental\" if input.kind == \"Widget\"\n",
    )
    .unwrap();
    let out = validate(
        dir.path(),
        &["-o", "json", "--policy", outside.path().to_str().unwrap()],
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let warn = findings(&r, "widgets.warn");
    assert_eq!(warn.len(), 3, "{r:#}");
    assert_eq!(warn[0]["severity"], "warning");
}

#[test]
fn a_git_revision_is_validated_without_touching_the_work_tree() {
    let dir = seed();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@e",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "seed"]);
    // The work tree breaks after the commit; the committed revision stays clean.
    edit(
        dir.path(),
        "applications/shop/deployment.yaml",
        "web:1.4.2",
        "web:latest",
    );
    let data = tempfile::tempdir().unwrap();
    let out = validate(
        dir.path(),
        &[
            "--revision",
            "main",
            "--data-dir",
            data.path().to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["summary"]["objects"].as_u64(), r["revision"].as_str()),
        (Some(9), Some("main"))
    );
    assert_eq!(validate(dir.path(), &[]).status.code(), Some(1));
}
