//! HTTP front of the sandbox: parses Kubernetes API paths, checks the bearer token, and turns
//! store results into responses (watches: `crate::watch`, pod logs: `crate::logs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::registry::{Assets, ResourceType};
use crate::status::ApiError;
use crate::store::{ApplyOptions, ListOptions, Store};

pub struct App {
    pub store: Mutex<Store>,
    /// With `--data`: writes are answered once this journal holds them on disk.
    pub journal: Option<Arc<crate::journal::Journal>>,
    pub token: Option<String>,
    /// Requests without credentials are accepted (only ever on a loopback bind: kubectl does
    /// not send bearer tokens over plain HTTP). A wrong token is always refused.
    pub allow_anonymous: bool,
}

/// A parsed resource path.
pub(crate) struct Target {
    pub(crate) t: ResourceType,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) subresource: Option<String>,
}

fn json_response(code: u16, body: &Value) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::to_vec(body).expect("JSON serializes"),
        ))
        .expect("valid response")
}

pub(crate) fn error_response(e: &ApiError) -> Response {
    match e.body() {
        Ok(body) => json_response(e.code(), &body),
        Err(text) => Response::builder()
            .status(404)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Body::from(text))
            .expect("valid response"),
    }
}

fn version() -> Value {
    json!({"major": "1", "minor": "36", "emulationMajor": "1", "emulationMinor": "36", "minCompatibilityMajor": "1", "minCompatibilityMinor": "35",
        "gitVersion": "v1.36.2-driftless-sandbox", "gitCommit": "", "gitTreeState": "clean", "buildDate": "2026-11-22T00:00:00Z",
        "goVersion": "n/a", "compiler": "rustc", "platform": "linux/amd64"})
}

fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=APIGroupDiscoveryList"))
}

fn aggregated_response(body: &Value) -> Response {
    Response::builder()
        .status(200)
        .header(
            header::CONTENT_TYPE,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        )
        .body(Body::from(
            serde_json::to_vec(body).expect("JSON serializes"),
        ))
        .expect("valid response")
}

/// Splits `/api/v1/...` or `/apis/G/V/...` into (group, version, rest).
fn split_gv(path: &str) -> Option<(String, String, Vec<String>)> {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(String::from)
        .collect();
    match segs.first().map(String::as_str) {
        Some("api") if segs.len() >= 2 => {
            Some((String::new(), segs[1].clone(), segs[2..].to_vec()))
        }
        Some("apis") if segs.len() >= 3 => {
            Some((segs[1].clone(), segs[2].clone(), segs[3..].to_vec()))
        }
        _ => None,
    }
}

fn parse_target(store: &Store, group: &str, version: &str, rest: &[String]) -> Option<Target> {
    let reg = &store.registry;
    // /namespaces/{ns}/{plural}[/{name}[/{sub}]] for namespaced types.
    if rest.len() >= 3
        && rest[0] == "namespaces"
        && let Some(t) = reg.find(group, version, &rest[2]).filter(|t| t.namespaced)
    {
        return Some(Target {
            t: t.clone(),
            namespace: Some(rest[1].clone()),
            name: rest.get(3).cloned(),
            subresource: rest.get(4).cloned(),
        });
    }
    let t = reg.find(group, version, rest.first()?)?;
    Some(Target {
        t: t.clone(),
        namespace: None,
        name: rest.get(1).cloned(),
        subresource: rest.get(2).cloned(),
    })
}

fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    Some((decode(k)?, decode(v)?))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(
                    u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?, 16).ok()?,
                );
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).or_else(|_| {
        // kubectl sends JSON; YAML bodies are accepted too, through the project's one wrapper.
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::BadRequest("request body is not UTF-8".into()))?;
        driftless_core::yaml::parse_one(text, &Default::default())
            .map_err(|e| ApiError::BadRequest(format!("cannot decode request body: {e}")))
    })
}

