//! One node of an application's resource tree, and the flow diagram:
//!
//! - `GET /api/v1/applications/{name}/resource?group=&version=&kind=&namespace=&name=`:
//!   `{node, live, desired, diff}` — manifests with Secret values masked; desired and diff
//!   only for objects the application tracks (children belong to their controllers)
//! - `GET /api/v1/applications/{name}/resource/events?...`: the Kubernetes Events about it
//! - `GET /api/v1/applications/{name}/pods/{namespace}/{pod}/log?container=&tailLines=&follow=&timestamps=&previous=`:
//!   the pod's log lines as `text/plain`, streamed as the API server sends them (with
//!   `follow`, until the container stops or the client goes away)
//! - `GET /api/v1/graph?pipeline=P|application=A`: the GitOps flow as Mermaid text and the
//!   nodes that link to a page (see `driftless_engine::flow`)
//!
//! Only objects of the application's tree are answered, with the roles of every other read.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use driftless_engine::controller::NodeRef;
use driftless_engine::flow::Scope;

use crate::{ApiError, ApiState};

/// Which object of the tree (query parameters).
#[derive(Debug, Deserialize)]
pub struct NodeQuery {
    #[serde(default)]
    group: String,
    version: String,
    kind: String,
    #[serde(default)]
    namespace: String,
    name: String,
}

impl From<NodeQuery> for NodeRef {
    fn from(q: NodeQuery) -> NodeRef {
        NodeRef {
            group: q.group,
            version: q.version,
            kind: q.kind,
            namespace: q.namespace,
            name: q.name,
        }
    }
}

/// An engine error: what is not in the application's tree is a 404, the rest a 500.
async fn known(s: &ApiState, name: &str) -> Result<(), ApiError> {
    if s.controller.has_app(name).await {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("application {name}")))
    }
}

pub async fn detail(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<NodeQuery>,
) -> Result<Json<Value>, ApiError> {
    known(&s, &name).await?;
    let d = s
        .controller
        .resource_detail(&name, &q.into())
        .await
        .map_err(ApiError::from)?;
    Ok(Json(d))
}

pub async fn events(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<NodeQuery>,
) -> Result<Json<Value>, ApiError> {
    known(&s, &name).await?;
    let items = s
        .controller
        .resource_events(&name, &q.into())
        .await
        .map_err(ApiError::from)?;
    Ok(Json(json!({"items": items})))
}

/// The log parameters of the API server's `pods/{name}/log`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogQuery {
    container: Option<String>,
    tail_lines: Option<i64>,
    #[serde(default)]
    follow: bool,
    #[serde(default)]
    timestamps: bool,
    #[serde(default)]
    previous: bool,
}

pub async fn logs(
    State(s): State<ApiState>,
    Path((name, namespace, pod)): Path<(String, String, String)>,
    Query(q): Query<LogQuery>,
) -> Result<Response, ApiError> {
    known(&s, &name).await?;
    if q.tail_lines.is_some_and(|n| n < 0) {
        return Err(ApiError::BadRequest(
            "tailLines: must not be negative".into(),
        ));
    }
    let opts = driftless_kube::LogOptions {
        container: q.container.filter(|c| !c.is_empty()),
        follow: q.follow,
        tail_lines: q.tail_lines,
        timestamps: q.timestamps,
        previous: q.previous,
    };
    let lines = s
        .controller
        .pod_logs(&name, &namespace, &pod, &opts)
        .await
        .map_err(ApiError::from)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            // Tells proxies not to buffer a followed log.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(lines),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct GraphQuery {
    pipeline: Option<String>,
    application: Option<String>,
}

pub async fn graph(
    State(s): State<ApiState>,
    Query(q): Query<GraphQuery>,
) -> Result<Json<Value>, ApiError> {
    let scope = match (q.pipeline, q.application) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give pipeline or application, not both".into(),
            ));
        }
        (Some(p), None) => {
            if s.controller.pipeline(&p).await.is_none() {
                return Err(ApiError::NotFound(format!("pipeline {p}")));
            }
            Scope::Pipeline(p)
        }
        (None, Some(a)) => {
            known(&s, &a).await?;
            Scope::App(a)
        }
        (None, None) => Scope::All,
    };
    let flow = s.controller.flow_graph(&scope).await;
    Ok(Json(json!({"mermaid": flow.mermaid, "links": flow.links})))
}
