//! Applications: list (keyset pages), create or replace, read, patch (`app set`), delete
//! (optionally with their objects), sync, refresh, image updates and the resource list.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use driftless_core::users::Caller;
use driftless_engine::controller::Reason;

use crate::{ApiError, ApiState};

#[derive(Deserialize)]
pub(crate) struct Page {
    #[serde(default)]
    after: String,
    limit: Option<i64>,
    /// One line per application (what a list shows), not its whole record.
    #[serde(default)]
    summary: bool,
}

/// What the applications list shows of a record.
pub(crate) fn summary_of(a: &driftless_store::AppRecord) -> Value {
    let spec = &a.spec;
    let st = driftless_engine::AppStatus::from_stored(&a.name, a.status.clone());
    json!({
        "name": a.name,
        "project": spec["project"],
        "labels": spec["labels"].as_object().cloned().unwrap_or_default(),
        "repo": spec["source"]["repoURL"],
        "path": spec["source"]["path"],
        "targetRevision": spec["source"]["targetRevision"],
        "cluster": spec["destination"]["name"].as_str().filter(|n| !n.is_empty())
            .or(spec["destination"]["server"].as_str().filter(|n| !n.is_empty()))
            .unwrap_or("in-cluster"),
        "namespace": spec["destination"]["namespace"],
        "sync": st.sync.status,
        "health": st.health_status().map_or("Unknown", |h| h.as_str()),
        "revision": st.sync.revision,
        "lastSyncMs": st.last_sync_at_ms,
        "reconciledAtMs": st.reconciled_at_ms,
    })
}

pub(crate) async fn list_apps(
    State(s): State<ApiState>,
    Query(p): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let items = s.controller.app_records(&p.after, limit).await?;
    let next = (items.len() as i64 == limit)
        .then(|| items.last().map(|a| a.name.clone()))
        .flatten();
    if p.summary {
        let rows: Vec<Value> = items.iter().map(summary_of).collect();
        return Ok(Json(json!({"items": rows, "next": next})));
    }
    Ok(Json(json!({"items": items, "next": next})))
}

/// Creates or replaces an application from its YAML or JSON (Driftless or Argo CD format).
pub(crate) async fn create_app(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: String,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let parsed = driftless_core::app::parse(&body, "request body")
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if parsed.len() != 1 {
        return Err(ApiError::BadRequest(format!(
            "expected one Application, found {}",
            parsed.len()
        )));
    }
    let p = parsed.into_iter().next().expect("one");
    let name = p.app.name.clone();
    s.controller
        .set_app(p.app, &caller.name)
        .await
        .map_err(ApiError::from)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"application": name, "warnings": p.warnings})),
    ))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeleteQuery {
    /// Also delete the application's objects (Argo CD's cascade); default: they stay.
    #[serde(default)]
    cascade: bool,
    /// Allow deleting Namespaces, PVs, PVCs and CRDs in a cascade.
    #[serde(default)]
    confirm_critical: bool,
}

