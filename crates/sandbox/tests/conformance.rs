//! Transcript conformance: each recorded request replayed against a fresh sandbox must get the
//! recorded status and body, ignoring only what differs between any two servers: uids,
//! resourceVersions, timestamps, and the allocated ClusterIP.

mod common;

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
