//! Git webhooks: GitHub, GitLab, Bitbucket, Gitea and a generic HMAC receiver. The body is
//! read once (by [`crate::guard`], within the body timeout) and capped at [`MAX_BODY`]; the
//! signature (or GitLab's token) is checked against those raw bytes **before** anything is
//! parsed — a bad or missing one is 401 naming the header expected — and a webhook only marks
//! repositories changed and queues their apps: the fetch is the engine's own, once per
//! repository and commit.
//!
//! Signatures: GitHub and Bitbucket `X-Hub-Signature-256` / `X-Hub-Signature`
//! (`sha256=<hex HMAC-SHA256>`), Gitea `X-Gitea-Signature` (hex), generic
//! `X-Driftless-Signature` (`sha256=<hex>`), GitLab `X-Gitlab-Token` (the secret itself).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{ApiError, ApiState};

/// Largest payload accepted (GitHub caps its own at 25 MB; pushes are far smaller).
pub const MAX_BODY: usize = 1 << 20;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn hmac_ok(secret: &[u8], body: &[u8], given_hex: &str) -> bool {
    let Ok(given) = hex_decode(given_hex.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

fn hex_decode(s: &str) -> Result<Vec<u8>, ()> {
    if !s.len().is_multiple_of(2) {
        return Err(());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| ()))
        .collect()
}

/// Checks the provider's proof of the secret on the raw body.
fn verify(provider: &str, headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<(), ApiError> {
    let sha256 = |h: Option<&str>| {
        h.and_then(|v| v.strip_prefix("sha256="))
            .is_some_and(|hex| hmac_ok(secret, body, hex))
    };
    let ok = match provider {
        "github" => sha256(header(headers, "x-hub-signature-256")),
        "bitbucket" => sha256(header(headers, "x-hub-signature")),
        "gitea" => {
            header(headers, "x-gitea-signature").is_some_and(|hex| hmac_ok(secret, body, hex))
        }
        "generic" => sha256(header(headers, "x-driftless-signature")),
        "gitlab" => header(headers, "x-gitlab-token")
            .is_some_and(|t| bool::from(t.as_bytes().ct_eq(secret))),
        other => {
            return Err(ApiError::NotFound(format!(
                "webhook provider `{other}` (known: github, gitlab, bitbucket, gitea, generic)"
            )));
        }
    };
    if ok {
        Ok(())
    } else {
        let proof = match provider {
            "github" => "X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>",
            "bitbucket" => "X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>",
            "gitea" => "X-Gitea-Signature: <hex HMAC-SHA256 of the body>",
            "gitlab" => "X-Gitlab-Token: <the webhook secret>",
            _ => "X-Driftless-Signature: sha256=<hex HMAC-SHA256 of the body>",
        };
        Err(ApiError::BadSignature(format!(
            "the {provider} webhook signature is missing or does not match the configured secret (expected {proof}); the body was not parsed"
        )))
    }
}

/// The commit a push payload says the branch now points at (absent for tags deleted, or
/// providers that do not say): with it, a storm of webhooks costs one fetch.
fn pushed_commit(provider: &str, v: &Value) -> Option<String> {
    let ptrs: &[&str] = match provider {
        "github" | "gitea" => &["/after"],
        "gitlab" => &["/checkout_sha", "/after"],
        "bitbucket" => &["/push/changes/0/new/target/hash"],
        _ => &["/revision", "/after"],
    };
    ptrs.iter()
        .find_map(|p| v.pointer(p).and_then(Value::as_str))
        // A deleted branch reports the zero commit.
        .filter(|s| !s.is_empty() && !s.bytes().all(|b| b == b'0'))
        .map(String::from)
}

/// Repository URLs named by a push payload.
fn repo_urls(provider: &str, v: &Value) -> Vec<String> {
    let ptrs: &[&str] = match provider {
        "github" | "gitea" => &[
            "/repository/clone_url",
            "/repository/ssh_url",
            "/repository/html_url",
        ],
        "gitlab" => &[
            "/project/git_http_url",
            "/project/git_ssh_url",
            "/project/web_url",
        ],
        "bitbucket" => &["/repository/links/html/href"],
        _ => &["/repoURL"],
    };
    ptrs.iter()
        .filter_map(|p| v.pointer(p).and_then(Value::as_str))
        .map(String::from)
        .collect()
}

pub async fn receive(
    State(s): State<ApiState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Some(secret) = s.webhook_secret.as_deref() else {
        return Err(ApiError::NotFound("webhooks (no webhook secret is configured: start `driftless up` with DRIFTLESS_WEBHOOK_SECRET, or give a Repository a webhookSecret and use /webhooks/{provider}/{repository})".into()));
    };
    let (urls, sha) = verified_urls(&provider, &headers, &body, secret.as_bytes())?;
    let queued = s.controller.source_pushed(&urls, sha.as_deref()).await;
    Ok(Json(json!({"repositories": urls, "queued": queued})))
}

/// A webhook for one repository definition, verified with that repository's own secret;
/// it can only trigger fetches of the URLs that definition covers.
pub async fn receive_for_repository(
    State(s): State<ApiState>,
    Path((provider, repository)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let unknown = || ApiError::NotFound(format!("repository {repository} with a webhookSecret"));
    let repo = s.controller.repository(&repository).ok_or_else(unknown)?;
    let secret = repo
        .webhook_secret
        .as_ref()
        .ok_or_else(unknown)?
        .resolve()
        .map_err(|e| {
            tracing::warn!(repository = %repository, "webhook secret unavailable: {e}");
            ApiError::Internal(format!("repository {repository}: webhookSecret: {e}"))
        })?;
    let (urls, sha) = verified_urls(&provider, &headers, &body, secret.as_bytes())?;
    let urls: Vec<String> = urls
        .into_iter()
        .filter(|u| driftless_engine::controller::repositories::Repositories::covers(&repo, u))
        .collect();
    if urls.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "the {provider} payload names no URL of repository {repository} ({})",
            driftless_git::url::redact(&repo.url)
        )));
    }
    let queued = s.controller.source_pushed(&urls, sha.as_deref()).await;
    Ok(Json(json!({"repositories": urls, "queued": queued})))
}

