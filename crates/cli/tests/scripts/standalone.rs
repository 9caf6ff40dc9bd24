//! `driftless run --standalone`: a script's workflow diffed and synced against a kubeconfig,
//! no engine; what needs one (rollback and its history) is refused with a clear message.

use std::process::Command;

use driftless_testkit::repo::TestRepo;

use super::rig::{config_map, fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_diffs_and_syncs_against_a_kubeconfig_without_an_engine() {
    let sandbox = driftless_sandbox::Sandbox::start(0).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sandbox.kubeconfig()).unwrap();
    let repo = TestRepo::new("solo");
    repo.commit(&[("cm.yaml", Some(&config_map("solo", "v1")))], "one");
    let out = tokio::task::spawn_blocking({
        let (kubeconfig, data) = (kubeconfig.clone(), dir.path().join("data"));
        let param = format!("repo={}", repo.bare.display());
        move || {
            Command::new(env!("CARGO_BIN_EXE_driftless"))
                .args(["run", "--standalone", "--kubeconfig"])
                .arg(&kubeconfig)
                .arg(fixture("own", "standalone.lua"))
                .args(["--param", &param])
                .env("DRIFTLESS_DATA_DIR", data)
                .env_remove("DRIFTLESS_TOKEN")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("needs a running engine"), "{text}");
    let live = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "configmap", "solo", "-n", "solo", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    let cm: serde_json::Value = serde_json::from_slice(&live.stdout).unwrap();
    assert_eq!(cm["data"]["value"], "v1");
    assert_eq!(
        cm["metadata"]["annotations"]["driftless.dev/tracking-id"],
        "solo:/ConfigMap:solo/solo"
    );
}
