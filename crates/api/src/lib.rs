//! The HTTP API: JSON over axum, bearer-token auth on `/api/*` (compared in constant time),
//! unauthenticated `/healthz`, `/readyz` and `/metrics` (Prometheus). Only this crate knows HTTP and its DTOs.
//!
//! - `GET /api/v1/applications?after=NAME&limit=N` (keyset pagination; `next` in the answer)
//! - `POST /api/v1/applications` (an Application's YAML/JSON), `DELETE /api/v1/applications/{name}`
//! - `GET /api/v1/applications/{name}`, `PATCH` (a JSON merge patch of its spec: `app set`)
//! - `POST /api/v1/applications/{name}/sync` (queued; audited with the caller)
//! - `POST /api/v1/applications/{name}/refresh`
//! - `POST /api/v1/applications/{name}/rollback` `{"id": N | "toTime": T, "revert": bool, "reason": R}`
//!   (default: the previous deployment, pinned; `revert`: a commit restoring it on the branch)
//! - `POST /api/v1/applications/{name}/pause-heal` `{"duration": "30m", "reason": "..."}`
//! - `GET /api/v1/applications/{name}/diff|history|operations|events?after=ID`
//! - `POST /api/v1/images` `{"application": A | "stage": "PIPELINE/STAGE", "image": "web:1.2"}`:
//!   a commit setting the tag (a stage: every app of a pipeline's first stage)
//! - `/api/v1/pipelines`, `/promotions`, `/dora`: see [`promotions`]
//! - `GET /api/v1/whoami`: the calling user and roles
//! - a resource-tree node (manifests, events, pod logs) and `/graph`: see [`resources`]
//!
//! Callers: the engine's token is the admin `api`; `User` definitions give per-user tokens
//! with roles — `admin` may do everything, `readonly` only reads, any other role reads and
//! approves promotions that ask for it (403 otherwise). Actions are audited with the user.
//! - `GET /api/v1/stream`: server-sent events (`status`, `event`) as they happen
//! - `GET /api/v1/audit?actor=&action=&after=` and `GET /api/v1/audit/verify`
//! - `GET|POST /api/v1/clusters`, `DELETE /api/v1/clusters/{name}` (the engine's own is `in-cluster`)
//! - `GET|POST /api/v1/repositories`, `DELETE /api/v1/repositories/{name}` (secrets never answered)
//! - `POST /api/v1/webhooks/{github|gitlab|bitbucket|gitea|generic}` (signature, not token);
//!   `.../webhooks/{provider}/{repository}` checks that repository's own `webhookSecret`
//! - `GET /api/v1/openapi.json`

mod auth;
mod clusters;
mod definitions;
mod error;
mod guard;
mod promotions;
mod repositories;
mod resources;
pub mod serve;
mod shards;
mod ui;
pub mod webhook;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use driftless_core::users::Caller;
use driftless_engine::controller::{Controller, Reason};
use driftless_store::AuditQuery;

/// The user token table lives with the controller (see `Controller::users`).
pub use driftless_engine::controller::users::{self, Users};
pub use error::ApiError;
pub use serve::{Limits, serve};

#[derive(Clone)]
pub struct ApiState {
    pub controller: Arc<Controller>,
    pub token: Arc<String>,
    /// Shared secret of the Git webhooks; none: webhooks are refused.
    pub webhook_secret: Option<Arc<String>>,
    /// Fixed per-user tokens with their callers; `token` is the admin's. The users from
    /// `User` definitions, which can be revoked while running, are the controller's
    /// ([`Controller::users`]); both are checked.
    pub users: Arc<Vec<(String, Caller)>>,
}

/// The whole API, with the default [`Limits`] on request bodies.
pub fn router(state: ApiState) -> Router {
    router_with(state, Limits::default())
}

