//! What a script's `workflow{...}`, `create_workflow{...}` and `register_repository{...}`
//! become in the engine (pure): an Application document and a Repository document.
//!
//! A workflow is an Application: `repo`/`branch`/`target_path` are its source,
//! `auto_sync` its automated policy (`auto_prune` its prune), `rollback_on_failure` the
//! engine's own `rollbackOnFailure`, `sync_policy.retry` its retry with backoff. What the
//! engine has no field for is kept as labels under `gitops.driftless.dev/`, so a later run
//! (and the UI) sees it: whether auto-sync was asked for (what `start_auto_sync` turns back
//! on), the diff preview before a sync, the wanted sync interval, the health-check wait.

use serde_json::{Map, Value, json};

/// Label prefix of what the module records on an Application.
pub const LABEL: &str = "gitops.driftless.dev";

/// A workflow as a script describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workflow {
    /// The workflow id (the Application's name); derived from the repository when unset.
    pub name: Option<String>,
    pub repo: String,
    pub branch: Option<String>,
    pub target_path: String,
    pub auto_sync: bool,
    pub auto_prune: bool,
    pub self_heal: bool,
    pub sync_interval: Option<String>,
    pub diff_preview: bool,
    pub rollback_on_failure: bool,
    pub namespace: Option<String>,
    pub cluster: Option<String>,
    pub project: Option<String>,
    pub retry: Option<Retry>,
    pub health_check: Option<HealthCheck>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    pub limit: i64,
    /// `exponential`, `linear`/`fixed`, or a first delay such as `10s`.
    pub backoff: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    pub enabled: bool,
    pub timeout: Option<String>,
}

/// A name Kubernetes and the engine accept (DNS-1123 label): lower case, `-` for anything
/// else, at most 63 characters, never empty.
pub fn dns_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_matches('-').to_string();
    out.truncate(63);
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "workflow".into()
    } else {
        out
    }
}

/// A URL as logs may show it: user and password (`https://user:token@host/...`) removed.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host_end = rest.find('/').unwrap_or(rest.len());
            match rest[..host_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// The repository's own name: the last path segment of its URL, without `.git`.
pub fn repo_basename(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    let last = trimmed
        .rsplit(['/', ':'])
        .next()
        .unwrap_or(trimmed)
        .trim_end_matches(".git");
    dns_name(last)
}

/// A Repository definition's name for a URL: owner and repository (`company-k8s-dev`), so
/// two owners' `config` repositories do not collide.
pub fn repository_name(url: &str) -> String {
    let trimmed = url.trim_end_matches('/').trim_end_matches(".git");
    let parts: Vec<&str> = trimmed
        .split(['/', ':'])
        .filter(|p| !p.is_empty())
        .collect();
    let tail = parts[parts.len().saturating_sub(2)..].join("-");
    dns_name(&tail)
}

impl Workflow {
    /// The workflow id: its name, else the repository's name and the target path.
    pub fn id(&self) -> String {
        match &self.name {
            Some(n) => dns_name(n),
            None if self.target_path.trim_matches(['/', '.']).is_empty() => {
                repo_basename(&self.repo)
            }
            None => dns_name(&format!(
                "{}-{}",
                repo_basename(&self.repo),
                self.target_path
            )),
        }
    }

    fn labels(&self) -> Map<String, Value> {
        let mut l = Map::new();
        let mut put = |k: &str, v: String| {
            l.insert(format!("{LABEL}/{k}"), Value::String(v));
        };
        put("workflow", "true".into());
        put("auto-sync", self.auto_sync.to_string());
        put("auto-prune", self.auto_prune.to_string());
        put("diff-preview", self.diff_preview.to_string());
        if let Some(i) = &self.sync_interval {
            put("sync-interval", i.clone());
        }
        if let Some(h) = &self.health_check {
            put("health-check", h.enabled.to_string());
            if let Some(t) = &h.timeout {
                put("health-timeout", t.clone());
            }
        }
        l
    }

    /// The Application document the API receives.
    pub fn application(&self) -> Result<Value, String> {
        let mut policy = Map::new();
        if self.auto_sync {
            policy.insert(
                "automated".into(),
                json!({"prune": self.auto_prune, "selfHeal": self.self_heal}),
            );
        }
        policy.insert(
            "rollbackOnFailure".into(),
            Value::Bool(self.rollback_on_failure),
        );
        policy.insert("syncOptions".into(), json!(["CreateNamespace=true"]));
        if let Some(r) = &self.retry {
            policy.insert("retry".into(), retry(r)?);
        }
        let path = if self.target_path.is_empty() {
            "."
        } else {
            self.target_path.trim_matches('/')
        };
        let mut destination = json!({
            "namespace": self.namespace.clone().unwrap_or_else(|| "default".into()),
        });
        if let Some(c) = &self.cluster {
            destination["name"] = json!(c);
        }
        let mut spec = json!({
            "source": {
                "repoURL": self.repo,
                "targetRevision": self.branch.clone().unwrap_or_else(|| "HEAD".into()),
                "path": path,
            },
            "destination": destination,
            "syncPolicy": policy,
        });
        if let Some(p) = &self.project {
            spec["project"] = json!(p);
        }
        Ok(json!({
            "apiVersion": "driftless.dev/v1alpha1",
            "kind": "Application",
            "metadata": {"name": self.id(), "labels": self.labels()},
            "spec": spec,
        }))
    }
}

/// `retry = {limit, backoff}`: Argo CD's retry with a backoff strategy.
fn retry(r: &Retry) -> Result<Value, String> {
    if r.limit < 0 {
        return Err(format!(
            "sync_policy.retry.limit must be 0 or more, not {}",
            r.limit
        ));
    }
    let backoff = match r.backoff.to_ascii_lowercase().as_str() {
        "" | "exponential" => json!({"duration": "5s", "factor": 2, "maxDuration": "3m"}),
        "linear" | "fixed" | "constant" => {
            json!({"duration": "10s", "factor": 1, "maxDuration": "3m"})
        }
        d if driftless_core::app::parse_duration(d).is_some() => {
            json!({"duration": d, "factor": 2, "maxDuration": "3m"})
        }
        other => {
            return Err(format!(
                "sync_policy.retry.backoff {other:?} is not exponential, linear, fixed or a duration like 10s"
            ));
        }
    };
    Ok(json!({"limit": r.limit, "backoff": backoff}))
}

/// `credentials = {type, token | username/password | ssh_key}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Credentials {
    None,
    Token {
        username: Option<String>,
        token: String,
    },
    Basic {
        username: String,
        password: String,
    },
    Ssh {
        key: String,
    },
}

