//! Directory and plugin renderers, and the caps every render obeys.

use driftless_render::directory::DirectoryOptions;
use driftless_render::local::LocalTree;
use driftless_render::plugin::PluginSpec;
use driftless_render::{RenderError, RenderLimits, RendererSpec, render};

fn write(dir: &std::path::Path, files: &[(&str, &str)]) {
    for (p, body) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
}

fn cm(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
}

fn names(
    dir: &tempfile::TempDir,
    path: &str,
    spec: RendererSpec,
) -> Result<Vec<String>, RenderError> {
    let tree = LocalTree::new(dir.path()).unwrap();
    let out = render(&tree, path, &spec, &RenderLimits::default())?;
    Ok(out
        .set
        .values()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect())
}

#[test]
fn directory_recurse_include_exclude_and_hidden_files() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("app/a.yaml", &cm("a")),
            (
                "app/b.yml",
                &format!("# leading comment\n---\n{}---\n{}", cm("b1"), cm("b2")),
            ),
            (
                "app/c.json",
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#,
            ),
            ("app/notes.txt", "not a manifest"),
            ("app/.hidden/x.yaml", &cm("hidden")),
            ("app/sub/d.yaml", &cm("d")),
            ("app/sub/skip.yaml", &cm("skip")),
        ],
    );
    let flat = RendererSpec::Directory(DirectoryOptions::default());
    assert_eq!(
        names(&dir, "app", flat).unwrap(),
        vec!["a", "b1", "b2", "c"]
    );
    let deep = RendererSpec::Directory(DirectoryOptions {
        recurse: true,
        include: vec![],
        exclude: vec!["sub/skip.yaml".into()],
    });
    assert_eq!(
        names(&dir, "app", deep).unwrap(),
        vec!["a", "b1", "b2", "c", "d"]
    );
    let only = RendererSpec::Directory(DirectoryOptions {
        recurse: true,
        include: vec!["{a.yaml,sub/*}".into()],
        exclude: vec![],
    });
    assert_eq!(names(&dir, "app", only).unwrap(), vec!["a", "d", "skip"]);
}

#[test]
fn auto_picks_kustomize_only_when_a_kustomization_exists() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "k/kustomization.yaml",
                "resources: [a.yaml]\nnamePrefix: k-\n",
            ),
            ("k/a.yaml", &cm("a")),
            ("k/unused.yaml", &cm("unused")),
            ("d/a.yaml", &cm("a")),
        ],
    );
    assert_eq!(names(&dir, "k", RendererSpec::Auto).unwrap(), vec!["k-a"]);
    assert_eq!(names(&dir, "d", RendererSpec::Auto).unwrap(), vec!["a"]);
}

#[test]
fn caps_on_objects_file_size_and_yaml_bombs() {
    let dir = tempfile::tempdir().unwrap();
    let many: String = (0..50)
        .map(|i| format!("---\n{}", cm(&format!("c{i}"))))
        .collect();
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\nx0: &a0 [1,1,1,1,1,1,1,1,1,1]\n",
    );
    for i in 1..8 {
        bomb.push_str(&format!(
            "x{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 10].join(",")
        ));
    }
    write(
        dir.path(),
        &[
            ("many/all.yaml", &many),
            (
                "big/cm.yaml",
                &format!("{}data:\n  x: \"{}\"\n", cm("big"), "y".repeat(10_000)),
            ),
            ("bomb/b.yaml", &bomb),
        ],
    );
    let tree = LocalTree::new(dir.path()).unwrap();
    let limits = RenderLimits {
        max_objects: 10,
        max_file_bytes: 5_000,
        ..RenderLimits::default()
    };
    let spec = RendererSpec::Directory(DirectoryOptions::default());
    assert!(matches!(
        render(&tree, "many", &spec, &limits),
        Err(RenderError::Cap {
            what: "objects",
            limit: 10
        })
    ));
    let err = render(&tree, "big", &spec, &limits).unwrap_err();
    assert_eq!(
        err.to_string(),
        "big/cm.yaml: `big/cm.yaml` is larger than the 5000-byte file limit"
    );
    let err = render(&tree, "bomb", &spec, &RenderLimits::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("bomb/b.yaml: document 0"),
        "{err}"
    );
}

