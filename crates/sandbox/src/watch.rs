//! Watches: newline-delimited JSON events (the format kube-rs and kubectl read), replayed from
//! a resourceVersion (or the current objects as ADDED), then live; bookmarks once a second
//! when asked for, `timeoutSeconds`, and one ERROR event (`410 Expired`) when the history no
//! longer reaches back far enough.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use driftless_core::selector::LabelSelector;
use serde_json::{Value, json};

use crate::registry::ResourceType;
use crate::server::{App, Target, error_response};
use crate::status::ApiError;
use crate::store::WatchEvent;

fn event_matches(
    target: &Target,
    labels: &LabelSelector,
    name_field: Option<&str>,
    e: &WatchEvent,
) -> bool {
    e.group == target.t.group
        && e.plural == target.t.plural
        && target
            .namespace
            .as_deref()
            .is_none_or(|n| !target.t.namespaced || n == e.namespace)
        && name_field.is_none_or(|n| e.name == n)
        // Only a label selector needs the object itself.
        && (labels.0.is_empty() || {
            let obj: Value = serde_json::from_slice(&e.object).unwrap_or_default();
            labels.matches(obj["metadata"]["labels"].as_object())
        })
}

/// One line of a watch stream. The stored JSON is spliced in as is when it was written in the
/// version the watch asked for (nearly always); only other versions are re-encoded.
fn event_line(t: &ResourceType, e: &WatchEvent) -> Bytes {
    let api_version = t.api_version();
    let mut line = Vec::with_capacity(e.object.len() + 40);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(e.kind.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    if e.api_version == api_version {
        line.extend_from_slice(&e.object);
    } else {
        let mut obj: Value = serde_json::from_slice(&e.object).unwrap_or_default();
        obj["apiVersion"] = json!(api_version);
        obj["kind"] = json!(t.kind);
        serde_json::to_writer(&mut line, &obj).expect("JSON serializes");
    }
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

/// Serves a watch of `target`.
pub async fn serve(app: Arc<App>, target: Target, q: HashMap<String, String>) -> Response {
    let labels =
        match LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or("")) {
            Ok(l) => l,
            Err(e) => return error_response(&ApiError::BadRequest(e.to_string())),
        };
    let name_field = q
        .get("fieldSelector")
        .and_then(|f| f.strip_prefix("metadata.name="))
        .map(String::from);
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let rv = q.get("resourceVersion").cloned().unwrap_or_default();
    let (initial, mut rx, mut last_rv) = {
        let store = app.store.lock().expect("store");
        let rx = store.latest.subscribe();
        let initial = if rv.is_empty() || rv == "0" {
            Ok(store.snapshot(&target.t, target.namespace.as_deref()))
        } else {
            match rv.parse::<u64>() {
                Ok(n) => store.events_since(n),
                Err(_) => Err(ApiError::BadRequest(format!(
                    "invalid resource version: {rv}"
                ))),
            }
        };
        (initial, rx, store.resource_version())
    };
    let initial = match initial {
        Ok(i) => i,
        // A watch that cannot start answers 200 with one ERROR event, as the real server does.
        Err(e) => {
            let body = e.body().unwrap_or_default();
            let line = format!("{}\n", json!({"type": "ERROR", "object": body}));
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(line))
                .expect("valid response");
        }
    };
    let (tx, out) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    tokio::spawn(async move {
        for e in initial
            .iter()
            .filter(|e| event_matches(&target, &labels, name_field.as_deref(), e))
        {
            if tx.send(Ok(event_line(&target.t, e))).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tick.tick(), if bookmarks => {
                    let mark = json!({"type": "BOOKMARK", "object": {"kind": target.t.kind, "apiVersion": target.t.api_version(), "metadata": {"resourceVersion": last_rv.to_string()}}});
                    if tx.send(Ok(Bytes::from(format!("{mark}\n")))).await.is_err() {
                        return;
                    }
                }
                changed = rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let news = app.store.lock().expect("store").events_since(last_rv);
                    let news = match news {
                        Ok(n) => n,
                        // Fell further behind than the history keeps: tell the client, which
                        // re-lists, as a real server does with a too-old resourceVersion.
                        Err(e) => {
                            let line = format!("{}\n", json!({"type": "ERROR", "object": e.body().unwrap_or_default()}));
                            let _ = tx.send(Ok(Bytes::from(line))).await;
                            return;
                        }
                    };
                    for e in &news {
                        last_rv = e.rv;
                        if event_matches(&target, &labels, name_field.as_deref(), e) && tx.send(Ok(event_line(&target.t, e))).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    let stream = tokio_stream(out);
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .expect("valid response")
}

/// An mpsc receiver as a stream, without pulling in tokio-stream.
fn tokio_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