/// The whole API; every request passes [`guard`] (content type, body cap and timeout).
/// Serve it with [`serve`] for the connection limits.
pub fn router_with(state: ApiState, limits: Limits) -> Router {
    let api = Router::new()
        .route("/applications", get(list_apps).post(create_app))
        .route(
            "/applications/{name}",
            get(get_app).delete(delete_app).patch(patch_app),
        )
        .route("/applications/{name}/sync", post(sync_app))
        .route("/applications/{name}/refresh", post(refresh_app))
        .route("/applications/{name}/pause-heal", post(pause_heal))
        .route("/applications/{name}/rollback", post(rollback))
        .route("/applications/{name}/history", get(history))
        .route("/applications/{name}/diff", get(diff))
        .route("/applications/{name}/operations", get(operations))
        .route("/applications/{name}/operations/{id}", get(operation))
        .route("/applications/{name}/events", get(events))
        .route("/applications/{name}/resources", get(resources))
        .route("/applications/{name}/resource", get(resources::detail))
        .route(
            "/applications/{name}/resource/events",
            get(resources::events),
        )
        .route(
            "/applications/{name}/pods/{namespace}/{pod}/log",
            get(resources::logs),
        )
        .route("/graph", get(resources::graph))
        .route(
            "/repositories",
            get(repositories::list).post(repositories::create),
        )
        .route(
            "/repositories/{name}",
            axum::routing::delete(repositories::delete),
        )
        .route("/clusters", get(clusters::list).post(clusters::create))
        .route("/shards", get(shards::list))
        .route("/clusters/{name}", axum::routing::delete(clusters::delete))
        .route("/images", post(set_image))
        .route(
            "/pipelines",
            get(promotions::list_pipelines).post(promotions::create_pipeline),
        )
        .route(
            "/pipelines/{name}",
            get(promotions::get_pipeline).delete(promotions::delete_pipeline),
        )
        .route("/pipelines/{name}/promote", post(promotions::promote))
        .route("/promotions", get(promotions::list_promotions))
        .route("/promotions/{id}", get(promotions::get_promotion))
        .route("/promotions/{id}/approve", post(promotions::approve))
        .route("/promotions/{id}/reject", post(promotions::reject))
        .route("/dora", get(promotions::dora))
        .route("/whoami", get(auth::whoami))
        .route("/stream", get(stream))
        .route("/audit", get(audit))
        .route("/audit/verify", get(audit_verify))
        .route("/openapi.json", get(openapi))
        .layer(middleware::from_fn_with_state(state.clone(), auth::auth));
    // Webhooks prove themselves with their signature, not the API token.
    let hooks = Router::new()
        .route("/webhooks/{provider}", post(webhook::receive))
        .route(
            "/webhooks/{provider}/{repository}",
            post(webhook::receive_for_repository),
        )
        .layer(axum::extract::DefaultBodyLimit::max(webhook::MAX_BODY));
    Router::new()
        .nest("/api/v1", api.merge(hooks))
        .route("/", get(ui::root))
        .route("/ui/", get(ui::index))
        .route("/ui/{file}", get(ui::asset))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
        .layer(middleware::from_fn_with_state(limits, guard::guard))
}

async fn metrics(State(s): State<ApiState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.controller.metrics_text(),
    )
        .into_response()
}

async fn ready(State(s): State<ApiState>) -> Response {
    if s.controller.live_cache().is_synced() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the live cache has not listed every watched kind yet",
        )
            .into_response()
    }
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    after: String,
    limit: Option<i64>,
    /// One line per application (what a list shows), not its whole record.
    #[serde(default)]
    summary: bool,
}

/// What the applications list shows of a record.
fn summary_of(a: &driftless_store::AppRecord) -> Value {
    let (spec, st) = (&a.spec, &a.status);
    json!({
        "name": a.name,
        "project": spec["project"],
        "labels": spec["labels"].as_object().cloned().unwrap_or_default(),
        "repo": spec["source"]["repoURL"],
        "path": spec["source"]["path"],
        "targetRevision": spec["source"]["targetRevision"],
        "cluster": spec["destination"]["name"].as_str().filter(|n| !n.is_empty())
            .or(spec["destination"]["server"].as_str().filter(|n| !n.is_empty()))
            .unwrap_or("in-cluster"),
        "namespace": spec["destination"]["namespace"],
        "sync": st["sync"]["status"].as_str().unwrap_or("Unknown"),
        "health": st["health"]["status"].as_str().unwrap_or("Unknown"),
        "revision": st["sync"]["revision"],
        "lastSyncMs": st["lastSyncAtMs"],
        "reconciledAtMs": st["reconciledAtMs"],
    })
}

