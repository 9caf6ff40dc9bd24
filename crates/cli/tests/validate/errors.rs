//! `driftless validate` refuses to run (exit 2) on inputs it cannot trust, naming the file
//! and the field: a misspelt ValidationConfig, a policy that does not compile, a bad schema.

use super::{edit, seed, validate};

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_misspelt_config_field_is_named() {
    let dir = seed();
    edit(
        dir.path(),
        "driftless.yaml",
        "requiredDirectories",
        "requiredDirs",
    );
    let out = validate(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("driftless.yaml") && err.contains("requiredDirs"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_policy_that_does_not_compile_is_named() {
    let dir = seed();
    std::fs::write(
        dir.path().join("policies/broken.rego"),
        "package broken\n\ndeny contains msg if {\n",
    )
    .unwrap();
    let out = validate(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("policies/broken.rego"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_schema_file_that_is_not_openapi_is_refused() {
    let dir = seed();
    let outside = tempfile::tempdir().unwrap();
    let schema = outside.path().join("k8s.json");
    std::fs::write(&schema, "{\"hello\": 1}").unwrap();
    let out = validate(dir.path(), &["--schema", schema.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("not an OpenAPI document"),
        "{}",
        stderr_of(&out)
    );
    let out = validate(
        dir.path(),
        &[
            "--schema",
            outside.path().join("missing.json").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
}
