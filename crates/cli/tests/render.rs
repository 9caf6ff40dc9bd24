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
        // What `kubectl kustomize` prints for the same input: keys sorted.
        "apiVersion: v1\ndata:\n  mode: \"0644\"\nkind: ConfigMap\nmetadata:\n  name: dev-cfg\n  namespace: dev\n"
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

mod from_git {
    use std::process::Command;

    use driftless_testkit::http::{Auth, GitHttpServer};
    use driftless_testkit::repo::TestRepo;

    fn repo() -> TestRepo {
        let repo = TestRepo::new("cfg");
        repo.commit(
            &[(
                "app/cm.yaml",
                Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v1}\n"),
            )],
            "v1",
        );
        repo.git(&["tag", "v1.0.0"]);
        repo.git(&["push", "-q", "origin", "v1.0.0"]);
        repo.commit(
            &[(
                "app/cm.yaml",
                Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v2}\n"),
            )],
            "v2",
        );
        repo
    }

    fn names(stdout: &[u8]) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(stdout).unwrap();
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn renders_a_revision_of_a_local_repository() {
        let repo = repo();
        let data = tempfile::tempdir().unwrap();
        let run = |rev: &str| {
            Command::new(env!("CARGO_BIN_EXE_driftless"))
                .args([
                    "render",
                    repo.bare.to_str().unwrap(),
                    "--revision",
                    rev,
                    "--path",
                    "app",
                    "-o",
                    "json",
                    "--data-dir",
                ])
                .arg(data.path())
                .output()
                .unwrap()
        };
        assert_eq!(names(&run("v1.0.0").stdout), vec!["v1"]);
        assert_eq!(names(&run("~1.0").stdout), vec!["v1"]);
        assert_eq!(names(&run("main").stdout), vec!["v2"]);
        let out = run("nope");
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("revision `nope` not found"), "{err}");
    }

    #[test]
    fn renders_over_https_with_credentials_from_the_environment() {
        let repo = repo();
        let srv = GitHttpServer::start_tls(
            repo.root(),
            Auth::Basic {
                user: "ci".into(),
                password: "p@ss word".into(),
            },
        );
        let data = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args([
                "render",
                &srv.url("cfg.git"),
                "--path",
                "app",
                "-o",
                "json",
                "--ca-file",
            ])
            .arg(srv.ca_file().unwrap())
            .arg("--data-dir")
            .arg(data.path())
            .env("DRIFTLESS_GIT_USERNAME", "ci")
            .env("DRIFTLESS_GIT_PASSWORD", "p@ss word")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(names(&out.stdout), vec!["v2"]);
        let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args(["render", &srv.url("cfg.git"), "--ca-file"])
            .arg(srv.ca_file().unwrap())
            .arg("--data-dir")
            .arg(data.path())
            .env("DRIFTLESS_GIT_USERNAME", "ci")
            .env("DRIFTLESS_GIT_PASSWORD", "wrong")
            .output()
            .unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(
            err.contains("authentication failed") && !err.contains("wrong"),
            "{err}"
        );
    }
}

/// kustomize's `--load-restrictor`: a case kustomize's own suite builds with
/// `LoadRestrictionsNone` (a patch shared from outside the overlay) is refused by default and
/// renders byte for byte as `kustomize build --load-restrictor LoadRestrictionsNone` with it.
#[test]
fn load_restrictor_none_allows_files_outside_the_kustomization_as_kustomize_does() {
    let case = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../render/tests/kustomize-krusty/complexcomposition_test__TestComplexComposition_Prod_SuccessWithRawTransformers"
    );
    let args = [
        "render",
        case,
        "--path",
        "prod",
        "--kustomize",
        "-o",
        "yaml",
    ];
    let refused = driftless(&args);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("load restrictor"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let mut allowed = args.to_vec();
    allowed.extend(["--load-restrictor", "LoadRestrictionsNone"]);
    let out = driftless(&allowed);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = std::fs::read(format!("{case}/expected.cli.yaml")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&want)
    );
}
