//! Applications: list (keyset pages), create or replace, read, patch (`app set`), delete
//! (optionally with their objects), sync, refresh, image updates and the resource list.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Value, json};

use driftless_core::users::Caller;
use driftless_engine::controller::Reason;

use crate::types::*;
use crate::{ApiError, ApiState};

/// What the applications list shows of a record.
pub(crate) fn summary_of(a: &AppView) -> AppSummary {
    let (spec, st) = (&a.spec, &a.status);
    let text = |v: &Value| v.as_str().filter(|n| !n.is_empty()).map(str::to_string);
    AppSummary {
        name: a.name.clone(),
        project: spec["project"].clone(),
        labels: spec["labels"]
            .as_object()
            .map(|m| m.clone().into_iter().collect())
            .unwrap_or_default(),
        repo: spec["source"]["repoURL"].clone(),
        path: spec["source"]["path"].clone(),
        target_revision: spec["source"]["targetRevision"].clone(),
        cluster: text(&spec["destination"]["name"])
            .or_else(|| text(&spec["destination"]["server"]))
            .unwrap_or_else(|| "in-cluster".into()),
        namespace: spec["destination"]["namespace"].clone(),
        sync: st.sync.status,
        health: st
            .health_status()
            .map_or("Unknown", |h| h.as_str())
            .to_string(),
        revision: st.sync.revision.clone(),
        last_sync_ms: st.last_sync_at_ms,
        reconciled_at_ms: st.reconciled_at_ms,
    }
}

pub(crate) async fn list_apps(
    State(s): State<ApiState>,
    Query(p): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let records = s.controller.app_records(&p.after, limit).await?;
    let next = (records.len() as i64 == limit)
        .then(|| records.last().map(|a| a.name.clone()))
        .flatten();
    let items: Vec<AppView> = records.into_iter().map(AppView::of).collect();
    Ok(Json(if p.summary {
        json!(Page {
            items: items.iter().map(summary_of).collect(),
            next,
        })
    } else {
        json!(Page { items, next })
    }))
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
        Json(json!(AppCreated {
            application: name,
            warnings: p.warnings,
        })),
    ))
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
        return Ok(Json(json!(AppDeleted {
            application: name,
            deleted: true,
            cascade: true,
            objects_deleted: Some(deleted),
        })));
    }
    if !s
        .controller
        .remove_app(&name, &caller.name)
        .await
        .map_err(ApiError::from)?
    {
        return Err(ApiError::NotFound(format!("application {name}")));
    }
    Ok(Json(json!(AppDeleted {
        application: name,
        deleted: true,
        cascade: false,
        objects_deleted: None,
    })))
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
    Ok(Json(json!(AppView::of(app))))
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
    Ok(Json(json!(AppPatched {
        application: name,
        spec,
    })))
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

/// An image update from CI: written into the application's kustomization by a commit.
pub(crate) async fn set_image(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<SetImageRequest>,
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
    let mut items: Vec<ImageSet> = done
        .into_iter()
        .map(|d| ImageSet {
            application: d.application,
            image: d.image,
            file: d.file,
            previous: d.previous,
            commit: d.commit,
            branch: d.branch,
        })
        .collect();
    Ok(Json(match (&body.application, items.len()) {
        (Some(_), 1) => json!(items.remove(0)),
        _ => json!(StageImageSet {
            stage: target,
            items,
        }),
    }))
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
            Json(json!(DryRun {
                application: name,
                dry_run: true,
                summary: cmp.summary.clone(),
                comparison: cmp,
            })),
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
        Json(json!(Queued {
            prune: Some(opts.prune),
            ..Queued::new(&name)
        })),
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
    Ok(Json(json!(Items { items })))
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
    Ok((StatusCode::ACCEPTED, Json(json!(Queued::new(&name)))))
}