pub async fn handle(
    app: Arc<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(token) = &app.token {
        let ok = match headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            Some(sent) => sent == format!("Bearer {token}"),
            None => app.allow_anonymous,
        };
        if !ok {
            return error_response(&ApiError::Unauthorized);
        }
    }
    let path = uri.path().to_string();
    let q = query(&uri);
    match path.trim_end_matches('/') {
        "/version" => return json_response(200, &version()),
        "/healthz" | "/readyz" | "/livez" => return Response::new(Body::from("ok")),
        "/api" if wants_aggregated(&headers) => {
            return aggregated_response(
                &app.store.lock().expect("store").registry.aggregated(true),
            );
        }
        "/apis" if wants_aggregated(&headers) => {
            return aggregated_response(
                &app.store.lock().expect("store").registry.aggregated(false),
            );
        }
        "/api" => {
            return json_response(
                200,
                &app.store.lock().expect("store").registry.api_versions(),
            );
        }
        "/apis" => {
            return json_response(
                200,
                &app.store.lock().expect("store").registry.api_group_list(),
            );
        }
        "/openapi/v2" => return asset("v1.36/openapi-v2.json"),
        "/openapi/v3" => return asset("v1.36/openapi-v3/index.json"),
        p if p.starts_with("/openapi/v3/") => {
            return asset(&format!(
                "v1.36/openapi-v3/{}.json",
                p.trim_start_matches("/openapi/v3/").replace('/', "_")
            ));
        }
        _ => {}
    }
    let Some((group, version, rest)) = split_gv(&path) else {
        return error_response(&ApiError::PageNotFound);
    };
    if rest.is_empty() {
        return match app
            .store
            .lock()
            .expect("store")
            .registry
            .api_resource_list(&group, &version)
        {
            Some(doc) => json_response(200, &doc),
            None => error_response(&ApiError::PageNotFound),
        };
    }
    let target = { parse_target(&app.store.lock().expect("store"), &group, &version, &rest) };
    let Some(target) = target else {
        return error_response(&ApiError::PageNotFound);
    };
    if method == Method::GET
        && target.name.is_none()
        && q.get("watch").is_some_and(|w| w == "true" || w == "1")
    {
        return crate::watch::serve(app, target, q).await;
    }
    if let (true, "pods", Some(ns), Some(name), Some("log")) = (
        method == Method::GET,
        target.t.plural.as_str(),
        &target.namespace,
        &target.name,
        target.subresource.as_deref(),
    ) && target.t.group.is_empty()
    {
        return crate::logs::serve(app.clone(), ns.clone(), name.clone(), q).await;
    }
    // Kubernetes protobuf bodies (kubectl's creates and updates of built-in kinds) are read
    // into the JSON object they encode; patches are never protobuf.
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let body = if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        if method != Method::POST && method != Method::PUT {
            return error_response(&ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})"
            )));
        }
        match crate::protobuf::decode(&body) {
            Ok(obj) => Bytes::from(serde_json::to_vec(&obj).expect("JSON serializes")),
            Err(e) => {
                return error_response(&ApiError::BadRequest(format!(
                    "the protobuf body could not be decoded: {e}"
                )));
            }
        }
    } else {
        body
    };
    let result = dispatch(&app, &method, &headers, &target, &q, &body);
    // Acknowledge a write only once it is durable (one fsync shared by concurrent writers).
    if method != Method::GET
        && let Some(j) = app.journal.clone()
    {
        let synced = tokio::task::spawn_blocking(move || j.sync()).await;
        if let Err(e) = synced.map_err(std::io::Error::other).and_then(|r| r) {
            tracing::error!(error = %e, "a sandbox write could not be made durable");
            return error_response(&ApiError::Internal(format!(
                "the write could not be persisted: {e}"
            )));
        }
    }
    match result {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    }
}

/// The media type of a PATCH body, without parameters.
fn patch_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

fn is_apply(headers: &HeaderMap) -> bool {
    patch_type(headers) == "application/apply-patch+yaml"
}

fn asset(path: &str) -> Response {
    match Assets::get(path) {
        Some(f) => Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(f.data.into_owned()))
            .expect("valid response"),
        None => error_response(&ApiError::PageNotFound),
    }
}

