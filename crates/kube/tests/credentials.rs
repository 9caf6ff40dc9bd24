//! Issue 13 defect 8 (credentials re-read on 401) and fault 11 (a paused engine changes no
//! cluster object after its lease ran out), against the sandbox API server, which refuses a
//! wrong bearer token with 401 as a real one does.

use std::time::{Duration, Instant};

use driftless_core::cluster::{ApplyOptions, Cluster};
use driftless_core::{Gvk, ResourceKey};
use driftless_kube::{ClusterSource, KubeCluster, WriteGate, connect};
use driftless_sandbox::Sandbox;
use serde_json::json;

fn cm_key(name: &str) -> (Gvk, ResourceKey) {
    (
        Gvk {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
        },
        ResourceKey::new("", "ConfigMap", "default", name),
    )
}

/// Defect 8: the engine's token was rotated — the kubeconfig on disk holds the new one, the
/// running client the old one. The first call gets 401, the client is built again from the
/// file and the call succeeds; a cluster without its source keeps failing (the old bug).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_08_rotated_cluster_token_is_reread_on_401() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sandbox = Sandbox::start(0).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    let good = sandbox.kubeconfig();
    let stale = good.replace(&sandbox.token, "revoked-token-of-last-hour");
    assert_ne!(good, stale);
    std::fs::write(&path, &stale).unwrap();
    let source = ClusterSource::Kubeconfig {
        path: path.clone(),
        context: None,
        allow_exec: false,
    };
    let old_client = connect(&source).await.unwrap();
    let reloading = KubeCluster::new(old_client.clone(), "rotated").with_source(source);
    let fixed = KubeCluster::new(old_client, "fixed");
    // The rotation lands on disk.
    std::fs::write(&path, &good).unwrap();

    let (gvk, key) = cm_key("kube-root-ca.crt");
    let err = fixed.get(&gvk, &key).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    // The reloading cluster re-reads the file on its 401 and answers.
    let got = reloading.get(&gvk, &key).await;
    assert!(got.is_ok(), "after re-reading the kubeconfig: {got:?}");
    let applied = reloading
        .apply(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after-rotation", "namespace": "default"}, "data": {"k": "v"}}),
            &ApplyOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(applied["data"]["k"], "v");
}

/// Fault 11, the cluster side: once the gate's deadline passed (the engine was paused past
/// its lease), applies, creates and deletes are refused locally — nothing reaches the
/// cluster — while reads and dry runs still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_fault_11_paused_engine_changes_no_cluster_object() {
    let sc = driftless_testkit::cluster::sandbox_cluster().await;
    let gate = WriteGate::default();
    let cluster = KubeCluster::new(sc.cluster.client(), "gated").with_write_gate(gate.clone());
    let cm = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"k": "v"}});
    gate.open_until(Instant::now() + Duration::from_secs(60));
    cluster
        .apply(&cm("while-leading"), &ApplyOptions::default())
        .await
        .unwrap();

    // The lease ran out while the engine was paused.
    gate.open_until(Instant::now());
    let err = cluster
        .apply(&cm("after-pause"), &ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("lease"), "{err}");
    assert!(cluster.create(&cm("after-pause")).await.is_err());
    let (gvk, key) = cm_key("while-leading");
    assert!(
        cluster
            .delete(&gvk, &key, driftless_core::cluster::Propagation::Background)
            .await
            .is_err()
    );
    // Nothing reached the server: the object is absent, the old one still there.
    let (_, absent) = cm_key("after-pause");
    assert!(sc.cluster.get(&gvk, &absent).await.unwrap().is_none());
    assert!(sc.cluster.get(&gvk, &key).await.unwrap().is_some());
    let dry = ApplyOptions {
        dry_run: true,
        ..Default::default()
    };
    assert!(cluster.apply(&cm("after-pause"), &dry).await.is_ok());
}
