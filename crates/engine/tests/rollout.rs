//! Sync semantics on a slow rollout (issue 20's "done when"): the sandbox holds a
//! Deployment's rollout Progressing; the operation still ends as soon as the last wave is
//! applied, the status follows the watches all along (Synced, health Progressing, then
//! Healthy once the rollout is released), and a live edit made during the rollout is
//! detected and healed. Every wait is on the controller's live updates, bounded.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use driftless_core::app;
use driftless_diff::SyncStatus;
use driftless_engine::controller::{Controller, ControllerConfig};
use driftless_engine::status::ResourceStatus;
use driftless_engine::{AppStatus, EventKind, Update};
use driftless_health::HealthStatus;
use driftless_store::OperationPhase;
use tokio::sync::broadcast::Receiver;

/// The app of the other tests, its Deployment's rollout held until released.
fn held_app() -> String {
    APP_V1.replace(
        "metadata: {name: web}\nspec:\n  replicas: 2",
        "metadata: {name: web, annotations: {sandbox.driftless.dev/hold-rollout: forever}}\nspec:\n  replicas: 2",
    )
}

fn shop(repo: &std::path::Path) -> app::Application {
    let yaml = format!(
        "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: shop}}\nspec:\n  source: {{repoURL: {}, path: shop}}\n  destination: {{namespace: shop}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n",
        repo.display()
    );
    app::parse(&yaml, "shop.yaml").unwrap().remove(0).app
}

/// The next live update `pick` accepts (status or event), within 30 s.
async fn next<T>(
    rx: &mut Receiver<Update>,
    what: &str,
    mut pick: impl FnMut(&Update) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(u) => {
                    if let Some(t) = pick(&u) {
                        return t;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("updates closed while waiting for {what}: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The message of an event of `kind` of the app.
fn event(u: &Update, kind: EventKind) -> Option<String> {
    match u {
        Update::Event { message, .. } if u.is_event("shop", kind) => Some(message.clone()),
        _ => None,
    }
}

fn status(u: &Update) -> Option<AppStatus> {
    match u {
        Update::Status {
            application,
            status,
        } if application == "shop" => Some((**status).clone()),
        _ => None,
    }
}

/// A resource's entry in a status.
fn resource<'a>(s: &'a AppStatus, kind: &str) -> &'a ResourceStatus {
    s.resources
        .iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} in {s:?}"))
}

fn health(h: &Option<driftless_health::Health>) -> Option<HealthStatus> {
    h.as_ref().map(|h| h.status)
}

async fn start(
    env: &Env,
) -> (
    Arc<Controller>,
    tokio::sync::watch::Sender<bool>,
    tempfile::TempDir,
) {
    let cfg = ControllerConfig {
        resync: Duration::from_secs(3600),
        self_heal_grace: Duration::from_millis(300),
        workers: 2,
        health_timeout: Duration::from_secs(300),
        ..Default::default()
    };
    running_controller(env, cfg).await
}

async fn edit_settings(env: &Env, mode: &str) {
    use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams};
    let ar = kube::discovery::ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap"));
    let api: Api<DynamicObject> = Api::namespaced_with(env.cluster.client().clone(), "shop", &ar);
    let params = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    api.patch(
        "settings",
        &params,
        &Patch::Merge(serde_json::json!({"data": {"mode": mode}})),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_rollout_ends_the_operation_and_health_follows_the_watches() {
    let env = env().await;
    let (ctl, _stop, dir) = start(&env).await;
    let repo = dir.path().join("config");
    std::fs::create_dir_all(repo.join("shop")).unwrap();
    std::fs::write(repo.join("shop/all.yaml"), held_app()).unwrap();
    let mut rx = ctl.subscribe_updates();
    ctl.set_app(shop(&repo), "alice").await.unwrap();

    // The operation ends once the last wave is applied, the rollout still held.
    next(&mut rx, "SyncSucceeded", |u| {
        assert!(
            event(u, EventKind::DriftDetected).is_none(),
            "no drift yet: {u:?}"
        );
        event(u, EventKind::SyncSucceeded).map(|_| ())
    })
    .await;
    let succeeded_at = tokio::time::Instant::now();
    let ops = ctl.store.list_operations("shop", 10).await.unwrap();
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert_eq!(ops[0].phase, OperationPhase::Succeeded);
    let d = get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap();
    let h = driftless_health::Assessor::default()
        .assess(Some(&d))
        .unwrap();
    assert_eq!(
        h.status,
        driftless_health::HealthStatus::Progressing,
        "the rollout is held: {d}"
    );

    // The status reads Synced, the operation over, at once; health is reported apart.
    let s = next(&mut rx, "Synced", |u| {
        // The operation's own comparison must not read its writes as drift.
        assert!(
            event(u, EventKind::DriftDetected).is_none(),
            "no drift yet: {u:?}"
        );
        status(u).filter(|s| s.is_synced() && s.operation.running.is_none())
    })
    .await;
    let lag = succeeded_at.elapsed();
    assert!(
        lag < Duration::from_secs(1),
        "status Synced {lag:?} after SyncSucceeded"
    );
    assert_eq!(s.health_status(), Some(HealthStatus::Progressing), "{s:?}");
    let web = resource(&s, "Deployment");
    assert_eq!(web.status, SyncStatus::Synced, "{s:?}");
    assert_eq!(
        health(&web.health),
        Some(HealthStatus::Progressing),
        "{s:?}"
    );
    let source = web.health.as_ref().and_then(|h| h.source.as_ref());
    assert_eq!(
        serde_json::to_value(source).unwrap()["check"],
        "builtinKind",
        "{s:?}"
    );

    // A live edit during the rollout: detected, healed after the grace, while the
    // Deployment stays Synced and Progressing in every status saved meanwhile.
    edit_settings(&env, "slow").await;
    let drift = next(&mut rx, "DriftDetected", |u| {
        if let Some(s) = status(u) {
            assert_eq!(
                resource(&s, "Deployment").status,
                SyncStatus::Synced,
                "{s:?}"
            );
        }
        event(u, EventKind::DriftDetected)
    })
    .await;
    assert!(drift.contains("1 resource(s)"), "{drift}");
    next(&mut rx, "the self-heal", |u| {
        if let Some(s) = status(u) {
            assert_eq!(
                resource(&s, "Deployment").status,
                SyncStatus::Synced,
                "{s:?}"
            );
        }
        event(u, EventKind::SyncSucceeded).map(|_| ())
    })
    .await;
    let cm = get(&env, "v1", "ConfigMap", "shop", "settings")
        .await
        .unwrap();
    assert_eq!(cm["data"]["mode"], "fast");
    let ops = ctl.store.list_operations("shop", 10).await.unwrap();
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert_eq!(ops[0].request["reason"], "self-heal of drift");
    let s = next(&mut rx, "Synced after the heal", |u| {
        status(u).filter(AppStatus::is_synced)
    })
    .await;
    assert_eq!(
        s.health_status(),
        Some(HealthStatus::Progressing),
        "still rolling out: {s:?}"
    );

    // Released: health turns Healthy with no further operation.
    let released = env
        .sandbox
        .with_store(|st| st.release_rollouts(Some("shop"), Some("web")));
    assert!(released > 0);
    let s = next(&mut rx, "Healthy", |u| {
        status(u).filter(|s| s.health_status() == Some(HealthStatus::Healthy))
    })
    .await;
    assert!(s.is_synced(), "{s:?}");
    assert_eq!(
        ctl.store.list_operations("shop", 10).await.unwrap().len(),
        2
    );
}
