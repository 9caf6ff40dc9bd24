//! An application's past and its undo: rollback (pin or revert commit), self-heal pause, the
//! diff against the live state, deployment history, operations and events.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Value, json};

use driftless_core::users::Caller;

use crate::types::*;
use crate::{ApiError, ApiState};

pub(crate) async fn rollback(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Option<Json<RollbackRequest>>,
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
                    .await?,
            )
        }
        (id, None) => id,
    };
    if body.revert {
        let r = s
            .controller
            .rollback_revert(&name, id, &caller.name)
            .await
            .map_err(ApiError::from)?;
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!(Queued {
                revision: Some(r.to),
                revert_commit: Some(r.commit),
                branch: Some(r.branch),
                ..Queued::new(&name)
            })),
        ));
    }
    let reason = body.reason.as_deref().filter(|r| !r.trim().is_empty());
    let revision = s
        .controller
        .rollback_because(&name, id, &caller.name, reason)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!(Queued {
            revision: Some(revision),
            ..Queued::new(&name)
        })),
    ))
}

pub(crate) async fn pause_heal(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Json(p): Json<PauseHealRequest>,
) -> Result<Json<Value>, ApiError> {
    let d = driftless_engine::parse_duration(&p.duration).ok_or_else(|| {
        ApiError::BadRequest(format!("duration `{}` is not like 30m or 2h", p.duration))
    })?;
    match s
        .controller
        .pause_heal(&name, d, &p.reason, &caller.name)
        .await
    {
        Ok(true) => Ok(Json(json!(HealPaused {
            application: name,
            paused_seconds: d.as_secs(),
            reason: p.reason,
        }))),
        Ok(false) => Err(ApiError::NotFound(format!("application {name}"))),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn diff(
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
            .map_err(ApiError::from)?,
        None => s.controller.diff(&name).await.map_err(ApiError::from)?,
    };
    Ok(Json(json!(DiffView {
        application: name,
        comparison: cmp,
    })))
}

pub(crate) async fn history(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let h = s.controller.deployments(&name).await?;
    Ok(Json(json!(Items { items: h })))
}

pub(crate) async fn operations(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ops = s.controller.operations(&name, 50).await?;
    Ok(Json(json!(Items { items: ops })))
}

/// One operation with its steps as recorded so far (`logs-of-operation`).
pub(crate) async fn operation(
    State(s): State<ApiState>,
    Path((name, id)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    match s.controller.operation(id).await? {
        Some(op) if op.app == name => Ok(Json(json!(op))),
        _ => Err(ApiError::NotFound(format!(
            "operation {id} of application {name}"
        ))),
    }
}

pub(crate) async fn events(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<After>,
) -> Result<Json<Value>, ApiError> {
    let ev = s
        .controller
        .events(&name, q.after, q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    Ok(Json(json!(Items { items: ev })))
}
