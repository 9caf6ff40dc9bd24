//! Planner tests: order of phases, waves and kinds; prunes; and every guard refusing whole.

use std::collections::{BTreeMap, HashMap};

use driftless_core::tracking;
use driftless_core::{DesiredSet, ResourceKey, object};
use driftless_diff::{CompareOptions, compare};
use driftless_plan::{Action, Phase, PlanError, PlanOptions, plan, split_hooks};
use serde_json::{Value, json};

fn obj(api: &str, kind: &str, name: &str, ann: Value) -> Value {
    json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "app", "annotations": ann}})
}

fn tracked(app: &str, mut o: Value) -> Value {
    let key = object::key(&o).unwrap();
    tracking::mark(&mut o, app, &key, false);
    o
}

fn run(
    desired: Vec<Value>,
    live: Vec<Value>,
    opts: &PlanOptions,
) -> Result<driftless_plan::SyncPlan, PlanError> {
    let set =
        DesiredSet::from_objects(desired.into_iter().map(|o| (o, "test".to_string()))).unwrap();
    let (resources, hooks) = split_hooks(&set).unwrap();
    let live: BTreeMap<ResourceKey, Value> = live
        .into_iter()
        .map(|o| (object::key(&o).unwrap(), o))
        .collect();
    let cmp = compare(
        &resources,
        &live,
        &HashMap::new(),
        &CompareOptions {
            app: opts.app.clone(),
            ..Default::default()
        },
    );
    plan(&resources, &hooks, &cmp, &live, opts)
}

fn opts() -> PlanOptions {
    PlanOptions {
        app: "shop".into(),
        prune: true,
        ..Default::default()
    }
}

#[test]
fn phases_waves_and_kinds_come_in_order() {
    let p = run(
        vec![
            obj("apps/v1", "Deployment", "web", json!({})),
            obj("v1", "ConfigMap", "cfg", json!({})),
            obj("v1", "ServiceAccount", "sa", json!({})),
            obj(
                "batch/v1",
                "Job",
                "migrate",
                json!({"argocd.argoproj.io/hook": "PreSync"}),
            ),
            obj(
                "batch/v1",
                "Job",
                "smoke",
                json!({"driftless.dev/hook": "PostSync"}),
            ),
            obj(
                "batch/v1",
                "Job",
                "cleanup",
                json!({"driftless.dev/hook": "SyncFail"}),
            ),
            obj(
                "v1",
                "Service",
                "late",
                json!({"driftless.dev/sync-wave": "5"}),
            ),
            obj(
                "v1",
                "Secret",
                "early",
                json!({"argocd.argoproj.io/sync-wave": "-1"}),
            ),
        ],
        vec![],
        &opts(),
    )
    .unwrap();
    let order: Vec<(Phase, i32, String)> = p
        .tasks()
        .map(|t| (t.phase, t.wave, t.key.name.clone()))
        .collect();
    assert_eq!(
        order,
        vec![
            (Phase::PreSync, 0, "migrate".into()),
            (Phase::Sync, -1, "early".into()),
            (Phase::Sync, 0, "sa".into()),
            (Phase::Sync, 0, "cfg".into()),
            (Phase::Sync, 0, "web".into()),
            (Phase::Sync, 5, "late".into()),
            (Phase::PostSync, 0, "smoke".into()),
        ]
    );
    assert_eq!(p.sync_fail.len(), 1);
    assert_eq!(p.sync_fail[0].key.name, "cleanup");
    assert_eq!(p.steps.len(), 5, "steps group by phase and wave");
}

#[test]
fn prunes_follow_applies_in_reverse_wave_and_kind_order_with_prune_last_at_the_end() {
    let keep: Vec<Value> = (0..6)
        .map(|i| obj("v1", "ConfigMap", &format!("keep{i}"), json!({})))
        .collect();
    let mut live: Vec<Value> = keep.iter().cloned().map(|o| tracked("shop", o)).collect();
    live.push(tracked(
        "shop",
        obj(
            "v1",
            "ConfigMap",
            "old-cfg",
            json!({"driftless.dev/sync-wave": "1"}),
        ),
    ));
    live.push(tracked(
        "shop",
        obj(
            "apps/v1",
            "Deployment",
            "old-web",
            json!({"driftless.dev/sync-wave": "1"}),
        ),
    ));
    live.push(tracked(
        "shop",
        obj(
            "v1",
            "Secret",
            "old-last",
            json!({"driftless.dev/sync-options": "PruneLast=true"}),
        ),
    ));
    live.push(tracked(
        "shop",
        obj(
            "v1",
            "ConfigMap",
            "kept",
            json!({"driftless.dev/sync-options": "Prune=false"}),
        ),
    ));
    live.push(obj("v1", "ConfigMap", "not-ours", json!({})));
    let p = run(keep, live, &opts()).unwrap();
    let prunes: Vec<String> = p
        .tasks()
        .filter(|t| matches!(t.action, Action::Prune { .. }))
        .map(|t| t.key.name.clone())
        .collect();
    assert_eq!(prunes, vec!["old-web", "old-cfg", "old-last"]);
    assert!(
        p.skipped
            .iter()
            .any(|s| s.key.name == "kept" && s.reason.contains("Prune=false"))
    );
    assert!(!p.tasks().any(|t| t.key.name == "not-ours"));
}

