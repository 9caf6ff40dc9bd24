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
    let mut repo = crate::definitions::one_definition(
        &body,
        "Repository (or Argo CD repository Secret)",
        |d| d.repositories.len(),
    )?
    .repositories
    .remove(0);
    repo.origin = "api".into();
    let name = repo.name.clone();
    s.controller
        .set_repository(repo.clone(), &caller.name, true)
        .await
        .map_err(ApiError::from)?;
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
    crate::definitions::deleted(
        "repository",
        &name,
        s.controller.remove_repository(&name, &caller.name).await,
    )
}
