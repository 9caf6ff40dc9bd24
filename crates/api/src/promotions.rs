//! Pipelines, promotions and DORA figures over the API:
//! - `GET|POST /pipelines` (a `Pipeline` document as YAML or JSON), `GET|DELETE /pipelines/{name}`
//!   (what each stage runs), `POST /pipelines/{name}/promote` `{"from": "dev", "to": "staging"}`
//! - `GET /promotions?pipeline=&limit=`, `GET /promotions/{id}` (the report),
//!   `POST /promotions/{id}/approve|reject` `{"comment": "..."}` — as the calling user
//! - `GET /dora?application=A|pipeline=P&days=30`

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use driftless_core::users::Caller;
use driftless_engine::controller::promotion::PipelineView;

use crate::types::DoraAnswer;
use crate::{ApiError, ApiState};

pub async fn list_pipelines(State(s): State<ApiState>) -> Json<Value> {
    Json(json!({"items": s.controller.pipelines().await}))
}

pub async fn get_pipeline(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<PipelineView>, ApiError> {
    Ok(Json(s.controller.pipeline_view(&name).await?))
}

pub async fn create_pipeline(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: String,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut p = crate::definitions::one_definition(&body, "Pipeline", |d| d.pipelines.len())?
        .pipelines
        .remove(0);
    p.origin = "api".into();
    let name = p.name.clone();
    s.controller
        .set_pipeline(p, &caller.name, true)
        .await
        .map_err(ApiError::from)?;
    Ok((StatusCode::CREATED, Json(json!({"pipeline": name}))))
}

pub async fn delete_pipeline(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    crate::definitions::deleted(
        "pipeline",
        &name,
        s.controller.remove_pipeline(&name, &caller.name).await,
    )
}

#[derive(Deserialize)]
pub struct PromoteBody {
    #[serde(default)]
    from: Option<String>,
    to: String,
}

pub async fn promote(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Json(body): Json<PromoteBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if s.controller.pipeline(&name).await.is_none() {
        return Err(ApiError::NotFound(format!("pipeline {name}")));
    }
    let p = s
        .controller
        .promote(&name, body.from.as_deref(), &body.to, &caller.name)
        .await
        .map_err(ApiError::from)?;
    Ok((StatusCode::CREATED, Json(p.report())))
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pipeline: String,
    limit: Option<i64>,
}

pub async fn list_promotions(
    State(s): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let items = s
        .controller
        .promotions(&q.pipeline, q.limit.unwrap_or(50).clamp(1, 500))
        .await
        .map_err(ApiError::from)?;
    Ok(Json(
        json!({"items": items.iter().map(|p| p.report()).collect::<Vec<_>>()}),
    ))
}

pub async fn get_promotion(
    State(s): State<ApiState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    s.controller
        .promotion(id)
        .await
        .map_err(ApiError::from)?
        .map(|p| Json(p.report()))
        .ok_or_else(|| ApiError::NotFound(format!("promotion {id}")))
}

#[derive(Deserialize, Default)]
pub struct DecisionBody {
    #[serde(default)]
    comment: String,
}

async fn decide(
    s: ApiState,
    caller: Caller,
    id: i64,
    approved: bool,
    body: Option<Json<DecisionBody>>,
) -> Result<Json<Value>, ApiError> {
    if s.controller
        .promotion(id)
        .await
        .map_err(ApiError::from)?
        .is_none()
    {
        return Err(ApiError::NotFound(format!("promotion {id}")));
    }
    let comment = body.map(|b| b.0.comment).unwrap_or_default();
    let p = s.controller.decide(id, &caller, approved, &comment).await?;
    Ok(Json(p.report()))
}

pub async fn approve(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    body: Option<Json<DecisionBody>>,
) -> Result<Json<Value>, ApiError> {
    decide(s, caller, id, true, body).await
}

pub async fn reject(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    body: Option<Json<DecisionBody>>,
) -> Result<Json<Value>, ApiError> {
    decide(s, caller, id, false, body).await
}

#[derive(Deserialize)]
pub struct DoraQuery {
    application: Option<String>,
    pipeline: Option<String>,
    days: Option<f64>,
}

pub async fn dora(
    State(s): State<ApiState>,
    Query(q): Query<DoraQuery>,
) -> Result<Json<Value>, ApiError> {
    let days = q.days.unwrap_or(30.0).clamp(1.0 / 24.0, 3650.0);
    match (q.application, q.pipeline) {
        (Some(app), None) => {
            if !s.controller.has_app(&app).await {
                return Err(ApiError::NotFound(format!("application {app}")));
            }
            let d = s
                .controller
                .dora_for_app(&app, days)
                .await
                .map_err(ApiError::from)?;
            Ok(Json(json!(DoraAnswer {
                application: Some(app),
                pipeline: None,
                stage: None,
                dora: d,
            })))
        }
        (None, Some(p)) => {
            let (stage, d) = s.controller.dora_for_pipeline(&p, days).await?;
            Ok(Json(json!(DoraAnswer {
                application: None,
                pipeline: Some(p),
                stage: Some(stage),
                dora: d,
            })))
        }
        _ => Err(ApiError::BadRequest(
            "give exactly one of ?application=NAME or ?pipeline=NAME".into(),
        )),
    }
}
