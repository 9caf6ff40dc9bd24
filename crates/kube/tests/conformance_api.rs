//! API-server conformance, continued (see `conformance.rs`): error bodies, validation,
//! optimistic concurrency, selectors and pagination, finalizers, namespace deletion,
//! watches (bookmarks, 410), CRDs and the status subresource, dry runs, Secrets. Each
//! assertion holds on the sandbox and on a real v1.36 server (checked against the recorded
//! transcripts where they show it).

use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::conformance::{Target, deployment, namespaces, object, target};

/// The API error of a failed call.
fn status(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other}"),
    }
}

/// Like `eventually`, for what a real cluster's controllers take seconds to do.
async fn within<T>(secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = f().await {
            return Some(t);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn cm(name: &str, data: Value) -> DynamicObject {
    object(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}),
    )
}

#[tokio::test]
async fn get_missing_is_404_not_found_with_details() {
    let t = target().await;
    let e = status(t.configmaps().get("nope").await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(e.message, "configmaps \"nope\" not found");
    t.cleanup().await;
}

#[tokio::test]
async fn creating_an_existing_object_is_409_already_exists() {
    let t = target().await;
    let cms = t.configmaps();
    cms.create(&PostParams::default(), &cm("once", json!({})))
        .await
        .unwrap();
    let e = status(
        cms.create(&PostParams::default(), &cm("once", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(e.message, "configmaps \"once\" already exists");
    t.cleanup().await;
}

#[tokio::test]
async fn an_update_with_a_stale_resource_version_is_409_conflict() {
    let t = target().await;
    let cms = t.configmaps();
    let first = cms
        .create(&PostParams::default(), &cm("cas", json!({"v": "1"})))
        .await
        .unwrap();
    let mut second = first.clone();
    second.data["data"]["v"] = json!("2");
    cms.replace("cas", &PostParams::default(), &second)
        .await
        .unwrap();
    let mut stale = first;
    stale.data["data"]["v"] = json!("3");
    let e = status(
        cms.replace("cas", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(
        e.message
            .starts_with("Operation cannot be fulfilled on configmaps \"cas\""),
        "{}",
        e.message
    );
    assert_eq!(cms.get("cas").await.unwrap().data["data"]["v"], "2");
    t.cleanup().await;
}

#[tokio::test]
async fn an_invalid_deployment_is_422_with_a_cause_per_field() {
    let t = target().await;
    let deploys = t.api("apps", "v1", "Deployment", "deployments");
    let bad = object(
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad2"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "c"}}, "spec": {"containers": []}}}}),
    );
    let e = status(
        deploys
            .patch(
                "bad2",
                &PatchParams::apply("driftless").force(),
                &Patch::Apply(bad),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    // Transcript 13's message, word for word.
    assert_eq!(
        e.message,
        "Deployment.apps \"bad2\" is invalid: [spec.template.metadata.labels: Invalid value: {\"a\":\"c\"}: `selector` does not match template `labels`, spec.template.spec.containers: Required value]"
    );
    t.cleanup().await;
}

#[tokio::test]
async fn a_wrongly_typed_apply_is_500_failed_to_create_typed_patch_object() {
    let t = target().await;
    let deploys = t.api("apps", "v1", "Deployment", "deployments");
    let mut bad = deployment("typed", "nginx:1.27");
    bad.data["spec"]["replicas"] = json!("two");
    let e = status(
        deploys
            .patch(
                "typed",
                &PatchParams::apply("driftless").force(),
                &Patch::Apply(bad),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 500);
    assert_eq!(
        e.message,
        format!(
            "failed to create typed patch object ({}/typed; apps/v1, Kind=Deployment): .spec.replicas: expected numeric (int or float), got string",
            t.ns
        )
    );
    t.cleanup().await;
}

#[tokio::test]
async fn secret_data_that_is_not_base64_is_refused() {
    let t = target().await;
    let secrets = t.api("", "v1", "Secret", "secrets");
    let bad = object(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "wombat"}}),
    );
    let e = status(
        secrets
            .create(&PostParams::default(), &bad)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    assert!(
        e.message.ends_with("illegal base64 data at input byte 4"),
        "{}",
        e.message
    );
    assert!(secrets.get_opt("db").await.unwrap().is_none());
    t.cleanup().await;
}

#[tokio::test]
async fn secret_string_data_is_stored_as_base64_data() {
    let t = target().await;
    let secrets = t.api("", "v1", "Secret", "secrets");
    let s = object(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"password": "s3cret"}}),
    );
    secrets
        .patch("db", &PatchParams::apply("driftless"), &Patch::Apply(s))
        .await
        .unwrap();
    let live = secrets.get("db").await.unwrap();
    assert_eq!(live.data["data"]["password"], "czNjcmV0");
    assert_eq!(live.data["type"], "Opaque");
    assert!(live.data.get("stringData").is_none());
    t.cleanup().await;
}

#[tokio::test]
async fn label_and_field_selectors_filter_lists() {
    let t = target().await;
    let cms = t.configmaps();
    for (name, tier) in [("a", "front"), ("b", "back"), ("c", "front")] {
        let mut o = cm(name, json!({}));
        o.metadata.labels = Some([("tier".to_string(), tier.to_string())].into());
        cms.create(&PostParams::default(), &o).await.unwrap();
    }
    let names = |l: kube::core::ObjectList<DynamicObject>| {
        l.items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("tier=front"))
                .await
                .unwrap()
        ),
        ["a", "c"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("tier!=front,tier"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().fields("metadata.name=b"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    t.cleanup().await;
}

#[tokio::test]
async fn limit_and_continue_page_through_a_list() {
    let t = target().await;
    let cms = t.configmaps();
    for i in 0..5 {
        cms.create(&PostParams::default(), &cm(&format!("page-{i}"), json!({})))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().labels("!nothing").limit(2);
        if let Some(c) = &token {
            lp = lp.continue_token(c);
        }
        let page = cms.list(&lp).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().filter_map(|o| o.metadata.name));
        token = page.metadata.continue_.filter(|c| !c.is_empty());
        if token.is_none() {
            break;
        }
    }
    seen.retain(|n| n.starts_with("page-"));
    assert_eq!(seen, ["page-0", "page-1", "page-2", "page-3", "page-4"]);
    t.cleanup().await;
}

#[tokio::test]
async fn a_finalizer_holds_a_deletion_until_it_is_removed() {
    let t = target().await;
    let cms = t.configmaps();
    let mut o = cm("held", json!({}));
    o.metadata.finalizers = Some(vec!["conformance.driftless.dev/hold".into()]);
    cms.create(&PostParams::default(), &o).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let live = cms.get("held").await.unwrap();
    assert!(
        live.metadata.deletion_timestamp.is_some(),
        "marked for deletion"
    );
    assert_eq!(
        live.metadata.finalizers.as_deref(),
        Some(&["conformance.driftless.dev/hold".to_string()][..])
    );
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    let gone = within(10, async || {
        cms.get_opt("held").await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "gone once its finalizer is removed");
    t.cleanup().await;
}

#[tokio::test]
async fn a_deleted_namespace_is_terminating_refuses_new_objects_then_goes() {
    let t = target().await;
    let ns = format!("{}-gone", t.ns);
    let nss = namespaces(&t.client);
    nss.create(
        &PostParams::default(),
        &object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})),
    )
    .await
    .unwrap();
    let cms: Api<DynamicObject> = Api::namespaced_with(
        t.client.clone(),
        &ns,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "ConfigMap"),
            "configmaps",
        ),
    );
    cms.create(&PostParams::default(), &cm("inside", json!({})))
        .await
        .unwrap();
    nss.delete(&ns, &DeleteParams::default()).await.unwrap();
    let live = nss.get(&ns).await.unwrap();
    assert_eq!(live.data["status"]["phase"], "Terminating");
    assert!(live.metadata.deletion_timestamp.is_some());
    let e = status(
        cms.create(&PostParams::default(), &cm("late", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert!(
        e.message.ends_with(&format!(
            "unable to create new content in namespace {ns} because it is being terminated"
        )),
        "{}",
        e.message
    );
    let gone = within(60, async || {
        nss.get_opt(&ns).await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "the namespace was never removed");
    t.cleanup().await;
}

#[tokio::test]
async fn dry_run_create_answers_with_defaults_and_stores_nothing() {
    let t = target().await;
    let deploys = t.api("apps", "v1", "Deployment", "deployments");
    let made = deploys
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &deployment("dry", "nginx:1.27"),
        )
        .await
        .unwrap();
    assert_eq!(
        made.data["spec"]["strategy"]["type"], "RollingUpdate",
        "defaults filled in"
    );
    assert!(made.metadata.uid.is_some());
    assert!(
        deploys.get_opt("dry").await.unwrap().is_none(),
        "nothing stored"
    );
    t.cleanup().await;
}

#[tokio::test]
async fn generation_follows_the_spec_not_the_metadata() {
    let t = target().await;
    let (deploys, _) = t.apply_deployment("gen", "nginx:1.27").await;
    assert_eq!(
        deploys.get("gen").await.unwrap().metadata.generation,
        Some(1)
    );
    deploys
        .patch(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"extra": "x"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        deploys.get("gen").await.unwrap().metadata.generation,
        Some(1),
        "a label is not a spec change"
    );
    deploys
        .patch(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(
        deploys.get("gen").await.unwrap().metadata.generation,
        Some(2)
    );
    t.cleanup().await;
}

#[tokio::test]
async fn two_appliers_of_the_same_value_share_the_field_without_conflict() {
    let t = target().await;
    let cms = t.configmaps();
    let o = cm("shared", json!({"mode": "same"}));
    cms.patch(
        "shared",
        &PatchParams::apply("alice"),
        &Patch::Apply(o.clone()),
    )
    .await
    .unwrap();
    cms.patch("shared", &PatchParams::apply("bob"), &Patch::Apply(o))
        .await
        .unwrap();
    let live = cms.get("shared").await.unwrap();
    let mut owners: Vec<String> = live
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0["f:data"].get("f:mode").is_some())
        })
        .filter_map(|m| m.manager.clone())
        .collect();
    owners.sort();
    assert_eq!(owners, ["alice", "bob"]);
    t.cleanup().await;
}

#[tokio::test]
async fn an_applier_that_stops_declaring_a_field_removes_it() {
    let t = target().await;
    let cms = t.configmaps();
    let pp = PatchParams::apply("driftless");
    cms.patch(
        "shrink",
        &pp,
        &Patch::Apply(cm("shrink", json!({"a": "1", "b": "2"}))),
    )
    .await
    .unwrap();
    cms.patch(
        "shrink",
        &pp,
        &Patch::Apply(cm("shrink", json!({"a": "1"}))),
    )
    .await
    .unwrap();
    assert_eq!(
        cms.get("shrink").await.unwrap().data["data"],
        json!({"a": "1"})
    );
    t.cleanup().await;
}

#[tokio::test]
async fn watch_bookmarks_carry_the_current_resource_version() {
    let t = target().await;
    let cms = t.configmaps();
    let listed = cms.list(&ListParams::default()).await.unwrap();
    let rv = listed.metadata.resource_version.unwrap();
    // A real server sends one every minute and 2 s before the watch times out.
    let stream = cms
        .watch(
            &WatchParams {
                bookmarks: true,
                ..WatchParams::default()
            }
            .timeout(10),
            &rv,
        )
        .await
        .unwrap();
    let mut stream = Box::pin(stream);
    let mark = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(ev) = stream.next().await {
            if let Ok(WatchEvent::Bookmark(b)) = ev {
                return Some(b);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("a bookmark before the watch ends");
    let at: u64 = mark.metadata.resource_version.parse().unwrap();
    assert!(at >= rv.parse::<u64>().unwrap(), "{at} < {rv}");
    t.cleanup().await;
}

#[tokio::test]
async fn a_watch_from_a_compacted_version_ends_with_410_expired() {
    let t = target().await;
    let cms = t.configmaps();
    // The sandbox keeps a short history here; a real server compacts every few minutes, so
    // resourceVersion 1 is long gone on any cluster that has run for a while.
    if let Some(sb) = &t.sandbox {
        sb.with_store(|s| s.history_limit = 5);
        for i in 0..10 {
            cms.create(
                &PostParams::default(),
                &cm(&format!("churn-{i}"), json!({})),
            )
            .await
            .unwrap();
        }
    }
    let mut stream = Box::pin(
        cms.watch(&WatchParams::default().timeout(5), "1")
            .await
            .unwrap(),
    );
    match stream.next().await {
        Some(Ok(WatchEvent::Error(e))) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message.starts_with("too old resource version: 1 ("),
                "{}",
                e.message
            );
        }
        // A young real cluster still has everything since version 1 (transcript 21).
        Some(Ok(WatchEvent::Added(_))) if t.sandbox.is_none() => {}
        other => panic!("expected 410 Expired, got {other:?}"),
    }
    t.cleanup().await;
}

fn crd(group: &str, status: bool) -> DynamicObject {
    let mut version = json!({"name": "v1", "served": true, "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}});
    if status {
        version["subresources"] = json!({"status": {}});
    }
    object(
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("gadgets.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
            "versions": [version]}}),
    )
}

/// Applies a CRD of this test's own group and waits for its type to be served.
async fn gadgets(t: &Target, status: bool) -> (Api<DynamicObject>, Api<DynamicObject>, String) {
    let group = format!("{}.conformance.driftless.dev", t.ns);
    let crds = Api::<DynamicObject>::all_with(
        t.client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let name = format!("gadgets.{group}");
    crds.patch(
        &name,
        &PatchParams::apply("driftless"),
        &Patch::Apply(crd(&group, status)),
    )
    .await
    .unwrap();
    let api = t.api(&group, "v1", "Gadget", "gadgets");
    let ready = within(30, async || {
        let established = crds.get(&name).await.ok()?.data["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True");
        (established && api.list(&ListParams::default()).await.is_ok()).then_some(())
    })
    .await;
    assert!(ready.is_some(), "the CRD was never established");
    (crds, api, name)
}

#[tokio::test]
async fn a_deleted_crd_takes_its_custom_resources_with_it() {
    let t = target().await;
    let (crds, gadgets, name) = gadgets(&t, false).await;
    let g = object(
        json!({"apiVersion": format!("{}.conformance.driftless.dev/v1", t.ns), "kind": "Gadget", "metadata": {"name": "one"}, "spec": {"size": 1}}),
    );
    gadgets
        .patch("one", &PatchParams::apply("driftless"), &Patch::Apply(g))
        .await
        .unwrap();
    crds.delete(&name, &DeleteParams::default()).await.unwrap();
    let gone = within(60, async || {
        crds.get_opt(&name).await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "the CRD was never removed");
    let e = status(gadgets.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(e.code, 404, "the type is no longer served");
    t.cleanup().await;
}

#[tokio::test]
async fn the_status_subresource_splits_spec_and_status_writes() {
    let t = target().await;
    let (crds, gadgets, name) = gadgets(&t, true).await;
    let av = format!("{}.conformance.driftless.dev/v1", t.ns);
    let g = object(
        json!({"apiVersion": av, "kind": "Gadget", "metadata": {"name": "split"}, "spec": {"size": 1}, "status": {"ready": true}}),
    );
    let made = gadgets.create(&PostParams::default(), &g).await.unwrap();
    assert!(
        made.data.get("status").is_none(),
        "status is ignored on the main resource"
    );
    assert_eq!(made.metadata.generation, Some(1));
    let st = gadgets
        .patch_status(
            "split",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}, "spec": {"size": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(st.data["status"]["ready"], true);
    assert_eq!(
        st.data["spec"]["size"], 1,
        "spec is ignored on the status subresource"
    );
    assert_eq!(
        st.metadata.generation,
        Some(1),
        "a status write is not a new generation"
    );
    let spec = gadgets
        .patch(
            "split",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 2}, "status": {"ready": false}})),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            spec.data["spec"]["size"].as_i64(),
            spec.data["status"]["ready"].as_bool()
        ),
        (Some(2), Some(true))
    );
    assert_eq!(spec.metadata.generation, Some(2));
    crds.delete(&name, &DeleteParams::default()).await.unwrap();
    t.cleanup().await;
}