/// Stops managing an application; with `?cascade=true` its objects are deleted first.
pub(crate) async fn delete_app(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<Value>, ApiError> {
    if !s.controller.has_app(&name).await {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    if q.cascade {
        let deleted = s
            .controller
            .delete_app_cascade(&name, &caller.name, q.confirm_critical)
            .await
            .map_err(ApiError::from)?;
        return Ok(Json(
            json!({"application": name, "deleted": true, "cascade": true, "objectsDeleted": deleted}),
        ));
    }
    if !s
        .controller
        .remove_app(&name, &caller.name)
        .await
        .map_err(ApiError::from)?
    {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    Ok(Json(
        json!({"application": name, "deleted": true, "cascade": false}),
    ))
}

pub(crate) async fn get_app(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = s
        .controller
        .app_record(&name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("application {name}")))?;
    Ok(Json(
        serde_json::to_value(app).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

/// Changes fields of an application (`driftless app set`): a JSON merge patch (RFC 7386)
/// on its spec, e.g. `{"source": {"targetRevision": "v2"}, "syncPolicy": {"automated": null}}`.
/// An app-of-apps child is refused: its definition lives in Git.
pub(crate) async fn patch_app(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Json(patch): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let rec = s
        .controller
        .app_record(&name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("application {name}")))?;
    if let Some(parent) = rec.spec["parent"].as_str() {
        return Err(ApiError::BadRequest(format!(
            "application {name} is declared by application {parent}'s source; change it in Git (an edit here would be overwritten)"
        )));
    }
    if !patch.is_object() {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object (a merge patch of the application's spec)".into(),
        ));
    }
    let mut spec = rec.spec;
    merge_patch(&mut spec, &patch);
    spec["name"] = json!(name);
    let app: driftless_core::app::Application = serde_json::from_value(spec.clone())
        .map_err(|e| ApiError::BadRequest(format!("application {name}: {e}")))?;
    if app.source.repo_url.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "application {name}: source.repoURL cannot be removed"
        )));
    }
    s.controller
        .set_app(app, &caller.name)
        .await
        .map_err(ApiError::from)?;
    Ok(Json(json!({"application": name, "spec": spec})))
}

/// RFC 7386: objects merge recursively, `null` removes, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct SetImage {
    #[serde(default)]
    application: Option<String>,
    /// A pipeline's first stage instead: `PIPELINE/STAGE` (or a stage name one pipeline has).
    #[serde(default)]
    stage: Option<String>,
    /// `NAME:TAG` or `NAME@DIGEST`.
    image: String,
}

/// An image update from CI: written into the application's kustomization by a commit.
pub(crate) async fn set_image(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<SetImage>,
) -> Result<Json<Value>, ApiError> {
    let target = match (&body.application, &body.stage) {
        (Some(a), None) => {
            if !s.controller.has_app(a).await {
                return Err(ApiError::NotFound(format!("application {a}")));
            }
            a.clone()
        }
        (None, Some(stage)) => stage.clone(),
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of application or stage".into(),
            ));
        }
    };
    let done = s
        .controller
        .set_image_for(&target, &body.image, &caller.name)
        .await
        .map_err(ApiError::from)?;
    let items: Vec<Value> = done
        .iter()
        .map(|d| {
            json!({
                "application": d.application,
                "image": d.image,
                "file": d.file,
                "previous": d.previous,
                "commit": d.commit,
                "branch": d.branch,
            })
        })
        .collect();
    Ok(Json(match (&body.application, items.as_slice()) {
        (Some(_), [one]) => one.clone(),
        _ => json!({"stage": target, "items": items}),
    }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SyncOptions {
    /// Also delete live objects Git no longer declares, this once.
    #[serde(default)]
    prune: bool,
    /// Sync nothing: answer what a sync would change (the comparison and its impact).
    #[serde(default)]
    dry_run: bool,
}

pub(crate) async fn sync_app(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Option<Json<SyncOptions>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let opts = body.map(|b| b.0).unwrap_or_default();
    if !s.controller.has_app(&name).await {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    if opts.dry_run {
        let cmp = s.controller.diff(&name).await.map_err(ApiError::from)?;
        return Ok((
            StatusCode::OK,
            Json(
                json!({"application": name, "dryRun": true, "summary": cmp.summary, "comparison": cmp}),
            ),
        ));
    }
    if !s
        .controller
        .request_sync_with(&name, &caller.name, opts.prune)
        .await
        .map_err(ApiError::from)?
    {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"application": name, "queued": true, "prune": opts.prune})),
    ))
}

pub(crate) async fn resources(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !s.controller.has_app(&name).await {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    let items = s
        .controller
        .resource_tree(&name)
        .await
        .map_err(ApiError::from)?;
    Ok(Json(json!({"items": items})))
}

pub(crate) async fn refresh_app(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !s.controller.has_app(&name).await {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    // A user's refresh fetches the repository now (a webhook only marks it stale).
    s.controller.enqueue(&name, Reason::User);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"application": name, "queued": true})),
    ))
}
