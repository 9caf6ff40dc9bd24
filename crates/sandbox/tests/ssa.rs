//! Server-side apply replayed from the recorded transcripts: apply creates (02), another
//! manager's merge patch takes `.spec.replicas` (05), a plain re-apply conflicts with the exact
//! recorded 409 (06), a forced apply takes it back (07), a dry run changes nothing (03).

use crate::common;

use common::transcript;
use driftless_sandbox::Sandbox;
use serde_json::{Value, json};

async fn replay(sb: &Sandbox, name: &str) -> (u16, Value) {
    common::Client::new(sb).replay(name).await
}

fn managers(obj: &Value) -> Vec<(String, String, Value)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["manager"].as_str().unwrap().to_string(),
                m["operation"].as_str().unwrap().to_string(),
                m["fieldsV1"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn apply_conflict_and_force_follow_the_transcripts() {
    let sb = Sandbox::start(0).await.unwrap();
    let (code, ns) = replay(&sb, "01-create-namespace").await;
    assert_eq!(code, 201);
    // Only identity fields were applied: nothing to own, as transcript 01 records.
    let recorded = transcript("01-create-namespace");
    assert_eq!(
        ns["metadata"].get("managedFields"),
        recorded["response"]["body"]["metadata"].get("managedFields")
    );
    assert!(ns["metadata"].get("managedFields").is_none());

    let (code, created) = replay(&sb, "02-ssa-apply-deployment").await;
    assert_eq!(code, 201);
    assert_eq!(created["spec"]["replicas"], 2);
    let m = managers(&created);
    assert_eq!(
        (m.len(), m[0].0.as_str(), m[0].1.as_str()),
        (1, "driftless", "Apply")
    );
    assert_eq!(
        m[0].2["f:spec"]["f:selector"],
        json!({}),
        "a LabelSelector is owned whole (atomic)"
    );
    assert!(
        m[0].2["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]["."]
            .is_object()
    );

    let (code, edited) = replay(&sb, "05-merge-patch-by-other-manager").await;
    assert_eq!((code, edited["spec"]["replicas"].as_i64()), (200, Some(5)));
    let m = managers(&edited);
    let edit = m.iter().find(|x| x.0 == "kubectl-edit").unwrap();
    assert_eq!(
        (edit.1.as_str(), edit.2.clone()),
        ("Update", json!({"f:spec": {"f:replicas": {}}})),
        "as recorded in transcript 05"
    );
    let ours = m.iter().find(|x| x.0 == "driftless").unwrap();
    assert!(
        ours.2["f:spec"].get("f:replicas").is_none(),
        "ownership of .spec.replicas moved"
    );

    // Re-applying replicas: 2 without force: exactly the recorded 409.
    let recorded = transcript("06-ssa-apply-conflict-without-force");
    let (code, conflict) = replay(&sb, "06-ssa-apply-conflict-without-force").await;
    assert_eq!(
        (code, conflict),
        (409, recorded["response"]["body"].clone())
    );
    let still = reqwest::Client::new()
        .get(format!(
            "{}/apis/apps/v1/namespaces/shop/deployments/web",
            sb.url()
        ))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        still["spec"]["replicas"], 5,
        "a refused apply changes nothing"
    );

    let (code, dry) = replay(&sb, "03-ssa-dryrun-changed-image").await;
    assert_eq!(code, 200);
    assert_eq!(
        dry["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    let still = reqwest::Client::new()
        .get(format!(
            "{}/apis/apps/v1/namespaces/shop/deployments/web",
            sb.url()
        ))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        still["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27",
        "dry run stores nothing"
    );

    let (code, forced) = replay(&sb, "07-ssa-apply-force-takes-back").await;
    assert_eq!((code, forced["spec"]["replicas"].as_i64()), (200, Some(2)));
    let m = managers(&forced);
    assert!(
        m.iter().all(|x| x.0 != "kubectl-edit"),
        "the other manager lost its only field: {m:?}"
    );
    assert!(m.iter().find(|x| x.0 == "driftless").unwrap().2["f:spec"]["f:replicas"].is_object());
}

#[tokio::test]
async fn fields_an_applier_stops_declaring_are_removed_unless_shared() {
    let sb = Sandbox::start(0).await.unwrap();
    let http = reqwest::Client::new();
    let apply = |body: Value, manager: &'static str| {
        let http = http.clone();
        let url = format!(
            "{}/api/v1/namespaces/default/configmaps/c?fieldManager={manager}",
            sb.url()
        );
        async move {
            let r = http
                .patch(url)
                .header("content-type", "application/apply-patch+yaml")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let code = r.status().as_u16();
            (code, r.json::<Value>().await.unwrap())
        }
    };
    let cm = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data});
    assert_eq!(apply(cm(json!({"a": "1", "b": "2"})), "one").await.0, 201);
    // A second manager applies the same value of `b`: shared ownership, no conflict.
    assert_eq!(apply(cm(json!({"b": "2", "c": "3"})), "two").await.0, 200);
    // `one` drops a and b: a goes (only `one` owned it), b stays (`two` still declares it).
    let (code, after) = apply(cm(json!({})), "one").await;
    assert_eq!(code, 200);
    assert_eq!(after["data"], json!({"b": "2", "c": "3"}));
    // A different value for a field `two` owns conflicts, naming the field.
    let (code, conflict) = apply(cm(json!({"c": "4"})), "one").await;
    assert_eq!(code, 409);
    assert_eq!(
        conflict["message"],
        "Apply failed with 1 conflict: conflict with \"two\" using v1: .data.c"
    );
    let (code, missing) = {
        let r = http
            .patch(format!(
                "{}/api/v1/namespaces/default/configmaps/c",
                sb.url()
            ))
            .header("content-type", "application/apply-patch+yaml")
            .body(cm(json!({})).to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(
        (code, missing["reason"].as_str()),
        (400, Some("BadRequest")),
        "fieldManager is required for apply"
    );
}
