//! Every API error maps to one status and one JSON body, here and only here.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use driftless_engine::{EngineError, ErrorKind};

#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    /// A webhook whose signature (or GitLab token) is missing or wrong; says which header.
    BadSignature(String),
    /// Authenticated, but the user's roles do not allow it.
    Forbidden(String),
    NotFound(String),
    BadRequest(String),
    /// Valid, but the current state does not allow it (a promotion already decided).
    Conflict(String),
    /// A dependency of the engine (store, Git, cluster) failed; retrying later may work.
    Unavailable(String),
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "a valid bearer token is required (Authorization: Bearer <token>; see api-token in the data directory)".to_string()),
            ApiError::BadSignature(m) => (StatusCode::UNAUTHORIZED, m),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, format!("{what} not found")),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
            ApiError::Unavailable(m) => {
                tracing::warn!(error = %m, "API request failed on a dependency");
                (StatusCode::SERVICE_UNAVAILABLE, m)
            }
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "API request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, m)
            }
        };
        (
            status,
            Json(json!({"error": message, "code": status.as_u16()})),
        )
            .into_response()
    }
}

/// The engine says what kind of failure it had; this is the only place that turns it into an
/// HTTP status.
impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match (e.kind(), e) {
            (_, EngineError::NotFound { kind, name }) => {
                ApiError::NotFound(format!("{kind} {name}"))
            }
            (ErrorKind::NotFound, e) => ApiError::NotFound(e.to_string()),
            (ErrorKind::Invalid, e) => ApiError::BadRequest(e.to_string()),
            (ErrorKind::Conflict, e) => ApiError::Conflict(e.to_string()),
            (ErrorKind::Forbidden, e) => ApiError::Forbidden(e.to_string()),
            (ErrorKind::Unavailable, e) => ApiError::Unavailable(e.to_string()),
            (ErrorKind::Internal, e) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<driftless_store::StoreError> for ApiError {
    fn from(e: driftless_store::StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}
