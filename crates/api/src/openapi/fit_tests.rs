//! Real answers and requests, serialized by serde, fit the generated schemas.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use driftless_engine::dora::Dora;
use driftless_engine::status::{AppStatus, SyncCode};
use driftless_health::{HealthSource, LuaOrigin};
use driftless_store::{AuditEntry, Event, HistoryEntry, OperationPhase};

use super::fit::{check, components, fits};
use super::samples::{comparison, operation, status, view};
use crate::types::*;

/// The main answers, each with every field filled, have exactly the fields their schema
/// lists, all the way down (a serde rename or a custom `Serialize` the schema missed fails
/// here); the status alone, empty, too.
#[test]
fn answers_fit_their_schemas() {
    check("AppView", &view());
    check("AppStatus", &status());
    // Not reconciled yet: the optional fields are left out, and what is written fits.
    let empty = serde_json::to_value(AppStatus::default()).unwrap();
    fits(&empty, &components()["AppStatus"], "AppStatus").unwrap();
    let summary = crate::apps::summary_of(&view());
    check("AppSummary", &summary);
    check(
        "AppViewPage",
        &Page {
            items: vec![view()],
            next: Some("web".into()),
        },
    );
    check(
        "AppSummaryPage",
        &Page {
            items: vec![summary],
            next: None,
        },
    );
    check(
        "DryRun",
        &DryRun {
            application: "web".into(),
            dry_run: true,
            summary: comparison().summary,
            comparison: comparison(),
        },
    );
    check(
        "DiffView",
        &DiffView {
            application: "web".into(),
            comparison: comparison(),
        },
    );
    check(
        "Queued",
        &Queued {
            prune: Some(true),
            revision: Some("abc".into()),
            revert_commit: Some("def".into()),
            branch: Some("main".into()),
            ..Queued::new("web")
        },
    );
    check(
        "AppDeleted",
        &AppDeleted {
            application: "web".into(),
            deleted: true,
            cascade: true,
            objects_deleted: Some(3),
        },
    );
    check("Operation", &operation());
    check(
        "OperationItems",
        &Items {
            items: vec![operation()],
        },
    );
    check(
        "HistoryEntryItems",
        &Items {
            items: vec![HistoryEntry {
                id: 1,
                app: "web".into(),
                revision: "abc".into(),
                digest: "beef".into(),
                operation_id: 7,
                deployed_ms: 3,
                desired: json!([]),
                live_snapshot: json!([]),
            }],
        },
    );
    check(
        "EventItems",
        &Items {
            items: vec![Event {
                id: 1,
                app: "web".into(),
                at_ms: 1,
                kind: "drift".into(),
                severity: "warning".into(),
                message: "m".into(),
                data: json!({}),
            }],
        },
    );
    check(
        "AuditEntryItems",
        &Items {
            items: vec![AuditEntry {
                seq: 1,
                at_ms: 1,
                actor: "alice".into(),
                action: "sync".into(),
                target: "application/web".into(),
                details: json!({}),
                prev_hash: "0".into(),
                hash: "1".into(),
            }],
        },
    );
    let set = ImageSet {
        application: "web".into(),
        image: "web:2".into(),
        file: "kustomization.yaml".into(),
        previous: Some("web:1".into()),
        commit: "abc".into(),
        branch: "main".into(),
    };
    check(
        "StageImageSet",
        &StageImageSet {
            stage: "shop/dev".into(),
            items: vec![set.clone()],
        },
    );
    check("ImageSet", &set);
    check(
        "DoraAnswer",
        &DoraAnswer {
            application: Some("web".into()),
            pipeline: Some("shop".into()),
            stage: Some("prod".into()),
            dora: Dora {
                window_days: 30.0,
                deployments: 3,
                failed_deployments: 1,
                deployment_frequency_per_day: 0.1,
                lead_time_seconds: Some(60.0),
                change_failure_rate: Some(0.33),
                mean_time_to_restore_seconds: Some(120.0),
                unrestored_failures: 0,
            },
        },
    );
}

/// Request bodies are described as read: fields with a default are optional, and what a
/// client writes with every field set fits.
#[test]
fn requests_fit_their_schemas() {
    check(
        "RollbackRequest",
        &RollbackRequest {
            id: Some(3),
            to_time: Some("2026-11-23T09:30:00Z".into()),
            revert: true,
            reason: Some("incident".into()),
        },
    );
    check(
        "SyncOptions",
        &SyncOptions {
            prune: true,
            dry_run: true,
        },
    );
    check(
        "SetImageRequest",
        &SetImageRequest {
            application: Some("web".into()),
            stage: Some("shop/dev".into()),
            image: "web:2".into(),
        },
    );
    check(
        "PauseHealRequest",
        &PauseHealRequest {
            duration: "30m".into(),
            reason: "incident".into(),
        },
    );
    let required = |name: &str| -> Vec<Value> {
        components()[name]["required"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(required("SyncOptions"), Vec::<Value>::new());
    assert_eq!(required("RollbackRequest"), Vec::<Value>::new());
    assert_eq!(required("SetImageRequest"), vec![json!("image")]);
    // An empty body, as the CLI sends it, fits.
    fits(
        &json!({}),
        &components()["RollbackRequest"],
        "RollbackRequest",
    )
    .unwrap();
}

/// Enums are the strings serde writes (Argo CD's casing for sync and health, lowercase
/// grades), and internally tagged enums keep their tag.
#[test]
fn enums_list_what_serde_writes() {
    let values = |name: &str| -> BTreeSet<String> {
        let s = &components()[name];
        let mut out = BTreeSet::new();
        for v in s["enum"].as_array().into_iter().flatten() {
            out.insert(v.as_str().unwrap().to_string());
        }
        for alt in s["oneOf"].as_array().into_iter().flatten() {
            for v in alt["enum"].as_array().into_iter().flatten() {
                out.insert(v.as_str().unwrap().to_string());
            }
        }
        out
    };
    let written = |v: Vec<Value>| -> BTreeSet<String> {
        v.into_iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        values("SyncCode"),
        written(vec![
            json!(SyncCode::Synced),
            json!(SyncCode::OutOfSync),
            json!(SyncCode::Unknown)
        ])
    );
    assert_eq!(
        values("Grade"),
        ["none", "low", "medium", "high", "critical"]
            .map(String::from)
            .into()
    );
    let mut phases = BTreeMap::new();
    for p in [
        OperationPhase::Running,
        OperationPhase::Succeeded,
        OperationPhase::Failed,
        OperationPhase::Interrupted,
    ] {
        phases.insert(json!(p).as_str().unwrap().to_string(), ());
    }
    assert_eq!(
        values("OperationPhase"),
        phases.into_keys().collect::<BTreeSet<_>>()
    );
    // Each way a health was found fits, its `check` tag included.
    for source in [
        HealthSource::Lifecycle,
        HealthSource::Conditions,
        HealthSource::BuiltinFamily {
            family: "flux".into(),
            kind: "Kustomization".into(),
        },
        HealthSource::Lua {
            selector: "*".into(),
            origin: LuaOrigin::Native,
        },
        HealthSource::Lua {
            selector: "*".into(),
            origin: LuaOrigin::Directory { path: "x".into() },
        },
    ] {
        let v = serde_json::to_value(&source).unwrap();
        fits(&v, &components()["HealthSource"], "HealthSource").unwrap();
    }
    assert!(
        fits(
            &json!({"check": "sideways"}),
            &components()["HealthSource"],
            "HealthSource"
        )
        .is_err()
    );
}
