//! Every API error maps to one status and one JSON body, here and only here.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    /// A webhook whose signature (or GitLab token) is missing or wrong; says which header.
    BadSignature(String),
    /// Authenticated, but the user's roles do not allow it.
    Forbidden(String),
    NotFound(String),
    BadRequest(String),
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

impl From<driftless_store::StoreError> for ApiError {
    fn from(e: driftless_store::StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}
