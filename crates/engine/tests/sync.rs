//! End-to-end syncs on the sandbox: every assertion reads the cluster back.

use crate::common;

use common::*;
use driftless_engine::{OperationPhase, Outcome, sync, sync_with_rollback};
use driftless_health::Assessor;
use driftless_plan::Phase;

fn quiet(_: &driftless_engine::SyncEvent) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sync_of_a_multi_wave_app_with_hooks() {
    let env = env().await;
    let yaml = format!(
        "{APP_V1}---\n{}",
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: HookSucceeded}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: migrate:1}]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: smoke
  annotations: {driftless.dev/hook: PostSync}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: s, image: smoke:1}]
"#
    );
    let order = std::sync::Mutex::new(Vec::new());
    let record = |e: &driftless_engine::SyncEvent| {
        if let driftless_engine::SyncEvent::Resource(r) = e {
            order
                .lock()
                .unwrap()
                .push(format!("{:?}/{}", r.phase, r.key.name));
        }
    };
    let r = sync(
        &env.cluster,
        &request("shop", set(&yaml)),
        &Assessor::default(),
        None,
        &record,
    )
    .await
    .unwrap();
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    assert_eq!(
        order.into_inner().unwrap(),
        vec![
            "PreSync/shop",
            "PreSync/migrate",
            "Sync/settings",
            "Sync/web",
            "Sync/web",
            "PostSync/smoke"
        ],
        "namespace, PreSync hook, wave -1, wave 0 (Service before Deployment is kind order), PostSync"
    );
    let d = get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .expect("deployment applied");
    assert_eq!(
        d["metadata"]["annotations"]["driftless.dev/tracking-id"],
        "shop:apps/Deployment:shop/web"
    );
    assert!(
        d["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["manager"] == "driftless")
    );
    assert_eq!(
        d["status"]["availableReplicas"], 2,
        "the sync waited for the rollout"
    );
    assert!(
        get(&env, "v1", "ConfigMap", "shop", "settings")
            .await
            .is_some()
    );
    assert!(
        get(&env, "batch/v1", "Job", "shop", "migrate")
            .await
            .is_none(),
        "HookSucceeded deletes the hook"
    );
    let smoke = get(&env, "batch/v1", "Job", "shop", "smoke")
        .await
        .expect("PostSync hook kept (BeforeHookCreation)");
    assert!(
        smoke["metadata"]["annotations"]
            .get("driftless.dev/tracking-id")
            .is_none(),
        "hooks are never tracked"
    );

    // Syncing again: nothing to change, the PostSync hook is recreated.
    let again = sync(
        &env.cluster,
        &request("shop", set(&yaml)),
        &Assessor::default(),
        None,
        &quiet,
    )
    .await
    .unwrap();
    assert_eq!(again.phase, OperationPhase::Succeeded, "{}", again.message);
    assert!(again.summary.in_sync(), "{:?}", again.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_change_rolls_out_and_a_removed_resource_is_pruned() {
    let env = env().await;
    let a = Assessor::default();
    synced(&env, "shop", APP_V1).await;
    let v2 = APP_V1.replace("nginx:1.27", "nginx:1.28");
    // Without the ConfigMap: pruned (1 of 3 tracked objects is within the guard).
    let v2 = v2.split("---").skip(1).collect::<Vec<_>>().join("---");
    let r = sync(&env.cluster, &request("shop", set(&v2)), &a, None, &quiet)
        .await
        .unwrap();
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    assert_eq!(r.summary.update, 1);
    assert_eq!(r.summary.delete, 1);
    let web = r
        .resources
        .iter()
        .find(|x| x.key.kind == "Deployment")
        .unwrap();
    assert_eq!(
        web.impact.grade,
        driftless_diff::Grade::Medium,
        "{:?}",
        web.impact
    );
    let d = get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    assert!(
        get(&env, "v1", "ConfigMap", "shop", "settings")
            .await
            .is_none(),
        "pruned"
    );
    assert!(
        r.resources
            .iter()
            .any(|x| x.key.name == "settings" && x.outcome == Outcome::Pruned)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_prune_a_removed_resource_stays_and_is_reported() {
    let env = env().await;
    let a = Assessor::default();
    synced(&env, "shop", APP_V1).await;
    let v2 = APP_V1.split("---").skip(1).collect::<Vec<_>>().join("---");
    let mut req = request("shop", set(&v2));
    req.plan.prune = false;
    let r = sync(&env.cluster, &req, &a, None, &quiet).await.unwrap();
    assert_eq!(r.phase, OperationPhase::Succeeded);
    let skipped = r
        .resources
        .iter()
        .find(|x| x.key.name == "settings")
        .unwrap();
    assert_eq!(skipped.outcome, Outcome::Skipped);
    assert!(skipped.message.contains("requires pruning"));
    assert!(
        get(&env, "v1", "ConfigMap", "shop", "settings")
            .await
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_edit_by_another_manager_is_detected_and_reverted_or_reported_as_a_conflict() {
    let env = env().await;
    let a = Assessor::default();
    synced(&env, "shop", APP_V1).await;
    edit_web_replicas(&env, "kubectl-edit", 5).await;

    // Detected: a dry-run compare shows exactly the edited field.
    let mut req = request("shop", set(APP_V1));
    req.dry_run = true;
    let r = sync(&env.cluster, &req, &a, None, &quiet).await.unwrap();
    assert_eq!(r.summary.update, 1, "{:?}", r.summary);
    assert_eq!(
        get(&env, "apps/v1", "Deployment", "shop", "web")
            .await
            .unwrap()["spec"]["replicas"],
        5,
        "dry run changed nothing"
    );

    // Not forced: the conflict stops the sync and names the other manager.
    let mut keep = request("shop", set(APP_V1));
    keep.force_conflicts = false;
    let r = sync(&env.cluster, &keep, &a, None, &quiet).await.unwrap();
    assert_eq!(r.phase, OperationPhase::Failed);
    assert!(
        r.message.contains("conflict") && r.message.contains("kubectl-edit"),
        "{}",
        r.message
    );
    assert_eq!(
        get(&env, "apps/v1", "Deployment", "shop", "web")
            .await
            .unwrap()["spec"]["replicas"],
        5
    );

    // Forced (the default, as Argo CD): reverted to Git.
    let r = sync(
        &env.cluster,
        &request("shop", set(APP_V1)),
        &a,
        None,
        &quiet,
    )
    .await
    .unwrap();
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    assert_eq!(
        get(&env, "apps/v1", "Deployment", "shop", "web")
            .await
            .unwrap()["spec"]["replicas"],
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_tracked_by_another_app_is_never_taken_over() {
    let env = env().await;
    let a = Assessor::default();
    synced(&env, "billing", APP_V1).await;
    let r = sync(
        &env.cluster,
        &request("shop", set(APP_V1)),
        &a,
        None,
        &quiet,
    )
    .await
    .unwrap();
    assert_eq!(r.phase, OperationPhase::Refused);
    assert!(
        r.message.contains("tracked by another application"),
        "{}",
        r.message
    );
    let d = get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap();
    assert_eq!(
        d["metadata"]["annotations"]["driftless.dev/tracking-id"],
        "billing:apps/Deployment:shop/web"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_stops_the_sync_and_runs_sync_fail_hooks() {
    let env = env().await;
    let yaml = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, annotations: {driftless.dev/hook: PreSync}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: "migrate:broken"}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: page-oncall, annotations: {driftless.dev/hook: SyncFail}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: p, image: "pager:1"}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "1"}
"#;
    let r = sync(
        &env.cluster,
        &request("shop", set(yaml)),
        &Assessor::default(),
        None,
        &quiet,
    )
    .await
    .unwrap();
    assert_eq!(r.phase, OperationPhase::Failed);
    assert!(
        r.message.contains("hook Job.batch shop/migrate failed"),
        "{}",
        r.message
    );
    let fail = r
        .resources
        .iter()
        .find(|x| x.key.name == "page-oncall")
        .unwrap();
    assert_eq!(
        (fail.phase, fail.outcome),
        (Phase::SyncFail, Outcome::HookSucceeded)
    );
    assert!(
        get(&env, "batch/v1", "Job", "shop", "page-oncall")
            .await
            .is_some()
    );
    assert!(
        get(&env, "v1", "ConfigMap", "shop", "settings")
            .await
            .is_none(),
        "the Sync phase never ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_render_and_a_mass_prune_are_refused_whole() {
    let env = env().await;
    let a = Assessor::default();
    let four: String = (0..4)
        .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n---\n"))
        .collect();
    sync(&env.cluster, &request("shop", set(&four)), &a, None, &quiet)
        .await
        .unwrap();
    let r = sync(&env.cluster, &request("shop", set("")), &a, None, &quiet)
        .await
        .unwrap();
    assert_eq!(r.phase, OperationPhase::Refused);
    assert!(r.message.contains("render is empty"), "{}", r.message);
    let r = sync(
        &env.cluster,
        &request(
            "shop",
            set("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c0}\n"),
        ),
        &a,
        None,
        &quiet,
    )
    .await
    .unwrap();
    assert_eq!(r.phase, OperationPhase::Refused);
    assert!(r.message.contains("delete 3 of 4"), "{}", r.message);
    for i in 0..4 {
        assert!(
            get(&env, "v1", "ConfigMap", "shop", &format!("c{i}"))
                .await
                .is_some(),
            "c{i} kept"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_that_fails_health_rolls_back_to_the_last_good_set() {
    let env = env().await;
    let a = Assessor::default();
    let good = set(APP_V1);
    sync(
        &env.cluster,
        &request("shop", good.clone()),
        &a,
        None,
        &quiet,
    )
    .await
    .unwrap();
    let mut bad = request("shop", set(&APP_V1.replace("nginx:1.27", "nginx:broken")));
    bad.health_timeout = std::time::Duration::from_secs(10);
    let r = sync_with_rollback(&env.cluster, &bad, Some(&good), &a, None, &quiet)
        .await
        .unwrap();
    assert_eq!(r.phase, OperationPhase::Failed);
    assert!(r.message.contains("Degraded"), "{}", r.message);
    let rb = r.rollback.expect("rolled back");
    assert_eq!(rb.phase, OperationPhase::Succeeded, "{}", rb.message);
    let d = get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
}

/// The controller's operation (`sync_loaded`) with Argo CD's semantics: it ends once its
/// last wave is applied, that wave's health not awaited (a rollout held Progressing by the
/// sandbox); with a PostSync hook the Sync phase is awaited first, so a rollout that does not
/// become healthy fails the operation before the hook is ever created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_ends_when_its_last_wave_is_applied_unless_post_sync_hooks_follow() {
    let env = env().await;
    let a = Assessor::default();
    let held = APP_V1.replace(
        "metadata: {name: web}\nspec:\n  replicas: 2",
        "metadata: {name: web, annotations: {sandbox.driftless.dev/hold-rollout: forever}}\nspec:\n  replicas: 2",
    );
    let operation = |yaml: String| {
        let req = request("shop", set(&yaml));
        let cluster = &env.cluster;
        let a = &a;
        async move {
            let loaded = driftless_engine::load(
                cluster,
                "shop",
                &req.rendered,
                req.destination_namespace.as_deref(),
                &[],
            )
            .await
            .unwrap();
            let mut req = req;
            req.health_timeout = std::time::Duration::from_secs(1);
            driftless_engine::sync::sync_loaded(cluster, &req, &loaded, a, None, &quiet)
                .await
                .unwrap()
        }
    };
    let r = operation(held.clone()).await;
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    let web = r
        .resources
        .iter()
        .find(|x| x.key.kind == "Deployment")
        .unwrap();
    assert_eq!(web.outcome, Outcome::Applied);
    assert!(
        web.health.is_none(),
        "the last wave's health is not awaited"
    );
    // The earlier wave (the ConfigMap, wave -1) was awaited.
    let settings = r
        .resources
        .iter()
        .find(|x| x.key.kind == "ConfigMap")
        .unwrap();
    assert!(settings.health.is_some(), "{:?}", settings);
    let d = get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap();
    assert_eq!(
        a.assess(Some(&d)).unwrap().status,
        driftless_health::HealthStatus::Progressing
    );

    let with_post_sync = format!(
        "{held}---\n{}",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: smoke\n  annotations: {argocd.argoproj.io/hook: PostSync}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: s, image: smoke:1}]\n"
    );
    let r = operation(with_post_sync).await;
    assert_eq!(r.phase, OperationPhase::Failed, "{}", r.message);
    assert!(r.message.contains("Progressing"), "{}", r.message);
    assert!(
        get(&env, "batch/v1", "Job", "shop", "smoke")
            .await
            .is_none(),
        "the PostSync hook waits for a healthy Sync phase"
    );
}
