//! A fresh sandbox cluster per test, reached through kube-rs exactly as a real cluster is.

#![allow(dead_code)]

use std::time::Duration;

use driftless_core::yaml::{Limits, parse_stream};
use driftless_core::{DesiredSet, Gvk, ResourceKey};
use driftless_diff::CompareOptions;
use driftless_engine::{RetryPolicy, SyncRequest};
use driftless_plan::PlanOptions;
use serde_json::Value;

/// The sandbox and a client for it.
pub type Env = driftless_testkit::cluster::SandboxCluster;

pub async fn env() -> Env {
    driftless_testkit::cluster::sandbox_cluster().await
}

/// A desired set from a YAML stream.
pub fn set(yaml: &str) -> DesiredSet {
    let docs = parse_stream(yaml, &Limits::default()).unwrap();
    DesiredSet::from_objects(
        docs.into_iter()
            .map(|d| (d.value, format!("test.yaml#{}", d.index))),
    )
    .unwrap()
}

pub fn request(app: &str, rendered: DesiredSet) -> SyncRequest {
    SyncRequest {
        rendered,
        destination_namespace: Some("shop".into()),
        plan: PlanOptions {
            app: app.into(),
            prune: true,
            sync_options: driftless_plan::SyncOptions::parse(["CreateNamespace=true"]).unwrap(),
            destination_namespace: Some("shop".into()),
            ..Default::default()
        },
        compare: CompareOptions {
            app: app.into(),
            ..Default::default()
        },
        dry_run: false,
        force_conflicts: true,
        server_side_diff: true,
        health_timeout: Duration::from_secs(20),
        retry: RetryPolicy {
            limit: 3,
            backoff: Duration::from_millis(100),
            factor: 2,
            max_backoff: Duration::from_secs(1),
        },
        extra_kinds: Vec::new(),
    }
}

/// Reads an object back from the cluster.
pub async fn get(env: &Env, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
    use driftless_core::cluster::Cluster;
    let gvk = Gvk::from_api_version(api_version, kind);
    env.cluster
        .get(&gvk, &ResourceKey::new(&gvk.group, kind, ns, name))
        .await
        .unwrap()
}

pub const APP_V1: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, annotations: {driftless.dev/sync-wave: "-1"}}
data: {mode: fast}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
"#;

/// A merge patch of the Deployment `shop/web`'s replicas by another field manager (what
/// `kubectl edit` or an autoscaler does).
pub async fn edit_web_replicas(env: &Env, manager: &str, replicas: i64) {
    use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams};
    let ar =
        kube::discovery::ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"));
    let api: Api<DynamicObject> = Api::namespaced_with(env.cluster.client().clone(), "shop", &ar);
    let params = PatchParams {
        field_manager: Some(manager.into()),
        ..Default::default()
    };
    api.patch(
        "web",
        &params,
        &Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}})),
    )
    .await
    .unwrap();
}

/// Syncs `yaml` as application `app` (the starting point of many tests); panics on an error.
pub async fn synced(env: &Env, app: &str, yaml: &str) {
    driftless_engine::sync(
        &env.cluster,
        &request(app, set(yaml)),
        &driftless_health::Assessor::default(),
        None,
        &|_| {},
    )
    .await
    .unwrap();
}

/// A controller on `env` with a fresh SQLite store and data directory, Git sources polled
/// hourly (only refreshes and webhooks fetch), loopback and file URLs allowed; it runs until
/// the returned sender is dropped.
pub async fn running_controller(
    env: &Env,
    cfg: driftless_engine::controller::ControllerConfig,
) -> (
    std::sync::Arc<driftless_engine::controller::Controller>,
    tokio::sync::watch::Sender<bool>,
    tempfile::TempDir,
) {
    use driftless_engine::controller::{Controller, Sources};
    let dir = tempfile::tempdir().unwrap();
    let store = driftless_store::Store::sqlite(&dir.path().join("d.db"))
        .await
        .unwrap();
    let policy = driftless_git::UrlPolicy {
        allow_local: true,
        allow_insecure: false,
    };
    let sources = std::sync::Arc::new(Sources::new(dir.path(), policy, Duration::from_secs(3600)));
    let cluster = std::sync::Arc::new(driftless_kube::KubeCluster::new(
        env.cluster.client().clone(),
        "sandbox",
    ));
    let ctl = Controller::new(
        store,
        cluster,
        sources,
        driftless_health::Assessor::default(),
        cfg,
    )
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(ctl.clone().run(stopped));
    (ctl, stop, dir)
}

