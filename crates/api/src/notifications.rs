//! Notifications: the outbox (what was sent, what failed and why), "send again", a test
//! message to one destination, and the drift report.
//!
//! - `GET /api/v1/notifications?app=&status=pending|sending|sent|failed&service=&limit=`
//! - `POST /api/v1/notifications/{id}/resend` (audited with the caller)
//! - `POST /api/v1/notifications/test` `{"service": S, "recipient": R}`
//! - `GET /api/v1/drift/report?app=&pipeline=&since=RFC3339`
//!
//! Messages hold rendered text only: services' secrets are never in the outbox, and errors
//! are scrubbed by the services before they are stored.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use driftless_core::users::Caller;
use driftless_engine::notifications::report::ReportFilter;
use driftless_notify::outbox::{ListFilter, Status};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiError, ApiState};

#[derive(Deserialize, Default)]
pub struct ListQuery {
    app: Option<String>,
    status: Option<String>,
    service: Option<String>,
    limit: Option<usize>,
}

fn status_of(text: &str) -> Result<Status, ApiError> {
    Ok(match text {
        "pending" => Status::Pending,
        "sending" => Status::Sending,
        "sent" => Status::Sent,
        "failed" => Status::Failed,
        other => {
            return Err(ApiError::BadRequest(format!(
                "status: {other:?} is not one of pending, sending, sent, failed"
            )));
        }
    })
}

pub async fn list(
    State(s): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = ListFilter {
        status: q.status.as_deref().map(status_of).transpose()?,
        app: q.app.filter(|a| !a.is_empty()),
        service: q.service.filter(|a| !a.is_empty()),
        limit: Some(q.limit.unwrap_or(100).clamp(1, 1000)),
    };
    let items = s.controller.list_notifications(&filter).await?;
    Ok(Json(json!({"items": items})))
}

pub async fn resend(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    if s.controller.resend_notification(id, &caller.name).await? {
        Ok(Json(json!({"id": id, "status": "pending"})))
    } else {
        Err(ApiError::NotFound(format!(
            "sent or failed notification {id}"
        )))
    }
}

#[derive(Deserialize)]
pub struct TestBody {
    service: String,
    recipient: String,
}

pub async fn test(
    State(s): State<ApiState>,
    Json(body): Json<TestBody>,
) -> Result<Json<Value>, ApiError> {
    s.controller
        .test_notification(&body.service, &body.recipient)
        .await?;
    Ok(Json(
        json!({"service": body.service, "recipient": body.recipient, "sent": true}),
    ))
}

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    app: Option<String>,
    pipeline: Option<String>,
    since: Option<String>,
}

pub async fn drift_report(
    State(s): State<ApiState>,
    Query(q): Query<ReportQuery>,
) -> Result<Json<Value>, ApiError> {
    let since_ms = match q.since.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => t
            .parse::<jiff::Timestamp>()
            .map_err(|e| {
                ApiError::BadRequest(format!("since: {t:?} is not an RFC 3339 time: {e}"))
            })?
            .as_millisecond(),
        None => 0,
    };
    let filter = ReportFilter {
        app: q.app.filter(|a| !a.is_empty()),
        pipeline: q.pipeline.filter(|a| !a.is_empty()),
        since_ms,
    };
    let report = s.controller.drift_report(&filter).await?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}
