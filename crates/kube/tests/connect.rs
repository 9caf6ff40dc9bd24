//! Building clients: exec credential plugins refused unless allowed, unknown contexts named.

use driftless_kube::{ClusterSource, KubeError, connect};

const KUBECONFIG: &str = r#"apiVersion: v1
kind: Config
current-context: cloud
clusters:
- name: cloud
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: cloud
  context: {cluster: cloud, user: sso}
- name: plain
  context: {cluster: cloud, user: token}
users:
- name: sso
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /bin/sh
      args: ["-c", "touch PWNED"]
- name: token
  user: {token: abc}
"#;

fn write() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, KUBECONFIG).unwrap();
    (dir, path)
}

#[tokio::test]
async fn exec_credential_plugins_are_refused_unless_allowed() {
    let (dir, path) = write();
    let err = connect(&ClusterSource::Kubeconfig {
        path: path.clone(),
        context: None,
        allow_exec: false,
    })
    .await
    .err()
    .expect("refused");
    assert!(matches!(err, KubeError::ExecRefused { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("context cloud") && msg.contains("user sso") && msg.contains("/bin/sh"),
        "{msg}"
    );
    assert!(!dir.path().join("PWNED").exists());
    // Another context of the same file, with a token, is fine.
    connect(&ClusterSource::Kubeconfig {
        path,
        context: Some("plain".into()),
        allow_exec: false,
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn an_unknown_context_is_named_with_the_known_ones() {
    let (_dir, path) = write();
    let err = connect(&ClusterSource::Kubeconfig {
        path,
        context: Some("prod".into()),
        allow_exec: false,
    })
    .await
    .err()
    .expect("refused");
    let msg = err.to_string();
    assert!(
        msg.starts_with("kubeconfig ")
            && msg.ends_with("kubeconfig: context prod does not exist (known: cloud, plain)"),
        "{msg}"
    );
}