/// Waits for `app`'s stored status to satisfy `check`, woken by the controller's status
/// updates (no polling); fails the test after 40 s naming `what` and the last status.
pub async fn wait_status(
    ctl: &driftless_engine::controller::Controller,
    app: &str,
    what: &str,
    check: impl Fn(&driftless_engine::AppStatus) -> bool,
) -> driftless_engine::AppStatus {
    // Subscribed before the first look, so an update between the two is not missed.
    let mut updates = ctl.subscribe_updates();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let status = ctl.stored_status(app).await.unwrap();
        if check(&status) {
            return status;
        }
        // Any update may be the one (a lagged receiver looks again too).
        match tokio::time::timeout_at(deadline, updates.recv()).await {
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("the controller stopped while waiting for {what}: {e}"),
            Err(_) => panic!("timed out waiting for {app} to be {what}: {status:?}"),
        }
    }
}

/// Reconciles of one application, counted from the moment this is created.
pub struct ReconcileWatch {
    app: String,
    updates: tokio::sync::broadcast::Receiver<driftless_engine::Update>,
}

/// Starts counting `app`'s reconciles now (before whatever the test does next).
pub fn reconciles(ctl: &driftless_engine::controller::Controller, app: &str) -> ReconcileWatch {
    ReconcileWatch {
        app: app.to_string(),
        updates: ctl.subscribe_updates(),
    }
}

impl ReconcileWatch {
    /// Waits until `n` reconciles have ended since [`reconciles`] (the controller announces
    /// each one): the bound of a test proving that nothing happens, instead of a sleep.
    /// Fails after 40 s.
    pub async fn wait(mut self, n: usize) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(40);
        let mut seen = 0;
        while seen < n {
            match tokio::time::timeout_at(deadline, self.updates.recv()).await {
                Ok(Ok(driftless_engine::Update::Reconciled { application, .. }))
                    if application == self.app =>
                {
                    seen += 1
                }
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(e)) => panic!(
                    "the controller stopped after {seen} reconciles of {}: {e}",
                    self.app
                ),
                Err(_) => panic!(
                    "only {seen} of {n} reconciles of {} ended within 40 s",
                    self.app
                ),
            }
        }
    }
}

/// Waits until the promotion driver has made `n` passes from now (and `app`, when given, has
/// been reconciled `n` times): nothing a pass would have moved is still to come.
pub async fn after_promotion_passes(
    ctl: &driftless_engine::controller::Controller,
    app: Option<&str>,
    n: usize,
) {
    let mut updates = ctl.subscribe_updates();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(40);
    let (mut passes, mut reconciled) = (0, if app.is_some() { 0 } else { n });
    while passes < n || reconciled < n {
        match tokio::time::timeout_at(deadline, updates.recv()).await {
            Ok(Ok(driftless_engine::Update::PromotionPass)) => passes += 1,
            Ok(Ok(driftless_engine::Update::Reconciled { application, .. }))
                if app == Some(application.as_str()) =>
            {
                reconciled += 1
            }
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("the controller stopped: {e}"),
            Err(_) => {
                panic!("{passes} promotion passes, {reconciled} reconciles in 40 s (want {n})")
            }
        }
    }
}

/// Waits for `n` reconciles of `app` from now (see [`ReconcileWatch::wait`]).
pub async fn after_reconciles(ctl: &driftless_engine::controller::Controller, app: &str, n: usize) {
    reconciles(ctl, app).wait(n).await;
}