/// The Repository definition registered for `url` (named by [`repository_name`]).
pub fn repository(url: &str, credentials: &Credentials) -> Value {
    let mut spec = json!({"url": url});
    match credentials {
        Credentials::None => {}
        // Forges take a token as the password of HTTP basic auth (any user name).
        Credentials::Token { username, token } => {
            spec["username"] = json!(username.as_deref().unwrap_or("x-access-token"));
            spec["password"] = json!(token);
        }
        Credentials::Basic { username, password } => {
            spec["username"] = json!(username);
            spec["password"] = json!(password);
        }
        Credentials::Ssh { key } => spec["sshPrivateKey"] = json!(key),
    }
    json!({
        "apiVersion": "driftless.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": repository_name(url)},
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dns_names_from_the_repository() {
        let w = Workflow {
            repo: "https://github.com/company/k8s-manifests".into(),
            target_path: "manifests/production".into(),
            ..Workflow::default()
        };
        assert_eq!(w.id(), "k8s-manifests-manifests-production");
        let w = Workflow {
            name: Some("Production Infrastructure".into()),
            ..w
        };
        assert_eq!(w.id(), "production-infrastructure");
        assert_eq!(repo_basename("git@github.com:org/repo.git"), "repo");
        assert_eq!(
            repository_name("https://github.com/company/k8s-dev"),
            "company-k8s-dev"
        );
        assert_eq!(dns_name("  ÄÖ "), "workflow");
        assert_eq!(
            redact("https://bot:ghp_x@github.com/a/b"),
            "https://github.com/a/b"
        );
        assert_eq!(redact("git@github.com:a/b.git"), "git@github.com:a/b.git");
    }

    #[test]
    fn a_workflow_is_an_application_with_its_policy() {
        let w = Workflow {
            repo: "https://github.com/company/infrastructure".into(),
            branch: Some("main".into()),
            auto_sync: true,
            auto_prune: true,
            self_heal: true,
            rollback_on_failure: true,
            sync_interval: Some("5m".into()),
            retry: Some(Retry {
                limit: 5,
                backoff: "exponential".into(),
            }),
            ..Workflow::default()
        };
        let app = w.application().unwrap();
        assert_eq!(app["metadata"]["name"], "infrastructure");
        assert_eq!(app["spec"]["source"]["targetRevision"], "main");
        assert_eq!(app["spec"]["source"]["path"], ".");
        let p = &app["spec"]["syncPolicy"];
        assert_eq!(p["automated"], json!({"prune": true, "selfHeal": true}));
        assert_eq!(p["rollbackOnFailure"], true);
        assert_eq!(p["retry"]["limit"], 5);
        assert_eq!(p["retry"]["backoff"]["factor"], 2);
        let labels = &app["metadata"]["labels"];
        assert_eq!(labels["gitops.driftless.dev/auto-sync"], "true");
        assert_eq!(labels["gitops.driftless.dev/sync-interval"], "5m");
        // Parsed by the engine's own parser without a warning.
        let parsed =
            driftless_core::app::parse(&app.to_string(), "script").expect("engine accepts it");
        assert!(parsed[0].warnings.is_empty(), "{:?}", parsed[0].warnings);
        let manual = Workflow {
            auto_sync: false,
            ..w
        };
        assert!(manual.application().unwrap()["spec"]["syncPolicy"]["automated"].is_null());
    }

    #[test]
    fn a_bad_backoff_names_the_field() {
        let e = retry(&Retry {
            limit: 1,
            backoff: "sometimes".into(),
        })
        .unwrap_err();
        assert!(e.contains("sync_policy.retry.backoff"), "{e}");
    }

    #[test]
    fn token_credentials_become_basic_auth() {
        let r = repository(
            "https://github.com/company/infrastructure",
            &Credentials::Token {
                username: None,
                token: "ghp_x".into(),
            },
        );
        assert_eq!(r["metadata"]["name"], "company-infrastructure");
        assert_eq!(r["spec"]["username"], "x-access-token");
        assert_eq!(r["spec"]["password"], "ghp_x");
    }
}
