//! The live cache on a sandbox: tracked objects only, kept current by the watch, changes
//! broadcast, untracking and deletion both remove.

use std::time::Duration;

use driftless_core::cluster::{ApplyOptions, Cluster, KindScope, Propagation};
use driftless_core::{Gvk, ResourceKey, tracking};
use driftless_kube::{KubeCluster, LiveCache};
use serde_json::json;

async fn cluster() -> (KubeCluster, driftless_sandbox::Sandbox) {
    let sc = driftless_testkit::cluster::sandbox_cluster().await;
    (sc.cluster, sc.sandbox)
}

fn cm(name: &str, app: Option<&str>, value: &str) -> serde_json::Value {
    let mut o = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"v": value}});
    if let Some(app) = app {
        tracking::mark(
            &mut o,
            app,
            &ResourceKey::new("", "ConfigMap", "default", name),
            false,
        );
    }
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_holds_tracked_objects_only_and_follows_every_change() {
    let (c, _sb) = cluster().await;
    let apply = ApplyOptions::default();
    c.apply(&cm("ours", Some("shop"), "1"), &apply)
        .await
        .unwrap();
    c.apply(&cm("theirs", None, "1"), &apply).await.unwrap();
    let scope: KindScope = c
        .resolve(&Gvk::from_api_version("v1", "ConfigMap"))
        .await
        .unwrap()
        .unwrap();
    let cache = LiveCache::new(c.client().clone());
    let mut changes = cache.subscribe();
    assert!(!cache.is_synced() || cache.kinds().is_empty());
    cache.watch(&scope, None);
    assert!(cache.wait_synced(Duration::from_secs(5)).await);
    assert!(cache.age().unwrap() < Duration::from_secs(5));
    let ours = ResourceKey::new("", "ConfigMap", "default", "ours");
    assert_eq!(
        cache
            .tracked_by("shop")
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>(),
        vec![ours.clone()]
    );
    assert!(
        cache
            .get(&ResourceKey::new("", "ConfigMap", "default", "theirs"))
            .is_none(),
        "untracked objects are not kept"
    );
    assert_eq!(
        changes.recv().await.unwrap().key,
        ours,
        "the initial list is announced"
    );

    // An edit arrives through the watch within a second.
    c.apply(&cm("ours", Some("shop"), "2"), &apply)
        .await
        .unwrap();
    let change = tokio::time::timeout(Duration::from_secs(1), changes.recv())
        .await
        .expect("seen within a second")
        .unwrap();
    assert_eq!(
        (change.key.clone(), change.exists, change.app.as_str()),
        (ours.clone(), true, "shop")
    );
    assert_eq!(cache.get(&ours).unwrap()["data"]["v"], "2");

    // Tracking removed: no longer the app's.
    let mut untracked = cm("ours", None, "2");
    untracked["metadata"]["annotations"] = json!({});
    c.replace(&untracked).await.unwrap();
    let change = tokio::time::timeout(Duration::from_secs(1), changes.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(!change.exists);
    assert!(cache.tracked_by("shop").is_empty());

    // Deleted: gone.
    c.apply(&cm("again", Some("shop"), "1"), &apply)
        .await
        .unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(1), changes.recv())
        .await
        .unwrap();
    c.delete(
        &Gvk::from_api_version("v1", "ConfigMap"),
        &ResourceKey::new("", "ConfigMap", "default", "again"),
        Propagation::Background,
    )
    .await
    .unwrap();
    let change = tokio::time::timeout(Duration::from_secs(1), changes.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((change.key.name.as_str(), change.exists), ("again", false));
    assert!(cache.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_410_the_cache_relists_and_forgets_what_was_deleted_meanwhile() {
    let (c, sb) = cluster().await;
    let apply = ApplyOptions::default();
    c.apply(&cm("gone", Some("shop"), "1"), &apply)
        .await
        .unwrap();
    c.apply(&cm("kept", Some("shop"), "1"), &apply)
        .await
        .unwrap();
    let scope = c
        .resolve(&Gvk::from_api_version("v1", "ConfigMap"))
        .await
        .unwrap()
        .unwrap();
    let cache = LiveCache::new(c.client().clone());
    cache.watch(&scope, None);
    assert!(cache.wait_synced(Duration::from_secs(5)).await);
    assert_eq!(cache.len(), 2);
    let mut changes = cache.subscribe();
    // Under one store lock (the watch cannot read in between): a tiny history, a delete and
    // more writes, so the open watch falls off the history and gets 410 Gone.
    sb.with_store(|s| {
        s.history_limit = 1;
        let t = s.registry.find_kind("", "v1", "ConfigMap").unwrap().clone();
        s.delete(&t, "default", "gone", Some("Background")).unwrap();
        for i in 0..5 {
            s.create(
                &t,
                "default",
                cm(&format!("new{i}"), Some("shop"), "1"),
                false,
            )
            .unwrap();
        }
    });
    let mut deleted = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while cache.len() != 6 || !deleted {
        match tokio::time::timeout_at(deadline, changes.recv()).await {
            Ok(Ok(ch)) => deleted |= ch.key.name == "gone" && !ch.exists,
            other => panic!("cache did not relist: {other:?}, {} objects", cache.len()),
        }
    }
    assert!(
        cache
            .get(&ResourceKey::new("", "ConfigMap", "default", "gone"))
            .is_none()
    );
    assert!(
        cache
            .get(&ResourceKey::new("", "ConfigMap", "default", "new4"))
            .is_some()
    );
    assert!(cache.is_synced());
}