async fn list_apps(
    State(s): State<ApiState>,
    Query(p): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let items = s.controller.store.list_apps(&p.after, limit).await?;
    let next = (items.len() as i64 == limit)
        .then(|| items.last().map(|a| a.name.clone()))
        .flatten();
    if p.summary {
        let rows: Vec<Value> = items.iter().map(summary_of).collect();
        return Ok(Json(json!({"items": rows, "next": next})));
    }
    Ok(Json(json!({"items": items, "next": next})))
}

/// Creates or replaces an application from its YAML or JSON (Driftless or Argo CD format).
async fn create_app(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: String,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let parsed = driftless_core::app::parse(&body, "request body")
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if parsed.len() != 1 {
        return Err(ApiError::BadRequest(format!(
            "expected one Application, found {}",
            parsed.len()
        )));
    }
    let p = parsed.into_iter().next().expect("one");
    let name = p.app.name.clone();
    s.controller
        .set_app(p.app, &caller.name)
        .await
        .map_err(ApiError::BadRequest)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"application": name, "warnings": p.warnings})),
    ))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeleteQuery {
    /// Also delete the application's objects (Argo CD's cascade); default: they stay.
    #[serde(default)]
    cascade: bool,
    /// Allow deleting Namespaces, PVs, PVCs and CRDs in a cascade.
    #[serde(default)]
    confirm_critical: bool,
}

/// Stops managing an application; with `?cascade=true` its objects are deleted first.
async fn delete_app(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<Value>, ApiError> {
    if !s.controller.has_app(&name).await {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    if q.cascade {
        let deleted = s
            .controller
            .delete_app_cascade(&name, &caller.name, q.confirm_critical)
            .await
            .map_err(ApiError::BadRequest)?;
        return Ok(Json(
            json!({"application": name, "deleted": true, "cascade": true, "objectsDeleted": deleted}),
        ));
    }
    if !s
        .controller
        .remove_app(&name, &caller.name)
        .await
        .map_err(ApiError::Internal)?
    {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    Ok(Json(
        json!({"application": name, "deleted": true, "cascade": false}),
    ))
}

async fn get_app(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = s
        .controller
        .store
        .get_app(&name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("application {name}")))?;
    Ok(Json(
        serde_json::to_value(app).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

/// Changes fields of an application (`driftless app set`): a JSON merge patch (RFC 7386)
/// on its spec, e.g. `{"source": {"targetRevision": "v2"}, "syncPolicy": {"automated": null}}`.
/// An app-of-apps child is refused: its definition lives in Git.
async fn patch_app(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Json(patch): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let rec = s
        .controller
        .store
        .get_app(&name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("application {name}")))?;
    if let Some(parent) = rec.spec["parent"].as_str() {
        return Err(ApiError::BadRequest(format!(
            "application {name} is declared by application {parent}'s source; change it in Git (an edit here would be overwritten)"
        )));
    }
    if !patch.is_object() {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object (a merge patch of the application's spec)".into(),
        ));
    }
    let mut spec = rec.spec;
    merge_patch(&mut spec, &patch);
    spec["name"] = json!(name);
    let app: driftless_core::app::Application = serde_json::from_value(spec.clone())
        .map_err(|e| ApiError::BadRequest(format!("application {name}: {e}")))?;
    if app.source.repo_url.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "application {name}: source.repoURL cannot be removed"
        )));
    }
    s.controller
        .set_app(app, &caller.name)
        .await
        .map_err(ApiError::BadRequest)?;
    Ok(Json(json!({"application": name, "spec": spec})))
}

/// RFC 7386: objects merge recursively, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

#[derive(Deserialize)]
struct SetImage {
    #[serde(default)]
    application: Option<String>,
    /// A pipeline's first stage instead: `PIPELINE/STAGE` (or a stage name one pipeline has).
    #[serde(default)]
    stage: Option<String>,
    /// `NAME:TAG` or `NAME@DIGEST`.
    image: String,
}

