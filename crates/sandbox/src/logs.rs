//! `GET /api/v1/namespaces/{ns}/pods/{name}/log`: generated, deterministic log lines for a
//! pod's container (`container`, `tailLines`, `timestamps`, `follow`). A running container has
//! written a few start-up lines at its start time, then one line per second since; a finished
//! one its lines up to its end. `follow=true` streams new lines once a second (tokio's clock)
//! until the pod goes away, the stream reaches [`FOLLOW_LIMIT`] lines, or the client leaves.
//! The errors are the API server's: 404 for a missing pod, 400 naming the containers to
//! choose from, and for a container that has not started.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use serde_json::Value;

use crate::server::App;
use crate::status::ApiError;

/// Lines a log holds at most, and a follow stream sends at most.
const LOG_LIMIT: u64 = 10_000;
const FOLLOW_LIMIT: u64 = 3_600;

/// Seconds since the epoch of an RFC 3339 `...Z` timestamp (as the sandbox writes them).
fn epoch(ts: &str) -> Option<u64> {
    let b = ts.as_bytes();
    let num = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    if b.len() < 20 {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (Howard Hinnant), the inverse of `meta::rfc3339`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// Line `i` of a container's log (without timestamp).
fn line(pod: &str, container: &Value, i: u64, finished: bool, total: u64) -> String {
    let name = container["name"].as_str().unwrap_or("app");
    let image = container["image"].as_str().unwrap_or("?");
    let port = container["ports"][0]["containerPort"]
        .as_i64()
        .unwrap_or(8080);
    match i {
        0 => format!("{name}: starting {image} in pod {pod}"),
        1 => format!("{name}: configuration loaded (3 settings)"),
        2 if !finished => format!("{name}: listening on 0.0.0.0:{port}"),
        _ if finished && i + 1 == total => format!("{name}: work complete, exiting"),
        _ if finished => format!("{name}: step {} of {} done", i - 1, total - 2),
        _ if i.is_multiple_of(10) => format!("{name}: GET /healthz 200 ({} ms)", 1 + i % 7),
        _ => format!(
            "{name}: GET /api/items/{} 200 ({} ms)",
            i % 97,
            2 + (i * 13) % 41
        ),
    }
}

struct Log {
    pod: String,
    container: Value,
    start: u64,
    /// The container ended (lines stop there).
    finished: bool,
}

impl Log {
    /// Lines written by `now` (epoch seconds).
    fn count(&self, now: u64) -> u64 {
        if self.finished {
            return 5;
        }
        (3 + now.saturating_sub(self.start)).min(LOG_LIMIT)
    }

    fn render(&self, i: u64, timestamps: bool) -> String {
        let total = self.count(u64::MAX);
        let text = line(&self.pod, &self.container, i, self.finished, total);
        if timestamps {
            let ts = crate::meta::rfc3339(self.start + i);
            format!("{}.000000000Z {text}\n", ts.trim_end_matches('Z'))
        } else {
            format!("{text}\n")
        }
    }
}

/// The log of the container chosen by `q`, or the server's error.
fn open(pod: &Value, q: &HashMap<String, String>) -> Result<Log, ApiError> {
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let containers: Vec<&Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) => *containers
            .iter()
            .find(|x| x["name"] == c.as_str())
            .ok_or_else(|| {
                ApiError::BadRequest(format!("container {c} is not valid for pod {name}"))
            })?,
        None if containers.len() == 1 => containers[0],
        None => {
            let names: Vec<&str> = containers
                .iter()
                .filter_map(|c| c["name"].as_str())
                .collect();
            return Err(ApiError::BadRequest(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let cname = container["name"].as_str().unwrap_or_default();
    let state = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == cname)
        .map(|s| s["state"].clone());
    let started = state.as_ref().and_then(|s| {
        s["running"]["startedAt"]
            .as_str()
            .or(s["terminated"]["startedAt"].as_str())
            .and_then(epoch)
    });
    let Some(start) = started else {
        let why = match state.as_ref().and_then(|s| s["waiting"]["reason"].as_str()) {
            Some("ImagePullBackOff" | "ErrImagePull") => "trying and failing to pull image",
            _ => "ContainerCreating",
        };
        return Err(ApiError::BadRequest(format!(
            "container \"{cname}\" in pod \"{name}\" is waiting to start: {why}"
        )));
    };
    Ok(Log {
        pod: name,
        container: container.clone(),
        start,
        finished: state.is_some_and(|s| s.get("terminated").is_some()),
    })
}

fn now_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Serves a pod's log.
pub async fn serve(app: Arc<App>, ns: String, pod: String, q: HashMap<String, String>) -> Response {
    let (log, pods_t) = {
        let store = app.store.lock().expect("store");
        let t = store
            .registry
            .find("", "v1", "pods")
            .expect("pods are built in")
            .clone();
        let found = store.get(&t, &ns, &pod).and_then(|p| open(&p, &q));
        (found, t)
    };
    let log = match log {
        Ok(l) => l,
        Err(e) => return crate::server::error_response(&e),
    };
    let timestamps = q.get("timestamps").is_some_and(|t| t == "true");
    let written = log.count(now_epoch());
    let from = match q.get("tailLines").and_then(|t| t.parse::<u64>().ok()) {
        Some(n) => written.saturating_sub(n),
        None => 0,
    };
    let text: String = (from..written).map(|i| log.render(i, timestamps)).collect();
    let follow = q.get("follow").is_some_and(|f| f == "true") && !log.finished;
    let plain = |body: Body| {
        Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(body)
            .expect("valid response")
    };
    if !follow {
        return plain(Body::from(text));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        if tx.send(Ok(Bytes::from(text))).await.is_err() {
            return;
        }
        let mut next = written;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        while next < written + FOLLOW_LIMIT && next < LOG_LIMIT {
            tick.tick().await;
            let alive = app
                .store
                .lock()
                .expect("store")
                .get(&pods_t, &ns, &pod)
                .is_ok();
            // A client that went away closes the channel: the send fails and this ends.
            if !alive
                || tx
                    .send(Ok(Bytes::from(log.render(next, timestamps))))
                    .await
                    .is_err()
            {
                return;
            }
            next += 1;
        }
    });
    plain(Body::from_stream(futures_util::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
    )))
}
