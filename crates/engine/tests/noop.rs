//! No diff noise: right after a sync of every kind the recorded API server transcripts
//! apply (Namespace, Deployment, Service, ConfigMap, Secret with stringData, Job, CRD and a
//! custom resource with a schema default), a comparison — server-side and client-side —
//! reports every resource Synced.

use crate::common;

use common::*;
use driftless_core::{DesiredSet, object};
use driftless_diff::SyncStatus;
use driftless_engine::{OperationPhase, compare_with_cluster, load, sync};
use driftless_health::Assessor;
use serde_json::Value;

const APPLIED: &[&str] = &[
    "01-create-namespace",
    "02-ssa-apply-deployment",
    "08-ssa-apply-service",
    "09-ssa-apply-configmap",
    "10-ssa-apply-secret-stringdata",
    "11-ssa-apply-job",
    "16-ssa-apply-crd",
    "17-ssa-apply-custom-resource",
];

fn transcript_objects() -> DesiredSet {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sandbox/tests/transcripts");
    let objects = APPLIED.iter().map(|name| {
        let t: Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap())
                .unwrap();
        let mut body: Value = serde_json::from_str(t["request"]["body"].as_str().unwrap()).unwrap();
        // The recording's own tracking id named another app; ours is set by the sync.
        if let Some(a) = body
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            a.remove("driftless.dev/tracking-id");
        }
        (body, name.to_string())
    });
    DesiredSet::from_objects(objects).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comparison_right_after_a_sync_of_every_transcript_kind_is_synced() {
    let env = env().await;
    let desired = transcript_objects();
    let kinds: std::collections::BTreeSet<&str> =
        desired.values().filter_map(object::kind).collect();
    assert_eq!(kinds.len(), 8, "{kinds:?}");
    let req = request("demo", desired.clone());
    let r = sync(&env.cluster, &req, &Assessor::default(), None, &|_| {})
        .await
        .unwrap();
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);

    let loaded = load(&env.cluster, "demo", &desired, Some("shop"), &[])
        .await
        .unwrap();
    for server_side in [true, false] {
        let cmp =
            compare_with_cluster(&env.cluster, &loaded, &req.compare, server_side, None).await;
        let noisy: Vec<String> = cmp
            .resources
            .iter()
            .filter(|r| r.status != SyncStatus::Synced)
            .map(|r| format!("{} {:?}\n{}", r.key, r.status, r.diff))
            .collect();
        assert!(
            noisy.is_empty(),
            "server_side={server_side}:\n{}",
            noisy.join("\n")
        );
        assert_eq!(cmp.summary.unchanged, 8);
        assert!(
            cmp.resources.iter().all(|r| r.warnings.is_empty()),
            "{:?}",
            cmp.resources
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_secret_shows_masked_values_in_the_diff() {
    let env = env().await;
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: s3cr3t, user: admin}\n";
    synced(&env, "demo", secret).await;
    let changed = set(&secret.replace("s3cr3t", "hunter2"));
    let loaded = load(&env.cluster, "demo", &changed, Some("shop"), &[])
        .await
        .unwrap();
    for server_side in [true, false] {
        let cmp = compare_with_cluster(
            &env.cluster,
            &loaded,
            &request("demo", changed.clone()).compare,
            server_side,
            None,
        )
        .await;
        let r = &cmp.resources[0];
        assert_eq!(r.status, SyncStatus::OutOfSync);
        assert_eq!(
            r.changes
                .iter()
                .map(|c| c.path.as_str())
                .collect::<Vec<_>>(),
            vec!["data.password"]
        );
        let all = serde_json::to_string(&cmp).unwrap();
        for secret in ["s3cr3t", "hunter2", "czNjcjN0", "aHVudGVyMg==", "YWRtaW4="] {
            assert!(
                !all.contains(secret),
                "server_side={server_side}: {secret} leaked:\n{}",
                r.diff
            );
        }
        assert!(
            r.diff.contains("-  password: +") && r.diff.contains("+  password: +"),
            "{}",
            r.diff
        );
    }
}
