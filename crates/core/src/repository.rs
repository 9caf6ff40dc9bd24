//! Repositories: how the engine reaches a Git source — credentials, plain-HTTP permission,
//! SSH known hosts, and the secret its webhooks are signed with.
//!
//! Two spellings are accepted. Driftless's own:
//!
//! ```yaml
//! apiVersion: driftless.dev/v1alpha1
//! kind: Repository
//! metadata: {name: config}
//! spec:
//!   url: https://git.example.com/team/config.git
//!   username: bot
//!   password: {env: CONFIG_REPO_TOKEN}     # or {file: /run/secrets/token}, or inline
//!   webhookSecret: {file: /run/secrets/hook}
//! ```
//!
//! and Argo CD's repository Secrets (`argocd.argoproj.io/secret-type: repository`, or
//! `repo-creds` for a credential template matching every URL under a prefix), read from
//! `stringData` or base64 `data`. Secret values are never printed: `Debug` masks them and
//! [`Repository::redacted`] is what an API answer shows.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::object;

/// A secret given inline, or by reference to an environment variable or a file (so a
/// definition kept in Git holds no secret).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SecretValue {
    Env { env: String },
    File { file: String },
    Value(String),
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretValue::Env { env } => write!(f, "{{env: {env}}}"),
            SecretValue::File { file } => write!(f, "{{file: {file}}}"),
            SecretValue::Value(_) => f.write_str("***"),
        }
    }
}

