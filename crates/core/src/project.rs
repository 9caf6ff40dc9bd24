//! Projects: what the applications of a team may use — source repositories, destination
//! namespaces, and which kinds they may create. Driftless's `Project` and Argo CD's
//! `AppProject` share one shape (Argo's field names), with Argo's rules: `*` wildcards; a
//! project that lists no cluster-scoped kinds allows none; the built-in `default` project
//! allows everything.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::wildcard::matches;
use crate::yaml::{Limits, parse_stream};
use crate::{ResourceKey, object};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupKind {
    #[serde(default)]
    pub group: String,
    pub kind: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectDestination {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub server: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub source_repos: Vec<String>,
    #[serde(default)]
    pub destinations: Vec<ProjectDestination>,
    #[serde(default)]
    pub cluster_resource_whitelist: Vec<GroupKind>,
    #[serde(default)]
    pub namespace_resource_blacklist: Vec<GroupKind>,
}

impl Project {
    /// Argo CD's `default` project: everything allowed.
    pub fn default_project() -> Project {
        Project {
            name: "default".into(),
            source_repos: vec!["*".into()],
            destinations: vec![ProjectDestination {
                namespace: "*".into(),
                server: "*".into(),
                name: String::new(),
            }],
            cluster_resource_whitelist: vec![GroupKind {
                group: "*".into(),
                kind: "*".into(),
            }],
            namespace_resource_blacklist: Vec::new(),
        }
    }

    /// What in an application's source, destination and objects the project does not allow;
    /// empty when all is allowed.
    pub fn violations(
        &self,
        repo_url: &str,
        destination_namespace: &str,
        objects: &[ResourceKey],
    ) -> Vec<String> {
        let p = &self.name;
        let mut out = Vec::new();
        if !self.source_repos.iter().any(|r| matches(r, repo_url)) {
            out.push(format!(
                "project {p} does not allow the source repository {repo_url}"
            ));
        }
        let ns_allowed = |ns: &str| {
            self.destinations.iter().any(|d| {
                matches(
                    if d.namespace.is_empty() {
                        "*"
                    } else {
                        &d.namespace
                    },
                    ns,
                )
            })
        };
        if !destination_namespace.is_empty() && !ns_allowed(destination_namespace) {
            out.push(format!(
                "project {p} does not allow the destination namespace {destination_namespace}"
            ));
        }
        let listed = |list: &[GroupKind], k: &ResourceKey| {
            list.iter()
                .any(|gk| matches(&gk.group, &k.group) && matches(&gk.kind, &k.kind))
        };
        for k in objects {
            if k.namespace.is_empty() {
                if !listed(&self.cluster_resource_whitelist, k) {
                    out.push(format!("project {p} does not allow the cluster-scoped {k}"));
                }
            } else {
                if listed(&self.namespace_resource_blacklist, k) {
                    out.push(format!(
                        "project {p} does not allow {k} (namespaceResourceBlacklist)"
                    ));
                }
                if !ns_allowed(&k.namespace) {
                    out.push(format!(
                        "project {p} does not allow {k}: namespace {} is not a destination",
                        k.namespace
                    ));
                }
            }
        }
        out
    }
}

/// Is this document a project (`Project` or Argo CD's `AppProject`)?
pub fn is_definition(v: &Value) -> bool {
    matches!(
        (object::api_version(v), object::kind(v)),
        (Some("driftless.dev/v1alpha1"), Some("Project"))
            | (Some("argoproj.io/v1alpha1"), Some("AppProject"))
    )
}

/// One project document.
pub fn from_doc(v: &Value, origin: &str) -> Result<Project, String> {
    let name = object::name(v).ok_or_else(|| format!("{origin}: project without metadata.name"))?;
    let mut p: Project = serde_json::from_value(v.get("spec").cloned().unwrap_or(Value::Null))
        .map_err(|e| format!("{origin}: project {name}: {e}"))?;
    p.name = name.to_string();
    Ok(p)
}

/// Parses the `Project` / `AppProject` documents of a YAML stream, skipping other kinds.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Project>, String> {
    let docs = parse_stream(text, &Limits::default()).map_err(|e| format!("{origin}: {e}"))?;
    docs.iter()
        .filter(|d| is_definition(&d.value))
        .map(|d| from_doc(&d.value, &format!("{origin}#{}", d.index)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAM: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: team-a, namespace: argocd}
spec:
  sourceRepos: ["https://git.example.com/team-a/*"]
  destinations: [{namespace: "team-a-*", server: "*"}]
  clusterResourceWhitelist: [{group: "", kind: Namespace}]
  namespaceResourceBlacklist: [{group: "", kind: ResourceQuota}]
"#;

    #[test]
    fn argo_projects_restrict_sources_destinations_and_kinds() {
        let p = parse(TEAM, "p.yaml").unwrap().remove(0);
        assert_eq!(p.name, "team-a");
        let ok = p.violations(
            "https://git.example.com/team-a/app.git",
            "team-a-dev",
            &[
                ResourceKey::new("", "Namespace", "", "team-a-dev"),
                ResourceKey::new("apps", "Deployment", "team-a-dev", "web"),
            ],
        );
        assert!(ok.is_empty(), "{ok:?}");
        let bad = p.violations(
            "https://git.example.com/team-b/app.git",
            "prod",
            &[
                ResourceKey::new("rbac.authorization.k8s.io", "ClusterRole", "", "admin"),
                ResourceKey::new("", "ResourceQuota", "team-a-dev", "q"),
            ],
        );
        assert_eq!(bad.len(), 4, "{bad:?}");
        assert!(
            bad[2].contains("cluster-scoped ClusterRole.rbac.authorization.k8s.io admin"),
            "{bad:?}"
        );
        assert!(
            Project::default_project()
                .violations("x", "y", &[ResourceKey::new("", "Namespace", "", "n")])
                .is_empty()
        );
    }
}
