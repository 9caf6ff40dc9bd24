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
    let mut def =
        crate::definitions::one_definition(&body, "Cluster (or Argo CD cluster Secret)", |d| {
            d.clusters.len()
        })?
        .clusters
        .remove(0);
    def.origin = "api".into();
    let name = def.name.clone();
    s.controller
        .set_cluster(def, &caller.name, true)
        .await
        .map_err(ApiError::from)?;
    Ok((StatusCode::CREATED, Json(json!({"cluster": name}))))
}

pub async fn delete(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    crate::definitions::deleted(
        "cluster",
        &name,
        s.controller.remove_cluster(&name, &caller.name).await,
    )
}