#[test]
fn an_empty_render_never_prunes_unless_allowed() {
    let live = vec![tracked("shop", obj("v1", "ConfigMap", "a", json!({})))];
    let err = run(vec![], live.clone(), &opts()).unwrap_err();
    assert!(
        matches!(err, PlanError::EmptyRender { tracked: 1, .. }),
        "{err}"
    );
    let allowed = PlanOptions {
        allow_empty: true,
        force: true,
        ..opts()
    };
    assert_eq!(run(vec![], live, &allowed).unwrap().tasks().count(), 1);
}

#[test]
fn the_prune_guard_refuses_deleting_more_than_half() {
    let live: Vec<Value> = (0..4)
        .map(|i| tracked("shop", obj("v1", "ConfigMap", &format!("c{i}"), json!({}))))
        .collect();
    let desired = vec![obj("v1", "ConfigMap", "c0", json!({}))];
    let err = run(desired.clone(), live.clone(), &opts()).unwrap_err();
    assert!(err.to_string().contains("delete 3 of 4"), "{err}");
    let desired2 = vec![
        obj("v1", "ConfigMap", "c0", json!({})),
        obj("v1", "ConfigMap", "c1", json!({})),
    ];
    assert!(
        run(desired2, live.clone(), &opts()).is_ok(),
        "2 of 4 is not more than half"
    );
    assert!(
        run(
            desired,
            live,
            &PlanOptions {
                force: true,
                ..opts()
            }
        )
        .is_ok()
    );
}

#[test]
fn critical_deletions_need_confirmation() {
    let mut live: Vec<Value> = (0..4)
        .map(|i| tracked("shop", obj("v1", "ConfigMap", &format!("c{i}"), json!({}))))
        .collect();
    live.push(tracked(
        "shop",
        obj("v1", "PersistentVolumeClaim", "data", json!({})),
    ));
    let desired: Vec<Value> = (0..4)
        .map(|i| obj("v1", "ConfigMap", &format!("c{i}"), json!({})))
        .collect();
    let err = run(desired.clone(), live.clone(), &opts()).unwrap_err();
    assert!(
        err.to_string().contains("PersistentVolumeClaim app/data"),
        "{err}"
    );
    assert!(
        run(
            desired,
            live,
            &PlanOptions {
                confirm_critical: true,
                ..opts()
            }
        )
        .is_ok()
    );
}

#[test]
fn a_resource_tracked_by_another_app_stops_the_sync() {
    let live = vec![tracked(
        "billing",
        obj("v1", "ConfigMap", "shared", json!({})),
    )];
    let err = run(
        vec![obj("v1", "ConfigMap", "shared", json!({}))],
        live,
        &opts(),
    )
    .unwrap_err();
    assert!(matches!(err, PlanError::Conflicts { .. }));
    assert!(err.to_string().contains("ConfigMap app/shared"), "{err}");
}

#[test]
fn create_namespace_comes_first_and_apply_out_of_sync_only_skips_synced() {
    let mut o = opts();
    o.destination_namespace = Some("app".into());
    o.sync_options =
        driftless_plan::SyncOptions::parse(["CreateNamespace=true", "ApplyOutOfSyncOnly=true"])
            .unwrap();
    let same = obj("v1", "ConfigMap", "same", json!({}));
    let live = vec![tracked("shop", same.clone())];
    let p = run(
        vec![same, obj("v1", "ConfigMap", "new", json!({}))],
        live,
        &o,
    )
    .unwrap();
    let names: Vec<(&Action, &str)> = p
        .tasks()
        .map(|t| (&t.action, t.key.name.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![(&Action::CreateNamespace, "app"), (&Action::Apply, "new")]
    );
}
