//! `driftless sandbox` driven by kubectl, as a newcomer would use it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kubectl(kubeconfig: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("kubectl (Debian package kubernetes-client, installed by .ci/run)");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Starts `driftless sandbox` and waits for its kubeconfig.
fn start() -> (tempfile::TempDir, std::path::PathBuf, Running) {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let server = Running(
        Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args(["sandbox", "--kubeconfig"])
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !kubeconfig.exists() {
        assert!(
            Instant::now() < deadline,
            "the sandbox never wrote its kubeconfig"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (dir, kubeconfig, server)
}

#[test]
fn kubectl_works_against_the_sandbox_unchanged() {
    let (_dir, kubeconfig, _server) = start();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&kubeconfig).unwrap().permissions().mode() & 0o777,
        0o600,
        "the token is private"
    );

    let (ok, out) = kubectl(&kubeconfig, &["get", "namespaces", "-o", "name"], None);
    assert!(ok, "{out}");
    for ns in ["namespace/default", "namespace/kube-system"] {
        assert!(out.contains(ns), "{out}");
    }
    // Manifests go through JSON like apply, get and delete (`kubectl create namespace` sends
    // protobuf, which the sandbox decodes too: see the sandbox crate's strict tests).
    let (ok, out) = kubectl(
        &kubeconfig,
        &["create", "-f", "-"],
        Some("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"),
    );
    assert!(ok, "{out}");
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\n  labels: {app: web}\ndata:\n  mode: dev\n";
    let (ok, out) = kubectl(&kubeconfig, &["create", "-f", "-"], Some(cm));
    assert!(ok, "{out}");
    let (ok, out) = kubectl(
        &kubeconfig,
        &[
            "get",
            "configmaps",
            "-n",
            "shop",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].data.mode}",
        ],
        None,
    );
    assert!(ok && out.trim() == "dev", "{out}");
    let (ok, out) = kubectl(
        &kubeconfig,
        &["delete", "configmap", "settings", "-n", "shop"],
        None,
    );
    assert!(ok, "{out}");
    let (ok, out) = kubectl(
        &kubeconfig,
        &["get", "configmap", "settings", "-n", "shop"],
        None,
    );
    assert!(!ok && out.contains("not found"), "{out}");
}

#[test]
fn kubectl_apply_and_patch_use_strategic_merge() {
    let (_dir, kubeconfig, _server) = start();
    let deploy = |image: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: default}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - {{name: web, image: \"{image}\"}}\n      - {{name: sidecar, image: proxy:1}}\n"
        )
    };
    let (ok, out) = kubectl(
        &kubeconfig,
        &["apply", "-f", "-"],
        Some(&deploy("nginx:1.25")),
    );
    assert!(ok, "{out}");
    let (ok, out) = kubectl(
        &kubeconfig,
        &["apply", "-f", "-"],
        Some(&deploy("nginx:1.27")),
    );
    assert!(ok && out.contains("configured"), "{out}");
    // A strategic merge patch on one container, merged by name: the sidecar stays.
    let (ok, out) = kubectl(
        &kubeconfig,
        &[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"A","value":"1"}]}]}}}}"#,
        ],
        None,
    );
    assert!(ok, "{out}");
    let (ok, out) = kubectl(
        &kubeconfig,
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].name} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].value}",
        ],
        None,
    );
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "web sidecar nginx:1.27 1");
}

#[test]
fn kubectl_server_side_apply_and_diff_work() {
    let (_dir, kubeconfig, _server) = start();
    let cm = |v: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ssa, namespace: default}}\ndata: {{mode: {v}}}\n"
        )
    };
    let (ok, out) = kubectl(
        &kubeconfig,
        &["apply", "--server-side", "-f", "-"],
        Some(&cm("one")),
    );
    assert!(ok && out.contains("serverside-applied"), "{out}");
    let (ok, out) = kubectl(
        &kubeconfig,
        &[
            "get",
            "configmap",
            "ssa",
            "-o",
            "jsonpath={.metadata.managedFields[0].manager}={.data.mode}",
        ],
        None,
    );
    assert!(ok && out.trim() == "kubectl=one", "{out}");
    // kubectl diff exits 1 when there are differences, 0 when none.
    let diff = |v: &str| {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["diff", "--server-side", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(cm(v).as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, out) = diff("one");
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = diff("two");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("-  mode: one") && out.contains("+  mode: two"),
        "{out}"
    );
}

#[test]
fn kubectl_get_watch_sees_changes_as_they_happen() {
    let (_dir, kubeconfig, _server) = start();
    let mut watch = Running(
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["get", "configmaps", "-n", "default", "-w", "-o", "name"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = watch.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    // The initial list (the namespace's seed ConfigMap), then a live creation.
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "configmap/kube-root-ca.crt"
    );
    let (ok, out) = kubectl(
        &kubeconfig,
        &["create", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: live, namespace: default}\n"),
    );
    assert!(ok, "{out}");
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "configmap/live"
    );
}

#[test]
fn kubectl_scale_goes_through_the_scale_subresource() {
    let (_dir, kc, _server) = start();
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n";
    let (ok, out) = kubectl(&kc, &["apply", "-f", "-"], Some(deploy));
    assert!(ok, "{out}");
    let (ok, out) = kubectl(&kc, &["scale", "deployment/web", "--replicas=4"], None);
    assert!(ok, "{out}");
    assert!(out.contains("deployment.apps/web scaled"), "{out}");
    let (ok, out) = kubectl(
        &kc,
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
        None,
    );
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "4");
    let (ok, out) = kubectl(
        &kc,
        &[
            "get",
            "--raw",
            "/apis/apps/v1/namespaces/default/deployments/web/scale",
        ],
        None,
    );
    assert!(ok, "{out}");
    let scale: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (
            scale["kind"].as_str(),
            scale["spec"]["replicas"].as_i64(),
            scale["status"]["selector"].as_str()
        ),
        (Some("Scale"), Some(4), Some("app=web"))
    );
}
