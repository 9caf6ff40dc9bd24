//! What every request passes before a handler sees it: a state-changing request must carry
//! JSON (or YAML, which `app create` sends) or no declared type at all — `text/plain`, form
//! and multipart bodies are what a browser may send cross-origin without a preflight, so
//! they get `415` — and a body is read once, whole, within [`Limits::body_timeout`] and
//! under [`Limits::max_body`] (`413` when larger, `408` when too slow), so a slow-drip or
//! endless body cannot hold a connection or fill memory. No CORS header is ever sent.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::serve::Limits;

/// Content types a state-changing request may declare.
fn accepted_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
        || matches!(
            essence.as_str(),
            "application/yaml" | "application/x-yaml" | "text/yaml"
        )
}

fn refuse(status: StatusCode, message: String) -> Response {
    let mut r = (
        status,
        axum::Json(json!({"error": message, "code": status.as_u16()})),
    )
        .into_response();
    // The rest of the body is not read: the connection cannot carry another request.
    r.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    r
}

/// Does the request announce a body at all?
fn has_body(req: &Request) -> bool {
    let h = req.headers();
    h.contains_key(header::TRANSFER_ENCODING)
        || h.get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

pub(crate) async fn guard(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    let changes = !matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if changes && let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let shown = ct.to_str().unwrap_or("(not text)");
        if !accepted_type(shown) {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "content type {shown:?} is not accepted on {} {}: send application/json",
                    req.method(),
                    req.uri().path()
                ),
            );
        }
    }
    if !has_body(&req) {
        return next.run(req).await;
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return too_large(limits.max_body);
    }
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(
        limits.body_timeout,
        axum::body::to_bytes(body, limits.max_body),
    )
    .await;
    let bytes = match read {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            // `to_bytes` fails either on the cap or on a broken connection.
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if over {
                return too_large(limits.max_body);
            }
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {e}"),
            );
        }
        Err(_) => {
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    limits.body_timeout.as_secs_f64()
                ),
            );
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn too_large(max: usize) -> Response {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is over {max} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::accepted_type;

    #[test]
    fn defect_10_cross_origin_form_and_text_bodies_may_not_change_state() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
            "application/yaml",
        ] {
            assert!(accepted_type(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
            "application/jsonp",
        ] {
            assert!(!accepted_type(bad), "{bad}");
        }
    }
}
