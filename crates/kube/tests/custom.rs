//! The engine's custom resources through `KubeCluster` (issue 18): a namespaced watch hands
//! whole objects over (a list first, then changes, deletions), status is written through the
//! status subresource only, and finalizers can be set — against the sandbox's CRD support.

use std::time::Duration;

use driftless_core::cluster::{ApplyOptions, Cluster, Propagation};
use driftless_core::{Gvk, ResourceKey};
use driftless_kube::{ObjectEvent, ResourceType};
use serde_json::json;
use tokio::sync::mpsc;

async fn next(rx: &mut mpsc::Receiver<ObjectEvent>) -> ObjectEvent {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("an event within 20 s")
        .expect("the watch is running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resources_are_watched_in_one_namespace_and_their_status_written() {
    let sc = driftless_testkit::cluster::sandbox_cluster().await;
    let c = &sc.cluster;
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    c.apply(&crd, &ApplyOptions::default()).await.unwrap();
    for ns in ["engine", "elsewhere"] {
        c.apply(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            &ApplyOptions::default(),
        )
        .await
        .unwrap();
    }
    let widget = |ns: &str, name: &str| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name, "namespace": ns}, "spec": {"size": 1}});
    let ty = ResourceType::new("example.com", "v1", "Widget", "widgets");
    let gvk = Gvk {
        group: "example.com".into(),
        version: "v1".into(),
        kind: "Widget".into(),
    };
    let crd_gvk = Gvk {
        group: "apiextensions.k8s.io".into(),
        version: "v1".into(),
        kind: "CustomResourceDefinition".into(),
    };
    let crd_key = ResourceKey::new(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "",
        "widgets.example.com",
    );
    let established = c
        .wait_until(&crd_gvk, &crd_key, Duration::from_secs(30), &|o| {
            o.and_then(|o| o["status"]["conditions"].as_array())
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|x| x["type"] == "Established" && x["status"] == "True")
                })
        })
        .await
        .unwrap();
    assert!(established.is_some());
    // Discovery is refreshed at most 4 times a second: the new type may take a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while let Err(e) = c
        .apply(&widget("engine", "before"), &ApplyOptions::default())
        .await
    {
        assert!(std::time::Instant::now() < deadline, "{e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (tx, mut rx) = mpsc::channel(16);
    let task = c.watch_namespaced(&ty, "engine", tx);
    let ObjectEvent::Listed(t, objs) = next(&mut rx).await else {
        panic!("a list comes first");
    };
    assert_eq!(t, ty);
    assert_eq!(objs.len(), 1);
    assert_eq!(objs[0]["metadata"]["name"], "before");
    assert_eq!(objs[0]["apiVersion"], "example.com/v1");
    assert_eq!(objs[0]["spec"]["size"], 1);

    // Another namespace is not watched: the next event is the engine namespace's.
    c.apply(&widget("elsewhere", "other"), &ApplyOptions::default())
        .await
        .unwrap();
    c.apply(&widget("engine", "after"), &ApplyOptions::default())
        .await
        .unwrap();
    let ObjectEvent::Applied(_, o) = next(&mut rx).await else {
        panic!("an applied event");
    };
    assert_eq!(o["metadata"]["name"], "after");

    // Status through the subresource; the spec is untouched.
    c.patch_status(
        &ty,
        "engine",
        "after",
        &json!({"sync": {"status": "Synced"}}),
    )
    .await
    .unwrap();
    let key = ResourceKey::new("example.com", "Widget", "engine", "after");
    let got = c.get(&gvk, &key).await.unwrap().unwrap();
    assert_eq!(got["status"]["sync"]["status"], "Synced");
    let managers: Vec<&str> = got["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["subresource"] == "status")
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, [driftless_kube::FIELD_MANAGER]);
    assert_eq!(got["spec"]["size"], 1);
    let ObjectEvent::Applied(_, o) = next(&mut rx).await else {
        panic!("the status change is seen");
    };
    assert_eq!(o["status"]["sync"]["status"], "Synced");
    assert_eq!(
        o["metadata"]["generation"], got["metadata"]["generation"],
        "a status write leaves the generation alone"
    );
    let err = c
        .patch_status(&ty, "engine", "missing", &json!({"a": 1}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Widget engine/missing"), "{err}");

    // Finalizers: set, then cleared so deletion completes.
    let rv = got["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    c.set_finalizers(&ty, "engine", "after", &rv, &["example.com/hold".into()])
        .await
        .unwrap();
    let _ = next(&mut rx).await;
    c.delete(&gvk, &key, Propagation::Background).await.unwrap();
    let ObjectEvent::Applied(_, held) = next(&mut rx).await else {
        panic!("the deletion is held by the finalizer");
    };
    assert!(held["metadata"]["deletionTimestamp"].is_string());
    let rv = held["metadata"]["resourceVersion"].as_str().unwrap();
    c.set_finalizers(&ty, "engine", "after", rv, &[])
        .await
        .unwrap();
    // (the finalizer's removal may be seen as a change first)
    let gone = loop {
        match next(&mut rx).await {
            ObjectEvent::Deleted(_, o) => break o,
            ObjectEvent::Applied(_, o) => assert!(
                o["metadata"]["finalizers"]
                    .as_array()
                    .is_none_or(|f| f.is_empty()),
                "{o}"
            ),
            other => panic!("deleted once the finalizer is gone: {other:?}"),
        }
    };
    assert_eq!(gone["metadata"]["name"], "after");
    task.abort();
}
