//! The engine's own configuration as YAML: Applications, Projects, Repositories, Clusters,
//! Pipelines and Users, in
//! Driftless's or Argo CD's spelling, from a config directory or from the rendered output
//! of an app-of-apps. Each document stands alone: a bad one is reported with its origin
//! (`file#document`) and the others are kept.

use serde_json::Value;

use crate::app::{self, Parsed};
use crate::clusters::ClusterDefinition;
use crate::pipeline::Pipeline;
use crate::project::{self, Project};
use crate::repository::Repository;
use crate::users::User;
use crate::yaml::{Limits, parse_stream};

/// Definitions found in one or more documents, and what was wrong with the rest.
#[derive(Debug, Default)]
pub struct Definitions {
    pub apps: Vec<Parsed>,
    pub projects: Vec<Project>,
    pub repositories: Vec<Repository>,
    pub clusters: Vec<ClusterDefinition>,
    pub pipelines: Vec<Pipeline>,
    pub users: Vec<User>,
    /// Health check configuration of an operator's config file (`HealthCheck` definitions,
    /// Argo CD's `argocd-cm`), with its origin: the health crate reads them. Never taken from
    /// Git (a non-strict add leaves them to the cluster as the objects they are).
    pub health_checks: Vec<(Value, String)>,
    /// Notification configuration of an operator's config file (`NotificationConfig`,
    /// Argo CD's `argocd-notifications-cm` and `argocd-notifications-secret`), with its origin:
    /// the engine's notifications read them. Never taken from Git.
    pub notifications: Vec<(Value, String)>,
    /// One line per refused document, naming its origin and the field at fault.
    pub errors: Vec<String>,
}

/// Health check configuration: `driftless.dev/v1alpha1 HealthCheck`, or Argo CD's `argocd-cm`
/// ConfigMap (its `resource.customizations.health.*` keys).
pub fn is_health_config(doc: &Value) -> bool {
    let api = crate::object::api_version(doc);
    let kind = crate::object::kind(doc);
    (api == Some("driftless.dev/v1alpha1") && kind == Some("HealthCheck"))
        || (api == Some("v1")
            && kind == Some("ConfigMap")
            && doc.pointer("/metadata/name").and_then(Value::as_str) == Some("argocd-cm"))
}

/// Notification configuration: `driftless.dev/v1alpha1 NotificationConfig`, or Argo CD's
/// `argocd-notifications-cm` ConfigMap / `argocd-notifications-secret` Secret.
pub fn is_notification_config(doc: &Value) -> bool {
    let api = crate::object::api_version(doc);
    let kind = crate::object::kind(doc);
    let name = doc.pointer("/metadata/name").and_then(Value::as_str);
    (api == Some("driftless.dev/v1alpha1") && kind == Some("NotificationConfig"))
        || (api == Some("v1")
            && kind == Some("ConfigMap")
            && name == Some("argocd-notifications-cm"))
        || (api == Some("v1")
            && kind == Some("Secret")
            && name == Some("argocd-notifications-secret"))
}

/// Is this document one of the engine's definitions (rather than a cluster object)?
pub fn is_definition(doc: &Value) -> bool {
    app_document(doc)
        || project::is_definition(doc)
        || Repository::is_definition(doc)
        || ClusterDefinition::is_definition(doc)
        || Pipeline::is_definition(doc)
        || User::is_definition(doc)
}

fn app_document(doc: &Value) -> bool {
    crate::object::kind(doc) == Some("Application")
        && matches!(
            crate::object::api_version(doc),
            Some("driftless.dev/v1alpha1" | "argoproj.io/v1alpha1")
        )
}