/// An image update from CI: written into the application's kustomization by a commit.
async fn set_image(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<SetImage>,
) -> Result<Json<Value>, ApiError> {
    let target = match (&body.application, &body.stage) {
        (Some(a), None) => {
            if !s.controller.has_app(a).await {
                return Err(ApiError::NotFound(format!("application {a}")));
            }
            a.clone()
        }
        (None, Some(stage)) => stage.clone(),
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of application or stage".into(),
            ));
        }
    };
    let done = s
        .controller
        .set_image_for(&target, &body.image, &caller.name)
        .await
        .map_err(ApiError::BadRequest)?;
    let items: Vec<Value> = done
        .iter()
        .map(|d| {
            json!({
                "application": d.application,
                "image": d.image,
                "file": d.file,
                "previous": d.previous,
                "commit": d.commit,
                "branch": d.branch,
            })
        })
        .collect();
    Ok(Json(match (&body.application, items.as_slice()) {
        (Some(_), [one]) => one.clone(),
        _ => json!({"stage": target, "items": items}),
    }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SyncOptions {
    /// Also delete live objects Git no longer declares, this once.
    #[serde(default)]
    prune: bool,
    /// Sync nothing: answer what a sync would change (the comparison and its impact).
    #[serde(default)]
    dry_run: bool,
}

async fn sync_app(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Option<Json<SyncOptions>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let opts = body.map(|b| b.0).unwrap_or_default();
    if !s.controller.has_app(&name).await {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    if opts.dry_run {
        let cmp = s
            .controller
            .diff(&name)
            .await
            .map_err(ApiError::BadRequest)?;
        return Ok((
            StatusCode::OK,
            Json(
                json!({"application": name, "dryRun": true, "summary": cmp.summary, "comparison": cmp}),
            ),
        ));
    }
    if !s
        .controller
        .request_sync_with(&name, &caller.name, opts.prune)
        .await
        .map_err(ApiError::Internal)?
    {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"application": name, "queued": true, "prune": opts.prune})),
    ))
}

async fn resources(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !s.controller.has_app(&name).await {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    let items = s
        .controller
        .resource_tree(&name)
        .await
        .map_err(ApiError::Internal)?;
    Ok(Json(json!({"items": items})))
}

async fn refresh_app(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !s.controller.has_app(&name).await {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    // A user's refresh fetches the repository now (a webhook only marks it stale).
    s.controller.enqueue(&name, Reason::User);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"application": name, "queued": true})),
    ))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Rollback {
    /// A history entry id; none: the deployment before the current one.
    id: Option<i64>,
    /// RFC 3339 time: back to the deployment that was live then.
    to_time: Option<String>,
    /// Write a commit restoring that deployment's files onto the branch (Git stays the
    /// source of truth) instead of pinning the application to the old revision.
    #[serde(default)]
    revert: bool,
    /// Why (recorded in the audit log with the rollback).
    #[serde(default)]
    reason: Option<String>,
}

async fn rollback(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Option<Json<Rollback>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = body.map(|b| b.0).unwrap_or_default();
    if !s.controller.has_app(&name).await {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    let id = match (body.id, &body.to_time) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give either id or toTime, not both".into(),
            ));
        }
        (_, Some(t)) => {
            let at: jiff::Timestamp = t.parse().map_err(|e| {
                ApiError::BadRequest(format!(
                    "toTime {t:?} is not an RFC 3339 time (2026-11-23T09:30:00Z): {e}"
                ))
            })?;
            Some(
                s.controller
                    .history_at_time(&name, at.as_millisecond())
                    .await
                    .map_err(ApiError::BadRequest)?,
            )
        }
        (id, None) => id,
    };
    if body.revert {
        let r = s
            .controller
            .rollback_revert(&name, id, &caller.name)
            .await
            .map_err(ApiError::BadRequest)?;
        return Ok((
            StatusCode::ACCEPTED,
            Json(
                json!({"application": name, "revision": r.to, "revertCommit": r.commit, "branch": r.branch, "queued": true}),
            ),
        ));
    }
    let reason = body.reason.as_deref().filter(|r| !r.trim().is_empty());
    let revision = s
        .controller
        .rollback_because(&name, id, &caller.name, reason)
        .await
        .map_err(ApiError::BadRequest)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"application": name, "revision": revision, "queued": true})),
    ))
}

#[derive(Deserialize)]
struct PauseHeal {
    /// `30m`, `2h`; `0s` resumes.
    duration: String,
    reason: String,
}

