//! The OpenAPI document served at `GET /api/v1/openapi.json`, half written, half generated.
//!
//! `openapi.json` beside this file describes the routes by hand (paths, summaries, parameters,
//! status codes, and which named schema each JSON body is). The schemas themselves
//! (`components.schemas`) are generated from the Rust types the handlers answer with and the
//! CLI reads ([`crate::types`] and the engine, store, diff and health types inside them):
//! schemars reads their serde attributes, so a renamed field or a new status value changes the
//! document with the code instead of leaving a handwritten schema to go stale. The tests below
//! check the handwritten half: every route is documented, every reference resolves, and
//! real answers have the fields their schema lists.

use std::sync::LazyLock;

use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value};

use driftless_store::{AuditEntry, Event, HistoryEntry, Operation};

use crate::types::*;

/// The served document, built on first use.
pub(crate) fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
        let mut doc: Value = serde_json::from_str(include_str!("openapi.json"))
            .expect("the embedded OpenAPI document is JSON");
        doc["components"]["schemas"] = Value::Object(schemas());
        doc
    });
    &DOCUMENT
}

/// The answers, described as the server writes them: a field it always writes is required
/// (perhaps `nullable`), one it skips when empty is not.
fn answers(g: &mut SchemaGenerator) {
    g.subschema_for::<Page<AppView>>();
    g.subschema_for::<Page<AppSummary>>();
    g.subschema_for::<AppView>();
    g.subschema_for::<AppCreated>();
    g.subschema_for::<AppPatched>();
    g.subschema_for::<AppDeleted>();
    g.subschema_for::<Queued>();
    g.subschema_for::<DryRun>();
    g.subschema_for::<DiffView>();
    g.subschema_for::<HealPaused>();
    g.subschema_for::<Items<HistoryEntry>>();
    g.subschema_for::<Items<Operation>>();
    g.subschema_for::<Operation>();
    g.subschema_for::<Items<Event>>();
    g.subschema_for::<Items<AuditEntry>>();
    g.subschema_for::<ImageSet>();
    g.subschema_for::<StageImageSet>();
    g.subschema_for::<DoraAnswer>();
}

/// The request bodies, described as the server reads them: a field with a default may be
/// left out.
fn requests(g: &mut SchemaGenerator) {
    g.subschema_for::<SyncOptions>();
    g.subschema_for::<RollbackRequest>();
    g.subschema_for::<PauseHealRequest>();
    g.subschema_for::<SetImageRequest>();
}