fn dispatch(
    app: &App,
    method: &Method,
    headers: &HeaderMap,
    target: &Target,
    q: &HashMap<String, String>,
    body: &Bytes,
) -> Result<(u16, Value), ApiError> {
    let mut store = app.store.lock().expect("store");
    let t = &target.t;
    let ns = target.namespace.as_deref().unwrap_or("");
    if t.namespaced && target.name.is_some() && target.namespace.is_none() {
        return Err(ApiError::PageNotFound);
    }
    let dry_run = q.get("dryRun").is_some_and(|d| d == "All");
    // Who writes: the fieldManager parameter, else the client's name from its User-Agent,
    // as the API server defaults it.
    let manager = q.get("fieldManager").cloned().unwrap_or_else(|| {
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .filter(|m| !m.is_empty())
            .unwrap_or("unknown")
            .to_string()
    });
    match (
        method.clone(),
        target.name.as_deref(),
        target.subresource.as_deref(),
    ) {
        (Method::GET, None, _) => {
            let opts = ListOptions {
                label_selector: q.get("labelSelector").cloned(),
                field_selector: q.get("fieldSelector").cloned(),
                limit: q.get("limit").and_then(|l| l.parse().ok()),
                continue_token: q.get("continue").cloned().filter(|c| !c.is_empty()),
            };
            store
                .list(t, target.namespace.as_deref(), &opts)
                .map(|v| (200, v))
        }
        (Method::GET, Some(name), None | Some("status")) => {
            store.get(t, ns, name).map(|v| (200, v))
        }
        (Method::POST, None, _) => {
            if target.namespace.is_none() && t.namespaced {
                return Err(ApiError::MethodNotAllowed(
                    "POST needs a namespace in the path for namespaced resources".into(),
                ));
            }
            store
                .create_as(t, ns, parse_body(body)?, dry_run, &manager)
                .map(|v| (201, v))
        }
        (Method::PUT, Some(name), Some("status")) => store
            .update_status(t, ns, name, &parse_body(body)?, &manager)
            .map(|v| (200, v)),
        (Method::PUT, Some(name), None) => store
            .update(t, ns, name, parse_body(body)?, &manager)
            .map(|v| (200, v)),
        (Method::PATCH, Some(name), Some("status")) if !is_apply(headers) => store
            .patch_status(
                t,
                ns,
                name,
                &patch_type(headers),
                &parse_body(body)?,
                &manager,
            )
            .map(|v| (200, v)),
        (Method::PATCH, Some(name), None | Some("status")) => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            if ct == "application/apply-patch+yaml" {
                let force = q.get("force").is_some_and(|f| f == "true");
                let manager = q.get("fieldManager").cloned().unwrap_or_default();
                let opts = ApplyOptions {
                    manager,
                    force,
                    dry_run,
                };
                return store.apply(t, ns, name, parse_body(body)?, &opts);
            }
            store
                .patch(t, ns, name, &ct, &parse_body(body)?, &manager)
                .map(|v| (200, v))
        }
        (Method::GET, Some(name), Some("scale")) if t.subresources.iter().any(|s| s == "scale") => {
            store.get(t, ns, name).map(|v| (200, scale_of(&v)))
        }
        // `kubectl scale`: the replicas of the parent, written as an update by the caller.
        (Method::PATCH | Method::PUT, Some(name), Some("scale"))
            if t.subresources.iter().any(|s| s == "scale") =>
        {
            let replicas = parse_body(body)?["spec"]["replicas"]
                .as_i64()
                .ok_or_else(|| {
                    ApiError::BadRequest("a scale update needs spec.replicas (an integer)".into())
                })?;
            store
                .patch(
                    t,
                    ns,
                    name,
                    "application/merge-patch+json",
                    &serde_json::json!({"spec": {"replicas": replicas}}),
                    &manager,
                )
                .map(|v| (200, scale_of(&v)))
        }
        (Method::DELETE, Some(name), None) => {
            let opts = parse_body(body)?;
            let propagation = q
                .get("propagationPolicy")
                .cloned()
                .or_else(|| opts["propagationPolicy"].as_str().map(String::from));
            store
                .delete(t, ns, name, propagation.as_deref())
                .map(|v| (200, v))
        }
        (m, _, _) => Err(ApiError::MethodNotAllowed(format!(
            "{m} is not supported on this path"
        ))),
    }
}

/// The `autoscaling/v1` Scale of a Deployment, StatefulSet or ReplicaSet.
fn scale_of(obj: &serde_json::Value) -> serde_json::Value {
    let m = &obj["metadata"];
    let selector = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|l| {
            l.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    serde_json::json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}
