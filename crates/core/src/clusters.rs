//! Cluster definitions: the clusters an engine deploys to besides its own. An application
//! picks one with `destination.name` or `destination.server` (Argo CD's fields); the engine's
//! own cluster is `in-cluster` / `https://kubernetes.default.svc`, as in Argo CD.
//!
//! Driftless's spelling gives a kubeconfig (inline, `{env}` or `{file}`) and optionally its
//! context:
//!
//! ```yaml
//! apiVersion: driftless.dev/v1alpha1
//! kind: Cluster
//! metadata: {name: prod-eu}
//! spec:
//!   kubeconfig: {file: /etc/driftless/prod-eu.kubeconfig}
//!   context: prod-eu-admin
//! ```
//!
//! Argo CD's cluster Secrets (`argocd.argoproj.io/secret-type: cluster`, `name`, `server`,
//! `config` with `bearerToken` and `tlsClientConfig`) are accepted too; a kubeconfig is made
//! from them. Credentials never print (`Debug`/`redacted()` mask them).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::object;
use crate::repository::SecretValue;

/// The engine's own cluster, by Argo CD's names for it.
pub const IN_CLUSTER_NAME: &str = "in-cluster";
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterDefinition {
    #[serde(default)]
    pub name: String,
    /// The API server URL applications name in `destination.server` (taken from the
    /// kubeconfig's context when not given).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server: String,
    /// A kubeconfig document (YAML), or a reference to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<SecretValue>,
    /// The kubeconfig context (default: its current-context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Let kubeconfig `exec` credential plugins run (they execute commands).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_exec_credentials: bool,
    /// Argo CD style: a bearer token for `server`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<SecretValue>,
    /// ...and the CA (PEM, base64 as in a kubeconfig's certificate-authority-data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_data: Option<String>,
    /// Skip TLS verification (Argo CD's `insecure`; a test cluster, never production).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub origin: String,
    /// The app-of-apps whose source declares it (None: the operator's own definition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl ClusterDefinition {
    pub fn redacted(&self) -> ClusterDefinition {
        ClusterDefinition {
            kubeconfig: self.kubeconfig.as_ref().map(SecretValue::redacted),
            bearer_token: self.bearer_token.as_ref().map(SecretValue::redacted),
            ..self.clone()
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("cluster without a name (metadata.name)".into());
        }
        crate::names::validate("cluster", &self.name)?;
        if self.name == IN_CLUSTER_NAME {
            return Err(format!(
                "cluster {IN_CLUSTER_NAME} is the engine's own cluster and cannot be redefined"
            ));
        }
        match (&self.kubeconfig, &self.bearer_token) {
            (Some(_), Some(_)) => Err(format!(
                "cluster {}: give spec.kubeconfig or spec.bearerToken, not both",
                self.name
            )),
            (None, None) => Err(format!(
                "cluster {}: spec.kubeconfig (or spec.server with spec.bearerToken) is missing",
                self.name
            )),
            (None, Some(_)) if self.server.is_empty() => Err(format!(
                "cluster {}: spec.bearerToken needs spec.server",
                self.name
            )),
            _ => Ok(()),
        }
    }

    /// A kubeconfig for this definition: the given one, or one made from server, token and CA.
    pub fn kubeconfig_text(&self) -> Result<String, String> {
        if let Some(k) = &self.kubeconfig {
            return k
                .resolve()
                .map_err(|e| format!("cluster {}: spec.kubeconfig: {e}", self.name));
        }
        let token = self
            .bearer_token
            .as_ref()
            .ok_or_else(|| format!("cluster {}: no credentials", self.name))?
            .resolve()
            .map_err(|e| format!("cluster {}: spec.bearerToken: {e}", self.name))?;
        let mut cluster = serde_json::json!({"server": self.server});
        if let Some(ca) = &self.ca_data {
            cluster["certificate-authority-data"] = Value::String(ca.clone());
        }
        if self.insecure {
            cluster["insecure-skip-tls-verify"] = Value::Bool(true);
        }
        let doc = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": self.name, "cluster": cluster}],
            "users": [{"name": self.name, "user": {"token": token}}],
            "contexts": [{"name": self.name, "context": {"cluster": self.name, "user": self.name}}],
            "current-context": self.name,
        });
        // JSON is YAML: the kubeconfig loader reads it as is.
        Ok(doc.to_string())
    }

    pub fn is_definition(doc: &Value) -> bool {
        matches!(
            (object::api_version(doc), object::kind(doc)),
            (Some("driftless.dev/v1alpha1"), Some("Cluster"))
        ) || argo_cluster_secret(doc)
    }

    pub fn from_doc(doc: &Value, origin: &str) -> Result<ClusterDefinition, String> {
        let name =
            object::name(doc).ok_or_else(|| format!("{origin}: cluster without metadata.name"))?;
        let mut def = if argo_cluster_secret(doc) {
            from_argo_secret(doc).map_err(|e| format!("{origin}: cluster {name}: {e}"))?
        } else {
            serde_json::from_value::<ClusterDefinition>(
                doc.get("spec").cloned().unwrap_or(Value::Null),
            )
            .map_err(|e| format!("{origin}: cluster {name}: spec: {e}"))?
        };
        if def.name.is_empty() {
            def.name = name.to_string();
        }
        def.origin = origin.to_string();
        def.parent = None;
        def.validate().map_err(|e| format!("{origin}: {e}"))?;
        Ok(def)
    }
}