/// Checks size and signature, then parses: the repository URLs a verified payload names and
/// the commit pushed, when it says.
fn verified_urls(
    provider: &str,
    headers: &HeaderMap,
    body: &[u8],
    secret: &[u8],
) -> Result<(Vec<String>, Option<String>), ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::BadRequest(format!(
            "webhook body over {MAX_BODY} bytes"
        )));
    }
    verify(provider, headers, body, secret)?;
    // Only a verified body is parsed.
    let payload: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("webhook body is not JSON: {e}")))?;
    let urls = repo_urls(provider, &payload);
    if urls.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "the {provider} payload names no repository"
        )));
    }
    Ok((urls, pushed_commit(provider, &payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn signatures_are_checked_per_provider() {
        let body = br#"{"repository": {"clone_url": "https://git.example.com/o/r.git"}}"#;
        let mut h = HeaderMap::new();
        h.insert(
            "x-hub-signature-256",
            format!("sha256={}", sign("s3", body)).parse().unwrap(),
        );
        assert!(verify("github", &h, body, b"s3").is_ok());
        assert!(verify("github", &h, body, b"other").is_err());
        assert!(verify("github", &h, b"tampered", b"s3").is_err());
        let mut g = HeaderMap::new();
        g.insert("x-gitea-signature", sign("s3", body).parse().unwrap());
        assert!(verify("gitea", &g, body, b"s3").is_ok());
        let mut l = HeaderMap::new();
        l.insert("x-gitlab-token", "s3".parse().unwrap());
        assert!(verify("gitlab", &l, body, b"s3").is_ok());
        assert!(verify("gitlab", &HeaderMap::new(), body, b"s3").is_err());
        assert!(matches!(
            verify("svn", &h, body, b"s3"),
            Err(ApiError::NotFound(_))
        ));
    }

    /// Defect 15: the 401 names the signature header the provider must send, never a bearer
    /// token, and says the body was not parsed.
    #[test]
    fn defect_15_a_bad_signature_is_refused_naming_the_signature_header() {
        let body = b"not even JSON";
        for (provider, header) in [
            ("github", "X-Hub-Signature-256"),
            ("gitea", "X-Gitea-Signature"),
            ("gitlab", "X-Gitlab-Token"),
            ("bitbucket", "X-Hub-Signature"),
            ("generic", "X-Driftless-Signature"),
        ] {
            let Err(ApiError::BadSignature(m)) = verify(provider, &HeaderMap::new(), body, b"s")
            else {
                panic!("{provider}: not a signature error");
            };
            assert!(m.contains(header), "{provider}: {m}");
            assert!(m.contains("not parsed"), "{m}");
            assert!(!m.to_lowercase().contains("bearer"), "{m}");
        }
    }

    #[test]
    fn payloads_name_their_repositories() {
        let gl = json!({"project": {"git_http_url": "https://gl/g/r.git", "git_ssh_url": "git@gl:g/r.git"}});
        assert_eq!(
            repo_urls("gitlab", &gl),
            ["https://gl/g/r.git", "git@gl:g/r.git"]
        );
        let bb = json!({"repository": {"links": {"html": {"href": "https://bitbucket.org/w/r"}}}});
        assert_eq!(repo_urls("bitbucket", &bb), ["https://bitbucket.org/w/r"]);
    }
}