#[test]
fn escaping_app_paths_are_refused_without_reading() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("app/a.yaml", &cm("a"))]);
    let tree = LocalTree::new(dir.path().join("app")).unwrap();
    for p in ["../", "/etc", "x/../../.."] {
        let err = render(&tree, p, &RendererSpec::Auto, &RenderLimits::default()).unwrap_err();
        assert!(matches!(err, RenderError::Source { .. }), "{p}: {err}");
    }
}

fn plugin(command: &[&str]) -> PluginSpec {
    PluginSpec {
        name: "test".into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        env: [("GREETING".to_string(), "hi".to_string())].into(),
        env_allow: vec!["DRIFTLESS_TEST_ALLOWED".into()],
        timeout_seconds: 5,
        max_output_bytes: None,
    }
}

fn script(dir: &std::path::Path, body: &str) -> String {
    let p = dir.join(format!("plugin-{}.sh", body.len()));
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn plugin_output_is_parsed_and_env_is_an_allow_list() {
    let dir = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    write(dir.path(), &[("app/values.txt", "from-file")]);
    let s = script(
        bin.path(),
        r#"printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: out\ndata:\n  greeting: "%s"\n  file: "%s"\n  secret: "%s"\n  allowed: "%s"\n  pwd_has_app: "%s"\n' "$GREETING" "$(cat values.txt)" "${CARGO_MANIFEST_DIR:-unset}" "${CARGO_PKG_NAME:-unset}" "$(basename "$PWD")""#,
    );
    // cargo sets both in this process: one must be blocked, the allow-listed one passed.
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok() && std::env::var("CARGO_PKG_NAME").is_ok());
    let tree = LocalTree::new(dir.path()).unwrap();
    let mut spec = plugin(&[&s]);
    spec.env_allow = vec!["CARGO_PKG_NAME".into()];
    let out = render(
        &tree,
        "app",
        &RendererSpec::Plugin(spec),
        &RenderLimits::default(),
    )
    .unwrap();
    let obj = out.set.values().next().unwrap();
    assert_eq!(obj["data"]["greeting"], "hi");
    assert_eq!(
        obj["data"]["file"], "from-file",
        "runs in a copy of the app directory"
    );
    assert_eq!(
        obj["data"]["secret"], "unset",
        "the engine's environment is not inherited"
    );
    assert_eq!(obj["data"]["allowed"], "driftless-render");
    assert_eq!(obj["data"]["pwd_has_app"], "app");
}

#[test]
fn plugin_arguments_are_never_shell_interpreted() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("app/x", "")]);
    let marker = dir.path().join("pwned");
    let tree = LocalTree::new(dir.path()).unwrap();
    let arg = format!("; touch {}", marker.display());
    let spec = plugin(&["echo", &arg]);
    let _ = render(
        &tree,
        "app",
        &RendererSpec::Plugin(spec),
        &RenderLimits::default(),
    );
    assert!(!marker.exists());
}

/// How many plugin working directories exist in the temp dir right now.
fn plugin_work_dirs() -> usize {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("driftless-plugin-")
        })
        .count()
}

#[test]
fn plugin_timeout_cap_and_failure_are_errors_and_the_work_dir_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    write(dir.path(), &[("app/x", "")]);
    let tree = LocalTree::new(dir.path()).unwrap();
    let before = plugin_work_dirs();

    let mut slow = plugin(&[&script(bin.path(), "sleep 30")]);
    slow.timeout_seconds = 1;
    let t = std::time::Instant::now();
    let err = render(
        &tree,
        "app",
        &RendererSpec::Plugin(slow),
        &RenderLimits::default(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "plugin `test`: timed out after 1s");
    assert!(t.elapsed() < std::time::Duration::from_secs(10));

    let mut endless = plugin(&["yes", "apiVersion: v1"]);
    endless.max_output_bytes = Some(64 * 1024);
    let err = render(
        &tree,
        "app",
        &RendererSpec::Plugin(endless),
        &RenderLimits::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `test`: output exceeds the 65536-byte cap"
    );

    let failing = plugin(&[&script(
        bin.path(),
        "echo 'Error: chart not found' >&2; exit 3",
    )]);
    let err = render(
        &tree,
        "app",
        &RendererSpec::Plugin(failing),
        &RenderLimits::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("exit status: 3") && err.to_string().contains("chart not found"),
        "{err}"
    );

    let after = plugin_work_dirs();
    assert!(
        after <= before,
        "plugin working directories are removed ({before} before, {after} after)"
    );
}
