//! In-cluster mode (issue 18) against the sandbox behind a TLS front, with the token, CA and
//! namespace files laid out as in a pod: the client speaks HTTPS verified by the pod's CA,
//! a token rotated on disk is picked up, a foreign CA is refused.

use driftless_core::cluster::Cluster;
use driftless_core::{Gvk, ResourceKey};
use driftless_kube::incluster::InClusterPaths;
use driftless_kube::{ClusterSource, KubeCluster, connect};
use driftless_sandbox::Sandbox;

use crate::tls_front;

fn configmap() -> (Gvk, ResourceKey) {
    (
        Gvk {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
        },
        ResourceKey::new("", "ConfigMap", "default", "kube-root-ca.crt"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_cluster_client_uses_the_pods_ca_and_rereads_a_rotated_token() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sandbox = Sandbox::start(0).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    tls_front::make_certificates(dir.path(), "in-cluster-ca");
    let port = tls_front::start(dir.path(), sandbox.addr).await;
    // The kubelet's last token was revoked; the new one is about to be written.
    let sa = tls_front::service_account(dir.path(), dir.path(), "expired-token", "driftless");
    let paths = InClusterPaths {
        service_account_dir: sa.clone(),
        host: "127.0.0.1".into(),
        port: port.to_string(),
        pod_namespace: None,
    };
    assert_eq!(
        paths.namespace().unwrap(),
        "driftless",
        "from the namespace file"
    );
    let config = driftless_kube::incluster::config(&paths).unwrap();
    assert_eq!(
        config.cluster_url.to_string(),
        format!("https://127.0.0.1:{port}/")
    );
    assert_eq!(config.default_namespace, "driftless");

    let source = ClusterSource::ServiceAccount(paths);
    let cluster =
        KubeCluster::new(connect(&source).await.unwrap(), "in-cluster").with_source(source.clone());
    let stale = KubeCluster::new(connect(&source).await.unwrap(), "no-reload");
    // Rotation lands on disk.
    std::fs::write(sa.join("token"), &sandbox.token).unwrap();
    let (gvk, key) = configmap();
    let err = stale.get(&gvk, &key).await.unwrap_err();
    assert!(
        err.to_string().contains("401"),
        "the old token is refused: {err}"
    );
    let got = cluster.get(&gvk, &key).await.unwrap();
    assert_eq!(
        got.as_ref().and_then(|o| o["metadata"]["name"].as_str()),
        Some("kube-root-ca.crt"),
        "over HTTPS with the re-read token: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_cluster_client_refuses_a_server_the_pods_ca_did_not_sign() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sandbox = Sandbox::start(0).await.unwrap();
    let server = tempfile::tempdir().unwrap();
    tls_front::make_certificates(server.path(), "the-real-ca");
    let port = tls_front::start(server.path(), sandbox.addr).await;
    let other = tempfile::tempdir().unwrap();
    tls_front::make_certificates(other.path(), "another-ca");
    let sa = tls_front::service_account(other.path(), other.path(), &sandbox.token, "driftless");
    let source = ClusterSource::ServiceAccount(InClusterPaths {
        service_account_dir: sa,
        host: "127.0.0.1".into(),
        port: port.to_string(),
        pod_namespace: Some("engine-ns".into()),
    });
    let cluster = KubeCluster::new(connect(&source).await.unwrap(), "wrong-ca");
    let (gvk, key) = configmap();
    let err = cluster.get(&gvk, &key).await.unwrap_err();
    let text = format!("{err:#}").to_lowercase();
    assert!(
        text.contains("(connect)") && !text.contains("401"),
        "the handshake fails, nothing is asked: {text}"
    );
    // The same server with the CA that signed it answers: the CA file made the difference.
    let trusted =
        tls_front::service_account(server.path(), server.path(), &sandbox.token, "driftless");
    let source = ClusterSource::ServiceAccount(InClusterPaths {
        service_account_dir: trusted,
        host: "127.0.0.1".into(),
        port: port.to_string(),
        pod_namespace: None,
    });
    let cluster = KubeCluster::new(connect(&source).await.unwrap(), "right-ca");
    assert!(cluster.get(&gvk, &key).await.unwrap().is_some());
}

#[tokio::test]
async fn in_cluster_start_names_the_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let paths = InClusterPaths {
        service_account_dir: dir.path().to_path_buf(),
        host: "127.0.0.1".into(),
        port: "6443".into(),
        pod_namespace: Some("driftless".into()),
    };
    let Err(err) = connect(&ClusterSource::ServiceAccount(paths)).await else {
        panic!("a service account without a token file connected");
    };
    assert!(
        err.to_string()
            .contains(&dir.path().join("token").display().to_string()),
        "{err}"
    );
}