/// `components.schemas`: OpenAPI 3.0 schemas (`nullable`, refs to `#/components/schemas/`).
fn schemas() -> Map<String, Value> {
    let generate = |settings: SchemaSettings, add: fn(&mut SchemaGenerator)| {
        let mut g = settings.into_generator();
        add(&mut g);
        g.take_definitions(true)
    };
    let mut all = generate(SchemaSettings::openapi3().for_serialize(), answers);
    for (name, schema) in generate(SchemaSettings::openapi3().for_deserialize(), requests) {
        if let Some(written) = all.get(&name) {
            // One name, one schema: a type both read and written must read what it writes.
            assert_eq!(
                written, &schema,
                "schema {name} differs as written and as read"
            );
        }
        all.insert(name, schema);
    }
    all.sort_keys();
    all
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::Serialize;
    use serde_json::{Value, json};

    use driftless_core::ResourceKey;
    use driftless_diff::{Change, ChangeOp, Comparison, Grade, Impact, ResourceDiff, Summary};
    use driftless_engine::dora::Dora;
    use driftless_engine::status::{
        AppStatus, HealPause, OperationMemory, PinStatus, PolicyStatus, ResourceStatus, Revision,
        RunningOperation, SyncCode, SyncState,
    };
    use driftless_health::{Health, HealthSource, HealthStatus, LuaOrigin};
    use driftless_store::{AuditEntry, Event, HistoryEntry, Operation, OperationPhase};

    use schemars::generate::SchemaSettings;

    use super::document;
    use crate::types::*;

    const PREFIX: &str = "#/components/schemas/";

    fn components() -> &'static serde_json::Map<String, Value> {
        document()["components"]["schemas"]
            .as_object()
            .expect("components.schemas is generated")
    }

    /// Every `$ref` under `v`, with where it was found.
    fn refs<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(r)) => out.push((at.clone(), r)),
                        _ => refs(x, format!("{at}/{k}"), out),
                    }
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    refs(x, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    /// Every route the router serves is in the OpenAPI document (a new route without its
    /// documentation fails here).
    #[test]
    fn every_route_is_documented() {
        let doc = document();
        // The router, not lib.rs's tests.
        let source = include_str!("lib.rs").split("#[cfg(test)]").next().unwrap();
        let mut checked = 0;
        // Each `route` call, its path literal on the same line or the next.
        for chunk in source.split(".route(").skip(1) {
            let Some(rest) = chunk.trim_start().strip_prefix('"') else {
                continue;
            };
            let path = rest.split('"').next().unwrap();
            let outside_api = ["/healthz", "/readyz", "/metrics", "/"].contains(&path)
                || path.starts_with("/ui/");
            let full = if outside_api {
                path.to_string()
            } else {
                format!("/api/v1{path}")
            };
            assert!(
                doc["paths"].get(&full).is_some(),
                "{full} is served but not in openapi.json"
            );
            checked += 1;
        }
        assert!(checked >= 20, "only {checked} routes found in lib.rs");
    }

    /// A reference to a schema nobody generates (a typo in openapi.json, a type renamed in
    /// Rust, a generic wrapper whose name changed) fails here, wherever it is.
    #[test]
    fn every_ref_resolves_to_a_generated_schema() {
        let mut found = Vec::new();
        refs(document(), String::new(), &mut found);
        assert!(!found.is_empty());
        for (at, r) in found {
            let name = r
                .strip_prefix(PREFIX)
                .unwrap_or_else(|| panic!("{at}: $ref {r} is not under {PREFIX}"));
            assert!(
                components().contains_key(name),
                "{at}: $ref {r} names no schema; generated: {:?}",
                components().keys().collect::<Vec<_>>()
            );
        }
    }

    /// The shared types are what the paths answer with: each generated top-level schema is
    /// used by some path, and most application routes name theirs.
    #[test]
    fn paths_name_the_shared_types() {
        let mut operations = 0;
        let mut used = BTreeSet::new();
        for (path, item) in document()["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let mut found = Vec::new();
                refs(op, String::new(), &mut found);
                if !found.is_empty() {
                    operations += 1;
                }
                for (at, r) in found {
                    let name = r.strip_prefix(PREFIX).unwrap_or(r);
                    assert!(
                        components().contains_key(name),
                        "{method} {path}{at}: no schema {name}"
                    );
                    used.insert(name.to_string());
                }
            }
        }
        assert!(
            operations >= 15,
            "only {operations} operations name a shared type"
        );
        // Every generated schema is one a path names, or inside one.
        let mut reachable = used.clone();
        let mut next: Vec<String> = used.into_iter().collect();
        while let Some(name) = next.pop() {
            let mut inner = Vec::new();
            refs(&components()[name.as_str()], String::new(), &mut inner);
            for (_, r) in inner {
                let r = r.strip_prefix(PREFIX).unwrap_or(r).to_string();
                if reachable.insert(r.clone()) {
                    next.push(r);
                }
            }
        }
        for name in components().keys() {
            assert!(
                reachable.contains(name),
                "schema {name} is generated but no path names it"
            );
        }
    }

    /// The query types' fields are the query parameters the paths document (a field added
    /// to a query type without its documentation fails here).
    #[test]
    fn query_types_are_documented_parameters() {
        let mut g = SchemaSettings::openapi3()
            .for_deserialize()
            .into_generator();
        for (method, path, schema) in [
            (
                "get",
                "/api/v1/applications",
                g.root_schema_for::<ListQuery>(),
            ),
            (
                "delete",
                "/api/v1/applications/{name}",
                g.root_schema_for::<DeleteQuery>(),
            ),
            (
                "get",
                "/api/v1/applications/{name}/diff",
                g.root_schema_for::<DiffQuery>(),
            ),
            (
                "get",
                "/api/v1/applications/{name}/events",
                g.root_schema_for::<After>(),
            ),
        ] {
            let fields: BTreeSet<&str> = schema.as_value()["properties"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let documented: BTreeSet<&str> = document()["paths"][path][method]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "query")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(
                fields, documented,
                "{method} {path}: query fields vs parameters"
            );
        }
    }

    /// The schema named `name`, following a `$ref` (or an `allOf` of one).
    fn resolve(schema: &Value) -> &Value {
        if let Some(r) = schema["$ref"].as_str() {
            return resolve(&components()[r.strip_prefix(PREFIX).unwrap()]);
        }
        match schema["allOf"].as_array().map(Vec::as_slice) {
            Some([one]) => resolve(one),
            _ => schema,
        }
    }

    /// Whether `value` fits `schema`: its JSON type, and for an object exactly the property
    /// names the schema lists (none unknown, every required one present), recursively through
    /// arrays, maps and `oneOf`/`anyOf` alternatives. `Err` says where it does not.
    fn fits(value: &Value, schema: &Value, at: &str) -> Result<(), String> {
        let schema = resolve(schema);
        for alternatives in ["oneOf", "anyOf"] {
            if let Some(all) = schema[alternatives].as_array() {
                let misses: Vec<String> = all
                    .iter()
                    .filter_map(|s| fits(value, s, at).err())
                    .collect();
                if misses.len() == all.len() {
                    return Err(format!("{at}: no alternative fits: {misses:?}"));
                }
                return Ok(());
            }
        }
        if value.is_null() {
            return match schema["nullable"].as_bool() == Some(true) || schema.get("type").is_none()
            {
                true => Ok(()),
                false => Err(format!("{at}: null, but the schema is not nullable")),
            };
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
        let ty = schema["type"].as_str();
        let kind_fits = match (ty, value) {
            (None, _) => true,
            (Some("object"), Value::Object(_)) | (Some("array"), Value::Array(_)) => true,
            (Some("string"), Value::String(_)) | (Some("boolean"), Value::Bool(_)) => true,
            (Some("integer"), Value::Number(n)) => n.is_i64() || n.is_u64(),
            (Some("number"), Value::Number(_)) => true,
            _ => false,
        };
        if !kind_fits {
            return Err(format!("{at}: {value} is not of type {ty:?}"));
        }
        match value {
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    fits(x, &schema["items"], &format!("{at}/{i}"))?;
                }
            }
            Value::Object(fields) => {
                let properties = schema["properties"].as_object();
                for (k, x) in fields {
                    match properties.and_then(|p| p.get(k)) {
                        Some(s) => fits(x, s, &format!("{at}/{k}"))?,
                        None => match schema.get("additionalProperties") {
                            Some(s) if s.is_object() => fits(x, s, &format!("{at}/{k}"))?,
                            _ if properties.is_none() => {}
                            _ => {
                                return Err(format!(
                                    "{at}: `{k}` is written but the schema lists {:?}",
                                    properties.unwrap().keys().collect::<Vec<_>>()
                                ));
                            }
                        },
                    }
                }
                for r in schema["required"].as_array().into_iter().flatten() {
                    let r = r.as_str().unwrap();
                    if !fields.contains_key(r) {
                        return Err(format!("{at}: required `{r}` is not written"));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `value` as the API writes it fits the generated schema `name`, and at the top level it
    /// has exactly the properties the schema lists (so `value` should fill every field).
    fn check<T: Serialize>(name: &str, value: &T) {
        let written = serde_json::to_value(value).unwrap();
        let schema = components()
            .get(name)
            .unwrap_or_else(|| panic!("no schema {name}"));
        let listed: BTreeSet<&str> = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("schema {name} has no properties: {schema}"))
            .keys()
            .map(String::as_str)
            .collect();
        let keys: BTreeSet<&str> = written
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, listed, "{name}: written fields vs schema properties");
        if let Err(e) = fits(&written, schema, name) {
            panic!("{e}\nwritten: {written:#}\nschema: {schema:#}");
        }
    }

    fn status() -> AppStatus {
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

    fn view() -> AppView {
        AppView {
            name: "web".into(),
            spec: json!({"name": "web", "source": {"repoURL": "file:///repo", "path": "web"}}),
            status: status(),
            created_ms: 1,
            updated_ms: 2,
        }
    }

    fn comparison() -> Comparison {
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

    fn operation() -> Operation {
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
}
