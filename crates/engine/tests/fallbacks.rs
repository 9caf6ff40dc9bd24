//! The executor's fallbacks, on a real sandbox behind a thin decorator that makes it act
//! like a cluster with admission webhooks that refuse dry-run, or an API server that is
//! briefly unavailable, and that counts the dry-runs a comparison asks for.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use driftless_core::cluster::{ApplyOptions, Cluster, ClusterError, KindScope, Propagation};
use driftless_core::{Gvk, ResourceKey, object};
use driftless_diff::{IgnoreRule, SyncStatus};
use driftless_engine::{DryRunCache, OperationPhase, compare_with_cluster, load, sync};
use driftless_health::Assessor;
use driftless_kube::KubeCluster;
use serde_json::Value;

/// The sandbox, with dry-runs refused and the first `unavailable` applies answered 503.
struct Flaky<'a> {
    inner: &'a KubeCluster,
    refuse_dry_run: bool,
    unavailable: AtomicUsize,
    applies: AtomicUsize,
}

impl Cluster for Flaky<'_> {
    async fn resolve(&self, gvk: &Gvk) -> Result<Option<KindScope>, ClusterError> {
        self.inner.resolve(gvk).await
    }
    async fn get(&self, gvk: &Gvk, key: &ResourceKey) -> Result<Option<Value>, ClusterError> {
        self.inner.get(gvk, key).await
    }
    async fn list_tracked(
        &self,
        scope: &KindScope,
        ns: Option<&str>,
    ) -> Result<Vec<Value>, ClusterError> {
        self.inner.list_tracked(scope, ns).await
    }
    async fn apply(&self, obj: &Value, opts: &ApplyOptions) -> Result<Value, ClusterError> {
        let key = Box::new(object::key(obj).unwrap());
        if opts.dry_run && self.refuse_dry_run {
            return Err(ClusterError::DryRunRefused {
                key,
                message: "admission webhook \"audit.example.com\" does not support dry run".into(),
            });
        }
        self.applies.fetch_add(1, Ordering::SeqCst);
        if !opts.dry_run && self.unavailable.load(Ordering::SeqCst) > 0 {
            self.unavailable.fetch_sub(1, Ordering::SeqCst);
            return Err(ClusterError::Transient {
                what: key.to_string(),
                message: "503 Service Unavailable".into(),
            });
        }
        self.inner.apply(obj, opts).await
    }
    async fn create(&self, obj: &Value) -> Result<Value, ClusterError> {
        self.inner.create(obj).await
    }
    async fn replace(&self, obj: &Value) -> Result<Value, ClusterError> {
        self.inner.replace(obj).await
    }
    async fn delete(
        &self,
        gvk: &Gvk,
        key: &ResourceKey,
        p: Propagation,
    ) -> Result<bool, ClusterError> {
        self.inner.delete(gvk, key, p).await
    }
    async fn wait_until(
        &self,
        gvk: &Gvk,
        key: &ResourceKey,
        timeout: Duration,
        done: &(dyn Fn(Option<&Value>) -> bool + Send + Sync),
    ) -> Result<Option<Value>, ClusterError> {
        self.inner.wait_until(gvk, key, timeout, done).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_dry_run_falls_back_to_the_client_side_comparison_with_a_warning() {
    let env = env().await;
    synced(&env, "shop", APP_V1).await;
    let flaky = Flaky {
        inner: &env.cluster,
        refuse_dry_run: true,
        unavailable: AtomicUsize::new(0),
        applies: AtomicUsize::new(0),
    };
    let v2 = set(&APP_V1.replace("nginx:1.27", "nginx:1.28"));
    let loaded = load(&flaky, "shop", &v2, Some("shop"), &[]).await.unwrap();
    let cmp = compare_with_cluster(
        &flaky,
        &loaded,
        &request("shop", v2.clone()).compare,
        true,
        None,
    )
    .await;
    let web = cmp
        .resources
        .iter()
        .find(|r| r.key.kind == "Deployment")
        .unwrap();
    assert_eq!(web.status, SyncStatus::OutOfSync);
    assert_eq!(
        web.changes[0].path,
        "spec.template.spec.containers[name=web].image"
    );
    assert!(
        web.warnings[0].contains("dry-run refused"),
        "{:?}",
        web.warnings
    );
    let others: Vec<_> = cmp
        .resources
        .iter()
        .filter(|r| r.key.kind != "Deployment")
        .collect();
    assert!(
        others.iter().all(|r| r.status == SyncStatus::Synced),
        "no noise client-side either: {others:?}"
    );
    assert_eq!(cmp.summary.warnings, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_api_errors_are_retried_with_backoff() {
    let env = env().await;
    let flaky = Flaky {
        inner: &env.cluster,
        refuse_dry_run: false,
        unavailable: AtomicUsize::new(2),
        applies: AtomicUsize::new(0),
    };
    let r = sync(
        &flaky,
        &request("shop", set(APP_V1)),
        &Assessor::default(),
        None,
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    assert_eq!(
        flaky.applies.load(Ordering::SeqCst),
        3 + 2,
        "three objects, two retried 503s"
    );
    assert!(
        get(&env, "v1", "ConfigMap", "shop", "settings")
            .await
            .is_some()
    );

    // More failures than the retry limit: the sync fails naming the object, nothing after it runs.
    let env = common::env().await;
    let flaky = Flaky {
        inner: &env.cluster,
        refuse_dry_run: false,
        unavailable: AtomicUsize::new(100),
        applies: AtomicUsize::new(0),
    };
    let r = sync(
        &flaky,
        &request("shop", set(APP_V1)),
        &Assessor::default(),
        None,
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(r.phase, OperationPhase::Failed);
    assert!(
        r.message.contains("ConfigMap shop/settings") && r.message.contains("503"),
        "{}",
        r.message
    );
    assert!(
        get(&env, "apps/v1", "Deployment", "shop", "web")
            .await
            .is_none(),
        "later waves never ran"
    );
}

/// A sync's applies are remembered as dry-run answers: the comparison right after it asks
/// the server again only for objects something changed since (the Deployment, whose status
/// the simulated controller wrote), never for what the sync itself just wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syncs_applies_answer_the_next_comparisons_dry_runs() {
    let env = env().await;
    let flaky = Flaky {
        inner: &env.cluster,
        refuse_dry_run: false,
        unavailable: AtomicUsize::new(0),
        applies: AtomicUsize::new(0),
    };
    let cache = DryRunCache::default();
    let req = request("shop", set(APP_V1));
    let r = sync(&flaky, &req, &Assessor::default(), Some(&cache), &|_| {})
        .await
        .unwrap();
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    let written: std::collections::BTreeMap<_, _> = r
        .resources
        .iter()
        .map(|x| (x.key.clone(), x.resource_version.clone()))
        .collect();
    // The three objects, and their namespace (created, not applied).
    assert_eq!(written.len(), 4, "{written:?}");

    let before = flaky.applies.load(Ordering::SeqCst);
    let loaded = load(&flaky, "shop", &req.rendered, Some("shop"), &[])
        .await
        .unwrap();
    let cmp = compare_with_cluster(&flaky, &loaded, &req.compare, true, Some(&cache)).await;
    let asked = flaky.applies.load(Ordering::SeqCst) - before;
    assert!(
        cmp.resources.iter().all(|x| x.status == SyncStatus::Synced),
        "{:?}",
        cmp.resources
    );
    let moved: Vec<_> = loaded
        .live
        .iter()
        .filter(|(k, v)| {
            written.get(*k).cloned().flatten().as_deref()
                != object::str_at(v, &["metadata", "resourceVersion"])
        })
        .map(|(k, _)| k.to_string())
        .collect();
    assert_eq!(
        asked,
        moved.len(),
        "dry-runs asked; changed since the sync: {moved:?}"
    );
    assert!(
        moved.len() < 3,
        "the ConfigMap and Service are as the sync left them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_differences_hide_a_field_another_controller_owns() {
    let env = env().await;
    synced(&env, "shop", APP_V1).await;
    edit_web_replicas(&env, "autoscaler", 4).await;
    let desired = set(APP_V1);
    let loaded = load(&env.cluster, "shop", &desired, Some("shop"), &[])
        .await
        .unwrap();
    let mut opts = request("shop", desired.clone()).compare;
    for server_side in [true, false] {
        let cmp = compare_with_cluster(&env.cluster, &loaded, &opts, server_side, None).await;
        assert_eq!(cmp.summary.update, 1, "the edit shows without rules");
    }
    for rule in [
        IgnoreRule {
            group: "apps".into(),
            kind: "Deployment".into(),
            managed_fields_managers: vec!["autoscaler".into()],
            ..Default::default()
        },
        IgnoreRule {
            group: "apps".into(),
            kind: "Deployment".into(),
            json_pointers: vec!["/spec/replicas".into()],
            ..Default::default()
        },
        IgnoreRule {
            group: "apps".into(),
            kind: "*".into(),
            jq_path_expressions: vec![".spec.replicas".into()],
            ..Default::default()
        },
    ] {
        opts.ignore = vec![rule.clone()];
        for server_side in [true, false] {
            let cmp = compare_with_cluster(&env.cluster, &loaded, &opts, server_side, None).await;
            assert!(
                cmp.summary.in_sync(),
                "{rule:?} server_side={server_side}: {:?}",
                cmp.resources.iter().map(|r| &r.diff).collect::<Vec<_>>()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_and_prune_propagation_options_are_honoured() {
    let env = env().await;
    let a = Assessor::default();
    let yaml = APP_V1.replace(
        "metadata: {name: settings, annotations: {driftless.dev/sync-wave: \"-1\"}}",
        "metadata: {name: settings, annotations: {driftless.dev/sync-options: \"Replace=true\"}}",
    );
    let r = sync(
        &env.cluster,
        &request("shop", set(&yaml)),
        &a,
        None,
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    let settings = r
        .resources
        .iter()
        .find(|x| x.key.name == "settings")
        .unwrap();
    assert_eq!(settings.outcome, driftless_engine::Outcome::Replaced);
    let cm = get(&env, "v1", "ConfigMap", "shop", "settings")
        .await
        .unwrap();
    assert!(
        cm["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["operation"] != "Apply"),
        "replaced, not applied"
    );
    assert_eq!(
        cm["metadata"]["annotations"]["driftless.dev/tracking-id"],
        "shop:/ConfigMap:shop/settings"
    );

    // Orphan propagation: pruning the Deployment leaves what it owns.
    let web = get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap();
    let owned = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-owned", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": web["metadata"]["uid"], "controller": true}]}});
    env.cluster.create(&owned).await.unwrap();
    let mut req = request(
        "shop",
        set(&yaml
            .split("---")
            .filter(|d| !d.contains("kind: Deployment"))
            .collect::<Vec<_>>()
            .join("---")),
    );
    req.plan.sync_options.prune_propagation = driftless_core::cluster::Propagation::parse("orphan");
    let r = sync(&env.cluster, &req, &a, None, &|_| {}).await.unwrap();
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    assert!(
        get(&env, "apps/v1", "Deployment", "shop", "web")
            .await
            .is_none()
    );
    // Run the cluster's controllers (garbage collection) now, twice: what a pass would have
    // collected is gone after it.
    env.sandbox.with_store(|st| {
        st.reconcile();
        st.reconcile();
    });
    let orphan = get(&env, "v1", "ConfigMap", "shop", "web-owned")
        .await
        .expect("orphaned, not collected");
    assert!(
        orphan["metadata"]
            .get("ownerReferences")
            .is_none_or(|o| o.as_array().unwrap().is_empty())
    );
}
