//! Cluster definitions over the API: `GET /clusters` (credentials masked), `POST /clusters`
//! (a `Cluster` document or an Argo CD cluster Secret, YAML or JSON; connected before it is
//! accepted), `DELETE /clusters/{name}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Value, json};

use driftless_core::users::Caller;

use crate::{ApiError, ApiState};

pub async fn list(State(s): State<ApiState>) -> Json<Value> {
    Json(json!({"items": s.controller.clusters()}))
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
    if defs.clusters.len() != 1
        || !defs.apps.is_empty()
        || !defs.projects.is_empty()
        || !defs.repositories.is_empty()
    {
        return Err(ApiError::BadRequest(
            "expected one Cluster (or Argo CD cluster Secret) and nothing else".into(),
        ));
    }
    let mut def = defs.clusters.remove(0);
    def.origin = "api".into();
    let name = def.name.clone();
    s.controller
        .set_cluster(def, &caller.name, true)
        .await
        .map_err(ApiError::BadRequest)?;
    Ok((StatusCode::CREATED, Json(json!({"cluster": name}))))
}

pub async fn delete(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !s
        .controller
        .remove_cluster(&name, &caller.name)
        .await
        .map_err(ApiError::BadRequest)?
    {
        return Err(ApiError::NotFound(format!("cluster {name}")));
    }
    Ok(Json(json!({"cluster": name, "deleted": true})))
}
