//! Issue 18, installing Driftless in a cluster: the manifests under `deploy/` pass a
//! server-side dry run, the chart and the plain manifests agree, and the image recipe matches
//! the Deployment. (`install_crds`: the engine in a pod, Applications as custom resources.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

pub(crate) struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `driftless sandbox` in a process of its own, and its kubeconfig.
pub(crate) fn sandbox(dir: &Path) -> (PathBuf, Running) {
    let kubeconfig = dir.join("kubeconfig");
    let server = Running(
        Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args(["sandbox", "--kubeconfig"])
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&kubeconfig).is_ok_and(|t| t.contains("token:")) {
        assert!(
            Instant::now() < deadline,
            "the sandbox never wrote its kubeconfig"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (kubeconfig, server)
}

pub(crate) fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

pub(crate) fn kubectl_stdin(kubeconfig: &Path, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every object of a multi-document YAML file, as JSON, in a stable order.
fn objects(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut docs: Vec<Value> = driftless_core::yaml::parse_stream(&text, &Default::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .map(|d| d.value)
        .filter(|v| !v.is_null())
        .collect();
    docs.sort_by_key(|v| {
        format!(
            "{}/{}/{}",
            v["kind"].as_str().unwrap_or_default(),
            v["metadata"]["namespace"].as_str().unwrap_or_default(),
            v["metadata"]["name"].as_str().unwrap_or_default()
        )
    });
    docs
}

#[test]
fn deploy_manifests_pass_server_side_dry_run_on_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let (kc, _server) = sandbox(dir.path());
    let m = deploy().join("manifests");
    let path = |f: &str| m.join(f).display().to_string();
    // The namespaces exist for real (a dry run into a missing namespace is a 404 on a real
    // server too); everything else is only dry-run.
    kubectl(
        &kc,
        &["apply", "--server-side", "-f", &path("namespace.yaml")],
    );
    kubectl(&kc, &["create", "namespace", "team-a"]);
    let files = [
        ("crds.yaml", 3),
        ("argoproj", 2),
        ("cluster-scoped.yaml", 8),
        ("namespace-scoped.yaml", 10),
    ];
    for (file, count) in files {
        let out = kubectl(
            &kc,
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "-f",
                &path(file),
            ],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), count, "{file}: {out}");
        assert!(
            lines
                .iter()
                .all(|l| l.ends_with("serverside-applied (server dry run)")),
            "{file}: {out}"
        );
    }
    // A dry run created nothing.
    let sa = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["get", "serviceaccount", "driftless", "-n", "driftless"])
        .output()
        .unwrap();
    assert!(
        !sa.status.success(),
        "the dry run created the ServiceAccount"
    );
}

#[test]
fn plain_manifests_are_the_chart_rendered() {
    // The CRDs: the chart's crds/ folder, concatenated.
    let mut chart_crds = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy().join("helm/driftless/crds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        chart_crds.extend(objects(&f));
    }
    let manifests = objects(&deploy().join("manifests/crds.yaml"));
    assert_eq!(manifests, chart_crds, "deploy/manifests/crds.yaml is stale");
    // Every resource type the engine watches has its CRD (ours) or Argo CD's (optional).
    let mut crds = manifests.clone();
    for f in [
        "applications.argoproj.io.yaml",
        "appprojects.argoproj.io.yaml",
    ] {
        crds.extend(objects(&deploy().join("manifests/argoproj").join(f)));
    }
    for (ty, _) in driftless_engine::controller::custom_resources::resource_types() {
        let crd = crds
            .iter()
            .find(|c| c["metadata"]["name"] == format!("{}.{}", ty.plural, ty.group))
            .unwrap_or_else(|| panic!("no CRD for {ty:?}"));
        assert_eq!(crd["spec"]["names"]["kind"], ty.kind.as_str());
        let v = &crd["spec"]["versions"][0];
        assert_eq!(v["name"], ty.version.as_str());
        assert!(
            v["subresources"]["status"].is_object(),
            "{ty:?} has a status subresource"
        );
    }
    let columns: Vec<&str> = manifests[0]["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c.get("priority").is_none())
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Sync", "Health", "Revision", "Age"]);

    // The templates, when helm is installed, through the project's own plugin renderer.
    if Command::new("helm").arg("version").output().is_err() {
        eprintln!("helm is not installed: the chart's templates are not rendered here");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (set, file) in [
        ("", "cluster-scoped.yaml"),
        (
            " --set rbac.scope=namespaces --set rbac.namespaces={team-a}",
            "namespace-scoped.yaml",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
            .arg("render")
            .arg(&root)
            .args(["--path", "deploy/helm/driftless", "--plugin-command"])
            .arg(format!(
                "helm template driftless . --namespace driftless{set}"
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rendered = dir_with(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(
            objects(&rendered.path().join("out.yaml")),
            objects(&deploy().join("manifests").join(file)),
            "deploy/manifests/{file} differs from the chart rendered"
        );
    }
}

fn dir_with(text: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("out.yaml"), text).unwrap();
    d
}

/// No docker daemon here: the recipe is checked against the Deployment that runs it.
#[test]
fn image_recipe_matches_the_deployment() {
    let dockerfile = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    let line = |prefix: &str| {
        dockerfile
            .lines()
            .rev()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in the Dockerfile"))
            .to_string()
    };
    assert_eq!(line("ENTRYPOINT "), r#"ENTRYPOINT ["driftless"]"#);
    assert_eq!(line("CMD "), r#"CMD ["up", "--in-cluster"]"#);
    assert_eq!(line("USER "), "USER 65532:65532");
    assert!(dockerfile.contains("cargo build --release --locked -p driftless"));
    assert!(dockerfile.contains("COPY --from=build /out/driftless /usr/local/bin/driftless"));
    for env in [
        "DRIFTLESS_DATA_DIR=/var/lib/driftless",
        "DRIFTLESS_LISTEN=0.0.0.0:8080",
        "TMPDIR=/tmp",
    ] {
        assert!(dockerfile.contains(env), "{env}");
    }
    for file in ["cluster-scoped.yaml", "namespace-scoped.yaml"] {
        let objs = objects(&deploy().join("manifests").join(file));
        let d = objs.iter().find(|o| o["kind"] == "Deployment").unwrap();
        let pod = &d["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        assert_eq!(c["args"], serde_json::json!(["up", "--in-cluster"]));
        assert_eq!(pod["securityContext"]["runAsUser"], 65532);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(
            c["securityContext"]["capabilities"]["drop"],
            serde_json::json!(["ALL"])
        );
        // What is written goes to volumes: the data directory and /tmp.
        let mounts: Vec<&str> = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["mountPath"].as_str().unwrap())
            .collect();
        assert_eq!(mounts, ["/var/lib/driftless", "/tmp"]);
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert_eq!(c["ports"][0]["containerPort"], 8080);
        let env: Vec<&str> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert!(env.contains(&"POD_NAMESPACE"), "{env:?}");
    }
}