impl SecretValue {
    /// The secret itself; an unset variable or unreadable file is an error naming it.
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            SecretValue::Value(v) => Ok(v.clone()),
            SecretValue::Env { env } => {
                std::env::var(env).map_err(|_| format!("environment variable {env} is not set"))
            }
            SecretValue::File { file } => std::fs::read_to_string(file)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("cannot read {file}: {e}")),
        }
    }

    /// Inline values masked; references (which hold no secret) kept.
    pub fn redacted(&self) -> SecretValue {
        match self {
            SecretValue::Value(_) => SecretValue::Value("***".into()),
            other => other.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    #[serde(default)]
    pub name: String,
    pub url: String,
    /// A credential template: applies to every repository URL under `url` that has no
    /// definition of its own (Argo CD's `repo-creds`). The longest prefix wins.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prefix: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// HTTP basic-auth password (or a token used as one, as GitHub and GitLab accept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretValue>,
    /// HTTP bearer token (`Authorization: Bearer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<SecretValue>,
    /// SSH private key (PEM/OpenSSH text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_private_key: Option<SecretValue>,
    /// Lines of an OpenSSH known_hosts file for this repository's host (host keys are always
    /// checked; without these, the engine's data-dir known_hosts must hold the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<String>,
    /// PEM certificates to trust for this repository's HTTPS (a private CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// Plain `http://` to a non-loopback host is allowed for this repository.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Git's `url.<url>.insteadOf`: repository URLs starting with one of these prefixes are
    /// fetched from this definition's `url` followed by the rest (a mirror; see
    /// [`crate::url_rewrite`]). Credentials and policy are then this definition's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instead_of: Vec<String>,
    /// The secret its webhooks are signed with (`POST /webhooks/{provider}/{name}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<SecretValue>,
    /// Where the definition came from (file#document, `api`, or an app-of-apps).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub origin: String,
    /// The app-of-apps whose source declares it (None: the operator's own definition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl Repository {
    /// The definition with inline secrets masked, for API answers and logs.
    pub fn redacted(&self) -> Repository {
        let r = |s: &Option<SecretValue>| s.as_ref().map(SecretValue::redacted);
        Repository {
            password: r(&self.password),
            bearer_token: r(&self.bearer_token),
            ssh_private_key: r(&self.ssh_private_key),
            webhook_secret: r(&self.webhook_secret),
            ..self.clone()
        }
    }

    /// Checks what a definition needs, naming the field at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("repository without a name (metadata.name)".into());
        }
        crate::names::validate("repository", &self.name)?;
        if self.url.trim().is_empty() {
            return Err(format!("repository {}: spec.url is missing", self.name));
        }
        let kinds = [
            self.password.is_some(),
            self.bearer_token.is_some(),
            self.ssh_private_key.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() > 1 {
            return Err(format!(
                "repository {}: give one of spec.password, spec.bearerToken, spec.sshPrivateKey",
                self.name
            ));
        }
        if self.instead_of.iter().any(|p| p.trim().is_empty()) {
            return Err(format!(
                "repository {}: spec.insteadOf holds an empty prefix (it would rewrite every URL)",
                self.name
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(format!(
                "repository {}: spec.password needs spec.username",
                self.name
            ));
        }
        Ok(())
    }

    /// Is this document a repository definition (either spelling)?
    pub fn is_definition(doc: &Value) -> bool {
        matches!(
            (object::api_version(doc), object::kind(doc)),
            (Some("driftless.dev/v1alpha1"), Some("Repository"))
        ) || argo_secret_type(doc).is_some()
    }

    /// One repository document (see [`Repository::is_definition`]).
    pub fn from_doc(doc: &Value, origin: &str) -> Result<Repository, String> {
        let name = object::name(doc)
            .ok_or_else(|| format!("{origin}: repository without metadata.name"))?;
        let mut repo = match argo_secret_type(doc) {
            Some(kind) => from_argo_secret(doc, kind == "repo-creds")
                .map_err(|e| format!("{origin}: repository {name}: {e}"))?,
            None => {
                let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
                serde_json::from_value::<Repository>(spec)
                    .map_err(|e| format!("{origin}: repository {name}: spec: {e}"))?
            }
        };
        repo.name = name.to_string();
        repo.origin = origin.to_string();
        repo.parent = None;
        repo.validate().map_err(|e| format!("{origin}: {e}"))?;
        Ok(repo)
    }
}

fn argo_secret_type(doc: &Value) -> Option<&str> {
    if object::kind(doc) != Some("Secret") {
        return None;
    }
    object::labels(doc)?
        .get("argocd.argoproj.io/secret-type")?
        .as_str()
        .filter(|t| matches!(*t, "repository" | "repo-creds"))
}

/// Argo CD's repository Secret: `stringData` as is, `data` base64-decoded (stringData wins,
/// as the API server merges it over data).
fn from_argo_secret(doc: &Value, prefix: bool) -> Result<Repository, String> {
    use base64::Engine;
    let mut fields = std::collections::BTreeMap::<String, String>::new();
    if let Some(data) = doc.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            let raw = v.as_str().unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(raw)
                .map_err(|e| format!("data.{k} is not base64: {e}"))?;
            let text = String::from_utf8(bytes).map_err(|_| format!("data.{k} is not UTF-8"))?;
            fields.insert(k.clone(), text);
        }
    }
    if let Some(data) = doc.get("stringData").and_then(Value::as_object) {
        for (k, v) in data {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            fields.insert(k.clone(), text);
        }
    }
    if let Some(t) = fields.get("type")
        && t != "git"
    {
        return Err(format!(
            "type {t:?} is not supported (Driftless reads Git repositories; render Helm charts from Git with the helm plugin)"
        ));
    }
    let secret = |k: &str| fields.get(k).cloned().map(SecretValue::Value);
    Ok(Repository {
        url: fields
            .get("url")
            .cloned()
            .ok_or("stringData.url (or data.url) is missing")?,
        prefix,
        username: fields.get("username").cloned(),
        password: secret("password"),
        bearer_token: secret("bearerToken"),
        ssh_private_key: secret("sshPrivateKey"),
        insecure: fields.get("insecure").is_some_and(|v| v == "true"),
        ca: fields.get("tlsCACertData").cloned(),
        ..Repository::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{Limits, parse_stream};

    fn docs(text: &str) -> Vec<Value> {
        parse_stream(text, &Limits::default())
            .unwrap()
            .into_iter()
            .map(|d| d.value)
            .collect()
    }

    #[test]
    fn driftless_repository_with_secret_references() {
        let d = docs(
            r#"
apiVersion: driftless.dev/v1alpha1
kind: Repository
metadata: {name: config}
spec:
  url: https://git.example.com/team/config.git
  username: bot
  password: {env: CONFIG_TOKEN}
  webhookSecret: inline-hook-secret
"#,
        );
        assert!(Repository::is_definition(&d[0]));
        let r = Repository::from_doc(&d[0], "repos.yaml#0").unwrap();
        assert_eq!(r.name, "config");
        assert_eq!(r.username.as_deref(), Some("bot"));
        assert_eq!(
            r.password,
            Some(SecretValue::Env {
                env: "CONFIG_TOKEN".into()
            })
        );
        let shown = format!("{r:?} {}", serde_json::to_string(&r.redacted()).unwrap());
        assert!(!shown.contains("inline-hook-secret"), "{shown}");
        assert!(shown.contains("CONFIG_TOKEN"), "references are not secret");
    }

    #[test]
    fn argo_repository_secrets_and_credential_templates() {
        let d = docs(
            r#"
apiVersion: v1
kind: Secret
metadata:
  name: private-repo
  labels: {argocd.argoproj.io/secret-type: repository}
stringData:
  type: git
  url: https://github.com/acme/private.git
  username: bot
  password: s3cret
---
apiVersion: v1
kind: Secret
metadata:
  name: acme-creds
  labels: {argocd.argoproj.io/secret-type: repo-creds}
data:
  url: aHR0cHM6Ly9naXRodWIuY29tL2FjbWU=
  sshPrivateKey: LS0tLS1CRUdJTiBLRVktLS0tLQ==
"#,
        );
        let a = Repository::from_doc(&d[0], "f#0").unwrap();
        assert_eq!(a.url, "https://github.com/acme/private.git");
        assert_eq!(a.password.as_ref().unwrap().resolve().unwrap(), "s3cret");
        assert!(!a.prefix);
        let b = Repository::from_doc(&d[1], "f#1").unwrap();
        assert!(b.prefix);
        assert_eq!(b.url, "https://github.com/acme");
        assert_eq!(
            b.ssh_private_key.unwrap().resolve().unwrap(),
            "-----BEGIN KEY-----"
        );
    }

    #[test]
    fn bad_definitions_name_the_field() {
        let d = docs(
            r#"
apiVersion: driftless.dev/v1alpha1
kind: Repository
metadata: {name: half}
spec: {url: "https://x/y.git", password: p}
---
apiVersion: v1
kind: Secret
metadata:
  name: helm
  labels: {argocd.argoproj.io/secret-type: repository}
stringData: {type: helm, url: "https://charts.example.com"}
"#,
        );
        let e = Repository::from_doc(&d[0], "f#0").unwrap_err();
        assert!(e.contains("spec.password needs spec.username"), "{e}");
        let e = Repository::from_doc(&d[1], "f#1").unwrap_err();
        assert!(
            e.contains("repository helm") && e.contains("\"helm\""),
            "{e}"
        );
    }

    #[test]
    fn secret_values_resolve_from_env_and_file() {
        let dir = std::env::temp_dir().join(format!("drepo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "from-file\n").unwrap();
        let v = SecretValue::File {
            file: f.display().to_string(),
        };
        assert_eq!(v.resolve().unwrap(), "from-file");
        let missing = SecretValue::Env {
            env: "DRIFTLESS_SURELY_UNSET_VAR".into(),
        };
        assert!(
            missing
                .resolve()
                .unwrap_err()
                .contains("DRIFTLESS_SURELY_UNSET_VAR")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
