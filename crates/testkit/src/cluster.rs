//! An in-process sandbox cluster and a [`KubeCluster`] reaching it through a kubeconfig,
//! exactly as a real cluster is reached (one copy for every test and bench that needs one).

use driftless_kube::{ClusterSource, KubeCluster, connect};
use driftless_sandbox::Sandbox;

pub struct SandboxCluster {
    pub cluster: KubeCluster,
    pub sandbox: Sandbox,
    /// Holds the kubeconfig file.
    _dir: tempfile::TempDir,
}

/// Starts a sandbox on a free loopback port and connects to it.
pub async fn sandbox_cluster() -> SandboxCluster {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sandbox = Sandbox::start(0).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, sandbox.kubeconfig()).unwrap();
    let client = connect(&ClusterSource::Kubeconfig {
        path,
        context: None,
        allow_exec: false,
    })
    .await
    .unwrap();
    SandboxCluster {
        cluster: KubeCluster::new(client, "sandbox"),
        sandbox,
        _dir: dir,
    }
}
