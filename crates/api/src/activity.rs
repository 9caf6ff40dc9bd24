//! What happens across the engine: the server-sent event stream and the audit log (with its
//! hash-chain verification).

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use driftless_engine::controller::AuditCheck;
use driftless_store::AuditQuery;

use crate::{ApiError, ApiState};

#[derive(Deserialize)]
pub(crate) struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    #[serde(default)]
    after: i64,
    limit: Option<i64>,
}

/// Server-sent events: `status` (an application's new status) and `event` (drift, syncs,
/// errors) as they happen; `lagged` when this subscriber fell behind and missed some.
pub(crate) async fn stream(
    State(s): State<ApiState>,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let rx = s.controller.subscribe_updates();
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let ev = match rx.recv().await {
            // Every reconcile's end: the engine's own signal, not news for a browser.
            Ok(update) if update.is_internal() => Event::default().comment(""),
            Ok(update) => Event::default()
                .event(update.name())
                .data(serde_json::to_string(&update).unwrap_or_default()),
            Err(RecvError::Lagged(n)) => Event::default()
                .event("lagged")
                .data(json!({"missed": n}).to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(ev), rx))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

pub(crate) async fn audit(
    State(s): State<ApiState>,
    Query(q): Query<AuditParams>,
) -> Result<Json<Value>, ApiError> {
    let entries = s
        .controller
        .audit_entries(&AuditQuery {
            actor: q.actor,
            action: q.action,
            target_prefix: q.target,
            after_seq: q.after,
            limit: q.limit.unwrap_or(100).clamp(1, 1000),
        })
        .await?;
    Ok(Json(json!({"items": entries})))
}

pub(crate) async fn audit_verify(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(match s.controller.verify_audit().await? {
        AuditCheck::Intact { entries } => json!({"intact": true, "entries": entries}),
        AuditCheck::Tampered { message } => json!({"intact": false, "error": message}),
    }))
}
