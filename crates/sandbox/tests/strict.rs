//! The sandbox refuses what a real API server refuses in what kubectl and appliers send:
//! Secret `data` that is not base64.

use crate::common::{Client, ns};
use driftless_sandbox::Sandbox;
use serde_json::json;

fn secret(name: &str, value: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": {"password": value}})
}

#[tokio::test]
async fn sandbox_rejects_secret_data_not_base64() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    assert_eq!(c.post("/api/v1/namespaces", ns("vault")).await.0, 201);
    let base = "/api/v1/namespaces/vault/secrets";

    // Create: the decoder's 400, byte offset as Go's base64 reports it ("wombat" → 4).
    let (code, body) = c.post(base, secret("db", "wombat")).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 4",
            "reason": "BadRequest", "code": 400})
    );
    assert_eq!(c.get(&format!("{base}/db")).await.0, 404, "nothing stored");

    // Valid base64 (Go skips newlines) is stored as sent.
    let (code, made) = c.post(base, secret("db", "d29t\nYmF0")).await;
    assert_eq!(code, 201, "{made}");

    // Update and merge patch go through the same decoder.
    let mut bad = made.clone();
    bad["data"]["password"] = json!("${PASSWORD}");
    let (code, body) = c.send("PUT", &format!("{base}/db"), None, Some(bad)).await;
    assert_eq!(
        (code, body["message"].as_str().unwrap()),
        (
            400,
            "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 0"
        )
    );
    let (code, _) = c
        .send(
            "PATCH",
            &format!("{base}/db"),
            Some("application/merge-patch+json"),
            Some(json!({"data": {"other": "YQ="}})),
        )
        .await;
    assert_eq!(code, 400);

    // Server-side apply: the typed patch takes any string; converting the merged object back
    // to a Secret fails, a 500 without reason (like transcript 12's typed-patch failure).
    let mut applied = secret("db", "admin");
    applied["metadata"]["namespace"] = json!("vault");
    let (code, body) = c
        .send(
            "PATCH",
            &format!("{base}/db?fieldManager=driftless&force=true"),
            Some("application/apply-patch+yaml"),
            Some(applied),
        )
        .await;
    assert_eq!(code, 500, "{body}");
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "failed to convert new object (vault/db; /v1, Kind=Secret) to proper version: error decoding from json: illegal base64 data at input byte 4",
            "code": 500})
    );
    let (_, live) = c.get(&format!("{base}/db")).await;
    assert_eq!(
        live["data"]["password"], "d29t\nYmF0",
        "the live Secret is unchanged"
    );
}
