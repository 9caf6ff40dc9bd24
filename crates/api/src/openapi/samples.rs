//! Test values with every field filled, so a schema that misses a field the server writes
//! is caught.

use serde_json::json;

use driftless_core::ResourceKey;
use driftless_diff::{Change, ChangeOp, Comparison, Grade, Impact, ResourceDiff, Summary};
use driftless_engine::status::{
    AppStatus, HealPause, OperationMemory, PinStatus, PolicyStatus, ResourceStatus, Revision,
    RunningOperation, SyncCode, SyncState,
};
use driftless_health::{Health, HealthSource, HealthStatus, LuaOrigin};
use driftless_store::{Operation, OperationPhase};

use crate::types::*;

pub(super) fn status() -> AppStatus {
    AppStatus {
        sync: SyncState {
            status: SyncCode::OutOfSync,
            revision: Some("abc".into()),
            head: Some("abd".into()),
            summary: Some(Summary {
                update: 1,
                unchanged: 2,
                max_impact: Grade::Medium,
                ..Summary::default()
            }),
        },
        health: Some(
            Health::new(HealthStatus::Progressing, "1 of 2 replicas").from_check(
                HealthSource::Lua {
                    selector: "apps/Deployment".into(),
                    origin: LuaOrigin::ArgoConfigMap {
                        key: "resource.customizations".into(),
                    },
                },
            ),
        ),
        resources: vec![ResourceStatus {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "web".into(),
            status: driftless_diff::SyncStatus::OutOfSync,
            impact: Impact {
                grade: Grade::Medium,
                reason: "image".into(),
            },
            health: Some(Health::new(HealthStatus::Healthy, "").from_check(
                HealthSource::BuiltinKind {
                    kind: "apps/Deployment".into(),
                },
            )),
        }],
        operation: OperationMemory {
            attempt: Some(Revision::new("local:0123", "feed")),
            good: Some(Revision::new("abc", "beef")),
            running: Some(RunningOperation {
                id: 7,
                revision: "abd".into(),
                trigger: "self-heal".into(),
                started_at_ms: 3,
            }),
        },
        reconciled_at_ms: Some(5),
        last_sync_at_ms: Some(4),
        pinned: Some(PinStatus {
            revision: "abc".into(),
            by: "alice".into(),
        }),
        heal_paused: Some(HealPause {
            reason: "incident".into(),
            remaining_seconds: 60,
        }),
        error: Some("render failed".into()),
        policy: Some(PolicyStatus {
            revision: "abd".into(),
            findings: vec![json!({"rule": "no-latest"})],
        }),
    }
}

pub(super) fn view() -> AppView {
    AppView {
        name: "web".into(),
        spec: json!({"name": "web", "source": {"repoURL": "file:///repo", "path": "web"}}),
        status: status(),
        created_ms: 1,
        updated_ms: 2,
    }
}

pub(super) fn comparison() -> Comparison {
    Comparison {
        resources: vec![ResourceDiff {
            key: ResourceKey::new("apps", "Deployment", "shop", "web"),
            status: driftless_diff::SyncStatus::OutOfSync,
            impact: Impact {
                grade: Grade::Medium,
                reason: "image".into(),
            },
            changes: vec![Change {
                path: "spec.template.spec.containers[web].image".into(),
                op: ChangeOp::Changed,
            }],
            diff: "-image: web:1\n+image: web:2\n".into(),
            message: String::new(),
            warnings: vec!["w".into()],
        }],
        summary: Summary {
            update: 1,
            max_impact: Grade::Medium,
            ..Summary::default()
        },
    }
}

pub(super) fn operation() -> Operation {
    Operation {
        id: 7,
        app: "web".into(),
        kind: "sync".into(),
        revision: "abc".into(),
        phase: OperationPhase::Succeeded,
        request: json!({"prune": false}),
        progress: json!([{"wave": 0}]),
        result: Some(json!({"ok": true})),
        started_ms: 1,
        updated_ms: 2,
        finished_ms: Some(3),
    }
}
