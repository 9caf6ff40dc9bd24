//! Repository definitions over the API: `GET /repositories` (inline secrets masked),
//! `POST /repositories` (a `Repository` document, or an Argo CD repository Secret, as YAML
//! or JSON), `DELETE /repositories/{name}`. Secrets are accepted, stored, and never answered.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Value, json};

use driftless_core::users::Caller;

use crate::{ApiError, ApiState};

pub async fn list(State(s): State<ApiState>) -> Json<Value> {
    Json(json!({"items": s.controller.repositories()}))
}

pub async fn create(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: String,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut defs = driftless_core::definitions::Definitions::default();
    defs.add_file(&body, "request body");
    if let Some(e) = defs.errors.first() {
        return Err(ApiError::BadRequest(e.clone()));
    }
    if defs.repositories.len() != 1 || !defs.apps.is_empty() || !defs.projects.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "expected one Repository (or Argo CD repository Secret), found {} repositories, {} applications, {} projects",
            defs.repositories.len(),
            defs.apps.len(),
            defs.projects.len()
        )));
    }
    let mut repo = defs.repositories.remove(0);
    repo.origin = "api".into();
    let name = repo.name.clone();
    s.controller
        .set_repository(repo.clone(), &caller.name, true)
        .await
        .map_err(ApiError::BadRequest)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"repository": name, "definition": repo.redacted()})),
    ))
}

pub async fn delete(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !s
        .controller
        .remove_repository(&name, &caller.name)
        .await
        .map_err(ApiError::Internal)?
    {
        return Err(ApiError::NotFound(format!("repository {name}")));
    }
    Ok(Json(json!({"repository": name, "deleted": true})))
}
