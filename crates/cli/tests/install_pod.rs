//! The engine as a pod runs it, for the install tests: the sandbox with the namespace and
//! CRDs installed, HTTPS in front of it with the cluster CA, the service-account files, and
//! `driftless up --in-cluster` started (and restarted) on one data directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::install::{Running, deploy, kubectl, sandbox};
use crate::up::{Killed, start_engine};

#[path = "../../kube/tests/tls_front.rs"]
mod tls_front;

/// A sandbox with the namespace and CRDs installed, and `up --in-cluster` running as a pod
/// would (HTTPS, service-account files, `--config` = `d/config`, local sources allowed).
pub(crate) struct InCluster {
    pub kc: PathBuf,
    pub api: String,
    engine: Option<Killed>,
    up: (PathBuf, u16, PathBuf),
    _server: Running,
}

impl InCluster {
    /// Kills the engine (SIGKILL) and starts it again on the same data directory.
    pub fn restart(&mut self) {
        self.engine = None;
        let (d, port, sa) = &self.up;
        let (engine, api) = start_engine(up_command(d, *port, sa));
        self.engine = Some(engine);
        self.api = api;
    }

    pub fn stop(&mut self) {
        self.engine = None;
    }
}

pub(crate) fn up_command(d: &Path, port: u16, sa: &Path) -> Command {
    let mut up = Command::new(env!("CARGO_BIN_EXE_driftless"));
    up.args([
        "up",
        "--in-cluster",
        "--allow-local-sources",
        "--listen",
        "127.0.0.1:0",
    ])
    .arg("--data-dir")
    .arg(d.join("data"))
    .arg("--config")
    .arg(d.join("config"))
    .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    .env("KUBERNETES_SERVICE_PORT", port.to_string())
    .env("DRIFTLESS_SERVICEACCOUNT_DIR", sa)
    .env_remove("POD_NAMESPACE")
    .env_remove("DRIFTLESS_LISTEN")
    .env_remove("KUBECONFIG");
    up
}

pub(crate) async fn start_in_cluster(d: &Path) -> InCluster {
    let (kc, server) = sandbox(d);
    let m = deploy().join("manifests");
    for f in ["namespace.yaml", "crds.yaml", "argoproj"] {
        kubectl(
            &kc,
            &[
                "apply",
                "--server-side",
                "-f",
                &m.join(f).display().to_string(),
            ],
        );
    }
    // The pod's view: HTTPS with the cluster CA, its token and namespace files.
    let text = std::fs::read_to_string(&kc).unwrap();
    let token = text.split("token: ").nth(1).unwrap().trim().to_string();
    let upstream = text
        .split("server: http://")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    tls_front::make_certificates(d, "cluster-ca");
    let port = tls_front::start(d, upstream.parse().unwrap()).await;
    let sa = tls_front::service_account(d, d, &token, "driftless");
    std::fs::create_dir_all(d.join("config")).unwrap();
    let (engine, api) = start_engine(up_command(d, port, &sa));
    InCluster {
        kc,
        api,
        engine: Some(engine),
        up: (d.to_path_buf(), port, sa),
        _server: server,
    }
}

/// An Application (of `api`) in namespace `driftless` rendering `d/src` into `ns`.
pub(crate) fn app(d: &Path, api: &str, name: &str, ns: &str) -> String {
    format!(
        "apiVersion: {api}\nkind: Application\nmetadata: {{name: {name}, namespace: driftless}}\nspec:\n  source: {{repoURL: {}, path: .}}\n  destination: {{namespace: {ns}}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n",
        d.join("src").display()
    )
}

pub(crate) fn source(d: &Path) {
    std::fs::create_dir_all(d.join("src")).unwrap();
    std::fs::write(
        d.join("src/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {color: blue}\n",
    )
    .unwrap();
}

pub(crate) fn app_status(kc: &Path, api_version_plural: &str, name: &str) -> Value {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kc)
        .args([
            "get",
            api_version_plural,
            name,
            "-n",
            "driftless",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    serde_json::from_slice::<Value>(&out.stdout).map_or(Value::Null, |v| v["status"].clone())
}

pub(crate) fn wait_for(what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match check() {
            Ok(()) => return,
            Err(last) => assert!(Instant::now() < deadline, "{what}: {last}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
