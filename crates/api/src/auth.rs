//! Who calls the API: the engine's token is the admin `api`; `User` definitions give
//! per-user tokens with roles. Every token is compared in constant time; the caller is put in
//! the request for the handlers (the audit actor), and non-admins may only read — and, with an
//! approval role, approve or reject promotions (403 with the reason otherwise).

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use driftless_core::users::Caller;

use crate::{ApiError, ApiState};

/// Who a bearer token belongs to: the engine's token is the admin `api`; a `User`'s token
/// is that user. Every token is compared in constant time.
fn caller_of(s: &ApiState, given: &str) -> Option<Caller> {
    if given.is_empty() {
        return None;
    }
    let mut found = None;
    if bool::from(given.as_bytes().ct_eq(s.token.as_bytes())) {
        found = Some(Caller::admin("api"));
    }
    let defined = s.controller.users().snapshot();
    for (token, caller) in s.users.iter().chain(defined.iter()) {
        if bool::from(given.as_bytes().ct_eq(token.as_bytes())) && found.is_none() {
            found = Some(caller.clone());
        }
    }
    found
}

/// What a non-admin may change: approving or rejecting promotions (the engine then checks
/// the stage's role). Everything else that is not a read needs `admin`.
fn non_admin_may(caller: &Caller, method: &axum::http::Method, path: &str) -> bool {
    let read_only = caller
        .roles
        .iter()
        .all(|r| r == driftless_core::users::READONLY);
    method == axum::http::Method::GET
        || method == axum::http::Method::HEAD
        || (!read_only
            && method == axum::http::Method::POST
            && path.starts_with("/promotions/")
            && (path.ends_with("/approve") || path.ends_with("/reject")))
}

pub(crate) async fn auth(State(s): State<ApiState>, mut req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some(caller) = caller_of(&s, given) else {
        return ApiError::Unauthorized.into_response();
    };
    if !caller.is_admin() && !non_admin_may(&caller, req.method(), req.uri().path()) {
        return ApiError::Forbidden(format!(
            "{} (roles: {}) may only read{}; this needs the admin role",
            caller.name,
            caller.roles.join(", "),
            if caller
                .roles
                .iter()
                .all(|r| r == driftless_core::users::READONLY)
            {
                ""
            } else {
                " and approve promotions"
            }
        ))
        .into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The calling user and what they may do (the web UI hides actions a user may not take).
pub(crate) async fn whoami(Extension(caller): Extension<Caller>) -> Json<Value> {
    Json(json!({
        "name": caller.name,
        "roles": caller.roles,
        "admin": caller.is_admin(),
    }))
}
