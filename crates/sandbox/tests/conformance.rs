//! Transcript conformance: each recorded request replayed against a fresh sandbox must get the
//! recorded status and body, ignoring only what differs between any two servers: uids,
//! resourceVersions, timestamps, and the allocated ClusterIP.

use crate::common;

use common::{Client, transcript};
use driftless_sandbox::Sandbox;
use serde_json::Value;

/// Replaces server-chosen values with placeholders, everywhere in the body.
fn normalize(v: &Value) -> Value {
    let uid = v["metadata"]["uid"].as_str().unwrap_or("\u{0}").to_string();
    fn rec(v: &Value, uid: &str) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| {
                        let x = match k.as_str() {
                            "uid" | "resourceVersion" | "creationTimestamp"
                            | "deletionTimestamp" | "time" | "clusterIP" => {
                                Value::String(format!("<{k}>"))
                            }
                            "clusterIPs" => Value::String("<clusterIPs>".into()),
                            _ => rec(x, uid),
                        };
                        (k.clone(), x)
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|x| rec(x, uid)).collect()),
            Value::String(s) if s == uid => Value::String("<own-uid>".into()),
            other => other.clone(),
        }
    }
    rec(v, &uid)
}

#[tokio::test]
async fn creation_and_validation_transcripts_replay_with_identical_bodies() {
    let sb = Sandbox::start(0).await.unwrap();
    let client = Client::new(&sb);
    let mut failures = Vec::new();
    for name in [
        "01-create-namespace",
        "02-ssa-apply-deployment",
        "08-ssa-apply-service",
        "09-ssa-apply-configmap",
        "10-ssa-apply-secret-stringdata",
        "11-ssa-apply-job",
        "16-ssa-apply-crd",
        "17-ssa-apply-custom-resource",
        "12-ssa-apply-invalid-type",
        "13-ssa-apply-invalid-semantics",
    ] {
        let t = transcript(name);
        let (code, got) = client.replay(name).await;
        let want = &t["response"];
        if code != want["status"].as_u64().unwrap() as u16
            || normalize(&got) != normalize(&want["body"])
        {
            failures.push(format!(
                "{name}: status {code}\n got: {}\nwant: {}",
                normalize(&got),
                normalize(&want["body"])
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// [`normalize`], plus what a controller writes at its own pace on any cluster: condition
/// timestamps, the ReplicaSet hash in messages (the real one hashes Go structs), the cluster's
/// CA bundle, and the resourceVersion inside continue tokens.
fn normalize_session(v: &Value) -> Value {
    fn rec(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match k.as_str() {
                        "lastTransitionTime" | "lastUpdateTime" | "lastProbeTime" | "startTime"
                        | "completionTime" => *x = Value::String(format!("<{k}>")),
                        "ca.crt" => *x = Value::String("<cluster CA>".into()),
                        "continue" => {
                            use base64::Engine;
                            let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                            let token = x.as_str().unwrap_or_default();
                            let mut decoded: Value = engine
                                .decode(token)
                                .ok()
                                .and_then(|b| serde_json::from_slice(&b).ok())
                                .unwrap_or_default();
                            decoded["rv"] = Value::String("<rv>".into());
                            *x = decoded;
                        }
                        _ => rec(x),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(rec),
            Value::String(s) if s.starts_with("ReplicaSet \"") => {
                if let Some((name, _hash)) = s["ReplicaSet \"".len()..]
                    .split('"')
                    .next()
                    .and_then(|rs| rs.rsplit_once('-'))
                {
                    let rest = s.splitn(3, '"').nth(2).unwrap_or_default().to_string();
                    *s = format!("ReplicaSet \"{name}-<hash>\"{rest}");
                }
            }
            _ => {}
        }
    }
    let mut v = normalize(v);
    rec(&mut v);
    v
}

/// Drops what a Deployment controller had or had not written yet when the request was made:
/// its status, its revision annotation, its managedFields entry.
fn without_controller_writes(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    if let Some(a) = v["metadata"]["annotations"].as_object_mut() {
        a.remove("deployment.kubernetes.io/revision");
    }
    if let Some(mf) = v["metadata"]["managedFields"].as_array_mut() {
        mf.retain(|e| e["manager"] != "kube-controller-manager");
    }
    v
}

/// The recorded session, all 25 requests in order, on a sandbox without nodes like the
/// recorded cluster: each gets the recorded status and the recorded body.
#[tokio::test]
async fn the_recorded_session_replays_in_order() {
    let sb = Sandbox::start(0).await.unwrap();
    sb.with_store(|s| s.schedulable = false);
    let client = Client::new(&sb);
    let mut names: Vec<String> = std::fs::read_dir("tests/transcripts")
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            name.trim_end_matches(".json").to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 25, "every recorded transcript is replayed");
    let mut failures = Vec::new();
    for name in &names {
        let t = transcript(name);
        let path = t["request"]["path"].as_str().unwrap();
        if name.starts_with("18-") {
            // The recording was made after the Deployment controller had caught up.
            common::eventually(
                &client,
                "/apis/apps/v1/namespaces/shop/deployments/web",
                |d| d["status"]["observedGeneration"] == d["metadata"]["generation"],
            )
            .await;
        }
        let (code, got) = if path.contains("watch=true") {
            let n = t["response"]["body"].as_array().unwrap().len();
            (200, Value::Array(client.watch(path, n).await))
        } else {
            client.replay(name).await
        };
        let want = &t["response"]["body"];
        // 03–07 were recorded while the controller raced the requests.
        let raced = ["03-", "04-", "05-", "07-"]
            .iter()
            .any(|p| name.starts_with(p));
        let (got, want) = if raced {
            (
                without_controller_writes(&got),
                without_controller_writes(want),
            )
        } else {
            (got, want.clone())
        };
        if code != t["response"]["status"].as_u64().unwrap() as u16
            || normalize_session(&got) != normalize_session(&want)
        {
            failures.push(format!(
                "{name}: status {code}\n got: {}\nwant: {}",
                normalize_session(&got),
                normalize_session(&want)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
