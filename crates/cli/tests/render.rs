//! `driftless render` as a CI job runs it: real binary, real files, assertions on stdout bytes,
//! stderr and exit codes.

use std::process::Command;

fn write(dir: &std::path::Path, files: &[(&str, &str)]) {
    for (p, body) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
}

fn driftless(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn renders_a_kustomize_overlay_as_a_yaml_stream() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("base/kustomization.yaml", "resources: [cm.yaml]\n"),
            (
                "base/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  mode: \"0644\"\n",
            ),
            (
                "dev/kustomization.yaml",
                "resources: [../base]\nnamePrefix: dev-\nnamespace: dev\n",
            ),
        ],
    );
    let out = driftless(&["render", dir.path().to_str().unwrap(), "--path", "dev"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dev-cfg\n  namespace: dev\ndata:\n  mode: \"0644\"\n"
    );
}

#[test]
fn json_output_is_a_list_with_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "app/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
        )],
    );
    let out = driftless(&[
        "render",
        dir.path().to_str().unwrap(),
        "--path",
        "app",
        "--directory",
        "-o",
        "json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "List");
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    assert_eq!(v["metadata"]["digest"].as_str().unwrap().len(), 64);
}

#[test]
fn bad_input_exits_non_zero_naming_file_document_and_field() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "app/bad.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: Secret\nmetadata: {}\ndata: {token: c2VjcmV0}\n",
        )],
    );
    let out = driftless(&["render", dir.path().to_str().unwrap(), "--path", "app"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("app/bad.yaml#1: `metadata.name`: is missing"),
        "{err}"
    );
    assert!(!err.contains("c2VjcmV0"), "no values in errors: {err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn yaml_1_1_scalars_are_warned_about_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  enabled: yes\n",
        )],
    );
    let out = driftless(&["render", dir.path().to_str().unwrap(), "--path", "app"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("warning: app/cm.yaml#0/data/enabled"), "{err}");
}
