//! Commit statuses on the deployed commit: GitHub (`POST /repos/{owner}/{repo}/statuses/{sha}`)
//! and GitLab (`POST /projects/{path}/statuses/{sha}`). Both are idempotent for a given state
//! and context, so a resend after a crash changes nothing.
//!
//! Settings: `token`, and `apiURL` (GitHub's `enterpriseBaseURL` is accepted too) so GitHub
//! Enterprise, self-hosted GitLab and tests' local receivers work. The template section
//! (`github` / `gitlab`) has `repoURLPath`, `revisionPath` and `status: {state, label|name,
//! targetURL, description}`; the repository and commit default to the application's.

use futures_util::future::{BoxFuture, FutureExt};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{HttpClient, Request};
use super::{SendError, Service, message_text, section};
use crate::outbox::OutboxMessage;
use crate::secret::{Scrubber, Secret};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Settings {
    #[serde(default)]
    token: Option<Secret>,
    #[serde(default, alias = "apiURL", alias = "enterpriseBaseURL")]
    api_url: Option<String>,
    #[serde(default, rename = "appID")]
    app_id: Option<Value>,
}

#[derive(Clone, Copy, PartialEq)]
enum Forge {
    Github,
    Gitlab,
}

pub(crate) struct CommitStatus {
    forge: Forge,
    token: Secret,
    api: String,
    http: HttpClient,
    scrubber: Scrubber,
}

impl CommitStatus {
    pub fn github(s: Settings, http: HttpClient, scrubber: Scrubber) -> Result<Self, String> {
        if s.app_id.is_some() {
            return Err("GitHub App authentication (appID, installationID, privateKey) is not supported; set `token`".into());
        }
        Self::new(Forge::Github, s, "https://api.github.com", http, scrubber)
    }

    pub fn gitlab(s: Settings, http: HttpClient, scrubber: Scrubber) -> Result<Self, String> {
        Self::new(
            Forge::Gitlab,
            s,
            "https://gitlab.com/api/v4",
            http,
            scrubber,
        )
    }

    fn new(
        forge: Forge,
        s: Settings,
        default_api: &str,
        http: HttpClient,
        scrubber: Scrubber,
    ) -> Result<Self, String> {
        let token = s.token.ok_or("`token` is required")?;
        let api = s
            .api_url
            .unwrap_or_else(|| default_api.into())
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            forge,
            token,
            api,
            http,
            scrubber,
        })
    }

    fn request(&self, m: &OutboxMessage) -> Result<Request, SendError> {
        let kind = if self.forge == Forge::Github {
            "github"
        } else {
            "gitlab"
        };
        let sec = section(m, kind);
        let field = |v: &Value, f: &str| {
            v.get(f)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        let repo = repo_path(&field(sec, "repoURLPath")).ok_or_else(|| {
            SendError::permanent(format!(
                "{kind}: cannot tell the repository from repoURLPath"
            ))
        })?;
        let sha = field(sec, "revisionPath");
        if sha.is_empty() || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(SendError::permanent(format!(
                "{kind}: revision `{sha}` is not a commit id"
            )));
        }
        let status = sec.get("status").unwrap_or(&Value::Null);
        let state = field(status, "state");
        let description: String = {
            let d = field(status, "description");
            if d.is_empty() {
                message_text(m)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            } else {
                d
            }
        }
        .chars()
        .take(140)
        .collect();
        let target = field(status, "targetURL");
        let mut req = match self.forge {
            Forge::Github => {
                let label = field(status, "label");
                let mut body =
                    json!({"state": state, "context": label, "description": description});
                if !target.is_empty() {
                    body["target_url"] = json!(target);
                }
                let mut r = Request::new(
                    Method::POST,
                    format!("{}/repos/{repo}/statuses/{sha}", self.api),
                )
                .json(&body);
                r.headers
                    .push(("Accept".into(), "application/vnd.github+json".into()));
                r.bearer = Some(self.token.clone());
                r
            }
            Forge::Gitlab => {
                let name = Some(field(status, "name"))
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| field(status, "label"));
                let state = match state.as_str() {
                    "failure" | "error" => "failed".to_owned(),
                    _ => state,
                };
                let mut body = json!({"state": state, "name": name, "description": description});
                if !target.is_empty() {
                    body["target_url"] = json!(target);
                }
                let project = repo.replace('/', "%2F");
                Request::new(
                    Method::POST,
                    format!("{}/projects/{project}/statuses/{sha}", self.api),
                )
                .json(&body)
                .header("PRIVATE-TOKEN", self.token.expose())
            }
        };
        req.headers
            .push(("X-Driftless-Delivery".into(), m.message.dedupe_key.clone()));
        Ok(req)
    }

    async fn post(&self, m: &OutboxMessage) -> Result<(), SendError> {
        match self.http.send(self.request(m)?, &self.scrubber).await {
            // GitLab refuses to set the state a commit already has: the status is there.
            Err(e)
                if self.forge == Forge::Gitlab
                    && e.message.contains("Cannot transition status") =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
    }
}

impl Service for CommitStatus {
    fn send<'a>(&'a self, m: &'a OutboxMessage) -> BoxFuture<'a, Result<(), SendError>> {
        self.post(m).boxed()
    }
}

/// `owner/repo` (or `group/sub/project`) from an HTTPS, SSH or scp-style Git URL.
pub(crate) fn repo_path(url: &str) -> Option<String> {
    let rest = if let Some((_, rest)) = url.split_once("://") {
        rest.split_once('/')?.1
    } else {
        url.split_once(':')?.1
    };
    let path = rest.trim_matches('/').trim_end_matches(".git");
    (path.contains('/') && !path.split('/').any(str::is_empty)).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn repo_paths() {
        use super::repo_path;
        assert_eq!(
            repo_path("https://github.com/acme/shop.git").as_deref(),
            Some("acme/shop")
        );
        assert_eq!(
            repo_path("git@github.com:acme/shop.git").as_deref(),
            Some("acme/shop")
        );
        assert_eq!(
            repo_path("ssh://git@gitlab.com/g/sub/p").as_deref(),
            Some("g/sub/p")
        );
        assert_eq!(repo_path("https://github.com/"), None);
    }
}