impl Definitions {
    /// Adds one document; `strict` refuses documents that are no definition (a config
    /// file), otherwise they are skipped (an app-of-apps' other objects go to the cluster).
    pub fn add(&mut self, doc: &Value, origin: &str, strict: bool) {
        if app_document(doc) {
            match app::from_doc(doc, origin) {
                Ok(p) => self.apps.push(p),
                Err(e) => self.errors.push(e.to_string()),
            }
        } else if project::is_definition(doc) {
            match project::from_doc(doc, origin) {
                Ok(p) => self.projects.push(p),
                Err(e) => self.errors.push(e),
            }
        } else if Repository::is_definition(doc) {
            match Repository::from_doc(doc, origin) {
                Ok(r) => self.repositories.push(r),
                Err(e) => self.errors.push(e),
            }
        } else if ClusterDefinition::is_definition(doc) {
            match ClusterDefinition::from_doc(doc, origin) {
                Ok(c) => self.clusters.push(c),
                Err(e) => self.errors.push(e),
            }
        } else if Pipeline::is_definition(doc) {
            match Pipeline::from_doc(doc, origin) {
                Ok(p) => self.pipelines.push(p),
                Err(e) => self.errors.push(e),
            }
        } else if User::is_definition(doc) {
            match User::from_doc(doc, origin) {
                Ok(u) => self.users.push(u),
                Err(e) => self.errors.push(e),
            }
        } else if strict && is_health_config(doc) {
            self.health_checks.push((doc.clone(), origin.to_string()));
        } else if strict && is_notification_config(doc) {
            self.notifications.push((doc.clone(), origin.to_string()));
        } else if strict {
            self.errors.push(format!(
                "{origin}: expected an Application, Project/AppProject, Repository, Cluster, Pipeline, User or HealthCheck (or an Argo CD repository/cluster Secret or argocd-cm), found kind {:?} of {:?}",
                crate::object::kind(doc).unwrap_or_default(),
                crate::object::api_version(doc).unwrap_or_default()
            ));
        }
    }

    /// Every document of a YAML stream (a config file).
    pub fn add_file(&mut self, text: &str, origin: &str) {
        match parse_stream(text, &Limits::default()) {
            Ok(docs) => {
                for d in docs {
                    self.add(&d.value, &format!("{origin}#{}", d.index), true);
                }
            }
            Err(e) => self.errors.push(format!("{origin}: {e}")),
        }
    }

    /// Warnings of the parsed applications (unknown or ignored fields).
    pub fn warnings(&self) -> impl Iterator<Item = &String> {
        self.apps.iter().flat_map(|p| p.warnings.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = r#"
apiVersion: driftless.dev/v1alpha1
kind: Application
metadata: {name: web}
spec:
  source: {repoURL: "https://git.example.com/config.git", path: web}
  destination: {namespace: web}
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: team}
spec: {sourceRepos: ["*"]}
---
apiVersion: driftless.dev/v1alpha1
kind: Repository
metadata: {name: config}
spec: {url: "https://git.example.com/config.git", bearerToken: {env: TOKEN}}
---
apiVersion: driftless.dev/v1alpha1
kind: Application
metadata: {name: broken}
spec: {destination: {namespace: x}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: stray}
"#;

    #[test]
    fn one_bad_document_never_hides_the_others() {
        let mut d = Definitions::default();
        d.add_file(MIXED, "defs.yaml");
        assert_eq!(d.apps.len(), 1);
        assert_eq!(d.apps[0].app.name, "web");
        assert_eq!(d.projects[0].name, "team");
        assert_eq!(d.repositories[0].name, "config");
        assert_eq!(d.errors.len(), 2, "{:?}", d.errors);
        assert!(d.errors[0].starts_with("defs.yaml#3") && d.errors[0].contains("broken"));
        assert!(d.errors[1].starts_with("defs.yaml#4") && d.errors[1].contains("ConfigMap"));
    }

    #[test]
    fn cluster_objects_are_not_definitions() {
        let docs = parse_stream(MIXED, &Limits::default()).unwrap();
        let kinds: Vec<bool> = docs.iter().map(|d| is_definition(&d.value)).collect();
        assert_eq!(kinds, [true, true, true, true, false]);
    }
}