async fn pause_heal(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Json(p): Json<PauseHeal>,
) -> Result<Json<Value>, ApiError> {
    let d = driftless_engine::parse_duration(&p.duration).ok_or_else(|| {
        ApiError::BadRequest(format!("duration `{}` is not like 30m or 2h", p.duration))
    })?;
    match s
        .controller
        .pause_heal(&name, d, &p.reason, &caller.name)
        .await
    {
        Ok(true) => Ok(Json(
            json!({"application": name, "pausedSeconds": d.as_secs(), "reason": p.reason}),
        )),
        Ok(false) => Err(ApiError::NotFound(format!("application {name}"))),
        Err(e) => Err(ApiError::BadRequest(e)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DiffQuery {
    /// What a rollback to this deployment (history id) would change, instead of a sync.
    rollback_to: Option<i64>,
}

async fn diff(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<Value>, ApiError> {
    if !s.controller.has_app(&name).await {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    let cmp = match q.rollback_to {
        Some(id) => s
            .controller
            .diff_for_rollback(&name, id)
            .await
            .map_err(ApiError::BadRequest)?,
        None => s.controller.diff(&name).await.map_err(ApiError::Internal)?,
    };
    Ok(Json(json!({"application": name, "comparison": cmp})))
}

async fn history(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let h = s.controller.store.list_history(&name).await?;
    Ok(Json(json!({"items": h})))
}

async fn operations(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ops = s.controller.store.list_operations(&name, 50).await?;
    Ok(Json(json!({"items": ops})))
}

/// One operation with its steps as recorded so far (`logs-of-operation`).
async fn operation(
    State(s): State<ApiState>,
    Path((name, id)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    match s.controller.store.get_operation(id).await? {
        Some(op) if op.app == name => Ok(Json(json!(op))),
        _ => Err(ApiError::NotFound(format!(
            "operation {id} of application {name}"
        ))),
    }
}

#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: i64,
    limit: Option<i64>,
}

async fn events(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<After>,
) -> Result<Json<Value>, ApiError> {
    let ev = s
        .controller
        .store
        .list_events(&name, q.after, q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    Ok(Json(json!({"items": ev})))
}

#[derive(Deserialize)]
struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    #[serde(default)]
    after: i64,
    limit: Option<i64>,
}

/// Server-sent events: `status` (an application's new status) and `event` (drift, syncs,
/// errors) as they happen; `lagged` when this subscriber fell behind and missed some.
async fn stream(
    State(s): State<ApiState>,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let rx = s.controller.subscribe_updates();
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let ev = match rx.recv().await {
            Ok(update) => {
                let kind = update["type"].as_str().unwrap_or("status").to_string();
                Event::default().event(kind).data(update.to_string())
            }
            Err(RecvError::Lagged(n)) => Event::default()
                .event("lagged")
                .data(json!({"missed": n}).to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(ev), rx))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

async fn audit(
    State(s): State<ApiState>,
    Query(q): Query<AuditParams>,
) -> Result<Json<Value>, ApiError> {
    let entries = s
        .controller
        .store
        .list_audit(&AuditQuery {
            actor: q.actor,
            action: q.action,
            target_prefix: q.target,
            after_seq: q.after,
            limit: q.limit.unwrap_or(100).clamp(1, 1000),
        })
        .await?;
    Ok(Json(json!({"items": entries})))
}

async fn audit_verify(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    match s.controller.store.verify_audit().await {
        Ok(n) => Ok(Json(json!({"intact": true, "entries": n}))),
        Err(e @ driftless_store::StoreError::Tampered { .. }) => {
            Ok(Json(json!({"intact": false, "error": e.to_string()})))
        }
        Err(e) => Err(e.into()),
    }
}

async fn openapi() -> Json<Value> {
    Json(
        serde_json::from_str(include_str!("openapi.json"))
            .expect("embedded OpenAPI document is JSON"),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut t = serde_json::json!({"a": {"b": 1, "c": 2}, "d": [1], "e": 1});
        super::merge_patch(
            &mut t,
            &serde_json::json!({"a": {"b": null, "x": 3}, "d": [2, 3], "e": {"f": 1}}),
        );
        assert_eq!(
            t,
            serde_json::json!({"a": {"c": 2, "x": 3}, "d": [2, 3], "e": {"f": 1}})
        );
    }

    /// Every route the router serves is in the OpenAPI document (a new route without its
    /// documentation fails here).
    #[test]
    fn every_route_is_documented() {
        let doc: serde_json::Value = serde_json::from_str(include_str!("openapi.json")).unwrap();
        // The router, not this test (whose own text mentions `route`).
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
}
