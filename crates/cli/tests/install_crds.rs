//! Issue 18, the engine in a pod: `driftless up --in-cluster` (a pod's token, CA and
//! namespace files, HTTPS in front of the sandbox) syncs Applications defined as custom
//! resources and writes their status back; conflicts, deletion and Argo CD's finalizer.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::install::{kubectl, kubectl_stdin};
use crate::install_pod::{app, app_status, source, start_in_cluster, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_custom_resource_syncs_in_cluster_and_reports_status() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    source(d);
    std::fs::create_dir_all(d.join("config")).unwrap();
    std::fs::write(
        d.join("config/from-file.yaml"),
        app(d, "driftless.dev/v1alpha1", "from-file", "filed"),
    )
    .unwrap();
    let pod = start_in_cluster(d).await;
    let (kc, api) = (pod.kc.clone(), pod.api.clone());
    let app = |api: &str, name: &str, ns: &str| app(d, api, name, ns);

    kubectl_stdin(
        &kc,
        &["apply", "-f", "-"],
        &app("driftless.dev/v1alpha1", "guestbook", "guestbook"),
    );
    wait_for("the Application resource reads Synced/Healthy", || {
        let s = app_status(&kc, "applications.driftless.dev", "guestbook");
        if s["sync"]["status"] == "Synced" && s["health"]["status"] == "Healthy" {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });
    let s = app_status(&kc, "applications.driftless.dev", "guestbook");
    assert!(
        s["sync"]["revision"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{s}"
    );
    assert_eq!(s["operationState"]["phase"], "Succeeded", "{s}");
    assert_eq!(s["conditions"], serde_json::json!([]), "{s}");
    let cm = kubectl(
        &kc,
        &[
            "get",
            "configmap",
            "settings",
            "-n",
            "guestbook",
            "-o",
            "jsonpath={.data.color}",
        ],
    );
    assert_eq!(cm, "blue");

    // A spec the engine refuses: the resource's status says why, naming it and the field.
    kubectl_stdin(
        &kc,
        &["apply", "-f", "-"],
        "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {name: broken, namespace: driftless}\nspec:\n  destination: {namespace: x}\n",
    );
    wait_for("the broken resource's status names the problem", || {
        let s = app_status(&kc, "applications.driftless.dev", "broken");
        let m = s["conditions"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if s["conditions"][0]["type"] == "InvalidSpecError"
            && m.contains("Application driftless.dev/v1alpha1 driftless/broken")
            && m.contains("source")
            && s["sync"]["status"] == "Unknown"
        {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });

    // The same name twice: a file and a resource, two resources. Each refusal names both.
    kubectl_stdin(
        &kc,
        &["apply", "-f", "-"],
        &app("driftless.dev/v1alpha1", "from-file", "other"),
    );
    kubectl_stdin(
        &kc,
        &["apply", "-f", "-"],
        &app("argoproj.io/v1alpha1", "guestbook", "guestbook"),
    );
    for (plural, name, other) in [
        (
            "applications.driftless.dev",
            "from-file",
            "a definition file (--config)",
        ),
        (
            "applications.argoproj.io",
            "guestbook",
            "Application driftless.dev/v1alpha1 driftless/guestbook",
        ),
    ] {
        wait_for(&format!("{plural} {name} refused"), || {
            let s = app_status(&kc, plural, name);
            let m = s["conditions"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if s["conditions"][0]["type"] == "InvalidSpecError"
                && m.contains("defined twice")
                && m.contains(other)
            {
                Ok(())
            } else {
                Err(s.to_string())
            }
        });
    }

    // Deleting the resource ends management (the objects stay, as without Argo CD's finalizer).
    let http = reqwest::Client::new();
    let token = std::fs::read_to_string(d.join("data/api-token")).unwrap();
    let status_of = |name: &str| {
        let req = http
            .get(format!("{api}/api/v1/applications/{name}"))
            .bearer_auth(token.trim());
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status_of("guestbook").await, 200);
    // The API cannot remove what a resource defines (the resource is the source of truth).
    let refused = http
        .delete(format!("{api}/api/v1/applications/guestbook"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert!(!refused.status().is_success());
    let body = refused.text().await.unwrap();
    assert!(body.contains("delete that resource"), "{body}");
    assert_eq!(status_of("guestbook").await, 200);
    // The refused resource of a file's name goes; the file's application stays.
    kubectl(
        &kc,
        &[
            "delete",
            "applications.driftless.dev",
            "from-file",
            "-n",
            "driftless",
        ],
    );
    // The owner goes: the resource refused for its name takes it over.
    kubectl(
        &kc,
        &[
            "delete",
            "applications.driftless.dev",
            "guestbook",
            "-n",
            "driftless",
        ],
    );
    wait_for("the Argo CD resource took the name over", || {
        let s = app_status(&kc, "applications.argoproj.io", "guestbook");
        if s["sync"]["status"] == "Synced" && s["conditions"] == serde_json::json!([]) {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });
    assert_eq!(status_of("guestbook").await, 200);
    kubectl(
        &kc,
        &[
            "delete",
            "applications.argoproj.io",
            "guestbook",
            "-n",
            "driftless",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while status_of("guestbook").await != 404 {
        assert!(
            Instant::now() < deadline,
            "the application outlived its resource"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        status_of("from-file").await,
        200,
        "the file's application is untouched"
    );
    let cm = kubectl(
        &kc,
        &[
            "get",
            "configmap",
            "settings",
            "-n",
            "guestbook",
            "-o",
            "name",
        ],
    );
    assert_eq!(cm.trim(), "configmap/settings");

    // Argo CD's Application as it is, with Argo CD's resources finalizer: deleting it deletes
    // its objects first, then lets the resource go.
    let argo = app("argoproj.io/v1alpha1", "argo-app", "cascade").replacen(
        "namespace: driftless}",
        "namespace: driftless, finalizers: [resources-finalizer.argocd.argoproj.io]}",
        1,
    );
    kubectl_stdin(&kc, &["apply", "-f", "-"], &argo);
    wait_for("the Argo CD Application reads Synced/Healthy", || {
        let s = app_status(&kc, "applications.argoproj.io", "argo-app");
        if s["sync"]["status"] == "Synced" && s["health"]["status"] == "Healthy" {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });
    kubectl(&kc, &["get", "configmap", "settings", "-n", "cascade"]);
    kubectl(
        &kc,
        &[
            "delete",
            "applications.argoproj.io",
            "argo-app",
            "-n",
            "driftless",
            "--timeout=60s",
        ],
    );
    let left = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kc)
        .args([
            "get",
            "configmap",
            "settings",
            "-n",
            "cascade",
            "-o",
            "name",
            "--ignore-not-found",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&left.stdout).trim(),
        "",
        "the finalizer deleted the objects"
    );
    assert_eq!(status_of("argo-app").await, 404);
}

/// Figures for docs/PERFORMANCE.md: N Application resources applied in one `kubectl apply`
/// until every one reads Synced/Healthy in its own status (as `kubectl get` shows it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: cargo test -p driftless --test integration install_crds::measure -- --ignored --nocapture"]
async fn measure_custom_resources_to_synced() {
    let n: usize = std::env::var("DRIFTLESS_CR_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    source(d);
    let pod = start_in_cluster(d).await;
    let stream: String = (0..n)
        .map(|i| {
            format!(
                "---\n{}",
                app(
                    d,
                    "driftless.dev/v1alpha1",
                    &format!("app-{i}"),
                    &format!("m-{i}")
                )
            )
        })
        .collect();
    let started = Instant::now();
    kubectl_stdin(&pod.kc, &["apply", "-f", "-"], &stream);
    let applied = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    let done = loop {
        let out = kubectl(
            &pod.kc,
            &[
                "get",
                "applications.driftless.dev",
                "-n",
                "driftless",
                "-o",
                "json",
            ],
        );
        let list: Value = serde_json::from_str(&out).unwrap();
        let ready = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| crate::synced_and_healthy(a))
            .count();
        if ready == n {
            break started.elapsed();
        }
        assert!(Instant::now() < deadline, "{ready} of {n} Synced/Healthy");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!(
        "custom resources: {n} Applications applied in {:.2} s; all Synced/Healthy in their status after {:.2} s",
        applied.as_secs_f64(),
        done.as_secs_f64()
    );
}

/// A restart: resources still there stay defined by them (their stored copy is no conflict);
/// a resource deleted while the engine was down takes its application with it at the first
/// list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resources_across_an_engine_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    source(d);
    let mut pod = start_in_cluster(d).await;
    for name in ["keep", "drop"] {
        kubectl_stdin(
            &pod.kc,
            &["apply", "-f", "-"],
            &app(d, "driftless.dev/v1alpha1", name, name),
        );
    }
    let synced = |kc: &Path, name: &str| {
        let s = app_status(kc, "applications.driftless.dev", name);
        if s["sync"]["status"] == "Synced" && s["conditions"] == serde_json::json!([]) {
            Ok(())
        } else {
            Err(s.to_string())
        }
    };
    for name in ["keep", "drop"] {
        wait_for(&format!("{name} Synced"), || synced(&pod.kc, name));
    }
    pod.stop();
    kubectl(
        &pod.kc,
        &[
            "delete",
            "applications.driftless.dev",
            "drop",
            "-n",
            "driftless",
        ],
    );
    pod.restart();
    let http = reqwest::Client::new();
    let token = std::fs::read_to_string(d.join("data/api-token")).unwrap();
    let code = |name: &str| {
        let req = http
            .get(format!("{}/api/v1/applications/{name}", pod.api))
            .bearer_auth(token.trim());
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while code("drop").await != 404 {
        assert!(
            Instant::now() < deadline,
            "drop outlived its resource across the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(code("keep").await, 200);
    // Still defined by its resource (a list claims what is present before it removes what is
    // gone, so `drop` reading 404 means `keep` was claimed): the API may not remove it, and its status is written.
    let refused = http
        .delete(format!("{}/api/v1/applications/keep", pod.api))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert!(
        !refused.status().is_success(),
        "the API removed a resource's application"
    );
    wait_for("keep Synced after the restart", || synced(&pod.kc, "keep"));
}
