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
//! - `/api/v1/notifications`, `/drift/report`: see [`notifications`]
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
//! - `GET /api/v1/openapi.json`: routes described by hand, body schemas generated from
//!   [`types`] (see the `openapi` module)

mod activity;
mod app_history;
mod apps;
mod auth;
mod clusters;
mod definitions;
mod error;
mod guard;
mod notifications;
mod openapi;
mod promotions;
mod repositories;
mod resources;
pub mod serve;
mod shards;
pub mod types;
mod ui;
pub mod webhook;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use driftless_core::users::Caller;
use driftless_engine::controller::Controller;

use activity::*;
use app_history::*;
use apps::*;

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
        .route("/notifications", get(notifications::list))
        .route("/notifications/test", post(notifications::test))
        .route("/notifications/{id}/resend", post(notifications::resend))
        .route("/drift/report", get(notifications::drift_report))
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

async fn openapi() -> Json<&'static Value> {
    Json(openapi::document())
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

    /// The API talks to the engine through the controller's methods, never to its store
    /// (which would bypass the engine's checks, audit and error context).
    #[test]
    fn handlers_never_reach_into_the_store() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut read = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            read += 1;
            // The handlers, not the tests (this one names what it looks for).
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (n, line) in code.lines().enumerate() {
                let code = line.split("//").next().unwrap();
                let touches = code.contains(".store.") || code.trim_end().ends_with(".store");
                assert!(!touches, "{}:{}: {line}", path.display(), n + 1);
            }
        }
        assert!(
            read >= 10,
            "only {read} source files read in {}",
            dir.display()
        );
    }
}