fn argo_cluster_secret(doc: &Value) -> bool {
    object::kind(doc) == Some("Secret")
        && object::labels(doc)
            .and_then(|l| l.get("argocd.argoproj.io/secret-type"))
            .and_then(Value::as_str)
            == Some("cluster")
}

/// Argo CD's cluster Secret: `name`, `server` and `config` (JSON) in stringData or data.
fn from_argo_secret(doc: &Value) -> Result<ClusterDefinition, String> {
    use base64::Engine;
    let field = |k: &str| -> Result<Option<String>, String> {
        if let Some(v) = doc
            .pointer(&format!("/stringData/{k}"))
            .and_then(Value::as_str)
        {
            return Ok(Some(v.to_string()));
        }
        match doc.pointer(&format!("/data/{k}")).and_then(Value::as_str) {
            Some(b) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| format!("data.{k} is not base64: {e}"))
                .and_then(|v| String::from_utf8(v).map_err(|_| format!("data.{k} is not UTF-8")))
                .map(Some),
            None => Ok(None),
        }
    };
    let server = field("server")?.ok_or("stringData.server (or data.server) is missing")?;
    let config: Value = match field("config")? {
        Some(c) => serde_json::from_str(&c).map_err(|e| format!("config is not JSON: {e}"))?,
        None => Value::Null,
    };
    if config.get("execProviderConfig").is_some() || config.get("awsAuthConfig").is_some() {
        return Err(
            "config.execProviderConfig / awsAuthConfig are not supported; give a kubeconfig in a driftless.dev/v1alpha1 Cluster instead".into(),
        );
    }
    let token = config["bearerToken"]
        .as_str()
        .ok_or("config.bearerToken is missing (the only Argo CD credential form read)")?;
    Ok(ClusterDefinition {
        name: field("name")?.unwrap_or_default(),
        server,
        bearer_token: Some(SecretValue::Value(token.to_string())),
        ca_data: config["tlsClientConfig"]["caData"]
            .as_str()
            .map(String::from),
        insecure: config["tlsClientConfig"]["insecure"] == true,
        ..ClusterDefinition::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{Limits, parse_stream};

    #[test]
    fn argo_cluster_secrets_become_a_kubeconfig_with_the_token() {
        let docs = parse_stream(
            r#"
apiVersion: v1
kind: Secret
metadata:
  name: prod-secret
  labels: {argocd.argoproj.io/secret-type: cluster}
stringData:
  name: prod
  server: https://prod.example.com:6443
  config: '{"bearerToken": "tok-123", "tlsClientConfig": {"caData": "Q0E="}}'
"#,
            &Limits::default(),
        )
        .unwrap();
        assert!(ClusterDefinition::is_definition(&docs[0].value));
        let c = ClusterDefinition::from_doc(&docs[0].value, "c.yaml#0").unwrap();
        assert_eq!(
            (c.name.as_str(), c.server.as_str()),
            ("prod", "https://prod.example.com:6443")
        );
        assert!(!format!("{c:?}").contains("tok-123"));
        let k: Value = serde_json::from_str(&c.kubeconfig_text().unwrap()).unwrap();
        assert_eq!(k["users"][0]["user"]["token"], "tok-123");
        assert_eq!(
            k["clusters"][0]["cluster"]["certificate-authority-data"],
            "Q0E="
        );
        assert_eq!(k["current-context"], "prod");
    }

    #[test]
    fn definitions_name_what_is_missing() {
        let bad = ClusterDefinition {
            name: "x".into(),
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("spec.kubeconfig"));
        let own = ClusterDefinition {
            name: IN_CLUSTER_NAME.into(),
            kubeconfig: Some(SecretValue::Value("k".into())),
            ..Default::default()
        };
        assert!(own.validate().unwrap_err().contains("cannot be redefined"));
    }
}
